//! Step `Queued`, first half: wait in line until the user's concurrency and the conversation
//! allow the job to start, telling the user where they stand; then resolve what a follow-up
//! continues (its parent's `video_id`, line and container), and hand over to
//! [`super::submit`].

use super::ports::Progress;
use super::registry::Turn;
use super::{submit, Inner, Step};
use crate::domain::ids::JobId;
use crate::domain::job::{FailReason, Job, JobState, ParentRef};
use crate::domain::lineage::Lineage;
use crate::domain::queue::Verdict;

pub(super) async fn wait_then_submit(cx: &Inner, mut job: Job) -> Step {
    let mut stop = cx.stop_rx();
    let mut told: Option<Verdict> = None;
    loop {
        let changed = cx.registry.queue_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let limit = (cx.concurrency)(&job).await;
        match cx.registry.try_start(job.id, limit) {
            Turn::Go => break,
            Turn::Cancelled { by_moderator } => {
                tracing::info!(by_moderator, "cancelled while queued");
                let reason = if by_moderator {
                    FailReason::CancelledByModerator
                } else {
                    FailReason::Cancelled
                };
                return cx.transition(job, JobState::Failing { reason }).await;
            }
            Turn::Wait(verdict) => {
                if told != Some(verdict) {
                    cx.progress(&job, &waiting(verdict, job.continues.is_some()))
                        .await;
                    told = Some(verdict);
                }
            }
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Step::Stop,
            _ = &mut changed => {}
        }
    }
    if let Some(parent) = job.continues {
        let conversation = job.conversation();
        let record = match conversation {
            Some(c) => cx.store.conversation(c).await.ok().flatten(),
            None => None,
        };
        let clip = record.as_ref().and_then(|r| match parent {
            // A deleted clip is not continued by a plain message.
            ParentRef::Latest => r.latest_clip(),
            ParentRef::Job(id) => r.clips.iter().find(|c| c.job_id == id),
        });
        match clip.and_then(|c| c.video_id.clone().map(|v| (c.job_id, v))) {
            Some((parent_job, video_id)) => {
                job.request = job.request.with_video_id(video_id);
                // Pin the parent so a restart continues the same clip.
                job.continues = Some(ParentRef::Job(parent_job));
                inherit(cx, &mut job, parent_job).await;
            }
            None => {
                let reason = FailReason::NoVideoId;
                return cx.transition(job, JobState::Failing { reason }).await;
            }
        }
        // The resolved request (and pinned parent) is stored before anything is sent.
        if !cx.persist(&job).await {
            return Step::Stop;
        }
    }
    submit::submit(cx, job).await
}

/// A continuation takes its parent's line (for its header and its buttons) and container.
async fn inherit(cx: &Inner, job: &mut Job, parent: JobId) {
    match cx.store.job(parent).await {
        Ok(Some(p)) => {
            job.lineage = Some(Lineage::continuing(&p.request, p.lineage.as_ref()));
            if job.request.format_choice().is_none() {
                job.request = job.request.with_format(p.request.format_choice());
            }
        }
        Ok(None) => tracing::warn!(parent = %parent, "the continued clip's job is not stored"),
        Err(e) => tracing::warn!(error = %e, "cannot read the continued clip's job"),
    }
}

fn waiting(verdict: Verdict, builds_on: bool) -> Progress {
    match verdict {
        Verdict::BehindUser { position } => Progress::Queued {
            position,
            behind_conversation: false,
            builds_on,
        },
        _ => Progress::Queued {
            position: 1,
            behind_conversation: true,
            builds_on,
        },
    }
}
