//! The Discord adapter: translation only. It turns Discord's events into the [`crate::app`]'s
//! calls and their answers into messages, and carries the engine's messages to Discord. It
//! holds no business rules of its own.
//!
//! - `startup`: builds the client and wires the app, the engine and the health endpoint.
//! - `commands`: the slash and context-menu commands, one file per command group.
//! - `events`: messages in conversations, button presses and modal submissions.
//! - `texts`: every sentence users and admins read.
//! - `chat`: the engine's Discord side over serenity's HTTP client.
//! - `buttons`: the buttons on the bot's messages and their `custom_id`s.
//! - `origin`: who asked and where, read from an interaction or a message.
//! - `errors`: errors for users and operators; `health`: the gateway half of `/healthz`.
//! - `claims`: on replicas sharing a shard, the first to claim an interaction answers it.
//! - `welcome`: a server the bot joins (its system channel, a hello with a permission check).

pub mod buttons;
pub mod chat;
mod claims;
pub mod commands;
pub mod errors;
pub mod events;
pub mod health;
mod origin;
pub mod startup;
pub mod texts;
mod welcome;

use std::sync::Arc;

use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;

use crate::app::App;
use crate::config::Config;

pub use startup::run;

/// Shared state of every command and event handler.
pub struct Data {
    pub config: Arc<Config>,
    pub app: App,
    /// Whether the gateway and the store are up (served on `/healthz`).
    pub health: crate::metrics::Health,
}

pub type Error = anyhow::Error;
pub type Context<'a> = poise::Context<'a, Data, Error>;

/// Builds serenity's HTTP client, pointed at the configured proxy if there is one. Every message
/// it sends pings nobody unless the message says otherwise (no role or everyone pings, ever).
///
/// With a proxy, serenity's own rate limiter is turned off: a shared Discord HTTP proxy (such as
/// twilight-http-proxy) does the rate limiting for all its clients, and serenity 0.12.5 would
/// otherwise send rate-limited requests to discord.com directly, around the proxy.
pub fn http_client(config: &Config) -> serenity::Http {
    let mut builder = serenity::HttpBuilder::new(config.discord.token.expose_secret())
        .default_allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Some(proxy) = config.discord_proxy() {
        builder = builder.proxy(proxy).ratelimiter_disabled(true);
    }
    builder.build()
}

/// The gateway intents the bot asks for. Message Content is privileged: without it, the bot
/// only sees the text of DMs, mentions and replies to its own messages.
pub fn intents(message_content: bool) -> serenity::GatewayIntents {
    let base = serenity::GatewayIntents::GUILDS
        | serenity::GatewayIntents::GUILD_MESSAGES
        | serenity::GatewayIntents::DIRECT_MESSAGES;
    if message_content {
        base | serenity::GatewayIntents::MESSAGE_CONTENT
    } else {
        base
    }
}
