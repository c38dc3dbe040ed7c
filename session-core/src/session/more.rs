//! The rest of the [`Session`] data API: removing, listing, the id, the
//! expiry policy and the cookie size (the counter's request uses none of
//! it; `get` and `insert` are in `session.rs`).

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use super::{Session, State};
use crate::client::ClientSession;
use crate::config::{Expiry, MAX_COOKIE_SIZE};
use crate::life::Life;
use crate::storage::{client_session, Incoming};
use crate::transport::Via;
use crate::{Error, Id};

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One lock, taken once: `id()` would take it again. `try_lock`, so
        // a `Debug` from inside a closure that holds the state (or from a
        // thread racing a commit) prints instead of waiting.
        let mut out = f.debug_struct("Session");
        match self.0.state.try_lock() {
            Some(state) => out
                .field("id", &self.id_in(&state))
                .field("life", &state.life)
                .field("keys", &state.body.data.len())
                .finish(),
            None => out.field("state", &"<in use>").finish_non_exhaustive(),
        }
    }
}

impl Session {
    /// Removes `key` and returns what it held.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let flash: Option<String> = session.remove("flash").await?;
    /// # let _ = flash; Ok(()) }
    /// ```
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.remove_value(key)
            .await?
            .map(serde_json::from_value)
            .transpose()
            .map_err(Error::Json)
    }

    /// Removes `key` and returns its raw JSON value.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.remove_value("user_count").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with_body(|body| {
            // Keep the order of the other keys (as Python's dicts do).
            let old = body.data.shift_remove(key);
            if old.is_some() {
                body.mark_dirty(key);
            }
            old
        })
        .await
    }

    /// Removes every key and the user binding
    /// ([`set_user`](Session::set_user)). A session left empty is deleted
    /// after the request and its cookie removed.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.clear().await?;
    /// assert!(session.is_empty().await?);
    /// assert_eq!(session.user().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<(), Error> {
        self.with_body(|body| {
            for key in std::mem::take(&mut body.data).keys() {
                body.mark_dirty(key);
            }
            if body.user.take().is_some() {
                body.user_changed = true;
            }
        })
        .await
    }

    /// Whether the session holds no key. What the session keeps for its
    /// own features (pending flash messages, [`Session::flash`]; the CSRF
    /// secret, [`Session::csrf_token`]) is no key: it keeps the session
    /// alive, but not this from being `true`.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// if session.is_empty().await? { /* a new visitor */ }
    /// # Ok(()) }
    /// ```
    pub async fn is_empty(&self) -> Result<bool, Error> {
        self.with_body(|body| body.data.keys().all(|key| super::is_internal(key)))
            .await
    }

    /// The keys the session holds (not the ones it keeps for its own
    /// features: its flash messages and its CSRF secret).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// for key in session.keys().await? { println!("{key}"); }
    /// # Ok(()) }
    /// ```
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_body(|body| {
            body.data
                .keys()
                .filter(|key| !super::is_internal(key))
                .cloned()
                .collect()
        })
        .await
    }

    /// Gives the session a fresh id after the handler, keeping the data and
    /// the expiry policy, and deletes the old id. Call it at login and at
    /// every privilege change: it defeats session fixation. (For
    /// client-side sessions it re-issues the cookie.) It also drops the
    /// session's CSRF secret: tokens from before no longer verify, and the
    /// next [`csrf_token`](Session::csrf_token) makes a new one.
    ///
    /// If another request ends the session meanwhile (a logout in another
    /// tab), the move does not happen: the logout wins, nothing is stored
    /// under a new id, and no cookie is sent.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.insert("user_id", 42).await?;
    /// session.cycle_id().await?;
    /// # Ok(()) }
    /// ```
    pub async fn cycle_id(&self) -> Result<(), Error> {
        self.with_state(|state| {
            if let Life::Live(stored) = state.life {
                state.life = Life::Cycling(stored);
            }
            super::csrf::forget_secret(&mut state.body);
        })
        .await
    }

    /// Ends the session: after the handler it is deleted from the store and
    /// the browser is told to drop the cookie. This is the one way to end a
    /// session (logout); it needs no store read, so it is not `async`.
    ///
    /// With sessions kept in the cookie
    /// ([`SessionLayer::client_side`](crate::SessionLayer::client_side))
    /// there is nothing to delete: only the browser's cookie is removed,
    /// and a copy of it taken before the logout stays a valid session until
    /// it expires, unless the application's check
    /// ([`SessionLayer::with_check`](crate::SessionLayer::with_check)) ends
    /// it.
    ///
    /// It is final for the request: the session reads as empty afterwards,
    /// and nothing of the ended session comes back. What the handler
    /// writes after `destroy` starts a brand-new session (a fresh id, a
    /// fresh absolute timeout, the layer's expiry), e.g. a "goodbye" flash
    /// message.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.destroy();
    /// assert!(session.is_empty().await?);
    /// session.insert("flash", "You are logged out").await?; // a new session
    /// # Ok(()) }
    /// ```
    pub fn destroy(&self) {
        let mut state = self.0.state.lock();
        // Nothing is read after this: the stored session is over.
        *state = State::new(Life::Destroyed);
        state.body.accessed = true;
    }

    /// Sets how long this session lives from now on — the cookie's
    /// `Max-Age` and the store's expiry — and keeps that policy with the
    /// session: later requests, writes and [`cycle_id`](Session::cycle_id)
    /// keep it until it is set again. `None` returns to the layer's
    /// configuration. The absolute timeout, if configured, still applies.
    ///
    /// ```
    /// use session_core::Expiry;
    /// use std::time::Duration;
    ///
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// // "Remember me": keep the session for 30 days of inactivity.
    /// session.set_expiry(Some(Expiry::OnInactivity(Duration::from_secs(30 * 86_400)))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_expiry(&self, expiry: Option<Expiry>) -> Result<(), Error> {
        self.with_body(|body| {
            if body.expiry != expiry {
                body.expiry = expiry;
                body.expiry_changed = true;
            }
        })
        .await
    }

    /// The session's own expiry policy, set with
    /// [`set_expiry`](Session::set_expiry) in this or an earlier request;
    /// `None` when it follows the layer's configuration.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// assert_eq!(session.expiry().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn expiry(&self) -> Result<Option<Expiry>, Error> {
        self.with_body(|body| body.expiry).await
    }

    /// The id of the stored session the request came with: verified from the
    /// cookie; `None` for a new visitor, for client-side sessions, when the
    /// cookie named no live session, and after
    /// [`cycle_id`](Session::cycle_id) or [`destroy`](Session::destroy) (a
    /// new id, if any, is drawn when the response is written).
    ///
    /// ```
    /// # fn demo(session: session_core::Session) {
    /// if let Some(id) = session.id() {
    ///     tracing::info!(session = %id, "returning visitor"); // logs a short hash, not the id
    /// }
    /// # }
    /// ```
    pub fn id(&self) -> Option<Id> {
        self.id_in(&self.0.state.lock())
    }

    fn id_in(&self, state: &State) -> Option<Id> {
        match (state.life, &self.0.incoming) {
            (Life::Unread | Life::Unreadable | Life::Live(_), Incoming::Id { id, .. }) => Some(*id),
            _ => None,
        }
    }

    /// The size in bytes (name + value) of the session cookie this session
    /// would be sent as now (on the token header transport, the token's
    /// length). Compare it with [`MAX_COOKIE_SIZE`], or call
    /// [`check_size`](Session::check_size).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let bytes = session.encoded_len().await?;
    /// assert!(bytes > 0);
    /// # Ok(()) }
    /// ```
    pub async fn encoded_len(&self) -> Result<usize, Error> {
        Ok(self.sized().await?.0)
    }

    /// `Err(Error::TooLarge)` if the session no longer fits in a cookie
    /// browsers keep, so a handler can answer before the layer refuses to
    /// send the cookie.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.insert("big", vec![0u32; 10]).await?;
    /// session.check_size().await?;
    /// # Ok(()) }
    /// ```
    pub async fn check_size(&self) -> Result<(), Error> {
        let (size, limit) = self.sized().await?;
        if size > limit {
            return Err(Error::TooLarge { size, limit });
        }
        Ok(())
    }

    /// Loads (once), then the size the session's token counts for now and
    /// the most it may be ([`token_size`](Session::token_size)).
    async fn sized(&self) -> Result<(usize, usize), Error> {
        self.load().await?;
        Ok(self.token_size(self.0.shared.storage.token_len(self)?))
    }

    /// The size a token of `value_len` bytes counts for on this request's
    /// transport, and the most it may be: name and value of a cookie
    /// against [`MAX_COOKIE_SIZE`], or the value alone against the token
    /// header's [`max_len`](crate::TokenHeader::max_len).
    pub(crate) fn token_size(&self, value_len: usize) -> (usize, usize) {
        let shared = &self.0.shared;
        match (self.0.via, shared.config.transport.header()) {
            (Via::Header, Some(header)) => (value_len, header.max_len()),
            _ => (shared.cookie_name.len() + value_len, MAX_COOKIE_SIZE),
        }
    }

    /// The state as a data cookie carries it, issued at `now`.
    pub(crate) fn client_session(&self, now: OffsetDateTime) -> ClientSession {
        let state = self.0.state.lock();
        client_session(
            &self.0.shared.config,
            state.body.data.clone(),
            state.created_at(now),
            state.body.expiry,
            state.body.user.clone(),
            now,
        )
    }
}
