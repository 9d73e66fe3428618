//! Which running job to poll next (plain Rust, no I/O).
//!
//! Every job may be polled once its floor (the vendor's own 2 s between polls) has passed since
//! its last poll, or since its submit for the first one. Under [`Strategy::Scheduled`] each job
//! follows its [`Plan`]: the poll schedule best for its learned render-time model at the current
//! price per poll. The plans decide who gets the budget when it is scarce, not whether it is
//! spent: a slot goes to the job most overdue on its plan, and a slot no job due on its plan
//! wants still goes to a job past its floor, the one closest to being due (a slot not taken is
//! lost). After such an off-plan poll the plan is asked again from it, as after any poll: that
//! never brings the job's next planned poll earlier, and may put it later (the job was seen
//! running later than the plan assumed), so spare slots spread over the jobs instead of going
//! to the same one at every floor until it is due. While the budget has room the price is zero
//! and every job is polled at the floor; when it is scarce the price rises until the plans
//! together ask for about what the budget serves (see the poll loop's registry). The other
//! strategies exist to be measured against it (see the polling benchmark).

use super::plan::Plan;

/// The fewest milliseconds between two polls of one job (the vendor's own examples use 2 s).
pub const MIN_GAP_MS: f64 = 2_000.0;
/// Under a price, a job still running past its model's horizon is polled this often.
pub const MAX_GAP_MS: f64 = 30_000.0;

/// How polls are handed out; the bot uses [`Strategy::Scheduled`], the others exist to be
/// measured against it (see the polling benchmark).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Each job follows the plan best for its learned render time at the current price per
    /// poll; each slot goes to the job most overdue on its plan.
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
    pub max_gap_ms: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            min_gap_ms: MIN_GAP_MS,
            max_gap_ms: MAX_GAP_MS,
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
    /// Time since submission when the floor has passed since the last poll (or the submit):
    /// the job may be polled from then on.
    pub floor_ms: f64,
    /// Time since submission when the job is next due: on its plan under the scheduler, on its
    /// interval under the other strategies; never before `floor_ms`.
    pub due_ms: f64,
}

impl Candidate {
    /// A job `elapsed_ms` after its submit, last polled at `last_ms` (`None`: never); `plan` is
    /// the job's plan, read by [`Strategy::Scheduled`] only.
    pub fn new(
        strategy: Strategy,
        tuning: &Tuning,
        elapsed_ms: f64,
        last_ms: Option<f64>,
        plan: &Plan,
    ) -> Self {
        let last = last_ms.unwrap_or(0.0);
        let floor_ms = last + tuning.min_gap_ms;
        let due_ms = match strategy {
            Strategy::Fixed { interval_ms } => last + interval_ms,
            Strategy::RoundRobin => floor_ms,
            Strategy::Scheduled => plan.next_after(last),
        };
        Self {
            elapsed_ms,
            last_poll_elapsed_ms: last_ms,
            floor_ms,
            due_ms: due_ms.max(floor_ms),
        }
    }

    fn since_last_poll(&self) -> f64 {
        self.elapsed_ms - self.last_poll_elapsed_ms.unwrap_or(0.0)
    }

    /// How long from now until the candidate is due (0: it is).
    pub fn due_in(&self) -> f64 {
        (self.due_ms - self.elapsed_ms).max(0.0)
    }

    /// Whether the candidate is due: on its plan under the scheduler.
    pub fn is_due(&self) -> bool {
        self.elapsed_ms >= self.due_ms
    }

    /// How long from now until `strategy` may hand the candidate a slot (0: now): under the
    /// scheduler once its floor has passed, under the others once it is due. The poll loop
    /// sleeps until the soonest of these instead of checking on a timer.
    pub fn eligible_in(&self, strategy: Strategy) -> f64 {
        match strategy {
            Strategy::Scheduled => (self.floor_ms - self.elapsed_ms).max(0.0),
            Strategy::RoundRobin | Strategy::Fixed { .. } => self.due_in(),
        }
    }
}

