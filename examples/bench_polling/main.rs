//! The polling benchmark: the real engine against the loopback fake PixelDojo.
//!
//! ```text
//! cargo run --release --example bench_polling
//! ```
//!
//! At 1, 3, 10 and 30 jobs in flight, in two scenarios (render times that follow the request,
//! and render times at random), it runs four strategies side by side: the vendor's own loop (a
//! poll every 2 s per job, outside any budget), a round-robin under the bot's budget, and the
//! bot's scheduler cold (a fresh store: only its prior) and warm (the store its cold run
//! taught). For each it reports 429s, API requests per job, and the delay from a render's end to
//! the engine noticing it and to the clip handed to Discord (download included). With random
//! renders it also prints each strategy's ratio to the lowest delay any schedule could reach at
//! its polls per job ([`bound::best_possible_delay`]). Then 200 users run `/omni` at once through
//! the whole app (acknowledgement latency, delivery, peak memory), 1,000 jobs stay in flight
//! (memory, store write time), and a table checks the targets.
//!
//! Time is compressed by [`rig::FACTOR`]: render times, the budget, the fake's rate window, the
//! scheduler's gaps, the prior and the job timeout are all scaled, and every figure is
//! reported back in uncompressed seconds. Everything is in this process, on 127.0.0.1, and
//! bounded by hard timeouts; nothing talks to Discord.

// The fake allows its own dead code (`#![allow(dead_code)]`): the benchmark uses part of it.
#[path = "../../tests/e2e/support/fake_pixeldojo.rs"]
mod fake_pixeldojo;

mod bound;
mod loads;
mod rig;
mod scale;

use std::time::Duration;

use omni_bot::domain::scheduler::Strategy;
use omni_bot::store::Store;

use loads::{Row, Scenario};
use rig::{mean, mean_difference, p95, quantile, verdict, FACTOR, PER_MINUTE};

/// Loads, and how many jobs each measures (see [`loads::run`]). At 3 in flight the p95 is
/// compared with round-robin's, so it takes enough clips not to be the second-largest delay.
const LOADS: [(usize, usize); 4] = [(1, 16), (3, 72), (10, 80), (30, 240)];
const MEMORY_TARGET_MB: f64 = 64.0;
/// The whole process is killed after this, whatever it is doing.
const WATCHDOG: Duration = Duration::from_secs(1_800);

const VENDOR: &str = "vendor loop, every 2 s";
const ROUND_ROBIN: &str = "round-robin under the budget";
const COLD: &str = "scheduler, cold (prior only)";
const WARM: &str = "scheduler, warm (learned)";

struct Load {
    scenario: Scenario,
    load: usize,
    rows: Vec<Row>,
}

impl Load {
    fn row(&self, label: &str) -> &Row {
        self.rows
            .iter()
            .find(|r| r.label == label)
            .expect("every strategy ran")
    }
}

/// The four strategies at one load: the vendor loop, round-robin and the cold scheduler side by
/// side (each against its own fake and budget), then the warm scheduler on the store its cold
/// run taught.
async fn at_load(dir: &std::path::Path, scenario: Scenario, load: usize, total: usize) -> Load {
    let fixed = Strategy::Fixed {
        interval_ms: 2_000.0 / f64::from(FACTOR),
    };
    let open = |name: &str| Store::open(&dir.join(name)).expect("store");
    let tag = format!("{scenario:?}.{load}");
    let (vendor, rr, cold) = (
        open(&format!("{tag}-vendor")),
        open(&format!("{tag}-rr")),
        open(&format!("{tag}-scheduler")),
    );
    eprintln!(
        "{} jobs in flight, {scenario:?}: vendor loop, round-robin, scheduler cold ...",
        load
    );
    let (a, b, c) = tokio::join!(
        loads::run(VENDOR, fixed, &vendor, scenario, load, total, &tag),
        loads::run(
            ROUND_ROBIN,
            Strategy::RoundRobin,
            &rr,
            scenario,
            load,
            total,
            &tag
        ),
        loads::run(
            COLD,
            Strategy::Scheduled,
            &cold,
            scenario,
            load,
            total,
            &tag
        ),
    );
    eprintln!("{} jobs in flight, {scenario:?}: scheduler warm ...", load);
    let d = loads::run(
        WARM,
        Strategy::Scheduled,
        &cold,
        scenario,
        load,
        total,
        &tag,
    )
    .await;
    Load {
        scenario,
        load,
        rows: vec![a, b, c, d],
    }
}

