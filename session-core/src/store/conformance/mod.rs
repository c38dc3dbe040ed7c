//! The store conformance suite (feature `conformance`).
//!
//! Every store runs the same checks against itself, against the real
//! server. They come in groups: `core`, which every store must pass (the
//! five methods of [`SessionStore`]), and one group per optional
//! capability a store advertises ([`SessionStore::capabilities`]):
//!
//! | group | capability | entry points |
//! |---|---|---|
//! | `core` | none: [`SessionStore`] | [`run_core`], [`CORE_CASES`] |
//! | `cycle` | [`CycleStore`] | [`run_cycle`], [`CYCLE_CASES`] |
//! | `users` | [`UserIndex`] | [`run_users`], [`USER_CASES`] |
//! | `leases` | [`LeaseStore`] | [`run_leases`], [`LEASE_CASES`] |
//! | `cleanup` | [`ExpiredCleanup`] | [`run_cleanup`], [`CLEANUP_CASES`] |
//!
//! The easiest way is the [`conformance_tests!`](crate::conformance_tests)
//! macro, which makes one `#[tokio::test]` per check of the groups it is
//! given, plus one that checks the store advertises exactly the
//! capabilities of those groups (the calling crate needs `tokio` with the
//! `macros` and `rt-multi-thread` features as a dev-dependency):
//!
//! ```
//! # mod demo {
//! use session_store_memory::MemoryStore;
//!
//! // In tests/conformance.rs of a store crate:
//! session_core::conformance_tests!(memory, async { MemoryStore::new() }, core, cycle, users, cleanup);
//! # }
//! ```
//!
//! Each check uses fresh random ids, so checks can run in parallel against
//! one store. A failing check panics with a message that says which part of
//! the contract was broken.
//!
//! [`CycleStore`]: crate::store::CycleStore
//! [`UserIndex`]: crate::store::UserIndex
//! [`LeaseStore`]: crate::store::LeaseStore
//! [`ExpiredCleanup`]: crate::store::ExpiredCleanup

use std::time::Duration as StdDuration;

use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use crate::store::{
    cycle_in_steps, AnyStore, ChangeSet, Created, CycleStore, Cycled, Data, ExpiredCleanup, Id,
    LeaseStore, Record, Saved, SessionStore, UserIndex,
};
use crate::Expiry;

mod layer;
mod leases;
mod users;
pub use layer::*;
pub use leases::*;
pub use users::*;

/// A store as the checks take it.
pub type DynStore = AnyStore;

/// The store's [`CycleStore`]; panics when it does not advertise one.
fn cycle_store(store: &DynStore) -> &dyn CycleStore {
    store.capabilities().cycle.expect(
        "the `cycle` group runs against a store that does not advertise CycleStore \
         (capabilities().with_cycle(self))",
    )
}

/// The store's [`UserIndex`]; panics when it does not advertise one.
fn user_index(store: &DynStore) -> &dyn UserIndex {
    store.capabilities().users.expect(
        "the `users` group runs against a store that does not advertise UserIndex \
         (capabilities().with_users(self))",
    )
}

/// The store's [`LeaseStore`]; panics when it does not advertise one.
fn lease_store(store: &DynStore) -> &dyn LeaseStore {
    store.capabilities().leases.expect(
        "the `leases` group runs against a store that does not advertise LeaseStore \
         (capabilities().with_leases(self))",
    )
}

