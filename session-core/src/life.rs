//! A session's life during one request, and the one decision taken after
//! the handler: what to write and which cookie to send.
//!
//! [`Life`] says where the session is (not read yet, read and live, gone,
//! destroyed …); [`Body`] holds what the handler sees and what it changed.
//! [`decide`] turns both into one [`Write`], which the storage
//! ([`crate::storage`]) carries out. Time lives here too: where "now"
//! comes from ([`Clock`]) and how a session's expiry follows from it.

use std::fmt::Debug;
use std::time::Duration;

use smallvec::SmallVec;
use time::OffsetDateTime;

use crate::config::{Expiry, SessionConfig, DEFAULT_MAX_AGE};
use crate::Data;

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    /// The cookie names a session that has not been read yet.
    Unread,
    /// Reading it failed (store down, the application's check failed):
    /// nothing is written for this request. A later use reads again.
    Unreadable,
    /// No cookie: a new visitor, nothing stored.
    New,
    /// The cookie named no live session (absent, expired, not verifying),
    /// or the application's check ended it (`revoked`: what is stored is
    /// deleted).
    Gone { revoked: bool },
    /// A live session, as read.
    Live(Stored),
    /// A live session the handler asked to move to a fresh id
    /// ([`Session::cycle_id`](crate::Session::cycle_id)).
    Cycling(Stored),
    /// Ended by [`Session::destroy`](crate::Session::destroy) in this
    /// request; whatever is written afterwards is a brand-new session.
    Destroyed,
}

impl Life {
    /// Whether what the cookie names has been read (or needs no read).
    pub(crate) fn is_read(&self) -> bool {
        !matches!(self, Life::Unread | Life::Unreadable)
    }

    /// The live session as read, if there is one.
    pub(crate) fn stored(&self) -> Option<&Stored> {
        match self {
            Life::Live(stored) | Life::Cycling(stored) => Some(stored),
            _ => None,
        }
    }
}

/// What is known of a live session beyond its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) created_at: OffsetDateTime,
    /// Its expiry as stored (or as its cookie says).
    pub(crate) expires_at: OffsetDateTime,
    /// Its cookie was verified with an older key: send it again under the
    /// current one.
    pub(crate) rekey: bool,
}

/// What the handler sees of the session and what it changed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Body {
    pub(crate) data: Data,
    /// Keys set or removed by this request, each once (a list: requests
    /// change few keys, and a list costs less than a set for few; two fit
    /// without an allocation).
    pub(crate) dirty: SmallVec<[String; 2]>,
    /// The session's own expiry policy ([`Session::set_expiry`](crate::Session::set_expiry)).
    pub(crate) expiry: Option<Expiry>,
    /// The user the session is bound to.
    pub(crate) user: Option<String>,
    pub(crate) expiry_changed: bool,
    pub(crate) user_changed: bool,
    /// The handler used the session (read or write).
    pub(crate) accessed: bool,
}

impl Body {
    /// Notes that `key` changed.
    pub(crate) fn mark_dirty(&mut self, key: &str) {
        if !self.dirty.iter().any(|k| k == key) {
            self.dirty.push(key.to_owned());
        }
    }

    /// No data and no user: nothing worth a session.
    pub(crate) fn holds_nothing(&self) -> bool {
        self.data.is_empty() && self.user.is_none()
    }

    /// Whether the handler changed what is stored.
    pub(crate) fn changed(&self) -> bool {
        !self.dirty.is_empty() || self.expiry_changed || self.user_changed
    }
}

/// The session of one request: where it is, and what it holds.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) life: Life,
    pub(crate) body: Body,
    /// The id a new session (or a cycled one) gets, drawn early because
    /// the handler asked for its token ([`Session::token`](crate::Session::token)).
    pub(crate) next_id: Option<crate::Id>,
}

impl State {
    pub(crate) fn new(life: Life) -> Self {
        Self {
            life,
            body: Body::default(),
            next_id: None,
        }
    }

    /// The expiry a write at `now` gives the live session, and whether it
    /// is the stored one, kept because the exact one would move it by no
    /// more than the precision
    /// ([`with_expiry_precision`](SessionConfig::with_expiry_precision)); a
    /// changed expiry policy always moves it.
    pub(crate) fn next_expiry(
        &self,
        config: &SessionConfig,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, bool) {
        let stored = self.life.stored();
        let created_at = stored.map_or(now, |s| s.created_at);
        let exact = config.expires_at(now, created_at, self.body.expiry);
        match stored {
            Some(s)
                if !self.body.expiry_changed && config.keeps_expiry(now, s.expires_at, exact) =>
            {
                (s.expires_at, true)
            }
            _ => (exact, false),
        }
    }

    /// When the session began: as stored, or `now` for a new one.
    pub(crate) fn created_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        self.life.stored().map_or(now, |s| s.created_at)
    }
}

