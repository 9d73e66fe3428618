//! Replicas on one shared (PostgreSQL) store, all working at once. Each keeps a record with a
//! beat in the store ([`crate::store::Member`]) and, every `T/5` (`T` is
//! `storage.lease_seconds`):
//!
//! - raises its beat; a replica that could not for `T/2`, or finds its record removed (the
//!   others took it for gone), exits at once with [`EXIT_LEASE_LOST`], before anyone may take
//!   its jobs up, so that no job is ever driven by two replicas;
//! - reads the others' records: one whose beat has not moved for `T` of this replica's own
//!   clock (no two machines' clocks are compared) is gone; its record is removed and its jobs
//!   are taken up, each from its last persisted state, as after a restart;
//! - divides the vendor's request budget by the number of replicas alive. A replica that joins
//!   spends nothing until every other one records that it narrowed its share to make room, so
//!   that together they never send more than one would;
//! - drives the jobs handed to it ([`crate::engine::Engine::take_up`]).
//!
//! At a clean stop ([`Running::leave`]) a replica gives its jobs up and removes its record, so the others take them
//! up at once. The embedded store needs none of this: its folder admits one process only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use tracing::{error, info, warn};

use crate::app::App;
use crate::engine::Engine;
use crate::store::{Member, Store};

/// The exit status of a replica that lost its place (its supervisor restarts it).
pub const EXIT_LEASE_LOST: i32 = 3;

/// How long an event's claim is kept: Discord redelivers within minutes, never hours.
const CLAIMS_KEPT: Duration = Duration::from_secs(3600);

/// This process's name among the replicas: host, process id and a random part, so that a
/// restarted process never mistakes its predecessor's record for its own.
pub fn name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "omni-bot".to_owned());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// What one replica knows of the others, on its own clock.
struct View {
    /// Each other replica's record as last seen, and since when it has not changed.
    seen: BTreeMap<String, (Member, Instant)>,
    /// The number of replicas this one divides the budget by (0: it spends nothing yet).
    share: u32,
}

impl View {
    /// Folds in the records read now; returns the replicas whose beat stood still for `period`.
    fn observe(
        &mut self,
        members: &BTreeMap<String, Member>,
        me: &str,
        period: Duration,
    ) -> Vec<(String, Member)> {
        self.seen.retain(|name, _| members.contains_key(name));
        let now = Instant::now();
        let mut stopped = Vec::new();
        for (name, record) in members.iter().filter(|(name, _)| *name != me) {
            match self.seen.get(name) {
                Some((last, since)) if last == record => {
                    if now.duration_since(*since) >= period {
                        stopped.push((name.clone(), record.clone()));
                    }
                }
                _ => {
                    self.seen.insert(name.clone(), (record.clone(), now));
                }
            }
        }
        stopped
    }

    /// The share to spend by with `alive` replicas: a replica already spending follows the
    /// count at once (narrowing when one joins, widening when one is gone, which stopped
    /// spending at least `T/2` earlier); one that joined starts only once every other has
    /// narrowed to at least that count, or spends nothing itself yet.
    fn next_share(&self, alive: u32, others: &BTreeMap<String, Member>) -> u32 {
        if self.share > 0 {
            return alive;
        }
        let made_room = others.values().all(|m| m.share == 0 || m.share >= alive);
        if made_room {
            alive
        } else {
            0
        }
    }
}

/// Why a replica must stop at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The others removed its record: they took it for gone and may be taking its jobs up.
    TakenForGone,
    /// It could not renew its record for half a period, so the others may soon.
    CannotRenew,
}

impl Lost {
    fn why(self) -> &'static str {
        match self {
            Lost::TakenForGone => "the other replicas took this one for gone",
            Lost::CannotRenew => "this replica's record could not be renewed for half its period",
        }
    }
}

/// One replica's part in sharing the store: call [`Replica::tick`] every `period / 5`.
pub struct Replica {
    store: Store,
    me: String,
    period: Duration,
    /// Event claims older than this are forgotten.
    claims_kept: Duration,
    view: View,
    renewed: Instant,
    pruned: Instant,
}

impl Replica {
    /// Enters the record of the replica `store` works for ([`Store::as_replica`]).
    pub async fn join(store: Store, period: Duration) -> crate::store::Result<Self> {
        store.join().await?;
        let me = store.replica().unwrap_or_default().to_owned();
        info!(replica = %me, "joined the replicas sharing the store");
        Ok(Self {
            store,
            me,
            period,
            claims_kept: CLAIMS_KEPT,
            view: View {
                seen: BTreeMap::new(),
                share: 0,
            },
            renewed: Instant::now(),
            pruned: Instant::now(),
        })
    }

    /// Keeps event claims for `kept` instead of an hour.
    pub fn keeping_claims_for(mut self, kept: Duration) -> Self {
        self.claims_kept = kept;
        self
    }

