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

use super::kv::{Transaction, Tree};
use super::{atomically, key, Result, Step, Store};
use crate::domain::ids::{GuildId, JobId, Scope, UserId};
use crate::domain::job::Settlement;
use crate::domain::quota::{self, Cost, GuildPolicy, Limits, Refusal, Usage, Window};
use serde::{Deserialize, Serialize};

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

async fn read(tx: &mut dyn Transaction, tree: Tree, key: &str) -> Result<u64> {
    Ok(decode_u64(tx.get(tree, key.as_bytes()).await?.as_deref()))
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

/// Reserves inside a transaction. Reserving the same job again returns its first reservation
/// and counts nothing more.
pub(super) async fn reserve_in(
    tx: &mut dyn Transaction,
    req: &ReserveRequest<'_>,
) -> Result<std::result::Result<Reservation, Refusal>> {
    let job_key = key(req.job_id.0);
    if let Some(existing) = tx.get(Tree::Reservations, &job_key).await? {
        if let Ok(r) = serde_json::from_slice::<Reservation>(&existing) {
            return Ok(Ok(r));
        }
    }
    let w = req.window;
    let guild = req.scope.guild();
    let usage = Usage {
        user_day_videos: read(
            tx,
            Tree::Counters,
            &user_clips_key(req.scope, &w.day, req.user),
        )
        .await?,
        guild_day_videos: match guild {
            Some(g) => read(tx, Tree::Counters, &guild_clips_key(g, &w.day)).await?,
            None => 0,
        },
        guild_month_credits: match guild {
            Some(g) => read(tx, Tree::Counters, &guild_credits_key(g, &w.month)).await?,
            None => 0,
        },
        global_day_credits: read(tx, Tree::Counters, &global_credits_key(&w.day)).await?,
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
        let next = read(tx, Tree::Counters, &c.key)
            .await?
            .saturating_add(c.amount);
        tx.insert(Tree::Counters, c.key.as_bytes(), &next.to_be_bytes());
    }
    tx.insert(
        Tree::Reservations,
        &job_key,
        &serde_json::to_vec(&reservation)?,
    );
    Ok(Ok(reservation))
}

impl Store {
    async fn counter(&self, key: &str) -> Result<u64> {
        Ok(decode_u64(
            self.kv
                .get(Tree::Counters, key.as_bytes())
                .await?
                .as_deref(),
        ))
    }

    /// Reserves for a job on its own (admission does it together with storing the job).
    pub async fn reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        atomically!(self, |tx| {
            Ok(match reserve_in(tx, req).await? {
                Ok(r) => Step::Commit(Ok(r)),
                Err(refusal) => Step::Abort(Err(refusal)),
            })
        })
    }

    /// Changes a job's reservation with `change`, which returns how much to add to (positive)
    /// or take from (negative) each counter. Taking more than a counter holds is counted in
    /// `underflows`, except from a user's clip count, which an admin may have reset.
    async fn adjust(
        &self,
        job_id: JobId,
        change: impl Fn(&mut Reservation) -> Vec<(String, CounterKind, i128)>,
    ) -> Result<Option<Reservation>> {
        let job_key = key(job_id.0);
        atomically!(self, |tx| {
            let Some(bytes) = tx.get(Tree::Reservations, &job_key).await? else {
                return Ok(Step::Abort(None));
            };
            let mut reservation: Reservation = serde_json::from_slice(&bytes)?;
            let deltas = change(&mut reservation);
            if deltas.is_empty() {
                return Ok(Step::Abort(Some(reservation)));
            }
            for (key, kind, delta) in &deltas {
                let next = i128::from(read(tx, Tree::Counters, key).await?) + delta;
                if next < 0 && *kind != CounterKind::UserClips {
                    let n = read(tx, Tree::UsageMeta, UNDERFLOWS).await? + 1;
                    tx.insert(Tree::UsageMeta, UNDERFLOWS.as_bytes(), &n.to_be_bytes());
                }
                let next = next.clamp(0, i128::from(u64::MAX)) as u64;
                tx.insert(Tree::Counters, key.as_bytes(), &next.to_be_bytes());
            }
            tx.insert(
                Tree::Reservations,
                &job_key,
                &serde_json::to_vec(&reservation)?,
            );
            Ok(Step::Commit(Some(reservation)))
        })
    }

    /// Gives back what a job that ended without a clip does not owe (see
    /// [`crate::domain::job::FailReason::settlement`]). Settling twice gives back nothing more.
    pub async fn settle(
        &self,
        job_id: JobId,
        settlement: Settlement,
    ) -> Result<Option<Reservation>> {
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
        .await
    }

    /// Counts what the vendor said it charged for a job instead of what was reserved.
    pub async fn charge(&self, job_id: JobId, credits: u64) -> Result<Option<Reservation>> {
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
        .await
    }

    pub async fn reservation(&self, job_id: JobId) -> Result<Option<Reservation>> {
        self.get_json(Tree::Reservations, &key(job_id.0)).await
    }

    /// How often a refund found less to take back than it counted (should stay 0).
    pub async fn underflows(&self) -> Result<u64> {
        Ok(decode_u64(
            self.kv
                .get(Tree::UsageMeta, UNDERFLOWS.as_bytes())
                .await?
                .as_deref(),
        ))
    }

    /// What counts against a user's request right now (a snapshot, for display).
    pub async fn usage(&self, scope: Scope, user: UserId, window: &Window) -> Result<Usage> {
        let guild = scope.guild();
        Ok(Usage {
            user_day_videos: self
                .counter(&user_clips_key(scope, &window.day, user))
                .await?,
            guild_day_videos: match guild {
                Some(g) => self.counter(&guild_clips_key(g, &window.day)).await?,
                None => 0,
            },
            guild_month_credits: match guild {
                Some(g) => self.counter(&guild_credits_key(g, &window.month)).await?,
                None => 0,
            },
            global_day_credits: self.counter(&global_credits_key(&window.day)).await?,
        })
    }

    /// The credits counted for a server in a month (`None`: DMs) and for the bot in a day.
    pub async fn credits_counted(
        &self,
        guild: Option<GuildId>,
        month: &str,
        day: &str,
    ) -> Result<(u64, u64)> {
        let server = match guild {
            Some(g) => self.counter(&guild_credits_key(g, month)).await?,
            None => 0,
        };
        Ok((server, self.counter(&global_credits_key(day)).await?))
    }

    /// Sets a user's clip count for `day` back to 0 (their credits stay in the reports).
    pub async fn reset_user_day(&self, scope: Scope, user: UserId, day: &str) -> Result<u64> {
        let k = user_clips_key(scope, day, user);
        atomically!(self, |tx| {
            let old = read(tx, Tree::Counters, &k).await?;
            tx.remove(Tree::Counters, k.as_bytes());
            Ok(Step::Commit(old))
        })
    }

    /// Per-user clips and credits, and the server's clips per day, over `days` (`YYYY-MM-DD`).
    pub async fn report(&self, guild: GuildId, days: &[String]) -> Result<Report> {
        let scope = Scope::Guild(guild);
        let mut report = Report::default();
        for day in days {
            for (prefix, credits) in [("uv", false), ("uc", true)] {
                let scan = format!("{prefix}/{}/{day}/", scope_part(scope));
                for (k, v) in self.kv.scan_prefix(Tree::Counters, scan.as_bytes()).await? {
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
                .push(self.counter(&guild_clips_key(guild, day)).await?);
        }
        Ok(report)
    }

    pub async fn policy(&self, guild: GuildId) -> Result<GuildPolicy> {
        Ok(self
            .get_json(Tree::Policies, &key(guild.0))
            .await?
            .unwrap_or_default())
    }

    /// Applies `change` to the server's policy atomically and returns the result.
    pub async fn update_policy(
        &self,
        guild: GuildId,
        change: impl Fn(&mut GuildPolicy),
    ) -> Result<GuildPolicy> {
        self.update_json(Tree::Policies, &key(guild.0), change)
            .await
    }

    pub async fn record_balance(&self, balance: Balance) -> Result<()> {
        self.put_json(Tree::UsageMeta, b"credits_remaining", &balance)
            .await
    }

    pub async fn balance(&self) -> Result<Option<Balance>> {
        self.get_json(Tree::UsageMeta, b"credits_remaining").await
    }

    /// True the first time it is called for `day`: whoever gets true sends the day's warning.
    pub async fn claim_low_credit_alert(&self, day: &str) -> Result<bool> {
        atomically!(self, |tx| {
            let last = tx.get(Tree::UsageMeta, b"low_credit_alert").await?;
            if last.as_deref() == Some(day.as_bytes()) {
                return Ok(Step::Abort(false));
            }
            tx.insert(Tree::UsageMeta, b"low_credit_alert", day.as_bytes());
            Ok(Step::Commit(true))
        })
    }
}

#[cfg(test)]
mod tests;
