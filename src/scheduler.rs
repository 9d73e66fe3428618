//! Which running job to poll next (plain Rust, no I/O).
//!
//! Polls are the scarce resource: at the vendor's 60 requests a minute, a fixed 2-second loop
//! serves two jobs. Instead of polling everyone in turn, each slot goes to the job whose chance
//! of having finished since its last poll is highest. Render times are modelled per kind of
//! request as a normal distribution around the learned mean (the spread is learned too), so a
//! job is left alone early in its expected render and polled more often as it nears the point
//! where it most likely finished.

use std::time::Duration;

/// The fewest milliseconds between two polls of one job (the vendor's own examples use 2 s).
pub const MIN_GAP_MS: f64 = 2_000.0;
/// A job is polled at least this often, whatever the model says.
pub const MAX_GAP_MS: f64 = 30_000.0;
/// Below this chance of news, a poll is not worth a request.
pub const MIN_SCORE: f64 = 0.04;

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

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderModel {
    pub mean_ms: f64,
    pub sd_ms: f64,
}

impl RenderModel {
    /// A prior for a kind never seen: the mean given, a wide spread.
    pub fn prior(mean: Duration) -> Self {
        let mean_ms = mean.as_secs_f64() * 1000.0;
        Self {
            mean_ms,
            sd_ms: mean_ms * 0.5,
        }
    }

    /// Chance that a job has finished by `t_ms`.
    pub fn cdf(&self, t_ms: f64) -> f64 {
        let sd = self.sd_ms.max(1.0);
        0.5 * (1.0 + erf((t_ms - self.mean_ms) / (sd * std::f64::consts::SQRT_2)))
    }

    /// What a render is known to have taken when it was still running at `after_ms` and done at
    /// `by_ms`: its expected time and the variance left about it, under this model.
    ///
    /// Polls only bracket a render, and the bracket can be wide (a job first polled when it was
    /// already done is only known to have taken less than that). The midpoint of a wide bracket
    /// is a poor guess; the model's own expectation within it is the one that, fed back into
    /// the running mean and variance, converges on the true spread (an EM step for
    /// interval-censored times). When the model calls the bracket impossible, the midpoint and
    /// a uniform spread over the bracket are used instead.
    pub fn within(&self, after_ms: f64, by_ms: f64) -> (f64, f64) {
        let (a, b) = (after_ms.min(by_ms), after_ms.max(by_ms));
        let uniform = ((a + b) / 2.0, (b - a).powi(2) / 12.0);
        let sd = self.sd_ms.max(1.0);
        let (alpha, beta) = ((a - self.mean_ms) / sd, (b - self.mean_ms) / sd);
        let mass = self.cdf(b) - self.cdf(a);
        if mass < 1e-9 {
            return uniform;
        }
        let (pa, pb) = (normal_pdf(alpha), normal_pdf(beta));
        let shift = (pa - pb) / mass;
        let mean = self.mean_ms + sd * shift;
        let var = sd * sd * (1.0 + (alpha * pa - beta * pb) / mass - shift * shift);
        if !(mean.is_finite() && var.is_finite()) || mean < a || mean > b {
            return uniform;
        }
        (mean, var.max(0.0))
    }
}

/// The standard normal density.
fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

impl Candidate {
    /// Chance that the job finished since its last poll, given it had not finished then.
    pub fn score(&self) -> f64 {
        self.score_with(&Tuning::default())
    }

    fn since_last_poll(&self) -> f64 {
        self.elapsed_ms - self.last_poll_elapsed_ms.unwrap_or(0.0)
    }

