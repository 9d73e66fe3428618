//! Answers to a request: the acknowledgement, refusals, invalid inputs, what a message in a
//! conversation or a button did.

use super::{file_kind, plural, HumanBytes};
use crate::app::{ActionRefusal, Refused, Restarted, Started, Why, MAX_ANIMATED_IMAGES};
use crate::domain::ids::{ChannelId, Scope};
use crate::domain::permissions::{Delivery, Posting};
use crate::domain::quota::Refusal;
use crate::domain::request::{
    FollowUpConflict, RequestError, MAX_DURATION, MAX_PROMPT_CHARS, MAX_REFERENCES,
    MAX_REFERENCES_WITH_VIDEO, MIN_DURATION,
};
use crate::engine::CancelError;

/// Shown when something failed on our side and the cause is only for the log.
pub const GENERIC_FAILURE: &str =
    "Something went wrong on my side, and nothing was charged. Please try again in a moment.";

/// What a message in a conversation may carry.
const WHAT_I_TAKE: &str = "I can use images (PNG, JPEG, WebP or GIF) as references and one video (MP4, WebM or MOV) to edit it. Attach only those, and say in words what should change.";
const NEED_WORDS: &str =
    "Add a few words saying what should happen in the clip, and send it again.";
const ONE_VIDEO: &str = "Attach one video at a time: I can edit only one.";
const NOTHING_YET: &str =
    "There's no clip here to refine yet. Run `/omni` to start one, or reply with a video attached to edit it.";

/// The private answer to a started request, with what the bot does instead of the usual where
/// it lacks a permission.
pub fn acknowledgement(started: &Started, delivery: &Delivery) -> String {
    let privately = matches!(delivery.posting, Posting::Privately { .. });
    let text = match started {
        Started::New {
            queued: Some(position),
            ..
        } if privately => format!(
            "🕒 Got it! You already have clips going, so this one is queued (#{position} in your line). I'll start it as soon as one finishes."
        ),
        Started::New {
            queued: Some(position),
            ..
        } => format!(
            "🕒 Got it! You already have clips going, so this one is queued (#{position} in your line). I'll start it as soon as one finishes and post progress and the video right here."
        ),
        Started::New { queued: None, .. } if privately => {
            "🎬 Got it! I'm starting your clip.".to_owned()
        }
        Started::New { queued: None, .. } => {
            "🎬 Got it! I'm starting your clip and will post progress and the video right here."
                .to_owned()
        }
        Started::AlreadyHandled(_) => {
            return "🎬 Got it already: that clip is on its way.".to_owned();
        }
    };
    let mut lines = vec![text];
    lines.extend(super::delivery_notes(delivery));
    lines.join("\n")
}

fn here(scope: Scope) -> &'static str {
    match scope {
        Scope::Guild(_) => "in this server",
        Scope::Dm => "in direct messages",
    }
}

/// A usage cap's refusal.
pub fn quota_refusal(refusal: &Refusal) -> String {
    match *refusal {
        Refusal::Blocked { scope: Scope::Dm } => "I can't make clips for you in direct messages right now. Use `/omni` in a server we share instead.".to_owned(),
        Refusal::Blocked { scope } => format!(
            "You can't make clips {} right now: your allowance is 0. Ask a server admin if you think that's a mistake.",
            here(scope)
        ),
        Refusal::UserDaily { used, limit, resets_at, scope } => format!(
            "You've made {used} of your {} today {}. Your allowance resets <t:{resets_at}:R>.",
            plural(limit, "clip"),
            here(scope)
        ),
        Refusal::GuildDaily { used, limit, resets_at, scope } => format!(
            "Everyone {} together has made {used} of the {} allowed today. The count resets <t:{resets_at}:R>.",
            here(scope),
            plural(limit, "clip")
        ),
        Refusal::GuildMonthlyCredits { used, limit, cost, resets_at, scope } => format!(
            "Clips {} have used {used} of the {limit} credits allowed this month, and a clip costs {cost}. The count resets <t:{resets_at}:R>.",
            here(scope)
        ),
        Refusal::GlobalDailyCredits { resets_at } => format!(
            "The bot has reached its spending limit for today across all servers. Try again after it resets <t:{resets_at}:R>."
        ),
    }
}