/// The candidate to hand a slot now under `strategy`, or `None` if none may have one yet. The
/// scheduler takes the job past its floor that is most overdue on its plan (largest
/// `elapsed - due`): a job due on its plan before any other, and when none is due, the one
/// closest to being due. Round-robin and the fixed loop take the due job polled least
/// recently. Ties go to the job that has waited longest since its last poll.
pub fn pick(candidates: &[Candidate], strategy: Strategy) -> Option<usize> {
    let eligible = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eligible_in(strategy) == 0.0);
    let pick = match strategy {
        Strategy::Scheduled => eligible.max_by(|a, b| {
            let overdue = |c: &Candidate| c.elapsed_ms - c.due_ms;
            overdue(a.1)
                .total_cmp(&overdue(b.1))
                .then(a.1.since_last_poll().total_cmp(&b.1.since_last_poll()))
        }),
        Strategy::RoundRobin | Strategy::Fixed { .. } => {
            eligible.max_by(|a, b| a.1.since_last_poll().total_cmp(&b.1.since_last_poll()))
        }
    };
    pick.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::render::RenderModel;

    const T: Tuning = Tuning {
        min_gap_ms: MIN_GAP_MS,
        max_gap_ms: MAX_GAP_MS,
    };

    fn plan(price_ms: f64) -> Plan {
        let model = RenderModel {
            mean_ms: 60_000.0,
            sd_ms: 15_000.0,
        };
        Plan::new(&model, price_ms, T.min_gap_ms, T.max_gap_ms)
    }

    fn cand(strategy: Strategy, elapsed_s: f64, last_s: Option<f64>, price_ms: f64) -> Candidate {
        let last = last_s.map(|s| s * 1000.0);
        Candidate::new(strategy, &T, elapsed_s * 1000.0, last, &plan(price_ms))
    }

    #[test]
    fn while_polls_are_free_a_job_is_polled_as_soon_as_its_floor_passes() {
        let s = Strategy::Scheduled;
        assert_eq!(pick(&[cand(s, 2.0, None, 0.0)], s), Some(0));
        assert_eq!(pick(&[cand(s, 9.0, Some(7.0), 0.0)], s), Some(0));
        assert_eq!(
            pick(&[cand(s, 1.5, None, 0.0)], s),
            None,
            "the first poll waits the floor"
        );
        assert_eq!(pick(&[cand(s, 200.0, Some(199.0), 0.0)], s), None);
    }

    #[test]
    fn when_polls_cost_a_job_early_in_its_render_waits_and_the_most_overdue_goes_first() {
        let s = Strategy::Scheduled;
        let early = cand(s, 10.0, None, 5_000.0);
        assert!(early.due_in() > 0.0, "{early:?}");
        let late = cand(s, 80.0, Some(60.0), 5_000.0);
        let later = cand(s, 90.0, Some(60.0), 5_000.0);
        assert_eq!(pick(&[early, late, later], s), Some(2));
    }

    #[test]
    fn round_robin_polls_the_least_recently_polled_job() {
        let s = Strategy::RoundRobin;
        let c = [
            cand(s, 62.0, Some(60.0), 0.0),
            cand(s, 10.0, Some(1.0), 0.0),
        ];
        assert_eq!(pick(&c, s), Some(1));
    }

    #[test]
    fn the_fixed_loop_polls_any_job_whose_interval_has_passed() {
        let fixed = Strategy::Fixed {
            interval_ms: 2_000.0,
        };
        let c = [
            cand(fixed, 10.0, Some(9.0), 0.0),
            cand(fixed, 10.0, Some(7.5), 0.0),
        ];
        assert_eq!(pick(&c, fixed), Some(1));
        assert_eq!(pick(&c[..1], fixed), None);
        assert_eq!(c[0].due_in(), 1_000.0);
    }

    #[test]
    fn a_slot_no_job_due_on_its_plan_wants_goes_to_the_job_past_its_floor_closest_to_its_plan() {
        let s = Strategy::Scheduled;
        let closer = cand(s, 30.0, None, 5_000.0);
        let early = cand(s, 10.0, None, 5_000.0);
        assert!(!closer.is_due() && !early.is_due(), "{closer:?} {early:?}");
        assert_eq!(pick(&[early, closer], s), Some(1));
        assert_eq!(
            pick(&[early], s),
            Some(0),
            "a spare slot is never left unused"
        );
    }

    #[test]
    fn a_job_inside_its_floor_never_gets_a_slot_even_when_closest_to_its_plan() {
        let s = Strategy::Scheduled;
        let just_polled = cand(s, 40.0, Some(39.0), 5_000.0);
        let early = cand(s, 10.0, None, 5_000.0);
        assert!(just_polled.elapsed_ms - just_polled.due_ms > early.elapsed_ms - early.due_ms);
        assert_eq!(pick(&[just_polled, early], s), Some(1));
        assert_eq!(pick(&[just_polled], s), None);
        assert_eq!(just_polled.eligible_in(s), 1_000.0);
    }

    #[test]
    fn a_job_due_on_its_plan_wins_over_one_that_is_not_however_long_that_one_has_waited() {
        let s = Strategy::Scheduled;
        let due = cand(s, 85.0, Some(70.0), 5_000.0);
        let waiting = cand(s, 35.0, None, 5_000.0);
        assert!(due.is_due() && !waiting.is_due(), "{due:?} {waiting:?}");
        assert_eq!(pick(&[waiting, due], s), Some(1));
    }
}
