//! What moderators control and read: prompt rules (the operator's in the config, each server's
//! own), the mod log (a line per accepted clip and per prompt refused by a rule), the tips about
//! permissions the bot lacks (once per channel and permission, to the mod log or the server's
//! system channel, never as a public ping), and the list of a server's jobs in flight.
//!
//! [`ModLog`] listens to the engine's events and posts through the engine's Discord side.

use std::sync::Arc;

use tracing::{info, warn};

use super::{App, Origin, Refused};
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::job::{Job, JobState, StateName};
use crate::domain::moderation::{self, ModerationSettings, RuleOwner, Term, TermError};
use crate::domain::permissions::Permission;
use crate::engine::ports::{Body, Chat, ChatError, Nonce, NonceKind, Outgoing};
use crate::engine::EngineEvent;
use crate::store::{Once, Store};

/// The operator's rules, from the config.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Whether `/omni` and its follow-ups work in direct messages.
    pub allow_dms: bool,
    /// Words and phrases refused in every prompt, everywhere.
    pub blocked_terms: Vec<Term>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            allow_dms: true,
            blocked_terms: Vec::new(),
        }
    }
}

/// Posts the mod log's lines and the permission tips. Cheap to share behind an `Arc`.
pub struct ModLog {
    store: Store,
    chat: Arc<dyn Chat>,
}

/// Why a prompt rule could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleProblem {
    Invalid(TermError),
    /// The server has as many rules as it may.
    Full {
        max: usize,
    },
}

impl ModLog {
    pub fn new(store: Store, chat: Arc<dyn Chat>) -> Self {
        Self { store, chat }
    }

    /// The engine's event hook.
    pub fn on_event(self: &Arc<Self>, event: &EngineEvent<'_>) {
        let this = self.clone();
        match event {
            EngineEvent::StateChanged { job, from }
                if *from == StateName::Accepted && job.state == JobState::Queued =>
            {
                let job = (*job).clone();
                tokio::spawn(async move { this.accepted(&job).await });
            }
            EngineEvent::PermissionMissing {
                job,
                channel,
                permission,
            } => {
                let (job, channel, permission) = ((*job).clone(), *channel, *permission);
                tokio::spawn(
                    async move { this.permission_missing(&job, channel, permission).await },
                );
            }
            _ => {}
        }
    }

    async fn mod_log(&self, guild: GuildId) -> Option<ChannelId> {
        self.store
            .moderation(guild)
            .await
            .inspect_err(|e| warn!(error = %e, "cannot read the server's moderation settings"))
            .ok()
            .and_then(|m| m.mod_log)
    }

    /// A clip was accepted and its conversation is open: one line in the mod log.
    async fn accepted(&self, job: &Job) {
        let Some(guild) = job.guild else { return };
        let Some(channel) = self.mod_log(guild).await else {
            return;
        };
        let job = job.clone();
        let chat = self.chat.clone();
        tokio::spawn(async move {
            let outgoing = Outgoing {
                body: Body::ModLogClip { job: &job },
                nonce: Some(Nonce {
                    job: job.id,
                    kind: NonceKind::ModLog,
                }),
            };
            if let Err(e) = chat.send(channel, outgoing).await {
                warn!(error = %e, job = %job.id, "cannot post in the mod log");
            }
        });
    }

    /// A prompt was refused by a rule: one line in the server's mod log.
    pub async fn refused(&self, origin: &Origin, prompt: &str, owner: RuleOwner) {
        let Some(guild) = origin.guild else { return };
        let Some(channel) = self.mod_log(guild).await else {
            return;
        };
        let (user, at, prompt) = (origin.user, origin.channel, prompt.to_owned());
        let chat = self.chat.clone();
        tokio::spawn(async move {
            let body = Body::ModLogRefusal {
                user,
                channel: at,
                prompt: &prompt,
                owner,
            };
            if let Err(e) = chat.send(channel, Outgoing { body, nonce: None }).await {
                warn!(error = %e, "cannot post in the mod log");
            }
        });
    }

