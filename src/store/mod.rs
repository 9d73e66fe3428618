//! The bot's database: every key layout and value encoding lives here, and keys are built
//! nowhere else. The modules are written once on the ordered key-value layer of [`kv`], whose
//! backends are sled (embedded, the default) and PostgreSQL (shared by replicas).
//!
//! - `jobs`: jobs, the index of jobs in flight, and admission (event id, usage reservation and
//!   job written in one transaction).
//! - `conversations`: each conversation's clips and version labels.
//! - `usage`: usage counters, reservations and their settlement, server policies, the balance.
//! - `meta`: learned render times, once-only flags and short-lived drafts.
//! - `servers`: each server's moderation settings (prompt rules, mod log) and system channel.
//! - `history`: each member's posted clips, newest first.
//! - `replicas`: replicas sharing the store: who is alive, who drives which job, who handles
//!   which event.
//!
//! Values are JSON so that a data folder stays readable across versions. Writes that must survive
//! a crash before a side effect are flushed ([`Store::put_job_durable`]).

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

mod conversations;
mod history;
mod jobs;
pub mod kv;
mod meta;
mod migrate;
mod replicas;
mod servers;
mod usage;

pub use conversations::{ClipRecord, Conversation, LabelRecord};
pub use history::{Clip, Page};
pub use jobs::{Admission, Admitted};
pub use meta::Once;
pub use migrate::Copied;
pub use replicas::{Member, Withdrawal};
pub use usage::{Balance, CounterKind, Report, Reservation, ReserveRequest};

use crate::config::{self, StorageConfig};
use crate::domain::ids::JobId;
use kv::sled::SledBackend;
use kv::{Backend, Tree};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("a stored value could not be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("transaction: {0}")]
    Transaction(String),
    /// What PostgreSQL answered, without the database's address or password.
    #[error("postgres: {0}")]
    Postgres(String),
    /// Another transaction changed what this one read; running it again may succeed.
    #[error("a concurrent change conflicted with this transaction")]
    Conflict,
    /// The job belongs to another replica now (this one was taken for gone).
    #[error("another replica carries this job on")]
    NotOwner,
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The bot's database, on either backend. Cheap to clone: clones share the database.
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn Backend>,
    /// The replica this store works for, on a shared store (see `replicas`).
    me: Option<Arc<str>>,
}

fn key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// What a transaction's body decided: write what it wrote, or nothing.
pub(crate) enum Step<T> {
    Commit(T),
    /// Leave the store as it was and answer `T`.
    Abort(T),
}

/// How often a transaction runs again after conflicts before the store gives up. Conflicts need
/// another writer of the same keys at the same moment; dozens in a row mean something is wrong.
const MAX_ATTEMPTS: u32 = 100;

/// Runs `$body` (a block that reads and writes through `$tx` and ends in a [`Step`]) in a
/// transaction of `$store`, again after each conflict, until it commits or aborts (see [`kv`]).
/// A macro rather than a function taking a closure: the body borrows `$tx` across awaits, which
/// an async closure passed to a function cannot do while staying `Send`.
macro_rules! atomically {
    ($store:expr, |$tx:ident| $body:block) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut open = $store.kv.begin().await?;
            let outcome: $crate::store::Result<$crate::store::Step<_>> = {
                let $tx: &mut dyn $crate::store::kv::Transaction = open.as_mut();
                async { $body }.await
            };
            let committed = match outcome {
                Ok($crate::store::Step::Abort(value)) => break Ok(value),
                Ok($crate::store::Step::Commit(value)) => open.commit().await.map(|()| value),
                Err(e) => Err(e),
            };
            match committed {
                Err(e) => $crate::store::after_conflict(e, attempt).await?,
                Ok(value) => break Ok(value),
            }
        }
    }};
}
pub(crate) use atomically;

/// Waits a moment before a transaction runs again after a conflict; any other error, or too many
/// conflicts in a row, is returned.
pub(crate) async fn after_conflict(e: StoreError, attempt: u32) -> Result<()> {
    if !e.is_conflict() || attempt >= MAX_ATTEMPTS {
        return Err(e);
    }
    // Let the other writer finish; a little longer each time on a busy database.
    tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20)))).await;
    Ok(())
}

