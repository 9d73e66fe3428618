//! The ordered key-value layer the store is written on, and its two backends: sled, embedded (the
//! default: one binary and one folder), and PostgreSQL, shared by several replicas.
//!
//! Every store module builds its keys and encodes its values the same way on both backends; a
//! backend only keeps bytes under `(tree, key)`, in key order, and runs transactions. One
//! transaction reads keys (seeing its own writes) and then writes; it commits only if nothing it
//! read changed meanwhile, in this process or another one, else [`Transaction::commit`] answers
//! [`StoreError::Conflict`] and [`super::Store::atomically`] runs it again. On sled that is
//! optimistic: the reads are checked again inside one sled transaction that also applies the
//! writes. On PostgreSQL it is a `SERIALIZABLE` transaction, whose serialization failures are the
//! conflicts.

use async_trait::async_trait;

use super::{Result, StoreError};

pub mod postgres;
pub mod sled;

/// Every tree (a named key space) of the bot's database. The names are sled's tree names and
/// PostgreSQL's `kv.tree` values; a data folder and a database written by earlier versions keep
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tree {
    Jobs,
    Active,
    Events,
    Threads,
    Meta,
    Counters,
    Reservations,
    Policies,
    UsageMeta,
    Servers,
    History,
    Claims,
}

impl Tree {
    pub const ALL: [Tree; 12] = [
        Tree::Jobs,
        Tree::Active,
        Tree::Events,
        Tree::Threads,
        Tree::Meta,
        Tree::Counters,
        Tree::Reservations,
        Tree::Policies,
        Tree::UsageMeta,
        Tree::Servers,
        Tree::History,
        Tree::Claims,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tree::Jobs => "jobs",
            Tree::Active => "active",
            Tree::Events => "events",
            Tree::Threads => "threads",
            Tree::Meta => "meta",
            Tree::Counters => "usage_counters",
            Tree::Reservations => "usage_reservations",
            Tree::Policies => "guild_policies",
            Tree::UsageMeta => "usage_meta",
            Tree::Servers => "servers",
            Tree::History => "history",
            Tree::Claims => "event_claims",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Keys and values, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Where the bytes live.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;
    async fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()>;
    async fn remove(&self, tree: Tree, key: &[u8]) -> Result<()>;
    /// Every pair whose key starts with `prefix` (all of them for an empty prefix), in key order.
    async fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Pairs>;
    /// A fresh id: never 0, never given twice, also across restarts and replicas.
    async fn next_id(&self) -> Result<u64>;
    /// Makes every later [`Backend::next_id`] greater than `used` (ids copied from another
    /// store are never given again).
    async fn ids_after(&self, used: u64) -> Result<()>;
    /// Starts a transaction; see the module documentation.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;
    /// Waits until every write so far survives a crash of this process.
    async fn flush(&self) -> Result<()>;
    /// A cheap round trip that proves the store answers (for health checks and `check`).
    async fn ping(&self) -> Result<()>;
    /// "sled" or "postgres", for logs and health lines.
    fn kind(&self) -> &'static str;
}

/// One transaction. Dropped without [`Transaction::commit`], it writes nothing.
#[async_trait]
pub trait Transaction: Send {
    /// The value under `key`, as this transaction wrote it or as it was when first read.
    async fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>>;
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]);
    fn remove(&mut self, tree: Tree, key: &[u8]);
    /// Applies every write at once, or none and [`StoreError::Conflict`] when something this
    /// transaction read was changed by another one meanwhile.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The smallest key greater than every key that starts with `prefix` (`None`: there is none).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl StoreError {
    /// Whether running the transaction again may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict)
    }
}

#[cfg(test)]
pub(crate) mod tests;
