//! The render-time model: how long a kind of request takes to render, learned from finished
//! jobs (plain Rust, no I/O).
//!
//! Each kind of request ([`crate::domain::request::GenerationRequest::kind_key`]) has a
//! [`RenderStats`]: an exponentially weighted mean and variance of its render times, and the
//! brackets the latest renders were seen in (still running at one poll, done at the next). The
//! store saves and loads these statistics and nothing more; what they mean lives here.
//!
//! The scheduler reads a [`RenderModel`] made from them: a normal distribution while few
//! renders are known, then one that keeps the shape of what was seen. Render times are not
//! always bell-shaped (uniform over a range, two clusters), and a normal fitted to them puts
//! polls where renders do not end. The shape is the distribution most likely to have produced
//! the brackets (Turnbull's EM for interval-censored times, on a grid), smoothed by a kernel.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Learned render time for one kind of request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderStats {
    pub mean_ms: f64,
    pub samples: u64,
    /// Exponentially weighted variance (ms²): how much this kind's renders vary.
    #[serde(default)]
    pub var_ms2: f64,
    /// The brackets of the latest renders, oldest first (`[still running at, done by]`, ms
    /// since the submit): at most [`RECENT_SAMPLES`].
    #[serde(default)]
    pub recent: Vec<[f64; 2]>,
}

/// A render seen between two polls: still running at `after_ms`, done by `by_ms` (both since
/// the submit), and what the model of the time made of it ([`RenderModel::observe`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pub after_ms: f64,
    pub by_ms: f64,
    /// The render's expected time within the bracket, and the variance left about it.
    pub estimate_ms: f64,
    pub unsure_var_ms2: f64,
}

impl Observed {
    /// A render known to have taken exactly `ms`.
    pub fn exactly(ms: f64) -> Self {
        Self {
            after_ms: ms,
            by_ms: ms,
            estimate_ms: ms,
            unsure_var_ms2: 0.0,
        }
    }
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
/// How many of the latest brackets are kept for the model's shape.
pub const RECENT_SAMPLES: usize = 32;
/// From this many kept brackets on, the model follows their shape instead of a normal.
const SHAPE_SAMPLES: usize = 12;

impl RenderStats {
    /// The spread of this kind's render times.
    pub fn sd_ms(&self) -> f64 {
        self.var_ms2.max(0.0).sqrt()
    }

    /// Folds one observed render into the running mean and variance, and keeps its bracket.
    /// The estimate's own uncertainty (a render is only known to lie between two polls) counts
    /// toward the spread as an expected squared deviation.
    pub fn with_sample(old: Option<Self>, seen: &Observed) -> Self {
        let (render_ms, unsure) = (seen.estimate_ms, seen.unsure_var_ms2.max(0.0));
        let mut next = match old {
            None => Self {
                mean_ms: render_ms,
                samples: 1,
                var_ms2: unsure,
                recent: Vec::new(),
            },
            Some(s) => {
                let weight = 1.0 / ((s.samples + 1).min(FULL_MEMORY_SAMPLES) as f64);
                let delta = render_ms - s.mean_ms;
                Self {
                    mean_ms: s.mean_ms + delta * weight,
                    samples: s.samples + 1,
                    var_ms2: (1.0 - weight) * (s.var_ms2 + weight * (delta * delta + unsure)),
                    recent: s.recent,
                }
            }
        };
        let extra = (next.recent.len() + 1).saturating_sub(RECENT_SAMPLES);
        next.recent.drain(..extra.min(next.recent.len()));
        let (a, b) = (seen.after_ms.min(seen.by_ms), seen.after_ms.max(seen.by_ms));
        next.recent.push([a.max(0.0), b.max(0.0)]);
        next
    }
}

/// How long a kind of request takes to render, as the scheduler reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderModel {
    /// The expected render time (shown to users as progress).
    pub mean_ms: f64,
    pub sd_ms: f64,
    /// The shape of the recent renders, when enough are known; a normal otherwise.
    shape: Option<Arc<Shape>>,
}

