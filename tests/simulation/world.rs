//! One seed: the real app, engine and store (a temp directory) on a paused tokio runtime,
//! against the simulated vendor and Discord, driven by the seed's workload. At the end the
//! world heals, the bot runs until nothing is in flight, and the invariants are checked.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use omni_bot::app::{App, AppParts, Ask, Caps, MessageFacts, MessageOutcome, Origin, Started};
use omni_bot::clock::{Clock, TokioClock};
use omni_bot::config::AlertsConfig;
use omni_bot::domain::ids::{ChannelId, EventId, GuildId, JobId, MessageId, Scope, UserId};
use omni_bot::domain::quota::Limits;
use omni_bot::domain::request::{Draft, GenerationRequest, InputLimits};
use omni_bot::engine::{EngineEvent, EngineSettings, EventHook};
use omni_bot::pixeldojo::ThrottleSettings;
use omni_bot::replica::Replica;
use omni_bot::store::Store;

use crate::chat::{ChatDefects, Final, SimChat};
use crate::check;
use crate::vendor::{SimVendor, VendorDefects};
use crate::workload::{self, Act, Place, ALERTS, GUILDS};

/// The virtual wall clock starts on this day (UTC), at a time of day the seed picks, so that
/// some seeds cross midnight and the month's end.
const START_MS: i64 = 1_801_353_600_000; // 2027-01-31T00:00:00Z
/// The replicas' `storage.lease_seconds` on the seeds that run two: longer than the default 15 s,
/// since each replica loop round costs real time in every seed, and the logic is the same at any
/// period (every timing is a fraction of it).
const LEASE: Duration = Duration::from_secs(120);
/// Who runs the bot in a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One process on the embedded store (restarted after each crash).
    OneBot,
    /// Two replicas on one shared store, both receiving every event; a crash takes one down.
    TwoReplicas,
}

/// After the world heals, the bot must be quiet within this long.
const QUIET_WITHIN: Duration = Duration::from_secs(5 * 24 * 3600);

/// Defects planted in the simulated world, to prove the checker can fail.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defects {
    pub vendor: VendorDefects,
    pub chat: ChatDefects,
}

/// Figures of one seed, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub jobs: usize,
    pub delivered: usize,
    pub failed: usize,
    /// Failures by reason.
    pub reasons: std::collections::BTreeMap<&'static str, usize>,
    pub crashes: usize,
    pub vendor_requests: u64,
    pub discord_posts: u64,
    pub virtual_hours: u64,
    /// Jobs a replica started driving after another had them (two-replica seeds).
    pub taken_up: u64,
}

/// What one seed found.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub violations: Vec<String>,
    pub stats: Stats,
}

/// A job the app accepted, as the checker needs it.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub job: JobId,
}

pub struct Sim {
    pub store: Store,
    pub vendor: Arc<SimVendor>,
    pub chat: Arc<SimChat>,
    pub clock: TokioClock,
    limits: Limits,
    seeds: Arc<Mutex<StdRng>>,
    pub panics: Arc<AtomicUsize>,
    /// The bot; on a replicated seed, the first replica.
    pub app: App,
    /// The second replica, on a replicated seed: both receive every event and share the jobs.
    peer: Option<App>,
    /// The replica loops of `app` and `peer` (dropped with everything in memory at a crash).
    tickers: [Option<tokio::task::AbortHandle>; 2],
    /// Replicas started so far (each process gets a new name, as in production).
    started: u64,
    /// Replicas that found they had lost their place, which nothing in the simulation causes.
    lost: Arc<Mutex<Vec<String>>>,
    /// Jobs the replica loops started driving.
    taken_up: Arc<AtomicUsize>,
    pub accepted: Vec<Accepted>,
    pub violations: Vec<String>,
    next_event: u64,
    prompts: u64,
    crashes: usize,
    trace: bool,
}

/// Log lines stamped with the virtual time since the start, in seconds.
struct VirtualTime(Instant);

impl tracing_subscriber::fmt::time::FormatTime for VirtualTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{:>10.3}s", (Instant::now() - self.0).as_secs_f64())
    }
}

/// Runs seed `seed` to the end on its own paused runtime. With `trace`, the workload and
/// (under `RUST_LOG`) the bot's log are printed, stamped with virtual time.
pub fn run_seed(seed: u64, defects: Defects, shape: Shape, trace: bool) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let _log = trace.then(|| {
        let start = runtime.block_on(async { Instant::now() });
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_timer(VirtualTime(start))
            .with_writer(std::io::stderr)
            .finish();
        tracing::subscriber::set_default(subscriber)
    });
    runtime.block_on(run(seed, defects, shape, trace))
}

