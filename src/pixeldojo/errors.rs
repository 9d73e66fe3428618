//! Everything that can go wrong talking to PixelDojo, sorted by what the caller may do next.
//!
//! `Display` is for operators (logs). Users never see these texts: the engine turns a refused
//! submit into a [`VendorRefusal`] (data), which the Discord adapter words. Neither ever contains
//! the API key.

use crate::domain::job::VendorRefusal;

/// Vendor messages shown to users are cut to this many characters.
const MAX_USER_VENDOR_MESSAGE_CHARS: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("PixelDojo rejected the API key (unauthorized)")]
    Unauthorized,
    #[error("PixelDojo account is out of credits (insufficient_credits)")]
    InsufficientCredits,
    #[error("PixelDojo rejected the request as invalid: {0}")]
    InvalidRequest(String),
    #[error("PixelDojo does not know the configured model (model_not_found)")]
    ModelNotFound,
    /// 404 on a poll: a job the vendor does not list (yet).
    #[error("PixelDojo does not know that job (404)")]
    UnknownJob,
    /// 429: nothing was processed. How long to wait is in the answer's rate headers.
    #[error("PixelDojo rate limit hit (429)")]
    RateLimited,
    /// 503: the service said it did not process the request.
    #[error("PixelDojo is unavailable (503): {0}")]
    Unavailable(String),
    /// 500, 502, 504 and other 5xx: the request may or may not have been processed.
    #[error("PixelDojo internal error: {0}")]
    Internal(String),
    /// The request provably never reached the server (connection refused, DNS failure,
    /// connect timeout): a submit is safe to retry.
    #[error("request to PixelDojo was not sent: {0}")]
    NotSent(String),
    /// The request may have reached the server but no usable answer came back (timeout after
    /// sending, connection reset, body cut off): a submit must not be retried blindly, since
    /// the job may exist and be charged.
    #[error("no usable answer from PixelDojo (the request may have been processed): {0}")]
    Uncertain(String),
    /// A 2xx answer whose body we cannot use.
    #[error("malformed answer from PixelDojo: {0}")]
    Malformed(String),
    /// A download URL the bot will not fetch (not http(s), or not one of the vendor's hosts).
    #[error("refused to download from that URL: {0}")]
    ForbiddenUrl(String),
    #[error("unexpected HTTP {status} from PixelDojo: {message}")]
    UnexpectedStatus { status: u16, message: String },
}

impl ApiError {
    /// For a submit: whether the vendor may have created (and charged) a job although no
    /// usable answer came back. Such a submit is never sent again automatically.
    pub fn submit_may_have_started(&self) -> bool {
        matches!(
            self,
            Self::Internal(_) | Self::Uncertain(_) | Self::Malformed(_)
        )
    }

    /// For a submit: whether sending it again later is safe and may succeed (nothing was
    /// processed and the cause may pass).
    pub fn submit_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Unavailable(_) | Self::NotSent(_)
        )
    }

    /// A refused submit as the domain records it (`None` for outcomes that are not refusals).
    pub fn refusal(&self) -> Option<VendorRefusal> {
        Some(match self {
            Self::Unauthorized => VendorRefusal::Unauthorized,
            Self::InsufficientCredits => VendorRefusal::OutOfCredits,
            Self::InvalidRequest(message) => VendorRefusal::Invalid {
                message: clean_vendor_text(message),
            },
            Self::ModelNotFound | Self::UnknownJob => VendorRefusal::ModelNotFound,
            Self::RateLimited | Self::Unavailable(_) => VendorRefusal::Busy {
                retry_after_secs: None,
            },
            Self::NotSent(_) => VendorRefusal::Unreachable,
            Self::UnexpectedStatus { status, .. } => VendorRefusal::Unexpected { status: *status },
            Self::ForbiddenUrl(_) => VendorRefusal::Unexpected { status: 0 },
            Self::Internal(_) | Self::Uncertain(_) | Self::Malformed(_) => return None,
        })
    }

    /// A short name for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::NotSent(_) => "not_sent",
            Self::Uncertain(_) => "no_answer",
            Self::Malformed(_) => "malformed",
            Self::Unauthorized => "unauthorized",
            _ => "error",
        }
    }
}

/// Vendor text made fit for a Discord message: one short line, without mentions or markdown
/// that could ping anyone or mangle the message.
pub fn clean_vendor_text(message: &str) -> String {
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '`' | '*' | '_' | '~' | '|' | '<' | '>' | '#' | '[' | ']'))
        .collect();
    let one_line = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    let defused = one_line.replace('@', "@\u{200B}");
    let mut chars = defused.chars();
    let short: String = chars.by_ref().take(MAX_USER_VENDOR_MESSAGE_CHARS).collect();
    let short = short.trim_end().trim_end_matches('.').to_owned();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_text_is_defused_and_shortened_for_users() {
        let message = clean_vendor_text("bad @everyone `x`\nline [link](http://x) # title.");
        assert!(!message.contains("@everyone"), "{message}");
        for c in ['`', '\n', '[', ']', '#'] {
            assert!(!message.contains(c), "{message}");
        }
        assert!(!message.ends_with('.'), "{message}");
        let long = clean_vendor_text(&"a".repeat(1000));
        assert!(long.chars().count() <= MAX_USER_VENDOR_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn only_answers_that_may_have_created_a_job_make_a_submit_uncertain() {
        assert!(ApiError::Internal("x".into()).submit_may_have_started());
        assert!(ApiError::Uncertain("x".into()).submit_may_have_started());
        assert!(!ApiError::RateLimited.submit_may_have_started());
        assert!(!ApiError::Unavailable("x".into()).submit_may_have_started());
        assert!(ApiError::Unavailable("x".into()).submit_retryable());
        assert!(!ApiError::Internal("x".into()).submit_retryable());
        assert!(ApiError::Internal("x".into()).refusal().is_none());
        assert_eq!(
            ApiError::InsufficientCredits.refusal(),
            Some(VendorRefusal::OutOfCredits)
        );
    }
}