/// The store's [`ExpiredCleanup`]; panics when it does not advertise one.
fn cleanup(store: &DynStore) -> &dyn ExpiredCleanup {
    store.capabilities().cleanup.expect(
        "the `cleanup` group runs against a store that does not advertise ExpiredCleanup \
         (capabilities().with_cleanup(self))",
    )
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A live record (one hour ahead) with `data`.
fn record_with(data: Value) -> Record {
    let now = now();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    if let Value::Object(map) = data {
        record.data = map;
    }
    record
}

async fn create(store: &DynStore, record: &Record) {
    let created = store.create(record).await.expect("create failed");
    assert_eq!(
        created,
        Created::Inserted,
        "create of a fresh id must insert"
    );
}

/// What `load` answers; a store that answers at once
/// ([`SessionStore::load_now`]) must answer the same there.
async fn load(store: &DynStore, id: &Id) -> Option<Record> {
    let loaded = store.load(id).await.expect("load failed");
    if let Some(at_once) = store.load_now(id) {
        let at_once = at_once.expect("load_now failed");
        assert_eq!(at_once, loaded, "load_now must answer what load answers");
    }
    loaded
}

async fn load_data(store: &DynStore, id: &Id) -> Data {
    load(store, id)
        .await
        .expect("the record should be there")
        .data
}

fn close(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    (a - b).abs() < Duration::milliseconds(1)
}

fn changes(set: Value, removed: &[&str]) -> ChangeSet {
    let mut changes = ChangeSet::new(now() + Duration::hours(1));
    if let Value::Object(map) = set {
        changes.set = map.into_iter().collect();
    }
    changes.removed = removed.iter().map(|k| k.to_string()).collect();
    changes
}

/// A store that answers loads at once ([`SessionStore::load_now`])
/// answers what `load` answers: for a live record, an id never stored and
/// an expired record (every other case checks it too, through its loads).
pub async fn load_now_agrees_with_load(store: DynStore) {
    let live = record_with(json!({"a": 1}));
    create(&store, &live).await;
    let mut expired = record_with(json!({"b": 2}));
    expired.expires_at = now() - Duration::seconds(1);
    create(&store, &expired).await;
    // `load` checks the answer at once against the load.
    for id in [Id::random(), expired.id] {
        load(&store, &id).await;
    }
    assert!(load(&store, &live.id).await.is_some());
}

/// Loading an id that was never stored gives `None`.
pub async fn load_missing_is_none(store: DynStore) {
    assert!(load(&store, &Id::random()).await.is_none());
}

/// A created record loads back with the same data, creation time and
/// expiry (to the millisecond), including nested and non-ASCII values.
pub async fn create_then_load_round_trips(store: DynStore) {
    let record = record_with(json!({
        "user_count": 1,
        "username": {"user_id": "hong", "age": 21, "email": "aaa@aaa.com"},
        "unicode": "naïve – 日本 – 🦀",
        "list": [1, 2.5, null, true, "x"],
        "null": null,
    }));
    create(&store, &record).await;
    let loaded = load(&store, &record.id)
        .await
        .expect("created record must load");
    assert_eq!(loaded.id, record.id);
    assert_eq!(loaded.data, record.data, "data must round-trip exactly");
    assert!(
        close(loaded.created_at, record.created_at),
        "created_at changed: {} vs {}",
        loaded.created_at,
        record.created_at
    );
    assert!(
        close(loaded.expires_at, record.expires_at),
        "expires_at changed: {} vs {}",
        loaded.expires_at,
        record.expires_at
    );
}

/// Keys with characters that JSON-path syntaxes treat specially are plain keys.
pub async fn awkward_keys_are_plain_keys(store: DynStore) {
    let keys = [
        "a.b",
        "$",
        "$.x",
        "[0]",
        "with space",
        "quote\"d",
        "back\\slash",
        "'single'",
        "",
        "ключ",
        "*",
    ];
    let mut record = record_with(json!({}));
    record.data.insert("seed".into(), json!(0));
    create(&store, &record).await;
    let mut set = serde_json::Map::new();
    for (i, key) in keys.iter().enumerate() {
        set.insert((*key).to_owned(), json!(i));
    }
    let saved = store
        .save(&record.id, &changes(Value::Object(set.clone()), &[]))
        .await
        .expect("save failed");
    assert_eq!(saved, Saved::Applied);
    let data = load_data(&store, &record.id).await;
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            data.get(*key),
            Some(&json!(i)),
            "key {key:?} not stored as a plain key"
        );
    }
    let saved = store
        .save(&record.id, &changes(json!({}), &keys))
        .await
        .expect("save failed");
    assert_eq!(saved, Saved::Applied);
    let data = load_data(&store, &record.id).await;
    assert_eq!(
        data.len(),
        1,
        "every awkward key should be removed: {data:?}"
    );
}

