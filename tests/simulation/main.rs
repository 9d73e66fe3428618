//! Deterministic simulation of the engine, the app layer and the real store, on virtual time,
//! against a simulated PixelDojo and a simulated Discord, driven by a seeded RNG (the way
//! FoundationDB and TigerBeetle test). Each seed draws a workload (requests, replies, buttons,
//! cancels, duplicate events, cap changes), faults (vendor and Discord outages, refusals, odd
//! rate headers, missing permissions, deleted threads, closed DMs) and crashes of the bot at
//! arbitrary await points with downtimes up to more than a day; then the world heals, the bot
//! runs until quiet, and the invariants are checked (see `check`).
//!
//! The same workloads also run on two replicas sharing one store (`Shape::TwoReplicas`): both
//! receive every command and message at the same moment, buttons and cancels reach either, and
//! a crash takes one replica down while the other takes its jobs up; the invariants are the same.
//!
//! `cargo test --test simulation` runs 2,000 seeds and prints `simulation: N seeds, K invariant
//! violations`, then 150 two-replica seeds (`replicas: …`). A failing seed prints itself;
//! `OMNI_SIM_SEED=<n>` replays exactly that seed with its workload printed, and
//! `OMNI_SIM_SEEDS=<n>` runs a longer soak.

mod chat;
mod check;
mod vendor;
mod workload;
mod world;

use std::io::Write as _;
use std::time::Instant;

use world::{run_seed, Defects, Report, Shape};

/// Seeds run by default in `cargo test`.
const DEFAULT_SEEDS: u64 = 2_000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `seeds` across the machine's cores; reports sorted by seed.
fn run_all(seeds: impl Iterator<Item = u64>, defects: Defects, shape: Shape) -> Vec<Report> {
    let seeds: Vec<u64> = seeds.collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(seeds.len().max(1));
    let chunks: Vec<Vec<u64>> = (0..threads)
        .map(|t| seeds.iter().copied().skip(t).step_by(threads).collect())
        .collect();
    let mut reports: Vec<Report> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|seed| run_seed(seed, defects, shape, false))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a simulation thread"))
            .collect()
    });
    reports.sort_by_key(|r| r.seed);
    reports
}

/// Written straight to stderr, so `cargo test` shows it even for a passing test.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn the_money_and_delivery_invariants_hold_over_every_seed() {
    check_every_seed(Shape::OneBot, DEFAULT_SEEDS, "simulation", "the_money");
}

/// Seeds run by default with two replicas: fewer, since each runs two replica loops all along.
const REPLICA_SEEDS: u64 = 150;

#[test]
fn two_replicas_sharing_the_store_keep_every_invariant() {
    check_every_seed(
        Shape::TwoReplicas,
        REPLICA_SEEDS,
        "replicas",
        "two_replicas",
    );
}

/// Runs `OMNI_SIM_SEEDS` seeds (or `default_seeds`) of `shape` across the cores, or replays
/// `OMNI_SIM_SEED` alone with its workload printed, and fails on any invariant violation.
/// `label` starts the summary line; `test` names the test to replay a seed with.
fn check_every_seed(shape: Shape, default_seeds: u64, label: &str, test: &str) {
    if let Some(seed) = env_u64("OMNI_SIM_SEED") {
        let report = run_seed(seed, Defects::default(), shape, true);
        say(&format!("seed {seed}: {:?}", report.stats));
        for violation in &report.violations {
            say(&format!("seed {seed}: {violation}"));
        }
        say(&format!(
            "{label}: 1 seed, {} invariant violations",
            report.violations.len()
        ));
        assert!(
            report.violations.is_empty(),
            "seed {seed} broke an invariant"
        );
        return;
    }
    let n = env_u64("OMNI_SIM_SEEDS").unwrap_or(default_seeds);
    let started = Instant::now();
    let reports = run_all(0..n, Defects::default(), shape);
    let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
    for report in reports.iter().filter(|r| !r.violations.is_empty()) {
        for violation in &report.violations {
            say(&format!("seed {}: {violation}", report.seed));
        }
        say(&format!(
            "seed {}: replay with OMNI_SIM_SEED={} cargo test --test simulation {test}",
            report.seed, report.seed
        ));
    }
    let total = |f: fn(&Report) -> u64| reports.iter().map(f).sum::<u64>();
    say(&format!(
        "{label}: {n} seeds, {violations} invariant violations ({} jobs: {} delivered, {} failed; {} crashes; {} taken up by a replica; {} vendor requests; {} Discord posts; {} virtual hours; {:.1} s)",
        total(|r| r.stats.jobs as u64),
        total(|r| r.stats.delivered as u64),
        total(|r| r.stats.failed as u64),
        total(|r| r.stats.crashes as u64),
        total(|r| r.stats.taken_up),
        total(|r| r.stats.vendor_requests),
        total(|r| r.stats.discord_posts),
        total(|r| r.stats.virtual_hours),
        started.elapsed().as_secs_f64()
    ));
    let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &reports {
        for (reason, n) in &r.stats.reasons {
            *reasons.entry(reason).or_default() += n;
        }
    }
    say(&format!("{label}: failures by reason: {reasons:?}"));
    assert_eq!(violations, 0, "invariant violations; see the seeds above");
}

