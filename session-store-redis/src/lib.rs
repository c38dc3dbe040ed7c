//! A Redis [`SessionStore`] for [`session_core`], on one node or a Redis
//! Cluster.
//!
//! ```no_run
//! use session_core::{Key, SessionLayer};
//! use session_store_redis::RedisStore;
//!
//! # async fn demo() -> Result<(), session_core::store::StoreError> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
//! let layer = SessionLayer::new(store, Key::generate());
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! # When to pick Redis
//!
//! Pick it when several instances of an application must share sessions
//! (a load balancer may send each request of one visitor to another
//! instance), when sessions should survive a restart of the application, and
//! when you want expiry handled by the server rather than by a sweeper. Redis
//! answers in well under a millisecond on a local network, and every
//! operation of this store is a single round trip. Pick
//! `session-store-memory` for a single instance or tests, and
//! `session-store-sql` when sessions must be durable and you already run a
//! database (Redis keeps data in memory; whether it survives a Redis restart
//! depends on its persistence settings).
//!
//! # Key layout
//!
//! A session is one Redis **hash** at `prefix + id` (the prefix is
//! [`DEFAULT_PREFIX`], `"session:"`, unless [`RedisStore::with_prefix`] says
//! otherwise; the id is the 22-character text of [`Id::encode`]):
//!
//! | hash field | value |
//! |---|---|
//! | `created` | creation time, Unix milliseconds (decimal text) |
//! | `expires` | expiry time, Unix milliseconds (decimal text) |
//! | `d:` + *key* | the JSON text of the value of data key *key* |
//!
//! Every data key, whatever characters it holds (dots, `$`, quotes, the
//! empty string, any Unicode), becomes the field `d:` + key, so it never
//! clashes with the two metadata fields, and fields are binary safe. The
//! key carries a native expiry (`PEXPIREAT` to `expires`), so Redis itself
//! removes expired sessions: [`SessionStore::delete_expired`] has nothing to
//! do. Inspecting a session by hand is easy:
//!
//! ```text
//! 127.0.0.1:6379> HGETALL session:q3xN0cQvVb8kD1n3Qm0L7w
//! 1) "created"
//! 2) "1764132000000"
//! 3) "expires"
//! 4) "1765341600000"
//! 5) "d:user_count"
//! 6) "3"
//! ```
//!
//! # Round trips
//!
//! | operation | what is sent | round trips |
//! |---|---|---|
//! | load | `HGETALL` | 1 |
//! | create | `EVALSHA` of a script: `EXISTS`, else `HSET` + `PEXPIREAT` | 1 |
//! | save | `EVALSHA` of a script: if `EXISTS`, `HDEL` removed, `HSET` set + `expires`, `PEXPIREAT` | 1 |
//! | touch | `EVALSHA` of a script: if `EXISTS`, `HSET expires`, `PEXPIREAT` | 1 |
//! | delete | `DEL` | 1 |
//! | delete_expired | nothing (native expiry) | 0 |
//!
//! The scripts are sent by hash (`EVALSHA`); the first call on a server
//! that does not know a script yet costs one extra `SCRIPT LOAD`. A script
//! runs atomically, so a create never overwrites a live session (it reports
//! [`Created::IdTaken`]) and a save or touch never brings back a session
//! that was deleted or expired in the meantime (it reports [`Saved::Gone`]).
//! Because a save only writes the fields it names, two requests that change
//! different keys of one session at the same time both keep their writes.
//!
//! # Redis Cluster
//!
//! [`RedisStore::connect_cluster`] takes the addresses of some nodes (the
//! rest are discovered). All the data of one session lives under one key,
//! so every command touches one slot and needs no hash tags; sessions spread
//! evenly over the slots. Do not put a hash tag (`{...}`) in the prefix: it
//! would send every session to the same slot, that is, to one node.
//! [`parse_cluster_spec`] reads the `redis+cluster://host:port,host:port`
//! form that the example applications take in `SESSION_STORE`, and
//! [`RedisStore::connect_spec`] connects to either form.
//!
//! # Timeouts and faults
//!
//! Every operation is bounded by the store's timeout ([`DEFAULT_TIMEOUT`],
//! 2 seconds, or [`RedisStore::with_timeout`]): a Redis that is stopped,
//! hung, or unreachable makes the operation fail with
//! [`StoreError::Unavailable`] (the layer answers `503 Service
//! Unavailable`) instead of holding the request. Other Redis errors become
//! [`StoreError::Failed`]; a field that is not valid JSON, or a key that
//! holds something other than a session hash, becomes
//! [`StoreError::Corrupt`].
//!
//! On one node the store uses a [`ConnectionManager`], which replaces a
//! broken connection in the background. It is configured (see
//! [`RedisStore::connection_manager_config`]) to make one connection
//! attempt at a time, so that while Redis is down (connection refused)
//! operations fail at once rather than queue behind a long back-off, and
//! an operation whose connection turned out to be broken is sent once more
//! on a fresh connection, within the same timeout. So the first request
//! after Redis comes back already succeeds; the store never needs to be
//! rebuilt. Every operation is safe to send twice except, in a corner case,
//! create: if its first attempt was applied but the answer was lost, the
//! second reports [`Created::IdTaken`], the layer draws a fresh id, and the
//! first record simply expires unused.
//!
//! A connection can also stall without any error: a frozen Redis, or a
//! half-open TCP connection (a host that vanished, a firewall or NAT that
//! forgot the connection), which the OS may take many minutes to notice.
//! Operations then fail when the timeout runs out, and the store moves to a
//! fresh connection (at most once per timeout period), so one timed-out
//! request is the whole cost once the path to Redis works again.
//!
//! A cluster connection retries and follows slot moves on its own; the
//! timeout bounds those retries too. When one node is down, the sessions
//! it holds are [`StoreError::Unavailable`] (within a few tens of
//! milliseconds on a refused connection) while the sessions on the other
//! nodes keep working, provided the cluster is configured to serve partial
//! slot coverage (`cluster-require-full-coverage no`) or has replicas to
//! fail over to. When the node is back, the same store uses it again as
//! soon as the node reports the cluster healthy.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ErrorKind, FromRedisValue, RedisError, Script, ScriptInvocation, ServerErrorKind,
};
use serde_json::Value;
use session_core::store::{
    async_trait, ChangeSet, Created, Data, Record, Saved, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::Id;
use tokio::time::Instant;

pub use redis;

/// The prefix of every session key unless [`RedisStore::with_prefix`] sets
/// another: a session lives at `"session:" + id`.
///
/// ```
/// assert_eq!(session_store_redis::DEFAULT_PREFIX, "session:");
/// ```
pub const DEFAULT_PREFIX: &str = "session:";

/// How long one operation may take, connection included, unless
/// [`RedisStore::with_timeout`] sets another bound.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(session_store_redis::DEFAULT_TIMEOUT, Duration::from_secs(2));
/// ```
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The hash field holding the creation time (Unix milliseconds).
const CREATED: &str = "created";
/// The hash field holding the expiry (Unix milliseconds).
const EXPIRES: &str = "expires";
/// The prefix of every data field: data key `k` is field `d:k`.
const DATA: &str = "d:";

// The scripts below `HSET`/`HDEL` at most 100 fields per call: Lua's
// `unpack` has a limit on how many values it can spread.
const CREATE_SCRIPT: &str = r#"
-- KEYS[1]: session key. ARGV[1]: created ms, ARGV[2]: expires ms,
-- ARGV[3..]: data field, value, field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'created', ARGV[1], 'expires', ARGV[2])
local i = 3
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
"#;

