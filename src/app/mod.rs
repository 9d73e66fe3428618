//! The use cases, free of Discord: starting a job (admit, reserve, persist, hand over), the caps
//! and who may change them, operator alerts, what a message in a conversation continues, and
//! what the buttons on a clip do.
//!
//! The Discord adapter turns events into calls here and the answers into messages; the
//! simulation calls the same functions directly. Every path that starts a job goes through
//! [`App::start`], so caps, channel rules and duplicate events are handled once.

mod actions;
mod alerts;
pub mod caps;
pub mod conversation;

use std::sync::Arc;

use tracing::{error, info};

pub use actions::{ActionRefusal, Restart, Restarted};
pub use alerts::Alerts;
pub use caps::Caps;
pub use conversation::{MessageFacts, MessageOutcome, Why};

use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::domain::ids::{
    ChannelId, ConversationId, EventId, GuildId, JobId, RoleId, Scope, UserId,
};
use crate::domain::job::{Job, JobState, ParentRef};
use crate::domain::queue;
use crate::domain::quota::{Cost, Refusal};
use crate::domain::request::{GenerationRequest, InputLimits};
use crate::engine::ports::Chat;
use crate::engine::{Engine, EngineParts, EngineSettings, EventHook};
use crate::pixeldojo::{ThrottleSettings, Throttled, VendorApi};
use crate::store::{Admission, Admitted, ReserveRequest, Store};

/// Discord's default upload limit, used when an interaction does not say.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 10 * 1024 * 1024;

/// Who asked, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub guild: Option<GuildId>,
    /// The channel the request was made in (a thread, a channel, a DM).
    pub channel: ChannelId,
    /// For a thread or a forum post: the channel it belongs to, whose rules apply.
    pub parent_channel: Option<ChannelId>,
    pub user: UserId,
    /// The member's roles (for per-role allowances).
    pub roles: Vec<RoleId>,
    /// Largest upload Discord accepts there (bytes; 0 when unknown).
    pub upload_limit: u64,
}

impl Origin {
    pub fn scope(&self) -> Scope {
        Scope::from_guild(self.guild)
    }
}

/// A request to start a job.
#[derive(Debug, Clone)]
pub struct Ask {
    /// The Discord event that asked (an interaction or a message): the same event delivered
    /// twice starts one job.
    pub event: Option<EventId>,
    pub origin: Origin,
    pub request: GenerationRequest,
    /// Set when asked inside an existing conversation (a reply, a button).
    pub asked_in: Option<ConversationId>,
    /// The clip the request iterates on.
    pub continues: Option<ParentRef>,
}

/// A job that was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new job; `queued` is its place in the user's line (`None`: it starts at once).
    New { job: JobId, queued: Option<usize> },
    /// The event had already started this job (a duplicate delivery): nothing new happened.
    AlreadyHandled(JobId),
}

/// Why a request was not started. Nothing was counted or charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The bot is shutting down.
    Stopping,
    /// The server's admins do not allow clips in that channel; `allowed` lists where they do.
    Channel { allowed: Vec<ChannelId> },
    /// A usage cap.
    Quota(Refusal),
    /// Something failed on the bot's side (the cause is in the log).
    Internal,
}

/// Everything the use cases need. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub engine: Engine,
    pub clock: Arc<dyn Clock>,
    pub caps: Arc<Caps>,
    pub limits: InputLimits,
    /// Draws a seed for a clip that has none (re-rolls); seeded in the simulation.
    pub seeds: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// Everything the app is built from: the store, the ports, and the settings.
pub struct AppParts {
    pub store: Store,
    pub vendor: Arc<dyn VendorApi>,
    pub chat: Arc<dyn Chat>,
    pub clock: Arc<dyn Clock>,
    pub engine: EngineSettings,
    pub throttle: ThrottleSettings,
    pub caps: Caps,
    pub alerts: AlertsConfig,
    pub limits: InputLimits,
    pub seeds: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Further listeners to the engine's events (metrics, tests).
    pub hooks: Vec<EventHook>,
}