async fn run(seed: u64, defects: Defects, shape: Shape, trace: bool) -> Report {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let stream = |n: u64| StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
    let clock = TokioClock::starting_at(START_MS + rng.gen_range(0..86_400_000));
    let store = Store::open_for_simulation().expect("a store");
    let vendor = SimVendor::new(stream(1), clock, defects.vendor);
    let chat = SimChat::new(stream(2), clock, defects.chat);
    for (guild, channels) in GUILDS {
        for (channel, threads) in channels {
            chat.add_channel(channel, guild, threads);
        }
    }
    chat.add_channel(ALERTS, GuildId(1), true);
    let limits = workload::limits(&mut rng);
    let steps = workload::draw(&mut rng);
    if trace {
        eprintln!("limits: {limits:?}");
        for step in &steps {
            eprintln!("at {:>9} ms: {:?}", step.at_ms, step.act);
        }
    }
    let panics = Arc::new(AtomicUsize::new(0));
    let seeds = Arc::new(Mutex::new(stream(3)));
    let app = build(&store, &vendor, &chat, clock, limits, &seeds, &panics);
    let mut sim = Sim {
        store,
        vendor,
        chat,
        clock,
        limits,
        seeds,
        panics,
        app,
        peer: None,
        tickers: [None, None],
        started: 0,
        lost: Arc::default(),
        taken_up: Arc::default(),
        accepted: Vec::new(),
        violations: Vec::new(),
        next_event: 1_000_000_000,
        prompts: 0,
        crashes: 0,
        trace,
    };
    if shape == Shape::TwoReplicas {
        sim.start_replica(0).await;
        sim.start_replica(1).await;
    } else {
        sim.start_engine().await;
    }
    for step in steps {
        tokio::time::sleep_until(started + Duration::from_millis(step.at_ms as u64)).await;
        if trace {
            eprintln!(
                "[{:>9} ms] {:?}",
                (Instant::now() - started).as_millis(),
                step.act
            );
        }
        sim.act(step.act).await;
    }
    // The world heals: every transient fault ends. The bot must then finish everything.
    sim.vendor.heal();
    sim.chat.heal();
    sim.quiesce().await;
    let mut violations = std::mem::take(&mut sim.violations);
    violations.extend(sim.lost.lock().unwrap().drain(..));
    violations.extend(check::invariants(&sim).await);
    let ledger = sim.vendor.ledger();
    let states = check::final_states(&sim).await;
    Report {
        seed,
        violations,
        stats: Stats {
            jobs: sim.accepted.len(),
            delivered: states.delivered,
            failed: states.failed,
            reasons: states.reasons,
            crashes: sim.crashes,
            vendor_requests: ledger.requests,
            discord_posts: sim.chat.sends(),
            virtual_hours: (Instant::now() - started).as_secs() / 3600,
            taken_up: sim.taken_up.load(Ordering::SeqCst) as u64,
        },
    }
}

fn build(
    store: &Store,
    vendor: &Arc<SimVendor>,
    chat: &Arc<SimChat>,
    clock: TokioClock,
    limits: Limits,
    seeds: &Arc<Mutex<StdRng>>,
    panics: &Arc<AtomicUsize>,
) -> App {
    let panics = panics.clone();
    let hook: EventHook = Arc::new(move |event| {
        if let EngineEvent::Panicked { .. } = event {
            panics.fetch_add(1, Ordering::SeqCst);
        }
    });
    let seeds = seeds.clone();
    App::build(AppParts {
        store: store.clone(),
        vendor: vendor.clone(),
        chat: chat.clone(),
        clock: Arc::new(clock),
        engine: EngineSettings {
            intent_tip: true,
            ..EngineSettings::default()
        },
        throttle: ThrottleSettings {
            requests_per_minute: 60,
            max_concurrent_downloads: 3,
            downloads_use_budget: false,
            download_hosts: vec!["temp.pixeldojo.ai".into()],
        },
        caps: Caps::new(limits, chrono_tz::UTC),
        alerts: AlertsConfig {
            low_credits: 999_950,
            channel_id: Some(ALERTS.0),
        },
        limits: InputLimits::from_megabytes(20, 100),
        seeds: Arc::new(move || i64::from(seeds.lock().unwrap().gen::<u32>())),
        hooks: vec![hook],
        rules: omni_bot::app::Rules::default(),
        plain_messages: omni_bot::domain::intent::PlainMessages::Requester,
    })
}

impl Sim {
    async fn start_engine(&mut self) {
        self.app.engine.start();
        if let Err(e) = self.app.engine.resume().await {
            self.violations.push(format!("resume failed: {e}"));
        }
    }

