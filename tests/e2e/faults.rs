//! Robustness end to end (issue 5): the real bot against faults injected into the fake
//! PixelDojo and the fake Discord, and against `kill -9` and `SIGTERM`.
//!
//! Every time bound here is a lower bound on the bot's waits (measured at the fake, which only
//! get longer on a slow machine) or a generous upper bound on how long something may take.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::net::TcpListener;

use omni_bot::discord::texts::{clock, UNCERTAIN_SUBMIT};
use omni_bot::domain::ids::{JobId, VendorJobId};
use omni_bot::domain::job::JobState;
use omni_bot::store::Store;

use crate::support::fake_discord::{self as discord, StoredMessage};
use crate::support::fake_pixeldojo::{self as pixeldojo, Endpoint, FakePixelDojo, Fault, Recorded};
use crate::support::world::{Settings, World, WAIT};

/// Margin for clock granularity when checking that a wait was at least some duration.
const SLACK: Duration = Duration::from_millis(50);

fn submits(world: &World) -> Vec<Recorded> {
    world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/run"))
        .collect()
}

pub(crate) fn polls(world: &World) -> Vec<Recorded> {
    world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v1/jobs/"))
        .collect()
}

/// Every request to the API (not file downloads) that arrived after `at`.
fn api_requests_after(world: &World, at: Instant) -> Vec<Recorded> {
    world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/") && r.at > at)
        .collect()
}

/// 429 answers, injected or from the fake's own rate limit.
fn answered_429(world: &World) -> usize {
    world
        .pixeldojo
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

fn gap(a: &Recorded, b: &Recorded) -> Duration {
    b.at.duration_since(a.at)
}

/// The clip message in `channel`, waiting for it.
pub(crate) async fn clip_in(world: &World, channel: u64) -> StoredMessage {
    let clip = world.bot_message(channel, "here's your clip").await;
    assert_eq!(clip.attachments.len(), 1, "{clip:?}");
    clip
}

/// The job id behind a message the bot posted with a nonce (`o<kind><job id>`).
pub(crate) fn job_id_of(message: &StoredMessage) -> JobId {
    let nonce = message
        .nonce
        .as_ref()
        .and_then(|n| n.as_str())
        .unwrap_or_else(|| panic!("no nonce on {message:?}"));
    JobId(
        nonce[2..]
            .parse()
            .unwrap_or_else(|_| panic!("nonce {nonce}")),
    )
}

/// The bot's store, opened while the bot is not running.
pub(crate) fn open_store(world: &World) -> Store {
    Store::open(&world.dir.path().join("data/omni-bot.sled")).expect("open the bot's store")
}

/// The log without colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // `ESC [ ... m`
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The log of the latest launch only, without colour codes.
pub(crate) fn last_launch_log(world: &World) -> String {
    let log = plain(&world.logs());
    match log.rfind("----- launch ") {
        Some(i) => log[i..].to_owned(),
        None => log,
    }
}

/// Waits until the latest launch logged `text`.
pub(crate) async fn wait_launch_log(world: &World, timeout: Duration, text: &str) -> bool {
    world
        .wait_log(timeout, |log| {
            log.rsplit_once("----- launch ")
                .is_some_and(|(_, tail)| tail.contains(text))
        })
        .await
}

#[tokio::test]
async fn a_429_with_retry_after_on_submit_is_waited_out_and_the_job_still_completes() {
    let world = World::start().await;
    world
        .pixeldojo
        .inject(Endpoint::Submit, Fault::rate_limited(3), 1);
    world.omni(json!({"prompt": "a kite over the dunes"})).await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;

    let submits = submits(&world);
    assert_eq!(
        submits.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200],
        "one refused submit, then one accepted"
    );
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert_eq!(answered_429(&world), 1, "no 429 storm");
    // Nothing at all went to the API while Retry-After ran.
    let quiet_until = submits[0].at + Duration::from_secs(3) - SLACK;
    let early: Vec<_> = api_requests_after(&world, submits[0].at)
        .into_iter()
        .filter(|r| r.at < quiet_until)
        .collect();
    assert!(early.is_empty(), "requests during Retry-After: {early:?}");
    assert_eq!(world.clips_in(thread).len(), 1);
}

