//! The local cache when its tracking connection is lost: the cache is
//! flushed and bypassed (no entry whose invalidation may have been missed
//! is served), and serves again once a new tracking connection is made.
//! Alone in its test binary: it kills every tracking connection of the
//! store's name on the server.

mod common;

use std::time::Duration;

use serde_json::json;
use session_core::store::{ChangeSet, SessionStore};
use session_core::Id;
use session_store_redis::CacheState;

use common::cache::{kill_tracking, record, until};
use common::n;

#[tokio::test]
async fn a_lost_tracking_connection_flushes_and_bypasses_until_back() {
    let prefix = format!("test:cache-link:{}:", Id::random().encode());
    let a = common::standalone()
        .await
        .with_prefix(&prefix)
        .with_local_cache(100)
        .await
        .unwrap();
    let b = common::standalone().await.with_prefix(&prefix);
    let record = record(None);
    a.create(&record).await.unwrap();
    assert_eq!(n(&a, &record.id).await, Some(json!(1)));
    assert_eq!(n(&a, &record.id).await, Some(json!(1)));
    assert_eq!(a.cache_stats().hits, 1);

    // Kill the tracking connection (by its name) behind the store's back.
    let mut admin = common::raw_standalone().await;
    let killed = kill_tracking(&mut admin).await;
    assert!(killed >= 1);
    until(&a, "the loss noticed", |state| {
        *state != CacheState::Tracking
    })
    .await;
    let lost = a.cache_stats();
    eprintln!("after the kill: {lost:?}");
    assert_eq!(lost.entries, 0);
    assert!(lost.flushes >= 1);

    // Meanwhile a write elsewhere: read uncached, never from the old entry.
    let mut changes = ChangeSet::new(record.expires_at);
    changes.set.insert("n".into(), json!(2));
    b.save(&record.id, &changes).await.unwrap();
    let hits = a.cache_stats().hits;
    assert_eq!(n(&a, &record.id).await, Some(json!(2)));

    until(&a, "tracking back", |state| *state == CacheState::Tracking).await;
    assert_eq!(n(&a, &record.id).await, Some(json!(2)));
    assert_eq!(n(&a, &record.id).await, Some(json!(2)));
    let back = a.cache_stats();
    eprintln!("back: {back:?}");
    assert_eq!(back.hits, hits + 1);
    // And it is tracked again: B's next write reaches A.
    changes.set.insert("n".into(), json!(3));
    b.save(&record.id, &changes).await.unwrap();
    for _ in 0..1000 {
        if a.cache_stats().invalidations > back.invalidations {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(n(&a, &record.id).await, Some(json!(3)));
}
