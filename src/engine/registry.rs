//! The engine's memory of the jobs it drives, behind one lock.
//!
//! Invariants, true whenever the lock is free:
//! - a job is in `jobs` exactly while a task drives it: it is claimed before its task starts and
//!   released when the task ends, so no job is ever driven twice;
//! - `cancelled` is set only on a job that was still opening or waiting in line, and a job so
//!   marked never becomes active: the cancel and the start are decided under this one lock, so
//!   a cancel either wins (nothing is sent) or is told it came too late;
//! - a job in `polls` is in `jobs` and active;
//! - `posting_clips` counts clip posts between their request to Discord and their record in the
//!   store (users may already see the clip and reply to it).
//!
//! Maps are ordered (`BTreeMap`), so the same events meet the same order in every run: the
//! simulation replays a seed exactly.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

use crate::domain::ids::{ConversationId, JobId, UserId};
use crate::domain::job::{Job, JobState, StateName};
use crate::domain::queue::{self, Entry, Phase, Verdict};
use crate::domain::render::RenderModel;
use crate::domain::scheduler::{self, Candidate, Strategy, Tuning};
use crate::pixeldojo::PollTicket;

/// Why a job could not be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("the request is no longer waiting in line")]
    NotQueued,
    #[error("only its requester or a moderator may cancel it")]
    NotYours,
}

/// Whether a job waiting in line may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// It is active now.
    Go,
    /// It waits; the verdict says behind whom.
    Wait(Verdict),
    /// It was cancelled while it waited, by its requester or by a moderator.
    Cancelled { by_moderator: bool },
}

/// A running job waiting for poll turns.
pub struct PollSlot {
    pub submitted_at_ms: i64,
    pub last_poll_at_ms: Option<i64>,
    /// No poll before this (a backoff after a failed poll).
    pub hold_until_ms: i64,
    pub model: RenderModel,
    /// Where the poll loop hands the job a taken budget slot.
    pub turn: mpsc::Sender<PollTicket>,
}

impl PollSlot {
    /// Times since the submit: now, and at the last poll.
    fn elapsed(&self, now_ms: i64) -> (f64, Option<f64>) {
        let since_submit = |t: i64| (t - self.submitted_at_ms) as f64;
        (since_submit(now_ms), self.last_poll_at_ms.map(since_submit))
    }

    fn candidate(&self, now_ms: i64, strategy: Strategy, tuning: &Tuning) -> Candidate {
        let (elapsed, last) = self.elapsed(now_ms);
        Candidate::new(strategy, tuning, elapsed, last, &self.model)
    }

    /// How long from `now_ms` until the job may be handed a slot (0: now).
    fn eligible_in(&self, now_ms: i64, strategy: Strategy, tuning: &Tuning) -> i64 {
        let (elapsed, last) = self.elapsed(now_ms);
        let eligible_in = Candidate::timing(strategy, tuning, elapsed, last).eligible_in();
        (eligible_in.ceil() as i64)
            .max(self.hold_until_ms - now_ms)
            .max(0)
    }
}

struct Live {
    entry: Entry,
    /// The job's state, as last persisted (for the jobs-by-state gauge).
    state: StateName,
    /// Set once a cancel won: whether someone other than the requester cancelled it.
    cancelled: Option<bool>,
    task: Option<AbortHandle>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<JobId, Live>,
    polls: BTreeMap<JobId, PollSlot>,
    posting_clips: usize,
}

/// Where a job stands in the line, from its state.
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

fn entry(job: &Job) -> Entry {
    Entry {
        id: job.id,
        user: job.user,
        follows_in: job.asked_in,
        conversation: job.conversation(),
        phase: phase(&job.state),
    }
}

