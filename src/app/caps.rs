//! Usage caps: which caps apply to whom, today's windows, how many jobs run at once, and who may
//! change what.
//!
//! Direct messages belong to no server: a member's clips there count per user against the
//! operator's DM cap (`dm_user_daily_videos`), never against a server's caps or allowances, and
//! no monthly server credit cap applies to them; the bot's daily credit cap does.
//!
//! The operator who holds the API key sets the money ceilings in the config
//! (`guild_monthly_credits`, `global_daily_credits`): a server's admins may lower the monthly
//! one for their server, never raise or remove it. Counts (clips per member and per server a
//! day, how many render at once, role and member allowances) are the server admins' to choose.

use chrono_tz::Tz;

use crate::clock::Clock;
use crate::domain::ids::{GuildId, RoleId, UserId};
use crate::domain::quota::{self, Effective, GuildPolicy, LimitName, Limits, Window};
use crate::store::{Result, Store};

/// The caps of every server. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Caps {
    defaults: Limits,
    /// Clips per user per day in direct messages; 0 blocks.
    dm_daily: u32,
    tz: Tz,
}

/// Why a server admin may not set a limit to a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitProblem {
    /// At least one clip must be able to render at once.
    ZeroConcurrency,
    /// Above what the bot allows for this limit.
    TooLarge { max: u64 },
    /// The operator set a money ceiling; a server may only stay at or under it.
    AboveCeiling { ceiling: u64 },
}

impl Caps {
    /// Caps from the config's defaults; direct messages get the same daily cap per user as a
    /// server member until [`Caps::with_dm_daily`] says otherwise.
    pub fn new(defaults: Limits, tz: Tz) -> Self {
        Self {
            dm_daily: defaults.user_daily_videos,
            defaults,
            tz,
        }
    }

    /// The daily cap per user in direct messages (0 blocks).
    pub fn with_dm_daily(mut self, videos: u32) -> Self {
        self.dm_daily = videos;
        self
    }

    /// The caps in direct messages: the DM cap per user, the bot's daily credit cap.
    pub fn in_dms(&self) -> Effective {
        Effective {
            limits: Limits {
                user_daily_videos: self.dm_daily,
                ..self.defaults
            },
            daily_source: quota::AllowanceSource::Default,
        }
    }

    /// The caps for a request in `guild` (`None`: direct messages) under `policy`.
    pub fn effective_in(
        &self,
        guild: Option<GuildId>,
        policy: &GuildPolicy,
        user: UserId,
        roles: &[RoleId],
    ) -> Effective {
        match guild {
            Some(_) => self.effective_with(policy, user, roles),
            None => self.in_dms(),
        }
    }

