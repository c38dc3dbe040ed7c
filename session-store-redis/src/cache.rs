//! The opt-in local cache of loads ([`RedisStore::with_local_cache`]),
//! kept coherent by Redis server-assisted client-side caching: a dedicated
//! RESP3 connection with `CLIENT TRACKING on`, on which every cached read
//! is made, and whose `invalidate` pushes drop entries. See [Local
//! cache](crate#local-cache) for the guarantee.
//!
//! [`RedisStore::with_local_cache`]: crate::RedisStore::with_local_cache

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use redis::aio::{AsyncPushSender, MultiplexedConnection, SendError};
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, Value};
use session_core::store::{Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::Id;

use crate::connection::classify;
use crate::fields;

/// The client name of a tracking connection (in `CLIENT LIST`).
const TRACKING_NAME: &str = "session-store-redis-cache";

/// How often the tracking connection is checked (a `PING`) while it is up,
/// and how often a lost one is reconnected.
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
    #[default]
    Pushed,
    /// A hit first sends a `PING` on the tracking connection and serves
    /// the entry only if it survived until the answer: every write that
    /// completed on any instance before the read began is seen. A hit costs
    /// one round trip of the cheapest command Redis has, instead of an
    /// `HGETALL`.
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
    /// The tracking connection was lost (or not yet made): the cache is
    /// empty and bypassed until it is back.
    Reconnecting,
    /// The server refused tracking (no RESP3 or no `CLIENT TRACKING`: Redis
    /// before 6, or an ACL): the store works uncached. The text says why.
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
    /// Times the whole cache was dropped: a lost tracking connection, or a
    /// flush pushed by Redis.
    pub flushes: u64,
    /// Entries held now (reads in flight included).
    pub entries: usize,
    /// The most entries it holds.
    pub max_entries: usize,
}

/// The cache of one store (clones of the store share it).
pub(crate) struct LocalCache {
    client: redis::Client,
    mode: CacheMode,
    max: usize,
    timeout: Duration,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidations: AtomicU64,
    flushes: AtomicU64,
}

struct Inner {
    link: Link,
    /// Which tracking connection is current; pushes of older ones may only
    /// drop entries.
    epoch: u64,
    slots: HashMap<Vec<u8>, Slot>,
    /// Keys in order of insertion, for eviction (may name dropped keys).
    order: VecDeque<Vec<u8>>,
    next_token: u64,
}

