//! `/omni-admin`: server admins see and change the server's usage caps, allowances and channels,
//! and see its usage. Registered with the Manage Server default permission, and checked again
//! here from the member's permissions in the interaction, because server owners can change
//! command permissions (and Discord does not apply them to subcommands separately).

use std::fmt::Write as _;

use poise::serenity_prelude as serenity;

use super::errors::UserError;
use super::{Context, Error};
use crate::quota::{self, LimitName};

/// Who may use `/omni-admin`: members with Manage Server (or Administrator) in the interaction.
fn require_admin(ctx: &Context<'_>) -> Result<u64, Error> {
    let guild = ctx
        .guild_id()
        .ok_or_else(|| UserError("This command only works in a server.".into()))?;
    let permissions = match ctx {
        poise::Context::Application(app) => {
            app.interaction.member.as_ref().and_then(|m| m.permissions)
        }
        poise::Context::Prefix(_) => None,
    };
    if permissions.is_some_and(|p| p.manage_guild() || p.administrator()) {
        Ok(guild.get())
    } else {
        Err(UserError(
            "Only members with the Manage Server permission can use `/omni-admin`.".into(),
        )
        .into())
    }
}

async fn reply(ctx: Context<'_>, text: String) -> Result<(), Error> {
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .allowed_mentions(serenity::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

/// A daily allowance from a command option: omitted clears it, otherwise 0 to 100000.
fn allowance(videos: Option<i64>) -> Result<Option<u32>, Error> {
    match videos {
        None => Ok(None),
        Some(n) if (0..=100_000).contains(&n) => Ok(Some(n as u32)),
        Some(_) => {
            Err(UserError("An allowance must be between 0 and 100000 clips a day.".into()).into())
        }
    }
}

/// Manage the bot's usage limits in this server (Manage Server permission needed).
#[poise::command(
    slash_command,
    rename = "omni-admin",
    guild_only,
    default_member_permissions = "MANAGE_GUILD",
    subcommands(
        "limits",
        "set",
        "allowance_role",
        "allowance_user",
        "channels",
        "reset_user",
        "usage"
    ),
    subcommand_required
)]
pub async fn omni_admin(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Show this server's limits, allowances and channel rules.
#[poise::command(slash_command, guild_only)]
pub async fn limits(ctx: Context<'_>) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let caps = &ctx.data().caps;
    let policy = caps.usage.policy(guild)?;
    let defaults = caps.defaults();
    let effective = quota::effective(&defaults, &policy, 0, &[]).limits;
    let mut text = String::from("**Limits in this server**\n");
    for name in LimitName::ALL {
        let value = effective.get(name);
        let origin = if policy.overrides.contains_key(&name) {
            format!("set here; default {}", defaults.get(name))
        } else {
            "default".to_owned()
        };
        let _ = writeln!(
            text,
            "• `{}` = **{value}** ({origin}): {}",
            name.key(),
            name.describe()
        );
    }
    if defaults.global_daily_credits > 0 {
        let _ = writeln!(
            text,
            "• The bot's owner caps all servers together at {} credits a day.",
            defaults.global_daily_credits
        );
    }
    let list = |m: &std::collections::BTreeMap<u64, u32>, mention: &str| -> String {
        m.iter()
            .map(|(id, n)| format!("<{mention}{id}> {n}/day"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !policy.role_allowances.is_empty() {
        let _ = writeln!(
            text,
            "**Role allowances** (the most generous of a member's roles applies): {}",
            list(&policy.role_allowances, "@&")
        );
    }
    if !policy.user_allowances.is_empty() {
        let _ = writeln!(
            text,
            "**Member allowances** (beat roles): {}",
            list(&policy.user_allowances, "@")
        );
    }
    let channels = |s: &std::collections::BTreeSet<u64>| {
        s.iter()
            .map(|c| format!("<#{c}>"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (
        policy.allowed_channels.is_empty(),
        policy.denied_channels.is_empty(),
    ) {
        (true, true) => text.push_str("**Channels:** clips can be started in any channel.\n"),
        (allowed_empty, denied_empty) => {
            if !allowed_empty {
                let _ = writeln!(
                    text,
                    "**Channels:** only in {}.",
                    channels(&policy.allowed_channels)
                );
            }
            if !denied_empty {
                let _ = writeln!(text, "**Never in:** {}.", channels(&policy.denied_channels));
            }
        }
    }
    let window = caps.window();
    let _ = write!(
        text,
        "Days reset at midnight {} (next <t:{}:R>).",
        caps.time_zone().name(),
        window.day_resets_at
    );
    reply(ctx, text).await
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum LimitChoice {
    #[name = "user_daily_videos"]
    UserDailyVideos,
    #[name = "guild_daily_videos"]
    GuildDailyVideos,
    #[name = "user_concurrent_jobs"]
    UserConcurrentJobs,
    #[name = "guild_monthly_credits"]
    GuildMonthlyCredits,
}

impl From<LimitChoice> for LimitName {
    fn from(c: LimitChoice) -> Self {
        match c {
            LimitChoice::UserDailyVideos => Self::UserDailyVideos,
            LimitChoice::GuildDailyVideos => Self::GuildDailyVideos,
            LimitChoice::UserConcurrentJobs => Self::UserConcurrentJobs,
            LimitChoice::GuildMonthlyCredits => Self::GuildMonthlyCredits,
        }
    }
}

/// Change one of this server's limits, or put it back to the default.
#[poise::command(slash_command, guild_only)]
pub async fn set(
    ctx: Context<'_>,
    #[description = "Which limit to change"] limit: LimitChoice,
    #[description = "The new value; leave empty to go back to the default"]
    #[min = 0]
    value: Option<i64>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let name = LimitName::from(limit);
    let caps = &ctx.data().caps;
    let text = match value {
        Some(v) => {
            let v = u64::try_from(v).map_err(|_| UserError("A limit can't be negative.".into()))?;
            name.check(v).map_err(UserError)?;
            caps.usage.update_policy(guild, |p| {
                p.overrides.insert(name, v);
            })?;
            format!("Done: `{}` is now **{v}** in this server.", name.key())
        }
        None => {
            caps.usage.update_policy(guild, |p| {
                p.overrides.remove(&name);
            })?;
            format!(
                "Done: `{}` is back to the default, **{}**.",
                name.key(),
                caps.defaults().get(name)
            )
        }
    };
    reply(ctx, text).await
}

/// Give members with a role their own daily clip allowance (0 blocks them).
#[poise::command(slash_command, guild_only, rename = "allowance-role")]
pub async fn allowance_role(
    ctx: Context<'_>,
    #[description = "The role"] role: serenity::Role,
    #[description = "Clips per day for this role (0 blocks); leave empty to remove the allowance"]
    #[min = 0]
    videos: Option<i64>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let videos = allowance(videos)?;
    let role_id = role.id.get();
    ctx.data()
        .caps
        .usage
        .update_policy(guild, |p| match videos {
            Some(n) => {
                p.role_allowances.insert(role_id, n);
            }
            None => {
                p.role_allowances.remove(&role_id);
            }
        })?;
    let text = match videos {
        Some(0) => format!("Done: members with <@&{role_id}> can't make clips (unless another role or their own allowance lets them)."),
        Some(n) => format!("Done: members with <@&{role_id}> can make {n} clips a day (the most generous of a member's roles applies)."),
        None => format!("Done: <@&{role_id}> no longer has its own allowance."),
    };
    reply(ctx, text).await
}

/// Give one member their own daily clip allowance (0 blocks them); it beats role allowances.
#[poise::command(slash_command, guild_only, rename = "allowance-user")]
pub async fn allowance_user(
    ctx: Context<'_>,
    #[description = "The member"] user: serenity::User,
    #[description = "Clips per day for this member (0 blocks); leave empty to remove the allowance"]
    #[min = 0]
    videos: Option<i64>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let videos = allowance(videos)?;
    let user_id = user.id.get();
    ctx.data()
        .caps
        .usage
        .update_policy(guild, |p| match videos {
            Some(n) => {
                p.user_allowances.insert(user_id, n);
            }
            None => {
                p.user_allowances.remove(&user_id);
            }
        })?;
    let text = match videos {
        Some(0) => format!("Done: <@{user_id}> can't make clips in this server."),
        Some(n) => format!("Done: <@{user_id}> can make {n} clips a day, whatever their roles."),
        None => format!("Done: <@{user_id}> is back to the server's and their roles' allowances."),
    };
    reply(ctx, text).await
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum ChannelAction {
    #[name = "allow only listed channels (adds this one)"]
    Allow,
    #[name = "deny this channel"]
    Deny,
    #[name = "clear (this channel, or every rule if none given)"]
    Clear,
}

/// Choose the channels where new clips can be started.
#[poise::command(slash_command, guild_only)]
pub async fn channels(
    ctx: Context<'_>,
    #[description = "What to do"] action: ChannelAction,
    #[description = "The channel (needed to allow or deny)"] channel: Option<serenity::ChannelId>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let usage = &ctx.data().caps.usage;
    let channel = channel.map(|c| c.get());
    let text = match (action, channel) {
        (ChannelAction::Allow | ChannelAction::Deny, None) => {
            return Err(UserError("Pick the channel to allow or deny.".into()).into())
        }
        (ChannelAction::Allow, Some(c)) => {
            usage.update_policy(guild, |p| {
                p.denied_channels.remove(&c);
                p.allowed_channels.insert(c);
            })?;
            format!("Done: clips can be started in <#{c}>; once any channel is allowed, only allowed channels work.")
        }
        (ChannelAction::Deny, Some(c)) => {
            usage.update_policy(guild, |p| {
                p.allowed_channels.remove(&c);
                p.denied_channels.insert(c);
            })?;
            format!("Done: clips can't be started in <#{c}> any more.")
        }
        (ChannelAction::Clear, Some(c)) => {
            usage.update_policy(guild, |p| {
                p.allowed_channels.remove(&c);
                p.denied_channels.remove(&c);
            })?;
            format!("Done: <#{c}> has no rule of its own any more.")
        }
        (ChannelAction::Clear, None) => {
            usage.update_policy(guild, |p| {
                p.allowed_channels.clear();
                p.denied_channels.clear();
            })?;
            "Done: clips can be started in any channel again.".to_owned()
        }
    };
    reply(ctx, text).await
}

/// Set a member's clip count for today back to zero.
#[poise::command(slash_command, guild_only, rename = "reset-user")]
pub async fn reset_user(
    ctx: Context<'_>,
    #[description = "The member"] user: serenity::User,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let caps = &ctx.data().caps;
    let user_id = user.id.get();
    let before = caps
        .usage
        .reset_user_day(guild, user_id, &caps.window().day)?;
    reply(
        ctx,
        format!("Done: <@{user_id}>'s count for today went from {before} to 0."),
    )
    .await
}

/// See who made how many clips and spent how many credits, with a chart of clips per day.
#[poise::command(slash_command, guild_only)]
pub async fn usage(
    ctx: Context<'_>,
    #[description = "How many days back, today included (default 7, at most 90)"]
    #[min = 1]
    #[max = 90]
    days: Option<i64>,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let caps = &ctx.data().caps;
    let days = days.unwrap_or(7).clamp(1, 90) as u32;
    let dates = quota::recent_days(chrono::Utc::now(), caps.time_zone(), days);
    let keys: Vec<String> = dates.into_iter().map(quota::day_key).collect();
    let report = caps.usage.report(guild, &keys)?;
    let mut users: Vec<(u64, (u64, u64))> = report.per_user.into_iter().collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let (clips, credits) = users
        .iter()
        .fold((0, 0), |(v, c), (_, (uv, uc))| (v + uv, c + uc));
    let mut text = format!(
        "**Usage over the last {days} day{}:** {clips} clips, {credits} credits.\n",
        if days == 1 { "" } else { "s" }
    );
    for (user, (v, c)) in users.iter().take(20) {
        let _ = writeln!(text, "• <@{user}>: {v} clips, {c} credits");
    }
    if users.len() > 20 {
        let _ = writeln!(text, "…and {} more members.", users.len() - 20);
    }
    match caps.usage.balance()? {
        Some(b) => {
            let _ = write!(
                text,
                "PixelDojo last reported **{} credits** left <t:{}:R>.",
                b.credits_remaining,
                b.at_ms / 1000
            );
        }
        None => text.push_str("PixelDojo hasn't reported a credit balance yet."),
    }
    let series: Vec<(String, u64)> = keys.into_iter().zip(report.per_day).collect();
    let png = tokio::task::spawn_blocking(move || crate::chart::videos_per_day(&series)).await?;
    let mut reply = poise::CreateReply::default()
        .ephemeral(true)
        .content(text)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    match png {
        Ok(png) => {
            reply = reply.attachment(serenity::CreateAttachment::bytes(png, "omni-usage.png"));
        }
        Err(e) => tracing::warn!(error = %e, "usage chart skipped"),
    }
    ctx.send(reply).await?;
    Ok(())
}
