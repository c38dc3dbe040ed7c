#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// This file holds what a request runs: entries, shards, the required methods.
mod config; // building a store and looking at it from outside
mod cycle; // moving a session to a new id
mod evict; // making room: sweeping expired sessions, evicting live ones
#[cfg(test)]
mod tests;
mod users; // the user index

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use compact_str::CompactString;
use parking_lot::RwLock;
use serde_json::Value;
use session_core::store::{
    from_unix_millis, unix_millis, Capabilities, ChangeSet, Created, Data, Record, Saved,
    SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::{Clock, Expiry, Id};

pub use config::DEFAULT_CAPACITY;
use evict::Books;

const SHARDS: usize = 64;
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
    /// The session was loaded, saved, touched or cycled after it was
    /// created: a visitor that came back. Of anonymous sessions, eviction
    /// takes the others first.
    returned: AtomicBool,
}

/// The rarer parts of an [`Entry`].
#[derive(Default)]
struct Extra {
    expiry: Option<Expiry>,
    /// The user the session is bound to, listed in [`Users`](users::Users).
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

fn shard_index(id: &Id) -> usize {
    // Ids are uniformly random, so any byte spreads them evenly.
    id.as_bytes()[0] as usize % SHARDS
}

impl MemoryStore {
    fn shard(&self, id: &Id) -> &RwLock<Shard> {
        &self.inner.shards[shard_index(id)]
    }

    /// What [`load`](SessionStore::load) answers, without a future.
    fn load_at_once(&self, id: &Id) -> Result<Option<Record>, StoreError> {
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

    /// The store's "now", in the Unix milliseconds entries keep.
    fn now(&self) -> i64 {
        self.inner.clock.now_unix_millis()
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.load_at_once(id)
    }

    /// Always `Some`: the store lives in this process.
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        Some(self.load_at_once(id))
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
        drop(shard);
        self.report_size();
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
        self.report_size();
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

    fn kind(&self) -> &'static str {
        "memory"
    }
}
