//! The [`Session`] handle handlers use.

use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::check::LoadedSession;
use crate::client::ClientSession;
use crate::config::{to_time, Expiry, SessionConfig, MAX_COOKIE_SIZE};
use crate::layer::{SessionStorage, Shared};
use crate::store::StoreError;
use crate::{Data, Error, Id, SignedId};

/// The longest user name [`Session::set_user`] takes, in bytes.
pub const MAX_USER_LEN: usize = 255;

/// Whether `user` is a name [`Session::set_user`] takes: 1 to
/// [`MAX_USER_LEN`] bytes.
pub(crate) fn is_valid_user(user: &str) -> bool {
    (1..=MAX_USER_LEN).contains(&user.len())
}

/// A verified signed-id cookie value, kept inline (it has a fixed length).
#[derive(Clone, Copy)]
pub(crate) struct SignedValue([u8; SignedId::ENCODED_LEN]);

impl SignedValue {
    /// `value` if it has a signed id's length (verified values do).
    pub(crate) fn new(value: &str) -> Option<Self> {
        value.as_bytes().try_into().ok().map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Verified values are ASCII; anything else reads as empty and so
        // never matches a cookie.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for SignedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedValue(<redacted>)")
    }
}

/// What the request's cookie said, before anything was loaded.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    /// No (valid) session cookie.
    None,
    /// A verified session id (server-side stores), with the cookie value
    /// that carried it: when the current key signed it, the same value can
    /// be sent back without signing again.
    Id {
        id: Id,
        needs_resign: bool,
        value: SignedValue,
    },
    /// The raw values of every data cookie of the session's name
    /// (client-side sessions), in header order, decoded lazily: the first
    /// that decodes is the session.
    Data(Vec<String>),
}

/// The session's state during one request.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The stored record (or cookie) has been read.
    pub(crate) loaded: bool,
    /// A live session was found.
    pub(crate) exists: bool,
    /// The cookie named a session that is gone or expired.
    pub(crate) stale: bool,
    /// The stored copy was verified with an older key.
    pub(crate) rekey: bool,
    /// A load failed; nothing will be written for this request.
    pub(crate) load_failed: bool,
    /// The handler used the session (read or write).
    pub(crate) accessed: bool,
    pub(crate) data: Data,
    pub(crate) created_at: Option<OffsetDateTime>,
    /// The loaded session's expiry, as stored (or as its cookie says).
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// Keys set or removed by this request, each once (a list: requests
    /// change few keys, and a list costs less than a set for few).
    pub(crate) dirty: Vec<String>,
    pub(crate) cycle: bool,
    pub(crate) destroyed: bool,
    pub(crate) expiry: Option<Expiry>,
    pub(crate) expiry_changed: bool,
    /// The user the session is bound to.
    pub(crate) user: Option<String>,
    pub(crate) user_changed: bool,
    /// The application's check ended the loaded session.
    pub(crate) revoked: bool,
}

impl State {
    /// Notes that `key` changed.
    fn mark_dirty(&mut self, key: &str) {
        if !self.dirty.iter().any(|k| k == key) {
            self.dirty.push(key.to_owned());
        }
    }

    /// The expiry a write at `now` gives the loaded session, and whether it
    /// is the stored one, kept because the exact one would move it by no
    /// more than the precision
    /// ([`with_expiry_precision`](SessionConfig::with_expiry_precision)); a
    /// changed expiry policy always moves it.
    pub(crate) fn next_expiry(
        &self,
        config: &SessionConfig,
        now: OffsetDateTime,
    ) -> (OffsetDateTime, bool) {
        let created_at = self.created_at.unwrap_or(now);
        let exact = config.expires_at(now, created_at, self.expiry);
        match self.expires_at {
            Some(stored) if !self.expiry_changed && config.keeps_expiry(now, stored, exact) => {
                (stored, true)
            }
            _ => (exact, false),
        }
    }

