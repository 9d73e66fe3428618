//! A generation job and the states it moves through (plain Rust, no I/O).
//!
//! Every state is written to the store before the side effect it leads to, so that after a crash
//! the job resumes from the last state that is known to be true. The one place where that is not
//! enough is the vendor submit: a job found in [`JobState::Submitting`] at start-up may or may not
//! have been started (and charged), so it is never resubmitted; the user is told instead.

use serde::{Deserialize, Serialize};

use crate::request::GenerationRequest;

/// Our own id for a job (sled's monotonic id), distinct from the vendor's `jobId`.
pub type JobId = u64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub guild_id: Option<u64>,
    /// The channel the request came from.
    pub channel_id: u64,
    pub user_id: u64,
    pub request: GenerationRequest,
    /// Largest upload Discord accepts there, from the interaction (bytes).
    pub attachment_size_limit: u64,
    pub created_at_ms: i64,
    /// Where the conversation about this clip lives, once it is open.
    pub place: Option<Place>,
    pub state: JobState,
    /// Set when the request was made inside an existing conversation (a reply, a button): the
    /// job posts there instead of opening a new thread, and waits for earlier jobs in it.
    #[serde(default)]
    pub conversation: Option<u64>,
    /// The clip this job iterates on (its `video_id` is looked up when the job starts).
    #[serde(default)]
    pub continues: Option<ParentRef>,
}

/// Which clip of a conversation a follow-up continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParentRef {
    /// The newest clip when the job starts (a plain reply in the thread).
    Latest,
    /// A specific clip (a reply to it, or a button on it).
    Job(JobId),
}

/// Where the bot posts about a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The thread, or the channel itself when no thread could be made.
    pub channel_id: u64,
    /// The status message the thread hangs from (in the parent channel).
    pub status_message_id: Option<u64>,
    /// The message that shows progress, edited while the clip renders.
    pub progress_message_id: Option<u64>,
    pub in_thread: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum JobState {
    /// Stored, nothing done yet.
    Accepted,
    /// The conversation is open; waiting for its turn (user's concurrency, earlier follow-ups).
    Queued,
    /// About to be sent to the vendor. Found at start-up, the outcome is unknown.
    Submitting,
    /// The vendor accepted it.
    Running {
        vendor_job_id: String,
        submitted_at_ms: i64,
    },
    /// The vendor finished it; the video is to be posted.
    Delivering {
        vendor_job_id: String,
        video_url: String,
        video_id: Option<String>,
        render_ms: i64,
    },
    /// The video (or its link) is posted.
    Delivered {
        message_id: u64,
        video_id: Option<String>,
    },
    /// A reason is to be posted.
    Failing { reason: String, refund: bool },
    /// The reason is posted.
    Failed { reason: String, refunded: bool },
}

impl JobState {
    /// True once nothing more will happen to the job.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Delivered { .. } | Self::Failed { .. })
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Queued => "queued",
            Self::Submitting => "submitting",
            Self::Running { .. } => "running",
            Self::Delivering { .. } => "delivering",
            Self::Delivered { .. } => "delivered",
            Self::Failing { .. } => "failing",
            Self::Failed { .. } => "failed",
        }
    }

    /// What a job found in this state at start-up must become before it is driven again.
    pub fn after_restart(self) -> Self {
        match self {
            Self::Submitting => Self::Failing {
                reason: UNCERTAIN_SUBMIT.to_owned(),
                refund: false,
            },
            other => other,
        }
    }
}

/// Told to the user when the bot cannot know whether PixelDojo started (and charged) a clip.
pub const UNCERTAIN_SUBMIT: &str = "I lost contact with PixelDojo while sending this request, so I can't tell whether the clip was started (and charged). To avoid paying twice I did not send it again. If no clip appears here, run `/omni` again.";

/// Told to the user when a follow-up's clip has no `videoId` to continue from.
pub const NO_VIDEO_ID: &str = "PixelDojo didn't give that clip an id to continue from, so I can't refine it. Start a fresh one with `/omni`, or reply with a video attached to edit it.";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_interrupted_while_submitting_is_never_resubmitted() {
        let s = JobState::Submitting.after_restart();
        assert!(matches!(s, JobState::Failing { refund: false, .. }));
        let running = JobState::Running {
            vendor_job_id: "j".into(),
            submitted_at_ms: 1,
        };
        assert_eq!(running.clone().after_restart(), running);
    }

    #[test]
    fn only_delivered_and_failed_are_final() {
        assert!(JobState::Failed {
            reason: String::new(),
            refunded: true
        }
        .is_final());
        assert!(!JobState::Failing {
            reason: String::new(),
            refund: true
        }
        .is_final());
        assert!(!JobState::Accepted.is_final());
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
}
