//! Which running job to poll next (plain Rust, no I/O).
//!
//! Every job may be polled once its floor (the vendor's own 2 s between polls) has passed since
//! its last poll, or since its submit for the first one. While the request budget has room, every
//! such job is polled: a clip is noticed as soon as the budget allows. When the budget is scarce
//! (at the vendor's 60 requests a minute, a fixed 2-second loop serves only two jobs), each slot
//! goes to the job whose chance of having finished since its last poll is highest. Render times
//! are modelled per kind of request as a normal distribution around the learned mean (the spread
//! is learned too), so under load a job early in its expected render waits while one near the
//! point where it most likely finished is polled.

use super::render::RenderModel;

/// The fewest milliseconds between two polls of one job (the vendor's own examples use 2 s).
pub const MIN_GAP_MS: f64 = 2_000.0;
/// A job waiting this long since its last poll competes for slots with at least
/// [`OVERDUE_SCORE`], whatever the model says, so none starves under load.
pub const MAX_GAP_MS: f64 = 30_000.0;
/// The chance of news an overdue job is credited with.
pub const OVERDUE_SCORE: f64 = 0.04;

/// How polls are handed out; the bot uses [`Strategy::Scheduled`], the others exist to be
/// measured against it (see the polling benchmark).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Each slot of the budget goes to the job most likely to have finished.
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
    /// Expected render time and its spread for this kind of request.
    pub model: RenderModel,
}

impl Candidate {
    /// Chance that the job finished since its last poll, given it had not finished then.
    pub fn score(&self) -> f64 {
        self.score_with(&Tuning::default())
    }

    fn since_last_poll(&self) -> f64 {
        self.elapsed_ms - self.last_poll_elapsed_ms.unwrap_or(0.0)
    }

    /// Whether the job's floor has passed: since its last poll, or since its submit.
    pub fn eligible(&self, tuning: &Tuning) -> bool {
        self.since_last_poll() >= tuning.min_gap_ms
    }

    pub fn score_with(&self, tuning: &Tuning) -> f64 {
        let last = self.last_poll_elapsed_ms.unwrap_or(0.0);
        let since = self.elapsed_ms - last;
        if !self.eligible(tuning) {
            return 0.0;
        }
        let before = self.model.cdf(last);
        let now = self.model.cdf(self.elapsed_ms);
        let remaining = 1.0 - before;
        let hazard = if remaining < 1e-9 {
            1.0
        } else {
            ((now - before) / remaining).clamp(0.0, 1.0)
        };
        if since >= tuning.max_gap_ms {
            hazard.max(OVERDUE_SCORE)
        } else {
            hazard
        }
    }
}

/// The candidate to poll now under `strategy`, or `None` if none should be polled yet.
pub fn pick_with(candidates: &[Candidate], strategy: Strategy, tuning: &Tuning) -> Option<usize> {
    match strategy {
        Strategy::Scheduled => pick_scored(candidates, tuning),
        Strategy::RoundRobin => candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.eligible(tuning))
            .max_by(|a, b| a.1.since_last_poll().total_cmp(&b.1.since_last_poll()))
            .map(|(i, _)| i),
        Strategy::Fixed { interval_ms } => candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.since_last_poll() >= interval_ms)
            .max_by(|a, b| a.1.since_last_poll().total_cmp(&b.1.since_last_poll()))
            .map(|(i, _)| i),
    }
}

impl Candidate {
    /// How long from now until this candidate is worth a poll under `strategy` (0: now). The
    /// poll loop sleeps until the soonest of these instead of checking on a timer.
    pub fn due_in(&self, strategy: Strategy, tuning: &Tuning) -> f64 {
        let since = self.since_last_poll();
        match strategy {
            Strategy::Fixed { interval_ms } => (interval_ms - since).max(0.0),
            Strategy::RoundRobin | Strategy::Scheduled => (tuning.min_gap_ms - since).max(0.0),
        }
    }
}

/// The index of the candidate to poll now (the most likely finished among those whose floor
/// has passed), or `None` if no floor has passed yet. Ties go to the job that has waited
/// longest since its last poll.
pub fn pick(candidates: &[Candidate]) -> Option<usize> {
    pick_scored(candidates, &Tuning::default())
}

