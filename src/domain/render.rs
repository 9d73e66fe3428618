//! The render-time model: how long a kind of request takes to render, learned from finished
//! jobs (plain Rust, no I/O).
//!
//! Each kind of request ([`crate::domain::request::GenerationRequest::kind_key`]) has a
//! [`RenderStats`]: an exponentially weighted mean and variance of its render times. The store
//! saves and loads these statistics and nothing more; what they mean lives here. The scheduler
//! reads a [`RenderModel`] (a normal distribution) made from them to decide whom to poll.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Learned render time for one kind of request (an exponentially weighted mean and variance).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RenderStats {
    pub mean_ms: f64,
    pub samples: u64,
    /// Exponentially weighted variance (ms²): how much this kind's renders vary.
    #[serde(default)]
    pub var_ms2: f64,
}

/// Past this many samples, newer renders weigh more than old ones (the vendor's speed drifts).
const FULL_MEMORY_SAMPLES: u64 = 20;
/// With fewer samples than this, the learned spread says little: the prior's spread is kept.
const TRUSTED_SPREAD_SAMPLES: u64 = 3;
/// The spread is never taken narrower than this share of the mean, nor under
/// [`MIN_SPREAD_MS`]: a kind that always took the same time still gets polled around it
/// rather than once at the exact mean.
const MIN_SPREAD_SHARE: f64 = 0.05;
const MIN_SPREAD_MS: f64 = 500.0;

impl RenderStats {
    /// The spread of this kind's render times.
    pub fn sd_ms(&self) -> f64 {
        self.var_ms2.max(0.0).sqrt()
    }

    /// Folds one observed render time into the running mean and variance. `unsure_var_ms2` is
    /// how uncertain the observation itself is (a render is only known to lie between two
    /// polls): it counts toward the spread as an expected squared deviation.
    pub fn with_sample(old: Option<Self>, render_ms: f64, unsure_var_ms2: f64) -> Self {
        let unsure = unsure_var_ms2.max(0.0);
        match old {
            None => Self {
                mean_ms: render_ms,
                samples: 1,
                var_ms2: unsure,
            },
            Some(s) => {
                let weight = 1.0 / ((s.samples + 1).min(FULL_MEMORY_SAMPLES) as f64);
                let delta = render_ms - s.mean_ms;
                Self {
                    mean_ms: s.mean_ms + delta * weight,
                    samples: s.samples + 1,
                    var_ms2: (1.0 - weight) * (s.var_ms2 + weight * (delta * delta + unsure)),
                }
            }
        }
    }
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
impl RenderModel {
    /// The model for a kind with these statistics (`None`: never seen), given the prior.
    pub fn learned(stats: Option<RenderStats>, prior: Duration) -> Self {
        let prior = Self::prior(prior);
        match stats {
            Some(s) if s.samples > 0 => Self {
                mean_ms: s.mean_ms,
                sd_ms: if s.samples < TRUSTED_SPREAD_SAMPLES {
                    prior.sd_ms.max(s.mean_ms * 0.5)
                } else {
                    s.sd_ms()
                        .max(s.mean_ms * MIN_SPREAD_SHARE)
                        .max(MIN_SPREAD_MS)
                },
            },
            _ => prior,
        }
    }
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

    #[test]
    fn the_cdf_is_a_half_at_the_mean_and_rises() {
        let m = model(60.0);
        assert!((m.cdf(60_000.0) - 0.5).abs() < 1e-6);
        assert!(m.cdf(30_000.0) < 0.05);
        assert!(m.cdf(120_000.0) > 0.99);
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
    fn render_times_are_learned_as_a_running_mean() {
        let s = RenderStats::with_sample(None, 100.0, 0.0);
        let s = RenderStats::with_sample(Some(s), 200.0, 0.0);
        assert_eq!(s.samples, 2);
        assert!((s.mean_ms - 150.0).abs() < 1e-9);
        // Two samples 100 apart: a spread of 50 (the weighted variance of the pair).
        assert!((s.sd_ms() - 50.0).abs() < 1e-9, "{}", s.sd_ms());
        let mut steady = None;
        for _ in 0..30 {
            steady = Some(RenderStats::with_sample(steady, 1000.0, 0.0));
        }
        assert_eq!(steady.unwrap().sd_ms(), 0.0);
    }

    #[test]
    fn an_unsure_render_time_widens_the_learned_spread() {
        let (mut sure, mut unsure) = (None, None);
        for _ in 0..30 {
            sure = Some(RenderStats::with_sample(sure, 1000.0, 0.0));
            unsure = Some(RenderStats::with_sample(unsure, 1000.0, 100.0 * 100.0));
        }
        let unsure = unsure.unwrap();
        assert!((unsure.mean_ms - 1000.0).abs() < 1e-9);
        assert!((unsure.sd_ms() - 100.0).abs() < 10.0, "{}", unsure.sd_ms());
        assert_eq!(sure.unwrap().sd_ms(), 0.0);
    }

    #[test]
    fn a_kind_never_seen_gets_the_prior_and_a_steady_kind_keeps_a_floor_of_spread() {
        let prior = RenderModel::learned(None, Duration::from_secs(60));
        assert_eq!(prior, RenderModel::prior(Duration::from_secs(60)));
        let steady = RenderStats {
            mean_ms: 40_000.0,
            samples: 30,
            var_ms2: 0.0,
        };
        let m = RenderModel::learned(Some(steady), Duration::from_secs(60));
        assert_eq!(m.mean_ms, 40_000.0);
        assert_eq!(m.sd_ms, 2_000.0);
    }
}
