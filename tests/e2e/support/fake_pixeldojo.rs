//! A loopback fake of PixelDojo's job server for Gemini Omni Flash, as the vendor's API page
//! documents it: bearer-key auth, the run endpoint's validation, jobs that go
//! `pending` -> `processing` -> `completed`/`failed` over time, credits, a sliding-window rate
//! limit, temporary file URLs, and the documented error codes in the
//! `{"error":{"code":"...","message":"..."}}` shape.
//!
//! It is a test double of the outside world: it must never import the `omni_bot` crate, and it
//! uses only axum, tokio, serde_json, rand, bytes and futures so the benchmark can use it too.
//!
//! Time is real (`Instant`): a job's phase is computed from its submit time on every poll, so
//! thousands of jobs in flight cost no timers.

#![allow(dead_code)] // Each test binary uses a different part of the fake.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub const API_KEY: &str = "pd_test_key_123";
pub const MODEL: &str = "google-gemini-omni-flash";
/// Credits charged per accepted job, as on the vendor page.
pub const CREDIT_COST: i64 = 16;
pub const DEFAULT_CREDITS: i64 = 10_000;
pub const DEFAULT_RENDER_TIME: Duration = Duration::from_secs(1);
pub const DEFAULT_VIDEO_SIZE: usize = 64 * 1024;
/// `Recorded::status` of a request whose connection was closed without an HTTP answer.
pub const NO_RESPONSE: u16 = 0;

const RATE_WINDOW: Duration = Duration::from_secs(60);
/// A job is `pending` for this share of its render time, then `processing`.
const PENDING_SHARE: f64 = 0.3;

/// How the next submitted job behaves; consumed in order by [`FakePixelDojo::script_next_jobs`].
#[derive(Debug, Clone, Default)]
pub struct JobScript {
    /// `None`: the fake's current render time.
    pub render_time: Option<Duration>,
    pub outcome: Outcome,
    pub video_id: VideoIdPlacement,
    /// `None`: [`DEFAULT_VIDEO_SIZE`].
    pub video_size: Option<usize>,
    /// What the job costs: the `creditCost` of its submit answer and of its poll answers, and
    /// what is taken from the balance when it is accepted. `None`: [`CREDIT_COST`].
    pub credit_cost: Option<i64>,
    /// What a failed job's answer says it was charged, and what the balance shows in the end
    /// (only for [`Outcome::Fail`]).
    pub failed_charge: FailedCharge,
    /// The origin (`scheme://host:port`) a completed job's `output.video` points to instead
    /// of the fake's own, with the same `/files/...` path: a host that is not PixelDojo's, or
    /// does not resolve. The fake serves `/files/...` whatever host name it is reached by
    /// (`http://localhost:PORT` too), so a download from there shows in
    /// [`FakePixelDojo::requests`].
    pub file_origin: Option<String>,
}

/// What a failed job's answer reports as `creditCost`. The vendor page does not say whether a
/// failed job is refunded; the failed answer's `creditCost` is the only hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailedCharge {
    /// The answer reports the job's full cost, yet the credits come back to the balance when
    /// it fails (the fake's behaviour before scripts could choose).
    #[default]
    RefundedSilently,
    /// The answer reports `creditCost: n`, and in the end the job costs `n`: the rest of what
    /// was taken at the submit comes back when it fails (`Reported(0)`: all of it).
    Reported(i64),
    /// The answer has no `creditCost`, and the charge stays.
    Unreported,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outcome {
    #[default]
    Complete,
    /// The job fails with this message; what it costs in the end is its script's
    /// [`FailedCharge`] (by default its credits are refunded when it fails).
    Fail(String),
}

