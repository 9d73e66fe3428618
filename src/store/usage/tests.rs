use super::super::test_support::on_both_backends;
use super::*;
use crate::domain::quota::CLIP_CREDITS;
use std::sync::Arc;

const LIMITS: Limits = Limits {
    user_daily_videos: 3,
    guild_daily_videos: 50,
    user_concurrent_jobs: 2,
    guild_monthly_credits: 0,
    global_daily_credits: 0,
};
const SERVER: Scope = Scope::Guild(GuildId(9));

fn window() -> Window {
    let now = chrono::DateTime::parse_from_rfc3339("2025-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    Window::at(now, chrono_tz::UTC)
}

fn req(job_id: u64, user: u64, limits: Limits, w: &Window) -> ReserveRequest<'_> {
    ReserveRequest {
        job_id: JobId(job_id),
        scope: SERVER,
        user: UserId(user),
        limits,
        window: w,
        cost: Cost::CLIP,
    }
}

const EVERYTHING: Settlement = Settlement {
    clips: true,
    credits: true,
};

on_both_backends! {
    async fn a_reservation_counts_every_window_and_a_refusal_counts_nothing(store) {
        let w = window();
        for job in 1..=3 {
            store
                .reserve(&req(job, 1, LIMITS, &w))
                .await
                .unwrap()
                .unwrap();
        }
        let refusal = store
            .reserve(&req(4, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::UserDaily {
                used: 3,
                limit: 3,
                ..
            }
        ));
        assert!(store.reservation(JobId(4)).await.unwrap().is_none());
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!(u.user_day_videos, 3);
        assert_eq!(u.guild_day_videos, 3);
        assert_eq!(u.guild_month_credits, 3 * CLIP_CREDITS);
        assert_eq!(u.global_day_credits, 3 * CLIP_CREDITS);
    }
}

on_both_backends! {
    async fn reserving_the_same_job_twice_counts_it_once(store) {
        let w = window();
        let a = store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        let b = store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            store
                .usage(SERVER, UserId(1), &w)
                .await
                .unwrap()
                .user_day_videos,
            1
        );
    }
}

