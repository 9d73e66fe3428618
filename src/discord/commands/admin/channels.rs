//! `/omni-admin channels allow | deny | clear`: where new clips may be started. Each subcommand
//! asks for what it needs: allowing and denying take a channel, clearing takes one or none.

use poise::serenity_prelude as serenity;

use super::{reply, require_admin};
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::ChannelId;

/// Choose the channels where new clips can be started.
#[poise::command(
    slash_command,
    guild_only,
    subcommands("allow", "deny", "clear"),
    subcommand_required
)]
pub async fn channels(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Allow clips in a channel; once any channel is allowed, only allowed channels work.
#[poise::command(slash_command, guild_only)]
pub async fn allow(
    ctx: Context<'_>,
    #[description = "The channel where clips may be started"] channel: serenity::ChannelId,
) -> Result<(), Error> {
    set_rule(ctx, ChannelId(channel.get()), true).await
}

/// Never allow clips to be started in a channel.
#[poise::command(slash_command, guild_only)]
pub async fn deny(
    ctx: Context<'_>,
    #[description = "The channel where clips may not be started"] channel: serenity::ChannelId,
) -> Result<(), Error> {
    set_rule(ctx, ChannelId(channel.get()), false).await
}

/// Puts `channel` on the allowed list (`allowed`) or the denied one, and off the other.
async fn set_rule(ctx: Context<'_>, c: ChannelId, allowed: bool) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    ctx.data()
        .app
        .store
        .update_policy(guild, |p| {
            let (to, from) = if allowed {
                (&mut p.allowed_channels, &mut p.denied_channels)
            } else {
                (&mut p.denied_channels, &mut p.allowed_channels)
            };
            from.remove(&c);
            to.insert(c);
        })
        .await?;
    let text = if allowed {
        texts::channel_allowed(c)
    } else {
        texts::channel_denied(c)
    };
    reply(ctx, text).await
}

/// Remove a channel's rule, or every channel rule when no channel is given.
#[poise::command(slash_command, guild_only)]
pub async fn clear(
    ctx: Context<'_>,
    #[description = "The channel whose rule to remove; leave empty to remove every channel rule"]
    channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let store = &ctx.data().app.store;
    let text = match channel.map(|c| ChannelId(c.get())) {
        Some(c) => {
            store
                .update_policy(guild, |p| {
                    p.allowed_channels.remove(&c);
                    p.denied_channels.remove(&c);
                })
                .await?;
            texts::channel_cleared(c)
        }
        None => {
            store
                .update_policy(guild, |p| {
                    p.allowed_channels.clear();
                    p.denied_channels.clear();
                })
                .await?;
            texts::CHANNELS_CLEARED.to_owned()
        }
    };
    reply(ctx, text).await
}
