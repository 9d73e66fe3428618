//! The promises to the person who pays, under the faults production sees daily (issue 11): the
//! real bot against the fakes. What depends on timing and interleaving is also covered, over
//! thousands of seeds, by the simulation (`tests/simulation`).

use std::time::Duration;

use serde_json::json;

use omni_bot::domain::ids::{GuildId, JobId, Scope, UserId};
use omni_bot::domain::job::{FailReason, JobState};
use omni_bot::domain::quota::Window;

use crate::faults::{clip_in, open_store, polls, wait_launch_log};
use crate::support::fake_discord as discord;
use crate::support::world::{World, WAIT};

/// Stops the bot (SIGTERM) once its only job has been polled and is rendering, then moves the
/// job's submit time `ago` into the past, as if the bot had been down that long. Returns the
/// job's id.
async fn down_for(world: &mut World, ago: Duration) -> JobId {
    assert!(
        world.wait_log(WAIT, |log| log.contains("poll turn")).await || !polls(world).is_empty(),
        "{}",
        world.logs()
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while polls(world).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never polled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(world.terminate().await.success());
    let store = open_store(world);
    let mut job = store
        .active_jobs()
        .await
        .unwrap()
        .pop()
        .expect("the job is in flight");
    let JobState::Running {
        submitted_at_ms, ..
    } = &mut job.state
    else {
        panic!("not rendering: {:?}", job.state);
    };
    *submitted_at_ms -= ago.as_millis() as i64;
    store.put_job_durable(&job).await.unwrap();
    job.id
}

#[tokio::test]
async fn a_clip_that_finished_while_the_bot_was_down_past_the_timeout_is_still_posted() {
    let mut world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(3));
    world.omni(json!({"prompt": "a heron taking off"})).await;
    let thread = world.thread(0).await;
    down_for(&mut world, Duration::from_secs(20 * 60)).await;
    // The vendor finishes while the bot is down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.launch().await;
    clip_in(&world, thread).await;
    assert!(
        !world
            .bot_messages(thread)
            .iter()
            .any(|m| m.content.contains("did not finish")),
        "timed out a clip the vendor had finished"
    );
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn a_job_still_unfinished_after_the_timeout_is_polled_first_then_ends_and_keeps_its_charge() {
    let mut world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(600));
    world.omni(json!({"prompt": "a glacier calving"})).await;
    let thread = world.thread(0).await;
    let id = down_for(&mut world, Duration::from_secs(16 * 60)).await;
    let polls_before = polls(&world).len();
    world.launch().await;
    let message = world
        .discord
        .wait_for_message(thread, WAIT, |m| {
            m.author_id == discord::BOT_USER_ID && m.content.contains("did not finish")
        })
        .await
        .unwrap_or_else(|| panic!("no timeout message:\n{}", world.logs()));
    assert!(
        polls(&world).len() > polls_before,
        "timed out without asking PixelDojo first"
    );
    assert!(
        message.content.contains("within 15 minutes,"),
        "{}",
        message.content
    );
    assert!(
        message
            .content
            .contains("doesn't count against your daily clips"),
        "{}",
        message.content
    );
    assert!(message.mentions.contains(&discord::USER_ID));
    assert!(world.clips_in(thread).is_empty());
    assert!(wait_launch_log(&world, WAIT, "usage settled").await);

    assert!(world.terminate().await.success());
    let store = open_store(&world);
    let job = store.job(id).await.unwrap().expect("the job is stored");
    assert_eq!(
        job.state,
        JobState::Failed {
            reason: FailReason::TimedOut { minutes: 15 }
        }
    );
    // The user gets their clip back; PixelDojo charged the render, so the credits stay counted.
    let window = Window::at(chrono::Utc::now(), chrono_tz::UTC);
    let usage = store
        .usage(
            Scope::Guild(GuildId(discord::GUILD_ID)),
            UserId(discord::USER_ID),
            &window,
        )
        .await
        .unwrap();
    assert_eq!(usage.user_day_videos, 0);
    assert_eq!(usage.guild_month_credits, 16);
    assert_eq!(usage.global_day_credits, 16);
}
