//! Step `Delivering → Delivered | Failing`: download the finished clip, give it its version
//! label, and post it. Posting is retried with capped backoff for as long as PixelDojo keeps
//! the file (about a day): a Discord outage delays a paid clip but does not lose it.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::ports::{ClipFile, ClipLink, LinkReason, Version, VersionOrigin};
use super::post;
use super::retry::{retry, Attempt, GaveUp};
use super::{Endpoint, EngineEvent, Inner, Outcome, Step};
use crate::domain::ids::{ConversationId, JobId};
use crate::domain::job::{FailReason, Job, JobState};
use crate::domain::lineage::MadeFrom;
use crate::domain::request::AspectRatio;
use crate::pixeldojo::{ApiError, Download};
use crate::store::{Clip as HistoryClip, ClipRecord};

pub(super) async fn deliver(
    cx: &Inner,
    job: Job,
    video_url: String,
    video_id: Option<String>,
    finished_at_ms: i64,
) -> Step {
    let started_ms = cx.clock.now_ms();
    let mut stop = cx.stop_rx();
    // The vendor's link expires about a day after the clip finished.
    let left_ms = finished_at_ms + cx.settings.link_lifetime.as_millis() as i64 - started_ms;
    if left_ms <= 0 {
        // Down (or refused by Discord) for longer than PixelDojo keeps the file.
        error!("the clip's link expired before it could be posted");
        let reason = FailReason::Undeliverable;
        return cx.transition(job, JobState::Failing { reason }).await;
    }
    let expires = Instant::now() + Duration::from_millis(left_ms as u64);
    cx.progress(&job, &super::ports::Progress::Delivering).await;
    let file = match download(cx, &job, &video_url, expires, &mut stop).await {
        Ok(file) => file,
        Err(GaveUp::Stopped) => return Step::Stop,
        Err(GaveUp::Failed(e)) => {
            error!(error = %e, "the clip's address is not PixelDojo's; not posting it");
            let reason = FailReason::UntrustedOutput;
            return cx.transition(job, JobState::Failing { reason }).await;
        }
    };
    let conversation = job.conversation().unwrap_or(ConversationId(job.channel));
    let parent = job.parent();
    let label = cx
        .store
        .assign_label(conversation, job.id, parent)
        .await
        .unwrap_or_else(|e| {
            error!(error = %e, "cannot assign a version label");
            "v?".to_owned()
        });
    let version = Version {
        label: label.clone(),
        origin: origin(cx, conversation, &job).await,
        can_continue: video_id.is_some(),
    };
    let posted = retry(
        &cx.settings.retries.post,
        Some(expires),
        &mut stop,
        |attempt| {
            let (job, file, version, video_id, label) = (&job, &file, &version, &video_id, &label);
            async move {
                let _posting = cx.registry.posting_clip();
                let (posted, as_link) = post::clip(cx, job, file, version).await.map_err(|e| {
                    warn!(attempt, error = %e, "posting the clip failed");
                    Attempt::Retry(e)
                })?;
                // Recorded where it landed (the parent channel if the thread was gone, a DM), so
                // that a reply to it there continues it.
                let landed = ConversationId(posted.channel);
                if landed != conversation {
                    let _ = cx.store.ensure_conversation(landed, false).await;
                }
                let record = ClipRecord {
                    job_id: job.id,
                    video_id: video_id.clone(),
                    message_id: posted.message,
                    label: label.clone(),
                    parent,
                    removed: false,
                };
                if let Err(e) = cx.store.record_clip(landed, record).await {
                    error!(error = %e, "cannot record the clip");
                }
                // And in its requester's history (`/omni-history`).
                let clip = HistoryClip::posted(
                    job,
                    posted.channel,
                    posted.message,
                    label,
                    cx.clock.now_ms(),
                );
                if let Err(e) = cx.store.record_history(&clip).await {
                    error!(error = %e, "cannot add the clip to its requester's history");
                }
                Ok((posted, as_link))
            }
        },
    )
    .await;
    match posted {
        Ok((posted, as_link)) => {
            cx.emit(EngineEvent::Delivered {
                job: &job,
                delay_ms: cx.clock.now_ms() - started_ms,
                as_link,
            });
            let link = ClipLink {
                guild: job.guild,
                channel: posted.channel,
                message: posted.message,
                label,
            };
            // The status message links to the clip where everyone sees it (not in a DM).
            let public = posted.channel == conversation.channel();
            post::close_progress(cx, &job, true, public.then_some(&link)).await;
            if job
                .place
                .as_ref()
                .is_some_and(|p| p.status_message.is_none())
            {
                // A follow-up: the status message above its thread now links to it.
                post::point_status(cx, conversation).await;
            }
            let delivered = JobState::Delivered {
                message_id: posted.message,
                video_id,
            };
            let step = cx.transition(job, delivered).await;
            // Logged once the outcome is stored: a kill after this line finds nothing to redo.
            info!(message_id = %posted.message, "delivered");
            step
        }
        Err(GaveUp::Stopped) => Step::Stop,
        Err(GaveUp::Failed(e)) => {
            error!(error = %e, "Discord did not take the clip before its link expired");
            let reason = FailReason::Undeliverable;
            cx.transition(job, JobState::Failing { reason }).await
        }
    }
}

