//! Usage counters, reservations, server policies and the last PixelDojo balance.
//!
//! Trees (all in the same sled `Db` as the jobs, so one flush makes both durable):
//! - `usage_counters`: counter key → u64 big-endian. `{scope}` is a server id, or `dm` for
//!   direct messages (which belong to no server and have no server counters):
//!   - `uv/{scope}/{day}/{user}`: a user's clips that day there;
//!   - `uc/{scope}/{day}/{user}`: a user's credits that day there (for reports);
//!   - `gv/{guild}/{day}`: the server's clips that day;
//!   - `gm/{guild}/{month}`: the server's credits that month;
//!   - `xc/{day}`: the whole bot's credits that day.
//! - `usage_reservations`: job id (u64 BE) → [`Reservation`] as JSON: the exact counters a job
//!   added, so that settling it undoes exactly that, once.
//! - `guild_policies`: guild id (u64 BE) → [`GuildPolicy`] as JSON.
//! - `usage_meta`: `credits_remaining` → [`Balance`]; `low_credit_alert` → the day the last
//!   low-balance warning was sent; `underflows` → how often a refund found less to take back
//!   than it counted (a bug if it is ever not 0).
//!
//! Reserving reads every counter involved, asks [`quota::decide`], and either refuses or adds to
//! every counter and records the reservation, inside one transaction (see
//! [`Store::admit`](super::Store::admit)); sled retries the closure on conflict, so concurrent
//! reservations serialize and no burst can pass a cap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::{
    abort, ConflictableTransactionError, TransactionError, TransactionalTree,
    UnabortableTransactionError,
};
use sled::Transactional;

use super::{key, Result, Store, StoreError};
use crate::domain::ids::{GuildId, JobId, Scope, UserId};
use crate::domain::job::Settlement;
use crate::domain::quota::{self, Cost, GuildPolicy, Limits, Refusal, Usage, Window};

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CounterKind {
    UserClips,
    UserCredits,
    GuildClips,
    GuildCredits,
    GlobalCredits,
}

impl CounterKind {
    fn is_credits(self) -> bool {
        matches!(
            self,
            Self::UserCredits | Self::GuildCredits | Self::GlobalCredits
        )
    }
}

/// One counter a job added to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub kind: CounterKind,
    pub key: String,
    pub amount: u64,
}

/// What one job added to the counters, and what of it was given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub job_id: JobId,
    pub scope: Scope,
    pub user: UserId,
    pub day: String,
    pub month: String,
    pub counters: Vec<Counted>,
    #[serde(default)]
    pub clips_refunded: bool,
    #[serde(default)]
    pub credits_refunded: bool,
}

impl Reservation {
    /// The credits this job counts now (what was reserved, or what the vendor charged).
    pub fn credits(&self) -> u64 {
        if self.credits_refunded {
            return 0;
        }
        self.counters
            .iter()
            .find(|c| c.kind == CounterKind::GlobalCredits)
            .map_or(0, |c| c.amount)
    }
}

/// What to reserve for a job.
#[derive(Debug, Clone)]
pub struct ReserveRequest<'a> {
    pub job_id: JobId,
    pub scope: Scope,
    pub user: UserId,
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
    /// User → (clips, credits) over the period.
    pub per_user: BTreeMap<UserId, (u64, u64)>,
    /// The server's clips on each requested day, in the order given.
    pub per_day: Vec<u64>,
}

fn scope_part(scope: Scope) -> String {
    match scope {
        Scope::Guild(g) => g.0.to_string(),
        Scope::Dm => "dm".to_owned(),
    }
}

fn user_clips_key(scope: Scope, day: &str, user: UserId) -> String {
    format!("uv/{}/{day}/{user}", scope_part(scope))
}
fn user_credits_key(scope: Scope, day: &str, user: UserId) -> String {
    format!("uc/{}/{day}/{user}", scope_part(scope))
}
fn guild_clips_key(guild: GuildId, day: &str) -> String {
    format!("gv/{guild}/{day}")
}
fn guild_credits_key(guild: GuildId, month: &str) -> String {
    format!("gm/{guild}/{month}")
}
fn global_credits_key(day: &str) -> String {
    format!("xc/{day}")
}

