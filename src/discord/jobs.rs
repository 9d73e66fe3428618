//! The one path every generation takes, whatever started it (`/omni`, a reply in a thread, a
//! button, the context menu): usage caps are checked and reserved here, then the job is stored
//! and handed to the tracker. Callers acknowledge the user afterwards.

use tracing::info;

use super::Data;
use crate::job::{Job, JobId, JobState, ParentRef};
use crate::request::GenerationRequest;
use crate::tracker::now_ms;

/// Who asked, and where.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub guild_id: Option<u64>,
    pub channel_id: u64,
    pub user_id: u64,
    /// The member's roles (for per-role allowances).
    pub roles: Vec<u64>,
    /// Largest upload Discord accepts there (bytes).
    pub attachment_size_limit: u64,
    /// Set when the request comes from inside an existing conversation.
    pub conversation: Option<u64>,
    /// The clip the request iterates on.
    pub continues: Option<ParentRef>,
}

/// Discord's default upload limit, used when an interaction does not say.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 10 * 1024 * 1024;

/// Stores a new job and starts it. A refusal is a [`super::errors::UserError`].
pub async fn start(
    data: &Data,
    origin: Origin,
    request: GenerationRequest,
) -> Result<JobId, super::Error> {
    if data.tracker.is_stopping() {
        return Err(super::errors::UserError(
            "I'm restarting right now; please try again in a minute. Nothing was charged.".into(),
        )
        .into());
    }
    let job = Job {
        id: data.store.next_id()?,
        guild_id: origin.guild_id,
        channel_id: origin.channel_id,
        user_id: origin.user_id,
        request,
        attachment_size_limit: match origin.attachment_size_limit {
            0 => DEFAULT_UPLOAD_LIMIT,
            n => n,
        },
        created_at_ms: now_ms(),
        place: None,
        state: JobState::Accepted,
        conversation: origin.conversation,
        continues: origin.continues,
    };
    let id = job.id;
    // Refused requests are neither stored nor sent, and count nothing.
    data.caps.admit(&origin, id)?;
    info!(job = id, guild = ?job.guild_id, user = job.user_id, kind = %job.request.kind_key(), "accepted");
    if let Err(e) = data.tracker.accept(job).await {
        // Never started: give the reservation back.
        if let Err(refund) = data.caps.usage.refund(id) {
            tracing::error!(job = id, error = %refund, "cannot refund usage");
        }
        return Err(e.into());
    }
    Ok(id)
}
