//! SQLite: the conformance suite on a file and in memory, and the checks
//! every database runs.
#![cfg(feature = "sqlite")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use session_core::store::conformance::race_cycles_against_delete_user;
use session_core::store::{Record, SessionStore, StoreError};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_sql::{Database, SqlStore};

/// A file shared by the tests of this binary (each opens its own pool on
/// it, as separate processes would).
fn shared_file() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("session-store-sql-conformance.db")
}

async fn file_store() -> SqlStore {
    let url = format!("sqlite://{}", shared_file().display());
    let store = SqlStore::connect(&url).await.expect("open the SQLite file");
    store.migrate().await.expect("migrate");
    store
}

async fn memory_store() -> SqlStore {
    let store = SqlStore::connect("sqlite::memory:")
        .await
        .expect("open in-memory SQLite");
    store.migrate().await.expect("migrate");
    store
}

session_core::conformance_tests!(
    sqlite_file,
    async { file_store().await },
    core,
    cycle,
    users,
    cleanup
);
session_core::conformance_tests!(
    sqlite_memory,
    async { memory_store().await },
    core,
    cycle,
    users,
    cleanup
);
session_core::conformance_tests!(
    sqlite_qualified_table,
    async {
        let store = SqlStore::connect("sqlite::memory:")
            .await
            .unwrap()
            .with_table_name("main.qualified_sessions")
            .unwrap();
        store.migrate().await.unwrap();
        store
    },
    core,
    cycle,
    users,
    cleanup
);

/// "Log out everywhere" racing cycles of the user's sessions, 1,000
/// rounds on a file of its own, through a pool of several connections
/// (the conformance suite runs 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_racing_delete_user_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("race.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    race_cycles_against_delete_user(session_core::store::AnyStore::new(store), 1000).await;
}

#[tokio::test]
async fn corrupt_rows_are_reported() {
    common::corrupt_row_is_reported(memory_store().await, "'{not json'").await;
    common::corrupt_row_is_reported(memory_store().await, "'[1, 2]'").await;
    common::corrupt_row_is_reported(memory_store().await, "x'00ff'").await;
}

#[tokio::test]
async fn saving_over_a_corrupt_row_is_corrupt() {
    let store = memory_store().await;
    let id = Id::random();
    common::insert_raw(&store, &id, "'{not json'").await;
    let mut changes =
        session_core::store::ChangeSet::new(OffsetDateTime::now_utc() + Duration::hours(1));
    changes.set.insert("k".into(), json!(1));
    let err = store
        .save(&id, &changes)
        .await
        .expect_err("corrupt data cannot be patched");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains(&id.short_hash()), "{err}");
}

#[tokio::test]
async fn extreme_times_round_trip() {
    common::extreme_times_round_trip(memory_store().await).await;
}

#[tokio::test]
async fn delete_expired_removes_every_expired_row() {
    common::delete_expired_removes_every_expired_row(memory_store().await).await;
}

#[tokio::test]
async fn delete_expired_on_a_file() {
    let store = file_store()
        .await
        .with_table_name(&common::unique_table("cleanup"))
        .unwrap();
    common::delete_expired_removes_every_expired_row(store).await;
}

#[tokio::test]
async fn cleanup_task_deletes_expired_rows() {
    common::cleanup_task_deletes_expired_rows(memory_store().await).await;
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let store = file_store()
        .await
        .with_table_name(&common::unique_table("migrate"))
        .unwrap();
    common::migrate_is_idempotent(store).await;
}

/// The `CREATE TABLE` of the version before `expiry_policy`.
const OLD_SCHEMA: &str = "CREATE TABLE {table} (\
    id TEXT PRIMARY KEY NOT NULL, \
    data TEXT NOT NULL, \
    created_at INTEGER NOT NULL, \
    expires_at INTEGER NOT NULL)";

#[tokio::test]
async fn migrate_adds_the_policy_column() {
    let store = file_store()
        .await
        .with_table_name(&common::unique_table("old_schema"))
        .unwrap();
    common::migrate_adds_the_policy_column(store, OLD_SCHEMA).await;
    let qualified = format!("main.{}", common::unique_table("old_schema"));
    let store = memory_store().await.with_table_name(&qualified).unwrap();
    common::migrate_adds_the_policy_column(store, OLD_SCHEMA).await;
}

/// The `CREATE TABLE` of the version before `user_id`.
const PREVIOUS_SCHEMA: &str = "CREATE TABLE {table} (\
    id TEXT PRIMARY KEY NOT NULL, \
    data TEXT NOT NULL, \
    created_at INTEGER NOT NULL, \
    expires_at INTEGER NOT NULL, \
    expiry_policy TEXT)";

