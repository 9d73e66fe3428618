//! A simulated PixelDojo behind the engine's vendor port: it renders jobs on virtual time,
//! charges for them, keeps to its documented rate limit (60 requests a minute) and fails the
//! way the real one may: refusals (400, 401, 402), 429s with odd rate headers, 5xx, connections
//! that drop after the job was created, a job not listed yet (404), malformed answers, failed
//! renders with or without a charge, and a revoked key. It remembers what it charged per bot
//! job and how many vendor jobs each bot job created, for the invariants.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::Rng;
use url::Url;

use omni_bot::clock::{Clock, TokioClock};
use omni_bot::domain::ids::{JobId, VendorJobId};
use omni_bot::pixeldojo::{
    Answer, ApiError, Download, JobStatus, RateHeaders, RunRequest, Submitted, VendorApi,
};

/// What a clip costs at the vendor.
pub const COST: u64 = 16;
/// The vendor's documented limit.
const LIMIT_PER_MINUTE: usize = 60;
/// A job is not listed for this long after it is created (a 404 on an early poll).
const LISTED_AFTER_MS: i64 = 800;

/// How the vendor misbehaves for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VendorFault {
    /// 500/502/504: a submit may or may not have created a job.
    ServerErrors,
    /// 503: nothing processed.
    Unavailable,
    /// Connections refused: nothing sent.
    Unreachable,
    /// Connections that drop after the request was sent (and processed).
    Drops,
    /// Answers that are not JSON.
    Malformed,
    /// Every request answered 429, with odd headers.
    RateLimited,
    /// The API key is revoked: 401 everywhere.
    KeyRevoked,
}

struct VendorJob {
    bot_job: JobId,
    created_ms: i64,
    done_ms: i64,
    /// `Some(gives the credits back)` when the render fails.
    fails: Option<bool>,
    refunded: bool,
    video_id: Option<String>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<String, VendorJob>,
    next_id: u64,
    /// Credits charged per bot job (after refunds of failed renders).
    charged: BTreeMap<JobId, u64>,
    /// Vendor jobs created per bot job.
    created: BTreeMap<JobId, u32>,
    /// When the last requests arrived (the sliding rate window).
    window: VecDeque<i64>,
    /// Faults in force until the given virtual time.
    faults: Vec<(VendorFault, i64)>,
    balance: i64,
    requests: u64,
}

/// Misbehaviour planted on purpose, to prove the checker catches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VendorDefects {
    /// Charges every job twice while reporting the price once.
    pub charges_twice: bool,
}

pub struct SimVendor {
    state: Mutex<State>,
    rng: Mutex<StdRng>,
    clock: TokioClock,
    defects: VendorDefects,
}

/// What the checker reads after a seed.
pub struct Ledger {
    pub charged: BTreeMap<JobId, u64>,
    pub created: BTreeMap<JobId, u32>,
    pub requests: u64,
}

