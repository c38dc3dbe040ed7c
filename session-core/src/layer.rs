//! [`SessionLayer`]: the tower layer that gives every request a [`Session`](crate::Session).

use std::sync::Arc;

use tower_layer::Layer;

use crate::check::{Check, SessionCheck};
use crate::cookies::CookieWriter;
use crate::lock::SessionLocks;
use crate::storage::LayerStore;
use crate::storage::{InCookie, InStore, Storage};
use crate::store::{AnyStore, Encrypted};
use crate::{ConfigError, DataCodec, Keys, SessionConfig, SessionService, SessionStore, SignedId};

/// What the layer, its services and every session of a request share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) cookie_name: String,
    pub(crate) writer: CookieWriter,
    pub(crate) storage: Storage,
    pub(crate) locks: Option<Arc<SessionLocks>>,
    /// The application's check of loaded sessions ([`SessionLayer::with_check`]).
    pub(crate) check: Option<Arc<Check>>,
}

impl Shared {
    fn new(storage: Storage, config: SessionConfig) -> Result<Self, ConfigError> {
        let writer = CookieWriter::new(&config)?;
        let locks = config.serialize.then(Arc::default);
        Ok(Self {
            cookie_name: writer.name().to_owned(),
            writer,
            config,
            storage,
            locks,
            check: None,
        })
    }

    /// The same layer with another configuration.
    fn reconfigured(&self, config: SessionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            check: self.check.clone(),
            ..Self::new(self.storage.clone(), config)?
        })
    }
}

/// The tower layer that gives every request a [`Session`](crate::Session).
///
/// Server-side, with a store (the cookie holds only a signed id):
///
/// ```
/// use axum::{routing::get, Router};
/// use session_core::{Key, Session, SessionConfig, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// async fn handler(session: Session) -> String {
///     let visits: u32 = session.get("visits").await.ok().flatten().unwrap_or(0);
///     let _ = session.insert("visits", visits + 1).await;
///     format!("visit {visits}")
/// }
///
/// let layer = SessionLayer::new(MemoryStore::new(), Key::generate())
///     .with_config(SessionConfig::new().with_cookie_name("sid"));
/// let app: Router = Router::new().route("/", get(handler)).layer(layer);
/// ```
///
/// The layer is generic over the store's type, so that the layer's calls
/// to it box nothing; `SessionLayer` alone names a layer whose store is an
/// [`AnyStore`] (a type chosen at run time) or that keeps sessions in the
/// cookie ([`client_side`](SessionLayer::client_side)).
#[derive(Debug)]
pub struct SessionLayer<St = AnyStore> {
    shared: Arc<Shared>,
    /// The store as its own type, for the writes after the handler; `None`
    /// for client-side sessions.
    store: Option<Arc<LayerStore<St>>>,
}

impl<St> Clone for SessionLayer<St> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            store: self.store.clone(),
        }
    }
}

impl<St: SessionStore> SessionLayer<St> {
    /// Sessions kept in `store`; the cookie holds the id signed with `keys`:
    /// one [`Key`](crate::Key), or a [`Keys`] list whose first key signs and
    /// every key verifies (rotation without logging anyone out).
    ///
    /// ```
    /// use session_core::{Key, Keys, SessionLayer};
    /// use session_store_memory::MemoryStore;
    ///
    /// // One key:
    /// let layer = SessionLayer::new(MemoryStore::new(), Key::generate());
    ///
    /// // Rotation: the new key first, the old one still accepted.
    /// let keys = Keys::new(vec![Key::generate(), Key::generate()])?;
    /// let layer = SessionLayer::new(MemoryStore::new(), keys);
    /// # let _ = layer;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn new(store: St, keys: impl Into<Keys>) -> Self {
        Self::on(
            LayerStore::Plain(Arc::new(store)),
            SignedId::new(&keys.into()),
        )
    }

    /// A server-side layer on `store`, cookies signed by `signer`.
    fn on(store: LayerStore<St>, signer: SignedId) -> Self {
        let store = Arc::new(store);
        let storage = Storage::Store(InStore {
            store: LayerStore::erased(&store),
            signer,
        });
        Self {
            shared: Arc::new(
                Shared::new(storage, SessionConfig::default())
                    .expect("the default configuration is valid"),
            ),
            store: Some(store),
        }
    }
}