enum Link {
    Up(MultiplexedConnection),
    Down,
    Disabled(String),
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
        client: &redis::Client,
        max: usize,
        mode: CacheMode,
        timeout: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(classify)?;
        let cache = Arc::new(Self::new(client, max, mode, timeout));
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
    fn new(client: redis::Client, max: usize, mode: CacheMode, timeout: Duration) -> Self {
        Self {
            client,
            mode,
            max: max.max(1),
            timeout,
            inner: Mutex::new(Inner {
                link: Link::Down,
                epoch: 0,
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

    /// Makes a tracking connection and, if it is still wanted, makes it
    /// the current one.
    async fn connect(self: &Arc<Self>) -> Result<(), Failure> {
        let epoch = {
            let mut inner = lock(&self.inner);
            inner.epoch += 1;
            inner.epoch
        };
        let pushes = Pushes {
            cache: Arc::downgrade(self),
            epoch,
        };
        let config = AsyncConnectionConfig::new()
            .set_push_sender(pushes)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let made = tokio::time::timeout(self.timeout, async {
            let mut conn = self
                .client
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
        let conn = match made {
            Err(_) => return Err(Failure::Transient("timed out".into())),
            Ok(Err(err)) if is_refusal(&err) => return Err(Failure::Refused(err.to_string())),
            Ok(Err(err)) => return Err(Failure::Transient(err.to_string())),
            Ok(Ok(conn)) => conn,
        };
        let mut inner = lock(&self.inner);
        if inner.epoch == epoch && matches!(inner.link, Link::Down) {
            inner.link = Link::Up(conn);
        }
        Ok(())
    }

    /// The tracking connection `epoch` is lost (or may have missed pushes):
    /// drops every entry and bypasses the cache until a new one is made.
    fn lose(&self, epoch: u64, why: &str) {
        let mut inner = lock(&self.inner);
        if inner.epoch != epoch || !matches!(inner.link, Link::Up(_)) {
            return;
        }
        inner.link = Link::Down;
        inner.slots.clear();
        inner.order.clear();
        self.flushes.fetch_add(1, Ordering::Relaxed);
        drop(inner);
        tracing::warn!(
            "session-store-redis: the tracking connection was lost ({why}); \
             the local cache is flushed and bypassed until it is back"
        );
    }

    /// What Redis pushed on tracking connection `epoch`.
    fn on_push(&self, epoch: u64, info: PushInfo) {
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
            PushKind::Disconnection => self.lose(epoch, "disconnected"),
            _ => {}
        }
    }

    /// Loads the session at `key`: `None` when the cache is not serving
    /// (the caller loads uncached), else the answer.
    pub(crate) async fn load(
        &self,
        key: &str,
        id: &Id,
    ) -> Option<Result<Option<Record>, StoreError>> {
        let now = OffsetDateTime::now_utc();
        let (mut conn, epoch, hit) = {
            let mut inner = lock(&self.inner);
            if !matches!(inner.link, Link::Up(_)) {
                return None;
            }
            let hit = match inner.slots.get(key.as_bytes()) {
                Some(Slot::Ready(record)) if record.expires_at > now => {
                    if self.mode == CacheMode::Pushed {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        return Some(Ok(Some((**record).clone())));
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
            let Link::Up(conn) = &inner.link else {
                return None;
            };
            (conn.clone(), inner.epoch, hit)
        };
        if let Some(record) = hit {
            if self.fence(&mut conn, epoch, key, &record).await {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Some(Ok(Some((*record).clone())));
            }
        }
        let token = self.reserve(key, epoch)?;
        self.misses.fetch_add(1, Ordering::Relaxed);
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key);
        let read = tokio::time::timeout(
            self.timeout,
            cmd.query_async::<Vec<(Vec<u8>, Vec<u8>)>>(&mut conn),
        )
        .await;
        let fields = match read {
            Ok(Ok(fields)) => fields,
            Ok(Err(err)) if !is_link_error(&err) => {
                self.unreserve(key, token);
                return Some(Err(classify(err)));
            }
            failed => {
                let why = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "a read timed out".to_owned(),
                };
                self.lose(epoch, &why);
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

    /// A `PING` on the tracking connection ([`CacheMode::Fenced`]): the
    /// hit stands only if `record` is still the entry after its answer.
    async fn fence(
        &self,
        conn: &mut MultiplexedConnection,
        epoch: u64,
        key: &str,
        record: &Arc<Record>,
    ) -> bool {
        let ping =
            tokio::time::timeout(self.timeout, redis::cmd("PING").query_async::<()>(conn)).await;
        match ping {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                self.lose(epoch, &err.to_string());
                return false;
            }
            Err(_) => {
                self.lose(epoch, "a PING timed out");
                return false;
            }
        }
        let inner = lock(&self.inner);
        matches!(inner.slots.get(key.as_bytes()), Some(Slot::Ready(now)) if Arc::ptr_eq(now, record))
    }

    /// Marks a read of `key` in flight; `None` if the cache stopped
    /// serving meanwhile.
    fn reserve(&self, key: &str, epoch: u64) -> Option<u64> {
        let mut inner = lock(&self.inner);
        if inner.epoch != epoch || !matches!(inner.link, Link::Up(_)) {
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
        }
    }
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
    epoch: u64,
}

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        let cache = self.cache.upgrade().ok_or(SendError)?;
        cache.on_push(self.epoch, info);
        Ok(())
    }
}

/// Keeps the tracking connection checked (a `PING` every [`HEARTBEAT`]: a
/// connection that stalls without an error could miss pushes) and makes a
/// new one after a loss. Ends with the cache, or when tracking is refused.
async fn supervise(cache: Weak<LocalCache>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let link = {
            let inner = lock(&cache.inner);
            match &inner.link {
                Link::Up(conn) => Some((conn.clone(), inner.epoch)),
                Link::Down => None,
                Link::Disabled(_) => return,
            }
        };
        match link {
            Some((mut conn, epoch)) => {
                let ping = tokio::time::timeout(
                    cache.timeout,
                    redis::cmd("PING").query_async::<()>(&mut conn),
                )
                .await;
                match ping {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => cache.lose(epoch, &err.to_string()),
                    Err(_) => cache.lose(epoch, "a heartbeat PING timed out"),
                }
            }
            None => match cache.connect().await {
                Ok(()) => tracing::info!(
                    "session-store-redis: the tracking connection is back; the local cache serves again"
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

/// An answer that means the server does not do tracking (an unknown
/// command or subcommand, a refused protocol, an ACL), not a broken link.
fn is_refusal(err: &redis::RedisError) -> bool {
    !is_link_error(err) && err.code().is_some()
}

/// An error that leaves the connection's stream of pushes in doubt.
fn is_link_error(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
}

/// Locks `mutex`, ignoring poisoning (no code panics while holding it).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max: usize) -> LocalCache {
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        LocalCache::new(client, max, CacheMode::Pushed, Duration::from_secs(1))
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
