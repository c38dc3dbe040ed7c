//! A connection that silently stops carrying data (a half-open TCP
//! connection: a host that vanished, a NAT or firewall that dropped its
//! state) is never reported broken by the OS in time. The store must
//! notice by its timeout and move to a fresh connection by itself.
//!
//! The test puts a TCP proxy it controls (`tests/common/proxy.rs`) between
//! the store and the Redis of `REDIS_URL`, then makes the proxy swallow
//! everything on the connections it has, while still carrying new ones.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{Created, Record, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_core::Id;
use session_store_redis::RedisStore;

use common::proxy::Proxy;

const TIMEOUT: Duration = Duration::from_millis(500);

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("user".into(), json!("alice"));
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_is_replaced() {
    let proxy = Proxy::start().await;
    let store = RedisStore::connect(&proxy.url())
        .await
        .expect("connect through the proxy")
        .with_prefix(common::PREFIX)
        .with_timeout(TIMEOUT);
    let first = record();
    assert_eq!(store.create(&first).await.unwrap(), Created::Inserted);

    // Stall the store's connection: the OS reports nothing.
    proxy.stall();
    let stalled = Instant::now();
    let mut timeouts = 0;
    let mut loaded = None;
    for _ in 0..5 {
        let started = Instant::now();
        match store.load(&first.id).await {
            Ok(found) => {
                loaded = Some(found);
                break;
            }
            Err(StoreError::Unavailable(cause)) => {
                eprintln!(
                    "stalled: load -> Unavailable after {:?} ({cause})",
                    started.elapsed()
                );
                assert!(started.elapsed() < TIMEOUT + Duration::from_millis(500));
                timeouts += 1;
            }
            Err(other) => panic!("a stalled connection must be Unavailable, got {other:?}"),
        }
    }
    let loaded = loaded.expect("the store never moved off the stalled connection");
    eprintln!(
        "stalled: {timeouts} timeout(s), then served again {:?} after the stall",
        stalled.elapsed()
    );
    assert_eq!(
        loaded.expect("the session is still in Redis").data,
        first.data
    );
    assert!(
        timeouts <= 1,
        "{timeouts} timeouts before the connection was replaced"
    );
    store.delete(&first.id).await.unwrap();
}
