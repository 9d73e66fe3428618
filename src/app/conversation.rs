//! What a message in one of the bot's conversations means: continue a clip, edit a video,
//! nothing, or a short explanation of why not.
//!
//! Every clip is paid for, so a message starts one only when it is meant for the bot: in a
//! thread the bot opened, the requester's plain messages (or anyone's, where the server chose
//! so); from anyone, a reply to a clip or a mention of the bot. Chatter (links, emoji, GIFs,
//! stickers) never starts one.
//!
//! [`decide`] is a plain function from the message's facts and the conversation's record to a
//! decision; [`App::on_message`] gathers those facts from the store and the engine and starts
//! the job.

use std::time::Duration;

use super::{App, Ask, Origin, Refused, Started};
use crate::domain::ids::{ConversationId, EventId, GuildId, MessageId, UserId};
use crate::domain::intent::{has_words, PlainMessages};
use crate::domain::job::ParentRef;
use crate::domain::lineage::Lineage;
use crate::domain::request::{
    Attachment, Draft, FileKind, GenerationRequest, MediaKind, RequestError,
};
use crate::store::Conversation;

/// How long a reply waits for a clip that is being posted to be recorded.
const RECORD_WAIT: Duration = Duration::from_secs(3);

/// A message as the bot saw it, in words the core understands.
#[derive(Debug, Clone)]
pub struct MessageFacts {
    pub id: MessageId,
    pub origin: Origin,
    /// The text, without mentions of the bot.
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// The message it replies to, if any.
    pub replied_to: Option<MessageId>,
    /// Whether that message is the bot's own.
    pub replied_to_bot: bool,
    /// Whether the message mentions the bot: meant for it, like a reply to a clip.
    pub mentions_bot: bool,
}

/// Why a message did not start a clip, told to its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// A file PixelDojo does not take (a document, an HEIC image, an MKV video, ...).
    Unusable { filename: String, kind: FileKind },
    /// More than one video.
    OneVideo,
    /// Files without words.
    NeedWords,
    /// The clip to continue has no id to continue from.
    NoVideoId,
    /// No clip in the conversation yet.
    NothingYet,
    /// The clip replied to was deleted; `label` is its version label.
    Removed { label: String },
    /// The request breaks one of the vendor's rules.
    Invalid(RequestError),
    /// The request was refused (a cap, a channel rule).
    Refused(Refused),
}

/// What came of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Not about the bot's clips: nothing happens.
    Ignored,
    /// Explained to the author; nothing started.
    Explained(Why),
    /// A clip was started (or the event had started it already).
    Started(Started),
}

/// What the message asks for, before the request is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub continues: Option<ParentRef>,
    pub images: Vec<Attachment>,
    pub video: Option<Attachment>,
}

/// Decides what a message in a conversation means. `busy`: a job of this conversation has not
/// ended yet (the message then continues its result). `plain_ok`: the author's plain messages
/// count here (they asked for the thread's clip, or the server lets anyone continue).
pub fn decide(
    facts: &MessageFacts,
    conversation: &Conversation,
    busy: bool,
    plain_ok: bool,
) -> Result<Option<Continuation>, Why> {
    let replied_clip = facts
        .replied_to
        .and_then(|m| conversation.clip_by_message(m));
    if replied_clip.is_none() && !conversation.owned {
        // In a DM, a channel used in place or someone else's thread, only replies to a clip
        // are meant for the bot.
        return Ok(None);
    }
    if replied_clip.is_none() && !facts.mentions_bot && !plain_ok {
        // Someone else chatting under a clip: they reply to it or mention the bot to ask.
        return Ok(None);
    }
    let words = has_words(&facts.text);
    if !words
        && facts
            .attachments
            .iter()
            .all(|a| a.file_kind() == FileKind::Gif)
    {
        // Only links, emoji, stickers or GIFs (also what arrives without the Message Content
        // intent): a reaction, not a request.
        return Ok(None);
    }
    if let Some(clip) = replied_clip.filter(|c| c.removed) {
        return Err(Why::Removed {
            label: clip.label.clone(),
        });
    }
    let mut images = Vec::new();
    let mut videos = Vec::new();
    for a in &facts.attachments {
        match a.kind() {
            MediaKind::Image => images.push(a.clone()),
            MediaKind::Video => videos.push(a.clone()),
            MediaKind::Other => {
                return Err(Why::Unusable {
                    filename: a.filename.clone(),
                    kind: a.file_kind(),
                })
            }
        }
    }
    if videos.len() > 1 {
        return Err(Why::OneVideo);
    }
    if !words {
        return Err(Why::NeedWords);
    }
    let video = videos.pop();
    let continues = if video.is_some() {
        None
    } else {
        match replied_clip {
            Some(clip) if clip.video_id.is_none() => return Err(Why::NoVideoId),
            Some(clip) => Some(ParentRef::Job(clip.job_id)),
            None => match conversation.latest_clip() {
                _ if busy => Some(ParentRef::Latest),
                None => return Err(Why::NothingYet),
                Some(c) if c.video_id.is_none() => return Err(Why::NoVideoId),
                Some(_) => Some(ParentRef::Latest),
            },
        }
    };
    Ok(Some(Continuation {
        continues,
        images,
        video,
    }))
}

