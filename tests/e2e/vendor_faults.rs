//! The bot's promises under PixelDojo's faults, end to end: the real `omni-bot` binary against
//! the loopback fakes, with faults injected into the fake PixelDojo (each as the vendor page
//! documents or leaves open: see `/work/shared/reference/pixeldojo-gemini-omni-flash.md`).
//!
//! Time bounds are lower bounds on the bot's waits measured at the fake (which only grow on a
//! slow machine), or generous upper bounds.

use std::time::Duration;

use serde_json::json;

use omni_bot::discord::texts::UNCERTAIN_SUBMIT;
use omni_bot::domain::ids::{GuildId, Scope, UserId};
use omni_bot::domain::quota::{Usage, Window};
use omni_bot::store::Reservation;

use crate::faults::{clip_in, job_id_of, open_store, polls};
use crate::support::fake_discord::{self as discord, StoredMessage};
use crate::support::fake_pixeldojo::{
    self as pixeldojo, Endpoint, FailedCharge, Fault, HeaderText, JobScript, Outcome, Recorded,
};
use crate::support::world::{Settings, World, WAIT};

/// Long enough for a few polls with the bot's backoff after failures (2 s, 4 s, 8 s, ...).
const BACKOFF_WAIT: Duration = Duration::from_secs(45);

/// The submit requests the fake received (refused, dropped and accepted alike).
fn submits(world: &World) -> Vec<Recorded> {
    world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/run"))
        .collect()
}

fn statuses(requests: &[Recorded]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

/// The labels of every button under a message.
fn button_labels(message: &StoredMessage) -> Vec<String> {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["label"].as_str().map(str::to_owned))
        .collect()
}

/// What counts against [`discord::USER_ID`] in the fake's server today, read from the bot's
/// store (the bot must be stopped).
async fn usage_today(world: &World) -> Usage {
    open_store(world)
        .usage(
            Scope::Guild(GuildId(discord::GUILD_ID)),
            UserId(discord::USER_ID),
            &Window::at(chrono::Utc::now(), chrono_tz::UTC),
        )
        .await
        .expect("read the usage")
}

/// What the job behind `message` counts (the bot must be stopped).
async fn reservation_of(world: &World, message: &StoredMessage) -> Reservation {
    open_store(world)
        .reservation(job_id_of(message))
        .await
        .expect("read the reservation")
        .expect("the job reserved its usage")
}

/// SIGTERM, and the bot exits cleanly.
async fn stop(world: &mut World) {
    let status = world.terminate().await;
    assert!(status.success(), "{status:?}\n{}", world.logs());
}

/// Waits until the bot logged that a failed job's usage was settled `n` times in all.
async fn wait_settled(world: &World, n: usize) {
    assert!(
        world
            .wait_log(WAIT, |log| log.matches("usage settled").count() >= n)
            .await,
        "usage not settled {n} times:\n{}",
        world.logs()
    );
}

/// The failure message for a job in `thread` whose vendor render failed.
async fn render_failure_in(world: &World, thread: u64) -> StoredMessage {
    world.bot_message(thread, "couldn't make this clip").await
}

