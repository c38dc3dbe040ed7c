//! Fault behaviour against a throwaway `redis-server` this test starts on a
//! free loopback port: killed, the store fails fast with `Unavailable`;
//! frozen, it fails within its timeout; back, the same store works again.
//!
//! Needs the `redis-server` binary (or `REDIS_SERVER=/path/to/redis-server`).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{ChangeSet, Created, Record, Saved, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_core::Id;
use session_store_redis::RedisStore;

use common::server::{free_port, Server};

const TIMEOUT: Duration = Duration::from_millis(800);
/// Scheduling slack on a busy two-core machine.
const SLACK: Duration = Duration::from_millis(700);

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("user".into(), json!("alice"));
    record
}

fn changes() -> ChangeSet {
    let mut changes = ChangeSet::new(OffsetDateTime::now_utc() + time::Duration::hours(1));
    changes.set.insert("count".into(), json!(1));
    changes
}

/// Runs every operation once and returns the slowest time to its error,
/// asserting each one fails with `Unavailable`.
async fn every_operation_is_unavailable(store: &RedisStore, what: &str) -> Duration {
    let id = Id::random();
    let mut slowest = Duration::ZERO;
    let mut check = |name: &str, started: Instant, result: Result<(), StoreError>| {
        let took = started.elapsed();
        match result {
            Err(StoreError::Unavailable(cause)) => {
                eprintln!("{what}: {name} -> Unavailable after {took:?} ({cause})");
            }
            other => panic!("{what}: {name} should be Unavailable, got {other:?}"),
        }
        assert!(
            took <= TIMEOUT + SLACK,
            "{what}: {name} took {took:?}, more than the {TIMEOUT:?} timeout"
        );
        slowest = slowest.max(took);
    };
    let t = Instant::now();
    check("load", t, store.load(&id).await.map(drop));
    let t = Instant::now();
    check("create", t, store.create(&record()).await.map(drop));
    let t = Instant::now();
    check("save", t, store.save(&id, &changes()).await.map(drop));
    let t = Instant::now();
    let later = OffsetDateTime::now_utc() + time::Duration::hours(2);
    check("touch", t, store.touch(&id, later).await.map(drop));
    let t = Instant::now();
    check("delete", t, store.delete(&id).await);
    slowest
}

/// Creates, saves, loads and deletes one session.
async fn works(store: &RedisStore) {
    let record = record();
    assert_eq!(store.create(&record).await.unwrap(), Created::Inserted);
    assert_eq!(
        store.save(&record.id, &changes()).await.unwrap(),
        Saved::Applied
    );
    let loaded = store.load(&record.id).await.unwrap().expect("just created");
    assert_eq!(loaded.data["count"], 1);
    store.delete(&record.id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_frozen_and_restarted_redis() {
    let port = free_port();
    let mut server = Server::start(port);
    let store = RedisStore::connect(&server.url())
        .await
        .expect("connect to the throwaway redis-server")
        .with_timeout(TIMEOUT);
    works(&store).await;
    let survivor = record();
    store.create(&survivor).await.unwrap();

    // 1. Killed: connection refused, so every operation fails at once.
    server.kill();
    let slowest = every_operation_is_unavailable(&store, "killed").await;
    eprintln!("killed: slowest time to Unavailable {slowest:?}");
    // Still refused on a second round (each failure starts a fresh attempt).
    every_operation_is_unavailable(&store, "killed, again").await;

    // 2. Back on the same port: the very first operation succeeds, without
    // rebuilding the store. (The data is gone: this Redis keeps nothing.)
    let mut server = Server::start(port);
    let back = Instant::now();
    let loaded = store.load(&survivor.id).await;
    eprintln!(
        "restarted: first load answered after {:?}: {loaded:?}",
        back.elapsed()
    );
    assert!(
        matches!(loaded, Ok(None)),
        "first operation after restart: {loaded:?}"
    );
    works(&store).await;
    eprintln!(
        "restarted: store fully working {:?} after the restart",
        back.elapsed()
    );

    // 3. Frozen (SIGSTOP): the connection stays open but nothing answers,
    // so every operation fails when the timeout runs out.
    server.signal("-STOP");
    let slowest = every_operation_is_unavailable(&store, "frozen").await;
    eprintln!("frozen: slowest time to Unavailable {slowest:?}");
    assert!(
        slowest >= TIMEOUT.saturating_sub(Duration::from_millis(50)),
        "a frozen Redis can only be noticed by the timeout"
    );
    server.signal("-CONT");
    let thawed = Instant::now();
    works(&store).await;
    eprintln!("thawed: store working again after {:?}", thawed.elapsed());

    // 4. Killed and restarted while the store was idle: the store only
    // learns of the broken connection on its next operation, which is
    // resent on a fresh connection and succeeds.
    server.kill();
    let _server = Server::start(port);
    let back = Instant::now();
    works(&store).await;
    eprintln!(
        "idle restart: first operations succeeded after {:?}",
        back.elapsed()
    );
}

/// A store whose server never answers at connect time reports Unavailable
/// within the timeout instead of hanging.
#[tokio::test]
async fn connect_to_nothing_is_unavailable() {
    let port = free_port();
    let started = Instant::now();
    let err = RedisStore::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < session_store_redis::DEFAULT_TIMEOUT + SLACK);
}
