//! What the buttons on the bot's messages and its modals do: re-roll, the other aspect ratio,
//! refine, try again, cancel, and "Animate with Omni". Each new clip goes through
//! [`App::start`], so it counts against the same caps as `/omni`.

use super::{App, Ask, Origin, Refused, Started};
use crate::domain::ids::{ConversationId, EventId, JobId, UserId};
use crate::domain::job::{Job, ParentRef};
use crate::domain::request::{
    AspectRatio, Attachment, Draft, GenerationRequest, RequestError, MAX_REFERENCES,
};
use crate::engine::CancelError;

/// How long the images of an "Animate with Omni" request wait for their prompt.
pub const ANIMATE_DRAFT_MS: i64 = 60 * 60 * 1000;

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
    /// The "Animate with Omni" request waited too long for its prompt.
    Expired,
    Invalid(RequestError),
    Refused(Refused),
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
    fn stored_job(&self, id: JobId) -> Result<Job, ActionRefusal> {
        match self.store.job(id) {
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
        let job = self.stored_job(id)?;
        let conversation = conversation_of(&job);
        let (request, continues, told) = match how {
            Restart::Reroll => {
                let seed = (self.seeds)();
                (
                    job.request.with_seed(seed),
                    job.continues,
                    Restarted::Reroll { seed },
                )
            }
            Restart::Again => (job.request.clone(), job.continues, Restarted::Again),
            Restart::Flip => {
                let aspect = job
                    .request
                    .aspect_ratio()
                    .unwrap_or(AspectRatio::Landscape)
                    .flipped();
                (
                    job.request.without_video_id().with_aspect_ratio(aspect),
                    None,
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
        let job = self.stored_job(id)?;
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
            asked_in: Some(conversation_of(&job)),
            continues: Some(ParentRef::Job(id)),
        };
        Ok(self.start(ask).await?)
    }

    /// Keeps a message's images until their prompt arrives; returns the draft's id.
    pub fn save_animate_draft(&self, images: &[Attachment]) -> crate::store::Result<u64> {
        let id = self.store.next_id()?.0;
        let expires = self.clock.now_ms() + ANIMATE_DRAFT_MS;
        self.store.put_draft(id, &images.to_vec(), expires)?;
        Ok(id)
    }

    /// Animates the images of draft `draft` with `prompt`: the first is the start frame, the
    /// next ones are references.
    pub async fn animate(
        &self,
        draft: u64,
        prompt: String,
        origin: Origin,
        event: EventId,
    ) -> Result<Started, ActionRefusal> {
        let images: Vec<Attachment> = match self.store.draft(draft, self.clock.now_ms()) {
            Ok(Some(images)) => images,
            Ok(None) => return Err(ActionRefusal::Expired),
            Err(e) => {
                tracing::error!(error = %e, "cannot read an animate draft");
                return Err(ActionRefusal::Refused(Refused::Internal));
            }
        };
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
        };
        Ok(self.start(ask).await?)
    }

    /// Withdraws a request still waiting in line.
    pub fn cancel(&self, id: JobId, by: UserId, moderator: bool) -> Result<(), CancelError> {
        self.engine.cancel(id, by, moderator)
    }
}

/// The conversation a job lives in.
fn conversation_of(job: &Job) -> ConversationId {
    job.conversation().unwrap_or(ConversationId(job.channel))
}
