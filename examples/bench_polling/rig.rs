//! What every run of the benchmark shares: time compression, the real engine (or the whole
//! app) against the loopback fake PixelDojo through the real throttled client, and a Discord
//! side that records when each clip was handed over instead of posting it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omni_bot::app::{App, AppParts, Caps};
use omni_bot::clock::{Clock, SystemClock};
use omni_bot::config::AlertsConfig;
use omni_bot::domain::ids::{ChannelId, GuildId, JobId, MessageId, UserId};
use omni_bot::domain::job::{Job, JobState, StateName};
use omni_bot::domain::quota::Limits;
use omni_bot::domain::request::{Draft, GenerationRequest, InputLimits};
use omni_bot::domain::scheduler::{Strategy, Tuning};
use omni_bot::engine::ports::{Body, Chat, ChatError, Outgoing};
use omni_bot::engine::{Engine, EngineEvent, EngineParts, EngineSettings, EventHook};
use omni_bot::pixeldojo::{ClientSettings, PixelDojoClient, ThrottleSettings, Throttled};
use omni_bot::store::Store;
use secrecy::SecretString;
use url::Url;

use crate::fake_pixeldojo::{self, FakePixelDojo};

/// How much faster than real time the benchmark runs.
pub const FACTOR: u32 = 20;
/// The vendor's documented limit, and the bot's default budget.
pub const PER_MINUTE: u32 = 60;

/// A compressed duration: `seconds` of real vendor time.
pub fn scaled(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds / f64::from(FACTOR))
}

/// Back to uncompressed seconds.
pub fn real_seconds(d: Duration) -> f64 {
    d.as_secs_f64() * f64::from(FACTOR)
}

/// When each job's clip was handed to Discord; never talks to Discord.
#[derive(Default)]
pub struct Recorder {
    /// Vendor job id → when its clip (or reason) was handed over.
    pub ended: Mutex<HashMap<String, Instant>>,
    /// The requesters of the jobs ended (one job each: see [`user_of`]).
    users: Mutex<std::collections::HashSet<u64>>,
    pub count: AtomicUsize,
    /// Wakes whoever waits for a job to end.
    pub ended_one: tokio::sync::Notify,
}

impl Recorder {
    fn end(&self, job: &Job) {
        let vendor = match &job.state {
            JobState::Delivering { vendor_job_id, .. } => vendor_job_id.0.clone(),
            _ => format!("bot-{}", job.id),
        };
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        if ended.insert(vendor, Instant::now()).is_none() {
            self.users
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(job.user.0);
            self.count.fetch_add(1, Ordering::SeqCst);
            self.ended_one.notify_waiters();
        }
    }

