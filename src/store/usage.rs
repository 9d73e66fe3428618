//! Usage counters, reservations, server policies and the last PixelDojo balance.
//!
//! Trees (all in the same sled `Db` as the jobs, so one flush makes both durable):
//! - `usage_counters`: counter key → u64 big-endian. Keys, with `{guild}` 0 for direct messages:
//!   - `uv/{guild}/{day}/{user}`: a user's clips that day in that server;
//!   - `uc/{guild}/{day}/{user}`: a user's credits that day in that server (for reports);
//!   - `gv/{guild}/{day}`: the server's clips that day;
//!   - `gm/{guild}/{month}`: the server's credits that month;
//!   - `xc/{day}`: the whole bot's credits that day.
//! - `usage_reservations`: job id (u64 BE) → [`Reservation`] as JSON: the exact counters a job
//!   added, so that a refund undoes exactly that, once.
//! - `guild_policies`: guild id (u64 BE) → [`GuildPolicy`] as JSON.
//! - `usage_meta`: `credits_remaining` → [`Balance`] as JSON; `low_credit_alert` → the day the
//!   last low-balance warning was sent.
//!
//! Reserving is one sled transaction over the counters and the reservations: it reads every
//! counter involved, asks [`quota::decide`], and either aborts with the refusal or adds to every
//! counter and records the reservation. sled retries the closure on conflict, so concurrent
//! reservations serialize and no burst can pass a cap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{Result, Store, StoreError};
use crate::job::JobId;
use crate::quota::{self, Cost, GuildPolicy, Limits, Refusal, Scope, Usage, Window};

/// What one job added to the counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub job_id: JobId,
    pub guild_id: u64,
    pub user_id: u64,
    pub day: String,
    pub month: String,
    pub cost: Cost,
    /// Every counter key and the amount added to it.
    pub counters: Vec<(String, u64)>,
    pub refunded: bool,
}

/// What to reserve for a job.
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub job_id: JobId,
    /// 0 for direct messages.
    pub guild_id: u64,
    pub user_id: u64,
    pub limits: Limits,
    pub window: &'a Window,
    pub cost: Cost,
}

/// The balance PixelDojo last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub credits_remaining: i64,
    pub at_ms: i64,
}

/// A server's usage over some days.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// User id → (clips, credits) over the period.
    pub per_user: BTreeMap<u64, (u64, u64)>,
    /// The server's clips on each requested day, in the order given.
    pub per_day: Vec<u64>,
}

fn user_videos_key(guild: u64, day: &str, user: u64) -> String {
    format!("uv/{guild}/{day}/{user}")
}
fn user_credits_key(guild: u64, day: &str, user: u64) -> String {
    format!("uc/{guild}/{day}/{user}")
}
fn guild_videos_key(guild: u64, day: &str) -> String {
    format!("gv/{guild}/{day}")
}
fn guild_credits_key(guild: u64, month: &str) -> String {
    format!("gm/{guild}/{month}")
}
fn global_credits_key(day: &str) -> String {
    format!("xc/{day}")
}

fn decode_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn read(
    tree: &TransactionalTree,
    key: &str,
) -> std::result::Result<u64, sled::transaction::UnabortableTransactionError> {
    Ok(decode_u64(tree.get(key.as_bytes())?.as_deref()))
}

/// The usage part of the store. Cheap to clone.
#[derive(Clone)]
pub struct UsageStore {
    counters: sled::Tree,
    reservations: sled::Tree,
    policies: sled::Tree,
    meta: sled::Tree,
}

impl UsageStore {
    pub fn open(store: &Store) -> Result<Self> {
        let db = store.db();
        Ok(Self {
            counters: db.open_tree("usage_counters")?,
            reservations: db.open_tree("usage_reservations")?,
            policies: db.open_tree("guild_policies")?,
            meta: db.open_tree("usage_meta")?,
        })
    }

    fn counter(&self, key: &str) -> Result<u64> {
        Ok(decode_u64(self.counters.get(key.as_bytes())?.as_deref()))
    }

