// The tower-sessions store behaviours, written once. `tests/stores.rs`
// includes this file once per tower-sessions-core version, in a module
// where `tower` names that version's crate, and runs every function on
// every store.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};
use session_core::store::{Encrypted, SessionStore};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Key, Keys};
use session_store_memory::MemoryStore;
use session_tower_sessions::{TowerStore, DATA_KEY};
use tower::session::{Id, Record};
use tower::session_store::Error;
use tower::{ExpiredDeletion as _, SessionStore as _};

use crate::common::CollidesOnce;

/// A record of a fresh random id, live for an hour, holding `data`.
fn record(data: Value) -> Record {
    let data: HashMap<String, Value> = match data {
        Value::Object(map) => map.into_iter().collect(),
        other => panic!("record data must be an object, not {other}"),
    };
    Record {
        id: Id::default(),
        data,
        expiry_date: OffsetDateTime::now_utc() + Duration::hours(1),
    }
}

/// The key our store keeps the tower-sessions id `id` under.
fn at_rest(id: &Id) -> session_core::Id {
    session_core::Id::from_bytes(id.0.to_le_bytes()).at_rest()
}

/// Stores keep expiry times in milliseconds.
fn assert_same_expiry(loaded: OffsetDateTime, saved: OffsetDateTime) {
    assert!(
        (loaded - saved).abs() < Duration::milliseconds(1),
        "expiry loaded as {loaded}, saved as {saved}"
    );
}

async fn load<S: SessionStore>(store: &TowerStore<S>, id: &Id) -> Option<Record> {
    store.load(id).await.expect("load")
}

/// Create, load, save, delete; the store sees only the digest of the id.
pub async fn create_load_save_delete<S: SessionStore>(store: TowerStore<S>) {
    // A key our stores reserve (`@session/…`) is plain data here: the data
    // is kept whole under one key of ours.
    let mut rec = record(json!({ "user": "ferris", "n": 1, "@session/user": "mallory" }));
    let id = rec.id;
    store.create(&mut rec).await.expect("create");
    assert_eq!(rec.id, id, "a free id is kept");

    let loaded = load(&store, &id).await.expect("created");
    assert_eq!(loaded.id, id);
    assert_eq!(loaded.data, rec.data);
    assert_same_expiry(loaded.expiry_date, rec.expiry_date);

    let inner = store.inner();
    let kept = inner.load(&at_rest(&id)).await.expect("inner load");
    assert_eq!(kept.expect("kept under the digest").data[DATA_KEY]["user"], "ferris");
    let raw = session_core::Id::from_bytes(id.0.to_le_bytes());
    assert!(
        inner.load(&raw).await.expect("inner load").is_none(),
        "nothing is kept under the cookie's id itself"
    );

    rec.data.insert("n".into(), json!(2));
    rec.expiry_date = OffsetDateTime::now_utc() + Duration::hours(2);
    store.save(&rec).await.expect("save");
    let loaded = load(&store, &id).await.expect("saved");
    assert_eq!(loaded.data["n"], 2);
    assert_eq!(loaded.data["user"], "ferris");
    assert_same_expiry(loaded.expiry_date, rec.expiry_date);

    assert!(load(&store, &Id::default()).await.is_none(), "another id is no session");

    store.delete(&id).await.expect("delete");
    assert!(load(&store, &id).await.is_none());
    assert!(inner.load(&at_rest(&id)).await.expect("inner load").is_none());
    store.delete(&id).await.expect("deleting an absent session is no error");
}

/// Save replaces the data whole: keys the new record lacks are gone.
pub async fn save_replaces_data<S: SessionStore>(store: TowerStore<S>) {
    let mut rec = record(json!({ "user": "ferris", "flash": "hello", "cart": [1, 2] }));
    store.create(&mut rec).await.expect("create");
    rec.data = record(json!({ "user": "hong" })).data;
    store.save(&rec).await.expect("save");
    let loaded = load(&store, &rec.id).await.expect("saved");
    assert_eq!(loaded.data, rec.data, "exactly the new data");

    rec.data.clear();
    store.save(&rec).await.expect("save empty");
    assert!(load(&store, &rec.id).await.expect("saved").data.is_empty());
}

/// Save of an id the store does not hold creates the record.
pub async fn save_of_missing_id_creates<S: SessionStore>(store: TowerStore<S>) {
    let rec = record(json!({ "n": 7 }));
    assert!(load(&store, &rec.id).await.is_none());
    store.save(&rec).await.expect("save");
    let loaded = load(&store, &rec.id).await.expect("created by save");
    assert_eq!(loaded.data, rec.data);
    assert_same_expiry(loaded.expiry_date, rec.expiry_date);
}