const SAVE_SCRIPT: &str = r#"
-- KEYS[1]: session key. ARGV[1]: expires ms, ARGV[2]: n, the number of
-- pairs set; ARGV[3 .. 2+2n]: field, value, ...; the rest: fields removed.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local set_end = 2 + 2 * tonumber(ARGV[2])
local i = set_end + 1
while i <= #ARGV do
  local last = math.min(i + 199, #ARGV)
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
i = 3
while i <= set_end do
  local last = math.min(i + 199, set_end)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
redis.call('HSET', KEYS[1], 'expires', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"#;

const TOUCH_SCRIPT: &str = r#"
-- KEYS[1]: session key. ARGV[1]: expires ms.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], 'expires', ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"#;

struct Scripts {
    create: Script,
    save: Script,
    touch: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            create: Script::new(CREATE_SCRIPT),
            save: Script::new(SAVE_SCRIPT),
            touch: Script::new(TOUCH_SCRIPT),
        }
    }
}

#[derive(Clone)]
enum Conn {
    Single(Arc<Single>),
    Cluster(ClusterConnection),
}

/// One node: the connection manager in use, and what a replacement is made
/// of when the store built it itself.
struct Single {
    manager: Mutex<ConnectionManager>,
    rebuild: Option<(redis::Client, ConnectionManagerConfig)>,
    /// When the manager was last replaced.
    replaced: Mutex<Option<Instant>>,
}

