//! The embedded store: every sled tree, its key layout and its value encoding live here.
//!
//! Trees:
//! - `jobs`: job id (u64, big-endian) → [`Job`] as JSON.
//! - `active`: job id → empty, for every job that is not final (what start-up resumes).
//! - `threads`: conversation channel id (u64 BE) → [`ThreadInfo`] as JSON.
//! - `meta`: small named facts (`render:<kind>` timings, `once:<...>` flags).
//! - usage counters, reservations, server policies and the last balance: see [`usage`].
//!
//! Values are JSON so that a data folder stays readable across versions. Writes that must survive
//! a crash before a side effect are flushed ([`Store::put_job_durable`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::job::{Job, JobId};

mod usage;
pub use usage::{Balance, Report, Reservation, ReserveRequest, UsageStore};

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
    /// Its version label (`v1`, `v2`, `v1.1`).
    #[serde(default)]
    pub label: String,
    /// The clip it continued.
    #[serde(default)]
    pub parent: Option<JobId>,
}

/// A version label given to a job before its clip is posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    pub job_id: JobId,
    pub label: String,
    pub parent: Option<JobId>,
}

/// What the bot knows about a conversation (a thread, or a channel used in place of one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    pub clips: Vec<ClipRecord>,
    /// The bot made this thread: every message in it is about its clips. Otherwise (a DM, a
    /// channel used in place, someone else's thread) only replies to a clip are.
    #[serde(default)]
    pub owned: bool,
    /// Every label handed out, so that a label is stable across retries and never reused.
    #[serde(default)]
    pub labels: Vec<LabelRecord>,
    /// The job this thread was made for: until its clip arrives, a message here continues it.
    #[serde(default)]
    pub opened_for: Option<JobId>,
}

impl ThreadInfo {
    /// The newest clip's video id, the one a follow-up continues.
    pub fn latest_video_id(&self) -> Option<&str> {
        self.clips.last().and_then(|c| c.video_id.as_deref())
    }

    /// The clip carried by a message.
    pub fn clip_by_message(&self, message_id: u64) -> Option<&ClipRecord> {
        self.clips.iter().find(|c| c.message_id == message_id)
    }

    pub fn clip_by_job(&self, job_id: JobId) -> Option<&ClipRecord> {
        self.clips.iter().find(|c| c.job_id == job_id)
    }

    pub fn label_of(&self, job_id: JobId) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.job_id == job_id)
            .map(|l| l.label.as_str())
    }
}

/// Learned render time for one kind of request (an exponentially weighted mean).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RenderStats {
    pub mean_ms: f64,
    pub samples: u64,
    /// Exponentially weighted variance (ms²): how much this kind's renders vary.
    #[serde(default)]
    pub var_ms2: f64,
}

