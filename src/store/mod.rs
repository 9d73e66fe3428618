//! The embedded store: every sled tree, its key layout and its value encoding live here.
//!
//! Trees:
//! - `jobs`: job id (u64, big-endian) → [`Job`] as JSON.
//! - `active`: job id → empty, for every job that is not final (what start-up resumes).
//! - `threads`: conversation channel id (u64 BE) → [`ThreadInfo`] as JSON.
//! - `meta`: small named facts (`render:<kind>` timings, `once:<...>` flags).
//!
//! Values are JSON so that a data folder stays readable across versions. Writes that must survive
//! a crash before a side effect are flushed ([`Store::put_job_durable`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::job::{Job, JobId};

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

/// One clip posted in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipRecord {
    pub job_id: JobId,
    /// The vendor's id to iterate on this clip; `None` when the API gave none.
    pub video_id: Option<String>,
    /// The Discord message that carries the clip.
    pub message_id: u64,
}

/// What the bot knows about a conversation (a thread, or a channel used in place of one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    pub clips: Vec<ClipRecord>,
}

impl ThreadInfo {
    /// The newest clip's video id, the one a follow-up continues.
    pub fn latest_video_id(&self) -> Option<&str> {
        self.clips.last().and_then(|c| c.video_id.as_deref())
    }
}

