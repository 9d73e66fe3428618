//! The job engine: takes a stored job from "accepted" to "a clip or a reason in Discord".
//!
//! Each job runs in its own task that walks the [`JobState`] machine one step at a time. A step
//! is a plain async function in its own module that performs one side effect and returns the
//! next state; the driver here persists that state (durably) before the next step runs, so after
//! a crash a job resumes from the last state known to be true:
//!
//! - `open`: post the status message and open the conversation (thread, or in place);
//! - `turn`: wait in line (the user's concurrency, earlier follow-ups), then resolve what a
//!   follow-up continues;
//! - `submit`: send the request to PixelDojo, never twice;
//! - `poll`: wait for poll turns and read the job's status; `polling` is the one loop that hands
//!   out poll turns from the budget, to the job most likely to have finished;
//! - `deliver`: download the clip and post it; `fail`: settle the usage and post the reason;
//!   `post` holds what both do when Discord refuses (parent channel, link, DM).
//!
//! On a store shared by replicas, `sharing` decides which replica drives which job.
//!
//! The engine talks to the world only through its [`ports`] and reads time from a [`Clock`],
//! so the simulation runs it on virtual time. Its in-memory state is one [`registry`].

mod deliver;
pub mod events;
mod fail;
mod open;
mod poll;
mod polling;
pub mod ports;
mod post;
pub mod registry;
pub mod retry;
mod sharing;
mod submit;
mod turn;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::future::BoxFuture;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, Instrument};

use crate::domain::ids::{ConversationId, JobId, MessageId, UserId};
use crate::domain::job::{FailReason, Job, JobState};
use crate::domain::scheduler::{Strategy, Tuning};
use crate::pixeldojo::Throttled;
use crate::store::{Conversation, Store};
pub use events::{DiscordError, Endpoint, EngineEvent, Outcome, RefusalReason};
use ports::{Body, Chat, Clock, Progress};
pub use registry::CancelError;
use registry::Registry;
use retry::RetryPolicy;

/// Something that wants to hear about [`EngineEvent`]s (metrics, alerts, tests).
pub type EventHook = Arc<dyn Fn(&EngineEvent<'_>) + Send + Sync>;

/// How many jobs a job's user may have running at once.
pub type ConcurrencyLimit = Arc<dyn Fn(&Job) -> BoxFuture<'static, usize> + Send + Sync>;

/// How each step retries.
#[derive(Debug, Clone)]
pub struct Retries {
    /// Opening a conversation while Discord is unavailable.
    pub open: RetryPolicy,
    /// Posting a clip or a reason while Discord refuses.
    pub post: RetryPolicy,
    /// Downloading the finished file.
    pub download: RetryPolicy,
    /// A submit that never reached PixelDojo.
    pub not_sent: RetryPolicy,
    /// Polls that failed in a row.
    pub poll: RetryPolicy,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            // About ten minutes of Discord trouble before giving up on a clip nobody paid yet.
            open: RetryPolicy {
                first: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
                max_attempts: Some(25),
            },
            // Until posted or the link expires: never more than five minutes between tries.
            post: RetryPolicy {
                first: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                max_attempts: None,
            },
            download: RetryPolicy {
                first: Duration::from_secs(2),
                max_delay: Duration::from_secs(30),
                max_attempts: Some(3),
            },
            not_sent: RetryPolicy {
                first: Duration::from_secs(2),
                max_delay: Duration::from_secs(60),
                max_attempts: Some(6),
            },
            poll: RetryPolicy {
                first: Duration::from_secs(2),
                max_delay: Duration::from_secs(60),
                max_attempts: None,
            },
        }
    }
}

