//! Per-session request serialization: one request per session at a time,
//! in this process (a table of async locks, taken before the handler runs)
//! and, with a store that offers one ([`LeaseStore`](crate::store::LeaseStore)), across
//! instances (the store's lease, taken when the request first loads its
//! session, given back after its writes).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;

use crate::store::{SessionLease, SessionStore, StoreError};
use crate::Id;

const SHARDS: usize = 64;

/// One session's lock and how many requests hold or wait for it.
#[derive(Debug, Default)]
struct Entry {
    mutex: Arc<tokio::sync::Mutex<()>>,
    /// Requests that registered for this lock and have not yet let go:
    /// the holder and every waiter, cancelled or not, until dropped.
    users: usize,
    /// The store's lease, taken by the request that holds the lock.
    lease: Lease,
}

/// Where the holder of a session's lock stands with the store's lease.
#[derive(Debug, Default)]
enum Lease {
    /// Not asked for yet (the request has not loaded its session).
    #[default]
    NotTaken,
    /// Held (`None`: the store has no leases; the lock alone serializes).
    Held(Option<Box<dyn SessionLease>>),
    /// The store refused it (busy past its wait, or unreachable): every
    /// load of this request fails, and the layer answers `503`.
    Refused,
}

/// A table of per-session async locks; an entry lives only while someone
/// holds or waits for it, so the table never grows past the sessions in
/// flight.
///
/// Entries are counted explicitly (under the shard lock) rather than by
/// the mutex's reference count: a waiter whose request is cancelled drops
/// its [`Claim`] whatever state its wait was in, so the last one out
/// always removes the entry.
#[derive(Debug)]
pub(crate) struct SessionLocks {
    shards: Box<[Mutex<HashMap<Id, Entry>>]>,
}

impl Default for SessionLocks {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// One request's registration in the table, taken before it waits and
/// given back when dropped: after holding the lock, or on cancellation
/// while waiting.
struct Claim {
    locks: Arc<SessionLocks>,
    id: Id,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut shard = self.locks.shard(&self.id).lock();
        if let Some(entry) = shard.get_mut(&self.id) {
            entry.users -= 1;
            if entry.users == 0 {
                shard.remove(&self.id);
            }
        }
    }
}

/// Holds one session's lock; releasing it removes the entry when unused.
pub(crate) struct SessionLockGuard {
    // Fields drop in order: the lock is released before the claim is given
    // back, so an entry never disappears while its lock is held.
    _guard: OwnedMutexGuard<()>,
    claim: Claim,
}

impl SessionLockGuard {
    /// After the request's writes: gives the store's lease back (before
    /// the lock, so that the next request here finds it free). Returns
    /// whether the store refused the lease to this request.
    pub(crate) async fn finish(&mut self) -> bool {
        let lease = self.take_lease();
        let refused = matches!(lease, Lease::Refused);
        if let Lease::Held(Some(lease)) = lease {
            lease.release().await;
        }
        refused
    }

    fn take_lease(&self) -> Lease {
        let claim = &self.claim;
        claim
            .locks
            .shard(&claim.id)
            .lock()
            .get_mut(&claim.id)
            .map(|entry| std::mem::take(&mut entry.lease))
            .unwrap_or_default()
    }
}

impl Drop for SessionLockGuard {
    /// A request dropped before [`finish`](Self::finish) (its client went
    /// away): the lease is given back in the background.
    fn drop(&mut self) {
        if let Lease::Held(lease) = self.take_lease() {
            release_later(lease);
        }
    }
}

/// Gives `lease` back on the current Tokio runtime, in the background;
/// without one, it runs out by itself.
fn release_later(lease: Option<Box<dyn SessionLease>>) {
    if let (Some(lease), Ok(runtime)) = (lease, tokio::runtime::Handle::try_current()) {
        runtime.spawn(lease.release());
    }
}

/// The lease on session `stored` from the store's
/// [`LeaseStore`](crate::store::LeaseStore); `None` when it has none
/// (requests are then serialized within this process only).
async fn lease(
    store: &crate::store::AnyStore,
    stored: &Id,
) -> Result<Option<Box<dyn SessionLease>>, StoreError> {
    match store.capabilities().leases {
        Some(leases) => leases.lock(stored).await.map(Some),
        None => Ok(None),
    }
}

