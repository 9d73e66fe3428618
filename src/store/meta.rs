//! Small named facts in the `meta` tree: `render:<kind>` → learned [`RenderStats`],
//! `once:<what>` → a flag set the first time ([`Once`]), and `draft:<id>` → a short-lived value with its
//! expiry (the images of a pending "Animate with Omni" request).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Result, Store};
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::permissions::Permission;
use crate::domain::render::RenderStats;

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
    pub fn first_time(&self, what: Once) -> Result<bool> {
        let k = what.key();
        let swapped =
            self.meta
                .compare_and_swap(k.as_bytes(), None as Option<&[u8]>, Some(&[1u8][..]))?;
        Ok(swapped.is_ok())
    }

    pub fn render_stats(&self, kind: &str) -> Result<Option<RenderStats>> {
        match self.meta.get(format!("render:{kind}"))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Folds one observed render time into the kind's statistics (see
    /// [`RenderStats::with_sample`]) and returns them.
    pub fn record_render_time(
        &self,
        kind: &str,
        render_ms: f64,
        unsure_var_ms2: f64,
    ) -> Result<RenderStats> {
        let k = format!("render:{kind}");
        let fetched = self.meta.update_and_fetch(k.as_bytes(), |old| {
            let old: Option<RenderStats> = old.and_then(|v| serde_json::from_slice(v).ok());
            serde_json::to_vec(&RenderStats::with_sample(old, render_ms, unsure_var_ms2)).ok()
        })?;
        Ok(serde_json::from_slice(&fetched.unwrap_or_default())?)
    }

    /// Keeps `value` under `id` until `expires_at_ms`.
    pub fn put_draft<T: Serialize>(&self, id: u64, value: &T, expires_at_ms: i64) -> Result<()> {
        let draft = Draft {
            expires_at_ms,
            value,
        };
        self.meta
            .insert(draft_key(id), serde_json::to_vec(&draft)?)?;
        Ok(())
    }

    /// The draft under `id`, unless it expired by `now_ms`.
    pub fn draft<T: DeserializeOwned>(&self, id: u64, now_ms: i64) -> Result<Option<T>> {
        let Some(bytes) = self.meta.get(draft_key(id))? else {
            return Ok(None);
        };
        let draft: Draft<T> = serde_json::from_slice(&bytes)?;
        Ok((draft.expires_at_ms > now_ms).then_some(draft.value))
    }

    /// Removes every draft that expired by `now_ms`; returns how many.
    pub fn sweep_drafts(&self, now_ms: i64) -> Result<usize> {
        let mut removed = 0;
        for item in self.meta.scan_prefix(b"draft:") {
            let (k, v) = item?;
            let expired = serde_json::from_slice::<DraftExpiry>(&v)
                .map_or(true, |d| d.expires_at_ms <= now_ms);
            if expired {
                self.meta.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::store;
    use super::*;

    #[test]
    fn first_time_is_true_once() {
        let (_dir, store) = store();
        let tip = |c| Once::PermissionTip(ChannelId(c), Permission::AttachFiles);
        assert!(store.first_time(tip(1)).unwrap());
        assert!(!store.first_time(tip(1)).unwrap());
        assert!(store.first_time(tip(2)).unwrap());
        let other = Once::PermissionTip(ChannelId(1), Permission::CreatePublicThreads);
        assert!(store.first_time(other).unwrap());
    }

    #[test]
    fn render_times_are_kept_per_kind() {
        let (_dir, store) = store();
        store.record_render_time("t2v-8s", 100.0, 0.0).unwrap();
        let s = store.record_render_time("t2v-8s", 200.0, 0.0).unwrap();
        assert_eq!(s.samples, 2);
        assert_eq!(store.render_stats("t2v-8s").unwrap(), Some(s));
        assert!(store.render_stats("other").unwrap().is_none());
    }

    #[test]
    fn a_draft_is_there_until_it_expires_and_is_then_swept() {
        let (_dir, store) = store();
        store.put_draft(1, &vec!["a".to_owned()], 1_000).unwrap();
        store.put_draft(2, &vec!["b".to_owned()], 5_000).unwrap();
        assert_eq!(
            store.draft::<Vec<String>>(1, 999).unwrap(),
            Some(vec!["a".to_owned()])
        );
        assert_eq!(store.draft::<Vec<String>>(1, 1_000).unwrap(), None);
        assert_eq!(store.sweep_drafts(2_000).unwrap(), 1);
        assert_eq!(
            store.draft::<Vec<String>>(2, 2_000).unwrap(),
            Some(vec!["b".to_owned()])
        );
    }
}