    /// Counts the job against every cap at once, or refuses it without counting anything.
    /// Reserving the same job again returns its first reservation and counts nothing more.
    pub fn reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        let w = req.window;
        let (g, u) = (req.guild_id, req.user_id);
        let user_videos = user_videos_key(g, &w.day, u);
        let guild_videos = guild_videos_key(g, &w.day);
        let guild_credits = guild_credits_key(g, &w.month);
        let global_credits = global_credits_key(&w.day);
        let reservation = Reservation {
            job_id: req.job_id,
            guild_id: g,
            user_id: u,
            day: w.day.clone(),
            month: w.month.clone(),
            cost: req.cost,
            counters: vec![
                (user_videos.clone(), req.cost.videos),
                (user_credits_key(g, &w.day, u), req.cost.credits),
                (guild_videos.clone(), req.cost.videos),
                (guild_credits.clone(), req.cost.credits),
                (global_credits.clone(), req.cost.credits),
            ],
            refunded: false,
        };
        let encoded = serde_json::to_vec(&reservation)?;
        let job_key = req.job_id.to_be_bytes();
        let scope = if g == 0 {
            Scope::DirectMessages
        } else {
            Scope::Server
        };
        let outcome = (&self.counters, &self.reservations).transaction(|(c, r)| {
            if let Some(existing) = r.get(job_key)? {
                return Ok(Some(existing));
            }
            let usage = Usage {
                user_day_videos: read(c, &user_videos)?,
                guild_day_videos: read(c, &guild_videos)?,
                guild_month_credits: read(c, &guild_credits)?,
                global_day_credits: read(c, &global_credits)?,
            };
            if let Err(refusal) = quota::decide(&req.limits, &usage, req.cost, w, scope) {
                return abort(refusal);
            }
            for (key, amount) in &reservation.counters {
                let next = read(c, key)?.saturating_add(*amount);
                c.insert(key.as_bytes(), &next.to_be_bytes())?;
            }
            r.insert(&job_key, encoded.as_slice())?;
            Ok(None)
        });
        match outcome {
            Ok(None) => Ok(Ok(reservation)),
            Ok(Some(existing)) => Ok(Ok(serde_json::from_slice(&existing)?)),
            Err(TransactionError::Abort(refusal)) => Ok(Err(refusal)),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Undoes exactly what the job reserved. Returns false when there was nothing (left) to
    /// refund, so refunding twice is harmless.
    pub fn refund(&self, job_id: JobId) -> Result<bool> {
        let job_key = job_id.to_be_bytes();
        let outcome = (&self.counters, &self.reservations).transaction(|(c, r)| {
            let Some(bytes) = r.get(job_key)? else {
                return Ok(false);
            };
            let mut reservation: Reservation = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => return abort(e.to_string()),
            };
            if reservation.refunded {
                return Ok(false);
            }
            for (key, amount) in &reservation.counters {
                let next = read(c, key)?.saturating_sub(*amount);
                c.insert(key.as_bytes(), &next.to_be_bytes())?;
            }
            reservation.refunded = true;
            let encoded = match serde_json::to_vec(&reservation) {
                Ok(v) => v,
                Err(e) => return abort(e.to_string()),
            };
            r.insert(&job_key, encoded)?;
            Ok::<_, ConflictableTransactionError<String>>(true)
        });
        outcome.map_err(|e| match e {
            TransactionError::Abort(msg) => StoreError::Transaction(msg),
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    pub fn reservation(&self, job_id: JobId) -> Result<Option<Reservation>> {
        match self.reservations.get(job_id.to_be_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// What counts against a user's request right now (a snapshot, for display).
    pub fn usage(&self, guild: u64, user: u64, window: &Window) -> Result<Usage> {
        Ok(Usage {
            user_day_videos: self.counter(&user_videos_key(guild, &window.day, user))?,
            guild_day_videos: self.counter(&guild_videos_key(guild, &window.day))?,
            guild_month_credits: self.counter(&guild_credits_key(guild, &window.month))?,
            global_day_credits: self.counter(&global_credits_key(&window.day))?,
        })
    }

    /// Sets a user's clip count for `day` back to 0 (their credits stay in the reports).
    pub fn reset_user_day(&self, guild: u64, user: u64, day: &str) -> Result<u64> {
        let old = self
            .counters
            .remove(user_videos_key(guild, day, user).as_bytes())?;
        Ok(decode_u64(old.as_deref()))
    }

    /// Per-user clips and credits, and the server's clips per day, over `days` (`YYYY-MM-DD`).
    pub fn report(&self, guild: u64, days: &[String]) -> Result<Report> {
        let mut report = Report::default();
        for day in days {
            for (prefix, credits) in [("uv", false), ("uc", true)] {
                let scan = format!("{prefix}/{guild}/{day}/");
                for item in self.counters.scan_prefix(scan.as_bytes()) {
                    let (k, v) = item?;
                    let user = std::str::from_utf8(&k[scan.len()..])
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let Some(user) = user {
                        let entry = report.per_user.entry(user).or_default();
                        let n = decode_u64(Some(&v));
                        if credits {
                            entry.1 += n;
                        } else {
                            entry.0 += n;
                        }
                    }
                }
            }
            report
                .per_day
                .push(self.counter(&guild_videos_key(guild, day))?);
        }
        Ok(report)
    }

    pub fn policy(&self, guild: u64) -> Result<GuildPolicy> {
        match self.policies.get(guild.to_be_bytes())? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(GuildPolicy::default()),
        }
    }

    /// Applies `change` to the server's policy atomically and returns the result.
    pub fn update_policy(
        &self,
        guild: u64,
        change: impl Fn(&mut GuildPolicy),
    ) -> Result<GuildPolicy> {
        let key = guild.to_be_bytes();
        loop {
            let old = self.policies.get(key)?;
            let mut policy: GuildPolicy = match &old {
                Some(v) => serde_json::from_slice(v)?,
                None => GuildPolicy::default(),
            };
            change(&mut policy);
            let new = serde_json::to_vec(&policy)?;
            if self.policies.compare_and_swap(key, old, Some(new))?.is_ok() {
                return Ok(policy);
            }
        }
    }

    pub fn record_balance(&self, balance: Balance) -> Result<()> {
        self.meta
            .insert("credits_remaining", serde_json::to_vec(&balance)?)?;
        Ok(())
    }

    pub fn balance(&self) -> Result<Option<Balance>> {
        match self.meta.get("credits_remaining")? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// True the first time it is called for `day`: whoever gets true sends the day's warning.
    pub fn claim_low_credit_alert(&self, day: &str) -> Result<bool> {
        loop {
            let old = self.meta.get("low_credit_alert")?;
            if old.as_deref() == Some(day.as_bytes()) {
                return Ok(false);
            }
            if self
                .meta
                .compare_and_swap("low_credit_alert", old, Some(day.as_bytes()))?
                .is_ok()
            {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::CLIP_CREDITS;
    use std::sync::Arc;

    const LIMITS: Limits = Limits {
        user_daily_videos: 3,
        guild_daily_videos: 50,
        user_concurrent_jobs: 2,
        guild_monthly_credits: 0,
        global_daily_credits: 0,
    };

    fn window() -> Window {
        let now = chrono::DateTime::parse_from_rfc3339("2025-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        Window::at(now, chrono_tz::UTC)
    }

    fn open(path: &std::path::Path) -> (Store, UsageStore) {
        let store = Store::open(path).unwrap();
        let usage = UsageStore::open(&store).unwrap();
        (store, usage)
    }

    fn req(job_id: JobId, user: u64, limits: Limits, w: &Window) -> ReserveRequest<'_> {
        ReserveRequest {
            job_id,
            guild_id: 9,
            user_id: user,
            limits,
            window: w,
            cost: Cost::CLIP,
        }
    }

    #[test]
    fn a_reservation_counts_every_window_and_a_refusal_counts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        let w = window();
        for job in 1..=3 {
            usage.reserve(&req(job, 1, LIMITS, &w)).unwrap().unwrap();
        }
        let refusal = usage.reserve(&req(4, 1, LIMITS, &w)).unwrap().unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::UserDaily {
                used: 3,
                limit: 3,
                ..
            }
        ));
        assert!(usage.reservation(4).unwrap().is_none());
        let u = usage.usage(9, 1, &w).unwrap();
        assert_eq!(u.user_day_videos, 3);
        assert_eq!(u.guild_day_videos, 3);
        assert_eq!(u.guild_month_credits, 3 * CLIP_CREDITS);
        assert_eq!(u.global_day_credits, 3 * CLIP_CREDITS);
    }

    #[test]
    fn reserving_the_same_job_twice_counts_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        let w = window();
        let a = usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        let b = usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(usage.usage(9, 1, &w).unwrap().user_day_videos, 1);
    }

    #[test]
    fn a_refund_undoes_exactly_the_reservation_and_twice_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        let w = window();
        usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        usage.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
        assert!(usage.refund(1).unwrap());
        assert!(!usage.refund(1).unwrap());
        assert!(!usage.refund(99).unwrap(), "a job never reserved");
        let u = usage.usage(9, 1, &w).unwrap();
        assert_eq!(u.user_day_videos, 1);
        assert_eq!(u.guild_month_credits, CLIP_CREDITS);
        assert!(usage.reservation(1).unwrap().unwrap().refunded);
        // Reserving a refunded job again does not count it again.
        usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        assert_eq!(usage.usage(9, 1, &w).unwrap().user_day_videos, 1);
    }

    #[test]
    fn counters_reservations_and_policies_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let w = window();
        {
            let (store, usage) = open(&path);
            usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
            usage.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
            usage
                .update_policy(9, |p| {
                    p.user_allowances.insert(1, 7);
                })
                .unwrap();
            usage
                .record_balance(Balance {
                    credits_remaining: 123,
                    at_ms: 5,
                })
                .unwrap();
            store.db().flush().unwrap();
        }
        let (_s, usage) = open(&path);
        assert_eq!(usage.usage(9, 1, &w).unwrap().user_day_videos, 2);
        assert!(usage.refund(2).unwrap());
        assert_eq!(usage.usage(9, 1, &w).unwrap().user_day_videos, 1);
        assert_eq!(usage.policy(9).unwrap().user_allowances[&1], 7);
        assert_eq!(usage.balance().unwrap().unwrap().credits_remaining, 123);
    }

    #[test]
    fn the_report_sums_clips_and_credits_per_user_and_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        let w = window();
        usage.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        usage.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
        usage.reserve(&req(3, 2, LIMITS, &w)).unwrap().unwrap();
        let r = usage
            .report(9, &["2025-03-09".into(), w.day.clone()])
            .unwrap();
        assert_eq!(r.per_user[&1], (2, 2 * CLIP_CREDITS));
        assert_eq!(r.per_user[&2], (1, CLIP_CREDITS));
        assert_eq!(r.per_day, [0, 3]);
        assert_eq!(usage.reset_user_day(9, 1, &w.day).unwrap(), 2);
        assert_eq!(usage.usage(9, 1, &w).unwrap().user_day_videos, 0);
        assert_eq!(
            usage
                .report(9, std::slice::from_ref(&w.day))
                .unwrap()
                .per_user[&1]
                .1,
            32
        );
    }

    #[test]
    fn the_low_credit_alert_is_claimed_once_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        assert!(usage.claim_low_credit_alert("2025-03-10").unwrap());
        assert!(!usage.claim_low_credit_alert("2025-03-10").unwrap());
        assert!(usage.claim_low_credit_alert("2025-03-11").unwrap());
    }

