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

use crate::metrics::{Gateway, GatewayProbe, Health};

/// How long the gateway may be down before the operator is told.
const QUIET_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// Tells the operator, in one line, when Discord's gateway has been unreachable for a few
/// seconds (since when, and how it retries), and in one more when it is back; serenity's own
/// warning at every attempt is filtered out of the default log.
pub fn watch_gateway(health: Health) {
    tokio::spawn(async move {
        let mut down_since: Option<(tokio::time::Instant, chrono::DateTime<chrono::Utc>)> = None;
        let mut told = false;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            match (health.gateway().await, down_since) {
                (Gateway::Connected, Some((since, _))) => {
                    if told {
                        tracing::info!(
                            down_for_s = since.elapsed().as_secs(),
                            "Discord's gateway is reachable again"
                        );
                    }
                    down_since = None;
                    told = false;
                }
                (Gateway::Connected, None) => {}
                (_, None) => down_since = Some((tokio::time::Instant::now(), chrono::Utc::now())),
                (_, Some((since, at))) if !told && since.elapsed() >= QUIET_FOR => {
                    tracing::warn!(
                        since = %at.format("%Y-%m-%d %H:%M:%S UTC"),
                        "Discord's gateway is unreachable; the bot tries again every 5 seconds (serenity's pace) and says so here once it is back"
                    );
                    told = true;
                }
                _ => {}
            }
        }
    });
}

/// A probe that reports the worst state among the manager's shards. No shard at all means the
/// manager is between attempts to (re)connect: connecting.
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
        return Gateway::Connecting;
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
        assert_eq!(summarize(&[]), Gateway::Connecting);
        assert_eq!(summarize(&[Connected]), Gateway::Connected);
        assert_eq!(summarize(&[Connected, Resuming]), Gateway::Connecting);
        assert_eq!(summarize(&[Disconnected]), Gateway::Disconnected);
    }
}