fn channel_refusal(allowed: &[ChannelId]) -> String {
    if allowed.is_empty() {
        "Clips can't be made in this channel: the server's admins turned it off here.".to_owned()
    } else {
        let list: Vec<String> = allowed.iter().take(5).map(|c| format!("<#{c}>")).collect();
        format!(
            "Clips can't be made in this channel. Try {}.",
            list.join(", ")
        )
    }
}

/// Why a request was not started.
pub fn refused(refused: &Refused) -> String {
    match refused {
        Refused::Stopping => {
            "I'm restarting right now; please try again in a minute. Nothing was charged."
                .to_owned()
        }
        Refused::DmsOff => super::DMS_OFF.to_owned(),
        Refused::Channel { allowed } => channel_refusal(allowed),
        Refused::PromptRule { owner } => super::prompt_refused(*owner),
        Refused::CannotPost {
            missing,
            privately_too,
        } => super::cannot_post(*missing, *privately_too),
        Refused::Quota(refusal) => quota_refusal(refusal),
        Refused::Internal => GENERIC_FAILURE.to_owned(),
    }
}

/// An input that breaks one of the vendor's rules, and how to fix it.
pub fn request_error(error: &RequestError) -> String {
    match error {
        RequestError::EmptyPrompt => "Your prompt is empty: describe the clip you want, for example `a red fox running through fresh snow`.".to_owned(),
        RequestError::PromptTooLong { len } => format!("Your prompt is {len} characters long; please keep it under {MAX_PROMPT_CHARS}."),
        RequestError::DurationOutOfRange(d) => format!("`duration` must be between {MIN_DURATION} and {MAX_DURATION} seconds (you asked for {d})."),
        RequestError::NotAnImage { option, filename, found } => format!("`{option}` must be an image (PNG, JPEG, WebP or GIF), but `{filename}` is {}. Attach one of those there instead.", file_kind(*found)),
        RequestError::NotAVideo { option, filename, found } => format!("`{option}` must be a video (MP4, WebM or MOV), but `{filename}` is {}. Attach one of those there instead.", file_kind(*found)),
        RequestError::TooLarge { option, filename, size, max } => format!("`{option}` is too large: `{filename}` is {}, and the limit is {}. Attach a smaller file.", HumanBytes(*size), HumanBytes(*max)),
        RequestError::TooManyReferencesWithVideo { count } => format!("You attached {count} reference images with a video; at most {MAX_REFERENCES_WITH_VIDEO} work together with a video. Remove {} of them.", count - MAX_REFERENCES_WITH_VIDEO),
        RequestError::TooManyReferencesInFollowUp { count } => format!("You attached {count} images; a change to a clip can use at most {MAX_REFERENCES_WITH_VIDEO}. Remove {} of them.", count - MAX_REFERENCES_WITH_VIDEO),
        RequestError::TooManyReferences { count } => format!("You attached {count} reference images; at most {MAX_REFERENCES} are allowed."),
        RequestError::NotWithFollowUp(what) => {
            let what = match what {
                FollowUpConflict::StartImage => "a start image",
                FollowUpConflict::SourceVideo => "a source video",
                FollowUpConflict::Duration => "a new duration",
            };
            format!("A follow-up continues the previous clip at its original length, so it cannot take {what}. Start a new clip with `/omni` for that.")
        }
    }
}