/// Creating under the id of a live record reports `IdTaken` and changes nothing.
pub async fn create_with_taken_id_keeps_the_original(store: DynStore) {
    let original = record_with(json!({"owner": "first"}));
    create(&store, &original).await;
    let mut intruder = record_with(json!({"owner": "second"}));
    intruder.id = original.id;
    let created = store.create(&intruder).await.expect("create failed");
    assert_eq!(
        created,
        Created::IdTaken,
        "a live id must not be overwritten"
    );
    assert_eq!(load_data(&store, &original.id).await["owner"], "first");
}

/// An expired record does not block a new one with its id.
pub async fn create_over_an_expired_record_inserts(store: DynStore) {
    let mut old = record_with(json!({"v": "old"}));
    old.expires_at = now() - Duration::seconds(10);
    old.created_at = now() - Duration::hours(2);
    create(&store, &old).await;
    let mut fresh = record_with(json!({"v": "new"}));
    fresh.id = old.id;
    let created = store.create(&fresh).await.expect("create failed");
    assert_eq!(created, Created::Inserted, "an expired record is absent");
    assert_eq!(load_data(&store, &old.id).await["v"], "new");
}

/// A change set sets and removes exactly the keys it names.
pub async fn save_applies_sets_and_removals(store: DynStore) {
    let record = record_with(json!({"a": 1, "b": 2, "c": 3}));
    create(&store, &record).await;
    let saved = store
        .save(
            &record.id,
            &changes(json!({"a": 10, "d": {"x": [1]}}), &["b", "missing"]),
        )
        .await
        .expect("save failed");
    assert_eq!(saved, Saved::Applied);
    let data = load_data(&store, &record.id).await;
    assert_eq!(
        Value::Object(data),
        json!({"a": 10, "c": 3, "d": {"x": [1]}})
    );
}

/// A key can be set to JSON `null`, which is not the same as absent.
pub async fn null_values_are_kept(store: DynStore) {
    let record = record_with(json!({"a": 1}));
    create(&store, &record).await;
    store
        .save(&record.id, &changes(json!({"a": null, "b": null}), &[]))
        .await
        .expect("save failed");
    let data = load_data(&store, &record.id).await;
    assert_eq!(Value::Object(data), json!({"a": null, "b": null}));
}

/// A save moves the expiry to the change set's.
pub async fn save_moves_the_expiry(store: DynStore) {
    let record = record_with(json!({"a": 1}));
    create(&store, &record).await;
    let mut change = changes(json!({"a": 2}), &[]);
    change.expires_at = now() + Duration::hours(5);
    store.save(&record.id, &change).await.expect("save failed");
    let loaded = load(&store, &record.id).await.unwrap();
    assert!(
        close(loaded.expires_at, change.expires_at),
        "expiry not moved"
    );
    assert!(
        close(loaded.created_at, record.created_at),
        "created_at must not change"
    );
}

/// Saving to an id with no record reports `Gone` and creates nothing.
pub async fn save_without_record_is_gone(store: DynStore) {
    let id = Id::random();
    let saved = store
        .save(&id, &changes(json!({"a": 1}), &[]))
        .await
        .expect("save failed");
    assert_eq!(saved, Saved::Gone);
    assert!(
        load(&store, &id).await.is_none(),
        "save must never create a record"
    );
}

/// A save that arrives after a delete (a request in flight during logout)
/// does not bring the session back.
pub async fn save_after_delete_does_not_resurrect(store: DynStore) {
    let record = record_with(json!({"user": "alice"}));
    create(&store, &record).await;
    store.delete(&record.id).await.expect("delete failed");
    let saved = store
        .save(&record.id, &changes(json!({"cart": [1, 2]}), &[]))
        .await
        .expect("save failed");
    assert_eq!(
        saved,
        Saved::Gone,
        "logout must win over a request in flight"
    );
    let touched = store
        .touch(&record.id, now() + Duration::hours(2))
        .await
        .expect("touch failed");
    assert_eq!(touched, Saved::Gone);
    assert!(load(&store, &record.id).await.is_none());
}

