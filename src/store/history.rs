//! Each member's clips, newest first, for `/omni-history`: `history` (key: `g` + server id, or
//! `d` for direct messages, then the user id and the job id, each u64 big-endian → [`Clip`] as
//! JSON). A clip is indexed when it is posted; indexing the same job again replaces its entry.

use serde::{Deserialize, Serialize};

use super::kv::Tree;
use super::{Result, Store};
use crate::domain::ids::{ChannelId, GuildId, JobId, MessageId, Scope, UserId};
use crate::domain::job::Job;

/// One posted clip, as a member's history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    pub job: JobId,
    pub guild: Option<GuildId>,
    pub user: UserId,
    /// Where the clip was posted.
    pub channel: ChannelId,
    pub message: MessageId,
    /// Its version label in its conversation (`v1`, `v1.1`).
    pub label: String,
    pub prompt: String,
    pub at_ms: i64,
    /// Posted to its requester in a direct message, though asked for in a server (the bot
    /// could not post there).
    #[serde(default)]
    pub private: bool,
}

impl Clip {
    /// The history entry of `job`'s clip, posted as `message` in `channel`.
    pub fn posted(
        job: &Job,
        channel: ChannelId,
        message: MessageId,
        label: &str,
        at_ms: i64,
    ) -> Self {
        let thread = job
            .place
            .as_ref()
            .filter(|p| p.in_thread)
            .map(|p| p.conversation.channel());
        let in_server = [
            Some(job.channel),
            job.parent_channel,
            thread,
            job.asked_in.map(|c| c.channel()),
        ]
        .contains(&Some(channel));
        Self {
            job: job.id,
            guild: job.guild,
            user: job.user,
            channel,
            message,
            label: label.to_owned(),
            prompt: job.request.prompt().to_owned(),
            at_ms,
            private: job.guild.is_some() && !in_server,
        }
    }

    /// The server its message is in (`None`: a direct message), for a link to it.
    pub fn posted_in_guild(&self) -> Option<GuildId> {
        self.guild.filter(|_| !self.private)
    }
}

/// One page of a member's history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub clips: Vec<Clip>,
    /// How many clips the member has there in all.
    pub total: usize,
}

fn prefix(scope: Scope, user: UserId) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    match scope {
        Scope::Guild(g) => {
            k.push(b'g');
            k.extend_from_slice(&g.0.to_be_bytes());
        }
        Scope::Dm => k.push(b'd'),
    }
    k.extend_from_slice(&user.0.to_be_bytes());
    k
}

fn clip_key(clip: &Clip) -> Vec<u8> {
    let mut k = prefix(Scope::from_guild(clip.guild), clip.user);
    k.extend_from_slice(&clip.job.0.to_be_bytes());
    k
}

impl Store {
    /// Adds a posted clip to its member's history (idempotent per job).
    pub async fn record_history(&self, clip: &Clip) -> Result<()> {
        self.put_json(Tree::History, &clip_key(clip), clip).await
    }

    /// Takes a clip out of its member's history (its message was deleted).
    pub async fn remove_history(
        &self,
        guild: Option<GuildId>,
        user: UserId,
        job: JobId,
    ) -> Result<()> {
        let mut k = prefix(Scope::from_guild(guild), user);
        k.extend_from_slice(&job.0.to_be_bytes());
        self.kv.remove(Tree::History, &k).await
    }

    /// A member's clips in a server (or in direct messages), newest first: `take` of them after
    /// skipping `skip`.
    pub async fn history(
        &self,
        scope: Scope,
        user: UserId,
        skip: usize,
        take: usize,
    ) -> Result<Page> {
        let all = self
            .kv
            .scan_prefix(Tree::History, &prefix(scope, user))
            .await?;
        let clips = all
            .iter()
            .rev()
            .skip(skip)
            .take(take)
            .map(|(_, v)| serde_json::from_slice(v))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Page {
            clips,
            total: all.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::on_both_backends;
    use super::*;

    fn clip(job: u64, guild: Option<u64>, user: u64) -> Clip {
        Clip {
            job: JobId(job),
            guild: guild.map(GuildId),
            user: UserId(user),
            channel: ChannelId(10),
            message: MessageId(job * 100),
            label: "v1".into(),
            prompt: format!("clip {job}"),
            at_ms: job as i64,
            private: false,
        }
    }

    #[tokio::test]
    async fn a_clip_posted_privately_for_a_server_request_links_to_the_direct_message() {
        use crate::domain::job::JobState;
        let job = super::super::test_support::job(4, JobState::Queued);
        let here = Clip::posted(&job, job.channel, MessageId(1), "v1", 0);
        assert!(!here.private);
        assert_eq!(here.posted_in_guild(), job.guild);
        let dm = Clip::posted(&job, ChannelId(999), MessageId(1), "v1", 0);
        assert!(dm.private);
        assert_eq!(dm.posted_in_guild(), None);
        assert_eq!(dm.guild, job.guild, "still in the server's history");
    }

    on_both_backends! {
        async fn a_members_history_is_theirs_alone_per_server_newest_first_and_paged(store) {
            for job in 1..=5 {
                store.record_history(&clip(job, Some(1), 7)).await.unwrap();
            }
            store.record_history(&clip(6, Some(1), 8)).await.unwrap();
            store.record_history(&clip(7, Some(2), 7)).await.unwrap();
            store.record_history(&clip(8, None, 7)).await.unwrap();
            // Recording again replaces, never duplicates.
            store.record_history(&clip(5, Some(1), 7)).await.unwrap();

            let first = store
                .history(Scope::Guild(GuildId(1)), UserId(7), 0, 2)
                .await
                .unwrap();
            assert_eq!(first.total, 5);
            let jobs: Vec<u64> = first.clips.iter().map(|c| c.job.0).collect();
            assert_eq!(jobs, vec![5, 4]);
            let last = store
                .history(Scope::Guild(GuildId(1)), UserId(7), 4, 2)
                .await
                .unwrap();
            assert_eq!(last.clips.len(), 1);
            assert_eq!(last.clips[0].job, JobId(1));

            let dms = store.history(Scope::Dm, UserId(7), 0, 10).await.unwrap();
            assert_eq!(dms.total, 1);
            assert_eq!(dms.clips[0].job, JobId(8));
            let other = store
                .history(Scope::Guild(GuildId(1)), UserId(8), 0, 10)
                .await
                .unwrap();
            assert_eq!(other.total, 1);
        }
    }
}
