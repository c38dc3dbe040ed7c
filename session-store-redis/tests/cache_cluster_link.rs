//! The local cache on a Redis Cluster when the tracking connection to one
//! master is lost: the whole cache is flushed and bypassed (no entry whose
//! invalidation may have been missed is served), and serves again, on
//! every master, once a new tracking connection is made. Alone in its test
//! binary: it kills every tracking connection of the store's name on one
//! master.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use session_core::store::SessionStore;
use session_core::Id;
use session_store_redis::{CacheMode, CacheState};

use common::cache::{kill_tracking, record, set, until};
use common::n;

#[tokio::test]
async fn a_lost_tracking_connection_on_one_master_flushes_and_bypasses_until_back() {
    for mode in [CacheMode::Fenced, CacheMode::Pushed] {
        lost_and_back(mode).await;
    }
}

async fn lost_and_back(mode: CacheMode) {
    let prefix = format!("test:cache-cluster-link:{}:", Id::random().encode());
    let a = common::cluster()
        .await
        .with_prefix(&prefix)
        .with_local_cache_mode(1000, mode)
        .await
        .unwrap();
    let b = common::cluster().await.with_prefix(&prefix);
    let masters = a.cache_stats().connections;
    assert!(masters >= 3, "{:?}", a.cache_stats());

    // Sessions on every master, all cached.
    let mut by_master: BTreeMap<String, Vec<Id>> = BTreeMap::new();
    for _ in 0..48 {
        let record = record(None);
        a.create(&record).await.unwrap();
        assert_eq!(n(&a, &record.id).await, Some(json!(1)));
        assert_eq!(n(&a, &record.id).await, Some(json!(1)));
        let master = common::master_of(&a.key(&record.id)).await;
        by_master.entry(master).or_default().push(record.id);
    }
    assert_eq!(by_master.len(), masters, "{by_master:?}");
    let cached = a.cache_stats();
    assert_eq!((cached.hits, cached.entries), (48, 48), "{cached:?}");

    // Kill the tracking connection on one master behind the store's back.
    let (victim, on_victim) = by_master.iter().next().unwrap();
    let (other, on_other) = by_master.iter().nth(1).unwrap();
    assert!(kill_tracking(&mut common::raw_node(victim).await).await >= 1);
    until(&a, "the loss noticed", |state| {
        *state != CacheState::Tracking
    })
    .await;
    let lost = a.cache_stats();
    eprintln!("{mode:?}, after the kill on {victim}: {lost:?}");
    assert_eq!((lost.entries, lost.connections), (0, 0));
    assert!(lost.flushes > cached.flushes);

    // Meanwhile writes elsewhere, on the lost master and on another one:
    // read uncached, never from an old entry.
    b.save(&on_victim[0], &set(2)).await.unwrap();
    b.save(&on_other[0], &set(2)).await.unwrap();
    let hits = a.cache_stats().hits;
    assert_eq!(n(&a, &on_victim[0]).await, Some(json!(2)));
    assert_eq!(n(&a, &on_other[0]).await, Some(json!(2)));
    assert_eq!(n(&a, &on_other[1]).await, Some(json!(1)));
    assert_eq!(a.cache_stats().hits, hits);

    until(&a, "tracking back", |state| *state == CacheState::Tracking).await;
    let back = a.cache_stats();
    eprintln!("{mode:?}, back: {back:?} (other master: {other})");
    assert_eq!(back.connections, masters);
    for id in [&on_victim[0], &on_other[0]] {
        assert_eq!(n(&a, id).await, Some(json!(2)));
        assert_eq!(n(&a, id).await, Some(json!(2)));
    }
    assert_eq!(a.cache_stats().hits, back.hits + 2);

    // And it is tracked again on every master: B's next writes reach A.
    let seen = a.cache_stats().invalidations;
    b.save(&on_victim[0], &set(3)).await.unwrap();
    b.save(&on_other[0], &set(3)).await.unwrap();
    if mode == CacheMode::Pushed {
        for _ in 0..1000 {
            if a.cache_stats().invalidations >= seen + 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert_eq!(n(&a, &on_victim[0]).await, Some(json!(3)));
    assert_eq!(n(&a, &on_other[0]).await, Some(json!(3)));
    assert!(a.cache_stats().invalidations >= seen + 2);
}
