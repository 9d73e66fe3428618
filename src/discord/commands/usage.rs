//! `/omni-usage`: a member's own usage, what is left, and what they have running (private).

use poise::serenity_prelude as serenity;

use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::{GuildId, RoleId, Scope, UserId};
use crate::domain::quota::{Effective, Usage, Window};

/// The invoking member's role ids (none in DMs).
pub(crate) fn invoker_roles(ctx: &Context<'_>) -> Vec<RoleId> {
    match ctx {
        poise::Context::Application(app) => app
            .interaction
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| RoleId(r.get())).collect())
            .unwrap_or_default(),
        poise::Context::Prefix(_) => Vec::new(),
    }
}

/// See how many clips you can still make today, what you have rendering, and when it resets.
#[poise::command(slash_command, rename = "omni-usage")]
pub async fn omni_usage(ctx: Context<'_>) -> Result<(), Error> {
    let caps = caller_caps(&ctx).await?;
    let (running, queued) = ctx.data().app.engine.user_jobs(caps.user);
    let text = texts::usage(
        &caps.effective,
        &caps.used,
        &caps.window,
        running,
        queued,
        caps.guild.is_some(),
    );
    reply_privately(&ctx, text).await
}

/// The caller's caps where they ask, what they have used, and the day and month that counts.
pub(crate) struct CallerCaps {
    pub guild: Option<GuildId>,
    pub user: UserId,
    pub effective: Effective,
    pub window: Window,
    pub used: Usage,
}

pub(crate) async fn caller_caps(ctx: &Context<'_>) -> Result<CallerCaps, Error> {
    let app = &ctx.data().app;
    let guild = ctx.guild_id().map(|g| GuildId(g.get()));
    let user = UserId(ctx.author().id.get());
    let effective = app
        .caps
        .effective(&app.store, guild, user, &invoker_roles(ctx))
        .await?;
    let window = app.caps.window(app.clock.as_ref());
    let used = app
        .store
        .usage(Scope::from_guild(guild), user, &window)
        .await?;
    Ok(CallerCaps {
        guild,
        user,
        effective,
        window,
        used,
    })
}

/// Answers the caller alone, pinging nobody.
pub(crate) async fn reply_privately(ctx: &Context<'_>, text: String) -> Result<(), Error> {
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}