/// An expired record is absent for load, save and touch.
pub async fn expired_records_are_absent(store: DynStore) {
    let mut record = record_with(json!({"a": 1}));
    record.expires_at = now() - Duration::seconds(1);
    create(&store, &record).await;
    assert!(
        load(&store, &record.id).await.is_none(),
        "expired record loaded"
    );
    let saved = store
        .save(&record.id, &changes(json!({"b": 1}), &[]))
        .await
        .expect("save failed");
    assert_eq!(saved, Saved::Gone, "save revived an expired record");
    let touched = store
        .touch(&record.id, now() + Duration::hours(1))
        .await
        .expect("touch failed");
    assert_eq!(touched, Saved::Gone, "touch revived an expired record");
    assert!(load(&store, &record.id).await.is_none());
}

/// A record expires by the store's clock while nobody touches it
/// (one bounded wait of about two seconds).
pub async fn records_expire_as_time_passes(store: DynStore) {
    let mut record = record_with(json!({"a": 1}));
    record.expires_at = now() + Duration::milliseconds(1200);
    create(&store, &record).await;
    assert!(
        load(&store, &record.id).await.is_some(),
        "record gone too early"
    );
    tokio::time::sleep(StdDuration::from_millis(2200)).await;
    assert!(
        load(&store, &record.id).await.is_none(),
        "record outlived its expiry"
    );
}

/// Touch moves only the expiry; the data stays as it is in the store.
pub async fn touch_moves_only_the_expiry(store: DynStore) {
    let record = record_with(json!({"a": 1}));
    create(&store, &record).await;
    store
        .save(&record.id, &changes(json!({"b": 2}), &[]))
        .await
        .expect("save failed");
    let later = now() + Duration::hours(3);
    let touched = store.touch(&record.id, later).await.expect("touch failed");
    assert_eq!(touched, Saved::Applied);
    let loaded = load(&store, &record.id).await.unwrap();
    assert!(
        close(loaded.expires_at, later),
        "touch did not move the expiry"
    );
    assert_eq!(Value::Object(loaded.data), json!({"a": 1, "b": 2}));
}

/// Touching an id with no record reports `Gone` and creates nothing.
pub async fn touch_without_record_is_gone(store: DynStore) {
    let id = Id::random();
    let touched = store
        .touch(&id, now() + Duration::hours(1))
        .await
        .expect("touch failed");
    assert_eq!(touched, Saved::Gone);
    assert!(load(&store, &id).await.is_none());
}

/// Delete removes the record; deleting again (or a missing id) is fine.
pub async fn delete_is_idempotent(store: DynStore) {
    let record = record_with(json!({"a": 1}));
    create(&store, &record).await;
    store.delete(&record.id).await.expect("delete failed");
    assert!(load(&store, &record.id).await.is_none());
    store
        .delete(&record.id)
        .await
        .expect("second delete failed");
    store
        .delete(&Id::random())
        .await
        .expect("delete of a missing id failed");
}

/// Twenty concurrent change sets, each on its own key, all survive.
pub async fn concurrent_change_sets_on_different_keys_all_survive(store: DynStore) {
    let record = record_with(json!({"base": true}));
    create(&store, &record).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = store.clone();
        let id = record.id;
        tasks.spawn(async move {
            let key = format!("key{i}");
            store
                .save(&id, &changes(json!({ key: i }), &[]))
                .await
                .expect("save failed")
        });
    }
    while let Some(saved) = tasks.join_next().await {
        assert_eq!(saved.expect("task panicked"), Saved::Applied);
    }
    let data = load_data(&store, &record.id).await;
    for i in 0..20 {
        assert_eq!(
            data.get(&format!("key{i}")),
            Some(&json!(i)),
            "lost the write of key{i}"
        );
    }
    assert_eq!(data.get("base"), Some(&json!(true)));
}

/// `delete_expired` keeps live records.
pub async fn delete_expired_keeps_live_records(store: DynStore) {
    let live = record_with(json!({"a": 1}));
    create(&store, &live).await;
    let mut dead = record_with(json!({"a": 2}));
    dead.expires_at = now() - Duration::seconds(5);
    create(&store, &dead).await;
    cleanup(&store)
        .delete_expired()
        .await
        .expect("delete_expired failed");
    assert!(
        load(&store, &live.id).await.is_some(),
        "a live record was removed"
    );
    assert!(load(&store, &dead.id).await.is_none());
}

