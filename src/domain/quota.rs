//! The usage policy: which caps apply to a request, which day and month it counts in, and whether
//! it may go ahead (plain Rust, no I/O).
//!
//! Caps come from the config's defaults, then the server's overrides, then allowances: a user's own
//! allowance wins; otherwise the most generous allowance among the member's roles; otherwise the
//! server's daily cap. Video caps of 0 block; credit caps of 0 mean "no cap". Days and months are
//! counted in the configured time zone and reset at its local midnight.
//!
//! This module never reads or writes anything: the store calls [`decide`] inside the one sled
//! transaction that reserves a clip, so the decision and the counting cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::{ChannelId, RoleId, Scope, UserId};
use super::intent::PlainMessages;

/// What one clip costs at PixelDojo (Gemini Omni Flash), reserved before it is sent.
pub const CLIP_CREDITS: u64 = 16;

/// The caps that apply to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Clips per user per server per day; 0 blocks.
    pub user_daily_videos: u32,
    /// Clips per server per day; 0 blocks.
    pub guild_daily_videos: u32,
    /// Jobs running at once per user.
    pub user_concurrent_jobs: u32,
    /// Credits per server per month; 0 = no cap.
    pub guild_monthly_credits: u64,
    /// Credits per day for the whole bot; 0 = no cap. Only the config sets it.
    pub global_daily_credits: u64,
}

/// A cap a server admin may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LimitName {
    UserDailyVideos,
    GuildDailyVideos,
    UserConcurrentJobs,
    GuildMonthlyCredits,
}

impl LimitName {
    pub const ALL: [LimitName; 4] = [
        Self::UserDailyVideos,
        Self::GuildDailyVideos,
        Self::UserConcurrentJobs,
        Self::GuildMonthlyCredits,
    ];

    /// The limit's key in the config file (`[limits]`).
    pub fn key(self) -> &'static str {
        match self {
            Self::UserDailyVideos => "user_daily_videos",
            Self::GuildDailyVideos => "guild_daily_videos",
            Self::UserConcurrentJobs => "user_concurrent_jobs",
            Self::GuildMonthlyCredits => "guild_monthly_credits",
        }
    }

    /// The largest value an admin may set.
    pub fn max(self) -> u64 {
        match self {
            Self::UserConcurrentJobs => 20,
            Self::GuildMonthlyCredits => 100_000_000,
            _ => 100_000,
        }
    }

    fn get(self, l: &Limits) -> u64 {
        match self {
            Self::UserDailyVideos => l.user_daily_videos.into(),
            Self::GuildDailyVideos => l.guild_daily_videos.into(),
            Self::UserConcurrentJobs => l.user_concurrent_jobs.into(),
            Self::GuildMonthlyCredits => l.guild_monthly_credits,
        }
    }

    fn set(self, l: &mut Limits, v: u64) {
        let small = u32::try_from(v).unwrap_or(u32::MAX);
        match self {
            Self::UserDailyVideos => l.user_daily_videos = small,
            Self::GuildDailyVideos => l.guild_daily_videos = small,
            Self::UserConcurrentJobs => l.user_concurrent_jobs = small.max(1),
            Self::GuildMonthlyCredits => l.guild_monthly_credits = v,
        }
    }
}

impl Limits {
    pub fn get(&self, name: LimitName) -> u64 {
        name.get(self)
    }
}

/// What a server's admins changed: overrides, allowances, channel rules, and whose plain
/// messages continue a clip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildPolicy {
    #[serde(default)]
    pub overrides: BTreeMap<LimitName, u64>,
    /// Role id → clips per day for members with that role (0 blocks).
    #[serde(default)]
    pub role_allowances: BTreeMap<RoleId, u32>,
    /// User id → clips per day for that member (0 blocks); wins over roles.
    #[serde(default)]
    pub user_allowances: BTreeMap<UserId, u32>,
    /// When not empty, the only channels where new clips may be started.
    #[serde(default)]
    pub allowed_channels: BTreeSet<ChannelId>,
    /// Channels where new clips may never be started.
    #[serde(default)]
    pub denied_channels: BTreeSet<ChannelId>,
    /// Whose plain messages continue a clip in its thread; `None`: the bot's default.
    #[serde(default)]
    pub plain_messages: Option<PlainMessages>,
}

impl GuildPolicy {
    /// Whether a new conversation may be opened from `channel`.
    pub fn channel_allowed(&self, channel: ChannelId) -> bool {
        !self.denied_channels.contains(&channel)
            && (self.allowed_channels.is_empty() || self.allowed_channels.contains(&channel))
    }
}

/// Where a member's daily allowance comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowanceSource {
    /// The config file's default.
    Default,
    /// The server's override of the default.
    Server,
    Role(RoleId),
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub limits: Limits,
    pub daily_source: AllowanceSource,
}

