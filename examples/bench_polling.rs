//! The polling benchmark of issue 5: the real tracker against the loopback fake PixelDojo.
//!
//! ```text
//! cargo run --release --example bench_polling
//! ```
//!
//! Part 1 runs batches of 30 jobs (render times 30–120 s, the same pseudo-random set for every
//! strategy within a round) under the vendor's fixed 2-second loop, a round-robin under the
//! budget, and the bot's scheduler, cold (a fresh store: only the prior) and warm (the store the
//! cold run taught), in two scenarios: render times at random whatever the request, and render
//! times that depend on the kind of request. Each scenario pools [`ROUNDS`] rounds.
//! Time is compressed by [`FACTOR`]: render times, the budget, the fake's rate limit and its
//! window, the scheduler's gaps, the prior and the job timeout are all scaled, and every figure
//! is reported back in uncompressed seconds. Part 2 keeps 1,000 jobs in flight and reads the
//! process's resident memory, then times the store's job updates.
//!
//! Everything is in this process, on 127.0.0.1, and bounded by hard timeouts; nothing talks to
//! Discord (a small [`Chat`] records when each job ended).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_bot::clock::{Clock, SystemClock};
use omni_bot::domain::ids::{ChannelId, GuildId, JobId, MessageId, UserId, VendorJobId};
use omni_bot::domain::job::{Job, JobState, StateName};
use omni_bot::domain::request::{Draft, GenerationRequest, InputLimits};
use omni_bot::domain::scheduler::{Strategy, Tuning};
use omni_bot::engine::ports::{Body, Chat, ChatError, Outgoing};
use omni_bot::engine::{Engine, EngineEvent, EngineParts, EngineSettings};
use omni_bot::pixeldojo::{ClientSettings, PixelDojoClient, ThrottleSettings, Throttled};
use omni_bot::store::Store;
use secrecy::SecretString;
use url::Url;

// The fake allows its own dead code (`#![allow(dead_code)]`): the benchmark uses part of it.
#[path = "../tests/e2e/support/fake_pixeldojo.rs"]
mod fake_pixeldojo;

use fake_pixeldojo::{FakePixelDojo, JobScript};

/// How much faster than real time the benchmark runs.
const FACTOR: u32 = 20;
/// The vendor's documented limit, and the bot's default budget.
const PER_MINUTE: u32 = 60;
const JOBS: usize = 30;
/// Each scenario runs this many batches of [`JOBS`] (different render times, fresh stores), and
/// the figures pool them: one batch of 30 is too small a sample to compare strategies by.
const ROUNDS: usize = 3;
const MANY_JOBS: usize = 1_000;
const STORE_UPDATES: usize = 5_000;
const DURABLE_UPDATES: usize = 1_000;
const MEMORY_TARGET_MB: f64 = 64.0;
/// No part of the benchmark may take longer than this (compressed time).
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole process is killed after this, whatever it is doing.
const WATCHDOG: Duration = Duration::from_secs(600);

/// A compressed duration: `seconds` of real vendor time.
fn scaled(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds / f64::from(FACTOR))
}

/// Back to uncompressed seconds.
fn real_seconds(d: Duration) -> f64 {
    d.as_secs_f64() * f64::from(FACTOR)
}

/// Render times spread over 30–120 s (xorshift64*, fixed seed: the same for every strategy).
fn render_times(n: usize, seed: u64) -> Vec<Duration> {
    let mut state = seed | 1;
    (0..n)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            scaled(30.0 + 90.0 * u)
        })
        .collect()
}

/// How render times are drawn in a scenario.
#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    /// 30–120 s at random whatever the request: every job is the same kind (8 s clips), so the
    /// scheduler knows only the spread.
    Uniform,
    /// Longer clips take longer: 3 s clips about 30 s, 10 s clips about 120 s (±10%), so each
    /// kind of request (its duration) has its own typical render time to learn.
    ByKind,
}

/// The clip length of job `i` in a scenario.
fn duration_of(scenario: Scenario, i: usize) -> i64 {
    match scenario {
        Scenario::Uniform => 8,
        Scenario::ByKind => 3 + (i % 8) as i64,
    }
}

