//! `/omni-admin prompt-rules add | remove | list`, `mod-log` and `jobs`: what moderators keep
//! out of prompts, where they read about clips, and what is in flight in the server.

use poise::serenity_prelude as serenity;

use super::{reply, reply_pages, require_admin, require_moderator};
use crate::discord::errors::UserError;
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::ChannelId;

/// Words or phrases refused in prompts in this server, before anything is charged.
#[poise::command(
    slash_command,
    guild_only,
    rename = "prompt-rules",
    subcommands("add", "remove", "list"),
    subcommand_required
)]
pub async fn prompt_rules(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Refuse prompts with a word or phrase (whole words, any case).
#[poise::command(slash_command, guild_only)]
pub async fn add(
    ctx: Context<'_>,
    #[description = "The word or phrase to refuse"]
    #[max_length = 100]
    words: String,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let text = match ctx.data().app.add_prompt_rule(guild, &words).await? {
        Ok(added) => texts::rule_added(words.trim(), added),
        Err(problem) => return Err(UserError(texts::rule_problem(problem)).into()),
    };
    reply(ctx, text).await
}

/// Stop refusing a word or phrase.
#[poise::command(slash_command, guild_only)]
pub async fn remove(
    ctx: Context<'_>,
    #[description = "The word or phrase to allow again"]
    #[max_length = 100]
    words: String,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let removed = ctx.data().app.remove_prompt_rule(guild, &words).await?;
    reply(ctx, texts::rule_removed(words.trim(), removed)).await
}

/// Show this server's prompt rules.
#[poise::command(slash_command, guild_only)]
pub async fn list(ctx: Context<'_>) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let app = &ctx.data().app;
    let settings = app.moderation(guild).await?;
    let text = texts::rules_list(&settings, app.rules.blocked_terms.len());
    reply_pages(ctx, text).await
}

/// Choose a channel that gets a line for every clip and every refused prompt (empty: none).
#[poise::command(slash_command, guild_only, rename = "mod-log")]
pub async fn mod_log(
    ctx: Context<'_>,
    #[description = "The channel for the mod log; leave empty to turn the mod log off"]
    channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let channel = channel.map(|c| ChannelId(c.get()));
    let text = match (ctx.data().app.set_mod_log(guild, channel).await?, channel) {
        (Ok(()), Some(c)) => texts::mod_log_set(c),
        (Ok(()), None) => texts::MOD_LOG_OFF.to_owned(),
        (Err(e), Some(c)) => return Err(UserError(texts::mod_log_unusable(c, &e)).into()),
        (Err(_), None) => texts::MOD_LOG_OFF.to_owned(),
    };
    reply(ctx, text).await
}

/// See the clips waiting and rendering in this server, with links (Manage Messages needed).
#[poise::command(slash_command, guild_only)]
pub async fn jobs(ctx: Context<'_>) -> Result<(), Error> {
    let guild = require_moderator(&ctx)?;
    let jobs = ctx.data().app.server_jobs(guild).await?;
    reply_pages(ctx, texts::server_jobs(&jobs)).await
}
