//! Small named facts in the `meta` tree: `render:<kind>` → learned [`RenderStats`],
//! `once:<what>` → a flag set the first time ([`Once`]), and `draft:<id>` → a short-lived value with its
//! expiry (the images of a pending "Animate with Omni" request).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::kv::Tree;
use super::{atomically, Result, Step, Store};
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::permissions::Permission;
use crate::domain::render::{Observed, RenderStats};

/// Something that happens once only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Once {
    /// The tip to a server's moderators that the bot lacks a permission in a channel.
    PermissionTip(ChannelId, Permission),
    /// The welcome message in a server.
    Welcome(GuildId),
}

impl Once {
    fn key(self) -> String {
        match self {
            Self::PermissionTip(channel, p) => format!("once:permission-tip:{channel}:{}", p.key()),
            Self::Welcome(guild) => format!("once:welcome:{guild}"),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Draft<T> {
    expires_at_ms: i64,
    value: T,
}

/// The part of a draft needed to see whether it expired.
#[derive(Deserialize)]
struct DraftExpiry {
    expires_at_ms: i64,
}

fn draft_key(id: u64) -> String {
    format!("draft:{id}")
}

impl Store {
    /// True the first time it is called for `what`, false ever after.
    pub async fn first_time(&self, what: Once) -> Result<bool> {
        let k = what.key();
        atomically!(self, |tx| {
            if tx.get(Tree::Meta, k.as_bytes()).await?.is_some() {
                return Ok(Step::Abort(false));
            }
            tx.insert(Tree::Meta, k.as_bytes(), &[1]);
            Ok(Step::Commit(true))
        })
    }

    pub async fn render_stats(&self, kind: &str) -> Result<Option<RenderStats>> {
        self.get_json(Tree::Meta, format!("render:{kind}").as_bytes())
            .await
    }

    /// Folds one observed render time into the kind's statistics (see
    /// [`RenderStats::with_sample`]) and returns them.
    pub async fn record_render_time(&self, kind: &str, seen: &Observed) -> Result<RenderStats> {
        let k = format!("render:{kind}");
        atomically!(self, |tx| {
            // An unreadable old value counts as no samples yet.
            let old: Option<RenderStats> = tx
                .get(Tree::Meta, k.as_bytes())
                .await?
                .and_then(|v| serde_json::from_slice(&v).ok());
            let stats = RenderStats::with_sample(old, seen);
            tx.insert(Tree::Meta, k.as_bytes(), &serde_json::to_vec(&stats)?);
            Ok(Step::Commit(stats))
        })
    }

    /// Keeps `value` under `id` until `expires_at_ms`.
    pub async fn put_draft<T: Serialize>(
        &self,
        id: u64,
        value: &T,
        expires_at_ms: i64,
    ) -> Result<()> {
        let draft = Draft {
            expires_at_ms,
            value,
        };
        self.put_json(Tree::Meta, draft_key(id).as_bytes(), &draft)
            .await
    }

    /// The draft under `id`, unless it expired by `now_ms`.
    pub async fn draft<T: DeserializeOwned>(&self, id: u64, now_ms: i64) -> Result<Option<T>> {
        let draft: Option<Draft<T>> = self.get_json(Tree::Meta, draft_key(id).as_bytes()).await?;
        Ok(draft.and_then(|d| (d.expires_at_ms > now_ms).then_some(d.value)))
    }

    /// Removes every draft that expired by `now_ms`; returns how many.
    pub async fn sweep_drafts(&self, now_ms: i64) -> Result<usize> {
        let mut removed = 0;
        for (k, v) in self.kv.scan_prefix(Tree::Meta, b"draft:").await? {
            let expired = serde_json::from_slice::<DraftExpiry>(&v)
                .map_or(true, |d| d.expires_at_ms <= now_ms);
            if expired {
                self.kv.remove(Tree::Meta, &k).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::on_both_backends;
    use super::*;

    on_both_backends! {
        async fn first_time_is_true_once(store) {
            let tip = |c| Once::PermissionTip(ChannelId(c), Permission::AttachFiles);
            assert!(store.first_time(tip(1)).await.unwrap());
            assert!(!store.first_time(tip(1)).await.unwrap());
            assert!(store.first_time(tip(2)).await.unwrap());
            let other = Once::PermissionTip(ChannelId(1), Permission::CreatePublicThreads);
            assert!(store.first_time(other).await.unwrap());
        }
    }

    on_both_backends! {
        async fn render_times_are_kept_per_kind(store) {
            let first = Observed {
                after_ms: 90.0,
                by_ms: 110.0,
                estimate_ms: 100.0,
                unsure_var_ms2: 30.0,
            };
            store.record_render_time("t2v-8s", &first).await.unwrap();
            let s = store
                .record_render_time("t2v-8s", &Observed::exactly(200.0))
                .await
                .unwrap();
            assert_eq!(s.samples, 2);
            assert_eq!(s.recent, [[90.0, 110.0], [200.0, 200.0]]);
            assert_eq!(store.render_stats("t2v-8s").await.unwrap(), Some(s));
            assert!(store.render_stats("other").await.unwrap().is_none());
        }
    }

    on_both_backends! {
        async fn a_draft_is_there_until_it_expires_and_is_then_swept(store) {
            store
                .put_draft(1, &vec!["a".to_owned()], 1_000)
                .await
                .unwrap();
            store
                .put_draft(2, &vec!["b".to_owned()], 5_000)
                .await
                .unwrap();
            assert_eq!(
                store.draft::<Vec<String>>(1, 999).await.unwrap(),
                Some(vec!["a".to_owned()])
            );
            assert_eq!(store.draft::<Vec<String>>(1, 1_000).await.unwrap(), None);
            assert_eq!(store.sweep_drafts(2_000).await.unwrap(), 1);
            assert_eq!(
                store.draft::<Vec<String>>(2, 2_000).await.unwrap(),
                Some(vec!["b".to_owned()])
            );
        }
    }
}
