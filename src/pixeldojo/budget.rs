//! One request budget shared by every call to PixelDojo.
//!
//! Requests are spaced evenly (`60 s / max_requests_per_minute` apart) rather than allowed in
//! bursts, so that a sliding-window limit on the vendor side is never crossed. Waiting submits go
//! before downloads, and downloads before polls: a user waiting for a job to start matters more
//! than learning a few seconds earlier that another one finished. Still, while submits wait,
//! every [`POLL_SHARE_EVERY`]th slot goes to a waiting poll, so a burst of new requests never
//! starves the jobs already running. A 429 pauses everything for its `Retry-After` and widens
//! the spacing; successes narrow it back.
//!
//! Replicas sharing one API key share its budget: each spends by `1/n` of it, where `n` is how
//! many replicas work ([`Budget::set_share`]), less one request a minute so that the phases of
//! their evenly spaced requests can never add up past the vendor's window. A replica that has
//! no share yet (0) sends nothing.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Submit = 0,
    Download = 1,
    Poll = 2,
}

/// The widest the spacing may grow after repeated 429s.
const MAX_BACKOFF_FACTOR: f64 = 8.0;

/// While higher priorities wait, a waiting poll still gets one slot in this many.
pub const POLL_SHARE_EVERY: u32 = 4;

#[derive(Debug)]
struct State {
    next_at: Instant,
    paused_until: Option<Instant>,
    waiting: [usize; 3],
    factor: f64,
    /// Slots handed out since the last one that went to a poll.
    since_poll: u32,
    /// How many replicas spend this budget (0: this one spends nothing yet).
    share: u32,
}

impl State {
    /// Whether waiting polls are owed a slot now.
    fn poll_owed(&self) -> bool {
        self.waiting[Priority::Poll as usize] > 0 && self.since_poll + 1 >= POLL_SHARE_EVERY
    }

    /// Whether a request of `priority` must let another go first.
    fn must_yield(&self, priority: Priority) -> bool {
        if priority == Priority::Poll {
            let higher = self.waiting[..Priority::Poll as usize]
                .iter()
                .any(|&n| n > 0);
            higher && !self.poll_owed()
        } else {
            let higher = self.waiting[..priority as usize].iter().any(|&n| n > 0);
            higher || self.poll_owed()
        }
    }
}

/// A std mutex: it is held only for a few arithmetic steps and never across an `.await`.
#[derive(Debug)]
pub struct Budget {
    per_minute: u32,
    state: Mutex<State>,
    /// A slot was handed out or a waiter left: those who yielded look again.
    changed: Notify,
}

/// Keeps the waiting count right even when the waiting future is dropped, and lets those who
/// yielded look again when an acquire ends (with a slot, or given up).
struct Waiting<'a> {
    budget: &'a Budget,
    priority: Priority,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.waiting[self.priority as usize] -= 1;
        drop(s);
        self.budget.changed.notify_waiters();
    }
}

