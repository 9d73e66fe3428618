//! What the buttons on the bot's messages and its modals do: re-roll, the other aspect ratio,
//! refine, try again, cancel, delete, and "Animate with Omni". Each new clip goes through
//! [`App::start`], so it counts against the same caps as `/omni`.

use super::{App, Ask, Origin, Refused, Started};
use crate::domain::ids::{ChannelId, ConversationId, EventId, JobId, MessageId, UserId};
use crate::domain::job::{Job, ParentRef};
use crate::domain::lineage::{Frame, MadeFrom};
use crate::domain::request::{
    AspectRatio, Attachment, Draft, GenerationRequest, RequestError, MAX_REFERENCES,
};
use crate::engine::ports::ChatError;
use crate::engine::CancelError;
use crate::store::Withdrawal;

/// How long the images of an "Animate with Omni" request wait for their prompt.
pub const ANIMATE_DRAFT_MS: i64 = 60 * 60 * 1000;

/// The most images one clip can use: a start frame and the references PixelDojo takes.
pub const MAX_ANIMATED_IMAGES: usize = 1 + MAX_REFERENCES;

/// A new clip from an earlier request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The same request with a new seed.
    Reroll,
    /// Exactly the same request, seed included (after a failure).
    Again,
    /// The same prompt and inputs in the other aspect ratio.
    Flip,
}

/// Why a button or modal did not start a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRefusal {
    /// The clip (or the request behind it) is not known any more.
    NotFound,
    /// The clip was deleted; `label` is its version label.
    Removed {
        label: String,
    },
    /// An edit of a video keeps the video's shape: there is no other aspect ratio to make.
    KeepsSourceShape,
    /// The "Animate with Omni" request waited too long for its prompt.
    Expired,
    Invalid(RequestError),
    Refused(Refused),
}

/// What "Animate with Omni" started: `used` of the message's `total` images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Animated {
    pub started: Started,
    pub used: usize,
    pub total: usize,
}

/// Why a clip was not deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveRefusal {
    /// The clip is not known there.
    NotFound,
    /// Only its requester, or someone who may manage messages there, may delete it.
    NotYours,
    /// Discord did not delete the message (the cause is in the log).
    Failed,
}

impl From<Refused> for ActionRefusal {
    fn from(r: Refused) -> Self {
        Self::Refused(r)
    }
}

/// What a restart asked for, to tell the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restarted {
    Reroll { seed: i64 },
    Again,
    Flip { aspect: AspectRatio },
}

impl App {
    async fn stored_job(&self, id: JobId) -> Result<Job, ActionRefusal> {
        match self.store.job(id).await {
            Ok(Some(job)) => Ok(job),
            Ok(None) => Err(ActionRefusal::NotFound),
            Err(e) => {
                tracing::error!(error = %e, "cannot read a job for a button");
                Err(ActionRefusal::Refused(Refused::Internal))
            }
        }
    }

    /// Starts a new clip from job `id`'s request, in its conversation.
    pub async fn restart(
        &self,
        id: JobId,
        how: Restart,
        origin: Origin,
        event: EventId,
    ) -> Result<(Started, Restarted), ActionRefusal> {
        let job = self.stored_job(id).await?;
        let conversation = conversation_of(&job);
        let (request, continues, made_from, told) = match how {
            Restart::Reroll => {
                let seed = (self.seeds)();
                (
                    job.request.with_seed(seed),
                    job.continues,
                    Some(MadeFrom::Reroll(id)),
                    Restarted::Reroll { seed },
                )
            }
            // Exactly the failed request, seed included, made from what it was made from.
            Restart::Again => (
                job.request.clone(),
                job.continues,
                job.made_from,
                Restarted::Again,
            ),
            Restart::Flip => {
                let aspect = match job.shape().frame {
                    Some(Frame::SourceVideo) => return Err(ActionRefusal::KeepsSourceShape),
                    Some(Frame::Aspect(a)) => a.flipped(),
                    None => AspectRatio::Portrait,
                };
                // A continuation starts its whole line over, as one new clip.
                let request = match &job.lineage {
                    Some(line) => line
                        .as_new_clip(&job.request, aspect)
                        .map_err(ActionRefusal::Invalid)?,
                    None => job.request.without_video_id().with_aspect_ratio(aspect),
                };
                (
                    request,
                    None,
                    Some(MadeFrom::Flip(id)),
                    Restarted::Flip { aspect },
                )
            }
        };
        let ask = Ask {
            event: Some(event),
            origin,
            request,
            asked_in: Some(conversation),
            continues,
            made_from,
        };
        Ok((self.start(ask).await?, told))
    }

