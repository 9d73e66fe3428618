//! The PixelDojo API client for Gemini Omni Flash, and its typed errors.
//!
//! This module owns every HTTP exchange with PixelDojo: submitting a run, polling a job,
//! downloading the finished file and checking the API key. It translates the vendor's loosely
//! specified JSON into plain types ([`Submitted`], [`JobStatus`], [`Download`]) and every failure
//! into an [`ApiError`] that says whether a retry is safe.
//!
//! It must never put the API key in an error, a `Debug` output or a log line, and it never
//! retries on its own: whether a retry is safe is the caller's decision, informed by
//! [`ApiError::NotSent`] versus [`ApiError::Uncertain`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// API answers are small JSON documents; anything bigger is not an answer we can use.
const MAX_API_BODY_BYTES: usize = 1024 * 1024;

/// The connect phase never gets more than this, so a dead host is reported as
/// [`ApiError::NotSent`] (connect timeout) rather than [`ApiError::Uncertain`] (request timeout).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A job id PixelDojo will never issue (its ids start with `job_`), polled by
/// [`PixelDojoClient::check_key`].
const KEY_CHECK_JOB_ID: &str = "omni-bot-key-check";

/// Vendor messages shown to users are cut to this many characters.
const MAX_USER_VENDOR_MESSAGE_CHARS: usize = 200;

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
    Running {
        status: String,
    },
    /// `video_id` is `None` when the vendor did not return one: the clip then cannot be
    /// iterated on, which is not an error.
    Completed {
        video_url: String,
        video_id: Option<String>,
        credit_cost: Option<u32>,
    },
    Failed {
        error: String,
    },
}

/// The result of [`PixelDojoClient::download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    Complete(Bytes),
    /// The file is bigger than the caller's limit. `size` is the announced `Content-Length`,
    /// when the server sent one.
    TooLarge {
        size: Option<u64>,
    },
}

/// The rate-limit headers of the latest API response that carried any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// When the window resets. `X-RateLimit-Reset` is read as a Unix timestamp when it is at
    /// least 1e9, otherwise as seconds from now (vendors use both conventions).
    pub reset: Option<SystemTime>,
}

/// Everything that can go wrong talking to PixelDojo.
///
/// `Display` is for operators (logs); [`ApiError::user_message`] is for Discord users.
/// Neither ever contains the API key.
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
    #[error("PixelDojo rate limit hit (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
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
    #[error("unexpected HTTP {status} from PixelDojo: {message}")]
    UnexpectedStatus { status: u16, message: String },
}

impl ApiError {
    /// A short sentence for a Discord user that says what happened and what to do.
    /// It never contains secrets or raw response bodies; a vendor's `invalid_request` message
    /// is included, shortened and defused so it cannot ping anyone.
    pub fn user_message(&self) -> String {
        match self {
            ApiError::Unauthorized => "The bot's PixelDojo API key was rejected; ask a server admin to check the bot's configuration.".to_owned(),
            ApiError::InsufficientCredits => "The bot's owner is out of PixelDojo credits; ask a server admin to top up.".to_owned(),
            ApiError::InvalidRequest(message) => {
                let message = sanitize_for_user(message);
                if message.is_empty() {
                    "PixelDojo refused this request; check your prompt, attachments and options, then try again.".to_owned()
                } else {
                    format!("PixelDojo refused this request ({message}); change it and try again.")
                }
            }
            ApiError::ModelNotFound => "The video model is not available on PixelDojo; ask a server admin to check the bot's model setting.".to_owned(),
            ApiError::RateLimited { retry_after } => match retry_after {
                Some(wait) => format!(
                    "PixelDojo is getting too many requests; try again in about {} seconds.",
                    wait.as_secs().max(1)
                ),
                None => "PixelDojo is getting too many requests; try again in a minute.".to_owned(),
            },
            ApiError::Internal(_) => "PixelDojo had an internal error; try again in a few minutes.".to_owned(),
            ApiError::NotSent(_) => "The bot could not reach PixelDojo and nothing was charged; try again in a moment.".to_owned(),
            ApiError::Uncertain(_) => "PixelDojo did not answer in time, so the clip may or may not have started; wait a few minutes before trying again.".to_owned(),
            ApiError::Malformed(_) => "PixelDojo sent an answer the bot could not read; try again later, and tell a server admin if it keeps happening.".to_owned(),
            ApiError::UnexpectedStatus { status, .. } => format!(
                "PixelDojo answered with an unexpected error (HTTP {status}); try again later, and tell a server admin if it keeps happening."
            ),
        }
    }

    /// Whether polling the same job again later may succeed.
    ///
    /// Polling is idempotent, so transport trouble, rate limits, server errors and unreadable
    /// answers are retryable; the caller's overall poll deadline bounds the repeats. Key,
    /// credit, request and model problems, and unexpected 4xx answers, will not fix themselves.
    pub fn is_retryable_poll(&self) -> bool {
        match self {
            ApiError::RateLimited { .. }
            | ApiError::Internal(_)
            | ApiError::NotSent(_)
            | ApiError::Uncertain(_)
            | ApiError::Malformed(_) => true,
            ApiError::UnexpectedStatus { status, .. } => *status >= 500 || *status == 408,
            ApiError::Unauthorized
            | ApiError::InsufficientCredits
            | ApiError::InvalidRequest(_)
            | ApiError::ModelNotFound => false,
        }
    }
}

