//! PixelDojo's wire format: the run body, and the loosely specified answers read into plain
//! types. Vendor answers are input, not orders: every field is looked for where the vendor's
//! docs, SDK and other clients put it, numbers are bounded, and anything unreadable is an error
//! rather than a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::errors::{clean_vendor_text, ApiError};
use crate::domain::request::GenerationRequest;

/// The JSON body of `POST {base}/models/{model}/run`. Optional fields are omitted when
/// `None`/empty, so the vendor applies its own defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunRequest {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
}

impl From<&GenerationRequest> for RunRequest {
    fn from(req: &GenerationRequest) -> Self {
        Self {
            prompt: req.prompt().to_owned(),
            image: req.image().map(str::to_owned),
            reference_images: req.references().to_vec(),
            video: req.video().map(str::to_owned),
            video_id: req.video_id().map(str::to_owned),
            aspect_ratio: req.aspect_ratio().map(|a| a.as_str().to_owned()),
            duration: req.duration(),
            output_format: req.format_choice().map(|f| f.as_str().to_owned()),
            seed: req.seed(),
        }
    }
}

/// PixelDojo's answer to an accepted run request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub job_id: String,
    pub status: String,
    pub credit_cost: Option<u32>,
    pub credits_remaining: Option<i64>,
}

/// Where a job stands, as far as one poll can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Any status other than `completed` or `failed` (`pending`, `processing`, ...).
    Running { status: String },
    /// `video_id` is `None` when the vendor did not return one: the clip then cannot be
    /// iterated on, which is not an error.
    Completed {
        video_url: String,
        video_id: Option<String>,
        credit_cost: Option<u32>,
    },
    /// `error` is the vendor's text, cleaned for users; `credit_cost` is what the vendor says
    /// it charged for the failed job (`Some(0)`: nothing).
    Failed {
        error: String,
        credit_cost: Option<u32>,
    },
}

/// A finished clip's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    Complete(bytes::Bytes),
    /// The file is bigger than the caller's limit. `size` is the announced `Content-Length`,
    /// when the server sent one.
    TooLarge {
        size: Option<u64>,
    },
}

/// The rate-limit headers of one answer, as sent (`None` when absent). They are read by
/// [`RateHeaders::retry_after`] and friends, which never trust them blindly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub retry_after: Option<String>,
    pub limit: Option<String>,
    pub remaining: Option<String>,
    pub reset: Option<String>,
}

/// No single answer may ask for a longer pause than this; longer asks are capped to it.
pub const MAX_PAUSE: Duration = Duration::from_secs(60);

/// A number of seconds from a header: finite, not negative, and capped at [`MAX_PAUSE`].
fn bounded_seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0)
        .then(|| Duration::from_secs_f64(value.min(MAX_PAUSE.as_secs_f64())))
}

fn number(value: &Option<String>) -> Option<f64> {
    value
        .as_deref()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
}

impl RateHeaders {
    /// How long the vendor asks us to wait: `Retry-After` as seconds or an HTTP date, else the
    /// time until `X-RateLimit-Reset`. Never more than [`MAX_PAUSE`].
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        if let Some(value) = self.retry_after.as_deref().map(str::trim) {
            if let Ok(seconds) = value.parse::<f64>() {
                if let Some(wait) = bounded_seconds(seconds) {
                    return Some(wait);
                }
            }
            if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
                let wait = SystemTime::from(date)
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO);
                return Some(wait.min(MAX_PAUSE));
            }
        }
        self.reset_in(now)
    }

    /// Requests left in the vendor's window, if it said.
    pub fn remaining(&self) -> Option<u32> {
        number(&self.remaining)
            .filter(|n| *n >= 0.0)
            .map(|n| n.min(f64::from(u32::MAX)) as u32)
    }

    /// The time until the vendor's window resets. `X-RateLimit-Reset` is read as epoch
    /// milliseconds when it is at least 1e12, epoch seconds when at least 1e9, and otherwise as
    /// seconds from now (vendors use all three). Never more than [`MAX_PAUSE`].
    pub fn reset_in(&self, now: SystemTime) -> Option<Duration> {
        let n = number(&self.reset).filter(|n| *n >= 0.0)?;
        let epoch = |secs: f64| {
            let at = UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs.min(1e11)))?;
            Some(
                at.duration_since(now)
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_PAUSE),
            )
        };
        if n >= 1e12 {
            epoch(n / 1000.0)
        } else if n >= 1e9 {
            epoch(n)
        } else {
            bounded_seconds(n)
        }
    }
}

/// `code` and `message` from an error body of any known shape; both absent for non-JSON.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match value.get("error") {
        Some(Value::String(message)) => (text(value.get("code")), Some(message.clone())),
        Some(error @ Value::Object(_)) => (
            text(error.get("code")),
            text(error.get("message")).or_else(|| text(value.get("message"))),
        ),
        _ => (text(value.get("code")), text(value.get("message"))),
    }
}