/// What the engine needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Expected render time for a kind of request never seen before.
    pub prior_render: Duration,
    /// A job the vendor still reports unfinished after this long ends.
    pub job_timeout: Duration,
    /// After a restart, how long polls may fail before the timeout applies anyway.
    pub restart_grace: Duration,
    /// How often the progress message is updated.
    pub progress_every: Duration,
    /// How long the vendor's link to a finished clip lasts (its file is kept about a day).
    pub link_lifetime: Duration,
    /// A failure message that cannot be posted for this long is given up (and logged).
    pub failure_patience: Duration,
    /// Post the "reply or mention me" tip in new threads (the bot runs without the Message
    /// Content intent).
    pub intent_tip: bool,
    pub strategy: Strategy,
    pub tuning: Tuning,
    /// Submits refused with 429 or 503 in a row before the job gives up.
    pub max_busy_submits: u32,
    pub retries: Retries,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            prior_render: Duration::from_secs(60),
            job_timeout: Duration::from_secs(15 * 60),
            restart_grace: Duration::from_secs(10 * 60),
            progress_every: Duration::from_secs(5),
            link_lifetime: Duration::from_secs(23 * 3600),
            failure_patience: Duration::from_secs(7 * 24 * 3600),
            intent_tip: false,
            strategy: Strategy::Scheduled,
            tuning: Tuning::default(),
            max_busy_submits: 30,
            retries: Retries::default(),
        }
    }
}

/// Everything the engine is built from.
pub struct EngineParts {
    pub store: Store,
    pub vendor: Throttled,
    pub chat: Arc<dyn Chat>,
    pub clock: Arc<dyn Clock>,
    pub settings: EngineSettings,
    pub hooks: Vec<EventHook>,
    pub concurrency: ConcurrencyLimit,
}

/// What a step leads to.
enum Step {
    /// The job in its next state (already persisted).
    Next(Box<Job>),
    /// Stop driving the job (the engine stops, or the store failed); it resumes at the next
    /// start from its last persisted state.
    Stop,
}