/// No bot message in `thread` says that the job failed.
fn assert_no_failure_message(world: &World, thread: u64) {
    let failures: Vec<_> = world
        .bot_messages(thread)
        .into_iter()
        .filter(|m| m.content.contains('❌'))
        .map(|m| m.content)
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_poll_answered_404_then_500s_is_retried_and_the_clip_is_still_posted() {
    let world = World::start().await;
    // The vendor does not list the job yet, then has server errors.
    world.pixeldojo.inject(
        Endpoint::Poll,
        Fault::Status {
            status: 404,
            code: "not_found",
            retry_after: None,
        },
        1,
    );
    world.pixeldojo.inject(Endpoint::Poll, Fault::default(), 2);
    world.omni(json!({"prompt": "a tern over breakers"})).await;
    let thread = world.thread(0).await;
    let clip = tokio::time::timeout(BACKOFF_WAIT, clip_in(&world, thread))
        .await
        .unwrap_or_else(|_| panic!("no clip:\n{}", world.logs()));

    let polls = polls(&world);
    assert!(polls.len() >= 4, "{:?}", statuses(&polls));
    assert_eq!(statuses(&polls[..3]), [404, 500, 500]);
    assert!(
        polls[3..].iter().all(|r| r.status == 200),
        "{:?}",
        statuses(&polls)
    );
    assert_eq!(world.pixeldojo.submissions().len(), 1, "one submission");
    assert_eq!(submits(&world).len(), 1);
    let job = &world.pixeldojo.jobs()[0];
    assert_eq!(
        clip.attachments[0].bytes,
        world.pixeldojo.video_bytes(&job.id)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(world.clips_in(thread).len(), 1, "one clip");
    assert_no_failure_message(&world, thread);
}

#[tokio::test]
async fn a_rejected_key_while_polling_alerts_the_operator_once_and_the_clip_is_posted_once_it_works_again(
) {
    let mut world = World::new(Settings::default()).await;
    let alerts = world.discord.add_text_channel("ops-alerts");
    world.settings.sections = format!("[alerts]\nchannel_id = {alerts}\n");
    world.launch().await;
    // The key is revoked after the submit, for three polls, then works again.
    world.pixeldojo.inject(
        Endpoint::Poll,
        Fault::Status {
            status: 401,
            code: "unauthorized",
            retry_after: None,
        },
        3,
    );
    world
        .omni(json!({"prompt": "a comet over a harbour"}))
        .await;
    let thread = world.thread(0).await;
    let alert = world
        .bot_message(alerts, "rejecting the bot's API key")
        .await;
    assert!(!alert.content.contains(pixeldojo::API_KEY));
    tokio::time::timeout(BACKOFF_WAIT, clip_in(&world, thread))
        .await
        .unwrap_or_else(|_| panic!("no clip once the key worked again:\n{}", world.logs()));

    let polls = polls(&world);
    assert_eq!(
        statuses(&polls[..3]),
        [401, 401, 401],
        "{:?}",
        statuses(&polls)
    );
    assert!(polls[3..].iter().all(|r| r.status == 200));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts_sent = world.bot_messages(alerts);
    assert_eq!(
        alerts_sent.len(),
        1,
        "one alert, not one per rejected poll: {:#?}",
        alerts_sent.iter().map(|m| &m.content).collect::<Vec<_>>()
    );
    assert_no_failure_message(&world, thread);
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn a_failed_render_that_pixeldojo_did_not_charge_gives_back_the_clip_count_and_the_credits() {
    let mut world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail("the model could not render this".into()),
        failed_charge: FailedCharge::Reported(0),
        ..JobScript::default()
    }]);
    world
        .omni(json!({"prompt": "a storm over a wheat field"}))
        .await;
    let thread = world.thread(0).await;
    let message = render_failure_in(&world, thread).await;
    wait_settled(&world, 1).await;
    assert_eq!(
        world.pixeldojo.credits(),
        pixeldojo::DEFAULT_CREDITS,
        "the fake gave the credits back"
    );
    stop(&mut world).await;

    let usage = usage_today(&world).await;
    assert_eq!(usage.user_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_month_credits, 0, "{usage:?}");
    assert_eq!(usage.global_day_credits, 0, "{usage:?}");
    assert_eq!(reservation_of(&world, &message).await.credits(), 0);
}

#[tokio::test]
async fn a_failed_render_that_pixeldojo_charged_or_did_not_say_gives_back_the_clip_count_but_the_credits_stay_counted(
) {
    let mut world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![
        JobScript {
            outcome: Outcome::Fail("the model could not render this".into()),
            failed_charge: FailedCharge::Reported(16),
            ..JobScript::default()
        },
        JobScript {
            outcome: Outcome::Fail("the model could not render this".into()),
            failed_charge: FailedCharge::Unreported,
            ..JobScript::default()
        },
    ]);
    world
        .omni(json!({"prompt": "a storm over a wheat field"}))
        .await;
    let charged = render_failure_in(&world, world.thread(0).await).await;
    wait_settled(&world, 1).await;
    world
        .omni(json!({"prompt": "a storm over a rye field"}))
        .await;
    let unsaid = render_failure_in(&world, world.thread(1).await).await;
    wait_settled(&world, 2).await;
    let jobs = world.pixeldojo.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        world.pixeldojo.credits(),
        pixeldojo::DEFAULT_CREDITS - 2 * pixeldojo::CREDIT_COST,
        "the fake kept both charges"
    );
    stop(&mut world).await;

    let usage = usage_today(&world).await;
    assert_eq!(usage.user_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_month_credits, 32, "{usage:?}");
    assert_eq!(usage.global_day_credits, 32, "{usage:?}");
    for message in [&charged, &unsaid] {
        let reservation = reservation_of(&world, message).await;
        assert!(reservation.clips_refunded, "{reservation:?}");
        assert_eq!(reservation.credits(), 16, "{reservation:?}");
    }
}

