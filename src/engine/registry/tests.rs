use super::*;
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::request::{Draft, GenerationRequest, InputLimits};

const TUNING: Tuning = Tuning {
    min_gap_ms: 2_000.0,
    max_gap_ms: 30_000.0,
};

fn job(id: u64, user: u64, state: JobState) -> Job {
    Job {
        id: JobId(id),
        guild: Some(GuildId(1)),
        channel: ChannelId(2),
        parent_channel: None,
        user: UserId(user),
        request: GenerationRequest::validate(
            Draft {
                prompt: "p".into(),
                ..Draft::default()
            },
            &InputLimits::from_megabytes(1, 1),
        )
        .unwrap(),
        attachment_size_limit: 1,
        created_at_ms: 0,
        place: None,
        state,
        asked_in: None,
        continues: None,
        lineage: None,
        made_from: None,
    }
}

#[test]
fn a_job_is_claimed_once_until_released() {
    let r = Registry::default();
    let j = job(1, 7, JobState::Queued);
    assert!(r.claim(&j));
    assert!(!r.claim(&j));
    r.release(j.id);
    assert!(r.claim(&j));
}

#[test]
fn a_cancel_wins_over_a_start_decided_after_it_and_loses_to_one_before() {
    let r = Registry::default();
    let a = job(1, 7, JobState::Queued);
    r.claim(&a);
    r.cancel(a.id, UserId(7), false).unwrap();
    assert_eq!(
        r.try_start(a.id, 2),
        Turn::Cancelled {
            by_moderator: false
        }
    );

    let b = job(2, 7, JobState::Queued);
    r.claim(&b);
    assert_eq!(r.try_start(b.id, 2), Turn::Go);
    assert_eq!(
        r.cancel(b.id, UserId(7), false),
        Err(CancelError::NotQueued)
    );
    // A stale write of the queued state does not reopen the window.
    r.update(&b);
    assert_eq!(
        r.cancel(b.id, UserId(7), false),
        Err(CancelError::NotQueued)
    );
}

#[test]
fn only_the_requester_or_a_moderator_may_cancel() {
    let r = Registry::default();
    let a = job(1, 7, JobState::Queued);
    r.claim(&a);
    assert_eq!(r.cancel(a.id, UserId(8), false), Err(CancelError::NotYours));
    assert_eq!(r.cancel(a.id, UserId(8), true), Ok(()));
    assert_eq!(r.try_start(a.id, 2), Turn::Cancelled { by_moderator: true });
}

#[test]
fn the_registry_counts_its_jobs_by_state() {
    let r = Registry::default();
    let mut a = job(1, 7, JobState::Accepted);
    r.claim(&a);
    r.claim(&job(2, 7, JobState::Queued));
    r.claim(&job(3, 8, JobState::Queued));
    a.state = JobState::Submitting;
    r.update(&a);
    let counts = r.jobs_by_state();
    assert_eq!(counts.get(&StateName::Queued), Some(&2));
    assert_eq!(counts.get(&StateName::Submitting), Some(&1));
    assert_eq!(counts.get(&StateName::Accepted), None);
    r.release(JobId(2));
    assert_eq!(r.jobs_by_state().get(&StateName::Queued), Some(&1));
}

#[test]
fn starts_decided_at_once_never_pass_the_users_limit() {
    let r = Registry::default();
    let jobs: Vec<Job> = (1..=5).map(|i| job(i, 7, JobState::Queued)).collect();
    for j in &jobs {
        r.claim(j);
    }
    let started = jobs
        .iter()
        .filter(|j| r.try_start(j.id, 2) == Turn::Go)
        .count();
    assert_eq!(started, 2);
    assert_eq!(r.user_jobs(UserId(7)), (2, 3));
}

/// Adds a running job submitted at 0 and last polled at `last_ms`.
fn polling(r: &Registry, id: u64, last_ms: Option<i64>, hold_until_ms: i64) {
    let (turn, _turns) = mpsc::channel(1);
    let model = RenderModel {
        mean_ms: 60_000.0,
        sd_ms: 15_000.0,
    };
    r.add_poll(
        JobId(id),
        PollSlot {
            submitted_at_ms: 0,
            last_poll_at_ms: last_ms,
            hold_until_ms,
            model,
            turn,
        },
    );
}

/// Raises the price per poll to `rung`: polls early in a render are no longer due.
fn priced(rung: u32) -> Registry {
    let r = Registry::default();
    for _ in 0..rung {
        r.lock().plans.price.raise();
    }
    r
}

fn due_count(r: &Registry, now_ms: i64) -> usize {
    r.lock()
        .candidates(now_ms, Strategy::Scheduled, &TUNING)
        .iter()
        .filter(|(_, c, _)| c.is_due())
        .count()
}

#[test]
fn under_saturation_a_slot_no_job_is_due_for_still_goes_to_a_job_and_lowers_the_price() {
    let r = priced(8);
    for id in 1..=3 {
        polling(&r, id, None, 0);
    }
    assert_eq!(due_count(&r, 10_000), 0);
    let picked = r.pick_poll(10_000, Strategy::Scheduled, &TUNING, true);
    assert!(picked.is_some(), "a slot nobody due wanted was left unused");
    assert_eq!(r.poll_price_rung(), 7);
}

#[test]
fn a_backlog_the_budget_cannot_serve_raises_the_price_and_one_or_two_due_hold_it() {
    let r = Registry::default();
    // Late in their renders, last polled on plan 10 s ago: due at any price.
    for id in 1..=3 {
        polling(&r, id, Some(60_000), 0);
    }
    assert_eq!(due_count(&r, 70_000), 3);
    r.pick_poll(70_000, Strategy::Scheduled, &TUNING, true);
    assert_eq!(r.poll_price_rung(), 1);
    // The job just polled is inside its floor; the other two are still due.
    assert_eq!(due_count(&r, 70_001), 2);
    r.pick_poll(70_001, Strategy::Scheduled, &TUNING, true);
    assert_eq!(r.poll_price_rung(), 1);
}

#[test]
fn under_the_scheduler_the_poll_loop_wakes_when_the_first_job_passes_its_floor() {
    let r = priced(8);
    polling(&r, 1, Some(9_000), 0);
    polling(&r, 2, Some(9_500), 12_000);
    let plan_due = r.lock().candidates(10_000, Strategy::Scheduled, &TUNING)[0]
        .1
        .due_in();
    assert!(plan_due > 10_000.0, "the job is not due on its plan soon");
    assert_eq!(
        r.next_poll_due(10_000, Strategy::Scheduled, &TUNING),
        Some(1_000)
    );
    assert_eq!(
        r.next_poll_due(10_000, Strategy::RoundRobin, &TUNING),
        Some(1_000)
    );
    let fixed = Strategy::Fixed {
        interval_ms: 5_000.0,
    };
    assert_eq!(r.next_poll_due(10_000, fixed, &TUNING), Some(4_000));
    r.remove_poll(JobId(1));
    assert_eq!(
        r.next_poll_due(10_000, Strategy::Scheduled, &TUNING),
        Some(2_000),
        "a backoff still holds the job"
    );
}
