//! Answers to a request: the acknowledgement, refusals, invalid inputs, what a message in a
//! conversation or a button did.

use super::{plural, HumanBytes};
use crate::app::{ActionRefusal, Refused, Restarted, Started, Why};
use crate::domain::ids::{ChannelId, Scope};
use crate::domain::quota::Refusal;
use crate::domain::request::{
    FollowUpConflict, RequestError, MAX_DURATION, MAX_PROMPT_CHARS, MAX_REFERENCES,
    MAX_REFERENCES_WITH_VIDEO, MIN_DURATION,
};
use crate::engine::CancelError;

/// Shown when something failed on our side and the cause is only for the log.
pub const GENERIC_FAILURE: &str =
    "Something went wrong on my side, and nothing was charged. Please try again in a moment.";

/// Why a message did not start a clip: files other than images and videos.
const NOT_MEDIA: &str = "I can use images (as reference images) and one video (to edit it). Attach only those, and say in words what should change.";
const NEED_WORDS: &str =
    "Add a few words saying what should happen in the clip, and send it again.";
const ONE_VIDEO: &str = "Attach one video at a time: I can edit only one.";
const NOTHING_YET: &str =
    "There's no clip here to refine yet. Run `/omni` to start one, or reply with a video attached to edit it.";

/// The private answer to a started request.
pub fn acknowledgement(started: &Started) -> String {
    match started {
        Started::New {
            queued: Some(position),
            ..
        } => format!(
            "🕒 Got it! You already have clips going, so this one is queued (#{position} in your line). I'll start it as soon as one finishes and post progress and the video right here."
        ),
        Started::New { queued: None, .. } => {
            "🎬 Got it! I'm starting your clip and will post progress and the video right here."
                .to_owned()
        }
        Started::AlreadyHandled(_) => {
            "🎬 Got it already: that clip is on its way.".to_owned()
        }
    }
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
        Refused::Channel { allowed } => channel_refusal(allowed),
        Refused::Quota(refusal) => quota_refusal(refusal),
        Refused::Internal => GENERIC_FAILURE.to_owned(),
    }
}

/// What about a file was wrong, in words.
fn found(content_type: &Option<String>) -> String {
    match content_type {
        Some(ct) => ct.clone(),
        None => "of an unknown type".to_owned(),
    }
}

/// An input that breaks one of the vendor's rules, and how to fix it.
pub fn request_error(error: &RequestError) -> String {
    match error {
        RequestError::EmptyPrompt => "Your prompt is empty: describe the clip you want, for example `a red fox running through fresh snow`.".to_owned(),
        RequestError::PromptTooLong { len } => format!("Your prompt is {len} characters long; please keep it under {MAX_PROMPT_CHARS}."),
        RequestError::DurationOutOfRange(d) => format!("`duration` must be between {MIN_DURATION} and {MAX_DURATION} seconds (you asked for {d})."),
        RequestError::NotAnImage { option, filename, content_type } => format!("`{option}` must be an image (PNG, JPEG, WebP or GIF), but `{filename}` is {}. Attach an image there instead.", found(content_type)),
        RequestError::NotAVideo { option, filename, content_type } => format!("`{option}` must be a video (MP4, WebM or MOV), but `{filename}` is {}. Attach a video there instead.", found(content_type)),
        RequestError::TooLarge { option, filename, size, max } => format!("`{option}` is too large: `{filename}` is {}, and the limit is {}. Attach a smaller file.", HumanBytes(*size), HumanBytes(*max)),
        RequestError::TooManyReferencesWithVideo { count } => format!("You attached {count} reference images with a video; at most {MAX_REFERENCES_WITH_VIDEO} work together with a video. Remove {} of them.", count - MAX_REFERENCES_WITH_VIDEO),
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
        Why::NotMedia => NOT_MEDIA.to_owned(),
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
/// The private answer to an "Animate with Omni" box.
pub const ANIMATING: &str =
    "🎬 Got it! I'm animating those images and will post the clip right here.";

/// Why a button or box did not start a clip.
pub fn action_refusal(refusal: &ActionRefusal) -> String {
    match refusal {
        ActionRefusal::NotFound => "I can't find that clip any more.".to_owned(),
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
        Err(CancelError::NotYours) => "Only the person who asked for this clip can cancel it.".to_owned(),
    }
}

/// "Animate with Omni" on a message without images.
pub const NO_IMAGES: &str =
    "That message has no images to animate. Use this on a message with at least one image.";

/// The title of the "Animate with Omni" box.
pub fn animate_title(images: usize) -> String {
    match images {
        1 => "Animate this image".to_owned(),
        n => format!("Animate these {n} images"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::GuildId;

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
        assert!(blocked.contains("allowance is 0") && blocked.contains("in direct messages"));
    }

    #[test]
    fn an_invalid_input_names_its_option_and_file() {
        let text = request_error(&RequestError::NotAnImage {
            option: "image".into(),
            filename: "notes.pdf".into(),
            content_type: Some("application/pdf".into()),
        });
        assert!(
            text.contains("`image`") && text.contains("notes.pdf"),
            "{text}"
        );
        let text = request_error(&RequestError::TooManyReferencesWithVideo { count: 6 });
        assert!(text.contains("Remove 1 of them"), "{text}");
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
