//! The one loop that hands out poll turns. Jobs do not poll on their own timers: whenever some
//! job may be polled and the budget has a slot, the slot goes to the job the strategy picks at
//! that moment ([`crate::domain::scheduler`]). A job may be polled once its floor has passed
//! (and no backoff holds it; under the fixed loop, once its interval has): a budget slot not
//! taken when it comes is lost, so the learned render times decide who gets each slot, not
//! whether it is spent. The loop sleeps until the next job may be polled or the set of jobs
//! changes; it never wakes on a timer for nothing.

use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use super::Inner;
use crate::domain::scheduler::Strategy;

pub(super) async fn poll_loop(inner: Arc<Inner>) {
    let cx = &*inner;
    let settings = &cx.settings;
    let mut stop = cx.stop_rx();
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let changed = cx.registry.polls_changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = cx.clock.now_ms();
        match cx
            .registry
            .next_poll_due(now, settings.strategy, &settings.tuning)
        {
            None => {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return,
                    _ = &mut changed => continue,
                }
            }
            Some(wait_ms) if wait_ms > 0 => {
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return,
                    _ = &mut changed => continue,
                    _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => continue,
                }
            }
            Some(_) => {}
        }
        // Someone may be polled: take a budget slot, then give it to whoever is best at that
        // moment.
        let ticket = match settings.strategy {
            Strategy::Fixed { .. } => cx.vendor.unbudgeted_poll_ticket(),
            _ => tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                ticket = cx.vendor.poll_ticket() => ticket,
            },
        };
        let now = cx.clock.now_ms();
        if let Some((id, turn)) = cx
            .registry
            .pick_poll(now, settings.strategy, &settings.tuning)
        {
            debug!(job = %id, "poll turn");
            if turn.try_send(ticket).is_err() {
                debug!(job = %id, "the job was not waiting for its turn");
            }
        }
    }
}
