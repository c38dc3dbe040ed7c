//! The local cache on a Redis Cluster while a slot moves to another master
//! and back (resharding by hand: `CLUSTER SETSLOT … IMPORTING/MIGRATING`,
//! `MIGRATE`, `CLUSTER SETSLOT … NODE`): a cached session is never served
//! stale, reads of a slot in migration keep nothing, and the cache serves
//! again from the new master once it has the new slot map. Alone in its
//! test binary: it changes the cluster's slot map (and restores it).

mod common;

use std::time::Duration;

use serde_json::json;
use session_core::store::{Saved, SessionStore};
use session_core::Id;
use session_store_redis::{redis, CacheMode, CacheState, RedisStore};

use common::cache::{record, set};
use common::{n, raw_node, until_hit};

/// `redis://host:port` as `(host, port)`.
fn host_port(url: &str) -> (String, u16) {
    let rest = url.trim_start_matches("redis://");
    let (host, port) = rest.rsplit_once(':').unwrap();
    (host.to_owned(), port.parse().unwrap())
}

async fn node_id(url: &str) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut raw_node(url).await)
        .await
        .unwrap()
}

/// Marks `slot` as moving from `from` to `to` and moves its keys.
async fn migrate_keys(slot: i64, from: &str, to: &str) {
    let (mut source, mut target) = (raw_node(from).await, raw_node(to).await);
    let (from_id, to_id) = (node_id(from).await, node_id(to).await);
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(&from_id)
        .query_async::<()>(&mut target)
        .await
        .unwrap();
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(&to_id)
        .query_async::<()>(&mut source)
        .await
        .unwrap();
    let (host, port) = host_port(to);
    for _ in 0..1000 {
        let keys: Vec<String> = redis::cmd("CLUSTER")
            .arg("GETKEYSINSLOT")
            .arg(slot)
            .arg(100)
            .query_async(&mut source)
            .await
            .unwrap();
        if keys.is_empty() {
            return;
        }
        redis::cmd("MIGRATE")
            .arg(&host)
            .arg(port)
            .arg("")
            .arg(0)
            .arg(5000)
            .arg("KEYS")
            .arg(&keys)
            .query_async::<()>(&mut source)
            .await
            .unwrap();
    }
    panic!("slot {slot} did not empty");
}

/// Gives `slot` to the master at `to`, on every master.
async fn assign(slot: i64, to: &str) {
    let to_id = node_id(to).await;
    // The new owner first, then the others (as redis-cli does).
    let mut urls = common::cluster_urls();
    urls.sort_by_key(|url| url.as_str() != to);
    for url in urls {
        redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to_id)
            .query_async::<()>(&mut raw_node(&url).await)
            .await
            .unwrap();
    }
}

/// Checks both caches against B's writes to `id`: A (fenced) sees each at
/// once, P (pushed) once its invalidation arrived.
async fn writes_are_seen(a: &RedisStore, p: &RedisStore, b: &RedisStore, id: &Id, value: i64) {
    until_hit(a, id).await;
    until_hit(p, id).await;
    let seen = p.cache_stats().invalidations;
    assert_eq!(b.save(id, &set(value)).await.unwrap(), Saved::Applied);
    assert_eq!(n(a, id).await, Some(json!(value)));
    for _ in 0..5000 {
        if p.cache_stats().invalidations > seen || p.cache_stats().state != CacheState::Tracking {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(n(p, id).await, Some(json!(value)));
}

#[tokio::test]
async fn a_slot_moved_away_and_back_under_a_cached_session() {
    let prefix = format!("test:cache-cluster-reshard:{}:", Id::random().encode());
    let cached = |mode| {
        let prefix = prefix.clone();
        async move {
            common::cluster()
                .await
                .with_prefix(prefix)
                .with_local_cache_mode(100, mode)
                .await
                .unwrap()
        }
    };
    let a = cached(CacheMode::Fenced).await;
    let p = cached(CacheMode::Pushed).await;
    let b = common::cluster().await.with_prefix(&prefix);
    let record = record(None);
    b.create(&record).await.unwrap();
    let id = record.id;
    let key = a.key(&id);
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&key)
        .query_async(&mut raw_node(&common::cluster_urls()[0]).await)
        .await
        .unwrap();
    let home = common::master_of(&key).await;
    let away = common::cluster_urls()
        .into_iter()
        .find(|url| *url != home)
        .unwrap();
    writes_are_seen(&a, &p, &b, &id, 2).await;
    let mut current = 2;

    for (round, (from, to)) in [(&home, &away), (&away, &home)].into_iter().enumerate() {
        let value = 10 * (round as i64 + 1);
        until_hit(&a, &id).await;
        until_hit(&p, &id).await;
        // The key moves (deleted from its master: an invalidation); while
        // the slot is in migration, loads are right and keep nothing.
        migrate_keys(slot, from, to).await;
        for store in [&a, &p] {
            for _ in 0..3 {
                let hits = store.cache_stats().hits;
                let loaded = store.load(&id).await.unwrap().expect("the session");
                assert_eq!(loaded.data["n"], json!(current));
                assert_eq!(store.cache_stats().hits, hits, "{:?}", store.cache_stats());
            }
        }
        let flushes = (a.cache_stats().flushes, p.cache_stats().flushes);
        assign(slot, to).await;
        assert_eq!(common::master_of(&key).await, *to);
        // B writes through the connection it had before the move: a save
        // is a plain pipeline, which the cluster connection redirects (a
        // `MULTI`/`EXEC` transaction that met MOVED kept failing, and this
        // test used to give B a new connection here).
        // The new map is picked up (a flush), and the new master's writes
        // reach both caches.
        for (store, before) in [(&a, flushes.0), (&p, flushes.1)] {
            for _ in 0..1000 {
                let stats = store.cache_stats();
                if stats.flushes > before && stats.state == CacheState::Tracking {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let stats = store.cache_stats();
            eprintln!("round {round}, slot {slot} now on {to}: {stats:?}");
            assert!(stats.flushes > before, "{stats:?}");
        }
        writes_are_seen(&a, &p, &b, &id, value).await;
        writes_are_seen(&a, &p, &b, &id, value + 1).await;
        current = value + 1;
    }
    b.delete(&id).await.unwrap();
    assert_eq!(n(&a, &id).await, None);
}
