//! The wall clock, injected. Everything that stores or compares wall-clock times (a job's
//! submit time, the day a clip counts in, an HTTP date in a header) asks a [`Clock`], so that
//! tests and the simulation can run on virtual time. Waiting uses tokio's timers, which a paused
//! runtime drives virtually too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Tells the time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// The same instant as a [`SystemTime`].
    fn system_now(&self) -> SystemTime {
        let ms = self.now_ms();
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH
        }
    }

    /// The same instant as a UTC date and time.
    fn utc_now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A wall clock that follows tokio's clock from a fixed starting point: under a paused runtime
/// it moves only when tokio's virtual time does (tests and the simulation).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
    start_ms: i64,
}

impl TokioClock {
    /// A clock that reads `start_ms` now.
    pub fn starting_at(start_ms: i64) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            start_ms,
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.start_ms + self.start.elapsed().as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_virtual_time_only() {
        let clock = TokioClock::starting_at(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_ms(), 1_000 + 3_600_000);
        assert_eq!(
            clock.system_now(),
            UNIX_EPOCH + Duration::from_millis(3_601_000)
        );
    }
}
