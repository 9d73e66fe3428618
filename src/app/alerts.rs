//! Alerts for the operator, in the configured alert channel: PixelDojo's balance runs low (at
//! most once a day), or PixelDojo rejected the API key (at most once an hour). It listens to the
//! engine's events and records the last balance PixelDojo reported.

use std::sync::{Arc, Mutex};

use tracing::{error, info, warn};

use super::caps::Caps;
use crate::clock::Clock;
use crate::config::AlertsConfig;
use crate::domain::ids::ChannelId;
use crate::engine::ports::{Body, Chat, Outgoing};
use crate::engine::EngineEvent;
use crate::store::{Balance, Store};

/// The key alert is repeated at most this often while the key stays rejected.
const KEY_ALERT_EVERY_MS: i64 = 3_600_000;

/// Sends operator alerts. Cheap to share behind an `Arc`.
pub struct Alerts {
    store: Store,
    chat: Arc<dyn Chat>,
    clock: Arc<dyn Clock>,
    caps: Arc<Caps>,
    config: AlertsConfig,
    /// When the last key alert went out (in memory: after a restart, one more is fine).
    last_key_alert_ms: Mutex<Option<i64>>,
}

/// What to tell the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    LowCredits { remaining: i64, threshold: i64 },
    KeyRejected,
}

impl Alerts {
    pub fn new(
        store: Store,
        chat: Arc<dyn Chat>,
        clock: Arc<dyn Clock>,
        caps: Arc<Caps>,
        config: AlertsConfig,
    ) -> Self {
        Self {
            store,
            chat,
            clock,
            caps,
            config,
            last_key_alert_ms: Mutex::new(None),
        }
    }

    /// The engine's event hook.
    pub fn on_event(self: &Arc<Self>, event: &EngineEvent<'_>) {
        let remaining = match event {
            EngineEvent::Submitted {
                credits_remaining: Some(remaining),
                ..
            } => *remaining,
            EngineEvent::KeyRejected => {
                if let Some(alert) = self.on_key_rejected() {
                    self.send(alert);
                }
                return;
            }
            _ => return,
        };
        let this = self.clone();
        tokio::spawn(async move {
            if let Some(alert) = this.on_balance(remaining).await {
                this.send(alert);
            }
        });
    }

    /// Records the balance; an alert when it fell under the threshold for the first time today.
    async fn on_balance(&self, remaining: i64) -> Option<Alert> {
        let balance = Balance {
            credits_remaining: remaining,
            at_ms: self.clock.now_ms(),
        };
        if let Err(e) = self.store.record_balance(balance).await {
            warn!(error = %e, "cannot record the PixelDojo balance");
        }
        let threshold = self.config.low_credits;
        if threshold <= 0 || remaining >= threshold || self.config.channel_id.is_none() {
            return None;
        }
        let day = self.caps.window(self.clock.as_ref()).day;
        match self.store.claim_low_credit_alert(&day).await {
            Ok(true) => Some(Alert::LowCredits {
                remaining,
                threshold,
            }),
            Ok(false) => None,
            Err(e) => {
                warn!(error = %e, "cannot record the low-credit alert");
                None
            }
        }
    }

    fn on_key_rejected(&self) -> Option<Alert> {
        error!("PixelDojo rejected the API key: check `pixeldojo.api_key` (or PIXELDOJO_API_KEY); jobs in flight wait for it until they time out");
        let now = self.clock.now_ms();
        let mut last = self
            .last_key_alert_ms
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| now - t < KEY_ALERT_EVERY_MS) {
            return None;
        }
        *last = Some(now);
        Some(Alert::KeyRejected)
    }

    fn send(&self, alert: Alert) {
        let Some(channel) = self.config.channel_id.map(ChannelId) else {
            return;
        };
        let chat = self.chat.clone();
        tokio::spawn(async move {
            let body = match alert {
                Alert::LowCredits {
                    remaining,
                    threshold,
                } => Body::LowCredits {
                    remaining,
                    threshold,
                },
                Alert::KeyRejected => Body::KeyRejected,
            };
            match chat.send(channel, Outgoing { body, nonce: None }).await {
                Ok(_) => info!(?alert, %channel, "alert sent"),
                Err(e) => warn!(error = %e, %channel, "cannot send an alert"),
            }
        });
    }
}