/// Asks `store` for the lease on `stored` in a task of its own, so that a
/// request dropped while the store grants it (its client went away) does
/// not leave the lease held until it runs out: the task gives back a grant
/// nobody waits for any more. Without a Tokio runtime, asks in place.
async fn take_lease(
    store: &crate::store::AnyStore,
    stored: &Id,
) -> Result<Option<Box<dyn SessionLease>>, StoreError> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return lease(store, stored).await;
    };
    let (store, stored) = (store.clone(), *stored);
    let (answer, granted) = tokio::sync::oneshot::channel();
    runtime.spawn(async move {
        let taken = lease(&store, &stored).await.map(Handed);
        // Sent to a request that went away, the grant is dropped here and
        // so given back (`Handed`).
        let _ = answer.send(taken);
    });
    match granted.await {
        Ok(Ok(mut handed)) => Ok(handed.0.take()),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(StoreError::failed(
            "the task taking the session's lease ended",
        )),
    }
}

/// A lease on its way from the task that took it to its request: given
/// back if dropped before the request takes it out (the request went away
/// after the grant was sent, before it read it).
struct Handed(Option<Box<dyn SessionLease>>);

impl Drop for Handed {
    fn drop(&mut self) {
        release_later(self.0.take());
    }
}

/// A later load of a request whose lease the store refused.
fn refused() -> StoreError {
    StoreError::unavailable(
        "the session is busy: another request held it for longer than the store waits",
    )
}

impl SessionLocks {
    fn shard(&self, id: &Id) -> &Mutex<HashMap<Id, Entry>> {
        &self.shards[id.as_bytes()[0] as usize % SHARDS]
    }

    /// Waits until no other request of session `id` is running.
    pub(crate) async fn acquire(self: &Arc<Self>, id: Id) -> SessionLockGuard {
        let (claim, mutex) = {
            let mut shard = self.shard(&id).lock();
            let entry = shard.entry(id).or_default();
            entry.users += 1;
            let mutex = entry.mutex.clone();
            (
                Claim {
                    locks: self.clone(),
                    id,
                },
                mutex,
            )
        };
        let guard = mutex.lock_owned().await;
        SessionLockGuard {
            _guard: guard,
            claim,
        }
    }