/// Big sessions (1,000 keys, a 200 KB value) round-trip.
pub async fn large_records_round_trip(store: DynStore) {
    let mut record = record_with(json!({}));
    for i in 0..1000 {
        record.data.insert(format!("k{i}"), json!(i));
    }
    record
        .data
        .insert("blob".into(), json!("x".repeat(200_000)));
    create(&store, &record).await;
    assert_eq!(load_data(&store, &record.id).await, record.data);
}

/// A session's own expiry policy is kept with the record: created, changed
/// by a save that names it, kept by saves and touches that do not.
pub async fn expiry_policy_is_kept_with_the_record(store: DynStore) {
    let policies = [
        Expiry::OnSessionEnd,
        Expiry::OnInactivity(StdDuration::from_secs(30 * 86_400)),
        Expiry::AtDateTime(OffsetDateTime::from_unix_timestamp(4_000_000_000).unwrap()),
    ];
    for policy in policies {
        let mut record = record_with(json!({"n": 1}));
        record.expiry = Some(policy);
        create(&store, &record).await;
        let policy_of = |r: Option<Record>| r.expect("the record should be there").expiry;
        assert_eq!(policy_of(load(&store, &record.id).await), Some(policy));

        let kept = changes(json!({"n": 2}), &[]);
        assert_eq!(store.save(&record.id, &kept).await.unwrap(), Saved::Applied);
        assert_eq!(
            policy_of(load(&store, &record.id).await),
            Some(policy),
            "a save that does not name the policy must keep it"
        );
        let touched = store
            .touch(&record.id, now() + Duration::hours(2))
            .await
            .unwrap();
        assert_eq!(touched, Saved::Applied);
        assert_eq!(policy_of(load(&store, &record.id).await), Some(policy));

        let mut cleared = changes(json!({}), &[]);
        cleared.expiry = Some(None);
        assert_eq!(
            store.save(&record.id, &cleared).await.unwrap(),
            Saved::Applied
        );
        assert_eq!(policy_of(load(&store, &record.id).await), None);

        let mut set = changes(json!({}), &[]);
        set.expiry = Some(Some(policy));
        assert_eq!(store.save(&record.id, &set).await.unwrap(), Saved::Applied);
        let back = load(&store, &record.id).await.unwrap();
        assert_eq!(back.expiry, Some(policy));
        assert_eq!(back.data["n"], json!(2), "a policy change keeps the data");
    }
    let plain = record_with(json!({"n": 1}));
    create(&store, &plain).await;
    assert_eq!(load(&store, &plain.id).await.unwrap().expiry, None);
}