impl App {
    /// Handles a message that may be about one of the bot's clips.
    pub async fn on_message(&self, facts: MessageFacts) -> MessageOutcome {
        let conversation = ConversationId(facts.origin.channel);
        let record = match (facts.replied_to, facts.replied_to_bot) {
            (Some(replied), true) => {
                self.engine
                    .settled_conversation(conversation, replied, RECORD_WAIT)
                    .await
            }
            _ => self.store.conversation(conversation).await,
        };
        let record = match record {
            Ok(Some(record)) => record,
            // Not a conversation the bot started: none of its business.
            Ok(None) => return MessageOutcome::Ignored,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the conversation");
                return MessageOutcome::Explained(Why::Refused(Refused::Internal));
            }
        };
        // The job this thread was made for may still be placing itself here.
        let opened_for_open = match record.opened_for {
            Some(j) => self.engine.job_open_anywhere(j).await,
            None => false,
        };
        let busy = opened_for_open || self.engine.conversation_busy_anywhere(conversation).await;
        let plain_ok = match self.plain_messages_in(facts.origin.guild).await {
            PlainMessages::Anyone => true,
            PlainMessages::Requester => self.requester(&record).await == Some(facts.origin.user),
        };
        let decided = decide(&facts, &record, busy, plain_ok);
        if matches!(decided, Ok(None)) {
            return MessageOutcome::Ignored;
        }
        // Replicas on the same shard all see this message: the first to claim it answers.
        match self.store.claim_event(EventId(facts.id.0)).await {
            Ok(true) => {}
            Ok(false) => return MessageOutcome::Ignored,
            Err(e) => tracing::warn!(error = %e, "cannot claim the message; answering it anyway"),
        }
        let continuation = match decided {
            Ok(Some(c)) => c,
            Ok(None) => return MessageOutcome::Ignored,
            Err(why) => return MessageOutcome::Explained(why),
        };
        let draft = Draft {
            prompt: facts.text,
            video: continuation.video,
            references: continuation
                .images
                .into_iter()
                .enumerate()
                .map(|(i, a)| (format!("image {}", i + 1), a))
                .collect(),
            continues: continuation.continues.is_some(),
            ..Draft::default()
        };
        let request = match GenerationRequest::validate(draft, &self.limits) {
            Ok(r) => r,
            Err(e) => return MessageOutcome::Explained(Why::Invalid(e)),
        };
        // A follow-up posts where its parent could: the same upload limit.
        let parent_clip = facts
            .replied_to
            .and_then(|m| record.clip_by_message(m))
            .or(record.latest_clip());
        let parent_job = match parent_clip {
            Some(c) => self.store.job(c.job_id).await.ok().flatten(),
            None => None,
        };
        let upload_limit = parent_job.map_or(0, |j| j.attachment_size_limit);
        let ask = Ask {
            event: Some(EventId(facts.id.0)),
            origin: Origin {
                upload_limit,
                ..facts.origin
            },
            request,
            asked_in: Some(conversation),
            continues: continuation.continues,
            made_from: None,
        };
        match self.start(ask).await {
            Ok(started) => MessageOutcome::Started(started),
            Err(refused) => MessageOutcome::Explained(Why::Refused(refused)),
        }
    }

    /// Whose plain messages continue a clip in a server's threads: its admins' choice, or the
    /// bot's default.
    pub async fn plain_messages_in(&self, guild: Option<GuildId>) -> PlainMessages {
        match self.caps.policy(&self.store, guild).await {
            Ok(policy) => policy.plain_messages.unwrap_or(self.plain_messages),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the server's settings; using the default");
                self.plain_messages
            }
        }
    }

    /// Who asked for the clip a thread was opened for.
    async fn requester(&self, record: &Conversation) -> Option<UserId> {
        if record.requester.is_some() {
            return record.requester;
        }
        let job = self.store.job(record.opened_for?).await.ok().flatten()?;
        Some(job.user)
    }

    /// The line a new continuation belongs to, as far as it is known when it is asked: its
    /// parent's, or for a plain message the newest clip's (the thread's first job while that
    /// is still rendering). The engine sets it again once the parent is resolved.
    pub(super) async fn provisional_lineage(
        &self,
        asked_in: Option<ConversationId>,
        continues: Option<ParentRef>,
    ) -> Option<Lineage> {
        let parent = match continues? {
            ParentRef::Job(id) => id,
            ParentRef::Latest => {
                let record = self.store.conversation(asked_in?).await.ok()??;
                record
                    .latest_clip()
                    .map(|c| c.job_id)
                    .or(record.opened_for)?
            }
        };
        let parent = self.store.job(parent).await.ok()??;
        Some(Lineage::continuing(
            &parent.request,
            parent.lineage.as_ref(),
        ))
    }
}

#[cfg(test)]
mod tests;