/// Issue 12: with one clip in flight and the budget free, the bot once first polled 14 s after
/// the submit, saving its polls for when its model expected the render to end. The vendor's own
/// loop polls every 2 s; with budget to spare, so does the bot, from the submit on.
#[tokio::test]
async fn a_clip_rendering_alone_is_polled_at_the_vendors_own_pace_from_its_submit() {
    // A new bot's expectation (nothing learned yet): renders take about a minute.
    let world = World::start_with(Settings {
        expected_render_seconds: Some(60),
        ..Settings::default()
    })
    .await;
    world.pixeldojo.set_render_time(Duration::from_secs(9));
    world.omni(json!({"prompt": "a kite over the dunes"})).await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;

    let submit = submits(&world)[0].at;
    let polls = polls(&world);
    let job = &world.pixeldojo.jobs()[0];
    let floor = Duration::from_secs(2);
    let first = polls[0].at.duration_since(submit);
    assert!(
        first >= floor - SLACK,
        "first poll {first:?} after the submit"
    );
    for pair in polls.windows(2) {
        assert!(gap(&pair[0], &pair[1]) >= floor - SLACK, "{polls:?}");
    }
    // Polled all through the render, though the model expects no end before tens of seconds:
    // a 9 s render holds four floors.
    let while_running = polls.iter().filter(|p| p.at < job.completes_at).count();
    assert!(
        while_running >= 3,
        "{while_running} polls while it rendered"
    );
    // Generous upper bounds for a busy machine, far below the 14 s seen before.
    assert!(
        first < floor + Duration::from_secs(3),
        "first poll {first:?}"
    );
    let seen = job.first_seen_completed_at.expect("the end was seen");
    let noticed = seen.saturating_duration_since(job.completes_at);
    assert!(
        noticed < floor + Duration::from_secs(3),
        "noticed {noticed:?} after the render ended"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_on_polls_is_waited_out_before_the_next_poll() {
    let world = World::start().await;
    // Retry-After above the scheduler's 2 s minimum gap, so that only honouring it explains
    // the wait; twice, so that the second 429 is honoured too.
    world
        .pixeldojo
        .inject(Endpoint::Poll, Fault::rate_limited(3), 2);
    world.omni(json!({"prompt": "rain on a tin roof"})).await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;

    let polls = polls(&world);
    let statuses: Vec<u16> = polls.iter().map(|r| r.status).collect();
    assert!(
        statuses.len() >= 3
            && statuses[..2] == [429, 429]
            && statuses[2..].iter().all(|&s| s == 200),
        "{statuses:?}"
    );
    for pair in polls[..3].windows(2) {
        assert!(
            gap(&pair[0], &pair[1]) >= Duration::from_secs(3) - SLACK,
            "polled again {:?} after a 429 with Retry-After: 3",
            gap(&pair[0], &pair[1])
        );
    }
    assert_eq!(answered_429(&world), 2, "no 429 storm");
    assert!(polls.len() <= 5, "{} polls for a 1 s render", polls.len());
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn server_errors_and_malformed_answers_on_polls_are_retried_with_backoff_then_the_clip_is_posted(
) {
    let world = World::start().await;
    for fault in [Fault::default(), Fault::default(), Fault::MalformedJson] {
        world.pixeldojo.inject(Endpoint::Poll, fault, 1);
    }
    world.omni(json!({"prompt": "a fox in fresh snow"})).await;
    let thread = world.thread(0).await;
    let clip = tokio::time::timeout(Duration::from_secs(40), clip_in(&world, thread))
        .await
        .expect("the clip within 40 s");
    let job = &world.pixeldojo.jobs()[0];
    assert_eq!(
        clip.attachments[0].bytes,
        world.pixeldojo.video_bytes(&job.id)
    );

    let polls = polls(&world);
    assert!(polls.len() >= 4, "{polls:?}");
    assert_eq!(
        polls[..3].iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200],
        "two 500s, then a garbled 200"
    );
    // The wait grows after each failure in a row: 2 s, 4 s, 8 s.
    for (i, at_least) in [2, 4, 8].into_iter().enumerate() {
        let waited = gap(&polls[i], &polls[i + 1]);
        assert!(
            waited >= Duration::from_secs(at_least) - SLACK,
            "waited {waited:?} after failure {}; expected at least {at_least} s",
            i + 1
        );
    }
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert_eq!(world.clips_in(thread).len(), 1);
}

#[tokio::test]
async fn a_kill_between_posting_the_clip_and_recording_it_still_leaves_exactly_one_clip() {
    kill_between_post_and_record(None).await;
}

#[tokio::test]
async fn a_clip_posted_longer_ago_than_discords_nonce_window_is_not_posted_again() {
    // As if the bot had been down for longer than Discord remembers a nonce.
    kill_between_post_and_record(Some(Duration::ZERO)).await;
}

/// Kills the bot right after the clip is posted (before it is recorded), restarts it, and
/// checks that the thread ends with exactly one clip.
async fn kill_between_post_and_record(nonce_window: Option<Duration>) {
    let mut world = World::start().await;
    if let Some(window) = nonce_window {
        world.discord.set_nonce_window(window);
    }
    world
        .omni(json!({"prompt": "a paper lantern drifting"}))
        .await;
    let thread = world.thread(0).await;
    let clip = clip_in(&world, thread).await;
    // The tracker writes `Delivered` only after the post: kill as soon as the post shows.
    world.kill().await;

    // If the kill landed after the record, put the job back where a crash right after the
    // post leaves it, so that this test always covers that window.
    let id = job_id_of(&clip);
    let landed_in_window = {
        let store = open_store(&world);
        let mut job = store.job(id).await.unwrap().expect("the job is stored");
        match job.state.clone() {
            JobState::Delivering { .. } => true,
            JobState::Delivered { video_id, .. } => {
                let vendor = &world.pixeldojo.jobs()[0];
                let origin = world.pixeldojo.base_url().replace("/api/v1", "");
                job.state = JobState::Delivering {
                    video_url: format!("{origin}/files/{}.{}", vendor.id, vendor.output_format),
                    vendor_job_id: VendorJobId(vendor.id.clone()),
                    video_id,
                    render_ms: 1000,
                    finished_at_ms: chrono::Utc::now().timestamp_millis(),
                };
                store.put_job_durable(&job).await.unwrap();
                store.flush().await.unwrap();
                false
            }
            other => panic!("unexpected state after the clip was posted: {other:?}"),
        }
    };
    eprintln!("the kill landed between the post and the record: {landed_in_window}");

    world.launch().await;
    assert!(
        wait_launch_log(&world, WAIT, "delivered").await,
        "the job was not finished after the restart:\n{}",
        world.logs()
    );
    let log = last_launch_log(&world);
    assert!(log.contains("resuming job"), "{log}");
    assert!(
        log.contains(&format!("message_id={}", clip.id)),
        "the repeated post did not return the first message:\n{log}"
    );
    assert_eq!(world.clips_in(thread).len(), 1);

    // A second restart finds nothing left to do.
    world.relaunch().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!last_launch_log(&world).contains("resuming job"));
    assert_eq!(world.clips_in(thread).len(), 1);
    let clip_posts = world
        .discord
        .requests()
        .iter()
        .filter(|r| {
            r.is("POST", &format!("/channels/{thread}/messages"))
                && r.payload_json()
                    .is_some_and(|p| p["nonce"] == json!(format!("od{id}")))
        })
        .count();
    // The restart finds the first post in the thread's history (by the button that names the
    // job) and does not post again; the nonce would also have deduplicated a retry.
    assert_eq!(clip_posts, 1, "only the first post");
    assert_eq!(world.pixeldojo.submissions().len(), 1);
}

#[tokio::test]
async fn a_submit_whose_answer_is_lost_is_not_sent_again_and_the_user_is_told() {
    let world = World::start().await;
    world
        .pixeldojo
        .inject(Endpoint::Submit, Fault::DropAfterAccept, 1);
    world.omni(json!({"prompt": "a heron taking off"})).await;
    let thread = world.thread(0).await;
    let message = world
        .bot_message(thread, "can't tell whether the clip was started")
        .await;
    assert_eq!(
        message.content,
        format!("❌ <@{}>, {UNCERTAIN_SUBMIT}", discord::USER_ID)
    );
    // Give a resubmit every chance to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let submits = submits(&world);
    assert_eq!(submits.len(), 1, "resubmitted: {submits:?}");
    assert_eq!(submits[0].status, pixeldojo::NO_RESPONSE);
    assert_eq!(world.pixeldojo.submissions().len(), 1, "the fake took it");
    assert_eq!(
        world.pixeldojo.credits(),
        pixeldojo::DEFAULT_CREDITS - pixeldojo::CREDIT_COST,
        "charged once"
    );
    assert!(polls(&world).is_empty());
    assert!(world.clips_in(thread).is_empty());
}

#[tokio::test]
async fn a_submit_answered_after_the_request_timeout_is_not_sent_again_and_the_user_is_told() {
    let world = World::start().await;
    // Accepted at once, answered after the bot's 5 s request timeout.
    world
        .pixeldojo
        .inject(Endpoint::Submit, Fault::Delay(Duration::from_secs(8)), 1);
    world
        .omni(json!({"prompt": "a lighthouse beam in fog"}))
        .await;
    let thread = world.thread(0).await;
    world
        .bot_message(thread, "can't tell whether the clip was started")
        .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(submits(&world).len(), 1, "resubmitted");
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert!(polls(&world).is_empty());
    assert!(world.clips_in(thread).is_empty());
}

#[tokio::test]
async fn a_submit_that_never_reached_pixeldojo_is_retried_and_the_clip_is_posted() {
    let mut world = World::new(Settings::default()).await;
    let addr = world
        .pixeldojo
        .base_url()
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_owned();
    // Close the fake's port: connections are refused until a fake listens there again.
    world.pixeldojo.shutdown();
    let deadline = Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the port stays open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    world.launch().await;
    world
        .omni(json!({"prompt": "a train crossing a viaduct"}))
        .await;
    let thread = world.thread(0).await;
    assert!(
        world
            .wait_log(WAIT, |log| log.contains("submit never reached PixelDojo"))
            .await,
        "{}",
        world.logs()
    );
    let listener = TcpListener::bind(&addr).await.expect("bind the same port");
    world.pixeldojo = FakePixelDojo::start_on(listener).await;
    clip_in(&world, thread).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert!(!world
        .discord
        .messages_in(thread)
        .iter()
        .any(|m| m.content.contains('❌')));
}

#[tokio::test]
async fn sigterm_exits_cleanly_and_the_job_in_flight_is_delivered_once_at_the_next_start() {
    let mut world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(6));
    world.omni(json!({"prompt": "fireflies at dusk"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;

    let asked = Instant::now();
    let status = world.terminate().await;
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0), "{}", world.logs());
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    assert!(
        world.clips_in(thread).is_empty(),
        "the job was still rendering"
    );

    world.launch().await;
    assert!(last_launch_log(&world).contains("resuming job"));
    clip_in(&world, thread).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1, "never resubmitted");
}

