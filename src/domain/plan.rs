//! When to poll one job: the poll schedule that minimises its expected detection delay plus a
//! price per poll, under its learned render-time model, with polls at least a floor apart
//! (plain Rust, no I/O).
//!
//! Polls share one budget. Giving each job the schedule that is best for it at a common price
//! per poll, and moving that price until the schedules together spend exactly the budget, is
//! the Lagrangian relaxation of the shared budget: with many jobs it approaches the best any
//! schedule can do (the benchmark's `best_possible_delay` computes that bound the same way).
//! At a price of zero (the budget has room) every job is polled at the floor.
//!
//! The schedule is a dynamic program over the time of the last poll that found the job still
//! running, on a grid of a quarter of the floor: from there, the next poll goes where expected
//! delay (given the job is still running) plus the price, plus the expected cost of what comes
//! after, is least.

use super::render::RenderModel;

/// Grid points per floor.
const STEPS_PER_FLOOR: usize = 4;
/// The schedule covers the render-time model up to its mean plus this many spreads.
const HORIZON_SPREADS: f64 = 5.0;
/// Never more states than this (a very long or very spread model is planned coarser).
const MAX_STATES: usize = 2_000;

/// The best next poll time from every state, for one model at one price.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    step_ms: f64,
    floor_ms: f64,
    /// Past the plan (the model is wrong about this job): the gap between polls.
    beyond_ms: f64,
    /// For the last poll at grid state `i`, the best next poll time (elapsed ms).
    next_ms: Vec<f64>,
}

impl Plan {
    /// Plans polls for a job whose render time follows `model`, at `price_ms` (milliseconds of
    /// expected delay one poll is worth), at least `floor_ms` apart; a job still running past
    /// the model's horizon is polled every `overdue_ms` (at the floor when polls are free).
    pub fn new(model: &RenderModel, price_ms: f64, floor_ms: f64, overdue_ms: f64) -> Self {
        let floor_ms = floor_ms.max(1.0);
        if price_ms <= 0.0 {
            return Self {
                step_ms: floor_ms,
                floor_ms,
                beyond_ms: floor_ms,
                next_ms: Vec::new(),
            };
        }
        let beyond_ms = overdue_ms.max(floor_ms);
        let horizon = (model.mean_ms + HORIZON_SPREADS * model.sd_ms.max(1.0)).max(floor_ms);
        let mut step = floor_ms / STEPS_PER_FLOOR as f64;
        if horizon / step > MAX_STATES as f64 {
            step = horizon / MAX_STATES as f64;
        }
        let n = (horizon / step).ceil() as usize + 1;
        let gap = ((floor_ms / step).ceil() as usize).max(1);
        let t = |i: usize| i as f64 * step;
        // Probability mass of each grid cell, and its weight at the cell's middle.
        let cdf: Vec<f64> = (0..=n).map(|i| model.cdf(t(i))).collect();
        let mut mass = vec![0.0; n + 1];
        let mut moment = vec![0.0; n + 1];
        for j in 0..n {
            let m = (cdf[j + 1] - cdf[j]).max(0.0);
            mass[j + 1] = mass[j] + m;
            moment[j + 1] = moment[j] + m * (t(j) + step / 2.0);
        }
        let survives = |i: usize| (1.0 - cdf[i]).max(0.0);
        // Expected delay accrued from a poll at `i` to a poll at `k` (unnormalised).
        let waited = |i: usize, k: usize| t(k) * (mass[k] - mass[i]) - (moment[k] - moment[i]);
        let mut value = vec![0.0; n];
        let mut next_ms = vec![0.0; n];
        for i in (0..n).rev() {
            let s_i = survives(i);
            let mut best = (f64::INFINITY, t(i) + floor_ms);
            if s_i > 1e-12 {
                for (k, after) in value.iter().enumerate().skip(i + gap) {
                    let cost = waited(i, k) / s_i + price_ms + survives(k) / s_i * after;
                    if cost < best.0 {
                        best = (cost, t(k));
                    }
                }
                // Too close to the horizon for another poll inside it.
                if !best.0.is_finite() {
                    best = (price_ms, t(i) + beyond_ms);
                }
            } else {
                best = (0.0, t(i) + beyond_ms);
            }
            value[i] = best.0;
            next_ms[i] = best.1;
        }
        Self {
            step_ms: step,
            floor_ms,
            beyond_ms,
            next_ms,
        }
    }

    /// When to poll next, given that the last poll (or the submit, at 0) was at `last_ms`.
    pub fn next_after(&self, last_ms: f64) -> f64 {
        let last_ms = last_ms.max(0.0);
        let i = (last_ms / self.step_ms).floor() as usize;
        match self.next_ms.get(i) {
            // The grid rounds the last poll down: never earlier than the floor after it.
            Some(&next) => next.max(last_ms + self.floor_ms),
            None => last_ms + self.beyond_ms,
        }
    }
}

