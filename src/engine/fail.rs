//! Step `Failing → Failed`: give back what the user does not owe, then post why there is no
//! clip. The usage is settled first, so it is back at once even while Discord is down (settling
//! twice gives nothing more back); the reason is then posted with capped backoff until Discord
//! takes it.

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::post;
use super::retry::{retry, Attempt, GaveUp};
use super::{Inner, Step};
use crate::domain::job::{FailReason, Job, JobState};

pub(super) async fn fail(cx: &Inner, job: Job, reason: FailReason) -> Step {
    let settlement = reason.settlement();
    match cx.store.settle(job.id, settlement).await {
        Ok(Some(_)) => info!(reason = reason.name(), ?settlement, "usage settled"),
        Ok(None) => {}
        Err(e) => error!(error = %e, "cannot settle the usage"),
    }
    let mut stop = cx.stop_rx();
    let waited_ms = cx.clock.now_ms() - job.created_at_ms;
    let patience_ms = cx.settings.failure_patience.as_millis() as i64 - waited_ms;
    let give_up = Instant::now() + std::time::Duration::from_millis(patience_ms.max(0) as u64);
    let posted = retry(
        &cx.settings.retries.post,
        Some(give_up),
        &mut stop,
        |attempt| {
            let (job, reason) = (&job, &reason);
            async move {
                post::failure(cx, job, reason).await.map_err(|e| {
                    warn!(attempt, error = %e, "posting the failure failed");
                    Attempt::Retry(e)
                })
            }
        },
    )
    .await;
    match posted {
        Ok(_) => post::close_progress(cx, &job, false, None).await,
        Err(GaveUp::Stopped) => return Step::Stop,
        Err(GaveUp::Failed(e)) => {
            error!(error = %e, "the reason could not be posted for days; giving up on telling the user");
        }
    }
    cx.transition(job, JobState::Failed { reason }).await
}