    pub fn ended(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// How many of these requesters' jobs have ended.
    pub fn ended_among(&self, users: &[u64]) -> usize {
        let ended = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.iter().filter(|u| ended.contains(u)).count()
    }
}

#[async_trait::async_trait]
impl Chat for Recorder {
    async fn send(&self, _: ChannelId, message: Outgoing<'_>) -> Result<MessageId, ChatError> {
        match message.body {
            Body::Clip { job, .. } | Body::Failure { job, .. } => {
                self.end(job);
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
    async fn delete(&self, _: ChannelId, _: MessageId) -> Result<(), ChatError> {
        Ok(())
    }
}

/// The engine's settings, compressed.
pub fn settings(strategy: Strategy) -> EngineSettings {
    EngineSettings {
        prior_render: scaled(60.0),
        job_timeout: scaled(15.0 * 60.0),
        progress_every: scaled(5.0),
        strategy,
        tuning: Tuning {
            min_gap_ms: 2_000.0 / f64::from(FACTOR),
        },
        ..EngineSettings::default()
    }
}

pub fn client(fake: &FakePixelDojo) -> PixelDojoClient {
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

fn throttle(per_minute: u32) -> ThrottleSettings {
    ThrottleSettings {
        requests_per_minute: per_minute,
        max_concurrent_downloads: 3,
        downloads_use_budget: false,
        download_hosts: vec!["127.0.0.1".into()],
    }
}

/// A hook that records when the engine first saw each vendor job finished.
pub fn noticing(noticed: Arc<Mutex<HashMap<String, Instant>>>) -> EventHook {
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
    })
}

/// The real engine against the fake, through the real throttled client.
pub fn engine(
    store: &Store,
    fake: &FakePixelDojo,
    recorder: Arc<Recorder>,
    per_minute: u32,
    settings: EngineSettings,
    hooks: Vec<EventHook>,
) -> Engine {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Engine::new(EngineParts {
        store: store.clone(),
        vendor: Throttled::new(Arc::new(client(fake)), clock.clone(), throttle(per_minute)),
        chat: recorder,
        clock,
        settings,
        hooks,
        concurrency: Arc::new(|_: &Job| Box::pin(async { usize::MAX }) as _),
    })
}

/// The whole app (admission, caps, engine) against the fake, with caps that never refuse.
pub fn app(store: &Store, fake: &FakePixelDojo, recorder: Arc<Recorder>, per_minute: u32) -> App {
    let roomy = Limits {
        user_daily_videos: 100_000,
        guild_daily_videos: 100_000,
        user_concurrent_jobs: 20,
        guild_monthly_credits: 0,
        global_daily_credits: 0,
    };
    App::build(AppParts {
        store: store.clone(),
        vendor: Arc::new(client(fake)),
        chat: recorder,
        clock: Arc::new(SystemClock),
        engine: settings(Strategy::Scheduled),
        throttle: throttle(per_minute),
        caps: Caps::new(roomy, chrono_tz::UTC),
        alerts: AlertsConfig::default(),
        limits: InputLimits::from_megabytes(20, 100),
        seeds: Arc::new(|| 7),
        hooks: Vec::new(),
        rules: omni_bot::app::Rules::default(),
        plain_messages: omni_bot::domain::intent::PlainMessages::Requester,
    })
}

/// A text-to-video request of `duration` seconds; the prompt names the job (the fake draws
/// each render's time from it).
/// The prompt of the job named `name`: what tells the fake which job a request is.
pub fn prompt(name: &str) -> String {
    format!("benchmark clip {name}: a red fox running through fresh snow at dawn")
}

pub fn request(name: &str, duration: i64) -> GenerationRequest {
    let draft = Draft {
        prompt: prompt(name),
        duration: Some(duration),
        ..Draft::default()
    };
    GenerationRequest::validate(draft, &InputLimits::from_megabytes(20, 100))
        .expect("the benchmark request is valid")
}

/// The requester of the `i`-th job of a run: each job has its own.
pub fn user_of(i: usize) -> u64 {
    20_000 + i as u64
}

/// A job in its own channel and for its own user, so that the waiting line never holds one
/// back.
pub async fn job(store: &Store, name: &str, i: usize, duration: i64) -> Job {
    Job {
        id: store.next_id().await.expect("a job id"),
        guild: Some(GuildId(1)),
        channel: ChannelId(10_000 + i as u64),
        parent_channel: None,
        user: UserId(user_of(i)),
        request: request(name, duration),
        attachment_size_limit: 25 * 1024 * 1024,
        created_at_ms: SystemClock.now_ms(),
        place: None,
        state: JobState::Accepted,
        asked_in: None,
        continues: None,
        lineage: None,
        made_from: None,
    }
}

pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The difference of two samples' means (`a − b`) and its 95% margin: Welch's standard error
/// of the difference (each sample keeps its own variance) times Student's t at the
/// Welch–Satterthwaite degrees of freedom. Each sample needs at least two values.
pub fn mean_difference(a: &[f64], b: &[f64]) -> (f64, f64) {
    // The variance of a sample's mean, and its share of the degrees of freedom.
    let var_of_mean = |xs: &[f64]| {
        let (m, n) = (mean(xs), xs.len() as f64);
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) / n;
        (v, v * v / (n - 1.0))
    };
    let ((va, da), (vb, db)) = (var_of_mean(a), var_of_mean(b));
    let df = (va + vb).powi(2) / (da + db);
    // t's 97.5% quantile by its Cornish–Fisher expansion about the normal's (within 1% from 5
    // degrees of freedom up).
    let z: f64 = 1.959_964;
    let t = z
        + (z.powi(3) + z) / (4.0 * df)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * df * df);
    (mean(a) - mean(b), t * (va + vb).sqrt())
}

/// The `q` quantile (0.5, 0.95) by the nearest-rank method.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn p95(xs: &[f64]) -> f64 {
    quantile(xs, 0.95)
}

pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// `VmHWM` and `VmRSS` from `/proc/self/status`, in MB.
pub fn memory_mb() -> (f64, f64) {
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

/// Starts the peak of resident memory from here (Linux 4.0+; ignored elsewhere).
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