    /// Continues clip `id` with a new prompt (the refine box).
    pub async fn refine(
        &self,
        id: JobId,
        prompt: String,
        origin: Origin,
        event: EventId,
    ) -> Result<Started, ActionRefusal> {
        let job = self.stored_job(id).await?;
        let conversation = conversation_of(&job);
        let removed = self
            .store
            .conversation(conversation)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.clips.into_iter().find(|c| c.job_id == id && c.removed));
        if let Some(clip) = removed {
            return Err(ActionRefusal::Removed { label: clip.label });
        }
        let draft = Draft {
            prompt,
            continues: true,
            ..Draft::default()
        };
        let request =
            GenerationRequest::validate(draft, &self.limits).map_err(ActionRefusal::Invalid)?;
        let ask = Ask {
            event: Some(event),
            origin,
            request,
            asked_in: Some(conversation),
            continues: Some(ParentRef::Job(id)),
            made_from: None,
        };
        Ok(self.start(ask).await?)
    }

    /// Keeps a message's images until their prompt arrives; returns the draft's id.
    pub async fn save_animate_draft(&self, images: &[Attachment]) -> crate::store::Result<u64> {
        let id = self.store.next_id().await?.0;
        let expires = self.clock.now_ms() + ANIMATE_DRAFT_MS;
        self.store.put_draft(id, &images.to_vec(), expires).await?;
        Ok(id)
    }

    /// Animates the images of draft `draft` with `prompt`: the first is the start frame, the
    /// next ones are references, up to [`MAX_ANIMATED_IMAGES`] in all.
    pub async fn animate(
        &self,
        draft: u64,
        prompt: String,
        origin: Origin,
        event: EventId,
    ) -> Result<Animated, ActionRefusal> {
        let images: Vec<Attachment> = match self.store.draft(draft, self.clock.now_ms()).await {
            Ok(Some(images)) => images,
            Ok(None) => return Err(ActionRefusal::Expired),
            Err(e) => {
                tracing::error!(error = %e, "cannot read an animate draft");
                return Err(ActionRefusal::Refused(Refused::Internal));
            }
        };
        let total = images.len();
        let used = total.min(MAX_ANIMATED_IMAGES);
        let mut images = images.into_iter();
        let draft = Draft {
            prompt,
            image: images.next(),
            references: images
                .take(MAX_REFERENCES)
                .enumerate()
                .map(|(i, a)| (format!("image {}", i + 2), a))
                .collect(),
            ..Draft::default()
        };
        let request =
            GenerationRequest::validate(draft, &self.limits).map_err(ActionRefusal::Invalid)?;
        let ask = Ask {
            event: Some(event),
            origin,
            request,
            asked_in: None,
            continues: None,
            made_from: None,
        };
        let started = self.start(ask).await?;
        Ok(Animated {
            started,
            used,
            total,
        })
    }

    /// Withdraws a request still waiting in line, here or on the replica that drives it.
    pub async fn cancel(&self, id: JobId, by: UserId, moderator: bool) -> Result<(), CancelError> {
        let here = self.engine.cancel(id, by, moderator);
        if !matches!(here, Err(CancelError::NotQueued)) || self.engine.job_open(id) {
            return here;
        }
        match self.store.cancel_elsewhere(id, by, moderator).await {
            Ok(Withdrawal::Taken(job)) => {
                tracing::info!(job = %id, "withdrawn from the replica that drove it");
                self.engine.drive(*job);
                Ok(())
            }
            Ok(Withdrawal::NotYours) => Err(CancelError::NotYours),
            Ok(Withdrawal::NotQueued) => here,
            Err(e) => {
                tracing::error!(error = %e, job = %id, "cannot withdraw a job another replica drives");
                here
            }
        }
    }

    /// Deletes job `id`'s clip, the message `message` in `at`, for its requester or a
    /// moderator. The clip stays in the conversation's history as deleted: its label is not
    /// given again, a plain message continues the newest clip left, and a reply to it is
    /// explained. Returns the clip's label.
    pub async fn remove_clip(
        &self,
        id: JobId,
        at: ChannelId,
        message: MessageId,
        by: UserId,
        moderator: bool,
    ) -> Result<String, RemoveRefusal> {
        let job = self
            .stored_job(id)
            .await
            .map_err(|_| RemoveRefusal::NotFound)?;
        if job.user != by && !moderator {
            return Err(RemoveRefusal::NotYours);
        }
        let conversation = ConversationId(at);
        let record = self
            .store
            .conversation(conversation)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the conversation of a clip to delete");
                RemoveRefusal::Failed
            })?
            .ok_or(RemoveRefusal::NotFound)?;
        let clip = record
            .clips
            .iter()
            .find(|c| c.job_id == id && c.message_id == message)
            .ok_or(RemoveRefusal::NotFound)?;
        if !clip.removed {
            match self.chat.delete(at, message).await {
                Ok(()) | Err(ChatError::Gone) => {}
                Err(e) => {
                    tracing::warn!(error = %e, job = %id, "cannot delete the clip's message");
                    return Err(RemoveRefusal::Failed);
                }
            }
            if let Err(e) = self.store.remove_clip(conversation, id).await {
                tracing::error!(error = %e, job = %id, "cannot record the deleted clip");
            }
            if let Err(e) = self.store.remove_history(job.guild, job.user, id).await {
                tracing::error!(error = %e, job = %id, "cannot take the deleted clip out of its history");
            }
            tracing::info!(job = %id, by = %by, "clip deleted");
            self.engine.point_status(conversation).await;
        }
        Ok(clip.label.clone())
    }
}

/// The conversation a job lives in.
fn conversation_of(job: &Job) -> ConversationId {
    job.conversation().unwrap_or(ConversationId(job.channel))
}
