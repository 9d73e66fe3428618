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
mod tests;
