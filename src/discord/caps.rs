//! Usage caps at the Discord edge: admits or refuses a request on the one generation path,
//! refunds failed jobs, records the PixelDojo balance, warns once a day when it runs low, and
//! tells the tracker how many jobs each user may run at once.
//!
//! The rules live in [`crate::quota`] and the counting in [`crate::store::UsageStore`]; this module
//! only translates Discord's who-and-where into them and their refusals into [`UserError`]s.

use std::sync::Arc;

use chrono::Utc;
use chrono_tz::Tz;
use poise::serenity_prelude as serenity;
use tracing::{error, info, warn};

use super::errors::UserError;
use super::jobs::Origin;
use super::notify::DiscordNotifier;
use crate::config::{AlertsConfig, Config};
use crate::job::{Job, JobId, JobState};
use crate::quota::{self, Cost, Effective, GuildPolicy, Limits, Window};
use crate::store::{Balance, ReserveRequest, Store, UsageStore};
use crate::tracker::{now_ms, Tracker, TrackerEvent};

/// Usage caps for every server. Cheap to share behind an `Arc`.
pub struct Caps {
    pub usage: UsageStore,
    defaults: Limits,
    tz: Tz,
    alerts: AlertsConfig,
}

impl Caps {
    pub fn new(store: &Store, config: &Config) -> crate::store::Result<Self> {
        Ok(Self {
            usage: UsageStore::open(store)?,
            defaults: config.limits.defaults(),
            tz: config.limits.time_zone(),
            alerts: config.alerts.clone(),
        })
    }

