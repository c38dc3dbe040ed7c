//! A session's life during one request, and the one decision taken after
//! the handler: what to write and which cookie to send.
//!
//! [`Life`] says where the session is (not read yet, read and live, gone,
//! destroyed …); [`Body`] holds what the handler sees and what it changed.
//! [`decide`] turns both into one [`Write`], which the storage
//! ([`crate::storage`]) carries out.

use time::OffsetDateTime;

use crate::config::{Expiry, SessionConfig};
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
    /// change few keys, and a list costs less than a set for few).
    pub(crate) dirty: Vec<String>,
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
}

impl State {
    pub(crate) fn new(life: Life) -> Self {
        Self {
            life,
            body: Body::default(),
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
    /// Apply the changed keys (and policy, user) with this expiry, `kept`
    /// when it is the stored one; send the cookie again if `resend`.
    Save {
        expires_at: OffsetDateTime,
        kept: bool,
        resend: bool,
    },
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
            // Within the precision, the stored expiry stays, and with it
            // the browser's copy of the cookie (`with_expiry_precision`).
            let (expires_at, kept) = state.next_expiry(config, now);
            if body.changed() {
                Write::Save {
                    expires_at,
                    kept,
                    resend: !kept || resign,
                }
            } else if config.extends_on_use() && !kept {
                Write::Touch {
                    expires_at,
                    resend: config.rolling || resign,
                }
            } else if resign {
                Write::Resend
            } else {
                Write::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every combination of where a session is and what the handler did,
    /// under a fixed, a rolling and an idle-timeout configuration.
    fn every_case() -> Vec<(State, bool, SessionConfig)> {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        let stored = |rekey| Stored {
            created_at: now - time::Duration::hours(1),
            expires_at: now + time::Duration::hours(1),
            rekey,
        };
        let lives = [
            Life::Unread,
            Life::Unreadable,
            Life::New,
            Life::Gone { revoked: false },
            Life::Gone { revoked: true },
            Life::Live(stored(false)),
            Life::Live(stored(true)),
            Life::Cycling(stored(false)),
            Life::Destroyed,
        ];
        let configs = [
            SessionConfig::new(),
            SessionConfig::new().with_rolling(true),
            SessionConfig::new().with_idle_timeout(Some(Duration::from_secs(600))),
        ];
        let mut cases = Vec::new();
        for life in lives {
            for bits in 0..64u32 {
                let bit = |n: u32| bits & (1 << n) != 0;
                let mut body = Body::default();
                if bit(0) {
                    body.data.insert("k".into(), serde_json::json!(1));
                }
                if bit(1) {
                    body.dirty.push("k".into());
                }
                if bit(2) {
                    body.user = Some("u".into());
                }
                body.user_changed = bit(3);
                body.accessed = bit(4);
                let resign = bit(5);
                for config in &configs {
                    let state = State {
                        life,
                        body: body.clone(),
                    };
                    cases.push((state, resign, config.clone()));
                }
            }
        }
        cases
    }

    #[test]
    fn the_decision_keeps_the_rules_in_every_case() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        for (state, resign, config) in every_case() {
            let write = decide(&state, resign, &config, now);
            let what = format!(
                "{:?} {:?} resign={resign} -> {write:?}",
                state.life, state.body
            );
            let holds = !state.body.holds_nothing();
            match state.life {
                // Nothing read, or the read failed: nothing is ever written.
                Life::Unread | Life::Unreadable => assert_eq!(write, Write::Nothing, "{what}"),
                _ => {}
            }
            // A session is created only to hold something.
            if matches!(write, Write::Create { .. }) {
                assert!(holds, "{what}");
            }
            // A live session that holds something and was used is never
            // removed, replaced or forgotten.
            if state.life.stored().is_some() && holds && state.body.accessed {
                assert!(
                    !matches!(
                        write,
                        Write::Remove { .. } | Write::Create { .. } | Write::Forget
                    ),
                    "{what}"
                );
            }
            // Cycling only when asked, and always when asked for a session
            // that holds something.
            assert_eq!(
                write == Write::Cycle,
                matches!(state.life, Life::Cycling(_)) && state.body.accessed && holds,
                "{what}"
            );
            // What the handler changed in a live session is saved.
            if matches!(state.life, Life::Live(_))
                && holds
                && state.body.accessed
                && state.body.changed()
            {
                assert!(matches!(write, Write::Save { .. }), "{what}");
            }
            // A destroyed or revoked session's stored copy is ended.
            if matches!(state.life, Life::Destroyed | Life::Gone { revoked: true }) {
                assert!(
                    matches!(
                        write,
                        Write::Remove { end: true } | Write::Create { end: true }
                    ),
                    "{what}"
                );
            }
            // Nothing stored is ended otherwise, except a live session
            // emptied by the handler.
            if let Write::Remove { end: true } | Write::Create { end: true } = write {
                assert!(
                    matches!(state.life, Life::Destroyed | Life::Gone { revoked: true })
                        || (state.life.stored().is_some() && !holds),
                    "{what}"
                );
            }
            // A cookie signed by an older key, of a live session kept as it
            // is, is sent again.
            if resign && matches!(state.life, Life::Live(_)) && (holds || !state.body.accessed) {
                assert!(
                    matches!(
                        write,
                        Write::Resend
                            | Write::Save { resend: true, .. }
                            | Write::Touch { resend: true, .. }
                    ),
                    "{what}"
                );
            }
        }
    }
}
