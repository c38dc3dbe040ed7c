//! Sessions in an SQL table: a SQLite counter and login outlive a restart
//! of the app, and app instances on one PostgreSQL or MariaDB share
//! sessions. Needs `DATABASE_URL` and `MYSQL_URL`: `scripts/test` starts
//! throwaway servers and sets both.

mod common;

use common::{browser, get_json, App, SECRET};
use serde_json::json;

const AXUM_COUNTER: &str = env!("CARGO_BIN_EXE_axum-counter");
const HYPER_COUNTER: &str = env!("CARGO_BIN_EXE_hyper-counter");
const AXUM_DB: &str = env!("CARGO_BIN_EXE_axum-db");
const HYPER_DB: &str = env!("CARGO_BIN_EXE_hyper-db");

fn url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{var} is not set. Run `scripts/test` (it starts throwaway PostgreSQL and MariaDB \
             servers), or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test and \
             MYSQL_URL=mysql://root@127.0.0.1:3306/test to test against servers you run"
        ),
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}

/// Count, stop the app, start it again on the same file: the count goes on.
async fn counter_survives_a_restart(bin: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_url(&dir);
    let envs = [
        ("SESSION_STORE", store.as_str()),
        ("SESSION_SECRET", SECRET),
    ];
    let client = browser();

    let first = App::start(bin, &envs);
    assert_eq!(
        get_json(&client, &first.url("/")).await,
        json!({ "user_count": 0 })
    );
    assert_eq!(
        get_json(&client, &first.url("/")).await,
        json!({ "user_count": 1 })
    );
    first.stop();

    let second = App::start(bin, &envs);
    assert_eq!(
        get_json(&client, &second.url("/")).await,
        json!({ "user_count": 2 }),
        "the count must live in the SQLite file, not in the app"
    );
    assert_eq!(
        get_json(&client, &second.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get_json(&client, &second.url("/")).await,
        json!({ "user_count": 0 })
    );
}

#[tokio::test]
async fn axum_sqlite_counter_survives_a_restart() {
    counter_survives_a_restart(AXUM_COUNTER).await;
}

#[tokio::test]
async fn hyper_sqlite_counter_survives_a_restart() {
    counter_survives_a_restart(HYPER_COUNTER).await;
}

/// Log in, restart the app, still logged in; log out, logged out.
async fn login_outlives_the_app(bin: &str, store: &str) {
    let envs = [("SESSION_STORE", store), ("SESSION_SECRET", SECRET)];
    let client = browser();
    let first = App::start(bin, &envs);
    assert_eq!(
        get_json(&client, &first.url("/get/")).await,
        json!({ "message": "Login first" })
    );
    assert_eq!(
        get_json(&client, &first.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    first.stop();

    let second = App::start(bin, &envs);
    assert_eq!(
        get_json(&client, &second.url("/get/")).await,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "the session must live in the database, not in the app"
    );
    assert_eq!(
        get_json(&client, &second.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get_json(&client, &second.url("/get/")).await,
        json!({ "message": "Login first" })
    );
}

#[tokio::test]
async fn axum_db_login_outlives_the_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_outlives_the_app(AXUM_DB, &sqlite_url(&dir)).await;
}

#[tokio::test]
async fn hyper_db_login_outlives_the_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_outlives_the_app(HYPER_DB, &sqlite_url(&dir)).await;
}

/// An axum and a hyper instance on one database: a login on one is seen by
/// the other, and a logout on the other ends it for both.
async fn instances_share_a_login(store: &str) {
    let envs = [("SESSION_STORE", store), ("SESSION_SECRET", SECRET)];
    let a = App::start(AXUM_DB, &envs);
    let b = App::start(HYPER_DB, &envs);
    let client = browser();
    assert_eq!(
        get_json(&client, &a.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    assert_eq!(
        get_json(&client, &b.url("/get/")).await,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "B must see A's login"
    );
    assert_eq!(
        get_json(&client, &b.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get_json(&client, &a.url("/get/")).await,
        json!({ "message": "Login first" }),
        "a logout on B must end the session on A"
    );
}

#[tokio::test]
async fn instances_share_a_login_in_postgres() {
    instances_share_a_login(&url("DATABASE_URL")).await;
}

#[tokio::test]
async fn instances_share_a_login_in_mariadb() {
    instances_share_a_login(&url("MYSQL_URL")).await;
}

#[tokio::test]
async fn postgres_login_outlives_the_app() {
    login_outlives_the_app(HYPER_DB, &url("DATABASE_URL")).await;
}

#[tokio::test]
async fn mariadb_login_outlives_the_app() {
    login_outlives_the_app(AXUM_DB, &url("MYSQL_URL")).await;
}

/// A database that is not there is a clear startup error, not a hang, and
/// the password in the URL does not leak into it.
#[tokio::test]
async fn unreachable_database_is_a_startup_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    for store in [
        format!("postgres://postgres:hunter2@127.0.0.1:{port}/test"),
        format!("mysql://root:hunter2@127.0.0.1:{port}/test"),
    ] {
        let output = std::process::Command::new(AXUM_DB)
            .env("PORT", "0")
            .env("SESSION_STORE", &store)
            .env("SESSION_SECRET", SECRET)
            .output()
            .expect("run axum-db");
        assert!(!output.status.success(), "{store}: started anyway");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("database"), "{stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "the password leaked into the error: {stderr}"
        );
    }
}
