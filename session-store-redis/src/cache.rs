//! The opt-in local cache of loads ([`RedisStore::with_local_cache`]),
//! kept coherent by Redis server-assisted client-side caching: a dedicated
//! RESP3 connection with `CLIENT TRACKING on` (one per master on a
//! cluster, see [`cluster`]), on which every cached read is made, and
//! whose `invalidate` pushes drop entries. See [Local
//! cache](crate#local-cache) for the guarantee.
//!
//! [`RedisStore::with_local_cache`]: crate::RedisStore::with_local_cache

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::Id;

use crate::connection::{classify, lock};
use crate::fields;

mod cluster;

use cluster::{Seeds, Shards};

/// The client name of a tracking connection (in `CLIENT LIST`).
const TRACKING_NAME: &str = "session-store-redis-cache";

/// How often the tracking connection is checked (a `PING`; on a cluster a
/// `CLUSTER SLOTS` on each, which also checks the topology) while it is
/// up, and how often a lost one is reconnected.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How a cache hit is served. See [Local cache](crate#local-cache).
///
/// ```
/// use session_store_redis::CacheMode;
///
/// assert_eq!(CacheMode::default(), CacheMode::Pushed);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheMode {
    /// A hit costs no round trip. It reflects every invalidation the
    /// tracking connection has received before the hit; a write by another
    /// instance whose invalidation is still on its way (Redis queues it to
    /// this connection before it answers the writer, so it is in flight for
    /// about one network delivery) may be missed by a read made meanwhile.
    /// That includes a logout: measured on one machine, about a third of
    /// the reads made right after another instance's logout still served
    /// the session, and over a tracking connection that stalls silently
    /// about 3 s of reads did (see [Which mode](crate#which-mode)). Use
    /// [`Fenced`](Self::Fenced) for sessions that authenticate anyone.
    #[default]
    Pushed,
    /// A hit first sends a `PING` on the tracking connection and serves
    /// the entry only if it survived until the answer: every write that
    /// completed on any instance before the read began is seen. A hit costs
    /// one round trip of the cheapest command Redis has, instead of an
    /// `HGETALL`. A logout on any instance is seen by the very next
    /// request on every other: the mode for authenticated sessions.
    Fenced,
}

/// The state of a store's local cache, in [`CacheStats`].
///
/// ```
/// use session_store_redis::CacheState;
///
/// assert!(CacheState::Tracking.is_serving());
/// assert!(!CacheState::Off.is_serving());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheState {
    /// No cache was asked for.
    #[default]
    Off,
    /// Redis tracks what the cache holds: hits are served.
    Tracking,
    /// The tracking connection was lost or not yet made (on a cluster: the
    /// one of any master, or the slot map changed): the cache is empty and
    /// bypassed until tracking is back.
    Reconnecting,
    /// The server (on a cluster: any master) refused tracking (no RESP3 or
    /// no `CLIENT TRACKING`: Redis before 6, or an ACL): the store works
    /// uncached. The text says why.
    Disabled(String),
}

impl CacheState {
    /// Whether loads may be served from the cache now.
    ///
    /// ```
    /// use session_store_redis::CacheState;
    ///
    /// assert!(!CacheState::Reconnecting.is_serving());
    /// ```
    pub fn is_serving(&self) -> bool {
        matches!(self, CacheState::Tracking)
    }
}

/// Counters of a store's local cache ([`RedisStore::cache_stats`]).
///
/// ```no_run
/// use session_store_redis::RedisStore;
///
/// # async fn demo() -> Result<(), session_core::store::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1").await?.with_local_cache(10_000).await?;
/// let stats = store.cache_stats();
/// println!("{} hits, {} misses, {:?}", stats.hits, stats.misses, stats.state);
/// # Ok(())
/// # }
/// ```
///
/// [`RedisStore::cache_stats`]: crate::RedisStore::cache_stats
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Whether the cache serves loads, and why not.
    pub state: CacheState,
    /// Loads served from the cache.
    pub hits: u64,
    /// Loads the cache sent to Redis (and then kept, when they found a
    /// session). Loads made while the cache is not serving are not counted.
    pub misses: u64,
    /// Keys dropped by Redis's `invalidate` pushes (a write anywhere).
    pub invalidations: u64,
    /// Times the whole cache was dropped: a lost tracking connection, a
    /// changed slot map or a `MOVED` on a cluster, or a flush pushed by
    /// Redis.
    pub flushes: u64,
    /// Entries held now (reads in flight included).
    pub entries: usize,
    /// The most entries it holds.
    pub max_entries: usize,
    /// Tracking connections serving now: 1 on one node, one per master on a
    /// cluster, 0 while the cache is not serving.
    pub connections: usize,
}