impl App {
    /// Wires the engine, the throttled vendor client, the caps and the alerts together. The
    /// engine is not started: call [`Engine::start`] and [`Engine::resume`].
    pub fn build(parts: AppParts) -> Self {
        let caps = Arc::new(parts.caps);
        let alerts = Arc::new(Alerts::new(
            parts.store.clone(),
            parts.chat.clone(),
            parts.clock.clone(),
            caps.clone(),
            parts.alerts,
        ));
        let mut hooks = parts.hooks;
        hooks.push(Arc::new(move |event| alerts.on_event(event)));
        let concurrency = {
            let (caps, store) = (caps.clone(), parts.store.clone());
            Arc::new(move |job: &Job| caps.concurrency(&store, job.guild))
        };
        let vendor = Throttled::new(parts.vendor, parts.clock.clone(), parts.throttle);
        let engine = Engine::new(EngineParts {
            store: parts.store.clone(),
            vendor,
            chat: parts.chat,
            clock: parts.clock.clone(),
            settings: parts.engine,
            hooks,
            concurrency,
        });
        Self {
            store: parts.store,
            engine,
            clock: parts.clock,
            caps,
            limits: parts.limits,
            seeds: parts.seeds,
        }
    }

    /// Checks the channel rules and caps, and either starts the job or refuses it. A refused
    /// request is neither stored nor sent, and counts nothing.
    pub async fn start(&self, ask: Ask) -> Result<Started, Refused> {
        if self.engine.is_stopping() {
            return Err(Refused::Stopping);
        }
        let origin = &ask.origin;
        let policy = self
            .caps
            .policy(&self.store, origin.guild)
            .map_err(internal)?;
        // A thread is ruled by its parent channel: Discord names it, or the thread is one the
        // bot opened and recorded with its parent.
        let ruled = match (origin.parent_channel, ask.asked_in) {
            (Some(parent), _) => parent,
            (None, Some(conversation)) => self
                .store
                .conversation(conversation)
                .map_err(internal)?
                .and_then(|c| c.parent)
                .unwrap_or(origin.channel),
            (None, None) => origin.channel,
        };
        if !policy.channel_allowed(ruled) {
            return Err(Refused::Channel {
                allowed: policy.allowed_channels.iter().copied().collect(),
            });
        }
        let effective = self
            .caps
            .effective_with(&policy, origin.user, &origin.roles);
        let window = self.caps.window(self.clock.as_ref());
        let job = Job {
            id: self.store.next_id().map_err(internal)?,
            guild: origin.guild,
            channel: origin.channel,
            parent_channel: origin.parent_channel,
            user: origin.user,
            request: ask.request,
            attachment_size_limit: match origin.upload_limit {
                0 => DEFAULT_UPLOAD_LIMIT,
                n => n,
            },
            created_at_ms: self.clock.now_ms(),
            place: None,
            state: JobState::Accepted,
            asked_in: ask.asked_in,
            continues: ask.continues,
        };
        let admission = Admission {
            job: &job,
            event: ask.event,
            reserve: ReserveRequest {
                job_id: job.id,
                scope: origin.scope(),
                user: origin.user,
                limits: effective.limits,
                window: &window,
                cost: Cost::CLIP,
            },
        };
        match self.store.admit(&admission).map_err(internal)? {
            Admitted::Accepted(_) => {}
            Admitted::Refused(refusal) => {
                info!(user = %origin.user, ?refusal, "refused by a usage cap");
                return Err(Refused::Quota(refusal));
            }
            Admitted::Duplicate(first) => {
                info!(job = %first, event = ?ask.event, "event already handled");
                return Ok(Started::AlreadyHandled(first));
            }
        }
        if let Err(e) = self.store.flush().await {
            error!(job = %job.id, error = %e, "cannot flush the new job; it runs anyway");
        }
        info!(job = %job.id, guild = ?job.guild.map(|g| g.0), user = %job.user, kind = %job.request.kind_key(), "accepted");
        let (running, waiting) = self.engine.user_jobs(origin.user);
        let limit = self.caps.concurrency(&self.store, origin.guild);
        let id = job.id;
        self.engine.drive(job);
        Ok(Started::New {
            job: id,
            queued: queue::position_on_arrival(running + waiting, limit),
        })
    }
}

fn internal(e: crate::store::StoreError) -> Refused {
    error!(error = %e, "the store failed while starting a job");
    Refused::Internal
}