/// Shared by every task of the engine.
struct Inner {
    store: Store,
    vendor: Throttled,
    chat: Arc<dyn Chat>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    hooks: Vec<EventHook>,
    concurrency: ConcurrencyLimit,
    registry: Registry,
    stop: watch::Sender<bool>,
    /// On a shared store, the replicas alive now (see `sharing`).
    live: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// The handle to the engine. Cheap to clone: all clones drive the same jobs.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    pub fn new(parts: EngineParts) -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store: parts.store,
                vendor: parts.vendor,
                chat: parts.chat,
                clock: parts.clock,
                settings: parts.settings,
                hooks: parts.hooks,
                concurrency: parts.concurrency,
                registry: Registry::default(),
                stop,
                live: Default::default(),
            }),
        }
    }

    /// Starts the poll loop; call once.
    pub fn start(&self) {
        let inner = self.inner.clone();
        tokio::spawn(polling::poll_loop(inner).instrument(tracing::info_span!("polling")));
    }

    /// Starts driving a job that is already stored (admitted). A job already driven is left
    /// alone.
    pub fn drive(&self, job: Job) {
        if !self.inner.registry.claim(&job) {
            debug!(job = %job.id, "already driving");
            return;
        }
        let id = job.id;
        let span = tracing::info_span!(
            "job",
            job = id.0,
            guild = job.guild.map(|g| g.0),
            user = job.user.0
        );
        let inner = self.inner.clone();
        let task = tokio::spawn(
            async move {
                let driven = AssertUnwindSafe(drive_job(&inner, job))
                    .catch_unwind()
                    .await;
                if driven.is_err() {
                    inner.contain_panic(id).await;
                }
                inner.registry.release(id);
            }
            .instrument(span),
        );
        self.inner.registry.set_task(id, task.abort_handle());
    }

    /// Picks up every job that was in flight when the bot stopped. Returns how many.
    pub async fn resume(&self) -> crate::store::Result<usize> {
        let jobs = self.inner.store.active_jobs().await?;
        let n = jobs.len();
        for mut job in jobs {
            let state = std::mem::replace(&mut job.state, JobState::Accepted);
            job.state = state.after_restart();
            info!(job = %job.id, state = job.state.name().as_str(), "resuming job");
            self.drive(job);
        }
        Ok(n)
    }

    /// Withdraws a job still waiting in line; it ends with a message and a refund. Its
    /// requester may cancel it, and so may a moderator.
    pub fn cancel(&self, id: JobId, by: UserId, moderator: bool) -> Result<(), CancelError> {
        self.inner.registry.cancel(id, by, moderator)
    }

    /// Limits changed: jobs waiting in line look again whether they may start.
    pub fn limits_changed(&self) {
        self.inner.registry.queue_changed.notify_waiters();
    }

    /// Asks every job task to stop at its next safe point (state persisted).
    pub fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
    }

    /// True once [`Engine::shutdown`] was called: no new work is accepted.
    pub fn is_stopping(&self) -> bool {
        *self.inner.stop.borrow()
    }

    /// Waits until every job task has stopped, or `limit` passes; returns how many are left.
    /// Waiting jobs stop at once; a job in the middle of an upload finishes it first.
    pub async fn drain(&self, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let idle = self.inner.registry.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            let left = self.in_flight();
            if left == 0 {
                return 0;
            }
            tokio::select! {
                biased;
                _ = &mut idle => {}
                _ = tokio::time::sleep_until(deadline) => return self.in_flight(),
            }
        }
    }

    /// Drops everything in memory at once, as a crash would (for the simulation).
    pub fn crash(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.registry.abort_all();
    }

    /// How many jobs with a live task are in each state (for the jobs-by-state gauge).
    pub fn jobs_by_state(
        &self,
    ) -> std::collections::BTreeMap<crate::domain::job::StateName, usize> {
        self.inner.registry.jobs_by_state()
    }

    /// Jobs with a live task.
    pub fn in_flight(&self) -> usize {
        self.inner.registry.in_flight()
    }

    /// The user's jobs that are running, and waiting.
    pub fn user_jobs(&self, user: UserId) -> (usize, usize) {
        self.inner.registry.user_jobs(user)
    }

    /// Whether a job in this conversation has not ended yet.
    pub fn conversation_busy(&self, conversation: ConversationId) -> bool {
        self.inner.registry.conversation_busy(conversation)
    }

    /// Whether this job has not ended yet.
    pub fn job_open(&self, id: JobId) -> bool {
        self.inner.registry.job_open(id)
    }

    /// Points the status message above a thread at the thread's newest clip (after one was
    /// deleted). Best effort: a failed edit is logged.
    pub async fn point_status(&self, conversation: ConversationId) {
        post::point_status(&self.inner, conversation).await;
    }

    /// A conversation's record once `message` is known in it, or no clip post is in flight any
    /// more, or `limit` passed. Users see a clip the moment it is posted, before the bot has
    /// recorded it; a reply to it in that instant waits here to be understood.
    pub async fn settled_conversation(
        &self,
        conversation: ConversationId,
        message: MessageId,
        limit: Duration,
    ) -> crate::store::Result<Option<Conversation>> {
        let deadline = Instant::now() + limit;
        loop {
            let settled = self.inner.registry.clip_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            let record = self.inner.store.conversation(conversation).await?;
            let known = record
                .as_ref()
                .is_some_and(|c| c.clip_by_message(message).is_some());
            if known || !self.inner.registry.clip_in_flight() {
                return Ok(record);
            }
            tokio::select! {
                biased;
                _ = &mut settled => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return self.inner.store.conversation(conversation).await;
                }
            }
        }
    }
}

