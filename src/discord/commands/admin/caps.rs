//! `/omni-admin limits`, `set`, `allowance-role`, `allowance-user`, `reset-user` and `usage`:
//! the server's caps, who gets which allowance, and what was used.

use poise::serenity_prelude as serenity;

use super::{allowance, reply, reply_pages, require_admin};
use crate::discord::errors::UserError;
use crate::discord::texts;
use crate::discord::{Context, Error};
use crate::domain::ids::{RoleId, Scope, UserId};
use crate::domain::quota::{self, LimitName};

/// Show this server's limits, allowances and channel rules.
#[poise::command(slash_command, guild_only)]
pub async fn limits(ctx: Context<'_>) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let app = &ctx.data().app;
    let policy = app.store.policy(guild).await?;
    let defaults = app.caps.defaults();
    let effective = app.caps.effective_with(&policy, UserId(0), &[]).limits;
    let window = app.caps.window(app.clock.as_ref());
    let tz = app.caps.time_zone();
    let text = texts::limits_overview(&defaults, &effective, &policy, tz.name(), &window);
    reply_pages(ctx, text).await
}

/// The limits admins may change, in words (poise sends the choice's index, so their order is
/// part of the command).
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum LimitChoice {
    #[name = "Clips per member per day"]
    UserDailyVideos,
    #[name = "Clips for the whole server per day"]
    GuildDailyVideos,
    #[name = "Clips a member can have rendering at once"]
    UserConcurrentJobs,
    #[name = "PixelDojo credits per month for the server"]
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
    let app = &ctx.data().app;
    let text = match value {
        Some(v) => {
            let v = u64::try_from(v).map_err(|_| UserError(texts::NEGATIVE_LIMIT.into()))?;
            app.caps
                .check_override(name, v)
                .map_err(|problem| UserError(texts::limit_problem(name, problem)))?;
            app.store
                .update_policy(guild, |p| {
                    p.overrides.insert(name, v);
                })
                .await?;
            texts::limit_set(name, v)
        }
        None => {
            app.store
                .update_policy(guild, |p| {
                    p.overrides.remove(&name);
                })
                .await?;
            texts::limit_reset(name, app.caps.defaults().get(name))
        }
    };
    // Jobs waiting in line may start under a raised concurrency.
    app.engine.limits_changed();
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
    let role_id = RoleId(role.id.get());
    ctx.data()
        .app
        .store
        .update_policy(guild, |p| match videos {
            Some(n) => {
                p.role_allowances.insert(role_id, n);
            }
            None => {
                p.role_allowances.remove(&role_id);
            }
        })
        .await?;
    reply(ctx, texts::role_allowance(role_id, videos)).await
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
    let user_id = UserId(user.id.get());
    ctx.data()
        .app
        .store
        .update_policy(guild, |p| match videos {
            Some(n) => {
                p.user_allowances.insert(user_id, n);
            }
            None => {
                p.user_allowances.remove(&user_id);
            }
        })
        .await?;
    reply(ctx, texts::user_allowance(user_id, videos)).await
}

/// Set a member's clip count for today back to zero.
#[poise::command(slash_command, guild_only, rename = "reset-user")]
pub async fn reset_user(
    ctx: Context<'_>,
    #[description = "The member"] user: serenity::User,
) -> Result<(), Error> {
    let guild = require_admin(&ctx)?;
    let app = &ctx.data().app;
    let user_id = UserId(user.id.get());
    let day = app.caps.window(app.clock.as_ref()).day;
    let before = app
        .store
        .reset_user_day(Scope::Guild(guild), user_id, &day)
        .await?;
    reply(ctx, texts::user_reset(user_id, before)).await
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
    let app = &ctx.data().app;
    let days = days.unwrap_or(7).clamp(1, 90) as u32;
    let dates = quota::recent_days(app.clock.utc_now(), app.caps.time_zone(), days);
    let keys: Vec<String> = dates.into_iter().map(quota::day_key).collect();
    let report = app.store.report(guild, &keys).await?;
    let mut users: Vec<(UserId, (u64, u64))> = report.per_user.into_iter().collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let balance = app
        .store
        .balance()
        .await?
        .map(|b| (b.credits_remaining, b.at_ms));
    let text = texts::usage_report(days, &users, balance);
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