/// The PixelDojo client. Cheap to clone: clones share the connection pool and the latest
/// rate-limit information.
#[derive(Clone)]
pub struct PixelDojoClient {
    http: reqwest::Client,
    base_url: Url,
    model: String,
    api_key: SecretString,
    request_timeout: Duration,
    // A std mutex: it is held only to copy a small value, never across an `.await`.
    rate_limit: Arc<Mutex<Option<RateLimitInfo>>>,
}

impl std::fmt::Debug for PixelDojoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelDojoClient")
            .field("base_url", &self.base_url.as_str())
            .field("model", &self.model)
            .field("api_key", &"[REDACTED]")
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Which call an error answer belongs to: a 404 means "unknown model" on submit but
/// "unknown job" on a poll, and download URLs are not API endpoints at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Submit,
    Job,
    Download,
}

impl PixelDojoClient {
    /// `base_url` is the API root, e.g. `https://pixeldojo.ai/api/v1`. `request_timeout`
    /// bounds each API call from connect to the last body byte; for downloads it bounds the
    /// wait for the headers and for each chunk, so a large file on a live connection can
    /// take longer.
    pub fn new(
        base_url: &Url,
        model: &str,
        api_key: SecretString,
        request_timeout: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(request_timeout.min(MAX_CONNECT_TIMEOUT))
            .user_agent(concat!("omni-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            // Only fails if the TLS backend cannot initialise, which is a broken build.
            .expect("the HTTP client can be built");
        Self {
            http,
            base_url: base_url.clone(),
            model: model.to_owned(),
            api_key,
            request_timeout,
            rate_limit: Arc::new(Mutex::new(None)),
        }
    }

    /// `POST {base}/models/{model}/run`. Never retried here: on [`ApiError::Uncertain`] the
    /// job may exist and be charged.
    pub async fn submit(&self, body: &RunRequest) -> Result<Submitted, ApiError> {
        let url = self.endpoint(&["models", &self.model, "run"])?;
        let request = self.http.post(url.clone()).json(body);
        let (status, headers, bytes) = self.send_api(Method::POST, &url, request).await?;
        if !status.is_success() {
            return Err(error_from_response(Call::Submit, status, &headers, &bytes));
        }
        parse_submitted(&bytes)
    }

    /// `GET {base}/jobs/{id}`.
    pub async fn job(&self, job_id: &str) -> Result<JobStatus, ApiError> {
        let url = self.endpoint(&["jobs", job_id])?;
        let request = self.http.get(url.clone());
        let (status, headers, bytes) = self.send_api(Method::GET, &url, request).await?;
        if !status.is_success() {
            return Err(error_from_response(Call::Job, status, &headers, &bytes));
        }
        parse_job(&bytes)
    }

    /// Fetches a finished clip. No `Authorization` header: the URL is a temporary public link,
    /// and the key must not leak to whatever host serves it. Reading stops as soon as the file
    /// is known to exceed `max_bytes`.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Download, ApiError> {
        let url = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ApiError::Malformed("the video URL is not an http(s) URL".into()))?;
        let started = Instant::now();
        let sent = tokio::time::timeout(self.request_timeout, self.http.get(url.clone()).send());
        let result = match sent.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(err)) => Err(transport_error(err)),
            Err(_) => Err(ApiError::Uncertain(format!(
                "no response headers within {:?}",
                self.request_timeout
            ))),
        };
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                tracing::debug!(method = "GET", path = url.path(), elapsed_ms = elapsed_ms(started), error = %err, "PixelDojo download failed");
                return Err(err);
            }
        };
        let status = response.status();
        tracing::debug!(
            method = "GET",
            path = url.path(),
            status = status.as_u16(),
            elapsed_ms = elapsed_ms(started),
            "PixelDojo download"
        );
        if !status.is_success() {
            let headers = response.headers().clone();
            // The body only feeds the operator's error message; a failure to read it changes
            // nothing about the outcome.
            let body = self
                .read_capped(&mut response, MAX_API_BODY_BYTES)
                .await
                .unwrap_or_default();
            return Err(error_from_response(Call::Download, status, &headers, &body));
        }
        let announced = response.content_length();
        if announced.is_some_and(|len| len > max_bytes) {
            return Ok(Download::TooLarge { size: announced });
        }
        let mut buffer = BytesMut::with_capacity(announced.unwrap_or(0) as usize);
        loop {
            let chunk = tokio::time::timeout(self.request_timeout, response.chunk()).await;
            match chunk {
                Ok(Ok(Some(chunk))) => {
                    if buffer.len() as u64 + chunk.len() as u64 > max_bytes {
                        return Ok(Download::TooLarge { size: announced });
                    }
                    buffer.extend_from_slice(&chunk);
                }
                Ok(Ok(None)) => return Ok(Download::Complete(buffer.freeze())),
                Ok(Err(err)) => return Err(transport_error(err)),
                Err(_) => {
                    return Err(ApiError::Uncertain(format!(
                        "the download stalled for {:?} after {} bytes",
                        self.request_timeout,
                        buffer.len()
                    )))
                }
            }
        }
    }

    /// Verifies the API key with a cheap authenticated call that cannot start or charge
    /// anything: `GET {base}/jobs/omni-bot-key-check`, a job id PixelDojo never issues.
    /// Authentication is checked before the job lookup, so `404` (or any 2xx) means the key
    /// was accepted and `401` means it was not. Other answers map like any API error.
    /// A wrong base URL that answers 404 for everything would also pass; the first real
    /// submit would then fail with [`ApiError::ModelNotFound`].
    pub async fn check_key(&self) -> Result<(), ApiError> {
        let url = self.endpoint(&["jobs", KEY_CHECK_JOB_ID])?;
        let request = self.http.get(url.clone());
        let (status, headers, bytes) = self.send_api(Method::GET, &url, request).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(error_from_response(Call::Job, status, &headers, &bytes))
    }

    /// The rate-limit headers of the latest API response that carried any of them
    /// (downloads do not count: they come from file storage, not the API).
    pub fn last_rate_limit(&self) -> Option<RateLimitInfo> {
        *self
            .rate_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::NotSent("the PixelDojo base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends an authenticated API request and reads its (capped) body.
    async fn send_api(
        &self,
        method: Method,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, Bytes), ApiError> {
        let started = Instant::now();
        let result = self.exchange(request).await;
        match &result {
            Ok((status, _, _)) => tracing::debug!(
                method = %method,
                path = url.path(),
                status = status.as_u16(),
                elapsed_ms = elapsed_ms(started),
                "PixelDojo request"
            ),
            Err(err) => tracing::debug!(
                method = %method,
                path = url.path(),
                elapsed_ms = elapsed_ms(started),
                error = %err,
                "PixelDojo request failed"
            ),
        }
        result
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, HeaderMap, Bytes), ApiError> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.api_key.expose_secret()))
            .map_err(|_| {
            ApiError::NotSent("the API key contains characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);
        let mut response = request
            .header(AUTHORIZATION, auth)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.remember_rate_limit(&headers);
        let body = self.read_capped(&mut response, MAX_API_BODY_BYTES).await?;
        Ok((status, headers, body))
    }

    async fn read_capped(
        &self,
        response: &mut reqwest::Response,
        cap: usize,
    ) -> Result<Bytes, ApiError> {
        let mut buffer = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if buffer.len() + chunk.len() > cap {
                return Err(ApiError::Malformed(format!(
                    "the answer is larger than {cap} bytes"
                )));
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }

    fn remember_rate_limit(&self, headers: &HeaderMap) {
        if let Some(info) = rate_limit_from(headers, SystemTime::now()) {
            *self
                .rate_limit
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(info);
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// Sorts a transport failure by whether the request can have reached the server.
fn transport_error(err: reqwest::Error) -> ApiError {
    // Download URLs may carry signed query strings: keep URLs out of error text.
    let err = err.without_url();
    let text = error_chain(&err);
    if err.is_connect() || err.is_builder() {
        // Connect errors (refused, DNS, TLS handshake, connect timeout) happen before a single
        // byte of the HTTP request is written.
        ApiError::NotSent(text)
    } else {
        ApiError::Uncertain(text)
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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

fn error_from_response(
    call: Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiError {
    let (code, message) = parse_error_body(body);
    if message.is_none() && !body.is_empty() {
        tracing::debug!(
            status = status.as_u16(),
            body = %String::from_utf8_lossy(&body[..body.len().min(300)]),
            "PixelDojo error answer without a readable message"
        );
    }
    let message_or_status = || message.clone().unwrap_or_else(|| format!("HTTP {status}"));
    let retry_after = || retry_after_from(headers, SystemTime::now());
    // Downloads come from file storage, whose bodies are not PixelDojo's error format.
    let by_code = match (call, code.as_deref()) {
        (Call::Download, _) | (_, None) => None,
        (_, Some("unauthorized")) => Some(ApiError::Unauthorized),
        (_, Some("insufficient_credits")) => Some(ApiError::InsufficientCredits),
        (_, Some("invalid_request")) => Some(ApiError::InvalidRequest(
            message.clone().unwrap_or_default(),
        )),
        (_, Some("model_not_found")) => Some(ApiError::ModelNotFound),
        (_, Some("rate_limited")) => Some(ApiError::RateLimited {
            retry_after: retry_after(),
        }),
        (_, Some("internal_error")) => Some(ApiError::Internal(message_or_status())),
        (_, Some(_)) => None,
    };
    if let Some(err) = by_code {
        return err;
    }
    match (call, status.as_u16()) {
        (_, 429) => ApiError::RateLimited {
            retry_after: retry_after(),
        },
        (_, 500..=599) => ApiError::Internal(message_or_status()),
        (Call::Download, status) => ApiError::UnexpectedStatus {
            status,
            message: message_or_status(),
        },
        (_, 401) => ApiError::Unauthorized,
        (_, 402) => ApiError::InsufficientCredits,
        (_, 400) => ApiError::InvalidRequest(message.clone().unwrap_or_default()),
        (Call::Submit, 404) => ApiError::ModelNotFound,
        (_, status) => ApiError::UnexpectedStatus {
            status,
            message: message_or_status(),
        },
    }
}

/// `Retry-After` as seconds or an HTTP date; without it, the time until `X-RateLimit-Reset`.
fn retry_after_from(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Some(value) = header {
        if let Ok(seconds) = value.parse::<f64>() {
            if seconds.is_finite() && seconds >= 0.0 {
                return Some(Duration::from_secs_f64(seconds));
            }
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
            let at = SystemTime::from(date);
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    rate_limit_from(headers, now)
        .and_then(|info| info.reset)
        .map(|reset| reset.duration_since(now).unwrap_or(Duration::ZERO))
}

fn rate_limit_from(headers: &HeaderMap, now: SystemTime) -> Option<RateLimitInfo> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let limit = number("x-ratelimit-limit").map(|n| n as u32);
    let remaining = number("x-ratelimit-remaining").map(|n| n as u32);
    let reset = number("x-ratelimit-reset").map(|n| {
        if n >= 1e9 {
            UNIX_EPOCH + Duration::from_secs_f64(n)
        } else {
            now + Duration::from_secs_f64(n)
        }
    });
    (limit.is_some() || remaining.is_some() || reset.is_some()).then_some(RateLimitInfo {
        limit,
        remaining,
        reset,
    })
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

fn parse_submitted(body: &[u8]) -> Result<Submitted, ApiError> {
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

fn parse_job(body: &[u8]) -> Result<JobStatus, ApiError> {
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
                .unwrap_or("the job failed without a reason");
            Ok(JobStatus::Failed {
                error: error.to_owned(),
            })
        }
        _ => Ok(JobStatus::Running {
            status: status.to_owned(),
        }),
    }
}

/// One short line, without mentions or markdown that could ping or mangle a Discord message.
fn sanitize_for_user(message: &str) -> String {
    let one_line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '`' | '*' | '_' | '~' | '|' | '<' | '>'))
        .collect();
    let one_line = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    let defused = one_line.replace('@', "@\u{200B}");
    let mut chars = defused.chars();
    let short: String = chars.by_ref().take(MAX_USER_VENDOR_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        format!("{}…", short.trim_end())
    } else {
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use axum::Router;
    use serde_json::json;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    const KEY: &str = "pd_super_secret_key_42";
    const MODEL: &str = "google-gemini-omni-flash";

    async fn serve(router: Router) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Url::parse(&format!("http://{addr}/api/v1")).unwrap()
    }

    fn client(base: &Url) -> PixelDojoClient {
        client_with_timeout(base, Duration::from_secs(5))
    }

    fn client_with_timeout(base: &Url, timeout: Duration) -> PixelDojoClient {
        PixelDojoClient::new(base, MODEL, SecretString::from(KEY), timeout)
    }

    /// A server that answers every request with the same status, headers and body.
    async fn answering(status: u16, headers: &[(&'static str, String)], body: &str) -> Url {
        let headers: Vec<(&'static str, String)> = headers.to_vec();
        let body = body.to_owned();
        let router = Router::new().fallback(move || {
            let headers = headers.clone();
            let body = body.clone();
            async move {
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = AxumStatus::from_u16(status).unwrap();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                response
            }
        });
        serve(router).await
    }

    fn error_body_nested(code: &str, message: &str) -> String {
        json!({"error": {"code": code, "message": message}}).to_string()
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<CapturedRun>>>);

    #[derive(Clone, Debug)]
    struct CapturedRun {
        model: String,
        authorization: Option<String>,
        body: Value,
    }

    async fn capturing_run_server() -> (Url, Captured) {
        let captured = Captured::default();
        let router = Router::new()
            .route(
                "/api/v1/models/:model/run",
                post(
                    |State(c): State<Captured>,
                     Path(model): Path<String>,
                     headers: AxumHeaders,
                     body: String| async move {
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_owned());
                        let json: Value = serde_json::from_str(&body).unwrap();
                        c.0.lock().unwrap().push(CapturedRun {
                            model,
                            authorization: auth,
                            body: json,
                        });
                        axum::Json(json!({
                            "jobId": "job_abc123",
                            "status": "pending",
                            "statusUrl": "http://x/api/v1/jobs/job_abc123",
                            "creditCost": 16,
                            "creditsRemaining": 95
                        }))
                    },
                ),
            )
            .with_state(captured.clone());
        (serve(router).await, captured)
    }

    #[tokio::test]
    async fn submit_posts_only_the_given_fields_with_the_bearer_key_and_parses_the_answer() {
        let (base, captured) = capturing_run_server().await;
        let request = RunRequest {
            prompt: "ocean waves at golden hour".into(),
            aspect_ratio: Some("9:16".into()),
            duration: Some(5),
            ..RunRequest::default()
        };

        let submitted = client(&base).submit(&request).await.unwrap();

        assert_eq!(
            submitted,
            Submitted {
                job_id: "job_abc123".into(),
                status: "pending".into(),
                credit_cost: Some(16),
                credits_remaining: Some(95),
            }
        );
        let calls = captured.0.lock().unwrap().clone();
        assert_eq!(calls.len(), 1);
        let CapturedRun {
            model,
            authorization,
            body,
        } = &calls[0];
        assert_eq!(model, MODEL);
        assert_eq!(
            authorization.as_deref(),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(
            body,
            &json!({"prompt": "ocean waves at golden hour", "aspect_ratio": "9:16", "duration": 5})
        );
    }

    #[tokio::test]
    async fn submit_sends_every_field_when_all_are_set() {
        let (base, captured) = capturing_run_server().await;
        let request = RunRequest {
            prompt: "p".into(),
            image: Some("https://cdn.example/a.png".into()),
            reference_images: vec!["https://cdn.example/r1.png".into()],
            video: Some("https://cdn.example/v.mp4".into()),
            video_id: Some("vid_1".into()),
            aspect_ratio: Some("16:9".into()),
            duration: Some(10),
            output_format: Some("webm".into()),
            seed: Some(-7),
        };

        client(&base).submit(&request).await.unwrap();

        let body = captured.0.lock().unwrap()[0].body.clone();
        assert_eq!(
            body,
            json!({
                "prompt": "p",
                "image": "https://cdn.example/a.png",
                "reference_images": ["https://cdn.example/r1.png"],
                "video": "https://cdn.example/v.mp4",
                "video_id": "vid_1",
                "aspect_ratio": "16:9",
                "duration": 10,
                "output_format": "webm",
                "seed": -7
            })
        );
        let back: RunRequest = serde_json::from_value(body).unwrap();
        assert_eq!(back, request);
    }

    fn describe(err: &ApiError) -> String {
        format!("{err:?}")
    }

    async fn submit_error(status: u16, body: &str) -> ApiError {
        let base = answering(status, &[], body).await;
        client(&base)
            .submit(&RunRequest {
                prompt: "x".into(),
                ..RunRequest::default()
            })
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn every_documented_error_code_in_a_nested_error_body_maps_to_its_variant() {
        let cases: [(u16, &str, &str); 6] = [
            (401, "unauthorized", "Unauthorized"),
            (402, "insufficient_credits", "InsufficientCredits"),
            (
                400,
                "invalid_request",
                "InvalidRequest(\"duration must be 3-10\")",
            ),
            (404, "model_not_found", "ModelNotFound"),
            (429, "rate_limited", "RateLimited { retry_after: None }"),
            (500, "internal_error", "Internal(\"duration must be 3-10\")"),
        ];
        for (status, code, expected) in cases {
            let err = submit_error(status, &error_body_nested(code, "duration must be 3-10")).await;
            assert_eq!(describe(&err), expected, "code {code}");
        }
    }

    #[tokio::test]
    async fn every_documented_error_code_in_a_flat_error_body_maps_to_its_variant() {
        let cases: [(u16, &str); 6] = [
            (401, "Unauthorized"),
            (402, "InsufficientCredits"),
            (400, "InvalidRequest(\"bad things\")"),
            (404, "ModelNotFound"),
            (429, "RateLimited { retry_after: None }"),
            (503, "Internal(\"bad things\")"),
        ];
        for (status, expected) in cases {
            let err = submit_error(status, r#"{"error":"bad things"}"#).await;
            assert_eq!(describe(&err), expected, "status {status}");
        }
    }

    #[tokio::test]
    async fn a_non_json_error_body_falls_back_to_the_http_status() {
        let cases: [(u16, &str); 8] = [
            (401, "Unauthorized"),
            (402, "InsufficientCredits"),
            (400, "InvalidRequest(\"\")"),
            (404, "ModelNotFound"),
            (429, "RateLimited { retry_after: None }"),
            (502, "Internal(\"HTTP 502 Bad Gateway\")"),
            (
                403,
                "UnexpectedStatus { status: 403, message: \"HTTP 403 Forbidden\" }",
            ),
            (
                418,
                "UnexpectedStatus { status: 418, message: \"HTTP 418 I'm a teapot\" }",
            ),
        ];
        for (status, expected) in cases {
            let err = submit_error(status, "<html>upstream broke</html>").await;
            assert_eq!(describe(&err), expected, "status {status}");
        }
    }

    #[tokio::test]
    async fn the_error_code_wins_over_the_status_as_with_the_older_403_insufficient_credits() {
        let body =
            json!({"error": {"code": "insufficient_credits", "message": "m", "status": 403}});
        let err = submit_error(403, &body.to_string()).await;
        assert!(matches!(err, ApiError::InsufficientCredits), "{err:?}");
        let err = submit_error(400, &error_body_nested("unauthorized", "m")).await;
        assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
    }

    #[tokio::test]
    async fn an_unknown_error_code_falls_back_to_the_status() {
        let err = submit_error(402, &error_body_nested("something_new", "m")).await;
        assert!(matches!(err, ApiError::InsufficientCredits), "{err:?}");
    }

    #[tokio::test]
    async fn a_429_carries_retry_after_given_in_seconds() {
        let base = answering(
            429,
            &[("retry-after", "7".into())],
            &error_body_nested("rate_limited", "slow down"),
        )
        .await;
        let err = client(&base).job("job_1").await.unwrap_err();
        assert!(
            matches!(err, ApiError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)),
            "{err:?}"
        );
        assert!(err.is_retryable_poll());
        assert!(
            err.user_message().contains("about 7 seconds"),
            "{}",
            err.user_message()
        );
    }

    #[tokio::test]
    async fn a_429_carries_retry_after_given_as_an_http_date() {
        let at = chrono::Utc::now() + chrono::Duration::seconds(120);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let base = answering(429, &[("retry-after", date)], "too many").await;
        let err = client(&base).job("job_1").await.unwrap_err();
        let ApiError::RateLimited {
            retry_after: Some(wait),
        } = err
        else {
            panic!("{err:?}");
        };
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn a_429_without_retry_after_uses_the_rate_limit_reset() {
        let base = answering(
            429,
            &[
                ("x-ratelimit-limit", "60".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", "30".into()),
            ],
            "",
        )
        .await;
        let c = client(&base);
        let err = c.job("job_1").await.unwrap_err();
        let ApiError::RateLimited {
            retry_after: Some(wait),
        } = err
        else {
            panic!("{err:?}");
        };
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let info = c.last_rate_limit().unwrap();
        assert_eq!((info.limit, info.remaining), (Some(60), Some(0)));
    }

    #[tokio::test]
    async fn rate_limit_headers_of_the_latest_answer_are_remembered_and_shared_by_clones() {
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 40;
        let base = answering(
            200,
            &[
                ("x-ratelimit-limit", "60".into()),
                ("x-ratelimit-remaining", "59".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ],
            r#"{"jobId":"job_1","status":"pending"}"#,
        )
        .await;
        let c = client(&base);
        assert_eq!(c.last_rate_limit(), None);
        c.clone().job("job_1").await.unwrap();
        let info = c.last_rate_limit().unwrap();
        assert_eq!(info.limit, Some(60));
        assert_eq!(info.remaining, Some(59));
        assert_eq!(info.reset, Some(UNIX_EPOCH + Duration::from_secs(reset)));
    }

    async fn job_answer(body: Value) -> Result<JobStatus, ApiError> {
        let base = answering(200, &[], &body.to_string()).await;
        client(&base).job("job_1").await
    }

    #[tokio::test]
    async fn a_completed_job_reads_the_video_id_from_output_or_outputs_or_none() {
        let from_output = job_answer(json!({"jobId":"job_1","status":"completed","output":{"video":"https://t/a.mp4","videoId":"vid_a"},"creditCost":16})).await;
        assert_eq!(
            from_output.unwrap(),
            JobStatus::Completed {
                video_url: "https://t/a.mp4".into(),
                video_id: Some("vid_a".into()),
                credit_cost: Some(16)
            }
        );
        let from_outputs = job_answer(json!({"status":"completed","output":{"video":"https://t/b.mp4"},"outputs":{"videoId":"vid_b"}})).await;
        assert_eq!(
            from_outputs.unwrap(),
            JobStatus::Completed {
                video_url: "https://t/b.mp4".into(),
                video_id: Some("vid_b".into()),
                credit_cost: None
            }
        );
        let absent =
            job_answer(json!({"status":"completed","output":{"video":"https://t/c.mp4"}})).await;
        assert!(
            matches!(absent, Ok(JobStatus::Completed { video_id: None, .. })),
            "{absent:?}"
        );
    }

    #[tokio::test]
    async fn a_completed_job_finds_the_video_in_videos_or_assets() {
        let videos =
            job_answer(json!({"status":"completed","output":{"videos":["https://t/v.mp4"]}})).await;
        assert!(
            matches!(videos, Ok(JobStatus::Completed { ref video_url, .. }) if video_url == "https://t/v.mp4"),
            "{videos:?}"
        );
        let assets =
            job_answer(json!({"status":"completed","assets":[{"url":"https://t/s.mp4"}]})).await;
        assert!(
            matches!(assets, Ok(JobStatus::Completed { ref video_url, .. }) if video_url == "https://t/s.mp4"),
            "{assets:?}"
        );
    }

    #[tokio::test]
    async fn a_completed_job_without_any_video_url_is_malformed() {
        let err = job_answer(json!({"status":"completed","output":{}}))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_failed_job_carries_its_error_message() {
        let failed = job_answer(
            json!({"jobId":"job_1","status":"failed","error":"content policy","creditCost":16}),
        )
        .await;
        assert_eq!(
            failed.unwrap(),
            JobStatus::Failed {
                error: "content policy".into()
            }
        );
        let nested = job_answer(json!({"status":"failed","error":{"message":"boom"}})).await;
        assert_eq!(
            nested.unwrap(),
            JobStatus::Failed {
                error: "boom".into()
            }
        );
    }

    #[tokio::test]
    async fn any_other_status_value_means_the_job_is_still_running() {
        for status in ["pending", "processing", "queued", "starting", "IN_PROGRESS"] {
            let answer = job_answer(json!({"jobId":"job_1","status":status})).await;
            assert_eq!(
                answer.unwrap(),
                JobStatus::Running {
                    status: status.into()
                }
            );
        }
    }

    #[tokio::test]
    async fn a_2xx_answer_that_is_not_json_is_malformed() {
        let base = answering(200, &[], r#"{"jobId": "job_"#).await;
        let c = client(&base);
        let err = c.job("job_1").await.unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
        let err = c.submit(&RunRequest::default()).await.unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
        let base = answering(200, &[], r#"{"status": "pending"}"#).await;
        let err = client(&base)
            .submit(&RunRequest::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Malformed(_)),
            "a run answer without a job id: {err:?}"
        );
    }

    #[tokio::test]
    async fn polling_an_unknown_job_is_not_reported_as_an_unknown_model() {
        let base = answering(404, &[], &error_body_nested("not_found", "Job not found")).await;
        let err = client(&base).job("job_nope").await.unwrap_err();
        assert!(
            matches!(err, ApiError::UnexpectedStatus { status: 404, .. }),
            "{err:?}"
        );
        assert!(!err.is_retryable_poll());
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let base = Url::parse(&format!("http://{addr}/api/v1")).unwrap();
        let err = client(&base)
            .submit(&RunRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::NotSent(_)), "{err:?}");
        assert!(err.is_retryable_poll());
    }

    /// Accepts one connection, reads the request, then runs `then` on the open socket.
    async fn raw_server<F, Fut>(then: F) -> Url
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers end with a blank line; the test bodies are tiny and arrive with them.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            then(socket).await;
        });
        Url::parse(&format!("http://{addr}/api/v1")).unwrap()
    }

    #[tokio::test]
    async fn a_server_that_closes_the_connection_without_answering_leaves_a_submit_uncertain() {
        let base = raw_server(|socket| async move { drop(socket) }).await;
        let err = client(&base)
            .submit(&RunRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_within_the_timeout_leaves_a_submit_uncertain() {
        let base = raw_server(|socket| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(socket);
        })
        .await;
        let started = Instant::now();
        let err = client_with_timeout(&base, Duration::from_millis(300))
            .submit(&RunRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_body_cut_off_mid_way_is_uncertain() {
        use tokio::io::AsyncWriteExt;
        let base = raw_server(|mut socket| async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"jobId\":";
            socket.write_all(head.as_bytes()).await.unwrap();
            drop(socket);
        })
        .await;
        let err = client(&base)
            .submit(&RunRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
    }

    fn video(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    async fn file_server() -> (Url, Arc<Mutex<Vec<Option<String>>>>) {
        let auth_seen = Arc::new(Mutex::new(Vec::new()));
        let seen = auth_seen.clone();
        let router = Router::new()
            .route(
                "/files/sized.mp4",
                get(move |headers: AxumHeaders| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(
                            headers
                                .get("authorization")
                                .map(|v| v.to_str().unwrap().to_owned()),
                        );
                        ([("content-type", "video/mp4")], video(100_000))
                    }
                }),
            )
            .route(
                "/files/chunked.mp4",
                get(|| async {
                    let chunks = video(100_000)
                        .chunks(10_000)
                        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>();
                    Body::from_stream(futures::stream::iter(chunks)).into_response()
                }),
            )
            .route(
                "/files/gone.mp4",
                get(|| async { (AxumStatus::NOT_FOUND, "<Error>NoSuchKey</Error>") }),
            );
        let base = serve(router).await;
        (base, auth_seen)
    }

    fn file_url(base: &Url, name: &str) -> String {
        base.join(&format!("/files/{name}")).unwrap().to_string()
    }

    #[tokio::test]
    async fn download_returns_the_exact_bytes_without_sending_the_key() {
        let (base, auth_seen) = file_server().await;
        let c = client(&base);
        let got = c
            .download(&file_url(&base, "sized.mp4"), 100_000)
            .await
            .unwrap();
        assert_eq!(got, Download::Complete(Bytes::from(video(100_000))));
        let got = c
            .download(&file_url(&base, "chunked.mp4"), 1_000_000)
            .await
            .unwrap();
        assert_eq!(got, Download::Complete(Bytes::from(video(100_000))));
        assert_eq!(auth_seen.lock().unwrap().clone(), vec![None]);
    }

    #[tokio::test]
    async fn download_stops_at_max_bytes_with_or_without_a_content_length() {
        let (base, _) = file_server().await;
        let c = client(&base);
        let sized = c
            .download(&file_url(&base, "sized.mp4"), 99_999)
            .await
            .unwrap();
        assert_eq!(
            sized,
            Download::TooLarge {
                size: Some(100_000)
            }
        );
        let chunked = c
            .download(&file_url(&base, "chunked.mp4"), 25_000)
            .await
            .unwrap();
        assert_eq!(chunked, Download::TooLarge { size: None });
    }

    #[tokio::test]
    async fn a_missing_file_is_an_unexpected_status_not_a_model_error() {
        let (base, _) = file_server().await;
        let err = client(&base)
            .download(&file_url(&base, "gone.mp4"), 1_000)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::UnexpectedStatus { status: 404, .. }),
            "{err:?}"
        );
        let err = client(&base)
            .download("ftp://x/y.mp4", 1_000)
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    }

    #[tokio::test]
    async fn check_key_accepts_a_404_for_the_probe_job_and_rejects_a_401() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let router = Router::new().route(
            "/api/v1/jobs/:id",
            get(move |Path(id): Path<String>, headers: AxumHeaders| {
                let record = record.clone();
                async move {
                    record.lock().unwrap().push(id);
                    let good = headers.get("authorization").and_then(|v| v.to_str().ok())
                        == Some("Bearer pd_super_secret_key_42");
                    if good {
                        (
                            AxumStatus::NOT_FOUND,
                            error_body_nested("not_found", "no such job"),
                        )
                    } else {
                        (
                            AxumStatus::UNAUTHORIZED,
                            error_body_nested("unauthorized", "bad key"),
                        )
                    }
                }
            }),
        );
        let base = serve(router).await;
        client(&base).check_key().await.unwrap();
        let wrong = PixelDojoClient::new(
            &base,
            MODEL,
            SecretString::from("pd_wrong"),
            Duration::from_secs(5),
        );
        let err = wrong.check_key().await.unwrap_err();
        assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
        assert_eq!(
            seen.lock().unwrap().clone(),
            vec![KEY_CHECK_JOB_ID.to_owned(); 2]
        );
    }

    #[tokio::test]
    async fn user_messages_say_what_to_do_and_defuse_vendor_text() {
        assert_eq!(
            ApiError::InsufficientCredits.user_message(),
            "The bot's owner is out of PixelDojo credits; ask a server admin to top up."
        );
        let message = ApiError::InvalidRequest("bad @everyone `x`\nline".into()).user_message();
        assert!(!message.contains("@everyone"), "{message}");
        assert!(
            !message.contains('`') && !message.contains('\n'),
            "{message}"
        );
        let long = ApiError::InvalidRequest("a".repeat(1000)).user_message();
        assert!(long.chars().count() < 300);
    }

    #[derive(Clone, Default)]
    struct LogSink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for LogSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_api_key_never_appears_in_debug_output_errors_or_logs() {
        let sink = LogSink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let base = answering(401, &[], &error_body_nested("unauthorized", "bad key")).await;
        let c = client(&base);
        let mut texts = vec![format!("{c:?}"), format!("{:?}", c.clone())];
        let mut errors = vec![c.submit(&RunRequest::default()).await.unwrap_err()];
        errors.push(c.job("job_1").await.unwrap_err());
        errors.push(c.check_key().await.unwrap_err());
        let refused = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            drop(listener);
            Url::parse(&format!("http://{addr}/api/v1")).unwrap()
        };
        errors.push(client(&refused).job("job_1").await.unwrap_err());
        let silent = raw_server(|socket| async move { drop(socket) }).await;
        errors.push(
            client(&silent)
                .submit(&RunRequest::default())
                .await
                .unwrap_err(),
        );
        for err in &errors {
            texts.push(format!("{err:?}"));
            texts.push(err.to_string());
            texts.push(err.user_message());
        }
        texts.push(String::from_utf8(sink.0.lock().unwrap().clone()).unwrap());

        assert!(
            texts.last().unwrap().contains("PixelDojo request"),
            "logs were captured"
        );
        for text in texts {
            assert!(!text.contains(KEY), "the key leaked into: {text}");
            assert!(
                !text.contains("super_secret"),
                "part of the key leaked into: {text}"
            );
        }
    }

    #[test]
    fn only_transient_failures_are_retryable_when_polling() {
        let retryable = [
            ApiError::RateLimited { retry_after: None },
            ApiError::Internal("x".into()),
            ApiError::NotSent("x".into()),
            ApiError::Uncertain("x".into()),
            ApiError::Malformed("x".into()),
            ApiError::UnexpectedStatus {
                status: 503,
                message: "x".into(),
            },
        ];
        let final_ = [
            ApiError::Unauthorized,
            ApiError::InsufficientCredits,
            ApiError::InvalidRequest("x".into()),
            ApiError::ModelNotFound,
            ApiError::UnexpectedStatus {
                status: 404,
                message: "x".into(),
            },
        ];
        assert!(retryable.iter().all(ApiError::is_retryable_poll));
        assert!(!final_.iter().any(ApiError::is_retryable_poll));
    }
}
