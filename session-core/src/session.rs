//! The [`Session`] handle handlers use.

use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::check::LoadedSession;
use crate::layer::Shared;
use crate::life::{Body, Life, State};
use crate::storage::{Found, Incoming};
use crate::store::StoreError;
use crate::transport::Via;
use crate::{Error, Id};

mod accounts;
mod csrf;
mod flash;
mod more;

pub(crate) use accounts::is_valid_user;
pub use accounts::{SessionInfo, MAX_USER_LEN};
pub use flash::{Flash, Flashes, Level};

/// The data keys the session keeps for its own features (flash messages,
/// the CSRF secret): handlers cannot write them ([`Error::ReservedKey`]),
/// [`Session::keys`] does not list them and [`Session::is_empty`] does not
/// count them.
pub(crate) const INTERNAL_KEYS: &[&str] = &[flash::KEY, csrf::CSRF_KEY];

/// Whether `key` is one of the [`INTERNAL_KEYS`].
pub(crate) fn is_internal(key: &str) -> bool {
    INTERNAL_KEYS.contains(&key)
}

/// What loading found, after the application's check.
enum Checked {
    /// As found (the check let it go on, or there was nothing to check).
    Live(Found),
    /// A live session the check ended.
    Revoked,
}

pub(crate) struct SessionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) incoming: Incoming,
    /// The transport the token came on, and the response answers on.
    pub(crate) via: Via,
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

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, incoming: Incoming, via: Via) -> Self {
        let state = State::new(match incoming {
            Incoming::None => Life::New,
            _ => Life::Unread,
        });
        Self(Arc::new(SessionInner {
            shared,
            incoming,
            via,
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

    /// Reads the session from its storage once; later calls return at once.
    pub(crate) async fn load(&self) -> Result<(), Error> {
        if self.0.state.lock().life.is_read() {
            return Ok(());
        }
        // Uncontended (the usual case: one load per request), the gate is
        // taken without building a wait.
        let _gate = match self.0.load_gate.try_lock() {
            Ok(gate) => gate,
            Err(_) => self.0.load_gate.lock().await,
        };
        if self.0.state.lock().life.is_read() {
            return Ok(());
        }
        let found = match self.0.shared.storage.load(self).await {
            Ok(found) => self.checked(found).await,
            Err(err) => Err(err),
        };
        let mut state = self.0.state.lock();
        if state.life.is_read() {
            // `destroy` ran meanwhile: what was stored is over.
            return Ok(());
        }
        match found {
            Err(err) => {
                state.life = Life::Unreadable;
                return Err(err.into());
            }
            Ok(Checked::Live(Found::Live {
                stored,
                data,
                expiry,
                user,
            })) => {
                state.life = Life::Live(stored);
                crate::metrics::loaded();
                state.body.data = data;
                state.body.expiry = expiry;
                state.body.user = user;
            }
            Ok(Checked::Live(Found::Stale)) => state.life = Life::Gone { revoked: false },
            Ok(Checked::Revoked) => {
                tracing::debug!("session ended by the application's check");
                crate::metrics::ended(crate::metrics::Cause::Revoked, 1);
                state.life = Life::Gone { revoked: true };
            }
        }
        Ok(())
    }

    /// Runs the application's check, if any, on a live session: revoked
    /// when it ends it, `found` as it is when it lets it go on, and
    /// [`StoreError::Unavailable`] when it fails (the load then fails as if
    /// the store were down: neither a pass nor a logout).
    async fn checked(&self, found: Found) -> Result<Checked, StoreError> {
        let (
            Some(check),
            Found::Live {
                data, stored, user, ..
            },
        ) = (&self.0.shared.check, &found)
        else {
            return Ok(Checked::Live(found));
        };
        let session = LoadedSession {
            user: user.clone(),
            data: data.clone(),
            created_at: stored.created_at,
        };
        match check.0.check(session).await {
            Ok(true) => Ok(Checked::Live(found)),
            Ok(false) => Ok(Checked::Revoked),
            Err(err) => {
                tracing::error!(error = %err, "the application's session check failed");
                Err(StoreError::Unavailable(err))
            }
        }
    }

    /// Loads (once), then runs `f` on the state, marking the session used.
    pub(crate) async fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, Error> {
        self.load().await?;
        let mut state = self.0.state.lock();
        state.body.accessed = true;
        Ok(f(&mut state))
    }

    /// Loads (once), then runs `f` on the body, marking the session used.
    async fn with_body<R>(&self, f: impl FnOnce(&mut Body) -> R) -> Result<R, Error> {
        self.with_state(|state| f(&mut state.body)).await
    }

    /// The value under `key`, deserialized; `None` if absent.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let name: Option<String> = session.get("name").await?;
    /// # let _ = name; Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_body(|body| body.data.get(key).map(T::deserialize).transpose())
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
        self.with_body(|body| body.data.get(key).cloned()).await
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
    /// carries the user binding (use [`set_user`](Session::set_user)); and
    /// the keys the session keeps for its own features: `@flash`, its flash
    /// messages (use [`flash`](Session::flash)), and `@csrf`, its CSRF
    /// secret ([`csrf_token`](Session::csrf_token)).
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
        if crate::store::is_reserved(key)
            || is_internal(key)
            || self.0.shared.storage.reserves_key(key)
        {
            return Err(Error::ReservedKey {
                key: key.to_owned(),
            });
        }
        self.with_body(|body| {
            match body.data.get_mut(key) {
                Some(held) if *held == value => return,
                // The key is there: only the value changes (no new key).
                Some(held) => *held = value,
                None => {
                    body.data.insert(key.to_owned(), value);
                }
            }
            body.mark_dirty(key);
        })
        .await
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::FromRequestParts;
    use http::request::Parts;

    use crate::{Error, Session};

    /// Takes the [`Session`] the [`SessionLayer`](crate::SessionLayer) put in
    /// the request. Without the layer it rejects with [`Error::MissingLayer`],
    /// a `500` whose log line says to add the layer.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use session_core::Session;
    ///
    /// async fn whoami(session: Session) -> String {
    ///     let user: Option<String> = session.get("user").await.ok().flatten();
    ///     user.unwrap_or_else(|| "anonymous".into())
    /// }
    ///
    /// let app: Router = Router::new().route("/", get(whoami)); // .layer(session_layer)
    /// # let _ = app;
    /// ```
    impl<S: Send + Sync> FromRequestParts<S> for Session {
        type Rejection = Error;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<Session>()
                .cloned()
                .ok_or(Error::MissingLayer)
        }
    }
}