impl Single {
    fn new(
        manager: ConnectionManager,
        rebuild: Option<(redis::Client, ConnectionManagerConfig)>,
    ) -> Self {
        Self {
            manager: Mutex::new(manager),
            rebuild,
            replaced: Mutex::new(None),
        }
    }

    fn manager(&self) -> ConnectionManager {
        lock(&self.manager).clone()
    }

    /// After a timeout: the connection may be stalled without the OS
    /// knowing (a half-open TCP connection), and the connection manager
    /// only replaces connections that report an error. So the store swaps
    /// in a fresh manager, which connects on first use; at most once per
    /// `timeout`, so that a Redis that is merely slow is not flooded with
    /// connections.
    fn replace_after_timeout(&self, timeout: Duration) {
        let Some((client, config)) = &self.rebuild else {
            return;
        };
        let mut replaced = lock(&self.replaced);
        if replaced.is_some_and(|at| at.elapsed() < timeout) {
            return;
        }
        if let Ok(fresh) = ConnectionManager::new_lazy_with_config(client.clone(), config.clone()) {
            *lock(&self.manager) = fresh;
            *replaced = Some(Instant::now());
        }
    }
}

/// Locks `mutex`, ignoring poisoning (the data is a handle, always valid).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
    conn: Conn,
    prefix: Arc<str>,
    timeout: Duration,
    scripts: Arc<Scripts>,
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
    /// malformed URL.
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
        let config = Self::connection_manager_config(DEFAULT_TIMEOUT);
        let manager = bounded(DEFAULT_TIMEOUT, async {
            ConnectionManager::new_with_config(client.clone(), config.clone())
                .await
                .map_err(classify)
        })
        .await?;
        Ok(Self::build(Conn::Single(Arc::new(Single::new(
            manager,
            Some((client, config)),
        )))))
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
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        if nodes.is_empty() {
            return Err(StoreError::failed("no Redis Cluster node address given"));
        }
        let client = ClusterClient::builder(nodes)
            .connection_timeout(DEFAULT_TIMEOUT)
            .response_timeout(DEFAULT_TIMEOUT)
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(classify)?;
        let conn = bounded(DEFAULT_TIMEOUT, async {
            client.get_async_connection().await.map_err(classify)
        })
        .await?;
        Ok(Self::from_cluster_connection(conn))
    }

    /// Connects to what `spec` names: `redis://…` or `rediss://…` for one
    /// server ([`connect`](Self::connect)), `redis+cluster://host:port,host:port`
    /// for a cluster ([`connect_cluster`](Self::connect_cluster), see
    /// [`parse_cluster_spec`]).
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
        if spec.starts_with(CLUSTER_SCHEME) || spec.starts_with(CLUSTER_TLS_SCHEME) {
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
        Self::build(Conn::Single(Arc::new(Single::new(manager, None))))
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
        Self::build(Conn::Cluster(conn))
    }

    fn build(conn: Conn) -> Self {
        Self {
            conn,
            prefix: Arc::from(DEFAULT_PREFIX),
            timeout: DEFAULT_TIMEOUT,
            scripts: Arc::new(Scripts::new()),
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
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None)
            .set_number_of_retries(0)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100))
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
        matches!(self.conn, Conn::Cluster(_))
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

    /// Sends `call`, bounded by the timeout; on one node, an operation whose
    /// connection broke is sent once more (the connection manager has begun
    /// a fresh connection by then).
    async fn run<T: FromRedisValue>(&self, call: Call<'_>) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.timeout;
        let attempt = |conn: Conn| {
            let call = &call;
            async move {
                match conn {
                    Conn::Single(single) => call.send(&mut single.manager()).await,
                    Conn::Cluster(mut c) => call.send(&mut c).await,
                }
            }
        };
        let timed_out = || {
            if let Conn::Single(single) = &self.conn {
                single.replace_after_timeout(self.timeout);
            }
            StoreError::unavailable(TimedOut(self.timeout))
        };
        let first = tokio::time::timeout_at(deadline, attempt(self.conn.clone()))
            .await
            .map_err(|_| timed_out())?;
        match first {
            Err(err) if !self.is_cluster() && err.is_connection_dropped() => {
                tokio::time::timeout_at(deadline, attempt(self.conn.clone()))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(classify)
            }
            other => other.map_err(classify),
        }
    }
}

/// One request to Redis: a plain command or a script invocation.
enum Call<'a> {
    Cmd(Cmd),
    Script(ScriptInvocation<'a>),
}

