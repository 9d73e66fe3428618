//! Replicas sharing one (PostgreSQL) store, all working at once (see [`crate::replica`]):
//!
//! - `meta` `replica:member:<name>` → [`Member`]: each replica's beat, raised at every renewal,
//!   and the share of the vendor budget it spends by. A replica whose beat stops moving is
//!   declared gone by the others and its record removed; it finds its record gone and stops.
//! - `active` (job id → the name of the replica that drives the job; see `jobs`): a job belongs
//!   to one replica, which alone may write it ([`Store::put_job`] checks, in the same
//!   transaction); a job whose owner is gone is taken up by another, from its last persisted
//!   state.
//! - `event_claims` (event id → replica name): the first replica to record an event handles
//!   it; the others, on the same shard, drop it. Event ids are Discord snowflakes, which carry
//!   their time, so old claims are pruned by it.
//!
//! A store opened without a replica name ([`Store::as_replica`]) is the embedded, one-process
//! store: it records no owners and claims no events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::kv::Tree;
use super::{atomically, key, Result, Step, Store};
use crate::domain::ids::{ConversationId, EventId, JobId, UserId};
use crate::domain::job::{FailReason, Job, JobState};

const MEMBER_PREFIX: &[u8] = b"replica:member:";

/// Discord's epoch (2015-01-01) in Unix milliseconds: a snowflake's time is `id >> 22` after it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// One replica's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Raised at every renewal: a beat that stops moving is a replica that stopped.
    pub beat: u64,
    /// The number of replicas this one divides the vendor budget by; 0 while it spends none
    /// (it just joined and waits for the others to make room).
    pub share: u32,
}

/// What [`Store::cancel_elsewhere`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Withdrawal {
    /// Cancelled: the job, now this replica's, ends with a message and a refund once driven.
    Taken(Box<Job>),
    /// It is no longer waiting in line (sent, ended, or unknown).
    NotQueued,
    /// Only its requester or a moderator may cancel it.
    NotYours,
}

fn member_key(name: &str) -> Vec<u8> {
    [MEMBER_PREFIX, name.as_bytes()].concat()
}

/// The owner recorded in the `active` index (empty: none, as the embedded store writes).
pub(super) fn owner_of(value: &[u8]) -> Option<String> {
    (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned())
}

/// When Discord made the object with this snowflake id, in Unix milliseconds.
fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

impl Store {
    /// This store, as used by the replica `name`: it writes only the jobs it owns and claims
    /// events before handling them.
    pub fn as_replica(mut self, name: &str) -> Self {
        self.me = Some(Arc::from(name));
        self
    }

    /// The replica this store works for (`None`: the embedded, one-process store).
    pub fn replica(&self) -> Option<&str> {
        self.me.as_deref()
    }

    /// Enters this replica's record, spending no budget yet.
    pub async fn join(&self) -> Result<()> {
        let Some(me) = self.replica() else {
            return Ok(());
        };
        let record = Member { beat: 0, share: 0 };
        self.put_json(Tree::Meta, &member_key(me), &record).await
    }

    /// Raises this replica's beat and records the share it spends by; false when the others
    /// removed its record (they took it for gone), and it must stop.
    pub async fn beat(&self, share: u32) -> Result<bool> {
        let Some(me) = self.replica() else {
            return Ok(true);
        };
        let k = member_key(me);
        atomically!(self, |tx| {
            let Some(v) = tx.get(Tree::Meta, &k).await? else {
                return Ok(Step::Abort(false));
            };
            let mut record: Member = serde_json::from_slice(&v)?;
            record.beat += 1;
            record.share = share;
            tx.insert(Tree::Meta, &k, &serde_json::to_vec(&record)?);
            Ok(Step::Commit(true))
        })
    }