impl Store {
    /// The embedded store in the folder at `path` (created if missing).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::on(SledBackend::open(path)?))
    }

    /// The store the configuration names: the sled folder, or the PostgreSQL database (its
    /// schema brought up to date first).
    pub async fn open_configured(config: &StorageConfig) -> Result<Self> {
        match config.backend {
            config::Backend::Sled => Self::open(&config.path),
            config::Backend::Postgres => Ok(Self::on(
                kv::postgres::PostgresBackend::connect(&config.url, None).await?,
            )),
        }
    }

    /// A throwaway embedded store whose flushes do not wait for the disk (see
    /// [`SledBackend::temporary`]), for the deterministic simulation.
    pub fn open_for_simulation() -> Result<Self> {
        Ok(Self::on(SledBackend::temporary()?))
    }

    /// The store on `backend`.
    pub fn on(backend: impl Backend) -> Self {
        Self::shared(Arc::new(backend))
    }

    /// The store on a backend already shared.
    pub fn shared(kv: Arc<dyn Backend>) -> Self {
        Self { kv, me: None }
    }

    /// "sled" or "postgres".
    pub fn kind(&self) -> &'static str {
        self.kv.kind()
    }

    /// A fresh, never reused id.
    pub async fn next_id(&self) -> Result<JobId> {
        Ok(JobId(self.kv.next_id().await?))
    }

    /// Waits until every write so far survives a crash.
    pub async fn flush(&self) -> Result<()> {
        self.kv.flush().await
    }

    /// A cheap read that proves the store answers (for health checks).
    pub async fn ping(&self) -> Result<()> {
        self.kv.ping().await
    }

    /// The value under `key`, decoded from JSON.
    async fn get_json<T: DeserializeOwned>(&self, tree: Tree, key: &[u8]) -> Result<Option<T>> {
        match self.kv.get(tree, key).await? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    async fn put_json<T: Serialize>(&self, tree: Tree, key: &[u8], value: &T) -> Result<()> {
        self.kv.insert(tree, key, &serde_json::to_vec(value)?).await
    }

    /// Applies `change` to the JSON value under `key` (its default when missing) atomically,
    /// and returns the result.
    async fn update_json<T>(
        &self,
        tree: Tree,
        key: &[u8],
        mut change: impl FnMut(&mut T),
    ) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Default,
    {
        atomically!(self, |tx| {
            let mut value: T = match tx.get(tree, key).await? {
                Some(v) => serde_json::from_slice(&v)?,
                None => T::default(),
            };
            change(&mut value);
            tx.insert(tree, key, &serde_json::to_vec(&value)?);
            Ok(Step::Commit(value))
        })
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::domain::ids::{ChannelId, GuildId, UserId};
    use crate::domain::job::{Job, JobState};
    use crate::domain::request::{Draft, GenerationRequest, InputLimits};

    /// Writes a store test once and runs it on both backends, as `<name>::sled` on a fresh sled
    /// folder and as `<name>::postgres` in a fresh PostgreSQL schema (dropped after the test,
    /// also when it fails). The PostgreSQL half is listed as ignored, with the reason, unless
    /// `OMNI_TEST_DATABASE_URL` was set when the tests were built (see `build.rs`); with it set,
    /// it fails when the server cannot be reached.
    macro_rules! on_both_backends {
        ($(#[$attr:meta])* async fn $name:ident($store:ident) $body:block) => {
            $(#[$attr])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use $crate::store::kv::tests::{Fixture, PgSchema};

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sled() {
                    let (_dir, $store) = $crate::store::test_support::store();
                    $body
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(omni_postgres),
                    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
                )]
                async fn postgres() {
                    let schema = PgSchema::new().await;
                    let $store = $crate::store::Store::shared(schema.open().await);
                    let outcome = tokio::spawn(async move { $body }).await;
                    schema.finish().await;
                    if let Err(e) = outcome {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
            }
        };
    }
    pub(crate) use on_both_backends;

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
    use test_support::on_both_backends;

    on_both_backends! {
        async fn ids_are_unique_and_never_zero(store) {
            let a = store.next_id().await.unwrap();
            let b = store.next_id().await.unwrap();
            assert!(a.0 > 0 && b > a);
        }
    }
}
