//! Loads, saves and touches made at the same moment share one write to
//! Redis (the store's batcher, on one node), and each still gets its own
//! answer: one call's error is not another's.

mod common;

use serde_json::json;
use session_core::store::{ChangeSet, Record, Saved, SessionStore, StoreError};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::redis;

const CALLS: usize = 256;

fn record(n: usize) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(n));
    record
}

async fn reads_processed(conn: &mut impl redis::aio::ConnectionLike) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_reads_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has total_reads_processed (Redis 6 or later)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn calls_of_the_moment_share_a_write_and_keep_their_answers() {
    let store = common::standalone().await;
    let mut conn = common::raw_standalone().await;
    let records: Vec<Record> = (0..CALLS).map(record).collect();
    for record in &records {
        store.create(record).await.unwrap();
    }
    // A key that holds no hash: its load fails (Corrupt), in the middle of
    // the others.
    let broken = Id::random();
    let _: () = redis::cmd("SET")
        .arg(store.key(&broken))
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    let gone = Id::random();

    let before = reads_processed(&mut conn).await;
    // Every task is let go at once, by the last to arrive (as requests
    // woken by their sockets): each call then wakes the connection's task,
    // which the runtime runs next.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(CALLS));
    let mut tasks = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let (each, id, start) = (store.clone(), record.id, start.clone());
        tasks.push(tokio::spawn(async move {
            let store = each;
            start.wait().await;
            let loaded = store.load(&id).await.unwrap().expect("a live session");
            assert_eq!(loaded.data["n"], json!(i));
            let mut changes = ChangeSet::new(loaded.expires_at);
            changes.set.insert("n".into(), json!(i + 1));
            assert_eq!(store.save(&id, &changes).await.unwrap(), Saved::Applied);
        }));
        if i == CALLS / 2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let err = store.load(&broken).await.unwrap_err();
                assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
                let changes = ChangeSet::new(OffsetDateTime::now_utc() + Duration::hours(1));
                assert!(store.save(&broken, &changes).await.is_err());
                assert_eq!(store.load(&gone).await.unwrap(), None);
                assert_eq!(store.save(&gone, &changes).await.unwrap(), Saved::Gone);
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let reads = reads_processed(&mut conn).await - before;
    // 513 calls. Batched: about ten reads. Each call written on its own
    // (what Tokio's multi-thread runtime made of the multiplexed connection
    // without the batcher, often but not every time in this test): up to
    // one read per call. Other clients of a shared server add a few.
    assert!(
        reads < (CALLS / 4) as u64,
        "{reads} reads by Redis for {} calls",
        2 * CALLS
    );

    for (i, record) in records.iter().enumerate() {
        let loaded = store.load(&record.id).await.unwrap().unwrap();
        assert_eq!(loaded.data["n"], json!(i + 1));
        store.delete(&record.id).await.unwrap();
    }
    let _: () = redis::cmd("DEL")
        .arg(store.key(&broken))
        .query_async(&mut conn)
        .await
        .unwrap();
}
