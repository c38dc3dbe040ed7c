//! The store: [`RedisStore`], its settings, and the session operations.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::FromRedisValue;
use session_core::store::{
    async_trait, unix_millis, Capabilities, ChangeSet, Created, CycleStore, Cycled, ExpiredCleanup,
    LeaseStore, Record, Saved, SessionLease, SessionStore, StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::Id;

use crate::cache::{CacheMode, CacheStats, Forget, LocalCache};
use crate::cluster::{is_cluster_spec, parse_cluster_spec};
use crate::connection::{self, classify, Call, Conn, DEFAULT_TIMEOUT};
use crate::fields::{
    self, data_field, json_text, policy_text, user_text, CREATED, EXPIRES, POLICY, USER,
};
use crate::lease::{DEFAULT_LEASE, DEFAULT_LOCK_WAIT};
use crate::scripts::Scripts;
use crate::sweep::{Sweep, DEFAULT_INDEX_SWEEP};

/// The prefix of every session key unless [`RedisStore::with_prefix`] sets
/// another: a session lives at `"session:" + id`.
///
/// ```
/// assert_eq!(session_store_redis::DEFAULT_PREFIX, "session:");
/// ```
pub const DEFAULT_PREFIX: &str = "session:";

/// Sessions in Redis (one node) or a Redis Cluster, one hash per session,
/// expired by Redis itself. Clones share the connection.
///
/// See the [crate documentation](crate) for the key layout, the round trips
/// and the behaviour when Redis is away.
///
/// ```no_run
/// use std::time::Duration;
/// use session_store_redis::RedisStore;
///
/// # async fn demo() -> Result<(), session_core::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("myapp:session:")
///     .with_timeout(Duration::from_millis(500));
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) conn: Conn,
    prefix: Arc<str>,
    timeout: Duration,
    lease: Duration,
    lock_wait: Duration,
    pub(crate) scripts: Arc<Scripts>,
    cache: Option<Arc<LocalCache>>,
    pub(crate) sweep: Arc<Sweep>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field(
                "mode",
                &if self.is_cluster() {
                    "cluster"
                } else {
                    "single"
                },
            )
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("lease", &self.lease)
            .field("lock_wait", &self.lock_wait)
            .field("cache", &self.cache)
            .field("index_sweep", &self.sweep.period())
            .finish()
    }
}