impl Budget {
    pub fn per_minute(max_requests_per_minute: u32) -> Self {
        Self {
            per_minute: max_requests_per_minute.max(1),
            state: Mutex::new(State {
                next_at: Instant::now(),
                paused_until: None,
                waiting: [0; 3],
                factor: 1.0,
                since_poll: 0,
                share: 1,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spends `1/replicas` of the budget from now on (0: nothing, until told otherwise).
    pub fn set_share(&self, replicas: u32) {
        self.lock().share = replicas;
        self.changed.notify_waiters();
    }

    /// The spacing of this replica's share, before any 429 backoff (`None`: it has none).
    fn interval(&self, share: u32) -> Option<Duration> {
        let per_minute = match share {
            0 => return None,
            1 => self.per_minute,
            n => (self.per_minute / n).saturating_sub(1).max(1),
        };
        Some(Duration::from_secs(60) / per_minute)
    }

    /// Waits for a slot. Lower priorities wait while a higher one is queued.
    pub async fn acquire(&self, priority: Priority) {
        self.lock().waiting[priority as usize] += 1;
        let _waiting = Waiting {
            budget: self,
            priority,
        };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (wait, yielding) = 'slot: {
                let mut s = self.lock();
                let now = Instant::now();
                let ready_at = match s.paused_until {
                    Some(p) if p > s.next_at => p,
                    _ => s.next_at,
                };
                // No share of the budget yet: wait (as if yielding) until there is one.
                let Some(interval) = self.interval(s.share) else {
                    break 'slot (Duration::from_secs(1), true);
                };
                let yielding = s.must_yield(priority);
                if !yielding && now >= ready_at {
                    let spacing = interval.mul_f64(s.factor);
                    s.next_at = now.max(s.next_at) + spacing;
                    s.since_poll = if priority == Priority::Poll {
                        0
                    } else {
                        s.since_poll.saturating_add(1)
                    };
                    return;
                }
                (ready_at.saturating_duration_since(now), yielding)
            };
            if yielding {
                // Until the one we yield to takes its slot or leaves (a second at most).
                tokio::select! {
                    biased;
                    _ = &mut changed => {}
                    _ = tokio::time::sleep(wait.max(Duration::from_secs(1))) => {}
                }
            } else {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// The vendor answered 429: stop for `retry_after` (or one spacing interval times the
    /// backoff), and widen the spacing until requests succeed again.
    pub fn rate_limited(&self, retry_after: Option<Duration>) {
        let mut s = self.lock();
        s.factor = (s.factor * 2.0).min(MAX_BACKOFF_FACTOR);
        let interval = self.interval(s.share.max(1)).unwrap_or_default();
        let pause = retry_after.unwrap_or_else(|| interval.mul_f64(s.factor));
        let until = Instant::now() + pause;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The vendor said how many requests are left until its window resets: at none left, wait
    /// for the reset.
    pub fn observe_remaining(&self, remaining: u32, reset_in: Option<Duration>) {
        if remaining == 0 {
            if let Some(reset) = reset_in {
                let mut s = self.lock();
                let until = Instant::now() + reset;
                s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
            }
        }
    }

    /// A request succeeded: narrow the spacing back towards the configured budget.
    pub fn succeeded(&self) {
        let mut s = self.lock();
        s.factor = (s.factor * 0.8).max(1.0);
    }

    /// The current spacing between requests.
    pub fn spacing(&self) -> Duration {
        let s = self.lock();
        self.interval(s.share.max(1))
            .unwrap_or_default()
            .mul_f64(s.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_evenly_at_the_configured_rate() {
        let b = Budget::per_minute(60);
        let start = Instant::now();
        for _ in 0..5 {
            b.acquire(Priority::Poll).await;
        }
        // The first is immediate, the next four one second apart.
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_submit_goes_before_waiting_polls() {
        let b = Arc::new(Budget::per_minute(60));
        b.acquire(Priority::Poll).await; // uses the first slot
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, p) in [
            (0, Priority::Poll),
            (1, Priority::Poll),
            (2, Priority::Submit),
        ] {
            let (b, order) = (b.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(p).await;
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(order.lock().unwrap()[0], 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_for_retry_after_and_widens_the_spacing_until_success() {
        let b = Budget::per_minute(60);
        b.acquire(Priority::Poll).await;
        b.rate_limited(Some(Duration::from_secs(10)));
        let start = Instant::now();
        b.acquire(Priority::Poll).await;
        assert!(start.elapsed() >= Duration::from_secs(10));
        assert_eq!(b.spacing(), Duration::from_secs(2));
        for _ in 0..10 {
            b.succeeded();
        }
        assert_eq!(b.spacing(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_keep_a_share_of_the_slots_while_submits_wait() {
        let b = Arc::new(Budget::per_minute(60));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, p) in (0..12)
            .map(|_| ("submit", Priority::Submit))
            .chain((0..3).map(|_| ("poll", Priority::Poll)))
        {
            let (b, order) = (b.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                b.acquire(p).await;
                order.lock().unwrap().push(name);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let first_poll = order.iter().position(|n| *n == "poll").unwrap();
        assert!(
            first_poll < POLL_SHARE_EVERY as usize,
            "a poll waited behind every submit: {order:?}"
        );
        let polls_in_first_twelve = order[..12].iter().filter(|n| **n == "poll").count();
        assert_eq!(polls_in_first_twelve, 3, "{order:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn replicas_split_the_budget_and_one_without_a_share_sends_nothing() {
        let b = Arc::new(Budget::per_minute(60));
        b.set_share(0);
        let waiting = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire(Priority::Submit).await })
        };
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(!waiting.is_finished(), "sent without a share of the budget");
        // Two replicas: 29 a minute each, so that their phases never add up past 60.
        b.set_share(2);
        waiting.await.unwrap();
        let start = Instant::now();
        for _ in 0..29 {
            b.acquire(Priority::Poll).await;
        }
        // The timer counts in whole milliseconds: 29 spacings of 2.069 s, to within 29 ms.
        let took = start.elapsed().as_secs_f64();
        assert!((took - 60.0).abs() < 0.03, "{took}");
        assert_eq!(b.spacing(), Duration::from_secs(60) / 29);
        b.set_share(1);
        assert_eq!(b.spacing(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_waiter_does_not_block_lower_priorities() {
        let b = Arc::new(Budget::per_minute(60));
        b.acquire(Priority::Poll).await;
        let waiting_submit = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire(Priority::Submit).await })
        };
        tokio::task::yield_now().await;
        waiting_submit.abort();
        let _ = waiting_submit.await;
        let start = Instant::now();
        b.acquire(Priority::Poll).await;
        assert!(start.elapsed() <= Duration::from_secs(1));
    }
}