#[tokio::main]
async fn main() {
    std::thread::spawn(|| {
        std::thread::sleep(WATCHDOG);
        eprintln!("bench_polling: watchdog fired after {WATCHDOG:?}");
        std::process::exit(2);
    });
    let dir = tempfile::tempdir().expect("a temp dir");
    // Memory first, so that no peak is inherited from the other runs.
    eprintln!("{} jobs in flight ...", scale::MANY_JOBS);
    let many = scale::many(dir.path()).await;
    eprintln!("{} requests at once ...", scale::CROWD);
    let crowd = scale::crowd(dir.path()).await;
    let mut loads = Vec::new();
    for scenario in [Scenario::Learnable, Scenario::Random] {
        for (load, total) in LOADS {
            loads.push(at_load(dir.path(), scenario, load, total).await);
        }
    }
    report(&loads, &crowd, &many);
}

fn report(loads: &[Load], crowd: &scale::Crowd, many: &scale::Many) {
    for scenario in [Scenario::Learnable, Scenario::Random] {
        println!(
            "#### {PER_MINUTE} requests/minute, {} (run {FACTOR}× faster, figures in real seconds)\n",
            scenario.title()
        );
        println!("| Jobs in flight | Strategy | Jobs done | 429s | API requests per job | Detection delay, mean | p95 | Clip in Discord after, mean | p95 | vs best possible |");
        println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in loads.iter().filter(|l| l.scenario == scenario) {
            for r in &l.rows {
                let bound = match scenario {
                    Scenario::Random => format!(
                        "{:.2}×",
                        mean(&r.detect) / bound::best_possible_delay(r.polls_per_job())
                    ),
                    Scenario::Learnable => "–".to_owned(),
                };
                println!(
                    "| {} | {} | {}/{} | {} | {:.1} | {:.1} s | {:.1} s | {:.1} s | {:.1} s | {bound} |",
                    l.load,
                    r.label,
                    r.finished,
                    r.total,
                    r.count_429,
                    r.requests_per_job(),
                    mean(&r.detect),
                    p95(&r.detect),
                    mean(&r.deliver),
                    p95(&r.deliver),
                );
            }
        }
        println!();
    }
    println!(
        "| {} requests at once (whole app, budget large enough) | Value |\n|---|---:|",
        scale::CROWD
    );
    println!(
        "| Accepted / delivered | {} / {} |",
        crowd.accepted, crowd.delivered
    );
    println!(
        "| Acknowledgement latency p50 / p95 / max | {:.0} ms / {:.0} ms / {:.0} ms |",
        quantile(&crowd.ack_ms, 0.5),
        p95(&crowd.ack_ms),
        crowd.ack_ms.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "| Clip in Discord after the render, mean / p95 | {:.1} s / {:.1} s |",
        mean(&crowd.deliver),
        p95(&crowd.deliver)
    );
    println!(
        "| Peak resident memory (VmHWM) | {:.1} MB |\n",
        crowd.hwm_mb
    );
    println!(
        "| {} jobs in flight | Value |\n|---|---:|",
        scale::MANY_JOBS
    );
    println!(
        "| Jobs in flight / submitted | {} / {} |",
        many.in_flight,
        if many.submitted { "all" } else { "NOT ALL" }
    );
    println!("| Peak resident memory (VmHWM) | {:.1} MB |", many.hwm_mb);
    println!("| Resident memory now (VmRSS) | {:.1} MB |", many.rss_mb);
    println!(
        "| `Store::put_job`, mean / p95 ({} updates) | {:.0} µs / {:.0} µs |",
        scale::STORE_UPDATES,
        mean(&many.put_us),
        p95(&many.put_us)
    );
    println!(
        "| `Store::put_job_durable`, mean / p95 ({} updates) | {:.0} µs / {:.0} µs |\n",
        scale::DURABLE_UPDATES,
        mean(&many.durable_us),
        p95(&many.durable_us)
    );
    targets(loads, crowd, many);
}

