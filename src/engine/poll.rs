//! Step `Running → Delivering | Failing`: wait for poll turns and read the job's status.
//!
//! One bad answer never abandons a paid job: 404 (a job not listed yet), 5xx, timeouts and
//! unreadable answers are retried with backoff until the job timeout; a 401 also alerts the
//! operator. The timeout only ends a job the vendor still reports unfinished: after a restart,
//! the job is polled first, so a clip that finished while the bot was down is still posted.

use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{info, warn};

use super::ports::Progress;
use super::registry::PollSlot;
use super::{Endpoint, EngineEvent, Inner, Outcome, Step};
use crate::domain::ids::VendorJobId;
use crate::domain::job::{FailReason, Job, JobState};
use crate::domain::render::RenderModel;
use crate::pixeldojo::{ApiError, JobStatus, PollTicket};

enum End {
    Next(JobState),
    Stop,
}

pub(super) async fn track(
    cx: &Inner,
    job: Job,
    vendor_job_id: VendorJobId,
    submitted_at_ms: i64,
) -> Step {
    let kind = job.request.kind_key();
    let stats = cx.store.render_stats(&kind).await.unwrap_or_else(|e| {
        warn!(error = %e, "cannot read the learned render time");
        None
    });
    let model = RenderModel::learned(stats.as_ref(), cx.settings.prior_render);
    let (turn, mut turns) = mpsc::channel(1);
    cx.registry.add_poll(
        job.id,
        PollSlot {
            submitted_at_ms,
            last_poll_at_ms: None,
            hold_until_ms: 0,
            model: model.clone(),
            turn,
        },
    );
    let end = poll_until_done(
        cx,
        &job,
        &vendor_job_id,
        submitted_at_ms,
        &model,
        &mut turns,
    )
    .await;
    cx.registry.remove_poll(job.id);
    match end {
        End::Next(state) => cx.transition(job, state).await,
        End::Stop => Step::Stop,
    }
}

async fn poll_until_done(
    cx: &Inner,
    job: &Job,
    vendor_job_id: &VendorJobId,
    submitted_at_ms: i64,
    model: &RenderModel,
    turns: &mut mpsc::Receiver<PollTicket>,
) -> End {
    let settings = &cx.settings;
    let mut stop = cx.stop_rx();
    let timeout_ms = settings.job_timeout.as_millis() as i64;
    let life_started_ms = cx.clock.now_ms();
    let mut seen_running = false;
    let mut failures = 0u32;
    // When the job was last seen still running: the render ended between then and the poll
    // that saw it done, so that bracket is what gets learned (detection time alone would teach
    // ever later polls).
    let mut last_running_ms = submitted_at_ms;
    let mut next_progress = Instant::now();
    loop {
        let now = cx.clock.now_ms();
        let elapsed = now - submitted_at_ms;
        let asked_long_enough =
            seen_running || now - life_started_ms > settings.restart_grace.as_millis() as i64;
        if elapsed > timeout_ms && asked_long_enough {
            warn!(vendor_job = %vendor_job_id, "job timed out");
            let minutes = settings.job_timeout.as_secs().div_ceil(60);
            return End::Next(JobState::Failing {
                reason: FailReason::TimedOut { minutes },
            });
        }
        if Instant::now() >= next_progress {
            let progress = Progress::Rendering {
                elapsed_ms: elapsed,
                expected_ms: model.mean_ms as i64,
            };
            cx.progress(job, &progress).await;
            next_progress = Instant::now() + settings.progress_every;
        }
        let until_timeout = (timeout_ms - elapsed).max(0) as u64 + 50;
        let ticket = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return End::Stop,
            ticket = turns.recv() => match ticket {
                Some(ticket) => ticket,
                None => return End::Stop,
            },
            _ = tokio::time::sleep_until(next_progress) => continue,
            _ = tokio::time::sleep(std::time::Duration::from_millis(until_timeout)) => continue,
        };
        // The floor between polls counts from when a poll is sent, not from its answer:
        // otherwise every answer's round trip would stretch the interval.
        let sent_at = cx.clock.now_ms();
        let result = cx.vendor.poll(ticket, vendor_job_id).await;
        cx.emit(EngineEvent::Request {
            endpoint: Endpoint::Poll,
            outcome: Outcome::of(&result),
        });
        let polled_at = cx.clock.now_ms();
        match result {
            Ok(JobStatus::Running { .. }) => {
                failures = 0;
                seen_running = true;
                last_running_ms = polled_at;
                cx.registry.polled(job.id, sent_at, 0);
            }
            Ok(JobStatus::Completed {
                video_url,
                video_id,
                ..
            }) => {
                let render_ms = polled_at - submitted_at_ms;
                let seen =
                    model.observe((last_running_ms - submitted_at_ms) as f64, render_ms as f64);
                if let Err(e) = cx
                    .store
                    .record_render_time(&job.request.kind_key(), &seen)
                    .await
                {
                    warn!(error = %e, "cannot record the render time");
                }
                info!(render_ms, has_video_id = video_id.is_some(), "completed");
                cx.emit(EngineEvent::Rendered { job, render_ms });
                return End::Next(JobState::Delivering {
                    vendor_job_id: vendor_job_id.clone(),
                    video_url,
                    video_id,
                    render_ms,
                    finished_at_ms: polled_at,
                });
            }
            Ok(JobStatus::Failed { error, credit_cost }) => {
                warn!(vendor_error = %error, ?credit_cost, "PixelDojo reported the job as failed");
                return End::Next(JobState::Failing {
                    reason: FailReason::RenderFailed {
                        message: error,
                        charged: credit_cost != Some(0),
                    },
                });
            }
            Err(e) => {
                failures += 1;
                if matches!(e, ApiError::Unauthorized) {
                    cx.emit(EngineEvent::KeyRejected);
                }
                let backoff = settings.retries.poll.delay(failures);
                warn!(error = %e, failures, backoff_ms = backoff.as_millis() as u64, "poll failed; retrying");
                let hold = polled_at + backoff.as_millis() as i64;
                cx.registry.polled(job.id, sent_at, hold);
            }
        }
    }
}
