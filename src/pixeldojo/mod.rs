//! PixelDojo's Gemini Omni Flash API: the wire format, the HTTP client, its typed errors, and
//! the throttled client that owns the request budget.
//!
//! - `wire`: the run body (from a validated request) and the answers, read defensively.
//! - `errors`: [`ApiError`], sorted by what the caller may do next.
//! - `client`: [`PixelDojoClient`], the HTTP implementation of [`VendorApi`].
//! - `budget`: the request [`Budget`] (pacing, priorities, 429 backoff).
//! - `throttled`: [`Throttled`], every call behind the budget, as the engine uses it.

mod budget;
mod client;
mod errors;
mod throttled;
mod wire;

pub use budget::{Budget, Priority, POLL_SHARE_EVERY};
pub use client::{ClientSettings, PixelDojoClient};
pub use errors::{clean_vendor_text, ApiError};
pub use throttled::{PollTicket, SubmitTicket, ThrottleSettings, Throttled};
pub use wire::{
    check_download_url, Download, JobStatus, RateHeaders, RunRequest, Submitted, MAX_PAUSE,
};

use url::Url;

use crate::domain::ids::{JobId, VendorJobId};

/// One answer from the vendor API: the result, and the rate-limit headers that came with it.
#[derive(Debug)]
pub struct Answer<T> {
    pub result: Result<T, ApiError>,
    pub rate: RateHeaders,
}

impl<T> Answer<T> {
    /// An answer that carried no headers (the request failed before any came back).
    pub fn without_headers(result: Result<T, ApiError>) -> Self {
        Self {
            result,
            rate: RateHeaders::default(),
        }
    }
}

/// The vendor API as the engine needs it: one method per call, no retries and no pacing
/// ([`Throttled`] adds those). The real one is [`PixelDojoClient`]; tests and the simulation
/// plug in their own.
#[async_trait::async_trait]
pub trait VendorApi: Send + Sync + 'static {
    /// `POST /models/{model}/run`. `job` is our id for the request, for logs.
    async fn submit(&self, job: JobId, body: &RunRequest) -> Answer<Submitted>;
    /// `GET /jobs/{id}`.
    async fn job(&self, id: &VendorJobId) -> Answer<JobStatus>;
    /// The finished file, at most `max_bytes` of it (an already checked URL).
    async fn download(&self, url: &Url, max_bytes: u64) -> Result<Download, ApiError>;
}
