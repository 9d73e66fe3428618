//! A generation job, the states it moves through, and why it may end without a clip (plain
//! Rust, no I/O).
//!
//! Every state is written to the store before the side effect it leads to, so that after a crash
//! the job resumes from the last state that is known to be true. The one place where that is not
//! enough is the vendor submit: a job found in [`JobState::Submitting`] at start-up may or may not
//! have been started (and charged), so it is never resubmitted; the user is told instead.
//!
//! Nothing here is English for users: a [`FailReason`] is data, and the Discord adapter words it.

use serde::{Deserialize, Serialize};

use super::ids::{
    ChannelId, ConversationId, GuildId, JobId, MessageId, Scope, UserId, VendorJobId,
};
use super::lineage::{shape_of, Lineage, MadeFrom, Shape};
use super::request::GenerationRequest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    #[serde(rename = "guild_id")]
    pub guild: Option<GuildId>,
    /// The channel the request was made in.
    #[serde(rename = "channel_id")]
    pub channel: ChannelId,
    /// When that channel is a thread: the channel it hangs from (the last place to post in if
    /// the thread is deleted).
    #[serde(default)]
    pub parent_channel: Option<ChannelId>,
    #[serde(rename = "user_id")]
    pub user: UserId,
    pub request: GenerationRequest,
    /// Largest upload Discord accepts there, from the interaction (bytes).
    pub attachment_size_limit: u64,
    pub created_at_ms: i64,
    /// Where the conversation about this clip lives, once it is open.
    pub place: Option<Place>,
    pub state: JobState,
    /// Set when the request was made inside an existing conversation (a reply, a button): the
    /// job posts there instead of opening a new thread, and waits for earlier jobs in it.
    #[serde(default, rename = "conversation")]
    pub asked_in: Option<ConversationId>,
    /// The clip this job iterates on (its `video_id` is looked up when the job starts).
    #[serde(default)]
    pub continues: Option<ParentRef>,
    /// For a continuation: the line it continues (prompts, inputs and shape up to its parent).
    /// Set from the parent once it is known; until then the clip's shape is not known.
    #[serde(default)]
    pub lineage: Option<Lineage>,
    /// The button that made this clip from another one (re-roll, other aspect ratio).
    #[serde(default)]
    pub made_from: Option<MadeFrom>,
}

impl Job {
    pub fn scope(&self) -> Scope {
        Scope::from_guild(self.guild)
    }

    /// The conversation the job posts into: where it was placed, or where it was asked.
    pub fn conversation(&self) -> Option<ConversationId> {
        self.place
            .as_ref()
            .map(|p| p.conversation)
            .or(self.asked_in)
    }

    /// Where the job's messages go: its conversation, or the channel it was asked in.
    pub fn posts_in(&self) -> ChannelId {
        self.conversation()
            .map_or(self.channel, ConversationId::channel)
    }

    /// Where a final message may go, in order: the conversation, the channel the request was
    /// made in, and that channel's parent (when threads are deleted).
    pub fn places_to_post(&self) -> Vec<ChannelId> {
        let mut places = vec![self.posts_in()];
        for c in [Some(self.channel), self.parent_channel]
            .into_iter()
            .flatten()
        {
            if !places.contains(&c) {
                places.push(c);
            }
        }
        places
    }

    /// What the clip looks like: its own request's shape, or for a continuation its line's.
    pub fn shape(&self) -> Shape {
        match (&self.lineage, self.continues) {
            (Some(line), _) => line.shape(&self.request),
            (None, None) => shape_of(&self.request),
            // A continuation whose parent is not known yet: its length is the parent's.
            (None, Some(_)) => Shape {
                frame: None,
                duration: None,
                ..shape_of(&self.request)
            },
        }
    }

