//! Replicas sharing the work on one store: each drives the jobs it owns, takes up the jobs of
//! replicas that stopped, and hands a new job to the replica already working for its
//! conversation or user. The replica loop ([`crate::replica`]) says who is alive; the store
//! makes every hand-over a transaction (see `store::replicas`).

use std::collections::BTreeSet;

use tracing::info;

use super::Engine;
use crate::domain::ids::{ConversationId, JobId, UserId};

impl Engine {
    /// The replicas alive now, this one included (from the replica loop).
    pub fn set_live(&self, live: BTreeSet<String>) {
        *self.inner.live.lock().unwrap_or_else(|p| p.into_inner()) = live;
    }

    fn live(&self) -> BTreeSet<String> {
        self.inner
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Spends `1/replicas` of the vendor's request budget (0: none yet).
    pub fn set_budget_share(&self, replicas: u32) {
        self.inner.vendor.set_share(replicas);
    }

    /// Drives every job in flight that is this replica's and not driven yet (handed to it,
    /// or stopped by a store error), and takes up the jobs of replicas that are gone, each from
    /// its last persisted state as after a restart. Returns how many it started driving.
    pub async fn take_up(&self) -> crate::store::Result<usize> {
        let store = &self.inner.store;
        let me = store.replica().map(str::to_owned);
        let live = self.live();
        let mut started = 0;
        for (id, owner) in store.owners().await? {
            if self.is_stopping() {
                break;
            }
            let ours = owner.is_some() && owner == me;
            let orphan = owner.as_ref().is_none_or(|o| !live.contains(o));
            if !(ours || orphan) || self.inner.registry.holds(id) {
                continue;
            }
            let Some(mut job) = store.take_job(id, owner.as_deref()).await? else {
                continue;
            };
            if !ours {
                info!(job = %id, previous = owner.as_deref().unwrap_or("none"), state = job.state.name().as_str(), "taking up a job another replica left");
            }
            job.state = job.state.after_restart();
            self.drive(job);
            started += 1;
        }
        Ok(started)
    }

    /// The live replica, other than this one, that a new job of this conversation or user
    /// should go to (`None`: this one drives it).
    pub async fn owner_for(
        &self,
        conversation: Option<ConversationId>,
        user: UserId,
    ) -> crate::store::Result<Option<String>> {
        let store = &self.inner.store;
        let Some(me) = store.replica() else {
            return Ok(None);
        };
        let mut live = self.live();
        if live.is_empty() {
            // The replica loop has not run yet (just started): every replica with a record
            // counts as alive, so that a follow-up never runs beside the clip it continues.
            live = store.members().await?.into_keys().collect();
        }
        let owner = store.owner_for(conversation, user, &live).await?;
        Ok(owner.filter(|o| o != me))
    }

    /// Whether this job has not ended yet, here or on another replica.
    pub async fn job_open_anywhere(&self, id: JobId) -> bool {
        if self.job_open(id) {
            return true;
        }
        if self.inner.store.replica().is_none() {
            return false;
        }
        match self.inner.store.job(id).await {
            Ok(job) => job.is_some_and(|j| !j.state.is_final()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a job; taking it for ended");
                false
            }
        }
    }

    /// Whether a job of this conversation has not ended yet, here or on another replica.
    pub async fn conversation_busy_anywhere(&self, conversation: ConversationId) -> bool {
        if self.conversation_busy(conversation) {
            return true;
        }
        if self.inner.store.replica().is_none() {
            return false;
        }
        self.inner
            .store
            .conversation_in_flight(conversation)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read which jobs are in flight; taking the conversation for idle");
                false
            })
    }
}
