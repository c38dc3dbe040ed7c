//! What the store writes into Redis, and how it reads what it did not write.

mod common;

use serde_json::json;
use session_core::store::{
    from_unix_millis, unix_millis, ChangeSet, CycleStore, Cycled, Record, Saved, SessionStore,
    StoreError, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
use session_core::{Expiry, Id};
use session_store_redis::redis;
use session_store_redis::RedisStore;

use common::exists;

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("user_count".into(), json!(3));
    record
        .data
        .insert("created".into(), json!("a user key named like metadata"));
    record
}

/// One hash per session: metadata fields plus one `d:` field per key, and a
/// native expiry at `expires`.
async fn layout_is_one_hash_with_native_expiry(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let record = record();
    store.create(&record).await.unwrap();
    let key = store.key(&record.id);
    assert_eq!(key, format!("{}{}", common::PREFIX, record.id.encode()));

    let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(conn)
        .await
        .unwrap();
    let expires_ms = (record.expires_at.unix_timestamp_nanos() / 1_000_000).to_string();
    assert_eq!(fields["expires"], expires_ms);
    assert_eq!(
        fields["created"],
        (record.created_at.unix_timestamp_nanos() / 1_000_000).to_string()
    );
    assert_eq!(fields["d:user_count"], "3");
    assert_eq!(fields["d:created"], "\"a user key named like metadata\"");
    assert_eq!(fields.len(), 4, "{fields:?}");

    assert_eq!(
        expire_time(conn, &key).await.to_string(),
        expires_ms,
        "the key must expire natively at expires_at"
    );

    // A touch moves the native expiry and the `expires` field, nothing else.
    let later = record.expires_at + Duration::hours(1);
    store.touch(&record.id, later).await.unwrap();
    let later_ms = (later.unix_timestamp_nanos() / 1_000_000) as i64;
    assert_eq!(expire_time(conn, &key).await, later_ms);
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, record.data);
    store.delete(&record.id).await.unwrap();
    assert!(!exists(conn, &key).await);
}

/// A field that is not JSON is reported as corrupt, naming the key.
async fn corrupt_field_is_a_corrupt_error(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let record = record();
    store.create(&record).await.unwrap();
    let key = store.key(&record.id);
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("d:user_count")
        .arg("{this is not json")
        .query_async(conn)
        .await
        .unwrap();
    let err = store.load(&record.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("\"user_count\"") && message.contains("not JSON"),
        "{message}"
    );
    assert!(
        !message.contains(&record.id.encode()),
        "the error must not carry the raw id"
    );

    // A broken `expires` field is corrupt too.
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("d:user_count")
        .arg("3")
        .arg("expires")
        .arg("soon")
        .query_async(conn)
        .await
        .unwrap();
    let err = store.load(&record.id).await.unwrap_err();
    assert!(err.to_string().contains("`expires`"), "{err}");
    store.delete(&record.id).await.unwrap();
}

async fn hgetall(
    conn: &mut impl redis::aio::ConnectionLike,
    key: &str,
) -> std::collections::HashMap<String, String> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// The session's own expiry policy is the `policy` field: written by a
/// create that has one, kept by saves and touches that do not name it,
/// removed and set again by saves that do. Garbage in it is corrupt.
async fn policy_is_a_field(store: RedisStore, conn: &mut impl redis::aio::ConnectionLike) {
    let mut record = record();
    let remember_me = Expiry::OnInactivity(std::time::Duration::from_secs(30 * 86_400));
    record.expiry = Some(remember_me);
    store.create(&record).await.unwrap();
    let key = store.key(&record.id);
    let fields = hgetall(conn, &key).await;
    assert_eq!(fields["policy"], "idle:2592000000");
    assert_eq!(fields.len(), 5, "{fields:?}");

    let later = OffsetDateTime::now_utc() + Duration::hours(2);
    let mut kept = ChangeSet::new(later);
    kept.set
        .insert("policy".into(), json!("a user key named like metadata"));
    assert_eq!(store.save(&record.id, &kept).await.unwrap(), Saved::Applied);
    store.touch(&record.id, later).await.unwrap();
    let fields = hgetall(conn, &key).await;
    assert_eq!(fields["policy"], "idle:2592000000");
    assert_eq!(fields["d:policy"], "\"a user key named like metadata\"");

    let mut cleared = ChangeSet::new(later);
    cleared.expiry = Some(None);
    store.save(&record.id, &cleared).await.unwrap();
    let fields = hgetall(conn, &key).await;
    assert!(!fields.contains_key("policy"), "{fields:?}");
    assert!(fields.contains_key("d:policy"), "{fields:?}");
    assert_eq!(store.load(&record.id).await.unwrap().unwrap().expiry, None);

    let mut set = ChangeSet::new(later);
    set.expiry = Some(Some(Expiry::OnSessionEnd));
    store.save(&record.id, &set).await.unwrap();
    assert_eq!(hgetall(conn, &key).await["policy"], "end");
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.expiry, Some(Expiry::OnSessionEnd));

    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("policy")
        .arg("forever")
        .query_async(conn)
        .await
        .unwrap();
    let err = store.load(&record.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`policy`"), "{message}");
    assert!(message.contains(&record.id.short_hash()), "{message}");
    assert!(!message.contains(&record.id.encode()), "{message}");
    store.delete(&record.id).await.unwrap();
}