    /// The clip this job continues, once resolved to a job.
    pub fn parent(&self) -> Option<JobId> {
        match self.continues {
            Some(ParentRef::Job(id)) => Some(id),
            _ => None,
        }
    }
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
    #[serde(rename = "channel_id")]
    pub conversation: ConversationId,
    /// The status message the thread hangs from (in the parent channel).
    #[serde(rename = "status_message_id")]
    pub status_message: Option<MessageId>,
    /// The message that shows progress, edited while the clip renders.
    #[serde(rename = "progress_message_id")]
    pub progress_message: Option<MessageId>,
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
        vendor_job_id: VendorJobId,
        submitted_at_ms: i64,
    },
    /// The vendor finished it; the video is to be posted.
    Delivering {
        vendor_job_id: VendorJobId,
        video_url: String,
        video_id: Option<String>,
        render_ms: i64,
        /// When the finished clip was seen; its link expires about a day later.
        #[serde(default)]
        finished_at_ms: i64,
    },
    /// The video (or its link) is posted.
    Delivered {
        message_id: MessageId,
        video_id: Option<String>,
    },
    /// A reason is to be posted.
    Failing { reason: FailReason },
    /// The reason is posted.
    Failed { reason: FailReason },
}

/// The name of a state, for logs, events and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateName {
    Accepted,
    Queued,
    Submitting,
    Running,
    Delivering,
    Delivered,
    Failing,
    Failed,
}

impl StateName {
    pub const ALL: [StateName; 8] = [
        Self::Accepted,
        Self::Queued,
        Self::Submitting,
        Self::Running,
        Self::Delivering,
        Self::Delivered,
        Self::Failing,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Queued => "queued",
            Self::Submitting => "submitting",
            Self::Running => "running",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Failing => "failing",
            Self::Failed => "failed",
        }
    }
}

impl JobState {
    /// True once nothing more will happen to the job.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Delivered { .. } | Self::Failed { .. })
    }

    pub fn name(&self) -> StateName {
        match self {
            Self::Accepted => StateName::Accepted,
            Self::Queued => StateName::Queued,
            Self::Submitting => StateName::Submitting,
            Self::Running { .. } => StateName::Running,
            Self::Delivering { .. } => StateName::Delivering,
            Self::Delivered { .. } => StateName::Delivered,
            Self::Failing { .. } => StateName::Failing,
            Self::Failed { .. } => StateName::Failed,
        }
    }

    /// What a job found in this state at start-up must become before it is driven again.
    pub fn after_restart(self) -> Self {
        match self {
            Self::Submitting => Self::Failing {
                reason: FailReason::UncertainSubmit,
            },
            other => other,
        }
    }

    /// Whether the request has been sent to the vendor (so it may have been charged).
    pub fn sent_to_vendor(&self) -> bool {
        matches!(
            self,
            Self::Submitting
                | Self::Running { .. }
                | Self::Delivering { .. }
                | Self::Delivered { .. }
        )
    }
}

/// Why a job ended without a clip. Persisted as data; the Discord adapter words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// The requester withdrew it while it waited in line.
    Cancelled,
    /// A moderator withdrew it while it waited in line.
    CancelledByModerator,
    /// The bot could not post where the request was made, so it did not start the clip.
    CannotPost,
    /// The clip to continue has no id to continue from.
    NoVideoId,
    /// PixelDojo refused the request; nothing was charged.
    Refused(VendorRefusal),
    /// The submit's answer was lost: PixelDojo may have started (and charged) the clip.
    UncertainSubmit,
    /// PixelDojo reported that the render failed. `message` is the vendor's text, already
    /// cleaned for users; `charged` is false only when the vendor said it charged nothing.
    RenderFailed { message: String, charged: bool },
    /// PixelDojo did not finish within the job timeout.
    TimedOut { minutes: u64 },
    /// The clip was ready, but Discord did not take it before its link expired.
    Undeliverable,
    /// PixelDojo returned the clip at an address that is not one of its hosts: it was neither
    /// downloaded nor linked.
    UntrustedOutput,
    /// A bug in the bot ended the job; `submitted` says whether PixelDojo had it.
    Internal { submitted: bool },
}

/// How PixelDojo refused a submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VendorRefusal {
    /// The API key was rejected (401).
    Unauthorized,
    /// The account is out of credits (402).
    OutOfCredits,
    /// The request was invalid (400); `message` is the vendor's text, cleaned for users.
    Invalid { message: String },
    /// The configured model is unknown (404 on submit).
    ModelNotFound,
    /// Too many requests (429) or unavailable (503), still after waiting.
    Busy { retry_after_secs: Option<u64> },
    /// PixelDojo could not be reached at all.
    Unreachable,
    /// Any other refusal.
    Unexpected { status: u16 },
}

