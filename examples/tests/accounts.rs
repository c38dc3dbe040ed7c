//! Accounts, against the `axum-login` and `hyper-login` lessons (memory store) and `serve`'s
//! login scenario (every store, axum and hyper): a login binds the session
//! to the user; `/sessions/` lists the user's sessions, `/logout/others/`
//! and `/logout/everywhere/` end them, on every store (sessions kept in
//! cookies through `serve`'s version check); and with `SESSION_DATA_KEY`
//! neither the cookie's id nor the profile is anywhere in Redis or in the
//! SQL tables.
//!
//! Needs `REDIS_URL`, `REDIS_CLUSTER_URLS`, `DATABASE_URL` and `MYSQL_URL`
//! for the tests on servers: `scripts/test` starts throwaway servers and
//! sets them all.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{
    browser, cluster_spec, get_json, run_to_exit, serve, starlette_cookie, App, FRAMEWORKS, SECRET,
};
use serde_json::{json, Value};
use session_core::__private::SignedId;
use session_core::codec::{DataCodec, StarletteCookie};
use session_core::time::OffsetDateTime;
use session_core::{Id, Key, Keys};

const AXUM_LOGIN: &str = env!("CARGO_BIN_EXE_axum-login");
const HYPER_LOGIN: &str = env!("CARGO_BIN_EXE_hyper-login");

/// The stores that keep sessions in the cookie.
const COOKIE_STORES: &[&str] = &["cookie", "cookie-encrypted", "starlette"];
/// What `/sessions/` answers there.
const UNLISTED: &str = "Sessions kept in cookies cannot be listed; \
                        /logout/others/ and /logout/everywhere/ still work";
/// The Starlette secret (text, as the FastAPI app has it).
const STARLETTE_SECRET: &str = "dev-secret-key";
/// A data key of its own, as hex (not `SECRET`).
const DATA_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff";
/// The profile's e-mail: it must not be readable in a store.
const EMAIL: &str = "aaa@aaa.com";

use common::server_url;