impl SessionLayer {
    /// Client-side sessions: the data lives in the cookie, encoded by `codec`.
    ///
    /// The server keeps nothing, so it cannot end a session by itself:
    /// [`Session::destroy`](crate::Session::destroy) tells the browser to
    /// drop its cookie, but a copy of the cookie taken before (by another
    /// device, a proxy's log or a thief) stays a valid session until it
    /// expires. Revoking sessions, "log out everywhere" included, takes an
    /// application check ([`with_check`](Self::with_check)), e.g. a per-user
    /// version number kept on the server. Sessions cannot be listed
    /// ([`Session::user_sessions`](crate::Session::user_sessions) answers
    /// `Unsupported`).
    ///
    /// ```
    /// use session_core::{Key, SessionLayer, SignedCookie};
    ///
    /// let layer = SessionLayer::client_side(SignedCookie::new(&Key::generate().into()));
    /// # let _ = layer;
    /// ```
    pub fn client_side(codec: impl DataCodec) -> Self {
        Self::from_storage(Storage::Cookie(InCookie {
            codec: Arc::new(codec),
        }))
    }

    fn from_storage(storage: Storage) -> Self {
        let shared = Shared::new(storage, SessionConfig::default())
            .expect("the default configuration is valid");
        Self {
            shared: Arc::new(shared),
            store: None,
        }
    }
}

impl<St> SessionLayer<St> {
    /// Replaces the configuration.
    ///
    /// # Panics
    ///
    /// When the configuration's cookie name, path or domain cannot be sent
    /// in a `Set-Cookie` header ([`SessionConfig::validate`]): a mistake in
    /// the application's setup, reported once when the layer is built
    /// rather than on every response. Use
    /// [`try_with_config`](Self::try_with_config) for configuration that
    /// comes from outside the program.
    ///
    /// ```
    /// use session_core::{Key, SessionConfig, SessionLayer};
    /// use session_store_memory::MemoryStore;
    ///
    /// let layer = SessionLayer::new(MemoryStore::new(), Key::generate())
    ///     .with_config(SessionConfig::new().with_secure(false));
    /// # let _ = layer;
    /// ```
    #[track_caller]
    pub fn with_config(self, config: SessionConfig) -> Self {
        match self.try_with_config(config) {
            Ok(layer) => layer,
            Err(err) => panic!("SessionLayer::with_config: invalid session configuration: {err}"),
        }
    }

