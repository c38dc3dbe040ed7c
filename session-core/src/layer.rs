//! [`SessionLayer`]: the tower layer that gives every request a [`Session`](crate::Session).

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::cookies::CookieWriter;
use crate::lock::SessionLocks;
use crate::{ConfigError, DataCodec, Keys, SessionConfig, SessionService, SessionStore, SignedId};

/// Where sessions live: in a store (the cookie holds a signed id) or in
/// the cookie itself.
#[derive(Clone)]
pub(crate) enum SessionStorage {
    /// Server-side: the cookie holds a signed id.
    Server {
        store: Arc<dyn SessionStore>,
        signer: SignedId,
    },
    /// Client-side: the cookie holds the data.
    Client { codec: Arc<dyn DataCodec> },
}

impl fmt::Debug for SessionStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionStorage::Server { store, .. } => f.debug_tuple("Server").field(store).finish(),
            SessionStorage::Client { codec } => f.debug_tuple("Client").field(codec).finish(),
        }
    }
}

/// What the layer, its services and every session of a request share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) cookie_name: String,
    pub(crate) writer: CookieWriter,
    pub(crate) storage: SessionStorage,
    pub(crate) locks: Option<Arc<SessionLocks>>,
}

impl Shared {
    fn new(storage: SessionStorage, config: SessionConfig) -> Result<Self, ConfigError> {
        let writer = CookieWriter::new(&config)?;
        let locks = config.serialize.then(Arc::default);
        Ok(Self {
            cookie_name: writer.name().to_owned(),
            writer,
            config,
            storage,
            locks,
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
#[derive(Clone, Debug)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
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
    pub fn new(store: impl SessionStore, keys: impl Into<Keys>) -> Self {
        Self::from_storage(SessionStorage::Server {
            store: Arc::new(store),
            signer: SignedId::new(&keys.into()),
        })
    }

    /// Client-side sessions: the data lives in the cookie, encoded by `codec`.
    ///
    /// ```
    /// use session_core::{Key, SessionLayer, SignedCookie};
    ///
    /// let layer = SessionLayer::client_side(SignedCookie::new(&Key::generate().into()));
    /// # let _ = layer;
    /// ```
    pub fn client_side(codec: impl DataCodec) -> Self {
        Self::from_storage(SessionStorage::Client {
            codec: Arc::new(codec),
        })
    }

    fn from_storage(storage: SessionStorage) -> Self {
        let shared = Shared::new(storage, SessionConfig::default())
            .expect("the default configuration is valid");
        Self {
            shared: Arc::new(shared),
        }
    }

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
            shared: Arc::new(Shared::new(self.shared.storage.clone(), config)?),
        })
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

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService::new(inner, self.shared.clone())
    }
}