/// A job whose submit was refused with a 30-second Retry-After and is waiting it out; returns
/// the world and the job's thread.
async fn a_submit_waiting_out_a_429() -> (World, u64) {
    let world = World::start().await;
    world
        .pixeldojo
        .inject(Endpoint::Submit, Fault::rate_limited(30), 1);
    world.omni(json!({"prompt": "a windmill at noon"})).await;
    let thread = world.thread(0).await;
    assert!(
        world
            .wait_log(WAIT, |log| log.contains("submit rate limited"))
            .await,
        "{}",
        world.logs()
    );
    (world, thread)
}

#[tokio::test]
async fn sigterm_while_a_submit_waits_out_a_429_keeps_the_job_and_submits_it_at_the_next_start() {
    let (mut world, thread) = a_submit_waiting_out_a_429().await;

    let asked = Instant::now();
    let status = world.terminate().await;
    let took = asked.elapsed();
    assert_eq!(status.code(), Some(0), "{}", world.logs());
    assert!(took < Duration::from_secs(5), "exited after {took:?}");

    // Nothing reached PixelDojo, so nothing is uncertain: the next start submits it.
    world.launch().await;
    clip_in(&world, thread).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert_eq!(submits(&world).len(), 2, "the refused submit and one more");
    assert!(
        !world
            .discord
            .messages_in(thread)
            .iter()
            .any(|m| m.content.contains('❌')),
        "{:#?}",
        world.discord.messages_in(thread)
    );
}

