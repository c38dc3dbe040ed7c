//! Fault behaviour on a throwaway three-node Redis Cluster this test starts
//! on free loopback ports: when the node that holds a session is killed,
//! operations on that session fail with `Unavailable` within the timeout
//! while sessions on the other nodes keep working; when the node comes
//! back, the same store serves it again.
//!
//! Needs `redis-server` and `redis-cli` (or `REDIS_SERVER` / `REDIS_CLI`).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{Created, Record, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_core::Id;
use session_store_redis::{redis, RedisStore};

use common::nodes::start_cluster;

const TIMEOUT: Duration = Duration::from_millis(800);
/// Scheduling slack on a busy two-core machine.
const SLACK: Duration = Duration::from_millis(700);

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("user".into(), json!("alice"));
    record
}

/// The port of the node that serves `key`.
async fn owner_port(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> u16 {
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap();
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap();
    let redis::Value::Array(ranges) = slots else {
        panic!("unexpected CLUSTER SLOTS reply {slots:?}")
    };
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        let (redis::Value::Int(start), redis::Value::Int(end), redis::Value::Array(node)) =
            (&parts[0], &parts[1], &parts[2])
        else {
            continue;
        };
        if (*start..=*end).contains(&slot) {
            if let redis::Value::Int(port) = node[1] {
                return port as u16;
            }
        }
    }
    panic!("no node serves slot {slot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_cluster_node_fails_fast_and_recovers() {
    let (_cleanup, mut nodes, urls) = start_cluster("cluster", 3, 0);
    let ports: Vec<u16> = nodes.iter().map(|node| node.port).collect();
    let store = RedisStore::connect_cluster(&urls)
        .await
        .expect("connect to the throwaway cluster")
        .with_timeout(TIMEOUT);
    let mut raw = redis::Client::open(urls[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    // One session on the node we will kill, one elsewhere.
    let victim_port = ports[1];
    let victim_index = 1;
    let mut on_victim = None;
    let mut elsewhere = None;
    for _ in 0..200 {
        let record = record();
        let owner = owner_port(&mut raw, &store.key(&record.id)).await;
        if owner == victim_port && on_victim.is_none() {
            on_victim = Some(record);
        } else if owner != victim_port && owner != ports[0] && elsewhere.is_none() {
            // Not on the node our raw connection uses, so that it stays up.
            elsewhere = Some(record);
        }
        if on_victim.is_some() && elsewhere.is_some() {
            break;
        }
    }
    let (on_victim, elsewhere) = (on_victim.unwrap(), elsewhere.unwrap());
    assert_eq!(store.create(&on_victim).await.unwrap(), Created::Inserted);
    assert_eq!(store.create(&elsewhere).await.unwrap(), Created::Inserted);

    nodes[victim_index].kill();
    for round in 0..3 {
        let started = Instant::now();
        let result = store.load(&on_victim.id).await;
        let took = started.elapsed();
        eprintln!("node down, round {round}: load -> {result:?} after {took:?}");
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "a session on a dead node must be Unavailable, got {result:?}"
        );
        assert!(took <= TIMEOUT + SLACK, "took {took:?}");
        let started = Instant::now();
        let other = store.load(&elsewhere.id).await;
        eprintln!(
            "node down, round {round}: other node's session loaded after {:?}",
            started.elapsed()
        );
        assert!(
            matches!(other, Ok(Some(_))),
            "sessions on live nodes must keep working: {other:?}"
        );
    }

    // Back with the same cluster config (its slots) but no data.
    nodes[victim_index].restart();
    let back = Instant::now();
    let mut recovered = None;
    for _ in 0..50 {
        match store.load(&on_victim.id).await {
            Ok(loaded) => {
                recovered = Some(back.elapsed());
                assert!(loaded.is_none(), "this Redis keeps no data across restarts");
                break;
            }
            Err(err) => {
                eprintln!("node back: {err} after {:?}", back.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let recovered = recovered.expect("the store did not recover within ~5 s of the node's restart");
    eprintln!("node back: first successful load {recovered:?} after the restart");
    let mut fresh = record();
    fresh.id = on_victim.id;
    assert_eq!(store.create(&fresh).await.unwrap(), Created::Inserted);
    assert!(store.load(&fresh.id).await.unwrap().is_some());
}
