//! Starting and stopping cleanly in every state (issue 16): the real bot against the fakes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::ops::{free_port, get, metrics_settings};
use crate::support::fake_pixeldojo::{Endpoint, Fault};
use crate::support::world::{Settings, World, WAIT};

/// What supervisors (docker stop, systemd, Kubernetes) allow before they kill.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// SIGTERM, and how long the bot took to exit; it must exit cleanly.
async fn stop_in_time(world: &mut World) {
    let asked = Instant::now();
    let status = world.terminate().await;
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}\n{}", world.logs());
    assert!(
        took < STOP_WITHIN,
        "exited after {took:?}\n{}",
        world.logs()
    );
}

#[tokio::test]
async fn sigterm_while_discord_refuses_the_gateway_from_the_start_exits_cleanly_in_time() {
    let port = free_port();
    let mut world = World::new(metrics_settings(port)).await;
    // The bot's own log filter: serenity's warning at every attempt must not reach it.
    world.default_log_filter = true;
    world.discord.drop_gateway();
    world.spawn();
    // The operator is told once what is unreachable and since when, not at every attempt.
    assert!(
        world
            .wait_log(WAIT, |log| log.contains("Discord's gateway is unreachable"))
            .await,
        "{}",
        world.logs()
    );
    let (status, body) = get(&format!("http://127.0.0.1:{port}/healthz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"gateway\":\"connecting\""), "{body}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let log = world.logs();
    assert_eq!(
        log.matches("Discord's gateway is unreachable").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("Err starting shard"), "{log}");
    stop_in_time(&mut world).await;
}

#[tokio::test]
async fn sigterm_while_a_download_hangs_exits_cleanly_in_time_and_the_clip_comes_at_the_next_start()
{
    let mut world = World::start().await;
    world
        .pixeldojo
        .inject(Endpoint::Download, Fault::Delay(Duration::from_secs(60)), 1);
    world.omni(json!({"prompt": "a slow kite"})).await;
    let thread = world.thread(0).await;
    assert!(
        world.wait_log(WAIT, |log| log.contains("completed")).await,
        "{}",
        world.logs()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_in_time(&mut world).await;
    assert!(world.clips_in(thread).is_empty(), "the download was hung");
    world.launch().await;
    world.bot_message(thread, "here's your clip").await;
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn a_portal_that_disallows_message_content_stops_the_bot_with_a_sentence_naming_the_switch_and_the_key(
) {
    let mut world = World::new(Settings::default()).await;
    world.discord.disallow_message_content();
    world.spawn();
    let status = world
        .wait_exit(WAIT)
        .await
        .unwrap_or_else(|| panic!("still running:\n{}", world.logs()));
    assert!(!status.success());
    let log = world.logs();
    assert!(log.contains("Message Content Intent"), "{log}");
    assert!(log.contains("Privileged Gateway Intents"), "{log}");
    assert!(
        log.contains("discord.message_content_intent = false"),
        "{log}"
    );
    // ... and without the intent the same application connects.
    world.settings.discord = "message_content_intent = false".into();
    world.launch().await;
    stop_in_time(&mut world).await;
}