impl RedisStore {
    /// Connects to one Redis server, e.g. `redis://127.0.0.1:6379`,
    /// `redis://:password@host:6379/2` or `rediss://host` (TLS needs one of
    /// the `redis` crate's TLS features).
    ///
    /// Fails with [`StoreError::Unavailable`] if the server cannot be
    /// reached within [`DEFAULT_TIMEOUT`], and [`StoreError::Failed`] for a
    /// malformed URL. Errors never carry the URL's user or password.
    ///
    /// ```no_run
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(classify)?;
        Self::connect_client(client).await
    }

    /// Connects to one Redis server through a [`redis::Client`] you built
    /// (for settings a URL cannot carry), with
    /// [`connection_manager_config`](Self::connection_manager_config).
    /// Like [`connect`](Self::connect), the store can then replace a
    /// connection that stopped answering.
    ///
    /// ```no_run
    /// use session_store_redis::{redis, RedisStore};
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let info: redis::ConnectionInfo = "redis://127.0.0.1:6379".parse()?;
    /// let client = redis::Client::open(info)?;
    /// let store = RedisStore::connect_client(client).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_client(client: redis::Client) -> Result<Self, StoreError> {
        Conn::connect_client(client).await.map(Self::build)
    }

    /// Connects to a Redis Cluster through some of its nodes (the others
    /// are discovered), e.g. `["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]`.
    ///
    /// Fails with [`StoreError::Unavailable`] if no node answers within
    /// [`DEFAULT_TIMEOUT`].
    ///
    /// ```no_run
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect_cluster([
    ///     "redis://127.0.0.1:7000",
    ///     "redis://127.0.0.1:7001",
    ///     "redis://127.0.0.1:7002",
    /// ])
    /// .await?;
    /// assert!(store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        Conn::connect_cluster(nodes).await.map(Self::build)
    }

    /// Connects to what `spec` names: `redis://…` or `rediss://…` for one
    /// server ([`connect`](Self::connect)), `redis+cluster://host:port,host:port`
    /// for a cluster ([`connect_cluster`](Self::connect_cluster), see
    /// [`parse_cluster_spec`]). Errors never carry the spec's user or
    /// password, so they are safe to print when the application starts.
    ///
    /// ```no_run
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let spec = std::env::var("SESSION_STORE").unwrap_or("redis://127.0.0.1:6379".into());
    /// let store = RedisStore::connect_spec(&spec).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_spec(spec: &str) -> Result<Self, StoreError> {
        if is_cluster_spec(spec) {
            let nodes = parse_cluster_spec(spec).map_err(StoreError::failed)?;
            Self::connect_cluster(nodes).await
        } else {
            Self::connect(spec).await
        }
    }

    /// A store on a connection manager you built yourself. Give it
    /// [`connection_manager_config`](Self::connection_manager_config) so that
    /// it fails fast and recovers as described in the crate docs. Unlike
    /// [`connect`](Self::connect) and
    /// [`connect_client`](Self::connect_client), the store cannot replace
    /// this manager: a connection that stops answering without an error (a
    /// half-open TCP connection) then times out until the OS gives up on it.
    ///
    /// ```no_run
    /// use session_store_redis::{redis, RedisStore, DEFAULT_TIMEOUT};
    ///
    /// # async fn demo() -> redis::RedisResult<()> {
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let config = RedisStore::connection_manager_config(DEFAULT_TIMEOUT);
    /// let manager = client.get_connection_manager_with_config(config).await?;
    /// let store = RedisStore::from_connection_manager(manager);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::build(Conn::from_manager(manager))
    }

    /// A store on a cluster connection you built yourself.
    ///
    /// ```no_run
    /// use session_store_redis::{redis, RedisStore};
    ///
    /// # async fn demo() -> redis::RedisResult<()> {
    /// let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7000"])?;
    /// let store = RedisStore::from_cluster_connection(client.get_async_connection().await?);
    /// assert!(store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_cluster_connection(conn: ClusterConnection) -> Self {
        Self::build(Conn::from_cluster_connection(conn))
    }

    fn build(conn: Conn) -> Self {
        Self {
            conn,
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            lease: DEFAULT_LEASE,
            lock_wait: DEFAULT_LOCK_WAIT,
            scripts: Arc::new(Scripts::new()),
            cache: None,
            sweep: Sweep::new(Some(DEFAULT_INDEX_SWEEP)),
        }
    }

    /// The connection manager settings [`connect`](Self::connect) uses:
    /// connection attempts time out after `timeout`, one attempt per
    /// reconnection (the store resends an operation whose connection broke,
    /// so a long back-off would only delay answers while Redis is down), and
    /// no response timeout of its own (the store's timeout bounds every
    /// operation).
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_store_redis::RedisStore;
    ///
    /// let config = RedisStore::connection_manager_config(Duration::from_secs(1));
    /// assert_eq!(config.connection_timeout(), Some(Duration::from_secs(1)));
    /// assert_eq!(config.number_of_retries(), 0);
    /// ```
    pub fn connection_manager_config(timeout: Duration) -> ConnectionManagerConfig {
        connection::manager_config(timeout)
    }

    /// Keeps sessions under `prefix` instead of [`DEFAULT_PREFIX`] (several
    /// applications can share one Redis with different prefixes). On a
    /// cluster, keep hash tags (`{…}`) out of it.
    ///
    /// ```no_run
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1").await?.with_prefix("shop:sess:");
    /// assert_eq!(store.prefix(), "shop:sess:");
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Bounds every operation, a reconnection included, by `timeout`
    /// instead of [`DEFAULT_TIMEOUT`]; past it the operation fails with
    /// [`StoreError::Unavailable`].
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1")
    ///     .await?
    ///     .with_timeout(Duration::from_millis(300));
    /// assert_eq!(store.timeout(), Duration::from_millis(300));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long a lease on a session lasts ([`DEFAULT_LEASE`]) and how
    /// long a request waits for another's ([`DEFAULT_LOCK_WAIT`]). Leases
    /// serialize the requests of one session across every instance that
    /// shares this Redis, when the layer is configured with
    /// [`with_serialized_requests(true)`](session_core::SessionConfig::with_serialized_requests);
    /// see [Serialized requests](crate#serialized-requests). Pick a lease
    /// longer than your slowest request: a request that outlives its lease
    /// is no longer alone.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use session_core::{Key, SessionConfig, SessionLayer};
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1")
    ///     .await?
    ///     .with_lease(Duration::from_secs(30), Duration::from_secs(2));
    /// assert_eq!(store.lease(), Duration::from_secs(30));
    /// assert_eq!(store.lock_wait(), Duration::from_secs(2));
    /// let layer = SessionLayer::new(store, Key::generate())
    ///     .with_config(SessionConfig::new().with_serialized_requests(true));
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_lease(mut self, lease: Duration, wait: Duration) -> Self {
        self.lease = lease;
        self.lock_wait = wait;
        self
    }

    /// Sweeps the user indexes of this prefix every `period` (`None`: never)
    /// instead of every [`DEFAULT_INDEX_SWEEP`]. The sweep starts with the
    /// first session this store binds to a user (the first one a period
    /// later), runs on a Tokio task until the store and all its clones are
    /// dropped, and prunes every index as
    /// [`delete_expired`](ExpiredCleanup::delete_expired) does; the
    /// instances sharing a prefix take turns (a key, `prefix + "sweep"`,
    /// set for one period), so it runs once per period in all. It is what
    /// makes the index of a user who never comes back disappear: indexes
    /// have no expiry of their own (see [User index](crate#user-index)).
    /// With `None`, call `delete_expired` yourself now and then
    /// ([`spawn_cleanup`](Self::spawn_cleanup)).
    ///
    /// # Panics
    ///
    /// If `period` is zero.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use session_store_redis::RedisStore;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1")
    ///     .await?
    ///     .with_index_sweep(Some(Duration::from_secs(15 * 60)));
    /// assert_eq!(store.index_sweep(), Some(Duration::from_secs(15 * 60)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_index_sweep(mut self, period: Option<Duration>) -> Self {
        assert!(
            period != Some(Duration::ZERO),
            "RedisStore::with_index_sweep: the period must not be zero (None turns the sweep off)"
        );
        self.sweep = Sweep::new(period);
        self
    }

    /// How often the store sweeps the user indexes (`None`: never).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.index_sweep(), Some(session_store_redis::DEFAULT_INDEX_SWEEP));
    /// # Ok(())
    /// # }
    /// ```
    pub fn index_sweep(&self) -> Option<Duration> {
        self.sweep.period()
    }

    /// How long a lease on a session lasts.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.lease(), session_store_redis::DEFAULT_LEASE);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How long a request waits for another's lease on its session.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.lock_wait(), session_store_redis::DEFAULT_LOCK_WAIT);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// The key prefix.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.prefix(), "session:");
    /// # Ok(())
    /// # }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bound on one operation.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.timeout(), session_store_redis::DEFAULT_TIMEOUT);
    /// # Ok(())
    /// # }
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the store talks to a Redis Cluster.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert!(!store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// The Redis key of session `id`: the prefix and [`Id::encode`].
    ///
    /// ```no_run
    /// use session_core::Id;
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// let id = Id::from_bytes([0; 16]);
    /// assert_eq!(store.key(&id), "session:AAAAAAAAAAAAAAAAAAAAAA");
    /// # Ok(())
    /// # }
    /// ```
    pub fn key(&self, id: &Id) -> String {
        let mut key = String::with_capacity(self.prefix.len() + Id::ENCODED_LEN);
        key.push_str(&self.prefix);
        key.push_str(&id.encode());
        key
    }

    /// Serves [`load`](SessionStore::load) from an in-process cache of at
    /// most `max_entries` sessions, kept coherent across instances by
    /// Redis's client-side caching support (`CLIENT TRACKING`, Redis 6 or
    /// later), in [`CacheMode::Pushed`]: a read-only request whose session
    /// is cached costs no round trip. See [Local cache](crate#local-cache)
    /// for what it guarantees. In this mode a session logged out on another
    /// instance can still be served here for a moment (about a third of
    /// the reads made right after the logout, measured; seconds if the
    /// tracking connection stalls): for sessions that authenticate anyone,
    /// use [`with_local_cache_mode`](Self::with_local_cache_mode) with
    /// [`CacheMode::Fenced`] (see [Which mode](crate#which-mode)).
    ///
    /// It opens one more connection (RESP3), on which cached reads are
    /// made. A server that refuses tracking leaves the store uncached: a
    /// warning is logged and [`cache_stats`](Self::cache_stats) says
    /// [`CacheState::Disabled`](crate::CacheState::Disabled). On a Redis
    /// Cluster it opens one such connection per master (see [Local cache in
    /// a cluster](crate#local-cache-in-a-cluster)). Fails with
    /// [`StoreError::Failed`] on a store made by
    /// [`from_connection_manager`](Self::from_connection_manager) or
    /// [`from_cluster_connection`](Self::from_cluster_connection) (it has
    /// no client or node list to connect with). Call it once, after the other settings
    /// (the cache keeps the timeout it was given).
    ///
    /// ```no_run
    /// use session_store_redis::{CacheState, RedisStore};
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_local_cache(100_000)
    ///     .await?;
    /// assert_eq!(store.cache_stats().state, CacheState::Tracking);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_local_cache(self, max_entries: usize) -> Result<Self, StoreError> {
        self.with_local_cache_mode(max_entries, CacheMode::Pushed)
            .await
    }

    /// [`with_local_cache`](Self::with_local_cache) in a chosen
    /// [`CacheMode`]: [`CacheMode::Fenced`] makes every hit see every write
    /// that completed before it began, for one `PING` per hit.
    ///
    /// ```no_run
    /// use session_store_redis::{CacheMode, RedisStore};
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_local_cache_mode(100_000, CacheMode::Fenced)
    ///     .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn with_local_cache_mode(
        mut self,
        max_entries: usize,
        mode: CacheMode,
    ) -> Result<Self, StoreError> {
        let Some(target) = self.conn.tracking_target() else {
            return Err(StoreError::failed(
                "the local cache needs a store made by connect, connect_client or connect_cluster",
            ));
        };
        self.cache = Some(LocalCache::start(target, max_entries, mode, self.timeout).await?);
        Ok(self)
    }

    /// Runs [`delete_expired`](ExpiredCleanup::delete_expired) now and then
    /// every `period` on a Tokio task, until the handle is aborted
    /// ([`session_core::store::spawn_cleanup`]). Redis expires sessions by
    /// itself; this prunes what they leave in the user index, so the index
    /// of a user who never comes back does not keep dead entries. The
    /// store's own sweep ([`with_index_sweep`](Self::with_index_sweep))
    /// already does this once an hour across all instances; this task runs
    /// on this instance, whatever the others do.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, or if `period` is zero.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use session_store_redis::RedisStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let cleanup = store.spawn_cleanup(Duration::from_secs(15 * 60));
    /// // ... serve ...
    /// cleanup.abort();
    /// # Ok(()) }
    /// ```
    pub fn spawn_cleanup(&self, period: std::time::Duration) -> tokio::task::JoinHandle<()> {
        session_core::store::spawn_cleanup(self.clone(), period)
    }

    /// The local cache's counters and state ([`CacheState::Off`] without
    /// one).
    ///
    /// ```no_run
    /// use session_store_redis::{CacheState, RedisStore};
    ///
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.cache_stats().state, CacheState::Off);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`CacheState::Off`]: crate::CacheState::Off
    pub fn cache_stats(&self) -> CacheStats {
        self.cache
            .as_ref()
            .map(|cache| cache.stats())
            .unwrap_or_default()
    }

    /// Before a write to the sessions `ids`: drops their cache entries now
    /// and again when the guard is dropped (after the write was answered,
    /// failed or was cancelled), so that this store reads its own writes
    /// and no read in flight keeps what the write replaced.
    fn forgetting(&self, ids: &[&Id]) -> Option<Forget> {
        let cache = self.cache.as_ref()?;
        Some(Forget::new(
            cache.clone(),
            ids.iter().map(|id| self.key(id)).collect(),
        ))
    }

    /// Sends `call` on the store's connection, bounded by its timeout.
    pub(crate) async fn run<T: FromRedisValue>(&self, call: Call<'_>) -> Result<T, StoreError> {
        self.conn.run(call, self.timeout).await
    }
}

