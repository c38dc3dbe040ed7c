//! Sessions in an SQL table: a SQLite counter and login outlive a restart
//! of the app, and app instances on one PostgreSQL or MariaDB share
//! sessions; the `axum-db` and `hyper-db` lessons themselves, and `serve`
//! for the counter and for the login in hyper on every database. Needs `DATABASE_URL` and `MYSQL_URL`: `scripts/test` starts
//! throwaway servers and sets both.

mod common;

use common::{browser, get_json, run_to_exit, serve, App, SECRET};
use serde_json::json;

const AXUM_DB: &str = env!("CARGO_BIN_EXE_axum-db");
const HYPER_DB: &str = env!("CARGO_BIN_EXE_hyper-db");

use common::server_url as url;

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}

/// Count, stop `serve`, start it again on the same file: the count goes on.
async fn counter_survives_a_restart(framework: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sqlite_url(&dir);
    let envs = [
        ("SESSION_STORE", store.as_str()),
        ("SESSION_SECRET", SECRET),
    ];
    let client = browser();

    let first = serve("counter", framework, &envs);
    assert_eq!(
        get_json(&client, &first.url("/")).await,
        json!({ "user_count": 0 })
    );
    assert_eq!(
        get_json(&client, &first.url("/")).await,
        json!({ "user_count": 1 })
    );
    first.stop();

    let second = serve("counter", framework, &envs);
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
    counter_survives_a_restart("axum").await;
}

#[tokio::test]
async fn hyper_sqlite_counter_survives_a_restart() {
    counter_survives_a_restart("hyper").await;
}

/// The login app on the database at `url`: a lesson (`DATABASE_URL`) or
/// `serve` in hyper (`SESSION_STORE`).
#[derive(Clone, Copy, Debug)]
enum LoginApp {
    Lesson,
    HyperLesson,
    ServeHyper,
}

impl LoginApp {
    fn start(self, url: &str) -> App {
        match self {
            LoginApp::Lesson => App::start(
                AXUM_DB,
                &[("DATABASE_URL", url), ("SESSION_SECRET", SECRET)],
            ),
            LoginApp::HyperLesson => App::start(
                HYPER_DB,
                &[("DATABASE_URL", url), ("SESSION_SECRET", SECRET)],
            ),
            LoginApp::ServeHyper => serve(
                "login",
                "hyper",
                &[("SESSION_STORE", url), ("SESSION_SECRET", SECRET)],
            ),
        }
    }
}

/// Log in, restart the app, still logged in; log out, logged out.
async fn login_outlives_the_app(app: LoginApp, store: &str) {
    let client = browser();
    let first = app.start(store);
    assert_eq!(
        get_json(&client, &first.url("/get/")).await,
        json!({ "message": "Login first" })
    );
    assert_eq!(
        get_json(&client, &first.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    first.stop();

    let second = app.start(store);
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
async fn db_lesson_login_outlives_the_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_outlives_the_app(LoginApp::Lesson, &sqlite_url(&dir)).await;
}

#[tokio::test]
async fn hyper_db_lesson_login_outlives_the_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_outlives_the_app(LoginApp::HyperLesson, &sqlite_url(&dir)).await;
}

#[tokio::test]
async fn serve_hyper_login_outlives_the_app_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_outlives_the_app(LoginApp::ServeHyper, &sqlite_url(&dir)).await;
}

/// The two lessons and `serve` in hyper on one database: a login on the
/// first is seen by the others, and a logout on the last ends it for all.
async fn instances_share_a_login(store: &str) {
    let a = LoginApp::Lesson.start(store);
    let b = LoginApp::HyperLesson.start(store);
    let c = LoginApp::ServeHyper.start(store);
    let client = browser();
    assert_eq!(
        get_json(&client, &a.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    for (name, app) in [("B", &b), ("C", &c)] {
        assert_eq!(
            get_json(&client, &app.url("/get/")).await,
            json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
            "{name} must see A's login"
        );
    }
    assert_eq!(
        get_json(&client, &c.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    for (name, app) in [("A", &a), ("B", &b)] {
        assert_eq!(
            get_json(&client, &app.url("/get/")).await,
            json!({ "message": "Login first" }),
            "a logout on C must end the session on {name}"
        );
    }
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
    login_outlives_the_app(LoginApp::ServeHyper, &url("DATABASE_URL")).await;
    login_outlives_the_app(LoginApp::Lesson, &url("DATABASE_URL")).await;
    login_outlives_the_app(LoginApp::HyperLesson, &url("DATABASE_URL")).await;
}

#[tokio::test]
async fn mariadb_login_outlives_the_app() {
    login_outlives_the_app(LoginApp::Lesson, &url("MYSQL_URL")).await;
    login_outlives_the_app(LoginApp::ServeHyper, &url("MYSQL_URL")).await;
    login_outlives_the_app(LoginApp::HyperLesson, &url("MYSQL_URL")).await;
}

/// A database that is not there is a clear startup error, not a hang, and
/// the password in the URL does not leak into it: the lessons and `serve`.
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
        for (bin, variable) in [
            (AXUM_DB, "DATABASE_URL"),
            (HYPER_DB, "DATABASE_URL"),
            (common::SERVE, "SESSION_STORE"),
        ] {
            let output = run_to_exit(bin, &[(variable, &store), ("SESSION_SECRET", SECRET)]);
            assert!(!output.status.success(), "{bin} {store}: started anyway");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("database"), "{bin}: {stderr}");
            assert!(
                !stderr.contains("hunter2"),
                "{bin}: the password leaked into the error: {stderr}"
            );
        }
    }
}

/// A lesson without a key stops at start, naming the variable.
#[tokio::test]
async fn db_lessons_need_a_key() {
    for bin in [AXUM_DB, HYPER_DB] {
        let output = run_to_exit(bin, &[("DATABASE_URL", "sqlite::memory:")]);
        assert!(!output.status.success(), "{bin}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("SESSION_SECRET"), "{bin}: {stderr}");
    }
}
