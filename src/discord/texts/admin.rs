//! `/omni-usage` and `/omni-admin` replies.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::app::caps::LimitProblem;
use crate::domain::ids::{ChannelId, RoleId, UserId};
use crate::domain::quota::{
    AllowanceSource, Effective, GuildPolicy, LimitName, Limits, Usage, Window,
};

/// A limit in words, as admins choose it in `/omni-admin set` (never its config key).
pub fn limit_label(name: LimitName) -> &'static str {
    match name {
        LimitName::UserDailyVideos => "Clips per member per day",
        LimitName::GuildDailyVideos => "Clips for the whole server per day",
        LimitName::UserConcurrentJobs => "Clips a member can have rendering at once",
        LimitName::GuildMonthlyCredits => "PixelDojo credits per month for the server",
    }
}

/// What 0 means for a limit, where it means something.
fn limit_zero(name: LimitName) -> &'static str {
    match name {
        LimitName::UserDailyVideos | LimitName::GuildDailyVideos => "; 0 blocks",
        LimitName::UserConcurrentJobs => "",
        LimitName::GuildMonthlyCredits => "; 0 = no cap",
    }
}

/// A member's own usage, what is left, and what they have running.
pub fn usage(
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

fn channel_list(s: &BTreeSet<ChannelId>) -> String {
    s.iter()
        .map(|c| format!("<#{c}>"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The server's limits, allowances and channel rules.
pub fn limits_overview(
    defaults: &Limits,
    effective: &Limits,
    policy: &GuildPolicy,
    tz: &str,
    window: &Window,
) -> String {
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
            "• {}: **{value}** ({origin}{})",
            limit_label(name),
            limit_zero(name)
        );
    }
    if defaults.guild_monthly_credits > 0 {
        let _ = writeln!(
            text,
            "• The bot's owner caps each server at {} credits a month; admins can only lower that.",
            defaults.guild_monthly_credits
        );
    }
    if defaults.global_daily_credits > 0 {
        let _ = writeln!(
            text,
            "• The bot's owner caps all servers together at {} credits a day.",
            defaults.global_daily_credits
        );
    }
    let roles = |m: &BTreeMap<RoleId, u32>| -> String {
        m.iter()
            .map(|(id, n)| format!("<@&{id}> {n}/day"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let users = |m: &BTreeMap<UserId, u32>| -> String {
        m.iter()
            .map(|(id, n)| format!("<@{id}> {n}/day"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !policy.role_allowances.is_empty() {
        let _ = writeln!(
            text,
            "**Role allowances** (the most generous of a member's roles applies): {}",
            roles(&policy.role_allowances)
        );
    }
    if !policy.user_allowances.is_empty() {
        let _ = writeln!(
            text,
            "**Member allowances** (beat roles): {}",
            users(&policy.user_allowances)
        );
    }
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
                    channel_list(&policy.allowed_channels)
                );
            }
            if !denied_empty {
                let _ = writeln!(
                    text,
                    "**Never in:** {}.",
                    channel_list(&policy.denied_channels)
                );
            }
        }
    }
    let _ = write!(
        text,
        "Days reset at midnight {tz} (next <t:{}:R>).",
        window.day_resets_at
    );
    text
}

pub fn limit_set(name: LimitName, value: u64) -> String {
    format!(
        "Done: **{}** is now **{value}** in this server.",
        limit_label(name)
    )
}

pub fn limit_reset(name: LimitName, default: u64) -> String {
    format!(
        "Done: **{}** is back to the default, **{default}**.",
        limit_label(name)
    )
}

/// Why an admin may not set a limit to that value.
pub fn limit_problem(name: LimitName, problem: LimitProblem) -> String {
    match problem {
        LimitProblem::ZeroConcurrency => "At least 1 clip must be able to render at once; to stop members making clips, set **Clips per member per day** to 0.".to_owned(),
        LimitProblem::TooLarge { max } => format!("**{}** can be at most {max}.", limit_label(name)),
        LimitProblem::AboveCeiling { ceiling } => format!(
            "The bot's owner, who pays for the credits, caps each server at {ceiling} credits a month. You can set a lower cap here, from 1 to {ceiling}, but not raise or remove it; ask the bot's owner for more."
        ),
    }
}

pub const NEGATIVE_LIMIT: &str = "A limit can't be negative.";
pub const ALLOWANCE_RANGE: &str = "An allowance must be between 0 and 100000 clips a day.";
pub const ADMIN_ONLY: &str =
    "Only members with the Manage Server permission can use `/omni-admin`.";
pub const SERVER_ONLY: &str = "This command only works in a server.";

pub fn role_allowance(role: RoleId, videos: Option<u32>) -> String {
    match videos {
        Some(0) => format!("Done: members with <@&{role}> can't make clips (unless another role or their own allowance lets them)."),
        Some(n) => format!("Done: members with <@&{role}> can make {n} clips a day (the most generous of a member's roles applies)."),
        None => format!("Done: <@&{role}> no longer has its own allowance."),
    }
}

pub fn user_allowance(user: UserId, videos: Option<u32>) -> String {
    match videos {
        Some(0) => format!("Done: <@{user}> can't make clips in this server."),
        Some(n) => format!("Done: <@{user}> can make {n} clips a day, whatever their roles."),
        None => format!("Done: <@{user}> is back to the server's and their roles' allowances."),
    }
}

pub fn channel_allowed(c: ChannelId) -> String {
    format!("Done: clips can be started in <#{c}>; once any channel is allowed, only allowed channels work.")
}

pub fn channel_denied(c: ChannelId) -> String {
    format!("Done: clips can't be started in <#{c}> any more.")
}

pub fn channel_cleared(c: ChannelId) -> String {
    format!("Done: <#{c}> has no rule of its own any more.")
}

pub const CHANNELS_CLEARED: &str = "Done: clips can be started in any channel again.";

pub fn user_reset(user: UserId, before: u64) -> String {
    format!("Done: <@{user}>'s count for today went from {before} to 0.")
}

/// Who made how many clips and spent how many credits over a period.
pub fn usage_report(
    days: u32,
    per_user: &[(UserId, (u64, u64))],
    balance: Option<(i64, i64)>,
) -> String {
    let (clips, credits) = per_user
        .iter()
        .fold((0, 0), |(v, c), (_, (uv, uc))| (v + uv, c + uc));
    let mut text = format!(
        "**Usage over the last {days} day{}:** {clips} clips, {credits} credits.\n",
        if days == 1 { "" } else { "s" }
    );
    for (user, (v, c)) in per_user.iter().take(20) {
        let _ = writeln!(text, "• <@{user}>: {v} clips, {c} credits");
    }
    if per_user.len() > 20 {
        let _ = writeln!(text, "…and {} more members.", per_user.len() - 20);
    }
    match balance {
        Some((remaining, at_ms)) => {
            let _ = write!(
                text,
                "PixelDojo last reported **{remaining} credits** left <t:{}:R>.",
                at_ms / 1000
            );
        }
        None => text.push_str("PixelDojo hasn't reported a credit balance yet."),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
            daily_source: AllowanceSource::Role(RoleId(77)),
        };
        let w = Window::at(chrono::Utc::now(), chrono_tz::UTC);
        let used = Usage {
            user_day_videos: 2,
            guild_day_videos: 9,
            ..Usage::default()
        };
        let text = usage(&e, &used, &w, 1, 1, true);
        assert!(text.contains("2 of 5 clips used"), "{text}");
        assert!(text.contains("3 left"), "{text}");
        assert!(text.contains("<@&77>"), "{text}");
        assert!(text.contains("1 rendering, 1 waiting"), "{text}");
        assert!(
            text.contains(&format!("<t:{}:R>", w.day_resets_at)),
            "{text}"
        );
    }

    #[test]
    fn admins_read_limits_in_words_never_as_config_keys() {
        let l = Limits {
            user_daily_videos: 5,
            guild_daily_videos: 50,
            user_concurrent_jobs: 2,
            guild_monthly_credits: 0,
            global_daily_credits: 0,
        };
        let w = Window::at(chrono::Utc::now(), chrono_tz::UTC);
        let mut texts = vec![
            limits_overview(&l, &l, &GuildPolicy::default(), "UTC", &w),
            limit_problem(LimitName::UserConcurrentJobs, LimitProblem::ZeroConcurrency),
        ];
        for name in LimitName::ALL {
            texts.push(limit_set(name, 3));
            texts.push(limit_reset(name, 3));
            texts.push(limit_problem(name, LimitProblem::TooLarge { max: 9 }));
        }
        for text in &texts {
            for name in LimitName::ALL {
                assert!(!text.contains(name.key()), "{} in {text}", name.key());
            }
            assert!(!text.contains('`') || text.contains("/omni"), "{text}");
        }
        assert!(texts[0].contains("• Clips per member per day: **5** (default; 0 blocks)"));
        assert_eq!(
            limit_set(LimitName::UserDailyVideos, 10),
            "Done: **Clips per member per day** is now **10** in this server."
        );
    }

    #[test]
    fn a_refused_ceiling_says_who_sets_it() {
        let text = limit_problem(
            LimitName::GuildMonthlyCredits,
            LimitProblem::AboveCeiling { ceiling: 800 },
        );
        assert!(
            text.contains("bot's owner") && text.contains("800"),
            "{text}"
        );
    }
}
