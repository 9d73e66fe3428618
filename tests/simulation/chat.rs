//! A simulated Discord behind the engine's Discord port, following Discord's documented
//! behaviour: a nonce returns the earlier message for a few minutes; a thread made from a
//! message has the message's id and can be made once; a deleted thread is gone; history reads
//! the last 50 messages. Faults: outages (5xx) in which a post may land although its answer is
//! lost, missing permissions, deleted threads and closed DMs. It records every final message
//! (a clip or a reason) per job, for the invariants.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

use omni_bot::clock::{Clock, TokioClock};
use omni_bot::domain::ids::{ChannelId, GuildId, JobId, MessageId, UserId};
use omni_bot::domain::job::Job;
use omni_bot::engine::ports::{Body, Chat, ChatError, ClipFile, Outgoing};

/// How long Discord remembers a nonce.
const NONCE_WINDOW_MS: i64 = 5 * 60_000;
/// How many messages a history read returns.
const HISTORY: usize = 50;
/// DM channels are numbered from here, one per user.
const DM_BASE: u64 = 9_000_000;

/// What a final message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Final {
    Clip,
    Failure,
}

#[derive(Debug, Clone)]
pub struct SimMessage {
    pub id: MessageId,
    pub by_bot: bool,
    nonce: Option<String>,
    at_ms: i64,
    pub final_of: Option<(JobId, Final)>,
}

#[derive(Debug, Clone)]
pub struct SimChannel {
    pub guild: Option<GuildId>,
    /// The channel a thread hangs from.
    pub parent: Option<ChannelId>,
    pub deleted: bool,
    pub messages: Vec<SimMessage>,
}

#[derive(Default)]
struct State {
    panicked: bool,
    channels: BTreeMap<ChannelId, SimChannel>,
    next_id: u64,
    outage_until: i64,
    no_send: BTreeMap<ChannelId, i64>,
    no_attach: BTreeMap<ChannelId, i64>,
    /// Channels where the bot may never open threads.
    no_threads: BTreeSet<ChannelId>,
    dm_closed: BTreeMap<UserId, i64>,
    sends: u64,
}

/// Misbehaviour planted on purpose, to prove the checker catches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatDefects {
    /// Posts every clip twice (no nonce dedupe, no history).
    pub posts_clips_twice: bool,
    /// Panics (a bug in the port) on the first clip it is asked to post.
    pub panics_on_first_clip: bool,
}

pub struct SimChat {
    state: Mutex<State>,
    rng: Mutex<StdRng>,
    clock: TokioClock,
    defects: ChatDefects,
}

