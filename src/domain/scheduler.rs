//! Which running job to poll next (plain Rust, no I/O).
//!
//! Every job may be polled once its floor (the vendor's own 2 s between polls) has passed since
//! its last poll, or since its submit for the first one. Under [`Strategy::Scheduled`] each
//! budget slot goes to the job past its floor whose clip has most probably waited unseen the
//! longest: its [`RenderModel::unseen_delay`], the delay polling it now would save. A job that
//! cannot have finished yet saves almost nothing and lets the slot go to one that probably has;
//! a job far past its model's horizon keeps a steady chance of ending, so it keeps being polled,
//! less often than a job in the thick of its render, and is never dropped.
//!
//! No slot is left unused while a job is past its floor: when the budget has room every job is
//! polled at the floor, and when it is scarce the slots go where they save the most delay. This
//! is the greedy form of the best schedule at a price per poll: a job whose unseen delay
//! reaches the price is polled, with polls `√(2·price/hazard)` apart, close together where
//! renders end and far apart where they do not; taking the largest unseen delay at each slot
//! sets that price to what the budget serves without having to know it. The other strategies
//! exist to be measured against it (see the polling benchmark).

use super::render::RenderModel;

/// The fewest milliseconds between two polls of one job (the vendor's own examples use 2 s).
pub const MIN_GAP_MS: f64 = 2_000.0;

/// How polls are handed out; the bot uses [`Strategy::Scheduled`], the others exist to be
/// measured against it (see the polling benchmark).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Each slot goes to the job past its floor whose learned render-time model says it has
    /// most probably waited unseen the longest.
    Scheduled,
    /// Each slot of the budget goes to the job polled least recently.
    RoundRobin,
    /// Every job polls on its own fixed interval, outside any budget (the vendor's examples).
    Fixed { interval_ms: f64 },
}

/// The scheduler's time constants (scaled down in time-compressed benchmarks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    pub min_gap_ms: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            min_gap_ms: MIN_GAP_MS,
        }
    }
}

/// What the scheduler knows about one running job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Time since submission.
    pub elapsed_ms: f64,
    /// Time since submission at the last poll (`None`: never polled).
    pub last_poll_elapsed_ms: Option<f64>,
    /// Time since submission from when the job may be polled: once its floor has passed since
    /// the last poll (or the submit), and under the fixed loop once its interval has.
    pub due_ms: f64,
    /// Under the scheduler, the delay polling the job now would save (its model's
    /// [`RenderModel::unseen_delay`]); 0 under the other strategies.
    pub unseen_ms: f64,
}

impl Candidate {
    /// A job `elapsed_ms` after its submit, last polled at `last_ms` (`None`: never), whose
    /// render time follows `model` (read by [`Strategy::Scheduled`] only).
    pub fn new(
        strategy: Strategy,
        tuning: &Tuning,
        elapsed_ms: f64,
        last_ms: Option<f64>,
        model: &RenderModel,
    ) -> Self {
        let mut candidate = Self::timing(strategy, tuning, elapsed_ms, last_ms);
        if strategy == Strategy::Scheduled {
            candidate.unseen_ms = model.unseen_delay(last_ms.unwrap_or(0.0), elapsed_ms);
        }
        candidate
    }

    /// The same job's timing alone (when it may be polled), without the unseen delay that
    /// ranks it: enough to know when the next slot can be handed out.
    pub fn timing(
        strategy: Strategy,
        tuning: &Tuning,
        elapsed_ms: f64,
        last_ms: Option<f64>,
    ) -> Self {
        let last = last_ms.unwrap_or(0.0);
        let floor_ms = last + tuning.min_gap_ms;
        let due_ms = match strategy {
            Strategy::Fixed { interval_ms } => last + interval_ms,
            Strategy::RoundRobin | Strategy::Scheduled => floor_ms,
        };
        Self {
            elapsed_ms,
            last_poll_elapsed_ms: last_ms,
            due_ms: due_ms.max(floor_ms),
            unseen_ms: 0.0,
        }
    }

    fn since_last_poll(&self) -> f64 {
        self.elapsed_ms - self.last_poll_elapsed_ms.unwrap_or(0.0)
    }

    /// How long from now until the candidate may be handed a slot (0: now). The poll loop
    /// sleeps until the soonest of these instead of checking on a timer.
    pub fn eligible_in(&self) -> f64 {
        (self.due_ms - self.elapsed_ms).max(0.0)
    }
}