impl SessionStore for RedisStore {
    /// A hit of the local cache in [`CacheMode::Pushed`] (served with no
    /// round trip); `None` otherwise.
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        self.cache.as_ref()?.load_now(&self.key(id))
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let key = self.key(id);
        if let Some(cache) = &self.cache {
            if let Some(answer) = cache.load(&key, id).await {
                return answer;
            }
        }
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&key);
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(Call::Cmd(cmd)).await?;
        if fields.is_empty() {
            // No such key (or it expired: Redis removed it).
            return Ok(None);
        }
        if fields::is_leftover(&fields) {
            // What a save or touch that lost to a logout left (see
            // `write_live`): no session, and it never becomes one.
            self.delete_leftover(&key).await;
            return Ok(None);
        }
        fields::decode(id, fields)
    }

    /// A bound record is added to its user's index first (one more round
    /// trip), then created.
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let _forget = self.forgetting(&[&record.id]);
        Ok(match self.insert(record).await? {
            Inserted::Yes => Created::Inserted,
            Inserted::Taken | Inserted::Tombstone => Created::IdTaken,
        })
    }

    /// A save that binds the session adds it to the user's index first
    /// (one more round trip); one that unbinds or rebinds it removes it
    /// from the former user's index afterwards, in the background.
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        let _forget = self.forgetting(&[id]);
        let user = changes.user.as_ref().map(Option::as_deref);
        let indexed = match user {
            Some(Some(user)) => self.index_add(user, id).await?,
            _ => 0,
        };
        let mut set = Vec::with_capacity(changes.set.len() + 2);
        let mut removed: Vec<Vec<u8>> = changes.removed.iter().map(|k| data_field(k)).collect();
        match changes.expiry.as_ref().map(Option::as_ref) {
            None => {}
            Some(None) => removed.push(POLICY.into()),
            Some(Some(policy)) => set.push((POLICY.into(), policy.to_stored())),
        }
        match user {
            None => {}
            Some(None) => removed.push(USER.into()),
            Some(Some(user)) => set.push((USER.into(), user.to_owned())),
        }
        for (key, value) in &changes.set {
            set.push((data_field(key), json_text(value)));
        }
        // An expiry the layer kept is already stored: not written again.
        let expiry = if changes.expiry_kept {
            Expires::Kept(changes.expires_at)
        } else {
            Expires::New(changes.expires_at)
        };
        let Some(written) = self
            .write_live(id, expiry, set, removed, user.is_some())
            .await?
        else {
            return Ok(Saved::Gone);
        };
        if user.is_none() {
            return Ok(Saved::Applied);
        }
        if let Some(before) = written.user_before {
            if Some(&before[..]) != user.flatten().map(str::as_bytes) {
                self.forget_later(before, id);
            }
        }
        self.after_bind(user.flatten(), indexed);
        Ok(Saved::Applied)
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        let _forget = self.forgetting(&[id]);
        let written = self
            .write_live(id, Expires::New(expires_at), Vec::new(), Vec::new(), false)
            .await?;
        Ok(if written.is_some() {
            Saved::Applied
        } else {
            Saved::Gone
        })
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        let _forget = self.forgetting(&[id]);
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(id));
        let _removed: i64 = self.run(Call::Cmd(cmd)).await?;
        Ok(())
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
            .with_cycle(self)
            .with_users(self)
            .with_leases(self)
            .with_cleanup(self)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

