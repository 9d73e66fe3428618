//! What the engine reports as it works, for metrics, alerts and tests. Names are enums, not
//! strings, so a metric label cannot drift from what the engine means. The app reports the
//! requests it refuses through the same hooks ([`EngineEvent::Refused`]), so every listener
//! hears about every request.

use crate::domain::ids::{ChannelId, JobId};
use crate::domain::job::{Job, StateName};
use crate::domain::permissions::Permission;
use crate::pixeldojo::ApiError;

/// Something the engine did.
#[derive(Debug)]
pub enum EngineEvent<'a> {
    /// The job moved to `job.state` from `from`.
    StateChanged { job: &'a Job, from: StateName },
    /// PixelDojo accepted the job.
    Submitted {
        job: &'a Job,
        credit_cost: Option<u32>,
        credits_remaining: Option<i64>,
    },
    /// One request to PixelDojo and how it ended.
    Request {
        endpoint: Endpoint,
        outcome: Outcome,
    },
    /// The clip finished rendering after `render_ms` (as first seen by a poll).
    Rendered { job: &'a Job, render_ms: i64 },
    /// The clip was posted `delay_ms` after the poll that saw it finished.
    Delivered {
        job: &'a Job,
        delay_ms: i64,
        as_link: bool,
    },
    /// PixelDojo rejected the API key while polling: the operator must act.
    KeyRejected,
    /// A job's task panicked; the job ended with an apology.
    Panicked { job: JobId },
    /// Discord refused or failed a request.
    DiscordError { kind: DiscordError },
    /// The bot lacks `permission` in `channel` (of the job's server) and did something else
    /// instead: posted in place of a thread, a link in place of a file, privately.
    PermissionMissing {
        job: &'a Job,
        channel: ChannelId,
        permission: Permission,
    },
    /// A request was refused before it became a job (reported by the app).
    Refused { reason: RefusalReason },
}

/// Why a request was refused before it became a job, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// The bot is shutting down.
    Stopping,
    /// Direct messages are turned off.
    DmsOff,
    /// The server's channel rules.
    Channel,
    /// A prompt rule.
    PromptRule,
    /// The bot may post neither where it was asked nor to the requester privately.
    CannotPost,
    /// The member's allowance is 0.
    Blocked,
    UserDaily,
    GuildDaily,
    GuildMonthlyCredits,
    GlobalDailyCredits,
    /// Something failed on the bot's side.
    Internal,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 11] = [
        Self::Stopping,
        Self::DmsOff,
        Self::Channel,
        Self::PromptRule,
        Self::CannotPost,
        Self::Blocked,
        Self::UserDaily,
        Self::GuildDaily,
        Self::GuildMonthlyCredits,
        Self::GlobalDailyCredits,
        Self::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stopping => "stopping",
            Self::DmsOff => "dms_off",
            Self::Channel => "channel",
            Self::PromptRule => "prompt_rule",
            Self::CannotPost => "cannot_post",
            Self::Blocked => "blocked",
            Self::UserDaily => "user_daily",
            Self::GuildDaily => "guild_daily",
            Self::GuildMonthlyCredits => "guild_monthly_credits",
            Self::GlobalDailyCredits => "global_daily_credits",
            Self::Internal => "internal",
        }
    }
}

/// A PixelDojo endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Submit,
    Poll,
    Download,
}

impl Endpoint {
    pub const ALL: [Endpoint; 3] = [Self::Submit, Self::Poll, Self::Download];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Poll => "poll",
            Self::Download => "download",
        }
    }
}

/// How a request to PixelDojo ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    RateLimited,
    NotSent,
    NoAnswer,
    Malformed,
    Unauthorized,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Self::Ok,
        Self::RateLimited,
        Self::NotSent,
        Self::NoAnswer,
        Self::Malformed,
        Self::Unauthorized,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RateLimited => "rate_limited",
            Self::NotSent => "not_sent",
            Self::NoAnswer => "no_answer",
            Self::Malformed => "malformed",
            Self::Unauthorized => "unauthorized",
            Self::Error => "error",
        }
    }

    /// How a result is counted.
    pub fn of<T>(result: &Result<T, ApiError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(ApiError::RateLimited) => Self::RateLimited,
            Err(ApiError::NotSent(_)) => Self::NotSent,
            Err(ApiError::Uncertain(_)) => Self::NoAnswer,
            Err(ApiError::Malformed(_)) => Self::Malformed,
            Err(ApiError::Unauthorized) => Self::Unauthorized,
            Err(_) => Self::Error,
        }
    }
}

/// A kind of Discord failure, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscordError {
    TooLarge,
    MissingPermission,
    ThreadGone,
    NoThread,
    Edit,
    DmClosed,
    Other,
}

impl DiscordError {
    pub const ALL: [DiscordError; 7] = [
        Self::TooLarge,
        Self::MissingPermission,
        Self::ThreadGone,
        Self::NoThread,
        Self::Edit,
        Self::DmClosed,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::MissingPermission => "missing_permission",
            Self::ThreadGone => "thread_gone",
            Self::NoThread => "no_thread",
            Self::Edit => "edit",
            Self::DmClosed => "dm_closed",
            Self::Other => "other",
        }
    }
}