    /// The config file's caps, before any server override.
    pub fn defaults(&self) -> Limits {
        self.defaults
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Today's and this month's windows.
    pub fn window(&self, clock: &dyn Clock) -> Window {
        Window::at(clock.utc_now(), self.tz)
    }

    /// A server's policy; direct messages (no server) have none.
    pub async fn policy(&self, store: &Store, guild: Option<GuildId>) -> Result<GuildPolicy> {
        match guild {
            Some(g) => store.policy(g).await,
            None => Ok(GuildPolicy::default()),
        }
    }

    /// The caps for a member under a server's policy, the operator's ceilings applied.
    pub fn effective_with(
        &self,
        policy: &GuildPolicy,
        user: UserId,
        roles: &[RoleId],
    ) -> Effective {
        let mut effective = quota::effective(&self.defaults, policy, user, roles);
        // A ceiling from the config holds whatever was stored for the server.
        let ceiling = self.defaults.guild_monthly_credits;
        if ceiling > 0 {
            let limits = &mut effective.limits;
            if limits.guild_monthly_credits == 0 || limits.guild_monthly_credits > ceiling {
                limits.guild_monthly_credits = ceiling;
            }
        }
        effective
    }

    pub async fn effective(
        &self,
        store: &Store,
        guild: Option<GuildId>,
        user: UserId,
        roles: &[RoleId],
    ) -> Result<Effective> {
        let policy = self.policy(store, guild).await?;
        Ok(self.effective_in(guild, &policy, user, roles))
    }

    /// How many jobs a member may have rendering at once in a server.
    pub async fn concurrency(&self, store: &Store, guild: Option<GuildId>) -> usize {
        let policy = self.policy(store, guild).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the server's limits; using the defaults");
            GuildPolicy::default()
        });
        let limits = quota::effective(&self.defaults, &policy, UserId(0), &[]).limits;
        limits.user_concurrent_jobs.max(1) as usize
    }

    /// Whether a server admin may set `name` to `value`.
    pub fn check_override(
        &self,
        name: LimitName,
        value: u64,
    ) -> std::result::Result<(), LimitProblem> {
        if name == LimitName::UserConcurrentJobs && value == 0 {
            return Err(LimitProblem::ZeroConcurrency);
        }
        if name == LimitName::GuildMonthlyCredits {
            let ceiling = self.defaults.guild_monthly_credits;
            // 0 means "no cap": with a ceiling in force, that would remove it.
            if ceiling > 0 && (value == 0 || value > ceiling) {
                return Err(LimitProblem::AboveCeiling { ceiling });
            }
        }
        let max = name.max();
        if value > max {
            return Err(LimitProblem::TooLarge { max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(monthly_ceiling: u64) -> Caps {
        Caps::new(
            Limits {
                user_daily_videos: 5,
                guild_daily_videos: 50,
                user_concurrent_jobs: 2,
                guild_monthly_credits: monthly_ceiling,
                global_daily_credits: 0,
            },
            chrono_tz::UTC,
        )
    }

    #[test]
    fn a_server_may_lower_the_operators_monthly_ceiling_but_never_raise_or_remove_it() {
        let c = caps(800);
        assert_eq!(
            c.check_override(LimitName::GuildMonthlyCredits, 400),
            Ok(())
        );
        assert_eq!(
            c.check_override(LimitName::GuildMonthlyCredits, 800),
            Ok(())
        );
        for value in [0, 801, 1_000_000] {
            assert_eq!(
                c.check_override(LimitName::GuildMonthlyCredits, value),
                Err(LimitProblem::AboveCeiling { ceiling: 800 }),
                "{value}"
            );
        }
        // Without a ceiling, a server may set its own cap, or none.
        assert_eq!(
            caps(0).check_override(LimitName::GuildMonthlyCredits, 0),
            Ok(())
        );
        assert_eq!(
            caps(0).check_override(LimitName::GuildMonthlyCredits, 5000),
            Ok(())
        );
    }

    #[test]
    fn a_stored_override_above_the_ceiling_is_held_to_it() {
        let c = caps(800);
        let mut policy = GuildPolicy::default();
        policy
            .overrides
            .insert(LimitName::GuildMonthlyCredits, 5_000);
        let e = c.effective_with(&policy, UserId(1), &[]);
        assert_eq!(e.limits.guild_monthly_credits, 800);
        policy.overrides.insert(LimitName::GuildMonthlyCredits, 0);
        let e = c.effective_with(&policy, UserId(1), &[]);
        assert_eq!(e.limits.guild_monthly_credits, 800);
        policy.overrides.insert(LimitName::GuildMonthlyCredits, 160);
        let e = c.effective_with(&policy, UserId(1), &[]);
        assert_eq!(e.limits.guild_monthly_credits, 160);
    }

    #[test]
    fn direct_messages_have_their_own_daily_cap_and_no_server_allowance_reaches_them() {
        let c = caps(800).with_dm_daily(2);
        let mut policy = GuildPolicy::default();
        policy.user_allowances.insert(UserId(1), 0);
        let in_server = c.effective_in(Some(GuildId(9)), &policy, UserId(1), &[]);
        assert_eq!(in_server.limits.user_daily_videos, 0);
        let in_dms = c.effective_in(None, &policy, UserId(1), &[]);
        assert_eq!(in_dms.limits.user_daily_videos, 2);
        assert_eq!(in_dms.limits.global_daily_credits, 0);
        // Without a DM cap of its own, DMs get the server default.
        assert_eq!(caps(0).in_dms().limits.user_daily_videos, 5);
    }

    #[test]
    fn counts_stay_the_server_admins_to_choose() {
        let c = caps(800);
        assert_eq!(c.check_override(LimitName::UserDailyVideos, 0), Ok(()));
        assert_eq!(
            c.check_override(LimitName::GuildDailyVideos, 10_000),
            Ok(())
        );
        assert_eq!(
            c.check_override(LimitName::UserConcurrentJobs, 0),
            Err(LimitProblem::ZeroConcurrency)
        );
        assert_eq!(
            c.check_override(LimitName::GuildDailyVideos, 10_000_000),
            Err(LimitProblem::TooLarge { max: 100_000 })
        );
    }
}
