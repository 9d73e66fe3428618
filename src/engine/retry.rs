//! The one retry helper every step uses: a [`RetryPolicy`] says how long to wait between tries
//! and when to give up, [`retry`] runs an attempt until it succeeds, fails for good, the policy
//! gives up, or the engine stops.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How to space and bound the tries of one side effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles after each further one.
    pub first: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
    /// Give up after this many tries (`None`: no limit).
    pub max_attempts: Option<u32>,
}

impl RetryPolicy {
    /// The wait after the `failures`th failure in a row (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// What one attempt says about trying again.
#[derive(Debug)]
pub enum Attempt<E> {
    /// It may work later.
    Retry(E),
    /// It will not work, however often it is tried.
    Fail(E),
}

/// Why [`retry`] returned without a success.
#[derive(Debug, PartialEq, Eq)]
pub enum GaveUp<E> {
    /// A permanent failure, or the last transient one when the policy or the deadline ran out.
    Failed(E),
    /// The engine is stopping.
    Stopped,
}

/// Runs `attempt` until it succeeds, fails for good, the policy runs out, `deadline` passes,
/// or `stop` turns true (checked before every try and during every wait).
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    stop: &mut watch::Receiver<bool>,
    mut attempt: F,
) -> Result<T, GaveUp<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut failures = 0u32;
    loop {
        if *stop.borrow_and_update() {
            return Err(GaveUp::Stopped);
        }
        let error = match attempt(failures + 1).await {
            Ok(value) => return Ok(value),
            Err(Attempt::Fail(e)) => return Err(GaveUp::Failed(e)),
            Err(Attempt::Retry(e)) => e,
        };
        failures += 1;
        if policy.max_attempts.is_some_and(|max| failures >= max) {
            return Err(GaveUp::Failed(error));
        }
        let wake = Instant::now() + policy.delay(failures);
        if deadline.is_some_and(|d| wake > d) {
            return Err(GaveUp::Failed(error));
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Err(GaveUp::Stopped),
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        first: Duration::from_secs(1),
        max_delay: Duration::from_secs(5),
        max_attempts: Some(5),
    };

    #[test]
    fn waits_double_up_to_the_cap() {
        let waits: Vec<u64> = (1..=5).map(|n| POLICY.delay(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert_eq!(POLICY.delay(u32::MAX), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_with_backoff_until_success() {
        let (_tx, mut stop) = watch::channel(false);
        let started = Instant::now();
        let result: Result<u32, GaveUp<&str>> = retry(&POLICY, None, &mut stop, |n| async move {
            if n < 4 {
                Err(Attempt::Retry("busy"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result, Ok(4));
        assert_eq!(started.elapsed(), Duration::from_secs(1 + 2 + 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_and_an_exhausted_policy_give_up() {
        let (_tx, mut stop) = watch::channel(false);
        let permanent: Result<(), _> = retry(&POLICY, None, &mut stop, |_| async {
            Err(Attempt::Fail("no"))
        })
        .await;
        assert_eq!(permanent, Err(GaveUp::Failed("no")));
        let mut tries = 0;
        let exhausted: Result<(), _> = retry(&POLICY, None, &mut stop, |_| {
            tries += 1;
            async { Err(Attempt::Retry("busy")) }
        })
        .await;
        assert_eq!(exhausted, Err(GaveUp::Failed("busy")));
        assert_eq!(tries, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_ends_the_tries_and_a_stop_ends_the_wait() {
        let (tx, mut stop) = watch::channel(false);
        let deadline = Instant::now() + Duration::from_secs(2);
        let unlimited = RetryPolicy {
            max_attempts: None,
            ..POLICY
        };
        let late: Result<(), _> = retry(&unlimited, Some(deadline), &mut stop, |_| async {
            Err(Attempt::Retry("busy"))
        })
        .await;
        assert_eq!(late, Err(GaveUp::Failed("busy")));
        let waiting = tokio::spawn(async move {
            retry(&unlimited, None, &mut stop, |_| async {
                Err::<(), _>(Attempt::Retry("busy"))
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tx.send(true).unwrap();
        assert_eq!(waiting.await.unwrap(), Err(GaveUp::Stopped));
    }
}
