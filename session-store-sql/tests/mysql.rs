//! MySQL / MariaDB: the conformance suite and the checks every database runs,
//! over a real connection to `MYSQL_URL` (`scripts/test` starts a
//! throwaway server and sets it).
#![cfg(feature = "mysql")]

mod common;

use std::sync::Arc;

use session_core::store::conformance::{
    end_user_session_racing_a_cycle_tells_the_truth, race_cycles_against_delete_user,
};
use session_core::store::StoreError;
use session_store_sql::{Database, SqlStore};

fn url() -> String {
    common::url("MYSQL_URL")
}

async fn connect() -> SqlStore {
    let store = SqlStore::connect(&url())
        .await
        .expect("connect to MYSQL_URL");
    assert_eq!(store.database(), Database::MySql);
    store
}

async fn store(table: &str) -> SqlStore {
    let store = connect().await.with_table_name(table).unwrap();
    store.migrate().await.expect("migrate");
    store
}

session_core::conformance_tests!(
    mysql,
    async { store("conformance_sessions").await },
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

/// The same races on a pool whose connections default to READ COMMITTED
/// (a common server setting): InnoDB then takes no gap locks, and a
/// `DELETE` that scans the user index can miss a row a cycle moves behind
/// its scan, unless the store asks for more itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_racing_delete_user_leave_nothing_under_read_committed() {
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .after_connect(|conn, _| {
            Box::pin(async move {
                let set = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
                sqlx::Executor::execute(conn, set).await.map(drop)
            })
        })
        .connect(&url())
        .await
        .expect("connect to MYSQL_URL");
    let store = Arc::new(
        SqlStore::mysql(pool)
            .with_table_name("conformance_sessions")
            .unwrap(),
    );
    store.migrate().await.expect("migrate");
    race_cycles_against_delete_user(session_core::store::AnyStore::new(store.clone()), 1000).await;
    end_user_session_racing_a_cycle_tells_the_truth(session_core::store::AnyStore::new(store))
        .await;
}

/// A cycle held open in a transaction (the row moved to its new id, not
/// committed) while `delete_user` and `end_user_session` run: each waits
/// for the row (InnoDB moves a primary key by delete-marking the old
/// entry and inserting the new one), and when the cycle commits,
/// `delete_user` still finds the row under its new id, whichever way that
/// sorts, while `end_user_session` of the old id finds it moved and says so.
// The cycle's transaction yields its commit, to be awaited once the
// statement racing it waits for the row.
#[allow(clippy::async_yields_async)]
#[tokio::test]
async fn a_cycle_committing_while_the_user_is_ended_is_followed() {
    let store = store("conformance_sessions").await;
    let pool = store.mysql_pool().unwrap().clone();
    let moving = format!(
        "UPDATE {table} SET id = ? WHERE id = ?",
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
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX \
                     WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE 'DELETE FROM%user_id = ?%'",
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
    // MariaDB checks JSON_VALID on insert; valid JSON that is not an object
    // gets through.
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
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
    data JSON NOT NULL, \
    created_at BIGINT NOT NULL, \
    expires_at BIGINT NOT NULL, \
    INDEX (expires_at)\
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

#[tokio::test]
async fn migrate_adds_the_policy_column() {
    let store = connect()
        .await
        .with_table_name(&common::unique_table("old_schema"))
        .unwrap();
    common::migrate_adds_the_policy_column(store, OLD_SCHEMA).await;
}

/// The `CREATE TABLE` of the version before `user_id`.
const PREVIOUS_SCHEMA: &str = "CREATE TABLE {table} (\
    id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
    data JSON NOT NULL, \
    created_at BIGINT NOT NULL, \
    expires_at BIGINT NOT NULL, \
    expiry_policy TEXT NULL, \
    INDEX `{table}_expires_at_idx` (expires_at)\
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

#[tokio::test]
async fn migrate_adds_the_user_column() {
    for schema in [PREVIOUS_SCHEMA, OLD_SCHEMA] {
        let store = connect()
            .await
            .with_table_name(&common::unique_table("pre_user"))
            .unwrap();
        common::migrate_adds_the_user_column(store, schema).await;
    }
}

/// `user_id` is binary: bytes that are not UTF-8 are `Corrupt`.
#[tokio::test]
async fn corrupt_user_is_reported() {
    let store = store("conformance_sessions").await;
    common::corrupt_column_is_reported(store.clone(), "user_id", "x'ff'").await;
    common::corrupt_column_is_reported(store, "user_id", "x'61c3'").await;
}

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
    let err = SqlStore::connect("mysql://root@127.0.0.1:1/test")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn connect_errors_never_carry_the_password() {
    common::connect_errors_never_carry_the_password(&[
        // Refused by the server (wrong password).
        common::with_password(&url(), "root"),
        "mysql://alice:hunter2@127.0.0.1:notaport/test".to_owned(),
        "mysql://alice:hunter2@127.0.0.1:1/test".to_owned(),
        "mysql://alice:hunter2@[::1/test".to_owned(),
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