/// The store honours `expiry_date`: an expired record loads as `None`,
/// and a save with an expiry in the past ends the session.
pub async fn expired_record_loads_as_none<S: SessionStore>(store: TowerStore<S>) {
    let mut short = record(json!({ "n": 1 }));
    short.expiry_date = OffsetDateTime::now_utc() + Duration::milliseconds(1_500);
    store.create(&mut short).await.expect("create");
    assert!(load(&store, &short.id).await.is_some(), "live before its expiry");
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    assert!(load(&store, &short.id).await.is_none(), "expired");

    let mut ended = record(json!({ "n": 1 }));
    store.create(&mut ended).await.expect("create");
    ended.expiry_date = OffsetDateTime::now_utc() - Duration::seconds(1);
    store.save(&ended).await.expect("save as expired");
    assert!(load(&store, &ended.id).await.is_none(), "saved as expired");
}

/// A create on an id a live session holds leaves that session alone and
/// moves the new one to a fresh id.
pub async fn create_on_a_taken_id_picks_a_fresh_one<S: SessionStore>(store: TowerStore<S>) {
    let mut first = record(json!({ "user": "ferris" }));
    store.create(&mut first).await.expect("create");
    let mut second = record(json!({ "user": "hong" }));
    second.id = first.id;
    store.create(&mut second).await.expect("create on a taken id");
    assert_ne!(second.id, first.id, "the colliding create moved to a fresh id");
    assert_eq!(load(&store, &first.id).await.expect("first").data["user"], "ferris");
    assert_eq!(load(&store, &second.id).await.expect("second").data["user"], "hong");
}

/// `delete_expired` runs the store's cleanup and keeps live sessions.
pub async fn delete_expired_keeps_live_sessions<S: SessionStore>(store: TowerStore<S>) {
    let mut short = record(json!({ "n": 1 }));
    short.expiry_date = OffsetDateTime::now_utc() + Duration::milliseconds(1_000);
    store.create(&mut short).await.expect("create");
    let mut live = record(json!({ "n": 2 }));
    store.create(&mut live).await.expect("create");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    store.delete_expired().await.expect("delete_expired");
    assert!(load(&store, &short.id).await.is_none());
    assert_eq!(load(&store, &live.id).await.expect("live").data["n"], 2);
    if let Some(cleanup) = store.inner().capabilities().cleanup {
        assert_eq!(
            cleanup.delete_expired().await.expect("cleanup"),
            0,
            "delete_expired left nothing expired behind"
        );
    }
}

/// A record not written through the adapter (no tower-sessions data, or
/// not an object) loads as a decoding error, not a panic, not a session.
pub async fn foreign_record_is_an_error<S: SessionStore>(store: TowerStore<S>) {
    for data in [json!({ "n": 1 }), json!({ DATA_KEY: "text" })] {
        let id = Id::default();
        let now = OffsetDateTime::now_utc();
        let mut foreign = session_core::store::Record::new(at_rest(&id), now, now + Duration::hours(1));
        foreign.data = data.as_object().expect("an object").clone();
        store.inner().create(&foreign).await.expect("inner create");
        match store.load(&id).await {
            Err(Error::Decode(_)) => {}
            other => panic!("a foreign record ({data}) loaded as {other:?}"),
        }
    }
}

/// A store that reports a collision once: create moves the record to a
/// fresh id, and the record is kept there.
pub async fn collision_reported_once_changes_the_id() {
    let store = TowerStore::new(CollidesOnce::default());
    let mut rec = record(json!({ "n": 1 }));
    let asked = rec.id;
    store.create(&mut rec).await.expect("create");
    assert_ne!(rec.id, asked, "a new id after the collision");
    assert!(load(&store, &asked).await.is_none());
    assert_eq!(load(&store, &rec.id).await.expect("kept").data["n"], 1);
    assert_eq!(store.inner().store.len(), 1);
}

/// Encrypted at rest, with key rotation: what the old key sealed loads
/// once a new key leads, and the data is not kept in the clear.
pub async fn encrypted_store_rotates_keys() {
    let memory = Arc::new(MemoryStore::new());
    let old = Key::generate();
    let before = TowerStore::new(Encrypted::new(memory.clone(), old.clone()));
    let mut rec = record(json!({ "user": "ferris" }));
    before.create(&mut rec).await.expect("create");

    let clear = memory.load(&at_rest(&rec.id)).await.expect("load").expect("kept");
    assert!(!clear.data.values().any(|value| value.to_string().contains("ferris")));

    let keys = Keys::new(vec![Key::generate(), old]).expect("keys");
    let after = TowerStore::new(Encrypted::new(memory.clone(), keys));
    assert_eq!(load(&after, &rec.id).await.expect("opened with the old key").data["user"], "ferris");
    rec.data.insert("user".into(), json!("hong"));
    after.save(&rec).await.expect("save under the new key");

    let stranger = TowerStore::new(Encrypted::new(memory, Key::generate()));
    assert!(load(&stranger, &rec.id).await.is_none(), "another key opens nothing");
}