    /// Replaces the configuration, or says why its cookie name, path or
    /// domain cannot be sent ([`SessionConfig::validate`]).
    ///
    /// ```
    /// use session_core::{ConfigError, Key, SessionConfig, SessionLayer};
    /// use session_store_memory::MemoryStore;
    ///
    /// let layer = SessionLayer::new(MemoryStore::new(), Key::generate());
    /// let err = layer
    ///     .try_with_config(SessionConfig::new().with_cookie_name("sid; Domain=example.com"))
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::CookieName { .. }));
    /// ```
    pub fn try_with_config(self, config: SessionConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            shared: Arc::new(self.shared.reconfigured(config)?),
            store: self.store,
        })
    }

    /// The same layer with `change` applied to a copy of what it shares.
    fn with_shared(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = self
            .shared
            .reconfigured(self.shared.config.clone())
            .expect("the configuration in force is valid");
        change(&mut shared);
        Self {
            shared: Arc::new(shared),
            store: self.store,
        }
    }

    /// Encrypts session data at rest: wraps the layer's store in
    /// [`Encrypted`](crate::store::Encrypted), so every value the store
    /// holds is sealed with AES-256-GCM under a key derived from the first
    /// of `keys` (a fresh random nonce per value; the session's stored id
    /// and the value's key name are bound in, so a value moved to another
    /// session or key does not open), and the session's user binding,
    /// creation time and expiry policy are authenticated with it. Every key
    /// of the list opens what it sealed, so keys rotate without logging
    /// anyone out. Use keys of their own, not the cookie-signing keys. One
    /// key seals at most 2<sup>32</sup> values: put a new key first before
    /// (see [`Encrypted`](crate::store::Encrypted#keys-rotation-and-the-nonce-bound)).
    ///
    /// Values are sealed one by one, so saves still write only the keys a
    /// request changed. Key names, times and the user binding stay
    /// readable in the store. A stored session that does not verify (a
    /// value sealed under a removed key, a tampered or moved value, a plain
    /// value, a user, creation time or policy that differs from its sealed
    /// copy) is no session: the handler sees an empty session, the
    /// browser's cookie is removed, and a `WARN` event names the session's
    /// stored short hash. The store is strict: values that are not sealed
    /// are refused. To turn encryption on over a store that already holds
    /// plain sessions, wrap the store yourself with the opt-out instead:
    /// `SessionLayer::new(Encrypted::new(store, keys).allow_unsealed(), signing_keys)`
    /// ([`Encrypted::allow_unsealed`](crate::store::Encrypted::allow_unsealed)).
    /// Nothing gives freshness: someone who can write to the store can put
    /// back an older sealed value or record of the same session.
    ///
    /// Calling it again replaces the keys (the store is wrapped once).
    ///
    /// # Panics
    ///
    /// On a client-side layer ([`client_side`](Self::client_side)): the
    /// cookie is the store there; use [`EncryptedCookie`](crate::EncryptedCookie).
    ///
    /// ```
    /// use session_core::{Key, Keys, SessionLayer};
    /// use session_store_memory::MemoryStore;
    ///
    /// let data_keys = Keys::new(vec![Key::generate()])?; // e.g. Keys::from_env("SESSION_DATA_KEY")
    /// let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_data_keys(data_keys);
    /// # let _ = layer;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    #[track_caller]
    pub fn with_data_keys(self, keys: impl Into<Keys>) -> Self
    where
        St: SessionStore,
    {
        let (Some(store), Storage::Store(InStore { signer, .. })) =
            (&self.store, &self.shared.storage)
        else {
            panic!(
                "SessionLayer::with_data_keys: a client-side layer keeps data in the cookie; \
                 use EncryptedCookie to encrypt it"
            );
        };
        let sealed = Arc::new(LayerStore::Sealed(Encrypted::new(
            store.given().clone(),
            keys,
        )));
        let storage = Storage::Store(InStore {
            store: LayerStore::erased(&sealed),
            signer: signer.clone(),
        });
        Self {
            store: Some(sealed),
            ..self.with_shared(|shared| shared.storage = storage)
        }
    }

    /// Runs `check` on every session the layer loads; a session it answers
    /// `Ok(false)` for is ended, and an `Err` fails the request's session
    /// loads as a store outage does (`503`, nothing written; see
    /// [`SessionCheck`]). It runs once per request, when the handler first
    /// uses the session, for every kind of storage; with sessions in the
    /// cookie it is the only way to revoke them. It is only as strong as
    /// what it compares: a copy of a data cookie taken before a logout goes
    /// on working unless the check ends it, and a check that lets every
    /// session without a user through cannot end one that carries a login
    /// without a user (see [`SessionCheck`]).
    ///
    /// ```
    /// use session_core::{Key, LoadedSession, SessionLayer, SignedCookie};
    ///
    /// // Sessions issued before a (persisted) instant are over.
    /// let cutoff = session_core::time::OffsetDateTime::now_utc();
    /// let layer = SessionLayer::client_side(SignedCookie::new(&Key::generate().into()))
    ///     .with_check(move |session: LoadedSession| async move { Ok(session.created_at >= cutoff) });
    /// # let _ = layer;
    /// ```
    pub fn with_check(self, check: impl SessionCheck) -> Self {
        let check = Arc::new(Check(Box::new(check)));
        self.with_shared(|shared| shared.check = Some(check))
    }

    /// The configuration in force.
    ///
    /// ```
    /// use session_core::SessionLayer;
    /// # fn demo(layer: SessionLayer) {
    /// println!("cookie name: {}", layer.config().cookie_name());
    /// # }
    /// ```
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }
}

impl<S, St> Layer<S> for SessionLayer<St> {
    type Service = SessionService<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone(), self.store.clone())
    }
}
