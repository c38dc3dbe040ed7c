//! PostgreSQL: the conformance suite and the checks every database runs,
//! over a real connection to `DATABASE_URL` (`scripts/test` starts a
//! throwaway server and sets it).
#![cfg(feature = "postgres")]

mod common;

use std::sync::Arc;

use session_core::store::conformance::{
    end_user_session_racing_a_cycle_tells_the_truth, race_cycles_against_delete_user,
};
use session_core::store::StoreError;
use session_store_sql::{Database, SqlStore};

fn url() -> String {
    common::url("DATABASE_URL")
}

async fn connect() -> SqlStore {
    let store = SqlStore::connect(&url())
        .await
        .expect("connect to DATABASE_URL");
    assert_eq!(store.database(), Database::Postgres);
    store
}

async fn store(table: &str) -> SqlStore {
    let store = connect().await.with_table_name(table).unwrap();
    store.migrate().await.expect("migrate");
    store
}

session_core::conformance_tests!(
    postgres,
    async { store("conformance_sessions").await },
    core,
    cycle,
    users,
    cleanup
);
session_core::conformance_tests!(
    postgres_schema_qualified,
    async {
        let store = connect().await;
        common::execute(&store, "CREATE SCHEMA IF NOT EXISTS session_store_sql_test").await;
        let store = store
            .with_table_name("session_store_sql_test.sessions")
            .unwrap();
        store.migrate().await.expect("migrate");
        store
    },
    core,
    cycle,
    users,
    cleanup
);

/// "Log out everywhere" racing cycles of the user's sessions, 1,000
/// rounds on the shared table (the conformance suite runs 20).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_racing_delete_user_leave_nothing() {
    let store = store("conformance_sessions").await;
    race_cycles_against_delete_user(session_core::store::AnyStore::new(store), 1000).await;
}

/// The same races on pools whose connections default to REPEATABLE READ
/// and SERIALIZABLE: PostgreSQL then refuses a statement that would act
/// on a row another one changed since it started (SQLSTATE 40001), and
/// the store runs it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_racing_delete_user_leave_nothing_under_stricter_isolation() {
    for level in ["REPEATABLE READ", "SERIALIZABLE"] {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .after_connect(move |conn, _| {
                let set =
                    format!("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL {level}");
                Box::pin(async move { sqlx::Executor::execute(conn, set.as_str()).await.map(drop) })
            })
            .connect(&url())
            .await
            .expect("connect to DATABASE_URL");
        let store = Arc::new(
            SqlStore::postgres(pool)
                .with_table_name("conformance_sessions")
                .unwrap(),
        );
        store.migrate().await.expect("migrate");
        race_cycles_against_delete_user(session_core::store::AnyStore::new(store.clone()), 1000)
            .await;
        end_user_session_racing_a_cycle_tells_the_truth(session_core::store::AnyStore::new(store))
            .await;
    }
}

/// A cycle held open in a transaction (the row moved to its new id, not
/// committed) while `delete_user` and `end_user_session` run: each waits
/// for the row, and when the cycle commits, follows it to its new id and
/// checks it again. `delete_user` ends it there, whichever way the new id
/// sorts; `end_user_session` of the old id finds it moved and says so.
// The cycle's transaction yields its commit, to be awaited once the
// statement racing it waits for the row.
#[allow(clippy::async_yields_async)]
#[tokio::test]
async fn a_cycle_committing_while_the_user_is_ended_is_followed() {
    let store = store("conformance_sessions").await;
    let pool = store.postgres_pool().unwrap().clone();
    let moving = format!(
        "UPDATE {table} SET id = $1 WHERE id = $2",
        table = store.table_name()
    );
    common::ending_a_user_while_a_cycle_is_held(
        &store,
        |old, new| {
            let (pool, moving) = (pool.clone(), moving.clone());
            async move {
                let mut cycle = pool.begin().await.unwrap();
                sqlx::query(&moving)
                    .bind(new.encode())
                    .bind(old.encode())
                    .execute(&mut *cycle)
                    .await
                    .unwrap();
                async move { cycle.commit().await.unwrap() }
            }
        },
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query LIKE 'DELETE FROM%user_id = $%'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            waiting > 0
        },
    )
    .await;
}

#[tokio::test]
async fn corrupt_rows_are_reported() {
    let store = store("conformance_sessions").await;
    common::corrupt_row_is_reported(store.clone(), "'[1, 2]'").await;
    common::corrupt_row_is_reported(store, "'\"a string\"'").await;
}

#[tokio::test]
async fn extreme_times_round_trip() {
    common::extreme_times_round_trip(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn delete_expired_removes_every_expired_row() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("cleanup"))
        .unwrap();
    common::delete_expired_removes_every_expired_row(store).await;
}

#[tokio::test]
async fn cleanup_task_deletes_expired_rows() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("cleanup_task"))
        .unwrap();
    common::cleanup_task_deletes_expired_rows(store).await;
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("migrate"))
        .unwrap();
    common::migrate_is_idempotent(store).await;
}