#[tokio::test]
async fn the_credits_counted_are_what_the_submit_answer_says_pixeldojo_charged() {
    let mut world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        credit_cost: Some(20),
        ..JobScript::default()
    }]);
    world.omni(json!({"prompt": "a lantern on a jetty"})).await;
    let thread = world.thread(0).await;
    let clip = clip_in(&world, thread).await;
    assert!(world.wait_log(WAIT, |log| log.contains("delivered")).await);
    assert_eq!(
        world.pixeldojo.credits(),
        pixeldojo::DEFAULT_CREDITS - 20,
        "the fake charged 20"
    );
    stop(&mut world).await;

    let usage = usage_today(&world).await;
    assert_eq!(usage.user_day_videos, 1, "{usage:?}");
    assert_eq!(usage.guild_day_videos, 1, "{usage:?}");
    assert_eq!(usage.guild_month_credits, 20, "{usage:?}");
    assert_eq!(usage.global_day_credits, 20, "{usage:?}");
    assert_eq!(reservation_of(&world, &clip).await.credits(), 20);
}

#[tokio::test]
async fn a_submit_answered_500_502_or_cut_off_is_never_sent_again_and_offers_a_send_again_button() {
    let mut world = World::start().await;
    let faults = [
        (Fault::default(), 500),
        (
            Fault::Status {
                status: 502,
                code: "internal_error",
                retry_after: None,
            },
            502,
        ),
        (Fault::DropAfterAccept, pixeldojo::NO_RESPONSE),
    ];
    let mut messages = Vec::new();
    for (n, (fault, _)) in faults.iter().enumerate() {
        world.pixeldojo.inject(Endpoint::Submit, fault.clone(), 1);
        world
            .omni(json!({ "prompt": format!("a harbour crane, take {n}") }))
            .await;
        let thread = world.thread(n).await;
        let message = world
            .bot_message(thread, "can't tell whether the clip was started")
            .await;
        assert_eq!(
            message.content,
            format!("❌ <@{}>, {UNCERTAIN_SUBMIT}", discord::USER_ID)
        );
        assert_eq!(
            button_labels(&message),
            ["Send again (may be charged twice)"],
            "{:?}",
            message.components
        );
        messages.push((thread, message));
    }
    wait_settled(&world, 3).await;
    // Give a resubmit every chance to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let submits = submits(&world);
    assert_eq!(
        statuses(&submits),
        faults.iter().map(|(_, status)| *status).collect::<Vec<_>>(),
        "each sent once, never again"
    );
    assert!(polls(&world).is_empty(), "no job id to poll");
    for (thread, _) in &messages {
        assert!(world.clips_in(*thread).is_empty());
    }
    stop(&mut world).await;

    // The clip counts come back; the credits stay: PixelDojo may have charged each one.
    let usage = usage_today(&world).await;
    assert_eq!(usage.user_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_day_videos, 0, "{usage:?}");
    assert_eq!(usage.guild_month_credits, 3 * 16, "{usage:?}");
    assert_eq!(usage.global_day_credits, 3 * 16, "{usage:?}");
    for (_, message) in &messages {
        let reservation = reservation_of(&world, message).await;
        assert!(reservation.clips_refunded, "{reservation:?}");
        assert_eq!(reservation.credits(), 16, "{reservation:?}");
    }
}

#[tokio::test]
async fn a_submit_answered_503_is_sent_again_and_the_clip_is_posted_once() {
    let world = World::start().await;
    world.pixeldojo.inject(
        Endpoint::Submit,
        Fault::Status {
            status: 503,
            code: "service_unavailable",
            retry_after: None,
        },
        1,
    );
    world.omni(json!({"prompt": "a ferry at dawn"})).await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(statuses(&submits(&world)), [503, 200], "sent exactly twice");
    assert_eq!(world.pixeldojo.jobs().len(), 1, "one job at the vendor");
    assert_eq!(world.clips_in(thread).len(), 1, "one clip");
    assert_no_failure_message(&world, thread);
}

#[tokio::test]
async fn a_429_whose_only_hint_is_x_ratelimit_reset_in_epoch_milliseconds_is_waited_out_for_seconds_not_hours(
) {
    let world = World::start().await;
    world.pixeldojo.inject(
        Endpoint::Submit,
        Fault::rate_limited_with(vec![(
            "X-RateLimit-Reset",
            HeaderText::EpochMillisIn(Duration::from_secs(3)),
        )]),
        1,
    );
    world
        .omni(json!({"prompt": "a paper boat in a gutter"}))
        .await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;

    let submits = submits(&world);
    assert_eq!(statuses(&submits), [429, 200]);
    let waited = submits[1].at.duration_since(submits[0].at);
    assert!(
        waited >= Duration::from_millis(2_500),
        "sent again {waited:?} after a reset 3 s ahead"
    );
    assert!(
        waited <= Duration::from_secs(15),
        "waited {waited:?} for a reset 3 s ahead"
    );
    assert_eq!(world.pixeldojo.jobs().len(), 1);
    assert_eq!(world.clips_in(thread).len(), 1);
}

