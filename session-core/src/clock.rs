//! Where the layer gets "now": the system clock, or a clock a test moves.

use std::fmt::Debug;
use std::sync::Arc;

use parking_lot::Mutex;
use time::{Duration, OffsetDateTime};

/// A source of the current time.
///
/// The layer reads it to compute expiries and to enforce the idle and
/// absolute timeouts. Tests swap in a [`ManualClock`] instead of sleeping.
///
/// ```
/// use session_core::{Clock, SystemClock};
///
/// let now = SystemClock.now();
/// assert!(now.year() >= 2024);
/// ```
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time in Unix milliseconds
    /// ([`unix_millis`](crate::store::unix_millis) of [`now`](Self::now)),
    /// the form stores compare expiries in; a clock may read it more
    /// cheaply.
    ///
    /// ```
    /// use session_core::{Clock, ManualClock};
    /// use session_core::store::unix_millis;
    ///
    /// let clock = ManualClock::starting_now();
    /// assert_eq!(clock.now_unix_millis(), unix_millis(clock.now()));
    /// ```
    fn now_unix_millis(&self) -> i64 {
        crate::store::unix_millis(self.now())
    }
}

/// The operating system's clock.
///
/// ```
/// use session_core::{Clock, SystemClock};
///
/// assert!(SystemClock.now() <= SystemClock.now());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn now_unix_millis(&self) -> i64 {
        // Straight from the system time, without building a calendar date.
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => {
                crate::store::unix_millis(OffsetDateTime::UNIX_EPOCH - before.duration())
            }
        }
    }
}

/// A clock that stands still until moved; clones share one time.
///
/// ```
/// use session_core::{Clock, ManualClock};
/// use time::Duration;
///
/// let clock = ManualClock::starting_now();
/// let before = clock.now();
/// clock.advance(Duration::minutes(31));
/// assert_eq!(clock.now() - before, Duration::minutes(31));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock showing `at`.
    ///
    /// ```
    /// use session_core::{Clock, ManualClock};
    /// use time::OffsetDateTime;
    ///
    /// let clock = ManualClock::new(OffsetDateTime::UNIX_EPOCH);
    /// assert_eq!(clock.now(), OffsetDateTime::UNIX_EPOCH);
    /// ```
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// A clock showing the system time now (whole seconds), standing still.
    ///
    /// ```
    /// use session_core::{Clock, ManualClock};
    ///
    /// assert_eq!(ManualClock::starting_now().now().nanosecond(), 0);
    /// ```
    pub fn starting_now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self::new(now.replace_nanosecond(0).unwrap_or(now))
    }

    /// Moves the clock forward (or back, with a negative duration).
    ///
    /// ```
    /// use session_core::{Clock, ManualClock};
    /// use time::{Duration, OffsetDateTime};
    ///
    /// let clock = ManualClock::new(OffsetDateTime::UNIX_EPOCH);
    /// clock.advance(Duration::seconds(5));
    /// assert_eq!(clock.now().unix_timestamp(), 5);
    /// ```
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }

    /// Sets the clock to `at`.
    ///
    /// ```
    /// use session_core::{Clock, ManualClock};
    /// use time::OffsetDateTime;
    ///
    /// let clock = ManualClock::starting_now();
    /// clock.set(OffsetDateTime::UNIX_EPOCH);
    /// assert_eq!(clock.now(), OffsetDateTime::UNIX_EPOCH);
    /// ```
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock() = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::unix_millis;

    #[test]
    fn the_system_clock_reads_the_same_milliseconds_both_ways() {
        for _ in 0..1000 {
            let before = SystemClock.now_unix_millis();
            let middle = unix_millis(SystemClock.now());
            let after = SystemClock.now_unix_millis();
            assert!(
                before <= middle && middle <= after,
                "{before} {middle} {after}"
            );
        }
    }
}
