//! The background worker that takes a job from "accepted" to "a video or a reason in Discord".
//!
//! Each job runs in its own task that walks the [`JobState`] machine, writing every state to the
//! store before the side effect it leads to. Polling is not done by the jobs on their own timers:
//! one scheduler loop owns the poll budget and, at each slot, wakes the job most likely to have
//! finished ([`crate::scheduler`]). The tracker never talks to Discord itself; it goes through a
//! [`Notifier`], which the Discord adapter implements.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::{debug, error, info, warn, Instrument};

use crate::budget::{Budget, Priority};
use crate::job::{Job, JobId, JobState, ParentRef, Place, NO_VIDEO_ID, UNCERTAIN_SUBMIT};
use crate::pixeldojo::{ApiError, Download, JobStatus, PixelDojoClient, RunRequest};
use crate::queue::{self, Entry, Phase, Verdict};
use crate::request::GenerationRequest;
use crate::scheduler::{self, Candidate, RenderModel, Strategy, Tuning};
use crate::store::{ClipRecord, Store};

/// How the tracker tells the outside world about a job.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// Opens the conversation for a new job (status message and thread, or in place).
    async fn open(&self, job: &Job) -> Result<Place, NotifyError>;
    /// Shows progress; called at most every few seconds.
    async fn progress(&self, job: &Job, progress: &Progress) -> Result<(), NotifyError>;
    /// Posts the finished clip; returns the message id. Must be idempotent per job.
    async fn deliver(
        &self,
        job: &Job,
        clip: &ClipFile,
        version: &Version,
    ) -> Result<Posted, NotifyError>;
    /// Posts why the job ended without a clip; returns the message id. Idempotent per job.
    async fn fail(&self, job: &Job, reason: &str) -> Result<Posted, NotifyError>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Waiting in line; `position` 1 is next.
    Queued {
        position: usize,
        behind_conversation: bool,
    },
    Submitting,
    Rendering {
        elapsed_ms: i64,
        expected_ms: i64,
        status: String,
    },
    Delivering,
}

#[derive(Debug, Clone)]
pub enum ClipFile {
    /// The file itself; `url` is PixelDojo's temporary link to it, for when uploading fails.
    Upload {
        data: Bytes,
        filename: String,
        url: String,
    },
    Link {
        url: String,
        why: LinkReason,
    },
}

impl ClipFile {
    /// PixelDojo's temporary link to the clip.
    pub fn url(&self) -> &str {
        match self {
            Self::Upload { url, .. } | Self::Link { url, .. } => url,
        }
    }
}

/// Where a final message landed (a thread, or its parent channel when the thread was gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    pub message_id: u64,
    pub channel_id: u64,
}

/// A clip's place in its conversation's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `v1`, `v2`, `v1.1`, ...
    pub label: String,
    /// The label of the clip it continued.
    pub parent_label: Option<String>,
    /// Whether PixelDojo gave an id to continue this clip from.
    pub can_continue: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkReason {
    TooLarge,
    DownloadFailed,
    /// The bot may post but not attach files there.
    NoAttachPermission,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Discord refused the upload as too large (413 / 40005).
    #[error("the file is larger than Discord accepts here")]
    TooLarge,
    /// The bot lacks a permission where it posts (403 / 50013 or 50001).
    #[error("the bot is missing a permission there")]
    MissingPermission,
    #[error("{0}")]
    Other(String),
}

/// What the tracker needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct TrackerSettings {
    /// Expected render time for a kind of request never seen before.
    pub prior_render: Duration,
    pub job_timeout: Duration,
    pub progress_every: Duration,
    pub strategy: Strategy,
    pub tuning: Tuning,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            prior_render: Duration::from_secs(60),
            job_timeout: Duration::from_secs(15 * 60),
            progress_every: Duration::from_secs(5),
            strategy: Strategy::Scheduled,
            tuning: Tuning::default(),
        }
    }
}

/// Something the tracker did, for usage accounting, alerts and metrics.
#[derive(Debug)]
pub enum TrackerEvent<'a> {
    /// The job moved to `job.state` from the state named `from`.
    StateChanged { job: &'a Job, from: &'static str },
    /// PixelDojo accepted the job.
    Submitted {
        job: &'a Job,
        credit_cost: Option<u32>,
        credits_remaining: Option<i64>,
    },
    /// One request to PixelDojo and how it ended (`ok`, `rate_limited`, `error`, ...).
    Request {
        endpoint: &'static str,
        outcome: &'static str,
    },
    /// The clip finished rendering after `render_ms` (as first seen by a poll).
    Rendered { job: &'a Job, render_ms: i64 },
    /// The clip was posted `delay_ms` after the poll that saw it finished.
    Delivered {
        job: &'a Job,
        delay_ms: i64,
        as_link: bool,
    },
}

