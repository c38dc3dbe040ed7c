//! The local cache on a Redis Cluster of its own (three masters, a replica
//! each) when the master of a cached session is failed over by hand
//! (`CLUSTER FAILOVER` on its replica): the demoted master keeps its
//! connections, so nothing is lost, yet its replacement knows nothing of
//! what the caches hold. A fenced load sees the replacement's writes at
//! once (the demoted node answers the fence with a redirect); a pushed
//! load sees them once the caches picked up the new slot map (a flush), or
//! earlier if the demoted node pushes an invalidation for the write it
//! replicates; afterwards both caches serve again, from the new master.
//!
//! Needs `redis-server` and `redis-cli` (or `REDIS_SERVER` / `REDIS_CLI`).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{Saved, SessionStore};
use session_core::Id;
use session_store_redis::{redis, CacheMode, CacheState, RedisStore};

use common::cache::{record, set};
use common::nodes::start_cluster;
use common::{master_of_in, n, raw_node, until_hit};

/// The URL of the replica of the master at `master` (waits, at most 20 s,
/// until the master knows it).
async fn replica_of(master: &str) -> String {
    let mut node = raw_node(master).await;
    let id: String = redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut node)
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let replicas: Vec<String> = redis::cmd("CLUSTER")
            .arg("REPLICAS")
            .arg(&id)
            .query_async(&mut node)
            .await
            .unwrap();
        if let Some(line) = replicas.first() {
            let address = line.split(' ').nth(1).unwrap();
            let address = address.split('@').next().unwrap();
            return format!("redis://{address}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{master} has no replica"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 20 s) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// B's save of `value`, through a new cluster connection each time until
/// one applies it (at most 10 s): a cluster connection sends the save's
/// transaction to the master its slot map names, and after a failover a
/// transaction that meets `MOVED` fails without refreshing that map (nor
/// does a new connection have the new map before every node it asks has
/// heard of the failover). Returns the store that saved.
async fn save_fresh(urls: &[String], id: &Id, value: i64) -> RedisStore {
    let start = Instant::now();
    loop {
        let b = RedisStore::connect_cluster(urls).await.unwrap();
        match b.save(id, &set(value)).await {
            Ok(saved) => {
                assert_eq!(saved, Saved::Applied);
                return b;
            }
            Err(err) => eprintln!("save after {:?}: {err}", start.elapsed()),
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no save applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_under_a_cached_session() {
    let (_cleanup, _nodes, urls) = start_cluster("cache-failover", 3, 1);
    let cached = |mode| {
        let urls = urls.clone();
        async move {
            RedisStore::connect_cluster(&urls)
                .await
                .unwrap()
                .with_local_cache_mode(100, mode)
                .await
                .unwrap()
        }
    };
    let a = cached(CacheMode::Fenced).await;
    let p = cached(CacheMode::Pushed).await;
    for store in [&a, &p] {
        let stats = store.cache_stats();
        assert_eq!(
            (stats.state.clone(), stats.connections),
            (CacheState::Tracking, 3),
            "{stats:?}"
        );
    }
    let b = RedisStore::connect_cluster(&urls).await.unwrap();
    let record = record(None);
    b.create(&record).await.unwrap();
    let id = record.id;
    let key = a.key(&id);
    let master = master_of_in(&urls[0], &key).await;
    let replica = replica_of(&master).await;
    until("the replica in sync", async || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut raw_node(&replica).await)
            .await
            .unwrap();
        info.contains("master_link_status:up")
    })
    .await;
    until_hit(&a, &id).await;
    until_hit(&p, &id).await;
    let flushes = (a.cache_stats().flushes, p.cache_stats().flushes);

    redis::cmd("CLUSTER")
        .arg("FAILOVER")
        .query_async::<()>(&mut raw_node(&replica).await)
        .await
        .unwrap();
    until("the replica promoted", async || {
        master_of_in(&replica, &key).await == replica
    })
    .await;
    // The fence, like an uncached read, asks the node the slot map names:
    // until the former master has heard of its replacement (a gossip
    // message away; longer if it is cut off), it still answers reads as
    // the owner. From then on it answers them with a redirect.
    until("the former master demoted", async || {
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut raw_node(&master).await)
            .await
            .unwrap();
        matches!(role.first(), Some(redis::Value::BulkString(role)) if role == b"slave")
    })
    .await;
    eprintln!("{key}: {master} failed over to {replica}");

    // The new master's write.
    let b = save_fresh(&urls, &id, 2).await;
    assert_eq!(n(&a, &id).await, Some(json!(2)), "fenced, right after");
    let started = Instant::now();
    let pushed = n(&p, &id).await;
    eprintln!(
        "pushed, right after the failover: {pushed:?}; {:?}",
        p.cache_stats()
    );
    while n(&p, &id).await != Some(json!(2)) {
        // At most one heartbeat and the time to ask for the slot map.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "pushed: still stale after 5 s: {:?}",
            p.cache_stats()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("pushed: saw the write after {:?}", started.elapsed());

    // Both caches pick up the new map (a flush) and serve again, from the
    // new master, whose writes reach them.
    for (store, before) in [(&a, flushes.0), (&p, flushes.1)] {
        until("the new map picked up", async || {
            let stats = store.cache_stats();
            stats.flushes > before && stats.state == CacheState::Tracking
        })
        .await;
        eprintln!("after the failover: {:?}", store.cache_stats());
        assert_eq!(store.cache_stats().connections, 3);
        until_hit(store, &id).await;
    }
    let seen = p.cache_stats().invalidations;
    assert_eq!(b.save(&id, &set(3)).await.unwrap(), Saved::Applied);
    assert_eq!(n(&a, &id).await, Some(json!(3)));
    until("the pushed invalidation", async || {
        p.cache_stats().invalidations > seen
    })
    .await;
    assert_eq!(n(&p, &id).await, Some(json!(3)));
    b.delete(&id).await.unwrap();
    assert_eq!(n(&a, &id).await, None);
}