/// Which call an error answer belongs to: a 404 means "unknown model" on submit but
/// "unknown job" on a poll, and download URLs are not API endpoints at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Submit,
    Job,
    Download,
}

/// The error an unsuccessful answer stands for: by its documented `code` when the body has
/// one, otherwise by its HTTP status.
pub fn error_from_response(call: Call, status: u16, status_text: &str, body: &[u8]) -> ApiError {
    let (code, message) = parse_error_body(body);
    if message.is_none() && !body.is_empty() {
        tracing::debug!(
            status,
            body = %String::from_utf8_lossy(&body[..body.len().min(300)]),
            "PixelDojo error answer without a readable message"
        );
    }
    let message_or_status = || message.clone().unwrap_or_else(|| status_text.to_owned());
    // Downloads come from file storage, whose bodies are not PixelDojo's error format.
    let by_code = match (call, code.as_deref()) {
        (Call::Download, _) | (_, None) => None,
        (_, Some("unauthorized")) => Some(ApiError::Unauthorized),
        (_, Some("insufficient_credits")) => Some(ApiError::InsufficientCredits),
        (_, Some("invalid_request")) => Some(ApiError::InvalidRequest(
            message.clone().unwrap_or_default(),
        )),
        (_, Some("model_not_found")) => Some(ApiError::ModelNotFound),
        (_, Some("rate_limited")) => Some(ApiError::RateLimited),
        (_, Some("internal_error")) if status != 503 => {
            Some(ApiError::Internal(message_or_status()))
        }
        (_, Some(_)) => None,
    };
    if let Some(err) = by_code {
        return err;
    }
    match (call, status) {
        (_, 429) => ApiError::RateLimited,
        (_, 503) => ApiError::Unavailable(message_or_status()),
        (_, 500..=599) => ApiError::Internal(message_or_status()),
        (Call::Download, status) => ApiError::UnexpectedStatus {
            status,
            message: message_or_status(),
        },
        (_, 401) => ApiError::Unauthorized,
        (_, 402) => ApiError::InsufficientCredits,
        (_, 400) => ApiError::InvalidRequest(message.clone().unwrap_or_default()),
        (Call::Submit, 404) => ApiError::ModelNotFound,
        (Call::Job, 404) => ApiError::UnknownJob,
        (_, status) => ApiError::UnexpectedStatus {
            status,
            message: message_or_status(),
        },
    }
}

fn parse_json_object(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::Malformed(
            "the answer is not a JSON object".into(),
        )),
        Err(err) => Err(ApiError::Malformed(format!(
            "the answer is not JSON: {err}"
        ))),
    }
}

