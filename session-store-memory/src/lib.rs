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
//!   otherwise ([`MemoryStore::with_capacity_limit`]). When full, sessions
//!   that never came back after they were created go first (a flood of
//!   cookieless requests makes only such sessions), the one closest to
//!   expiry first; only when there is none does a returning visitor's
//!   session go.
//!
//! ```
//! use session_core::{Key, SessionLayer};
//! use session_store_memory::MemoryStore;
//!
//! let layer = SessionLayer::new(MemoryStore::new(), Key::generate());
//! # let _ = layer;
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use compact_str::CompactString;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use session_core::store::{
    async_trait, from_unix_millis, unix_millis, ChangeSet, Created, Cycled, Data, Record, Saved,
    SessionStore, StoreError, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{Clock, Expiry, Id, SystemClock};

const SHARDS: usize = 64;

/// How many sessions [`MemoryStore::new`] keeps at most: 100,000, about
/// 80 MB for small sessions (a counter session takes about 0.6–0.8 KB).
///
/// ```
/// assert_eq!(session_store_memory::DEFAULT_CAPACITY, 100_000);
/// ```
pub const DEFAULT_CAPACITY: usize = 100_000;
/// A shard is swept for expired entries after this many creates in it.
const SWEEP_EVERY: u32 = 64;

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
    /// The session was loaded, saved or touched after it was created: a
    /// visitor that came back. Eviction spares these while it can.
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

    /// Takes `entry` (removed from a shard under `id`) out of the index.
    fn forget(&self, id: &Id, entry: &Entry) {
        if let Some(user) = entry.user() {
            self.replace(Some((user, id)), None);
        }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Id, Entry>,
    creates: u32,
}

impl Shard {
    fn live(&self, id: &Id, now: i64) -> Option<&Entry> {
        self.map.get(id).filter(|entry| entry.is_live(now))
    }

    fn live_mut(&mut self, id: &Id, now: i64) -> Option<&mut Entry> {
        self.map.get_mut(id).filter(|entry| entry.is_live(now))
    }

    fn sweep(&mut self, now: i64, users: &Users) -> u64 {
        let before = self.map.len();
        self.map.retain(|id, entry| {
            let live = entry.is_live(now);
            if !live {
                users.forget(id, entry);
            }
            live
        });
        (before - self.map.len()) as u64
    }

    /// Removes `id` (live or not) and its index entry.
    fn remove(&mut self, id: &Id, users: &Users) -> Option<Entry> {
        let entry = self.map.remove(id)?;
        users.forget(id, &entry);
        Some(entry)
    }

    /// Removes one entry: of the sessions that never came back, the one
    /// that expires first; if every session came back, the one that expires
    /// first.
    fn evict_one(&mut self, users: &Users) {
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, entry)| (entry.returned.load(Ordering::Relaxed), entry.expires_at))
            .map(|(id, _)| *id);
        if let Some(id) = victim {
            self.remove(&id, users);
        }
    }

    /// Makes room for a new entry `id` when the shard is full; returns how
    /// many live sessions were evicted for it.
    fn make_room(&mut self, id: &Id, limit: usize, now: i64, users: &Users) -> u64 {
        self.creates = self.creates.wrapping_add(1);
        if self.creates.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now, users);
        }
        let mut evicted = 0;
        if self.map.len() >= limit && !self.map.contains_key(id) {
            self.sweep(now, users);
            while self.map.len() >= limit {
                self.evict_one(users);
                evicted += 1;
            }
        }
        evicted
    }

    /// Inserts `record`, first making room when the shard is full; returns
    /// how many live sessions were evicted for it.
    fn insert(&mut self, record: &Record, limit: usize, now: i64, users: &Users) -> u64 {
        let evicted = self.make_room(&record.id, limit, now, users);
        // An expired entry under the same id leaves the index first.
        self.remove(&record.id, users);
        let entry = Entry::new(record);
        if let Some(user) = entry.user() {
            users.add(user, record.id);
        }
        self.map.insert(record.id, entry);
        evicted
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
    per_shard_limit: usize,
    clock: Arc<dyn Clock>,
    evicted: AtomicU64,
    users: Users,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("per_shard_limit", &self.inner.per_shard_limit)
            .finish()
    }
}

/// Moves the live session `old` (in `old_shard`) to `record` (in
/// `new_shard`, or in `old_shard` when that is `None`); returns the outcome
/// and how many sessions were evicted to make room.
fn move_entry(
    old_shard: &mut Shard,
    new_shard: Option<&mut Shard>,
    old: &Id,
    record: &Record,
    limit: usize,
    now: i64,
    users: &Users,
) -> (Cycled, u64) {
    if old_shard.live(old, now).is_none() {
        return (Cycled::Gone, 0);
    }
    let taken = match &new_shard {
        Some(shard) => shard.live(&record.id, now).is_some(),
        None => old_shard.live(&record.id, now).is_some(),
    };
    if taken {
        return (Cycled::IdTaken, 0);
    }
    let Some(moved) = old_shard.map.remove(old) else {
        return (Cycled::Gone, 0);
    };
    let target = new_shard.unwrap_or(old_shard);
    let evicted = target.make_room(&record.id, limit, now, users);
    // An expired entry under the new id leaves first.
    target.remove(&record.id, users);
    let entry = Entry::new(record);
    // The index swaps the old id for the new one in one step.
    users.replace(
        moved.user().map(|user| (&**user, old)),
        entry.user().map(|user| (user, record.id)),
    );
    target.map.insert(record.id, entry);
    (Cycled::Moved, evicted)
}