/// A user name no other test, nor an earlier run, uses: tests on one
/// database or Redis run at the same time, and "log out everywhere" means
/// every session of the user in the store.
fn user(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{name}-{nanos:x}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn login_first() -> Value {
    json!({ "message": "Login first" })
}

fn profile_of(user: &str) -> Value {
    json!({ "session_info": { "user_id": user, "age": 21, "email": EMAIL } })
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Logs `client` in as `user` and checks it worked.
async fn login(client: &reqwest::Client, app: &App, user: &str) {
    assert_eq!(
        get_json(client, &app.url(&format!("/login/{user}/"))).await,
        json!({ "message": "Logged in" })
    );
    assert_eq!(get_json(client, &app.url("/get/")).await, profile_of(user));
}

/// `/sessions/` as `client` sees it, checked for shape: the sessions'
/// handles and which one is current.
async fn listed(client: &reqwest::Client, app: &App, what: &str) -> Vec<(String, bool)> {
    let body = get_json(client, &app.url("/sessions/")).await;
    let sessions = body["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: /sessions/ answered {body}"));
    sessions
        .iter()
        .map(|session| {
            let handle = session["handle"].as_str().unwrap_or_default().to_owned();
            assert!(!handle.is_empty(), "{what}: no handle in {body}");
            let (Some(created), Some(expires)) = (
                session["created_at"].as_i64(),
                session["expires_at"].as_i64(),
            ) else {
                panic!("{what}: times are not Unix seconds in {body}");
            };
            assert!(
                (now() - 600..=now() + 5).contains(&created),
                "{what}: created_at {created} is not about now ({})",
                now()
            );
            assert!(created < expires, "{what}: expires before it began: {body}");
            let current = session["current"]
                .as_bool()
                .unwrap_or_else(|| panic!("{what}: `current` is not a boolean in {body}"));
            (handle, current)
        })
        .collect()
}

/// `serve`'s login scenario in `framework` on `store`.
fn serve_login(framework: &str, store: &str) -> App {
    let secret = if store == "starlette" {
        STARLETTE_SECRET
    } else {
        SECRET
    };
    serve(
        "login",
        framework,
        &[("SESSION_STORE", store), ("SESSION_SECRET", secret)],
    )
}

/// The walk through the account pages of `app` (`what`), whose sessions
/// are kept in cookies if `cookie_store`: browsers A and B log in as hong,
/// C as kim; A ends hong's other sessions (B), B logs in again, A ends all
/// of hong's sessions; kim is never touched.
async fn accounts(app: &App, what: &str, cookie_store: bool) {
    let (a, b, c) = (browser(), browser(), browser());
    let (hong, kim) = (user("hong"), user("kim"));

    for path in ["/sessions/", "/logout/others/", "/logout/everywhere/"] {
        assert_eq!(
            get_json(&a, &app.url(path)).await,
            login_first(),
            "{what}: {path} before a login"
        );
    }
    login(&a, app, &hong).await;
    login(&b, app, &hong).await;
    login(&c, app, &kim).await;

    // The list: A's and B's sessions, each browser seeing its own as
    // current; kim's alone for C.
    if cookie_store {
        assert_eq!(
            get_json(&a, &app.url("/sessions/")).await,
            json!({ "sessions": [], "message": UNLISTED }),
            "{what}"
        );
    } else {
        let from_a = listed(&a, app, what).await;
        assert_eq!(from_a.len(), 2, "{what}: hong has two sessions: {from_a:?}");
        let from_b = listed(&b, app, what).await;
        let current = |list: &[(String, bool)]| -> Vec<String> {
            let mut current: Vec<String> = list
                .iter()
                .filter(|(_, current)| *current)
                .map(|(handle, _)| handle.clone())
                .collect();
            current.sort();
            current
        };
        let (current_a, current_b) = (current(&from_a), current(&from_b));
        assert_eq!(
            current_a.len(),
            1,
            "{what}: one current session: {from_a:?}"
        );
        assert_eq!(
            current_b.len(),
            1,
            "{what}: one current session: {from_b:?}"
        );
        assert_ne!(
            current_a, current_b,
            "{what}: A and B are different sessions"
        );
        let handles = |list: &[(String, bool)]| -> Vec<String> {
            let mut handles: Vec<String> = list.iter().map(|(h, _)| h.clone()).collect();
            handles.sort();
            handles
        };
        assert_eq!(handles(&from_a), handles(&from_b), "{what}");
        assert_eq!(listed(&c, app, what).await.len(), 1, "{what}: kim's one");
    }

    // A ends hong's other sessions: B is logged out, A and C go on.
    let ended = if cookie_store { Value::Null } else { json!(1) };
    assert_eq!(
        get_json(&a, &app.url("/logout/others/")).await,
        json!({ "message": "Logged out other sessions", "ended": ended }),
        "{what}"
    );
    assert_eq!(
        get_json(&b, &app.url("/get/")).await,
        login_first(),
        "{what}: B's session must be over"
    );
    assert_eq!(
        get_json(&a, &app.url("/get/")).await,
        profile_of(&hong),
        "{what}: A's session must go on"
    );
    assert_eq!(
        get_json(&c, &app.url("/get/")).await,
        profile_of(&kim),
        "{what}: kim's session is not hong's"
    );
    if !cookie_store {
        let left = listed(&a, app, what).await;
        assert!(
            matches!(left.as_slice(), [(_, true)]),
            "{what}: only A's session is left: {left:?}"
        );
    }

    // B logs in again; A ends every session of hong, its own included.
    login(&b, app, &hong).await;
    let ended = if cookie_store { Value::Null } else { json!(2) };
    assert_eq!(
        get_json(&a, &app.url("/logout/everywhere/")).await,
        json!({ "message": "Logged out everywhere", "ended": ended }),
        "{what}"
    );
    for (name, client) in [("A", &a), ("B", &b)] {
        assert_eq!(
            get_json(client, &app.url("/get/")).await,
            login_first(),
            "{what}: {name} must be logged out"
        );
        assert_eq!(
            get_json(client, &app.url("/sessions/")).await,
            login_first(),
            "{what}: {name} must be logged out"
        );
    }
    assert_eq!(
        get_json(&c, &app.url("/get/")).await,
        profile_of(&kim),
        "{what}: kim must still be logged in"
    );

    // A new login works as before.
    login(&a, app, &hong).await;
    if !cookie_store {
        assert_eq!(listed(&a, app, what).await.len(), 1, "{what}");
    }
}

#[tokio::test]
async fn accounts_in_the_login_lesson() {
    accounts(&App::start(AXUM_LOGIN, &[]), "axum-login", false).await;
}

#[tokio::test]
async fn accounts_in_the_hyper_login_lesson() {
    accounts(&App::start(HYPER_LOGIN, &[]), "hyper-login", false).await;
}

#[tokio::test]
async fn accounts_without_servers() {
    for framework in FRAMEWORKS {
        for store in ["memory", "cookie", "cookie-encrypted", "starlette"] {
            let what = format!("serve login, {framework}, {store}");
            let cookie_store = COOKIE_STORES.contains(&store);
            accounts(&serve_login(framework, store), &what, cookie_store).await;
        }
    }
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("sessions.db").display())
}

