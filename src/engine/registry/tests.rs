use super::*;
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::request::{Draft, GenerationRequest, InputLimits};

const TUNING: Tuning = Tuning {
    min_gap_ms: 2_000.0,
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

/// Adds a running job submitted at 0, last polled at `last_ms`, that renders in 60 ± 15 s.
fn polling(r: &Registry, id: u64, last_ms: Option<i64>, hold_until_ms: i64) {
    polling_as(
        r,
        id,
        RenderModel::normal(60_000.0, 15_000.0),
        last_ms,
        hold_until_ms,
    );
}

fn polling_as(r: &Registry, id: u64, model: RenderModel, last_ms: Option<i64>, hold: i64) {
    let (turn, _turns) = mpsc::channel(1);
    r.add_poll(
        JobId(id),
        PollSlot {
            submitted_at_ms: 0,
            last_poll_at_ms: last_ms,
            hold_until_ms: hold,
            model,
            turn,
        },
    );
}

/// Job 1 renders in 60 ± 5 s and was last seen running at 62 s: probably done by 66 s. Job 2
/// renders in about ten minutes and was last seen at 10 s: it cannot be done yet.
fn one_likely_done_and_one_not() -> Registry {
    let r = Registry::default();
    let likely_done = RenderModel::normal(60_000.0, 5_000.0);
    polling_as(&r, 1, likely_done, Some(62_000), 0);
    polling_as(
        &r,
        2,
        RenderModel::normal(600_000.0, 50_000.0),
        Some(10_000),
        0,
    );
    r
}

#[test]
fn a_slot_goes_to_the_job_most_likely_done_unseen_not_the_one_polled_least_recently() {
    let r = one_likely_done_and_one_not();
    let picked = |strategy| r.pick_poll(66_000, strategy, &TUNING).map(|(id, _)| id);
    assert_eq!(picked(Strategy::Scheduled), Some(JobId(1)));
    // The pick counts as a poll: the slow job is all that is left past its floor, and a slot
    // is never left unused.
    assert_eq!(picked(Strategy::Scheduled), Some(JobId(2)));
    assert_eq!(picked(Strategy::Scheduled), None);
    let r = one_likely_done_and_one_not();
    let picked = r.pick_poll(66_000, Strategy::RoundRobin, &TUNING);
    assert_eq!(picked.map(|(id, _)| id), Some(JobId(2)));
}

#[test]
fn a_job_held_off_by_a_backoff_gets_no_slot() {
    let r = Registry::default();
    polling(&r, 1, Some(60_000), 90_000);
    polling(&r, 2, Some(80_000), 0);
    let picked = r.pick_poll(85_000, Strategy::Scheduled, &TUNING);
    assert_eq!(picked.map(|(id, _)| id), Some(JobId(2)));
    assert!(r.pick_poll(85_001, Strategy::Scheduled, &TUNING).is_none());
}

#[test]
fn the_poll_loop_wakes_when_the_first_job_passes_its_floor() {
    let r = Registry::default();
    polling(&r, 1, Some(9_000), 0);
    polling(&r, 2, Some(9_500), 12_000);
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