#[derive(Default)]
pub struct Registry {
    // A std mutex: held for map operations only, never across an `.await`.
    state: Mutex<State>,
    /// A job moved in the line, ended, or the limits changed.
    pub queue_changed: Notify,
    /// A poll slot was added, removed or polled.
    pub polls_changed: Notify,
    /// A job's task ended.
    pub idle: Notify,
    /// A clip post ended (recorded, or failed).
    pub clip_settled: Notify,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims a job for a new task; false if a task already drives it.
    pub fn claim(&self, job: &Job) -> bool {
        let mut s = self.lock();
        if s.jobs.contains_key(&job.id) {
            return false;
        }
        s.jobs.insert(
            job.id,
            Live {
                entry: entry(job),
                state: job.state.name(),
                cancelled: None,
                task: None,
            },
        );
        drop(s);
        self.queue_changed.notify_waiters();
        true
    }

    pub fn set_task(&self, id: JobId, task: AbortHandle) {
        if let Some(live) = self.lock().jobs.get_mut(&id) {
            live.task = Some(task);
        }
    }

    /// Follows a job's new state.
    pub fn update(&self, job: &Job) {
        if let Some(live) = self.lock().jobs.get_mut(&job.id) {
            let cancelled_phase = live.entry.phase;
            live.entry = entry(job);
            live.state = job.state.name();
            // A start claimed under the lock is not undone by a stale state write.
            if cancelled_phase == Phase::Active && live.entry.phase == Phase::Queued {
                live.entry.phase = Phase::Active;
            }
        }
        self.queue_changed.notify_waiters();
    }

    /// Forgets a job whose task ended.
    pub fn release(&self, id: JobId) {
        let mut s = self.lock();
        s.jobs.remove(&id);
        let polled = s.polls.remove(&id).is_some();
        drop(s);
        self.queue_changed.notify_waiters();
        if polled {
            self.polls_changed.notify_waiters();
        }
        self.idle.notify_waiters();
    }

    /// Jobs with a live task.
    pub fn in_flight(&self) -> usize {
        self.lock().jobs.len()
    }

    /// Aborts every job's task (the simulation's crash). Nothing is persisted.
    pub fn abort_all(&self) {
        let mut s = self.lock();
        for live in s.jobs.values() {
            if let Some(task) = &live.task {
                task.abort();
            }
        }
        s.jobs.clear();
        s.polls.clear();
        s.posting_clips = 0;
    }

    /// Withdraws a job still opening or waiting in line.
    pub fn cancel(&self, id: JobId, by: UserId, moderator: bool) -> Result<(), CancelError> {
        let mut s = self.lock();
        let Some(live) = s.jobs.get_mut(&id) else {
            return Err(CancelError::NotQueued);
        };
        if live.entry.user != by && !moderator {
            return Err(CancelError::NotYours);
        }
        if !matches!(live.entry.phase, Phase::Queued | Phase::Opening) {
            return Err(CancelError::NotQueued);
        }
        live.cancelled = Some(live.entry.user != by);
        drop(s);
        self.queue_changed.notify_waiters();
        Ok(())
    }

    /// Whether a cancel won for this job.
    pub fn is_cancelled(&self, id: JobId) -> bool {
        self.lock()
            .jobs
            .get(&id)
            .is_some_and(|l| l.cancelled.is_some())
    }

    /// How many jobs with a live task are in each state.
    pub fn jobs_by_state(&self) -> BTreeMap<StateName, usize> {
        let mut counts = BTreeMap::new();
        for live in self.lock().jobs.values() {
            *counts.entry(live.state).or_default() += 1;
        }
        counts
    }

    /// Decides whether a queued job may start, and if so marks it active, under the lock:
    /// jobs deciding at the same moment cannot all take the last free slot, and a cancel
    /// cannot slip in after the decision.
    pub fn try_start(&self, id: JobId, user_limit: usize) -> Turn {
        let mut s = self.lock();
        let all: Vec<Entry> = s.jobs.values().map(|l| l.entry.clone()).collect();
        let Some(live) = s.jobs.get_mut(&id) else {
            return Turn::Go;
        };
        if let Some(by_moderator) = live.cancelled {
            return Turn::Cancelled { by_moderator };
        }
        match queue::verdict(&live.entry, &all, user_limit) {
            Verdict::Go => {
                live.entry.phase = Phase::Active;
                Turn::Go
            }
            waiting => Turn::Wait(waiting),
        }
    }

