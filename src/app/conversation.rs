//! What a message in one of the bot's conversations means: continue a clip, edit a video,
//! nothing, or a short explanation of why not.
//!
//! [`decide`] is a plain function from the message's facts and the conversation's record to a
//! decision; [`App::on_message`] gathers those facts from the store and the engine and starts
//! the job.

use std::time::Duration;

use super::{App, Ask, Origin, Refused, Started};
use crate::domain::ids::{ConversationId, EventId, MessageId};
use crate::domain::job::ParentRef;
use crate::domain::request::{Attachment, Draft, GenerationRequest, MediaKind, RequestError};
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
}

/// Why a message did not start a clip, told to its author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Files other than images and videos.
    NotMedia,
    /// More than one video.
    OneVideo,
    /// Files without words.
    NeedWords,
    /// The clip to continue has no id to continue from.
    NoVideoId,
    /// No clip in the conversation yet.
    NothingYet,
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
/// ended yet (the message then continues its result).
pub fn decide(
    facts: &MessageFacts,
    conversation: &Conversation,
    busy: bool,
) -> Result<Option<Continuation>, Why> {
    let replied_clip = facts
        .replied_to
        .and_then(|m| conversation.clip_by_message(m));
    if replied_clip.is_none() && !conversation.owned {
        // In a DM, a channel used in place or someone else's thread, only replies to a clip
        // are meant for the bot.
        return Ok(None);
    }
    if facts.text.is_empty() && facts.attachments.is_empty() {
        // Nothing to send (also what arrives without the Message Content intent).
        return Ok(None);
    }
    let mut images = Vec::new();
    let mut videos = Vec::new();
    for a in &facts.attachments {
        match a.kind() {
            MediaKind::Image => images.push(a.clone()),
            MediaKind::Video => videos.push(a.clone()),
            MediaKind::Other => return Err(Why::NotMedia),
        }
    }
    if videos.len() > 1 {
        return Err(Why::OneVideo);
    }
    if facts.text.is_empty() {
        return Err(Why::NeedWords);
    }
    let video = videos.pop();
    let continues = if video.is_some() {
        None
    } else {
        match replied_clip {
            Some(clip) if clip.video_id.is_none() => return Err(Why::NoVideoId),
            Some(clip) => Some(ParentRef::Job(clip.job_id)),
            None => match conversation.clips.last() {
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
            _ => self.store.conversation(conversation),
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
        let busy = self.engine.conversation_busy(conversation)
            || record.opened_for.is_some_and(|j| self.engine.job_open(j));
        let continuation = match decide(&facts, &record, busy) {
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
            .or(record.clips.last());
        let upload_limit = parent_clip
            .and_then(|c| self.store.job(c.job_id).ok().flatten())
            .map_or(0, |j| j.attachment_size_limit);
        let ask = Ask {
            event: Some(EventId(facts.id.0)),
            origin: Origin {
                upload_limit,
                ..facts.origin
            },
            request,
            asked_in: Some(conversation),
            continues: continuation.continues,
        };
        match self.start(ask).await {
            Ok(started) => MessageOutcome::Started(started),
            Err(refused) => MessageOutcome::Explained(Why::Refused(refused)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ChannelId, JobId, UserId};
    use crate::store::ClipRecord;

    fn facts(text: &str) -> MessageFacts {
        MessageFacts {
            id: MessageId(900),
            origin: Origin {
                guild: None,
                channel: ChannelId(50),
                parent_channel: None,
                user: UserId(7),
                roles: Vec::new(),
                upload_limit: 0,
            },
            text: text.to_owned(),
            attachments: Vec::new(),
            replied_to: None,
            replied_to_bot: false,
        }
    }

    fn clip(job: u64, message: u64, video_id: Option<&str>) -> ClipRecord {
        ClipRecord {
            job_id: JobId(job),
            video_id: video_id.map(str::to_owned),
            message_id: MessageId(message),
            label: format!("v{job}"),
            parent: None,
        }
    }

    fn thread(clips: Vec<ClipRecord>) -> Conversation {
        Conversation {
            clips,
            owned: true,
            ..Conversation::default()
        }
    }

    fn file(name: &str, content_type: &str) -> Attachment {
        Attachment {
            url: format!("https://cdn.example/{name}"),
            filename: name.to_owned(),
            content_type: Some(content_type.to_owned()),
            size: 10,
        }
    }

    #[test]
    fn a_plain_message_in_a_thread_continues_its_newest_clip() {
        let t = thread(vec![clip(1, 10, Some("a")), clip(2, 20, Some("b"))]);
        let c = decide(&facts("make it night"), &t, false).unwrap().unwrap();
        assert_eq!(c.continues, Some(ParentRef::Latest));
    }

    #[test]
    fn a_reply_to_an_earlier_clip_continues_that_clip() {
        let t = thread(vec![clip(1, 10, Some("a")), clip(2, 20, Some("b"))]);
        let mut f = facts("at sunrise");
        f.replied_to = Some(MessageId(10));
        let c = decide(&f, &t, false).unwrap().unwrap();
        assert_eq!(c.continues, Some(ParentRef::Job(JobId(1))));
    }

    #[test]
    fn outside_the_bots_own_threads_only_replies_to_a_clip_count() {
        let mut dm = thread(vec![clip(1, 10, Some("a"))]);
        dm.owned = false;
        assert_eq!(decide(&facts("hello"), &dm, false), Ok(None));
        let mut f = facts("again");
        f.replied_to = Some(MessageId(10));
        assert!(decide(&f, &dm, false).unwrap().is_some());
    }

    #[test]
    fn what_cannot_be_continued_is_explained() {
        let empty = thread(vec![]);
        assert_eq!(decide(&facts("x"), &empty, false), Err(Why::NothingYet));
        // ... unless the thread's first clip is still on its way.
        assert!(decide(&facts("x"), &empty, true).unwrap().is_some());
        let no_id = thread(vec![clip(1, 10, None)]);
        assert_eq!(decide(&facts("x"), &no_id, false), Err(Why::NoVideoId));
        let t = thread(vec![clip(1, 10, Some("a"))]);
        let mut pdf = facts("x");
        pdf.attachments = vec![file("a.pdf", "application/pdf")];
        assert_eq!(decide(&pdf, &t, false), Err(Why::NotMedia));
        let mut two = facts("x");
        two.attachments = vec![file("a.mp4", "video/mp4"), file("b.mp4", "video/mp4")];
        assert_eq!(decide(&two, &t, false), Err(Why::OneVideo));
        let mut wordless = facts("");
        wordless.attachments = vec![file("a.png", "image/png")];
        assert_eq!(decide(&wordless, &t, false), Err(Why::NeedWords));
        assert_eq!(decide(&facts(""), &t, false), Ok(None));
    }

    #[test]
    fn a_video_starts_an_edit_rather_than_a_continuation() {
        let t = thread(vec![clip(1, 10, Some("a"))]);
        let mut f = facts("make it blue");
        f.attachments = vec![file("v.mp4", "video/mp4"), file("r.png", "image/png")];
        let c = decide(&f, &t, false).unwrap().unwrap();
        assert_eq!(c.continues, None);
        assert!(c.video.is_some());
        assert_eq!(c.images.len(), 1);
    }
}