impl SimVendor {
    pub fn new(rng: StdRng, clock: TokioClock, defects: VendorDefects) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                balance: 1_000_000,
                ..State::default()
            }),
            rng: Mutex::new(rng),
            clock,
            defects,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn roll(&self, p: f64) -> bool {
        self.rng.lock().unwrap().gen_bool(p)
    }

    fn pick<T: Copy>(&self, items: &[T]) -> T {
        items[self.rng.lock().unwrap().gen_range(0..items.len())]
    }

    /// How long one exchange takes.
    async fn latency(&self) {
        let ms = self.rng.lock().unwrap().gen_range(20..400);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Makes the vendor misbehave as `fault` for `for_ms`.
    pub fn fault(&self, fault: VendorFault, for_ms: i64) {
        let until = self.clock.now_ms() + for_ms;
        self.lock().faults.push((fault, until));
    }

    /// Ends every fault.
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    pub fn ledger(&self) -> Ledger {
        let s = self.lock();
        Ledger {
            charged: s.charged.clone(),
            created: s.created.clone(),
            requests: s.requests,
        }
    }

    fn active_fault(&self) -> Option<VendorFault> {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        s.faults.retain(|(_, until)| *until > now);
        s.faults.last().map(|(f, _)| *f)
    }

    /// Counts a request against the rate window; `Some` 429 headers when over the limit.
    fn over_limit(&self) -> Option<RateHeaders> {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        s.requests += 1;
        while s.window.front().is_some_and(|t| now - t >= 60_000) {
            s.window.pop_front();
        }
        if s.window.len() >= LIMIT_PER_MINUTE {
            let oldest = *s.window.front().unwrap_or(&now);
            let reset_ms = oldest + 60_000;
            drop(s);
            return Some(self.odd_headers(now, reset_ms));
        }
        s.window.push_back(now);
        None
    }

    /// The headers of a 429, in one of the shapes vendors use (some of them odd).
    fn odd_headers(&self, now_ms: i64, reset_ms: i64) -> RateHeaders {
        let wait_s = ((reset_ms - now_ms).max(0) as f64 / 1000.0).ceil();
        let epoch_s = reset_ms / 1000;
        let date = chrono::DateTime::from_timestamp_millis(reset_ms)
            .unwrap_or_default()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let shape = self.rng.lock().unwrap().gen_range(0..8);
        let h = |retry: Option<String>, reset: Option<String>| RateHeaders {
            retry_after: retry,
            limit: Some("60".into()),
            remaining: Some("0".into()),
            reset,
        };
        match shape {
            0 => h(Some(format!("{wait_s}")), None),
            1 => h(Some(date), None),
            2 => h(None, Some(format!("{wait_s}"))),
            3 => h(None, Some(format!("{epoch_s}"))),
            4 => h(None, Some(format!("{reset_ms}"))),
            5 => h(Some("-3".into()), Some("NaN".into())),
            6 => h(Some("99999999999999999999".into()), None),
            _ => RateHeaders::default(),
        }
    }

    fn status_error<T>(&self, fault: VendorFault, processed_error: bool) -> Answer<T> {
        let e = match fault {
            VendorFault::ServerErrors => {
                ApiError::Internal(self.pick(&["500", "502", "504"]).to_owned())
            }
            VendorFault::Unavailable => ApiError::Unavailable("503".into()),
            VendorFault::Unreachable => ApiError::NotSent("connection refused".into()),
            VendorFault::Drops => ApiError::Uncertain("connection reset".into()),
            VendorFault::Malformed => ApiError::Malformed("not JSON".into()),
            VendorFault::RateLimited => ApiError::RateLimited,
            VendorFault::KeyRevoked => ApiError::Unauthorized,
        };
        let _ = processed_error;
        let rate = if fault == VendorFault::RateLimited {
            let now = self.clock.now_ms();
            self.odd_headers(now, now + 30_000)
        } else {
            RateHeaders::default()
        };
        Answer {
            result: Err(e),
            rate,
        }
    }

    /// Creates (and charges) a vendor job for `bot_job`.
    fn create(&self, bot_job: JobId, body: &RunRequest) -> (String, i64) {
        let now = self.clock.now_ms();
        let (render_ms, fails, charge_back, has_id) = {
            let mut rng = self.rng.lock().unwrap();
            let base = 20_000 + u64::from(body.duration.unwrap_or(8)) * 8_000;
            let render = if rng.gen_bool(0.05) {
                // Now and then the vendor takes very long.
                rng.gen_range(600_000..1_800_000)
            } else {
                rng.gen_range(base / 2..base * 2)
            };
            (
                render as i64,
                rng.gen_bool(0.08),
                rng.gen_bool(0.5),
                rng.gen_bool(0.9),
            )
        };
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("job_{:06}", s.next_id);
        let charge = if self.defects.charges_twice {
            2 * COST
        } else {
            COST
        };
        *s.charged.entry(bot_job).or_default() += charge;
        *s.created.entry(bot_job).or_default() += 1;
        s.balance -= charge as i64;
        let balance = s.balance;
        s.jobs.insert(
            id.clone(),
            VendorJob {
                bot_job,
                created_ms: now,
                done_ms: now + render_ms,
                fails: fails.then_some(charge_back),
                refunded: false,
                video_id: has_id.then(|| format!("vid_{id}")),
            },
        );
        (id, balance)
    }
}

