//! An in-process [`SessionStore`] for [`session_core`].
//!
//! Sessions live in this process's memory: fast, and gone at restart. Use it
//! for one instance, development and tests; use Redis or SQL when several
//! instances must share sessions or sessions must survive a restart.
//!
//! - **Concurrent**: 64 shards, each behind its own read-write lock, so
//!   requests of different sessions rarely meet on a lock.
//! - **Expiring**: an expired session is never returned, and expired
//!   entries are swept shard by shard as new sessions arrive, so memory does
//!   not grow without bound.
//! - **Bounded**: at most [`DEFAULT_CAPACITY`] sessions unless told
//!   otherwise ([`MemoryStore::with_capacity_limit`]), the whole store
//!   counted as one; when it is full, a new session takes the place of an
//!   expired or *anonymous* one (see [eviction](#eviction)), never of a
//!   logged-in user's while anonymous sessions are held.
//!
//! ```
//! use session_core::{Key, SessionLayer};
//! use session_store_memory::MemoryStore;
//!
//! let layer = SessionLayer::new(MemoryStore::new(), Key::generate());
//! # let _ = layer;
//! ```
//!
//! # Eviction
//!
//! A session is *bound* when it belongs to a user
//! ([`Session::set_user`](session_core::Session::set_user), normally at
//! login) and *anonymous* otherwise. When the store is full, a new session
//! takes the place of:
//!
//! 1. an expired session of its own shard, if there is one; else
//! 2. an anonymous session: one that never came back after it was created
//!    before one that did, the one closest to expiry first, looked for in
//!    the new session's shard and then round the other shards; else, when
//!    the store holds no anonymous session at all,
//! 3. for a new *bound* session (a login without a session to move), a
//!    session of the user who holds the most sessions (the one closest to
//!    expiry of up to 16 of them), after a sweep of every expired session
//!    of the store (at most one such sweep a second). A new *anonymous*
//!    session is refused instead: `create` fails with
//!    [`StoreError::Unavailable`] (the layer answers `503`) and nobody is
//!    logged out.
//!
//! A login that gives an existing session a new id
//! ([`cycle`](CycleStore::cycle), what `set_user` + `cycle_id` does for
//! a visitor who has a session) takes no new place and evicts nothing.
//!
//! **What this protects.** A bound session is never evicted to make room
//! for an anonymous one. However many sessions a client creates without
//! logging in, and whatever it does with them (coming back, writing
//! again: an anonymous session stays anonymous), it displaces only
//! anonymous sessions, so every logged-in user keeps their session as
//! long as the bound sessions alone fit in the capacity.
//!
//! **What it does not protect.**
//! - *Anonymous visitors.* A flood of new sessions displaces theirs (a
//!   cart, a counter). "Came back" only orders anonymous sessions against
//!   a naive flood; a client that comes back once with each of its
//!   sessions is a returning visitor too. A per-client budget (rate
//!   limiting, by address or otherwise, the routes that create sessions)
//!   is the application's business; the store cannot tell clients apart.
//! - *Logins beyond the capacity.* When bound sessions alone fill the
//!   store, every new login ends a session of the user with the most
//!   sessions, and anonymous writes get `503` until sessions end or expire.
//!   An attacker who can log in to one account (or a few) mostly ends its
//!   own sessions that way; one who can log in to as many accounts as the
//!   capacity holds, each with no more sessions than a real user has, can
//!   log real users out. Size the capacity well above the logged-in
//!   sessions you expect (a counter-sized session takes about 200 bytes)
//!   and rate limit logins.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use compact_str::CompactString;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use session_core::store::{
    async_trait, from_unix_millis, unix_millis, Capabilities, ChangeSet, Created, CycleStore,
    Cycled, Data, ExpiredCleanup, Record, Saved, SessionStore, StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{Clock, Expiry, Id, SystemClock};

const SHARDS: usize = 64;

/// How many sessions [`MemoryStore::new`] keeps at most: 100,000, about
/// 20 MB for counter-sized sessions (about 200 bytes each; larger data
/// takes more).
///
/// ```
/// assert_eq!(session_store_memory::DEFAULT_CAPACITY, 100_000);
/// ```
pub const DEFAULT_CAPACITY: usize = 100_000;
/// A shard is swept for expired entries after this many creates in it.
const SWEEP_EVERY: u32 = 64;
/// How many sessions of the user with the most are compared (by expiry)
/// when a bound session must be evicted.
const BOUND_CANDIDATES: usize = 16;
/// The least time between two sweeps of the whole store made to spare a
/// bound session, in milliseconds.
const FULL_SWEEP_EVERY_MS: i64 = 1_000;