/// The walk on `store` for `serve` in axum and in hyper, one after the
/// other.
async fn accounts_of_each(store: &str) {
    for framework in FRAMEWORKS {
        let what = format!(
            "serve login, {framework}, {}",
            store.split(':').next().unwrap_or("")
        );
        accounts(&serve_login(framework, store), &what, false).await;
    }
}

#[tokio::test]
async fn accounts_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts_of_each(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn accounts_on_postgres() {
    accounts_of_each(&server_url("DATABASE_URL")).await;
}

#[tokio::test]
async fn accounts_on_mysql() {
    accounts_of_each(&server_url("MYSQL_URL")).await;
}

#[tokio::test]
async fn accounts_on_redis() {
    accounts_of_each(&server_url("REDIS_URL")).await;
}

#[tokio::test]
async fn accounts_on_a_redis_cluster() {
    accounts_of_each(&cluster_spec()).await;
}

/// Sessions kept in Starlette's cookie still work with a FastAPI app: a
/// login cookie carries the user as `_session_user` (what Python code sees
/// in `request.session`) and the profile; a cookie a FastAPI app wrote for
/// a user, with no version, is accepted, until the user logs out
/// everywhere.
#[tokio::test]
async fn starlette_cookies_keep_working_with_a_fastapi_app() {
    let codec = StarletteCookie::new(STARLETTE_SECRET);
    let hong = user("hong");
    let mut data = session_core::store::Data::new();
    data.insert("username".into(), profile_of(&hong)["session_info"].clone());
    data.insert(
        session_core::codec::STARLETTE_USER_KEY.into(),
        json!(hong.clone()),
    );
    let from_fastapi = starlette_cookie(&codec, data);
    let from_fastapi = format!("session={from_fastapi}");
    for bin in FRAMEWORKS {
        let app = serve_login(bin, "starlette");
        let plain = reqwest::Client::new();
        let get = |path: &str, cookie: &str| {
            plain
                .get(app.url(path))
                .header("cookie", cookie.to_owned())
                .send()
        };

        // The Rust app's login cookie, read as Starlette reads it.
        let response = plain.get(app.url(&format!("/login/{hong}/"))).send().await;
        let response = response.expect("login");
        let set_cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        let value = set_cookie
            .split(';')
            .next()
            .and_then(|pair| pair.strip_prefix("session="))
            .expect("a `session` cookie");
        let decoded = codec.decode("session", value).expect("a Starlette cookie");
        assert_eq!(decoded.user.as_deref(), Some(hong.as_str()), "{bin}");
        assert_eq!(decoded.data["username"]["user_id"], json!(hong), "{bin}");

        // The FastAPI app's cookie is a login here, listed as the user's.
        let body: Value = get("/get/", &from_fastapi)
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body, profile_of(&hong), "{bin}");
        let body: Value = get("/sessions/", &from_fastapi)
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body["message"], UNLISTED, "{bin}");

        // Logging hong out everywhere (from the Rust login) ends it too.
        let mine = format!("session={value}");
        let body: Value = get("/logout/everywhere/", &mine)
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body["message"], "Logged out everywhere", "{bin}");
        let body: Value = get("/get/", &from_fastapi)
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON");
        assert_eq!(body, login_first(), "{bin}");
    }
}

