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
mod moderation;
mod reach;

use std::sync::Arc;

use tracing::{error, info};

pub use actions::{
    ActionRefusal, Animated, RemoveRefusal, Restart, Restarted, MAX_ANIMATED_IMAGES,
};
pub use alerts::Alerts;
pub use caps::Caps;
pub use conversation::{MessageFacts, MessageOutcome, Why};
pub use moderation::{ModLog, RuleProblem, Rules};

use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::domain::ids::{
    ChannelId, ConversationId, EventId, GuildId, JobId, RoleId, Scope, UserId,
};
use crate::domain::intent::PlainMessages;
use crate::domain::job::{Job, JobState, ParentRef};
use crate::domain::lineage::MadeFrom;
use crate::domain::moderation::RuleOwner;
use crate::domain::permissions::Permission;
use crate::domain::queue;
use crate::domain::quota::{Cost, Refusal};
use crate::domain::request::{GenerationRequest, InputLimits};
use crate::engine::ports::Chat;
use crate::engine::{Engine, EngineEvent, EngineParts, EngineSettings, EventHook, RefusalReason};
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
    /// The button that made the request from another clip (re-roll, other aspect ratio).
    pub made_from: Option<MadeFrom>,
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
    /// The operator turned direct messages off.
    DmsOff,
    /// The server's admins do not allow clips in that channel; `allowed` lists where they do.
    Channel { allowed: Vec<ChannelId> },
    /// The prompt uses a word or phrase a rule refuses (the refusal never repeats it).
    PromptRule { owner: RuleOwner },
    /// The bot may not post where it was asked (`missing` says why); `privately_too` when the
    /// requester's direct messages are closed to it as well.
    CannotPost {
        missing: Permission,
        privately_too: bool,
    },
    /// A usage cap.
    Quota(Refusal),
    /// Something failed on the bot's side (the cause is in the log).
    Internal,
}

impl Refused {
    /// Why, for metrics.
    pub fn reason(&self) -> RefusalReason {
        match self {
            Self::Stopping => RefusalReason::Stopping,
            Self::DmsOff => RefusalReason::DmsOff,
            Self::Channel { .. } => RefusalReason::Channel,
            Self::PromptRule { .. } => RefusalReason::PromptRule,
            Self::CannotPost { .. } => RefusalReason::CannotPost,
            Self::Quota(Refusal::Blocked { .. }) => RefusalReason::Blocked,
            Self::Quota(Refusal::UserDaily { .. }) => RefusalReason::UserDaily,
            Self::Quota(Refusal::GuildDaily { .. }) => RefusalReason::GuildDaily,
            Self::Quota(Refusal::GuildMonthlyCredits { .. }) => RefusalReason::GuildMonthlyCredits,
            Self::Quota(Refusal::GlobalDailyCredits { .. }) => RefusalReason::GlobalDailyCredits,
            Self::Internal => RefusalReason::Internal,
        }
    }
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
    /// The engine's Discord side, for the app's own messages (mod log, private notices).
    pub chat: Arc<dyn Chat>,
    /// The operator's rules: direct messages, blocked words.
    pub rules: Arc<Rules>,
    /// Whose plain messages continue a clip in its thread, where a server has not chosen.
    pub plain_messages: PlainMessages,
    mod_log: Arc<ModLog>,
    /// Everyone who listens to the engine's events also hears about refused requests.
    hooks: Arc<[EventHook]>,
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
    /// The operator's rules: direct messages, blocked words.
    pub rules: Rules,
    /// Whose plain messages continue a clip in its thread, where a server has not chosen.
    pub plain_messages: PlainMessages,
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
        let mod_log = Arc::new(ModLog::new(parts.store.clone(), parts.chat.clone()));
        let mut hooks = parts.hooks;
        let app_hooks: Arc<[EventHook]> = hooks.clone().into();
        hooks.push(Arc::new(move |event| alerts.on_event(event)));
        let listener = mod_log.clone();
        hooks.push(Arc::new(move |event| listener.on_event(event)));
        let concurrency = {
            let (caps, store) = (caps.clone(), parts.store.clone());
            Arc::new(move |job: &Job| {
                let (caps, store, guild) = (caps.clone(), store.clone(), job.guild);
                Box::pin(async move { caps.concurrency(&store, guild).await }) as _
            })
        };
        let vendor = Throttled::new(parts.vendor, parts.clock.clone(), parts.throttle);
        let engine = Engine::new(EngineParts {
            store: parts.store.clone(),
            vendor,
            chat: parts.chat.clone(),
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
            chat: parts.chat,
            rules: Arc::new(parts.rules),
            plain_messages: parts.plain_messages,
            mod_log,
            hooks: app_hooks,
        }
    }