/// Where a cache makes its tracking connections.
pub(crate) enum Target {
    /// One node, through this client.
    Single(redis::Client),
    /// A cluster, found through these node URLs: one connection per master.
    Cluster(Arc<[String]>),
}

/// The cache of one store (clones of the store share it).
pub(crate) struct LocalCache {
    target: Resp3,
    mode: CacheMode,
    max: usize,
    timeout: Duration,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

/// [`Target`] with its connections turned to RESP3.
enum Resp3 {
    Single(redis::Client),
    Cluster(Seeds),
}

struct Inner {
    link: Link,
    /// Bumped whenever the link comes up or is lost: a read begun under
    /// another generation keeps nothing. (Pushes of older connections may
    /// still drop entries.)
    generation: u64,
    /// The id of the next tracking connection made.
    next_line: u64,
    slots: HashMap<Vec<u8>, Slot>,
    /// Keys in order of insertion, for eviction (may name dropped keys).
    order: VecDeque<Vec<u8>>,
    next_token: u64,
}

enum Link {
    Up(Tracked),
    Down,
    Disabled(String),
}

/// The tracking connections a serving cache reads through.
#[derive(Clone)]
enum Tracked {
    Single(Line),
    /// One per master, and which master serves which slot.
    Cluster(Arc<Shards>),
}

impl Tracked {
    /// The connection `key` is read (and fenced) on; `None` when no tracked
    /// master serves its slot.
    fn line_for(&self, key: &str) -> Option<&Line> {
        match self {
            Tracked::Single(line) => Some(line),
            Tracked::Cluster(shards) => shards.line_for(key.as_bytes()),
        }
    }

    fn lines(&self) -> &[Line] {
        match self {
            Tracked::Single(line) => std::slice::from_ref(line),
            Tracked::Cluster(shards) => shards.lines(),
        }
    }

    fn is_cluster(&self) -> bool {
        matches!(self, Tracked::Cluster(_))
    }
}

/// One tracking connection, and its id (for its pushes and its loss).
#[derive(Clone)]
struct Line {
    conn: MultiplexedConnection,
    id: u64,
}

enum Slot {
    /// A read in flight on the tracking connection: its answer is kept only
    /// if nothing dropped this slot meanwhile.
    Pending(u64),
    Ready(Arc<Record>),
}

impl fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCache")
            .field("mode", &self.mode)
            .field("max", &self.max)
            .finish()
    }
}

/// Why a tracking connection could not be made.
enum Failure {
    /// The server refuses tracking: give up.
    Refused(String),
    /// Unreachable or timed out: try again later.
    Transient(String),
}

