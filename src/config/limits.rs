//! `[limits]` and `[alerts]`: the default usage caps of every server, and the low-credit warning.

use serde::Deserialize;

use crate::domain::quota::Limits;

/// Default caps for every server; server admins override them with `/omni-admin`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Clips per user per server per day; 0 blocks.
    #[serde(default = "default_user_daily")]
    pub user_daily_videos: u32,
    /// Clips per user per day in direct messages; 0 blocks; unset: `user_daily_videos`.
    #[serde(default)]
    pub dm_user_daily_videos: Option<u32>,
    /// Clips per server per day.
    #[serde(default = "default_guild_daily")]
    pub guild_daily_videos: u32,
    /// Jobs running at once per user; more wait in a queue.
    #[serde(default = "default_concurrent")]
    pub user_concurrent_jobs: u32,
    /// Credits per server per month; 0 = no cap.
    #[serde(default)]
    pub guild_monthly_credits: u64,
    /// Credits per day for the whole bot, across all servers; 0 = no cap.
    #[serde(default)]
    pub global_daily_credits: u64,
    /// IANA time zone in which days and months start (default UTC).
    #[serde(default = "default_timezone")]
    pub timezone: String,
}

/// Where and when the bot warns that the PixelDojo balance runs low.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Warn when PixelDojo reports fewer credits than this; 0 = never.
    #[serde(default)]
    pub low_credits: i64,
    /// The channel that gets the warning (at most once a day).
    #[serde(default)]
    pub channel_id: Option<u64>,
}

fn default_user_daily() -> u32 {
    5
}
fn default_guild_daily() -> u32 {
    50
}
fn default_concurrent() -> u32 {
    2
}
fn default_timezone() -> String {
    "UTC".to_owned()
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            user_daily_videos: default_user_daily(),
            dm_user_daily_videos: None,
            guild_daily_videos: default_guild_daily(),
            user_concurrent_jobs: default_concurrent(),
            guild_monthly_credits: 0,
            global_daily_credits: 0,
            timezone: default_timezone(),
        }
    }
}

impl LimitsConfig {
    /// The configured time zone (validated at load, so this cannot fail afterwards).
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The caps every server starts from.
    pub fn defaults(&self) -> Limits {
        Limits {
            user_daily_videos: self.user_daily_videos,
            guild_daily_videos: self.guild_daily_videos,
            user_concurrent_jobs: self.user_concurrent_jobs,
            guild_monthly_credits: self.guild_monthly_credits,
            global_daily_credits: self.global_daily_credits,
        }
    }

    /// Clips per user per day in direct messages.
    pub fn dm_daily(&self) -> u32 {
        self.dm_user_daily_videos.unwrap_or(self.user_daily_videos)
    }

    /// One sentence naming the key, or nothing.
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!(
                "`limits.timezone` must be an IANA time zone name such as \"UTC\" or \"Europe/Paris\", not {:?}.",
                self.timezone
            ));
        }
        if self.user_concurrent_jobs == 0 {
            return Err("`limits.user_concurrent_jobs` must be at least 1 (a request over it waits in a queue; use `user_daily_videos = 0` to block).".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{load_minimal as load, Config};

    #[test]
    fn without_limits_or_alerts_sections_the_documented_defaults_apply() {
        let c = load("").unwrap();
        let l = c.limits.defaults();
        assert_eq!(l.user_daily_videos, 5);
        assert_eq!(l.guild_daily_videos, 50);
        assert_eq!(l.user_concurrent_jobs, 2);
        assert_eq!(l.guild_monthly_credits, 0);
        assert_eq!(l.global_daily_credits, 0);
        assert_eq!(c.limits.time_zone(), chrono_tz::UTC);
        assert_eq!(c.alerts.low_credits, 0);
        assert_eq!(c.alerts.channel_id, None);
        assert_eq!(c.limits.dm_daily(), 5, "DMs default to the server cap");
        assert!(c.discord.allow_dms);
    }

    #[test]
    fn direct_messages_can_have_their_own_cap_or_be_turned_off() {
        let c = load("[limits]\nuser_daily_videos = 7\ndm_user_daily_videos = 0\n").unwrap();
        assert_eq!(c.limits.dm_daily(), 0);
        assert_eq!(
            load("[limits]\nuser_daily_videos = 7\n")
                .unwrap()
                .limits
                .dm_daily(),
            7
        );
        let off = Config::from_toml(
            "[discord]\ntoken = \"t\"\nallow_dms = false\n[pixeldojo]\napi_key = \"k\"\n",
            |_| None,
            "t",
        )
        .unwrap();
        assert!(!off.discord.allow_dms);
    }

    #[test]
    fn every_limit_and_the_alert_can_be_set() {
        let c = load(
            "[limits]\nuser_daily_videos = 0\nguild_daily_videos = 9\nuser_concurrent_jobs = 1\nguild_monthly_credits = 800\nglobal_daily_credits = 3200\ntimezone = \"Europe/Paris\"\n[alerts]\nlow_credits = 500\nchannel_id = 42\n",
        )
        .unwrap();
        assert_eq!(c.limits.user_daily_videos, 0);
        assert_eq!(c.limits.guild_daily_videos, 9);
        assert_eq!(c.limits.user_concurrent_jobs, 1);
        assert_eq!(c.limits.guild_monthly_credits, 800);
        assert_eq!(c.limits.global_daily_credits, 3200);
        assert_eq!(c.limits.time_zone(), chrono_tz::Europe::Paris);
        assert_eq!(c.alerts.low_credits, 500);
        assert_eq!(c.alerts.channel_id, Some(42));
    }

    #[test]
    fn an_unknown_time_zone_is_a_config_error_naming_the_key() {
        let e = load("[limits]\ntimezone = \"Mars/Olympus\"\n").unwrap_err();
        assert!(
            e.contains("limits.timezone") && e.contains("Mars/Olympus"),
            "{e}"
        );
    }

    #[test]
    fn a_typo_in_limits_or_alerts_is_named() {
        let e = load("[limits]\nuser_daily_video = 3\n").unwrap_err();
        assert!(e.contains("user_daily_video"), "{e}");
        let e = load("[alerts]\nchannel = 3\n").unwrap_err();
        assert!(e.contains("channel"), "{e}");
    }

    #[test]
    fn a_negative_cap_is_refused_naming_the_key() {
        let e = load("[limits]\nguild_daily_videos = -1\n").unwrap_err();
        assert!(e.contains("limits.guild_daily_videos"), "{e}");
    }

    #[test]
    fn zero_concurrent_jobs_is_refused() {
        let e = load("[limits]\nuser_concurrent_jobs = 0\n").unwrap_err();
        assert!(e.contains("limits.user_concurrent_jobs"), "{e}");
    }
}