/// One session, kept compact: a counter session takes about 200 bytes
/// with its share of the table (the data as a boxed slice of pairs, times
/// as Unix milliseconds, the rare parts boxed).
struct Entry {
    /// The data, in the session's key order: a slice of pairs (keys of up
    /// to 24 bytes inline, without an allocation of their own) instead of a
    /// map (whose index table and spare capacity cost more than small
    /// sessions hold).
    data: Pairs,
    created_at: i64,
    expires_at: i64,
    /// What few sessions have (an expiry policy, a user), boxed so the
    /// others pay one pointer for it.
    extra: Option<Box<Extra>>,
    /// The session was loaded, saved, touched or cycled after it was
    /// created: a visitor that came back. Of anonymous sessions, eviction
    /// takes the others first.
    returned: AtomicBool,
}

/// The rarer parts of an [`Entry`].
#[derive(Default)]
struct Extra {
    expiry: Option<Expiry>,
    /// The user the session is bound to, listed in [`Users`].
    user: Option<Arc<str>>,
}

/// Session data as an [`Entry`] keeps it.
type Pairs = Box<[(CompactString, Value)]>;

fn pairs(data: &Data) -> Pairs {
    data.iter()
        .map(|(key, value)| (CompactString::from(key.as_str()), value.clone()))
        .collect()
}

fn data(pairs: &Pairs) -> Data {
    pairs
        .iter()
        .map(|(key, value)| (String::from(key.as_str()), value.clone()))
        .collect()
}

/// Applies `changes` to `pairs` as [`ChangeSet::apply_to`] does to a map:
/// removals first (the other keys keep their order), then sets (an
/// existing key keeps its place, a new one goes last). Overwriting the
/// value of a key the session has allocates nothing.
fn apply(pairs: &mut Pairs, changes: &ChangeSet) {
    let reshapes = !changes.removed.is_empty()
        || changes
            .set
            .keys()
            .any(|key| !pairs.iter().any(|(k, _)| k == key));
    if reshapes {
        let mut list = std::mem::take(pairs).into_vec();
        list.retain(|(key, _)| !changes.removed.iter().any(|r| key == r));
        for (key, value) in &changes.set {
            match list.iter_mut().find(|(k, _)| k == key) {
                Some((_, slot)) => *slot = value.clone(),
                None => list.push((CompactString::from(key.as_str()), value.clone())),
            }
        }
        *pairs = list.into_boxed_slice();
        return;
    }
    for (key, value) in &changes.set {
        if let Some((_, slot)) = pairs.iter_mut().find(|(k, _)| k == key) {
            *slot = value.clone();
        }
    }
}

/// A time as an [`Entry`] keeps it.
fn millis(at: OffsetDateTime) -> i64 {
    unix_millis(at)
}

fn time(id: &Id, millis: i64) -> Result<OffsetDateTime, StoreError> {
    from_unix_millis(millis).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "session #{} holds a time out of range",
            id.short_hash()
        ))
    })
}

impl Entry {
    fn new(record: &Record) -> Self {
        Self {
            data: pairs(&record.data),
            created_at: millis(record.created_at),
            expires_at: millis(record.expires_at),
            extra: None,
            returned: AtomicBool::new(false),
        }
        .with_expiry(record.expiry)
        .with_user(record.user.as_deref().map(Arc::from))
    }

    fn with_expiry(mut self, expiry: Option<Expiry>) -> Self {
        self.set_extra(|extra| extra.expiry = expiry);
        self
    }

    fn with_user(mut self, user: Option<Arc<str>>) -> Self {
        self.set_extra(|extra| extra.user = user);
        self
    }

    /// Changes the rare parts, keeping the box only while it holds something.
    fn set_extra(&mut self, change: impl FnOnce(&mut Extra)) {
        let mut extra = self.extra.take().unwrap_or_default();
        change(&mut extra);
        if extra.expiry.is_some() || extra.user.is_some() {
            self.extra = Some(extra);
        }
    }

    fn expiry(&self) -> Option<Expiry> {
        self.extra.as_ref().and_then(|extra| extra.expiry)
    }

