//! Point 9: every metric family exists from start-up, with each known label at 0; refusals are
//! counted by reason and jobs in flight by state.

use std::time::Duration;

use super::{omni_answer, settle};
use crate::ops::{free_port, get, parse_prometheus, value_of, Sample};
use crate::support::fake_discord::{self as discord, Ctx};
use crate::support::world::{Settings, World, WAIT};

async fn scrape(url: &str) -> (Vec<Sample>, String) {
    let (status, text) = get(url).await;
    assert_eq!(status, 200, "{text}");
    let samples = parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (samples, text)
}

#[tokio::test]
async fn every_metric_family_exists_at_start_up_and_refusals_and_jobs_in_flight_are_counted() {
    let port = free_port();
    let world = World::start_with(Settings {
        discord: "allow_dms = false".to_owned(),
        sections: format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[limits]\nuser_daily_videos = 1\n"
        ),
        ..Settings::default()
    })
    .await;
    let url = format!("http://127.0.0.1:{port}/metrics");

    // Before any request: every family, every known label, at 0.
    let (samples, text) = scrape(&url).await;
    let zero = |name: &str, labels: &[(&str, &str)]| {
        assert_eq!(
            value_of(&samples, name, labels),
            Some(0.0),
            "{name} {labels:?} at start-up:\n{text}"
        );
    };
    for state in [
        "accepted",
        "queued",
        "submitting",
        "running",
        "delivering",
        "delivered",
        "failing",
        "failed",
    ] {
        zero("omni_jobs_total", &[("state", state)]);
    }
    for state in [
        "accepted",
        "queued",
        "submitting",
        "running",
        "delivering",
        "failing",
    ] {
        zero("omni_jobs_in_flight", &[("state", state)]);
    }
    for reason in [
        "stopping",
        "dms_off",
        "channel",
        "prompt_rule",
        "cannot_post",
        "blocked",
        "user_daily",
        "guild_daily",
        "guild_monthly_credits",
        "global_daily_credits",
        "internal",
    ] {
        zero("omni_refusals_total", &[("reason", reason)]);
    }
    zero(
        "omni_pixeldojo_requests_total",
        &[("endpoint", "submit"), ("outcome", "ok")],
    );
    zero("omni_pixeldojo_rate_limited_total", &[("endpoint", "poll")]);
    zero(
        "omni_discord_errors_total",
        &[("kind", "missing_permission")],
    );
    for name in [
        "omni_credits_spent_total",
        "omni_upload_link_fallbacks_total",
        "omni_job_panics_total",
        "omni_pixeldojo_key_rejected_total",
        "omni_render_seconds_count",
        "omni_delivery_delay_seconds_count",
    ] {
        zero(name, &[]);
    }
    assert!(text.contains("# TYPE omni_jobs_in_flight gauge"), "{text}");

    // A refusal for direct messages being off, one for the daily cap, and one clip rendering.
    world.pixeldojo.set_render_time(Duration::from_secs(30));
    omni_answer(&world, "in a dm", Ctx::dm()).await;
    omni_answer(&world, "rendering", Ctx::guild(discord::USER_ID)).await;
    omni_answer(&world, "over the cap", Ctx::guild(discord::USER_ID)).await;
    assert!(world.pixeldojo.wait_for_submissions(1, WAIT).await);
    settle().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (samples, text) = scrape(&url).await;
        let v = |name: &str, labels: &[(&str, &str)]| value_of(&samples, name, labels);
        let counted = v("omni_refusals_total", &[("reason", "dms_off")]) == Some(1.0)
            && v("omni_refusals_total", &[("reason", "user_daily")]) == Some(1.0)
            && v("omni_jobs_in_flight", &[("state", "running")]) == Some(1.0)
            && v("omni_jobs_in_flight", &[("state", "queued")]) == Some(0.0);
        if counted {
            assert_eq!(
                v("omni_refusals_total", &[("reason", "prompt_rule")]),
                Some(0.0)
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
