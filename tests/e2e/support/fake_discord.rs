//! A loopback fake of Discord: REST API v10 under `/api/v10` and the websocket gateway at
//! `/gateway`, both served by one axum server on `127.0.0.1`.
//!
//! The real bot binary is pointed at it with `api_proxy = fake.url()`; serenity then sends every
//! REST call to `{url}/api/v10/...` and asks `GET /api/v10/gateway` for the websocket URL.
//! The fake follows Discord's documented behaviour, including its error bodies
//! (`{"message", "code", "errors"?}`) and status codes, so the bot's error handling is exercised.
//!
//! Layout: this file holds the public API and the shared state; `rest` routes REST calls,
//! `gateway` runs websocket sessions and `payloads` builds Discord-shaped JSON objects.
//!
//! Behaviours worth knowing when writing tests:
//! * Like Discord, the fake echoes the bot's own activity on the gateway: `MESSAGE_CREATE` for
//!   every message it creates (except ephemeral ones), `MESSAGE_UPDATE`, `MESSAGE_DELETE`,
//!   `THREAD_CREATE`, `THREAD_UPDATE`, `THREAD_DELETE`. Turn this off with
//!   [`FakeDiscord::set_echo_events`].
//! * Intents are honoured for message events: no `GUILD_MESSAGES`/`DIRECT_MESSAGES` intent, no
//!   event; no `MESSAGE_CONTENT` intent, guild messages from others that do not mention the bot
//!   arrive with empty `content`, `embeds`, `attachments` and `components`.
//! * A thread created from a message has the same id as that message (as on Discord).
//! * After a deferred response (callback type 5) the first follow-up edits the "thinking"
//!   message instead of creating a new one (as on Discord).
//! * Ephemeral messages (flag 64) are kept in [`FakeDiscord::messages_in`] with their flags so
//!   tests can see them, but are never sent on the gateway.
//! * `RESUME` with a known session replays missed events and sends `RESUMED`; with an unknown
//!   session it answers op 9 (invalid session, `d: false`).
//! * Sharding as Discord documents it: IDENTIFY's `shard: [shard_id, num_shards]` (absent:
//!   `[0, 1]`; `shard_id >= num_shards` is closed with 4010 "Invalid shard"); a server's events
//!   go only to sessions on shard `(guild_id >> 22) % num_shards`, events without a server (DMs)
//!   only to shard 0. READY lists only the servers of the session's shard. Every session on a
//!   shard gets all of that shard's events (two processes on shard 0 of 1 both see everything,
//!   as replicas do during a rolling deploy). [`FakeDiscord::add_guild_on_shard`] makes a
//!   server whose id lands on a chosen shard; [`FakeDiscord::identified_shards`] tells which
//!   shards identified. [`FakeDiscord::set_guild_create_burst`] makes READY be followed by a
//!   `GUILD_CREATE` for each server it lists (off by default).
//! * Attachment links are signed as Discord's CDN signs them: `?ex=<expiry>&is=<issued>&hm=<mac>&`
//!   (Unix seconds in hex). A link is served while it is unexpired and its signature holds, else
//!   404; `POST /attachments/refresh-urls` signs links anew. Links last a day unless
//!   [`FakeDiscord::set_attachment_url_lifetime`] says otherwise.
//! * Every created message keeps the `allowed_mentions` it was sent with and who Discord would
//!   notify ([`Pings`]); a body with both `parse: ["users"]` and a `users` list is refused (400
//!   50035), as Discord refuses it.
//! * Faults to inject: an outage that answers 500 to message posts (and edits) until a given
//!   time ([`FakeDiscord::fail_message_posts_until`]), answers held back
//!   ([`FakeDiscord::delay_answers`]) or lost with the connection
//!   ([`FakeDiscord::drop_answers`]), permissions taken away, threads archived or deleted.
#![allow(dead_code)]

mod gateway;
mod guilds;
mod interactions;
mod messages;
mod payloads;
mod rest;
mod threads;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

pub use guilds::{JoinOptions, JoinedGuild};

/// The application id; also the bot user's id.
pub const APP_ID: u64 = 900000000000000001;
/// The bot user's id (same as [`APP_ID`], as for real bots).
pub const BOT_USER_ID: u64 = APP_ID;
/// The only guild.
pub const GUILD_ID: u64 = 800000000000000001;
/// A GUILD_TEXT channel in [`GUILD_ID`] where threads may be created.
pub const TEXT_CHANNEL_ID: u64 = 700000000000000001;
/// A GUILD_TEXT channel in [`GUILD_ID`] where the bot lacks CREATE_PUBLIC_THREADS: thread
/// creation answers 403 `{"message":"Missing Permissions","code":50013}`.
pub const NO_THREADS_CHANNEL_ID: u64 = 700000000000000002;
/// A DM channel (type 1) between the bot and [`USER_ID`]; thread creation answers 400 50024.
pub const DM_CHANNEL_ID: u64 = 700000000000000003;
/// An ordinary guild member ("alice").
pub const USER_ID: u64 = 600000000000000001;
/// Another ordinary guild member ("bob").
pub const OTHER_USER_ID: u64 = 600000000000000002;
/// A guild member holding [`ADMIN_ROLE_ID`] (ADMINISTRATOR); also the application's owner.
pub const ADMIN_USER_ID: u64 = 600000000000000003;
/// A role with the ADMINISTRATOR permission, held by [`ADMIN_USER_ID`].
pub const ADMIN_ROLE_ID: u64 = 500000000000000001;
/// The only bot token accepted (`Authorization: Bot <TOKEN>`).
pub const TOKEN: &str = "fake-bot-token.XYZ";
/// Default per-file upload limit (10 MiB, Discord's default since 2025-01-16).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 10 * 1024 * 1024;
/// Default heartbeat interval announced in HELLO, in milliseconds.
pub const HEARTBEAT_INTERVAL_MS: u64 = 41250;
/// How long a signed attachment link lasts by default (Discord's are good for about a day).
pub const DEFAULT_URL_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Permission bits (Discord's values) used by the fake.
pub mod perms {
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const MANAGE_GUILD: u64 = 1 << 5;
    pub const ADD_REACTIONS: u64 = 1 << 6;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const MANAGE_MESSAGES: u64 = 1 << 13;
    pub const EMBED_LINKS: u64 = 1 << 14;
    pub const ATTACH_FILES: u64 = 1 << 15;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
    pub const USE_EXTERNAL_EMOJIS: u64 = 1 << 18;
    pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
    pub const MANAGE_THREADS: u64 = 1 << 34;
    pub const CREATE_PUBLIC_THREADS: u64 = 1 << 35;
    pub const SEND_MESSAGES_IN_THREADS: u64 = 1 << 38;
    /// What an ordinary member (and the bot) has in a text channel.
    pub const MEMBER: u64 = VIEW_CHANNEL
        | SEND_MESSAGES
        | ADD_REACTIONS
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS;
    /// What an administrator has: every permission bit Discord currently defines.
    pub const ALL: u64 = (1 << 51) - 1;
}

/// One part of a `multipart/form-data` request.
#[derive(Clone, Debug)]
pub struct Part {
    /// Form field name, e.g. `payload_json` or `files[0]`.
    pub name: String,
    /// File name, for file parts.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if given.
    pub content_type: Option<String>,
    /// The raw bytes of the part.
    pub bytes: Vec<u8>,
}

/// One REST request the fake received (recorded after it was handled).
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method, upper case.
    pub method: String,
    /// Path including the `/api/v10` prefix, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    /// Raw query string without `?`.
    pub query: Option<String>,
    /// Request headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The JSON body, when the request had one.
    pub json: Option<Value>,
    /// The parts of a multipart body.
    pub multipart: Option<Vec<Part>>,
    /// The HTTP status the fake answered with (0: the answer was dropped).
    pub status: u16,
    /// The JSON body the fake answered with (None for 204 and file downloads).
    pub response: Option<Value>,
    /// When the request arrived.
    pub at: Instant,
}

