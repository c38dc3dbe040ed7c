//! [`ManualClock`]: a clock tests move by hand.

use std::sync::Arc;

use parking_lot::Mutex;
use time::OffsetDateTime;

use super::Clock;

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
    pub fn advance(&self, by: time::Duration) {
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