/// The user binding ([`Record::user`]) is kept with the record by every
/// store, with or without a user index: created, changed by a save that
/// names it, kept by saves and touches that do not, and removed by a save
/// that unbinds.
pub async fn user_binding_is_kept_with_the_record(store: DynStore) {
    let user_of = |r: Option<Record>| r.expect("the record should be there").user;
    let (hong, kim) = (
        format!("hong-{}", Id::random().short_hash()),
        format!("kim 日本-{}", Id::random().short_hash()),
    );
    let mut record = record_with(json!({"n": 1}));
    record.user = Some(hong.clone());
    create(&store, &record).await;
    assert_eq!(user_of(load(&store, &record.id).await), Some(hong.clone()));

    let kept = changes(json!({"n": 2}), &[]);
    assert_eq!(store.save(&record.id, &kept).await.unwrap(), Saved::Applied);
    let touched = store
        .touch(&record.id, now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(touched, Saved::Applied);
    assert_eq!(
        user_of(load(&store, &record.id).await),
        Some(hong),
        "a save or touch that does not name the user must keep it"
    );

    let mut rebind = changes(json!({}), &[]);
    rebind.user = Some(Some(kim.clone()));
    assert_eq!(
        store.save(&record.id, &rebind).await.unwrap(),
        Saved::Applied
    );
    assert_eq!(user_of(load(&store, &record.id).await), Some(kim));

    let mut unbind = changes(json!({}), &[]);
    unbind.user = Some(None);
    assert_eq!(
        store.save(&record.id, &unbind).await.unwrap(),
        Saved::Applied
    );
    let back = load(&store, &record.id).await.unwrap();
    assert_eq!(back.user, None);
    assert_eq!(back.data["n"], json!(2), "a binding change keeps the data");
}

/// How a cycle check moves a session: with the store's [`CycleStore`],
/// or in steps with the five required methods ([`cycle_in_steps`], what
/// the layer does for a store without the capability).
#[derive(Clone, Copy)]
enum Via {
    Capability,
    Steps,
}

async fn cycle_via(via: Via, store: &DynStore, old: &Id, record: &Record) -> Cycled {
    match via {
        Via::Capability => cycle_store(store).cycle(old, record).await,
        Via::Steps => cycle_in_steps(store, old, record).await,
    }
    .expect("cycle failed")
}

async fn moves_the_record(via: Via, store: DynStore) {
    let old = record_with(json!({"user": "alice"}));
    create(&store, &old).await;
    let mut moved = record_with(json!({"user": "alice", "role": "admin"}));
    moved.created_at = old.created_at;
    moved.expiry = Some(Expiry::OnSessionEnd);
    assert_eq!(cycle_via(via, &store, &old.id, &moved).await, Cycled::Moved);
    assert!(
        load(&store, &old.id).await.is_none(),
        "the old id must be gone"
    );
    let back = load(&store, &moved.id)
        .await
        .expect("the new id must be live");
    assert_eq!(back.data, moved.data);
    assert!(close(back.created_at, old.created_at));
    assert_eq!(back.expiry, Some(Expiry::OnSessionEnd));
}

async fn after_delete_is_gone(via: Via, store: DynStore) {
    let old = record_with(json!({"user": "alice"}));
    create(&store, &old).await;
    store.delete(&old.id).await.unwrap();
    let moved = record_with(json!({"user": "alice"}));
    assert_eq!(cycle_via(via, &store, &old.id, &moved).await, Cycled::Gone);
    assert!(
        load(&store, &moved.id).await.is_none(),
        "the session came back"
    );
    assert!(load(&store, &old.id).await.is_none());
}

async fn onto_a_taken_id_changes_nothing(via: Via, store: DynStore) {
    let old = record_with(json!({"user": "alice"}));
    let other = record_with(json!({"user": "bob"}));
    create(&store, &old).await;
    create(&store, &other).await;
    let mut clash = record_with(json!({"user": "alice"}));
    clash.id = other.id;
    assert_eq!(
        cycle_via(via, &store, &old.id, &clash).await,
        Cycled::IdTaken
    );
    assert_eq!(load_data(&store, &old.id).await["user"], json!("alice"));
    assert_eq!(load_data(&store, &other.id).await["user"], json!("bob"));
}

/// Cycling in steps ([`cycle_in_steps`], what the layer does for a store
/// without [`CycleStore`]) moves a live record to its new id (data,
/// creation time and policy), and the old id is gone.
pub async fn cycle_in_steps_moves_the_record(store: DynStore) {
    moves_the_record(Via::Steps, store).await;
}

/// Cycling in steps a session another request ended writes nothing.
pub async fn cycle_in_steps_after_delete_is_gone(store: DynStore) {
    after_delete_is_gone(Via::Steps, store).await;
}

/// Cycling in steps onto an id a live record has changes neither record.
pub async fn cycle_in_steps_onto_a_taken_id_changes_nothing(store: DynStore) {
    onto_a_taken_id_changes_nothing(Via::Steps, store).await;
}

/// [`CycleStore::cycle`] moves a live record to its new id (data,
/// creation time and policy), and the old id is gone.
pub async fn cycle_moves_the_record(store: DynStore) {
    moves_the_record(Via::Capability, store).await;
}

/// [`CycleStore::cycle`] of a session another request ended writes
/// nothing: logout wins.
pub async fn cycle_after_delete_is_gone(store: DynStore) {
    after_delete_is_gone(Via::Capability, store).await;
}

/// [`CycleStore::cycle`] onto an id a live record has changes neither
/// record.
pub async fn cycle_onto_a_taken_id_changes_nothing(store: DynStore) {
    onto_a_taken_id_changes_nothing(Via::Capability, store).await;
}

/// The store advertises ([`SessionStore::capabilities`]) exactly the
/// capabilities of the conformance `groups` it is tested with (names as
/// [`conformance_tests!`](crate::conformance_tests) takes them: `core`,
/// `cycle`, `users`, `leases`, `cleanup`): a capability implemented but
/// not advertised is never used, and one advertised but not tested is not
/// known to work. Panics naming the difference, or an unknown group.
pub async fn advertises_the_tested_capabilities(store: DynStore, groups: &[&str]) {
    const KNOWN: [&str; 5] = ["core", "cycle", "users", "leases", "cleanup"];
    for group in groups {
        assert!(
            KNOWN.contains(group),
            "unknown conformance group {group:?} (known: {KNOWN:?})"
        );
    }
    let capabilities = store.capabilities();
    for (group, advertised, name, with) in [
        (
            "cycle",
            capabilities.cycle.is_some(),
            "CycleStore",
            "with_cycle",
        ),
        (
            "users",
            capabilities.users.is_some(),
            "UserIndex",
            "with_users",
        ),
        (
            "leases",
            capabilities.leases.is_some(),
            "LeaseStore",
            "with_leases",
        ),
        (
            "cleanup",
            capabilities.cleanup.is_some(),
            "ExpiredCleanup",
            "with_cleanup",
        ),
    ] {
        let tested = groups.contains(&group);
        assert!(
            !tested || advertised,
            "the `{group}` group is tested but the store does not advertise {name}: \
             add `.{with}(self)` to its `capabilities()`"
        );
        assert!(
            tested || !advertised,
            "the store advertises {name} but the `{group}` group is not tested: \
             add `{group}` to the groups of conformance_tests!"
        );
    }
}

/// Calls the macro named in braces with `[args]` followed by the names of
/// every check of the group named first: the one list of each group's
/// checks, shared by the `run_*` functions, the `*_CASES` lists and
/// [`conformance_tests!`](crate::conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    (core {$($callback:tt)*} [$($args:tt)*]) => {
        $($callback)*!($($args)* load_missing_is_none,
            load_now_agrees_with_load,
            create_then_load_round_trips,
            awkward_keys_are_plain_keys,
            create_with_taken_id_keeps_the_original,
            create_over_an_expired_record_inserts,
            save_applies_sets_and_removals,
            null_values_are_kept,
            save_moves_the_expiry,
            save_without_record_is_gone,
            save_after_delete_does_not_resurrect,
            expired_records_are_absent,
            records_expire_as_time_passes,
            touch_moves_only_the_expiry,
            touch_without_record_is_gone,
            delete_is_idempotent,
            concurrent_change_sets_on_different_keys_all_survive,
            large_records_round_trip,
            expiry_policy_is_kept_with_the_record,
            user_binding_is_kept_with_the_record,
            cycle_in_steps_moves_the_record,
            cycle_in_steps_after_delete_is_gone,
            cycle_in_steps_onto_a_taken_id_changes_nothing,
            layer_serves_sessions_with_the_capabilities_it_has);
    };
    (cycle {$($callback:tt)*} [$($args:tt)*]) => {
        $($callback)*!($($args)* cycle_moves_the_record,
            cycle_after_delete_is_gone,
            cycle_onto_a_taken_id_changes_nothing);
    };
    (users {$($callback:tt)*} [$($args:tt)*]) => {
        $($callback)*!($($args)* user_index_lists_created_sessions,
            unknown_user_has_no_sessions,
            save_moves_the_user_binding,
            binding_a_gone_session_lists_nothing,
            cycle_moves_the_index_entry,
            ended_sessions_leave_the_index,
            delete_user_ends_every_session,
            delete_user_keeps_exactly_one,
            delete_user_racing_saves_leaves_nothing,
            cycle_racing_delete_user_leaves_nothing,
            end_user_session_ends_one_session,
            end_user_session_racing_a_cycle_tells_the_truth,
            awkward_user_names_are_distinct,
            user_index_matches_a_model,
            layer_stores_only_digests_of_cookie_ids,
            layer_encrypts_values_at_rest,
            layer_ends_other_and_all_sessions);
    };
    (leases {$($callback:tt)*} [$($args:tt)*]) => {
        $($callback)*!($($args)* a_lease_is_exclusive_until_released,
            a_released_lease_lets_the_next_one_in,
            leases_of_different_sessions_are_independent);
    };
    (cleanup {$($callback:tt)*} [$($args:tt)*]) => {
        $($callback)*!($($args)* delete_expired_keeps_live_records);
    };
}