    fn user(&self) -> Option<&Arc<str>> {
        self.extra.as_ref().and_then(|extra| extra.user.as_ref())
    }

    fn is_bound_to(&self, user: &str) -> bool {
        self.user().is_some_and(|bound| &**bound == user)
    }

    fn mark_returned(&self) {
        self.returned.store(true, Ordering::Relaxed);
    }

    fn is_live(&self, now: i64) -> bool {
        self.expires_at > now
    }

    /// Where the entry stands in the line for eviction when it may make
    /// room for an anonymous session (lowest first): expired, then
    /// anonymous and never came back, then anonymous and came back, each
    /// the soonest to expire first; `None` for a live bound session, which
    /// an anonymous session never displaces.
    fn eviction_rank(&self, now: i64) -> Option<(u8, i64)> {
        if !self.is_live(now) {
            return Some((0, self.expires_at));
        }
        if self.user().is_some() {
            return None;
        }
        let came_back = self.returned.load(Ordering::Relaxed);
        Some((1 + u8::from(came_back), self.expires_at))
    }

    fn record(&self, id: &Id) -> Result<Record, StoreError> {
        let mut record = Record::new(*id, time(id, self.created_at)?, time(id, self.expires_at)?);
        record.data = data(&self.data);
        record.expiry = self.expiry();
        record.user = self.user().map(|user| user.to_string());
        Ok(record)
    }
}

/// The user index: which sessions each user has. It changes only under the
/// shard lock of the session it names, in the same critical section as the
/// entry, so it never holds an id the shards do not (every entry removed
/// from a shard — deleted, expired, evicted, moved — leaves it there), and
/// it lists every bound entry. Lock order: a shard, then the index.
#[derive(Default)]
struct Users(Mutex<HashMap<Arc<str>, HashSet<Id>>>);

impl Users {
    fn add(&self, user: &Arc<str>, id: Id) {
        self.0.lock().entry(user.clone()).or_default().insert(id);
    }

    /// Replaces `from` (a user and one of its ids) with `to` in one step,
    /// so that no reader sees the session under neither (a cycle, a rebind).
    fn replace(&self, from: Option<(&str, &Id)>, to: Option<(&Arc<str>, Id)>) {
        let mut users = self.0.lock();
        if let Some((user, id)) = from {
            if let Some(ids) = users.get_mut(user) {
                ids.remove(id);
                if ids.is_empty() {
                    users.remove(user);
                }
            }
        }
        if let Some((user, id)) = to {
            users.entry(user.clone()).or_default().insert(id);
        }
    }