/// Where a completed job's `videoId` appears: the vendor page names `outputs.videoId` while its
/// example shows `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoIdPlacement {
    #[default]
    Output,
    Outputs,
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v1/models/{model}/run`
    Submit,
    /// `GET /api/v1/jobs/{id}`
    Poll,
    /// `GET /files/{id}.{ext}`
    Download,
}

/// A fault injected by [`FakePixelDojo::inject`]. Faults hit authenticated requests that pass
/// the rate limit (downloads need no auth), before any validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and `{"error":{"code":code,...}}`, plus `Retry-After` if set.
    /// The request has no other effect.
    Status {
        status: u16,
        code: &'static str,
        retry_after: Option<u64>,
    },
    /// A 200 whose body is cut-off JSON. A submit still takes effect (the job is created and
    /// charged: only the answer was garbled); a poll does not count as seeing the job.
    MalformedJson,
    /// Close the connection without any HTTP answer. A submit still takes effect (job created
    /// and charged); a poll does not count as seeing the job.
    DropAfterAccept,
    /// Handle the request normally (a submit creates its job at once), answer this much later.
    Delay(Duration),
    /// Like [`Fault::Status`], with exactly these headers instead of a `Retry-After` (each
    /// value computed when the answer is made): a 429 that says when to come back only in
    /// `X-RateLimit-Reset`, or one with an odd `Retry-After`. The request has no other effect.
    StatusWithHeaders {
        status: u16,
        code: &'static str,
        headers: Vec<(&'static str, HeaderText)>,
    },
}

/// A header value of a [`Fault::StatusWithHeaders`] answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderText {
    /// Sent as given (`"-5"`, `"NaN"`, ...).
    Literal(String),
    /// The Unix time this long after the answer, in milliseconds.
    EpochMillisIn(Duration),
    /// The Unix time this long after the answer, in whole seconds (rounded up).
    EpochSecondsIn(Duration),
}

impl HeaderText {
    pub fn literal(text: &str) -> Self {
        HeaderText::Literal(text.to_owned())
    }

    fn render(&self) -> String {
        let epoch = |after: &Duration| {
            (SystemTime::now() + *after)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        };
        match self {
            HeaderText::Literal(text) => text.clone(),
            HeaderText::EpochMillisIn(after) => epoch(after).as_millis().to_string(),
            HeaderText::EpochSecondsIn(after) => {
                (epoch(after).as_secs_f64().ceil() as u64).to_string()
            }
        }
    }
}

impl Fault {
    /// The vendor's 429 `rate_limited`, with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> Self {
        Fault::Status {
            status: 429,
            code: "rate_limited",
            retry_after: Some(secs),
        }
    }

    /// The vendor's 429 `rate_limited` with exactly these headers.
    pub fn rate_limited_with(headers: Vec<(&'static str, HeaderText)>) -> Self {
        Fault::StatusWithHeaders {
            status: 429,
            code: "rate_limited",
            headers,
        }
    }

    /// A status answer (with or without headers): the request has no other effect.
    fn is_status(&self) -> bool {
        matches!(self, Fault::Status { .. } | Fault::StatusWithHeaders { .. })
    }
}

impl Default for Fault {
    fn default() -> Self {
        Fault::Status {
            status: 500,
            code: "internal_error",
            retry_after: None,
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// The request body, when it was JSON.
    pub body: Option<Value>,
    /// The status answered, or [`NO_RESPONSE`] when the connection was dropped.
    pub status: u16,
    /// When the request arrived.
    pub at: Instant,
}

/// A snapshot of one accepted job.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: String,
    pub body: Value,
    pub created_at: Instant,
    pub completes_at: Instant,
    pub outcome: Outcome,
    /// The id a completed job returns (`None` when it fails or its script says `Missing`).
    pub video_id: Option<String>,
    pub video_id_placement: VideoIdPlacement,
    pub output_format: String,
    /// Polls answered normally (not faulted) for this job.
    pub poll_count: u64,
    /// When a poll first answered `completed` or `failed`.
    pub first_seen_completed_at: Option<Instant>,
    /// What the job was charged when it was accepted.
    pub credit_cost: i64,
}

/// The fake server. Clones share it; the server stops when the last clone is dropped or on
/// [`FakePixelDojo::shutdown`].
#[derive(Clone)]
pub struct FakePixelDojo {
    shared: Arc<Shared>,
    server: Arc<ServerTask>,
}

struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Shared {
    /// `http://127.0.0.1:PORT`
    origin: String,
    // A std mutex: every critical section is short and synchronous; answers are delayed or
    // dropped only after the lock is released.
    state: Mutex<FakeState>,
    submitted: Notify,
}