#[async_trait]
impl CycleStore for RedisStore {
    /// On one node, one script moves the session atomically. In a cluster
    /// the old and the new key are in different slots, which no script
    /// or transaction can span, so it runs in two steps: create the new
    /// session, then end the old one if it is still live, in one script
    /// that says whether it was (if not, the new one is deleted:
    /// [`Cycled::Gone`]).
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        let _forget = self.forgetting(&[old, &record.id]);
        if self.is_cluster() {
            return self.cycle_in_two_steps(old, record).await;
        }
        let indexed = self.index_record(record).await?;
        let mut invocation = self.scripts.cycle.key(self.key(old));
        invocation.key(self.key(&record.id));
        record_args(&mut invocation, record);
        let outcome: i64 = self.run(Call::Script(invocation)).await?;
        Ok(match outcome {
            1 => {
                self.after_bind(record.user.as_deref(), indexed);
                Cycled::Moved
            }
            2 => Cycled::IdTaken,
            _ => Cycled::Gone,
        })
    }
}

#[async_trait]
impl UserIndex for RedisStore {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.list_user_sessions(user).await
    }

    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        let _forget = self
            .cache
            .as_ref()
            .map(|cache| Forget::user(cache.clone(), user));
        self.delete_user_sessions(user, keep).await
    }

    /// The end script of `delete_user` on this one id: a live session
    /// bound to `user` is replaced by a tombstone (see
    /// [User index](crate#user-index)).
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let _forget = self.forgetting(&[id]);
        let ended = self.end_bound(user, id).await?;
        if ended {
            self.forget_later(user.as_bytes().to_vec(), id);
        }
        Ok(ended)
    }
}