/// The share of the render-time distribution kept for the model being wrong about a job: a
/// render may also take any time at all, spread like an exponential with the model's mean. A
/// job still running long after the model expected it to end is then taken as one that may end
/// at any moment, at a steady rate, so it keeps being polled at a steady pace rather than at
/// every slot (the model sure it is done) or never (sure it is not).
const SURPRISE: f64 = 0.01;
/// Past this many spreads from the mean, a normal's tail is taken as zero.
const FAR_SPREADS: f64 = 12.0;

impl RenderModel {
    /// A normal distribution.
    pub fn normal(mean_ms: f64, sd_ms: f64) -> Self {
        Self {
            mean_ms,
            sd_ms: sd_ms.max(1.0),
            shape: None,
        }
    }

    /// A prior for a kind never seen: the mean given, a wide spread.
    pub fn prior(mean: Duration) -> Self {
        let mean_ms = mean.as_secs_f64() * 1000.0;
        Self::normal(mean_ms, mean_ms * 0.5)
    }

    /// The model for a kind with these statistics (`None`: never seen), given the prior.
    pub fn learned(stats: Option<&RenderStats>, prior: Duration) -> Self {
        let prior = Self::prior(prior);
        let Some(s) = stats.filter(|s| s.samples > 0) else {
            return prior;
        };
        let sd_ms = if s.samples < TRUSTED_SPREAD_SAMPLES {
            prior.sd_ms.max(s.mean_ms * 0.5)
        } else {
            s.sd_ms()
                .max(s.mean_ms * MIN_SPREAD_SHARE)
                .max(MIN_SPREAD_MS)
        };
        let normal = Self::normal(s.mean_ms, sd_ms);
        Self {
            shape: Shape::fit(&s.recent, &normal).map(Arc::new),
            ..normal
        }
    }

    /// Whether the model follows the shape of recent renders rather than a normal.
    pub fn is_shaped(&self) -> bool {
        self.shape.is_some()
    }

    fn z(&self, t_ms: f64) -> f64 {
        (t_ms - self.mean_ms) / self.sd_ms
    }

    /// Chance that a job has finished by `t_ms` (the surprise left out).
    pub fn cdf(&self, t_ms: f64) -> f64 {
        match &self.shape {
            Some(shape) => shape.cdf(t_ms),
            None => 1.0 - upper_tail(self.z(t_ms)),
        }
    }

    /// Chance that a render takes longer than `t_ms`, the surprise included.
    pub fn survival(&self, t_ms: f64) -> f64 {
        (1.0 - SURPRISE) * (1.0 - self.cdf(t_ms)) + SURPRISE * self.tail(t_ms)
    }

    /// `∫ survival(t) dt` from `a_ms` to `b_ms`: how long a job may be expected to run on
    /// between the two, unconditionally.
    fn survival_integral(&self, a_ms: f64, b_ms: f64) -> f64 {
        let modelled = match &self.shape {
            Some(shape) => shape.ran_until(b_ms) - shape.ran_until(a_ms),
            None => self.sd_ms * (loss(self.z(a_ms)) - loss(self.z(b_ms))),
        };
        let tail = self.tail_ms() * (self.tail(a_ms) - self.tail(b_ms));
        (1.0 - SURPRISE) * modelled + SURPRISE * tail
    }

    /// The delay a job has accrued unseen: how long, on average, it has been done without
    /// anyone knowing, `now_ms` after its submit, when the last poll (or the submit, at 0) saw
    /// it still running at `last_ms`. This is what polling it now would save; it grows slowly
    /// while the render cannot have ended yet and fast once it probably has.
    pub fn unseen_delay(&self, last_ms: f64, now_ms: f64) -> f64 {
        let a = last_ms.max(0.0);
        let b = now_ms.max(a);
        let still = self.survival(a);
        if still <= 0.0 {
            return b - a;
        }
        // Of the time since the last poll, the part the job is expected to have run on for.
        let ran_on = (self.survival_integral(a, b) / still).clamp(0.0, b - a);
        (b - a) - ran_on
    }