/// What the clip was made from, by that clip's label: the button that made it, or the clip it
/// continues.
async fn origin(cx: &Inner, conversation: ConversationId, job: &Job) -> Option<VersionOrigin> {
    let record = cx.store.conversation(conversation).await.ok().flatten()?;
    let label = |id: JobId| record.label_of(id).map(str::to_owned);
    match job.made_from {
        Some(MadeFrom::Reroll(of)) => label(of).map(VersionOrigin::RerollOf),
        Some(MadeFrom::Flip(of)) => label(of).map(|label| VersionOrigin::FlipOf {
            label,
            aspect: job.request.aspect_ratio().unwrap_or(AspectRatio::Landscape),
        }),
        None => job.parent().and_then(label).map(VersionOrigin::From),
    }
}

/// The clip as it will be posted: the file, or its link when it is too large or cannot be
/// downloaded. Fails only for an address that is not the vendor's.
async fn download(
    cx: &Inner,
    job: &Job,
    url: &str,
    expires: Instant,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<ClipFile, GaveUp<ApiError>> {
    let link = |why| ClipFile::Link {
        url: url.to_owned(),
        why,
    };
    let downloaded = retry(
        &cx.settings.retries.download,
        Some(expires),
        stop,
        |attempt| async move {
            let result = cx.vendor.download(url, job.attachment_size_limit).await;
            cx.emit(EngineEvent::Request {
                endpoint: Endpoint::Download,
                outcome: Outcome::of(&result),
            });
            match result {
                Ok(download) => Ok(download),
                Err(e @ ApiError::ForbiddenUrl(_)) => Err(Attempt::Fail(e)),
                Err(e) => {
                    warn!(attempt, error = %e, "download failed");
                    Err(Attempt::Retry(e))
                }
            }
        },
    )
    .await;
    match downloaded {
        Ok(Download::Complete(data)) => Ok(ClipFile::Upload {
            data,
            filename: format!("omni-{}.{}", job.id, job.request.format().as_str()),
            url: url.to_owned(),
        }),
        Ok(Download::TooLarge { size }) => {
            info!(
                ?size,
                limit = job.attachment_size_limit,
                "clip too large to upload; posting the link"
            );
            Ok(link(LinkReason::TooLarge))
        }
        Err(GaveUp::Failed(e @ ApiError::ForbiddenUrl(_))) => Err(GaveUp::Failed(e)),
        Err(GaveUp::Failed(_)) => Ok(link(LinkReason::DownloadFailed)),
        Err(GaveUp::Stopped) => Err(GaveUp::Stopped),
    }
}