#[async_trait]
impl LeaseStore for RedisStore {
    /// A lease key per session (see [Serialized
    /// requests](crate#serialized-requests)).
    async fn lock(&self, id: &Id) -> Result<Box<dyn SessionLease>, StoreError> {
        let lease = self.take_lease(id).await?;
        // The previous holder's write may have landed an instant ago, its
        // invalidation still on its way: the load that follows reads Redis.
        drop(self.forgetting(&[id]));
        Ok(Box::new(lease))
    }
}

#[async_trait]
impl ExpiredCleanup for RedisStore {
    /// Redis expires sessions itself; this prunes the user indexes instead
    /// (every index of the prefix, found with `SCAN` on every master) and
    /// returns how many index entries of ended sessions it removed.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.prune_every_index().await
    }
}

impl RedisStore {
    /// The write of a save or touch: one pipeline of plain commands on the
    /// session's hash (no `MULTI`/`EXEC`, no script), in this order:
    ///
    /// 1. `HGET user` when `read_user`: the binding before this write;
    /// 2. `HSET` of `expires` and the `set` fields, `HDEL` of the `removed`
    ///    ones;
    /// 3. `HINCRBY created 0`: the creation time of a live session, left
    ///    as it is; `0` when there is none (the key is gone, or is a stub),
    ///    and then the field is created as `0`, which marks the hash as a
    ///    *stub*;
    /// 4. `PEXPIREAT` to the new expiry.
    ///
    /// When the expiry is [`Expires::Kept`] (a save whose expiry the layer
    /// kept, [`ChangeSet::expiry_kept`]) the `expires` field is not written
    /// (and step 2's `HSET` is sent only when there are fields to set), and
    /// step 4 is `PEXPIREAT … NX`, which sets an expiry only on a key that
    /// has none (Redis 7.0 or later): a live session always has one, so
    /// the stored expiry stands; a stub this write made of a key that was
    /// gone gets the expiry the layer computed. So even when the `DEL`
    /// that removes such a stub is lost with its connection, the stub
    /// expires, as every key this store writes does.
    ///
    /// Each command is atomic, the pipeline is not: another client's
    /// command (a `DEL` of a logout, Redis expiring the key) can land
    /// between any two of them. Every such interleaving is safe, because
    /// only the create and cycle scripts ever write a non-zero `created`,
    /// and only into a key that does not exist:
    ///
    /// - gone before 2: the `HSET` makes a hash without `created`, which
    ///   step 3 turns into a stub and answers `0`; step 4 gives it the
    ///   expiry; the store reports [`Saved::Gone`] and deletes it.
    /// - gone between 2 and 3: the write landed in the live session, which
    ///   the `DEL` then removed, fields and all; step 3 makes a stub of the
    ///   empty key and answers `0`: [`Saved::Gone`], the stub deleted as
    ///   above. (The save did happen before the logout; reporting it gone
    ///   is what the session is now, and the response then carries no
    ///   cookie, as for any save that lost to a logout.)
    /// - gone between 3 and 4: step 3 answered the live creation time, so
    ///   the write landed in the live session before the `DEL`, which
    ///   removed it; `PEXPIREAT` of a missing key does nothing.
    ///   [`Saved::Applied`]: the save happened before the logout, which
    ///   wins.
    /// - gone after 4: the ordinary logout after a save.
    ///
    /// So a non-zero answer in step 3 means that steps 2 and 3 both found
    /// the live session (the key existed throughout, and nothing can
    /// recreate a live hash in between), and no write ever brings back a
    /// session that was deleted or expired: what it leaves behind is a
    /// stub, which reads as absent everywhere, carries the expiry it was
    /// given, and is deleted at once. Every later save or touch of it
    /// again answers `0`, so a retry of this pipeline after a broken
    /// connection (the connection resends it once) reports
    /// [`Saved::Gone`] too. A
    /// pipeline cut short between steps 2 and 4 by a broken connection (a
    /// network failure inside the one write that carries it) and not
    /// resent can leave a hash without `created`, or a stub, without an
    /// expiry: readers treat a hash without `created` as no session, and
    /// [`load`](SessionStore::load) deletes both kinds when it finds them.
    ///
    /// Two concurrent saves of one session may interleave too: each
    /// `HSET` only names the fields its change set names, so different
    /// keys both survive, and on one key the later `HSET` wins, as
    /// before. The `expires` field and the key's expiry may then come
    /// from two different saves (one's `HSET`, the other's `PEXPIREAT`),
    /// both from requests running at the same moment: the session ends
    /// at the earlier of the two (Redis expiry), or reads as expired from
    /// the `expires` field on (the layer checks it on load), whichever
    /// comes first. A `HGET user` may likewise read the binding before a
    /// concurrent rebind; the background removal from the former user's
    /// index spares an entry renewed within the grace period (a bind adds
    /// to the index before it writes the hash), as with any rebind race.
    ///
    /// Returns `None` when the session was gone.
    async fn write_live(
        &self,
        id: &Id,
        expiry: Expires,
        set: Vec<(Vec<u8>, String)>,
        removed: Vec<Vec<u8>>,
        read_user: bool,
    ) -> Result<Option<Written>, StoreError> {
        let key = self.key(id);
        let (expires, kept) = match expiry {
            Expires::New(at) => (Some(unix_millis(at)), None),
            Expires::Kept(at) => (None, Some(unix_millis(at))),
        };
        let mut cmds = Vec::with_capacity(5);
        if read_user {
            let mut hget = redis::cmd("HGET");
            hget.arg(&key).arg(USER);
            cmds.push(hget);
        }
        if expires.is_some() || !set.is_empty() {
            let mut hset = redis::cmd("HSET");
            hset.arg(&key);
            if let Some(expires) = expires {
                hset.arg(EXPIRES).arg(expires);
            }
            for (field, value) in set {
                hset.arg(field).arg(value);
            }
            cmds.push(hset);
        }
        if !removed.is_empty() {
            let mut hdel = redis::cmd("HDEL");
            hdel.arg(&key).arg(removed);
            cmds.push(hdel);
        }
        let probe = cmds.len();
        let mut hincrby = redis::cmd("HINCRBY");
        hincrby.arg(&key).arg(CREATED).arg(0);
        cmds.push(hincrby);
        let mut pexpireat = redis::cmd("PEXPIREAT");
        match (expires, kept) {
            (Some(expires), _) => pexpireat.arg(&key).arg(expires),
            // Only on a key without an expiry: never a live session (each
            // carries one), so the stored expiry stands; but a stub this
            // write made of a key that was gone gets one.
            (None, kept) => pexpireat.arg(&key).arg(kept).arg("NX"),
        };
        cmds.push(pexpireat);
        let mut answers: Vec<redis::Value> = self.run(Call::Cmds(cmds)).await?;
        let user_before = match (read_user, answers.first_mut()) {
            (true, Some(redis::Value::BulkString(user))) => Some(std::mem::take(user)),
            _ => None,
        };
        let created: i64 = match answers.into_iter().nth(probe) {
            Some(created) => {
                redis::from_redis_value(created).map_err(|err| classify(err.into()))?
            }
            None => return Err(StoreError::failed("Redis answered too few commands")),
        };
        if created != 0 {
            return Ok(Some(Written { user_before }));
        }
        self.delete_leftover(&key).await;
        Ok(None)
    }