/// Why a message in a conversation did not start a clip.
pub fn why(why: &Why) -> String {
    match why {
        Why::Unusable { filename, kind } => {
            format!("I can't use `{filename}`: it's {}. {WHAT_I_TAKE}", file_kind(*kind))
        }
        Why::Removed { label } => format!("{label} was deleted, so I won't continue it. Reply to another clip, or write here to continue the newest one."),
        Why::OneVideo => ONE_VIDEO.to_owned(),
        Why::NeedWords => NEED_WORDS.to_owned(),
        Why::NoVideoId => super::NO_VIDEO_ID.to_owned(),
        Why::NothingYet => NOTHING_YET.to_owned(),
        Why::Invalid(e) => request_error(e),
        Why::Refused(r) => refused(r),
    }
}

/// The private answer to a re-roll or an aspect flip.
pub fn restarted(told: &Restarted) -> String {
    match told {
        Restarted::Reroll { seed } => {
            format!("🎲 Re-rolling with seed {seed}: watch this conversation.")
        }
        Restarted::Again => "🔁 Sending it again: watch this conversation.".to_owned(),
        Restarted::Flip { aspect } => {
            format!("🔄 Making it {}: watch this conversation.", aspect.as_str())
        }
    }
}

/// The private answer to a refine box.
pub const REFINING: &str = "✏️ Refining: watch this conversation.";

/// The private answer to an "Animate with Omni" box: `used` of the message's `total` images.
pub fn animating(used: usize, total: usize) -> String {
    let which = match (used, total) {
        (1, _) => "that image".to_owned(),
        (u, t) if u == t => format!("those {u} images"),
        (u, t) => format!(
            "the first {u} of those {t} images ({MAX_ANIMATED_IMAGES} is the most one clip can use)"
        ),
    };
    format!("🎬 Got it! I'm animating {which} and will post the clip right here.")
}

/// Why a button or box did not start a clip.
pub fn action_refusal(refusal: &ActionRefusal) -> String {
    match refusal {
        ActionRefusal::NotFound => "I can't find that clip any more.".to_owned(),
        ActionRefusal::Removed { label } => {
            format!("{label} was deleted, so I won't continue it.")
        }
        ActionRefusal::KeepsSourceShape => "This clip is an edit of a video and keeps that video's shape, so there is no other aspect ratio to make.".to_owned(),
        ActionRefusal::Expired => {
            "That request expired; use **Animate with Omni** on the message again.".to_owned()
        }
        ActionRefusal::Invalid(e) => request_error(e),
        ActionRefusal::Refused(r) => refused(r),
    }
}

/// The answer to a cancel button.
pub fn cancelled(result: &Result<(), CancelError>) -> String {
    match result {
        Ok(()) => "Cancelled. Nothing was charged.".to_owned(),
        Err(CancelError::NotQueued) => "That request is not waiting any more: once a clip is sent to PixelDojo it can't be cancelled.".to_owned(),
        Err(CancelError::NotYours) => "Only the person who asked for this clip, or a moderator, can cancel it.".to_owned(),
    }
}

/// "Animate with Omni" on a message without images.
pub const NO_IMAGES: &str = "That message has no images I can animate. Use this on a message with at least one PNG, JPEG, WebP or GIF image, attached or shown from a link.";

