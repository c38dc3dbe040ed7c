//! The user index as Redis holds it: what the conformance suite cannot
//! see (the index sets themselves, their pruning, slots of a cluster).

mod common;

use std::time::Duration as StdDuration;

use serde_json::json;
use session_core::store::{ChangeSet, ExpiredCleanup, Record, SessionStore, StoreError, UserIndex};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::redis;
use session_store_redis::RedisStore;

/// The grace period of a store with [`SHORT`] as its timeout: four times it.
const SHORT: StdDuration = StdDuration::from_millis(250);
const GRACE: StdDuration = StdDuration::from_millis(1000);

fn user(label: &str) -> String {
    format!("{label}-{}", Id::random().short_hash())
}

fn bound(user: &str, lives: Duration) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + lives);
    record.data.insert("n".into(), json!(1));
    record.user = Some(user.to_owned());
    record
}

async fn members(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .unwrap()
}

/// A bound session has a `user` field and is a member of the sorted set at
/// `prefix + "user:" + user`, which has no expiry of its own. A `user`
/// field that is not text is corrupt.
async fn user_field_and_index_key(store: RedisStore, conn: &mut impl redis::aio::ConnectionLike) {
    let hong = user("hong {tag} *");
    let record = bound(&hong, Duration::hours(1));
    store.create(&record).await.unwrap();
    let index = store.user_key(&hong);
    assert_eq!(index, format!("{}user:{hong}", common::PREFIX));
    let user_field: String = redis::cmd("HGET")
        .arg(store.key(&record.id))
        .arg("user")
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(user_field, hong);
    assert_eq!(members(conn, &index).await, [record.id.encode()]);
    let kind: String = redis::cmd("TYPE")
        .arg(&index)
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(kind, "zset");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&index)
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "an index must never expire before its sessions");
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.user.as_deref(), Some(hong.as_str()));

    let _: () = redis::cmd("HSET")
        .arg(store.key(&record.id))
        .arg("user")
        .arg(&b"\xff\xfe"[..])
        .query_async(conn)
        .await
        .unwrap();
    let err = store.load(&record.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("`user`"), "{err}");
    store.delete(&record.id).await.unwrap();
}

/// Sessions that expire by themselves (Redis key expiry) leave entries that
/// `delete_expired` removes once they are past the grace period: round after
/// round, the index does not grow; a live session is never removed, and an
/// index whose sessions all ended is gone.
async fn expired_entries_are_pruned(store: RedisStore, conn: &mut impl redis::aio::ConnectionLike) {
    let store = store.with_timeout(SHORT);
    let hong = user("hong");
    let index = store.user_key(&hong);
    let live = bound(&hong, Duration::hours(1));
    store.create(&live).await.unwrap();
    for round in 0..3 {
        for _ in 0..4 {
            store
                .create(&bound(&hong, Duration::milliseconds(300)))
                .await
                .unwrap();
        }
        tokio::time::sleep(GRACE + StdDuration::from_millis(300)).await;
        store.delete_expired().await.unwrap();
        assert_eq!(
            members(conn, &index).await,
            [live.id.encode()],
            "round {round}: expired entries stayed in the index"
        );
        assert_eq!(store.list_user(&hong).await.unwrap().len(), 1);
    }
    store.delete(&live.id).await.unwrap();
    tokio::time::sleep(GRACE).await;
    assert!(store.delete_expired().await.unwrap() >= 1);
    assert!(
        !common::exists(conn, &index).await,
        "an index without sessions is left behind"
    );
}

