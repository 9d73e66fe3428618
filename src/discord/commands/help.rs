//! `/omni-help`: what the bot does, its commands, the caps that apply to the caller where they
//! ask, and how to continue a clip (private).

use poise::serenity_prelude as serenity;

use super::usage::invoker_roles;
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::{GuildId, Scope, UserId};

/// Learn what omni-bot does, its commands, and the caps that apply to you here.
#[poise::command(slash_command, rename = "omni-help")]
pub async fn omni_help(ctx: Context<'_>) -> Result<(), Error> {
    let app = &ctx.data().app;
    let guild = ctx.guild_id().map(|g| GuildId(g.get()));
    let user = UserId(ctx.author().id.get());
    let effective = app
        .caps
        .effective(&app.store, guild, user, &invoker_roles(&ctx))?;
    let window = app.caps.window(app.clock.as_ref());
    let used = app.store.usage(Scope::from_guild(guild), user, &window)?;
    let text = texts::help(&texts::HelpCaps {
        effective: &effective,
        used: &used,
        window: &window,
        in_server: guild.is_some(),
        dms_allowed: app.rules.allow_dms,
    });
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