    /// Deletes a stub, or a hash without `created`, at `key`: no session
    /// (nothing writes a live session's `created` but into a key that does
    /// not exist, so it cannot become one); but not the stub a cycle on a
    /// cluster leaves under the old id (its `moved` field), which a resent
    /// step of that cycle reads. Best effort: what a write leaves carries
    /// its expiry.
    async fn delete_leftover(&self, key: &str) {
        let invocation = self.scripts.drop_leftover.key(key);
        let _ = self.run::<i64>(Call::Script(invocation)).await;
    }

    /// The cycle of a cluster, where the two keys are in different slots:
    ///
    /// 1. create the new session (index entry first, as any bound create);
    /// 2. end the old one if it is still live, in one script that answers
    ///    whether it was (`scripts/cycle_out.lua`); if it was not (a
    ///    logout, `delete_user` or `end_user_session` came first), delete
    ///    the new one and answer [`Cycled::Gone`].
    ///
    /// Step 2 is one atomic step: an end of the old session lands either
    /// before it (the cycle answers `Gone`, the new session is deleted) or
    /// after it (it finds the old one already ended and answers so; the
    /// new session goes on). Between the steps both sessions are live; a
    /// `delete_user` sees the new one in the index (written in step 1) and
    /// ends it too. If the final delete fails (a broken connection), the
    /// error is returned and the new session, whose id nobody was given,
    /// is left to expire.
    ///
    /// A tombstone under the new id (an end of the user's sessions found
    /// it in the index, written in step 1, before the session was) makes
    /// step 1 write nothing, and the cycle answers `Gone`: it lost to that
    /// end, as the one-node script answers.
    async fn cycle_in_two_steps(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        match self.insert(record).await? {
            Inserted::Yes => {}
            Inserted::Taken => return Ok(Cycled::IdTaken),
            Inserted::Tombstone => return Ok(Cycled::Gone),
        }
        let mut invocation = self.scripts.cycle_out.key(self.key(old));
        invocation.arg(record.id.encode()).arg(self.grace_ms());
        let moved: i64 = self.run(Call::Script(invocation)).await?;
        if moved == 1 {
            return Ok(Cycled::Moved);
        }
        self.delete(&record.id).await?;
        Ok(Cycled::Gone)
    }

