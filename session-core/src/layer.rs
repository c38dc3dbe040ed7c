//! [`SessionLayer`]: the tower layer that gives every request a [`Session`](crate::Session).

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::cookies::CookieWriter;
use crate::lock::SessionLocks;
use crate::{DataCodec, Keys, SessionConfig, SessionService, SessionStore, SignedId};

/// Where sessions live.
#[derive(Clone)]
pub(crate) enum Backend {
    /// Server-side: the cookie holds a signed id.
    Store {
        store: Arc<dyn SessionStore>,
        signer: SignedId,
    },
    /// Client-side: the cookie holds the data.
    Cookie { codec: Arc<dyn DataCodec> },
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Store { store, .. } => f.debug_tuple("Store").field(store).finish(),
            Backend::Cookie { codec } => f.debug_tuple("Cookie").field(codec).finish(),
        }
    }
}

/// What the layer, its services and every session of a request share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SessionConfig,
    pub(crate) cookie_name: String,
    pub(crate) writer: CookieWriter,
    pub(crate) backend: Backend,
    pub(crate) locks: Option<Arc<SessionLocks>>,
}

impl Shared {
    fn new(backend: Backend, config: SessionConfig) -> Self {
        let writer = CookieWriter::new(&config);
        let locks = config.serialize.then(Arc::default);
        Self {
            cookie_name: writer.name().to_owned(),
            writer,
            config,
            backend,
            locks,
        }
    }
}

/// The tower layer that gives every request a [`Session`](crate::Session).
///
/// Server-side, with a store (the cookie holds only a signed id):
///
/// ```
/// use axum::{routing::get, Router};
/// use session_core::{Key, Session, SessionConfig, SessionLayer};
/// # use session_core::{async_trait, ChangeSet, Created, Id, Record, Saved, SessionStore, StoreError};
/// # #[derive(Debug)] struct MyStore;
/// # #[async_trait] impl SessionStore for MyStore {
/// #   async fn load(&self, _: &Id) -> Result<Option<Record>, StoreError> { Ok(None) }
/// #   async fn create(&self, _: &Record) -> Result<Created, StoreError> { Ok(Created::Inserted) }
/// #   async fn save(&self, _: &Id, _: &ChangeSet) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
/// #   async fn touch(&self, _: &Id, _: time::OffsetDateTime) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
/// #   async fn delete(&self, _: &Id) -> Result<(), StoreError> { Ok(()) }
/// # }
///
/// async fn handler(session: Session) -> String {
///     let visits: u32 = session.get("visits").await.ok().flatten().unwrap_or(0);
///     let _ = session.insert("visits", visits + 1).await;
///     format!("visit {visits}")
/// }
///
/// let layer = SessionLayer::new(MyStore, Key::generate().into())
///     .with_config(SessionConfig::new().with_cookie_name("sid"));
/// let app: Router = Router::new().route("/", get(handler)).layer(layer);
/// ```
#[derive(Clone, Debug)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl SessionLayer {
    /// Sessions kept in `store`; the cookie holds the id signed with `keys`
    /// (the first key signs, every key verifies).
    ///
    /// ```
    /// use session_core::{Key, Keys, SessionLayer};
    /// # use session_core::{async_trait, ChangeSet, Created, Id, Record, Saved, SessionStore, StoreError};
    /// # #[derive(Debug)] struct MyStore;
    /// # #[async_trait] impl SessionStore for MyStore {
    /// #   async fn load(&self, _: &Id) -> Result<Option<Record>, StoreError> { Ok(None) }
    /// #   async fn create(&self, _: &Record) -> Result<Created, StoreError> { Ok(Created::Inserted) }
    /// #   async fn save(&self, _: &Id, _: &ChangeSet) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
    /// #   async fn touch(&self, _: &Id, _: time::OffsetDateTime) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
    /// #   async fn delete(&self, _: &Id) -> Result<(), StoreError> { Ok(()) }
    /// # }
    ///
    /// let keys = Keys::new(vec![Key::generate(), Key::generate()])?;
    /// let layer = SessionLayer::new(MyStore, keys);
    /// # let _ = layer;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn new(store: impl SessionStore, keys: Keys) -> Self {
        Self::from_backend(Backend::Store {
            store: Arc::new(store),
            signer: SignedId::new(&keys),
        })
    }

    /// Client-side sessions: the data lives in the cookie, encoded by `codec`.
    ///
    /// ```
    /// use session_core::{ClientSession, DataCodec, SessionLayer};
    /// # #[derive(Debug)] struct MyCodec;
    /// # impl DataCodec for MyCodec {
    /// #   fn encode(&self, _: &ClientSession) -> Result<String, session_core::Error> { Ok(String::new()) }
    /// #   fn decode(&self, _: &str) -> Option<ClientSession> { None }
    /// # }
    ///
    /// let layer = SessionLayer::client_side(MyCodec);
    /// # let _ = layer;
    /// ```
    pub fn client_side(codec: impl DataCodec) -> Self {
        Self::from_backend(Backend::Cookie {
            codec: Arc::new(codec),
        })
    }

    fn from_backend(backend: Backend) -> Self {
        Self {
            shared: Arc::new(Shared::new(backend, SessionConfig::default())),
        }
    }

    /// Replaces the configuration.
    ///
    /// ```
    /// use session_core::{SessionConfig, SessionLayer};
    /// # fn demo(layer: SessionLayer) -> SessionLayer {
    /// layer.with_config(SessionConfig::new().with_secure(false))
    /// # }
    /// ```
    pub fn with_config(self, config: SessionConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(self.shared.backend.clone(), config)),
        }
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
