use super::*;
use crate::domain::ids::GuildId;
use rand::{Rng, SeedableRng};

const DEFAULTS: Limits = Limits {
    user_daily_videos: 5,
    guild_daily_videos: 50,
    user_concurrent_jobs: 2,
    guild_monthly_credits: 0,
    global_daily_credits: 0,
};

const SERVER: Scope = Scope::Guild(GuildId(9));

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn window() -> Window {
    Window::at(utc("2025-03-10T12:00:00Z"), chrono_tz::UTC)
}

#[test]
fn without_overrides_the_config_defaults_apply() {
    let e = effective(&DEFAULTS, &GuildPolicy::default(), UserId(1), &[RoleId(10)]);
    assert_eq!(e.limits, DEFAULTS);
    assert_eq!(e.daily_source, AllowanceSource::Default);
}

#[test]
fn a_server_override_replaces_the_default() {
    let mut p = GuildPolicy::default();
    p.overrides.insert(LimitName::UserDailyVideos, 2);
    p.overrides.insert(LimitName::GuildMonthlyCredits, 320);
    let e = effective(&DEFAULTS, &p, UserId(1), &[]);
    assert_eq!(e.limits.user_daily_videos, 2);
    assert_eq!(e.limits.guild_monthly_credits, 320);
    assert_eq!(e.daily_source, AllowanceSource::Server);
}

#[test]
fn the_most_generous_role_wins_and_a_user_allowance_beats_every_role() {
    let mut p = GuildPolicy::default();
    p.overrides.insert(LimitName::UserDailyVideos, 1);
    p.role_allowances.insert(RoleId(10), 0);
    p.role_allowances.insert(RoleId(11), 8);
    p.role_allowances.insert(RoleId(12), 3);
    let e = effective(
        &DEFAULTS,
        &p,
        UserId(1),
        &[RoleId(10), RoleId(12), RoleId(11)],
    );
    assert_eq!(e.limits.user_daily_videos, 8);
    assert_eq!(e.daily_source, AllowanceSource::Role(RoleId(11)));
    let blocked = effective(&DEFAULTS, &p, UserId(1), &[RoleId(10)]);
    assert_eq!(blocked.limits.user_daily_videos, 0);
    p.user_allowances.insert(UserId(1), 2);
    let e = effective(&DEFAULTS, &p, UserId(1), &[RoleId(11)]);
    assert_eq!(e.limits.user_daily_videos, 2);
    assert_eq!(e.daily_source, AllowanceSource::User);
    assert_eq!(
        effective(&DEFAULTS, &p, UserId(2), &[])
            .limits
            .user_daily_videos,
        1
    );
}

#[test]
fn an_allowance_of_zero_blocks() {
    let mut l = DEFAULTS;
    l.user_daily_videos = 0;
    let r = decide(&l, &Usage::default(), Cost::CLIP, &window(), SERVER).unwrap_err();
    assert!(matches!(r, Refusal::Blocked { .. }));
}

#[test]
fn the_refusal_carries_the_limit_the_usage_and_when_it_resets() {
    let w = window();
    let usage = Usage {
        user_day_videos: 5,
        ..Usage::default()
    };
    let r = decide(&DEFAULTS, &usage, Cost::CLIP, &w, SERVER).unwrap_err();
    let reset = utc("2025-03-11T00:00:00Z").timestamp();
    assert_eq!(
        r,
        Refusal::UserDaily {
            used: 5,
            limit: 5,
            resets_at: reset,
            scope: SERVER
        }
    );
}

#[test]
fn credit_caps_of_zero_mean_no_cap_and_otherwise_count_the_clip_cost() {
    let w = window();
    let usage = Usage {
        guild_month_credits: 1_000_000,
        global_day_credits: 1_000_000,
        ..Usage::default()
    };
    assert!(decide(&DEFAULTS, &usage, Cost::CLIP, &w, SERVER).is_ok());
    let mut l = DEFAULTS;
    l.guild_monthly_credits = 40;
    let usage = Usage {
        guild_month_credits: 32,
        ..Usage::default()
    };
    let r = decide(&l, &usage, Cost::CLIP, &w, SERVER).unwrap_err();
    assert!(matches!(
        r,
        Refusal::GuildMonthlyCredits {
            used: 32,
            limit: 40,
            ..
        }
    ));
    assert!(
        matches!(r, Refusal::GuildMonthlyCredits { resets_at, .. } if resets_at == w.month_resets_at)
    );
    l.guild_monthly_credits = 0;
    l.global_daily_credits = 16;
    let usage = Usage {
        global_day_credits: 16,
        ..Usage::default()
    };
    assert!(matches!(
        decide(&l, &usage, Cost::CLIP, &w, SERVER),
        Err(Refusal::GlobalDailyCredits { .. })
    ));
}

