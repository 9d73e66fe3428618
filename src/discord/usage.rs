//! `/omni-usage`: a member's own usage, what is left, and what they have running (private).

use super::{Context, Error};
use crate::quota::{AllowanceSource, Effective, Usage, Window};

/// The invoking member's role ids (none in DMs).
pub(super) fn invoker_roles(ctx: &Context<'_>) -> Vec<u64> {
    match ctx {
        poise::Context::Application(app) => app
            .interaction
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        poise::Context::Prefix(_) => Vec::new(),
    }
}

/// See how many clips you can still make today, what you have rendering, and when it resets.
#[poise::command(slash_command, rename = "omni-usage")]
pub async fn omni_usage(ctx: Context<'_>) -> Result<(), Error> {
    let data = ctx.data();
    let guild = ctx.guild_id().map(|g| g.get());
    let user = ctx.author().id.get();
    let effective = data.caps.effective(guild, user, &invoker_roles(&ctx))?;
    let window = data.caps.window();
    let used = data.caps.usage.usage(guild.unwrap_or(0), user, &window)?;
    let (running, queued) = data.tracker.user_jobs(user);
    let text = describe(&effective, &used, &window, running, queued, guild.is_some());
    ctx.send(
        poise::CreateReply::default()
            .ephemeral(true)
            .content(text)
            .allowed_mentions(poise::serenity_prelude::CreateAllowedMentions::new()),
    )
    .await?;
    Ok(())
}

fn describe(
    e: &Effective,
    used: &Usage,
    window: &Window,
    running: usize,
    queued: usize,
    in_server: bool,
) -> String {
    let l = &e.limits;
    let here = if in_server {
        "in this server"
    } else {
        "in direct messages"
    };
    let mut lines = Vec::new();
    let limit = u64::from(l.user_daily_videos);
    if limit == 0 {
        lines.push(format!(
            "🚫 You can't make clips {here} right now: your allowance is 0."
        ));
    } else {
        let left = limit.saturating_sub(used.user_day_videos);
        let from = match e.daily_source {
            AllowanceSource::Role(r) => format!(" (from your <@&{r}> role)"),
            AllowanceSource::User => " (set for you by an admin)".to_owned(),
            _ => String::new(),
        };
        lines.push(format!(
            "🎬 **Today {here}:** {} of {limit} clips used{from}, **{left} left**.",
            used.user_day_videos
        ));
    }
    if in_server {
        lines.push(format!(
            "👥 The whole server: {} of {} clips today.",
            used.guild_day_videos, l.guild_daily_videos
        ));
        if l.guild_monthly_credits > 0 {
            lines.push(format!(
                "💳 This month the server used {} of {} credits.",
                used.guild_month_credits, l.guild_monthly_credits
            ));
        }
    }
    lines.push(format!(
        "⏳ Now: {running} rendering, {queued} waiting (up to {} at once).",
        l.user_concurrent_jobs
    ));
    lines.push(format!(
        "🔄 Your daily allowance resets <t:{0}:R> (<t:{0}:t>).",
        window.day_resets_at
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::Limits;

    #[test]
    fn the_usage_text_shows_what_is_left_and_when_it_resets() {
        let e = Effective {
            limits: Limits {
                user_daily_videos: 5,
                guild_daily_videos: 50,
                user_concurrent_jobs: 2,
                guild_monthly_credits: 0,
                global_daily_credits: 0,
            },
            daily_source: AllowanceSource::Role(77),
        };
        let w = Window::at(chrono::Utc::now(), chrono_tz::UTC);
        let used = Usage {
            user_day_videos: 2,
            guild_day_videos: 9,
            ..Usage::default()
        };
        let text = describe(&e, &used, &w, 1, 1, true);
        assert!(text.contains("2 of 5 clips used"), "{text}");
        assert!(text.contains("3 left"), "{text}");
        assert!(text.contains("<@&77>"), "{text}");
        assert!(text.contains("1 rendering, 1 waiting"), "{text}");
        assert!(
            text.contains(&format!("<t:{}:R>", w.day_resets_at)),
            "{text}"
        );
    }
}
