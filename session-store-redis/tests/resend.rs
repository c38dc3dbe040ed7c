//! Commands resent after a broken connection. On one node the store sends
//! an operation once more when its connection broke before the answer
//! came; Redis may have run the first one. Through a proxy that swallows
//! the answer and closes the connection (after Redis ran the command),
//! each operation must answer as if it had been sent once: a lease finds
//! its own token and is granted, a create finds what it wrote and answers
//! `Inserted` (no orphan session in the user's list), a cycle finds its
//! own move.

mod common;

use std::time::{Duration as StdDuration, Instant};

use serde_json::json;
use session_core::store::{
    ChangeSet, Created, CycleStore, Cycled, LeaseStore, Record, Saved, SessionStore, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::RedisStore;

use common::proxy::{Cut, Proxy};

const LEASE: StdDuration = StdDuration::from_secs(3);
const WAIT: StdDuration = StdDuration::from_secs(1);

fn bound(user: &str) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record.user = Some(user.to_owned());
    record
}

async fn through(proxy: &Proxy) -> RedisStore {
    RedisStore::connect(&proxy.url())
        .await
        .unwrap()
        .with_prefix(common::PREFIX)
        .with_lease(LEASE, WAIT)
}

/// The lease's `SET NX`, run by Redis but its answer lost, is resent: it
/// finds the key holding its own token and takes the lease at once (it
/// used to wait for itself until the wait ran out: a `503`). The lease is
/// then given back as usual, and another request takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_lease_is_granted() {
    let proxy = Proxy::start().await;
    let store = through(&proxy).await;
    let id = Id::random();
    proxy.cut(store.lock_key(&id), Cut::Answer, 1);
    let started = Instant::now();
    let lease = store.lock(&id).await;
    let took = started.elapsed();
    assert_eq!(proxy.cuts(), 1, "the answer was not cut");
    let lease =
        lease.unwrap_or_else(|err| panic!("the resent lease was refused after {took:?}: {err}"));
    assert!(took < WAIT, "the resent lease waited {took:?}");
    lease.release().await;
    let mut conn = common::raw_standalone().await;
    assert!(!common::exists(&mut conn, &store.lock_key(&id)).await);
    let again = store.lock(&id).await.unwrap();
    again.release().await;
}

/// A lease held by another request is still refused after the wait, resend
/// or not: the resend recognises only its own token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_lease_still_waits_for_another() {
    let proxy = Proxy::start().await;
    let store = through(&proxy).await;
    let id = Id::random();
    let held = common::standalone()
        .await
        .with_lease(LEASE, WAIT)
        .lock(&id)
        .await
        .unwrap();
    proxy.cut(store.lock_key(&id), Cut::Answer, 1);
    let refused = store.lock(&id).await;
    assert_eq!(proxy.cuts(), 1);
    assert!(refused.is_err(), "a lease held by another was granted");
    held.release().await;
}

/// A bound create whose answer was lost is resent: it finds exactly what
/// it wrote and answers `Inserted`. Before, it answered `IdTaken`, the
/// layer drew another id and created the session again, and the first
/// one stayed in the user's list (a device that does not exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_create_is_inserted_once() {
    let proxy = Proxy::start().await;
    let store = through(&proxy).await;
    let user = format!("resent-{}", Id::random().short_hash());
    // Once, so that the script is known to the server and the cut hits
    // the create itself.
    let warm = bound(&user);
    store.create(&warm).await.unwrap();
    store.delete(&warm.id).await.unwrap();

    let record = bound(&user);
    proxy.cut(store.key(&record.id), Cut::Answer, 1);
    let created = store.create(&record).await.unwrap();
    assert_eq!(proxy.cuts(), 1, "the answer was not cut");
    assert_eq!(created, Created::Inserted);
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, record.data);
    let listed: Vec<Id> = store
        .list_user(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [record.id]);

    // The same create again is not a resend of the first: the session
    // was saved since, so it is someone else's now.
    let mut change = ChangeSet::new(record.expires_at + Duration::minutes(5));
    change.set.insert("n".into(), json!(2));
    assert_eq!(
        store.save(&record.id, &change).await.unwrap(),
        Saved::Applied
    );
    assert_eq!(store.create(&record).await.unwrap(), Created::IdTaken);
    store.delete_user(&user, None).await.unwrap();
}

/// A cycle whose answer was lost is resent and answers `Moved`, the new
/// session in place and the old one gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_cycle_is_moved_once() {
    let proxy = Proxy::start().await;
    let store = through(&proxy).await;
    let user = format!("resent-{}", Id::random().short_hash());
    let warm = bound(&user);
    store.create(&warm).await.unwrap();
    store.cycle(&warm.id, &bound(&user)).await.unwrap();

    let old = bound(&user);
    store.create(&old).await.unwrap();
    let new = bound(&user);
    proxy.cut(store.key(&new.id), Cut::Answer, 1);
    assert_eq!(store.cycle(&old.id, &new).await.unwrap(), Cycled::Moved);
    assert_eq!(proxy.cuts(), 1, "the answer was not cut");
    assert!(store.load(&old.id).await.unwrap().is_none());
    assert!(store.load(&new.id).await.unwrap().is_some());
    store.delete_user(&user, None).await.unwrap();
}