impl LocalCache {
    /// A cache of at most `max` entries reading through `client` (turned
    /// to RESP3); tries to make its tracking connection once, and leaves a
    /// task that keeps it up (it ends with the cache).
    pub(crate) async fn start(
        target: Target,
        max: usize,
        mode: CacheMode,
        timeout: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let target = match target {
            Target::Single(client) => {
                Resp3::Single(resp3_client(client.get_connection_info().clone())?)
            }
            Target::Cluster(nodes) => Resp3::Cluster(Seeds::new(&nodes)?),
        };
        let cache = Arc::new(Self::new(target, max, mode, timeout));
        match cache.connect().await {
            Ok(()) => {}
            Err(Failure::Refused(why)) => {
                tracing::warn!(
                    "session-store-redis: the server refuses client tracking ({why}); \
                     the local cache is disabled and the store works uncached"
                );
                lock(&cache.inner).link = Link::Disabled(why);
                return Ok(cache);
            }
            Err(Failure::Transient(why)) => {
                tracing::warn!(
                    "session-store-redis: no tracking connection yet ({why}); \
                     the local cache is bypassed until there is one"
                );
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Without the heartbeat a silently stalled connection would go
            // unnoticed: no cache rather than a cache that may be stale.
            let why = "no Tokio runtime to watch the tracking connection".to_owned();
            tracing::warn!("session-store-redis: {why}; the local cache is disabled");
            let mut inner = lock(&cache.inner);
            inner.link = Link::Disabled(why);
            inner.slots.clear();
            drop(inner);
            return Ok(cache);
        };
        runtime.spawn(supervise(Arc::downgrade(&cache)));
        Ok(cache)
    }

    /// A cache with no tracking connection yet.
    fn new(target: Resp3, max: usize, mode: CacheMode, timeout: Duration) -> Self {
        Self {
            target,
            mode,
            max: max.max(1),
            timeout,
            inner: Mutex::new(Inner {
                link: Link::Down,
                generation: 0,
                next_line: 0,
                slots: HashMap::new(),
                order: VecDeque::new(),
                next_token: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
        }
    }

    /// Makes the tracking connections (on a cluster, after asking it for
    /// its masters) and, if they are still wanted, serves through them.
    async fn connect(self: &Arc<Self>) -> Result<(), Failure> {
        let tracked = match &self.target {
            Resp3::Single(client) => Tracked::Single(self.open_line(client).await?),
            Resp3::Cluster(seeds) => {
                let topology = seeds.discover(self.timeout).await?;
                if topology.masters().is_empty() {
                    // Nothing to track yet, and no heartbeat would notice
                    // when slots are assigned: try again later.
                    return Err(Failure::Transient("the cluster serves no slots".into()));
                }
                let mut lines = Vec::with_capacity(topology.masters().len());
                for master in topology.masters() {
                    let client = seeds.client_for(master)?;
                    lines.push(self.open_line(&client).await?);
                }
                seeds.remember(&topology);
                Tracked::Cluster(Arc::new(Shards::new(topology, lines)))
            }
        };
        let mut inner = lock(&self.inner);
        if matches!(inner.link, Link::Down) {
            inner.link = Link::Up(tracked);
            inner.generation += 1;
        }
        Ok(())
    }

    /// Makes one tracking connection through `client`.
    async fn open_line(self: &Arc<Self>, client: &redis::Client) -> Result<Line, Failure> {
        let id = {
            let mut inner = lock(&self.inner);
            inner.next_line += 1;
            inner.next_line
        };
        let pushes = Pushes {
            cache: Arc::downgrade(self),
            line: id,
        };
        let config = AsyncConnectionConfig::new()
            .set_push_sender(pushes)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let made = tokio::time::timeout(self.timeout, async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(TRACKING_NAME)
                .query_async::<()>(&mut conn)
                .await?;
            redis::cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .query_async::<()>(&mut conn)
                .await?;
            Ok::<_, redis::RedisError>(conn)
        })
        .await;
        match made {
            Err(_) => Err(Failure::Transient("timed out".into())),
            Ok(Err(err)) => Err(Failure::of(err)),
            Ok(Ok(conn)) => Ok(Line { conn, id }),
        }
    }

    /// Tracking connection `line` (any, for `None`) is lost or may have
    /// missed pushes, or the cluster's topology changed: drops every entry
    /// and bypasses the cache until new connections are made.
    fn lose(&self, line: Option<u64>, why: &str) {
        let mut inner = lock(&self.inner);
        let Link::Up(tracked) = &inner.link else {
            return;
        };
        if line.is_some_and(|id| !tracked.lines().iter().any(|l| l.id == id)) {
            return;
        }
        inner.link = Link::Down;
        inner.generation += 1;
        inner.slots.clear();
        inner.order.clear();
        self.flushes.fetch_add(1, Ordering::Relaxed);
        drop(inner);
        tracing::warn!(
            "session-store-redis: the local cache lost its tracking ({why}); \
             it is flushed and bypassed until tracking is back"
        );
    }

    /// What Redis pushed on tracking connection `line`.
    fn on_push(&self, line: u64, info: PushInfo) {
        match info.kind {
            PushKind::Invalidate => {
                let mut keys = Vec::new();
                let mut flush = false;
                for value in info.data {
                    match value {
                        Value::Nil => flush = true,
                        Value::Array(items) => keys.extend(items),
                        other => keys.push(other),
                    }
                }
                let mut inner = lock(&self.inner);
                if flush {
                    inner.slots.clear();
                    inner.order.clear();
                    self.flushes.fetch_add(1, Ordering::Relaxed);
                }
                for key in keys {
                    if let Value::BulkString(key) = key {
                        if inner.slots.remove(&key[..]).is_some() {
                            self.invalidations.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            PushKind::Disconnection => self.lose(Some(line), "disconnected"),
            _ => {}
        }
    }

    /// A hit served in place, with no round trip ([`CacheMode::Pushed`]):
    /// what [`load`](Self::load) would answer, or `None` when `load` has
    /// more to do (a miss, a fence, a link that is down).
    pub(crate) fn load_now(&self, key: &str) -> Option<Result<Option<Record>, StoreError>> {
        if self.mode != CacheMode::Pushed {
            return None;
        }
        let now = OffsetDateTime::now_utc();
        let inner = lock(&self.inner);
        if !matches!(inner.link, Link::Up(_)) {
            return None;
        }
        #[cfg(feature = "metrics")]
        metrics::gauge!("session_redis_cache_entries").set(inner.slots.len() as f64);
        match inner.slots.get(key.as_bytes()) {
            Some(Slot::Ready(record)) if record.expires_at > now => self.served(record),
            _ => None,
        }
    }

    /// A hit, counted, and the answer it gives: a copy of `record`.
    fn served(&self, record: &Record) -> Option<Result<Option<Record>, StoreError>> {
        self.hits.fetch_add(1, Ordering::Relaxed);
        count_hit();
        Some(Ok(Some(record.clone())))
    }

    /// Loads the session at `key`: `None` when the cache is not serving
    /// (the caller loads uncached), else the answer.
    pub(crate) async fn load(
        &self,
        key: &str,
        id: &Id,
    ) -> Option<Result<Option<Record>, StoreError>> {
        let now = OffsetDateTime::now_utc();
        let (mut line, generation, hit, cluster) = {
            let mut inner = lock(&self.inner);
            if !matches!(inner.link, Link::Up(_)) {
                return None;
            }
            #[cfg(feature = "metrics")]
            metrics::gauge!("session_redis_cache_entries").set(inner.slots.len() as f64);
            let hit = match inner.slots.get(key.as_bytes()) {
                Some(Slot::Ready(record)) if record.expires_at > now => {
                    if self.mode == CacheMode::Pushed {
                        return self.served(record);
                    }
                    Some(record.clone())
                }
                Some(Slot::Ready(_)) => {
                    // Past its expiry: never served.
                    inner.slots.remove(key.as_bytes());
                    None
                }
                _ => None,
            };
            let Link::Up(tracked) = &inner.link else {
                return None;
            };
            let line = tracked.line_for(key)?.clone();
            (line, inner.generation, hit, tracked.is_cluster())
        };
        if let Some(record) = hit {
            match self.fence(&mut line, cluster, key, &record).await {
                Fence::Hit => return self.served(&record),
                Fence::Read => {}
                Fence::Bypass => return None,
            }
        }
        let token = self.reserve(key, generation)?;
        self.misses.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("session_redis_cache_misses_total").increment(1);
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key);
        let read = tokio::time::timeout(
            self.timeout,
            cmd.query_async::<Vec<(Vec<u8>, Vec<u8>)>>(&mut line.conn),
        )
        .await;
        let fields = match read {
            Ok(Ok(fields)) => fields,
            Ok(Err(err)) if err.is_cluster_error() => {
                // Not (or not yet) this master's key: nothing is kept, the
                // caller reads it uncached (following the redirect).
                self.unreserve(key, token);
                self.redirected(&err);
                return None;
            }
            Ok(Err(err)) if !is_link_error(&err) => {
                self.unreserve(key, token);
                return Some(Err(classify(err)));
            }
            failed => {
                let why = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "a read timed out".to_owned(),
                };
                self.lose(Some(line.id), &why);
                return None;
            }
        };
        let decoded = if fields.is_empty() {
            Ok(None)
        } else {
            fields::decode(id, fields)
        };
        match &decoded {
            Ok(Some(record)) => self.fill(key, token, record),
            _ => self.unreserve(key, token),
        }
        Some(decoded)
    }

    /// [`CacheMode::Fenced`]: a round trip on the tracking connection of
    /// the key's master, after which the hit stands only if `record` is
    /// still the entry. One node: a `PING`. A cluster: `EXISTS key`, which
    /// a node that no longer serves the key's slot (a master demoted by a
    /// failover, a slot moved away) answers with a redirect instead.
    async fn fence(
        &self,
        line: &mut Line,
        cluster: bool,
        key: &str,
        record: &Arc<Record>,
    ) -> Fence {
        let answer = if cluster {
            let mut exists = redis::cmd("EXISTS");
            exists.arg(key);
            tokio::time::timeout(self.timeout, exists.query_async::<Value>(&mut line.conn)).await
        } else {
            tokio::time::timeout(
                self.timeout,
                redis::cmd("PING").query_async::<Value>(&mut line.conn),
            )
            .await
        };
        match answer {
            Ok(Ok(Value::Int(0))) => return Fence::Read,
            Ok(Ok(_)) => {}
            Ok(Err(err)) if err.is_cluster_error() => {
                self.redirected(&err);
                return Fence::Bypass;
            }
            Ok(Err(err)) => {
                self.lose(Some(line.id), &err.to_string());
                return Fence::Bypass;
            }
            Err(_) => {
                self.lose(Some(line.id), "a fence timed out");
                return Fence::Bypass;
            }
        }
        let inner = lock(&self.inner);
        if matches!(inner.slots.get(key.as_bytes()), Some(Slot::Ready(now)) if Arc::ptr_eq(now, record))
        {
            Fence::Hit
        } else {
            Fence::Read
        }
    }

    /// A tracked master answered a redirect: a `MOVED` means the slot map
    /// the cache routes by is out of date, so the cache stops serving until
    /// it has asked the cluster again (an `ASK`, a slot being migrated, or
    /// a `TRYAGAIN` or `CLUSTERDOWN` only sends this read to Redis).
    fn redirected(&self, err: &redis::RedisError) {
        if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::Moved) {
            self.lose(None, "a tracked master no longer serves a slot (MOVED)");
        }
    }

    /// Marks a read of `key` in flight; `None` if the cache stopped
    /// serving meanwhile.
    fn reserve(&self, key: &str, generation: u64) -> Option<u64> {
        let mut inner = lock(&self.inner);
        if inner.generation != generation || !matches!(inner.link, Link::Up(_)) {
            return None;
        }
        inner.next_token += 1;
        let token = inner.next_token;
        if !inner.slots.contains_key(key.as_bytes()) {
            while inner.slots.len() >= self.max {
                let Some(old) = inner.order.pop_front() else {
                    break;
                };
                inner.slots.remove(&old);
            }
            inner.order.push_back(key.as_bytes().to_vec());
            if inner.order.len() > 2 * self.max {
                // Most of the queue names dropped keys: keep the live ones.
                let Inner { order, slots, .. } = &mut *inner;
                order.retain(|key| slots.contains_key(key));
            }
        }
        inner
            .slots
            .insert(key.as_bytes().to_vec(), Slot::Pending(token));
        Some(token)
    }

    /// Keeps `record`, read for `token`, if nothing dropped its slot.
    fn fill(&self, key: &str, token: u64, record: &Record) {
        let mut inner = lock(&self.inner);
        if let Some(slot) = inner.slots.get_mut(key.as_bytes()) {
            if matches!(slot, Slot::Pending(t) if *t == token) {
                *slot = Slot::Ready(Arc::new(record.clone()));
            }
        }
    }

    fn unreserve(&self, key: &str, token: u64) {
        let mut inner = lock(&self.inner);
        if matches!(inner.slots.get(key.as_bytes()), Some(Slot::Pending(t)) if *t == token) {
            inner.slots.remove(key.as_bytes());
        }
    }

    /// Drops the entry of `key` (and a read of it in flight): called before
    /// and after every write of this store to it.
    fn forget(&self, key: &str) {
        lock(&self.inner).slots.remove(key.as_bytes());
    }

    /// Drops the entries of `user`'s sessions and every read in flight.
    fn forget_user(&self, user: &str) {
        lock(&self.inner).slots.retain(|_, slot| match slot {
            Slot::Ready(record) => record.user.as_deref() != Some(user),
            Slot::Pending(_) => false,
        });
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let inner = lock(&self.inner);
        CacheStats {
            state: match &inner.link {
                Link::Up(_) => CacheState::Tracking,
                Link::Down => CacheState::Reconnecting,
                Link::Disabled(why) => CacheState::Disabled(why.clone()),
            },
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            entries: inner.slots.len(),
            max_entries: self.max,
            connections: match &inner.link {
                Link::Up(tracked) => tracked.lines().len(),
                _ => 0,
            },
        }
    }
}

/// Counts a read the cache answered (feature `metrics`).
#[inline]
fn count_hit() {
    #[cfg(feature = "metrics")]
    metrics::counter!("session_redis_cache_hits_total").increment(1);
}

/// Drops the entries of some keys (or of a user's sessions) when made and
/// again when dropped: held across a write.
pub(crate) struct Forget {
    cache: Arc<LocalCache>,
    what: Forgotten,
}

enum Forgotten {
    Keys(Vec<String>),
    User(String),
}

impl Forget {
    pub(crate) fn new(cache: Arc<LocalCache>, keys: Vec<String>) -> Self {
        let forget = Self {
            cache,
            what: Forgotten::Keys(keys),
        };
        forget.apply();
        forget
    }

    pub(crate) fn user(cache: Arc<LocalCache>, user: &str) -> Self {
        let forget = Self {
            cache,
            what: Forgotten::User(user.to_owned()),
        };
        forget.apply();
        forget
    }

    fn apply(&self) {
        match &self.what {
            Forgotten::Keys(keys) => keys.iter().for_each(|key| self.cache.forget(key)),
            Forgotten::User(user) => self.cache.forget_user(user),
        }
    }
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.apply();
    }
}

/// Receives the pushes of one tracking connection; applies them in the
/// connection's reader, before it hands out any later answer.
struct Pushes {
    cache: Weak<LocalCache>,
    line: u64,
}

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        let cache = self.cache.upgrade().ok_or(SendError)?;
        cache.on_push(self.line, info);
        Ok(())
    }
}