/// What to do after the handler. The storage carries it out: a store
/// writes and sends the signed id, a data cookie re-encodes itself for
/// every write that keeps a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// Nothing to store, no cookie.
    Nothing,
    /// The live session's cookie again, unchanged in the store (a key
    /// rotation to finish).
    Resend,
    /// End what the cookie named, if `end` (a destroyed or revoked
    /// session), and tell the browser to drop its cookie.
    Remove { end: bool },
    /// The cookie names nothing live and the handler left it so: a store
    /// tells the browser to drop the dead cookie; a data cookie is left as
    /// it is (as Starlette does: reading never writes).
    Forget,
    /// End what the cookie named, if `end`, then store the body as a new
    /// session and send its cookie.
    Create { end: bool },
    /// Move the live session to a fresh id and send the new cookie.
    Cycle,
    /// Apply the changed keys (and policy, user) with the expiry
    /// [`State::next_expiry`] gives; send the cookie again when that expiry
    /// moved, or always if `resign`.
    Save { resign: bool },
    /// Move only the expiry; send the cookie again if `resend`.
    Touch {
        expires_at: OffsetDateTime,
        resend: bool,
    },
}

/// The one decision: what the request did to its session, as a [`Write`].
/// `resign` says the incoming cookie was verified with an older key.
pub(crate) fn decide(
    state: &State,
    resign: bool,
    config: &SessionConfig,
    now: OffsetDateTime,
) -> Write {
    let body = &state.body;
    let nothing = body.holds_nothing();
    match state.life {
        Life::Unread | Life::Unreadable => Write::Nothing,
        Life::New if nothing => Write::Nothing,
        Life::New => Write::Create { end: false },
        Life::Destroyed if nothing => Write::Remove { end: true },
        Life::Destroyed => Write::Create { end: true },
        Life::Gone { revoked } if nothing => {
            if revoked || body.changed() {
                Write::Remove { end: revoked }
            } else {
                Write::Forget
            }
        }
        Life::Gone { revoked } => Write::Create { end: revoked },
        Life::Live(stored) | Life::Cycling(stored) => {
            let resign = resign || stored.rekey;
            let cycling = matches!(state.life, Life::Cycling(_));
            if !body.accessed {
                // Read only to finish a key rotation.
                return if resign {
                    Write::Resend
                } else {
                    Write::Nothing
                };
            }
            if nothing {
                return if body.changed() || cycling {
                    Write::Remove { end: true }
                } else {
                    Write::Nothing
                };
            }
            if cycling {
                return Write::Cycle;
            }
            if body.changed() {
                return Write::Save { resign };
            }
            if config.extends_on_use() {
                // Within the precision, the stored expiry stays, and with
                // it the browser's copy of the cookie
                // (`with_expiry_precision`).
                let (expires_at, kept) = state.next_expiry(config, now);
                if !kept {
                    return Write::Touch {
                        expires_at,
                        resend: config.rolling || resign,
                    };
                }
            }
            if resign {
                Write::Resend
            } else {
                Write::Nothing
            }
        }
    }
}

/// The expiry arithmetic of a configuration: when a session used now ends.
impl SessionConfig {
    /// The current time from the configured clock.
    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// How long a session lives without activity on the server: the idle
    /// timeout, else the max age, else the default.
    pub(crate) fn server_ttl(&self, expiry: Option<Expiry>) -> Duration {
        match expiry {
            Some(Expiry::OnInactivity(ttl)) => ttl,
            _ => self
                .idle_timeout
                .or(self.max_age)
                .unwrap_or(DEFAULT_MAX_AGE),
        }
    }

    /// The expiry of a session touched at `now` and created at `created_at`.
    pub(crate) fn expires_at(
        &self,
        now: OffsetDateTime,
        created_at: OffsetDateTime,
        expiry: Option<Expiry>,
    ) -> OffsetDateTime {
        let mut at = match expiry {
            Some(Expiry::AtDateTime(at)) => at,
            other => now.saturating_add(to_time(self.server_ttl(other))),
        };
        if let Some(absolute) = self.absolute_timeout {
            at = at.min(created_at.saturating_add(to_time(absolute)));
        }
        at
    }

    /// Whether a session whose stored expiry is `stored` keeps it, rather
    /// than moving to `new`, on a request at `now`
    /// ([`with_expiry_precision`](Self::with_expiry_precision)).
    pub(crate) fn keeps_expiry(
        &self,
        now: OffsetDateTime,
        stored: OffsetDateTime,
        new: OffsetDateTime,
    ) -> bool {
        if self.expiry_precision.is_zero() {
            return false;
        }
        // In Unix milliseconds (what stores keep): plain integer arithmetic.
        use crate::store::unix_millis;
        let (now, stored, new) = (unix_millis(now), unix_millis(stored), unix_millis(new));
        let precision = i64::try_from(self.expiry_precision.as_millis()).unwrap_or(i64::MAX);
        let slack = precision.min(new.saturating_sub(now) / 100);
        new >= stored && new - stored <= slack
    }

    /// Whether a session created at `created_at` has passed the absolute timeout.
    pub(crate) fn past_absolute(&self, now: OffsetDateTime, created_at: OffsetDateTime) -> bool {
        self.absolute_timeout
            .is_some_and(|abs| created_at.saturating_add(to_time(abs)) <= now)
    }

    /// Whether requests that use a session should extend its expiry.
    pub(crate) fn extends_on_use(&self) -> bool {
        self.rolling || self.idle_timeout.is_some()
    }
}

/// Converts a std duration to a `time` duration, saturating.
pub(crate) fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

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

mod manual;

pub use manual::ManualClock;

#[cfg(test)]
mod tests;