#[tokio::test]
async fn a_429_with_a_negative_or_nan_retry_after_does_not_stop_the_bot_from_serving() {
    let world = World::start().await;
    for odd in ["-5", "NaN"] {
        world.pixeldojo.inject(
            Endpoint::Submit,
            Fault::rate_limited_with(vec![("Retry-After", HeaderText::literal(odd))]),
            1,
        );
    }
    world.omni(json!({"prompt": "a heron in the reeds"})).await;
    let thread = world.thread(0).await;
    tokio::time::timeout(WAIT, clip_in(&world, thread))
        .await
        .unwrap_or_else(|_| panic!("no clip:\n{}", world.logs()));
    let submits = submits(&world);
    assert_eq!(statuses(&submits), [429, 429, 200]);
    let waited = submits[2].at.duration_since(submits[0].at);
    assert!(waited <= Duration::from_secs(15), "waited {waited:?}");

    // Still serving: the next request goes through at once.
    world.omni(json!({"prompt": "a heron in flight"})).await;
    let second = world.thread(1).await;
    clip_in(&world, second).await;
    assert_eq!(world.pixeldojo.jobs().len(), 2);
    assert!(!world.logs().contains("panicked"), "{}", world.logs());
}

#[tokio::test]
async fn a_finished_clip_on_a_host_that_is_not_pixeldojos_is_never_downloaded_nor_linked() {
    let world = World::start().await;
    // The fake's own port under another name (it would serve the file there), and a host
    // that does not resolve.
    let port = world
        .pixeldojo
        .origin()
        .rsplit_once(':')
        .map(|(_, port)| port.to_owned())
        .expect("a port");
    let origins = [
        format!("http://localhost:{port}"),
        "http://files.evil.example".to_owned(),
    ];
    world.pixeldojo.script_next_jobs(
        origins
            .iter()
            .map(|origin| JobScript {
                file_origin: Some(origin.clone()),
                ..JobScript::default()
            })
            .collect(),
    );
    for (n, origin) in origins.iter().enumerate() {
        world
            .omni(json!({ "prompt": format!("a kite over a beach, take {n}") }))
            .await;
        let thread = world.thread(n).await;
        // The reason, to the requester (not the closed progress message).
        world
            .bot_message(thread, &format!("❌ <@{}>", discord::USER_ID))
            .await;
        let host = origin.trim_start_matches("http://");
        let job = &world.pixeldojo.jobs()[n];
        let leaked: Vec<_> = [thread, discord::TEXT_CHANNEL_ID, discord::DM_CHANNEL_ID]
            .into_iter()
            .flat_map(|channel| world.bot_messages(channel))
            .filter(|m| m.content.contains(host) || m.content.contains(&job.id))
            .map(|m| m.content)
            .collect();
        assert!(leaked.is_empty(), "the link was posted: {leaked:#?}");
        assert!(world.clips_in(thread).is_empty());
    }
    let downloads: Vec<_> = world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/files/"))
        .collect();
    assert!(downloads.is_empty(), "downloaded: {downloads:?}");
}

#[tokio::test]
async fn a_vendor_error_text_with_a_mention_backticks_and_a_newline_reaches_the_user_cleaned() {
    let world = World::start().await;
    world.pixeldojo.script_next_jobs(vec![JobScript {
        outcome: Outcome::Fail(
            "blocked for @everyone: `rm -rf /`\nsee <@&123> and ```code```".into(),
        ),
        ..JobScript::default()
    }]);
    world.omni(json!({"prompt": "a quiet street"})).await;
    let thread = world.thread(0).await;
    let message = render_failure_in(&world, thread).await;
    let text = &message.content;
    assert!(text.contains("blocked for"), "the vendor's words: {text}");
    assert!(text.contains("everyone"), "{text}");
    assert!(!text.contains("@everyone"), "a ping left intact: {text}");
    assert!(!text.contains("<@&"), "a role ping left intact: {text}");
    assert!(!text.contains('`'), "backticks: {text}");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    assert_eq!(message.mentions, [discord::USER_ID], "only the requester");
    assert_eq!(button_labels(&message), ["Try again"]);
}