/// How long the fake renders a job, from its request body (see [`FakePixelDojo::set_render_model`]).
pub type RenderModel = Arc<dyn Fn(&Value) -> Duration + Send + Sync>;

struct FakeState {
    render_time: Duration,
    render_model: Option<RenderModel>,
    scripts: VecDeque<JobScript>,
    faults: HashMap<Endpoint, VecDeque<(Fault, usize)>>,
    rate_limit: Option<u32>,
    /// Length of the sliding window ([`RATE_WINDOW`] unless a time-compressed benchmark shrinks it).
    rate_window: Duration,
    /// Arrival times of the authenticated requests admitted in the current window.
    window: VecDeque<Instant>,
    credits: i64,
    requests: Vec<Recorded>,
    submissions: Vec<Value>,
    jobs: Vec<Job>,
    job_index: HashMap<String, usize>,
    /// videoId -> index of the job that produced it.
    video_ids: HashMap<String, usize>,
    /// Failed jobs whose credits come back at `completes_at`.
    pending_refunds: Vec<(Instant, i64)>,
    count_429: usize,
}

struct Job {
    id: String,
    body: Value,
    created_at: Instant,
    completes_at: Instant,
    outcome: Outcome,
    placement: VideoIdPlacement,
    video_id: Option<String>,
    video_size: usize,
    format: String,
    poll_count: u64,
    first_seen_completed_at: Option<Instant>,
    credit_cost: i64,
    failed_charge: FailedCharge,
    file_origin: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Processing,
    Done,
}

impl Job {
    fn phase(&self, now: Instant) -> Phase {
        if now >= self.completes_at {
            return Phase::Done;
        }
        let render = self.completes_at - self.created_at;
        if now - self.created_at >= render.mul_f64(PENDING_SHARE) {
            Phase::Processing
        } else {
            Phase::Pending
        }
    }

    fn view(&self) -> JobView {
        JobView {
            id: self.id.clone(),
            body: self.body.clone(),
            created_at: self.created_at,
            completes_at: self.completes_at,
            outcome: self.outcome.clone(),
            video_id: self.video_id.clone(),
            video_id_placement: self.placement,
            output_format: self.format.clone(),
            poll_count: self.poll_count,
            first_seen_completed_at: self.first_seen_completed_at,
            credit_cost: self.credit_cost,
        }
    }
}

/// What to send back, decided under the lock and carried out after it is released.
struct Reply {
    status: u16,
    headers: Vec<(HeaderName, String)>,
    body: Bytes,
    delay: Option<Duration>,
    drop_connection: bool,
}

impl Reply {
    fn json(status: u16, value: Value) -> Self {
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE, "application/json".into())],
            body: Bytes::from(value.to_string()),
            delay: None,
            drop_connection: false,
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Reply::json(status, json!({"error": {"code": code, "message": message}}))
    }

    fn malformed() -> Self {
        Reply {
            status: 200,
            headers: vec![(header::CONTENT_TYPE, "application/json".into())],
            body: Bytes::from_static(br#"{"jobId": "job_"#),
            delay: None,
            drop_connection: false,
        }
    }
}

