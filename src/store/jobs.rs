//! Jobs: `jobs` (job id, u64 big-endian → [`Job`] as JSON), `active` (job id → the replica
//! that drives it, empty on the embedded store; every job that is not final: what start-up
//! resumes) and `events` (event id → the job it started).
//!
//! Admission writes the event id, the usage reservation and the job in one transaction, so a
//! request is either wholly accepted (counted, stored, and its event marked handled) or not at
//! all, and the same event delivered twice starts one job.

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::kv::Tree;
use super::usage::{reserve_in, Reservation, ReserveRequest};
use super::{atomically, key, Result, Step, Store, StoreError};
use crate::domain::ids::{EventId, JobId};
use crate::domain::job::Job;
use crate::domain::quota::Refusal;

/// What to admit: the job, the event that asked for it, and what to count against caps.
#[derive(Debug, Clone)]
pub struct Admission<'a> {
    pub job: &'a Job,
    /// `None` for requests with no event of their own (never deduplicated).
    pub event: Option<EventId>,
    pub reserve: ReserveRequest<'a>,
    /// On a shared store, the replica that is to drive the job, when not this one.
    pub owner: Option<&'a str>,
}

/// The outcome of [`Store::admit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Counted and stored.
    Accepted(Reservation),
    /// A cap refused it; nothing was written.
    Refused(Refusal),
    /// The event already started this job; nothing was written.
    Duplicate(JobId),
}

#[derive(Debug, Serialize, Deserialize)]
struct EventRecord {
    job: JobId,
}

impl Store {
    /// Writes the job and keeps the `active` index in step. On the embedded store no
    /// transaction is needed, the writes are ordered so that a crash between them is harmless:
    /// a job in flight is marked active before it is written, so it is never written without
    /// its mark; a final job is written before its mark goes, so a mark left behind points at a
    /// final job, which resuming skips. On a shared store the write is one transaction that
    /// first checks that the job is still this replica's ([`StoreError::NotOwner`] if not).
    pub async fn put_job(&self, job: &Job) -> Result<()> {
        let value = serde_json::to_vec(job)?;
        let k = key(job.id.0);
        let final_ = job.state.is_final();
        if let Some(me) = self.replica() {
            let owned: Result<bool> = atomically!(self, |tx| {
                let mine = tx
                    .get(Tree::Active, &k)
                    .await?
                    .is_some_and(|owner| owner == me.as_bytes());
                if !mine {
                    return Ok(Step::Abort(false));
                }
                tx.insert(Tree::Jobs, &k, &value);
                if final_ {
                    tx.remove(Tree::Active, &k);
                }
                Ok(Step::Commit(true))
            });
            return if owned? {
                Ok(())
            } else {
                Err(StoreError::NotOwner)
            };
        }
        if final_ {
            self.kv.insert(Tree::Jobs, &k, &value).await?;
            self.kv.remove(Tree::Active, &k).await?;
        } else {
            self.kv.insert(Tree::Active, &k, &[]).await?;
            self.kv.insert(Tree::Jobs, &k, &value).await?;
        }
        Ok(())
    }

    /// [`Store::put_job`], then waits until it is on disk.
    pub async fn put_job_durable(&self, job: &Job) -> Result<()> {
        self.put_job(job).await?;
        self.flush().await
    }