impl Recorded {
    /// The JSON payload: the `payload_json` part of a multipart body, else the JSON body.
    pub fn payload_json(&self) -> Option<Value> {
        if let Some(parts) = &self.multipart {
            return parts
                .iter()
                .find(|p| p.name == "payload_json")
                .and_then(|p| serde_json::from_slice(&p.bytes).ok());
        }
        self.json.clone()
    }

    /// The value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The file parts (`files[n]`) of a multipart body.
    pub fn files(&self) -> Vec<&Part> {
        self.multipart
            .iter()
            .flatten()
            .filter(|p| p.filename.is_some())
            .collect()
    }

    /// True when the method matches and the path ends with `path_suffix`.
    pub fn is(&self, method: &str, path_suffix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.ends_with(path_suffix)
    }
}

/// A file attached to a stored message (or registered with [`FakeDiscord::add_attachment`]).
#[derive(Clone, Debug)]
pub struct StoredAttachment {
    /// Attachment id (snowflake).
    pub id: u64,
    /// File name.
    pub filename: String,
    /// MIME type, if known.
    pub content_type: Option<String>,
    /// Alt text, if given.
    pub description: Option<String>,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Channel the attachment was uploaded to (None for [`FakeDiscord::add_attachment`]).
    pub channel_id: Option<u64>,
    /// When its link was signed (Unix seconds; the link's `is`).
    pub issued_at: u64,
    /// When its link expires (Unix seconds; the link's `ex`); refreshing gives a new link.
    pub expires_at: u64,
}

/// Whom Discord notifies for a message: what its `allowed_mentions` let through of the mentions
/// in its content (and the replied-to author), as if the sender could mention everyone and
/// every role (as a bot with Administrator can).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pings {
    /// Users notified.
    pub users: Vec<u64>,
    /// Roles notified.
    pub roles: Vec<u64>,
    /// Whether `@everyone` or `@here` notified the channel.
    pub everyone: bool,
}

/// A message as currently stored in a channel or thread (edits applied).
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Message id (snowflake).
    pub id: u64,
    /// Channel or thread id.
    pub channel_id: u64,
    /// Author's user id ([`BOT_USER_ID`] for the bot's messages and interaction responses).
    pub author_id: u64,
    /// Text content.
    pub content: String,
    /// Attachments with their bytes.
    pub attachments: Vec<StoredAttachment>,
    /// The nonce sent with the message, as sent.
    pub nonce: Option<Value>,
    /// Whether the message was sent with `enforce_nonce: true`.
    pub enforce_nonce: bool,
    /// Components (action rows) as sent.
    pub components: Vec<Value>,
    /// Embeds as sent.
    pub embeds: Vec<Value>,
    /// Message flags (64 ephemeral, 128 loading, 32 has thread, 4 suppress embeds).
    pub flags: u64,
    /// Message type (0 default, 19 reply, 20 chat input command).
    pub kind: u64,
    /// Set for interaction responses and follow-ups (the application id).
    pub webhook_id: Option<u64>,
    /// The interaction this message answers, if any.
    pub interaction_id: Option<u64>,
    /// `message_reference` as stored (replies).
    pub message_reference: Option<Value>,
    /// Ids of the users mentioned.
    pub mentions: Vec<u64>,
    /// Creation time (ISO 8601).
    pub timestamp: String,
    /// Last edit time (ISO 8601).
    pub edited_timestamp: Option<String>,
    /// Id of the thread started from this message.
    pub thread_id: Option<u64>,
    /// Emoji the bot reacted with.
    pub reactions: Vec<String>,
    /// Text-to-speech flag.
    pub tts: bool,
    /// `allowed_mentions` as sent when the message was created (or last given in an edit).
    pub allowed_mentions: Option<Value>,
    /// Whom Discord notified when the message was created.
    pub pings: Pings,
}

impl StoredMessage {
    /// True when the message has the EPHEMERAL flag (64).
    pub fn is_ephemeral(&self) -> bool {
        self.flags & 64 != 0
    }

    /// True while a deferred response still shows "thinking" (LOADING flag 128).
    pub fn is_loading(&self) -> bool {
        self.flags & 128 != 0
    }

    /// The attachment with this file name.
    pub fn attachment(&self, filename: &str) -> Option<&StoredAttachment> {
        self.attachments.iter().find(|a| a.filename == filename)
    }
}

