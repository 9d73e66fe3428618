//! The PostgreSQL backend: every tree in one `kv` table, shared by several replicas of the bot.
//!
//! It owns the database's schema (the migrations embedded below, applied at connect) and the
//! translation of PostgreSQL's answers into [`StoreError`]. Its errors never carry the database
//! URL, user, password or host: they end up in logs and health lines.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{Connection, Executor, Postgres};

use super::{prefix_end, Backend, Pairs, Transaction, Tree};
use crate::store::{Result, StoreError};

/// Every migration, in order. A version, once released, never changes: add a new file instead.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/0001_kv.sql"))];

/// The advisory lock that makes replicas starting together apply each migration once ("omnikv").
const MIGRATION_LOCK: i64 = 0x6f6d_6e69_6b76;

/// Enough for the bot's concurrent jobs and commands without crowding a small server.
const MAX_CONNECTIONS: u32 = 10;

/// How long a query waits for a free connection, and the first connection for the server.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The store's bytes in a PostgreSQL database, through a pool of connections.
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
    /// Connects to `url`, in `schema` when given (created if missing: every pooled connection
    /// uses it), and brings the database's schema up to this binary's migrations.
    pub async fn connect(url: &SecretString, schema: Option<&str>) -> Result<Self> {
        let secrets = UrlSecrets::of(url.expose_secret());
        let pg_error = |e| describe(e, &secrets);
        let options = PgConnectOptions::from_str(url.expose_secret()).map_err(pg_error)?;
        // One connection of our own first: the pool retries a refused connection until its
        // timeout and then reports only the timeout, while this one says what went wrong.
        let mut first = tokio::time::timeout(ACQUIRE_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                StoreError::Postgres(format!(
                    "cannot reach the database server: no answer within {} s",
                    ACQUIRE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(pg_error)?;
        let search_path = schema.map(quote_identifier);
        migrate(&mut first, search_path.as_deref(), &secrets).await?;
        // Closing is a courtesy to the server; the migrations are committed either way.
        let _ = first.close().await;

        let mut pool = PoolOptions::<Postgres>::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT);
        if let Some(path) = search_path {
            pool = pool.after_connect(move |conn, _| {
                let path = path.clone();
                Box::pin(async move {
                    sqlx::query("SELECT set_config('search_path', $1, false)")
                        .bind(path)
                        .execute(conn)
                        .await
                        .map(drop)
                })
            });
        }
        let pool = pool.connect_with(options).await.map_err(pg_error)?;
        Ok(Self { pool })
    }
}

/// Applies the migrations this database lacks, in one transaction under [`MIGRATION_LOCK`], and
/// refuses a database that a newer binary migrated further.
async fn migrate(
    conn: &mut PgConnection,
    search_path: Option<&str>,
    secrets: &UrlSecrets,
) -> Result<()> {
    let pg_error = |e| describe(e, secrets);
    let mut tx = conn.begin().await.map_err(pg_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(pg_error)?;
    // Every start would otherwise log the server's "already exists, skipping" notices.
    (&mut *tx)
        .execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(pg_error)?;
    if let Some(path) = search_path {
        // Under the lock, so that two replicas creating the schema together do not collide.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {path}");
        (&mut *tx)
            .execute(create.as_str())
            .await
            .map_err(pg_error)?;
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(path)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
    }
    (&mut *tx)
        .execute(
            "CREATE TABLE IF NOT EXISTS omni_schema_migrations (
                version bigint PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg_error)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM omni_schema_migrations")
        .fetch_all(&mut *tx)
        .await
        .map_err(pg_error)?;
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if let Some(newer) = applied.iter().copied().filter(|v| *v > known).max() {
        return Err(StoreError::Postgres(format!(
            "the database's schema is at version {newer}, newer than this omni-bot knows \
             (up to {known}): upgrade omni-bot to the version that migrated it"
        )));
    }
    for (version, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        // A string without arguments goes as a simple query, which may hold several statements.
        (&mut *tx).execute(*sql).await.map_err(pg_error)?;
        sqlx::query("INSERT INTO omni_schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)
}

/// `name` as a quoted SQL identifier, whatever characters it holds.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM kv WHERE tree = $1 AND key = $2")
            .bind(tree.name())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(pg_error)
    }

    async fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO kv (tree, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (tree, key) DO UPDATE SET value = excluded.value",
        )
        .bind(tree.name())
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(pg_error)
    }

    async fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM kv WHERE tree = $1 AND key = $2")
            .bind(tree.name())
            .bind(key)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(pg_error)
    }

    async fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Pairs> {
        let query = match prefix_end(prefix) {
            Some(end) => sqlx::query_as(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 AND key < $3 ORDER BY key",
            )
            .bind(tree.name())
            .bind(prefix)
            .bind(end),
            // Only 0xff bytes (or nothing): every greater key starts with the prefix.
            None => sqlx::query_as(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 ORDER BY key",
            )
            .bind(tree.name())
            .bind(prefix),
        };
        query.fetch_all(&self.pool).await.map_err(pg_error)
    }

    async fn next_id(&self) -> Result<u64> {
        let id: i64 = sqlx::query_scalar("SELECT nextval('kv_ids')")
            .fetch_one(&self.pool)
            .await
            .map_err(pg_error)?;
        u64::try_from(id)
            .ok()
            .filter(|id| *id != 0)
            .ok_or_else(|| StoreError::Postgres(format!("the id sequence gave {id}")))
    }

    async fn ids_after(&self, used: u64) -> Result<()> {
        let used = i64::try_from(used)
            .map_err(|_| StoreError::Postgres(format!("id {used} does not fit the sequence")))?;
        sqlx::query("SELECT setval('kv_ids', GREATEST($1, (SELECT last_value FROM kv_ids)))")
            .bind(used)
            .execute(&self.pool)
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await
            .map_err(pg_error)?;
        Ok(Box::new(PgTransaction {
            tx,
            writes: BTreeMap::new(),
        }))
    }

    async fn flush(&self) -> Result<()> {
        // PostgreSQL answers a write only once it is in its write-ahead log: nothing is pending.
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.pool
            .execute("SELECT 1")
            .await
            .map(drop)
            .map_err(pg_error)
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

/// A `SERIALIZABLE` transaction whose writes wait in `writes` until commit, so that dropping it
/// writes nothing and its reads of keys it wrote need no round trip.
struct PgTransaction {
    tx: sqlx::Transaction<'static, Postgres>,
    /// `None`: removed.
    writes: BTreeMap<(Tree, Vec<u8>), Option<Vec<u8>>>,
}

#[async_trait]
impl Transaction for PgTransaction {
    async fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(written) = self.writes.get(&(tree, key.to_vec())) {
            return Ok(written.clone());
        }
        sqlx::query_scalar("SELECT value FROM kv WHERE tree = $1 AND key = $2")
            .bind(tree.name())
            .bind(key)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(pg_error)
    }

    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) {
        self.writes
            .insert((tree, key.to_vec()), Some(value.to_vec()));
    }

    fn remove(&mut self, tree: Tree, key: &[u8]) {
        self.writes.insert((tree, key.to_vec()), None);
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let PgTransaction { mut tx, writes } = *self;
        let (mut put_trees, mut put_keys, mut put_values) = (Vec::new(), Vec::new(), Vec::new());
        let (mut gone_trees, mut gone_keys) = (Vec::new(), Vec::new());
        for ((tree, key), value) in writes {
            match value {
                Some(value) => {
                    put_trees.push(tree.name());
                    put_keys.push(key);
                    put_values.push(value);
                }
                None => {
                    gone_trees.push(tree.name());
                    gone_keys.push(key);
                }
            }
        }
        // One statement per kind of write, whatever their number: a transaction's round trips
        // are the window in which another one can conflict with it.
        if !put_keys.is_empty() {
            sqlx::query(
                "INSERT INTO kv (tree, key, value)
                 SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[])
                 ON CONFLICT (tree, key) DO UPDATE SET value = excluded.value",
            )
            .bind(put_trees)
            .bind(put_keys)
            .bind(put_values)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        }
        if !gone_keys.is_empty() {
            sqlx::query(
                "DELETE FROM kv USING unnest($1::text[], $2::bytea[]) AS gone(tree, key)
                 WHERE kv.tree = gone.tree AND kv.key = gone.key",
            )
            .bind(gone_trees)
            .bind(gone_keys)
            .execute(&mut *tx)
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }
}