    fn of(&self, user: &str) -> Vec<Id> {
        self.0
            .lock()
            .get(user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Up to `limit` ids of the users who hold the most sessions.
    fn of_the_busiest(&self, limit: usize) -> Vec<Id> {
        let users = self.0.lock();
        let most = users.values().map(HashSet::len).max().unwrap_or(0);
        users
            .values()
            .filter(|ids| ids.len() == most)
            .flat_map(|ids| ids.iter().copied())
            .take(limit)
            .collect()
    }
}

/// What the whole store keeps count of besides its shards: the user index
/// and how many places are held.
#[derive(Default)]
struct Books {
    users: Users,
    /// Entries in every shard (expired ones not yet swept included), plus
    /// the places reserved by creates on their way in.
    held: AtomicUsize,
}

impl Books {
    /// Accounts for `entry`, just removed from its shard under `id`.
    fn forget(&self, id: &Id, entry: &Entry) {
        if let Some(user) = entry.user() {
            self.users.replace(Some((user, id)), None);
        }
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Id, Entry>,
    creates: u32,
    /// How many entries of `map` are bound to a user.
    bound: usize,
}

impl Shard {
    fn live(&self, id: &Id, now: i64) -> Option<&Entry> {
        self.map.get(id).filter(|entry| entry.is_live(now))
    }

    fn live_mut(&mut self, id: &Id, now: i64) -> Option<&mut Entry> {
        self.map.get_mut(id).filter(|entry| entry.is_live(now))
    }

    fn anonymous(&self) -> usize {
        self.map.len() - self.bound
    }

    /// Puts `entry` under `id` (which holds none). The index and the count
    /// of places held are the caller's.
    fn attach(&mut self, id: Id, entry: Entry) {
        if entry.user().is_some() {
            self.bound += 1;
        }
        self.map.insert(id, entry);
    }

    /// Takes `id` out, leaving the index and the count of places held to
    /// the caller.
    fn detach(&mut self, id: &Id) -> Option<Entry> {
        let entry = self.map.remove(id)?;
        if entry.user().is_some() {
            self.bound -= 1;
        }
        Some(entry)
    }

    /// Removes `id` (live or not), its index entry and its place.
    fn remove(&mut self, id: &Id, books: &Books) -> Option<Entry> {
        let entry = self.detach(id)?;
        books.forget(id, &entry);
        Some(entry)
    }

    fn sweep(&mut self, now: i64, books: &Books) -> u64 {
        let before = self.map.len();
        let bound = &mut self.bound;
        self.map.retain(|id, entry| {
            let live = entry.is_live(now);
            if !live {
                if entry.user().is_some() {
                    *bound -= 1;
                }
                books.forget(id, entry);
            }
            live
        });
        (before - self.map.len()) as u64
    }

    /// The entry to evict for an anonymous session
    /// ([`Entry::eviction_rank`]), if any may go.
    fn victim(&self, now: i64) -> Option<Id> {
        self.map
            .iter()
            .filter_map(|(id, entry)| Some((entry.eviction_rank(now)?, *id)))
            .min()
            .map(|(_, id)| id)
    }
}

/// Sessions in this process's memory. Clones share the same sessions.
///
/// ```
/// use session_store_memory::MemoryStore;
///
/// let store = MemoryStore::new().with_capacity_limit(100_000);
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[RwLock<Shard>]>,
    capacity: usize,
    clock: Arc<dyn Clock>,
    evicted: AtomicU64,
    books: Books,
    /// When the whole store was last swept to spare a bound session (Unix
    /// ms).
    full_sweep_at: AtomicI64,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("capacity", &self.inner.capacity)
            .finish()
    }
}

/// Moves the live session `old` (in `old_shard`) to `record` (in
/// `new_shard`, or in `old_shard` when that is `None`). The entry, the
/// index and the count of places change together, under the locks the
/// caller holds; the count does not grow, so nothing is evicted.
fn move_entry(
    old_shard: &mut Shard,
    new_shard: Option<&mut Shard>,
    old: &Id,
    record: &Record,
    now: i64,
    books: &Books,
) -> Cycled {
    if old_shard.live(old, now).is_none() {
        return Cycled::Gone;
    }
    let taken = match &new_shard {
        Some(shard) => shard.live(&record.id, now).is_some(),
        None => old_shard.live(&record.id, now).is_some(),
    };
    if taken {
        return Cycled::IdTaken;
    }
    let Some(moved) = old_shard.detach(old) else {
        return Cycled::Gone;
    };
    let target = match new_shard {
        Some(shard) => shard,
        None => old_shard,
    };
    // An expired entry under the new id leaves first.
    target.remove(&record.id, books);
    let entry = Entry::new(record);
    // Cycling is coming back: the visitor used the session to move it.
    entry.mark_returned();
    books.users.replace(
        moved.user().map(|user| (&**user, old)),
        entry.user().map(|user| (user, record.id)),
    );
    target.attach(record.id, entry);
    Cycled::Moved
}

fn shard_index(id: &Id) -> usize {
    // Ids are uniformly random, so any byte spreads them evenly.
    id.as_bytes()[0] as usize % SHARDS
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

    fn shard(&self, id: &Id) -> &RwLock<Shard> {
        &self.inner.shards[shard_index(id)]
    }

    /// The store's "now", in the Unix milliseconds entries keep.
    fn now(&self) -> i64 {
        self.inner.clock.now_unix_millis()
    }

    /// Reserves the place of a new session `id` (`bound` to a user or
    /// not), first freeing one when the store is full (see
    /// [eviction](crate#eviction)). Holds no two shard locks at once.
    /// Fails, reserving nothing, when the store is full and `bound` is
    /// false and no session but bound ones is held.
    fn make_room(&self, id: &Id, bound: bool, now: i64) -> Result<(), StoreError> {
        let books = &self.inner.books;
        if books.held.fetch_add(1, Ordering::Relaxed) < self.inner.capacity {
            return Ok(());
        }
        let start = shard_index(id);
        for step in 0..SHARDS {
            let lock = &self.inner.shards[(start + step) % SHARDS];
            // The new session's own shard is searched for expired bound
            // sessions too; the others only if they hold anonymous ones.
            if step > 0 && lock.read().anonymous() == 0 {
                continue;
            }
            let mut shard = lock.write();
            if let Some(victim) = shard.victim(now) {
                if let Some(entry) = shard.remove(&victim, books) {
                    self.count_evicted(&entry, now);
                }
                return Ok(());
            }
        }
        if !bound {
            books.held.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::unavailable(std::io::Error::other(format!(
                "the memory store is full (capacity {}) of sessions bound to users; \
                 an anonymous session takes no bound session's place",
                self.inner.capacity
            ))));
        }
        self.evict_bound(now);
        Ok(())
    }