pub type EventHook = Arc<dyn Fn(&TrackerEvent<'_>) + Send + Sync>;

/// How many jobs a user may have running at once, given one of their jobs.
pub type ConcurrencyLimit = Arc<dyn Fn(&Job) -> usize + Send + Sync>;

/// Why a job could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("That request is not waiting any more: once a clip is sent to PixelDojo it can't be cancelled.")]
    NotQueued,
    #[error("Only the person who asked for this clip can cancel it.")]
    NotYours,
}

struct PollSlot {
    submitted_at_ms: i64,
    last_poll_at_ms: Option<i64>,
    hold_until_ms: i64,
    model: RenderModel,
    turn: Arc<Notify>,
}

struct Inner<N> {
    store: Store,
    api: PixelDojoClient,
    notifier: N,
    budget: Budget,
    settings: TrackerSettings,
    /// Running jobs waiting for a poll turn. A std mutex: held for map operations only.
    polling: Mutex<HashMap<JobId, PollSlot>>,
    /// Jobs with a live task, so a job is never driven twice.
    driving: Mutex<std::collections::HashSet<JobId>>,
    /// Every live job's place in the line; changes wake `queue_changed`.
    entries: Mutex<HashMap<JobId, Entry>>,
    queue_changed: Notify,
    cancelled: Mutex<std::collections::HashSet<JobId>>,
    concurrency: Mutex<ConcurrencyLimit>,
    hooks: Mutex<Vec<EventHook>>,
    stop: watch::Sender<bool>,
    /// Clip posts between their request to Discord and their record in the store.
    posting_clips: AtomicUsize,
}

/// Counts one clip post in [`Inner::posting_clips`] for as long as it lives.
struct PostingClip<'a>(&'a AtomicUsize);

impl<'a> PostingClip<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for PostingClip<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Cheap to clone; all clones drive the same jobs.
pub struct Tracker<N> {
    inner: Arc<Inner<N>>,
}