/// A `SESSION_DATA_KEY` that is not a key, or one given to `serve` when
/// it keeps sessions in cookies, stops it at start with a message that
/// names the variable and does not show the value.
#[tokio::test]
async fn bad_data_key_is_a_startup_error() {
    let cases = [
        ("login", "axum", "memory", "not-a-key-hunter2"),
        ("login", "hyper", "memory", "not-a-key-hunter2"),
        ("counter", "axum", "memory", "abcd"),
        ("login", "axum", "cookie-encrypted", DATA_KEY),
        ("login", "hyper", "starlette", DATA_KEY),
        ("counter", "axum", "cookie", DATA_KEY),
        ("login", "axum", "sqlite::memory:", "not-a-key-hunter2"),
        ("big", "hyper", "sqlite::memory:", "abcd"),
        // Read before connecting: no Redis is needed to see the error.
        ("login", "axum", "redis://127.0.0.1:1", "not-a-key-hunter2"),
        (
            "counter",
            "hyper",
            "redis://127.0.0.1:1",
            "not-a-key-hunter2",
        ),
    ];
    for (scenario, framework, store, data_key) in cases {
        let output = run_to_exit(
            common::SERVE,
            &[
                ("SCENARIO", scenario),
                ("FRAMEWORK", framework),
                ("SESSION_STORE", store),
                ("SESSION_SECRET", SECRET),
                ("SESSION_DATA_KEY", data_key),
            ],
        );
        let what = format!("serve {scenario}, {framework}, {store}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("SESSION_DATA_KEY"), "{what}: {stderr}");
        assert!(
            !stderr.contains("hunter2") && !stderr.contains(DATA_KEY),
            "{what}: the key leaked into the error: {stderr}"
        );
    }
}

// --- Dumps: with SESSION_DATA_KEY, a store holds neither the cookie's id
// --- nor the profile.

/// Logs in as a new user on `serve` in `bin` (the framework) with
/// `SESSION_DATA_KEY` set, checks the session works, and returns the id the
/// cookie carries (verified with `SECRET`) and the app, still running.
async fn login_with_data_key(bin: &str, store: &str) -> (App, Id) {
    let envs = [
        ("SESSION_STORE", store),
        ("SESSION_SECRET", SECRET),
        ("SESSION_DATA_KEY", DATA_KEY),
    ];
    let app = serve("login", bin, &envs);
    let plain = reqwest::Client::new();
    let hong = user("hong");
    let response = plain
        .get(app.url(&format!("/login/{hong}/")))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200, "{bin} on {store}");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let pair = set_cookie.split(';').next().unwrap_or_default().to_owned();
    let value = pair.strip_prefix("session=").expect("a `session` cookie");
    let keys = Keys::from(Key::from_hex(SECRET).expect("SECRET is a key"));
    let id = SignedId::new(&keys)
        .verify(value)
        .expect("the cookie holds an id signed with SESSION_SECRET")
        .id;
    let body: Value = plain
        .get(app.url("/get/"))
        .header("cookie", &pair)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body, profile_of(&hong), "{bin} on {store}: decrypted");
    (app, id)
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Checks a store's `dump` after the login of `id`: the id the store keys
/// the session by is there (the dump is of the right place), the key name
/// `username` is there (names stay readable), and neither the cookie's id
/// (as text, hex or raw bytes) nor the e-mail is.
fn check_dump(dump: &[u8], id: &Id, what: &str) {
    let text = String::from_utf8_lossy(dump);
    assert!(
        contains(dump, id.at_rest().encode().as_bytes()),
        "{what}: the session's stored id is not in the dump: {text}"
    );
    assert!(
        contains(dump, b"username"),
        "{what}: the key name is not in the dump: {text}"
    );
    let hex: String = id.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    for (name, needle) in [
        ("the cookie's id", id.encode().into_bytes()),
        ("the cookie's id as hex", hex.into_bytes()),
        ("the cookie's id as bytes", id.as_bytes().to_vec()),
        ("the e-mail", EMAIL.as_bytes().to_vec()),
    ] {
        assert!(
            !contains(dump, &needle),
            "{what}: {name} is in the dump: {text}"
        );
    }
}

/// `REDIS_URL` with database `db` (a database of the test's own).
fn redis_db_url(db: u8) -> String {
    let url = server_url("REDIS_URL");
    let url = url.trim_end_matches('/');
    // A URL that already names a database: replace it.
    let base = match url.rsplit_once('/') {
        Some((base, last)) if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => url,
    };
    format!("{base}/{db}")
}

/// Every key of the Redis database at `url`, and everything each holds.
async fn redis_dump(url: &str) -> Vec<u8> {
    let client = redis::Client::open(url).expect("a Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut dump = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TYPE");
        let mut read = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "set" => redis::cmd("SMEMBERS"),
            "zset" => redis::cmd("ZRANGE"),
            "list" => redis::cmd("LRANGE"),
            other => panic!("a Redis key of type {other} the dump cannot read"),
        };
        read.arg(&key);
        match kind.as_str() {
            "zset" => read.arg(0).arg(-1).arg("WITHSCORES"),
            "list" => read.arg(0).arg(-1),
            _ => &mut read,
        };
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![read.query_async(&mut conn).await.expect("GET")],
            _ => read.query_async(&mut conn).await.expect("read a key"),
        };
        dump.extend_from_slice(&key);
        dump.push(b'\n');
        for value in values {
            dump.extend_from_slice(&value);
            dump.push(b'\n');
        }
    }
    dump
}

#[tokio::test]
async fn data_key_hides_ids_and_profiles_in_redis() {
    for (bin, db) in [("axum", 12), ("hyper", 13)] {
        let url = redis_db_url(db);
        let client = redis::Client::open(url.as_str()).expect("a Redis URL");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis");
        let () = redis::cmd("FLUSHDB")
            .query_async(&mut conn)
            .await
            .expect("FLUSHDB");
        let (app, id) = login_with_data_key(bin, &url).await;
        check_dump(
            &redis_dump(&url).await,
            &id,
            &format!("{bin}, Redis db {db}"),
        );
        app.stop();
    }
}

