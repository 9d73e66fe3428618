//! Conversations: `threads` (conversation channel id, u64 big-endian → [`Conversation`] as
//! JSON): the clips posted there (and which were deleted), their version labels, whether the
//! bot made the thread, and whose thread it is.

use serde::{Deserialize, Serialize};

use super::kv::Tree;
use super::{atomically, key, Result, Step, Store};
use crate::domain::ids::{ChannelId, ConversationId, JobId, MessageId, UserId};
use crate::domain::versions::{next_label, Labelled};

/// One clip posted in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipRecord {
    pub job_id: JobId,
    /// The vendor's id to iterate on this clip; `None` when the API gave none.
    pub video_id: Option<String>,
    /// The Discord message that carries the clip.
    pub message_id: MessageId,
    /// Its version label (`v1`, `v2`, `v1.1`).
    #[serde(default)]
    pub label: String,
    /// The clip it continued.
    #[serde(default)]
    pub parent: Option<JobId>,
    /// Its message was deleted (the 🗑 button): it is not continued any more, and its label
    /// stays taken.
    #[serde(default)]
    pub removed: bool,
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
pub struct Conversation {
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
    /// The channel the thread hangs from, whose rules apply in it.
    #[serde(default)]
    pub parent: Option<ChannelId>,
    /// Who asked for the clip the thread was opened for: their plain messages continue it.
    /// `None` in records from before it was kept (the opening job's user is then asked).
    #[serde(default)]
    pub requester: Option<UserId>,
}

impl Conversation {
    /// The clip carried by a message.
    pub fn clip_by_message(&self, message: MessageId) -> Option<&ClipRecord> {
        self.clips.iter().find(|c| c.message_id == message)
    }

    /// The newest clip that was not deleted: what a plain message continues.
    pub fn latest_clip(&self) -> Option<&ClipRecord> {
        self.clips.iter().rev().find(|c| !c.removed)
    }

    pub fn label_of(&self, job: JobId) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.job_id == job)
            .map(|l| l.label.as_str())
    }
}

impl Store {
    pub async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>> {
        self.get_json(Tree::Threads, &key(id.channel().0)).await
    }

    /// Records a clip in a conversation (idempotent per job).
    pub async fn record_clip(&self, id: ConversationId, clip: ClipRecord) -> Result<Conversation> {
        self.update_conversation(id, |c| {
            if !c.clips.iter().any(|old| old.job_id == clip.job_id) {
                c.clips.push(clip.clone());
            }
        })
        .await
    }

    /// Marks a conversation as the bot's (so that replies in it are understood later);
    /// `owned` when the bot made the thread itself.
    pub async fn ensure_conversation(&self, id: ConversationId, owned: bool) -> Result<()> {
        self.update_conversation(id, |c| c.owned |= owned).await?;
        Ok(())
    }

    /// Records a thread the bot is about to make for `job`, asked by `requester`, from a
    /// message in `parent`, before the thread exists, so that a message arriving the moment it
    /// appears is already understood.
    pub async fn open_thread(
        &self,
        id: ConversationId,
        job: JobId,
        parent: ChannelId,
        requester: UserId,
    ) -> Result<()> {
        self.update_conversation(id, |c| {
            c.owned = true;
            c.opened_for = Some(job);
            c.parent = Some(parent);
            c.requester = Some(requester);
        })
        .await?;
        Ok(())
    }

    /// Marks `job`'s clip in a conversation as deleted; returns it, or `None` when the
    /// conversation has no such clip.
    pub async fn remove_clip(&self, id: ConversationId, job: JobId) -> Result<Option<ClipRecord>> {
        let c = self
            .update_conversation(id, |c| {
                if let Some(clip) = c.clips.iter_mut().find(|clip| clip.job_id == job) {
                    clip.removed = true;
                }
            })
            .await?;
        Ok(c.clips.into_iter().find(|clip| clip.job_id == job))
    }

    /// Forgets a conversation record that holds no clip (a thread that could not be made).
    pub async fn forget_empty_conversation(&self, id: ConversationId) -> Result<()> {
        let k = key(id.channel().0);
        atomically!(self, |tx| {
            let empty = match tx.get(Tree::Threads, &k).await? {
                Some(v) => serde_json::from_slice::<Conversation>(&v)?.clips.is_empty(),
                None => false,
            };
            if !empty {
                return Ok(Step::Abort(()));
            }
            tx.remove(Tree::Threads, &k);
            Ok(Step::Commit(()))
        })
    }

    /// Applies `change` to a conversation's record atomically and returns the result.
    async fn update_conversation(
        &self,
        id: ConversationId,
        change: impl FnMut(&mut Conversation),
    ) -> Result<Conversation> {
        self.update_json(Tree::Threads, &key(id.channel().0), change)
            .await
    }