    /// Frees a place for a new bound session in a store that holds only
    /// bound sessions: every expired session, if the whole store was not
    /// swept for this in the last second and that frees any; else a
    /// session of the user who holds the most.
    fn evict_bound(&self, now: i64) {
        let books = &self.inner.books;
        let last = self.inner.full_sweep_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= FULL_SWEEP_EVERY_MS
            && self
                .inner
                .full_sweep_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let swept: u64 = self
                .inner
                .shards
                .iter()
                .map(|shard| shard.write().sweep(now, books))
                .sum();
            if swept > 0 {
                return;
            }
        }
        let victim = books
            .users
            .of_the_busiest(BOUND_CANDIDATES)
            .into_iter()
            .filter_map(|id| Some((self.shard(&id).read().map.get(&id)?.expires_at, id)))
            .min();
        if let Some((_, id)) = victim {
            if let Some(entry) = self.shard(&id).write().remove(&id, books) {
                self.count_evicted(&entry, now);
            }
            // Gone meanwhile: whoever removed it freed a place.
        }
    }

    fn count_evicted(&self, entry: &Entry, now: i64) {
        if entry.is_live(now) {
            self.inner.evicted.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let now = self.now();
        let shard = self.shard(id).read();
        shard
            .live(id, now)
            .map(|entry| {
                entry.mark_returned();
                entry.record(id)
            })
            .transpose()
    }

    /// When the store is full, makes room first (see
    /// [eviction](crate#eviction)); fails with
    /// [`StoreError::Unavailable`] for an anonymous session when only
    /// bound sessions are held.
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let now = self.now();
        let books = &self.inner.books;
        self.make_room(&record.id, record.user.is_some(), now)?;
        // The place reserved is the new entry's.
        let mut shard = self.shard(&record.id).write();
        if shard.live(&record.id, now).is_some() {
            books.held.fetch_sub(1, Ordering::Relaxed);
            return Ok(Created::IdTaken);
        }
        shard.creates = shard.creates.wrapping_add(1);
        if shard.creates.is_multiple_of(SWEEP_EVERY) {
            shard.sweep(now, books);
        }
        // An expired entry under the same id leaves first.
        shard.remove(&record.id, books);
        let entry = Entry::new(record);
        if let Some(user) = entry.user() {
            books.users.add(user, record.id);
        }
        shard.attach(record.id, entry);
        Ok(Created::Inserted)
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).write();
        let Some(entry) = shard.live_mut(id, now) else {
            return Ok(Saved::Gone);
        };
        apply(&mut entry.data, changes);
        entry.expires_at = millis(changes.expires_at);
        if let Some(expiry) = changes.expiry {
            entry.set_extra(|extra| extra.expiry = expiry);
        }
        entry.mark_returned();
        let Some(user) = &changes.user else {
            return Ok(Saved::Applied);
        };
        let was_bound = entry.user().is_some();
        if entry.user().map(|u| &**u) != user.as_deref() {
            let new = user.as_deref().map(Arc::<str>::from);
            self.inner.books.users.replace(
                entry.user().map(|old| (&**old, id)),
                new.as_ref().map(|new| (new, *id)),
            );
            entry.set_extra(|extra| extra.user = new);
        }
        let is_bound = entry.user().is_some();
        shard.bound = shard.bound + usize::from(is_bound) - usize::from(was_bound);
        Ok(Saved::Applied)
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).write();
        Ok(match shard.live_mut(id, now) {
            Some(entry) => {
                entry.expires_at = millis(expires_at);
                entry.mark_returned();
                Saved::Applied
            }
            None => Saved::Gone,
        })
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.shard(id).write().remove(id, &self.inner.books);
        Ok(())
    }

    /// Atomic id cycling, the user index, and cleanup of expired entries;
    /// no leases: the store lives in one process, where the layer's own
    /// lock serializes a session's requests.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
            .with_cycle(self)
            .with_users(self)
            .with_cleanup(self)
    }
}