/// What went wrong, for errors after connect, when the URL is long out of reach.
fn pg_error(e: sqlx::Error) -> StoreError {
    describe(e, &UrlSecrets::default())
}

/// What went wrong, in our own words where sqlx's or the server's would name the user, the
/// database or the URL, and with `secrets` taken out of the text we pass on. Serialization
/// failures and deadlocks, at any statement of a transaction, are conflicts: running it again may
/// succeed.
fn describe(e: sqlx::Error, secrets: &UrlSecrets) -> StoreError {
    let message = match e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default().into_owned();
            match code.as_str() {
                "40001" | "40P01" => return StoreError::Conflict,
                c if c.starts_with("28") => {
                    format!(
                        "the server refused the login: check the user and password (SQLSTATE {c})"
                    )
                }
                "3D000" => "the database named in the URL does not exist (SQLSTATE 3D000)".into(),
                _ => format!("{} (SQLSTATE {code})", secrets.scrub(db.message())),
            }
        }
        // sqlx's own text may quote the URL; the URL parser's names only what is wrong.
        sqlx::Error::Configuration(cause) => match cause.downcast_ref::<url::ParseError>() {
            Some(cause) => format!("the database URL is not a valid PostgreSQL URL: {cause}"),
            None => "the database URL is not a valid PostgreSQL URL".into(),
        },
        sqlx::Error::Io(io) => {
            let cause = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "timed out".to_string(),
                _ => secrets.scrub(&io.to_string()),
            };
            format!("cannot reach the database server: {cause}")
        }
        sqlx::Error::Tls(cause) => format!(
            "the TLS handshake with the database server failed: {}",
            secrets.scrub(&cause.to_string())
        ),
        sqlx::Error::PoolTimedOut => format!(
            "no database connection became free within {} s",
            ACQUIRE_TIMEOUT.as_secs()
        ),
        other => secrets.scrub(&other.to_string()),
    };
    StoreError::Postgres(message)
}