/// Keeps the tracking connections checked (every [`HEARTBEAT`]: a
/// connection that stalls without an error could miss pushes; on a cluster
/// the check asks each master for the slot map, and a map other than the
/// one the cache routes by stops the cache) and makes new ones after a
/// loss. Ends with the cache, or when tracking is refused.
async fn supervise(cache: Weak<LocalCache>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let tracked = match &lock(&cache.inner).link {
            Link::Up(tracked) => Some(tracked.clone()),
            Link::Down => None,
            Link::Disabled(_) => return,
        };
        match tracked {
            Some(Tracked::Single(mut line)) => {
                let ping = tokio::time::timeout(
                    cache.timeout,
                    redis::cmd("PING").query_async::<()>(&mut line.conn),
                )
                .await;
                match ping {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => cache.lose(Some(line.id), &err.to_string()),
                    Err(_) => cache.lose(Some(line.id), "a heartbeat PING timed out"),
                }
            }
            Some(Tracked::Cluster(shards)) => {
                if let Err((line, why)) = shards.check(cache.timeout).await {
                    cache.lose(line, &why);
                }
            }
            None => match cache.connect().await {
                Ok(()) => tracing::info!(
                    "session-store-redis: tracking is back; the local cache serves again"
                ),
                Err(Failure::Refused(why)) => {
                    tracing::warn!(
                        "session-store-redis: the server now refuses client tracking ({why}); \
                         the local cache is disabled"
                    );
                    lock(&cache.inner).link = Link::Disabled(why);
                    return;
                }
                Err(Failure::Transient(_)) => {}
            },
        }
    }
}