/// Walks one job's states until it is final or the engine stops.
async fn drive_job(inner: &Inner, mut job: Job) {
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow_and_update() {
            info!(
                state = job.state.name().as_str(),
                "stopping; the job resumes at the next start"
            );
            return;
        }
        let step = match job.state.clone() {
            JobState::Accepted => open::open(inner, job).await,
            JobState::Queued => turn::wait_then_submit(inner, job).await,
            // Only a crash leaves a job here, and a restart turns it into an uncertain submit;
            // never send it again.
            JobState::Submitting => {
                let reason = FailReason::UncertainSubmit;
                inner.transition(job, JobState::Failing { reason }).await
            }
            JobState::Running {
                vendor_job_id,
                submitted_at_ms,
            } => poll::track(inner, job, vendor_job_id, submitted_at_ms).await,
            JobState::Delivering {
                video_url,
                video_id,
                finished_at_ms,
                ..
            } => deliver::deliver(inner, job, video_url, video_id, finished_at_ms).await,
            JobState::Failing { reason } => fail::fail(inner, job, reason).await,
            JobState::Delivered { .. } | JobState::Failed { .. } => return,
        };
        match step {
            Step::Next(next) => job = *next,
            Step::Stop => return,
        }
    }
}

impl Inner {
    fn emit(&self, event: EngineEvent<'_>) {
        for hook in &self.hooks {
            hook(&event);
        }
    }

    fn stop_rx(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Writes the job durably; false (and the job stops until the next start) if it cannot.
    async fn persist(&self, job: &Job) -> bool {
        match self.store.put_job_durable(job).await {
            Ok(()) => {
                self.registry.update(job);
                true
            }
            Err(crate::store::StoreError::NotOwner) => {
                error!("another replica took this job up (this one was taken for gone); leaving it to that one");
                false
            }
            Err(e) => {
                error!(error = %e, "cannot persist the job; stopping it until the next start");
                false
            }
        }
    }

    /// Moves the job to `state`, persisted before anything else happens.
    async fn transition(&self, mut job: Job, state: JobState) -> Step {
        let from = job.state.name();
        debug!(from = from.as_str(), to = state.name().as_str(), "state");
        job.state = state;
        if !self.persist(&job).await {
            return Step::Stop;
        }
        self.emit(EngineEvent::StateChanged { job: &job, from });
        Step::Next(Box::new(job))
    }

    /// Shows where the job stands (best effort: a failed edit changes nothing).
    async fn progress(&self, job: &Job, progress: &Progress) {
        let Some(place) = &job.place else { return };
        let Some(message) = place.progress_message else {
            return;
        };
        let body = Body::Progress {
            job,
            progress,
            with_header: !place.in_thread,
        };
        if let Err(e) = self
            .chat
            .edit(place.conversation.channel(), message, body)
            .await
        {
            self.emit(EngineEvent::DiscordError {
                kind: DiscordError::Edit,
            });
            debug!(error = %e, "cannot update the progress message");
        }
    }

    /// A job's task panicked: its slots are released by the caller; here the job ends with an
    /// apology (once), and the panic is counted.
    async fn contain_panic(&self, id: JobId) {
        error!(job = %id, "the job's task panicked; ending the job");
        self.emit(EngineEvent::Panicked { job: id });
        self.registry.remove_poll(id);
        let job = match self.store.job(id).await {
            Ok(Some(job)) if !job.state.is_final() => job,
            Ok(_) => return,
            Err(e) => {
                error!(job = %id, error = %e, "cannot read the job that panicked");
                return;
            }
        };
        let reason = match &job.state {
            JobState::Failing { reason } => reason.clone(),
            state => FailReason::Internal {
                submitted: state.sent_to_vendor(),
            },
        };
        let ended = AssertUnwindSafe(async {
            if let Step::Next(job) = self
                .transition(
                    job,
                    JobState::Failing {
                        reason: reason.clone(),
                    },
                )
                .await
            {
                fail::fail(self, *job, reason).await;
            }
        })
        .catch_unwind()
        .await;
        if ended.is_err() {
            error!(job = %id, "posting the apology panicked too; the job resumes at the next start");
        }
    }
}