#[async_trait]
impl CycleStore for MemoryStore {
    /// Atomic: both shards are locked (in index order) for the check, the
    /// insert, the removal and the index, which swaps the old id for the
    /// new one in one step. The store holds as many sessions after as
    /// before, so a cycle evicts nothing.
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        let now = self.now();
        let (a, b) = (shard_index(old), shard_index(&record.id));
        let shards = &self.inner.shards;
        let mut first = shards[a.min(b)].write();
        let mut second = (a != b).then(|| shards[a.max(b)].write());
        let (old_shard, new_shard) = match second.as_deref_mut() {
            None => (&mut *first, None),
            Some(other) if a < b => (&mut *first, Some(other)),
            Some(other) => (other, Some(&mut *first)),
        };
        Ok(move_entry(
            old_shard,
            new_shard,
            old,
            record,
            now,
            &self.inner.books,
        ))
    }
}

/// Sweeps every shard now (they are also swept as sessions arrive).
#[async_trait]
impl ExpiredCleanup for MemoryStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        Ok(self
            .inner
            .shards
            .iter()
            .map(|shard| shard.write().sweep(now, &self.inner.books))
            .sum())
    }
}

/// The index is updated under the shard lock of the session it names, in
/// the same critical section as the entry.
#[async_trait]
impl UserIndex for MemoryStore {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = self.now();
        let mut sessions: Vec<UserSession> = self
            .inner
            .books
            .users
            .of(user)
            .into_iter()
            .filter_map(|id| {
                let shard = self.shard(&id).read();
                let entry = shard.live(&id, now)?;
                Some((|| {
                    let created_at = time(&id, entry.created_at)?;
                    Ok(UserSession::new(
                        id,
                        created_at,
                        time(&id, entry.expires_at)?,
                    ))
                })())
            })
            .collect::<Result<_, StoreError>>()?;
        sessions.sort_by_key(|session| (session.created_at, session.id));
        Ok(sessions)
    }

    /// Ends every session of `user` but `keep`, a session moved to a new id
    /// by a [`cycle`](CycleStore::cycle) racing this call included. Each
    /// is removed under its shard's lock, so a save racing this call
    /// either lands before (and is removed with the session) or finds the
    /// session gone. `keep` names an id: should the kept session itself be
    /// moved to a new id while this runs, the new id is ended too.
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        // Read the index, end each member not handled yet, and read again
        // until a read brings no new member. Why that ends them all:
        //
        // - The index changes only under the shard lock of the session it
        //   names, in the same critical section as the entry: once this
        //   call holds that lock, the entry and the index agree on it.
        // - A cycle holds both shards' locks and swaps the old id for the
        //   new one in one step of the index's lock (`Users::replace`):
        //   every read lists a session of the user under its old id or its
        //   new one, never under neither. (Reading once misses the new id
        //   of a session cycled after the read: that was the bug.)
        // - An id that left its shard never comes back (a fresh id is 128
        //   random bits), and one this call removed cannot be saved,
        //   touched or cycled back ("logout wins").
        //
        // Let R be the last read: whatever it lists is `keep` or was
        // handled before it. A handled id was removed by this call or found
        // gone, for good, so it is not in the index at R: R lists nothing
        // but `keep`. As the index
        // hides no session, no session of `user` but `keep` lives at R,
        // under any id: the call takes effect at R. One bound to `user`
        // after R (a login after the logout) is not ended. An id found
        // bound to another user (a rebinding save) is not marked handled:
        // should it be bound to `user` again, a later read lists it. Each
        // read after the second is caused by a session bound or moved to
        // `user` during the previous round; without a race there are two.
        let now = self.now();
        let books = &self.inner.books;
        let mut handled: HashSet<Id> = keep.copied().into_iter().collect();
        let mut ended = 0;
        loop {
            let fresh: Vec<Id> = books
                .users
                .of(user)
                .into_iter()
                .filter(|id| !handled.contains(id))
                .collect();
            if fresh.is_empty() {
                return Ok(ended);
            }
            for id in fresh {
                let mut shard = self.shard(&id).write();
                match shard.map.get(&id) {
                    Some(entry) if !entry.is_bound_to(user) => continue,
                    Some(_) => {
                        if let Some(entry) = shard.remove(&id, books) {
                            ended += u64::from(entry.is_live(now));
                        }
                    }
                    None => {}
                }
                handled.insert(id);
            }
        }
    }

    /// Atomic under the session's shard lock: the session is removed only
    /// if it is there, live and bound to `user`, and the answer says so.
    /// A [`cycle`](CycleStore::cycle) of it either ran first (the old id
    /// is gone: `false`, the session goes on under its new id) or finds it
    /// gone afterwards (`Gone`: nothing moves).
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).write();
        if !shard
            .map
            .get(id)
            .is_some_and(|entry| entry.is_bound_to(user))
        {
            return Ok(false);
        }
        Ok(shard
            .remove(id, &self.inner.books)
            .is_some_and(|entry| entry.is_live(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The compact pairs change exactly as a map does (values and key
        /// order), whatever the change set.
        #[test]
        fn pairs_apply_like_a_map(
            keys in proptest::collection::vec(0u8..6, 0..6),
            set in proptest::collection::btree_map(0u8..8, 0i64..3, 0..4),
            removed in proptest::collection::vec(0u8..8, 0..3),
        ) {
            // Names from 2 to 37 bytes: keys kept inline (up to 24) and on
            // the heap.
            let name = |key: &u8| format!("k{key}{}", "x".repeat(usize::from(*key) * 5));
            let mut map = Data::new();
            for (n, key) in keys.iter().enumerate() {
                map.insert(name(key), Value::from(n));
            }
            let mut changes = ChangeSet::new(OffsetDateTime::UNIX_EPOCH);
            for (key, value) in &set {
                changes.set.insert(name(key), Value::from(*value));
            }
            // A key may be in both lists: removals apply first.
            changes.removed = removed.iter().map(name).collect();
            let mut compact = pairs(&map);
            apply(&mut compact, &changes);
            changes.apply_to(&mut map);
            let back = data(&compact);
            prop_assert_eq!(back.keys().collect::<Vec<_>>(), map.keys().collect::<Vec<_>>());
            prop_assert_eq!(back, map);
        }
    }

    use session_core::time::Duration;
    use session_core::ManualClock;

    fn record(now: OffsetDateTime, ttl: Duration) -> Record {
        Record::new(Id::random(), now, now + ttl)
    }

    #[tokio::test]
    async fn expired_entries_are_swept_as_sessions_arrive() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new().with_clock(clock.clone());
        for _ in 0..2000 {
            store
                .create(&record(clock.now(), Duration::seconds(10)))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 2000);
        clock.advance(Duration::seconds(11));
        for _ in 0..(SHARDS as u32 * SWEEP_EVERY * 2) {
            store
                .create(&record(clock.now(), Duration::hours(1)))
                .await
                .unwrap();
        }
        // Every shard has been swept at least once since the first batch expired.
        assert_eq!(store.len(), SHARDS * SWEEP_EVERY as usize * 2);
    }

    #[tokio::test]
    async fn capacity_limit_evicts_the_soonest_to_expire() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new()
            .with_capacity_limit(SHARDS)
            .with_clock(clock.clone());
        let mut ids = Vec::new();
        for i in 0..(SHARDS * 4) {
            let r = record(clock.now(), Duration::seconds(100 + i as i64));
            ids.push(r.id);
            store.create(&r).await.unwrap();
        }
        assert!(store.len() <= SHARDS);
        assert!(store.evicted() >= (SHARDS * 3) as u64);
        // The latest-expiring record always survives its shard's evictions.
        assert!(store.load(ids.last().unwrap()).await.unwrap().is_some());
    }

    /// The `n`th id of `shard` (distinct for distinct `n`).
    fn id_in(shard: usize, n: u64) -> Id {
        let mut bytes = [0; 16];
        bytes[0] = shard as u8;
        bytes[8..].copy_from_slice(&n.to_be_bytes());
        Id::from_bytes(bytes)
    }

    fn record_in(shard: usize, n: u64, now: OffsetDateTime, ttl: Duration) -> Record {
        let mut record = record(now, ttl);
        record.id = id_in(shard, n);
        record
    }

    /// Of anonymous sessions, those that came back go after those that did
    /// not, in a shard that holds both. (Ids are chosen so that every shard
    /// receives the flood before the store is full.)
    #[tokio::test]
    async fn a_flood_of_new_sessions_does_not_evict_returning_visitors() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new()
            .with_capacity_limit(SHARDS * 10)
            .with_clock(clock.clone());
        // Returning visitors: created first (so closest to expiry), then used.
        let mut regulars = Vec::new();
        for n in 0..100 {
            let r = record_in(n % SHARDS, n as u64, clock.now(), Duration::days(1));
            store.create(&r).await.unwrap();
            regulars.push(r.id);
        }
        for id in &regulars {
            assert!(store.load(id).await.unwrap().is_some());
        }
        // A flood of sessions nobody comes back to, all expiring later.
        clock.advance(Duration::seconds(1));
        for n in 0..(SHARDS * 50) {
            let r = record_in(n % SHARDS, 1_000 + n as u64, clock.now(), Duration::days(1));
            store.create(&r).await.unwrap();
        }
        assert_eq!(store.len(), SHARDS * 10);
        assert!(store.evicted() > 0);
        for id in &regulars {
            assert!(
                store.load(id).await.unwrap().is_some(),
                "a returning visitor was evicted by the flood"
            );
        }
    }

    fn bound_in(shard: usize, n: u64, user: &str, now: OffsetDateTime) -> Record {
        let mut record = record_in(shard, n, now, Duration::days(1));
        record.user = Some(user.to_owned());
        record
    }

    /// The capacity counts the whole store: bound sessions crowded into one
    /// shard, beyond an even share of the capacity, stay through a flood
    /// of anonymous sessions in every shard, theirs included.
    #[tokio::test]
    async fn bound_sessions_crowded_into_one_shard_stay() {
        let store = MemoryStore::new().with_capacity_limit(SHARDS * 10);
        let now = OffsetDateTime::now_utc();
        let mut crowd = Vec::new();
        for n in 0..40 {
            let r = bound_in(7, n, &format!("user-{n}"), now);
            store.create(&r).await.unwrap();
            crowd.push(r.id);
        }
        for n in 0..(SHARDS * 40) {
            let r = record_in(n % SHARDS, 1_000 + n as u64, now, Duration::days(1));
            store.create(&r).await.unwrap();
        }
        assert_eq!(store.len(), SHARDS * 10);
        for id in &crowd {
            assert!(
                store.load(id).await.unwrap().is_some(),
                "a bound session was evicted"
            );
        }
        assert_eq!(store.inner.shards[7].read().bound, 40);
    }

    /// An expired session makes room before any live one, bound or not: in
    /// the new session's shard at once, and in the whole store (swept)
    /// before a bound session is evicted for a login.
    #[tokio::test]
    async fn expired_sessions_make_room_first() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new()
            .with_capacity_limit(4)
            .with_clock(clock.clone());
        let short = |n: u64| {
            let mut r = bound_in(n as usize, n, "short", clock.now());
            r.expires_at = clock.now() + Duration::seconds(5);
            r
        };
        let long = bound_in(9, 9, "long", clock.now());
        for r in [short(1), short(2), short(3), long.clone()] {
            store.create(&r).await.unwrap();
        }
        clock.advance(Duration::seconds(6));
        // Anonymous, into the shard of an expired bound session: takes its
        // place.
        let anonymous = record_in(1, 100, clock.now(), Duration::days(1));
        store.create(&anonymous).await.unwrap();
        assert_eq!(store.len(), 4);
        store.delete(&anonymous.id).await.unwrap();
        // Logins, into shards with nothing expired: the first fits; for the
        // second, with no anonymous session left, the whole store is swept
        // rather than a live session evicted.
        let first = bound_in(30, 102, "new", clock.now());
        store.create(&first).await.unwrap();
        store
            .create(&bound_in(31, 103, "new", clock.now()))
            .await
            .unwrap();
        assert_eq!(store.len(), 3, "both expired sessions swept");
        assert_eq!(store.evicted(), 0);
        assert!(store.load(&long.id).await.unwrap().is_some());
        assert!(store.load(&first.id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn delete_expired_counts_what_it_removed() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new().with_clock(clock.clone());
        store
            .create(&record(clock.now(), Duration::seconds(5)))
            .await
            .unwrap();
        store
            .create(&record(clock.now(), Duration::seconds(50)))
            .await
            .unwrap();
        clock.advance(Duration::seconds(6));
        assert_eq!(store.delete_expired().await.unwrap(), 1);
        assert_eq!(store.len(), 1);
    }
}
