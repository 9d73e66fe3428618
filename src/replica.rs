//! One working replica at a time on a shared (PostgreSQL) store: the first to take the lease
//! ([`crate::store::LeaseRecord`]) connects to Discord and runs the jobs; the others stand by,
//! answer `/healthz` with `standby`, and take over when it stops renewing the lease (it died)
//! or gives it up (it stopped). The embedded store needs none of this: its folder admits one
//! process only.
//!
//! Timing, in lease periods `T` (`storage.lease_seconds`): the holder renews every `T/5`; a
//! replica standing by takes over once the beat it saw has not moved for `T` of its own clock;
//! a holder that could not renew for `T/2` exits at once, before anyone may take over, so two
//! replicas never work at the same moment, whatever the database or the network did.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use crate::store::{LeaseRecord, Store};

/// The exit status of a replica that lost its lease (its supervisor restarts it, standing by).
pub const EXIT_LEASE_LOST: i32 = 3;

/// This process's name in the lease: host, process id and a random part, so that a restarted
/// process never mistakes its predecessor's lease for its own.
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

/// Waits until `me` holds the lease.
pub async fn stand_by(store: &Store, me: &str, period: Duration) {
    let mut seen: Option<(LeaseRecord, Instant)> = None;
    loop {
        match store.lease().await {
            Ok(None) => match store.take_lease(me, None).await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "cannot take the free replica lease"),
            },
            Ok(Some(held)) => {
                let unchanged_for = match &seen {
                    Some((last, since)) if *last == held => since.elapsed(),
                    _ => {
                        info!(active = %held.replica, "another replica is working; standing by");
                        seen = Some((held.clone(), Instant::now()));
                        Duration::ZERO
                    }
                };
                if unchanged_for >= period {
                    match store.take_lease(me, Some(&held)).await {
                        Ok(true) => {
                            info!(previous = %held.replica, "the active replica stopped renewing its lease; taking over");
                            break;
                        }
                        Ok(false) => seen = None,
                        Err(e) => warn!(error = %e, "cannot take over the replica lease"),
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot read the replica lease"),
        }
        tokio::time::sleep(period / 5).await;
    }
    info!(
        replica = me,
        "this replica holds the lease and does the work"
    );
}

/// Renews `me`'s lease in the background for as long as the process lives; exits the process
/// with [`EXIT_LEASE_LOST`] the moment it can no longer be sure to hold it.
pub fn keep(store: Store, me: String, period: Duration) {
    tokio::spawn(async move {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(period / 5).await;
            match store.renew_lease(&me).await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => lost("another replica took the lease over"),
                Err(e) => warn!(error = %e, "cannot renew the replica lease"),
            }
            if renewed.elapsed() >= period / 2 {
                lost("the lease could not be renewed for half its period");
            }
        }
    });
}

fn lost(why: &str) -> ! {
    error!(
        why,
        "stopping at once so that only one replica works; jobs carry on in the replica that holds the lease"
    );
    std::process::exit(EXIT_LEASE_LOST)
}

/// Gives the lease up at a clean stop, so that a replica standing by takes over at once.
pub async fn release(store: &Store, me: &str) {
    if let Err(e) = store.release_lease(me).await {
        warn!(error = %e, "cannot give the replica lease up; another replica takes over after one period");
    }
}
