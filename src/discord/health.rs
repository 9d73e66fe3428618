//! The gateway half of `/healthz`: reads the shard manager's own view of its shards.
//!
//! Why not events: serenity dispatches `ShardStageUpdate` only to `EventHandler`s, never to a
//! framework, so poise's event hook does not see it; poise also holds every event until setup
//! has finished; and when a connection drops and the reconnect fails, no event is dispatched at
//! all (the shard runner ends and the manager removes it). The manager's runner table is updated
//! on every stage change and emptied while a shard restarts, so it is the one source that is
//! right in every case.

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use serenity::ConnectionStage;

use crate::metrics::{Gateway, GatewayProbe};

/// A probe that reports the worst state among the manager's shards (no shard: disconnected).
pub fn gateway_probe(shards: Arc<serenity::ShardManager>) -> GatewayProbe {
    Arc::new(move || {
        let shards = shards.clone();
        Box::pin(async move {
            let runners = shards.runners.lock().await;
            let stages: Vec<ConnectionStage> = runners.values().map(|r| r.stage).collect();
            drop(runners);
            summarize(&stages)
        })
    })
}

fn summarize(stages: &[ConnectionStage]) -> Gateway {
    if stages.is_empty() {
        return Gateway::Disconnected;
    }
    if stages.iter().all(|s| *s == ConnectionStage::Connected) {
        Gateway::Connected
    } else if stages.iter().any(|s| s.is_connecting()) {
        Gateway::Connecting
    } else {
        Gateway::Disconnected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shards_that_are_all_connected_count_as_connected() {
        use ConnectionStage::*;
        assert_eq!(summarize(&[]), Gateway::Disconnected);
        assert_eq!(summarize(&[Connected]), Gateway::Connected);
        assert_eq!(summarize(&[Connected, Resuming]), Gateway::Connecting);
        assert_eq!(summarize(&[Disconnected]), Gateway::Disconnected);
    }
}