    /// Reports a refusal to the listeners (metrics) and hands it back.
    pub(crate) fn refuse(&self, refused: Refused) -> Refused {
        let event = EngineEvent::Refused {
            reason: refused.reason(),
        };
        for hook in self.hooks.iter() {
            hook(&event);
        }
        refused
    }

    /// Checks the direct-message setting, the channel rules, the prompt rules and the caps, and
    /// either starts the job or refuses it. A refused request is neither stored nor sent, and
    /// counts nothing.
    pub async fn start(&self, ask: Ask) -> Result<Started, Refused> {
        self.admit_and_drive(ask)
            .await
            .map_err(|refused| self.refuse(refused))
    }

    async fn admit_and_drive(&self, ask: Ask) -> Result<Started, Refused> {
        if self.engine.is_stopping() {
            return Err(Refused::Stopping);
        }
        let origin = &ask.origin;
        if origin.guild.is_none() && !self.rules.allow_dms {
            return Err(Refused::DmsOff);
        }
        let policy = self
            .caps
            .policy(&self.store, origin.guild)
            .await
            .map_err(internal)?;
        // A thread is ruled by its parent channel: Discord names it, or the thread is one the
        // bot opened and recorded with its parent.
        let ruled = match (origin.parent_channel, ask.asked_in) {
            (Some(parent), _) => parent,
            (None, Some(conversation)) => self
                .store
                .conversation(conversation)
                .await
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
        self.check_prompt(origin, ask.request.prompt()).await?;
        let effective = self
            .caps
            .effective_in(origin.guild, &policy, origin.user, &origin.roles);
        let window = self.caps.window(self.clock.as_ref());
        // Every clip gets a seed, so that it can be made again.
        let request = match ask.request.seed() {
            Some(_) => ask.request,
            None => ask.request.with_seed((self.seeds)()),
        };
        let lineage = self.provisional_lineage(ask.asked_in, ask.continues).await;
        let job = Job {
            id: self.store.next_id().await.map_err(internal)?,
            guild: origin.guild,
            channel: origin.channel,
            parent_channel: origin.parent_channel,
            user: origin.user,
            request,
            attachment_size_limit: match origin.upload_limit {
                0 => DEFAULT_UPLOAD_LIMIT,
                n => n,
            },
            created_at_ms: self.clock.now_ms(),
            place: None,
            state: JobState::Accepted,
            asked_in: ask.asked_in,
            continues: ask.continues,
            lineage,
            made_from: ask.made_from,
        };
        // On a shared store, a job joins the replica already working for its thread or user.
        let owner = self
            .engine
            .owner_for(job.asked_in, origin.user)
            .await
            .map_err(internal)?;
        let admission = Admission {
            job: &job,
            event: ask.event,
            owner: owner.as_deref(),
            reserve: ReserveRequest {
                job_id: job.id,
                scope: origin.scope(),
                user: origin.user,
                limits: effective.limits,
                window: &window,
                cost: Cost::CLIP,
            },
        };
        match self.store.admit(&admission).await.map_err(internal)? {
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
        match owner {
            None => self.engine.drive(job),
            Some(replica) => {
                info!(job = %id, replica, "handed to the replica already working for this thread or user")
            }
        }
        Ok(Started::New {
            job: id,
            queued: queue::position_on_arrival(running + waiting, limit.await),
        })
    }
}

fn internal(e: crate::store::StoreError) -> Refused {
    error!(error = %e, "the store failed while starting a job");
    Refused::Internal
}