/// The caps for `user` with `roles` in a server with `policy`.
///
/// Role rule: when several of the member's roles carry an allowance, the most generous one
/// applies (a role of 0 only blocks members with no better role); a user allowance beats roles.
pub fn effective(
    defaults: &Limits,
    policy: &GuildPolicy,
    user: UserId,
    roles: &[RoleId],
) -> Effective {
    let mut limits = *defaults;
    for (name, value) in &policy.overrides {
        name.set(&mut limits, *value);
    }
    let mut daily_source = if policy.overrides.contains_key(&LimitName::UserDailyVideos) {
        AllowanceSource::Server
    } else {
        AllowanceSource::Default
    };
    if let Some(n) = policy.user_allowances.get(&user) {
        limits.user_daily_videos = *n;
        daily_source = AllowanceSource::User;
    } else if let Some((role, n)) = roles
        .iter()
        .filter_map(|r| policy.role_allowances.get(r).map(|n| (*r, *n)))
        .max_by_key(|(_, n)| *n)
    {
        limits.user_daily_videos = n;
        daily_source = AllowanceSource::Role(role);
    }
    Effective {
        limits,
        daily_source,
    }
}

/// The day and month a moment counts in, and when they end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// `YYYY-MM-DD` in the configured time zone.
    pub day: String,
    /// `YYYY-MM` in the configured time zone.
    pub month: String,
    /// Unix seconds of the next local midnight.
    pub day_resets_at: i64,
    /// Unix seconds of the first local midnight of next month.
    pub month_resets_at: i64,
}

/// The key of a local date.
pub fn day_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The local date of `now` in `tz`.
pub fn local_date(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The first instant of a local date (midnight, or the first valid time when a DST jump skips it).
fn start_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for minutes in (0..=180).step_by(15) {
        let local = midnight + Duration::minutes(minutes);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&midnight)
}

impl Window {
    pub fn at(now: DateTime<Utc>, tz: Tz) -> Self {
        let today = local_date(now, tz);
        let tomorrow = today.succ_opt().expect("a date after today");
        let next_month = if today.month() == 12 {
            NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
        }
        .expect("the first of next month");
        Self {
            day: day_key(today),
            month: today.format("%Y-%m").to_string(),
            day_resets_at: start_of(tomorrow, tz).timestamp(),
            month_resets_at: start_of(next_month, tz).timestamp(),
        }
    }
}

/// The `days` most recent local dates, oldest first, ending today.
pub fn recent_days(now: DateTime<Utc>, tz: Tz, days: u32) -> Vec<NaiveDate> {
    let today = local_date(now, tz);
    (0..days.max(1))
        .rev()
        .filter_map(|back| today.checked_sub_days(chrono::Days::new(back.into())))
        .collect()
}

/// What is already counted in the request's windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub user_day_videos: u64,
    pub guild_day_videos: u64,
    pub guild_month_credits: u64,
    pub global_day_credits: u64,
}

/// What a request adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub videos: u64,
    pub credits: u64,
}

impl Cost {
    pub const CLIP: Cost = Cost {
        videos: 1,
        credits: CLIP_CREDITS,
    };
}

/// Why a request may not go ahead (the Discord adapter words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The member's allowance is 0.
    Blocked {
        scope: Scope,
    },
    UserDaily {
        used: u64,
        limit: u64,
        resets_at: i64,
        scope: Scope,
    },
    GuildDaily {
        used: u64,
        limit: u64,
        resets_at: i64,
        scope: Scope,
    },
    GuildMonthlyCredits {
        used: u64,
        limit: u64,
        cost: u64,
        resets_at: i64,
        scope: Scope,
    },
    GlobalDailyCredits {
        resets_at: i64,
    },
}

/// Whether a request costing `cost` may go ahead on top of `usage`.
///
/// Checked in the order a user can act on: their own allowance, the server's day, the server's
/// month, then the whole bot.
pub fn decide(
    limits: &Limits,
    usage: &Usage,
    cost: Cost,
    window: &Window,
    scope: Scope,
) -> Result<(), Refusal> {
    let user_limit = u64::from(limits.user_daily_videos);
    if user_limit == 0 {
        return Err(Refusal::Blocked { scope });
    }
    if usage.user_day_videos + cost.videos > user_limit {
        return Err(Refusal::UserDaily {
            used: usage.user_day_videos,
            limit: user_limit,
            resets_at: window.day_resets_at,
            scope,
        });
    }
    // Direct messages belong to no server: only the user's and the bot's caps apply there.
    let in_server = matches!(scope, Scope::Guild(_));
    let guild_limit = u64::from(limits.guild_daily_videos);
    if in_server && usage.guild_day_videos + cost.videos > guild_limit {
        return Err(Refusal::GuildDaily {
            used: usage.guild_day_videos,
            limit: guild_limit,
            resets_at: window.day_resets_at,
            scope,
        });
    }
    if in_server
        && limits.guild_monthly_credits > 0
        && usage.guild_month_credits + cost.credits > limits.guild_monthly_credits
    {
        return Err(Refusal::GuildMonthlyCredits {
            used: usage.guild_month_credits,
            limit: limits.guild_monthly_credits,
            cost: cost.credits,
            resets_at: window.month_resets_at,
            scope,
        });
    }
    if limits.global_daily_credits > 0
        && usage.global_day_credits + cost.credits > limits.global_daily_credits
    {
        return Err(Refusal::GlobalDailyCredits {
            resets_at: window.day_resets_at,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
