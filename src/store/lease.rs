//! The replica lease in the `meta` tree (`replica:lease` → [`LeaseRecord`] as JSON): on a store
//! shared by several replicas, the one holding it does the work and the others stand by (see
//! [`crate::replica`]).
//!
//! The record carries a beat that its holder raises at every renewal. A replica standing by takes
//! the lease only when it is free, or when the beat it saw has not moved for a whole lease
//! period of its own clock: no two machines' clocks are compared.

use serde::{Deserialize, Serialize};

use super::kv::Tree;
use super::{atomically, Result, Step, Store};

const KEY: &[u8] = b"replica:lease";

/// Who holds the lease, and how often they renewed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub replica: String,
    pub beat: u64,
}

impl Store {
    /// The lease as it stands (`None`: free).
    pub async fn lease(&self) -> Result<Option<LeaseRecord>> {
        self.get_json(Tree::Meta, KEY).await
    }

    /// Takes the lease for `me` if it is free, ours already, or still exactly as `seen` (its
    /// holder stopped renewing it); returns whether it is ours now.
    pub async fn take_lease(&self, me: &str, seen: Option<&LeaseRecord>) -> Result<bool> {
        atomically!(self, |tx| {
            let current: Option<LeaseRecord> = match tx.get(Tree::Meta, KEY).await? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            };
            let free = match &current {
                None => true,
                Some(held) => held.replica == me || Some(held) == seen,
            };
            if !free {
                return Ok(Step::Abort(false));
            }
            let next = LeaseRecord {
                replica: me.to_owned(),
                beat: current.map_or(0, |held| held.beat) + 1,
            };
            tx.insert(Tree::Meta, KEY, &serde_json::to_vec(&next)?);
            Ok(Step::Commit(true))
        })
    }

    /// Raises the beat of `me`'s lease; false when another replica holds it now.
    pub async fn renew_lease(&self, me: &str) -> Result<bool> {
        atomically!(self, |tx| {
            let current: Option<LeaseRecord> = match tx.get(Tree::Meta, KEY).await? {
                Some(v) => Some(serde_json::from_slice(&v)?),
                None => None,
            };
            let Some(mut held) = current.filter(|held| held.replica == me) else {
                return Ok(Step::Abort(false));
            };
            held.beat += 1;
            tx.insert(Tree::Meta, KEY, &serde_json::to_vec(&held)?);
            Ok(Step::Commit(true))
        })
    }

    /// Gives the lease up, if `me` holds it, so that a replica standing by takes over at once.
    pub async fn release_lease(&self, me: &str) -> Result<()> {
        atomically!(self, |tx| {
            let mine = match tx.get(Tree::Meta, KEY).await? {
                Some(v) => serde_json::from_slice::<LeaseRecord>(&v)?.replica == me,
                None => false,
            };
            if !mine {
                return Ok(Step::Abort(()));
            }
            tx.remove(Tree::Meta, KEY);
            Ok(Step::Commit(()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::on_both_backends;

    on_both_backends! {
        async fn one_replica_holds_the_lease_until_it_stops_renewing_or_releases_it(store) {
            assert_eq!(store.lease().await.unwrap(), None);
            assert!(store.take_lease("a", None).await.unwrap());
            assert!(!store.take_lease("b", None).await.unwrap(), "a holds it");
            let seen = store.lease().await.unwrap().unwrap();
            assert_eq!(seen.replica, "a");
            // a renews: what b saw is stale, so b may not take it.
            assert!(store.renew_lease("a").await.unwrap());
            assert!(!store.take_lease("b", Some(&seen)).await.unwrap());
            // a stops renewing: b, having seen the same beat for a whole period, takes it.
            let stale = store.lease().await.unwrap().unwrap();
            assert!(store.take_lease("b", Some(&stale)).await.unwrap());
            assert!(!store.renew_lease("a").await.unwrap(), "a lost it");
            store.release_lease("a").await.unwrap();
            assert_eq!(store.lease().await.unwrap().unwrap().replica, "b");
            store.release_lease("b").await.unwrap();
            assert_eq!(store.lease().await.unwrap(), None);
        }
    }

    on_both_backends! {
        async fn of_many_replicas_taking_a_free_lease_at_once_exactly_one_gets_it(store) {
            let tries = (0..16).map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.take_lease(&format!("r{i}"), None).await.unwrap() })
            });
            let mut won = 0;
            for t in tries {
                won += usize::from(t.await.unwrap());
            }
            assert_eq!(won, 1);
        }
    }
}
