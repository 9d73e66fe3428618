//! What the bot posts about a job: the status message and its progress, the finished clip, why
//! there is no clip, tips, and the operator's alerts.

use super::moderation::permission_name;
use super::{escape_markdown, truncate, HumanBytes, CONTENT_MAX, THREAD_NAME_MAX};
use crate::domain::ids::{ChannelId, GuildId, MessageId};
use crate::domain::job::{FailReason, Job, VendorRefusal};
use crate::domain::lineage::{Frame, Shape};
use crate::engine::ports::{
    ClipFile, ClipLink, LinkReason, Permission, Progress, Version, VersionOrigin,
};

/// Posted first in each thread when the bot runs without the Message Content intent.
pub const INTENT_TIP: &str = "💬 To refine a clip, **reply** to it (keep the mention on) or **mention me** with what should change. I can't read other messages here.";

/// A thread name from a prompt: one line, at most 100 characters, cut at a word if possible.
pub fn thread_name(prompt: &str) -> String {
    let line: String = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&line, THREAD_NAME_MAX)
}

/// A text progress bar for a clip expected to take `expected_ms` (capped at 95% until done).
pub fn progress_bar(elapsed_ms: i64, expected_ms: i64, width: usize) -> String {
    let ratio = if expected_ms <= 0 {
        0.0
    } else {
        (elapsed_ms as f64 / expected_ms as f64).clamp(0.0, 0.95)
    };
    let filled = ((ratio * width as f64).floor() as usize).min(width);
    format!("{}{}", "▰".repeat(filled), "▱".repeat(width - filled))
}