#[tokio::test]
async fn migrate_adds_the_user_column() {
    for schema in [PREVIOUS_SCHEMA, OLD_SCHEMA] {
        let store = file_store()
            .await
            .with_table_name(&common::unique_table("pre_user"))
            .unwrap();
        common::migrate_adds_the_user_column(store, schema).await;
    }
    let qualified = format!("main.{}", common::unique_table("pre_user"));
    let store = memory_store().await.with_table_name(&qualified).unwrap();
    common::migrate_adds_the_user_column(store, PREVIOUS_SCHEMA).await;
}

#[tokio::test]
async fn corrupt_user_is_reported() {
    let store = memory_store().await;
    common::corrupt_column_is_reported(store.clone(), "user_id", "x'00ff'").await;
    common::corrupt_column_is_reported(store, "user_id", "CAST(x'ff' AS TEXT)").await;
}

#[tokio::test]
async fn user_names_compare_byte_for_byte() {
    common::user_names_compare_byte_for_byte(memory_store().await).await;
}

#[tokio::test]
async fn listed_row_with_a_bad_id_is_corrupt() {
    common::listed_row_with_a_bad_id_is_corrupt(memory_store().await).await;
}

#[tokio::test]
async fn list_user_uses_the_index() {
    common::list_user_uses_the_index(&memory_store().await).await;
    let store = memory_store()
        .await
        .with_table_name("main.indexed_sessions")
        .unwrap();
    store.migrate().await.unwrap();
    common::list_user_uses_the_index(&store).await;
}

#[tokio::test]
async fn corrupt_policy_is_reported() {
    common::corrupt_policy_is_reported(memory_store().await).await;
}

#[tokio::test]
async fn cycle_over_an_expired_row_moves() {
    common::cycle_over_an_expired_row_moves(memory_store().await).await;
}

#[tokio::test]
async fn missing_table_is_failed() {
    common::missing_table_is_failed(SqlStore::connect("sqlite::memory:").await.unwrap()).await;
}

#[tokio::test]
async fn closed_pool_is_unavailable() {
    common::closed_pool_is_unavailable(memory_store().await).await;
}

#[tokio::test]
async fn unchanged_save_is_applied() {
    common::unchanged_save_is_applied(memory_store().await).await;
}

#[tokio::test]
async fn ids_are_case_sensitive() {
    common::ids_are_case_sensitive(memory_store().await).await;
}

#[tokio::test]
async fn the_file_is_created_and_sessions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-name.db");
    assert!(!path.exists());
    let url = format!("sqlite://{}", path.display());
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("user_count".into(), json!(41));
    {
        let store = SqlStore::connect(&url).await.unwrap();
        assert_eq!(store.database(), Database::Sqlite);
        store.migrate().await.unwrap();
        store.create(&record).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        store.sqlite_pool().unwrap().close().await;
    }
    assert!(path.exists(), "the database file was not created");
    let store = SqlStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let loaded = store
        .load(&record.id)
        .await
        .unwrap()
        .expect("the session survived");
    assert_eq!(loaded.data["user_count"], 41);
}

#[tokio::test]
async fn in_memory_databases_are_private() {
    let a = memory_store().await;
    let b = memory_store().await;
    let now = OffsetDateTime::now_utc();
    let record = Record::new(Id::random(), now, now + Duration::hours(1));
    a.create(&record).await.unwrap();
    assert!(b.load(&record.id).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_urls_and_table_names_are_refused() {
    let err = SqlStore::connect("redis://127.0.0.1").await.unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("sqlite://, postgres:// or mysql://"),
        "{err}"
    );
    let store = memory_store().await;
    for name in ["", "a.b.c", "x;DROP TABLE y", "1abc", "sess-ions", "\"q\""] {
        let err = store.clone().with_table_name(name).unwrap_err();
        assert!(
            err.to_string().contains("letters, digits and underscores"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_missing_directory_is_an_error_not_a_panic() {
    let err = SqlStore::connect("sqlite:///nonexistent-dir-for-session-tests/x/sessions.db")
        .await
        .unwrap_err();
    assert!(!matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[tokio::test]
async fn random_change_sets_match_the_model() {
    common::random_change_sets_match_the_model(memory_store().await).await;
}

#[tokio::test]
async fn debug_shows_the_database_and_table_only() {
    let store = SqlStore::connect("sqlite::memory:").await.unwrap();
    let debug = format!("{store:?}");
    assert!(
        debug.contains("Sqlite") && debug.contains("sessions"),
        "{debug}"
    );
    assert!(!debug.contains("memory"), "{debug}");
}

/// The `store` label of the layer's store-time histogram (feature
/// `metrics` of session-core): `sql`, also through the at-rest wrapper.
#[tokio::test]
async fn its_kind_is_sql() {
    let store = Arc::new(memory_store().await);
    assert_eq!(store.kind(), "sql");
    let key = session_core::Key::from_bytes(&[5; 32]).unwrap();
    let sealed = session_core::store::Encrypted::new(store, key);
    assert_eq!(sealed.kind(), "sql");
}