fn targets(loads: &[Load], crowd: &scale::Crowd, many: &scale::Many) {
    println!("| Target | Figure | Result |\n|---|---|---|");
    let budgeted_429s: usize = loads
        .iter()
        .flat_map(|l| l.rows.iter().filter(|r| r.budgeted()))
        .map(|r| r.count_429)
        .sum();
    let all_done = loads
        .iter()
        .flat_map(|l| &l.rows)
        .all(|r| r.finished == r.total);
    println!(
        "| Zero 429s under the budget at every load (round-robin and scheduler, both scenarios) | {budgeted_429s} | {} |",
        verdict(budgeted_429s == 0 && all_done)
    );
    for l in loads {
        let name = match l.scenario {
            Scenario::Learnable => "learnable",
            Scenario::Random => "random",
        };
        let (warm, rr, vendor) = (l.row(WARM), l.row(ROUND_ROBIN), l.row(VENDOR));
        let m = mean(&warm.detect);
        // Means are compared within sampling noise: at light loads both poll at the floor, so
        // their expected delays are equal and a strict comparison would be a coin flip.
        let versus = |other: &Row| {
            let (difference, margin) = mean_difference(&warm.detect, &other.detect);
            let figure = format!(
                "{m:.2} s vs {:.2} s (difference {difference:+.2} ± {margin:.2} s, 95%)",
                mean(&other.detect)
            );
            (figure, difference <= margin)
        };
        if l.load <= 3 {
            let (figure, within) = versus(vendor);
            println!(
                "| {} in flight, {name}: mean detection at most the vendor loop's (within sampling noise) and 1.5 s | {figure} | {} |",
                l.load,
                verdict(within && m <= 1.5)
            );
        }
        let (rr_mean, rr_p95) = (mean(&rr.detect), p95(&rr.detect));
        let (figure, within) = versus(rr);
        println!(
            "| {} in flight, {name}: mean no worse than round-robin's (within sampling noise), p95 at most 1.2× | {figure}; p95 {:.2} s vs {rr_p95:.2} s | {} |",
            l.load,
            p95(&warm.detect),
            verdict(within && p95(&warm.detect) <= 1.2 * rr_p95)
        );
        if l.load == 30 {
            match l.scenario {
                Scenario::Learnable => println!(
                    "| 30 in flight, learnable: mean at most ½ of round-robin's | {m:.2} s vs {rr_mean:.2} s ({:.2}×) | {} |",
                    m / rr_mean,
                    verdict(m <= 0.5 * rr_mean)
                ),
                Scenario::Random => {
                    let best = bound::best_possible_delay(warm.polls_per_job());
                    println!(
                        "| 30 in flight, random: within 1.15× the best possible | {m:.2} s vs {best:.2} s ({:.2}×) | {} |",
                        m / best,
                        verdict(m <= 1.15 * best)
                    );
                }
            }
        }
    }
    let slowest = crowd.ack_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "| {} in flight: every acknowledgement under 1 s, every clip delivered, peak memory under {MEMORY_TARGET_MB:.0} MB | max {slowest:.0} ms, {}/{} delivered, {:.1} MB | {} |",
        scale::CROWD,
        crowd.delivered,
        crowd.accepted,
        crowd.hwm_mb,
        verdict(
            slowest < 1000.0
                && crowd.accepted == scale::CROWD
                && crowd.delivered == crowd.accepted
                && crowd.hwm_mb < MEMORY_TARGET_MB
        )
    );
    println!(
        "| Under {MEMORY_TARGET_MB:.0} MB resident at {} jobs in flight | {:.1} MB | {} |",
        scale::MANY_JOBS,
        many.hwm_mb,
        verdict(many.hwm_mb < MEMORY_TARGET_MB && many.in_flight == scale::MANY_JOBS)
    );
}
