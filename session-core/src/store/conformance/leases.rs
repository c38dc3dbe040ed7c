//! Conformance checks of leases across instances
//! ([`LeaseStore`](crate::store::LeaseStore)).

use std::time::Duration as StdDuration;

use super::{lease_store, DynStore};
use crate::store::{Id, SessionLease, StoreError};

/// How long a free lease may take to grant, and how long a waiter may
/// take to get in once the holder gave its lease back.
const PROMPT: StdDuration = StdDuration::from_secs(3);

/// Takes the lease on `id`, failing the check when that takes longer than
/// [`PROMPT`] or the store refuses.
async fn take(store: &DynStore, id: &Id, what: &str) -> Box<dyn SessionLease> {
    tokio::time::timeout(PROMPT, lease_store(store).lock(id))
        .await
        .unwrap_or_else(|_| panic!("{what}: the lease was not granted within {PROMPT:?}"))
        .unwrap_or_else(|err| panic!("{what}: the lease was refused: {err}"))
}

/// Asks for the lease on `id` on a task of its own.
fn ask(
    store: &DynStore,
    id: Id,
) -> tokio::task::JoinHandle<Result<Box<dyn SessionLease>, StoreError>> {
    let store = store.clone();
    tokio::spawn(async move { lease_store(&store).lock(&id).await })
}

/// While a lease is held, nobody else gets one on that session: a second
/// request waits (or is refused once the store's wait runs out); once the
/// holder releases it, the next one gets in.
pub async fn a_lease_is_exclusive_until_released(store: DynStore) {
    let id = Id::random();
    let held = take(&store, &id, "a free session").await;
    let waiter = ask(&store, id);
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    if waiter.is_finished() {
        match waiter.await.expect("the waiting task panicked") {
            Ok(lease) => {
                lease.release().await;
                panic!("a second lease was granted while the first was held");
            }
            // The store's wait is shorter than ours: refused is right, and
            // once the holder gives it back the lease is free.
            Err(_) => {
                held.release().await;
                take(&store, &id, "a session whose lease was released")
                    .await
                    .release()
                    .await;
            }
        }
        return;
    }
    held.release().await;
    let next = tokio::time::timeout(PROMPT, waiter)
        .await
        .unwrap_or_else(|_| {
            panic!("the waiter did not get the lease within {PROMPT:?} of its release")
        })
        .expect("the waiting task panicked")
        .expect("the waiter was refused after the lease was released");
    next.release().await;
}

/// A released lease is free at once: taking, releasing and taking again
/// in a row never waits for the first lease to run out.
pub async fn a_released_lease_lets_the_next_one_in(store: DynStore) {
    let id = Id::random();
    for round in 0..5 {
        let lease = take(&store, &id, &format!("round {round}")).await;
        lease.release().await;
    }
}

/// A lease on one session does not hold up another session's.
pub async fn leases_of_different_sessions_are_independent(store: DynStore) {
    let (a, b) = (Id::random(), Id::random());
    let held = take(&store, &a, "session a").await;
    let other = take(&store, &b, "session b while a is held").await;
    other.release().await;
    held.release().await;
}
