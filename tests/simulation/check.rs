//! The invariants, checked once the world has healed and the bot is quiet:
//!
//! - every accepted request ended with exactly one final message in Discord: its clip if it
//!   was delivered, its reason if it failed, and no job is left unfinished;
//! - no bot job created more than one vendor job (a user's deliberate "again" is a new job);
//! - the credit counters never fall below what the vendor charged, and each counter is exactly
//!   the sum of what its jobs still count (so none went negative and none was refunded twice);
//! - a delivered clip counts against its user; a job without a clip does not;
//! - no job task panicked (and no cap was passed: checked as each job was accepted).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use omni_bot::domain::ids::{GuildId, Scope, UserId};
use omni_bot::domain::job::JobState;
use omni_bot::domain::quota::Window;
use omni_bot::store::Reservation;

use crate::chat::Final;
use crate::world::Sim;

/// How the accepted jobs ended.
#[derive(Debug, Default)]
pub struct States {
    pub delivered: usize,
    pub failed: usize,
    /// Failures by reason.
    pub reasons: BTreeMap<&'static str, usize>,
}

pub async fn final_states(sim: &Sim) -> States {
    let mut states = States::default();
    for a in &sim.accepted {
        match sim.store.job(a.job).await.ok().flatten().map(|j| j.state) {
            Some(JobState::Delivered { .. }) => states.delivered += 1,
            Some(JobState::Failed { reason }) => {
                states.failed += 1;
                *states.reasons.entry(reason.name()).or_default() += 1;
            }
            _ => {}
        }
    }
    states
}

fn window(day: &str, month: &str) -> Window {
    Window {
        day: day.to_owned(),
        month: month.to_owned(),
        day_resets_at: 0,
        month_resets_at: 0,
    }
}

pub async fn invariants(sim: &Sim) -> Vec<String> {
    let mut v = Vec::new();
    let finals = sim.chat.finals();
    let ledger = sim.vendor.ledger();
    let mut reservations: Vec<Reservation> = Vec::new();
    for a in &sim.accepted {
        let job = a.job;
        let Some(stored) = sim.store.job(job).await.ok().flatten() else {
            v.push(format!("job {job} was accepted but is not stored"));
            continue;
        };
        let posted = finals.get(&job).cloned().unwrap_or_default();
        let expected = match &stored.state {
            JobState::Delivered { .. } => Final::Clip,
            JobState::Failed { .. } => Final::Failure,
            other => {
                v.push(format!("job {job} is still {:?}", other.name()));
                continue;
            }
        };
        match posted.as_slice() {
            [(kind, _)] if *kind == expected => {}
            [] => v.push(format!(
                "job {job} ended {:?} without a message in Discord",
                stored.state.name()
            )),
            many => v.push(format!(
                "job {job} ended {:?} with {} final messages: {many:?}",
                stored.state.name(),
                many.len()
            )),
        }
        let created = ledger.created.get(&job).copied().unwrap_or(0);
        if created > 1 {
            v.push(format!("job {job} was submitted {created} times"));
        }
        let Some(r) = sim.store.reservation(job).await.ok().flatten() else {
            v.push(format!("job {job} has no reservation"));
            continue;
        };
        let charged = ledger.charged.get(&job).copied().unwrap_or(0);
        if r.credits() < charged {
            v.push(format!(
                "job {job} counts {} credits but PixelDojo charged {charged}",
                r.credits()
            ));
        }
        match &stored.state {
            JobState::Delivered { .. } if r.clips_refunded || r.credits_refunded => {
                v.push(format!("delivered job {job} was refunded: {r:?}"))
            }
            JobState::Failed { reason } => {
                if !r.clips_refunded {
                    v.push(format!(
                        "job {job} failed ({}) but still counts as a clip",
                        reason.name()
                    ));
                }
                if reason.settlement().credits && !r.credits_refunded {
                    v.push(format!(
                        "job {job} failed before any charge ({}) but keeps its credits",
                        reason.name()
                    ));
                }
            }
            _ => {}
        }
        reservations.push(r);
    }
    v.extend(counters(sim, &reservations).await);
    match sim.store.underflows().await {
        Ok(0) => {}
        Ok(n) => v.push(format!("{n} refunds took more than a counter held")),
        Err(e) => v.push(format!("cannot read the underflows: {e}")),
    }
    let panics = sim.panics.load(Ordering::SeqCst);
    if panics > 0 {
        v.push(format!("{panics} job tasks panicked"));
    }
    v
}

/// Each counter is exactly what its jobs still count, and never less than the vendor charged.
async fn counters(sim: &Sim, reservations: &[Reservation]) -> Vec<String> {
    let mut v = Vec::new();
    let ledger = sim.vendor.ledger();
    let mut global: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut server: BTreeMap<(GuildId, String, String), (u64, u64)> = BTreeMap::new();
    let mut clips: BTreeMap<(Scope, UserId, String, String), u64> = BTreeMap::new();
    for r in reservations {
        let credits = r.credits();
        let charged = ledger.charged.get(&r.job_id).copied().unwrap_or(0);
        let g = global.entry((r.day.clone(), r.month.clone())).or_default();
        g.0 += credits;
        g.1 += charged;
        if let Scope::Guild(guild) = r.scope {
            let s = server
                .entry((guild, r.month.clone(), r.day.clone()))
                .or_default();
            s.0 += credits;
            s.1 += charged;
        }
        if !r.clips_refunded {
            *clips
                .entry((r.scope, r.user, r.day.clone(), r.month.clone()))
                .or_default() += 1;
        } else {
            clips
                .entry((r.scope, r.user, r.day.clone(), r.month.clone()))
                .or_default();
        }
    }
    for ((day, month), (expected, charged)) in &global {
        let counted = sim
            .store
            .credits_counted(None, month, day)
            .await
            .map(|c| c.1);
        match counted {
            Ok(n) if n == *expected && n >= *charged => {}
            Ok(n) => v.push(format!(
                "the bot's credits on {day} count {n}; its jobs count {expected}, PixelDojo charged {charged}"
            )),
            Err(e) => v.push(format!("cannot read a counter: {e}")),
        }
    }
    // A server's monthly counter holds every day of the month: sum the days first.
    let mut monthly: BTreeMap<(GuildId, String), (u64, u64)> = BTreeMap::new();
    for ((guild, month, _), (credits, charged)) in &server {
        let m = monthly.entry((*guild, month.clone())).or_default();
        m.0 += credits;
        m.1 += charged;
    }
    for ((guild, month), (expected, charged)) in &monthly {
        let counted = sim
            .store
            .credits_counted(Some(*guild), month, "")
            .await
            .map(|c| c.0);
        match counted {
            Ok(n) if n == *expected && n >= *charged => {}
            Ok(n) => v.push(format!(
                "server {guild}'s credits in {month} count {n}; its jobs count {expected}, PixelDojo charged {charged}"
            )),
            Err(e) => v.push(format!("cannot read a counter: {e}")),
        }
    }
    for ((scope, user, day, month), expected) in &clips {
        let counted = sim.store.usage(*scope, *user, &window(day, month)).await;
        match counted.map(|u| u.user_day_videos) {
            Ok(n) if n == *expected => {}
            Ok(n) => v.push(format!(
                "user {user} ({scope:?}) counts {n} clips on {day}; their jobs count {expected}"
            )),
            Err(e) => v.push(format!("cannot read a counter: {e}")),
        }
    }
    v
}
