//! The client the engine uses: every API call goes through one request [`Budget`], and the
//! rate-limit headers of each answer are read from that very answer (never from a slot that
//! another request could have overwritten meanwhile).
//!
//! Downloads come from the vendor's file host, not the API, and carry no key: by default they
//! take no API budget, but at most a few run at once so a burst of finished clips cannot
//! saturate the bot's uplink. A download URL is checked against the vendor's hosts first.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::budget::{Budget, Priority};
use super::errors::ApiError;
use super::wire::{check_download_url, Download, JobStatus, RunRequest, Submitted};
use super::{Answer, VendorApi};
use crate::clock::Clock;
use crate::domain::ids::{JobId, VendorJobId};

/// How the throttled client paces and bounds requests.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// One budget for the API key: submits and polls (and downloads, if counted).
    pub requests_per_minute: u32,
    /// Downloads running at once.
    pub max_concurrent_downloads: usize,
    /// Count downloads against the API budget too (if the vendor's limits turn out to cover
    /// its file host).
    pub downloads_use_budget: bool,
    /// Hosts a download may come from.
    pub download_hosts: Vec<String>,
}

/// Proof that a poll slot was taken from the budget: a poll cannot be sent without one.
#[derive(Debug)]
pub struct PollTicket(());

/// Proof that a submit slot was taken from the budget: taken first, so that the caller can
/// persist that the request is about to go out, right before it does.
#[derive(Debug)]
pub struct SubmitTicket(());

/// The vendor API behind the request budget. Cheap to share behind an `Arc`.
pub struct Throttled {
    api: Arc<dyn VendorApi>,
    budget: Budget,
    clock: Arc<dyn Clock>,
    downloads: Semaphore,
    settings: ThrottleSettings,
}

impl Throttled {
    pub fn new(api: Arc<dyn VendorApi>, clock: Arc<dyn Clock>, settings: ThrottleSettings) -> Self {
        Self {
            api,
            budget: Budget::per_minute(settings.requests_per_minute),
            clock,
            downloads: Semaphore::new(settings.max_concurrent_downloads.max(1)),
            settings,
        }
    }

    /// Waits for a submit slot (submits go first).
    pub async fn submit_ticket(&self) -> SubmitTicket {
        self.budget.acquire(Priority::Submit).await;
        SubmitTicket(())
    }

    /// Sends a run request with a slot already taken.
    pub async fn submit(
        &self,
        _ticket: SubmitTicket,
        job: JobId,
        body: &RunRequest,
    ) -> Result<Submitted, ApiError> {
        let answer = self.api.submit(job, body).await;
        self.observe(&answer);
        answer.result
    }

    /// Waits for a poll slot.
    pub async fn poll_ticket(&self) -> PollTicket {
        self.budget.acquire(Priority::Poll).await;
        PollTicket(())
    }

    /// A poll slot outside the budget: only for the benchmark's naive fixed loop, which stands
    /// for clients that ignore the vendor's limit.
    pub fn unbudgeted_poll_ticket(&self) -> PollTicket {
        PollTicket(())
    }

    /// Polls a job with a slot already taken.
    pub async fn poll(&self, _ticket: PollTicket, id: &VendorJobId) -> Result<JobStatus, ApiError> {
        let answer = self.api.job(id).await;
        self.observe(&answer);
        answer.result
    }