fn pick_scored(candidates: &[Candidate], tuning: &Tuning) -> Option<usize> {
    let mut best: Option<(usize, f64, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        if !c.eligible(tuning) {
            continue;
        }
        let score = c.score_with(tuning);
        let waited = c.elapsed_ms - c.last_poll_elapsed_ms.unwrap_or(0.0);
        let better = match best {
            None => true,
            Some((_, s, w)) => score > s + 1e-12 || ((score - s).abs() <= 1e-12 && waited > w),
        };
        if better {
            best = Some((i, score, waited));
        }
    }
    best.map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(mean_s: f64) -> RenderModel {
        RenderModel {
            mean_ms: mean_s * 1000.0,
            sd_ms: mean_s * 250.0,
        }
    }

    fn cand(elapsed_s: f64, last_s: Option<f64>, mean_s: f64) -> Candidate {
        Candidate {
            elapsed_ms: elapsed_s * 1000.0,
            last_poll_elapsed_ms: last_s.map(|s| s * 1000.0),
            model: model(mean_s),
        }
    }

    #[test]
    fn a_lone_job_is_polled_as_soon_as_its_floor_passes_whatever_the_model() {
        // Early in a 60 s expected render: the budget is free, so it is polled anyway.
        assert_eq!(pick(&[cand(2.0, None, 60.0)]), Some(0));
        assert_eq!(pick(&[cand(9.0, Some(7.0), 60.0)]), Some(0));
    }

    #[test]
    fn a_job_is_never_polled_before_its_floor() {
        assert_eq!(
            pick(&[cand(1.5, None, 60.0)]),
            None,
            "the first poll waits the floor"
        );
        assert_eq!(pick(&[cand(200.0, Some(199.0), 60.0)]), None);
        assert_eq!(cand(200.0, Some(199.0), 60.0).score(), 0.0);
    }

    #[test]
    fn when_jobs_compete_the_one_near_its_expected_end_wins() {
        let c = [cand(10.0, None, 60.0), cand(62.0, Some(50.0), 60.0)];
        assert_eq!(pick(&c), Some(1));
    }

    #[test]
    fn a_job_long_overdue_competes_and_ties_go_to_the_longest_wait() {
        let c = [
            cand(300.0, Some(290.0), 60.0),
            cand(300.0, Some(280.0), 60.0),
        ];
        assert_eq!(pick(&c), Some(1));
        // Very early in a very long expected render: the model says little, the gap says poll.
        assert!(cand(31.0, Some(0.5), 600.0).score() >= OVERDUE_SCORE);
    }

    #[test]
    fn round_robin_polls_the_least_recently_polled_job_whatever_the_model() {
        let c = [cand(62.0, Some(60.0), 60.0), cand(10.0, Some(1.0), 60.0)];
        let t = Tuning::default();
        assert_eq!(pick_with(&c, Strategy::RoundRobin, &t), Some(1));
        assert_eq!(pick_with(&c, Strategy::Scheduled, &t), Some(0));
    }

    #[test]
    fn the_fixed_loop_polls_any_job_whose_interval_has_passed() {
        let c = [cand(10.0, Some(9.0), 60.0), cand(10.0, Some(7.5), 60.0)];
        let fixed = Strategy::Fixed {
            interval_ms: 2_000.0,
        };
        assert_eq!(pick_with(&c, fixed, &Tuning::default()), Some(1));
        let c = [cand(10.0, Some(9.0), 60.0)];
        assert_eq!(pick_with(&c, fixed, &Tuning::default()), None);
    }

    #[test]
    fn a_candidate_says_when_its_floor_passes() {
        let t = Tuning::default();
        assert_eq!(
            cand(0.5, None, 60.0).due_in(Strategy::Scheduled, &t),
            1_500.0
        );
        assert_eq!(
            cand(10.0, Some(9.0), 60.0).due_in(Strategy::Scheduled, &t),
            1_000.0
        );
        assert_eq!(
            cand(62.0, Some(50.0), 60.0).due_in(Strategy::Scheduled, &t),
            0.0
        );
        assert_eq!(
            cand(10.0, Some(9.0), 60.0).due_in(Strategy::RoundRobin, &t),
            1_000.0
        );
        let fixed = Strategy::Fixed {
            interval_ms: 3_000.0,
        };
        assert_eq!(cand(10.0, Some(9.0), 60.0).due_in(fixed, &t), 2_000.0);
    }
}