    /// A fresh app (a new process) on `store`, against this world's ports.
    fn app_on(&self, store: &Store) -> App {
        build(
            store,
            &self.vendor,
            &self.chat,
            self.clock,
            self.limits,
            &self.seeds,
            &self.panics,
        )
    }

    /// Starts replica `slot` (0: `app`, 1: `peer`) as a new process on the shared store: its
    /// app, its replica loop every `LEASE / 5`, and no resume (the loop takes jobs up).
    async fn start_replica(&mut self, slot: usize) {
        self.started += 1;
        let store = self
            .store
            .clone()
            .as_replica(&format!("r{slot}-{}", self.started));
        let app = self.app_on(&store);
        app.engine.set_budget_share(0);
        app.engine.start();
        let mut replica = match Replica::join(store, LEASE).await {
            Ok(r) => r.keeping_claims_for(Duration::MAX),
            Err(e) => {
                self.violations.push(format!("a replica cannot join: {e}"));
                return;
            }
        };
        let engine = app.engine.clone();
        let lost = self.lost.clone();
        let taken_up = self.taken_up.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 5).await;
                match replica.tick(Some(&engine)).await {
                    Ok(n) => {
                        taken_up.fetch_add(n, Ordering::SeqCst);
                    }
                    Err(why) => {
                        lost.lock()
                            .unwrap()
                            .push(format!("a replica lost its place: {why:?}"));
                        engine.crash();
                        return;
                    }
                }
            }
        });
        self.tickers[slot] = Some(ticker.abort_handle());
        match slot {
            0 => self.app = app,
            _ => self.peer = Some(app),
        }
    }

    /// The replica that gets an event only one of them receives (a button press, say).
    fn app_for(&self, pick: u64) -> &App {
        match &self.peer {
            Some(peer) if pick % 2 == 1 => peer,
            _ => &self.app,
        }
    }

    fn apps(&self) -> impl Iterator<Item = &App> {
        std::iter::once(&self.app).chain(self.peer.as_ref())
    }

    fn event(&mut self) -> EventId {
        self.next_event += 1;
        EventId(self.next_event)
    }

    fn prompt(&mut self, what: &str) -> String {
        self.prompts += 1;
        format!("sim {what} {}", self.prompts)
    }

    /// A new job was accepted: remember it, and check that no cap was passed by it.
    async fn accepted(&mut self, started: Started, origin: &Origin) {
        let Started::New { job, .. } = started else {
            return;
        };
        self.accepted.push(Accepted { job });
        let caps = &self.app.caps;
        let window = caps.window(&self.clock);
        let scope = origin.scope();
        let Ok(usage) = self.store.usage(scope, origin.user, &window).await else {
            return;
        };
        let Ok(e) = caps
            .effective(&self.store, origin.guild, origin.user, &origin.roles)
            .await
        else {
            return;
        };
        let l = e.limits;
        let mut over = Vec::new();
        if usage.user_day_videos > u64::from(l.user_daily_videos) {
            over.push("the user's daily clips");
        }
        if let Scope::Guild(_) = scope {
            if usage.guild_day_videos > u64::from(l.guild_daily_videos) {
                over.push("the server's daily clips");
            }
            if l.guild_monthly_credits > 0 && usage.guild_month_credits > l.guild_monthly_credits {
                over.push("the server's monthly credits");
            }
        }
        if l.global_daily_credits > 0 && usage.global_day_credits > l.global_daily_credits {
            over.push("the bot's daily credits");
        }
        for cap in over {
            self.violations.push(format!(
                "job {job} passed a cap: {cap} ({usage:?} under {l:?})"
            ));
        }
    }

    /// A second delivery of an event must not start a second job. (It may start the first,
    /// when the first delivery was refused and a cap has room again since.)
    async fn again(
        &mut self,
        first: Option<Started>,
        second: Option<Started>,
        origin: &Origin,
        what: &str,
    ) {
        match (first, second) {
            (Some(Started::New { job: a, .. }), Some(Started::New { job: b, .. })) => {
                self.violations.push(format!(
                    "the same {what} delivered twice started two jobs ({a} and {b})"
                ));
            }
            (_, Some(started)) => self.accepted(started, origin).await,
            _ => {}
        }
    }

    fn request(&mut self, duration: Option<i64>) -> GenerationRequest {
        let draft = Draft {
            prompt: self.prompt("clip"),
            duration,
            ..Draft::default()
        };
        GenerationRequest::validate(draft, &self.app.limits).expect("a valid request")
    }

    fn origin_in(&self, channel: ChannelId, user: UserId) -> Origin {
        let channels = self.chat.channels();
        let c = channels.get(&channel);
        Origin {
            guild: c.and_then(|c| c.guild),
            channel,
            parent_channel: c.and_then(|c| c.parent),
            user,
            roles: Vec::new(),
            upload_limit: 0,
        }
    }

    async fn act(&mut self, act: Act) {
        match act {
            Act::Omni {
                user,
                place,
                duration,
                again_after_ms,
            } => {
                let channel = match place {
                    Place::Channel(channel) => channel,
                    Place::Dm => self.chat.dm_of(user),
                };
                let origin = self.origin_in(channel, user);
                let ask = Ask {
                    event: Some(self.event()),
                    origin: origin.clone(),
                    request: self.request(duration),
                    asked_in: None,
                    continues: None,
                    made_from: None,
                };
                // Replicas on the same shard both receive the command, at the same moment.
                let (first, twin) = match &self.peer {
                    Some(peer) => {
                        let (a, b) =
                            futures::join!(self.app.start(ask.clone()), peer.start(ask.clone()));
                        (a.ok(), Some(b.ok()))
                    }
                    None => (self.app.start(ask.clone()).await.ok(), None),
                };
                if let Some(twin) = twin {
                    self.again(None, first, &origin, "interaction").await;
                    self.again(first, twin, &origin, "interaction").await;
                } else if let Some(started) = first {
                    self.accepted(started, &origin).await;
                }
                if let Some(after) = again_after_ms {
                    tokio::time::sleep(Duration::from_millis(after)).await;
                    let second = self.app.start(ask).await.ok();
                    self.again(first, second, &origin, "interaction").await;
                }
            }
            Act::Reply {
                user,
                pick,
                to_clip,
                again,
            } => self.reply(user, pick, to_clip, again).await,
            Act::Button {
                user,
                pick,
                how,
                again,
            } => {
                let finals: Vec<(JobId, Final, ChannelId)> = self
                    .chat
                    .finals()
                    .into_iter()
                    .flat_map(|(job, posts)| posts.into_iter().map(move |(k, c)| (job, k, c)))
                    .collect();
                if finals.is_empty() {
                    return;
                }
                let (job, _, channel) = finals[(pick % finals.len() as u64) as usize];
                let origin = self.origin_in(channel, user);
                let event = self.event();
                let first = self
                    .app_for(pick)
                    .restart(job, how, origin.clone(), event)
                    .await;
                let first = first.ok().map(|(s, _)| s);
                if let Some(started) = first {
                    self.accepted(started, &origin).await;
                }
                if again {
                    let second = self
                        .app_for(pick / 2)
                        .restart(job, how, origin.clone(), event)
                        .await;
                    self.again(first, second.ok().map(|(s, _)| s), &origin, "button press")
                        .await;
                }
            }
            Act::Cancel { pick } => {
                let open: Vec<JobId> = self
                    .accepted
                    .iter()
                    .map(|a| a.job)
                    .filter(|j| self.apps().any(|app| app.engine.job_open(*j)))
                    .collect();
                if open.is_empty() {
                    return;
                }
                let job = open[(pick % open.len() as u64) as usize];
                if let Ok(Some(stored)) = self.store.job(job).await {
                    let _ = self.app_for(pick / 3).cancel(job, stored.user, false).await;
                }
            }
            Act::Admin {
                guild,
                limit,
                value,
            } => {
                let allowed = match value {
                    Some(v) => self.app.caps.check_override(limit, v).is_ok(),
                    None => true,
                };
                if allowed {
                    let _ = self
                        .store
                        .update_policy(guild, |p| match value {
                            Some(v) => {
                                p.overrides.insert(limit, v);
                            }
                            None => {
                                p.overrides.remove(&limit);
                            }
                        })
                        .await;
                    for app in self.apps() {
                        app.engine.limits_changed();
                    }
                }
            }
            Act::Vendor { fault, for_ms } => self.vendor.fault(fault, for_ms),
            Act::ChatOutage { for_ms } => self.chat.outage(for_ms),
            Act::DenySend { channel, for_ms } => self.chat.deny_send(channel, for_ms),
            Act::DenyAttach { channel, for_ms } => self.chat.deny_attach(channel, for_ms),
            Act::CloseDms { user, for_ms } => self.chat.close_dms(user, for_ms),
            Act::DeleteThread { pick } => {
                let threads: Vec<ChannelId> = self
                    .chat
                    .channels()
                    .into_iter()
                    .filter(|(_, c)| c.parent.is_some() && !c.deleted)
                    .map(|(id, _)| id)
                    .collect();
                if !threads.is_empty() {
                    self.chat
                        .delete(threads[(pick % threads.len() as u64) as usize]);
                }
            }
            Act::Crash { down_ms } if self.peer.is_some() => {
                // One replica dies; the other carries its jobs on, and it comes back later as
                // a new process. Every third time its replica loop only stalls first (a pause,
                // a partition from the database): its jobs run on while the other takes them up,
                // and only the check in each write keeps the two from both acting; it dies later.
                let slot = (down_ms % 2) as usize;
                if let Some(ticker) = self.tickers[slot].take() {
                    ticker.abort();
                }
                if down_ms % 3 == 0 {
                    tokio::time::sleep(Duration::from_millis(down_ms as u64)).await;
                }
                let app = if slot == 0 {
                    &self.app
                } else {
                    self.peer.as_ref().unwrap()
                };
                app.engine.crash();
                self.crashes += 1;
                tokio::time::sleep(Duration::from_millis(down_ms as u64)).await;
                self.start_replica(slot).await;
            }
            Act::Crash { down_ms } => {
                self.app.engine.crash();
                self.crashes += 1;
                tokio::time::sleep(Duration::from_millis(down_ms as u64)).await;
                self.app = self.app_on(&self.store);
                self.start_engine().await;
            }
        }
    }

    /// A user writes in one of the bot's conversations, replying to a clip or not.
    async fn reply(&mut self, user: UserId, pick: u64, to_clip: bool, again: bool) {
        let channels = self.chat.channels();
        let conversations: Vec<ChannelId> = channels
            .iter()
            .filter(|(_, c)| !c.deleted && c.messages.iter().any(|m| m.by_bot))
            .map(|(id, _)| *id)
            .filter(|id| *id != ALERTS)
            .collect();
        if conversations.is_empty() {
            return;
        }
        let channel = conversations[(pick % conversations.len() as u64) as usize];
        let clips: Vec<MessageId> = channels[&channel]
            .messages
            .iter()
            .filter(|m| matches!(m.final_of, Some((_, Final::Clip))))
            .map(|m| m.id)
            .collect();
        let replied_to = match (to_clip, clips.is_empty()) {
            (true, false) => Some(clips[(pick / 7 % clips.len() as u64) as usize]),
            _ => None,
        };
        let id = self.chat.user_message(channel);
        let origin = self.origin_in(channel, user);
        let facts = MessageFacts {
            id,
            origin: origin.clone(),
            text: self.prompt("reply"),
            attachments: Vec::new(),
            replied_to,
            replied_to_bot: replied_to.is_some(),
            // Only the requester's plain messages count; others mention the bot half the time.
            mentions_bot: pick / 3 % 2 == 0,
        };
        let started = |outcome| match outcome {
            MessageOutcome::Started(s) => Some(s),
            _ => None,
        };
        let (first, twin) = match &self.peer {
            Some(peer) => {
                let (a, b) = futures::join!(
                    self.app.on_message(facts.clone()),
                    peer.on_message(facts.clone())
                );
                (started(a), Some(started(b)))
            }
            None => (started(self.app.on_message(facts.clone()).await), None),
        };
        if let Some(twin) = twin {
            self.again(None, first, &origin, "message").await;
            self.again(first, twin, &origin, "message").await;
        } else if let Some(s) = first {
            self.accepted(s, &origin).await;
        }
        if again {
            let second = started(self.app.on_message(facts).await);
            self.again(first, second, &origin, "message").await;
        }
    }

    /// Lets the bot run until nothing is in flight (or it never gets there: a violation).
    async fn quiesce(&mut self) {
        let deadline = Instant::now() + QUIET_WITHIN;
        loop {
            let active = self
                .store
                .active_jobs()
                .await
                .map(|j| j.len())
                .unwrap_or(usize::MAX);
            let in_flight: usize = self.apps().map(|app| app.engine.in_flight()).sum();
            if active == 0 && in_flight == 0 {
                break;
            }
            if Instant::now() >= deadline {
                let left: BTreeSet<String> = self
                    .store
                    .active_jobs()
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|j| format!("{} in {:?}", j.id, j.state.name()))
                    .collect();
                self.violations.push(format!(
                    "jobs still unfinished {} days after the world healed: {left:?}",
                    QUIET_WITHIN.as_secs() / 86_400
                ));
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        // Alerts and other background posts settle.
        tokio::time::sleep(Duration::from_secs(60)).await;
        if self.trace {
            eprintln!("quiet at {} ms virtual", self.clock.now_ms() - START_MS);
        }
    }
}
