//! Saves and touches racing a logout, and each other, on a real Redis.
//!
//! A save or touch is a pipeline of plain commands, not a transaction:
//! a `DEL` can land between any two of them (see `RedisStore::write_live`).
//! Whatever the interleaving, a write never brings the session back, a
//! write that begins after the delete was answered reports `Gone`, and
//! nothing is left under the key once every write is answered.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::json;
use session_core::store::{ChangeSet, Record, Saved, SessionStore};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::redis;
use session_store_redis::RedisStore;

use common::exists;

/// Sessions raced, one after another.
const ROUNDS: usize = 150;
/// Concurrent writers per session, each on a key of its own.
const WRITERS: usize = 4;
/// Writes per writer and session.
const WRITES: usize = 6;

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(0));
    record
}

/// Writer `w`'s `i`-th write: a save of its own key, every third a touch.
async fn write(store: &RedisStore, id: &Id, w: usize, i: usize) -> Saved {
    let expires = OffsetDateTime::now_utc() + Duration::hours(1);
    if i % 3 == 2 {
        return store.touch(id, expires).await.unwrap();
    }
    let mut changes = ChangeSet::new(expires);
    changes.set.insert(format!("w{w}"), json!(i));
    if i % 3 == 1 {
        changes.removed.push("n".into());
    }
    store.save(id, &changes).await.unwrap()
}

async fn saves_race_a_delete(store: RedisStore, conn: &mut impl redis::aio::ConnectionLike) {
    let (mut applied, mut gone) = (0, 0);
    for round in 0..ROUNDS {
        let record = record();
        let id = record.id;
        store.create(&record).await.unwrap();
        let deleted = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (store, deleted) = (store.clone(), deleted.clone());
            tasks.push(tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0..WRITES {
                    let after_delete = deleted.load(Ordering::SeqCst);
                    let outcome = write(&store, &id, w, i).await;
                    assert!(
                        !after_delete || outcome == Saved::Gone,
                        "round {round}: a write that began after the delete reported {outcome:?}"
                    );
                    outcomes.push(outcome);
                }
                outcomes
            }));
        }
        let deleter = {
            let (store, deleted) = (store.clone(), deleted.clone());
            tokio::spawn(async move {
                // A different moment of the writes each round.
                for _ in 0..round % 13 {
                    tokio::task::yield_now().await;
                }
                store.delete(&id).await.unwrap();
                deleted.store(true, Ordering::SeqCst);
            })
        };
        for task in tasks {
            for outcome in task.await.unwrap() {
                match outcome {
                    Saved::Applied => applied += 1,
                    Saved::Gone => gone += 1,
                }
            }
        }
        deleter.await.unwrap();
        // Checked before the load, which deletes leftovers it finds.
        assert!(
            !exists(conn, &store.key(&id)).await,
            "round {round}: something was left under the key"
        );
        assert_eq!(
            store.load(&id).await.unwrap(),
            None,
            "round {round}: the session came back"
        );
        assert_eq!(write(&store, &id, 0, 0).await, Saved::Gone);
        assert!(!exists(conn, &store.key(&id)).await);
    }
    // The race was run: writes landed on both sides of the deletes.
    assert!(applied > 0 && gone > 0, "applied {applied}, gone {gone}");
}

/// Concurrent saves of different keys of one session all keep their
/// writes; the expiry stays one the writers asked for.
async fn concurrent_saves_keep_every_key(store: RedisStore) {
    for _ in 0..ROUNDS / 5 {
        let record = record();
        let id = record.id;
        store.create(&record).await.unwrap();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..WRITES {
                    if i % 3 != 1 {
                        assert_eq!(write(&store, &id, w, i).await, Saved::Applied);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let loaded = store.load(&id).await.unwrap().expect("the session is live");
        let last_save = (0..WRITES).rfind(|i| i % 3 == 0);
        for w in 0..WRITERS {
            assert_eq!(
                loaded.data[&format!("w{w}")],
                json!(last_save),
                "{loaded:?}"
            );
        }
        assert_eq!(loaded.data["n"], json!(0));
        assert!(loaded.expires_at > record.expires_at - Duration::minutes(1));
        store.delete(&id).await.unwrap();
    }
}

/// Redis runs a pipeline that arrives in one read without serving another
/// client in between, so the race above rarely splits one. This replays
/// the commands of a save as `write_live` sends them (`HSET`, `HDEL`,
/// `HINCRBY created 0`, `PEXPIREAT`; with the expiry kept, no `expires`
/// field and `PEXPIREAT … NX`), one by one, with a logout's `DEL` at every
/// point between them: the answer says `Gone` exactly when the `DEL` came
/// before `HINCRBY`; whatever is left under the key has an expiry (should
/// the store's clean-up of it be lost); and once the store deleted the
/// stub (what it does when `HINCRBY` answered `0`), nothing is left.
async fn every_split_of_a_save_is_safe(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
    kept: bool,
) {
    let expires = session_core::store::unix_millis(OffsetDateTime::now_utc() + Duration::hours(1));
    for split in 0..=4 {
        let record = record();
        store.create(&record).await.unwrap();
        let key = store.key(&record.id);
        let mut hset = redis::cmd("HSET");
        hset.arg(&key);
        if !kept {
            hset.arg("expires").arg(expires);
        }
        hset.arg("d:x").arg("1");
        let mut hdel = redis::cmd("HDEL");
        hdel.arg(&key).arg("d:n");
        let mut hincrby = redis::cmd("HINCRBY");
        hincrby.arg(&key).arg("created").arg(0);
        let mut pexpireat = redis::cmd("PEXPIREAT");
        pexpireat.arg(&key).arg(expires);
        if kept {
            pexpireat.arg("NX");
        }
        let mut created = None;
        for (step, cmd) in [hset, hdel, hincrby, pexpireat].iter().enumerate() {
            if step == split {
                let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
            }
            let answer: redis::Value = cmd.query_async(conn).await.unwrap();
            if step == 2 {
                created = Some(redis::from_redis_value::<i64>(answer).unwrap());
            }
        }
        if split == 4 {
            let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
        }
        let gone = created == Some(0);
        assert_eq!(
            gone,
            split <= 2,
            "kept {kept}, split {split}: HINCRBY answered {created:?}"
        );
        if exists(conn, &key).await {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(conn)
                .await
                .unwrap();
            assert!(ttl > 0, "kept {kept}, split {split}: a key without expiry");
        }
        if gone {
            let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
        }
        assert!(
            !exists(conn, &key).await,
            "kept {kept}, split {split}: a leftover"
        );
        assert_eq!(store.load(&record.id).await.unwrap(), None);
    }
}

#[tokio::test]
async fn standalone_every_split_of_a_save_is_safe() {
    let mut conn = common::raw_standalone().await;
    for kept in [false, true] {
        every_split_of_a_save_is_safe(common::standalone().await, &mut conn, kept).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_saves_race_a_delete() {
    let mut conn = common::raw_standalone().await;
    saves_race_a_delete(common::standalone().await, &mut conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_saves_race_a_delete() {
    let mut conn = common::raw_cluster().await;
    saves_race_a_delete(common::cluster().await, &mut conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_concurrent_saves_keep_every_key() {
    concurrent_saves_keep_every_key(common::standalone().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_concurrent_saves_keep_every_key() {
    concurrent_saves_keep_every_key(common::cluster().await).await;
}