/// The candidate to hand a slot now under `strategy`, or `None` if none may have one yet: the
/// scheduler takes the one with the largest unseen delay, round-robin and the fixed loop the
/// one polled least recently. Ties go to the job that has waited longest since its last poll.
pub fn pick(candidates: &[Candidate], strategy: Strategy) -> Option<usize> {
    let since = |c: &Candidate| c.since_last_poll();
    let order = |a: &Candidate, b: &Candidate| match strategy {
        Strategy::Scheduled => a
            .unseen_ms
            .total_cmp(&b.unseen_ms)
            .then(since(a).total_cmp(&since(b))),
        Strategy::RoundRobin | Strategy::Fixed { .. } => since(a).total_cmp(&since(b)),
    };
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eligible_in() == 0.0)
        .max_by(|a, b| order(a.1, b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tuning = Tuning {
        min_gap_ms: MIN_GAP_MS,
    };

    /// A job submitted `elapsed_s` ago, last polled at `last_s`, rendering in 60 ± 15 s.
    fn cand(strategy: Strategy, elapsed_s: f64, last_s: Option<f64>) -> Candidate {
        let model = RenderModel::normal(60_000.0, 15_000.0);
        let last = last_s.map(|s| s * 1000.0);
        Candidate::new(strategy, &T, elapsed_s * 1000.0, last, &model)
    }

    #[test]
    fn a_lone_job_is_polled_as_soon_as_its_floor_passes() {
        let s = Strategy::Scheduled;
        assert_eq!(pick(&[cand(s, 2.0, None)], s), Some(0));
        assert_eq!(pick(&[cand(s, 9.0, Some(7.0))], s), Some(0));
        assert_eq!(
            pick(&[cand(s, 1.5, None)], s),
            None,
            "the first poll waits the floor"
        );
        assert_eq!(pick(&[cand(s, 200.0, Some(199.0))], s), None);
    }

    #[test]
    fn the_slot_goes_to_the_job_most_likely_done_unseen() {
        let s = Strategy::Scheduled;
        let early = cand(s, 10.0, None);
        let late = cand(s, 80.0, Some(60.0));
        let later = cand(s, 90.0, Some(60.0));
        assert!(early.unseen_ms < 100.0, "{early:?}");
        assert!(later.unseen_ms > late.unseen_ms, "{late:?} {later:?}");
        assert_eq!(pick(&[early, late, later], s), Some(2));
        // Round-robin sees only who waited longest since a poll.
        let rr = Strategy::RoundRobin;
        let (late, early) = (cand(rr, 80.0, Some(70.0)), cand(rr, 20.0, Some(5.0)));
        assert_eq!(pick(&[late, early], rr), Some(1));
        assert_eq!(
            pick(&[cand(s, 80.0, Some(70.0)), cand(s, 20.0, Some(5.0))], s),
            Some(0)
        );
    }

    #[test]
    fn a_job_that_cannot_have_finished_still_takes_a_slot_nobody_else_can_use() {
        let s = Strategy::Scheduled;
        assert_eq!(
            pick(&[cand(s, 10.0, None)], s),
            Some(0),
            "a spare slot is never left unused"
        );
    }

    #[test]
    fn the_timing_alone_says_when_the_job_may_be_polled_under_every_strategy() {
        let fixed = Strategy::Fixed {
            interval_ms: 5_000.0,
        };
        for strategy in [Strategy::Scheduled, Strategy::RoundRobin, fixed] {
            for (elapsed, last) in [
                (1.0, None),
                (3.0, None),
                (9.0, Some(7.5)),
                (90.0, Some(60.0)),
            ] {
                let full = cand(strategy, elapsed, last);
                let timing =
                    Candidate::timing(strategy, &T, elapsed * 1000.0, last.map(|s| s * 1000.0));
                assert_eq!(
                    timing.eligible_in(),
                    full.eligible_in(),
                    "{strategy:?} {full:?}"
                );
                assert_eq!(timing.unseen_ms, 0.0);
            }
        }
        assert_eq!(cand(fixed, 9.0, Some(7.5)).eligible_in(), 3_500.0);
        assert_eq!(
            cand(Strategy::RoundRobin, 9.0, Some(7.5)).eligible_in(),
            500.0
        );
        assert!(cand(Strategy::Scheduled, 90.0, Some(60.0)).unseen_ms > 0.0);
    }

    #[test]
    fn a_job_inside_its_floor_never_gets_a_slot_however_likely_it_is_done() {
        let s = Strategy::Scheduled;
        let just_polled = cand(s, 100.0, Some(99.0));
        let early = cand(s, 10.0, None);
        assert!(just_polled.unseen_ms > early.unseen_ms);
        assert_eq!(pick(&[just_polled, early], s), Some(1));
        assert_eq!(pick(&[just_polled], s), None);
        assert_eq!(just_polled.eligible_in(), 1_000.0);
    }

    #[test]
    fn a_job_long_past_its_model_is_polled_less_often_but_never_dropped() {
        let s = Strategy::Scheduled;
        // Rendering for five minutes against a model of 60 ± 15 s, polled 4 s ago; another job
        // in the thick of its render, polled 4 s ago too.
        let overdue = cand(s, 300.0, Some(296.0));
        let in_window = cand(s, 64.0, Some(60.0));
        assert_eq!(pick(&[overdue, in_window], s), Some(1));
        // Left alone long enough, the overdue job comes first again.
        let overdue = cand(s, 330.0, Some(296.0));
        assert_eq!(pick(&[overdue, in_window], s), Some(0));
    }

    #[test]
    fn the_fixed_loop_polls_any_job_whose_interval_has_passed() {
        let fixed = Strategy::Fixed {
            interval_ms: 2_000.0,
        };
        let c = [cand(fixed, 10.0, Some(9.0)), cand(fixed, 10.0, Some(7.5))];
        assert_eq!(pick(&c, fixed), Some(1));
        assert_eq!(pick(&c[..1], fixed), None);
        assert_eq!(c[0].eligible_in(), 1_000.0);
    }
}