    /// What a render still running at `after_ms` and done at `by_ms` is taken to have been,
    /// under this model (see [`RenderModel::within`]).
    pub fn observe(&self, after_ms: f64, by_ms: f64) -> Observed {
        let (estimate_ms, unsure_var_ms2) = self.within(after_ms, by_ms);
        Observed {
            after_ms,
            by_ms,
            estimate_ms,
            unsure_var_ms2,
        }
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
        let found = match &self.shape {
            Some(shape) => shape.within(a, b),
            None => self.normal_within(a, b),
        };
        match found {
            Some((mean, var)) if mean.is_finite() && var.is_finite() && (a..=b).contains(&mean) => {
                (mean, var.max(0.0))
            }
            _ => uniform,
        }
    }

    /// The normal's mean and variance between `a` and `b` (`None`: it puts no mass there).
    fn normal_within(&self, a: f64, b: f64) -> Option<(f64, f64)> {
        let sd = self.sd_ms;
        let (alpha, beta) = (self.z(a), self.z(b));
        let mass = upper_tail(alpha) - upper_tail(beta);
        if mass < 1e-9 {
            return None;
        }
        let (pa, pb) = (normal_pdf(alpha), normal_pdf(beta));
        let shift = (pa - pb) / mass;
        let mean = self.mean_ms + sd * shift;
        let var = sd * sd * (1.0 + (alpha * pa - beta * pb) / mass - shift * shift);
        Some((mean, var))
    }

    /// The surprise's survival: an exponential with the model's mean.
    fn tail(&self, t_ms: f64) -> f64 {
        (-t_ms.max(0.0) / self.tail_ms()).exp()
    }

    fn tail_ms(&self) -> f64 {
        self.mean_ms.max(1.0)
    }
}

/// Grid cells of a learned shape.
const BINS: usize = 128;
/// Rounds of EM when fitting a shape: plenty for a 128-cell grid and 32 brackets.
const EM_ROUNDS: usize = 40;

/// A render-time distribution on a grid: constant density within each cell, nothing past the
/// last.
#[derive(Debug, PartialEq)]
struct Shape {
    width_ms: f64,
    /// Chance the render has ended by each cell's edge: `cdf[0] = 0`, `cdf[BINS] = 1`.
    cdf: Vec<f64>,
    /// `∫ (1 − cdf)` from 0 to each cell's edge.
    ran: Vec<f64>,
}

impl Shape {
    /// The distribution most likely to have produced `brackets`, smoothed; `None` with too
    /// few of them. EM starts from `start` (the normal fitted to the same renders).
    fn fit(brackets: &[[f64; 2]], start: &RenderModel) -> Option<Self> {
        if brackets.len() < SHAPE_SAMPLES {
            return None;
        }
        let top = brackets.iter().map(|r| r[1]).fold(0.0, f64::max);
        let width = (top * 1.25 / BINS as f64).max(1.0);
        // Each bracket's first cell and its overlap with each cell it covers (a share of the
        // cell); a bracket narrower than a cell covers the cell it lies in.
        let covers: Vec<(usize, Vec<f64>)> = brackets
            .iter()
            .map(|&[a, b]| {
                let (a, b) = if b - a < width * 1e-3 {
                    let mid = (a + b) / 2.0;
                    let cell = ((mid / width).floor()).min(BINS as f64 - 1.0);
                    (cell * width, (cell + 1.0) * width)
                } else {
                    (a, b)
                };
                let first = ((a / width).floor() as usize).min(BINS - 1);
                let last = ((b / width).ceil() as usize).clamp(first + 1, BINS);
                let share = (first..last)
                    .map(|j| {
                        let (lo, hi) = (j as f64 * width, (j + 1) as f64 * width);
                        ((b.min(hi) - a.max(lo)) / width).max(0.0)
                    })
                    .collect();
                (first, share)
            })
            .collect();
        let mut p: Vec<f64> = (0..BINS)
            .map(|j| {
                let cell = start.cdf((j + 1) as f64 * width) - start.cdf(j as f64 * width);
                cell.max(0.0) + 1e-6
            })
            .collect();
        normalise(&mut p);
        for _ in 0..EM_ROUNDS {
            let mut next = vec![0.0; BINS];
            for (first, share) in &covers {
                let cells = &p[*first..*first + share.len()];
                let mass: f64 = cells.iter().zip(share).map(|(p, s)| p * s).sum();
                if mass <= 0.0 {
                    continue;
                }
                for (k, s) in share.iter().enumerate() {
                    next[first + k] += p[first + k] * s / mass;
                }
            }
            normalise(&mut next);
            p = next;
        }
        let p = smooth(&p, width, brackets.len());
        let mut cdf = vec![0.0; BINS + 1];
        let mut ran = vec![0.0; BINS + 1];
        for j in 0..BINS {
            cdf[j + 1] = (cdf[j] + p[j]).min(1.0);
            ran[j + 1] = ran[j] + width * (2.0 - cdf[j] - cdf[j + 1]) / 2.0;
        }
        cdf[BINS] = 1.0;
        Some(Self {
            width_ms: width,
            cdf,
            ran,
        })
    }