    /// One round: beats, sees who else is alive, and, once the engine runs (`None` before
    /// Discord said hello), shares the budget and drives the jobs that are this replica's.
    /// Returns how many jobs it started driving (handed to it, or taken up).
    pub async fn tick(&mut self, engine: Option<&Engine>) -> Result<usize, Lost> {
        match self.store.beat(self.view.share).await {
            Ok(true) => self.renewed = Instant::now(),
            Ok(false) => return Err(Lost::TakenForGone),
            Err(e) => warn!(error = %e, "cannot renew this replica's record"),
        }
        if self.renewed.elapsed() >= self.period / 2 {
            return Err(Lost::CannotRenew);
        }
        let Some(engine) = engine else { return Ok(0) };
        let members = match self.store.members().await {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cannot read which replicas are alive");
                return Ok(0);
            }
        };
        let mut others: BTreeMap<String, Member> = members
            .iter()
            .filter(|(name, _)| **name != self.me)
            .map(|(n, m)| (n.clone(), m.clone()))
            .collect();
        for (name, record) in self.view.observe(&members, &self.me, self.period) {
            match self.store.remove_member(&name, &record).await {
                Ok(true) => {
                    info!(replica = %name, "a replica stopped renewing its record; taking its jobs up");
                    others.remove(&name);
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, replica = %name, "cannot remove a stopped replica"),
            }
        }
        let alive = u32::try_from(others.len() + 1).unwrap_or(u32::MAX);
        let share = self.view.next_share(alive, &others);
        if share != self.view.share {
            info!(
                replicas = alive,
                share, "sharing the vendor's request budget"
            );
            self.view.share = share;
            engine.set_budget_share(share);
        }
        let live: BTreeSet<String> = others.into_keys().chain([self.me.clone()]).collect();
        engine.set_live(live);
        let driving = match engine.take_up().await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "cannot look for jobs to take up");
                0
            }
        };
        if driving > 0 {
            info!(jobs = driving, "driving jobs handed to this replica");
        }
        if self.pruned.elapsed() >= self.claims_kept / 60 {
            self.pruned = Instant::now();
            let cutoff = SystemTime::now()
                .checked_sub(self.claims_kept)
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            if let Err(e) = self.store.prune_claims(cutoff).await {
                warn!(error = %e, "cannot forget old event claims");
            }
        }
        Ok(driving)
    }
}

/// Enters this replica's record and keeps it, one [`Replica::tick`] every `period / 5`, until
/// [`leave`]; exits the process with [`EXIT_LEASE_LOST`] the moment it can no longer be sure
/// its jobs are its own. The app is filled in once Discord said hello.
pub async fn start(
    store: Store,
    period: Duration,
    app: Arc<OnceLock<App>>,
) -> crate::store::Result<Running> {
    let mut replica = Replica::join(store.clone(), period).await?;
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(period / 5).await;
            if let Err(lost) = replica.tick(app.get().map(|a| &a.engine)).await {
                self::lost(lost.why());
            }
        }
    });
    Ok(Running {
        store,
        loop_task: task.abort_handle(),
    })
}

/// A replica whose loop runs (see [`start`]).
pub struct Running {
    store: Store,
    loop_task: tokio::task::AbortHandle,
}

impl Running {
    /// A clean stop, once the jobs reached a saved step: ends the loop (so that it never finds
    /// its own record gone), then gives this replica's jobs up, so that the others take them
    /// up at once.
    pub async fn leave(self) {
        self.loop_task.abort();
        match self.store.leave().await {
            Ok(0) => {}
            Ok(n) => info!(jobs = n, "gave this replica's jobs up to the others"),
            Err(e) => {
                warn!(error = %e, "cannot give this replica's jobs up; the others take them up after one period")
            }
        }
    }
}

fn lost(why: &str) -> ! {
    error!(
        why,
        "stopping at once so that no job is driven twice; the other replicas take this one's jobs up"
    );
    std::process::exit(EXIT_LEASE_LOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(beat: u64, share: u32) -> Member {
        Member { beat, share }
    }

    /// Were its loop still running after it left, the next beat would find the record gone and
    /// exit the process (this test binary) with status 3, as a lost replica does.
    #[tokio::test(start_paused = true)]
    async fn a_replica_that_left_never_beats_again() {
        let (_dir, store) = crate::store::test_support::store();
        let store = store.as_replica("a");
        let running = start(store.clone(), Duration::from_secs(10), Arc::default())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(store.members().await.unwrap()["a"].beat >= 2, "it beats");
        running.leave().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(store.members().await.unwrap().is_empty());
    }

    #[test]
    fn a_joining_replica_spends_nothing_until_every_other_made_room() {
        let joining = View {
            seen: BTreeMap::new(),
            share: 0,
        };
        let one = |share| BTreeMap::from([("a".to_owned(), member(7, share))]);
        assert_eq!(
            joining.next_share(2, &one(1)),
            0,
            "a still spends the whole budget"
        );
        assert_eq!(joining.next_share(2, &one(2)), 2);
        assert_eq!(joining.next_share(2, &one(0)), 2, "a spends nothing either");
        let working = View {
            seen: BTreeMap::new(),
            share: 2,
        };
        assert_eq!(working.next_share(3, &one(1)), 3, "narrows at once");
        assert_eq!(
            working.next_share(1, &BTreeMap::new()),
            1,
            "widens once alone"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_replica_is_gone_once_its_beat_stood_still_for_a_whole_period() {
        let period = Duration::from_secs(10);
        let mut view = View {
            seen: BTreeMap::new(),
            share: 1,
        };
        let at = |beat| {
            BTreeMap::from([
                ("me".to_owned(), member(1, 1)),
                ("b".to_owned(), member(beat, 1)),
            ])
        };
        assert!(view.observe(&at(1), "me", period).is_empty());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(view.observe(&at(1), "me", period).is_empty());
        // It beat: the clock starts again.
        assert!(view.observe(&at(2), "me", period).is_empty());
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(view.observe(&at(2), "me", period).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        let gone = view.observe(&at(2), "me", period);
        assert_eq!(gone, vec![("b".to_owned(), member(2, 1))]);
    }
}