/// Every row of every table at `url`, each column as the database hands
/// it over (text as text, JSON as its text, numbers as bytes).
async fn sql_dump(url: &str) -> Vec<u8> {
    /// Appends every column of `rows` to `dump`.
    fn rows<R: sqlx::Row>(rows: &[R], dump: &mut Vec<u8>)
    where
        usize: sqlx::ColumnIndex<R>,
        for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database>,
    {
        for row in rows {
            for column in 0..row.len() {
                let value: Option<Vec<u8>> = row.try_get_unchecked(column).expect("a column");
                dump.extend(value.unwrap_or_default());
                dump.push(b'|');
            }
            dump.push(b'\n');
        }
    }
    /// Connects a `$pool` to `url`, lists its tables with `$tables`, and
    /// appends all of each (names quoted with `$quote`) to `dump`.
    macro_rules! dump_tables {
        ($pool:ty, $tables:expr, $quote:expr) => {{
            let pool = <$pool>::connect(url).await.expect("connect");
            let tables: Vec<String> = sqlx::query_scalar($tables)
                .fetch_all(&pool)
                .await
                .expect("tables");
            let mut dump = Vec::new();
            for table in tables {
                let all = format!("SELECT * FROM {quote}{table}{quote}", quote = $quote);
                let all = sqlx::query(&all).fetch_all(&pool).await.expect("rows");
                rows(&all, &mut dump);
            }
            // Closed, so that the next run can drop the database.
            pool.close().await;
            dump
        }};
    }
    if url.starts_with("sqlite:") {
        dump_tables!(
            sqlx::SqlitePool,
            "SELECT name FROM sqlite_master WHERE type = 'table'",
            '"'
        )
    } else if url.starts_with("postgres") {
        dump_tables!(
            sqlx::PgPool,
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            '"'
        )
    } else {
        dump_tables!(
            sqlx::MySqlPool,
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = DATABASE()",
            '`'
        )
    }
}

/// A fresh, empty database `name` on the server of `url` (dropped first
/// if an earlier run left it); returns its URL.
async fn fresh_database(url: &str, name: &str) -> String {
    use sqlx::Executor as _;
    let drop = format!("DROP DATABASE IF EXISTS {name}");
    let create = format!("CREATE DATABASE {name}");
    /// Runs `drop` and `create` on a `$pool` connected to `url`.
    macro_rules! recreate {
        ($pool:ty) => {{
            let pool = <$pool>::connect(url).await.expect("connect");
            pool.execute(drop.as_str()).await.expect("DROP DATABASE");
            pool.execute(create.as_str())
                .await
                .expect("CREATE DATABASE");
            pool.close().await;
        }};
    }
    if url.starts_with("postgres") {
        recreate!(sqlx::PgPool);
    } else {
        recreate!(sqlx::MySqlPool);
    }
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (url, String::new()),
    };
    let (server, _) = path.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}{query}")
}

#[tokio::test]
async fn data_key_hides_ids_and_profiles_in_sqlite() {
    for bin in ["hyper", "axum"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = sqlite_url(&dir);
        let (app, id) = login_with_data_key(bin, &url).await;
        check_dump(&sql_dump(&url).await, &id, &format!("{bin}, SQLite"));
        app.stop();
    }
}

/// The dump check on the database server at `var`: each binary in a
/// database of its own, `name`, made afresh.
async fn data_key_on_a_server(var: &str, runs: [(&str, &str); 2]) {
    let server = server_url(var);
    for (bin, name) in runs {
        let url = fresh_database(&server, name).await;
        let (app, id) = login_with_data_key(bin, &url).await;
        check_dump(&sql_dump(&url).await, &id, &format!("{bin}, {var}"));
        app.stop();
    }
}

#[tokio::test]
async fn data_key_hides_ids_and_profiles_in_postgres() {
    let runs = [
        ("axum", "accounts_dump_axum"),
        ("hyper", "accounts_dump_hyper"),
    ];
    data_key_on_a_server("DATABASE_URL", runs).await;
}

#[tokio::test]
async fn data_key_hides_ids_and_profiles_in_mysql() {
    let runs = [
        ("hyper", "accounts_dump_hyper"),
        ("axum", "accounts_dump_axum"),
    ];
    data_key_on_a_server("MYSQL_URL", runs).await;
}
