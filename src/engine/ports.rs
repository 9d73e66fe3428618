//! What the engine needs from the world, as traits: the vendor API ([`VendorApi`], behind the
//! [`crate::pixeldojo::Throttled`] budget), the Discord side ([`Chat`]) and a wall clock
//! ([`Clock`]). Production wires the real ones; tests and the simulation wire their own.
//!
//! [`Chat`] is transport only: it sends, edits and finds messages and makes threads. Which
//! message goes where, and what to do when Discord refuses (the parent channel when a thread
//! is gone, a link when a file may not be attached, a DM when the channel refuses the bot) is
//! the engine's, so the simulation covers it. Messages are described as data ([`Body`]); the
//! Discord adapter words them.

use bytes::Bytes;

pub use crate::clock::Clock;
use crate::domain::ids::{ChannelId, GuildId, JobId, MessageId, UserId};
use crate::domain::job::{FailReason, Job};
use crate::domain::moderation::RuleOwner;
pub use crate::domain::permissions::Permission;
use crate::domain::request::AspectRatio;
pub use crate::pixeldojo::VendorApi;

/// The Discord side of the engine.
#[async_trait::async_trait]
pub trait Chat: Send + Sync + 'static {
    /// Posts a message. With a nonce, a retry within Discord's nonce window returns the
    /// earlier message instead of posting a second one.
    async fn send(&self, channel: ChannelId, message: Outgoing<'_>)
        -> Result<MessageId, ChatError>;
    /// Replaces a message's content (and removes its buttons unless the body has some).
    async fn edit(
        &self,
        channel: ChannelId,
        message: MessageId,
        body: Body<'_>,
    ) -> Result<(), ChatError>;
    /// Opens a public thread from a message (named after the job's prompt); the thread has
    /// the message's id.
    async fn create_thread(
        &self,
        channel: ChannelId,
        from: MessageId,
        job: &Job,
    ) -> Result<ChannelId, ChatError>;
    /// A final message (clip or reason) for `job` among the channel's recent messages: a
    /// post whose answer was lost longer ago than the nonce window is found here.
    async fn find_final(
        &self,
        channel: ChannelId,
        job: JobId,
    ) -> Result<Option<MessageId>, ChatError>;
    /// The DM channel with a user.
    async fn dm_channel(&self, user: UserId) -> Result<ChannelId, ChatError>;
    /// Attachment links that still work: links Discord has expired (or soon will) are
    /// refreshed, others come back as they are; same order and length.
    async fn refresh_urls(&self, urls: &[String]) -> Result<Vec<String>, ChatError>;
    /// Deletes one of the bot's messages (a clip its requester removes).
    async fn delete(&self, channel: ChannelId, message: MessageId) -> Result<(), ChatError>;
}

/// Why Discord did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The upload is larger than Discord accepts there (413 / 40005).
    #[error("the file is larger than Discord accepts there")]
    TooLarge,
    /// The bot lacks a permission there (50013 / 50001).
    #[error("the bot is missing a permission there")]
    MissingPermission,
    /// The channel or thread is gone or archived (10003 / 50083).
    #[error("the channel is gone or archived")]
    Gone,
    /// A thread already exists for that message (160004): after a crash, it is ours.
    #[error("that message already has a thread")]
    ThreadExists,
    /// The user does not accept DMs from the bot (50007).
    #[error("the user does not accept direct messages")]
    DmClosed,
    /// Any other refusal from Discord (an answer that will not change on retry).
    #[error("Discord refused (code {code})")]
    Refused { code: i64 },
    /// Discord could not be reached or failed (5xx, network, rate limit): try again later.
    #[error("Discord is unavailable: {0}")]
    Unavailable(String),
}

impl ChatError {
    /// Whether trying the same thing again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A message to post, and the nonce that keeps it single.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub body: Body<'a>,
    pub nonce: Option<Nonce>,
}

/// Identifies one message of one job, so that posting it again returns the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce {
    pub job: JobId,
    pub kind: NonceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceKind {
    Status,
    Progress,
    Clip,
    Failure,
    IntentTip,
    Private,
    /// The mod log's line about the job.
    ModLog,
}

