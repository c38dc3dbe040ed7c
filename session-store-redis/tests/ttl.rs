//! No key this store writes is left without an expiry (`volatile-*`
//! eviction only ever removes keys that have one), even when a logout
//! lands in the middle of a write and the clean-up that follows is lost
//! with its connection. (The user indexes are the one exception, by
//! design: see the crate docs, "User index".)

mod common;

use serde_json::json;
use session_core::store::{
    ChangeSet, CycleStore, LeaseStore, Record, Saved, SessionStore, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::{redis, RedisStore};

use common::proxy::{Cut, Proxy};

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record
}

async fn pttl(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// A save whose expiry the layer kept (`expiry_kept`: no new expiry is
/// written) of a session a logout just deleted writes into a fresh key,
/// which becomes a stub; the store then deletes it. Here that clean-up
/// is lost (the proxy breaks every connection that sends it): the stub
/// stays, and must carry an expiry. The same for a touch, and for a save
/// that writes a new expiry.
#[tokio::test]
async fn a_stub_whose_clean_up_is_lost_expires() {
    let proxy = Proxy::start().await;
    let store = RedisStore::connect(&proxy.url())
        .await
        .unwrap()
        .with_prefix(common::PREFIX);
    let mut conn = common::raw_standalone().await;
    for what in ["kept", "new expiry", "touch"] {
        let record = record();
        store.create(&record).await.unwrap();
        store.delete(&record.id).await.unwrap();
        let key = store.key(&record.id);
        // The clean-up is the only script call naming the key from here
        // on; it is cut before it reaches Redis, first try and resend.
        let cuts = proxy.cuts();
        proxy.cut("EVALSHA", Cut::Request, 2);
        let expires = record.expires_at + Duration::minutes(5);
        let outcome = if what == "touch" {
            store.touch(&record.id, expires).await.unwrap()
        } else {
            let mut changes = ChangeSet::new(expires);
            changes.expiry_kept = what == "kept";
            changes.set.insert("n".into(), json!(2));
            store.save(&record.id, &changes).await.unwrap()
        };
        assert_eq!(outcome, Saved::Gone, "{what}");
        assert_eq!(proxy.cuts(), cuts + 2, "{what}: the clean-up was not cut");
        assert!(
            common::exists(&mut conn, &key).await,
            "{what}: no stub left"
        );
        let ttl = pttl(&mut conn, &key).await;
        assert!(ttl > 0, "{what}: the stub has no expiry (PTTL {ttl})");
        assert!(store.load(&record.id).await.unwrap().is_none(), "{what}");
    }
}

/// Every key under `prefix` on the server `conn` talks to, with its type.
async fn keys(conn: &mut impl redis::aio::ConnectionLike, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    // Bounded: a test prefix holds a few dozen keys.
    for _ in 0..10_000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .unwrap();
        for key in batch {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(conn)
                .await
                .unwrap();
            found.push((key, kind));
        }
        if next == 0 {
            return found;
        }
        cursor = next;
    }
    panic!("SCAN did not end");
}

/// Every operation of the store, under a prefix of its own, including the
/// paths that leave stubs, tombstones and leases; then every key under
/// the prefix has an expiry, but the user indexes (which have none by
/// design, see the crate docs: the store's sweep removes them).
async fn every_key_written_expires(store: RedisStore, nodes: Vec<String>) {
    let prefix = format!("test:ttl-{}:", Id::random().short_hash());
    let store = store.with_prefix(&prefix);
    let user = "ttl-user";
    let expires = OffsetDateTime::now_utc() + Duration::hours(1);
    let bound = || {
        let mut record = record();
        record.user = Some(user.to_owned());
        record
    };
    let change = |kept: bool| {
        let mut changes = ChangeSet::new(expires);
        changes.expiry_kept = kept;
        changes.set.insert("n".into(), json!(2));
        changes
    };
    let (a, b, c, d) = (bound(), bound(), bound(), record());
    for record in [&a, &b, &c, &d] {
        store.create(record).await.unwrap();
    }
    store.save(&a.id, &change(false)).await.unwrap();
    store.save(&a.id, &change(true)).await.unwrap();
    store.touch(&b.id, expires).await.unwrap();
    let moved = bound();
    store.cycle(&a.id, &moved).await.unwrap();
    store.delete(&d.id).await.unwrap();
    // Writes to a session that is gone leave stubs (deleted at once).
    store.save(&d.id, &change(true)).await.unwrap();
    store.touch(&d.id, expires).await.unwrap();
    assert!(store.end_user_session(user, &b.id).await.unwrap());
    let lease = store.lock(&c.id).await.unwrap();
    let held = store.lock(&moved.id).await.unwrap();
    lease.release().await;
    // An index entry whose session is not written yet: a tombstone.
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(store.user_key(user))
        .arg(1)
        .arg(Id::random().encode());
    if store.is_cluster() {
        let _: () = zadd
            .query_async(&mut common::raw_cluster().await)
            .await
            .unwrap();
    } else {
        let _: () = zadd
            .query_async(&mut common::raw_standalone().await)
            .await
            .unwrap();
    }
    store.delete_user(user, None).await.unwrap();
    let mut seen = 0;
    for node in &nodes {
        let mut conn = common::raw_node(node).await;
        for (key, kind) in keys(&mut conn, &prefix).await {
            seen += 1;
            let ttl = pttl(&mut conn, &key).await;
            if kind == "zset" {
                assert!(key.starts_with(&format!("{prefix}user:")), "{key}");
                continue;
            }
            assert!(ttl > 0, "{key} ({kind}) has no expiry: PTTL {ttl}");
        }
    }
    // Sessions, tombstones, the cycle's stub (cluster), the held lease,
    // the index.
    assert!(seen >= 5, "only {seen} keys written");
    held.release().await;
}

#[tokio::test]
async fn standalone_every_key_written_expires() {
    every_key_written_expires(common::standalone().await, vec![common::redis_url()]).await;
}

#[tokio::test]
async fn cluster_every_key_written_expires() {
    every_key_written_expires(common::cluster().await, common::cluster_urls()).await;
}
