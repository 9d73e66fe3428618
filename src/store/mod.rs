//! The embedded store: every sled tree, its key layout and its value encoding live here, and
//! keys are built nowhere else.
//!
//! - `jobs`: jobs, the index of jobs in flight, and admission (event id, usage reservation and
//!   job written in one transaction).
//! - `conversations`: each conversation's clips and version labels.
//! - `usage`: usage counters, reservations and their settlement, server policies, the balance.
//! - `meta`: learned render times, once-only flags and short-lived drafts.
//! - `servers`: each server's moderation settings (prompt rules, mod log) and system channel.
//! - `history`: each member's posted clips, newest first.
//!
//! Values are JSON so that a data folder stays readable across versions. Writes that must survive
//! a crash before a side effect are flushed ([`Store::put_job_durable`]).

use std::path::Path;

mod conversations;
mod history;
mod jobs;
mod meta;
mod servers;
mod usage;

pub use conversations::{ClipRecord, Conversation, LabelRecord};
pub use history::{Clip, Page};
pub use jobs::{Admission, Admitted};
pub use meta::Once;
pub use usage::{Balance, CounterKind, Report, Reservation, ReserveRequest};

use crate::domain::ids::JobId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value could not be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("transaction: {0}")]
    Transaction(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Every tree of the bot's database. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    jobs: sled::Tree,
    active: sled::Tree,
    events: sled::Tree,
    threads: sled::Tree,
    meta: sled::Tree,
    counters: sled::Tree,
    reservations: sled::Tree,
    policies: sled::Tree,
    usage_meta: sled::Tree,
    servers: sled::Tree,
    history: sled::Tree,
    /// Whether [`Store::flush`] reaches the disk (always, but in the simulation).
    durable: bool,
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

impl Store {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Sled(e.into()))?;
            }
        }
        Self::from_db(sled::open(path)?, true)
    }

    /// A throwaway store whose flushes do not wait for the disk, for the deterministic
    /// simulation: its crashes drop the bot's memory, never the store's, and a flush on
    /// another thread would make the interleaving depend on the disk. sled keeps it in a
    /// temporary file (in memory, under `/dev/shm`, where there is one) removed on drop.
    pub fn open_for_simulation() -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()?;
        Self::from_db(db, false)
    }

    fn from_db(db: sled::Db, durable: bool) -> Result<Self> {
        Ok(Self {
            jobs: db.open_tree("jobs")?,
            active: db.open_tree("active")?,
            events: db.open_tree("events")?,
            threads: db.open_tree("threads")?,
            meta: db.open_tree("meta")?,
            counters: db.open_tree("usage_counters")?,
            reservations: db.open_tree("usage_reservations")?,
            policies: db.open_tree("guild_policies")?,
            usage_meta: db.open_tree("usage_meta")?,
            servers: db.open_tree("servers")?,
            history: db.open_tree("history")?,
            db,
            durable,
        })
    }

    /// A fresh, never reused id.
    pub fn next_id(&self) -> Result<JobId> {
        // generate_id is unique across restarts, but starts at 0; keep 0 free.
        Ok(JobId(self.db.generate_id()? + 1))
    }

    /// Waits until every write so far is on disk.
    ///
    /// Not `sled::Db::flush_async`: in sled 0.34 that runs the flush on sled's own small IO pool,
    /// and when its threads all wait in flushes while a transaction ([`Store::put_job`]) waits
    /// for them, no thread is left to write the buffer the flushes wait for: every job hangs
    /// (spacejam/sled#1308; the polling benchmark hit it with 1,000 jobs in flight). A blocking
    /// flush on tokio's blocking pool leaves sled's pool free for that write.
    pub async fn flush(&self) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| sled::Error::ReportableBug(format!("the flush task failed: {e}")))??;
        Ok(())
    }

    /// A cheap read that proves the store answers (for health checks).
    pub fn ping(&self) -> bool {
        self.meta.get(b"ping").is_ok()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::domain::ids::{ChannelId, GuildId, UserId};
    use crate::domain::job::{Job, JobState};
    use crate::domain::request::{Draft, GenerationRequest, InputLimits};

    pub fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        (dir, store)
    }

    pub fn job(id: u64, state: JobState) -> Job {
        let request = GenerationRequest::validate(
            Draft {
                prompt: "waves".into(),
                ..Draft::default()
            },
            &InputLimits::from_megabytes(1, 1),
        )
        .unwrap();
        Job {
            id: JobId(id),
            guild: Some(GuildId(1)),
            channel: ChannelId(2),
            parent_channel: None,
            user: UserId(3),
            request,
            attachment_size_limit: 10,
            created_at_ms: 0,
            place: None,
            state,
            asked_in: None,
            continues: None,
            lineage: None,
            made_from: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_never_zero() {
        let (_dir, store) = test_support::store();
        let a = store.next_id().unwrap();
        let b = store.next_id().unwrap();
        assert!(a.0 > 0 && b > a);
    }
}