    /// The user's jobs that are running, and waiting.
    pub fn user_jobs(&self, user: UserId) -> (usize, usize) {
        let s = self.lock();
        let mine = s.jobs.values().filter(|l| l.entry.user == user);
        let running = mine
            .clone()
            .filter(|l| l.entry.phase == Phase::Active)
            .count();
        let waiting = mine
            .filter(|l| matches!(l.entry.phase, Phase::Queued | Phase::Opening))
            .count();
        (running, waiting)
    }

    /// Whether a job in this conversation has not ended yet.
    pub fn conversation_busy(&self, conversation: ConversationId) -> bool {
        self.lock().jobs.values().any(|l| {
            l.entry.phase != Phase::Done
                && (l.entry.conversation == Some(conversation)
                    || l.entry.follows_in == Some(conversation))
        })
    }

    /// Whether this job has a task here (driven, or about to be).
    pub fn holds(&self, id: JobId) -> bool {
        self.lock().jobs.contains_key(&id)
    }

    /// Whether this job has not ended yet.
    pub fn job_open(&self, id: JobId) -> bool {
        self.lock()
            .jobs
            .get(&id)
            .is_some_and(|l| l.entry.phase != Phase::Done)
    }

    pub fn add_poll(&self, id: JobId, slot: PollSlot) {
        self.lock().polls.insert(id, slot);
        self.polls_changed.notify_waiters();
    }

    pub fn remove_poll(&self, id: JobId) {
        self.lock().polls.remove(&id);
        self.polls_changed.notify_waiters();
    }

    /// Records a poll's outcome: when it happened, and how long to hold off the next.
    pub fn polled(&self, id: JobId, at_ms: i64, hold_until_ms: i64) {
        if let Some(slot) = self.lock().polls.get_mut(&id) {
            slot.last_poll_at_ms = Some(at_ms);
            slot.hold_until_ms = hold_until_ms;
        }
        self.polls_changed.notify_waiters();
    }

    /// How long from `now_ms` until some job may be handed a slot (`None`: no job is polling):
    /// until the first job not held off passes its floor (under the fixed loop, its interval).
    pub fn next_poll_due(&self, now_ms: i64, strategy: Strategy, tuning: &Tuning) -> Option<i64> {
        self.lock()
            .polls
            .values()
            .map(|slot| slot.eligible_in(now_ms, strategy, tuning))
            .min()
    }

    /// Picks the job to hand a taken slot, counts it as polled (so it is not picked again
    /// before its poll lands) and returns where to hand it the slot.
    pub fn pick_poll(
        &self,
        now_ms: i64,
        strategy: Strategy,
        tuning: &Tuning,
    ) -> Option<(JobId, mpsc::Sender<PollTicket>)> {
        let mut s = self.lock();
        // Jobs a backoff holds are not ranked at all.
        let (ids, candidates): (Vec<JobId>, Vec<Candidate>) = s
            .polls
            .iter()
            .filter(|(_, slot)| slot.hold_until_ms <= now_ms)
            .map(|(id, slot)| (*id, slot.candidate(now_ms, strategy, tuning)))
            .unzip();
        let id = ids[scheduler::pick(&candidates, strategy)?];
        let slot = s.polls.get_mut(&id)?;
        slot.last_poll_at_ms = Some(now_ms);
        Some((id, slot.turn.clone()))
    }

    /// Marks a clip post as started; the returned guard ends it.
    pub fn posting_clip(&self) -> PostingClip<'_> {
        self.lock().posting_clips += 1;
        PostingClip(self)
    }

    /// Whether a clip is being posted and not yet recorded.
    pub fn clip_in_flight(&self) -> bool {
        self.lock().posting_clips > 0
    }
}

/// Counts one clip post for as long as it lives.
pub struct PostingClip<'a>(&'a Registry);

impl Drop for PostingClip<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.posting_clips = s.posting_clips.saturating_sub(1);
        drop(s);
        self.0.clip_settled.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
