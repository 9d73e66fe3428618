//! Scale: 200 requests at once through the whole app (acknowledgement latency, delivery, peak
//! memory), and 1,000 jobs kept in flight (memory and the store's write time).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use omni_bot::app::{Ask, Origin, Started};
use omni_bot::clock::{Clock, SystemClock};
use omni_bot::domain::ids::{ChannelId, EventId, GuildId, UserId, VendorJobId};
use omni_bot::domain::job::{Job, JobState};
use omni_bot::domain::scheduler::Strategy;
use omni_bot::engine::EngineSettings;
use omni_bot::store::Store;

use crate::fake_pixeldojo::FakePixelDojo;
use crate::rig::{self, real_seconds, scaled, Recorder};

/// No part may take longer than this (compressed time).
const TIMEOUT: Duration = Duration::from_secs(120);

pub const CROWD: usize = 200;
pub const MANY_JOBS: usize = 1_000;
pub const STORE_UPDATES: usize = 5_000;
pub const DURABLE_UPDATES: usize = 1_000;

pub struct Crowd {
    /// Milliseconds each `/omni` took to be accepted (what the acknowledgement waits for).
    pub ack_ms: Vec<f64>,
    pub accepted: usize,
    pub delivered: usize,
    /// Uncompressed seconds from the render's end to the clip handed to Discord.
    pub deliver: Vec<f64>,
    pub hwm_mb: f64,
}

/// 200 users run `/omni` at the same moment; the budget is large enough to carry them all.
pub async fn crowd(dir: &Path) -> Crowd {
    rig::reset_peak_memory();
    let fake = FakePixelDojo::start().await;
    fake.set_credits(i64::MAX / 2);
    fake.set_render_time(scaled(60.0));
    let store = Store::open(&dir.join("crowd")).expect("store");
    let recorder = Arc::new(Recorder::default());
    let app = rig::app(&store, &fake, recorder.clone(), 60_000);
    app.engine.start();
    let tasks: Vec<_> = (0..CROWD)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let ask = Ask {
                    event: Some(EventId(1_000_000 + i as u64)),
                    origin: Origin {
                        guild: Some(GuildId(1)),
                        channel: ChannelId(10_000 + i as u64),
                        parent_channel: None,
                        user: UserId(20_000 + i as u64),
                        roles: Vec::new(),
                        upload_limit: 25 * 1024 * 1024,
                    },
                    request: rig::request(&format!("crowd.{i}"), 8),
                    asked_in: None,
                    continues: None,
                    made_from: None,
                };
                let t = Instant::now();
                let started = app.start(ask).await;
                (t.elapsed().as_secs_f64() * 1000.0, started)
            })
        })
        .collect();
    let mut ack_ms = Vec::new();
    let mut accepted = 0;
    for task in tasks {
        let (ms, started) = task.await.expect("a start task");
        ack_ms.push(ms);
        accepted += usize::from(matches!(started, Ok(Started::New { .. })));
    }
    let _ = tokio::time::timeout(TIMEOUT, async {
        while recorder.ended() < accepted {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let (hwm_mb, _) = rig::memory_mb();
    let ended: HashMap<String, Instant> = recorder
        .ended
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let deliver = fake
        .jobs()
        .iter()
        .filter_map(|j| {
            ended
                .get(&j.id)
                .map(|&at| real_seconds(at.saturating_duration_since(j.completes_at)))
        })
        .collect();
    app.engine.shutdown();
    fake.shutdown();
    Crowd {
        ack_ms,
        accepted,
        delivered: recorder.ended(),
        deliver,
        hwm_mb,
    }
}

pub struct Many {
    pub in_flight: usize,
    pub submitted: bool,
    pub hwm_mb: f64,
    pub rss_mb: f64,
    pub put_us: Vec<f64>,
    pub durable_us: Vec<f64>,
}

/// Keeps 1,000 jobs in flight (hour-long renders, no rate limit), reads the process's memory,
/// then times job updates on the same store while they stay in flight.
pub async fn many(dir: &Path) -> Many {
    rig::reset_peak_memory();
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::from_secs(3_600));
    fake.set_credits(i64::MAX / 2);
    let store = Store::open(&dir.join("many")).expect("store");
    let engine = rig::engine(
        &store,
        &fake,
        Arc::new(Recorder::default()),
        60_000,
        EngineSettings {
            // The jobs must stay in flight for the whole measurement.
            job_timeout: Duration::from_secs(3_600),
            ..rig::settings(Strategy::Scheduled)
        },
        Vec::new(),
    );
    engine.start();
    for i in 0..MANY_JOBS {
        let job = rig::job(&store, &format!("many.{i}"), i, 8).await;
        store
            .put_job_durable(&job)
            .await
            .expect("the job is stored");
        engine.drive(job);
    }
    let submitted = fake.wait_for_submissions(MANY_JOBS, TIMEOUT).await;
    // Let every job reach its poll step and the scheduler cycle through them a few times.
    tokio::time::sleep(scaled(60.0)).await;
    let in_flight = engine.in_flight();

    // Real job values: a running job, rewritten with a new vendor id and time each update.
    let mut sample: Vec<Job> = Vec::with_capacity(MANY_JOBS);
    for i in 0..MANY_JOBS {
        sample.push(rig::job(&store, &format!("many.{i}"), i, 8).await);
    }
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
        store.put_job(&job).await.expect("put_job");
        put_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut durable_us = Vec::with_capacity(DURABLE_UPDATES);
    for n in 0..DURABLE_UPDATES {
        let job = update(n);
        let t = Instant::now();
        store.put_job_durable(&job).await.expect("put_job_durable");
        durable_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (hwm_mb, rss_mb) = rig::memory_mb();
    engine.shutdown();
    fake.shutdown();
    Many {
        in_flight,
        submitted,
        hwm_mb,
        rss_mb,
        put_us,
        durable_us,
    }
}