#[test]
fn days_and_months_reset_at_local_midnight_in_the_configured_zone() {
    let tz: Tz = "America/New_York".parse().unwrap();
    // 03:00 UTC on 1 March is still 28 February in New York.
    let w = Window::at(utc("2025-03-01T03:00:00Z"), tz);
    assert_eq!(w.day, "2025-02-28");
    assert_eq!(w.month, "2025-02");
    assert_eq!(w.day_resets_at, utc("2025-03-01T05:00:00Z").timestamp());
    assert_eq!(w.month_resets_at, w.day_resets_at);
    let w = Window::at(utc("2025-12-31T23:59:59Z"), chrono_tz::UTC);
    assert_eq!(w.month_resets_at, utc("2026-01-01T00:00:00Z").timestamp());
}

#[test]
fn a_day_that_starts_with_a_dst_jump_resets_at_its_first_valid_minute() {
    // Havana skipped 00:00-01:00 on 2025-03-09.
    let tz: Tz = "America/Havana".parse().unwrap();
    let w = Window::at(utc("2025-03-08T12:00:00Z"), tz);
    let local = DateTime::from_timestamp(w.day_resets_at, 0)
        .unwrap()
        .with_timezone(&tz);
    assert_eq!(local.date_naive().to_string(), "2025-03-09");
}

#[test]
fn recent_days_end_today_oldest_first() {
    let d = recent_days(utc("2025-03-02T10:00:00Z"), chrono_tz::UTC, 3);
    let keys: Vec<String> = d.into_iter().map(day_key).collect();
    assert_eq!(keys, ["2025-02-28", "2025-03-01", "2025-03-02"]);
}

/// Property: whatever the caps and the order of requests, counting only what `decide` allows
/// never takes a counter past its cap, and a refusal happens only when a cap would be passed.
#[test]
fn counting_only_allowed_requests_never_passes_any_cap() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..2_000 {
        let limits = Limits {
            user_daily_videos: rng.gen_range(0..6),
            guild_daily_videos: rng.gen_range(0..10),
            user_concurrent_jobs: 1,
            guild_monthly_credits: rng.gen_range(0..4) * 40,
            global_daily_credits: rng.gen_range(0..4) * 50,
        };
        let mut users = [0u64; 4];
        let mut usage = Usage::default();
        for _ in 0..30 {
            let who = rng.gen_range(0..users.len());
            let mut seen = usage;
            seen.user_day_videos = users[who];
            match decide(&limits, &seen, Cost::CLIP, &window(), SERVER) {
                Ok(()) => {
                    users[who] += 1;
                    usage.guild_day_videos += 1;
                    usage.guild_month_credits += CLIP_CREDITS;
                    usage.global_day_credits += CLIP_CREDITS;
                }
                Err(_) => {
                    let would_pass = seen.user_day_videos < u64::from(limits.user_daily_videos)
                        && seen.guild_day_videos < u64::from(limits.guild_daily_videos)
                        && (limits.guild_monthly_credits == 0
                            || seen.guild_month_credits + CLIP_CREDITS
                                <= limits.guild_monthly_credits)
                        && (limits.global_daily_credits == 0
                            || seen.global_day_credits + CLIP_CREDITS
                                <= limits.global_daily_credits);
                    assert!(!would_pass, "refused although every cap allowed it");
                }
            }
            assert!(users
                .iter()
                .all(|u| *u <= u64::from(limits.user_daily_videos)));
            assert!(usage.guild_day_videos <= u64::from(limits.guild_daily_videos));
            if limits.guild_monthly_credits > 0 {
                assert!(usage.guild_month_credits <= limits.guild_monthly_credits);
            }
            if limits.global_daily_credits > 0 {
                assert!(usage.global_day_credits <= limits.global_daily_credits);
            }
        }
    }
}