#[tokio::test]
async fn a_kill_while_a_submit_waits_out_a_429_is_not_taken_for_an_uncertain_submit() {
    let (mut world, thread) = a_submit_waiting_out_a_429().await;
    // kill -9 while the job waits for its next slot: nothing was sent, so it must be sent
    // at the next start rather than reported as uncertain.
    world.kill().await;
    world.launch().await;
    clip_in(&world, thread).await;
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    assert!(!world
        .discord
        .messages_in(thread)
        .iter()
        .any(|m| m.content.contains(UNCERTAIN_SUBMIT)));
}

/// Starts a job, changes its thread with `break_thread` while the clip renders, and returns
/// the thread and the clip message posted in the parent channel instead.
async fn deliver_after(break_thread: impl FnOnce(&World, u64)) -> (World, u64, StoredMessage) {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(3));
    world.omni(json!({"prompt": "waves on a pier"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;
    break_thread(&world, thread);
    let clip = clip_in(&world, discord::TEXT_CHANNEL_ID).await;
    (world, thread, clip)
}

#[tokio::test]
async fn a_clip_whose_thread_was_deleted_is_posted_in_the_parent_channel() {
    let (world, thread, clip) = deliver_after(|w, t| w.discord.delete_channel(t)).await;
    assert!(clip.mentions.contains(&discord::USER_ID));
    let job = &world.pixeldojo.jobs()[0];
    assert_eq!(
        clip.attachments[0].bytes,
        world.pixeldojo.video_bytes(&job.id)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.clips_in(discord::TEXT_CHANNEL_ID).len(), 1);
    assert!(world.clips_in(thread).is_empty());
    // The clip is known where it landed: replying to it there continues it.
    let reply = world.discord.user_reply(
        discord::TEXT_CHANNEL_ID,
        discord::USER_ID,
        "closer to the waves",
        clip.id,
        true,
        vec![],
    );
    world.discord.dispatch("MESSAGE_CREATE", reply).await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
    assert_eq!(
        world.pixeldojo.submissions()[1]["video_id"],
        json!(world.pixeldojo.jobs()[0].video_id.clone().unwrap())
    );
}

#[tokio::test]
async fn a_clip_whose_thread_was_archived_is_posted_in_the_parent_channel() {
    let (world, thread, clip) = deliver_after(|w, t| w.discord.archive_thread(t)).await;
    assert!(clip.mentions.contains(&discord::USER_ID));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(world.clips_in(discord::TEXT_CHANNEL_ID).len(), 1);
    assert!(world.clips_in(thread).is_empty());
}

#[tokio::test]
async fn without_attach_files_the_clip_is_posted_as_a_link_that_names_the_permission() {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(2));
    world.omni(json!({"prompt": "a kite festival"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;
    world
        .discord
        .deny_permission(thread, discord::perms::ATTACH_FILES);
    let msg = world.bot_message(thread, "Attach Files").await;
    assert!(msg.attachments.is_empty());
    let job = &world.pixeldojo.jobs()[0];
    assert!(msg.content.contains(&job.id), "the link: {}", msg.content);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world
            .discord
            .messages_in(thread)
            .iter()
            .filter(|m| m.content.contains("Attach Files"))
            .count(),
        1,
        "reported once"
    );
}

#[tokio::test]
async fn a_thread_the_bot_may_not_post_in_gets_the_clip_to_the_user_privately() {
    let world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(2));
    world.omni(json!({"prompt": "a hot air balloon"})).await;
    let thread = world.thread(0).await;
    world.bot_message(thread, "Rendering").await;
    world
        .discord
        .deny_permission(thread, discord::perms::SEND_MESSAGES_IN_THREADS);
    let dm = world
        .bot_message(discord::DM_CHANNEL_ID, "Send Messages in Threads")
        .await;
    assert!(dm.content.contains("**v1**"), "{}", dm.content);
    assert!(dm.content.contains(&world.pixeldojo.jobs()[0].id));
    assert!(world.clips_in(thread).is_empty());
    // The clip is recorded where it landed, so a reply to it there continues it.
    assert!(world.wait_log(WAIT, |l| l.contains("delivered")).await);
    let reply = world.discord.user_reply(
        discord::DM_CHANNEL_ID,
        discord::USER_ID,
        "slower",
        dm.id,
        true,
        vec![],
    );
    world.discord.dispatch("MESSAGE_CREATE", reply).await;
    assert!(world.pixeldojo.wait_for_submissions(2, WAIT).await);
}

#[tokio::test]
async fn render_times_are_learned_per_kind_and_kept_across_a_restart() {
    let mut world = World::start().await;
    world.pixeldojo.set_render_time(Duration::from_secs(6));
    let four_seconds = json!({"prompt": "a heron lifting off a misty lake", "duration": 4});
    world.omni(four_seconds.clone()).await;
    let first = world.thread(0).await;
    // Nothing learned yet: the progress shows the configured first guess of 2 s.
    world.bot_message(first, "usually about 0:02").await;
    clip_in(&world, first).await;
    assert!(world.terminate().await.success());

    let learned = {
        let store = open_store(&world);
        assert!(store.render_stats("t2v-6s").await.unwrap().is_none());
        store
            .render_stats("t2v-4s")
            .await
            .unwrap()
            .expect("the 4 s kind learned")
    };
    assert_eq!(learned.samples, 1);
    // Polls bracket the 6 s render within the 2 s minimum gap; the 2 s guess is left behind.
    assert!(
        (3_500.0..=6_500.0).contains(&learned.mean_ms),
        "learned {} ms for a 6 s render",
        learned.mean_ms
    );

    world.launch().await;
    world.omni(four_seconds).await;
    let second = world.thread(1).await;
    let learned_text = format!("usually about {}", clock(learned.mean_ms as i64));
    world.bot_message(second, &learned_text).await;
    clip_in(&world, second).await;
    // Another kind of request has its own render time, still unknown.
    world
        .omni(json!({"prompt": "a heron lifting off a misty lake", "duration": 6}))
        .await;
    let third = world.thread(2).await;
    world.bot_message(third, "usually about 0:02").await;
}