#[async_trait::async_trait]
impl VendorApi for SimVendor {
    async fn submit(&self, job: JobId, body: &RunRequest) -> Answer<Submitted> {
        self.latency().await;
        if let Some(headers) = self.over_limit() {
            return Answer {
                result: Err(ApiError::RateLimited),
                rate: headers,
            };
        }
        match self.active_fault() {
            Some(VendorFault::ServerErrors | VendorFault::Drops) => {
                // Processed, then the answer is lost or an error: the job exists and is charged
                // (or, half of the time, it does not).
                if self.roll(0.5) {
                    self.create(job, body);
                }
                self.latency().await;
                let fault = self.active_fault().unwrap_or(VendorFault::Drops);
                return self.status_error(fault, true);
            }
            Some(fault) => return self.status_error(fault, false),
            None => {}
        }
        if self.roll(0.02) {
            return Answer::without_headers(Err(ApiError::InvalidRequest(
                "the prompt was flagged".into(),
            )));
        }
        if self.roll(0.01) {
            return Answer::without_headers(Err(ApiError::InsufficientCredits));
        }
        let (id, balance) = self.create(job, body);
        let reported = self.roll(0.8).then_some(COST as u32);
        self.latency().await;
        Answer::without_headers(Ok(Submitted {
            job_id: id,
            status: "pending".into(),
            credit_cost: reported,
            credits_remaining: Some(balance),
        }))
    }

    async fn job(&self, id: &VendorJobId) -> Answer<JobStatus> {
        self.latency().await;
        if let Some(headers) = self.over_limit() {
            return Answer {
                result: Err(ApiError::RateLimited),
                rate: headers,
            };
        }
        if let Some(fault) = self.active_fault() {
            return self.status_error(fault, false);
        }
        if self.roll(0.01) {
            return Answer::without_headers(Err(ApiError::Internal("502".into())));
        }
        let now = self.clock.now_ms();
        let mut s = self.lock();
        let Some(job) = s.jobs.get(&id.0) else {
            return Answer::without_headers(Err(ApiError::UnknownJob));
        };
        if now - job.created_ms < LISTED_AFTER_MS {
            return Answer::without_headers(Err(ApiError::UnknownJob));
        }
        if now < job.done_ms {
            return Answer::without_headers(Ok(JobStatus::Running {
                status: "processing".into(),
            }));
        }
        let (bot_job, fails, refunded) = (job.bot_job, job.fails, job.refunded);
        let result = match fails {
            Some(gives_back) => {
                if gives_back && !refunded {
                    // The vendor gives the credits back, once, and says so.
                    if let Some(job) = s.jobs.get_mut(&id.0) {
                        job.refunded = true;
                    }
                    let charged = s.charged.entry(bot_job).or_default();
                    *charged = charged.saturating_sub(COST);
                }
                Ok(JobStatus::Failed {
                    error: "the render failed".into(),
                    credit_cost: Some(if gives_back { 0 } else { COST as u32 }),
                })
            }
            None => Ok(JobStatus::Completed {
                video_url: format!("https://temp.pixeldojo.ai/out/{}.mp4", id.0),
                video_id: s.jobs.get(&id.0).and_then(|j| j.video_id.clone()),
                credit_cost: Some(COST as u32),
            }),
        };
        Answer::without_headers(result)
    }

    async fn download(&self, _url: &Url, max_bytes: u64) -> Result<Download, ApiError> {
        self.latency().await;
        match self.active_fault() {
            Some(VendorFault::Unreachable) => return Err(ApiError::NotSent("refused".into())),
            Some(VendorFault::Drops | VendorFault::ServerErrors) => {
                return Err(ApiError::Uncertain("reset".into()))
            }
            _ => {}
        }
        if self.roll(0.03) {
            return Ok(Download::TooLarge {
                size: Some(max_bytes + 1),
            });
        }
        Ok(Download::Complete(Bytes::from_static(
            b"\x00\x00\x00\x18ftypmp42 sim clip",
        )))
    }
}