    /// The store's lease on session `id` (`stored`, as the store knows
    /// it), for the request that holds `id`'s lock: taken on the first call,
    /// then remembered until [`SessionLockGuard::finish`]. An error if the
    /// store refused it, now or earlier in this request.
    pub(crate) async fn lease(
        &self,
        store: &crate::store::AnyStore,
        id: &Id,
        stored: &Id,
    ) -> Result<(), StoreError> {
        match self.shard(id).lock().get(id).map(|entry| &entry.lease) {
            // Not holding the lock (the session is used outside the
            // layer's request): nothing to serialize with.
            None | Some(Lease::Held(_)) => return Ok(()),
            Some(Lease::Refused) => return Err(refused()),
            Some(Lease::NotTaken) => {}
        }
        let taken = take_lease(store, stored).await;
        let mut shard = self.shard(id).lock();
        let entry = shard.get_mut(id);
        match taken {
            Ok(lease) => match entry {
                Some(entry) => entry.lease = Lease::Held(lease),
                // The request ended meanwhile (a spawned task loaded late).
                None => release_later(lease),
            },
            Err(err) => {
                if let Some(entry) = entry {
                    entry.lease = Lease::Refused;
                }
                return Err(err);
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store whose lease takes a while to grant, and that records
    /// whether a granted lease was given back.
    #[derive(Debug, Default)]
    struct SlowLeases {
        released: Arc<std::sync::atomic::AtomicBool>,
    }

    #[derive(Debug)]
    struct Granted(Arc<std::sync::atomic::AtomicBool>);

    #[crate::store::async_trait]
    impl SessionLease for Granted {
        async fn release(self: Box<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl SessionStore for SlowLeases {
        async fn load(&self, _: &Id) -> Result<Option<crate::Record>, StoreError> {
            Ok(None)
        }
        async fn create(&self, _: &crate::Record) -> Result<crate::Created, StoreError> {
            Ok(crate::Created::Inserted)
        }
        async fn save(&self, _: &Id, _: &crate::ChangeSet) -> Result<crate::Saved, StoreError> {
            Ok(crate::Saved::Gone)
        }
        async fn touch(&self, _: &Id, _: time::OffsetDateTime) -> Result<crate::Saved, StoreError> {
            Ok(crate::Saved::Gone)
        }
        async fn delete(&self, _: &Id) -> Result<(), StoreError> {
            Ok(())
        }
        fn capabilities(&self) -> crate::store::Capabilities<'_> {
            crate::store::Capabilities::none().with_leases(self)
        }
    }

    #[crate::store::async_trait]
    impl crate::store::LeaseStore for SlowLeases {
        async fn lock(&self, _: &Id) -> Result<Box<dyn SessionLease>, StoreError> {
            // The store grants the lease (as Redis would on `SET NX`)...
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(Box::new(Granted(self.released.clone())))
        }
    }

    /// A lock held on a fresh session id of a store with slow leases: the
    /// table, the store, the id and its stored form, the guard, and the
    /// flag that says the lease was given back.
    async fn holding_a_slow_lease_lock() -> (
        Arc<SessionLocks>,
        crate::store::AnyStore,
        Id,
        Id,
        SessionLockGuard,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let locks = Arc::new(SessionLocks::default());
        let store = Arc::new(SlowLeases::default());
        let released = store.released.clone();
        let id = Id::random();
        let guard = locks.acquire(id).await;
        (
            locks,
            crate::store::AnyStore::new(store),
            id,
            id.at_rest(),
            guard,
            released,
        )
    }

    /// Waits (at most 2 s) until `released` is set; panics with `what`
    /// otherwise.
    async fn given_back(released: &std::sync::atomic::AtomicBool, what: &str) {
        for _ in 0..200 {
            if released.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{what} was never given back");
    }

    /// A request cancelled while the store is granting its lease (its
    /// client went away) must not leave the lease held until it runs out:
    /// the grant is given back as soon as it arrives.
    #[tokio::test]
    async fn a_lease_granted_to_a_cancelled_request_is_given_back() {
        let (locks, store, id, stored, guard, released) = holding_a_slow_lease_lock().await;
        let taking = locks.lease(&store, &id, &stored);
        // ...but the request is dropped before the grant arrives.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(5), taking)
                .await
                .is_err()
        );
        drop(guard);
        given_back(&released, "the lease granted to a cancelled request").await;
    }

    /// The same, when the grant has already reached the request (it sits
    /// in the channel) but the request is dropped before it reads it.
    #[tokio::test]
    async fn a_lease_granted_but_not_yet_read_is_given_back() {
        use std::future::Future;
        use std::task::Poll;

        let (locks, store, id, stored, guard, released) = holding_a_slow_lease_lock().await;
        let mut taking = Box::pin(locks.lease(&store, &id, &stored));
        std::future::poll_fn(|cx| {
            assert!(taking.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        // The store grants the lease and the task hands it over...
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!released.load(std::sync::atomic::Ordering::SeqCst));
        // ...to a request that is dropped before it runs again.
        drop(taking);
        drop(guard);
        given_back(
            &released,
            "a lease handed to a request dropped before reading it",
        )
        .await;
    }

    #[tokio::test]
    async fn entries_are_removed_when_released() {
        let locks = Arc::new(SessionLocks::default());
        let id = Id::random();
        let first = locks.acquire(id).await;
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.acquire(id).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(locks.len(), 1);
        drop(first);
        let second = waiter.await.unwrap();
        assert_eq!(locks.len(), 1);
        drop(second);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_cancelled_after_the_release_leaves_no_entry() {
        use std::future::Future;
        use std::task::Poll;

        let locks = Arc::new(SessionLocks::default());
        let id = Id::random();
        let holder = locks.acquire(id).await;
        let mut waiter = Box::pin(locks.acquire(id));
        // Poll the waiter once: it registers and queues on the held lock.
        std::future::poll_fn(|cx| {
            assert!(waiter.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(locks.len(), 1);
        // The holder releases while a waiter is queued, then the waiter is
        // cancelled (its request dropped) before it runs again.
        drop(holder);
        drop(waiter);
        assert_eq!(locks.len(), 0, "the entry leaked");

        // And a waiter cancelled while the lock is still held.
        let holder = locks.acquire(id).await;
        let mut waiter = Box::pin(locks.acquire(id));
        std::future::poll_fn(|cx| {
            assert!(waiter.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        drop(waiter);
        assert_eq!(locks.len(), 1);
        drop(holder);
        assert_eq!(locks.len(), 0);
        // The table still works for that id.
        drop(locks.acquire(id).await);
        assert_eq!(locks.len(), 0);
    }
}