    /// The cell `t_ms` falls in and how far into it (`None`: before 0 or past the grid).
    fn locate(&self, t_ms: f64) -> Option<(usize, f64)> {
        let x = t_ms / self.width_ms;
        (x >= 0.0 && x < BINS as f64).then(|| (x.floor() as usize, x.fract()))
    }

    fn cdf(&self, t_ms: f64) -> f64 {
        match self.locate(t_ms) {
            Some((j, f)) => self.cdf[j] + (self.cdf[j + 1] - self.cdf[j]) * f,
            None if t_ms < 0.0 => 0.0,
            None => 1.0,
        }
    }

    /// `∫ (1 − cdf)` from 0 to `t_ms`.
    fn ran_until(&self, t_ms: f64) -> f64 {
        match self.locate(t_ms) {
            Some((j, f)) => {
                let (s0, s1) = (1.0 - self.cdf[j], 1.0 - self.cdf[j + 1]);
                let at = s0 + (s1 - s0) * f;
                self.ran[j] + self.width_ms * f * (s0 + at) / 2.0
            }
            None if t_ms < 0.0 => 0.0,
            None => self.ran[BINS],
        }
    }

    /// The mean and variance of the part of the distribution between `a` and `b` (`None`: it
    /// has no mass there).
    fn within(&self, a: f64, b: f64) -> Option<(f64, f64)> {
        let (mut mass, mut first, mut second) = (0.0, 0.0, 0.0);
        for j in 0..BINS {
            let (lo, hi) = (j as f64 * self.width_ms, (j + 1) as f64 * self.width_ms);
            let (lo, hi) = (lo.max(a), hi.min(b));
            if hi <= lo {
                continue;
            }
            let density = (self.cdf[j + 1] - self.cdf[j]) / self.width_ms;
            let m = density * (hi - lo);
            mass += m;
            first += m * (lo + hi) / 2.0;
            second += m * (lo * lo + lo * hi + hi * hi) / 3.0;
        }
        if mass < 1e-9 {
            return None;
        }
        let mean = first / mass;
        Some((mean, second / mass - mean * mean))
    }
}

fn normalise(p: &mut [f64]) {
    let total: f64 = p.iter().sum();
    if total > 0.0 {
        p.iter_mut().for_each(|x| *x /= total);
    }
}

/// Spreads each cell's mass over its neighbours with a normal kernel as wide as Silverman's
/// rule asks for `n` observations (never narrower than the model's floor of spread); mass that
/// would fall off the grid stays on it.
fn smooth(p: &[f64], width: f64, n: usize) -> Vec<f64> {
    let centre = |j: usize| (j as f64 + 0.5) * width;
    let mean: f64 = p.iter().enumerate().map(|(j, m)| m * centre(j)).sum();
    let var: f64 = p
        .iter()
        .enumerate()
        .map(|(j, m)| m * (centre(j) - mean).powi(2))
        .sum();
    let bandwidth = (0.4 * var.sqrt() * (n as f64).powf(-0.2))
        .max(mean * MIN_SPREAD_SHARE / 2.0)
        .max(MIN_SPREAD_MS / 2.0)
        .max(width / 2.0);
    let mut out = vec![0.0; p.len()];
    let mut weights = vec![0.0; p.len()];
    for (k, &mass) in p.iter().enumerate() {
        if mass <= 0.0 {
            continue;
        }
        for (j, w) in weights.iter_mut().enumerate() {
            *w = normal_pdf((centre(j) - centre(k)) / bandwidth);
        }
        let total: f64 = weights.iter().sum();
        for (o, w) in out.iter_mut().zip(&weights) {
            *o += mass * w / total;
        }
    }
    out
}