impl<N> Clone for Tracker<N> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The vendor's JSON body for a validated request.
pub fn run_request(req: &GenerationRequest) -> RunRequest {
    RunRequest {
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

enum Step {
    Continue(Box<Job>),
    Stop,
}

impl<N: Notifier> Tracker<N> {
    pub fn new(
        store: Store,
        api: PixelDojoClient,
        notifier: N,
        budget: Budget,
        settings: TrackerSettings,
    ) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                api,
                notifier,
                budget,
                settings,
                polling: Mutex::new(HashMap::new()),
                driving: Mutex::new(Default::default()),
                entries: Mutex::new(HashMap::new()),
                queue_changed: Notify::new(),
                cancelled: Mutex::new(Default::default()),
                concurrency: Mutex::new(Arc::new(|_: &Job| usize::MAX)),
                hooks: Mutex::new(Vec::new()),
                stop,
                posting_clips: AtomicUsize::new(0),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn notifier(&self) -> &N {
        &self.inner.notifier
    }

    /// Registers a hook that sees every [`TrackerEvent`].
    pub fn subscribe(&self, hook: EventHook) {
        lock(&self.inner.hooks).push(hook);
    }

    /// Sets how many jobs a user may have running at once (default: no limit).
    pub fn set_concurrency_limit(&self, limit: ConcurrencyLimit) {
        *lock(&self.inner.concurrency) = limit;
    }

    fn emit(&self, event: TrackerEvent<'_>) {
        let hooks = lock(&self.inner.hooks).clone();
        for hook in hooks {
            hook(&event);
        }
    }

    /// Withdraws a job that is still waiting in line. It ends with a message and a refund.
    pub fn cancel(&self, id: JobId, by_user: u64) -> Result<(), CancelError> {
        let entries = lock(&self.inner.entries);
        match entries.get(&id) {
            Some(e) if e.user_id != by_user => Err(CancelError::NotYours),
            Some(e) if matches!(e.phase, Phase::Queued | Phase::Opening) => {
                lock(&self.inner.cancelled).insert(id);
                drop(entries);
                self.inner.queue_changed.notify_waiters();
                Ok(())
            }
            _ => Err(CancelError::NotQueued),
        }
    }

    /// Whether a job in this conversation has not ended yet.
    pub fn conversation_busy(&self, conversation: u64) -> bool {
        lock(&self.inner.entries).values().any(|e| {
            e.phase != Phase::Done
                && (e.conversation == Some(conversation) || e.follows_in == Some(conversation))
        })
    }

    /// Whether a clip is being posted and not yet recorded: users can already see it and reply.
    pub fn posting_clip(&self) -> bool {
        self.inner.posting_clips.load(Ordering::SeqCst) > 0
    }

    /// Whether this job has not ended yet.
    pub fn job_open(&self, id: JobId) -> bool {
        lock(&self.inner.entries)
            .get(&id)
            .is_some_and(|e| e.phase != Phase::Done)
    }

    /// The user's jobs that are running and waiting.
    pub fn user_jobs(&self, user_id: u64) -> (usize, usize) {
        let entries = lock(&self.inner.entries);
        let mine = entries.values().filter(|e| e.user_id == user_id);
        let running = mine.clone().filter(|e| e.phase == Phase::Active).count();
        let queued = mine
            .filter(|e| matches!(e.phase, Phase::Queued | Phase::Opening))
            .count();
        (running, queued)
    }

    fn phase(state: &JobState) -> Phase {
        match state {
            JobState::Accepted => Phase::Opening,
            JobState::Queued => Phase::Queued,
            JobState::Submitting | JobState::Running { .. } | JobState::Delivering { .. } => {
                Phase::Active
            }
            JobState::Failing { .. } | JobState::Delivered { .. } | JobState::Failed { .. } => {
                Phase::Done
            }
        }
    }

    fn track_entry(&self, job: &Job) {
        let entry = Entry {
            id: job.id,
            user_id: job.user_id,
            follows_in: job.conversation,
            conversation: job
                .place
                .as_ref()
                .map(|p| p.channel_id)
                .or(job.conversation),
            phase: Self::phase(&job.state),
        };
        lock(&self.inner.entries).insert(job.id, entry);
        self.inner.queue_changed.notify_waiters();
    }

    /// Starts the poll scheduler; call once.
    pub fn start(&self) {
        let this = self.clone();
        tokio::spawn(async move { this.poll_loop().await });
    }

    /// Stores a new job and starts driving it.
    pub async fn accept(&self, job: Job) -> crate::store::Result<()> {
        self.inner.store.put_job_durable(&job).await?;
        self.drive(job);
        Ok(())
    }

    /// Picks up every job that was in flight when the bot stopped. Returns how many.
    pub fn resume(&self) -> crate::store::Result<usize> {
        let jobs = self.inner.store.active_jobs()?;
        let n = jobs.len();
        for mut job in jobs {
            let state = std::mem::replace(&mut job.state, JobState::Accepted);
            job.state = state.after_restart();
            info!(job = job.id, state = job.state.name(), "resuming job");
            self.drive(job);
        }
        Ok(n)
    }

    /// Asks every job task to stop at its next safe point (state persisted).
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
    }

    /// True once [`Tracker::shutdown`] was called: no new work is accepted.
    pub fn is_stopping(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Waits until every job task has reached a persisted point and stopped, or `limit` passes.
    /// Waiting jobs stop at once; a job in the middle of an upload finishes it first.
    pub async fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        while self.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.in_flight()
    }

    /// Jobs with a live task.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.driving).len()
    }

    fn drive(&self, job: Job) {
        if !lock(&self.inner.driving).insert(job.id) {
            debug!(job = job.id, "already driving");
            return;
        }
        self.track_entry(&job);
        let this = self.clone();
        let span = tracing::info_span!(
            "job",
            job = job.id,
            guild = job.guild_id,
            user = job.user_id
        );
        tokio::spawn(
            async move {
                let id = job.id;
                let mut job = job;
                let mut stop = this.inner.stop.subscribe();
                loop {
                    if *stop.borrow_and_update() {
                        if job.state == JobState::Submitting {
                            // A submit step always ends past `Submitting`, so this job was
                            // never sent: back in line, or the next start calls it uncertain.
                            job.state = JobState::Queued;
                            this.persist(&job).await;
                        }
                        info!(
                            state = job.state.name(),
                            "stopping; the job resumes at the next start"
                        );
                        break;
                    }
                    if job.state.is_final() {
                        break;
                    }
                    match this.step(job).await {
                        Step::Continue(next) => job = *next,
                        Step::Stop => break,
                    }
                }
                lock(&this.inner.polling).remove(&id);
                lock(&this.inner.driving).remove(&id);
                lock(&this.inner.entries).remove(&id);
                lock(&this.inner.cancelled).remove(&id);
                this.inner.queue_changed.notify_waiters();
            }
            .instrument(span),
        );
    }

    async fn persist(&self, job: &Job) -> bool {
        match self.inner.store.put_job_durable(job).await {
            Ok(()) => true,
            Err(e) => {
                error!(error = %e, "cannot persist the job; stopping it until the next start");
                false
            }
        }
    }

    async fn set_state(&self, mut job: Job, state: JobState) -> Step {
        let from = job.state.name();
        debug!(from, to = state.name(), "state");
        job.state = state;
        if !self.persist(&job).await {
            return Step::Stop;
        }
        self.track_entry(&job);
        self.emit(TrackerEvent::StateChanged { job: &job, from });
        Step::Continue(Box::new(job))
    }

    async fn step(&self, job: Job) -> Step {
        match job.state.clone() {
            JobState::Accepted => self.open(job).await,
            JobState::Queued => self.wait_turn(job).await,
            JobState::Submitting => self.submit(job).await,
            JobState::Running {
                vendor_job_id,
                submitted_at_ms,
            } => self.track(job, vendor_job_id, submitted_at_ms).await,
            JobState::Delivering {
                video_url,
                video_id,
                ..
            } => self.deliver(job, video_url, video_id).await,
            JobState::Failing { reason, refund } => self.fail(job, reason, refund).await,
            JobState::Delivered { .. } | JobState::Failed { .. } => Step::Stop,
        }
    }

    async fn open(&self, mut job: Job) -> Step {
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=4 {
            match self.inner.notifier.open(&job).await {
                Ok(place) => {
                    job.place = Some(place);
                    return self.set_state(job, JobState::Queued).await;
                }
                Err(e) => {
                    warn!(attempt, error = %e, "cannot open the conversation");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        // Nothing was spent yet: end the job rather than pay for a clip nobody can see.
        self.set_state(
            job,
            JobState::Failing {
                reason: "I couldn't post in this channel, so I didn't start the clip. Check that I can send messages here.".into(),
                refund: true,
            },
        )
        .await
    }

    /// Waits in line until the user's concurrency and the conversation allow the job to start,
    /// telling the user where they stand; then resolves what a follow-up continues.
    async fn wait_turn(&self, mut job: Job) -> Step {
        let mut stop = self.inner.stop.subscribe();
        let mut told: Option<Verdict> = None;
        loop {
            let changed = self.inner.queue_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if lock(&self.inner.cancelled).remove(&job.id) {
                info!("cancelled while queued");
                return self
                    .set_state(
                        job,
                        JobState::Failing {
                            reason:
                                "you cancelled this request before it started; nothing was charged."
                                    .into(),
                            refund: true,
                        },
                    )
                    .await;
            }
            let limit = (lock(&self.inner.concurrency).clone())(&job);
            let verdict = {
                let mut entries = lock(&self.inner.entries);
                let all: Vec<Entry> = entries.values().cloned().collect();
                let verdict = match entries.get(&job.id) {
                    Some(me) => queue::verdict(me, &all, limit),
                    None => Verdict::Go,
                };
                // Claim the slot under the same lock: otherwise jobs deciding at the same
                // moment all see a free slot and more than `limit` start at once.
                if verdict == Verdict::Go {
                    if let Some(me) = entries.get_mut(&job.id) {
                        me.phase = Phase::Active;
                    }
                }
                verdict
            };
            if verdict == Verdict::Go {
                break;
            }
            if told != Some(verdict) {
                let progress = match verdict {
                    Verdict::BehindUser { position } => Progress::Queued {
                        position,
                        behind_conversation: false,
                    },
                    _ => Progress::Queued {
                        position: 1,
                        behind_conversation: true,
                    },
                };
                let _ = self.inner.notifier.progress(&job, &progress).await;
                told = Some(verdict);
            }
            tokio::select! {
                _ = &mut changed => {}
                // A limit can also change without any job moving (an admin raises it).
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => return Step::Stop,
            }
        }
        if let Some(parent) = job.continues {
            let conversation = job.conversation.unwrap_or(job.channel_id);
            let thread = self.inner.store.thread(conversation).ok().flatten();
            let clip = thread.as_ref().and_then(|t| match parent {
                ParentRef::Latest => t.clips.last(),
                ParentRef::Job(id) => t.clips.iter().find(|c| c.job_id == id),
            });
            match clip.and_then(|c| c.video_id.clone()) {
                Some(video_id) => {
                    job.request = job.request.with_video_id(video_id);
                    if let (ParentRef::Latest, Some(c)) = (parent, clip) {
                        // Pin the parent so a restart continues the same clip.
                        job.continues = Some(ParentRef::Job(c.job_id));
                    }
                }
                None => {
                    return self
                        .set_state(
                            job,
                            JobState::Failing {
                                reason: NO_VIDEO_ID.to_owned(),
                                refund: true,
                            },
                        )
                        .await;
                }
            }
        }
        // The resolved request (and pinned parent) is stored before anything is sent.
        if !self.persist(&job).await {
            return Step::Stop;
        }
        self.submit(job).await
    }

    /// Sends the job to PixelDojo. While it waits for a slot or a retry, the job is stored as
    /// `Queued` (nothing was sent); `Submitting` is stored only right before the request goes
    /// out, so a stop or a crash while waiting never makes a job look uncertain, and a crash
    /// during the request always does.
    async fn submit(&self, mut job: Job) -> Step {
        let _ = self
            .inner
            .notifier
            .progress(&job, &Progress::Submitting)
            .await;
        let body = run_request(&job.request);
        let mut not_sent_retries = 0;
        let mut rate_limited_retries = 0;
        let mut stop = self.inner.stop.subscribe();
        loop {
            if job.state != JobState::Queued {
                job.state = JobState::Queued;
                if !self.persist(&job).await {
                    return Step::Stop;
                }
            }
            tokio::select! {
                biased;
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return Step::Stop,
                _ = self.inner.budget.acquire(Priority::Submit) => {}
            }
            job.state = JobState::Submitting;
            if !self.persist(&job).await {
                return Step::Stop;
            }
            self.emit(TrackerEvent::StateChanged {
                job: &job,
                from: "queued",
            });
            let result = self.inner.api.submit(&body).await;
            self.observe_rate_headers();
            if let Err(e) = &result {
                self.emit(TrackerEvent::Request {
                    endpoint: "submit",
                    outcome: request_outcome(e),
                });
            }
            let state = match result {
                Ok(submitted) => {
                    self.inner.budget.succeeded();
                    self.emit(TrackerEvent::Request {
                        endpoint: "submit",
                        outcome: "ok",
                    });
                    self.emit(TrackerEvent::Submitted {
                        job: &job,
                        credit_cost: submitted.credit_cost,
                        credits_remaining: submitted.credits_remaining,
                    });
                    info!(vendor_job = %submitted.job_id, credits_remaining = ?submitted.credits_remaining, "submitted");
                    JobState::Running {
                        vendor_job_id: submitted.job_id,
                        submitted_at_ms: now_ms(),
                    }
                }
                Err(ApiError::NotSent(cause)) if not_sent_retries < 5 => {
                    not_sent_retries += 1;
                    job.state = JobState::Queued;
                    if !self.persist(&job).await {
                        return Step::Stop;
                    }
                    warn!(%cause, attempt = not_sent_retries, "submit never reached PixelDojo; retrying");
                    tokio::select! {
                        biased;
                        _ = async { let _ = stop.wait_for(|s| *s).await; } => return Step::Stop,
                        _ = tokio::time::sleep(Duration::from_secs(1 << not_sent_retries)) => {}
                    }
                    continue;
                }
                Err(ApiError::RateLimited { retry_after }) if rate_limited_retries < 10 => {
                    // A 429 is a refusal: nothing was started, so waiting and retrying is safe.
                    rate_limited_retries += 1;
                    job.state = JobState::Queued;
                    if !self.persist(&job).await {
                        return Step::Stop;
                    }
                    warn!(?retry_after, "submit rate limited; waiting");
                    self.inner.budget.rate_limited(retry_after);
                    continue;
                }
                Err(e @ (ApiError::Uncertain(_) | ApiError::Malformed(_))) => {
                    error!(error = %e, "submit outcome unknown; not resubmitting");
                    JobState::Failing {
                        reason: UNCERTAIN_SUBMIT.to_owned(),
                        refund: false,
                    }
                }
                Err(e) => {
                    warn!(error = %e, "submit refused");
                    JobState::Failing {
                        reason: e.user_message(),
                        refund: true,
                    }
                }
            };
            return self.set_state(job, state).await;
        }
    }

    fn model_for(&self, request: &GenerationRequest) -> RenderModel {
        let prior = RenderModel::prior(self.inner.settings.prior_render);
        match self.inner.store.render_stats(&request.kind_key()) {
            Ok(Some(stats)) if stats.samples > 0 => RenderModel {
                mean_ms: stats.mean_ms,
                // Few samples say little about the spread: keep the prior's. Then the learned
                // spread (which already counts how loosely polls bracketed each render), never
                // under a twentieth of the mean, so a kind that always took the same time
                // still gets polled around it rather than once at the exact mean.
                sd_ms: if stats.samples < 3 {
                    prior.sd_ms.max(stats.mean_ms * 0.5)
                } else {
                    stats.sd_ms().max(stats.mean_ms * 0.05).max(500.0)
                },
            },
            _ => prior,
        }
    }

    async fn track(&self, job: Job, vendor_job_id: String, submitted_at_ms: i64) -> Step {
        let model = self.model_for(&job.request);
        let turn = Arc::new(Notify::new());
        lock(&self.inner.polling).insert(
            job.id,
            PollSlot {
                submitted_at_ms,
                last_poll_at_ms: None,
                hold_until_ms: 0,
                model,
                turn: turn.clone(),
            },
        );
        let mut stop = self.inner.stop.subscribe();
        let mut errors = 0u32;
        let mut last_status = "pending".to_owned();
        // When the job was last seen still running: the render ended between then and the
        // poll that saw it done, so that bracket is what gets learned (detection time alone
        // would teach ever later polls).
        let mut last_running_ms = submitted_at_ms;
        let mut next_progress = Instant::now();
        let timeout_ms = self.inner.settings.job_timeout.as_millis() as i64;
        loop {
            let elapsed = now_ms() - submitted_at_ms;
            if elapsed > timeout_ms {
                warn!(vendor_job = %vendor_job_id, "job timed out");
                lock(&self.inner.polling).remove(&job.id);
                let minutes = match self.inner.settings.job_timeout.as_secs().div_ceil(60) {
                    1 => "1 minute".to_owned(),
                    n => format!("{n} minutes"),
                };
                return self
                    .set_state(
                        job,
                        JobState::Failing {
                            reason: format!("PixelDojo did not finish this clip within {minutes}, so I stopped waiting. Your usage was refunded; try again with `/omni`."),
                            refund: true,
                        },
                    )
                    .await;
            }
            if Instant::now() >= next_progress {
                let p = Progress::Rendering {
                    elapsed_ms: elapsed,
                    expected_ms: model.mean_ms as i64,
                    status: last_status.clone(),
                };
                if let Err(e) = self.inner.notifier.progress(&job, &p).await {
                    debug!(error = %e, "progress update failed");
                }
                next_progress = Instant::now() + self.inner.settings.progress_every;
            }
            let until_timeout = Duration::from_millis((timeout_ms - elapsed).max(0) as u64 + 50);
            tokio::select! {
                _ = turn.notified() => {}
                _ = tokio::time::sleep_until(next_progress) => continue,
                _ = tokio::time::sleep(until_timeout) => continue,
                _ = stop.changed() => {
                    lock(&self.inner.polling).remove(&job.id);
                    return Step::Stop;
                }
            }
            let result = self.inner.api.job(&vendor_job_id).await;
            self.observe_rate_headers();
            self.emit(TrackerEvent::Request {
                endpoint: "poll",
                outcome: result.as_ref().map_or_else(request_outcome, |_| "ok"),
            });
            let polled_at = now_ms();
            let mut hold = 0;
            match result {
                Ok(JobStatus::Running { status }) => {
                    self.inner.budget.succeeded();
                    errors = 0;
                    last_status = status;
                    last_running_ms = polled_at;
                }
                Ok(JobStatus::Completed {
                    video_url,
                    video_id,
                    ..
                }) => {
                    self.inner.budget.succeeded();
                    lock(&self.inner.polling).remove(&job.id);
                    let render_ms = polled_at - submitted_at_ms;
                    let (estimate, unsure) =
                        model.within((last_running_ms - submitted_at_ms) as f64, render_ms as f64);
                    if let Err(e) = self.inner.store.record_render_time(
                        &job.request.kind_key(),
                        estimate,
                        unsure,
                    ) {
                        warn!(error = %e, "cannot record the render time");
                    }
                    info!(render_ms, has_video_id = video_id.is_some(), "completed");
                    self.emit(TrackerEvent::Rendered {
                        job: &job,
                        render_ms,
                    });
                    return self
                        .set_state(
                            job,
                            JobState::Delivering {
                                vendor_job_id,
                                video_url,
                                video_id,
                                render_ms,
                            },
                        )
                        .await;
                }
                Ok(JobStatus::Failed { error }) => {
                    lock(&self.inner.polling).remove(&job.id);
                    warn!(vendor_error = %error, "PixelDojo reported the job as failed");
                    let reason = format!(
                        "PixelDojo couldn't make this clip: {}. Your usage was refunded; try rewording the prompt.",
                        error.trim_end_matches('.')
                    );
                    return self
                        .set_state(
                            job,
                            JobState::Failing {
                                reason,
                                refund: true,
                            },
                        )
                        .await;
                }
                Err(ApiError::RateLimited { retry_after }) => {
                    warn!(?retry_after, "poll rate limited");
                    self.inner.budget.rate_limited(retry_after);
                }
                Err(e) if e.is_retryable_poll() => {
                    errors += 1;
                    let backoff = (1000i64 << errors.min(6)).min(60_000);
                    warn!(error = %e, errors, backoff_ms = backoff, "poll failed; retrying");
                    hold = polled_at + backoff;
                }
                Err(e) => {
                    lock(&self.inner.polling).remove(&job.id);
                    error!(error = %e, "poll refused");
                    return self
                        .set_state(
                            job,
                            JobState::Failing {
                                reason: e.user_message(),
                                refund: true,
                            },
                        )
                        .await;
                }
            }
            if let Some(slot) = lock(&self.inner.polling).get_mut(&job.id) {
                slot.last_poll_at_ms = Some(polled_at);
                slot.hold_until_ms = hold;
            }
        }
    }

    async fn deliver(&self, job: Job, video_url: String, video_id: Option<String>) -> Step {
        // The completion poll is followed only by one store write before this step starts, so
        // the delivery delay is counted from here.
        let delivery_started_ms = now_ms();
        let _ = self
            .inner
            .notifier
            .progress(&job, &Progress::Delivering)
            .await;
        let filename = format!("omni-{}.{}", job.id, job.request.format().as_str());
        let mut clip = None;
        for attempt in 1..=3u32 {
            self.inner.budget.acquire(Priority::Download).await;
            let downloaded = self
                .inner
                .api
                .download(&video_url, job.attachment_size_limit)
                .await;
            self.emit(TrackerEvent::Request {
                endpoint: "download",
                outcome: downloaded.as_ref().map_or_else(request_outcome, |_| "ok"),
            });
            match downloaded {
                Ok(Download::Complete(data)) => {
                    clip = Some(ClipFile::Upload {
                        data,
                        filename: filename.clone(),
                        url: video_url.clone(),
                    });
                    break;
                }
                Ok(Download::TooLarge { size }) => {
                    info!(
                        ?size,
                        limit = job.attachment_size_limit,
                        "clip too large to upload; posting the link"
                    );
                    clip = Some(ClipFile::Link {
                        url: video_url.clone(),
                        why: LinkReason::TooLarge,
                    });
                    break;
                }
                Err(e) => {
                    warn!(attempt, error = %e, "download failed");
                    if let ApiError::RateLimited { retry_after } = e {
                        self.inner.budget.rate_limited(retry_after);
                    }
                    tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                }
            }
        }
        let mut clip = clip.unwrap_or(ClipFile::Link {
            url: video_url.clone(),
            why: LinkReason::DownloadFailed,
        });
        let conversation = job.place.as_ref().map_or(job.channel_id, |p| p.channel_id);
        let parent = match job.continues {
            Some(ParentRef::Job(id)) => Some(id),
            _ => None,
        };
        let label = match self.inner.store.assign_label(conversation, job.id, parent) {
            Ok(label) => label,
            Err(e) => {
                error!(error = %e, "cannot assign a version label");
                "v?".to_owned()
            }
        };
        let parent_label = parent.and_then(|p| {
            let thread = self.inner.store.thread(conversation).ok().flatten()?;
            thread.label_of(p).map(str::to_owned)
        });
        let version = Version {
            label: label.clone(),
            parent_label,
            can_continue: video_id.is_some(),
        };
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=5 {
            let posting = PostingClip::start(&self.inner.posting_clips);
            match self.inner.notifier.deliver(&job, &clip, &version).await {
                Ok(Posted {
                    message_id,
                    channel_id,
                }) => {
                    let record = ClipRecord {
                        job_id: job.id,
                        video_id: video_id.clone(),
                        message_id,
                        label: label.clone(),
                        parent,
                    };
                    // Recorded where it landed (the parent channel if the thread was gone), so
                    // that a reply to it there continues it.
                    if channel_id != conversation {
                        let _ = self.inner.store.ensure_thread(channel_id, false);
                    }
                    if let Err(e) = self.inner.store.record_clip(channel_id, record) {
                        error!(error = %e, "cannot record the clip");
                    }
                    drop(posting);
                    info!(message_id, "delivered");
                    self.emit(TrackerEvent::Delivered {
                        job: &job,
                        delay_ms: now_ms() - delivery_started_ms,
                        as_link: matches!(clip, ClipFile::Link { .. }),
                    });
                    return self
                        .set_state(
                            job,
                            JobState::Delivered {
                                message_id,
                                video_id,
                            },
                        )
                        .await;
                }
                Err(NotifyError::TooLarge) if matches!(clip, ClipFile::Upload { .. }) => {
                    info!("Discord refused the upload as too large; posting the link");
                    clip = ClipFile::Link {
                        url: video_url.clone(),
                        why: LinkReason::TooLarge,
                    };
                }
                Err(e) => {
                    // No record follows soon: replies need not wait for one through the backoff.
                    drop(posting);
                    warn!(attempt, error = %e, "posting the clip failed");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        error!("could not post the clip after retries; it resumes at the next start");
        Step::Stop
    }

    async fn fail(&self, job: Job, reason: String, refund: bool) -> Step {
        let mut delay = Duration::from_secs(1);
        for attempt in 1..=5 {
            match self.inner.notifier.fail(&job, &reason).await {
                Ok(_) => {
                    return self
                        .set_state(
                            job,
                            JobState::Failed {
                                reason,
                                refunded: refund,
                            },
                        )
                        .await;
                }
                Err(e) => {
                    warn!(attempt, error = %e, "posting the failure failed");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        error!("could not post the failure after retries; it resumes at the next start");
        Step::Stop
    }

    fn observe_rate_headers(&self) {
        if let Some(info) = self.inner.api.last_rate_limit() {
            if let Some(remaining) = info.remaining {
                let reset_in = info
                    .reset
                    .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok());
                self.inner.budget.observe_remaining(remaining, reset_in);
            }
        }
    }

    /// Hands out poll turns: at each budget slot, to the job most likely to have finished.
    async fn poll_loop(&self) {
        let mut stop = self.inner.stop.subscribe();
        loop {
            if *stop.borrow_and_update() {
                return;
            }
            if self.pick_now().is_none() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            // The vendor's fixed loop ignores any budget; the others share it.
            if !matches!(self.inner.settings.strategy, Strategy::Fixed { .. }) {
                self.inner.budget.acquire(Priority::Poll).await;
            }
            if let Some((id, turn)) = self.pick_now() {
                debug!(job = id, "poll turn");
                if let Some(slot) = lock(&self.inner.polling).get_mut(&id) {
                    // Counted as polled now so the same job is not picked again before it polls.
                    slot.last_poll_at_ms = Some(now_ms());
                }
                turn.notify_one();
            }
        }
    }

    fn pick_now(&self) -> Option<(JobId, Arc<Notify>)> {
        let now = now_ms();
        let polling = lock(&self.inner.polling);
        let ids: Vec<JobId> = polling
            .iter()
            .filter(|(_, s)| s.hold_until_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        let candidates: Vec<Candidate> = ids
            .iter()
            .map(|id| {
                let s = &polling[id];
                Candidate {
                    elapsed_ms: (now - s.submitted_at_ms) as f64,
                    last_poll_elapsed_ms: s.last_poll_at_ms.map(|t| (t - s.submitted_at_ms) as f64),
                    model: s.model,
                }
            })
            .collect();
        let settings = &self.inner.settings;
        scheduler::pick_with(&candidates, settings.strategy, &settings.tuning)
            .map(|i| (ids[i], polling[&ids[i]].turn.clone()))
    }
}

/// How a failed PixelDojo request is counted in [`TrackerEvent::Request`].
fn request_outcome(e: &ApiError) -> &'static str {
    match e {
        ApiError::RateLimited { .. } => "rate_limited",
        ApiError::NotSent(_) => "not_sent",
        ApiError::Uncertain(_) => "no_answer",
        _ => "error",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
