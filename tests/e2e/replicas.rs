//! Two `omni-bot` processes on one PostgreSQL database (`storage.backend = "postgres"`), against
//! the same fakes: one works, the other stands by and carries the work on when the first dies or
//! stops. They need a server: without `OMNI_TEST_DATABASE_URL` when the tests are built they are
//! listed as ignored, with the reason; with it set they fail if the server cannot be reached.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use omni_bot::config::{Backend, StorageConfig};
use omni_bot::domain::ids::{Scope, UserId};
use omni_bot::domain::quota::Window;
use omni_bot::store::Store;
use secrecy::SecretString;
use serde_json::json;
use sqlx::{Connection, Executor};

use crate::faults::clip_in;
use crate::support::fake_discord as discord;
use crate::support::world::{Settings, World, WAIT};

const CLIPS: usize = 6;

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

/// The fakes, a fresh database, replica A working and replica B standing by.
async fn two_replicas() -> (World, String) {
    let url = fresh_database().await;
    let settings = Settings {
        storage: format!("backend = \"postgres\"\nurl = \"{url}\"\nlease_seconds = 3\n"),
        sections: "[limits]\nuser_daily_videos = 50\nuser_concurrent_jobs = 10\n".into(),
        ..Settings::default()
    };
    let mut world = World::new(settings).await;
    world.launch().await;
    world.spawn_replica();
    assert!(
        world
            .wait_log(WAIT, |l| l
                .contains("another replica is working; standing by"))
            .await,
        "{}",
        world.logs()
    );
    (world, url)
}

async fn wait_until_every_job_is_polled(world: &World, jobs: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let polled: std::collections::BTreeSet<String> = world
            .pixeldojo
            .requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains("/jobs/"))
            .map(|r| r.path)
            .collect();
        if polled.len() >= jobs {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {jobs} jobs were polled",
            polled.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ready_count(log: &str) -> usize {
    log.matches("bot ready").count()
}

async fn usage_today(url: &str) -> omni_bot::domain::quota::Usage {
    let config = StorageConfig {
        backend: Backend::Postgres,
        url: SecretString::from(url.to_owned()),
        ..StorageConfig::default()
    };
    let store = Store::open_configured(&config)
        .await
        .expect("open the database");
    let window = Window::at(chrono::Utc::now(), chrono_tz::UTC);
    store
        .usage(
            Scope::from_guild(Some(omni_bot::domain::ids::GuildId(discord::GUILD_ID))),
            UserId(discord::USER_ID),
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
async fn a_replica_killed_mid_render_is_replaced_by_the_standby_and_every_clip_is_posted_once() {
    let (mut world, url) = two_replicas().await;
    world.pixeldojo.set_render_time(Duration::from_secs(6));
    for i in 0..CLIPS {
        world
            .omni(json!({ "prompt": format!("waves on pier {i}") }))
            .await;
    }
    assert!(
        world.pixeldojo.wait_for_submissions(CLIPS, WAIT).await,
        "{}",
        world.logs()
    );
    // Killed between a submit and its record, a job would be an uncertain submit (told, never
    // resent), as after any crash: wait until every job was polled, which comes after its record.
    wait_until_every_job_is_polled(&world, CLIPS).await;
    // SIGKILL while every clip renders: no chance to give the lease up.
    world.kill().await;
    assert!(
        world
            .wait_log(WAIT, |l| l
                .contains("stopped renewing its lease; taking over")
                && ready_count(l) == 2)
            .await,
        "the standby did not take over:\n{}",
        world.logs()
    );
    world.promote_replica();

    for n in 0..CLIPS {
        let thread = world.thread(n).await;
        clip_in(&world, thread).await;
    }
    // Let any second post or submit that would follow show itself.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in 0..CLIPS {
        let thread = world.thread(n).await;
        assert_eq!(world.clips_in(thread).len(), 1, "thread {n}");
    }
    assert_eq!(
        world.pixeldojo.submissions().len(),
        CLIPS,
        "no double submit"
    );
    assert_eq!(world.pixeldojo.count_429(), 0);
    let usage = usage_today(&url).await;
    assert_eq!(usage.user_day_videos, CLIPS as u64, "{usage:?}");
    assert_eq!(usage.guild_day_videos, CLIPS as u64, "{usage:?}");
}

#[tokio::test]
#[cfg_attr(
    not(omni_postgres),
    ignore = "PostgreSQL: set OMNI_TEST_DATABASE_URL to run"
)]
async fn a_replica_stopped_for_a_deploy_hands_its_work_to_the_standby_at_once() {
    let (mut world, _url) = two_replicas().await;
    world.pixeldojo.set_render_time(Duration::from_secs(3));
    world
        .omni(json!({ "prompt": "a lighthouse at dusk" }))
        .await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    assert!(world.terminate().await.success());
    assert!(
        world.wait_log(WAIT, |l| ready_count(l) == 2).await,
        "the standby did not take over:\n{}",
        world.logs()
    );
    // It took the lease the stopping replica gave up, not one that went stale.
    assert!(!world.logs().contains("stopped renewing its lease"));
    world.promote_replica();
    let thread = world.thread(0).await;
    clip_in(&world, thread).await;
    assert_eq!(world.clips_in(thread).len(), 1);
    assert_eq!(world.pixeldojo.submissions().len(), 1);
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
    let usage = usage_today(&url).await;
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