/// A thread created through the API (or by a test).
#[derive(Clone, Debug)]
pub struct ThreadInfo {
    /// Thread (channel) id.
    pub id: u64,
    /// Parent channel id.
    pub parent_id: u64,
    /// Thread name.
    pub name: String,
    /// Starter message id for threads created from a message.
    pub from_message_id: Option<u64>,
    /// Creator.
    pub owner_id: u64,
    /// Channel type: 11 public, 12 private.
    pub kind: u8,
    /// Current archive state.
    pub archived: bool,
    /// Current lock state.
    pub locked: bool,
    /// Auto-archive duration in minutes.
    pub auto_archive_duration: u64,
    /// Whether the thread was deleted.
    pub deleted: bool,
}

/// Who invokes an interaction, and where.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Guild, or None for a DM.
    pub guild_id: Option<u64>,
    /// Channel the interaction happens in.
    pub channel_id: u64,
    /// Invoking user.
    pub user_id: u64,
    /// `member.permissions` (the member's permissions in the channel).
    pub permissions: u64,
    /// The member's role ids.
    pub roles: Vec<u64>,
    /// `attachment_size_limit` in bytes; 0 means "the fake's current upload limit".
    pub attachment_size_limit: u64,
}

impl Ctx {
    /// An ordinary member in [`TEXT_CHANNEL_ID`].
    pub fn guild(user_id: u64) -> Self {
        Ctx {
            guild_id: Some(GUILD_ID),
            channel_id: TEXT_CHANNEL_ID,
            user_id,
            permissions: perms::MEMBER,
            roles: vec![],
            attachment_size_limit: 0,
        }
    }

    /// [`ADMIN_USER_ID`] with [`ADMIN_ROLE_ID`] and every permission, in [`TEXT_CHANNEL_ID`].
    pub fn admin() -> Self {
        Ctx {
            permissions: perms::ALL,
            roles: vec![ADMIN_ROLE_ID],
            ..Ctx::guild(ADMIN_USER_ID)
        }
    }

    /// [`USER_ID`] in the DM channel [`DM_CHANNEL_ID`].
    pub fn dm() -> Self {
        Ctx {
            guild_id: None,
            channel_id: DM_CHANNEL_ID,
            user_id: USER_ID,
            permissions: perms::MEMBER,
            roles: vec![],
            attachment_size_limit: 0,
        }
    }

    /// The same context in another channel (e.g. a thread).
    pub fn in_channel(mut self, channel_id: u64) -> Self {
        self.channel_id = channel_id;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

/// Thread-specific channel state.
#[derive(Clone, Debug)]
pub(crate) struct ThreadState {
    pub owner_id: u64,
    pub archived: bool,
    pub locked: bool,
    pub auto_archive_duration: u64,
    pub archive_timestamp: String,
    pub create_timestamp: String,
    pub from_message: Option<u64>,
    pub message_count: u64,
}

/// A channel known to the fake.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    pub id: u64,
    /// 0 guild text, 1 DM, 11 public thread, 12 private thread.
    pub kind: u8,
    pub guild_id: Option<u64>,
    pub name: String,
    pub parent_id: Option<u64>,
    pub recipient_id: Option<u64>,
    /// Whether the bot may create threads here.
    pub bot_can_create_threads: bool,
    pub thread: Option<ThreadState>,
}

impl Channel {
    pub fn is_thread(&self) -> bool {
        matches!(self.kind, 10..=12)
    }
}

/// Discord answering 500 to message creates in channels (and, with `edits`, to edits).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outage {
    pub until: Instant,
    pub edits: bool,
}

/// An interaction the fake handed out.
#[derive(Clone, Debug)]
pub(crate) struct InteractionRec {
    pub id: u64,
    pub token: String,
    /// 2 command, 3 component, 4 autocomplete, 5 modal submit.
    pub kind: u8,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub user_id: u64,
    pub created: Instant,
    pub dispatched: Option<Instant>,
    /// Callback type of the initial response, once acknowledged.
    pub acked: Option<u64>,
    pub original_message: Option<u64>,
    /// For component interactions: the message the component is on.
    pub source_message: Option<u64>,
    pub followups: Vec<u64>,
}

impl InteractionRec {
    /// When the 3-second / 15-minute clocks started.
    pub fn started(&self) -> Instant {
        self.dispatched.unwrap_or(self.created)
    }
}