impl SimChat {
    pub fn new(rng: StdRng, clock: TokioClock, defects: ChatDefects) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                next_id: 1_000,
                ..State::default()
            }),
            rng: Mutex::new(rng),
            clock,
            defects,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A text channel of a server.
    pub fn add_channel(&self, id: ChannelId, guild: GuildId, threads: bool) {
        let mut s = self.lock();
        s.channels.insert(
            id,
            SimChannel {
                guild: Some(guild),
                parent: None,
                deleted: false,
                messages: Vec::new(),
            },
        );
        if !threads {
            s.no_threads.insert(id);
        }
    }

    /// The DM channel with `user` (made on first use, as Discord does).
    pub fn dm_of(&self, user: UserId) -> ChannelId {
        let id = ChannelId(DM_BASE + user.0);
        self.lock().channels.entry(id).or_insert(SimChannel {
            guild: None,
            parent: None,
            deleted: false,
            messages: Vec::new(),
        });
        id
    }

    /// A user's message in a channel; returns its id.
    pub fn user_message(&self, channel: ChannelId) -> MessageId {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        s.next_id += 1;
        let id = MessageId(s.next_id);
        if let Some(c) = s.channels.get_mut(&channel) {
            c.messages.push(SimMessage {
                id,
                by_bot: false,
                nonce: None,
                at_ms: now,
                final_of: None,
            });
        }
        id
    }

    pub fn outage(&self, for_ms: i64) {
        let until = self.clock.now_ms() + for_ms;
        let mut s = self.lock();
        s.outage_until = s.outage_until.max(until);
    }

    pub fn deny_send(&self, channel: ChannelId, for_ms: i64) {
        let until = self.clock.now_ms() + for_ms;
        self.lock().no_send.insert(channel, until);
    }

    pub fn deny_attach(&self, channel: ChannelId, for_ms: i64) {
        let until = self.clock.now_ms() + for_ms;
        self.lock().no_attach.insert(channel, until);
    }

    pub fn close_dms(&self, user: UserId, for_ms: i64) {
        let until = self.clock.now_ms() + for_ms;
        self.lock().dm_closed.insert(user, until);
    }

    /// Deletes a thread for good.
    pub fn delete(&self, channel: ChannelId) {
        if let Some(c) = self.lock().channels.get_mut(&channel) {
            if c.parent.is_some() {
                c.deleted = true;
            }
        }
    }

    /// Ends every transient fault (deleted threads stay deleted).
    pub fn heal(&self) {
        let mut s = self.lock();
        s.outage_until = 0;
        s.no_send.clear();
        s.no_attach.clear();
        s.dm_closed.clear();
    }

    pub fn channels(&self) -> BTreeMap<ChannelId, SimChannel> {
        self.lock().channels.clone()
    }

    pub fn sends(&self) -> u64 {
        self.lock().sends
    }

    /// Every final message, per job.
    pub fn finals(&self) -> BTreeMap<JobId, Vec<(Final, ChannelId)>> {
        let mut out: BTreeMap<JobId, Vec<(Final, ChannelId)>> = BTreeMap::new();
        for (id, c) in &self.lock().channels {
            for m in &c.messages {
                if let Some((job, kind)) = m.final_of {
                    out.entry(job).or_default().push((kind, *id));
                }
            }
        }
        out
    }

    async fn latency(&self) {
        let ms = self.rng.lock().unwrap().gen_range(10..300);
        tokio::time::sleep(Duration::from_millis(ms / 2)).await;
    }

    fn roll(&self, p: f64) -> bool {
        self.rng.lock().unwrap().gen_bool(p)
    }

    fn down(&self) -> bool {
        self.clock.now_ms() < self.lock().outage_until
    }

    fn unavailable() -> ChatError {
        ChatError::Unavailable("Discord answered 503".into())
    }

    /// Posts a message, as Discord would; `None` when refused.
    fn post(&self, channel: ChannelId, message: &Outgoing<'_>) -> Result<MessageId, ChatError> {
        let now = self.clock.now_ms();
        let mut s = self.lock();
        s.sends += 1;
        let denied = |until: Option<&i64>| until.is_some_and(|u| *u > now);
        let Some(c) = s.channels.get(&channel) else {
            return Err(ChatError::Gone);
        };
        if c.deleted {
            return Err(ChatError::Gone);
        }
        // Permissions in a thread come from its parent.
        let ruled = c.parent.unwrap_or(channel);
        let dm_user = (channel.0 >= DM_BASE).then(|| UserId(channel.0 - DM_BASE));
        if let Some(user) = dm_user {
            if denied(s.dm_closed.get(&user)) {
                return Err(ChatError::DmClosed);
            }
        }
        if denied(s.no_send.get(&ruled)) {
            return Err(ChatError::MissingPermission);
        }
        let upload = matches!(
            message.body,
            Body::Clip {
                file: ClipFile::Upload { .. },
                ..
            }
        );
        if upload && denied(s.no_attach.get(&ruled)) {
            return Err(ChatError::MissingPermission);
        }
        let nonce = message
            .nonce
            .map(|n| format!("o{}{}", n.kind.letter(), n.job));
        let final_of = match message.body {
            Body::Clip { job, .. } => Some((job.id, Final::Clip)),
            Body::Failure { job, .. } => Some((job.id, Final::Failure)),
            _ => None,
        };
        let dedupe =
            !(self.defects.posts_clips_twice && matches!(final_of, Some((_, Final::Clip))));
        let c = s.channels.get(&channel).expect("checked above");
        if let (true, Some(nonce)) = (dedupe, &nonce) {
            let earlier = c
                .messages
                .iter()
                .rev()
                .find(|m| m.nonce.as_ref() == Some(nonce) && now - m.at_ms < NONCE_WINDOW_MS);
            if let Some(m) = earlier {
                return Ok(m.id);
            }
        }
        let copies = if dedupe { 1 } else { 2 };
        let mut id = MessageId(0);
        for _ in 0..copies {
            s.next_id += 1;
            id = MessageId(s.next_id);
            let c = s.channels.get_mut(&channel).expect("checked above");
            c.messages.push(SimMessage {
                id,
                by_bot: true,
                nonce: nonce.clone(),
                at_ms: now,
                final_of,
            });
        }
        Ok(id)
    }
}