    /// Tells the server's moderators, once per channel and permission, in the mod log or else
    /// the system channel.
    async fn permission_missing(&self, job: &Job, channel: ChannelId, permission: Permission) {
        let Some(guild) = job.guild else { return };
        let target = match self.mod_log(guild).await {
            Some(channel) => Some(channel),
            None => self
                .store
                .system_channel(guild)
                .await
                .inspect_err(|e| warn!(error = %e, "cannot read the system channel"))
                .ok()
                .flatten(),
        };
        let Some(target) = target else {
            info!(%channel, permission = permission.key(), "no mod log or system channel for the permission tip");
            return;
        };
        match self
            .store
            .first_time(Once::PermissionTip(channel, permission))
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                warn!(error = %e, "cannot record the permission tip");
                return;
            }
        }
        let (chat, store) = (self.chat.clone(), self.store.clone());
        tokio::spawn(async move {
            // Recorded before it is sent: a restart never tells it twice.
            if let Err(e) = store.flush().await {
                warn!(error = %e, "cannot flush the permission tip's record");
            }
            let body = Body::PermissionTip {
                channel,
                permission,
            };
            match chat.send(target, Outgoing { body, nonce: None }).await {
                Ok(_) => info!(%channel, permission = permission.key(), "permission tip sent"),
                Err(e) => warn!(error = %e, "cannot send the permission tip"),
            }
        });
    }
}

impl App {
    /// Whether a prompt may be sent: the operator's rules apply everywhere, a server's in that
    /// server. A refusal is logged for the server's moderators.
    pub(super) async fn check_prompt(&self, origin: &Origin, prompt: &str) -> Result<(), Refused> {
        let server = match origin.guild {
            Some(g) => {
                self.store
                    .moderation(g)
                    .await
                    .map_err(super::internal)?
                    .blocked_terms
            }
            None => Default::default(),
        };
        match moderation::check_prompt(prompt, &self.rules.blocked_terms, &server) {
            None => Ok(()),
            Some(owner) => {
                info!(user = %origin.user, ?owner, "prompt refused by a rule");
                self.mod_log.refused(origin, prompt, owner).await;
                Err(Refused::PromptRule { owner })
            }
        }
    }

    /// A server's moderation settings.
    pub async fn moderation(&self, guild: GuildId) -> crate::store::Result<ModerationSettings> {
        self.store.moderation(guild).await
    }

    /// Adds a prompt rule to a server; `Ok(false)` when it was there already.
    pub async fn add_prompt_rule(
        &self,
        guild: GuildId,
        text: &str,
    ) -> Result<Result<bool, RuleProblem>, crate::store::StoreError> {
        let term = match Term::parse(text) {
            Ok(t) => t,
            Err(e) => return Ok(Err(RuleProblem::Invalid(e))),
        };
        let before = self.store.moderation(guild).await?;
        if before.blocked_terms.contains(&term) {
            return Ok(Ok(false));
        }
        if before.blocked_terms.len() >= moderation::MAX_SERVER_TERMS {
            return Ok(Err(RuleProblem::Full {
                max: moderation::MAX_SERVER_TERMS,
            }));
        }
        self.store
            .update_moderation(guild, |m| {
                m.blocked_terms.insert(term.clone());
            })
            .await?;
        Ok(Ok(true))
    }

    /// Removes a prompt rule from a server; false when there was no such rule.
    pub async fn remove_prompt_rule(
        &self,
        guild: GuildId,
        text: &str,
    ) -> crate::store::Result<bool> {
        let Ok(term) = Term::parse(text) else {
            return Ok(false);
        };
        let before = self.store.moderation(guild).await?;
        if !before.blocked_terms.contains(&term) {
            return Ok(false);
        }
        self.store
            .update_moderation(guild, |m| {
                m.blocked_terms.remove(&term);
            })
            .await?;
        Ok(true)
    }

    /// Sets (or with `None` turns off) a server's mod log. A new mod log gets a first line, so
    /// the answer can say whether the bot may post there.
    pub async fn set_mod_log(
        &self,
        guild: GuildId,
        channel: Option<ChannelId>,
    ) -> Result<Result<(), ChatError>, crate::store::StoreError> {
        if let Some(channel) = channel {
            let first = Outgoing {
                body: Body::ModLogStart,
                nonce: None,
            };
            if let Err(e) = self.chat.send(channel, first).await {
                return Ok(Err(e));
            }
        }
        self.store
            .update_moderation(guild, |m| m.mod_log = channel)
            .await?;
        Ok(Ok(()))
    }

    /// The server's jobs that are not finished yet, oldest first.
    pub async fn server_jobs(&self, guild: GuildId) -> crate::store::Result<Vec<Job>> {
        Ok(self
            .store
            .active_jobs()
            .await?
            .into_iter()
            .filter(|j| j.guild == Some(guild))
            .collect())
    }
}