macro_rules! define_run_group {
    ($run:ident, $cases:ident, $group:literal, $($case:ident),*) => {
        #[doc = concat!("Runs every check of the `", $group, "` group one after another against `store`.")]
        ///
        /// ```no_run
        /// # async fn demo(store: session_core::store::conformance::DynStore) {
        #[doc = concat!("session_core::store::conformance::", stringify!($run), "(store).await;")]
        /// # }
        /// ```
        pub async fn $run(store: DynStore) {
            $( $case(store.clone()).await; )*
        }

        #[doc = concat!("The names of the `", $group, "` group's checks, in the order [`", stringify!($run), "`] runs them.")]
        pub const $cases: &[&str] = &[$(stringify!($case)),*];
    };
}
__conformance_cases!(core {define_run_group} [run_core, CORE_CASES, "core",]);
__conformance_cases!(cycle {define_run_group} [run_cycle, CYCLE_CASES, "cycle",]);
__conformance_cases!(users {define_run_group} [run_users, USER_CASES, "users",]);
__conformance_cases!(leases {define_run_group} [run_leases, LEASE_CASES, "leases",]);
__conformance_cases!(cleanup {define_run_group} [run_cleanup, CLEANUP_CASES, "cleanup",]);

/// Runs the `core` group and the group of every capability `store`
/// advertises, one check after another.
///
/// ```no_run
/// # async fn demo(store: session_core::store::conformance::DynStore) {
/// session_core::store::conformance::run_all(store).await;
/// # }
/// ```
pub async fn run_all(store: DynStore) {
    let capabilities = store.capabilities();
    let (cycle, users, leases, cleanup) = (
        capabilities.cycle.is_some(),
        capabilities.users.is_some(),
        capabilities.leases.is_some(),
        capabilities.cleanup.is_some(),
    );
    run_core(store.clone()).await;
    if cycle {
        run_cycle(store.clone()).await;
    }
    if users {
        run_users(store.clone()).await;
    }
    if leases {
        run_leases(store.clone()).await;
    }
    if cleanup {
        run_cleanup(store).await;
    }
}

