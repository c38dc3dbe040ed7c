//! Making room: sweeping expired entries, and evicting a session when the
//! store is full (see [eviction](crate#eviction)).

use std::sync::atomic::{AtomicUsize, Ordering};

use session_core::store::{async_trait, ExpiredCleanup, StoreError};
use session_core::Id;

use crate::users::Users;
use crate::{shard_index, Entry, MemoryStore, Shard, SHARDS};

/// How many sessions of the user with the most are compared (by expiry)
/// when a bound session must be evicted.
const BOUND_CANDIDATES: usize = 16;
/// The least time between two sweeps of the whole store made to spare a
/// bound session, in milliseconds.
const FULL_SWEEP_EVERY_MS: i64 = 1_000;

/// What the whole store keeps count of besides its shards: the user index
/// and how many places are held.
#[derive(Default)]
pub(crate) struct Books {
    pub(crate) users: Users,
    /// Entries in every shard (expired ones not yet swept included), plus
    /// the places reserved by creates on their way in.
    pub(crate) held: AtomicUsize,
}

impl Books {
    /// Accounts for `entry`, just removed from its shard under `id`.
    pub(crate) fn forget(&self, id: &Id, entry: &Entry) {
        if let Some(user) = entry.user() {
            self.users.replace(Some((user, id)), None);
        }
        self.held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Entry {
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
}

impl Shard {
    fn anonymous(&self) -> usize {
        self.map.len() - self.bound
    }

    /// Removes every expired entry, with its index entry and its place;
    /// says how many.
    pub(crate) fn sweep(&mut self, now: i64, books: &Books) -> u64 {
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

impl MemoryStore {
    /// Reserves the place of a new session `id` (`bound` to a user or
    /// not), first freeing one when the store is full (see
    /// [eviction](crate#eviction)). Holds no two shard locks at once.
    /// Fails, reserving nothing, when the store is full and `bound` is
    /// false and no session but bound ones is held.
    pub(crate) fn make_room(&self, id: &Id, bound: bool, now: i64) -> Result<(), StoreError> {
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
            #[cfg(feature = "metrics")]
            metrics::counter!("session_ended_total", "cause" => "evicted").increment(1);
        }
    }

    /// Sets the `session_memory_sessions` gauge (feature `metrics`) to the
    /// places held: the sessions in the shards, expired ones not yet swept
    /// included, and creates on their way in.
    #[inline]
    pub(crate) fn report_size(&self) {
        #[cfg(feature = "metrics")]
        metrics::gauge!("session_memory_sessions")
            .set(self.inner.books.held.load(Ordering::Relaxed) as f64);
    }
}

/// Sweeps every shard now (they are also swept as sessions arrive).
#[async_trait]
impl ExpiredCleanup for MemoryStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = self.now();
        let swept = self
            .inner
            .shards
            .iter()
            .map(|shard| shard.write().sweep(now, &self.inner.books))
            .sum();
        self.report_size();
        Ok(swept)
    }
}
