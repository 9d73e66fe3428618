//! Replicas on the same shard all receive every interaction: the first to record its id
//! answers it, and the others drop it before poise sees it (a second answer would fail, and a
//! second command run would explain things twice). Messages are claimed by the app, once it
//! knows a message is addressed to the bot. On the embedded store every claim succeeds.

use async_trait::async_trait;
use poise::serenity_prelude as serenity;
use tracing::{debug, warn};

use super::{Data, Error};
use crate::domain::ids::EventId;
use crate::store::Store;

/// poise's framework behind the claim of each interaction.
pub struct FirstToHandle {
    inner: poise::Framework<Data, Error>,
    store: Store,
}

impl FirstToHandle {
    pub fn new(inner: poise::Framework<Data, Error>, store: Store) -> Self {
        Self { inner, store }
    }
}

#[async_trait]
impl serenity::Framework for FirstToHandle {
    async fn init(&mut self, client: &serenity::Client) {
        self.inner.init(client).await;
    }

    async fn dispatch(&self, ctx: serenity::Context, event: serenity::FullEvent) {
        if let serenity::FullEvent::InteractionCreate { interaction } = &event {
            let id = interaction.id();
            match self.store.claim_event(EventId(id.get())).await {
                Ok(true) => {}
                Ok(false) => {
                    debug!(
                        interaction = id.get(),
                        "another replica answers this interaction"
                    );
                    return;
                }
                // Answering anyway risks a refused second answer, never a lost one.
                Err(e) => warn!(error = %e, "cannot claim an interaction; answering it anyway"),
            }
        }
        self.inner.dispatch(ctx, event).await;
    }
}