/// Something to write to a websocket connection.
#[derive(Debug)]
pub(crate) enum WsOut {
    Text(String),
    Close(u16, &'static str),
}

/// One open websocket connection.
pub(crate) struct Connection {
    pub tx: UnboundedSender<WsOut>,
    pub session_id: Option<String>,
}

/// A gateway session (survives its connection so that it can be resumed).
pub(crate) struct Session {
    pub seq: u64,
    pub intents: u64,
    /// `[shard_id, num_shards]` from IDENTIFY.
    pub shard: [u64; 2],
    pub conn: Option<u64>,
    pub backlog: VecDeque<(u64, String)>,
}

pub(crate) struct Inner {
    pub requests: Vec<Recorded>,
    pub channels: HashMap<u64, Channel>,
    pub messages: HashMap<u64, Vec<StoredMessage>>,
    pub threads: Vec<ThreadInfo>,
    pub global_commands: Vec<Value>,
    pub guild_commands: HashMap<u64, Vec<Value>>,
    pub last_registered: Vec<Value>,
    pub interactions: HashMap<u64, InteractionRec>,
    pub interaction_tokens: HashMap<String, u64>,
    pub interaction_responses: Vec<(u64, Value, Instant)>,
    pub attachments: HashMap<u64, StoredAttachment>,
    pub max_upload: u64,
    pub ack_window: Duration,
    pub token_lifetime: Duration,
    /// How long `enforce_nonce` returns the earlier message (Discord: "a few minutes").
    pub nonce_window: Duration,
    /// (method, path suffix, delay) of answers held back; see [`FakeDiscord::delay_answers`].
    pub answer_delays: Vec<(String, String, Duration)>,
    /// (method, path suffix, how many more) of answers lost; see [`FakeDiscord::drop_answers`].
    pub answer_drops: Vec<(String, String, usize)>,
    /// Permission bits the bot lacks, per channel (see [`FakeDiscord::deny_permission`]).
    pub denied: HashMap<u64, u64>,
    /// Servers the bot joined while running (see [`FakeDiscord::join_guild`]).
    pub guilds: HashMap<u64, guilds::GuildState>,
    /// The fixed server's system channel (see [`FakeDiscord::set_system_channel`]).
    pub system_channel: Option<u64>,
    /// Users who accept no direct messages from the bot (see [`FakeDiscord::close_dms`]).
    pub closed_dms: std::collections::HashSet<u64>,
    /// Message creates (and edits) answered 500 (see [`FakeDiscord::fail_message_posts_until`]).
    pub message_outage: Option<Outage>,
    /// How long a newly signed attachment link lasts.
    pub url_lifetime: Duration,
    pub gateway_allowed: bool,
    /// The Developer Portal's Message Content switch (on by default).
    pub message_content_allowed: bool,
    pub echo_events: bool,
    pub connections: HashMap<u64, Connection>,
    pub next_conn: u64,
    pub sessions: HashMap<String, Session>,
    pub identify_count: usize,
    /// The shard of every accepted IDENTIFY, in order.
    pub identified_shards: Vec<[u64; 2]>,
    /// Whether READY is followed by a `GUILD_CREATE` for each server it lists.
    pub guild_create_burst: bool,
    pub resume_count: usize,
    pub gateway_payloads: Vec<Value>,
    /// (author, nonce) -> (message id, channel id, when)
    pub nonces: HashMap<(u64, String), (u64, u64, Instant)>,
    pub last_snowflake: u64,
    pub buckets: HashMap<String, (Instant, u32)>,
}

impl Inner {
    fn new() -> Self {
        let mut channels = HashMap::new();
        for (id, name, threads) in [
            (TEXT_CHANNEL_ID, "general", true),
            (NO_THREADS_CHANNEL_ID, "no-threads", false),
        ] {
            channels.insert(
                id,
                Channel {
                    id,
                    kind: 0,
                    guild_id: Some(GUILD_ID),
                    name: name.to_owned(),
                    parent_id: None,
                    recipient_id: None,
                    bot_can_create_threads: threads,
                    thread: None,
                },
            );
        }
        channels.insert(DM_CHANNEL_ID, Channel::dm(DM_CHANNEL_ID, USER_ID));
        Inner {
            requests: vec![],
            channels,
            messages: HashMap::new(),
            threads: vec![],
            global_commands: vec![],
            guild_commands: HashMap::new(),
            last_registered: vec![],
            interactions: HashMap::new(),
            interaction_tokens: HashMap::new(),
            interaction_responses: vec![],
            attachments: HashMap::new(),
            max_upload: DEFAULT_MAX_UPLOAD_BYTES,
            ack_window: Duration::from_secs(3),
            token_lifetime: Duration::from_secs(15 * 60),
            nonce_window: messages::NONCE_WINDOW,
            answer_delays: Vec::new(),
            answer_drops: Vec::new(),
            denied: HashMap::new(),
            guilds: HashMap::new(),
            system_channel: None,
            closed_dms: Default::default(),
            message_outage: None,
            url_lifetime: DEFAULT_URL_LIFETIME,
            gateway_allowed: true,
            message_content_allowed: true,
            echo_events: true,
            connections: HashMap::new(),
            next_conn: 1,
            sessions: HashMap::new(),
            identify_count: 0,
            identified_shards: Vec::new(),
            guild_create_burst: false,
            resume_count: 0,
            gateway_payloads: vec![],
            nonces: HashMap::new(),
            last_snowflake: 0,
            buckets: HashMap::new(),
        }
    }

    /// A fresh, increasing snowflake whose timestamp part is the current time.
    pub fn next_id(&mut self) -> u64 {
        const DISCORD_EPOCH_MS: u128 = 1_420_070_400_000;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let time_based = (now_ms.saturating_sub(DISCORD_EPOCH_MS) as u64) << 22;
        self.last_snowflake = time_based.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    /// `(issued, expires)` in Unix seconds for a link signed now.
    pub fn link_validity(&self) -> (u64, u64) {
        let now = payloads::unix_now();
        (now, now + self.url_lifetime.as_secs())
    }

    /// Sends a dispatch to every identified session on the shard of its server (shard 0 when it
    /// has none), filtered by the session's intents; returns how many live connections it was
    /// written to. Disconnected sessions keep it for RESUME.
    pub fn dispatch(&mut self, event: &str, data: &Value) -> usize {
        let guild = gateway::guild_of(event, data);
        let ids: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| shard_of(guild, s.shard[1]) == s.shard[0])
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter()
            .filter(|id| self.dispatch_to(id, event, data))
            .count()
    }

    /// Sends a dispatch to one session (filtered by its intents); true when it was written to a
    /// live connection.
    pub fn dispatch_to(&mut self, session_id: &str, event: &str, data: &Value) -> bool {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return false;
        };
        let Some(d) = gateway::filter_for_intents(event, data, session.intents) else {
            return false;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "t": event, "s": session.seq, "d": d}).to_string();
        session.backlog.push_back((session.seq, frame.clone()));
        if session.backlog.len() > 1000 {
            session.backlog.pop_front();
        }
        session
            .conn
            .and_then(|c| self.connections.get(&c))
            .is_some_and(|conn| conn.tx.send(WsOut::Text(frame)).is_ok())
    }

    /// Every server the bot is in (the fixed one and those it joined), by id.
    pub fn guild_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.guilds.keys().copied().collect();
        ids.push(GUILD_ID);
        ids.sort_unstable();
        ids
    }

    /// A fresh snowflake (as [`Inner::next_id`]) that lands on `shard` of `num_shards`.
    pub fn next_id_on_shard(&mut self, shard: u64, num_shards: u64) -> u64 {
        assert!(shard < num_shards, "shard {shard} of {num_shards}");
        let id = self.next_id();
        let time = id >> 22;
        let time = time + (shard + num_shards - time % num_shards) % num_shards;
        let id = (time << 22) | (id & ((1 << 22) - 1));
        self.last_snowflake = self.last_snowflake.max(id);
        id
    }

    /// Like [`Inner::dispatch`] but only when echoing the bot's own activity is enabled.
    pub fn echo(&mut self, event: &str, data: &Value) {
        if self.echo_events {
            self.dispatch(event, data);
        }
    }

    pub fn find_message(&self, channel_id: u64, message_id: u64) -> Option<&StoredMessage> {
        self.messages
            .get(&channel_id)?
            .iter()
            .find(|m| m.id == message_id)
    }

    pub fn find_message_mut(
        &mut self,
        channel_id: u64,
        message_id: u64,
    ) -> Option<&mut StoredMessage> {
        self.messages
            .get_mut(&channel_id)?
            .iter_mut()
            .find(|m| m.id == message_id)
    }

    /// Stores a message at the end of its channel and counts it in its thread.
    pub fn push_message(&mut self, message: StoredMessage) {
        if let Some(thread) = self
            .channels
            .get_mut(&message.channel_id)
            .and_then(|c| c.thread.as_mut())
        {
            thread.message_count += 1;
        }
        self.messages
            .entry(message.channel_id)
            .or_default()
            .push(message);
    }

    /// Registers an interaction and returns its record.
    fn new_interaction(
        &mut self,
        kind: u8,
        ctx: &Ctx,
        source_message: Option<u64>,
    ) -> InteractionRec {
        let id = self.next_id();
        let token = payloads::random_token(&format!("interaction:{id}:"));
        let rec = InteractionRec {
            id,
            token: token.clone(),
            kind,
            channel_id: ctx.channel_id,
            guild_id: ctx.guild_id,
            user_id: ctx.user_id,
            created: Instant::now(),
            dispatched: None,
            acked: None,
            original_message: None,
            source_message,
            followups: vec![],
        };
        self.interactions.insert(id, rec.clone());
        self.interaction_tokens.insert(token, id);
        rec
    }
}

