//! Step `Queued`, second half: send the job to PixelDojo, never twice.
//!
//! While it waits for a budget slot or a retry, the job is stored as `Queued` (nothing was
//! sent); `Submitting` is stored right before the request goes out, so a stop or a crash while
//! waiting never makes a job look uncertain, and a crash during the request always does. A
//! refusal that processed nothing (429, 503, a connection that never opened) is retried; an
//! answer that may hide a created job (500, 502, 504, a dropped connection) is not.

use tracing::{error, info, warn};

use super::ports::Progress;
use super::{Endpoint, EngineEvent, Inner, Outcome, Step};
use crate::domain::ids::VendorJobId;
use crate::domain::job::{FailReason, Job, JobState, StateName, VendorRefusal};
use crate::pixeldojo::{ApiError, RunRequest};

pub(super) async fn submit(cx: &Inner, mut job: Job) -> Step {
    cx.progress(&job, &Progress::Submitting).await;
    refresh_attachments(cx, &mut job).await;
    let body = RunRequest::from(&job.request);
    let mut stop = cx.stop_rx();
    let mut busy = 0u32;
    let mut not_sent = 0u32;
    loop {
        if job.state != JobState::Queued {
            job.state = JobState::Queued;
            if !cx.persist(&job).await {
                return Step::Stop;
            }
        }
        let ticket = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Step::Stop,
            ticket = cx.vendor.submit_ticket() => ticket,
        };
        job.state = JobState::Submitting;
        if !cx.persist(&job).await {
            return Step::Stop;
        }
        cx.emit(EngineEvent::StateChanged {
            job: &job,
            from: StateName::Queued,
        });
        let result = cx.vendor.submit(ticket, job.id, &body).await;
        cx.emit(EngineEvent::Request {
            endpoint: Endpoint::Submit,
            outcome: Outcome::of(&result),
        });
        let error = match result {
            Ok(submitted) => {
                if let Some(cost) = submitted.credit_cost {
                    if let Err(e) = cx.store.charge(job.id, u64::from(cost)).await {
                        error!(error = %e, cost, "cannot count what PixelDojo charged");
                    }
                }
                cx.emit(EngineEvent::Submitted {
                    job: &job,
                    credit_cost: submitted.credit_cost,
                    credits_remaining: submitted.credits_remaining,
                });
                info!(vendor_job = %submitted.job_id, credits_remaining = ?submitted.credits_remaining, "submitted");
                let running = JobState::Running {
                    vendor_job_id: VendorJobId(submitted.job_id),
                    submitted_at_ms: cx.clock.now_ms(),
                };
                return cx.transition(job, running).await;
            }
            Err(e) => e,
        };
        if error.submit_may_have_started() {
            error!(error = %error, "submit outcome unknown; not resubmitting");
            let reason = FailReason::UncertainSubmit;
            return cx.transition(job, JobState::Failing { reason }).await;
        }
        if !error.submit_retryable() {
            warn!(error = %error, "submit refused");
            if matches!(error, ApiError::Unauthorized) {
                cx.emit(EngineEvent::KeyRejected);
            }
            let refusal = error
                .refusal()
                .unwrap_or(VendorRefusal::Unexpected { status: 0 });
            let reason = FailReason::Refused(refusal);
            return cx.transition(job, JobState::Failing { reason }).await;
        }
        // Nothing was processed: back in line, as far as a crash is concerned.
        job.state = JobState::Queued;
        if !cx.persist(&job).await {
            return Step::Stop;
        }
        if let ApiError::NotSent(cause) = &error {
            not_sent += 1;
            let policy = &cx.settings.retries.not_sent;
            if policy.max_attempts.is_some_and(|max| not_sent >= max) {
                warn!(%cause, "PixelDojo stayed unreachable");
                let reason = FailReason::Refused(VendorRefusal::Unreachable);
                return cx.transition(job, JobState::Failing { reason }).await;
            }
            warn!(%cause, attempt = not_sent, "submit never reached PixelDojo; retrying");
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return Step::Stop,
                _ = tokio::time::sleep(policy.delay(not_sent)) => {}
            }
        } else {
            // A 429 or 503: the budget already waits what the answer asked.
            busy += 1;
            warn!(error = %error, attempt = busy, "submit rate limited or unavailable; waiting");
            if busy >= cx.settings.max_busy_submits {
                let reason = FailReason::Refused(VendorRefusal::Busy {
                    retry_after_secs: None,
                });
                return cx.transition(job, JobState::Failing { reason }).await;
            }
        }
    }
}

/// Attachment links expire (Discord's last about a day): a request made earlier and sent now
/// (a re-roll, a retry, a job resumed after downtime) gets fresh ones first, so PixelDojo can
/// fetch them. If Discord cannot refresh them now, the old links go as they are.
async fn refresh_attachments(cx: &Inner, job: &mut Job) {
    let urls = job.request.attachment_urls();
    if urls.is_empty() {
        return;
    }
    match cx.chat.refresh_urls(&urls).await {
        Ok(fresh) if fresh != urls && fresh.len() == urls.len() => {
            info!(count = urls.len(), "refreshed attachment links");
            job.request = job.request.with_attachment_urls(&fresh);
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "cannot refresh attachment links; sending them as they are"),
    }
}