    pub async fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.get_json(Tree::Jobs, &key(id.0)).await
    }

    /// Every job that is not final, oldest first. A job that cannot be decoded (written by an
    /// incompatible version) is logged and left out rather than stopping start-up; a mark left
    /// behind by a crash (a final job, or none) is dropped.
    pub async fn active_jobs(&self) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        for (k, _) in self.kv.scan_prefix(Tree::Active, &[]).await? {
            match self.kv.get(Tree::Jobs, &k).await? {
                Some(v) => match serde_json::from_slice::<Job>(&v) {
                    Ok(job) if job.state.is_final() => {
                        self.kv.remove(Tree::Active, &k).await?;
                    }
                    Ok(job) => out.push(job),
                    Err(e) => warn!(error = %e, "a stored job cannot be read; leaving it out"),
                },
                None => {
                    self.kv.remove(Tree::Active, &k).await?;
                }
            }
        }
        Ok(out)
    }

    /// The job an event started, if it was handled already.
    pub async fn handled(&self, event: EventId) -> Result<Option<JobId>> {
        let record: Option<EventRecord> = self.get_json(Tree::Events, &key(event.0)).await?;
        Ok(record.map(|r| r.job))
    }

    /// Counts the job against every cap, records its event and stores it, in one transaction;
    /// or refuses it, or recognises its event as already handled, and writes nothing.
    /// Not flushed: call [`Store::flush`] before acting on an accepted job.
    pub async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted> {
        let job = admission.job;
        let job_value = serde_json::to_vec(job)?;
        let event_value = serde_json::to_vec(&EventRecord { job: job.id })?;
        let job_key = key(job.id.0);
        // Who drives it: the replica named, or this one (nobody on the embedded store).
        let owner = admission.owner.or(self.replica()).unwrap_or_default();
        atomically!(self, |tx| {
            if let Some(event) = admission.event {
                let event_key = key(event.0);
                if let Some(seen) = tx.get(Tree::Events, &event_key).await? {
                    let record: EventRecord = serde_json::from_slice(&seen)?;
                    return Ok(Step::Abort(Admitted::Duplicate(record.job)));
                }
                tx.insert(Tree::Events, &event_key, &event_value);
            }
            let reservation = match reserve_in(tx, &admission.reserve).await? {
                Ok(r) => r,
                Err(refusal) => return Ok(Step::Abort(Admitted::Refused(refusal))),
            };
            tx.insert(Tree::Jobs, &job_key, &job_value);
            if !job.state.is_final() {
                tx.insert(Tree::Active, &job_key, owner.as_bytes());
            }
            Ok(Step::Commit(Admitted::Accepted(reservation)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{job, on_both_backends};
    use super::*;
    use crate::domain::ids::{Scope, UserId};
    use crate::domain::job::{FailReason, JobState};
    use crate::domain::quota::{Cost, Limits, Window};

    const LIMITS: Limits = Limits {
        user_daily_videos: 1,
        guild_daily_videos: 50,
        user_concurrent_jobs: 2,
        guild_monthly_credits: 0,
        global_daily_credits: 0,
    };

    fn window() -> Window {
        Window::at(chrono::Utc::now(), chrono_tz::UTC)
    }

    fn admission<'a>(j: &'a Job, event: u64, w: &'a Window) -> Admission<'a> {
        Admission {
            job: j,
            event: Some(EventId(event)),
            reserve: ReserveRequest {
                job_id: j.id,
                scope: j.scope(),
                user: j.user,
                limits: LIMITS,
                window: w,
                cost: Cost::CLIP,
            },
            owner: None,
        }
    }

    #[tokio::test]
    async fn jobs_and_the_active_index_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            store.put_job(&job(1, JobState::Accepted)).await.unwrap();
            store
                .put_job(&job(
                    2,
                    JobState::Delivered {
                        message_id: crate::domain::ids::MessageId(9),
                        video_id: None,
                    },
                ))
                .await
                .unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(&path).unwrap();
        let active = store.active_jobs().await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].id, JobId(1));
        assert!(store.job(JobId(2)).await.unwrap().unwrap().state.is_final());
    }

    on_both_backends! {
        async fn a_job_leaves_the_active_index_when_it_becomes_final(store) {
            let mut j = job(5, JobState::Accepted);
            store.put_job(&j).await.unwrap();
            j.state = JobState::Failed {
                reason: FailReason::Cancelled,
            };
            store.put_job(&j).await.unwrap();
            assert!(store.active_jobs().await.unwrap().is_empty());
        }
    }

    on_both_backends! {
        async fn a_mark_left_behind_by_a_crash_is_dropped_when_resuming(store) {
            let mut done = job(3, JobState::Accepted);
            store.put_job(&done).await.unwrap();
            done.state = JobState::Failed {
                reason: FailReason::Cancelled,
            };
            // As if the crash came between writing the final job and removing its mark.
            let raw = &store.kv;
            let done = serde_json::to_vec(&done).unwrap();
            raw.insert(Tree::Jobs, &key(3), &done).await.unwrap();
            raw.insert(Tree::Active, &key(4), &[]).await.unwrap();
            assert!(store.active_jobs().await.unwrap().is_empty());
            assert!(raw.scan_prefix(Tree::Active, &[]).await.unwrap().is_empty());
        }
    }

    on_both_backends! {
        async fn an_unreadable_job_is_left_out_of_the_jobs_to_resume(store) {
            store.put_job(&job(1, JobState::Accepted)).await.unwrap();
            let raw = &store.kv;
            raw.insert(Tree::Jobs, &key(2), b"{\"old\":true}")
                .await
                .unwrap();
            raw.insert(Tree::Active, &key(2), &[]).await.unwrap();
            let active = store.active_jobs().await.unwrap();
            assert_eq!(active.len(), 1);
        }
    }

    on_both_backends! {
        async fn admission_counts_records_the_event_and_stores_the_job_together(store) {
            let w = window();
            let first = job(1, JobState::Accepted);
            let admitted = store.admit(&admission(&first, 77, &w)).await.unwrap();
            assert!(matches!(admitted, Admitted::Accepted(_)));
            assert_eq!(store.handled(EventId(77)).await.unwrap(), Some(JobId(1)));
            assert_eq!(store.active_jobs().await.unwrap().len(), 1);
            let usage = store
                .usage(Scope::from_guild(first.guild), UserId(3), &w)
                .await
                .unwrap();
            assert_eq!(usage.user_day_videos, 1);
        }
    }

    on_both_backends! {
        async fn the_same_event_delivered_twice_starts_one_job(store) {
            let w = window();
            store
                .admit(&admission(&job(1, JobState::Accepted), 77, &w))
                .await
                .unwrap();
            let again = job(2, JobState::Accepted);
            assert_eq!(
                store.admit(&admission(&again, 77, &w)).await.unwrap(),
                Admitted::Duplicate(JobId(1))
            );
            assert!(store.job(JobId(2)).await.unwrap().is_none());
            assert_eq!(store.active_jobs().await.unwrap().len(), 1);
        }
    }

    on_both_backends! {
        async fn a_refused_admission_writes_nothing_not_even_the_event(store) {
            let w = window();
            store
                .admit(&admission(&job(1, JobState::Accepted), 1, &w))
                .await
                .unwrap();
            let over = job(2, JobState::Accepted);
            assert!(matches!(
                store.admit(&admission(&over, 2, &w)).await.unwrap(),
                Admitted::Refused(Refusal::UserDaily { .. })
            ));
            assert_eq!(store.handled(EventId(2)).await.unwrap(), None);
            assert!(store.job(JobId(2)).await.unwrap().is_none());
            assert!(store.reservation(JobId(2)).await.unwrap().is_none());
        }
    }
}