/// The parts of a database URL that must never be shown. Only text that quotes the server or the
/// system goes through [`UrlSecrets::scrub`]: our own sentences hold no secret, and a user named
/// like a word in them would otherwise mangle them.
#[derive(Default)]
struct UrlSecrets(Vec<String>);

impl UrlSecrets {
    /// Parts shorter than this would mangle ordinary words and are not worth hiding.
    const SHORTEST: usize = 3;

    fn of(url: &str) -> Self {
        let mut parts = vec![url.to_string()];
        if let Ok(parsed) = url::Url::parse(url) {
            let raw = [
                Some(parsed.username()),
                parsed.password(),
                parsed.host_str(),
            ];
            for part in raw.into_iter().flatten() {
                parts.push(part.to_string());
                if let Ok(decoded) = percent_decode(part) {
                    parts.push(decoded);
                }
            }
        }
        parts.retain(|p| p.len() >= Self::SHORTEST);
        // Longest first, so that a part inside another one does not leave the rest visible.
        parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Self(parts)
    }

    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for part in &self.0 {
            text = text.replace(part.as_str(), "<redacted>");
        }
        text
    }
}

/// `%xx` escapes of a URL part decoded, as the server sees the user and password.
fn percent_decode(part: &str) -> std::result::Result<String, std::string::FromUtf8Error> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn connect_error(url: &str) -> String {
        match PostgresBackend::connect(&SecretString::from(url.to_string()), None).await {
            Ok(_) => panic!("connected to {url}"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn a_malformed_url_is_refused_without_echoing_its_password() {
        let message = connect_error("postgres://u:hunter2@db.example:notaport/omni").await;
        assert!(message.contains("not a valid PostgreSQL URL"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("db.example"), "{message}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_reported_without_its_address_or_password() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let message = connect_error("postgres://omni:hunter2@127.0.0.1:1/omni").await;
        assert!(
            message.contains("cannot reach the database server: connection refused"),
            "{message}"
        );
        for secret in ["hunter2", "127.0.0.1", "omni:"] {
            assert!(!message.contains(secret), "{secret} in {message}");
        }
    }

    #[test]
    fn every_secret_part_of_the_url_is_redacted() {
        let secrets = UrlSecrets::of("postgres://bot%40x:p%2Fss1@db.internal:5432/omni");
        let message = secrets.scrub("user bot@x, p/ss1 and p%2Fss1 at db.internal");
        for secret in ["bot@x", "p/ss1", "p%2Fss1", "db.internal"] {
            assert!(!message.contains(secret), "{secret} in {message}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("omni"), "\"omni\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (version, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
        }
    }
}