/// The fake's render time for a request in the by-kind scenario: linear in the clip length,
/// with ±10% noise fixed by the prompt (so every strategy sees the same times).
fn render_by_kind(body: &serde_json::Value) -> Duration {
    let duration = body["duration"].as_f64().unwrap_or(8.0);
    let base = 30.0 + (duration - 3.0) * 90.0 / 7.0;
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let hash = prompt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let noise = (hash % 2001) as f64 / 1000.0 - 1.0; // -1 ..= 1
    scaled(base * (1.0 + 0.1 * noise))
}

/// Records when each job ended; never talks to Discord.
#[derive(Default)]
struct Recorder {
    ended: Mutex<HashMap<JobId, Instant>>,
    count: AtomicUsize,
}

impl Recorder {
    fn end(&self, job: JobId) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.insert(job, Instant::now()).is_none() {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[async_trait::async_trait]
impl Chat for Recorder {
    async fn send(&self, _: ChannelId, message: Outgoing<'_>) -> Result<MessageId, ChatError> {
        match message.body {
            Body::Clip { job, .. } | Body::Failure { job, .. } => {
                self.end(job.id);
                Ok(MessageId(job.id.0))
            }
            _ => Ok(MessageId(1)),
        }
    }
    async fn edit(&self, _: ChannelId, _: MessageId, _: Body<'_>) -> Result<(), ChatError> {
        Ok(())
    }
    async fn create_thread(
        &self,
        _: ChannelId,
        from: MessageId,
        _: &Job,
    ) -> Result<ChannelId, ChatError> {
        Ok(ChannelId(from.0))
    }
    async fn find_final(&self, _: ChannelId, _: JobId) -> Result<Option<MessageId>, ChatError> {
        Ok(None)
    }
    async fn dm_channel(&self, user: UserId) -> Result<ChannelId, ChatError> {
        Ok(ChannelId(user.0))
    }
    async fn refresh_urls(&self, urls: &[String]) -> Result<Vec<String>, ChatError> {
        Ok(urls.to_vec())
    }
}

fn settings(strategy: Strategy) -> EngineSettings {
    EngineSettings {
        prior_render: scaled(60.0),
        job_timeout: scaled(15.0 * 60.0),
        progress_every: scaled(5.0),
        strategy,
        tuning: Tuning {
            min_gap_ms: 2_000.0 / f64::from(FACTOR),
            max_gap_ms: 30_000.0 / f64::from(FACTOR),
        },
        ..EngineSettings::default()
    }
}

fn client(fake: &FakePixelDojo) -> PixelDojoClient {
    let base = Url::parse(&fake.base_url()).expect("the fake's URL parses");
    PixelDojoClient::new(ClientSettings {
        base_url: base,
        model: fake_pixeldojo::MODEL.into(),
        api_key: SecretString::from(fake_pixeldojo::API_KEY),
        request_timeout: Duration::from_secs(10),
        download_timeout: Duration::from_secs(60),
        download_hosts: vec!["127.0.0.1".into()],
    })
}

/// The engine under test: the real one, against the fake through the real throttled client.
fn engine(
    store: &Store,
    fake: &FakePixelDojo,
    recorder: Arc<Recorder>,
    per_minute: u32,
    settings: EngineSettings,
    hooks: Vec<omni_bot::engine::EventHook>,
) -> Engine {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let vendor = Throttled::new(
        Arc::new(client(fake)),
        clock.clone(),
        ThrottleSettings {
            requests_per_minute: per_minute,
            max_concurrent_downloads: 3,
            downloads_use_budget: false,
            download_hosts: vec!["127.0.0.1".into()],
        },
    );
    Engine::new(EngineParts {
        store: store.clone(),
        vendor,
        chat: recorder,
        clock,
        settings,
        hooks,
        concurrency: Arc::new(|_: &Job| usize::MAX),
    })
}

/// Stores a job and starts driving it.
async fn accept(engine: &Engine, store: &Store, job: Job) {
    store
        .put_job_durable(&job)
        .await
        .expect("the job is stored");
    engine.drive(job);
}

/// A plain text-to-video job of `duration` seconds, each in its own channel and for its own
/// user so that the waiting line never holds one back. The prompt names the round and the job
/// (the by-kind scenario draws each render's noise from it).
fn bench_job(store: &Store, round: usize, i: usize, duration: i64) -> Job {
    let draft = Draft {
        prompt: format!("benchmark clip {round}.{i}: a red fox running through fresh snow at dawn"),
        duration: Some(duration),
        ..Draft::default()
    };
    let request = GenerationRequest::validate(draft, &InputLimits::from_megabytes(20, 100))
        .expect("the benchmark request is valid");
    Job {
        id: store.next_id().expect("a job id"),
        guild: Some(GuildId(1)),
        channel: ChannelId(10_000 + i as u64),
        parent_channel: None,
        user: UserId(20_000 + i as u64),
        request,
        attachment_size_limit: 25 * 1024 * 1024,
        created_at_ms: SystemClock.now_ms(),
        place: None,
        state: JobState::Accepted,
        asked_in: None,
        continues: None,
    }
}

struct BatchResult {
    label: &'static str,
    budgeted: bool,
    finished: usize,
    polls: usize,
    /// Every request: submits, polls and downloads.
    requests: usize,
    count_429: usize,
    /// Uncompressed seconds from the fake's completion to the tracker recording it.
    delays: Vec<f64>,
    /// Uncompressed seconds from the first accept to the last job ending, summed over batches.
    makespan: f64,
    /// How many batches of [`JOBS`] these figures pool.
    batches: usize,
}

impl BatchResult {
    /// Pools another batch of the same strategy into this one.
    fn absorb(&mut self, other: BatchResult) {
        self.finished += other.finished;
        self.polls += other.polls;
        self.requests += other.requests;
        self.count_429 += other.count_429;
        self.delays.extend(other.delays);
        self.makespan += other.makespan;
        self.batches += other.batches;
    }

    fn jobs(&self) -> usize {
        JOBS * self.batches
    }

    fn polls_per_job(&self) -> f64 {
        self.polls as f64 / self.jobs() as f64
    }
}

/// Runs 30 jobs to the end under `strategy`, with a fresh fake and a fresh budget.
async fn run_batch(
    label: &'static str,
    strategy: Strategy,
    store: &Store,
    scenario: Scenario,
    round: usize,
    renders: &[Duration],
) -> BatchResult {
    let fake = FakePixelDojo::start().await;
    // The vendor's limit per (compressed) minute: a sliding window of 60 real seconds.
    fake.set_rate_window(scaled(60.0));
    fake.set_rate_limit(Some(PER_MINUTE));
    match scenario {
        Scenario::Uniform => fake.script_next_jobs(
            renders
                .iter()
                .map(|&r| JobScript {
                    render_time: Some(r),
                    ..JobScript::default()
                })
                .collect(),
        ),
        Scenario::ByKind => fake.set_render_model(Some(Arc::new(render_by_kind))),
    }
    // Vendor job id -> when the engine recorded that the job finished rendering.
    let noticed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let hook = {
        let noticed = noticed.clone();
        Arc::new(move |event: &EngineEvent<'_>| {
            if let EngineEvent::StateChanged {
                job,
                from: StateName::Running,
            } = event
            {
                if let JobState::Delivering { vendor_job_id, .. } = &job.state {
                    let mut noticed = noticed.lock().unwrap_or_else(|p| p.into_inner());
                    noticed.insert(vendor_job_id.0.clone(), Instant::now());
                }
            }
        }) as omni_bot::engine::EventHook
    };
    let recorder = Arc::new(Recorder::default());
    let engine = engine(
        store,
        &fake,
        recorder.clone(),
        PER_MINUTE * FACTOR,
        settings(strategy),
        vec![hook],
    );
    engine.start();
    let started = Instant::now();
    for i in 0..renders.len() {
        accept(
            &engine,
            store,
            bench_job(store, round, i, duration_of(scenario, i)),
        )
        .await;
    }
    let done = tokio::time::timeout(BATCH_TIMEOUT, async {
        while recorder.count.load(Ordering::SeqCst) < renders.len() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if done.is_err() {
        eprintln!("{label}: timed out after {BATCH_TIMEOUT:?}; reporting what finished");
    }
    engine.shutdown();
    let last_end = {
        let ended = recorder.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.values().max().copied().unwrap_or_else(Instant::now)
    };
    let noticed = noticed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let delays = fake
        .jobs()
        .iter()
        .filter_map(|j| {
            noticed
                .get(&j.id)
                .map(|&at| at.saturating_duration_since(j.completes_at))
        })
        .map(real_seconds)
        .collect();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        let mut rows: Vec<_> = fake
            .jobs()
            .iter()
            .map(|j| {
                let delay = noticed
                    .get(&j.id)
                    .map(|&at| real_seconds(at.saturating_duration_since(j.completes_at)));
                let submitted = real_seconds(j.created_at.saturating_duration_since(started));
                let render = real_seconds(j.completes_at - j.created_at);
                (submitted, render, j.poll_count, delay)
            })
            .collect();
        rows.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (submitted, render, polls, delay) in rows {
            eprintln!("  {label}: submitted {submitted:5.1} s, render {render:5.1} s, {polls} polls, delay {delay:?}");
        }
    }
    let requests = fake.requests();
    let polls = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v1/jobs/"))
        .count();
    fake.shutdown();
    BatchResult {
        label,
        budgeted: !matches!(strategy, Strategy::Fixed { .. }),
        finished: recorder.count.load(Ordering::SeqCst),
        polls,
        requests: requests.len(),
        count_429: fake.count_429(),
        delays,
        makespan: real_seconds(last_end.saturating_duration_since(started)),
        batches: 1,
    }
}

/// The lowest mean detection delay (uncompressed seconds) that any poll schedule can reach
/// with `polls_per_job` polls per job on average, when render times are uniform over 30–120 s
/// and say nothing about one another (the random scenario), polls at least 2 s apart.
///
/// Other jobs' renders tell nothing about this one's, so the best a scheduler can do is the best
/// schedule for one job: minimise expected delay + μ · expected polls by dynamic programming
/// over the time of the last poll that saw the job still running (0.5 s grid), and find the μ
/// that spends `polls_per_job`. Computed, not measured: it shows what "half of round-robin"
/// asks in that scenario.
fn best_possible_delay(polls_per_job: f64) -> f64 {
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
    let (mut lo, mut hi) = (0.01f64, 1_000.0f64);
    for _ in 0..40 {
        let mid = (lo * hi).sqrt();
        if solve(mid).0 > polls_per_job {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    solve(hi).1
}

/// The round-robin figures among a scenario's strategies (every scenario runs it).
fn round_robin(batches: &[BatchResult]) -> &BatchResult {
    batches
        .iter()
        .find(|b| b.label.starts_with("round-robin"))
        .expect("a round-robin run")
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

fn p95(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64) * 0.95).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// `VmHWM` and `VmRSS` from `/proc/self/status`, in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

struct ManyResult {
    in_flight: usize,
    submitted: bool,
    hwm_mb: f64,
    rss_mb: f64,
    put_us: Vec<f64>,
    durable_us: Vec<f64>,
}

/// Keeps 1,000 jobs in flight (hour-long renders, no rate limit), reads the process's
/// memory, then times job updates on the same store while they stay in flight.
async fn run_many(dir: &Path) -> ManyResult {
    // Start the peak from here, so it measures this part (Linux 4.0+; ignored elsewhere).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::from_secs(3_600));
    fake.set_credits(i64::MAX / 2);
    let store = Store::open(&dir.join("many")).expect("store");
    let engine = engine(
        &store,
        &fake,
        Arc::new(Recorder::default()),
        60_000,
        EngineSettings {
            // The jobs must stay in flight for the whole measurement.
            job_timeout: Duration::from_secs(3_600),
            ..settings(Strategy::Scheduled)
        },
        Vec::new(),
    );
    engine.start();
    for i in 0..MANY_JOBS {
        accept(&engine, &store, bench_job(&store, 0, i, 8)).await;
    }
    let submitted = fake.wait_for_submissions(MANY_JOBS, BATCH_TIMEOUT).await;
    // Let every job reach its poll loop and the scheduler cycle through them a few times.
    tokio::time::sleep(scaled(60.0)).await;
    let in_flight = engine.in_flight();

    // Real job values: a running job, rewritten with a new vendor id and time each update.
    let sample: Vec<Job> = (0..MANY_JOBS).map(|i| bench_job(&store, 0, i, 8)).collect();
    let update = |n: usize| {
        let mut job = sample[n % sample.len()].clone();
        job.state = JobState::Running {
            vendor_job_id: VendorJobId(format!("job_bench{n:015}")),
            submitted_at_ms: SystemClock.now_ms(),
        };
        job
    };
    let mut put_us = Vec::with_capacity(STORE_UPDATES);
    for n in 0..STORE_UPDATES {
        let job = update(n);
        let t = Instant::now();
        store.put_job(&job).expect("put_job");
        put_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut durable_us = Vec::with_capacity(DURABLE_UPDATES);
    for n in 0..DURABLE_UPDATES {
        let job = update(n);
        let t = Instant::now();
        store.put_job_durable(&job).await.expect("put_job_durable");
        durable_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (hwm_mb, rss_mb) = memory_mb();
    engine.shutdown();
    fake.shutdown();
    ManyResult {
        in_flight,
        submitted,
        hwm_mb,
        rss_mb,
        put_us,
        durable_us,
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

    // Memory first, so the peak is not inherited from the 30-job runs.
    eprintln!("{MANY_JOBS} jobs in flight ...");
    let many = if std::env::var_os("BENCH_SKIP_MANY").is_some() {
        ManyResult {
            in_flight: 0,
            submitted: false,
            hwm_mb: f64::NAN,
            rss_mb: f64::NAN,
            put_us: Vec::new(),
            durable_us: Vec::new(),
        }
    } else {
        run_many(dir.path()).await
    };

    let fixed = Strategy::Fixed {
        interval_ms: 2_000.0 / f64::from(FACTOR),
    };
    // A fresh store per strategy and round; the warm scheduler run reuses the store its cold
    // run taught in the same round.
    let open = |name: &str| Store::open(&dir.path().join(name)).expect("store");
    let mut scenarios = Vec::new();
    for (scenario, name) in [
        (Scenario::Uniform, "uniform"),
        (Scenario::ByKind, "by-kind"),
    ] {
        let mut pooled: Vec<BatchResult> = Vec::new();
        for round in 0..ROUNDS {
            // The same render times for every strategy within a round (xorshift seed).
            let renders = render_times(JOBS, 0x5eed_0005 + round as u64);
            let scheduled_store = open(&format!("{name}-{round}-scheduled"));
            let mut runs = vec![(
                "round-robin under the budget",
                Strategy::RoundRobin,
                open(&format!("{name}-{round}-rr")),
            )];
            // The vendor's loop is slow and its figures do not move: one round of it.
            if scenario == Scenario::Uniform && round == 0 {
                runs.insert(0, ("vendor loop, every 2 s", fixed, open("fixed")));
            }
            runs.push((
                "scheduler, cold (prior only)",
                Strategy::Scheduled,
                scheduled_store.clone(),
            ));
            runs.push((
                "scheduler, warm (learned)",
                Strategy::Scheduled,
                scheduled_store,
            ));
            for (label, strategy, store) in runs {
                eprintln!("{JOBS} jobs, {name}, round {}: {label} ...", round + 1);
                let batch = run_batch(label, strategy, &store, scenario, round, &renders).await;
                match pooled.iter_mut().find(|b| b.label == label) {
                    Some(b) => b.absorb(batch),
                    None => pooled.push(batch),
                }
            }
        }
        // With random renders, what the best schedule could do at round-robin's polls per job.
        let bound = (scenario == Scenario::Uniform).then(|| {
            let rr = round_robin(&pooled);
            best_possible_delay(rr.polls_per_job())
        });
        scenarios.push((scenario, pooled, bound));
    }

    for (scenario, batches, bound) in &scenarios {
        let title = match scenario {
            Scenario::Uniform => "render times 30–120 s at random, all requests of one kind",
            Scenario::ByKind => {
                "render time grows with clip length (3 s ≈ 30 s … 10 s ≈ 120 s, ±10%)"
            }
        };
        println!(
            "## {JOBS} jobs, {PER_MINUTE} requests/minute: {title} \
             ({ROUNDS} batches pooled, run {FACTOR}× faster, figures in real seconds)\n"
        );
        println!("| Strategy | Jobs done | 429s | Polls per job | Requests per minute | Detection delay, mean | p95 | Batch done after |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for b in batches {
            println!(
                "| {} | {}/{} | {} | {:.1} | {:.0} | {:.1} s | {:.1} s | {:.0} s |",
                b.label,
                b.finished,
                b.jobs(),
                b.count_429,
                b.polls_per_job(),
                b.requests as f64 / (b.makespan / 60.0),
                mean(&b.delays),
                p95(&b.delays),
                b.makespan / b.batches as f64,
            );
        }
        if let Some(best) = bound {
            let rr = round_robin(batches);
            println!(
                "\nWith round-robin's {:.1} polls per job, no schedule can do better here \
                 than {best:.1} s mean delay ({:.2}× round-robin's; computed by \
                 `best_possible_delay`).",
                rr.polls_per_job(),
                best / mean(&rr.delays),
            );
        }
        println!();
    }

    let put_mean = mean(&many.put_us);
    let durable_mean = mean(&many.durable_us);
    println!("\n| {MANY_JOBS} jobs in flight | Value |\n|---|---:|");
    println!(
        "| Jobs in flight / submitted | {} / {} |",
        many.in_flight,
        if many.submitted { "all" } else { "NOT ALL" }
    );
    println!("| Peak resident memory (VmHWM) | {:.1} MB |", many.hwm_mb);
    println!("| Resident memory now (VmRSS) | {:.1} MB |", many.rss_mb);
    println!(
        "| `Store::put_job`, mean / p95 ({STORE_UPDATES} updates) | {:.0} µs / {:.0} µs |",
        put_mean,
        p95(&many.put_us)
    );
    println!(
        "| `Store::put_job_durable`, mean / p95 ({DURABLE_UPDATES} updates) | {:.0} µs / {:.0} µs |",
        durable_mean,
        p95(&many.durable_us)
    );

    println!("\n| Target | Figure | Result |\n|---|---|---|");
    for (scenario, batches, bound) in &scenarios {
        let name = match scenario {
            Scenario::Uniform => "random renders",
            Scenario::ByKind => "renders by kind",
        };
        for b in batches.iter().filter(|b| b.budgeted) {
            println!(
                "| Zero 429s under the budget ({name}): {} | {} | {} |",
                b.label,
                b.count_429,
                verdict(b.count_429 == 0 && b.finished == b.jobs())
            );
        }
        let rr = round_robin(batches);
        for s in batches.iter().filter(|b| b.label.starts_with("scheduler")) {
            let ratio = mean(&s.delays) / mean(&rr.delays);
            let pass = ratio <= 0.5 && s.finished == s.jobs();
            // The target is for the scheduler the issue describes, one that has learned render
            // times; a fresh store knows only the prior, and its row is there for comparison.
            let learned = s.label.contains("warm");
            // In the random scenario, half of round-robin can be below any schedule's reach.
            let result = match *bound {
                _ if !learned => "(no target: nothing learned yet)".to_owned(),
                Some(best) if !pass && mean(&rr.delays) / 2.0 < best => format!(
                    "FAIL, out of any schedule's reach (best possible {best:.1} s = {:.2}×)",
                    best / mean(&rr.delays)
                ),
                _ => verdict(pass).to_owned(),
            };
            println!(
                "| Mean delay at most ½ of round-robin ({name}): {} | {:.1} s vs {:.1} s ({:.2}×) | {result} |",
                s.label,
                mean(&s.delays),
                mean(&rr.delays),
                ratio,
            );
        }
    }
    println!(
        "| Under {MEMORY_TARGET_MB:.0} MB resident at {MANY_JOBS} jobs in flight | {:.1} MB | {} |",
        many.hwm_mb,
        verdict(many.hwm_mb < MEMORY_TARGET_MB && many.in_flight == MANY_JOBS)
    );
}
