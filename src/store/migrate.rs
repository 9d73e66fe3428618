//! Copying one store into another (`omni-bot migrate-store --from sled --to postgres`): every
//! tree, key for key, so that the copy is the same data in the same layout; ids already used are
//! never given again by the copy.

use std::collections::BTreeMap;

use super::kv::Tree;
use super::{Result, Store};

/// Writes per transaction: large enough to be quick on a remote database, small enough that one
/// transaction stays short.
const BATCH: usize = 500;

/// What a copy wrote, per tree, in the order of [`Tree::ALL`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub per_tree: BTreeMap<Tree, usize>,
}

impl Copied {
    pub fn of(&self, tree: Tree) -> usize {
        self.per_tree.get(&tree).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.per_tree.values().sum()
    }
}

impl Store {
    /// Whether the store holds nothing yet (a copy goes only into an empty store).
    pub async fn is_empty(&self) -> Result<bool> {
        for tree in Tree::ALL {
            if !self.kv.scan_prefix(tree, &[]).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Copies everything in `self` into `target`, then makes `target`'s ids start past every
    /// id `self` gave. `self` is only read.
    pub async fn copy_into(&self, target: &Store) -> Result<Copied> {
        let mut copied = Copied::default();
        for tree in Tree::ALL {
            let pairs = self.kv.scan_prefix(tree, &[]).await?;
            for batch in pairs.chunks(BATCH) {
                let mut tx = target.kv.begin().await?;
                for (k, v) in batch {
                    tx.insert(tree, k, v);
                }
                tx.commit().await?;
            }
            copied.per_tree.insert(tree, pairs.len());
        }
        let used = self.kv.next_id().await?;
        target.kv.ids_after(used).await?;
        target.flush().await?;
        Ok(copied)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{job, on_both_backends};
    use super::*;
    use crate::domain::job::JobState;
    use crate::domain::render::Observed;

    on_both_backends! {
        async fn a_copy_holds_every_tree_and_never_gives_a_used_id_again(store) {
            let (_dir, source) = crate::store::test_support::store();
            let first = source.next_id().await.unwrap();
            source.put_job(&job(first.0, JobState::Queued)).await.unwrap();
            let seen = Observed::exactly(40_000.0);
            source.record_render_time("t2v-8s", &seen).await.unwrap();
            let last = source.next_id().await.unwrap();
            assert!(store.is_empty().await.unwrap());

            let copied = source.copy_into(&store).await.unwrap();

            assert_eq!(copied.of(Tree::Jobs), 1);
            assert_eq!(copied.of(Tree::Active), 1);
            assert_eq!(copied.total(), 3, "{copied:?}");
            assert!(!store.is_empty().await.unwrap());
            assert_eq!(store.active_jobs().await.unwrap().len(), 1);
            assert_eq!(
                store.render_stats("t2v-8s").await.unwrap(),
                source.render_stats("t2v-8s").await.unwrap()
            );
            assert!(store.next_id().await.unwrap() > last);
        }
    }
}
