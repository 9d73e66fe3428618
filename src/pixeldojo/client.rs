//! The HTTP client for PixelDojo's API: submit a run, poll a job, download the finished file
//! and check the API key. It implements [`VendorApi`] for the engine; pacing, retries and the
//! reading of rate-limit headers are the [`super::Throttled`] client's.
//!
//! It must never put the API key in an error, a `Debug` output or a log line, and it never
//! retries on its own: whether a retry is safe is the caller's decision, informed by
//! [`ApiError::NotSent`] versus [`ApiError::Uncertain`].

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::errors::ApiError;
use super::wire::{
    error_from_response, parse_job, parse_submitted, Call, Download, JobStatus, RateHeaders,
    RunRequest, Submitted,
};
use super::{Answer, VendorApi};
use crate::config::PixelDojoConfig;
use crate::domain::ids::{JobId, VendorJobId};

/// API answers are small JSON documents; anything bigger is not an answer we can use.
const MAX_API_BODY_BYTES: usize = 1024 * 1024;

/// The connect phase never gets more than this, so a dead host is reported as
/// [`ApiError::NotSent`] (connect timeout) rather than [`ApiError::Uncertain`] (request timeout).
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// At most this many redirects are followed, and only between the vendor's hosts.
const MAX_REDIRECTS: usize = 3;

/// A job id PixelDojo will never issue (its ids start with `job_`), polled by
/// [`PixelDojoClient::check_key`].
const KEY_CHECK_JOB_ID: &str = "omni-bot-key-check";

/// The PixelDojo client. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct PixelDojoClient {
    http: reqwest::Client,
    base_url: Url,
    model: String,
    api_key: SecretString,
    request_timeout: Duration,
    download_timeout: Duration,
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

/// Where a client points and how long it waits.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The API root, e.g. `https://pixeldojo.ai/api/v1`.
    pub base_url: Url,
    pub model: String,
    pub api_key: SecretString,
    /// Bounds each API call from connect to the last body byte.
    pub request_timeout: Duration,
    /// Bounds a whole download; each chunk must also come within `request_timeout`.
    pub download_timeout: Duration,
    /// Hosts a download may come from or be redirected to (besides the API host).
    pub download_hosts: Vec<String>,
}

impl ClientSettings {
    /// The settings in the configuration.
    pub fn from_config(config: &PixelDojoConfig) -> Self {
        Self {
            base_url: config.base_url.clone(),
            model: config.model.clone(),
            api_key: config.api_key.clone(),
            request_timeout: Duration::from_secs(config.request_timeout_seconds),
            download_timeout: Duration::from_secs(config.download_timeout_seconds),
            download_hosts: config.download_hosts(),
        }
    }
}

impl PixelDojoClient {
    /// The client the configuration describes.
    pub fn from_config(config: &PixelDojoConfig) -> Self {
        Self::new(ClientSettings::from_config(config))
    }