    pub fn score_with(&self, tuning: &Tuning) -> f64 {
        let last = self.last_poll_elapsed_ms.unwrap_or(0.0);
        let since = self.elapsed_ms - last;
        if self.last_poll_elapsed_ms.is_some() && since < tuning.min_gap_ms {
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
            hazard.max(MIN_SCORE)
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
            .filter(|(_, c)| {
                c.last_poll_elapsed_ms.is_none() || c.since_last_poll() >= tuning.min_gap_ms
            })
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

/// The index of the candidate to poll now, or `None` if no poll is worth a request yet.
/// Ties go to the job that has waited longest since its last poll.
pub fn pick(candidates: &[Candidate]) -> Option<usize> {
    pick_scored(candidates, &Tuning::default())
}

fn pick_scored(candidates: &[Candidate], tuning: &Tuning) -> Option<usize> {
    let mut best: Option<(usize, f64, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let score = c.score_with(tuning);
        if score < MIN_SCORE {
            continue;
        }
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

/// The error function (Abramowitz and Stegun 7.1.26; accurate to 1.5e-7).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    sign * y
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
    fn the_cdf_is_a_half_at_the_mean_and_rises() {
        let m = model(60.0);
        assert!((m.cdf(60_000.0) - 0.5).abs() < 1e-6);
        assert!(m.cdf(30_000.0) < 0.05);
        assert!(m.cdf(120_000.0) > 0.99);
    }

    #[test]
    fn a_job_early_in_its_expected_render_is_not_polled() {
        assert_eq!(pick(&[cand(5.0, None, 60.0)]), None);
    }

    #[test]
    fn a_job_near_its_expected_end_beats_a_job_that_just_started() {
        let c = [cand(10.0, None, 60.0), cand(62.0, Some(50.0), 60.0)];
        assert_eq!(pick(&c), Some(1));
    }

    #[test]
    fn a_job_polled_under_two_seconds_ago_is_never_polled_again() {
        assert_eq!(cand(200.0, Some(199.0), 60.0).score(), 0.0);
    }

    #[test]
    fn a_job_long_overdue_is_polled_and_ties_go_to_the_longest_wait() {
        let c = [
            cand(300.0, Some(290.0), 60.0),
            cand(300.0, Some(280.0), 60.0),
        ];
        assert_eq!(pick(&c), Some(1));
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
    fn a_narrow_bracket_is_learned_as_its_midpoint() {
        let (mean, var) = model(60.0).within(59_000.0, 61_000.0);
        assert!((mean - 60_000.0).abs() < 1.0, "{mean}");
        // Almost flat over two seconds: close to a uniform spread, 2000²/12.
        assert!((var.sqrt() - 577.0).abs() < 10.0, "{}", var.sqrt());
    }

    #[test]
    fn a_wide_bracket_is_learned_where_the_model_puts_the_render() {
        // First polled at 200 s and already done: under a 60 ± 15 s model, it took about 60 s,
        // not the 100 s midpoint, and the spread left is the model's own.
        let (mean, var) = model(60.0).within(0.0, 200_000.0);
        assert!((mean - 60_000.0).abs() < 50.0, "{mean}");
        assert!((var.sqrt() - 15_000.0).abs() < 100.0, "{}", var.sqrt());
        // Done by 50 s: the expectation moves below 50 s, inside the bracket.
        let (mean, var) = model(60.0).within(0.0, 50_000.0);
        assert!(mean > 30_000.0 && mean < 50_000.0, "{mean}");
        assert!(var > 0.0 && var.sqrt() < 15_000.0);
    }

    #[test]
    fn a_bracket_the_model_calls_impossible_falls_back_to_its_midpoint() {
        let (mean, var) = model(60.0).within(600_000.0, 610_000.0);
        assert!((mean - 605_000.0).abs() < 1e-6, "{mean}");
        assert!((var - 10_000.0f64.powi(2) / 12.0).abs() < 1e-3);
    }

    #[test]
    fn no_job_goes_longer_than_the_max_gap_without_a_poll() {
        // Very early in a very long expected render: the model says wait, the gap says poll.
        let c = cand(31.0, Some(0.5), 600.0);
        assert!(c.score() >= MIN_SCORE);
    }
}
