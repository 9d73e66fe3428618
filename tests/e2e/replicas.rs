//! Two `omni-bot` processes on one PostgreSQL database (`storage.backend = "postgres"`), both
//! connected to the same shard of the same fakes: both work, each event is handled by the one
//! that claims it first, and one carries the other's jobs on when it dies or stops. Or each on
//! a shard of its own (`discord.shards`): each answers its shard's servers, the survivor carries
//! the dead one's jobs on, but nobody hears the dead one's shard until it is back. They need a server: without `OMNI_TEST_DATABASE_URL` when the tests are built they are
//! listed as ignored, with the reason; with it set they fail if the server cannot be reached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use omni_bot::config::{Backend, StorageConfig};
use omni_bot::domain::ids::{GuildId, Scope, UserId};
use omni_bot::domain::job::StateName;
use omni_bot::domain::quota::Window;
use omni_bot::store::Store;
use secrecy::SecretString;
use serde_json::json;
use sqlx::{Connection, Executor};

use crate::faults::clip_in;
use crate::support::fake_discord::{self as discord, Ctx, JoinOptions, JoinedGuild};
use crate::support::world::{Settings, World, WAIT};

/// The number: enough clips that both replicas own some when one dies.
const CLIPS: u64 = 20;

/// Limits that let every clip through, so that the counts are the test's subject.
const LIMITS: &str =
    "[limits]\nuser_daily_videos = 50\nguild_daily_videos = 100\nuser_concurrent_jobs = 10\n";