#[test]
fn a_seed_replays_exactly() {
    for (seed, shape) in [
        (7, Shape::OneBot),
        (1234, Shape::OneBot),
        (7, Shape::TwoReplicas),
    ] {
        let a = run_seed(seed, Defects::default(), shape, false);
        let b = run_seed(seed, Defects::default(), shape, false);
        assert_eq!(a.stats, b.stats, "seed {seed} {shape:?}");
        assert_eq!(a.violations, b.violations, "seed {seed} {shape:?}");
        assert!(a.stats.jobs > 0 || a.stats.vendor_requests == 0);
    }
}

/// Seeds for the planted-defect tests: enough for every defect to show.
const DEFECT_SEEDS: u64 = 60;

#[test]
fn a_discord_side_that_posts_a_clip_twice_is_reported() {
    let defects = Defects {
        chat: chat::ChatDefects {
            posts_clips_twice: true,
            ..chat::ChatDefects::default()
        },
        ..Defects::default()
    };
    let reports = run_all(0..DEFECT_SEEDS, defects, Shape::OneBot);
    let found = reports
        .iter()
        .flat_map(|r| &r.violations)
        .filter(|v| v.contains("final messages"))
        .count();
    say(&format!(
        "planted defect (clips posted twice): {found} violations over {DEFECT_SEEDS} seeds"
    ));
    assert!(found > 0, "the checker missed clips posted twice");
}

#[test]
fn a_vendor_that_charges_twice_is_reported() {
    let defects = Defects {
        vendor: vendor::VendorDefects {
            charges_twice: true,
        },
        ..Defects::default()
    };
    let reports = run_all(0..DEFECT_SEEDS, defects, Shape::OneBot);
    let found = reports
        .iter()
        .flat_map(|r| &r.violations)
        .filter(|v| v.contains("PixelDojo charged"))
        .count();
    say(&format!(
        "planted defect (vendor charges twice): {found} violations over {DEFECT_SEEDS} seeds"
    ));
    assert!(found > 0, "the checker missed a double charge");
}

#[test]
fn a_job_whose_task_panics_ends_with_one_message_and_the_bot_keeps_serving() {
    let defects = Defects {
        chat: chat::ChatDefects {
            panics_on_first_clip: true,
            ..chat::ChatDefects::default()
        },
        ..Defects::default()
    };
    let reports = run_all(0..DEFECT_SEEDS, defects, Shape::OneBot);
    let mut panicked = 0;
    for report in &reports {
        for violation in &report.violations {
            if violation.contains("job tasks panicked") {
                panicked += 1;
            } else {
                panic!(
                    "seed {}: a contained panic broke an invariant: {violation}",
                    report.seed
                );
            }
        }
    }
    let internal: usize = reports
        .iter()
        .map(|r| r.stats.reasons.get("internal").copied().unwrap_or(0))
        .sum();
    say(&format!(
        "planted panic: {panicked} seeds panicked, {internal} jobs ended with an apology, every other invariant held"
    ));
    assert!(panicked > 0, "the planted panic never fired");
    assert_eq!(
        internal, panicked,
        "each panicking job ends with one apology"
    );
}