/// What a job that ended without a clip gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    /// The user's (and the server's) clip counts: no clip reached them.
    pub clips: bool,
    /// The credit counters: only when PixelDojo provably charged nothing.
    pub credits: bool,
}

impl FailReason {
    /// The money rule: users never pay a clip count for a clip they did not get; credits are
    /// given back only when PixelDojo provably did not charge (refused, never sent, or a failed
    /// render that reports a cost of 0). A timeout, a lost submit and a clip the bot could not
    /// post keep their charge.
    pub fn settlement(&self) -> Settlement {
        let credits = match self {
            Self::Cancelled
            | Self::CancelledByModerator
            | Self::CannotPost
            | Self::NoVideoId
            | Self::Refused(_) => true,
            Self::RenderFailed { charged, .. } => !charged,
            Self::Internal { submitted } => !submitted,
            Self::UncertainSubmit
            | Self::TimedOut { .. }
            | Self::Undeliverable
            | Self::UntrustedOutput => false,
        };
        Settlement {
            clips: true,
            credits,
        }
    }

    /// Whether asking again may pay twice (the first attempt may have been started).
    pub fn may_have_started(&self) -> bool {
        matches!(self, Self::UncertainSubmit)
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::CancelledByModerator => "cancelled_by_moderator",
            Self::CannotPost => "cannot_post",
            Self::NoVideoId => "no_video_id",
            Self::Refused(_) => "refused",
            Self::UncertainSubmit => "uncertain_submit",
            Self::RenderFailed { .. } => "render_failed",
            Self::TimedOut { .. } => "timed_out",
            Self::Undeliverable => "undeliverable",
            Self::UntrustedOutput => "untrusted_output",
            Self::Internal { .. } => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_interrupted_while_submitting_is_never_resubmitted() {
        let s = JobState::Submitting.after_restart();
        assert_eq!(
            s,
            JobState::Failing {
                reason: FailReason::UncertainSubmit
            }
        );
        let running = JobState::Running {
            vendor_job_id: VendorJobId("j".into()),
            submitted_at_ms: 1,
        };
        assert_eq!(running.clone().after_restart(), running);
    }

    #[test]
    fn only_delivered_and_failed_are_final() {
        assert!(JobState::Failed {
            reason: FailReason::Cancelled
        }
        .is_final());
        assert!(!JobState::Failing {
            reason: FailReason::Cancelled
        }
        .is_final());
        assert!(!JobState::Accepted.is_final());
    }

    #[test]
    fn credits_come_back_only_when_pixeldojo_provably_charged_nothing() {
        let back = |r: FailReason| r.settlement().credits;
        assert!(back(FailReason::Cancelled));
        assert!(back(FailReason::Refused(VendorRefusal::OutOfCredits)));
        assert!(back(FailReason::RenderFailed {
            message: String::new(),
            charged: false
        }));
        assert!(!back(FailReason::RenderFailed {
            message: String::new(),
            charged: true
        }));
        assert!(!back(FailReason::UncertainSubmit));
        assert!(!back(FailReason::TimedOut { minutes: 15 }));
        assert!(!back(FailReason::Undeliverable));
        assert!(back(FailReason::Internal { submitted: false }));
        assert!(!back(FailReason::Internal { submitted: true }));
    }

    #[test]
    fn a_user_never_pays_a_clip_count_for_a_clip_that_did_not_reach_them() {
        for r in [
            FailReason::UncertainSubmit,
            FailReason::TimedOut { minutes: 1 },
            FailReason::Undeliverable,
            FailReason::Cancelled,
        ] {
            assert!(r.settlement().clips, "{r:?}");
        }
    }

    #[test]
    fn a_reason_is_stored_as_data_not_as_a_sentence() {
        let json = serde_json::to_string(&JobState::Failing {
            reason: FailReason::TimedOut { minutes: 15 },
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"Failing":{"reason":{"TimedOut":{"minutes":15}}}}"#
        );
    }
}