impl Channel {
    fn dm(id: u64, recipient_id: u64) -> Self {
        Channel {
            id,
            kind: 1,
            guild_id: None,
            name: String::new(),
            parent_id: None,
            recipient_id: Some(recipient_id),
            bot_can_create_threads: false,
            thread: None,
        }
    }
}

/// State shared by the server tasks and the test's handle.
pub(crate) struct Shared {
    pub base: String,
    pub ws_url: String,
    inner: Mutex<Inner>,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// Public handle
// ---------------------------------------------------------------------------------------------

/// A running fake Discord. Cheap to clone; all clones share the same state.
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
}

impl FakeDiscord {
    /// Binds `127.0.0.1:0` and serves REST (`/api/v10/...`), attachments (`/attachments/...`)
    /// and the gateway websocket (`/gateway`) on that port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/gateway"),
            inner: Mutex::new(Inner::new()),
        });
        let app = rest::router(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { shared }
    }

    /// The base URL, `http://127.0.0.1:PORT` (the bot's `api_proxy`).
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    /// The gateway URL handed out by `GET /api/v10/gateway`.
    pub fn gateway_url(&self) -> String {
        self.shared.ws_url.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Waits until a currently connected session has received READY (or RESUMED).
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        self.poll_until(timeout, |inner| {
            (gateway::live_ready_sessions(inner) > 0).then_some(())
        })
        .await
        .is_some()
    }

    /// Open gateway connections whose session got READY or RESUMED.
    pub fn live_sessions(&self) -> usize {
        gateway::live_ready_sessions(&self.lock())
    }

    /// How many IDENTIFYs were accepted (each got a READY).
    pub fn identify_count(&self) -> usize {
        self.lock().identify_count
    }

    /// The `[shard_id, num_shards]` of every accepted IDENTIFY, in order (`[0, 1]` when the
    /// client sent none).
    pub fn identified_shards(&self) -> Vec<[u64; 2]> {
        self.lock().identified_shards.clone()
    }

    /// Whether READY is followed by a `GUILD_CREATE` for each server it lists, sent to that
    /// session only, as Discord does (off by default: tests send them with
    /// [`FakeDiscord::send_guild_create`]).
    pub fn set_guild_create_burst(&self, on: bool) {
        self.lock().guild_create_burst = on;
    }

    /// How many RESUMEs were accepted (each got a RESUMED).
    pub fn resume_count(&self) -> usize {
        self.lock().resume_count
    }

    /// Every payload received from clients on the gateway (IDENTIFY, heartbeats, ...), in order.
    /// The token inside IDENTIFY/RESUME is kept as sent.
    pub fn gateway_payloads(&self) -> Vec<Value> {
        self.lock().gateway_payloads.clone()
    }

    /// Sends `{"op":0,"t":event,"s":seq,"d":data}` to every identified session on the shard of
    /// the event's server (shard 0 without one; seq per session, increasing; filtered by intents
    /// for message events). Returns the number of live
    /// connections written to. Dispatching an `INTERACTION_CREATE` starts that interaction's
    /// 3-second acknowledgement window.
    pub async fn dispatch(&self, event: &str, data: Value) -> usize {
        let mut inner = self.lock();
        if event == "INTERACTION_CREATE" {
            if let Some(id) = payloads::id_of(&data["id"]) {
                if let Some(rec) = inner.interactions.get_mut(&id) {
                    rec.dispatched = Some(Instant::now());
                }
            }
        }
        inner.dispatch(event, &data)
    }

    /// Every REST request so far, in the order they were answered.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// REST requests the fake had no route for (answered 404 code 0).
    pub fn unexpected_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.status == 404
                    && r.response.as_ref().is_some_and(|b| b["code"] == 0)
                    && r.path.starts_with("/api/")
            })
            .collect()
    }

    /// Waits for a recorded request matching `pred` (including ones already recorded).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Recorded) -> bool,
    ) -> Option<Recorded> {
        self.poll_until(timeout, |inner| {
            inner.requests.iter().find(|r| pred(r)).cloned()
        })
        .await
    }

    /// Waits for a message matching `pred` in a channel.
    pub async fn wait_for_message(
        &self,
        channel_id: u64,
        timeout: Duration,
        pred: impl Fn(&StoredMessage) -> bool,
    ) -> Option<StoredMessage> {
        self.poll_until(timeout, |inner| {
            inner
                .messages
                .get(&channel_id)
                .and_then(|ms| ms.iter().find(|m| pred(m)).cloned())
        })
        .await
    }

    async fn poll_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Inner) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = check(&self.lock()) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Messages currently in a channel or thread, oldest first, with edits applied.
    pub fn messages_in(&self, channel_id: u64) -> Vec<StoredMessage> {
        self.lock()
            .messages
            .get(&channel_id)
            .cloned()
            .unwrap_or_default()
    }

    /// One message by id, wherever it is.
    pub fn message(&self, message_id: u64) -> Option<StoredMessage> {
        self.lock()
            .messages
            .values()
            .flatten()
            .find(|m| m.id == message_id)
            .cloned()
    }

    /// Threads created so far, by the bot or by members, with their current state.
    pub fn threads(&self) -> Vec<ThreadInfo> {
        self.lock().threads.clone()
    }

    /// The body of the last bulk-overwrite PUT (guild or global), as sent.
    pub fn registered_commands(&self) -> Vec<Value> {
        self.lock().last_registered.clone()
    }

    /// Every accepted interaction callback: (interaction id, callback body, when).
    pub fn interaction_responses(&self) -> Vec<(u64, Value, Instant)> {
        self.lock().interaction_responses.clone()
    }

    /// Sets the per-file upload limit; larger files are refused with 413 code 40005.
    /// Holds back the answer to `method` requests whose path ends with `path_suffix` for
    /// `delay`, after the request has taken effect: a slow network on the way back, during
    /// which users already see what it did.
    pub fn delay_answers(&self, method: &str, path_suffix: &str, delay: Duration) {
        self.lock()
            .answer_delays
            .push((method.to_owned(), path_suffix.to_owned(), delay));
    }

    /// Loses the answers to the next `times` requests with `method` whose path ends with
    /// `path_suffix`: each takes effect, then the connection closes without an HTTP answer (a
    /// network failure on the way back). They are recorded with status 0.
    pub fn drop_answers(&self, method: &str, path_suffix: &str, times: usize) {
        self.lock()
            .answer_drops
            .push((method.to_owned(), path_suffix.to_owned(), times));
    }

    pub fn set_max_upload_bytes(&self, n: u64) {
        self.lock().max_upload = n;
    }

    /// Sets how long after dispatch an interaction may be acknowledged (default 3 s).
    pub fn set_interaction_ack_window(&self, window: Duration) {
        self.lock().ack_window = window;
    }

    /// Takes a permission (a [`perms`] bit) from the bot in one channel or thread: posting
    /// there answers 403 Missing Permissions (50013) as Discord does.
    pub fn deny_permission(&self, channel_id: u64, permission: u64) {
        *self.lock().denied.entry(channel_id).or_default() |= permission;
    }

    /// Shortens (or lengthens) how long a nonce is remembered, to stand for a long outage.
    pub fn set_nonce_window(&self, window: Duration) {
        self.lock().nonce_window = window;
    }

    /// Sets how long interaction tokens stay valid for webhooks (default 15 minutes).
    pub fn set_interaction_token_lifetime(&self, lifetime: Duration) {
        self.lock().token_lifetime = lifetime;
    }

    /// Whether the bot's own activity is echoed on the gateway (default true, as on Discord).
    pub fn set_echo_events(&self, on: bool) {
        self.lock().echo_events = on;
    }

    /// Closes every websocket (close code 4000) and answers new upgrades with HTTP 503 until
    /// [`FakeDiscord::allow_gateway`].
    pub fn drop_gateway(&self) {
        let mut inner = self.lock();
        inner.gateway_allowed = false;
        for conn in inner.connections.values() {
            let _ = conn.tx.send(WsOut::Close(4000, "Unknown error"));
        }
    }

    /// Accepts gateway connections again.
    pub fn allow_gateway(&self) {
        self.lock().gateway_allowed = true;
    }

    /// Switches Message Content off for the application, as in the Developer Portal: an
    /// IDENTIFY asking for it is closed with 4014 (disallowed intents).
    pub fn disallow_message_content(&self) {
        self.lock().message_content_allowed = false;
    }

    /// Gives a stored message these embeds (as Discord adds for links to images); false when
    /// the message does not exist.
    pub fn set_embeds(&self, channel_id: u64, message_id: u64, embeds: Vec<Value>) -> bool {
        let mut inner = self.lock();
        match inner.find_message_mut(channel_id, message_id) {
            Some(m) => {
                m.embeds = embeds;
                true
            }
            None => false,
        }
    }

    /// Sets the fixed server's system channel (where Discord posts join messages), as
    /// `GUILD_CREATE` reports it.
    pub fn set_system_channel(&self, channel_id: Option<u64>) {
        self.lock().system_channel = channel_id;
    }

    /// Dispatches `GUILD_CREATE` for a server the fake knows, as Discord does after READY for
    /// each server READY listed as unavailable.
    pub async fn send_guild_create(&self, guild_id: u64) -> usize {
        let mut inner = self.lock();
        assert!(guilds::known(&inner, guild_id), "unknown guild {guild_id}");
        let payload = guilds::guild_create(&inner, guild_id);
        inner.dispatch("GUILD_CREATE", &payload)
    }

    /// The bot is added to a new server while it runs: the server is created (a system channel
    /// and a general channel, the bot's managed role) and its `GUILD_CREATE` dispatched; the
    /// server was not in READY, so the bot sees it as new.
    pub async fn join_guild(&self, options: JoinOptions) -> JoinedGuild {
        let mut inner = self.lock();
        let joined = guilds::join(&mut inner, &options);
        let payload = guilds::guild_create(&inner, joined.id);
        inner.dispatch("GUILD_CREATE", &payload);
        joined
    }

    /// A server the bot is already in (as [`FakeDiscord::join_guild`] sets one up) whose id lands
    /// on `shard` of `num_shards`; nothing is dispatched: the next READY of that shard lists it.
    pub fn add_guild_on_shard(
        &self,
        shard: u64,
        num_shards: u64,
        options: JoinOptions,
    ) -> JoinedGuild {
        let mut inner = self.lock();
        let id = inner.next_id_on_shard(shard, num_shards);
        guilds::join_as(&mut inner, id, &options)
    }

    /// Like [`FakeDiscord::join_guild`], with a server whose id lands on `shard` of `num_shards`
    /// (its `GUILD_CREATE` goes to that shard's sessions only).
    pub async fn join_guild_on_shard(
        &self,
        shard: u64,
        num_shards: u64,
        options: JoinOptions,
    ) -> JoinedGuild {
        let joined = self.add_guild_on_shard(shard, num_shards, options);
        let mut inner = self.lock();
        let payload = guilds::guild_create(&inner, joined.id);
        inner.dispatch("GUILD_CREATE", &payload);
        joined
    }

    /// A user turns off direct messages from server members: the bot's messages to their DM
    /// channel answer 403 code 50007 ("Cannot send messages to this user"), as on Discord.
    pub fn close_dms(&self, user_id: u64) {
        self.lock().closed_dms.insert(user_id);
    }

    /// The bot's permissions in a channel as an interaction there would carry them.
    pub fn app_permissions_in(&self, channel_id: u64) -> u64 {
        guilds::app_permissions(&self.lock(), channel_id)
    }

    /// Archives a thread (as if auto-archived); later posts answer 400 code 50083.
    pub fn archive_thread(&self, thread_id: u64) {
        let mut inner = self.lock();
        threads::set_thread_archived(&mut inner, thread_id, true);
    }

    /// Deletes a channel or thread; later calls on it answer 404 code 10003.
    pub fn delete_channel(&self, channel_id: u64) {
        let mut inner = self.lock();
        threads::remove_channel(&mut inner, channel_id);
    }

    /// Answers 500 (`{"message": "500: Internal Server Error", "code": 0}`) to every message
    /// create in a channel, thread or DM (`POST /channels/{id}/messages`) until `until`, and with
    /// `edits_too` to message edits (`PATCH /channels/{id}/messages/{id}`) as well: a Discord
    /// outage. Nothing is stored or echoed meanwhile. Calling it again replaces the deadline.
    pub fn fail_message_posts_until(&self, until: Instant, edits_too: bool) {
        self.lock().message_outage = Some(Outage {
            until,
            edits: edits_too,
        });
    }

    /// How long attachment links signed from now on last (default [`DEFAULT_URL_LIFETIME`]):
    /// new uploads, [`FakeDiscord::add_attachment`] and refreshed links.
    pub fn set_attachment_url_lifetime(&self, lifetime: Duration) {
        self.lock().url_lifetime = lifetime;
    }

    /// Every interaction token the fake handed out so far.
    pub fn interaction_tokens(&self) -> Vec<String> {
        self.lock().interaction_tokens.keys().cloned().collect()
    }

    /// A member opens a public thread (type 11, without a starter message) in `parent_id`, as
    /// `owner_id`; dispatches `THREAD_CREATE` and returns the thread's id. Interactions run in
    /// it carry the thread as their `channel`, with its `parent_id`, as on Discord.
    pub fn add_user_thread(&self, parent_id: u64, owner_id: u64, name: &str) -> u64 {
        let mut inner = self.lock();
        threads::user_thread(&mut inner, parent_id, owner_id, name)
    }

    /// Adds a guild text channel (threads allowed) named `name`; returns its id.
    pub fn add_text_channel(&self, name: &str) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_id();
        inner.channels.insert(
            id,
            Channel {
                id,
                kind: 0,
                guild_id: Some(GUILD_ID),
                name: name.to_owned(),
                parent_id: None,
                recipient_id: None,
                bot_can_create_threads: true,
                thread: None,
            },
        );
        id
    }

    /// Registers a file served at `{url}/attachments/{id}/{filename}?ex=..&is=..&hm=..&` and
    /// returns a resolved attachment object `{id, filename, size, url, proxy_url, content_type}`.
    /// Its link expires after the current [`FakeDiscord::set_attachment_url_lifetime`].
    pub fn add_attachment(&self, filename: &str, content_type: &str, bytes: Vec<u8>) -> Value {
        let mut inner = self.lock();
        let (issued_at, expires_at) = inner.link_validity();
        let att = StoredAttachment {
            id: inner.next_id(),
            filename: filename.to_owned(),
            content_type: Some(content_type.to_owned()),
            description: None,
            bytes,
            channel_id: None,
            issued_at,
            expires_at,
        };
        let value = payloads::attachment(&self.shared.base, &att);
        inner.attachments.insert(att.id, att);
        value
    }

    /// Builds an `INTERACTION_CREATE` payload for a chat-input command (not dispatched).
    /// `options` go into `data.options` as given (attachment options are
    /// `{"name":"image","type":11,"value":"<attachment id>"}`); `attachments` (from
    /// [`FakeDiscord::add_attachment`]) go into `data.resolved.attachments`. The command id is
    /// the registered one when a command of that name was registered.
    pub fn slash_command(
        &self,
        name: &str,
        options: Vec<Value>,
        attachments: Vec<Value>,
        ctx: Ctx,
    ) -> (u64, Value) {
        let mut inner = self.lock();
        let rec = inner.new_interaction(2, &ctx, None);
        let command_id =
            registered_command_id(&inner, name, ctx.guild_id).unwrap_or_else(|| inner.next_id());
        let mut data = json!({
            "id": command_id.to_string(),
            "name": name,
            "type": 1,
            "options": options,
        });
        if !attachments.is_empty() {
            let resolved: serde_json::Map<String, Value> = attachments
                .into_iter()
                .map(|a| (a["id"].as_str().unwrap_or_default().to_owned(), a))
                .collect();
            data["resolved"] = json!({ "attachments": resolved });
        }
        if let Some(guild_id) = ctx.guild_id {
            data["guild_id"] = json!(guild_id.to_string());
        }
        let payload = payloads::interaction(&inner, &rec, 2, data, &ctx, None);
        (rec.id, payload)
    }

    /// Builds and dispatches a slash command; returns the interaction id.
    pub async fn send_slash_command(
        &self,
        name: &str,
        options: Vec<Value>,
        attachments: Vec<Value>,
        ctx: Ctx,
    ) -> u64 {
        let (id, payload) = self.slash_command(name, options, attachments, ctx);
        self.dispatch("INTERACTION_CREATE", payload).await;
        id
    }

    /// Builds an `INTERACTION_CREATE` payload for a button click on a stored message
    /// (`data {custom_id, component_type: 2}`, `message` = the full message). Not dispatched.
    /// Returns None when the message does not exist.
    pub fn button_click(&self, message_id: u64, custom_id: &str, ctx: Ctx) -> Option<(u64, Value)> {
        let mut inner = self.lock();
        let message = inner.find_message(ctx.channel_id, message_id)?.clone();
        let rec = inner.new_interaction(3, &ctx, Some(message_id));
        let data = json!({"custom_id": custom_id, "component_type": 2, "values": []});
        let message_json = payloads::message(&self.shared.base, &inner, &message, false);
        let payload = payloads::interaction(&inner, &rec, 3, data, &ctx, Some(message_json));
        Some((rec.id, payload))
    }

    /// The interaction token handed out for an interaction id.
    /// A modal submission (interaction type 5) for the modal `custom_id`, with its text inputs
    /// as `(custom_id, value)` pairs, each in its own action row as Discord sends them.
    pub fn modal_submit(&self, custom_id: &str, inputs: &[(&str, &str)], ctx: Ctx) -> (u64, Value) {
        let mut inner = self.lock();
        let rec = inner.new_interaction(5, &ctx, None);
        let rows: Vec<Value> = inputs
            .iter()
            .map(|(id, value)| {
                json!({"type": 1, "components": [{"type": 4, "custom_id": id, "value": value}]})
            })
            .collect();
        let data = json!({"custom_id": custom_id, "components": rows});
        let payload = payloads::interaction(&inner, &rec, 5, data, &ctx, None);
        (rec.id, payload)
    }

    /// A message context-menu command (interaction type 2, command type 3) run on a stored
    /// message, which arrives resolved in `data.resolved.messages`.
    pub fn message_command(&self, name: &str, message_id: u64, ctx: Ctx) -> Option<(u64, Value)> {
        let mut inner = self.lock();
        let message = inner.find_message(ctx.channel_id, message_id)?.clone();
        let rec = inner.new_interaction(2, &ctx, None);
        let command_id =
            registered_command_id(&inner, name, ctx.guild_id).unwrap_or_else(|| inner.next_id());
        let message_json = payloads::message(&self.shared.base, &inner, &message, false);
        let mut messages = serde_json::Map::new();
        messages.insert(message_id.to_string(), message_json);
        let mut data = json!({
            "id": command_id.to_string(),
            "name": name,
            "type": 3,
            "target_id": message_id.to_string(),
            "resolved": {"messages": messages},
        });
        if let Some(guild_id) = ctx.guild_id {
            data["guild_id"] = json!(guild_id.to_string());
        }
        let payload = payloads::interaction(&inner, &rec, 2, data, &ctx, None);
        Some((rec.id, payload))
    }

    pub fn interaction_token(&self, interaction_id: u64) -> Option<String> {
        self.lock()
            .interactions
            .get(&interaction_id)
            .map(|r| r.token.clone())
    }

    /// Builds a `MESSAGE_CREATE` payload for a user's message and stores the message in the
    /// channel. `attachments` are objects from [`FakeDiscord::add_attachment`]. A `<@BOT_ID>`
    /// in the content mentions the bot.
    pub fn user_message(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        attachments: Vec<Value>,
    ) -> Value {
        self.user_message_inner(channel_id, author_id, content, attachments, None)
    }

    /// Like [`FakeDiscord::user_message`] but a reply to `reply_to` (in the same channel).
    /// With `mention_author`, a reply to a message the bot posted with its bot token mentions
    /// the bot; replies to interaction responses (webhook-authored) never do.
    pub fn user_reply(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        reply_to: u64,
        mention_author: bool,
        attachments: Vec<Value>,
    ) -> Value {
        self.user_message_inner(
            channel_id,
            author_id,
            content,
            attachments,
            Some((reply_to, mention_author)),
        )
    }

    /// Stores a user's message and dispatches its `MESSAGE_CREATE`; returns the message id.
    pub async fn send_user_message(&self, channel_id: u64, author_id: u64, content: &str) -> u64 {
        let payload = self.user_message(channel_id, author_id, content, vec![]);
        let id = payloads::id_of(&payload["id"]).unwrap_or_default();
        self.dispatch("MESSAGE_CREATE", payload).await;
        id
    }

    fn user_message_inner(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        attachments: Vec<Value>,
        reply: Option<(u64, bool)>,
    ) -> Value {
        let mut inner = self.lock();
        let id = inner.next_id();
        let stored_attachments = attachments
            .iter()
            .filter_map(|a| payloads::id_of(&a["id"]))
            .filter_map(|aid| inner.attachments.get(&aid).cloned())
            .collect();
        let mut mentions = payloads::mentioned_users(content);
        let mut pings = messages::pings(content, &Value::Null, None);
        let mut message_reference = None;
        let mut referenced = None;
        if let Some((reply_to, mention_author)) = reply {
            message_reference = Some(json!({
                "type": 0,
                "message_id": reply_to.to_string(),
                "channel_id": channel_id.to_string(),
                "guild_id": inner.channels.get(&channel_id).and_then(|c| c.guild_id).map(|g| g.to_string()),
            }));
            if let Some(target) = inner.find_message(channel_id, reply_to).cloned() {
                if mention_author
                    && target.webhook_id.is_none()
                    && !mentions.contains(&target.author_id)
                {
                    mentions.push(target.author_id);
                    pings.users.push(target.author_id);
                }
                referenced = Some(target);
            }
        }
        let message = StoredMessage {
            id,
            channel_id,
            author_id,
            content: content.to_owned(),
            attachments: stored_attachments,
            nonce: Some(json!(id.to_string())),
            enforce_nonce: false,
            components: vec![],
            embeds: vec![],
            flags: 0,
            kind: if reply.is_some() { 19 } else { 0 },
            webhook_id: None,
            interaction_id: None,
            message_reference,
            mentions,
            timestamp: payloads::now_iso(),
            edited_timestamp: None,
            thread_id: None,
            reactions: vec![],
            tts: false,
            allowed_mentions: None,
            pings,
        };
        inner.push_message(message.clone());
        let mut value = payloads::message(&self.shared.base, &inner, &message, true);
        if let Some(target) = referenced {
            value["referenced_message"] =
                payloads::message(&self.shared.base, &inner, &target, false);
        }
        value
    }
}

/// The shard a server's events go to among `num_shards` (Discord's formula); shard 0 for
/// events without a server (DMs).
pub fn shard_of(guild_id: Option<u64>, num_shards: u64) -> u64 {
    match guild_id {
        Some(g) if num_shards > 0 => (g >> 22) % num_shards,
        _ => 0,
    }
}

fn registered_command_id(inner: &Inner, name: &str, guild_id: Option<u64>) -> Option<u64> {
    let guild = guild_id.and_then(|g| inner.guild_commands.get(&g));
    guild
        .into_iter()
        .flatten()
        .chain(inner.global_commands.iter())
        .find(|c| c["name"] == name)
        .and_then(|c| payloads::id_of(&c["id"]))
}

/// The expiry (`ex`, Unix seconds) of a signed attachment link, if it has one.
pub fn link_expiry(url: &str) -> Option<u64> {
    payloads::link_param(url, "ex").and_then(|v| u64::from_str_radix(&v, 16).ok())
}