/// Whether the index at `key` becomes empty within a second (the store
/// removes entries of moved sessions in the background).
async fn emptied(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> bool {
    for _ in 0..50 {
        if members(conn, key).await.is_empty() {
            return true;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    false
}

/// A session moved to another user, or unbound, leaves its former user's
/// index (once past the grace period, in the background).
async fn rebinding_leaves_the_former_index(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let store = store.with_timeout(SHORT);
    let hong = user("hong");
    let kim = user("kim");
    let record = bound(&hong, Duration::hours(1));
    store.create(&record).await.unwrap();
    tokio::time::sleep(GRACE).await;
    let mut rebind = ChangeSet::new(record.expires_at);
    rebind.user = Some(Some(kim.clone()));
    store.save(&record.id, &rebind).await.unwrap();
    assert_eq!(
        members(conn, &store.user_key(&kim)).await,
        [record.id.encode()]
    );
    assert!(
        emptied(conn, &store.user_key(&hong)).await,
        "the former user's index keeps the session"
    );
    tokio::time::sleep(GRACE).await;
    let mut unbind = ChangeSet::new(record.expires_at);
    unbind.user = Some(None);
    store.save(&record.id, &unbind).await.unwrap();
    assert!(store.list_user(&kim).await.unwrap().is_empty());
    assert!(
        emptied(conn, &store.user_key(&kim)).await,
        "an unbound session stays in the index"
    );
    store.delete(&record.id).await.unwrap();
}

#[tokio::test]
async fn standalone_user_field_and_index_key() {
    let mut conn = common::raw_standalone().await;
    user_field_and_index_key(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_user_field_and_index_key() {
    let mut conn = common::raw_cluster().await;
    user_field_and_index_key(common::cluster().await, &mut conn).await;
}

#[tokio::test]
async fn standalone_expired_entries_are_pruned() {
    let mut conn = common::raw_standalone().await;
    expired_entries_are_pruned(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_expired_entries_are_pruned() {
    let mut conn = common::raw_cluster().await;
    expired_entries_are_pruned(common::cluster().await, &mut conn).await;
}

#[tokio::test]
async fn standalone_rebinding_leaves_the_former_index() {
    let mut conn = common::raw_standalone().await;
    rebinding_leaves_the_former_index(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_rebinding_leaves_the_former_index() {
    let mut conn = common::raw_cluster().await;
    rebinding_leaves_the_former_index(common::cluster().await, &mut conn).await;
}

/// The middle of a bind (the index entry added, the session not yet
/// bound) is not pruned by a list: the entry is fresh. When the bind lands
/// the session is listed. A stale entry of a session that is gone is
/// pruned by the same list.
#[tokio::test]
async fn a_bind_in_flight_keeps_its_entry() {
    let store = common::standalone().await.with_timeout(SHORT);
    let mut conn = common::raw_standalone().await;
    let hong = user("hong");
    let index = store.user_key(&hong);
    let now = OffsetDateTime::now_utc();
    let record = Record::new(Id::random(), now, now + Duration::hours(1));
    store.create(&record).await.unwrap();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let server_ms = secs * 1000 + micros / 1000;
    let gone = Id::random();
    let _: () = redis::cmd("ZADD")
        .arg(&index)
        .arg(server_ms)
        .arg(record.id.encode())
        .arg(server_ms - 60_000)
        .arg(gone.encode())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store.list_user(&hong).await.unwrap().is_empty());
    assert_eq!(
        members(&mut conn, &index).await,
        [record.id.encode()],
        "the fresh entry must stay, the stale one go"
    );
    let _: () = redis::cmd("HSET")
        .arg(store.key(&record.id))
        .arg("user")
        .arg(&hong)
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed = store.list_user(&hong).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, record.id);
    assert_eq!(store.delete_user(&hong, None).await.unwrap(), 1);
}

/// `delete_expired` prunes only the indexes of its own prefix, even when the
/// prefix holds characters that `SCAN MATCH` reads as a pattern.
#[tokio::test]
async fn pruning_stays_within_the_prefix() {
    let star = common::standalone()
        .await
        .with_prefix("test:glob*[?]:")
        .with_timeout(SHORT);
    let other = common::standalone()
        .await
        .with_prefix("test:globX?:")
        .with_timeout(SHORT);
    let mut conn = common::raw_standalone().await;
    let hong = user("hong");
    let theirs = bound(&hong, Duration::hours(1));
    other.create(&theirs).await.unwrap();
    tokio::time::sleep(GRACE).await;
    star.delete_expired().await.unwrap();
    assert_eq!(
        members(&mut conn, &other.user_key(&hong)).await,
        [theirs.id.encode()]
    );
    assert_eq!(other.delete_user(&hong, None).await.unwrap(), 1);
}

/// In a cluster a user's sessions live on many slots, none of them the
/// index's: they are listed oldest first and ended all the same.
#[tokio::test]
async fn cluster_one_user_on_many_slots() {
    let store = common::cluster().await;
    let mut conn = common::raw_cluster().await;
    let hong = user("hong");
    let keyslot = |key: String| {
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("KEYSLOT").arg(key);
        cmd
    };
    let index_slot: i64 = keyslot(store.user_key(&hong))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut records = Vec::new();
    let mut slots = std::collections::HashSet::new();
    for n in 0..8 {
        let mut record = bound(&hong, Duration::hours(1));
        record.created_at -= Duration::minutes(10 - n);
        store.create(&record).await.unwrap();
        let slot: i64 = keyslot(store.key(&record.id))
            .query_async(&mut conn)
            .await
            .unwrap();
        slots.insert(slot);
        records.push(record);
    }
    slots.remove(&index_slot);
    assert!(slots.len() >= 7, "sessions in only {} slots", slots.len());
    let listed: Vec<Id> = store
        .list_user(&hong)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, records.iter().map(|r| r.id).collect::<Vec<_>>());
    let keep = records[3].id;
    assert_eq!(store.delete_user(&hong, Some(&keep)).await.unwrap(), 7);
    for record in &records {
        assert_eq!(
            store.load(&record.id).await.unwrap().is_some(),
            record.id == keep
        );
    }
    assert_eq!(
        members(&mut conn, &store.user_key(&hong)).await.len(),
        8,
        "entries younger than the grace period stay until a later prune"
    );
    let listed = store.list_user(&hong).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, keep);
    store.delete(&keep).await.unwrap();
}

/// `spawn_cleanup` prunes, period after period, the index entries that
/// sessions which expired by themselves leave behind; the live one stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_cleanup_prunes_expired_entries() {
    let store = common::standalone().await.with_timeout(SHORT);
    let mut conn = common::raw_standalone().await;
    let hong = user("hong");
    let index = store.user_key(&hong);
    let live = bound(&hong, Duration::hours(1));
    store.create(&live).await.unwrap();
    for _ in 0..3 {
        store
            .create(&bound(&hong, Duration::milliseconds(300)))
            .await
            .unwrap();
    }
    assert_eq!(members(&mut conn, &index).await.len(), 4);
    let cleanup = store.spawn_cleanup(StdDuration::from_millis(200));
    let mut pruned = false;
    for _ in 0..60 {
        if members(&mut conn, &index).await == [live.id.encode()] {
            pruned = true;
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    cleanup.abort();
    assert!(
        pruned,
        "the periodic cleanup left expired entries in the index"
    );
    assert_eq!(store.list_user(&hong).await.unwrap().len(), 1);
    store.delete(&live.id).await.unwrap();
}

/// The prune after a bind inspects a bounded part of the index, but still
/// does its work: entries of sessions that ended long ago (past the grace
/// period) are the oldest of the index, and each bind inspects the oldest
/// few (four), so five logins remove twenty of them, and never a live
/// session's entry.
async fn binds_prune_the_oldest_ended_entries(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let store = store.with_timeout(SHORT);
    let hong = user("churn");
    let index = store.user_key(&hong);
    let mut ended = Vec::new();
    for _ in 0..20 {
        let record = bound(&hong, Duration::hours(1));
        store.create(&record).await.unwrap();
        store.delete(&record.id).await.unwrap();
        ended.push(record.id.encode());
    }
    let live = bound(&hong, Duration::hours(1));
    store.create(&live).await.unwrap();
    tokio::time::sleep(GRACE + StdDuration::from_millis(100)).await;
    let mut fresh = vec![live.id.encode()];
    for login in 1..=5 {
        let record = bound(&hong, Duration::hours(1));
        store.create(&record).await.unwrap();
        fresh.push(record.id.encode());
        // The prune runs in the background: wait for it (at most 5 s).
        let mut left = usize::MAX;
        for _ in 0..250 {
            let members = members(conn, &index).await;
            left = ended.iter().filter(|id| members.contains(id)).count();
            if left <= 20 - 4 * login {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
        assert!(
            left <= 20 - 4 * login,
            "login {login}: {left} ended entries left"
        );
    }
    let mut members = members(conn, &index).await;
    members.sort();
    fresh.sort();
    assert_eq!(members, fresh, "ended entries stayed, or live ones went");
    store.delete_user(&hong, None).await.unwrap();
}

#[tokio::test]
async fn standalone_binds_prune_the_oldest_ended_entries() {
    let mut conn = common::raw_standalone().await;
    binds_prune_the_oldest_ended_entries(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_binds_prune_the_oldest_ended_entries() {
    let mut conn = common::raw_cluster().await;
    binds_prune_the_oldest_ended_entries(common::cluster().await, &mut conn).await;
}

/// How often the stores of the sweep tests sweep.
const SWEEP: StdDuration = StdDuration::from_millis(300);

/// A prefix no other test uses: only the store's own sweep prunes there
/// (the other tests of this file prune `common::PREFIX` by hand).
fn own_prefix() -> String {
    format!("test:sweep-{}:", Id::random().short_hash())
}

/// A user whose sessions all ended and who never comes back: nothing
/// lists, ends or binds their sessions again, and no application task
/// runs `delete_expired`. The store's own sweep removes the index
/// entries once past the grace period, and with the last one the index.
async fn an_abandoned_index_disappears(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let store = store
        .with_prefix(own_prefix())
        .with_timeout(SHORT)
        .with_index_sweep(Some(SWEEP));
    let gone = user("gone");
    let index = store.user_key(&gone);
    for _ in 0..3 {
        store
            .create(&bound(&gone, Duration::milliseconds(400)))
            .await
            .unwrap();
    }
    assert!(common::exists(conn, &index).await);
    let started = std::time::Instant::now();
    let mut left = true;
    for _ in 0..100 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        left = common::exists(conn, &index).await;
        if !left {
            break;
        }
    }
    assert!(!left, "the abandoned index is still there after 10 s");
    eprintln!(
        "the abandoned index went {:?} after its sessions were created",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_an_abandoned_index_disappears() {
    let mut conn = common::raw_standalone().await;
    an_abandoned_index_disappears(common::standalone().await, &mut conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_an_abandoned_index_disappears() {
    let mut conn = common::raw_cluster().await;
    an_abandoned_index_disappears(common::cluster().await, &mut conn).await;
}

/// A session whose expiry moves on with every touch lives far past the
/// expiry it was created with (and past the grace period), while the
/// store sweeps every index again and again: its index entry stays, the
/// index never carries an expiry, and `delete_user` finds and ends it.
async fn a_session_kept_alive_stays_findable(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let store = store
        .with_prefix(own_prefix())
        .with_timeout(SHORT)
        .with_index_sweep(Some(SWEEP));
    let hong = user("active");
    let index = store.user_key(&hong);
    let record = bound(&hong, Duration::milliseconds(1500));
    store.create(&record).await.unwrap();
    // Twenty touches, 250 ms apart: five seconds, over three times the
    // session's first lifetime, and about sixteen sweeps.
    for n in 0..20 {
        tokio::time::sleep(StdDuration::from_millis(250)).await;
        let expires = OffsetDateTime::now_utc() + Duration::milliseconds(1500);
        assert_eq!(
            store.touch(&record.id, expires).await.unwrap(),
            session_core::store::Saved::Applied,
            "touch {n}"
        );
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&index)
            .query_async(conn)
            .await
            .unwrap();
        assert_eq!(ttl, -1, "touch {n}: the index has an expiry");
        assert_eq!(
            members(conn, &index).await,
            [record.id.encode()],
            "touch {n}"
        );
    }
    assert_eq!(store.delete_user(&hong, None).await.unwrap(), 1);
    assert!(store.load(&record.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_a_session_kept_alive_stays_findable() {
    let mut conn = common::raw_standalone().await;
    a_session_kept_alive_stays_findable(common::standalone().await, &mut conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_a_session_kept_alive_stays_findable() {
    let mut conn = common::raw_cluster().await;
    a_session_kept_alive_stays_findable(common::cluster().await, &mut conn).await;
}

/// Whether the key of the sweep's turn is taken within 3 s.
async fn turn_taken(conn: &mut impl redis::aio::ConnectionLike, turn: &str) -> bool {
    for _ in 0..30 {
        if common::exists(conn, turn).await {
            return true;
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    false
}

/// The sweep runs while the store lives, and stops when the store and its
/// clones are dropped: the key of its turn, taken for one period at each
/// sweep, is taken no more. A store that never binds a session does not
/// sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_stops_with_the_store() {
    let mut conn = common::raw_standalone().await;
    let prefix = own_prefix();
    let turn = format!("{prefix}sweep");
    let idle = common::standalone()
        .await
        .with_prefix(&prefix)
        .with_index_sweep(Some(SWEEP));
    idle.create(&Record::new(
        Id::random(),
        OffsetDateTime::now_utc(),
        OffsetDateTime::now_utc() + Duration::minutes(1),
    ))
    .await
    .unwrap();
    tokio::time::sleep(SWEEP * 3).await;
    assert!(
        !common::exists(&mut conn, &turn).await,
        "a store that bound nothing swept"
    );
    drop(idle);

    let store = common::standalone()
        .await
        .with_prefix(&prefix)
        .with_index_sweep(Some(SWEEP));
    let hong = user("sweeper");
    store
        .create(&bound(&hong, Duration::minutes(1)))
        .await
        .unwrap();
    let clone = store.clone();
    assert!(turn_taken(&mut conn, &turn).await, "the store never swept");
    drop(store);
    tokio::time::sleep(SWEEP * 3).await;
    assert!(
        turn_taken(&mut conn, &turn).await,
        "a clone of the store stopped sweeping"
    );
    clone.delete_user(&hong, None).await.unwrap();
    drop(clone);
    tokio::time::sleep(SWEEP * 2).await;
    for _ in 0..3 {
        assert!(
            !common::exists(&mut conn, &turn).await,
            "the sweep went on after every clone of the store was dropped"
        );
        tokio::time::sleep(SWEEP).await;
    }
}
