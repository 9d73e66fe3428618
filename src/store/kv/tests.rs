//! What every backend must do, written once as async properties over `Arc<dyn Backend>` and run
//! on each backend by [`conformance!`]. The PostgreSQL runs need a server: without
//! `OMNI_TEST_DATABASE_URL` at build time they are listed as ignored, with the reason.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, Executor};

use super::postgres::{PostgresBackend, MIGRATIONS};
use super::*;

#[test]
fn a_prefix_ends_at_its_successor() {
    assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
    assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
    assert_eq!(prefix_end(&[255, 255]), None);
    assert_eq!(prefix_end(b""), None);
}

#[test]
fn tree_names_are_distinct_and_in_order() {
    for (i, t) in Tree::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
    }
    let mut names: Vec<_> = Tree::ALL.iter().map(|t| t.name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), Tree::ALL.len());
}

/// A fresh, empty database for one test, which can be opened more than once (the replicas of the
/// two-backend properties), and is cleaned up after the test.
#[async_trait]
pub trait Fixture: Sized + Send + Sync + 'static {
    async fn new() -> Self;
    async fn open(&self) -> Arc<dyn Backend>;
    /// Best effort: a failure to clean up fails no test.
    async fn finish(self);
}

/// Runs a property on one opened backend, cleaning up even when it panics.
pub async fn run_one<F, P, Fut>(property: P)
where
    F: Fixture,
    P: FnOnce(Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fixture = F::new().await;
    let outcome = tokio::spawn(property(fixture.open().await)).await;
    fixture.finish().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Runs a property on two backends opened on the same database, as two replicas would be.
pub async fn run_two<F, P, Fut>(property: P)
where
    F: Fixture,
    P: FnOnce(Arc<dyn Backend>, Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fixture = F::new().await;
    let outcome = tokio::spawn(property(fixture.open().await, fixture.open().await)).await;
    fixture.finish().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `conformance!(module, Fixture, #[attributes]...)` runs every property below on the backend
/// that `Fixture` opens, as the tests of `mod module`, each carrying the attributes given: one
/// line per backend, such as `conformance!(sled, SledDir);`.
macro_rules! conformance {
    (@one $fixture:ty, $name:ident $(, #[$attr:meta])*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $name() {
            run_one::<$fixture, _, _>(super::$name).await;
        }
    };
    (@two $fixture:ty, $name:ident $(, #[$attr:meta])*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $name() {
            run_two::<$fixture, _, _>(super::$name).await;
        }
    };
    ($module:ident, $fixture:ty $(, #[$attr:meta])*) => {
        mod $module {
            use super::*;

            conformance!(@one $fixture, a_value_reads_back_until_it_is_removed $(, #[$attr])*);
            conformance!(@one $fixture, each_tree_keeps_its_own_keys $(, #[$attr])*);
            conformance!(@one $fixture, a_prefix_scan_returns_exactly_its_keys_in_byte_order $(, #[$attr])*);
            conformance!(@one $fixture, ids_are_never_zero_nor_repeated_under_concurrency $(, #[$attr])*);
            conformance!(@two $fixture, ids_are_never_repeated_across_replicas $(, #[$attr])*);
            conformance!(@one $fixture, a_transaction_sees_its_own_writes_and_removes $(, #[$attr])*);
            conformance!(@one $fixture, a_dropped_transaction_writes_nothing $(, #[$attr])*);
            conformance!(@one $fixture, of_two_transactions_writing_what_both_read_one_conflicts $(, #[$attr])*);
            conformance!(@two $fixture, concurrent_increments_over_two_replicas_count_exactly $(, #[$attr])*);
            conformance!(@two $fixture, of_two_transactions_creating_one_missing_key_one_commits $(, #[$attr])*);
            conformance!(@one $fixture, a_commit_writes_every_tree_or_none $(, #[$attr])*);
        }
    };
}

conformance!(sled, SledDir);

conformance!(
    postgres,
    PgSchema,
    #[cfg_attr(not(omni_postgres), ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run")]
);

/// What only the PostgreSQL backend does: own the database's schema.
mod postgres_schema {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(omni_postgres),
        ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
    )]
    async fn replicas_starting_together_apply_each_migration_once() {
        let db = PgSchema::new().await;
        let opened = futures::future::join_all(
            (0..4).map(|_| PostgresBackend::connect(&db.url, Some(&db.name))),
        )
        .await;
        let versions = db.applied_versions().await;
        db.finish().await;
        for outcome in opened {
            if let Err(e) = outcome {
                panic!("a replica failed to start: {e}");
            }
        }
        let known: Vec<i64> = (1..=MIGRATIONS.len() as i64).collect();
        assert_eq!(versions, known);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(
        not(omni_postgres),
        ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
    )]
    async fn a_database_migrated_by_a_newer_bot_is_refused_with_a_way_out() {
        let db = PgSchema::new().await;
        drop(db.open().await);
        let mut conn = sqlx::PgConnection::connect(db.url.expose_secret())
            .await
            .unwrap();
        let from_the_future = format!(
            "INSERT INTO \"{}\".omni_schema_migrations (version) VALUES (999)",
            db.name
        );
        conn.execute(from_the_future.as_str()).await.unwrap();
        let outcome = PostgresBackend::connect(&db.url, Some(&db.name)).await;
        db.finish().await;
        match outcome {
            Err(StoreError::Postgres(message)) => {
                assert!(message.contains("version 999"), "{message}");
                assert!(message.contains("upgrade omni-bot"), "{message}");
            }
            Err(e) => panic!("the wrong error: {e}"),
            Ok(_) => panic!("a newer database was accepted"),
        }
    }
}

/// A sled folder of its own. sled is one process's database: its "two replicas" are the one
/// backend, opened once and shared (a second open of the folder would wait for its lock).
pub struct SledDir {
    _dir: tempfile::TempDir,
    backend: Arc<dyn Backend>,
}

#[async_trait]
impl Fixture for SledDir {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(super::sled::SledBackend::open(&dir.path().join("db")).unwrap());
        Self { _dir: dir, backend }
    }

    async fn open(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    async fn finish(self) {}
}

/// A schema of its own on the server at `OMNI_TEST_DATABASE_URL`, dropped after the test.
pub struct PgSchema {
    url: SecretString,
    name: String,
}

impl PgSchema {
    /// The migrations recorded in this schema, in order.
    async fn applied_versions(&self) -> Vec<i64> {
        let mut conn = sqlx::PgConnection::connect(self.url.expose_secret())
            .await
            .unwrap();
        let query = format!(
            "SELECT version FROM \"{}\".omni_schema_migrations ORDER BY version",
            self.name
        );
        sqlx::query_scalar(&query)
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

#[async_trait]
impl Fixture for PgSchema {
    async fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let url = std::env::var("OMNI_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .expect("set OMNI_TEST_DATABASE_URL to a PostgreSQL server for these tests");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "omni_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self {
            url: url.into(),
            name,
        }
    }

    async fn open(&self) -> Arc<dyn Backend> {
        match PostgresBackend::connect(&self.url, Some(&self.name)).await {
            Ok(backend) => Arc::new(backend),
            Err(e) => panic!("cannot open the test database (OMNI_TEST_DATABASE_URL): {e}"),
        }
    }

    async fn finish(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(self.url.expose_secret()).await {
            let drop = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
            let _ = conn.execute(drop.as_str()).await;
            let _ = conn.close().await;
        }
    }
}

// The properties. Each takes fresh, empty backends.

async fn a_value_reads_back_until_it_is_removed(b: Arc<dyn Backend>) {
    assert_eq!(b.get(Tree::Jobs, b"k").await.unwrap(), None);
    b.insert(Tree::Jobs, b"k", b"one").await.unwrap();
    assert_eq!(
        b.get(Tree::Jobs, b"k").await.unwrap(),
        Some(b"one".to_vec())
    );
    b.insert(Tree::Jobs, b"k", b"two").await.unwrap();
    assert_eq!(
        b.get(Tree::Jobs, b"k").await.unwrap(),
        Some(b"two".to_vec())
    );
    b.remove(Tree::Jobs, b"k").await.unwrap();
    assert_eq!(b.get(Tree::Jobs, b"k").await.unwrap(), None);
    // Removing what is not there is no error.
    b.remove(Tree::Jobs, b"k").await.unwrap();
    b.ping().await.unwrap();
    b.flush().await.unwrap();
}

async fn each_tree_keeps_its_own_keys(b: Arc<dyn Backend>) {
    for tree in Tree::ALL {
        b.insert(tree, b"k", tree.name().as_bytes()).await.unwrap();
    }
    b.remove(Tree::Meta, b"k").await.unwrap();
    for tree in Tree::ALL {
        let expected = (tree != Tree::Meta).then(|| tree.name().as_bytes().to_vec());
        assert_eq!(
            b.get(tree, b"k").await.unwrap(),
            expected,
            "{}",
            tree.name()
        );
        let all = b.scan_prefix(tree, b"").await.unwrap();
        let expected: Pairs = expected.into_iter().map(|v| (b"k".to_vec(), v)).collect();
        assert_eq!(all, expected, "{}", tree.name());
    }
}

async fn a_prefix_scan_returns_exactly_its_keys_in_byte_order(b: Arc<dyn Backend>) {
    let keys: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x00],
        b"a".to_vec(),
        b"ab".to_vec(),
        b"ab\x00".to_vec(),
        b"ab\x7f".to_vec(),
        b"ab\x80".to_vec(),
        b"ab\xff".to_vec(),
        b"ab\xff\xff".to_vec(),
        b"ac".to_vec(),
        b"b".to_vec(),
        vec![0xfe, 0xff],
        vec![0xff],
        vec![0xff, 0x00],
        vec![0xff, 0xff],
        vec![0xff, 0xff, 0x01],
    ];
    // Written out of order, so that insertion order cannot pass for key order.
    for (i, key) in keys.iter().enumerate().rev() {
        b.insert(Tree::Events, key, &[i as u8]).await.unwrap();
    }
    // A neighbouring tree's keys must never show up.
    for key in [&b"ab"[..], b"ab\xff", b"\xff", b"zz"] {
        b.insert(Tree::Active, key, b"other tree").await.unwrap();
    }
    let prefixes: [&[u8]; 9] = [
        b"",
        b"a",
        b"ab",
        b"ab\xff",
        b"\xfe",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\xff",
        b"zz",
    ];
    for prefix in prefixes {
        let mut expected: Pairs = keys
            .iter()
            .enumerate()
            .filter(|(_, key)| key.starts_with(prefix))
            .map(|(i, key)| (key.clone(), vec![i as u8]))
            .collect();
        expected.sort();
        let found = b.scan_prefix(Tree::Events, prefix).await.unwrap();
        assert_eq!(found, expected, "prefix {prefix:x?}");
    }
    assert_eq!(
        b.scan_prefix(Tree::Events, b"").await.unwrap().len(),
        keys.len()
    );
}

async fn ids_are_never_zero_nor_repeated_under_concurrency(b: Arc<dyn Backend>) {
    let ids = take_ids(&[b], 200).await;
    assert_eq!(ids.len(), 200);
    assert!(!ids.contains(&0));
}

async fn ids_are_never_repeated_across_replicas(a: Arc<dyn Backend>, b: Arc<dyn Backend>) {
    let ids = take_ids(&[a, b], 200).await;
    assert_eq!(ids.len(), 200);
    assert!(!ids.contains(&0));
}

/// `count` ids asked for all at once, spread over `backends`, without duplicates.
async fn take_ids(backends: &[Arc<dyn Backend>], count: usize) -> BTreeSet<u64> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let backend = backends[i % backends.len()].clone();
            tokio::spawn(async move { backend.next_id().await.unwrap() })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for task in tasks {
        let id = task.await.unwrap();
        assert!(ids.insert(id), "id {id} given twice");
    }
    ids
}

async fn a_transaction_sees_its_own_writes_and_removes(b: Arc<dyn Backend>) {
    b.insert(Tree::Jobs, b"kept", b"before").await.unwrap();
    b.insert(Tree::Jobs, b"removed", b"before").await.unwrap();
    let mut tx = b.begin().await.unwrap();
    assert_eq!(
        tx.get(Tree::Jobs, b"kept").await.unwrap(),
        Some(b"before".to_vec())
    );
    tx.insert(Tree::Jobs, b"kept", b"after");
    tx.remove(Tree::Jobs, b"removed");
    tx.insert(Tree::Jobs, b"new", b"fresh");
    tx.insert(Tree::Jobs, b"back", b"gone");
    tx.remove(Tree::Jobs, b"back");
    tx.insert(Tree::Jobs, b"back", b"again");
    assert_eq!(
        tx.get(Tree::Jobs, b"kept").await.unwrap(),
        Some(b"after".to_vec())
    );
    assert_eq!(tx.get(Tree::Jobs, b"removed").await.unwrap(), None);
    assert_eq!(
        tx.get(Tree::Jobs, b"new").await.unwrap(),
        Some(b"fresh".to_vec())
    );
    assert_eq!(
        tx.get(Tree::Jobs, b"back").await.unwrap(),
        Some(b"again".to_vec())
    );
    // The same key in another tree is not this transaction's write.
    assert_eq!(tx.get(Tree::Meta, b"new").await.unwrap(), None);
    // Nothing shows outside before the commit.
    assert_eq!(
        b.get(Tree::Jobs, b"kept").await.unwrap(),
        Some(b"before".to_vec())
    );
    assert_eq!(b.get(Tree::Jobs, b"new").await.unwrap(), None);
    tx.commit().await.unwrap();
    let all = b.scan_prefix(Tree::Jobs, b"").await.unwrap();
    let expected: Pairs = vec![
        (b"back".to_vec(), b"again".to_vec()),
        (b"kept".to_vec(), b"after".to_vec()),
        (b"new".to_vec(), b"fresh".to_vec()),
    ];
    assert_eq!(all, expected);
}

async fn a_dropped_transaction_writes_nothing(b: Arc<dyn Backend>) {
    b.insert(Tree::Jobs, b"kept", b"before").await.unwrap();
    let mut tx = b.begin().await.unwrap();
    assert_eq!(
        tx.get(Tree::Jobs, b"kept").await.unwrap(),
        Some(b"before".to_vec())
    );
    tx.insert(Tree::Jobs, b"kept", b"after");
    tx.insert(Tree::Counters, b"new", b"fresh");
    tx.remove(Tree::Jobs, b"kept");
    drop(tx);
    assert_eq!(
        b.get(Tree::Jobs, b"kept").await.unwrap(),
        Some(b"before".to_vec())
    );
    assert_eq!(b.get(Tree::Counters, b"new").await.unwrap(), None);
    // The backend still runs transactions afterwards.
    let mut tx = b.begin().await.unwrap();
    tx.insert(Tree::Counters, b"new", b"later");
    tx.commit().await.unwrap();
    assert_eq!(
        b.get(Tree::Counters, b"new").await.unwrap(),
        Some(b"later".to_vec())
    );
}

async fn of_two_transactions_writing_what_both_read_one_conflicts(b: Arc<dyn Backend>) {
    b.insert(Tree::Counters, b"n", b"0").await.unwrap();
    let mut first = b.begin().await.unwrap();
    let mut second = b.begin().await.unwrap();
    assert_eq!(
        first.get(Tree::Counters, b"n").await.unwrap(),
        Some(b"0".to_vec())
    );
    assert_eq!(
        second.get(Tree::Counters, b"n").await.unwrap(),
        Some(b"0".to_vec())
    );
    first.insert(Tree::Counters, b"n", b"first");
    second.insert(Tree::Counters, b"n", b"second");
    first.commit().await.unwrap();
    match second.commit().await {
        Err(StoreError::Conflict) => {}
        other => panic!("the second commit should conflict, got {other:?}"),
    }
    assert_eq!(
        b.get(Tree::Counters, b"n").await.unwrap(),
        Some(b"first".to_vec())
    );
}

async fn concurrent_increments_over_two_replicas_count_exactly(
    a: Arc<dyn Backend>,
    b: Arc<dyn Backend>,
) {
    const TASKS: u64 = 40;
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let backend = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                for _ in 0..1000 {
                    match increment(&*backend).await {
                        Ok(()) => return,
                        Err(StoreError::Conflict) => tokio::task::yield_now().await,
                        Err(e) => panic!("increment failed: {e}"),
                    }
                }
                panic!("1000 conflicts in a row");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let count = a.get(Tree::Counters, b"n").await.unwrap().map(decode);
    assert_eq!(count, Some(TASKS));
}

/// Reads the counter and writes it plus one, in one transaction.
async fn increment(backend: &dyn Backend) -> Result<()> {
    let mut tx = backend.begin().await?;
    let n = tx.get(Tree::Counters, b"n").await?.map_or(0, decode);
    tx.insert(Tree::Counters, b"n", &(n + 1).to_be_bytes());
    tx.commit().await
}

fn decode(bytes: Vec<u8>) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("a counter is 8 bytes"))
}

async fn of_two_transactions_creating_one_missing_key_one_commits(
    a: Arc<dyn Backend>,
    b: Arc<dyn Backend>,
) {
    let mut first = a.begin().await.unwrap();
    let mut second = b.begin().await.unwrap();
    assert_eq!(first.get(Tree::Events, b"event").await.unwrap(), None);
    assert_eq!(second.get(Tree::Events, b"event").await.unwrap(), None);
    first.insert(Tree::Events, b"event", b"first");
    second.insert(Tree::Events, b"event", b"second");
    let outcomes = [first.commit().await, second.commit().await];
    let committed: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
    let conflicted = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Conflict)))
        .count();
    assert_eq!((committed.len(), conflicted), (1, 1), "{outcomes:?}");
    let winner = if outcomes[0].is_ok() {
        "first"
    } else {
        "second"
    };
    assert_eq!(
        a.get(Tree::Events, b"event").await.unwrap(),
        Some(winner.as_bytes().to_vec())
    );
}

async fn a_commit_writes_every_tree_or_none(b: Arc<dyn Backend>) {
    b.insert(Tree::Reservations, b"gone", b"before")
        .await
        .unwrap();
    let mut tx = b.begin().await.unwrap();
    tx.insert(Tree::Jobs, b"job", b"1");
    tx.insert(Tree::Counters, b"count", b"2");
    tx.remove(Tree::Reservations, b"gone");
    tx.commit().await.unwrap();
    assert_eq!(
        b.get(Tree::Jobs, b"job").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(
        b.get(Tree::Counters, b"count").await.unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(b.get(Tree::Reservations, b"gone").await.unwrap(), None);

    // A transaction that conflicts on one tree writes none of the others either.
    let mut loser = b.begin().await.unwrap();
    let mut winner = b.begin().await.unwrap();
    loser.get(Tree::Meta, b"flag").await.unwrap();
    winner.get(Tree::Meta, b"flag").await.unwrap();
    winner.insert(Tree::Meta, b"flag", b"winner");
    winner.commit().await.unwrap();
    loser.insert(Tree::Jobs, b"job", b"loser");
    loser.insert(Tree::History, b"clip", b"loser");
    loser.remove(Tree::Counters, b"count");
    loser.insert(Tree::Meta, b"flag", b"loser");
    match loser.commit().await {
        Err(StoreError::Conflict) => {}
        other => panic!("the loser should conflict, got {other:?}"),
    }
    assert_eq!(
        b.get(Tree::Jobs, b"job").await.unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(b.get(Tree::History, b"clip").await.unwrap(), None);
    assert_eq!(
        b.get(Tree::Counters, b"count").await.unwrap(),
        Some(b"2".to_vec())
    );
    assert_eq!(
        b.get(Tree::Meta, b"flag").await.unwrap(),
        Some(b"winner".to_vec())
    );
}