impl Call<'_> {
    async fn send<T: FromRedisValue>(
        &self,
        conn: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> redis::RedisResult<T> {
        match self {
            Call::Cmd(cmd) => cmd.query_async(conn).await,
            Call::Script(invocation) => invocation.invoke_async(conn).await,
        }
    }
}

/// Runs `fut` for at most `timeout`; past it, [`StoreError::Unavailable`].
async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| StoreError::unavailable(TimedOut(timeout)))?
}

/// Redis did not answer in time.
#[derive(Debug)]
struct TimedOut(Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Sorts a Redis error into the store's error kinds.
fn classify(err: RedisError) -> StoreError {
    if err.code() == Some("WRONGTYPE") {
        return StoreError::Corrupt(format!(
            "the session key holds something other than a session hash ({err})"
        ));
    }
    let unavailable = match err.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => true,
        // A redirect reaches us only when the cluster connection could not
        // follow it: the node that owns the slot is not reachable.
        ErrorKind::Server(kind) => matches!(
            kind,
            ServerErrorKind::Moved
                | ServerErrorKind::Ask
                | ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
        ),
        _ => err.code() == Some("BUSY"),
    };
    if unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::failed(err)
    }
}

/// Unix milliseconds (rounded down).
fn to_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos().div_euclid(1_000_000)) as i64
}

fn from_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn data_field(key: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(DATA.len() + key.len());
    field.extend_from_slice(DATA.as_bytes());
    field.extend_from_slice(key.as_bytes());
    field
}

fn json_text(value: &Value) -> String {
    // Serializing a `serde_json::Value` cannot fail: its map keys are strings.
    value.to_string()
}

fn corrupt(id: &Id, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("session {}: {what}", id.short_hash()))
}

fn parse_time(id: &Id, field: &str, raw: Option<&[u8]>) -> Result<OffsetDateTime, StoreError> {
    let raw = raw.ok_or_else(|| corrupt(id, format!("the `{field}` field is missing")))?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(from_ms)
        .ok_or_else(|| {
            corrupt(
                id,
                format!("the `{field}` field is not a time in Unix milliseconds"),
            )
        })
}

/// Decodes the fields of a session hash.
fn decode(id: &Id, fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Record, StoreError> {
    let mut created = None;
    let mut expires = None;
    let mut data = Data::new();
    for (field, value) in fields {
        if let Some(key) = field.strip_prefix(DATA.as_bytes()) {
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| corrupt(id, "a data field name is not UTF-8"))?;
            let value: Value = serde_json::from_slice(&value).map_err(|err| {
                corrupt(id, format!("the value of key {key:?} is not JSON ({err})"))
            })?;
            data.insert(key, value);
        } else if field == CREATED.as_bytes() {
            created = Some(value);
        } else if field == EXPIRES.as_bytes() {
            expires = Some(value);
        }
        // Other fields are not ours: ignored, so that a later version may
        // add metadata without breaking older readers.
    }
    let mut record = Record::new(
        *id,
        parse_time(id, CREATED, created.as_deref())?,
        parse_time(id, EXPIRES, expires.as_deref())?,
    );
    record.data = data;
    Ok(record)
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.key(id));
        let fields: Vec<(Vec<u8>, Vec<u8>)> = self.run(Call::Cmd(cmd)).await?;
        if fields.is_empty() {
            // No such key (or it expired: Redis removed it).
            return Ok(None);
        }
        decode(id, fields).map(Some)
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let mut invocation = self.scripts.create.key(self.key(&record.id));
        invocation
            .arg(to_ms(record.created_at))
            .arg(to_ms(record.expires_at));
        for (key, value) in &record.data {
            invocation.arg(data_field(key)).arg(json_text(value));
        }
        let inserted: i64 = self.run(Call::Script(invocation)).await?;
        Ok(if inserted == 1 {
            Created::Inserted
        } else {
            Created::IdTaken
        })
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        let mut invocation = self.scripts.save.key(self.key(id));
        invocation
            .arg(to_ms(changes.expires_at))
            .arg(changes.set.len());
        for (key, value) in &changes.set {
            invocation.arg(data_field(key)).arg(json_text(value));
        }
        for key in &changes.removed {
            invocation.arg(data_field(key));
        }
        let applied: i64 = self.run(Call::Script(invocation)).await?;
        Ok(saved(applied))
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        let mut invocation = self.scripts.touch.key(self.key(id));
        invocation.arg(to_ms(expires_at));
        let applied: i64 = self.run(Call::Script(invocation)).await?;
        Ok(saved(applied))
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(id));
        let _removed: i64 = self.run(Call::Cmd(cmd)).await?;
        Ok(())
    }
}