/// What a fence found.
enum Fence {
    /// The entry stands.
    Hit,
    /// The entry is gone (or the key is): read it.
    Read,
    /// The cache stopped serving, or the key's master is changing: read
    /// it uncached.
    Bypass,
}

impl Failure {
    fn of(err: redis::RedisError) -> Self {
        if is_refusal(&err) {
            Failure::Refused(err.to_string())
        } else {
            Failure::Transient(err.to_string())
        }
    }
}

/// An answer that means the server does not do tracking (an unknown
/// command or subcommand, a refused protocol, an ACL), not a broken link
/// nor a cluster in flux.
fn is_refusal(err: &redis::RedisError) -> bool {
    !is_link_error(err)
        && !err.is_cluster_error()
        && err.kind() != redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
        && err.code().is_some()
}

/// A client for `info`, in RESP3 (pushes need it).
fn resp3_client(info: redis::ConnectionInfo) -> Result<redis::Client, StoreError> {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(settings)).map_err(classify)
}

/// An error that leaves the connection's stream of pushes in doubt.
fn is_link_error(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: usize) -> LocalCache {
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        LocalCache::new(
            Resp3::Single(client),
            max,
            CacheMode::Pushed,
            Duration::from_secs(1),
        )
    }

    fn record(id: Id, expires_in: i64, user: Option<&str>) -> Record {
        let now = OffsetDateTime::now_utc();
        let expires = now + session_core::time::Duration::seconds(expires_in);
        let mut record = Record::new(id, now, expires);
        record.user = user.map(str::to_owned);
        record
    }

    #[test]
    fn pushes_and_writes_drop_fills_in_flight() {
        let cache = cache(10);
        // A read in flight whose key is invalidated keeps nothing.
        let token = {
            let mut inner = lock(&cache.inner);
            inner.next_token += 1;
            inner.slots.insert(b"k".to_vec(), Slot::Pending(1));
            inner.next_token
        };
        cache.on_push(
            1,
            PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Array(vec![Value::BulkString(b"k".to_vec())])],
            },
        );
        cache.fill("k", token, &record(Id::random(), 60, None));
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().invalidations, 1);
    }

    #[test]
    fn forgetting_a_user_drops_their_entries_and_reads_in_flight() {
        let cache = cache(10);
        {
            let mut inner = lock(&cache.inner);
            let ann = Arc::new(record(Id::random(), 60, Some("ann")));
            let bob = Arc::new(record(Id::random(), 60, Some("bob")));
            inner.slots.insert(b"a".to_vec(), Slot::Ready(ann));
            inner.slots.insert(b"b".to_vec(), Slot::Ready(bob));
            inner.slots.insert(b"p".to_vec(), Slot::Pending(7));
        }
        cache.forget_user("ann");
        let inner = lock(&cache.inner);
        assert_eq!(inner.slots.len(), 1);
        assert!(inner.slots.contains_key(&b"b"[..]));
    }

    #[test]
    fn a_flush_push_or_a_lost_link_empties_the_cache() {
        let cache = cache(10);
        lock(&cache.inner)
            .slots
            .insert(b"a".to_vec(), Slot::Pending(1));
        cache.on_push(
            1,
            PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Nil],
            },
        );
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().flushes, 1);
        // Garbage in a push is ignored, never a panic.
        cache.on_push(
            1,
            PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Int(3), Value::Array(vec![Value::Okay])],
            },
        );
    }
}
