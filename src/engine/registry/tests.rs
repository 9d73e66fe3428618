use super::*;
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::request::{Draft, GenerationRequest, InputLimits};

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