/// Chance that a standard normal variable exceeds `z`, accurate in its far tail too.
fn upper_tail(z: f64) -> f64 {
    if z > FAR_SPREADS {
        return 0.0;
    }
    if z < -FAR_SPREADS {
        return 1.0;
    }
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The standard normal loss function, `∫ upper_tail(u) du` from `z` to infinity.
fn loss(z: f64) -> f64 {
    if z > FAR_SPREADS {
        return 0.0;
    }
    if z < -FAR_SPREADS {
        return -z;
    }
    (normal_pdf(z) - z * upper_tail(z)).max(0.0)
}

/// The complementary error function, with a relative error under 1.2e-7 everywhere
/// (Numerical Recipes' `erfcc`).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal density.
fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(mean_s: f64) -> RenderModel {
        RenderModel::normal(mean_s * 1000.0, mean_s * 250.0)
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
        let s = RenderStats::with_sample(None, &Observed::exactly(100.0));
        let s = RenderStats::with_sample(Some(s), &Observed::exactly(200.0));
        assert_eq!(s.samples, 2);
        assert!((s.mean_ms - 150.0).abs() < 1e-9);
        // Two samples 100 apart: a spread of 50 (the weighted variance of the pair).
        assert!((s.sd_ms() - 50.0).abs() < 1e-9, "{}", s.sd_ms());
        let mut steady = None;
        for _ in 0..30 {
            steady = Some(RenderStats::with_sample(
                steady.take(),
                &Observed::exactly(1000.0),
            ));
        }
        assert_eq!(steady.unwrap().sd_ms(), 0.0);
    }

    #[test]
    fn an_unsure_render_time_widens_the_learned_spread() {
        let (mut sure, mut unsure) = (None, None);
        for _ in 0..30 {
            sure = Some(RenderStats::with_sample(
                sure.take(),
                &Observed::exactly(1000.0),
            ));
            let seen = Observed {
                unsure_var_ms2: 100.0 * 100.0,
                ..Observed::exactly(1000.0)
            };
            unsure = Some(RenderStats::with_sample(unsure.take(), &seen));
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
            recent: Vec::new(),
        };
        let m = RenderModel::learned(Some(&steady), Duration::from_secs(60));
        assert_eq!(m.mean_ms, 40_000.0);
        assert_eq!(m.sd_ms, 2_000.0);
    }

    /// Statistics learned from renders each seen between `after` and `by` seconds.
    fn learned_from(brackets: &[(f64, f64)]) -> RenderStats {
        let normal = RenderModel::prior(Duration::from_secs(60));
        brackets
            .iter()
            .fold(None, |stats, &(after, by)| {
                let seen = normal.observe(after * 1000.0, by * 1000.0);
                Some(RenderStats::with_sample(stats, &seen))
            })
            .unwrap()
    }

    #[test]
    fn the_unseen_delay_is_what_polling_now_would_save() {
        let m = RenderModel::normal(60_000.0, 5_000.0);
        assert_eq!(m.unseen_delay(30_000.0, 30_000.0), 0.0);
        // Half-way through a render of 60 ± 5 s, only the model being wrong counts: little.
        assert!(
            m.unseen_delay(0.0, 20_000.0) < 50.0,
            "{}",
            m.unseen_delay(0.0, 20_000.0)
        );
        // Not polled since the submit, 100 s on: done at about 60 s, so about 40 s unseen.
        let late = m.unseen_delay(0.0, 100_000.0);
        assert!((late - 40_000.0).abs() < 1_000.0, "{late}");
        let mut before = 0.0;
        for now in (0..=100).map(|s| f64::from(s) * 1000.0) {
            let d = m.unseen_delay(0.0, now);
            assert!(
                d >= before,
                "the unseen delay fell at {now}: {d} < {before}"
            );
            before = d;
        }
    }

    #[test]
    fn long_past_its_model_a_job_may_end_at_a_steady_rate() {
        // Still running at 300 s against 60 ± 5 s: only the exponential surprise is left (its
        // mean is the model's, 60 s), so 30 s on, 30 − 60·(1 − e^(−1/2)) s are unseen, and the
        // same at 600 s as at 300 s.
        let m = RenderModel::normal(60_000.0, 5_000.0);
        let expected = 30_000.0 - 60_000.0 * (1.0 - (-0.5f64).exp());
        for last in [300_000.0, 600_000.0] {
            let d = m.unseen_delay(last, last + 30_000.0);
            assert!((d - expected).abs() < 10.0, "{d} vs {expected}");
        }
    }

    #[test]
    fn old_statistics_without_brackets_still_load_as_a_normal() {
        let old: RenderStats =
            serde_json::from_str(r#"{"mean_ms":40000.0,"samples":30,"var_ms2":4e6}"#).unwrap();
        assert!(old.recent.is_empty());
        let m = RenderModel::learned(Some(&old), Duration::from_secs(60));
        assert!(!m.is_shaped());
        assert!((m.cdf(40_000.0) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn only_the_latest_brackets_are_kept() {
        let stats = learned_from(
            &(0..50)
                .map(|i| (f64::from(i), f64::from(i) + 1.0))
                .collect::<Vec<_>>(),
        );
        assert_eq!(stats.samples, 50);
        assert_eq!(stats.recent.len(), RECENT_SAMPLES);
        assert_eq!(stats.recent[0], [18_000.0, 19_000.0]);
        assert_eq!(stats.recent[RECENT_SAMPLES - 1], [49_000.0, 50_000.0]);
    }

    #[test]
    fn renders_in_two_clusters_are_learned_as_two_clusters_not_one_bell() {
        // Half the renders take about 30 s, half about 120 s, each seen between two polls 4 s
        // apart; a few were first polled only after they had ended.
        let mut brackets = Vec::new();
        for i in 0..14 {
            let jitter = f64::from(i % 5) - 2.0;
            brackets.push((28.0 + jitter, 32.0 + jitter));
            brackets.push((118.0 + jitter, 122.0 + jitter));
        }
        brackets.extend([(0.0, 40.0), (0.0, 130.0), (60.0, 125.0), (2.0, 35.0)]);
        let stats = learned_from(&brackets);
        let shaped = RenderModel::learned(Some(&stats), Duration::from_secs(60));
        let normal = RenderModel::normal(stats.mean_ms, stats.sd_ms());
        assert!(shaped.is_shaped());
        let between = |m: &RenderModel| m.cdf(100_000.0) - m.cdf(50_000.0);
        assert!(between(&shaped) < 0.05, "{}", between(&shaped));
        assert!(between(&normal) > 0.3, "{}", between(&normal));
        assert!(
            (shaped.cdf(75_000.0) - 0.5).abs() < 0.1,
            "{}",
            shaped.cdf(75_000.0)
        );
        let near = |at: f64| shaped.cdf(at + 15_000.0) - shaped.cdf(at - 15_000.0);
        assert!(
            near(30_000.0) > 0.4 && near(120_000.0) > 0.4,
            "{}",
            near(30_000.0)
        );
        // Seen running at 40 s, a job will most likely not end before about 115 s: polling it
        // at 100 s would save far less than the bell, which calls it likely done, says.
        let unseen = |m: &RenderModel| m.unseen_delay(40_000.0, 100_000.0);
        assert!(
            unseen(&shaped) * 2.0 < unseen(&normal),
            "{} vs {}",
            unseen(&shaped),
            unseen(&normal)
        );
        // A bracket over one cluster is learned inside it.
        let (mean, _) = shaped.within(20_000.0, 60_000.0);
        assert!((mean - 30_000.0).abs() < 3_000.0, "{mean}");
    }
}