    /// The create script on `record` (after its index entry, for a bound
    /// record).
    async fn insert(&self, record: &Record) -> Result<Inserted, StoreError> {
        let indexed = self.index_record(record).await?;
        let mut invocation = self.scripts.create.key(self.key(&record.id));
        record_args(&mut invocation, record);
        let inserted: i64 = self.run(Call::Script(invocation)).await?;
        Ok(match inserted {
            1 => {
                self.after_bind(record.user.as_deref(), indexed);
                Inserted::Yes
            }
            2 => Inserted::Tombstone,
            _ => Inserted::Taken,
        })
    }

    /// Adds a bound `record` to its user's index (before it is written);
    /// returns the size of the index, 0 for an unbound record.
    async fn index_record(&self, record: &Record) -> Result<i64, StoreError> {
        match &record.user {
            Some(user) => self.index_add(user, &record.id).await,
            None => Ok(0),
        }
    }

    /// After a bind was written: prunes the user's index in the background
    /// when it holds other entries.
    fn after_bind(&self, user: Option<&str>, indexed: i64) {
        if let Some(user) = user {
            self.prune_later(user, indexed);
        }
    }
}

/// The arguments of the create and cycle scripts: created and expires
/// (Unix ms), the policy, the user, then every data field and its value.
fn record_args(invocation: &mut redis::ScriptInvocation<'_>, record: &Record) {
    invocation
        .arg(unix_millis(record.created_at))
        .arg(unix_millis(record.expires_at))
        .arg(policy_text(record.expiry.as_ref()))
        .arg(user_text(record.user.as_deref()));
    for (key, value) in &record.data {
        invocation.arg(data_field(key)).arg(json_text(value));
    }
}

/// The expiry a save or touch writes.
#[derive(Clone, Copy)]
enum Expires {
    /// A new expiry: the `expires` field and the key's expiry.
    New(OffsetDateTime),
    /// The stored expiry stands (the layer kept it, within its precision):
    /// neither is written, but a key without an expiry (a stub the write
    /// made) is given this one.
    Kept(OffsetDateTime),
}

/// What a save or touch that found its session live learnt.
struct Written {
    /// The `user` field before the write, when asked for.
    user_before: Option<Vec<u8>>,
}

/// What the create script did.
enum Inserted {
    Yes,
    /// The key holds something else: nothing written.
    Taken,
    /// The key holds a stub (a tombstone of an end of the user's
    /// sessions): nothing written.
    Tombstone,
}