fn shard_index(id: &Id) -> usize {
    // Ids are uniformly random, so any byte spreads them evenly.
    id.as_bytes()[0] as usize % SHARDS
}

fn per_shard(max_sessions: usize) -> usize {
    max_sessions.div_ceil(SHARDS).max(1)
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
        Self::build(per_shard(DEFAULT_CAPACITY), Arc::new(SystemClock))
    }

    fn build(per_shard_limit: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                per_shard_limit,
                clock,
                evicted: AtomicU64::new(0),
                users: Users::default(),
            }),
        }
    }

    /// Caps the store at about `max_sessions` sessions (rounded up to a
    /// multiple of the shard count; `usize::MAX` for no bound). When a
    /// shard is full, its expired sessions are dropped and, if that is not
    /// enough, one is evicted: a session that never came back after it was
    /// created, the one closest to expiry first, and only when there is none
    /// a returning visitor's. Call it on a new store: it starts empty.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new().with_capacity_limit(10_000);
    /// # let _ = store;
    /// ```
    pub fn with_capacity_limit(self, max_sessions: usize) -> Self {
        Self::build(per_shard(max_sessions), self.inner.clock.clone())
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
        Self::build(self.inner.per_shard_limit, Arc::new(clock))
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

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let now = self.now();
        let mut shard = self.shard(&record.id).write();
        if shard.live(&record.id, now).is_some() {
            return Ok(Created::IdTaken);
        }
        let evicted = shard.insert(record, self.inner.per_shard_limit, now, &self.inner.users);
        self.inner.evicted.fetch_add(evicted, Ordering::Relaxed);
        Ok(Created::Inserted)
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).write();
        Ok(match shard.live_mut(id, now) {
            Some(entry) => {
                apply(&mut entry.data, changes);
                entry.expires_at = millis(changes.expires_at);
                if let Some(expiry) = changes.expiry {
                    entry.set_extra(|extra| extra.expiry = expiry);
                }
                if let Some(user) = &changes.user {
                    if entry.user().map(|u| &**u) != user.as_deref() {
                        let new = user.as_deref().map(Arc::<str>::from);
                        self.inner.users.replace(
                            entry.user().map(|old| (&**old, id)),
                            new.as_ref().map(|new| (new, *id)),
                        );
                        entry.set_extra(|extra| extra.user = new);
                    }
                }
                entry.mark_returned();
                Saved::Applied
            }
            None => Saved::Gone,
        })
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
        self.shard(id).write().remove(id, &self.inner.users);
        Ok(())
    }

    /// Atomic: both shards are locked (in index order) for the check, the
    /// insert, the removal and the index, which swaps the old id for the
    /// new one in one step.
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
        let limit = self.inner.per_shard_limit;
        let users = &self.inner.users;
        let (outcome, evicted) = move_entry(old_shard, new_shard, old, record, limit, now, users);
        self.inner.evicted.fetch_add(evicted, Ordering::Relaxed);
        Ok(outcome)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        Ok(self
            .inner
            .shards
            .iter()
            .map(|shard| shard.write().sweep(now, &self.inner.users))
            .sum())
    }

    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = self.now();
        let mut sessions: Vec<UserSession> = self
            .inner
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
    /// by a [`cycle`](SessionStore::cycle) racing this call included. Each
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
        let users = &self.inner.users;
        let mut handled: HashSet<Id> = keep.copied().into_iter().collect();
        let mut ended = 0;
        loop {
            let fresh: Vec<Id> = users
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
                        if let Some(entry) = shard.remove(&id, users) {
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
    /// A [`cycle`](SessionStore::cycle) of it either ran first (the old id
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
            .remove(id, &self.inner.users)
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

    #[tokio::test]
    async fn a_flood_of_new_sessions_does_not_evict_returning_visitors() {
        let clock = ManualClock::starting_now();
        let store = MemoryStore::new()
            .with_capacity_limit(SHARDS * 10)
            .with_clock(clock.clone());
        // Returning visitors: created first (so closest to expiry), then used.
        let mut regulars = Vec::new();
        for _ in 0..100 {
            let r = record(clock.now(), Duration::days(1));
            store.create(&r).await.unwrap();
            regulars.push(r.id);
        }
        for id in &regulars {
            assert!(store.load(id).await.unwrap().is_some());
        }
        // A flood of sessions nobody comes back to, all expiring later.
        clock.advance(Duration::seconds(1));
        for _ in 0..(SHARDS * 50) {
            store
                .create(&record(clock.now(), Duration::days(1)))
                .await
                .unwrap();
        }
        assert!(store.len() <= SHARDS * 10);
        assert!(store.evicted() > 0);
        for id in &regulars {
            assert!(
                store.load(id).await.unwrap().is_some(),
                "a returning visitor was evicted by the flood"
            );
        }
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