fn string_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn credit_cost(value: &Value) -> Option<u32> {
    value
        .get("creditCost")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// The answer to a run request.
pub fn parse_submitted(body: &[u8]) -> Result<Submitted, ApiError> {
    let value = parse_json_object(body)?;
    let job_id = string_at(&value, "/jobId")
        .or_else(|| string_at(&value, "/id"))
        .ok_or_else(|| ApiError::Malformed("the run answer has no jobId".into()))?;
    Ok(Submitted {
        job_id: job_id.to_owned(),
        status: string_at(&value, "/status").unwrap_or("pending").to_owned(),
        credit_cost: credit_cost(&value),
        credits_remaining: value.get("creditsRemaining").and_then(Value::as_i64),
    })
}

/// The answer to a poll.
pub fn parse_job(body: &[u8]) -> Result<JobStatus, ApiError> {
    let value = parse_json_object(body)?;
    let status = string_at(&value, "/status")
        .ok_or_else(|| ApiError::Malformed("the job answer has no status".into()))?;
    match status.to_ascii_lowercase().as_str() {
        "completed" => {
            // The vendor's docs, SDK and other clients disagree on where the file is.
            let video_url = [
                "/output/video",
                "/output/videos/0",
                "/output/videos/0/url",
                "/outputs/video",
                "/outputs/videos/0",
                "/assets/0/url",
            ]
            .iter()
            .find_map(|pointer| string_at(&value, pointer))
            .ok_or_else(|| ApiError::Malformed("the job completed without a video URL".into()))?;
            let video_id = ["/output/videoId", "/outputs/videoId"]
                .iter()
                .find_map(|pointer| string_at(&value, pointer))
                .map(str::to_owned);
            Ok(JobStatus::Completed {
                video_url: video_url.to_owned(),
                video_id,
                credit_cost: credit_cost(&value),
            })
        }
        "failed" => {
            let error = string_at(&value, "/error")
                .or_else(|| string_at(&value, "/error/message"))
                .unwrap_or("");
            Ok(JobStatus::Failed {
                error: clean_vendor_text(error),
                credit_cost: credit_cost(&value),
            })
        }
        _ => Ok(JobStatus::Running {
            status: status.chars().take(40).collect(),
        }),
    }
}

/// Whether a download URL may be fetched: http(s), and on one of `hosts` (the vendor's API
/// host and its file host). The key is never sent with a download in any case.
pub fn check_download_url(url: &str, hosts: &[String]) -> Result<Url, ApiError> {
    let url =
        Url::parse(url).map_err(|_| ApiError::ForbiddenUrl("the video URL is not a URL".into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::ForbiddenUrl(format!(
            "the video URL's scheme is {}",
            url.scheme()
        )));
    }
    let host = url.host_str().unwrap_or_default();
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(ApiError::ForbiddenUrl(format!(
            "the video is on {host}, which is not one of PixelDojo's hosts"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(retry_after: Option<&str>, reset: Option<&str>) -> RateHeaders {
        RateHeaders {
            retry_after: retry_after.map(str::to_owned),
            reset: reset.map(str::to_owned),
            ..RateHeaders::default()
        }
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date_and_capped_at_a_minute() {
        let now = SystemTime::now();
        assert_eq!(
            headers(Some("7"), None).retry_after(now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            headers(Some("1.5"), None).retry_after(now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            headers(Some("86400"), None).retry_after(now),
            Some(MAX_PAUSE)
        );
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = headers(Some(&date), None).retry_after(now).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let past = "Mon, 01 Jan 2001 00:00:00 GMT";
        assert_eq!(
            headers(Some(past), None).retry_after(now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn absurd_rate_headers_are_never_a_panic_or_an_overflow() {
        let now = SystemTime::now();
        for odd in [
            "-5",
            "NaN",
            "inf",
            "1e308",
            "18446744073709551616",
            "",
            "soon",
            "9e99",
        ] {
            let h = RateHeaders {
                retry_after: Some(odd.into()),
                limit: Some(odd.into()),
                remaining: Some(odd.into()),
                reset: Some(odd.into()),
            };
            if let Some(wait) = h.retry_after(now) {
                assert!(wait <= MAX_PAUSE, "{odd}: {wait:?}");
            }
            let _ = h.remaining();
        }
    }

    #[test]
    fn the_reset_header_is_read_as_seconds_from_now_epoch_seconds_or_epoch_milliseconds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            headers(None, Some("30")).reset_in(now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            headers(None, Some("1800000020")).reset_in(now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            headers(None, Some("1800000010000")).reset_in(now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            headers(None, Some("1799999990")).reset_in(now),
            Some(Duration::ZERO),
            "a reset in the past asks for no wait"
        );
        assert_eq!(
            headers(None, Some("1900000000")).reset_in(now),
            Some(MAX_PAUSE),
            "capped"
        );
    }

    #[test]
    fn the_run_body_carries_exactly_the_validated_request() {
        use crate::domain::request::{AspectRatio, Draft, InputLimits};
        let request = GenerationRequest::validate(
            Draft {
                prompt: "waves".into(),
                aspect_ratio: Some(AspectRatio::Portrait),
                duration: Some(5),
                seed: Some(3),
                ..Draft::default()
            },
            &InputLimits::from_megabytes(1, 1),
        )
        .unwrap();
        let body = serde_json::to_value(RunRequest::from(&request)).unwrap();
        assert_eq!(
            body,
            json!({"prompt": "waves", "aspect_ratio": "9:16", "duration": 5, "seed": 3})
        );
    }

    #[test]
    fn a_failed_job_carries_its_cleaned_message_and_its_cost() {
        let body = json!({"status": "failed", "error": {"message": "bad <@123> prompt."}, "creditCost": 0});
        assert_eq!(
            parse_job(body.to_string().as_bytes()).unwrap(),
            JobStatus::Failed {
                error: "bad @\u{200B}123 prompt".into(),
                credit_cost: Some(0)
            }
        );
    }

    #[test]
    fn downloads_are_allowed_only_from_the_vendors_hosts() {
        let hosts = ["pixeldojo.ai".to_owned(), "temp.pixeldojo.ai".to_owned()];
        assert!(check_download_url("https://temp.pixeldojo.ai/a.mp4", &hosts).is_ok());
        for bad in [
            "https://evil.example/a.mp4",
            "ftp://temp.pixeldojo.ai/a.mp4",
            "file:///etc/passwd",
            "https://temp.pixeldojo.ai.evil.example/a.mp4",
            "not a url",
        ] {
            assert!(
                matches!(
                    check_download_url(bad, &hosts),
                    Err(ApiError::ForbiddenUrl(_))
                ),
                "{bad}"
            );
        }
    }
}