/// A key that holds something else than a hash is corrupt, for every operation.
async fn foreign_value_is_a_corrupt_error(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let id = Id::random();
    let key = store.key(&id);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("not a session")
        .arg("EX")
        .arg(60)
        .query_async(conn)
        .await
        .unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "load: {err:?}");
    let mut changes = ChangeSet::new(OffsetDateTime::now_utc() + Duration::hours(1));
    changes.set.insert("a".into(), json!(1));
    let err = store.save(&id, &changes).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "save: {err:?}");
    store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn standalone_layout() {
    let mut conn = common::raw_standalone().await;
    layout_is_one_hash_with_native_expiry(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_layout() {
    let mut conn = common::raw_cluster().await;
    layout_is_one_hash_with_native_expiry(common::cluster().await, &mut conn).await;
}

#[tokio::test]
async fn standalone_corrupt_field() {
    let mut conn = common::raw_standalone().await;
    corrupt_field_is_a_corrupt_error(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_corrupt_field() {
    let mut conn = common::raw_cluster().await;
    corrupt_field_is_a_corrupt_error(common::cluster().await, &mut conn).await;
}

#[tokio::test]
async fn standalone_policy_field() {
    let mut conn = common::raw_standalone().await;
    policy_is_a_field(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_policy_field() {
    let mut conn = common::raw_cluster().await;
    policy_is_a_field(common::cluster().await, &mut conn).await;
}

/// On one node a cycle is one script: the new hash holds the record (with
/// its native expiry) and the old key is gone. Sent again (its answer
/// lost), it reports the move it already made; from a session that is
/// gone, it writes nothing.
#[tokio::test]
async fn standalone_cycle_is_one_script() {
    let store = common::standalone().await;
    let mut conn = common::raw_standalone().await;
    let old = record();
    store.create(&old).await.unwrap();
    let mut moved = record();
    moved.created_at = old.created_at;
    moved.expiry = Some(Expiry::OnSessionEnd);
    moved.data.insert("role".into(), json!("admin"));
    assert_eq!(store.cycle(&old.id, &moved).await.unwrap(), Cycled::Moved);
    assert!(
        !exists(&mut conn, &store.key(&old.id)).await,
        "the old key must be gone"
    );
    let key = store.key(&moved.id);
    let fields = hgetall(&mut conn, &key).await;
    assert_eq!(fields["created"], unix_millis(old.created_at).to_string());
    assert_eq!(fields["expires"], unix_millis(moved.expires_at).to_string());
    assert_eq!(fields["policy"], "end");
    assert_eq!(fields["d:role"], "\"admin\"");
    assert_eq!(fields.len(), 6, "{fields:?}");
    assert_eq!(
        expire_time(&mut conn, &key).await,
        unix_millis(moved.expires_at)
    );

    assert_eq!(
        store.cycle(&old.id, &moved).await.unwrap(),
        Cycled::Moved,
        "a resent cycle reports the move it made"
    );
    assert_eq!(hgetall(&mut conn, &key).await, fields);

    let elsewhere = record();
    assert_eq!(
        store.cycle(&old.id, &elsewhere).await.unwrap(),
        Cycled::Gone
    );
    assert!(store.load(&elsewhere.id).await.unwrap().is_none());
    store.delete(&moved.id).await.unwrap();
}

#[tokio::test]
async fn standalone_foreign_value() {
    let mut conn = common::raw_standalone().await;
    foreign_value_is_a_corrupt_error(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_foreign_value() {
    let mut conn = common::raw_cluster().await;
    foreign_value_is_a_corrupt_error(common::cluster().await, &mut conn).await;
}

/// A time before 1970 and the last one the calendar holds are stored as
/// Unix milliseconds and read back; a stored time no date can hold is
/// corrupt.
#[tokio::test]
async fn extreme_times_round_trip() {
    let store = common::standalone().await;
    let mut conn = common::raw_standalone().await;
    let created = OffsetDateTime::UNIX_EPOCH - Duration::milliseconds(1);
    let expires = PrimitiveDateTime::MAX.assume_utc();
    let record = Record::new(Id::random(), created, expires);
    store.create(&record).await.unwrap();
    let key = store.key(&record.id);
    let fields: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(fields["created"], "-1");
    assert_eq!(fields["expires"], unix_millis(expires).to_string());
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.created_at, created);
    assert_eq!(
        loaded.expires_at,
        from_unix_millis(unix_millis(expires)).unwrap()
    );
    assert!(expires - loaded.expires_at < Duration::milliseconds(1));

    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("expires")
        .arg(i64::MAX)
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.load(&record.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("`expires`"), "{err}");
    store.delete(&record.id).await.unwrap();
}

/// Stores with different prefixes do not see each other's sessions.
#[tokio::test]
async fn prefixes_separate_applications() {
    let a = common::standalone().await.with_prefix("test:app-a:");
    let b = common::standalone().await.with_prefix("test:app-b:");
    let record = record();
    a.create(&record).await.unwrap();
    assert!(b.load(&record.id).await.unwrap().is_none());
    assert!(a.load(&record.id).await.unwrap().is_some());
    a.delete(&record.id).await.unwrap();
}

/// Sessions spread over the cluster's nodes (no hash tag pins them to one slot).
#[tokio::test]
async fn cluster_sessions_spread_over_slots() {
    let store = common::cluster().await;
    let mut conn = common::raw_cluster().await;
    let mut slots = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for _ in 0..20 {
        let record = record();
        store.create(&record).await.unwrap();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(store.key(&record.id))
            .query_async(&mut conn)
            .await
            .unwrap();
        slots.insert(slot);
        ids.push(record.id);
    }
    assert!(
        slots.len() > 10,
        "20 sessions in only {} slots",
        slots.len()
    );
    for id in ids {
        assert!(store.load(&id).await.unwrap().is_some());
        store.delete(&id).await.unwrap();
    }
}

/// `connect_spec` reads both forms the example apps take.
#[tokio::test]
async fn specs_connect_to_either_mode() {
    let single = RedisStore::connect_spec(&common::redis_url())
        .await
        .unwrap();
    assert!(!single.is_cluster());
    let hosts: Vec<String> = common::cluster_urls()
        .iter()
        .map(|url| url.trim_start_matches("redis://").to_owned())
        .collect();
    let spec = format!("redis+cluster://{}", hosts.join(","));
    let cluster = RedisStore::connect_spec(&spec).await.unwrap();
    assert!(cluster.is_cluster());
    let record = record();
    cluster.create(&record).await.unwrap();
    assert!(cluster.load(&record.id).await.unwrap().is_some());
    cluster.delete(&record.id).await.unwrap();
}

/// A malformed URL is a backend error (a configuration mistake), not a panic.
#[tokio::test]
async fn bad_urls_are_errors() {
    let err = RedisStore::connect("not a url").await.unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    let err = RedisStore::connect_spec("redis+cluster://")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
}

/// A URL or spec with credentials, wherever it fails (malformed, nothing
/// listening, refused by the server), gives an error that carries neither
/// the user nor the password: applications print these errors at start.
#[tokio::test]
async fn errors_never_carry_credentials() {
    fn with_credentials(scheme: &str, url: &str) -> String {
        let hosts = url.split_once("://").map_or(url, |(_, rest)| rest);
        let hosts = hosts.rsplit('@').next().unwrap_or(hosts);
        format!("{scheme}alice:hunter2@{hosts}")
    }
    let cluster_hosts: Vec<String> = common::cluster_urls()
        .iter()
        .map(|url| with_credentials("", url))
        .map(|url| url.rsplit('@').next().unwrap().to_owned())
        .collect();
    let specs = [
        "redis://alice:hunter2@127.0.0.1:notaport".to_owned(),
        "redis://alice:hunter2@127.0.0.1:6379/notadb".to_owned(),
        "redis://alice:hunter2@127.0.0.1:1".to_owned(),
        with_credentials("redis://", &common::redis_url()),
        "redis://:hunter2@[::1".to_owned(),
        "redis+cluster://alice:hunter2@".to_owned(),
        "redis+cluster://alice:hunter2@127.0.0.1:1".to_owned(),
        format!("redis+cluster://alice:hunter2@{}", cluster_hosts.join(",")),
        "alice:hunter2@127.0.0.1:6379".to_owned(),
    ];
    for spec in &specs {
        let err = RedisStore::connect_spec(spec)
            .await
            .expect_err("bad credentials or address");
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(
                !text.contains("hunter2") && !text.contains("alice"),
                "{spec} -> {text}"
            );
        }
    }
}

/// A save or touch that lost to a logout is a pipeline of plain
/// commands: it leaves a *stub* (`created` is `0`, with the expiry it
/// asked for) instead of writing nothing. A stub is no session: load,
/// save, touch, cycle and the user index all see it as gone, and a save
/// that made one deletes it again.
async fn stubs_are_no_sessions(store: RedisStore, conn: &mut impl redis::aio::ConnectionLike) {
    let id = Id::random();
    let key = store.key(&id);
    let user = format!("stub-owner-{}", Id::random().encode());
    let expires = OffsetDateTime::now_utc() + Duration::hours(1);
    let _: () = redis::pipe()
        .cmd("HSET")
        .arg(&key)
        .arg("created")
        .arg("0")
        .arg("expires")
        .arg(unix_millis(expires))
        .arg("user")
        .arg(&user)
        .arg("d:x")
        .arg("1")
        .ignore()
        .cmd("PEXPIREAT")
        .arg(&key)
        .arg(unix_millis(expires))
        .ignore()
        .query_async(conn)
        .await
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg(store.user_key(&user))
        .arg(1)
        .arg(id.encode())
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(store.load(&id).await.unwrap(), None);
    let mut changes = ChangeSet::new(expires);
    changes.set.insert("x".into(), json!(2));
    assert_eq!(store.save(&id, &changes).await.unwrap(), Saved::Gone);
    assert_eq!(store.touch(&id, expires).await.unwrap(), Saved::Gone);
    assert!(store.list_user(&user).await.unwrap().is_empty());
    let moved = record();
    assert_eq!(store.cycle(&id, &moved).await.unwrap(), Cycled::Gone);
    assert_eq!(store.load(&moved.id).await.unwrap(), None);
    assert_eq!(store.delete_user(&user, None).await.unwrap(), 0);

    // A save after a delete reports Gone, and leaves nothing behind.
    let live = record();
    store.create(&live).await.unwrap();
    store.delete(&live.id).await.unwrap();
    let mut changes = ChangeSet::new(expires);
    changes.set.insert("x".into(), json!(3));
    assert_eq!(store.save(&live.id, &changes).await.unwrap(), Saved::Gone);
    assert_eq!(store.touch(&live.id, expires).await.unwrap(), Saved::Gone);
    assert!(
        !exists(conn, &store.key(&live.id)).await,
        "the stub was not removed"
    );
    assert_eq!(store.load(&live.id).await.unwrap(), None);
    let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
}

#[tokio::test]
async fn standalone_stubs() {
    let mut conn = common::raw_standalone().await;
    stubs_are_no_sessions(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_stubs() {
    let mut conn = common::raw_cluster().await;
    stubs_are_no_sessions(common::cluster().await, &mut conn).await;
}

/// A save or touch pipeline cut short after its `HSET` (a broken
/// connection) on a session that was gone can leave a hash with
/// `expires` and data but no `created`, and no expiry: no session for
/// load (which deletes it), save or touch. A hash under a session key with
/// neither time is no session either, but is left alone.
async fn hashes_without_created_are_no_sessions(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let expires = OffsetDateTime::now_utc() + Duration::hours(1);
    let leftover = |key: &str| {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key)
            .arg("expires")
            .arg(unix_millis(expires))
            .arg("d:x")
            .arg("1");
        cmd
    };
    let id = Id::random();
    let key = store.key(&id);
    let _: () = leftover(&key).query_async(conn).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert!(!exists(conn, &key).await, "load left the leftover");

    let _: () = leftover(&key).query_async(conn).await.unwrap();
    let mut changes = ChangeSet::new(expires);
    changes.set.insert("x".into(), json!(2));
    assert_eq!(store.save(&id, &changes).await.unwrap(), Saved::Gone);
    assert!(!exists(conn, &key).await, "save left the leftover");
    let _: () = leftover(&key).query_async(conn).await.unwrap();
    assert_eq!(store.touch(&id, expires).await.unwrap(), Saved::Gone);
    assert!(!exists(conn, &key).await, "touch left the leftover");

    let foreign = Id::random();
    let foreign_key = store.key(&foreign);
    let _: () = redis::cmd("HSET")
        .arg(&foreign_key)
        .arg("d:x")
        .arg("1")
        .query_async(conn)
        .await
        .unwrap();
    assert_eq!(store.load(&foreign).await.unwrap(), None);
    assert!(
        exists(conn, &foreign_key).await,
        "a foreign hash was deleted"
    );
    let _: () = redis::cmd("DEL")
        .arg(&foreign_key)
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn standalone_hashes_without_created() {
    let mut conn = common::raw_standalone().await;
    hashes_without_created_are_no_sessions(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_hashes_without_created() {
    let mut conn = common::raw_cluster().await;
    hashes_without_created_are_no_sessions(common::cluster().await, &mut conn).await;
}

async fn expire_time(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap()
}

/// A save whose expiry the layer kept (`ChangeSet::expiry_kept`) writes its
/// keys and leaves the stored expiry as it is (neither the `expires` field
/// nor the key's expiry is written); on a session that is gone it reports
/// `Gone` and leaves nothing behind.
async fn a_kept_expiry_is_not_rewritten(
    store: RedisStore,
    conn: &mut impl redis::aio::ConnectionLike,
) {
    let record = record();
    store.create(&record).await.unwrap();
    let key = store.key(&record.id);
    let stored = expire_time(conn, &key).await;
    let mut changes = ChangeSet::new(record.expires_at + Duration::seconds(30));
    changes.expiry_kept = true;
    changes.set.insert("user_count".into(), json!(4));
    assert_eq!(
        store.save(&record.id, &changes).await.unwrap(),
        Saved::Applied
    );
    assert_eq!(
        expire_time(conn, &key).await,
        stored,
        "the key's expiry stands"
    );
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["user_count"], json!(4));
    assert_eq!(
        unix_millis(loaded.expires_at),
        unix_millis(record.expires_at)
    );
    // Removals only: no HSET at all.
    let mut changes = ChangeSet::new(record.expires_at);
    changes.expiry_kept = true;
    changes.removed.push("created".into());
    assert_eq!(
        store.save(&record.id, &changes).await.unwrap(),
        Saved::Applied
    );
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert!(!loaded.data.contains_key("created"));

    store.delete(&record.id).await.unwrap();
    let mut changes = ChangeSet::new(record.expires_at);
    changes.expiry_kept = true;
    changes.set.insert("user_count".into(), json!(5));
    assert_eq!(store.save(&record.id, &changes).await.unwrap(), Saved::Gone);
    assert!(!exists(conn, &key).await, "the stub is deleted at once");
    assert!(store.load(&record.id).await.unwrap().is_none());
}

#[tokio::test]
async fn standalone_kept_expiry() {
    let mut conn = common::raw_standalone().await;
    a_kept_expiry_is_not_rewritten(common::standalone().await, &mut conn).await;
}

#[tokio::test]
async fn cluster_kept_expiry() {
    let mut conn = common::raw_cluster().await;
    a_kept_expiry_is_not_rewritten(common::cluster().await, &mut conn).await;
}
