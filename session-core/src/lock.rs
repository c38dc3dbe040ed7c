//! Per-session request serialization: one request per session at a time.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::OwnedMutexGuard;

use crate::Id;

const SHARDS: usize = 64;

type Slot = Arc<tokio::sync::Mutex<()>>;

/// A table of per-session async locks; an entry lives only while someone
/// holds or waits for it, so the table never grows past the sessions in
/// flight.
#[derive(Debug)]
pub(crate) struct SessionLocks {
    shards: Box<[Mutex<HashMap<Id, Slot>>]>,
}

impl Default for SessionLocks {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// Holds one session's lock; releasing it removes the entry when unused.
pub(crate) struct SessionLockGuard {
    locks: Arc<SessionLocks>,
    id: Id,
    slot: Slot,
    guard: Option<OwnedMutexGuard<()>>,
}

impl SessionLocks {
    fn shard(&self, id: &Id) -> &Mutex<HashMap<Id, Slot>> {
        &self.shards[id.as_bytes()[0] as usize % SHARDS]
    }

    /// Waits until no other request of session `id` is running.
    pub(crate) async fn acquire(self: &Arc<Self>, id: Id) -> SessionLockGuard {
        let slot = self.shard(&id).lock().entry(id).or_default().clone();
        let guard = slot.clone().lock_owned().await;
        SessionLockGuard {
            locks: self.clone(),
            id,
            slot,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

impl Drop for SessionLockGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut shard = self.locks.shard(&self.id).lock();
        // The table and this guard hold the only references: nobody waits.
        if Arc::strong_count(&self.slot) == 2 {
            shard.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