    /// No data and no user: nothing worth a session.
    pub(crate) fn holds_nothing(&self) -> bool {
        self.data.is_empty() && self.user.is_none()
    }

    pub(crate) fn changed(&self) -> bool {
        !self.dirty.is_empty() || self.cycle || self.expiry_changed || self.user_changed
    }
}

/// What loading found.
enum Found {
    Live {
        data: Data,
        created_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        expiry: Option<Expiry>,
        user: Option<String>,
        rekey: bool,
    },
    /// The cookie named nothing live (absent, expired, not verifying).
    Stale,
    /// Nothing to read (the cookie does not fit the storage).
    Nothing,
    /// A live session the application's check ended.
    Revoked,
}

pub(crate) struct SessionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) incoming: Incoming,
    /// Serializes the first load so the store is asked once.
    load_gate: tokio::sync::Mutex<()>,
    pub(crate) state: Mutex<State>,
    /// The request's time, read once ([`Session::now`]).
    now: OnceLock<OffsetDateTime>,
    /// The digest stores keep for the incoming id ([`Session::stored_id`]).
    stored: OnceLock<Id>,
}

/// The per-visitor session of one request: cheap to clone, shared by every
/// clone, loaded from the store on first use.
///
/// Get it from the request extensions (the layer puts it there), or, with
/// the `axum` feature, take it as an extractor. Values are any
/// `serde` type, stored as JSON.
///
/// ```
/// use session_core::Session;
///
/// async fn counter(session: Session) -> Result<String, session_core::Error> {
///     let n: u64 = session.get("count").await?.unwrap_or(0);
///     session.insert("count", n + 1).await?;
///     Ok(n.to_string())
/// }
/// ```
///
/// What happens after the handler depends on what it did:
///
/// | the handler… | the layer… |
/// |---|---|
/// | never touched the session | writes nothing, sends no cookie |
/// | only read it | writes nothing (touches the expiry with rolling or an idle timeout) |
/// | changed it | saves only the changed keys, sends the cookie |
/// | removed keys ([`remove`](Session::remove), [`clear`](Session::clear)) until none is left | deletes it, sends a removal cookie |
/// | called [`destroy`](Session::destroy) | deletes it, sends a removal cookie — even if the handler then reads or writes |
/// | called [`cycle_id`](Session::cycle_id) | moves the data to a fresh id, deletes the old one |
/// | found the session ended by another request (a logout elsewhere) | writes nothing, never brings it back |
///
/// Removing keys changes what the session holds; [`destroy`](Session::destroy)
/// ends it. Use `destroy` at logout: it needs no store read, it is final for
/// the request (a later read sees an empty session, a later write starts a
/// new session under a new id), and it also ends the session when loading
/// it failed. `remove`/`clear` keep the session (and its id) as long as a
/// key is left.
///
/// Methods that need what is stored are `async`: the first one loads the
/// session. [`destroy`](Session::destroy) and [`id`](Session::id) never
/// read the store, so they are not.
#[derive(Clone)]
pub struct Session(pub(crate) Arc<SessionInner>);

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One lock, taken once: `id()` would take it again. `try_lock`, so
        // a `Debug` from inside a closure that holds the state (or from a
        // thread racing a commit) prints instead of waiting.
        let mut out = f.debug_struct("Session");
        match self.0.state.try_lock() {
            Some(state) => out
                .field("id", &self.id_in(&state))
                .field("loaded", &state.loaded)
                .field("keys", &state.data.len())
                .field("destroyed", &state.destroyed)
                .finish(),
            None => out.field("state", &"<in use>").finish_non_exhaustive(),
        }
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, incoming: Incoming) -> Self {
        let state = State {
            loaded: matches!(incoming, Incoming::None),
            ..State::default()
        };
        Self(Arc::new(SessionInner {
            shared,
            incoming,
            load_gate: tokio::sync::Mutex::new(()),
            state: Mutex::new(state),
            now: OnceLock::new(),
            stored: OnceLock::new(),
        }))
    }

    /// The time of this request: the clock is read once, at the first
    /// use, so one request sees one "now" from load to commit.
    pub(crate) fn now(&self) -> OffsetDateTime {
        *self.0.now.get_or_init(|| self.0.shared.config.now())
    }

    /// What stores keep for the cookie's id ([`Id::at_rest`]), hashed
    /// once per request.
    pub(crate) fn stored_id(&self, id: &Id) -> Id {
        *self.0.stored.get_or_init(|| id.at_rest())
    }

    /// Reads the session from its store once; later calls return at once.
    pub(crate) async fn load(&self) -> Result<(), Error> {
        if self.0.state.lock().loaded {
            return Ok(());
        }
        // Uncontended (the usual case: one load per request), the gate is
        // taken without building a wait.
        let _gate = match self.0.load_gate.try_lock() {
            Ok(gate) => gate,
            Err(_) => self.0.load_gate.lock().await,
        };
        if self.0.state.lock().loaded {
            return Ok(());
        }
        let found = match self.find().await {
            Ok(found) => self.checked(found).await,
            Err(err) => Err(err),
        };
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                let mut state = self.0.state.lock();
                if !state.loaded {
                    state.load_failed = true;
                }
                return Err(err.into());
            }
        };
        let mut state = self.0.state.lock();
        if state.loaded {
            // `destroy` ran meanwhile: what was stored is over.
            return Ok(());
        }
        match found {
            Found::Live {
                data,
                created_at,
                expires_at,
                expiry,
                user,
                rekey,
            } => {
                state.exists = true;
                state.rekey = rekey;
                state.data = data;
                state.created_at = Some(created_at);
                state.expires_at = Some(expires_at);
                state.expiry = expiry;
                state.user = user;
            }
            Found::Stale => state.stale = true,
            Found::Nothing => {}
            Found::Revoked => {
                tracing::debug!("session ended by the application's check");
                state.stale = true;
                state.revoked = true;
            }
        }
        state.load_failed = false;
        state.loaded = true;
        Ok(())
    }

    /// Reads what the request's cookie names: the store's record or the
    /// data cookie.
    async fn find(&self) -> Result<Found, StoreError> {
        let shared = &self.0.shared;
        let now = self.now();
        match (&self.0.incoming, &shared.storage) {
            (Incoming::Id { id, .. }, SessionStorage::Server { store, .. }) => {
                let stored = self.stored_id(id);
                if let Some(locks) = &shared.locks {
                    locks.lease(store, id, &stored).await?;
                }
                let record = store.load(&stored).await.inspect_err(|err| {
                    tracing::error!(session = %id, error = %err, "loading the session failed");
                })?;
                match record {
                    Some(record)
                        if !record.is_expired(now)
                            && !shared.config.past_absolute(now, record.created_at) =>
                    {
                        Ok(Found::Live {
                            data: record.data,
                            created_at: record.created_at,
                            expires_at: record.expires_at,
                            expiry: record.expiry,
                            user: record.user,
                            rekey: false,
                        })
                    }
                    _ => {
                        tracing::debug!(session = %id, "session cookie names no live session");
                        Ok(Found::Stale)
                    }
                }
            }
            (Incoming::Data(candidates), SessionStorage::Client { codec }) => {
                let decoded = candidates
                    .iter()
                    .find_map(|value| codec.decode(&shared.cookie_name, value));
                match decoded {
                    Some(client) if self.client_is_live(&client, now) => Ok(Found::Live {
                        created_at: client.created_at.unwrap_or(client.issued_at),
                        expires_at: self.client_expires_at(&client),
                        data: client.data,
                        expiry: client.expiry,
                        user: client.user,
                        rekey: client.rekey,
                    }),
                    Some(_) => {
                        tracing::debug!("session cookie expired");
                        Ok(Found::Stale)
                    }
                    None => {
                        tracing::debug!("session cookie did not verify");
                        Ok(Found::Stale)
                    }
                }
            }
            _ => Ok(Found::Nothing),
        }
    }

    /// Runs the application's check, if any, on a live session:
    /// [`Found::Revoked`] when it ends it, `found` as it is when it lets it
    /// go on, and [`StoreError::Unavailable`] when it fails (the load then
    /// fails as if the store were down: neither a pass nor a logout).
    async fn checked(&self, found: Found) -> Result<Found, StoreError> {
        let (
            Some(check),
            Found::Live {
                data,
                created_at,
                user,
                ..
            },
        ) = (&self.0.shared.check, &found)
        else {
            return Ok(found);
        };
        let session = LoadedSession {
            user: user.clone(),
            data: data.clone(),
            created_at: *created_at,
        };
        match check.0.check(session).await {
            Ok(true) => Ok(found),
            Ok(false) => Ok(Found::Revoked),
            Err(err) => {
                tracing::error!(error = %err, "the application's session check failed");
                Err(StoreError::Unavailable(err))
            }
        }
    }

    /// Whether a decoded data cookie is still within its timeouts. A cookie
    /// is valid up to and including its expiry second (Starlette's rule), and
    /// never when it claims to come from the future.
    fn client_is_live(&self, client: &ClientSession, now: OffsetDateTime) -> bool {
        let config = &self.0.shared.config;
        if client.issued_at > now {
            return false;
        }
        let created = client.created_at.unwrap_or(client.issued_at);
        if config.past_absolute(now, created) {
            return false;
        }
        self.client_expires_at(client) >= now
    }

    /// When a decoded data cookie's session ends: as the cookie says, or
    /// (formats that do not say) its issue time plus the configured
    /// lifetime.
    fn client_expires_at(&self, client: &ClientSession) -> OffsetDateTime {
        client.expires_at.unwrap_or_else(|| {
            client
                .issued_at
                .saturating_add(to_time(self.0.shared.config.server_ttl(None)))
        })
    }

    /// Loads (once), then runs `f` on the state, marking the session used.
    async fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, Error> {
        self.load().await?;
        let mut state = self.0.state.lock();
        state.accessed = true;
        Ok(f(&mut state))
    }

    /// The value under `key`, deserialized; `None` if absent.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let name: Option<String> = session.get("name").await?;
    /// # let _ = name; Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_state(|state| state.data.get(key).map(T::deserialize).transpose())
            .await?
            .map_err(Error::Json)
    }

    /// The raw JSON value under `key`.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let raw: Option<serde_json::Value> = session.get_value("profile").await?;
    /// # let _ = raw; Ok(()) }
    /// ```
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with_state(|state| state.data.get(key).cloned()).await
    }

    /// Stores `value` under `key`. Setting a key to the value it already
    /// has is not a change (nothing is written for it). A key the cookie's
    /// format reserves is refused (see [`insert_value`](Session::insert_value)).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.insert("cart", vec!["apple", "pear"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let value = serde_json::to_value(value)?;
        self.insert_value(key, value).await
    }

    /// Stores a raw JSON value under `key`.
    ///
    /// Key names starting with
    /// [`RESERVED_KEY_PREFIX`](crate::store::RESERVED_KEY_PREFIX)
    /// (`@session/`) are refused with [`Error::ReservedKey`] (encrypted
    /// stores keep a session's sealed metadata under them), and so is a key
    /// the session cookie's format keeps for itself: with
    /// [`StarletteCookie`](crate::StarletteCookie), `_session_user`
    /// ([`STARLETTE_USER_KEY`](crate::codec::STARLETTE_USER_KEY)), which
    /// carries the user binding (use [`set_user`](Session::set_user)).
    /// [`insert`](Session::insert) refuses the same names. Nothing is
    /// written then.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.insert_value("flags", serde_json::json!({"beta": true})).await?;
    /// let refused = session.insert_value("@session/user", "alice".into()).await;
    /// assert!(matches!(refused, Err(session_core::Error::ReservedKey { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn insert_value(&self, key: &str, value: Value) -> Result<(), Error> {
        let reserved_by_codec = match &self.0.shared.storage {
            SessionStorage::Client { codec } => codec.reserves_key(key),
            SessionStorage::Server { .. } => false,
        };
        if crate::at_rest::is_reserved(key) || reserved_by_codec {
            return Err(Error::ReservedKey {
                key: key.to_owned(),
            });
        }
        self.with_state(|state| {
            if state.data.get(key) != Some(&value) {
                state.data.insert(key.to_owned(), value);
                state.mark_dirty(key);
            }
        })
        .await
    }

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
        self.with_state(|state| {
            // Keep the order of the other keys (as Python's dicts do).
            let old = state.data.shift_remove(key);
            if old.is_some() {
                state.mark_dirty(key);
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
        self.with_state(|state| {
            for key in std::mem::take(&mut state.data).keys() {
                state.mark_dirty(key);
            }
            if state.user.take().is_some() {
                state.user_changed = true;
            }
        })
        .await
    }

    /// Whether the session holds no key.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// if session.is_empty().await? { /* a new visitor */ }
    /// # Ok(()) }
    /// ```
    pub async fn is_empty(&self) -> Result<bool, Error> {
        self.with_state(|state| state.data.is_empty()).await
    }

    /// The keys the session holds.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// for key in session.keys().await? { println!("{key}"); }
    /// # Ok(()) }
    /// ```
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_state(|state| state.data.keys().cloned().collect())
            .await
    }

    /// Gives the session a fresh id after the handler, keeping the data and
    /// the expiry policy, and deletes the old id. Call it at login and at
    /// every privilege change: it defeats session fixation. (For
    /// client-side sessions it re-issues the cookie.)
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
        self.with_state(|state| state.cycle = true).await
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
        *state = State {
            // Nothing is read after this: the stored session is over.
            loaded: true,
            accessed: true,
            destroyed: true,
            ..State::default()
        };
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
        self.with_state(|state| {
            if state.expiry != expiry {
                state.expiry = expiry;
                state.expiry_changed = true;
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
        self.with_state(|state| state.expiry).await
    }

    /// Binds the session to `user` (an application-chosen id, 1 to
    /// [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes), as at login. Server-side
    /// stores index sessions by user, so that
    /// [`user_sessions`](Session::user_sessions),
    /// [`end_other_sessions`](Session::end_other_sessions) and
    /// [`end_all_sessions`](Session::end_all_sessions) (and the store's
    /// [`list_user`](crate::store::UserIndex::list_user) and
    /// [`delete_user`](crate::store::UserIndex::delete_user), outside a
    /// request) find it. Call [`cycle_id`](Session::cycle_id) with it: a
    /// login deserves a fresh id. [`destroy`](Session::destroy) ends the
    /// binding with the session.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.set_user("hong").await?;
    /// session.cycle_id().await?;
    /// assert_eq!(session.user().await?.as_deref(), Some("hong"));
    /// # Ok(()) }
    /// ```
    pub async fn set_user(&self, user: impl Into<String>) -> Result<(), Error> {
        let user = user.into();
        if !is_valid_user(&user) {
            return Err(Error::InvalidUser { len: user.len() });
        }
        self.bind(Some(user)).await
    }

    /// Unbinds the session from its user (it stays a session, no longer
    /// listed for anyone).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.clear_user().await?;
    /// assert_eq!(session.user().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn clear_user(&self) -> Result<(), Error> {
        self.bind(None).await
    }

    async fn bind(&self, user: Option<String>) -> Result<(), Error> {
        self.with_state(|state| {
            if state.user != user {
                state.user = user;
                state.user_changed = true;
            }
        })
        .await
    }

    /// The user the session is bound to ([`set_user`](Session::set_user)).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// if let Some(user) = session.user().await? { println!("logged in as {user}"); }
    /// # Ok(()) }
    /// ```
    pub async fn user(&self) -> Result<Option<String>, Error> {
        self.with_state(|state| state.user.clone()).await
    }

    /// The store and the stored id of this request's session, and the user
    /// it is bound to; `Unsupported` for sessions kept in the cookie.
    ///
    /// The stored id is the one the session lives under in the store now:
    /// the incoming one as long as a live session was loaded and not
    /// destroyed, also after [`cycle_id`](Session::cycle_id) (the move to
    /// the new id happens after the handler), so the account methods keep
    /// treating it as "this one".
    async fn account(
        &self,
        operation: &'static str,
    ) -> Result<Option<(Arc<dyn crate::SessionStore>, Option<Id>, String)>, Error> {
        let (user, current) = self
            .with_state(|state| {
                let current = match self.0.incoming {
                    Incoming::Id { id, .. } if state.exists && !state.destroyed => Some(id),
                    _ => None,
                };
                (state.user.clone(), current)
            })
            .await?;
        let SessionStorage::Server { store, .. } = &self.0.shared.storage else {
            return Err(StoreError::Unsupported(operation).into());
        };
        Ok(user.map(|user| (store.clone(), current.map(|id| self.stored_id(&id)), user)))
    }

    /// The live sessions of the user this session is bound to, oldest
    /// first, this one marked [`current`](SessionInfo::current) (under the
    /// id it is stored under until the request ends, also after
    /// [`cycle_id`](Session::cycle_id)); empty when the session is bound to
    /// no user. For a "your devices" page.
    ///
    /// Sessions kept in the cookie cannot be listed: the error is
    /// [`StoreError::Unsupported`] (use a [`SessionCheck`](crate::SessionCheck)
    /// to revoke them).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// for device in session.user_sessions().await? {
    ///     println!("{} since {}{}", device.handle, device.created_at, if device.current { " (this one)" } else { "" });
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn user_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let Some((store, current, user)) = self.account("list_user").await? else {
            return Ok(Vec::new());
        };
        let sessions = store.list_user(&user).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionInfo {
                handle: session.handle(),
                current: Some(session.id) == current,
                created_at: session.created_at,
                expires_at: session.expires_at,
            })
            .collect())
    }

    /// Ends every other session of this session's user ("log out my other
    /// devices", e.g. after a password change) and returns how many it
    /// ended; this one goes on, also when the handler gave it a new id
    /// with [`cycle_id`](Session::cycle_id) in the same request. `0` when
    /// the session is bound to no user. A request of an ended session that
    /// is saving at the same moment writes nothing ("logout wins").
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_other_sessions().await?;
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_other_sessions(&self) -> Result<u64, Error> {
        let Some((store, current, user)) = self.account("delete_user").await? else {
            return Ok(0);
        };
        Ok(store.delete_user(&user, current.as_ref()).await?)
    }

    /// Ends every session of this session's user, this one included ("log
    /// out everywhere"), and returns how many it ended. This session is
    /// then [`destroy`](Session::destroy)ed: the browser is told to drop
    /// its cookie.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_all_sessions().await?;
    /// assert!(session.is_empty().await?);
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_all_sessions(&self) -> Result<u64, Error> {
        let Some((store, _, user)) = self.account("delete_user").await? else {
            return Ok(0);
        };
        let ended = store.delete_user(&user, None).await?;
        self.destroy();
        Ok(ended)
    }

    /// Ends the session of this session's user whose
    /// [`handle`](SessionInfo::handle) is `handle` (a "sign out this
    /// device" button) and says whether it did: `true` only when that
    /// session was live, bound to the user, and is now ended for good;
    /// `false` when no live session of the user has the handle. Ending the
    /// current session this way also [`destroy`](Session::destroy)s it.
    ///
    /// It lists the user's sessions, then ends the one with the handle in
    /// one store step that checks it is still live and still the user's
    /// ([`UserIndex::end_user_session`](crate::store::UserIndex::end_user_session)).
    /// A session given a new id at the same moment (its browser logged in
    /// again, [`cycle_id`](Session::cycle_id)) is not ended: it goes on
    /// under a new handle and the answer is `false`; list again
    /// ([`user_sessions`](Session::user_sessions)) to end it.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_session("Zm9vYmFyYmF6cXV4").await?;
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_session(&self, handle: &str) -> Result<bool, Error> {
        let Some((store, current, user)) = self.account("list_user").await? else {
            return Ok(false);
        };
        let sessions = store.list_user(&user).await?;
        let Some(target) = sessions.into_iter().find(|s| s.handle() == handle) else {
            return Ok(false);
        };
        if !store.end_user_session(&user, &target.id).await? {
            return Ok(false);
        }
        if Some(target.id) == current {
            self.destroy();
        }
        Ok(true)
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
        if state.cycle || state.destroyed || state.stale {
            return None;
        }
        match self.0.incoming {
            Incoming::Id { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The size in bytes (name + value) of the session cookie this session
    /// would be sent as now. Compare it with
    /// [`MAX_COOKIE_SIZE`], or call
    /// [`check_size`](Session::check_size).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let bytes = session.encoded_len().await?;
    /// assert!(bytes > 0);
    /// # Ok(()) }
    /// ```
    pub async fn encoded_len(&self) -> Result<usize, Error> {
        self.load().await?;
        let shared = &self.0.shared;
        let name_len = shared.cookie_name.len();
        match &shared.storage {
            SessionStorage::Server { .. } => Ok(name_len + crate::SignedId::ENCODED_LEN),
            SessionStorage::Client { codec } => {
                let client = self.client_session(self.now());
                Ok(name_len + codec.encode(&shared.cookie_name, &client)?.len())
            }
        }
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
        let size = self.encoded_len().await?;
        if size > MAX_COOKIE_SIZE {
            return Err(Error::TooLarge {
                size,
                limit: MAX_COOKIE_SIZE,
            });
        }
        Ok(())
    }

    /// The state as a data cookie carries it, issued at `now`.
    pub(crate) fn client_session(&self, now: OffsetDateTime) -> ClientSession {
        let state = self.0.state.lock();
        let created_at = state.created_at.unwrap_or(now);
        client_session(
            &self.0.shared.config,
            state.data.clone(),
            created_at,
            state.expiry,
            state.user.clone(),
            now,
        )
    }
}

/// The data cookie for `data`, issued at `now`: the one place a
/// [`ClientSession`] is assembled for encoding.
pub(crate) fn client_session(
    config: &SessionConfig,
    data: Data,
    created_at: OffsetDateTime,
    expiry: Option<Expiry>,
    user: Option<String>,
    now: OffsetDateTime,
) -> ClientSession {
    ClientSession {
        data,
        created_at: Some(created_at),
        issued_at: now,
        rekey: false,
        expires_at: Some(config.expires_at(now, created_at, expiry)),
        expiry,
        user,
    }
}

/// One session of a user, as [`Session::user_sessions`] lists it.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let others = session.user_sessions().await?.into_iter().filter(|s| !s.current).count();
/// # let _ = others; Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// A name for the session that is safe to show and to send back
    /// ([`UserSession::handle`](crate::store::UserSession::handle)); pass it
    /// to [`Session::end_session`].
    pub handle: String,
    /// Whether it is the session of this request.
    pub current: bool,
    /// When it began.
    pub created_at: OffsetDateTime,
    /// When it ends unless used again.
    pub expires_at: OffsetDateTime,
}