impl NonceKind {
    /// One letter per kind (Discord allows nonces of 25 characters).
    pub fn letter(self) -> char {
        match self {
            Self::Status => 's',
            Self::Progress => 'p',
            Self::Clip => 'd',
            Self::Failure => 'x',
            Self::IntentTip => 'i',
            Self::Private => 'm',
            Self::ModLog => 'l',
        }
    }
}

/// What a message says, as data.
#[derive(Debug, Clone)]
pub enum Body<'a> {
    /// The message a conversation starts from: what was asked, by whom, and that it starts.
    Status { job: &'a Job },
    /// Where a job stands; `with_header` when the message also carries what was asked (a
    /// conversation without a thread has no status message above it).
    Progress {
        job: &'a Job,
        progress: &'a Progress,
        with_header: bool,
    },
    /// The end of the progress (and status) message once the outcome is posted; `latest` is
    /// the conversation's newest clip, which the status message above a thread links to.
    Closed {
        job: &'a Job,
        delivered: bool,
        with_header: bool,
        latest: Option<&'a ClipLink>,
    },
    /// The finished clip. `privately` says why it goes to the user directly.
    Clip {
        job: &'a Job,
        file: &'a ClipFile,
        version: &'a Version,
        privately: Option<Permission>,
    },
    /// Why a job ended without a clip.
    Failure {
        job: &'a Job,
        reason: &'a FailReason,
        privately: Option<Permission>,
    },
    /// For the server's moderators (its mod log or system channel), once per channel and
    /// permission: the bot lacks `permission` in `channel`, and what it does instead.
    PermissionTip {
        channel: ChannelId,
        permission: Permission,
    },
    /// To a requester, before their request is accepted, when the bot may not post where they
    /// asked: what it sends about their requests comes here instead.
    PrivateNotice {
        channel: ChannelId,
        permission: Permission,
    },
    /// For the mod log: a clip was accepted (who, where, the prompt, a link to its message).
    ModLogClip { job: &'a Job },
    /// For the mod log: a prompt was refused by a rule.
    ModLogRefusal {
        user: UserId,
        channel: ChannelId,
        prompt: &'a str,
        owner: RuleOwner,
    },
    /// The first line of a channel that just became the mod log.
    ModLogStart,
    /// In each thread when the bot runs without the Message Content intent.
    IntentTip,
    /// For the operator's alert channel: PixelDojo rejected the API key.
    KeyRejected,
    /// For the operator's alert channel: the PixelDojo balance runs low.
    LowCredits { remaining: i64, threshold: i64 },
}

/// Where a job stands, for its progress message.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Waiting in line; `position` 1 is next. `builds_on` when the job continues the clip
    /// it waits for.
    Queued {
        position: usize,
        behind_conversation: bool,
        builds_on: bool,
    },
    Submitting,
    Rendering {
        elapsed_ms: i64,
        expected_ms: i64,
    },
    Delivering,
}

/// A finished clip, as it will be posted.
#[derive(Debug, Clone)]
pub enum ClipFile {
    /// The file itself; `url` is PixelDojo's temporary link to it, for when uploading fails.
    Upload {
        data: Bytes,
        filename: String,
        url: String,
    },
    Link {
        url: String,
        why: LinkReason,
    },
}

impl ClipFile {
    /// PixelDojo's temporary link to the clip.
    pub fn url(&self) -> &str {
        match self {
            Self::Upload { url, .. } | Self::Link { url, .. } => url,
        }
    }
}

/// Why a clip is posted as a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkReason {
    TooLarge,
    DownloadFailed,
    /// The bot may post but not attach files there.
    NoAttachPermission,
}

/// A clip's place in its conversation's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// `v1`, `v2`, `v1.1`, ...
    pub label: String,
    /// What it was made from, for its label.
    pub origin: Option<VersionOrigin>,
    /// Whether PixelDojo gave an id to continue this clip from.
    pub can_continue: bool,
}

/// What a clip was made from, by the label of that clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionOrigin {
    /// It continues that clip.
    From(String),
    /// The same request as that clip, with a new seed.
    RerollOf(String),
    /// That clip's prompts and inputs in another aspect ratio.
    FlipOf { label: String, aspect: AspectRatio },
}

/// Where a posted clip is, to link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipLink {
    pub guild: Option<GuildId>,
    pub channel: ChannelId,
    pub message: MessageId,
    pub label: String,
}