    /// The version label of `job` in a conversation, handed out once and stable after.
    pub async fn assign_label(
        &self,
        id: ConversationId,
        job: JobId,
        parent: Option<JobId>,
    ) -> Result<String> {
        let c = self
            .update_conversation(id, |c| {
                if c.label_of(job).is_some() {
                    return;
                }
                let existing: Vec<Labelled<'_>> = c
                    .labels
                    .iter()
                    .map(|l| Labelled {
                        job_id: l.job_id,
                        label: &l.label,
                        parent: l.parent,
                    })
                    .collect();
                let label = next_label(&existing, parent);
                c.labels.push(LabelRecord {
                    job_id: job,
                    label,
                    parent,
                });
            })
            .await?;
        Ok(c.label_of(job).unwrap_or("v1").to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::on_both_backends;
    use super::*;

    fn conv(id: u64) -> ConversationId {
        ConversationId(ChannelId(id))
    }

    on_both_backends! {
        async fn recording_the_same_clip_twice_keeps_one(store) {
            let clip = |job: u64, vid: Option<&str>| ClipRecord {
                job_id: JobId(job),
                video_id: vid.map(str::to_owned),
                message_id: MessageId(job * 10),
                label: format!("v{job}"),
                parent: None,
                removed: false,
            };
            store
                .record_clip(conv(7), clip(1, Some("v1")))
                .await
                .unwrap();
            store
                .record_clip(conv(7), clip(1, Some("v1")))
                .await
                .unwrap();
            let info = store
                .record_clip(conv(7), clip(2, Some("v2")))
                .await
                .unwrap();
            assert_eq!(info.clips.len(), 2);
            assert_eq!(info.clips.last().unwrap().video_id.as_deref(), Some("v2"));
            assert_eq!(
                info.clip_by_message(MessageId(10)).unwrap().job_id,
                JobId(1)
            );
            assert_eq!(store.conversation(conv(8)).await.unwrap(), None);
        }
    }

    on_both_backends! {
        async fn a_label_is_handed_out_once_and_branches_follow_the_tree(store) {
            let (one, two, three) = (JobId(1), JobId(2), JobId(3));
            assert_eq!(store.assign_label(conv(7), one, None).await.unwrap(), "v1");
            assert_eq!(
                store.assign_label(conv(7), one, None).await.unwrap(),
                "v1",
                "stable on retry"
            );
            assert_eq!(
                store.assign_label(conv(7), two, Some(one)).await.unwrap(),
                "v2"
            );
            assert_eq!(
                store.assign_label(conv(7), three, Some(one)).await.unwrap(),
                "v1.1"
            );
            assert_eq!(
                store.assign_label(conv(8), JobId(4), None).await.unwrap(),
                "v1",
                "per conversation"
            );
        }
    }

    on_both_backends! {
        async fn an_owned_thread_stays_owned_and_an_empty_one_can_be_forgotten(store) {
            store.ensure_conversation(conv(5), true).await.unwrap();
            store.ensure_conversation(conv(5), false).await.unwrap();
            assert!(store.conversation(conv(5)).await.unwrap().unwrap().owned);
            store.ensure_conversation(conv(6), false).await.unwrap();
            assert!(!store.conversation(conv(6)).await.unwrap().unwrap().owned);
            store
                .open_thread(conv(9), JobId(1), ChannelId(4), UserId(3))
                .await
                .unwrap();
            let opened = store.conversation(conv(9)).await.unwrap().unwrap();
            assert_eq!(opened.opened_for, Some(JobId(1)));
            assert_eq!(opened.requester, Some(UserId(3)));
            store.forget_empty_conversation(conv(9)).await.unwrap();
            assert_eq!(store.conversation(conv(9)).await.unwrap(), None);
        }
    }

    on_both_backends! {
        async fn a_deleted_clip_stays_in_the_history_but_is_not_the_latest_any_more(store) {
            for job in 1..=2 {
                let clip = ClipRecord {
                    job_id: JobId(job),
                    video_id: Some(format!("vid{job}")),
                    message_id: MessageId(job * 10),
                    label: format!("v{job}"),
                    parent: None,
                    removed: false,
                };
                store.record_clip(conv(7), clip).await.unwrap();
            }
            let removed = store.remove_clip(conv(7), JobId(2)).await.unwrap().unwrap();
            assert!(removed.removed);
            let c = store.conversation(conv(7)).await.unwrap().unwrap();
            assert_eq!(c.clips.len(), 2);
            assert_eq!(c.latest_clip().unwrap().job_id, JobId(1));
            assert!(c.clip_by_message(MessageId(20)).unwrap().removed);
            assert_eq!(store.remove_clip(conv(7), JobId(9)).await.unwrap(), None);
        }
    }
}