const UNDERFLOWS: &str = "underflows";

fn decode_u64(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn read(
    tree: &TransactionalTree,
    key: &str,
) -> std::result::Result<u64, UnabortableTransactionError> {
    Ok(decode_u64(tree.get(key.as_bytes())?.as_deref()))
}

/// The counters a job in `scope` adds to, with their amounts.
fn counters_for(req: &ReserveRequest<'_>) -> Vec<Counted> {
    let w = req.window;
    let (scope, user, cost) = (req.scope, req.user, req.cost);
    let counted = |kind, key, amount| Counted { kind, key, amount };
    let mut out = vec![
        counted(
            CounterKind::UserClips,
            user_clips_key(scope, &w.day, user),
            cost.videos,
        ),
        counted(
            CounterKind::UserCredits,
            user_credits_key(scope, &w.day, user),
            cost.credits,
        ),
    ];
    if let Scope::Guild(g) = scope {
        out.push(counted(
            CounterKind::GuildClips,
            guild_clips_key(g, &w.day),
            cost.videos,
        ));
        out.push(counted(
            CounterKind::GuildCredits,
            guild_credits_key(g, &w.month),
            cost.credits,
        ));
    }
    out.push(counted(
        CounterKind::GlobalCredits,
        global_credits_key(&w.day),
        cost.credits,
    ));
    out
}

/// Reserves inside a transaction over the counters and the reservations. Reserving the same
/// job again returns its first reservation and counts nothing more.
pub(super) fn reserve_in(
    counters: &TransactionalTree,
    reservations: &TransactionalTree,
    req: &ReserveRequest<'_>,
) -> std::result::Result<std::result::Result<Reservation, Refusal>, UnabortableTransactionError> {
    let job_key = key(req.job_id.0);
    if let Some(existing) = reservations.get(job_key)? {
        if let Ok(r) = serde_json::from_slice::<Reservation>(&existing) {
            return Ok(Ok(r));
        }
    }
    let w = req.window;
    let guild = req.scope.guild();
    let usage = Usage {
        user_day_videos: read(counters, &user_clips_key(req.scope, &w.day, req.user))?,
        guild_day_videos: match guild {
            Some(g) => read(counters, &guild_clips_key(g, &w.day))?,
            None => 0,
        },
        guild_month_credits: match guild {
            Some(g) => read(counters, &guild_credits_key(g, &w.month))?,
            None => 0,
        },
        global_day_credits: read(counters, &global_credits_key(&w.day))?,
    };
    if let Err(refusal) = quota::decide(&req.limits, &usage, req.cost, w, req.scope) {
        return Ok(Err(refusal));
    }
    let reservation = Reservation {
        job_id: req.job_id,
        scope: req.scope,
        user: req.user,
        day: w.day.clone(),
        month: w.month.clone(),
        counters: counters_for(req),
        clips_refunded: false,
        credits_refunded: false,
    };
    for c in &reservation.counters {
        let next = read(counters, &c.key)?.saturating_add(c.amount);
        counters.insert(c.key.as_bytes(), &next.to_be_bytes())?;
    }
    // Serializing plain data cannot fail.
    let encoded = serde_json::to_vec(&reservation).unwrap_or_default();
    reservations.insert(&job_key, encoded)?;
    Ok(Ok(reservation))
}

impl Store {
    fn counter(&self, key: &str) -> Result<u64> {
        Ok(decode_u64(self.counters.get(key.as_bytes())?.as_deref()))
    }

    /// Reserves for a job on its own (admission does it together with storing the job).
    pub fn reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        let outcome = (&self.counters, &self.reservations).transaction(|(c, r)| {
            Ok::<_, ConflictableTransactionError<()>>(reserve_in(c, r, req)?)
        });
        outcome.map_err(|e| match e {
            TransactionError::Abort(()) => StoreError::Transaction("aborted".into()),
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Changes a job's reservation with `change`, which returns how much to add to (positive)
    /// or take from (negative) each counter. Taking more than a counter holds is counted in
    /// `underflows`, except from a user's clip count, which an admin may have reset.
    fn adjust(
        &self,
        job_id: JobId,
        change: impl Fn(&mut Reservation) -> Vec<(String, CounterKind, i128)>,
    ) -> Result<Option<Reservation>> {
        let job_key = key(job_id.0);
        let outcome =
            (&self.counters, &self.reservations, &self.usage_meta).transaction(|(c, r, meta)| {
                let Some(bytes) = r.get(job_key)? else {
                    return Ok(None);
                };
                let mut reservation: Reservation = match serde_json::from_slice(&bytes) {
                    Ok(v) => v,
                    Err(e) => return abort(e.to_string()),
                };
                let deltas = change(&mut reservation);
                if deltas.is_empty() {
                    return Ok(Some(reservation));
                }
                for (key, kind, delta) in &deltas {
                    let current = i128::from(read(c, key)?);
                    let next = current + delta;
                    if next < 0 && *kind != CounterKind::UserClips {
                        let n = read(meta, UNDERFLOWS)? + 1;
                        meta.insert(UNDERFLOWS, &n.to_be_bytes())?;
                    }
                    let next = next.clamp(0, i128::from(u64::MAX)) as u64;
                    c.insert(key.as_bytes(), &next.to_be_bytes())?;
                }
                let encoded = serde_json::to_vec(&reservation).unwrap_or_default();
                r.insert(&job_key, encoded)?;
                Ok(Some(reservation))
            });
        outcome.map_err(|e| match e {
            TransactionError::Abort(msg) => StoreError::Transaction(msg),
            TransactionError::Storage(e) => StoreError::Sled(e),
        })
    }

    /// Gives back what a job that ended without a clip does not owe (see
    /// [`crate::domain::job::FailReason::settlement`]). Settling twice gives back nothing more.
    pub fn settle(&self, job_id: JobId, settlement: Settlement) -> Result<Option<Reservation>> {
        self.adjust(job_id, |r| {
            let clips = settlement.clips && !r.clips_refunded;
            let credits = settlement.credits && !r.credits_refunded;
            r.clips_refunded |= clips;
            r.credits_refunded |= credits;
            r.counters
                .iter()
                .filter(|c| if c.kind.is_credits() { credits } else { clips })
                .map(|c| (c.key.clone(), c.kind, -i128::from(c.amount)))
                .collect()
        })
    }

    /// Counts what the vendor said it charged for a job instead of what was reserved.
    pub fn charge(&self, job_id: JobId, credits: u64) -> Result<Option<Reservation>> {
        self.adjust(job_id, |r| {
            if r.credits_refunded {
                return Vec::new();
            }
            let mut deltas = Vec::new();
            for c in r.counters.iter_mut().filter(|c| c.kind.is_credits()) {
                if c.amount != credits {
                    deltas.push((
                        c.key.clone(),
                        c.kind,
                        i128::from(credits) - i128::from(c.amount),
                    ));
                    c.amount = credits;
                }
            }
            deltas
        })
    }

    pub fn reservation(&self, job_id: JobId) -> Result<Option<Reservation>> {
        match self.reservations.get(key(job_id.0))? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// How often a refund found less to take back than it counted (should stay 0).
    pub fn underflows(&self) -> Result<u64> {
        Ok(decode_u64(self.usage_meta.get(UNDERFLOWS)?.as_deref()))
    }

    /// What counts against a user's request right now (a snapshot, for display).
    pub fn usage(&self, scope: Scope, user: UserId, window: &Window) -> Result<Usage> {
        let guild = scope.guild();
        Ok(Usage {
            user_day_videos: self.counter(&user_clips_key(scope, &window.day, user))?,
            guild_day_videos: match guild {
                Some(g) => self.counter(&guild_clips_key(g, &window.day))?,
                None => 0,
            },
            guild_month_credits: match guild {
                Some(g) => self.counter(&guild_credits_key(g, &window.month))?,
                None => 0,
            },
            global_day_credits: self.counter(&global_credits_key(&window.day))?,
        })
    }

    /// The credits counted for a server in a month (`None`: DMs) and for the bot in a day.
    pub fn credits_counted(
        &self,
        guild: Option<GuildId>,
        month: &str,
        day: &str,
    ) -> Result<(u64, u64)> {
        let server = match guild {
            Some(g) => self.counter(&guild_credits_key(g, month))?,
            None => 0,
        };
        Ok((server, self.counter(&global_credits_key(day))?))
    }

    /// Sets a user's clip count for `day` back to 0 (their credits stay in the reports).
    pub fn reset_user_day(&self, scope: Scope, user: UserId, day: &str) -> Result<u64> {
        let old = self
            .counters
            .remove(user_clips_key(scope, day, user).as_bytes())?;
        Ok(decode_u64(old.as_deref()))
    }

    /// Per-user clips and credits, and the server's clips per day, over `days` (`YYYY-MM-DD`).
    pub fn report(&self, guild: GuildId, days: &[String]) -> Result<Report> {
        let scope = Scope::Guild(guild);
        let mut report = Report::default();
        for day in days {
            for (prefix, credits) in [("uv", false), ("uc", true)] {
                let scan = format!("{prefix}/{}/{day}/", scope_part(scope));
                for item in self.counters.scan_prefix(scan.as_bytes()) {
                    let (k, v) = item?;
                    let user = std::str::from_utf8(&k[scan.len()..])
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok());
                    if let Some(user) = user {
                        let entry = report.per_user.entry(UserId(user)).or_default();
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
                .push(self.counter(&guild_clips_key(guild, day))?);
        }
        Ok(report)
    }

    pub fn policy(&self, guild: GuildId) -> Result<GuildPolicy> {
        match self.policies.get(key(guild.0))? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(GuildPolicy::default()),
        }
    }

    /// Applies `change` to the server's policy atomically and returns the result.
    pub fn update_policy(
        &self,
        guild: GuildId,
        change: impl Fn(&mut GuildPolicy),
    ) -> Result<GuildPolicy> {
        let k = key(guild.0);
        loop {
            let old = self.policies.get(k)?;
            let mut policy: GuildPolicy = match &old {
                Some(v) => serde_json::from_slice(v)?,
                None => GuildPolicy::default(),
            };
            change(&mut policy);
            let new = serde_json::to_vec(&policy)?;
            if self.policies.compare_and_swap(k, old, Some(new))?.is_ok() {
                return Ok(policy);
            }
        }
    }

    pub fn record_balance(&self, balance: Balance) -> Result<()> {
        self.usage_meta
            .insert("credits_remaining", serde_json::to_vec(&balance)?)?;
        Ok(())
    }

    pub fn balance(&self) -> Result<Option<Balance>> {
        match self.usage_meta.get("credits_remaining")? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// True the first time it is called for `day`: whoever gets true sends the day's warning.
    pub fn claim_low_credit_alert(&self, day: &str) -> Result<bool> {
        loop {
            let old = self.usage_meta.get("low_credit_alert")?;
            if old.as_deref() == Some(day.as_bytes()) {
                return Ok(false);
            }
            if self
                .usage_meta
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
    use super::super::test_support::store;
    use super::*;
    use crate::domain::quota::CLIP_CREDITS;
    use std::sync::Arc;

    const LIMITS: Limits = Limits {
        user_daily_videos: 3,
        guild_daily_videos: 50,
        user_concurrent_jobs: 2,
        guild_monthly_credits: 0,
        global_daily_credits: 0,
    };
    const SERVER: Scope = Scope::Guild(GuildId(9));

    fn window() -> Window {
        let now = chrono::DateTime::parse_from_rfc3339("2025-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        Window::at(now, chrono_tz::UTC)
    }

    fn req(job_id: u64, user: u64, limits: Limits, w: &Window) -> ReserveRequest<'_> {
        ReserveRequest {
            job_id: JobId(job_id),
            scope: SERVER,
            user: UserId(user),
            limits,
            window: w,
            cost: Cost::CLIP,
        }
    }

    const EVERYTHING: Settlement = Settlement {
        clips: true,
        credits: true,
    };

    #[test]
    fn a_reservation_counts_every_window_and_a_refusal_counts_nothing() {
        let (_dir, store) = store();
        let w = window();
        for job in 1..=3 {
            store.reserve(&req(job, 1, LIMITS, &w)).unwrap().unwrap();
        }
        let refusal = store.reserve(&req(4, 1, LIMITS, &w)).unwrap().unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::UserDaily {
                used: 3,
                limit: 3,
                ..
            }
        ));
        assert!(store.reservation(JobId(4)).unwrap().is_none());
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!(u.user_day_videos, 3);
        assert_eq!(u.guild_day_videos, 3);
        assert_eq!(u.guild_month_credits, 3 * CLIP_CREDITS);
        assert_eq!(u.global_day_credits, 3 * CLIP_CREDITS);
    }

    #[test]
    fn reserving_the_same_job_twice_counts_it_once() {
        let (_dir, store) = store();
        let w = window();
        let a = store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        let b = store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(
            store.usage(SERVER, UserId(1), &w).unwrap().user_day_videos,
            1
        );
    }

    #[test]
    fn settling_undoes_exactly_the_reservation_and_twice_is_harmless() {
        let (_dir, store) = store();
        let w = window();
        store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        store.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
        assert!(store.settle(JobId(1), EVERYTHING).unwrap().is_some());
        store.settle(JobId(1), EVERYTHING).unwrap();
        assert!(
            store.settle(JobId(99), EVERYTHING).unwrap().is_none(),
            "a job never reserved"
        );
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!(u.user_day_videos, 1);
        assert_eq!(u.guild_month_credits, CLIP_CREDITS);
        let r = store.reservation(JobId(1)).unwrap().unwrap();
        assert!(r.clips_refunded && r.credits_refunded);
        assert_eq!(store.underflows().unwrap(), 0);
        // Reserving a settled job again does not count it again.
        store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        assert_eq!(
            store.usage(SERVER, UserId(1), &w).unwrap().user_day_videos,
            1
        );
    }

    #[test]
    fn a_charged_failure_gives_back_the_clip_but_keeps_the_credits() {
        let (_dir, store) = store();
        let w = window();
        store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        store
            .settle(
                JobId(1),
                Settlement {
                    clips: true,
                    credits: false,
                },
            )
            .unwrap();
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!(u.user_day_videos, 0);
        assert_eq!(u.guild_day_videos, 0);
        assert_eq!(u.guild_month_credits, CLIP_CREDITS);
        assert_eq!(u.global_day_credits, CLIP_CREDITS);
        // A later full settlement can still give the credits back, once.
        store.settle(JobId(1), EVERYTHING).unwrap();
        store.settle(JobId(1), EVERYTHING).unwrap();
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!((u.user_day_videos, u.global_day_credits), (0, 0));
        assert_eq!(store.underflows().unwrap(), 0);
    }

    #[test]
    fn what_the_vendor_charged_replaces_what_was_reserved() {
        let (_dir, store) = store();
        let w = window();
        store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        store.charge(JobId(1), 20).unwrap();
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!((u.guild_month_credits, u.global_day_credits), (20, 20));
        assert_eq!(store.reservation(JobId(1)).unwrap().unwrap().credits(), 20);
        store.charge(JobId(1), 10).unwrap();
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!(u.global_day_credits, 10);
        store.settle(JobId(1), EVERYTHING).unwrap();
        let u = store.usage(SERVER, UserId(1), &w).unwrap();
        assert_eq!(u.global_day_credits, 0);
        assert_eq!(store.underflows().unwrap(), 0);
    }

    #[test]
    fn direct_messages_count_per_user_and_never_against_a_server() {
        let (_dir, store) = store();
        let w = window();
        let dm = |job, user| ReserveRequest {
            job_id: JobId(job),
            scope: Scope::Dm,
            user: UserId(user),
            limits: Limits {
                guild_daily_videos: 1,
                ..LIMITS
            },
            window: &w,
            cost: Cost::CLIP,
        };
        // Two users in DMs: a server cap of 1 does not make them share one bucket.
        store.reserve(&dm(1, 1)).unwrap().unwrap();
        store.reserve(&dm(2, 2)).unwrap().unwrap();
        store.reserve(&dm(3, 2)).unwrap().unwrap();
        assert_eq!(
            store
                .usage(Scope::Dm, UserId(2), &w)
                .unwrap()
                .user_day_videos,
            2
        );
        assert_eq!(
            store.usage(SERVER, UserId(2), &w).unwrap().user_day_videos,
            0
        );
        assert_eq!(
            store
                .usage(Scope::Dm, UserId(2), &w)
                .unwrap()
                .global_day_credits,
            48
        );
    }

    #[test]
    fn counters_reservations_and_policies_survive_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let w = window();
        {
            let store = Store::open(&path).unwrap();
            store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
            store.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
            store
                .update_policy(GuildId(9), |p| {
                    p.user_allowances.insert(UserId(1), 7);
                })
                .unwrap();
            store
                .record_balance(Balance {
                    credits_remaining: 123,
                    at_ms: 5,
                })
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.usage(SERVER, UserId(1), &w).unwrap().user_day_videos,
            2
        );
        store.settle(JobId(2), EVERYTHING).unwrap();
        assert_eq!(
            store.usage(SERVER, UserId(1), &w).unwrap().user_day_videos,
            1
        );
        assert_eq!(
            store.policy(GuildId(9)).unwrap().user_allowances[&UserId(1)],
            7
        );
        assert_eq!(store.balance().unwrap().unwrap().credits_remaining, 123);
    }

    #[test]
    fn the_report_sums_clips_and_credits_per_user_and_per_day() {
        let (_dir, store) = store();
        let w = window();
        store.reserve(&req(1, 1, LIMITS, &w)).unwrap().unwrap();
        store.reserve(&req(2, 1, LIMITS, &w)).unwrap().unwrap();
        store.reserve(&req(3, 2, LIMITS, &w)).unwrap().unwrap();
        let r = store
            .report(GuildId(9), &["2025-03-09".into(), w.day.clone()])
            .unwrap();
        assert_eq!(r.per_user[&UserId(1)], (2, 2 * CLIP_CREDITS));
        assert_eq!(r.per_user[&UserId(2)], (1, CLIP_CREDITS));
        assert_eq!(r.per_day, [0, 3]);
        assert_eq!(store.reset_user_day(SERVER, UserId(1), &w.day).unwrap(), 2);
        assert_eq!(
            store.usage(SERVER, UserId(1), &w).unwrap().user_day_videos,
            0
        );
        assert_eq!(
            store
                .report(GuildId(9), std::slice::from_ref(&w.day))
                .unwrap()
                .per_user[&UserId(1)]
                .1,
            32
        );
    }

    #[test]
    fn the_low_credit_alert_is_claimed_once_per_day() {
        let (_dir, store) = store();
        assert!(store.claim_low_credit_alert("2025-03-10").unwrap());
        assert!(!store.claim_low_credit_alert("2025-03-10").unwrap());
        assert!(store.claim_low_credit_alert("2025-03-11").unwrap());
    }

    /// Many threads reserving at once never pass a cap: the user cap, then the server cap and
    /// the credit caps with many users, with refunds racing the reservations.
    #[test]
    fn concurrent_reservations_never_exceed_any_cap() {
        let (_dir, store) = store();
        let w = Arc::new(window());
        let run = |first_job: u64, limits: Limits, users: u64, refund_every: u64| {
            let handles: Vec<_> = (0..64u64)
                .map(|i| {
                    let store = store.clone();
                    let w = w.clone();
                    std::thread::spawn(move || {
                        let job = first_job + i;
                        let r = ReserveRequest {
                            job_id: JobId(job),
                            scope: SERVER,
                            user: UserId(100 + i % users),
                            limits,
                            window: &w,
                            cost: Cost::CLIP,
                        };
                        let ok = store.reserve(&r).unwrap().is_ok();
                        if ok && refund_every > 0 && job % refund_every == 0 {
                            store.settle(JobId(job), EVERYTHING).unwrap();
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
        assert_eq!(
            store
                .usage(SERVER, UserId(100), &w)
                .unwrap()
                .user_day_videos,
            3
        );

        // Many users, server cap of 10 more clips today (3 already made), refunds racing.
        let limits = Limits {
            user_daily_videos: 100,
            guild_daily_videos: 13,
            ..LIMITS
        };
        let kept = run(2_000, limits, 8, 5);
        let u = store.usage(SERVER, UserId(100), &w).unwrap();
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
        let after = store.usage(SERVER, UserId(100), &w).unwrap();
        assert!(after.guild_month_credits <= limits.guild_monthly_credits);
        assert_eq!(after.guild_month_credits, after.global_day_credits);
        assert_eq!(store.underflows().unwrap(), 0);
    }
}
