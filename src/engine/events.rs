//! What the engine reports as it works, for metrics, alerts and tests. Names are enums, not
//! strings, so a metric label cannot drift from what the engine means.

use crate::domain::ids::JobId;
use crate::domain::job::{Job, StateName};
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