fn saved(applied: i64) -> Saved {
    if applied == 1 {
        Saved::Applied
    } else {
        Saved::Gone
    }
}

const CLUSTER_SCHEME: &str = "redis+cluster://";
const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";

/// The text given to [`parse_cluster_spec`] was not a cluster spec.
///
/// ```
/// use session_store_redis::parse_cluster_spec;
///
/// let err = parse_cluster_spec("redis://127.0.0.1:6379").unwrap_err();
/// assert!(err.to_string().contains("redis+cluster://"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSpecError(String);

impl fmt::Display for ParseSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseSpecError {}

/// Reads `redis+cluster://host:port,host:port,…` (or `rediss+cluster://`
/// for TLS) into the node URLs that [`RedisStore::connect_cluster`] takes.
/// Credentials before the first host (`redis+cluster://user:pass@h1:p,h2:p`)
/// apply to every node.
///
/// ```
/// use session_store_redis::parse_cluster_spec;
///
/// let nodes = parse_cluster_spec("redis+cluster://127.0.0.1:7000,127.0.0.1:7001")?;
/// assert_eq!(nodes, ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]);
///
/// let nodes = parse_cluster_spec("rediss+cluster://:secret@a:6379,b:6379")?;
/// assert_eq!(nodes, ["rediss://:secret@a:6379", "rediss://:secret@b:6379"]);
/// # Ok::<(), session_store_redis::ParseSpecError>(())
/// ```
pub fn parse_cluster_spec(spec: &str) -> Result<Vec<String>, ParseSpecError> {
    let (scheme, rest) = if let Some(rest) = spec.strip_prefix(CLUSTER_SCHEME) {
        ("redis://", rest)
    } else if let Some(rest) = spec.strip_prefix(CLUSTER_TLS_SCHEME) {
        ("rediss://", rest)
    } else {
        return Err(ParseSpecError(format!(
            "a Redis Cluster spec starts with `{CLUSTER_SCHEME}` (or `{CLUSTER_TLS_SCHEME}`), \
             e.g. `redis+cluster://127.0.0.1:7000,127.0.0.1:7001`"
        )));
    };
    let (auth, hosts) = match rest.rfind('@') {
        Some(at) => (&rest[..=at], &rest[at + 1..]),
        None => ("", rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}{auth}{host}"))
        .collect();
    if nodes.is_empty() {
        return Err(ParseSpecError(format!(
            "the Redis Cluster spec `{spec}` names no node: list them as host:port,host:port"
        )));
    }
    if let Some(bad) = hosts.split(',').map(str::trim).find(|h| h.contains('/')) {
        return Err(ParseSpecError(format!(
            "`{bad}` in the Redis Cluster spec is not host:port (a cluster has no database number)"
        )));
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_millisecond() {
        let now = OffsetDateTime::now_utc();
        let back = from_ms(to_ms(now)).unwrap();
        assert!(now - back < session_core::time::Duration::milliseconds(1));
        assert!(back <= now);
    }

    #[test]
    fn data_fields_never_clash_with_metadata() {
        assert_eq!(data_field("created"), b"d:created");
        assert_eq!(data_field(""), b"d:");
    }

    #[test]
    fn corrupt_values_are_reported_not_panicked() {
        let id = Id::random();
        let err = decode(
            &id,
            vec![
                (b"created".to_vec(), b"1".to_vec()),
                (b"expires".to_vec(), b"2".to_vec()),
                (b"d:x".to_vec(), b"{not json".to_vec()),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)));
        assert!(err.to_string().contains("\"x\""), "{err}");
        let err = decode(&id, vec![(b"d:x".to_vec(), b"1".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("created"), "{err}");
    }

    #[test]
    fn cluster_specs_parse() {
        assert_eq!(
            parse_cluster_spec("redis+cluster://a:1, b:2,").unwrap(),
            ["redis://a:1", "redis://b:2"]
        );
        assert_eq!(
            parse_cluster_spec("redis+cluster://u:p@a:1,b:2/").unwrap(),
            ["redis://u:p@a:1", "redis://u:p@b:2"]
        );
        assert!(parse_cluster_spec("redis+cluster://").is_err());
        assert!(parse_cluster_spec("redis+cluster://a:1/0").is_err());
        assert!(parse_cluster_spec("http://a:1").is_err());
    }
}