impl FakePixelDojo {
    /// Starts the fake on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::start_on(listener).await
    }

    /// Starts the fake on a listener you bound, e.g. to restart on the same port. State is
    /// fresh: jobs of an earlier fake are unknown to this one.
    pub async fn start_on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            origin: format!("http://{addr}"),
            state: Mutex::new(FakeState {
                render_time: DEFAULT_RENDER_TIME,
                render_model: None,
                scripts: VecDeque::new(),
                faults: HashMap::new(),
                rate_limit: None,
                rate_window: RATE_WINDOW,
                window: VecDeque::new(),
                credits: DEFAULT_CREDITS,
                requests: Vec::new(),
                submissions: Vec::new(),
                jobs: Vec::new(),
                job_index: HashMap::new(),
                video_ids: HashMap::new(),
                pending_refunds: Vec::new(),
                count_429: 0,
            }),
            submitted: Notify::new(),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            // Ends only when aborted, or if the listener fails, which ends the fake.
            let _ = axum::serve(listener, router).await;
        });
        FakePixelDojo {
            shared,
            server: Arc::new(ServerTask(task)),
        }
    }

    /// `http://127.0.0.1:PORT/api/v1`
    pub fn base_url(&self) -> String {
        format!("{}/api/v1", self.shared.origin)
    }

    /// `http://127.0.0.1:PORT`, where the files are served too.
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    /// Stops accepting connections (connections already open may finish their request).
    pub fn shutdown(&self) {
        self.server.0.abort();
    }

    /// Render time of jobs submitted from now on without a script (default 1 s).
    pub fn set_render_time(&self, d: Duration) {
        self.lock().render_time = d;
    }

    /// Render time as a function of the request body (e.g. longer clips take longer), used
    /// for every job whose script does not set one; `None` goes back to the fixed time.
    pub fn set_render_model(&self, model: Option<RenderModel>) {
        self.lock().render_model = model;
    }

    /// Per-job overrides, consumed one per accepted job, in order, after any queued earlier.
    pub fn script_next_jobs(&self, scripts: Vec<JobScript>) {
        self.lock().scripts.extend(scripts);
    }

    /// The next `times` requests to `on` get `fault`, after any faults queued earlier.
    pub fn inject(&self, on: Endpoint, fault: Fault, times: usize) {
        if times > 0 {
            self.lock()
                .faults
                .entry(on)
                .or_default()
                .push_back((fault, times));
        }
    }

    /// A sliding 60 s window over all authenticated requests; `None` removes the limit.
    pub fn set_rate_limit(&self, per_minute: Option<u32>) {
        let mut state = self.lock();
        state.rate_limit = per_minute;
        state.window.clear();
    }

    /// The rate limit's window (default 60 s), for benchmarks that compress time.
    pub fn set_rate_window(&self, window: Duration) {
        let mut state = self.lock();
        state.rate_window = window;
        state.window.clear();
    }

    pub fn set_credits(&self, n: i64) {
        self.lock().credits = n;
    }

    /// Credits left now (refunds of jobs that have failed by now included).
    pub fn credits(&self) -> i64 {
        let mut state = self.lock();
        state.settle_refunds(Instant::now());
        state.credits
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Bodies of accepted run requests, in order.
    pub fn submissions(&self) -> Vec<Value> {
        self.lock().submissions.clone()
    }

    pub fn jobs(&self) -> Vec<JobView> {
        self.lock().jobs.iter().map(Job::view).collect()
    }

    /// The bytes served for a job's file (empty for an unknown job).
    pub fn video_bytes(&self, job_id: &str) -> Vec<u8> {
        let state = self.lock();
        match state.job_index.get(job_id) {
            Some(&i) => {
                let job = &state.jobs[i];
                fake_video(&job.id, &job.format, job.video_size)
            }
            None => Vec::new(),
        }
    }

    pub fn count_429(&self) -> usize {
        self.lock().count_429
    }

    /// Waits until at least `n` run requests were accepted; false on timeout.
    pub async fn wait_for_submissions(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.submitted.notified();
            tokio::pin!(notified);
            // Register before checking, so a submission between the check and the wait
            // is not missed.
            notified.as_mut().enable();
            if self.lock().submissions.len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().submissions.len() >= n;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.shared.lock()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // A panicking test must not take every other test's fake down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl FakeState {
    fn settle_refunds(&mut self, now: Instant) {
        let mut refunded = 0;
        self.pending_refunds.retain(|&(at, amount)| {
            let due = at <= now;
            if due {
                refunded += amount;
            }
            !due
        });
        self.credits += refunded;
    }

    fn take_fault(&mut self, on: Endpoint) -> Option<Fault> {
        let queue = self.faults.get_mut(&on)?;
        let (fault, left) = queue.front_mut()?;
        let fault = fault.clone();
        *left -= 1;
        if *left == 0 {
            queue.pop_front();
        }
        Some(fault)
    }

    /// Admits the request into the window, or answers 429. Returns the headers to add.
    fn rate_limit(&mut self, now: Instant) -> Result<Vec<(HeaderName, String)>, Reply> {
        let Some(limit) = self.rate_limit else {
            return Ok(Vec::new());
        };
        while self
            .window
            .front()
            .is_some_and(|&t| now.duration_since(t) >= self.rate_window)
        {
            self.window.pop_front();
        }
        let admitted = (self.window.len() as u32) < limit;
        if admitted {
            self.window.push_back(now);
        }
        let frees_at = self
            .window
            .front()
            .map_or(now + self.rate_window, |&t| t + self.rate_window);
        let wait = frees_at.saturating_duration_since(now);
        let reset_epoch = (SystemTime::now() + wait)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            .ceil() as u64;
        let remaining = limit.saturating_sub(self.window.len() as u32);
        let mut headers = vec![
            (
                HeaderName::from_static("x-ratelimit-limit"),
                limit.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-remaining"),
                remaining.to_string(),
            ),
            (
                HeaderName::from_static("x-ratelimit-reset"),
                reset_epoch.to_string(),
            ),
        ];
        if admitted {
            return Ok(headers);
        }
        self.count_429 += 1;
        let retry_after = wait.as_secs_f64().ceil().max(1.0) as u64;
        headers.push((header::RETRY_AFTER, retry_after.to_string()));
        let mut reply = Reply::error(
            429,
            "rate_limited",
            &format!("Too many requests: limit is {limit} per minute"),
        );
        reply.headers.extend(headers);
        Err(reply)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let reply = {
        let mut state = shared.lock();
        state.settle_refunds(now);
        let reply = decide(
            &shared.origin,
            &mut state,
            now,
            &method,
            uri.path(),
            &headers,
            &body,
        );
        state.requests.push(Recorded {
            method: method.to_string(),
            path: uri.path().to_owned(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: serde_json::from_slice(&body).ok(),
            status: if reply.drop_connection {
                NO_RESPONSE
            } else {
                reply.status
            },
            at: now,
        });
        reply
    };
    if reply.drop_connection {
        shared.submitted.notify_waiters();
        // axum runs the handler inside the connection's task: unwinding it drops the socket,
        // so the client sees the connection close with no HTTP answer. `resume_unwind` skips
        // the panic hook, so nothing is printed, and no lock is held here.
        std::panic::resume_unwind(Box::new("fake PixelDojo: DropAfterAccept"));
    }
    if reply.status == 200 {
        shared.submitted.notify_waiters();
    }
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn decide(
    origin: &str,
    state: &mut FakeState,
    now: Instant,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    if let Some(file) = path.strip_prefix("/files/") {
        return download(state, now, method, file);
    }
    let Some(route) = path.strip_prefix("/api/v1/") else {
        return Reply::error(404, "not_found", "Not found");
    };
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {API_KEY}"));
    if !authorized {
        return Reply::error(401, "unauthorized", "Invalid or missing API key");
    }
    let rate_headers = match state.rate_limit(now) {
        Ok(headers) => headers,
        Err(reply) => return reply,
    };
    let segments: Vec<&str> = route.split('/').collect();
    let mut reply = match segments.as_slice() {
        ["models", model, "run"] if method == Method::POST => {
            submit(origin, state, now, model, body)
        }
        ["jobs", id] if method == Method::GET => poll(origin, state, now, id),
        ["models", _, "run"] | ["jobs", _] => {
            Reply::error(405, "method_not_allowed", "Method not allowed")
        }
        _ => Reply::error(404, "not_found", "Not found"),
    };
    reply.headers.extend(rate_headers);
    reply
}

fn submit(origin: &str, state: &mut FakeState, now: Instant, model: &str, body: &[u8]) -> Reply {
    let fault = state.take_fault(Endpoint::Submit);
    if let Some(fault) = fault.as_ref().filter(|f| f.is_status()) {
        return fault_status(fault);
    }
    let mut reply = accept_run(origin, state, now, model, body);
    match fault {
        Some(Fault::MalformedJson) => reply = Reply::malformed(),
        Some(Fault::DropAfterAccept) => reply.drop_connection = true,
        Some(Fault::Delay(d)) => reply.delay = Some(d),
        Some(Fault::Status { .. } | Fault::StatusWithHeaders { .. }) | None => {}
    }
    reply
}

fn accept_run(
    origin: &str,
    state: &mut FakeState,
    now: Instant,
    model: &str,
    body: &[u8],
) -> Reply {
    if model != MODEL {
        return Reply::error(
            404,
            "model_not_found",
            &format!("Model '{model}' not found"),
        );
    }
    let body: Value = match serde_json::from_slice(body) {
        Ok(value @ Value::Object(_)) => value,
        _ => return invalid("Request body must be a JSON object"),
    };
    if let Err(message) = validate(state, now, &body) {
        return invalid(&message);
    }
    let cost = state
        .scripts
        .front()
        .and_then(|s| s.credit_cost)
        .unwrap_or(CREDIT_COST);
    if state.credits < cost {
        return Reply::error(
            402,
            "insufficient_credits",
            &format!(
                "Not enough credits: this model costs {cost}, {} remaining",
                state.credits
            ),
        );
    }
    let script = state.scripts.pop_front().unwrap_or_default();
    let render_time = script
        .render_time
        .unwrap_or_else(|| match &state.render_model {
            Some(model) => model(&body),
            None => state.render_time,
        });
    let id = format!("job_{}", random_id());
    let completes_at = now + render_time;
    let video_id = (script.outcome == Outcome::Complete
        && script.video_id != VideoIdPlacement::Missing)
        .then(|| format!("vid_{}", random_id()));
    let format = body
        .get("output_format")
        .and_then(Value::as_str)
        .unwrap_or("mp4")
        .to_owned();
    state.credits -= cost;
    let refund = match (&script.outcome, script.failed_charge) {
        (Outcome::Complete, _) | (_, FailedCharge::Unreported) => 0,
        (Outcome::Fail(_), FailedCharge::RefundedSilently) => cost,
        (Outcome::Fail(_), FailedCharge::Reported(charged)) => (cost - charged).clamp(0, cost),
    };
    if refund > 0 {
        state.pending_refunds.push((completes_at, refund));
    }
    let index = state.jobs.len();
    if let Some(vid) = &video_id {
        state.video_ids.insert(vid.clone(), index);
    }
    state.job_index.insert(id.clone(), index);
    state.submissions.push(body.clone());
    state.jobs.push(Job {
        id: id.clone(),
        body,
        created_at: now,
        completes_at,
        outcome: script.outcome,
        placement: script.video_id,
        video_id,
        video_size: script.video_size.unwrap_or(DEFAULT_VIDEO_SIZE),
        format,
        poll_count: 0,
        first_seen_completed_at: None,
        credit_cost: cost,
        failed_charge: script.failed_charge,
        file_origin: script.file_origin,
    });
    Reply::json(
        200,
        json!({
            "jobId": id,
            "status": "pending",
            "statusUrl": format!("{origin}/api/v1/jobs/{id}"),
            "creditCost": cost,
            "creditsRemaining": state.credits,
        }),
    )
}

fn invalid(message: &str) -> Reply {
    Reply::error(400, "invalid_request", message)
}

/// The run endpoint's rules from the vendor page's parameter table.
fn validate(state: &FakeState, now: Instant, body: &Value) -> Result<(), String> {
    let field = |name: &str| body.get(name).filter(|v| !v.is_null());
    match field("prompt").and_then(Value::as_str) {
        Some(p) if !p.trim().is_empty() => {}
        _ => return Err("prompt is required".into()),
    }
    let url_field = |name: &str| -> Result<bool, String> {
        match field(name) {
            None => Ok(false),
            Some(Value::String(u)) if is_http_url(u) => Ok(true),
            Some(_) => Err(format!("{name} must be an http(s) URL")),
        }
    };
    let has_image = url_field("image")?;
    let has_video = url_field("video")?;
    let has_video_id = match field("video_id") {
        None => false,
        Some(Value::String(id)) if !id.is_empty() => {
            let known = state
                .video_ids
                .get(id)
                .is_some_and(|&i| state.jobs[i].phase(now) == Phase::Done);
            if !known {
                return Err(format!("video_id '{id}' was not found"));
            }
            true
        }
        Some(_) => return Err("video_id must be a string".into()),
    };
    let references = match field("reference_images") {
        None => 0,
        Some(Value::Array(items)) => {
            if !items.iter().all(|i| i.as_str().is_some_and(is_http_url)) {
                return Err("reference_images must be http(s) URLs".into());
            }
            items.len()
        }
        Some(_) => return Err("reference_images must be an array of URLs".into()),
    };
    if references > 7 {
        return Err("reference_images accepts at most 7 images".into());
    }
    if references > 5 && (has_video || has_video_id) {
        return Err("reference_images accepts at most 5 images when editing a video".into());
    }
    if has_video_id && (has_image || has_video || field("duration").is_some()) {
        return Err("video_id cannot be combined with image, video or duration".into());
    }
    if let Some(ratio) = field("aspect_ratio") {
        if !matches!(ratio.as_str(), Some("16:9" | "9:16")) {
            return Err("aspect_ratio must be one of 16:9, 9:16".into());
        }
    }
    if let Some(duration) = field("duration") {
        if !duration.as_i64().is_some_and(|d| (3..=10).contains(&d)) {
            return Err("duration must be an integer from 3 to 10".into());
        }
    }
    if let Some(format) = field("output_format") {
        if !matches!(format.as_str(), Some("mp4" | "webm" | "mov")) {
            return Err("output_format must be one of mp4, webm, mov".into());
        }
    }
    if let Some(seed) = field("seed") {
        if seed.as_i64().is_none() {
            return Err("seed must be an integer".into());
        }
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !r.chars().any(char::is_whitespace)
    })
}

fn poll(origin: &str, state: &mut FakeState, now: Instant, id: &str) -> Reply {
    let delay = match reading_fault(state.take_fault(Endpoint::Poll)) {
        Ok(delay) => delay,
        Err(reply) => return reply,
    };
    let Some(&index) = state.job_index.get(id) else {
        return Reply::error(404, "not_found", &format!("Job '{id}' not found"));
    };
    let job = &mut state.jobs[index];
    let phase = job.phase(now);
    job.poll_count += 1;
    if phase == Phase::Done && job.first_seen_completed_at.is_none() {
        job.first_seen_completed_at = Some(now);
    }
    let cost = job.credit_cost;
    let answer = match (phase, &job.outcome) {
        (Phase::Pending, _) => {
            json!({"jobId": job.id, "status": "pending", "creditCost": cost})
        }
        (Phase::Processing, _) => {
            json!({"jobId": job.id, "status": "processing", "creditCost": cost})
        }
        (Phase::Done, Outcome::Fail(message)) => {
            let mut answer = json!({"jobId": job.id, "status": "failed", "error": message});
            match job.failed_charge {
                FailedCharge::RefundedSilently => answer["creditCost"] = json!(cost),
                FailedCharge::Reported(charged) => answer["creditCost"] = json!(charged),
                FailedCharge::Unreported => {}
            }
            answer
        }
        (Phase::Done, Outcome::Complete) => {
            let files = job.file_origin.as_deref().unwrap_or(origin);
            let video = format!("{files}/files/{}.{}", job.id, job.format);
            let mut answer = json!({
                "jobId": job.id,
                "status": "completed",
                "output": {"video": video},
                "creditCost": cost,
            });
            match (job.placement, &job.video_id) {
                (VideoIdPlacement::Output, Some(vid)) => answer["output"]["videoId"] = json!(vid),
                (VideoIdPlacement::Outputs, Some(vid)) => {
                    answer["outputs"] = json!({"videoId": vid})
                }
                _ => {}
            }
            answer
        }
    };
    Reply {
        delay,
        ..Reply::json(200, answer)
    }
}

fn download(state: &mut FakeState, now: Instant, method: &Method, file: &str) -> Reply {
    let delay = match reading_fault(state.take_fault(Endpoint::Download)) {
        Ok(delay) => delay,
        Err(reply) => return reply,
    };
    let not_found = || Reply::error(404, "not_found", "File not found");
    if method != Method::GET {
        return Reply::error(405, "method_not_allowed", "Method not allowed");
    }
    let Some((id, ext)) = file.rsplit_once('.') else {
        return not_found();
    };
    let Some(&index) = state.job_index.get(id) else {
        return not_found();
    };
    let job = &state.jobs[index];
    if job.format != ext || job.outcome != Outcome::Complete || job.phase(now) != Phase::Done {
        return not_found();
    }
    let content_type = match ext {
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => "video/mp4",
    };
    let bytes = fake_video(&job.id, &job.format, job.video_size);
    Reply {
        status: 200,
        headers: vec![(header::CONTENT_TYPE, content_type.into())],
        body: Bytes::from(bytes),
        delay,
        drop_connection: false,
    }
}

/// A fault on a request that only reads (a poll, a download): `Err` with the reply that
/// replaces the real answer, or `Ok` with how long the real answer is delayed.
fn reading_fault(fault: Option<Fault>) -> Result<Option<Duration>, Reply> {
    match fault {
        Some(fault @ (Fault::Status { .. } | Fault::StatusWithHeaders { .. })) => {
            Err(fault_status(&fault))
        }
        Some(Fault::MalformedJson) => Err(Reply::malformed()),
        Some(Fault::DropAfterAccept) => Err(Reply {
            drop_connection: true,
            ..Reply::malformed()
        }),
        Some(Fault::Delay(d)) => Ok(Some(d)),
        None => Ok(None),
    }
}

fn fault_status(fault: &Fault) -> Reply {
    match fault {
        Fault::Status {
            status,
            code,
            retry_after,
        } => {
            let mut reply = Reply::error(*status, code, &format!("Injected fault: {code}"));
            if let Some(seconds) = retry_after {
                reply
                    .headers
                    .push((header::RETRY_AFTER, seconds.to_string()));
            }
            reply
        }
        Fault::StatusWithHeaders {
            status,
            code,
            headers,
        } => {
            let mut reply = Reply::error(*status, code, &format!("Injected fault: {code}"));
            for (name, value) in headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .unwrap_or_else(|_| panic!("not a header name: {name}"));
                reply.headers.push((name, value.render()));
            }
            reply
        }
        _ => unreachable!("only called with a status fault"),
    }
}

fn random_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Deterministic file contents: a container signature for the format, then a pseudo-random
/// body seeded by the job id, `size` bytes in all.
fn fake_video(job_id: &str, format: &str, size: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = match format {
        "webm" => vec![0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01],
        "mov" => [&[0, 0, 0, 0x14][..], b"ftypqt  ", &[0, 0, 0x02, 0], b"qt  "].concat(),
        _ => [
            &[0, 0, 0, 0x18][..],
            b"ftypisom",
            &[0, 0, 0x02, 0],
            b"isomiso2",
        ]
        .concat(),
    };
    // FNV-1a of the id seeds a xorshift64* stream.
    let mut seed = job_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    seed |= 1;
    bytes.reserve(size.saturating_sub(bytes.len()));
    while bytes.len() < size {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let word = seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = (size - bytes.len()).min(8);
        bytes.extend_from_slice(&word[..take]);
    }
    bytes.truncate(size);
    bytes
}