/// A database of its own on the test server, for one test; its URL.
async fn fresh_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = std::env::var("OMNI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("set OMNI_TEST_DATABASE_URL to a PostgreSQL server for these tests");
    let name = format!(
        "omni_e2e_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("connect to OMNI_TEST_DATABASE_URL");
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .expect("drop an old test database");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create the test database");
    let mut url = url::Url::parse(&server).expect("OMNI_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The API key's request budget in these tests, which the fake PixelDojo enforces: more clips
/// in flight than it can poll, so that two replicas spending one budget each would draw 429s.
const PER_MINUTE: u32 = 120;

/// Every replica's settings: the database at `url`, a short lease, the tests' limits and budget.
fn replica_settings(url: &str) -> Settings {
    Settings {
        storage: format!("backend = \"postgres\"\nurl = \"{url}\"\nlease_seconds = 3\n"),
        sections: LIMITS.into(),
        requests_per_minute: Some(PER_MINUTE),
        ..Settings::default()
    }
}

/// The fakes, a fresh database and replica A (the world's bot), ready.
async fn first_replica() -> (World, String) {
    let url = fresh_database().await;
    let mut world = World::new(replica_settings(&url)).await;
    world.pixeldojo.set_rate_limit(Some(PER_MINUTE));
    world.launch().await;
    (world, url)
}

/// Starts replica B beside the bot and waits until both are connected to the shard.
async fn second_replica(world: &mut World) {
    world.spawn_replica();
    let deadline = tokio::time::Instant::now() + WAIT;
    while ready_count(&world.logs()) < 2 || world.discord.live_sessions() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second replica did not connect:\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no job in flight is between its submit and the record of the vendor's answer, so
/// that a replica killed now leaves no uncertain submit (the vendor already has every job).
async fn wait_until_every_submit_is_recorded(store: &Store) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut unrecorded = Vec::new();
        for (id, _) in store.owners().await.expect("read the jobs in flight") {
            let job = store.job(id).await.expect("read a job");
            let waiting = |s: StateName| s <= StateName::Submitting;
            if job.is_some_and(|j| waiting(j.state.name())) {
                unrecorded.push(id);
            }
        }
        if unrecorded.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs still not recorded as submitted: {unrecorded:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sleeps until the fake's last render has ended, so that a wait for a clip after a replica
/// was killed is for the takeover and the post, not for the render.
async fn until_every_render_ended(world: &World) {
    let last = world.pixeldojo.jobs().iter().map(|j| j.completes_at).max();
    tokio::time::sleep_until(last.expect("jobs were submitted").into()).await;
}

/// The most authenticated API requests the fake PixelDojo received within any 10 s.
fn busiest_ten_seconds(world: &World) -> usize {
    let times: Vec<_> = world
        .pixeldojo
        .requests()
        .into_iter()
        .filter(|r| r.authorization.is_some())
        .map(|r| r.at)
        .collect();
    times
        .iter()
        .map(|&from| {
            times
                .iter()
                .filter(|&&t| t >= from && t < from + Duration::from_secs(10))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// How many times the bot tried to answer `interaction` (a second try is refused by Discord).
fn callback_tries(world: &World, interaction: u64) -> usize {
    let prefix = format!("/api/v10/interactions/{interaction}/");
    world
        .discord
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with(&prefix))
        .count()
}

/// The process id in a replica's name (`host:pid:random`).
fn pid_of(replica: &str) -> Option<u32> {
    replica.split(':').nth(1).and_then(|p| p.parse().ok())
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

fn ready_count(log: &str) -> usize {
    log.matches("bot ready").count()
}

fn taken_up(log: &str) -> usize {
    log.matches("taking up a job another replica left").count()
}

async fn open_store(url: &str) -> Store {
    let config = StorageConfig {
        backend: Backend::Postgres,
        url: SecretString::from(url.to_owned()),
        ..StorageConfig::default()
    };
    Store::open_configured(&config)
        .await
        .expect("open the database")
}

async fn usage_today(store: &Store, user: u64) -> omni_bot::domain::quota::Usage {
    let window = Window::at(chrono::Utc::now(), chrono_tz::UTC);
    store
        .usage(
            Scope::from_guild(Some(GuildId(discord::GUILD_ID))),
            UserId(user),
            &window,
        )
        .await
        .expect("read the usage")
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn two_replicas_on_one_shard_share_twenty_clips_and_one_killed_mid_render_loses_none() {
    let (mut world, url) = first_replica().await;
    second_replica(&mut world).await;
    // Long enough that the clips still render when the busiest replica is killed, even on a
    // machine busy with other tests.
    world.pixeldojo.set_render_time(Duration::from_secs(25));
    // Twenty members, one clip each: each request goes to whichever replica claims it first.
    let users: Vec<u64> = (0..CLIPS).map(|i| discord::USER_ID + 1 + i).collect();
    let mut interactions = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let options = json!({ "prompt": format!("waves on pier {i}") });
        interactions.push(world.omni_as(options, vec![], Ctx::guild(*user)).await);
    }
    assert!(
        world
            .pixeldojo
            .wait_for_submissions(CLIPS as usize, 2 * WAIT)
            .await,
        "{}",
        world.logs()
    );
    // Killed between a submit and its record, a job would be an uncertain submit (told, never
    // resent), as after any crash: wait until every submit is recorded.
    let store = open_store(&url).await;
    wait_until_every_submit_is_recorded(&store).await;
    let owners: std::collections::BTreeMap<String, usize> = store
        .owners()
        .await
        .unwrap()
        .into_iter()
        .fold(Default::default(), |mut by, (_, owner)| {
            *by.entry(owner.unwrap_or_default()).or_default() += 1;
            by
        });
    // SIGKILL, while the clips render, the replica driving the most: no chance to give
    // anything up. Replica names are `host:pid:random`.
    let (busiest, owned) = owners
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(name, n)| (name.clone(), *n))
        .expect("jobs in flight");
    if pid_of(&busiest) != world.bot_pid() {
        world.swap_with_replica();
    }
    assert_eq!(pid_of(&busiest), world.bot_pid(), "{owners:?}");
    world.kill().await;
    world.promote_replica();
    until_every_render_ended(&world).await;
    for n in 0..CLIPS as usize {
        let thread = world.thread(n).await;
        clip_in(&world, thread).await;
    }
    // Let any second post or submit that would follow show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = world.logs();
    assert_eq!(
        taken_up(&log),
        owned,
        "the survivor took up exactly the killed replica's jobs: {owners:?}\n{log}"
    );
    assert!(
        log.contains("a replica stopped renewing its record"),
        "{log}"
    );
    for n in 0..CLIPS as usize {
        let thread = world.thread(n).await;
        assert_eq!(world.clips_in(thread).len(), 1, "thread {n}");
    }
    assert_eq!(
        world.pixeldojo.submissions().len(),
        CLIPS as usize,
        "no double submit"
    );
    assert_eq!(
        world.pixeldojo.count_429(),
        0,
        "one budget for both replicas"
    );
    // Evenly spaced within one budget: never more in 10 s than the budget allows in 10 s, give
    // or take one request per replica. (Each replica on a budget of its own would send twice
    // that, until the vendor's headers said the window was full.)
    let busiest = busiest_ten_seconds(&world);
    assert!(
        busiest <= PER_MINUTE as usize / 6 + 2,
        "{busiest} API requests in 10 s"
    );
    // Each request was answered once, and the replica that lost the claim did not even try.
    for id in &interactions {
        assert_eq!(callback_tries(&world, *id), 1, "interaction {id}");
    }
    for user in users {
        let usage = usage_today(&store, user).await;
        assert_eq!(usage.user_day_videos, 1, "{usage:?}");
    }
    let usage = usage_today(&store, discord::USER_ID).await;
    assert_eq!(usage.guild_day_videos, CLIPS, "{usage:?}");
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn both_replicas_see_every_event_and_exactly_one_answers_it() {
    let (mut world, _url) = first_replica().await;
    second_replica(&mut world).await;
    // A command: one answer, and the replica that lost the claim does not even try.
    for _ in 0..4 {
        let id = world
            .discord
            .send_slash_command("omni-usage", vec![], vec![], Ctx::guild(discord::USER_ID))
            .await;
        world.response_to(id).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(callback_tries(&world, id), 1, "{}", world.logs());
    }
    world.pixeldojo.set_render_time(Duration::from_secs(1));
    world
        .omni(json!({ "prompt": "a lighthouse at dusk" }))
        .await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;
    // A message the bot cannot use: one explanation, not one per replica.
    let before = world.bot_messages(thread).len();
    let zip = world
        .discord
        .add_attachment("notes.zip", "application/zip", b"PK".to_vec());
    let payload = world
        .discord
        .user_message(thread, discord::USER_ID, "make it blue", vec![zip]);
    world.discord.dispatch("MESSAGE_CREATE", payload).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while world.bot_messages(thread).len() == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer:\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A follow-up: one new clip, one submit.
    world
        .discord
        .send_user_message(thread, discord::USER_ID, "now at night")
        .await;
    assert!(
        world.pixeldojo.wait_for_submissions(2, WAIT).await,
        "{}",
        world.logs()
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while world.clips_in(thread).len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second clip:\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let texts: Vec<String> = world
        .bot_messages(thread)
        .iter()
        .map(|m| m.content.clone())
        .collect();
    let answers = texts.iter().filter(|t| t.contains("notes.zip")).count();
    assert_eq!(answers, 1, "{texts:#?}");
    // The answer, and the follow-up's status and clip.
    assert_eq!(texts.len(), before + 3, "{texts:#?}");
    assert_eq!(world.clips_in(thread).len(), 2);
    assert_eq!(world.pixeldojo.submissions().len(), 2);
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn a_queued_clip_is_cancelled_from_the_replica_that_does_not_drive_it() {
    let (mut world, url) = first_replica().await;
    second_replica(&mut world).await;
    world.pixeldojo.set_render_time(Duration::from_secs(8));
    world.omni(json!({ "prompt": "a canyon" })).await;
    let thread = world.thread(0).await;
    // A follow-up waits in line behind the clip it continues, on the same replica.
    world
        .discord
        .send_user_message(thread, discord::USER_ID, "at dawn")
        .await;
    let queued = world.bot_message(thread, "Queued").await;
    let owners = open_store(&url).await.owners().await.unwrap();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert_eq!(owners[0].1, owners[1].1, "{owners:?}");
    let owner = pid_of(owners[0].1.as_deref().unwrap()).unwrap();
    // The owner is frozen for a moment: the other replica gets the press and withdraws it.
    let cancel = queued
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.starts_with("omni:cancel:"))
        .expect("a cancel button");
    signal("STOP", owner);
    let (id, payload) = world
        .discord
        .button_click(
            queued.id,
            &cancel,
            Ctx::guild(discord::USER_ID).in_channel(thread),
        )
        .expect("the message exists");
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    let answer = world.response_to(id).await;
    signal("CONT", owner);
    assert_eq!(
        answer["data"]["content"], "Cancelled. Nothing was charged.",
        "{answer}"
    );
    assert!(world
        .logs()
        .contains("withdrawn from the replica that drove it"));
    world.bot_message(thread, "you cancelled").await;
    world.bot_message(thread, "**v1**").await;
    // The old owner learns at its next write that the follow-up is no longer its to send.
    assert!(
        world
            .wait_log(WAIT, |l| l.contains("another replica took this job up"))
            .await,
        "{}",
        world.logs()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.pixeldojo.submissions().len(),
        1,
        "the withdrawn one was never sent"
    );
    let usage = usage_today(&open_store(&url).await, discord::USER_ID).await;
    assert_eq!(usage.user_day_videos, 1, "{usage:?}");
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn a_follow_up_reaching_a_replica_that_just_started_waits_behind_its_clip_on_the_other() {
    let (mut world, url) = first_replica().await;
    world.pixeldojo.set_render_time(Duration::from_secs(6));
    world.omni(json!({ "prompt": "a quiet harbour" })).await;
    let thread = world.thread(0).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    // B starts with a long period: its replica loop has not run yet when the message comes.
    let mut slow = replica_settings(&url);
    slow.storage = slow
        .storage
        .replace("lease_seconds = 3", "lease_seconds = 60");
    world.spawn_replica_with(slow);
    wait_connected(&world, 2, 2).await;
    // A is frozen for a moment, so B is the one that gets the follow-up.
    let a = world.bot_pid().unwrap();
    signal("STOP", a);
    world
        .discord
        .send_user_message(thread, discord::USER_ID, "now at night")
        .await;
    assert!(
        world
            .wait_log(WAIT, |l| l.contains(
                "handed to the replica already working for this thread or user"
            ))
            .await,
        "{}",
        world.logs()
    );
    signal("CONT", a);
    // A continues the first clip, then the follow-up from it, in that order.
    world.bot_message(thread, "**v1**").await;
    world.bot_message(thread, "**v2** (from v1)").await;
    let submitted = world.pixeldojo.submissions();
    assert_eq!(submitted.len(), 2, "{submitted:?}");
    assert!(
        submitted[1]["video_id"].is_string(),
        "continued the clip: {}",
        submitted[1]
    );
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn a_replica_stopped_for_a_deploy_hands_its_jobs_to_the_other_at_once() {
    let (mut world, url) = first_replica().await;
    world.pixeldojo.set_render_time(Duration::from_secs(4));
    world
        .omni(json!({ "prompt": "a lighthouse at dusk" }))
        .await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    wait_until_every_submit_is_recorded(&open_store(&url).await).await;
    // The new version starts beside the old one, then the old one stops.
    second_replica(&mut world).await;
    assert!(world.terminate().await.success());
    assert!(
        world.wait_log(WAIT, |l| taken_up(l) == 1).await,
        "the other replica did not take the job up:\n{}",
        world.logs()
    );
    // It took up a job given up, not one whose owner went silent.
    assert!(world
        .logs()
        .contains("gave this replica's jobs up to the others"));
    assert!(!world.logs().contains("stopped renewing its record"));
    world.promote_replica();
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1);
    let usage = usage_today(&open_store(&url).await, discord::USER_ID).await;
    assert_eq!(usage.user_day_videos, 1, "{usage:?}");
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn migrate_store_copies_a_bots_folder_into_an_empty_database_once_and_check_sees_it() {
    let mut world = World::start().await;
    world.omni(json!({ "prompt": "a fox in the snow" })).await;
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;
    assert!(world.terminate().await.success());

    let url = fresh_database().await;
    world.settings.storage = format!("url = \"{url}\"\n");
    let migrate = ["migrate-store", "--from", "sled", "--to", "postgres"];
    let out = world.run_once(&world.config_text(), &migrate).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with('✓') && stdout.contains("Copied 1 jobs (0 in flight), 1 conversations"),
        "{stdout}"
    );
    assert!(!stdout.contains(&url), "{stdout}");
    let usage = usage_today(&open_store(&url).await, discord::USER_ID).await;
    assert_eq!(
        usage.user_day_videos, 1,
        "the counters came along: {usage:?}"
    );

    // A second copy would mix two bots' data: refused, nothing written.
    let again = world.run_once(&world.config_text(), &migrate).await;
    let stdout = String::from_utf8_lossy(&again.stdout).into_owned();
    assert_eq!(again.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("already holds omni-bot data"), "{stdout}");

    world.settings.storage = format!("backend = \"postgres\"\nurl = \"{url}\"\n");
    let check = world.run_once(&world.config_text(), &["check"]).await;
    let stdout = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('✓') && l.contains("PostgreSQL answers")),
        "{stdout}"
    );
}

/// How many clips are asked for in each of the two servers.
const PER_SHARD: u64 = 3;

/// An ordinary member `user` in a joined server's general channel.
fn member_of(guild: &JoinedGuild, user: u64) -> Ctx {
    Ctx {
        guild_id: Some(guild.id),
        ..Ctx::guild(user).in_channel(guild.general)
    }
}

/// Waits until `count` processes logged "bot ready" and `live` gateway sessions are open.
async fn wait_connected(world: &World, count: usize, live: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while ready_count(&world.logs()) < count || world.discord.live_sessions() != live {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{live} sessions expected, {} open:\n{}",
            world.discord.live_sessions(),
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The threads the bot opened under a server's general channel.
fn threads_of(world: &World, guild: &JoinedGuild) -> Vec<u64> {
    world
        .discord
        .threads()
        .into_iter()
        .filter(|t| t.owner_id == discord::BOT_USER_ID && t.parent_id == guild.general)
        .map(|t| t.id)
        .collect()
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn two_replicas_splitting_the_shards_answer_their_own_and_one_takes_up_the_others_jobs() {
    let url = fresh_database().await;
    let on = |shards: &str| Settings {
        discord: format!("shards = \"{shards}\""),
        ..replica_settings(&url)
    };
    // Replica A (the world's bot) connects shard 0 of 2, replica B shard 1; one server on each.
    let mut world = World::new(on("0/2")).await;
    let guild_0 = world
        .discord
        .add_guild_on_shard(0, 2, JoinOptions::default());
    let guild_1 = world
        .discord
        .add_guild_on_shard(1, 2, JoinOptions::default());
    world.pixeldojo.set_rate_limit(Some(PER_MINUTE));
    world.launch().await;
    world.spawn_replica_with(on("1/2"));
    wait_connected(&world, 2, 2).await;
    let mut identified = world.discord.identified_shards();
    identified.sort_unstable();
    assert_eq!(identified, vec![[0, 2], [1, 2]]);
    let pid_a = world.bot_pid().expect("replica A runs");
    let pid_b = world.replica_pids()[0];

    // A few clips in each server: each request reaches, and is answered by, its shard's replica.
    // Long enough that every clip still renders when the owners are read and B is killed, though
    // each replica polls on half the budget.
    world.pixeldojo.set_render_time(Duration::from_secs(15));
    let mut interactions = Vec::new();
    for i in 0..PER_SHARD {
        for (guild, n) in [(&guild_0, 0), (&guild_1, 1)] {
            let user = discord::USER_ID + 1 + 2 * i + n;
            let options = json!({ "prompt": format!("a harbour on shard {n}, take {i}") });
            interactions.push(world.omni_as(options, vec![], member_of(guild, user)).await);
        }
    }
    let clips = 2 * PER_SHARD as usize;
    assert!(
        world.pixeldojo.wait_for_submissions(clips, WAIT).await,
        "{}",
        world.logs()
    );
    let store = open_store(&url).await;
    wait_until_every_submit_is_recorded(&store).await;
    for id in &interactions {
        assert_eq!(callback_tries(&world, *id), 1, "interaction {id}");
    }
    let owners = store.owners().await.unwrap();
    assert_eq!(owners.len(), clips, "{owners:?}");
    let mut owned_by_b = 0;
    for (job, owner) in &owners {
        let guild = store.job(*job).await.unwrap().expect("the job").guild;
        let guild = guild.expect("a server's job").0;
        let expected = if guild == guild_0.id {
            pid_a
        } else {
            assert_eq!(guild, guild_1.id);
            owned_by_b += 1;
            pid_b
        };
        assert_eq!(
            owner.as_deref().and_then(pid_of),
            Some(expected),
            "job {job:?} of server {guild}: {owners:?}"
        );
    }
    assert_eq!(owned_by_b, PER_SHARD as usize, "{owners:?}");

    // SIGKILL replica B while its clips render: A takes its jobs up and posts every clip once.
    let deadline = tokio::time::Instant::now() + WAIT;
    while [&guild_0, &guild_1]
        .iter()
        .any(|g| threads_of(&world, g).len() < PER_SHARD as usize)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "threads missing:\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for thread in threads_of(&world, &guild_0)
        .into_iter()
        .chain(threads_of(&world, &guild_1))
    {
        assert!(world.clips_in(thread).is_empty(), "mid-render");
    }
    world.swap_with_replica();
    assert_eq!(world.bot_pid(), Some(pid_b));
    world.kill().await;
    world.promote_replica();
    assert_eq!(world.bot_pid(), Some(pid_a));
    until_every_render_ended(&world).await;
    for guild in [&guild_0, &guild_1] {
        assert_eq!(threads_of(&world, guild).len(), PER_SHARD as usize);
        for thread in threads_of(&world, guild) {
            clip_in(&world, thread).await;
        }
    }
    // Let any second post or submit that would follow show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = world.logs();
    assert_eq!(taken_up(&log), owned_by_b, "{log}");
    assert!(
        log.contains("a replica stopped renewing its record"),
        "{log}"
    );
    for guild in [&guild_0, &guild_1] {
        for thread in threads_of(&world, guild) {
            assert_eq!(world.clips_in(thread).len(), 1, "thread {thread}");
        }
    }
    assert_eq!(
        world.pixeldojo.submissions().len(),
        clips,
        "no double submit"
    );
    assert_eq!(world.pixeldojo.count_429(), 0);

    // While B is down nobody connects shard 1: Discord delivers its server's events to no one, and
    // the request goes unanswered (replicas that split the shards must cover every one of them).
    wait_connected(&world, 2, 1).await;
    world.pixeldojo.set_render_time(Duration::from_secs(1));
    let (unheard, command) = world.discord.slash_command(
        "omni",
        vec![json!({"name": "prompt", "type": 3, "value": "while shard 1 is down"})],
        vec![],
        member_of(&guild_1, discord::USER_ID + 100),
    );
    assert_eq!(
        world.discord.dispatch("INTERACTION_CREATE", command).await,
        0
    );
    // Shard 0's server is still answered by A.
    let still = world
        .omni_as(
            json!({"prompt": "shard 0 carries on"}),
            vec![],
            member_of(&guild_0, discord::USER_ID + 101),
        )
        .await;
    assert_eq!(world.response_to(still).await["type"], 4);
    assert!(world.pixeldojo.wait_for_submissions(clips + 1, WAIT).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(callback_tries(&world, unheard), 0, "{}", world.logs());
    assert_eq!(world.pixeldojo.submissions().len(), clips + 1);

    // B back on shard 1: its server is answered again (the request made meanwhile stays lost).
    world.spawn_replica_with(on("1/2"));
    wait_connected(&world, 3, 2).await;
    let again = world
        .omni_as(
            json!({"prompt": "shard 1 is back"}),
            vec![],
            member_of(&guild_1, discord::USER_ID + 102),
        )
        .await;
    assert_eq!(world.response_to(again).await["type"], 4);
    assert!(world.pixeldojo.wait_for_submissions(clips + 2, WAIT).await);
    let threads = threads_of(&world, &guild_1);
    assert_eq!(threads.len(), PER_SHARD as usize + 1);
    clip_in(&world, threads[PER_SHARD as usize]).await;
    assert_eq!(callback_tries(&world, unheard), 0);
    assert_eq!(world.pixeldojo.submissions().len(), clips + 2);
}