/// Learned render time for one kind of request (an exponentially weighted mean).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RenderStats {
    pub mean_ms: f64,
    pub samples: u64,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    jobs: sled::Tree,
    active: sled::Tree,
    threads: sled::Tree,
    meta: sled::Tree,
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
        let db = sled::open(path)?;
        Ok(Self {
            jobs: db.open_tree("jobs")?,
            active: db.open_tree("active")?,
            threads: db.open_tree("threads")?,
            meta: db.open_tree("meta")?,
            db,
        })
    }

    /// A fresh, never reused id.
    pub fn next_id(&self) -> Result<u64> {
        // generate_id is unique across restarts, but starts at 0; keep 0 free.
        Ok(self.db.generate_id()? + 1)
    }

    /// Writes the job and keeps the `active` index in step, atomically.
    pub fn put_job(&self, job: &Job) -> Result<()> {
        use sled::Transactional;
        let value = serde_json::to_vec(job)?;
        let k = key(job.id);
        let is_final = job.state.is_final();
        (&self.jobs, &self.active)
            .transaction(|(jobs, active)| {
                jobs.insert(&k, value.as_slice())?;
                if is_final {
                    active.remove(&k)?;
                } else {
                    active.insert(&k, &[])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| StoreError::Transaction(format!("{e:?}")))?;
        Ok(())
    }

    /// [`Store::put_job`], then waits until it is on disk.
    pub async fn put_job_durable(&self, job: &Job) -> Result<()> {
        self.put_job(job)?;
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn job(&self, id: JobId) -> Result<Option<Job>> {
        match self.jobs.get(key(id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Every job that is not final, oldest first.
    pub fn active_jobs(&self) -> Result<Vec<Job>> {
        let mut out = Vec::new();
        for k in self.active.iter().keys() {
            let k = k?;
            if let Some(v) = self.jobs.get(&k)? {
                out.push(serde_json::from_slice(&v)?);
            }
        }
        Ok(out)
    }

    pub fn thread(&self, channel_id: u64) -> Result<Option<ThreadInfo>> {
        match self.threads.get(key(channel_id))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Records a clip in a conversation (idempotent per job id).
    pub fn record_clip(&self, channel_id: u64, clip: ClipRecord) -> Result<ThreadInfo> {
        let k = key(channel_id);
        let mut decode_error = None;
        let updated = self.threads.update_and_fetch(k, |old| {
            let mut info: ThreadInfo = match old.map(serde_json::from_slice).transpose() {
                Ok(info) => info.unwrap_or_default(),
                Err(e) => {
                    decode_error = Some(e);
                    return old.map(<[u8]>::to_vec);
                }
            };
            if !info.clips.iter().any(|c| c.job_id == clip.job_id) {
                info.clips.push(clip.clone());
            }
            serde_json::to_vec(&info).ok()
        })?;
        if let Some(e) = decode_error {
            return Err(e.into());
        }
        let bytes = updated.unwrap_or_default();
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Marks a conversation as the bot's (so that replies in it are understood later).
    pub fn ensure_thread(&self, channel_id: u64) -> Result<()> {
        let k = key(channel_id);
        if self.threads.get(k)?.is_none() {
            let _ = self.threads.compare_and_swap(
                k,
                None as Option<&[u8]>,
                Some(serde_json::to_vec(&ThreadInfo::default())?),
            )?;
        }
        Ok(())
    }

    /// True the first time it is called for `name`, false ever after.
    pub fn first_time(&self, name: &str) -> Result<bool> {
        let k = format!("once:{name}");
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

    /// Folds one observed render time into the kind's running mean.
    pub fn record_render_time(&self, kind: &str, render_ms: f64) -> Result<RenderStats> {
        let k = format!("render:{kind}");
        let fetched = self.meta.update_and_fetch(k.as_bytes(), |old| {
            let old: Option<RenderStats> = old.and_then(|v| serde_json::from_slice(v).ok());
            let next = match old {
                None => RenderStats {
                    mean_ms: render_ms,
                    samples: 1,
                },
                Some(s) => {
                    // Weight recent jobs more once there are a few samples (vendor speed drifts).
                    let weight = 1.0 / ((s.samples + 1).min(20) as f64);
                    RenderStats {
                        mean_ms: s.mean_ms + (render_ms - s.mean_ms) * weight,
                        samples: s.samples + 1,
                    }
                }
            };
            serde_json::to_vec(&next).ok()
        })?;
        Ok(serde_json::from_slice(&fetched.unwrap_or_default())?)
    }

    pub async fn flush(&self) -> Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// The sled database, for submodules that own further trees.
    #[allow(dead_code)] // used by the usage submodule as it lands
    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// A cheap read that proves the store answers (for health checks).
    pub fn ping(&self) -> bool {
        self.meta.get(b"ping").is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;
    use crate::request::{Draft, GenerationRequest, InputLimits};

    fn job(id: u64, state: JobState) -> Job {
        let request = GenerationRequest::validate(
            Draft {
                prompt: "waves".into(),
                ..Draft::default()
            },
            &InputLimits::from_megabytes(1, 1),
        )
        .unwrap();
        Job {
            id,
            guild_id: Some(1),
            channel_id: 2,
            user_id: 3,
            request,
            attachment_size_limit: 10,
            created_at_ms: 0,
            place: None,
            state,
            conversation: None,
            continues: None,
        }
    }

    #[test]
    fn jobs_and_the_active_index_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(&path).unwrap();
            store.put_job(&job(1, JobState::Accepted)).unwrap();
            store
                .put_job(&job(
                    2,
                    JobState::Delivered {
                        message_id: 9,
                        video_id: None,
                    },
                ))
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let active = store.active_jobs().unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].id, 1);
        assert!(store.job(2).unwrap().unwrap().state.is_final());
    }

    #[test]
    fn a_job_leaves_the_active_index_when_it_becomes_final() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let mut j = job(5, JobState::Accepted);
        store.put_job(&j).unwrap();
        j.state = JobState::Failed {
            reason: "x".into(),
            refunded: true,
        };
        store.put_job(&j).unwrap();
        assert!(store.active_jobs().unwrap().is_empty());
    }

    #[test]
    fn recording_the_same_clip_twice_keeps_one_and_the_latest_video_id_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let clip = |job_id, vid: Option<&str>| ClipRecord {
            job_id,
            video_id: vid.map(str::to_owned),
            message_id: job_id * 10,
        };
        store.record_clip(7, clip(1, Some("v1"))).unwrap();
        store.record_clip(7, clip(1, Some("v1"))).unwrap();
        let info = store.record_clip(7, clip(2, Some("v2"))).unwrap();
        assert_eq!(info.clips.len(), 2);
        assert_eq!(info.latest_video_id(), Some("v2"));
        assert_eq!(store.thread(8).unwrap(), None);
    }

    #[test]
    fn first_time_is_true_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert!(store.first_time("tip:1").unwrap());
        assert!(!store.first_time("tip:1").unwrap());
        assert!(store.first_time("tip:2").unwrap());
    }

    #[test]
    fn render_times_are_learned_as_a_running_mean() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store.record_render_time("t2v-8s", 100.0).unwrap();
        let s = store.record_render_time("t2v-8s", 200.0).unwrap();
        assert_eq!(s.samples, 2);
        assert!((s.mean_ms - 150.0).abs() < 1e-9);
        assert!(store.render_stats("other").unwrap().is_none());
    }

    #[test]
    fn ids_are_unique_and_never_zero() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let a = store.next_id().unwrap();
        let b = store.next_id().unwrap();
        assert!(a > 0 && b > a);
    }
}