    /// Downloads a finished clip from one of the vendor's hosts, at most `max_bytes` of it.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Download, ApiError> {
        let url = check_download_url(url, &self.settings.download_hosts)?;
        // Never closed, so acquiring cannot fail.
        let _permit = self.downloads.acquire().await;
        if self.settings.downloads_use_budget {
            self.budget.acquire(Priority::Download).await;
        }
        self.api.download(&url, max_bytes).await
    }

    /// Spends `1/replicas` of the API key's budget (replicas share it; 0: none yet).
    pub fn set_share(&self, replicas: u32) {
        self.budget.set_share(replicas);
    }

    /// Reads one answer's rate-limit headers into the budget.
    fn observe<T>(&self, answer: &Answer<T>) {
        let now = self.clock.system_now();
        match &answer.result {
            Err(ApiError::RateLimited | ApiError::Unavailable(_)) => {
                self.budget.rate_limited(answer.rate.retry_after(now));
            }
            Ok(_) => self.budget.succeeded(),
            Err(_) => {}
        }
        if let Some(remaining) = answer.rate.remaining() {
            self.budget
                .observe_remaining(remaining, answer.rate.reset_in(now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::pixeldojo::wire::RateHeaders;
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;
    use url::Url;

    /// Answers every call from a script and records when each arrived.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<Vec<(Result<(), u16>, RateHeaders)>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn next<T>(&self, ok: impl FnOnce() -> T) -> Answer<T> {
            self.calls.lock().unwrap().push(Instant::now());
            let mut answers = self.answers.lock().unwrap();
            let (result, rate) = if answers.is_empty() {
                (Ok(()), RateHeaders::default())
            } else {
                answers.remove(0)
            };
            Answer {
                result: match result {
                    Ok(()) => Ok(ok()),
                    Err(429) => Err(ApiError::RateLimited),
                    Err(503) => Err(ApiError::Unavailable("busy".into())),
                    Err(status) => Err(ApiError::Internal(format!("{status}"))),
                },
                rate,
            }
        }
    }

    #[async_trait::async_trait]
    impl VendorApi for Scripted {
        async fn submit(&self, _job: JobId, _body: &RunRequest) -> Answer<Submitted> {
            self.next(|| Submitted {
                job_id: "job_1".into(),
                status: "pending".into(),
                credit_cost: None,
                credits_remaining: None,
            })
        }
        async fn job(&self, _id: &VendorJobId) -> Answer<JobStatus> {
            self.next(|| JobStatus::Running {
                status: "pending".into(),
            })
        }
        async fn download(&self, _url: &Url, _max: u64) -> Result<Download, ApiError> {
            self.calls.lock().unwrap().push(Instant::now());
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(Download::Complete(bytes::Bytes::from_static(b"clip")))
        }
    }

    fn throttled(api: Arc<Scripted>, rpm: u32) -> Throttled {
        Throttled::new(
            api,
            Arc::new(TokioClock::starting_at(1_800_000_000_000)),
            ThrottleSettings {
                requests_per_minute: rpm,
                max_concurrent_downloads: 2,
                downloads_use_budget: false,
                download_hosts: vec!["files.example".into()],
            },
        )
    }

    fn rate(
        retry_after: Option<&str>,
        remaining: Option<&str>,
        reset: Option<&str>,
    ) -> RateHeaders {
        RateHeaders {
            retry_after: retry_after.map(str::to_owned),
            limit: None,
            remaining: remaining.map(str::to_owned),
            reset: reset.map(str::to_owned),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_the_next_request_for_its_retry_after() {
        let api = Arc::new(Scripted::default());
        api.answers
            .lock()
            .unwrap()
            .push((Err(429), rate(Some("9"), None, None)));
        let t = throttled(api.clone(), 600);
        let err = t
            .poll(t.poll_ticket().await, &VendorJobId("j".into()))
            .await;
        assert!(matches!(err, Err(ApiError::RateLimited)));
        t.poll(t.poll_ticket().await, &VendorJobId("j".into()))
            .await
            .unwrap();
        let calls = api.calls.lock().unwrap().clone();
        assert!(
            calls[1] - calls[0] >= Duration::from_secs(9),
            "{:?}",
            calls[1] - calls[0]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_asked_for_by_one_answer_is_capped_at_a_minute() {
        let api = Arc::new(Scripted::default());
        api.answers
            .lock()
            .unwrap()
            .push((Err(429), rate(Some("999999999999"), None, None)));
        let t = throttled(api.clone(), 600);
        let _ = t
            .submit(t.submit_ticket().await, JobId(1), &RunRequest::default())
            .await;
        t.submit(t.submit_ticket().await, JobId(1), &RunRequest::default())
            .await
            .unwrap();
        let calls = api.calls.lock().unwrap().clone();
        let gap = calls[1] - calls[0];
        assert!(gap <= Duration::from_secs(61), "{gap:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_requests_left_in_the_window_waits_for_its_reset() {
        let api = Arc::new(Scripted::default());
        // The reset as epoch milliseconds, 20 s after the clock's start.
        api.answers
            .lock()
            .unwrap()
            .push((Ok(()), rate(None, Some("0"), Some("1800000020000"))));
        let t = throttled(api.clone(), 600);
        t.poll(t.poll_ticket().await, &VendorJobId("j".into()))
            .await
            .unwrap();
        t.poll(t.poll_ticket().await, &VendorJobId("j".into()))
            .await
            .unwrap();
        let calls = api.calls.lock().unwrap().clone();
        let gap = calls[1] - calls[0];
        assert!(
            gap >= Duration::from_secs(19) && gap <= Duration::from_secs(21),
            "{gap:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn downloads_take_no_api_budget_but_run_only_a_few_at_a_time() {
        let api = Arc::new(Scripted::default());
        let t = Arc::new(throttled(api.clone(), 1));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                t.download("https://files.example/a.mp4", 100)
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // A budget of one request a minute did not hold them up; two at a time took 2 s.
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let refused = t.download("https://elsewhere.example/a.mp4", 100).await;
        assert!(matches!(refused, Err(ApiError::ForbiddenUrl(_))));
    }
}