    pub fn new(settings: ClientSettings) -> Self {
        let hosts = settings.download_hosts.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let allowed = attempt
                .url()
                .host_str()
                .is_some_and(|h| hosts.iter().any(|a| a.eq_ignore_ascii_case(h)));
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if allowed {
                attempt.follow()
            } else {
                attempt.error("a redirect off PixelDojo's hosts")
            }
        });
        let http = reqwest::Client::builder()
            .connect_timeout(settings.request_timeout.min(MAX_CONNECT_TIMEOUT))
            .redirect(redirects)
            .user_agent(concat!("omni-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            // Only fails if the TLS backend cannot initialise, which is a broken build.
            .expect("the HTTP client can be built");
        Self {
            http,
            base_url: settings.base_url,
            model: settings.model,
            api_key: settings.api_key,
            request_timeout: settings.request_timeout,
            download_timeout: settings.download_timeout,
        }
    }

    /// `POST {base}/models/{model}/run`. Never retried here: on [`ApiError::Uncertain`] the
    /// job may exist and be charged.
    pub async fn submit(&self, body: &RunRequest) -> Answer<Submitted> {
        let url = match self.endpoint(&["models", &self.model, "run"]) {
            Ok(url) => url,
            Err(e) => return Answer::without_headers(Err(e)),
        };
        let request = self.http.post(url.clone()).json(body);
        self.send_api(Method::POST, &url, request, Call::Submit, parse_submitted)
            .await
    }

    /// `GET {base}/jobs/{id}`.
    pub async fn job(&self, job_id: &str) -> Answer<JobStatus> {
        let url = match self.endpoint(&["jobs", job_id]) {
            Ok(url) => url,
            Err(e) => return Answer::without_headers(Err(e)),
        };
        let request = self.http.get(url.clone());
        self.send_api(Method::GET, &url, request, Call::Job, parse_job)
            .await
    }

    /// Fetches a finished clip. No `Authorization` header: the URL is a temporary public link,
    /// and the key must not leak to whatever host serves it. Reading stops as soon as the file
    /// is known to exceed `max_bytes`, and the whole download must end within the download
    /// timeout.
    pub async fn download(&self, url: &Url, max_bytes: u64) -> Result<Download, ApiError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.download_timeout, self.fetch(url, max_bytes)).await;
        let result = result.unwrap_or_else(|_| {
            Err(ApiError::Uncertain(format!(
                "the download took longer than {:?}",
                self.download_timeout
            )))
        });
        match &result {
            Ok(_) => tracing::debug!(
                path = url.path(),
                elapsed_ms = elapsed_ms(started),
                "PixelDojo download"
            ),
            Err(err) => {
                tracing::debug!(path = url.path(), elapsed_ms = elapsed_ms(started), error = %err, "PixelDojo download failed")
            }
        }
        result
    }

    async fn fetch(&self, url: &Url, max_bytes: u64) -> Result<Download, ApiError> {
        let sent = tokio::time::timeout(self.request_timeout, self.http.get(url.clone()).send());
        let mut response = match sent.await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(transport_error(err)),
            Err(_) => {
                return Err(ApiError::Uncertain(format!(
                    "no response headers within {:?}",
                    self.request_timeout
                )))
            }
        };
        let status = response.status();
        if !status.is_success() {
            // The body only feeds the operator's error message; a failure to read it changes
            // nothing about the outcome.
            let body = read_capped(&mut response, MAX_API_BODY_BYTES)
                .await
                .unwrap_or_default();
            return Err(error_from_response(
                Call::Download,
                status.as_u16(),
                &status.to_string(),
                &body,
            ));
        }
        let announced = response.content_length();
        if announced.is_some_and(|len| len > max_bytes) {
            return Ok(Download::TooLarge { size: announced });
        }
        // Never trust the announced length for the allocation beyond the cap.
        let mut buffer = BytesMut::with_capacity(announced.unwrap_or(0).min(max_bytes) as usize);
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
        match self.job(KEY_CHECK_JOB_ID).await.result {
            Ok(_) | Err(ApiError::UnknownJob) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn endpoint(&self, segments: &[&str]) -> Result<Url, ApiError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| ApiError::NotSent("the PixelDojo base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends an authenticated API request, reads its (capped) body and parses a success.
    async fn send_api<T>(
        &self,
        method: Method,
        url: &Url,
        request: reqwest::RequestBuilder,
        call: Call,
        parse: fn(&[u8]) -> Result<T, ApiError>,
    ) -> Answer<T> {
        let started = Instant::now();
        let exchanged = self.exchange(request).await;
        match &exchanged {
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
        match exchanged {
            Err(e) => Answer::without_headers(Err(e)),
            Ok((status, headers, body)) => Answer {
                result: if status.is_success() {
                    parse(&body)
                } else {
                    Err(error_from_response(
                        call,
                        status.as_u16(),
                        &status.to_string(),
                        &body,
                    ))
                },
                rate: rate_headers(&headers),
            },
        }
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
        let body = read_capped(&mut response, MAX_API_BODY_BYTES).await?;
        Ok((status, headers, body))
    }
}

#[async_trait::async_trait]
impl VendorApi for PixelDojoClient {
    async fn submit(&self, _job: JobId, body: &RunRequest) -> Answer<Submitted> {
        PixelDojoClient::submit(self, body).await
    }

    async fn job(&self, id: &VendorJobId) -> Answer<JobStatus> {
        PixelDojoClient::job(self, &id.0).await
    }

    async fn download(&self, url: &Url, max_bytes: u64) -> Result<Download, ApiError> {
        PixelDojoClient::download(self, url, max_bytes).await
    }
}

/// The rate-limit headers of an answer, as sent (bounded in length).
fn rate_headers(headers: &HeaderMap) -> RateHeaders {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(64).collect::<String>())
    };
    RateHeaders {
        retry_after: text(RETRY_AFTER.as_str()),
        limit: text("x-ratelimit-limit"),
        remaining: text("x-ratelimit-remaining"),
        reset: text("x-ratelimit-reset"),
    }
}

async fn read_capped(response: &mut reqwest::Response, cap: usize) -> Result<Bytes, ApiError> {
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

#[cfg(test)]
mod tests;