    /// The config file's caps, before any server override.
    pub fn defaults(&self) -> Limits {
        self.defaults
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Today's and this month's windows.
    pub fn window(&self) -> Window {
        Window::at(Utc::now(), self.tz)
    }

    /// A server's policy; direct messages (no server) have none.
    pub fn policy(&self, guild: Option<u64>) -> crate::store::Result<GuildPolicy> {
        match guild {
            Some(g) => self.usage.policy(g),
            None => Ok(GuildPolicy::default()),
        }
    }

    pub fn effective(
        &self,
        guild: Option<u64>,
        user: u64,
        roles: &[u64],
    ) -> crate::store::Result<Effective> {
        let policy = self.policy(guild)?;
        Ok(quota::effective(&self.defaults, &policy, user, roles))
    }

    /// Counts a new job against every cap, or refuses it with a sentence for the user. Nothing
    /// is counted when it is refused.
    pub fn admit(&self, origin: &Origin, job_id: JobId) -> Result<(), super::Error> {
        let policy = self.policy(origin.guild_id)?;
        // Follow-ups live in a conversation the bot opened from an allowed channel.
        if origin.conversation.is_none() && !policy.channel_allowed(origin.channel_id) {
            return Err(UserError(channel_refusal(&policy)).into());
        }
        let effective = quota::effective(&self.defaults, &policy, origin.user_id, &origin.roles);
        let window = self.window();
        let request = ReserveRequest {
            job_id,
            guild_id: origin.guild_id.unwrap_or(0),
            user_id: origin.user_id,
            limits: effective.limits,
            window: &window,
            cost: Cost::CLIP,
        };
        match self.usage.reserve(&request)? {
            Ok(_) => Ok(()),
            Err(refusal) => {
                info!(
                    job = job_id,
                    user = origin.user_id,
                    ?refusal,
                    "refused by a usage cap"
                );
                Err(UserError(refusal.to_string()).into())
            }
        }
    }

    /// How many jobs the job's user may have running at once in its server.
    pub fn concurrency(&self, guild: Option<u64>) -> usize {
        let policy = self.policy(guild).unwrap_or_else(|e| {
            warn!(error = %e, "cannot read the server's limits; using the defaults");
            GuildPolicy::default()
        });
        let limits = quota::effective(&self.defaults, &policy, 0, &[]).limits;
        limits.user_concurrent_jobs.max(1) as usize
    }

    /// The private acknowledgement of a started request, saying when it waits in the queue.
    pub fn acknowledgement(
        &self,
        tracker: &Tracker<DiscordNotifier>,
        guild: Option<u64>,
        user: u64,
    ) -> String {
        let (running, waiting) = tracker.user_jobs(user);
        // The new job is among them (it is opening its conversation), so it is not ahead of itself.
        let ahead = (running + waiting).saturating_sub(1);
        let limit = self.concurrency(guild);
        if ahead >= limit {
            let position = ahead + 1 - limit;
            format!(
                "🕒 Got it! You already have {} going, so this one is queued (#{position} in your line). I'll start it as soon as one finishes and post progress and the video right here.",
                plural(ahead, "clip")
            )
        } else {
            "🎬 Got it! I'm starting your clip and will post progress and the video right here."
                .to_owned()
        }
    }

    /// Subscribes the refunds, the balance and the low-credit alert to the tracker, and gives
    /// it each server's concurrency limit. Call once, in setup.
    pub fn install(
        self: &Arc<Self>,
        tracker: &Tracker<DiscordNotifier>,
        http: Arc<serenity::Http>,
    ) {
        let caps = self.clone();
        tracker.set_concurrency_limit(Arc::new(move |job: &Job| caps.concurrency(job.guild_id)));
        let caps = self.clone();
        tracker.subscribe(Arc::new(move |event| caps.on_event(event, &http)));
    }

    fn on_event(&self, event: &TrackerEvent<'_>, http: &Arc<serenity::Http>) {
        match event {
            TrackerEvent::StateChanged { job, .. } => {
                // A job whose submit outcome is unknown ends with `refunded: false`: it stays
                // counted, since PixelDojo may have charged it.
                if let JobState::Failed { refunded: true, .. } = job.state {
                    match self.usage.refund(job.id) {
                        Ok(true) => info!(job = job.id, "usage refunded"),
                        Ok(false) => {}
                        Err(e) => error!(job = job.id, error = %e, "cannot refund usage"),
                    }
                }
            }
            TrackerEvent::Submitted {
                credits_remaining: Some(remaining),
                ..
            } => self.on_balance(*remaining, http),
            _ => {}
        }
    }

    fn on_balance(&self, remaining: i64, http: &Arc<serenity::Http>) {
        let balance = Balance {
            credits_remaining: remaining,
            at_ms: now_ms(),
        };
        if let Err(e) = self.usage.record_balance(balance) {
            warn!(error = %e, "cannot record the PixelDojo balance");
        }
        let (threshold, Some(channel)) = (self.alerts.low_credits, self.alerts.channel_id) else {
            return;
        };
        if threshold <= 0 || remaining >= threshold {
            return;
        }
        match self.usage.claim_low_credit_alert(&self.window().day) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                warn!(error = %e, "cannot record the low-credit alert");
                return;
            }
        }
        let http = http.clone();
        let text = format!(
            "⚠️ PixelDojo credits are running low: {remaining} left (the alert threshold is {threshold}). Each clip costs about {}. Top up at pixeldojo.ai to keep clips coming.",
            quota::CLIP_CREDITS
        );
        tokio::spawn(async move {
            let message = serenity::CreateMessage::new()
                .content(text)
                .allowed_mentions(serenity::CreateAllowedMentions::new());
            match serenity::ChannelId::new(channel)
                .send_message(&http, message)
                .await
            {
                Ok(_) => info!(remaining, channel, "low-credit alert sent"),
                Err(e) => {
                    warn!(error = %super::errors::describe(&e), channel, "cannot send the low-credit alert")
                }
            }
        });
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn channel_refusal(policy: &GuildPolicy) -> String {
    if policy.allowed_channels.is_empty() {
        "Clips can't be made in this channel: the server's admins turned it off here.".to_owned()
    } else {
        let list: Vec<String> = policy
            .allowed_channels
            .iter()
            .take(5)
            .map(|c| format!("<#{c}>"))
            .collect();
        format!(
            "Clips can't be made in this channel. Try {}.",
            list.join(", ")
        )
    }
}