/// Makes one `#[tokio::test]` per conformance check of the listed groups
/// (`core`, `cycle`, `users`, `leases`, `cleanup`), in a module named
/// `$name`, each with a store made by the async expression `$make`; plus
/// `advertises_the_tested_capabilities`, which fails unless the store
/// advertises exactly the capabilities of the listed groups
/// ([`advertises_the_tested_capabilities`](crate::store::conformance::advertises_the_tested_capabilities)).
///
/// ```
/// # mod demo {
/// use session_store_memory::MemoryStore;
///
/// session_core::conformance_tests!(
///     memory_bounded,
///     async { MemoryStore::new().with_capacity_limit(10_000) },
///     core, cycle, users, cleanup
/// );
/// # }
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $make:expr, $($group:ident),+ $(,)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn advertises_the_tested_capabilities() {
                let store = $make.await;
                $crate::store::conformance::advertises_the_tested_capabilities(
                    $crate::store::AnyStore::new(store),
                    &[$(stringify!($group)),+],
                )
                .await;
            }

            $( $crate::__conformance_cases!($group {$crate::__conformance_tests} [$make;]); )+
        }
    };
    ($name:ident, $make:expr $(,)?) => {
        ::std::compile_error!(
            "conformance_tests! needs the groups to run after the store: `core` and one per \
             capability the store advertises (`cycle`, `users`, `leases`, `cleanup`)"
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($make:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::store::conformance::$case($crate::store::AnyStore::new(store)).await;
            }
        )*
    };
}