/// `1:05`-style elapsed time.
pub fn clock(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// What a clip looks like, compactly (`9:16 · 5 s · webm · seed 42`); a continuation shows
/// its line's frame and length.
pub fn describe_shape(shape: &Shape) -> String {
    let mut parts = Vec::new();
    match (shape.frame, shape.duration) {
        (None, None) => parts.push("same shape and length as the clip it continues".to_owned()),
        (frame, duration) => {
            parts.push(match frame {
                Some(Frame::Aspect(a)) => a.as_str().to_owned(),
                Some(Frame::SourceVideo) => "matches the source video".to_owned(),
                None => "same shape as the clip it continues".to_owned(),
            });
            parts.push(match duration {
                Some(d) => format!("{d} s"),
                None => "same length".to_owned(),
            });
        }
    }
    parts.push(shape.format.as_str().to_owned());
    if let Some(seed) = shape.seed {
        parts.push(format!("seed {seed}"));
    }
    parts.join(" · ")
}

/// What the clip is, in one line (`16:9 · 8 s · mp4 · seed 42 · start frame · 2 references`).
pub fn describe_request(job: &Job) -> String {
    let r = &job.request;
    let mut parts = vec![describe_shape(&job.shape())];
    if r.image().is_some() {
        parts.push("start frame".into());
    }
    if r.video().is_some() {
        parts.push("editing a video".into());
    }
    match r.references().len() {
        0 => {}
        1 => parts.push("1 reference".into()),
        n => parts.push(format!("{n} references")),
    }
    parts.join(" · ")
}

/// A prompt quoted in one of the bot's messages: one line, cut to `max`, markdown shown as
/// typed.
pub fn quoted(prompt: &str, max: usize) -> String {
    escape_markdown(&truncate(&prompt.replace(['\n', '\r'], " "), max))
}

/// The first lines of a status message: the prompt, who asked, and what was asked for. A clip
/// asked in a conversation (a follow-up, a button) says whose daily clips it counts toward:
/// whoever asked, not the thread's owner.
pub fn header(job: &Job) -> String {
    let counts = if job.asked_in.is_some() {
        format!(" (counts toward <@{}>'s daily clips)", job.user)
    } else {
        String::new()
    };
    format!(
        "🎬 **{}**\nRequested by <@{}>{counts} · {}",
        quoted(job.request.prompt(), 200),
        job.user,
        describe_request(job)
    )
}

/// The quoted prompt under a message, cut to fit.
fn quoted_prompt(job: &Job) -> String {
    format!("> {}", quoted(job.request.prompt(), 300))
}

/// A link to a message, which Discord shows as a jump link.
pub fn message_link(guild: Option<GuildId>, channel: ChannelId, message: MessageId) -> String {
    let guild = guild.map_or_else(|| "@me".to_owned(), |g| g.to_string());
    format!("https://discord.com/channels/{guild}/{channel}/{message}")
}

fn with_header(job: &Job, line: &str, with: bool) -> String {
    if with {
        format!("{}\n{line}", header(job))
    } else {
        line.to_owned()
    }
}

/// The message a conversation starts from.
pub fn status(job: &Job) -> String {
    format!("{}\n⏳ Starting…", header(job))
}

/// Where a job stands.
pub fn progress(job: &Job, progress: &Progress, header: bool) -> String {
    let line = match progress {
        Progress::Queued {
            behind_conversation: true,
            builds_on: true,
            ..
        } => "🕒 Queued: I'll start as soon as the clip before it is done, and build on it."
            .to_owned(),
        Progress::Queued {
            behind_conversation: true,
            builds_on: false,
            ..
        } => "🕒 Queued: I'll start as soon as the clip before it in this conversation is done."
            .to_owned(),
        Progress::Queued { position, .. } => format!(
            "🕒 Queued (#{position} in your line): you already have clips rendering. I'll start this one as soon as one finishes."
        ),
        Progress::Submitting => "⏳ Sending your request to PixelDojo…".to_owned(),
        Progress::Rendering {
            elapsed_ms,
            expected_ms,
        } => format!(
            "🎞️ Rendering `{}` {} (usually about {})",
            progress_bar(*elapsed_ms, *expected_ms, 12),
            clock(*elapsed_ms),
            clock(*expected_ms)
        ),
        Progress::Delivering => "📥 Done rendering; posting your clip…".to_owned(),
    };
    with_header(job, &line, header)
}

/// The progress (and status) message once the outcome is posted; `latest` is the newest clip
/// of the conversation, which the status message above a thread links to.
pub fn closed(job: &Job, delivered: bool, header: bool, latest: Option<&ClipLink>) -> String {
    let line = match (latest, delivered) {
        (Some(clip), _) => format!(
            "✅ Latest clip: **{}** {}",
            clip.label,
            message_link(clip.guild, clip.channel, clip.message)
        ),
        (None, true) => "✅ Done.".to_owned(),
        (None, false) => "❌ No clip this time (see below).".to_owned(),
    };
    with_header(job, &line, header)
}

/// A clip's label with what it was made from (`**v2** (re-roll of v1)`).
pub fn version_label(version: &Version) -> String {
    match &version.origin {
        None => format!("**{}**", version.label),
        Some(VersionOrigin::From(parent)) => format!("**{}** (from {parent})", version.label),
        Some(VersionOrigin::RerollOf(of)) => format!("**{}** (re-roll of {of})", version.label),
        Some(VersionOrigin::FlipOf { label, aspect }) => {
            format!("**{}** ({} of {label})", version.label, aspect.as_str())
        }
    }
}

/// Why the user is reading this in a DM: the permission the bot lacks, by name.
fn cannot_post_here(job: &Job, permission: Permission) -> String {
    format!(
        "ℹ️ I couldn't post this in <#{}>: I'm missing the **{}** permission there. A server admin can grant it.",
        job.posts_in(),
        permission_name(permission)
    )
}

/// The message that carries a finished clip (or its link).
pub fn clip(
    job: &Job,
    file: &ClipFile,
    version: &Version,
    privately: Option<Permission>,
) -> String {
    let lineage = version_label(version);
    let settings = format!("-# {}", describe_shape(&job.shape()));
    let mut text = match file {
        ClipFile::Upload { .. } => format!(
            "✅ {lineage} · <@{}>, here's your clip!\n{}\n{settings}",
            job.user,
            quoted_prompt(job)
        ),
        ClipFile::Link { url, why } => {
            let reason = match why {
                LinkReason::TooLarge => format!(
                    "it's larger than the {} Discord accepts here",
                    HumanBytes(job.attachment_size_limit)
                ),
                LinkReason::DownloadFailed => "I couldn't download it to upload it".to_owned(),
                LinkReason::NoAttachPermission => {
                    "I'm missing the **Attach Files** permission here (a server admin can grant it)"
                        .to_owned()
                }
            };
            format!(
                "✅ {lineage} · <@{}>, your clip is ready, but {reason}, so here is the link: {url}\n⚠️ The link is temporary (about a day): download it soon.\n{}\n{settings}",
                job.user,
                quoted_prompt(job)
            )
        }
    };
    if let Some(permission) = privately {
        text = format!("{text}\n{}", cannot_post_here(job, permission));
    }
    truncate(&text, CONTENT_MAX)
}

/// The message that says why a job ended without a clip.
pub fn failure(job: &Job, reason: &FailReason, privately: Option<Permission>) -> String {
    let text = match privately {
        None => format!("❌ <@{}>, {}", job.user, fail_reason(reason)),
        Some(permission) => format!(
            "❌ About **{}**: {}\n{}",
            quoted(job.request.prompt(), 200),
            fail_reason(reason),
            cannot_post_here(job, permission)
        ),
    };
    truncate(&text, CONTENT_MAX)
}

/// Told when the bot cannot know whether PixelDojo started (and charged) a clip.
pub const UNCERTAIN_SUBMIT: &str = "I lost contact with PixelDojo while sending this request, so I can't tell whether the clip was started (and charged). To avoid paying twice I did not send it again. If no clip appears here, use **Send again** below (it may be charged twice) or run `/omni` again.";

/// Told when a follow-up's clip has no id to continue from.
pub const NO_VIDEO_ID: &str = "PixelDojo didn't give that clip an id to continue from, so I can't refine it. Start a fresh one with `/omni`, or reply with a video attached to edit it.";

/// Why a job ended without a clip, in a sentence that says what to do.
pub fn fail_reason(reason: &FailReason) -> String {
    const NOT_COUNTED: &str = "It doesn't count against your daily clips";
    match reason {
        FailReason::Cancelled => "you cancelled this request before it started; nothing was charged.".to_owned(),
        FailReason::CancelledByModerator => "a moderator cancelled this request before it started; nothing was charged.".to_owned(),
        FailReason::CannotPost => "I couldn't post in this channel, so I didn't start the clip. Check that I can send messages here.".to_owned(),
        FailReason::NoVideoId => NO_VIDEO_ID.to_owned(),
        FailReason::Refused(refusal) => vendor_refusal(refusal),
        FailReason::UncertainSubmit => UNCERTAIN_SUBMIT.to_owned(),
        FailReason::RenderFailed { message, .. } if message.is_empty() => {
            format!("PixelDojo couldn't make this clip. {NOT_COUNTED}; try rewording the prompt.")
        }
        FailReason::RenderFailed { message, .. } => format!(
            "PixelDojo couldn't make this clip: {message}. {NOT_COUNTED}; try rewording the prompt."
        ),
        FailReason::TimedOut { minutes } => {
            let minutes = match minutes {
                1 => "1 minute".to_owned(),
                n => format!("{n} minutes"),
            };
            format!("PixelDojo did not finish this clip within {minutes}, so I stopped waiting. {NOT_COUNTED}; try again with `/omni`.")
        }
        FailReason::Undeliverable => format!("your clip was ready, but Discord didn't take it before PixelDojo's link to it expired, so I can't post it. {NOT_COUNTED}."),
        FailReason::UntrustedOutput => format!("PixelDojo returned your clip at an address that isn't one of its own, so I didn't download or link it. {NOT_COUNTED}; please try again."),
        FailReason::Internal { .. } => format!("something went wrong on my side while making this clip. {NOT_COUNTED}; please try again."),
    }
}

/// How PixelDojo refused a request, and what to do about it.
pub fn vendor_refusal(refusal: &VendorRefusal) -> String {
    match refusal {
        VendorRefusal::Unauthorized => "the bot's PixelDojo API key was rejected; ask a server admin to check the bot's configuration. Nothing was charged.".to_owned(),
        VendorRefusal::OutOfCredits => "the bot's owner is out of PixelDojo credits; ask a server admin to top up. Nothing was charged.".to_owned(),
        VendorRefusal::Invalid { message } if message.is_empty() => "PixelDojo refused this request; check your prompt, attachments and options, then try again. Nothing was charged.".to_owned(),
        VendorRefusal::Invalid { message } => format!("PixelDojo refused this request ({message}); change it and try again. Nothing was charged."),
        VendorRefusal::ModelNotFound => "the video model is not available on PixelDojo; ask a server admin to check the bot's configuration. Nothing was charged.".to_owned(),
        VendorRefusal::Busy { retry_after_secs: Some(s) } => format!("PixelDojo is getting too many requests; try again in about {} seconds. Nothing was charged.", (*s).max(1)),
        VendorRefusal::Busy { retry_after_secs: None } => "PixelDojo is getting too many requests; try again in a few minutes. Nothing was charged.".to_owned(),
        VendorRefusal::Unreachable => "I could not reach PixelDojo; try again in a moment. Nothing was charged.".to_owned(),
        VendorRefusal::Unexpected { .. } => "PixelDojo refused this request with an unexpected error; try again later, and tell a server admin if it keeps happening. Nothing was charged.".to_owned(),
    }
}

/// For the operator's alert channel.
pub fn key_rejected() -> String {
    "🔑 PixelDojo is rejecting the bot's API key, so no clip can start or finish. The bot's operator needs to put a working key in the bot's configuration; clips already rendering wait for it until they time out.".to_owned()
}

/// For the operator's alert channel.
pub fn low_credits(remaining: i64, threshold: i64) -> String {
    format!(
        "⚠️ PixelDojo credits are running low: {remaining} left (the alert threshold is {threshold}). Each clip costs about {} credits. Top up at pixeldojo.ai to keep clips coming.",
        crate::domain::quota::CLIP_CREDITS
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_name_is_one_line_of_at_most_100_characters() {
        let long = "word ".repeat(60);
        let name = thread_name(&long);
        assert!(name.chars().count() <= 100, "{}", name.len());
        assert!(name.ends_with('…'));
        assert_eq!(thread_name("a\nb   c"), "a b c");
        let unbroken = "x".repeat(150);
        assert_eq!(thread_name(&unbroken).chars().count(), 100);
    }

    #[test]
    fn the_progress_bar_fills_with_time_but_never_completes_early() {
        assert_eq!(progress_bar(0, 10_000, 10), "▱▱▱▱▱▱▱▱▱▱");
        assert_eq!(progress_bar(5_000, 10_000, 10), "▰▰▰▰▰▱▱▱▱▱");
        assert_eq!(progress_bar(50_000, 10_000, 10).matches('▰').count(), 9);
        assert_eq!(progress_bar(9_000, 10_000, 20).matches('▰').count(), 18);
    }

    #[test]
    fn the_clock_shows_minutes_and_seconds() {
        assert_eq!(clock(65_400), "1:05");
        assert_eq!(clock(-3), "0:00");
    }

    #[test]
    fn every_reason_is_a_sentence_without_jargon() {
        let reasons = [
            FailReason::Cancelled,
            FailReason::CannotPost,
            FailReason::NoVideoId,
            FailReason::Refused(VendorRefusal::OutOfCredits),
            FailReason::Refused(VendorRefusal::Invalid {
                message: "duration must be 3-10".into(),
            }),
            FailReason::UncertainSubmit,
            FailReason::RenderFailed {
                message: "content policy".into(),
                charged: true,
            },
            FailReason::TimedOut { minutes: 15 },
            FailReason::Undeliverable,
            FailReason::UntrustedOutput,
            FailReason::Internal { submitted: true },
        ];
        for reason in reasons {
            let text = fail_reason(&reason);
            assert!(text.ends_with('.'), "{text}");
            for jargon in ["refunded", "usage", "HTTP", "_", "api_key"] {
                assert!(!text.contains(jargon), "{jargon} in {text}");
            }
        }
        assert!(fail_reason(&FailReason::TimedOut { minutes: 1 }).contains("1 minute,"));
        assert!(fail_reason(&FailReason::RenderFailed {
            message: "content policy".into(),
            charged: false
        })
        .contains("couldn't make this clip: content policy."));
    }

    #[test]
    fn the_low_credit_alert_says_the_unit() {
        let text = low_credits(100, 500);
        assert!(text.contains("about 16 credits"), "{text}");
    }
}
