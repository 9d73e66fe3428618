//! The embedded backend: one sled tree per [`Tree`], in one folder.
//!
//! Transactions are optimistic: reads go to the trees (or to the transaction's own writes) and are
//! remembered with what they saw; commit checks them again and applies the writes inside one sled
//! transaction over every tree involved, so a transaction whose reads changed meanwhile writes
//! nothing and answers [`StoreError::Conflict`]. Nothing is awaited between a read and the sled
//! calls, so in one process a transaction only conflicts with work on another thread.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use sled::transaction::{abort, TransactionError};
use sled::Transactional;

use super::{Backend, Pairs, Transaction, Tree};
use crate::store::{Result, StoreError};

pub struct SledBackend {
    db: sled::Db,
    /// Indexed by [`Tree::index`].
    trees: Vec<sled::Tree>,
    /// Whether [`Backend::flush`] reaches the disk (always, but in the simulation).
    durable: bool,
}

impl SledBackend {
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::Sled(e.into()))?;
            }
        }
        Self::from_db(sled::open(path)?, true)
    }

    /// A throwaway database whose flushes do not wait for the disk, for the deterministic
    /// simulation: its crashes drop the bot's memory, never the store's, and a flush on
    /// another thread would make the interleaving depend on the disk. sled keeps it in a
    /// temporary file (in memory, under `/dev/shm`, where there is one) removed on drop.
    pub fn temporary() -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()?;
        Self::from_db(db, false)
    }

    fn from_db(db: sled::Db, durable: bool) -> Result<Self> {
        let trees = Tree::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self { db, trees, durable })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.index()]
    }
}

#[async_trait]
impl Backend for SledBackend {
    async fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    async fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(tree).insert(key, value)?;
        Ok(())
    }

    async fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.tree(tree).remove(key)?;
        Ok(())
    }

    async fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Pairs> {
        self.tree(tree)
            .scan_prefix(prefix)
            .map(|item| {
                let (k, v) = item?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    async fn next_id(&self) -> Result<u64> {
        // generate_id is unique across restarts, but starts at 0; keep 0 free.
        Ok(self.db.generate_id()? + 1)
    }

    async fn ids_after(&self, used: u64) -> Result<()> {
        // sled's ids only count up: draw until past `used` (a copy into sled is rare and small).
        while self.db.generate_id()? + 1 < used {}
        Ok(())
    }

    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(SledTransaction {
            trees: self.trees.clone(),
            reads: Vec::new(),
            writes: BTreeMap::new(),
        }))
    }

    /// Not `sled::Db::flush_async`: in sled 0.34 that runs the flush on sled's own small IO pool,
    /// and when its threads all wait in flushes while a transaction waits for them, no thread is
    /// left to write the buffer the flushes wait for: every job hangs (spacejam/sled#1308; the
    /// polling benchmark hit it with 1,000 jobs in flight). A blocking flush on tokio's blocking
    /// pool leaves sled's pool free for that write.
    async fn flush(&self) -> Result<()> {
        if !self.durable {
            return Ok(());
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| sled::Error::ReportableBug(format!("the flush task failed: {e}")))??;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        self.tree(Tree::Meta).get(b"ping")?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "sled"
    }
}

type Key = (Tree, Vec<u8>);

struct SledTransaction {
    trees: Vec<sled::Tree>,
    /// Every key read from a tree, with what it held then.
    reads: Vec<(Key, Option<Vec<u8>>)>,
    /// `None`: removed.
    writes: BTreeMap<Key, Option<Vec<u8>>>,
}

#[async_trait]
impl Transaction for SledTransaction {
    async fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = (tree, key.to_vec());
        if let Some(written) = self.writes.get(&k) {
            return Ok(written.clone());
        }
        if let Some((_, seen)) = self.reads.iter().find(|(read, _)| *read == k) {
            return Ok(seen.clone());
        }
        let value = self.trees[tree.index()].get(key)?.map(|v| v.to_vec());
        self.reads.push((k, value.clone()));
        Ok(value)
    }

    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) {
        self.writes
            .insert((tree, key.to_vec()), Some(value.to_vec()));
    }

    fn remove(&mut self, tree: Tree, key: &[u8]) {
        self.writes.insert((tree, key.to_vec()), None);
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut involved: Vec<Tree> = self
            .reads
            .iter()
            .map(|((t, _), _)| *t)
            .chain(self.writes.keys().map(|(t, _)| *t))
            .collect();
        involved.sort();
        involved.dedup();
        let position = |t: Tree| involved.iter().position(|i| *i == t).unwrap_or(0);
        let trees: Vec<sled::Tree> = involved
            .iter()
            .map(|t| self.trees[t.index()].clone())
            .collect();
        let outcome = trees.as_slice().transaction(|txs| {
            for ((tree, key), seen) in &self.reads {
                if txs[position(*tree)].get(key)?.as_deref() != seen.as_deref() {
                    return abort(());
                }
            }
            for ((tree, key), value) in &self.writes {
                let t = &txs[position(*tree)];
                match value {
                    Some(v) => t.insert(key.as_slice(), v.as_slice())?,
                    None => t.remove(key.as_slice())?,
                };
            }
            Ok(())
        });
        match outcome {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(())) => Err(StoreError::Conflict),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}