#[async_trait::async_trait]
impl Chat for SimChat {
    async fn send(
        &self,
        channel: ChannelId,
        message: Outgoing<'_>,
    ) -> Result<MessageId, ChatError> {
        self.latency().await;
        if self.defects.panics_on_first_clip && matches!(message.body, Body::Clip { .. }) {
            let first = !std::mem::replace(&mut self.lock().panicked, true);
            assert!(!first, "planted panic in the Discord port");
        }
        if self.down() {
            // During an outage a post may still land while its answer is lost.
            if self.roll(0.3) {
                let _ = self.post(channel, &message);
            }
            self.latency().await;
            return Err(Self::unavailable());
        }
        let posted = self.post(channel, &message);
        self.latency().await;
        posted
    }

    async fn edit(
        &self,
        channel: ChannelId,
        _message: MessageId,
        _body: Body<'_>,
    ) -> Result<(), ChatError> {
        self.latency().await;
        if self.down() {
            return Err(Self::unavailable());
        }
        match self.lock().channels.get(&channel) {
            Some(c) if !c.deleted => Ok(()),
            _ => Err(ChatError::Gone),
        }
    }

    async fn create_thread(
        &self,
        channel: ChannelId,
        from: MessageId,
        _job: &Job,
    ) -> Result<ChannelId, ChatError> {
        self.latency().await;
        let landed = !self.down() || self.roll(0.3);
        let result = {
            let mut s = self.lock();
            let thread = ChannelId(from.0);
            if s.no_threads.contains(&channel) {
                Err(ChatError::MissingPermission)
            } else if s.channels.contains_key(&thread) {
                Err(ChatError::ThreadExists)
            } else if landed {
                let guild = s.channels.get(&channel).and_then(|c| c.guild);
                s.channels.insert(
                    thread,
                    SimChannel {
                        guild,
                        parent: Some(channel),
                        deleted: false,
                        messages: Vec::new(),
                    },
                );
                Ok(thread)
            } else {
                Err(Self::unavailable())
            }
        };
        self.latency().await;
        if self.down() {
            return Err(Self::unavailable());
        }
        result
    }

    async fn find_final(
        &self,
        channel: ChannelId,
        job: JobId,
    ) -> Result<Option<MessageId>, ChatError> {
        self.latency().await;
        if self.down() {
            return Err(Self::unavailable());
        }
        if self.defects.posts_clips_twice {
            return Ok(None);
        }
        let s = self.lock();
        let Some(c) = s.channels.get(&channel) else {
            return Err(ChatError::Gone);
        };
        let found = c
            .messages
            .iter()
            .rev()
            .take(HISTORY)
            .find(|m| m.by_bot && m.final_of.is_some_and(|(j, _)| j == job))
            .map(|m| m.id);
        Ok(found)
    }

    async fn dm_channel(&self, user: UserId) -> Result<ChannelId, ChatError> {
        self.latency().await;
        if self.down() {
            return Err(Self::unavailable());
        }
        Ok(self.dm_of(user))
    }

    async fn refresh_urls(&self, urls: &[String]) -> Result<Vec<String>, ChatError> {
        // The simulated requests carry no attachments.
        Ok(urls.to_vec())
    }

    async fn delete(&self, channel: ChannelId, message: MessageId) -> Result<(), ChatError> {
        self.latency().await;
        if self.down() {
            return Err(Self::unavailable());
        }
        let mut s = self.lock();
        let Some(c) = s.channels.get_mut(&channel).filter(|c| !c.deleted) else {
            return Err(ChatError::Gone);
        };
        c.messages.retain(|m| m.id != message);
        Ok(())
    }
}