    /// Every replica's record, by name.
    pub async fn members(&self) -> Result<BTreeMap<String, Member>> {
        let mut out = BTreeMap::new();
        for (k, v) in self.kv.scan_prefix(Tree::Meta, MEMBER_PREFIX).await? {
            let name = String::from_utf8_lossy(&k[MEMBER_PREFIX.len()..]).into_owned();
            out.insert(name, serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// Removes `name`'s record if it is still exactly as `seen` (its beat did not move);
    /// returns whether it did. Its jobs are then anyone's to take up.
    pub async fn remove_member(&self, name: &str, seen: &Member) -> Result<bool> {
        let k = member_key(name);
        atomically!(self, |tx| {
            let current: Option<Member> = match tx.get(Tree::Meta, &k).await? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            };
            if current.as_ref() != Some(seen) {
                return Ok(Step::Abort(false));
            }
            tx.remove(Tree::Meta, &k);
            Ok(Step::Commit(true))
        })
    }

    /// A clean stop: gives this replica's jobs up (the others take them up at once) and removes
    /// its record. Returns how many jobs it gave up.
    pub async fn leave(&self) -> Result<usize> {
        let Some(me) = self.replica() else {
            return Ok(0);
        };
        let mut given = 0;
        for (id, owner) in self.owners().await? {
            if owner.as_deref() != Some(me) {
                continue;
            }
            let k = key(id.0);
            let released: Result<bool> = atomically!(self, |tx| {
                match tx.get(Tree::Active, &k).await? {
                    Some(v) if owner_of(&v).as_deref() == Some(me) => {
                        tx.insert(Tree::Active, &k, &[]);
                        Ok(Step::Commit(true))
                    }
                    _ => Ok(Step::Abort(false)),
                }
            });
            given += usize::from(released?);
        }
        self.kv.remove(Tree::Meta, &member_key(me)).await?;
        Ok(given)
    }

    /// Records that this replica handles `event`; false when another replica recorded it first
    /// (and handles it). The embedded store handles everything.
    pub async fn claim_event(&self, event: EventId) -> Result<bool> {
        let Some(me) = self.replica() else {
            return Ok(true);
        };
        let k = key(event.0);
        atomically!(self, |tx| {
            if tx.get(Tree::Claims, &k).await?.is_some() {
                return Ok(Step::Abort(false));
            }
            tx.insert(Tree::Claims, &k, me.as_bytes());
            Ok(Step::Commit(true))
        })
    }

    /// Forgets the claims of events older than `before_ms` (Unix ms): Discord redelivers an
    /// event within minutes, never hours. Returns how many it removed.
    pub async fn prune_claims(&self, before_ms: u64) -> Result<usize> {
        let mut removed = 0;
        for (k, _) in self.kv.scan_prefix(Tree::Claims, &[]).await? {
            let Ok(bytes) = <[u8; 8]>::try_from(k.as_slice()) else {
                continue;
            };
            if snowflake_ms(u64::from_be_bytes(bytes)) < before_ms {
                self.kv.remove(Tree::Claims, &k).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every job in flight and the replica that drives it (`None`: nobody).
    pub async fn owners(&self) -> Result<Vec<(JobId, Option<String>)>> {
        let mut out = Vec::new();
        for (k, v) in self.kv.scan_prefix(Tree::Active, &[]).await? {
            let Ok(bytes) = <[u8; 8]>::try_from(k.as_slice()) else {
                continue;
            };
            out.push((JobId(u64::from_be_bytes(bytes)), owner_of(&v)));
        }
        Ok(out)
    }

    /// Makes the job this replica's if its owner is still `seen` and it is still in flight, and
    /// returns it as stored; `None` when it ended or another replica took it meanwhile.
    pub async fn take_job(&self, id: JobId, seen: Option<&str>) -> Result<Option<Job>> {
        let Some(me) = self.replica() else {
            return self
                .job(id)
                .await
                .map(|j| j.filter(|j| !j.state.is_final()));
        };
        let k = key(id.0);
        atomically!(self, |tx| {
            let Some(owner) = tx.get(Tree::Active, &k).await? else {
                return Ok(Step::Abort(None));
            };
            if owner_of(&owner).as_deref() != seen {
                return Ok(Step::Abort(None));
            }
            let job: Job = match tx.get(Tree::Jobs, &k).await? {
                Some(v) => serde_json::from_slice(&v)?,
                None => return Ok(Step::Abort(None)),
            };
            if job.state.is_final() {
                return Ok(Step::Abort(None));
            }
            if seen == Some(me) {
                return Ok(Step::Abort(Some(job)));
            }
            tx.insert(Tree::Active, &k, me.as_bytes());
            Ok(Step::Commit(Some(job)))
        })
    }

    /// Withdraws a job waiting in line that another replica drives: in one transaction, if it
    /// is still queued and `by` asked for it (or is a moderator), it becomes this replica's
    /// and fails as cancelled. Its old owner finds out at its next write and leaves it; it
    /// cannot have sent it, since sending starts with a write.
    pub async fn cancel_elsewhere(
        &self,
        id: JobId,
        by: UserId,
        moderator: bool,
    ) -> Result<Withdrawal> {
        let Some(me) = self.replica() else {
            return Ok(Withdrawal::NotQueued);
        };
        let k = key(id.0);
        atomically!(self, |tx| {
            if tx.get(Tree::Active, &k).await?.is_none() {
                return Ok(Step::Abort(Withdrawal::NotQueued));
            }
            let mut job: Job = match tx.get(Tree::Jobs, &k).await? {
                Some(v) => serde_json::from_slice(&v)?,
                None => return Ok(Step::Abort(Withdrawal::NotQueued)),
            };
            if job.user != by && !moderator {
                return Ok(Step::Abort(Withdrawal::NotYours));
            }
            if job.state != JobState::Queued {
                return Ok(Step::Abort(Withdrawal::NotQueued));
            }
            let reason = if job.user == by {
                FailReason::Cancelled
            } else {
                FailReason::CancelledByModerator
            };
            job.state = JobState::Failing { reason };
            tx.insert(Tree::Jobs, &k, &serde_json::to_vec(&job)?);
            tx.insert(Tree::Active, &k, me.as_bytes());
            Ok(Step::Commit(Withdrawal::Taken(Box::new(job))))
        })
    }

    /// The live replica already working for this conversation, or else for this user: a new
    /// job goes there, so that it waits its turn behind theirs (the turn order and the user's
    /// concurrency live in the driving replica). `None`: none is, the job is this replica's.
    pub async fn owner_for(
        &self,
        conversation: Option<ConversationId>,
        user: UserId,
        live: &BTreeSet<String>,
    ) -> Result<Option<String>> {
        if self.replica().is_none() {
            return Ok(None);
        }
        let mut for_user = None;
        for (id, owner) in self.owners().await? {
            let Some(owner) = owner.filter(|o| live.contains(o)) else {
                continue;
            };
            let Some(job) = self.job(id).await? else {
                continue;
            };
            if conversation.is_some() && job.conversation() == conversation {
                return Ok(Some(owner));
            }
            if job.user == user && for_user.is_none() {
                for_user = Some(owner);
            }
        }
        Ok(for_user)
    }

    /// Whether a job of this conversation is in flight on any replica.
    pub async fn conversation_in_flight(&self, conversation: ConversationId) -> Result<bool> {
        for (id, _) in self.owners().await? {
            if let Some(job) = self.job(id).await? {
                if !job.state.is_final() && job.conversation() == Some(conversation) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{job, on_both_backends};
    use super::super::StoreError;
    use super::*;
    use crate::domain::ids::{ChannelId, VendorJobId};

    /// A job in flight, stored as driven by `owner`.
    async fn driven_by(store: &Store, id: u64, owner: &str) -> Job {
        let j = job(id, JobState::Queued);
        store
            .kv
            .insert(Tree::Jobs, &key(id), &serde_json::to_vec(&j).unwrap())
            .await
            .unwrap();
        store
            .kv
            .insert(Tree::Active, &key(id), owner.as_bytes())
            .await
            .unwrap();
        j
    }

    on_both_backends! {
        async fn only_the_owner_writes_a_job_and_taking_it_up_fences_the_old_owner(store) {
            let a = store.clone().as_replica("a");
            let b = store.clone().as_replica("b");
            let mut j = driven_by(&store, 1, "a").await;
            j.state = JobState::Running { vendor_job_id: VendorJobId("v1".into()), submitted_at_ms: 5 };
            a.put_job(&j).await.unwrap();
            assert!(matches!(b.put_job(&j).await, Err(StoreError::NotOwner)));
            // b saw a stop: it takes the job up, from what a last wrote.
            assert_eq!(b.owners().await.unwrap(), vec![(JobId(1), Some("a".to_owned()))]);
            let taken = b.take_job(JobId(1), Some("a")).await.unwrap().unwrap();
            assert_eq!(taken.state, j.state);
            // a woke up late: it may no longer write, and cannot take it back with a stale view.
            assert!(matches!(a.put_job(&j).await, Err(StoreError::NotOwner)));
            assert_eq!(a.take_job(JobId(1), Some("a")).await.unwrap(), None);
            // b ends it: the job leaves the index of jobs in flight.
            j.state = JobState::Failed { reason: FailReason::Cancelled };
            b.put_job(&j).await.unwrap();
            assert!(b.owners().await.unwrap().is_empty());
            assert_eq!(b.take_job(JobId(1), Some("b")).await.unwrap(), None);
        }
    }

    on_both_backends! {
        async fn of_many_replicas_taking_up_the_same_job_exactly_one_gets_it(store) {
            driven_by(&store, 9, "gone").await;
            let tries = (0..16).map(|i| {
                let r = store.clone().as_replica(&format!("r{i}"));
                tokio::spawn(async move { r.take_job(JobId(9), Some("gone")).await.unwrap().is_some() })
            });
            let mut won = 0;
            for t in tries {
                won += usize::from(t.await.unwrap());
            }
            assert_eq!(won, 1);
        }
    }

    on_both_backends! {
        async fn the_first_replica_to_claim_an_event_handles_it_and_old_claims_are_pruned(store) {
            let tries = (0..16).map(|i| {
                let r = store.clone().as_replica(&format!("r{i}"));
                tokio::spawn(async move { r.claim_event(EventId(1 << 40)).await.unwrap() })
            });
            let mut won = 0;
            for t in tries {
                won += usize::from(t.await.unwrap());
            }
            assert_eq!(won, 1);
            // The embedded store handles everything and records nothing.
            assert!(store.claim_event(EventId(1 << 40)).await.unwrap());
            let r = store.clone().as_replica("r");
            let later = (1u64 << 40) + (60_000 << 22);
            assert!(r.claim_event(EventId(later)).await.unwrap());
            // Prune what is older than the second event: the first goes, the second stays.
            assert_eq!(r.prune_claims(snowflake_ms(later)).await.unwrap(), 1);
            assert!(r.claim_event(EventId(1 << 40)).await.unwrap());
            assert!(!r.claim_event(EventId(later)).await.unwrap());
        }
    }

    on_both_backends! {
        async fn a_replica_beats_until_the_others_remove_it_and_leaving_gives_its_jobs_up(store) {
            let a = store.clone().as_replica("a");
            let b = store.clone().as_replica("b");
            a.join().await.unwrap();
            b.join().await.unwrap();
            assert!(a.beat(1).await.unwrap());
            let seen = a.members().await.unwrap();
            assert_eq!(seen["a"], Member { beat: 1, share: 1 });
            assert_eq!(seen["b"], Member { beat: 0, share: 0 });
            // b beats: what a saw is stale and removes nothing.
            assert!(b.beat(2).await.unwrap());
            assert!(!a.remove_member("b", &seen["b"]).await.unwrap());
            let now = a.members().await.unwrap();
            assert!(a.remove_member("b", &now["b"]).await.unwrap());
            assert!(!b.beat(2).await.unwrap(), "b learns it was taken for gone");
            // a leaves cleanly: its jobs have no owner any more, and its record is gone.
            driven_by(&store, 1, "a").await;
            driven_by(&store, 2, "c").await;
            assert_eq!(a.leave().await.unwrap(), 1);
            assert_eq!(
                a.owners().await.unwrap(),
                vec![(JobId(1), None), (JobId(2), Some("c".to_owned()))]
            );
            assert!(a.members().await.unwrap().is_empty());
        }
    }

    on_both_backends! {
        async fn a_new_job_goes_to_the_live_replica_working_for_its_thread_or_its_user(store) {
            let mut in_thread = job(1, JobState::Queued);
            in_thread.asked_in = Some(ConversationId(ChannelId(50)));
            in_thread.user = UserId(7);
            store.kv.insert(Tree::Jobs, &key(1), &serde_json::to_vec(&in_thread).unwrap()).await.unwrap();
            store.kv.insert(Tree::Active, &key(1), b"b").await.unwrap();
            let mut users = job(2, JobState::Queued);
            users.user = UserId(8);
            store.kv.insert(Tree::Jobs, &key(2), &serde_json::to_vec(&users).unwrap()).await.unwrap();
            store.kv.insert(Tree::Active, &key(2), b"c").await.unwrap();
            let a = store.clone().as_replica("a");
            let live: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
            let owner = |c, u| a.owner_for(c, UserId(u), &live);
            assert_eq!(owner(Some(ConversationId(ChannelId(50))), 9).await.unwrap().as_deref(), Some("b"));
            assert_eq!(owner(None, 8).await.unwrap().as_deref(), Some("c"));
            assert_eq!(owner(Some(ConversationId(ChannelId(51))), 9).await.unwrap(), None);
            // A replica that is gone draws nothing.
            let only_a: BTreeSet<String> = ["a"].map(String::from).into();
            assert_eq!(a.owner_for(Some(ConversationId(ChannelId(50))), UserId(7), &only_a).await.unwrap(), None);
            assert!(a.conversation_in_flight(ConversationId(ChannelId(50))).await.unwrap());
            assert!(!a.conversation_in_flight(ConversationId(ChannelId(51))).await.unwrap());
        }
    }
}

#[cfg(test)]
mod withdrawals {
    use super::super::test_support::{job, on_both_backends};
    use super::*;

    on_both_backends! {
        async fn a_queued_job_another_replica_drives_is_withdrawn_once_and_only_by_its_requester(store) {
            let j = job(4, JobState::Queued);
            store.kv.insert(Tree::Jobs, &key(4), &serde_json::to_vec(&j).unwrap()).await.unwrap();
            store.kv.insert(Tree::Active, &key(4), b"b").await.unwrap();
            let a = store.clone().as_replica("a");
            assert_eq!(a.cancel_elsewhere(JobId(4), UserId(99), false).await.unwrap(), Withdrawal::NotYours);
            let Withdrawal::Taken(taken) = a.cancel_elsewhere(JobId(4), j.user, false).await.unwrap() else {
                panic!("not withdrawn");
            };
            assert_eq!(taken.state, JobState::Failing { reason: FailReason::Cancelled });
            assert_eq!(a.owners().await.unwrap(), vec![(JobId(4), Some("a".to_owned()))]);
            // Its old owner may not write it any more (so it never sends it).
            let b = store.clone().as_replica("b");
            assert!(matches!(b.put_job(&j).await, Err(crate::store::StoreError::NotOwner)));
            // A second press finds it no longer waiting.
            assert_eq!(a.cancel_elsewhere(JobId(4), j.user, false).await.unwrap(), Withdrawal::NotQueued);
            // A job already sent cannot be withdrawn, not even by a moderator.
            let mut sent = job(5, JobState::Submitting);
            sent.user = UserId(1);
            store.kv.insert(Tree::Jobs, &key(5), &serde_json::to_vec(&sent).unwrap()).await.unwrap();
            store.kv.insert(Tree::Active, &key(5), b"b").await.unwrap();
            assert_eq!(a.cancel_elsewhere(JobId(5), UserId(2), true).await.unwrap(), Withdrawal::NotQueued);
        }
    }
}
