//! The lowest mean detection delay any poll schedule can reach with a given number of polls per
//! job, when render times are uniform over 30–120 s and say nothing about one another (the
//! random scenario), polls at least 2 s apart.
//!
//! Other jobs' renders tell nothing about this one's, so the best a scheduler can do is the best
//! schedule for one job: minimise expected delay + μ · expected polls by dynamic programming over
//! the time of the last poll that saw the job still running (0.5 s grid), and find the μ that
//! spends the polls. Computed, not measured: it shows what a target asks in that scenario.

/// Uncompressed seconds.
pub fn best_possible_delay(polls_per_job: f64) -> f64 {
    const STEP: f64 = 0.5;
    const FROM: f64 = 30.0;
    const TO: f64 = 120.0;
    const GAP: f64 = 2.0;
    let grid: Vec<f64> = (0..=((TO + GAP) / STEP) as usize)
        .map(|i| i as f64 * STEP)
        .collect();
    let survives = |t: f64| ((TO - t.max(FROM)) / (TO - FROM)).clamp(0.0, 1.0);
    // ∫ from l to p of (p − t) f(t) dt, f the uniform density.
    let waited = |l: f64, p: f64| {
        let (a, b) = (l.max(FROM), p.min(TO));
        if b <= a {
            0.0
        } else {
            ((p - a).powi(2) - (p - b).powi(2)) / 2.0 / (TO - FROM)
        }
    };
    // (expected polls, expected delay) of the best schedule from time 0 at price `mu`.
    let solve = |mu: f64| {
        let n = grid.len();
        let (mut delay, mut polls) = (vec![0.0; n], vec![0.0; n]);
        for i in (0..n).rev() {
            let l = grid[i];
            if survives(l) <= 0.0 {
                continue;
            }
            let mut best = (f64::INFINITY, 0.0, 0.0);
            for k in i + 1..n {
                let p = grid[k];
                if p - l < GAP {
                    continue;
                }
                let still = survives(p) / survives(l);
                let d = waited(l, p) / survives(l) + still * delay[k];
                let c = 1.0 + still * polls[k];
                if d + mu * c < best.0 {
                    best = (d + mu * c, d, c);
                }
            }
            (delay[i], polls[i]) = (best.1, best.2);
        }
        (polls[0], delay[0])
    };
    // More expensive polls, fewer of them: bisect the price (on a log scale) to spend the polls.
    let (mut lo, mut hi) = (0.0001f64, 1_000.0f64);
    for _ in 0..50 {
        let mid = (lo * hi).sqrt();
        if solve(mid).0 > polls_per_job {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    solve(hi).1
}
