//! What the bot posts about a job: the status message and its progress, the finished clip, why
//! there is no clip, tips, and the operator's alerts.

use super::{truncate, HumanBytes, CONTENT_MAX, THREAD_NAME_MAX};
use crate::domain::job::{FailReason, Job, VendorRefusal};
use crate::engine::ports::{ClipFile, LinkReason, Permission, Progress, Version};

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

/// What the clip is, in one line (`16:9 · 8 s · mp4 · seed 42 · start frame · 2 references`).
pub fn describe_request(job: &Job) -> String {
    let r = &job.request;
    let mut parts = vec![
        r.aspect_ratio().map_or("16:9", |a| a.as_str()).to_owned(),
        match r.duration() {
            Some(d) => format!("{d} s"),
            None if r.video_id().is_some() || job.continues.is_some() => "same length".to_owned(),
            None => "8 s".to_owned(),
        },
        r.format().as_str().to_owned(),
    ];
    if let Some(seed) = r.seed() {
        parts.push(format!("seed {seed}"));
    }
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

/// The first lines of a status message: the prompt, who asked, and what was asked for.
pub fn header(job: &Job) -> String {
    format!(
        "🎬 **{}**\nRequested by <@{}> · {}",
        truncate(job.request.prompt(), 200),
        job.user,
        describe_request(job)
    )
}

/// The quoted prompt under a message, cut to fit.
fn quoted_prompt(job: &Job) -> String {
    format!(
        "> {}",
        truncate(&job.request.prompt().replace('\n', " "), 300)
    )
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
            ..
        } => "🕒 Queued: I'll start as soon as the clip before it is done, and build on it."
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

/// The progress (and status) message once the outcome is posted.
pub fn closed(job: &Job, delivered: bool, header: bool) -> String {
    let line = if delivered {
        "✅ Done."
    } else {
        "❌ No clip this time (see below)."
    };
    with_header(job, line, header)
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::SendMessages => "Send Messages",
        Permission::SendMessagesInThreads => "Send Messages in Threads",
        Permission::AttachFiles => "Attach Files",
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
    let lineage = match &version.parent_label {
        Some(parent) => format!("**{}** (from {parent})", version.label),
        None => format!("**{}**", version.label),
    };
    let mut text = match file {
        ClipFile::Upload { .. } => format!(
            "✅ {lineage} · <@{}>, here's your clip!\n{}",
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
                "✅ {lineage} · <@{}>, your clip is ready, but {reason}, so here is the link: {url}\n⚠️ The link is temporary (about a day): download it soon.\n{}",
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
            truncate(job.request.prompt(), 200),
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

/// Once per channel, when the bot may post there but not open threads.
pub fn thread_tip(job: &Job) -> String {
    format!(
        "💡 <@{}>, I'll post this clip right here. Give me the **Create Public Threads** and **Send Messages in Threads** permissions in this channel and every clip gets its own thread.",
        job.user
    )
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