/// The `CREATE TABLE` of the version before `expiry_policy`.
const OLD_SCHEMA: &str = "CREATE TABLE {table} (\
    id TEXT COLLATE \"C\" PRIMARY KEY, \
    data JSONB NOT NULL, \
    created_at BIGINT NOT NULL, \
    expires_at BIGINT NOT NULL)";

#[tokio::test]
async fn migrate_adds_the_policy_column() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("old_schema"))
        .unwrap();
    common::migrate_adds_the_policy_column(store, OLD_SCHEMA).await;
    let store = connect().await;
    common::execute(&store, "CREATE SCHEMA IF NOT EXISTS session_store_sql_test").await;
    let qualified = format!(
        "session_store_sql_test.{}",
        common::unique_table("old_schema")
    );
    let store = store.with_table_name(&qualified).unwrap();
    common::migrate_adds_the_policy_column(store, OLD_SCHEMA).await;
}

/// The `CREATE TABLE` of the version before `user_id`.
const PREVIOUS_SCHEMA: &str = "CREATE TABLE {table} (\
    id TEXT COLLATE \"C\" PRIMARY KEY, \
    data JSONB NOT NULL, \
    created_at BIGINT NOT NULL, \
    expires_at BIGINT NOT NULL, \
    expiry_policy TEXT)";

#[tokio::test]
async fn migrate_adds_the_user_column() {
    for schema in [PREVIOUS_SCHEMA, OLD_SCHEMA] {
        let store = connect()
            .await
            .with_table_name(&common::unique_table("pre_user"))
            .unwrap();
        common::migrate_adds_the_user_column(store, schema).await;
    }
    let store = connect().await;
    common::execute(&store, "CREATE SCHEMA IF NOT EXISTS session_store_sql_test").await;
    let qualified = format!(
        "session_store_sql_test.{}",
        common::unique_table("pre_user")
    );
    let store = store.with_table_name(&qualified).unwrap();
    common::migrate_adds_the_user_column(store, PREVIOUS_SCHEMA).await;
}

// A `user_id` that is not text cannot be stored: the column is `TEXT`,
// which PostgreSQL keeps valid UTF-8.

#[tokio::test]
async fn listed_row_with_a_bad_id_is_corrupt() {
    common::listed_row_with_a_bad_id_is_corrupt(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn user_names_compare_byte_for_byte() {
    common::user_names_compare_byte_for_byte(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn list_user_uses_the_index() {
    let store = store(&common::unique_table("plan")).await;
    common::list_user_uses_the_index(&store).await;
    common::drop_table(&store).await;
}

#[tokio::test]
async fn corrupt_policy_is_reported() {
    common::corrupt_policy_is_reported(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn cycle_over_an_expired_row_moves() {
    common::cycle_over_an_expired_row_moves(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn concurrent_migrations_do_not_collide() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("migrate_race"))
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move { store.migrate().await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("a concurrent migrate failed");
    }
    common::drop_table(&store).await;
}

#[tokio::test]
async fn missing_table_is_failed() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("absent"))
        .unwrap();
    common::missing_table_is_failed(store).await;
}

#[tokio::test]
async fn closed_pool_is_unavailable() {
    common::closed_pool_is_unavailable(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let err = SqlStore::connect("postgres://postgres@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn connect_errors_never_carry_the_password() {
    common::connect_errors_never_carry_the_password(&[
        // Refused by the server (no such role).
        common::with_password(&url(), "alice"),
        "postgres://alice:hunter2@127.0.0.1:notaport/test".to_owned(),
        "postgres://alice:hunter2@127.0.0.1:1/test".to_owned(),
        "postgres://alice:hunter2@[::1/test".to_owned(),
        "alice:hunter2@127.0.0.1/test".to_owned(),
    ])
    .await;
}

#[tokio::test]
async fn unchanged_save_is_applied() {
    common::unchanged_save_is_applied(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn ids_are_case_sensitive() {
    common::ids_are_case_sensitive(store("conformance_sessions").await).await;
}

#[tokio::test]
async fn random_change_sets_match_the_model() {
    common::random_change_sets_match_the_model(store("conformance_sessions").await).await;
}

/// JSONB cannot hold U+0000: the save fails cleanly (documented limit).
#[tokio::test]
async fn nul_characters_are_failed() {
    use session_core::store::{ChangeSet, Record, SessionStore};
    use session_core::time::{Duration, OffsetDateTime};
    use session_core::Id;

    let store = store("conformance_sessions").await;
    let now = OffsetDateTime::now_utc();
    let record = Record::new(Id::random(), now, now + Duration::hours(1));
    store.create(&record).await.unwrap();
    let mut changes = ChangeSet::new(now + Duration::hours(1));
    changes.set.insert("k".into(), "a\u{0}b".into());
    let err = store.save(&record.id, &changes).await.unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    assert!(store
        .load(&record.id)
        .await
        .unwrap()
        .unwrap()
        .data
        .is_empty());
    store.delete(&record.id).await.unwrap();
}