    /// Many threads reserving at once never pass a cap: the user cap, then the server cap and
    /// the credit caps with many users, with refunds racing the reservations.
    #[test]
    fn concurrent_reservations_never_exceed_any_cap() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, usage) = open(&dir.path().join("db"));
        let w = Arc::new(window());
        let run = |first_job: u64, limits: Limits, users: u64, refund_every: u64| {
            let handles: Vec<_> = (0..64u64)
                .map(|i| {
                    let usage = usage.clone();
                    let w = w.clone();
                    std::thread::spawn(move || {
                        let job = first_job + i;
                        let r = ReserveRequest {
                            job_id: job,
                            guild_id: 9,
                            user_id: 100 + i % users,
                            limits,
                            window: &w,
                            cost: Cost::CLIP,
                        };
                        let ok = usage.reserve(&r).unwrap().is_ok();
                        if ok && refund_every > 0 && job % refund_every == 0 {
                            usage.refund(job).unwrap();
                            return 0;
                        }
                        u64::from(ok)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        };
        // One user, cap 3.
        assert_eq!(run(1_000, LIMITS, 1, 0), 3);
        assert_eq!(usage.usage(9, 100, &w).unwrap().user_day_videos, 3);

        // Many users, server cap of 10 more clips today (3 already made), refunds racing.
        let limits = Limits {
            user_daily_videos: 100,
            guild_daily_videos: 13,
            ..LIMITS
        };
        let kept = run(2_000, limits, 8, 5);
        let u = usage.usage(9, 100, &w).unwrap();
        assert_eq!(u.guild_day_videos, 3 + kept);
        assert!(u.guild_day_videos <= 13, "{u:?}");

        // A monthly credit cap that fits 4 more clips.
        let limits = Limits {
            user_daily_videos: 100,
            guild_daily_videos: 1_000,
            guild_monthly_credits: u.guild_month_credits + 4 * CLIP_CREDITS + CLIP_CREDITS / 2,
            ..LIMITS
        };
        assert_eq!(run(3_000, limits, 8, 0), 4);
        let after = usage.usage(9, 100, &w).unwrap();
        assert!(after.guild_month_credits <= limits.guild_monthly_credits);
        assert_eq!(after.guild_month_credits, after.global_day_credits);
    }
}