/// The price of a poll, moved up and down a ladder until the plans fit the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// 0: polls are free; n: the n-th rung.
    rung: u32,
}

/// Each rung costs this much more than the one below.
const RUNG_STEP: f64 = 1.25;
/// The top of the ladder.
const TOP_RUNG: u32 = 48;

impl Price {
    /// In milliseconds of expected delay per poll; the first rung is a quarter of the floor.
    pub fn ms(self, floor_ms: f64) -> f64 {
        match self.rung {
            0 => 0.0,
            n => floor_ms / 4.0 * RUNG_STEP.powi(n as i32 - 1),
        }
    }

    /// The budget is short: polls cost more.
    pub fn raise(&mut self) {
        self.rung = (self.rung + 1).min(TOP_RUNG);
    }

    /// The budget has room: polls cost less.
    pub fn lower(&mut self) {
        self.rung = self.rung.saturating_sub(1);
    }

    /// The rung, for caching plans per price.
    pub fn rung(self) -> u32 {
        self.rung
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(mean_s: f64, sd_s: f64) -> RenderModel {
        RenderModel {
            mean_ms: mean_s * 1000.0,
            sd_ms: sd_s * 1000.0,
        }
    }

    /// The poll times from the submit until `until_ms`.
    fn schedule(plan: &Plan, until_ms: f64) -> Vec<f64> {
        let mut at = Vec::new();
        let mut last = 0.0;
        while last < until_ms {
            last = plan.next_after(last);
            at.push(last);
        }
        at
    }

    #[test]
    fn the_price_climbs_and_falls_by_rungs_from_free() {
        let mut p = Price::default();
        assert_eq!(p.ms(2_000.0), 0.0);
        p.raise();
        assert_eq!(p.ms(2_000.0), 500.0);
        p.raise();
        assert_eq!(p.ms(2_000.0), 625.0);
        p.lower();
        p.lower();
        p.lower();
        assert_eq!(p, Price::default());
    }

    #[test]
    fn at_no_price_every_poll_comes_at_the_floor() {
        let plan = Plan::new(&model(60.0, 15.0), 0.0, 2_000.0, 30_000.0);
        assert_eq!(
            schedule(&plan, 7_000.0),
            [2_000.0, 4_000.0, 6_000.0, 8_000.0]
        );
    }

    #[test]
    fn a_price_keeps_polls_away_from_where_the_render_cannot_have_ended() {
        let plan = Plan::new(&model(60.0, 5.0), 2_000.0, 2_000.0, 30_000.0);
        let polls = schedule(&plan, 90_000.0);
        // Nothing is worth a poll half-way through a render that takes 60 ± 5 s...
        assert!(polls[0] > 40_000.0, "{polls:?}");
        // ... and once the render may be over, polls come close together, never under the floor.
        let inside: Vec<f64> = polls.iter().copied().filter(|t| *t <= 85_000.0).collect();
        for pair in inside.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((2_000.0 - 1e-6..=4_000.0).contains(&gap), "{polls:?}");
        }
    }

    #[test]
    fn a_higher_price_means_fewer_polls() {
        let m = model(75.0, 26.0);
        let cheap = schedule(&Plan::new(&m, 500.0, 2_000.0, 30_000.0), 150_000.0).len();
        let dear = schedule(&Plan::new(&m, 20_000.0, 2_000.0, 30_000.0), 150_000.0).len();
        assert!(
            dear < cheap,
            "{dear} polls at a high price vs {cheap} at a low one"
        );
    }

    #[test]
    fn past_the_horizon_a_job_is_polled_at_the_overdue_gap_or_the_floor_when_polls_are_free() {
        let plan = Plan::new(&model(10.0, 1.0), 5_000.0, 2_000.0, 30_000.0);
        assert_eq!(plan.next_after(500_000.0), 530_000.0);
        let free = Plan::new(&model(10.0, 1.0), 0.0, 2_000.0, 30_000.0);
        assert_eq!(free.next_after(500_000.0), 502_000.0);
    }

    #[test]
    fn a_poll_before_the_planned_one_never_brings_the_next_planned_poll_earlier() {
        // What makes a spare budget slot safe to give a job that is not due: asked again from
        // the extra poll, its plan never asks for the next poll sooner (only, at times, later:
        // the job was seen running later than the plan assumed).
        for m in [model(75.0, 26.0), model(60.0, 5.0)] {
            for price_ms in [500.0, 2_000.0, 20_000.0] {
                let plan = Plan::new(&m, price_ms, 2_000.0, 30_000.0);
                let mut last = 0.0;
                for planned in schedule(&plan, 150_000.0) {
                    let mut extra = last + 250.0;
                    while extra < planned {
                        let next = plan.next_after(extra);
                        assert!(
                            next >= planned,
                            "{m:?} at {price_ms}: planned {planned} after {last}, {next} after {extra}"
                        );
                        extra += 250.0;
                    }
                    last = planned;
                }
            }
        }
    }
}