on_both_backends! {
    async fn settling_undoes_exactly_the_reservation_and_twice_is_harmless(store) {
        let w = window();
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .reserve(&req(2, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        assert!(store.settle(JobId(1), EVERYTHING).await.unwrap().is_some());
        store.settle(JobId(1), EVERYTHING).await.unwrap();
        assert!(
            store.settle(JobId(99), EVERYTHING).await.unwrap().is_none(),
            "a job never reserved"
        );
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!(u.user_day_videos, 1);
        assert_eq!(u.guild_month_credits, CLIP_CREDITS);
        let r = store.reservation(JobId(1)).await.unwrap().unwrap();
        assert!(r.clips_refunded && r.credits_refunded);
        assert_eq!(store.underflows().await.unwrap(), 0);
        // Reserving a settled job again does not count it again.
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .usage(SERVER, UserId(1), &w)
                .await
                .unwrap()
                .user_day_videos,
            1
        );
    }
}

on_both_backends! {
    async fn a_charged_failure_gives_back_the_clip_but_keeps_the_credits(store) {
        let w = window();
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .settle(
                JobId(1),
                Settlement {
                    clips: true,
                    credits: false,
                },
            )
            .await
            .unwrap();
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!(u.user_day_videos, 0);
        assert_eq!(u.guild_day_videos, 0);
        assert_eq!(u.guild_month_credits, CLIP_CREDITS);
        assert_eq!(u.global_day_credits, CLIP_CREDITS);
        // A later full settlement can still give the credits back, once.
        store.settle(JobId(1), EVERYTHING).await.unwrap();
        store.settle(JobId(1), EVERYTHING).await.unwrap();
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!((u.user_day_videos, u.global_day_credits), (0, 0));
        assert_eq!(store.underflows().await.unwrap(), 0);
    }
}

on_both_backends! {
    async fn what_the_vendor_charged_replaces_what_was_reserved(store) {
        let w = window();
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store.charge(JobId(1), 20).await.unwrap();
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!((u.guild_month_credits, u.global_day_credits), (20, 20));
        assert_eq!(
            store
                .reservation(JobId(1))
                .await
                .unwrap()
                .unwrap()
                .credits(),
            20
        );
        store.charge(JobId(1), 10).await.unwrap();
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!(u.global_day_credits, 10);
        store.settle(JobId(1), EVERYTHING).await.unwrap();
        let u = store.usage(SERVER, UserId(1), &w).await.unwrap();
        assert_eq!(u.global_day_credits, 0);
        assert_eq!(store.underflows().await.unwrap(), 0);
    }
}

on_both_backends! {
    async fn direct_messages_count_per_user_and_never_against_a_server(store) {
        let w = window();
        let dm = |job, user| ReserveRequest {
            job_id: JobId(job),
            scope: Scope::Dm,
            user: UserId(user),
            limits: Limits {
                guild_daily_videos: 1,
                ..LIMITS
            },
            window: &w,
            cost: Cost::CLIP,
        };
        // Two users in DMs: a server cap of 1 does not make them share one bucket.
        store.reserve(&dm(1, 1)).await.unwrap().unwrap();
        store.reserve(&dm(2, 2)).await.unwrap().unwrap();
        store.reserve(&dm(3, 2)).await.unwrap().unwrap();
        assert_eq!(
            store
                .usage(Scope::Dm, UserId(2), &w)
                .await
                .unwrap()
                .user_day_videos,
            2
        );
        assert_eq!(
            store
                .usage(SERVER, UserId(2), &w)
                .await
                .unwrap()
                .user_day_videos,
            0
        );
        assert_eq!(
            store
                .usage(Scope::Dm, UserId(2), &w)
                .await
                .unwrap()
                .global_day_credits,
            48
        );
    }
}

#[tokio::test]
async fn counters_reservations_and_policies_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let w = window();
    {
        let store = Store::open(&path).unwrap();
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .reserve(&req(2, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .update_policy(GuildId(9), |p| {
                p.user_allowances.insert(UserId(1), 7);
            })
            .await
            .unwrap();
        store
            .record_balance(Balance {
                credits_remaining: 123,
                at_ms: 5,
            })
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store
            .usage(SERVER, UserId(1), &w)
            .await
            .unwrap()
            .user_day_videos,
        2
    );
    store.settle(JobId(2), EVERYTHING).await.unwrap();
    assert_eq!(
        store
            .usage(SERVER, UserId(1), &w)
            .await
            .unwrap()
            .user_day_videos,
        1
    );
    assert_eq!(
        store.policy(GuildId(9)).await.unwrap().user_allowances[&UserId(1)],
        7
    );
    assert_eq!(
        store.balance().await.unwrap().unwrap().credits_remaining,
        123
    );
}

on_both_backends! {
    async fn the_report_sums_clips_and_credits_per_user_and_per_day(store) {
        let w = window();
        store
            .reserve(&req(1, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .reserve(&req(2, 1, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        store
            .reserve(&req(3, 2, LIMITS, &w))
            .await
            .unwrap()
            .unwrap();
        let r = store
            .report(GuildId(9), &["2025-03-09".into(), w.day.clone()])
            .await
            .unwrap();
        assert_eq!(r.per_user[&UserId(1)], (2, 2 * CLIP_CREDITS));
        assert_eq!(r.per_user[&UserId(2)], (1, CLIP_CREDITS));
        assert_eq!(r.per_day, [0, 3]);
        assert_eq!(
            store
                .reset_user_day(SERVER, UserId(1), &w.day)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            store
                .usage(SERVER, UserId(1), &w)
                .await
                .unwrap()
                .user_day_videos,
            0
        );
        assert_eq!(
            store
                .report(GuildId(9), std::slice::from_ref(&w.day))
                .await
                .unwrap()
                .per_user[&UserId(1)]
                .1,
            32
        );
    }
}

on_both_backends! {
    async fn the_low_credit_alert_is_claimed_once_per_day(store) {
        assert!(store.claim_low_credit_alert("2025-03-10").await.unwrap());
        assert!(!store.claim_low_credit_alert("2025-03-10").await.unwrap());
        assert!(store.claim_low_credit_alert("2025-03-11").await.unwrap());
    }
}

on_both_backends! {
    /// Many threads reserving at once never pass a cap: the user cap, then the server cap and
    /// the credit caps with many users, with refunds racing the reservations.
    async fn concurrent_reservations_never_exceed_any_cap(store) {
        let w = Arc::new(window());
        let run = async |first_job: u64, limits: Limits, users: u64, refund_every: u64| {
            let handles: Vec<_> = (0..64u64)
                .map(|i| {
                    let store = store.clone();
                    let w = w.clone();
                    tokio::spawn(async move {
                        let job = first_job + i;
                        let r = ReserveRequest {
                            job_id: JobId(job),
                            scope: SERVER,
                            user: UserId(100 + i % users),
                            limits,
                            window: &w,
                            cost: Cost::CLIP,
                        };
                        let ok = store.reserve(&r).await.unwrap().is_ok();
                        if ok && refund_every > 0 && job % refund_every == 0 {
                            store.settle(JobId(job), EVERYTHING).await.unwrap();
                            return 0;
                        }
                        u64::from(ok)
                    })
                })
                .collect();
            let mut accepted = 0;
            for h in handles {
                accepted += h.await.unwrap();
            }
            accepted
        };
        // One user, cap 3.
        assert_eq!(run(1_000, LIMITS, 1, 0).await, 3);
        assert_eq!(
            store
                .usage(SERVER, UserId(100), &w)
                .await
                .unwrap()
                .user_day_videos,
            3
        );

        // Many users, server cap of 10 more clips today (3 already made), refunds racing.
        let limits = Limits {
            user_daily_videos: 100,
            guild_daily_videos: 13,
            ..LIMITS
        };
        let kept = run(2_000, limits, 8, 5).await;
        let u = store.usage(SERVER, UserId(100), &w).await.unwrap();
        assert_eq!(u.guild_day_videos, 3 + kept);
        assert!(u.guild_day_videos <= 13, "{u:?}");

        // A monthly credit cap that fits 4 more clips.
        let limits = Limits {
            user_daily_videos: 100,
            guild_daily_videos: 1_000,
            guild_monthly_credits: u.guild_month_credits + 4 * CLIP_CREDITS + CLIP_CREDITS / 2,
            ..LIMITS
        };
        assert_eq!(run(3_000, limits, 8, 0).await, 4);
        let after = store.usage(SERVER, UserId(100), &w).await.unwrap();
        assert!(after.guild_month_credits <= limits.guild_monthly_credits);
        assert_eq!(after.guild_month_credits, after.global_day_credits);
        assert_eq!(store.underflows().await.unwrap(), 0);
    }
}