impl RenderStats {
    /// The spread of this kind's render times.
    pub fn sd_ms(&self) -> f64 {
        self.var_ms2.max(0.0).sqrt()
    }
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
        self.flush().await
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
        self.update_thread(channel_id, |info| {
            if !info.clips.iter().any(|c| c.job_id == clip.job_id) {
                info.clips.push(clip.clone());
            }
        })
    }

    /// Marks a conversation as the bot's (so that replies in it are understood later);
    /// `owned` when the bot made the thread itself.
    pub fn ensure_thread(&self, channel_id: u64, owned: bool) -> Result<()> {
        self.update_thread(channel_id, |info| info.owned |= owned)?;
        Ok(())
    }

    /// Records a thread the bot is about to make for `job`, before the thread exists, so that
    /// a message arriving the moment it appears is already understood.
    pub fn open_thread(&self, channel_id: u64, job: JobId) -> Result<()> {
        self.update_thread(channel_id, |info| {
            info.owned = true;
            info.opened_for = Some(job);
        })?;
        Ok(())
    }

    /// Forgets a conversation record that holds no clip (a thread that could not be made).
    pub fn forget_empty_thread(&self, channel_id: u64) -> Result<()> {
        if self.thread(channel_id)?.is_some_and(|t| t.clips.is_empty()) {
            self.threads.remove(key(channel_id))?;
        }
        Ok(())
    }

    /// Applies `change` to a conversation's record atomically and returns the result.
    fn update_thread(
        &self,
        channel_id: u64,
        mut change: impl FnMut(&mut ThreadInfo),
    ) -> Result<ThreadInfo> {
        let mut decode_error = None;
        let updated = self.threads.update_and_fetch(key(channel_id), |old| {
            let mut info: ThreadInfo = match old.map(serde_json::from_slice).transpose() {
                Ok(info) => info.unwrap_or_default(),
                Err(e) => {
                    decode_error = Some(e);
                    return old.map(<[u8]>::to_vec);
                }
            };
            change(&mut info);
            serde_json::to_vec(&info).ok()
        })?;
        if let Some(e) = decode_error {
            return Err(e.into());
        }
        Ok(serde_json::from_slice(&updated.unwrap_or_default())?)
    }

    /// The version label of `job_id` in a conversation, handed out once and stable after.
    pub fn assign_label(
        &self,
        channel_id: u64,
        job_id: JobId,
        parent: Option<JobId>,
    ) -> Result<String> {
        let info = self.update_thread(channel_id, |info| {
            if info.label_of(job_id).is_some() {
                return;
            }
            let existing: Vec<crate::versions::Labelled<'_>> = info
                .labels
                .iter()
                .map(|l| crate::versions::Labelled {
                    job_id: l.job_id,
                    label: &l.label,
                    parent: l.parent,
                })
                .collect();
            let label = crate::versions::next_label(&existing, parent);
            info.labels.push(LabelRecord {
                job_id,
                label,
                parent,
            });
        })?;
        Ok(info.label_of(job_id).unwrap_or("v1").to_owned())
    }

    /// Keeps a small JSON value under `name` (e.g. a pending context-menu request).
    pub fn put_meta<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.meta
            .insert(format!("value:{name}"), serde_json::to_vec(value)?)?;
        Ok(())
    }

    pub fn get_meta<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        match self.meta.get(format!("value:{name}"))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
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

    /// Folds one observed render time into the kind's running mean and variance.
    /// `unsure_var_ms2` is how uncertain the observation itself is (a render is only known to
    /// lie between two polls): it counts toward the spread as an expected squared deviation.
    pub fn record_render_time(
        &self,
        kind: &str,
        render_ms: f64,
        unsure_var_ms2: f64,
    ) -> Result<RenderStats> {
        let k = format!("render:{kind}");
        let fetched = self.meta.update_and_fetch(k.as_bytes(), |old| {
            let old: Option<RenderStats> = old.and_then(|v| serde_json::from_slice(v).ok());
            let next = match old {
                None => RenderStats {
                    mean_ms: render_ms,
                    samples: 1,
                    var_ms2: unsure_var_ms2.max(0.0),
                },
                Some(s) => {
                    // Weight recent jobs more once there are a few samples (vendor speed drifts).
                    let weight = 1.0 / ((s.samples + 1).min(20) as f64);
                    let delta = render_ms - s.mean_ms;
                    RenderStats {
                        mean_ms: s.mean_ms + delta * weight,
                        samples: s.samples + 1,
                        var_ms2: (1.0 - weight)
                            * (s.var_ms2 + weight * (delta * delta + unsure_var_ms2.max(0.0))),
                    }
                }
            };
            serde_json::to_vec(&next).ok()
        })?;
        Ok(serde_json::from_slice(&fetched.unwrap_or_default())?)
    }

    /// Waits until every write so far is on disk.
    ///
    /// Not `sled::Db::flush_async`: in sled 0.34 that runs the flush on sled's own small IO pool,
    /// and when its threads all wait in flushes while a transaction ([`Store::put_job`]) waits
    /// for them, no thread is left to write the buffer the flushes wait for: every job hangs
    /// (spacejam/sled#1308; the polling benchmark hit it with 1,000 jobs in flight). A blocking
    /// flush on tokio's blocking pool leaves sled's pool free for that write.
    pub async fn flush(&self) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| sled::Error::ReportableBug(format!("the flush task failed: {e}")))??;
        Ok(())
    }

    /// The sled database, for submodules that own further trees.
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
            label: format!("v{job_id}"),
            parent: None,
        };
        store.record_clip(7, clip(1, Some("v1"))).unwrap();
        store.record_clip(7, clip(1, Some("v1"))).unwrap();
        let info = store.record_clip(7, clip(2, Some("v2"))).unwrap();
        assert_eq!(info.clips.len(), 2);
        assert_eq!(info.latest_video_id(), Some("v2"));
        assert_eq!(store.thread(8).unwrap(), None);
    }

    #[test]
    fn a_label_is_handed_out_once_and_branches_follow_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(store.assign_label(7, 1, None).unwrap(), "v1");
        assert_eq!(
            store.assign_label(7, 1, None).unwrap(),
            "v1",
            "stable on retry"
        );
        assert_eq!(store.assign_label(7, 2, Some(1)).unwrap(), "v2");
        assert_eq!(store.assign_label(7, 3, Some(1)).unwrap(), "v1.1");
        assert_eq!(
            store.assign_label(8, 4, None).unwrap(),
            "v1",
            "per conversation"
        );
    }

    #[test]
    fn an_owned_thread_stays_owned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        store.ensure_thread(5, true).unwrap();
        store.ensure_thread(5, false).unwrap();
        assert!(store.thread(5).unwrap().unwrap().owned);
        store.ensure_thread(6, false).unwrap();
        assert!(!store.thread(6).unwrap().unwrap().owned);
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
        store.record_render_time("t2v-8s", 100.0, 0.0).unwrap();
        let s = store.record_render_time("t2v-8s", 200.0, 0.0).unwrap();
        assert_eq!(s.samples, 2);
        assert!((s.mean_ms - 150.0).abs() < 1e-9);
        // Two samples 100 apart: a spread of 50 (the weighted variance of the pair).
        assert!((s.sd_ms() - 50.0).abs() < 1e-9, "{}", s.sd_ms());
        for _ in 0..30 {
            store.record_render_time("steady", 1000.0, 0.0).unwrap();
        }
        assert_eq!(store.render_stats("steady").unwrap().unwrap().sd_ms(), 0.0);
        assert!(store.render_stats("other").unwrap().is_none());
    }

    #[test]
    fn an_unsure_render_time_widens_the_learned_spread() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        for _ in 0..30 {
            store.record_render_time("sure", 1000.0, 0.0).unwrap();
            store
                .record_render_time("unsure", 1000.0, 100.0 * 100.0)
                .unwrap();
        }
        let unsure = store.render_stats("unsure").unwrap().unwrap();
        assert!((unsure.mean_ms - 1000.0).abs() < 1e-9);
        assert!((unsure.sd_ms() - 100.0).abs() < 10.0, "{}", unsure.sd_ms());
        assert_eq!(store.render_stats("sure").unwrap().unwrap().sd_ms(), 0.0);
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
