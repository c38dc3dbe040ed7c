//! Building a store and looking at it from outside: what no request runs.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use session_core::{Clock, SystemClock};

use crate::evict::Books;
use crate::{Inner, MemoryStore, SHARDS};

/// How many sessions [`MemoryStore::new`] keeps at most: 100,000, about
/// 20 MB for counter-sized sessions (about 200 bytes each; larger data
/// takes more).
///
/// ```
/// assert_eq!(session_store_memory::DEFAULT_CAPACITY, 100_000);
/// ```
pub const DEFAULT_CAPACITY: usize = 100_000;

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store on the system clock, bounded at
    /// [`DEFAULT_CAPACITY`] sessions.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::build(DEFAULT_CAPACITY, Arc::new(SystemClock))
    }

    fn build(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                capacity: capacity.max(1),
                clock,
                evicted: AtomicU64::new(0),
                books: Books::default(),
                full_sweep_at: AtomicI64::new(i64::MIN),
            }),
        }
    }

    /// Caps the store at `max_sessions` sessions in all (at least 1;
    /// `usize::MAX` for no bound); creates racing each other for the last
    /// places may leave a few more. When the store is
    /// full, a new session takes the place of an expired one, else of an
    /// anonymous one; only a new session bound to a user ever takes the
    /// place of another bound session, and only when no anonymous session
    /// is left: see [eviction](crate#eviction) for the order and what it
    /// protects. Call it on a new store: it starts empty.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_capacity_limit(10_000);
    /// # let _ = store;
    /// ```
    pub fn with_capacity_limit(self, max_sessions: usize) -> Self {
        Self::build(max_sessions, self.inner.clock.clone())
    }

    /// Uses `clock` for expiry (tests pass a `ManualClock`). Call it on a
    /// new store: it starts empty.
    ///
    /// ```
    /// use session_core::ManualClock;
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_clock(ManualClock::starting_now());
    /// # let _ = store;
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> Self {
        Self::build(self.inner.capacity, Arc::new(clock))
    }

    /// How many sessions are held, counting expired ones not yet swept.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// assert_eq!(MemoryStore::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.read().map.len()).sum()
    }

    /// Whether no session is held.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// assert!(MemoryStore::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many live sessions were evicted to respect the capacity limit.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// assert_eq!(MemoryStore::new().evicted(), 0);
    /// ```
    pub fn evicted(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }
}
