//! One strategy at one load: `load` jobs kept in flight (a new one is submitted whenever one
//! ends), against a fresh fake PixelDojo that enforces its limit of 60 requests a minute.
//! Render times come from each job's prompt, so every strategy sees the same ones.
//!
//! Each run measures `total` jobs at a steady load. The first wave (`load` jobs submitted at
//! once, queueing behind one another's submits) warms the run up and is not measured, and jobs
//! after the measured ones keep `load` in flight until the last measured one has ended. Without
//! them the last jobs of a run would render with fewer and fewer beside them, polled more and
//! more often, and both the delays and the polls per job (the best-possible bound's input)
//! would mix in lighter loads than the one named.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_bot::domain::scheduler::Strategy;
use omni_bot::store::Store;

use crate::fake_pixeldojo::FakePixelDojo;
use crate::rig::{self, real_seconds, scaled, Recorder, FACTOR, PER_MINUTE};

/// No run may take longer than this (compressed time).
const RUN_TIMEOUT: Duration = Duration::from_secs(420);

/// How render times are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 30–120 s at random whatever the request: every job is the same kind (8 s clips), so the
    /// scheduler knows only the spread.
    Random,
    /// Longer clips take longer: 3 s clips about 30 s, 10 s clips about 120 s (±10%), so each
    /// kind of request has its own typical render time to learn.
    Learnable,
}

impl Scenario {
    pub fn title(self) -> &'static str {
        match self {
            Self::Random => "render times 30–120 s at random, all requests of one kind",
            Self::Learnable => {
                "render time follows the request (3 s clips ≈ 30 s … 10 s clips ≈ 120 s, ±10%)"
            }
        }
    }

    fn duration_of(self, i: usize) -> i64 {
        match self {
            Self::Random => 8,
            Self::Learnable => 3 + (i % 8) as i64,
        }
    }
}

/// A number in 0..1 fixed by a text (FNV-1a): the same job gets the same render everywhere.
fn unit(text: &str) -> f64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % 1_000_003) as f64 / 1_000_003.0
}

/// The fake's render time for a request.
fn render(scenario: Scenario, body: &serde_json::Value) -> Duration {
    let prompt = body["prompt"].as_str().unwrap_or_default();
    let seconds = match scenario {
        Scenario::Random => 30.0 + 90.0 * unit(prompt),
        Scenario::Learnable => {
            let duration = body["duration"].as_f64().unwrap_or(8.0);
            let base = 30.0 + (duration - 3.0) * 90.0 / 7.0;
            base * (1.0 + 0.1 * (2.0 * unit(prompt) - 1.0))
        }
    };
    scaled(seconds)
}

/// What one strategy did at one load.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: &'static str,
    pub strategy: Strategy,
    pub total: usize,
    pub finished: usize,
    /// The measured jobs' submits and polls (downloads come from the file host and are not
    /// counted).
    pub api_requests: usize,
    pub polls: usize,
    pub count_429: usize,
    /// Uncompressed seconds from the render's end to the engine noticing it.
    pub detect: Vec<f64>,
    /// Uncompressed seconds from the render's end to the clip handed to Discord.
    pub deliver: Vec<f64>,
}

impl Row {
    pub fn requests_per_job(&self) -> f64 {
        self.api_requests as f64 / self.total as f64
    }

    pub fn polls_per_job(&self) -> f64 {
        self.polls as f64 / self.total as f64
    }

    pub fn budgeted(&self) -> bool {
        !matches!(self.strategy, Strategy::Fixed { .. })
    }
}

/// Runs `total` jobs, `load` at a time, under `strategy`; `tag` names the jobs (same tag, same
/// render times).
pub async fn run(
    label: &'static str,
    strategy: Strategy,
    store: &Store,
    scenario: Scenario,
    load: usize,
    total: usize,
    tag: &str,
) -> Row {
    let fake = FakePixelDojo::start().await;
    // The vendor's limit per (compressed) minute: a sliding window of 60 real seconds.
    fake.set_rate_window(scaled(60.0));
    fake.set_rate_limit(Some(PER_MINUTE));
    fake.set_credits(i64::MAX / 2);
    fake.set_render_model(Some(Arc::new(move |body: &serde_json::Value| {
        render(scenario, body)
    })));
    let noticed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let recorder = Arc::new(Recorder::default());
    let engine = rig::engine(
        store,
        &fake,
        recorder.clone(),
        PER_MINUTE * FACTOR,
        rig::settings(strategy),
        vec![rig::noticing(noticed.clone())],
    );
    engine.start();
    let measured = load..load + total;
    let users: Vec<u64> = measured.clone().map(rig::user_of).collect();
    let finished = tokio::time::timeout(RUN_TIMEOUT, async {
        let mut i = 0;
        loop {
            let ended = recorder.ended_one.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if recorder.ended_among(&users) == total {
                break;
            }
            if i - recorder.ended().min(i) >= load {
                ended.await;
                continue;
            }
            let job = rig::job(store, &format!("{tag}.{i}"), i, scenario.duration_of(i)).await;
            store
                .put_job_durable(&job)
                .await
                .expect("the job is stored");
            engine.drive(job);
            i += 1;
        }
    })
    .await;
    if finished.is_err() {
        eprintln!("{label}: timed out after {RUN_TIMEOUT:?}; reporting what finished");
    }
    engine.shutdown();
    let noticed = noticed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ended = recorder
        .ended
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let since_done = |at: Option<&Instant>, done: Instant| {
        at.map(|&at| real_seconds(at.saturating_duration_since(done)))
    };
    let prompts: HashSet<String> = measured
        .map(|i| rig::prompt(&format!("{tag}.{i}")))
        .collect();
    let jobs: Vec<_> = fake
        .jobs()
        .into_iter()
        .filter(|j| prompts.contains(j.body["prompt"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        jobs.len(),
        total,
        "{label}: every measured job reached the fake"
    );
    let detect = jobs
        .iter()
        .filter_map(|j| since_done(noticed.get(&j.id), j.completes_at))
        .collect();
    let deliver = jobs
        .iter()
        .filter_map(|j| since_done(ended.get(&j.id), j.completes_at))
        .collect();
    // The measured jobs' own requests: their submit and their polls (429s included).
    let requests = fake.requests();
    let polled = |r: &&crate::fake_pixeldojo::Recorded| {
        r.method == "GET"
            && r.path
                .strip_prefix("/api/v1/jobs/")
                .is_some_and(|id| jobs.iter().any(|j| j.id == id))
    };
    let polls = requests.iter().filter(polled).count();
    let row = Row {
        label,
        strategy,
        total,
        finished: recorder.ended_among(&users),
        api_requests: jobs.len() + polls,
        polls,
        count_429: fake.count_429(),
        detect,
        deliver,
    };
    fake.shutdown();
    row
}