/// The title of the "Animate with Omni" box (Discord allows 45 characters): `used` of the
/// message's `total` images.
pub fn animate_title(used: usize, total: usize) -> String {
    match (used, total) {
        (1, 1) => "Animate this image".to_owned(),
        (u, t) if u == t => format!("Animate these {u} images"),
        (u, t) => format!("Animate the first {u} of these {t} images"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::GuildId;
    use crate::domain::request::FileKind;

    #[test]
    fn a_cap_refusal_names_the_limit_the_usage_and_when_it_resets() {
        let r = Refusal::UserDaily {
            used: 5,
            limit: 5,
            resets_at: 1_741_651_200,
            scope: Scope::Guild(GuildId(1)),
        };
        assert_eq!(
            quota_refusal(&r),
            "You've made 5 of your 5 clips today in this server. Your allowance resets <t:1741651200:R>."
        );
        let blocked = quota_refusal(&Refusal::Blocked { scope: Scope::Dm });
        assert!(blocked.contains("in direct messages") && blocked.contains("server we share"));
        let blocked = quota_refusal(&Refusal::Blocked {
            scope: Scope::Guild(GuildId(1)),
        });
        assert!(blocked.contains("allowance is 0") && blocked.contains("in this server"));
    }

    #[test]
    fn an_invalid_input_names_its_option_and_file_and_its_kind_in_words() {
        let text = request_error(&RequestError::NotAnImage {
            option: "image".into(),
            filename: "notes.pdf".into(),
            found: FileKind::Pdf,
        });
        assert!(
            text.contains("`image`")
                && text.contains("notes.pdf")
                && text.contains("a PDF document"),
            "{text}"
        );
        assert!(!text.contains("application/"), "{text}");
        let text = request_error(&RequestError::NotAVideo {
            option: "video".into(),
            filename: "clip.mkv".into(),
            found: FileKind::Mkv,
        });
        assert!(text.contains("an MKV video"), "{text}");
        let text = request_error(&RequestError::TooManyReferencesWithVideo { count: 6 });
        assert!(text.contains("Remove 1 of them"), "{text}");
    }

    #[test]
    fn too_many_images_in_a_follow_up_says_nothing_about_a_video() {
        let text = request_error(&RequestError::TooManyReferencesInFollowUp { count: 6 });
        assert!(!text.contains("video"), "{text}");
        assert!(
            text.contains("6 images") && text.contains("Remove 1"),
            "{text}"
        );
    }

    #[test]
    fn a_file_the_bot_cannot_use_is_named_in_words() {
        let text = why(&Why::Unusable {
            filename: "me.heic".into(),
            kind: FileKind::Heic,
        });
        assert!(text.contains("`me.heic`: it's an HEIC image"), "{text}");
        assert!(text.contains("PNG, JPEG, WebP or GIF"), "{text}");
        let text = why(&Why::Removed { label: "v2".into() });
        assert!(text.starts_with("v2 was deleted"), "{text}");
    }

    #[test]
    fn animate_words_one_image_many_and_more_than_it_can_use() {
        assert_eq!(animate_title(1, 1), "Animate this image");
        assert_eq!(animate_title(3, 3), "Animate these 3 images");
        assert_eq!(
            animate_title(8, 10),
            "Animate the first 8 of these 10 images"
        );
        assert!(animate_title(8, 100).chars().count() <= 45);
        assert!(animating(1, 1).contains("that image"));
        assert!(animating(3, 3).contains("those 3 images"));
        let over = animating(8, 10);
        assert!(over.contains("the first 8 of those 10 images"), "{over}");
    }

    #[test]
    fn the_acknowledgement_promises_only_what_the_bot_may_do_there() {
        use crate::domain::ids::JobId;
        use crate::domain::permissions::{Files, Permission};
        let started = Started::New {
            job: JobId(1),
            queued: None,
        };
        let usual = Delivery {
            posting: Posting::Thread,
            files: Files::Attach,
        };
        assert_eq!(
            acknowledgement(&started, &usual),
            "🎬 Got it! I'm starting your clip and will post progress and the video right here."
        );
        let private = Delivery {
            posting: Posting::Privately {
                missing: Permission::SendMessages,
            },
            files: Files::Attach,
        };
        let text = acknowledgement(&started, &private);
        assert!(!text.contains("right here"), "{text}");
        assert!(
            text.contains("**Send Messages**") && text.contains("direct message"),
            "{text}"
        );
        let refused = refused(&Refused::PromptRule {
            owner: crate::domain::moderation::RuleOwner::Server,
        });
        assert!(refused.contains("this server doesn't allow"), "{refused}");
    }

    #[test]
    fn a_channel_refusal_points_to_allowed_channels() {
        assert!(channel_refusal(&[]).contains("turned it off here"));
        assert_eq!(
            channel_refusal(&[ChannelId(5)]),
            "Clips can't be made in this channel. Try <#5>."
        );
    }
}
