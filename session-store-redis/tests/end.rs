//! What ending a user's sessions leaves in Redis, and why nothing comes
//! back: `delete_user` and `end_user_session` leave a *tombstone* (a stub,
//! `created` `0`, that expires after the store's grace period) under every
//! id they end, and under an id of the index that holds nothing yet (a
//! create or cycle on its way: the index entry is written first). Create
//! and cycle write only into a key that does not exist, so the id stays
//! ended. On a cluster the last step of a cycle ends the old session in
//! one script, which leaves a stub naming the new id so that it
//! recognises its own move when sent again.

mod common;

use std::time::Duration as StdDuration;

use serde_json::json;
use session_core::store::{
    ChangeSet, Created, CycleStore, Cycled, Record, Saved, SessionStore, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::redis;
use session_store_redis::RedisStore;

/// The grace period of a store with the default timeout (2 s): four times
/// it, in ms.
const GRACE_MS: i64 = 8_000;

fn user(label: &str) -> String {
    format!("{label}-{}", Id::random().short_hash())
}

fn bound(user: &str) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record.user = Some(user.to_owned());
    record
}

async fn fields(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> Vec<(String, String)> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

async fn pttl(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// Asserts that `key` holds a tombstone: `created` `0` and nothing else,
/// expiring within the grace period.
async fn is_tombstone(conn: &mut impl redis::aio::ConnectionLike, key: &str, what: &str) {
    assert_eq!(
        fields(conn, key).await,
        [("created".to_owned(), "0".to_owned())],
        "{what}"
    );
    let ttl = pttl(conn, key).await;
    assert!(0 < ttl && ttl <= GRACE_MS, "{what}: PTTL {ttl}");
}

/// An ended session leaves a tombstone: nothing of its data, and an
/// expiry of the grace period. Neither a create with its id (a create
/// resent after its answer was lost), nor a save, touch or cycle brings it
/// back; `end_user_session` answers `false` for it from then on.
async fn ended_sessions_leave_tombstones(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let hong = user("hong");
    let by_end = bound(&hong);
    let by_delete = bound(&hong);
    for record in [&by_end, &by_delete] {
        assert_eq!(store.create(record).await.unwrap(), Created::Inserted);
    }
    assert!(store.end_user_session(&hong, &by_end.id).await.unwrap());
    assert_eq!(store.delete_user(&hong, None).await.unwrap(), 1);
    for record in [&by_end, &by_delete] {
        let key = store.key(&record.id);
        is_tombstone(conn, &key, "an ended session").await;
        assert_eq!(store.create(record).await.unwrap(), Created::IdTaken);
        assert!(store.load(&record.id).await.unwrap().is_none());
        let mut change = ChangeSet::new(record.expires_at);
        change.set.insert("n".into(), json!(2));
        assert_eq!(store.save(&record.id, &change).await.unwrap(), Saved::Gone);
        let later = record.expires_at + Duration::hours(1);
        assert_eq!(store.touch(&record.id, later).await.unwrap(), Saved::Gone);
        let moved = bound(&hong);
        assert_eq!(store.cycle(&record.id, &moved).await.unwrap(), Cycled::Gone);
        assert!(store.load(&moved.id).await.unwrap().is_none());
        assert!(!store.end_user_session(&hong, &record.id).await.unwrap());
    }
    assert!(store.list_user(&hong).await.unwrap().is_empty());
}

/// An id in the user's index whose session is not written yet (a bind on
/// its way) is blocked by `delete_user`: the create that follows answers
/// `IdTaken`, a cycle onto it answers `Gone` and writes nothing (its
/// source stays as it was), and after the grace period the tombstone is
/// gone.
async fn ids_on_their_way_are_blocked(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let store = store.with_timeout(StdDuration::from_millis(250));
    let hong = user("hong");
    let later = bound(&hong);
    let cycled_onto = bound(&hong);
    let source = bound(&user("kim"));
    store.create(&source).await.unwrap();
    for id in [later.id, cycled_onto.id] {
        let _: () = redis::cmd("ZADD")
            .arg(store.user_key(&hong))
            .arg(1)
            .arg(id.encode())
            .query_async(conn)
            .await
            .unwrap();
    }
    assert_eq!(store.delete_user(&hong, None).await.unwrap(), 0);
    for record in [&later, &cycled_onto] {
        let key = store.key(&record.id);
        assert_eq!(
            fields(conn, &key).await,
            [("created".to_owned(), "0".to_owned())]
        );
        let ttl = pttl(conn, &key).await;
        assert!(0 < ttl && ttl <= 1000, "PTTL {ttl}");
    }
    assert_eq!(store.create(&later).await.unwrap(), Created::IdTaken);
    assert_eq!(
        store.cycle(&source.id, &cycled_onto).await.unwrap(),
        Cycled::Gone
    );
    assert!(store.load(&later.id).await.unwrap().is_none());
    assert!(store.load(&cycled_onto.id).await.unwrap().is_none());
    assert_eq!(
        store.load(&source.id).await.unwrap().unwrap().data,
        source.data,
        "a cycle that lost to a tombstone wrote nothing"
    );
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    for record in [&later, &cycled_onto] {
        assert!(!common::exists(conn, &store.key(&record.id)).await);
    }
    store.delete(&source.id).await.unwrap();
}

#[tokio::test]
async fn standalone_ended_sessions_leave_tombstones() {
    let mut conn = common::raw_standalone().await;
    ended_sessions_leave_tombstones(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_ended_sessions_leave_tombstones() {
    let mut conn = common::raw_cluster().await;
    ended_sessions_leave_tombstones(common::cluster().await, &mut conn).await;
}

#[tokio::test]
async fn standalone_ids_on_their_way_are_blocked() {
    let mut conn = common::raw_standalone().await;
    ids_on_their_way_are_blocked(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_ids_on_their_way_are_blocked() {
    let mut conn = common::raw_cluster().await;
    ids_on_their_way_are_blocked(common::cluster().await, &mut conn).await;
}

/// The last step of a cluster cycle, as the store sends it: the script
/// itself, run again on the same keys.
async fn cycle_out(
    conn: &mut impl redis::aio::ConnectionLike,
    store: &RedisStore,
    old: &Id,
    new: &Id,
) -> i64 {
    redis::cmd("EVAL")
        .arg(include_str!("../src/scripts/cycle_out.lua"))
        .arg(1)
        .arg(store.key(old))
        .arg(new.encode())
        .arg(GRACE_MS)
        .query_async(conn)
        .await
        .unwrap()
}

/// A cycle on a cluster leaves under the old id a stub that names the new
/// one, so that its last step, sent again after a lost answer, still
/// answers "moved" (and the cycle `Moved`, the new session kept); a load,
/// save or touch of the old id meanwhile leaves that stub alone. The step
/// of another move, or one that finds the session logged out, answers 0.
#[tokio::test]
async fn cluster_a_resent_cycle_step_recognises_its_move() {
    let store = common::cluster().await;
    let mut conn = common::raw_cluster().await;
    let hong = user("hong");
    let old = bound(&hong);
    store.create(&old).await.unwrap();
    let moved = bound(&hong);
    assert_eq!(store.cycle(&old.id, &moved).await.unwrap(), Cycled::Moved);
    let key = store.key(&old.id);
    let mut marker = fields(&mut conn, &key).await;
    marker.sort();
    assert_eq!(
        marker,
        [
            ("created".to_owned(), "0".to_owned()),
            ("moved".to_owned(), moved.id.encode())
        ]
    );
    let ttl = pttl(&mut conn, &key).await;
    assert!(0 < ttl && ttl <= GRACE_MS, "PTTL {ttl}");
    assert!(store.load(&old.id).await.unwrap().is_none());
    let mut change = ChangeSet::new(old.expires_at);
    change.set.insert("n".into(), json!(2));
    assert_eq!(store.save(&old.id, &change).await.unwrap(), Saved::Gone);
    assert!(
        common::exists(&mut conn, &key).await,
        "the marker of the move was deleted"
    );
    assert_eq!(cycle_out(&mut conn, &store, &old.id, &moved.id).await, 1);
    assert_eq!(
        cycle_out(&mut conn, &store, &old.id, &Id::random()).await,
        0
    );
    assert!(store.load(&moved.id).await.unwrap().is_some());

    let logged_out = bound(&hong);
    store.create(&logged_out).await.unwrap();
    store.delete(&logged_out.id).await.unwrap();
    assert_eq!(
        cycle_out(&mut conn, &store, &logged_out.id, &Id::random()).await,
        0
    );
    assert!(!common::exists(&mut conn, &store.key(&logged_out.id)).await);
    store.delete_user(&hong, None).await.unwrap();
}
