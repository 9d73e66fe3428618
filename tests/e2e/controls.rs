//! Owner and moderator controls end to end (issue 14): direct messages, prompt rules, the mod
//! log, moderator tools, a bot that checks its permissions before it promises, admin answers
//! in words and within Discord's limits, help and onboarding, history, and metrics from the
//! start. One file per point; the helpers they share are here.

mod admin_ux;
mod dms;
mod history;
mod metrics;
mod moderators;
mod onboarding;
mod permissions;
mod rules;

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::fake_discord::{self as discord, Ctx, StoredMessage};
use crate::support::world::{Settings, World, WAIT};

/// A role-less member with Manage Messages (a moderator), not Manage Server.
pub fn moderator(user: u64) -> Ctx {
    Ctx {
        permissions: discord::perms::MEMBER | discord::perms::MANAGE_MESSAGES,
        ..Ctx::guild(user)
    }
}

pub fn with(sections: &str) -> Settings {
    Settings {
        sections: sections.to_owned(),
        ..Settings::default()
    }
}

pub fn content(response: &Value) -> String {
    response["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn is_private(response: &Value) -> bool {
    response["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0
}

/// Runs `/omni` with `prompt` as `ctx`; returns the interaction id.
pub async fn omni(world: &World, prompt: &str, ctx: Ctx) -> u64 {
    world
        .omni_as(json!({ "prompt": prompt }), vec![], ctx)
        .await
}

/// Runs `/omni` and returns the bot's immediate private answer.
pub async fn omni_answer(world: &World, prompt: &str, ctx: Ctx) -> Value {
    let id = omni(world, prompt, ctx).await;
    world.response_to(id).await
}

/// Runs a slash command with options as Discord sends them; `resolved` goes into
/// `data.resolved`. Returns the interaction id.
pub async fn command(world: &World, name: &str, options: Value, resolved: Value, ctx: Ctx) -> u64 {
    let options = options.as_array().cloned().unwrap_or_default();
    let (id, mut payload) = world.discord.slash_command(name, options, vec![], ctx);
    if !resolved.is_null() {
        payload["data"]["resolved"] = resolved;
    }
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    id
}

/// `/omni-admin <sub> [options]`; returns the bot's answer.
pub async fn admin(world: &World, ctx: Ctx, sub: &str, options: Value) -> Value {
    let id = command(
        world,
        "omni-admin",
        json!([{"name": sub, "type": 1, "options": options}]),
        Value::Null,
        ctx,
    )
    .await;
    world.response_to(id).await
}

/// `/omni-admin <group> <sub> [options]` (a subcommand group); returns the bot's answer.
pub async fn admin_group(
    world: &World,
    ctx: Ctx,
    group: &str,
    sub: &str,
    options: Value,
    resolved: Value,
) -> Value {
    let id = command(
        world,
        "omni-admin",
        json!([{"name": group, "type": 2, "options": [{"name": sub, "type": 1, "options": options}]}]),
        resolved,
        ctx,
    )
    .await;
    world.response_to(id).await
}

/// A channel option's `data.resolved`, as Discord sends it.
pub fn resolved_channel(id: u64) -> Value {
    json!({"channels": {id.to_string(): {
        "id": id.to_string(), "name": "a-channel", "type": 0,
        "permissions": discord::perms::ALL.to_string(),
    }}})
}

pub fn resolved_user(id: u64) -> Value {
    json!({"users": {id.to_string(): {
        "id": id.to_string(), "username": format!("user{id}"), "discriminator": "0",
        "global_name": null, "avatar": null, "bot": false, "public_flags": 0, "flags": 0,
    }}})
}

/// `/omni-admin mod-log channel: <channel>` as the admin; returns the answer.
pub async fn set_mod_log(world: &World, channel: u64) -> Value {
    let id = command(
        world,
        "omni-admin",
        json!([{"name": "mod-log", "type": 1, "options": [
            {"name": "channel", "type": 7, "value": channel.to_string()}
        ]}]),
        resolved_channel(channel),
        Ctx::admin(),
    )
    .await;
    world.response_to(id).await
}

/// Every message in `channel` that answers interaction `id` (the reply and its follow-ups),
/// in order, once at least `n` arrived and none is still "thinking".
pub async fn answers(world: &World, channel: u64, id: u64, n: usize) -> Vec<StoredMessage> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found: Vec<StoredMessage> = world
            .discord
            .messages_in(channel)
            .into_iter()
            .filter(|m| m.interaction_id == Some(id))
            .collect();
        if found.len() >= n && found.iter().all(|m| !m.is_loading()) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} answers to {id} in {channel}, wanted {n}:\n{}",
            found.len(),
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `custom_id` of the button on `message` whose id starts with `prefix`.
pub fn button(message: &StoredMessage, prefix: &str) -> Option<String> {
    message
        .components
        .iter()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_owned))
        .find(|id| id.starts_with(prefix))
}

/// Presses the button `custom_id` on `message` as `ctx` (in the message's channel); returns
/// the bot's answer.
pub async fn press(world: &World, message: &StoredMessage, custom_id: &str, ctx: Ctx) -> Value {
    let (id, payload) = world
        .discord
        .button_click(message.id, custom_id, ctx.in_channel(message.channel_id))
        .expect("the message exists");
    world.discord.dispatch("INTERACTION_CREATE", payload).await;
    world.response_to(id).await
}

/// The bot's public messages in `channel` (not the private answers to interactions).
pub fn public_bot_messages(world: &World, channel: u64) -> Vec<StoredMessage> {
    world
        .bot_messages(channel)
        .into_iter()
        .filter(|m| !m.is_ephemeral())
        .collect()
}

/// The bot's public messages in `channel` containing `text`.
pub fn bot_lines(world: &World, channel: u64, text: &str) -> Vec<StoredMessage> {
    public_bot_messages(world, channel)
        .into_iter()
        .filter(|m| m.content.contains(text))
        .collect()
}

/// Waits a little for anything that should not happen to have had its chance.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

/// `/omni-history` with `options` as `ctx`; returns the answer.
pub async fn history(world: &World, options: Value, resolved: Value, ctx: Ctx) -> Value {
    let id = command(world, "omni-history", options, resolved, ctx).await;
    world.response_to(id).await
}

/// `/omni-history` as `ctx`, asked again until its answer shows `text` (a clip is added to its
/// history as it is posted).
pub async fn history_showing(world: &World, ctx: Ctx, text: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = history(world, json!([]), Value::Null, ctx.clone()).await;
        if content(&r).contains(text) {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        settle().await;
    }
}
