//! The session in a header, over real HTTP: the `axum-api` and
//! `hyper-api` lessons as a curl-like client (no cookie jar) uses them —
//! log in, call, log in again (a rotated token), log out — on memory,
//! SQLite, PostgreSQL and Redis; a token from a logged-out session; a key
//! rotation across a restart; and `serve` answering cookie and header
//! clients at once (`SESSION_TRANSPORT=both`) on every server-side store.
//! Needs `DATABASE_URL` and `REDIS_URL`: `scripts/test` starts throwaway
//! servers and sets them.

mod common;

use common::{serve, App, SECRET};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const AXUM_API: &str = env!("CARGO_BIN_EXE_axum-api");
const HYPER_API: &str = env!("CARGO_BIN_EXE_hyper-api");

/// A second key, for rotation.
const NEW_SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

use common::server_url as url;

/// A client like curl: no cookie jar, so a cookie would not help it.
fn curl() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    token: Option<String>,
    body: Value,
}

async fn call(
    app: &App,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let client = curl();
    let mut request = match method {
        "POST" => client.post(app.url(path)),
        _ => client.get(app.url(path)),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    assert!(
        response.headers().get("set-cookie").is_none(),
        "{method} {path}: no response carries a cookie"
    );
    let token = response
        .headers()
        .get("session-token")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        token,
        body,
    }
}

async fn login(app: &App, token: Option<&str>) -> String {
    let answer = call(
        app,
        "POST",
        "/login",
        token,
        Some(json!({ "username": "hong" })),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let token = answer.body["token"].as_str().expect("a token").to_owned();
    assert_eq!(
        answer.token.as_deref(),
        Some(token.as_str()),
        "the header agrees"
    );
    token
}

fn profile() -> Value {
    json!({ "user_id": "hong", "age": 21, "email": "aaa@aaa.com" })
}

/// The whole contract on one running app.
async fn token_flow(app: &App, context: &str) {
    let none = call(app, "GET", "/me", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{context}");
    let bad = call(app, "GET", "/me", Some("not.a-token"), None).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{context}");

    let token = login(app, None).await;
    let me = call(app, "GET", "/me", Some(&token), None).await;
    assert_eq!(
        (me.status, me.body),
        (StatusCode::OK, profile()),
        "{context}"
    );
    assert_eq!(me.token, None, "{context}: nothing new to keep");

    // Logging in again rotates the token: the old one is dead.
    let rotated = login(app, Some(&token)).await;
    assert_ne!(rotated, token);
    let old = call(app, "GET", "/me", Some(&token), None).await;
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "{context}: the old token"
    );
    let me = call(app, "GET", "/me", Some(&rotated), None).await;
    assert_eq!(me.body, profile(), "{context}");

    let logout = call(app, "POST", "/logout", Some(&rotated), None).await;
    assert_eq!(logout.status, StatusCode::OK);
    assert_eq!(
        logout.token.as_deref(),
        Some(""),
        "{context}: forget the token"
    );
    let after = call(app, "GET", "/me", Some(&rotated), None).await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "{context}: logged out"
    );
}

async fn lessons_on(store: &str) {
    for bin in [AXUM_API, HYPER_API] {
        let app = App::start(bin, &[("SESSION_STORE", store), ("SESSION_SECRET", SECRET)]);
        token_flow(&app, &format!("{bin} on {store}")).await;
    }
}

#[tokio::test]
async fn lessons_on_memory() {
    lessons_on("memory").await;
}

#[tokio::test]
async fn lessons_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    lessons_on(&format!("sqlite://{}", dir.path().join("s.db").display())).await;
}

#[tokio::test]
async fn lessons_on_postgres() {
    lessons_on(&url("DATABASE_URL")).await;
}

#[tokio::test]
async fn lessons_on_redis() {
    lessons_on(&url("REDIS_URL")).await;
}

/// A restart with a new key first and the old one after: the old token
/// still works, and the answer carries a token under the new key, which
/// works without the old key.
#[tokio::test]
async fn a_token_outlives_a_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
    for store in [sqlite, url("REDIS_URL")] {
        let app = App::start(
            AXUM_API,
            &[("SESSION_STORE", &store), ("SESSION_SECRET", SECRET)],
        );
        let token = login(&app, None).await;
        app.stop();
        let both = format!("{NEW_SECRET},{SECRET}");
        let app = App::start(
            AXUM_API,
            &[("SESSION_STORE", &store), ("SESSION_SECRET", &both)],
        );
        let me = call(&app, "GET", "/me", Some(&token), None).await;
        assert_eq!(me.body, profile(), "{store}");
        let reissued = me.token.expect("re-signed under the new key");
        assert_ne!(reissued, token);
        app.stop();
        let app = App::start(
            AXUM_API,
            &[("SESSION_STORE", &store), ("SESSION_SECRET", NEW_SECRET)],
        );
        let me = call(&app, "GET", "/me", Some(&reissued), None).await;
        assert_eq!(
            me.body,
            profile(),
            "{store}: the new token needs only the new key"
        );
        let old = call(&app, "GET", "/me", Some(&token), None).await;
        assert_eq!(
            old.status,
            StatusCode::UNAUTHORIZED,
            "{store}: the old key is gone"
        );
    }
}

/// `serve`'s login with `SESSION_TRANSPORT=both`: a browser (cookies) and
/// an API client (the token header) on one app; each answered on its own
/// transport, a stale token never falls back to the browser's cookie.
async fn both_transports_on(store: &str) {
    let app = serve(
        "login",
        "axum",
        &[
            ("SESSION_STORE", store),
            ("SESSION_SECRET", SECRET),
            ("SESSION_TRANSPORT", "both"),
        ],
    );
    let browser = common::browser();
    let logged_in = browser.get(app.url("/login/ferris/")).send().await.unwrap();
    assert!(logged_in.headers().get("set-cookie").is_some(), "{store}");
    assert!(
        logged_in.headers().get("session-token").is_none(),
        "{store}"
    );

    // A client without a token yet asks for the header with an empty
    // credential (`Authorization: Bearer`).
    let api = call(&app, "GET", "/login/hong/", Some(""), None).await;
    let token = api.token.expect("a token for the header client");
    let me = call(&app, "GET", "/get/", Some(&token), None).await;
    assert_eq!(me.body["session_info"]["user_id"], "hong", "{store}");
    let browser_me = common::get_json(&browser, &app.url("/get/")).await;
    assert_eq!(browser_me["session_info"]["user_id"], "ferris", "{store}");

    // The browser, sending a stale token too, is not logged in as ferris.
    let stale = browser.get(app.url("/get/")).bearer_auth("stale.token");
    let stale: Value = stale.send().await.unwrap().json().await.unwrap();
    assert_eq!(stale, json!({ "message": "Login first" }), "{store}");

    let logout = call(&app, "GET", "/logout/", Some(&token), None).await;
    assert_eq!(logout.token.as_deref(), Some(""), "{store}");
    let me = call(&app, "GET", "/get/", Some(&token), None).await;
    assert_eq!(me.body, json!({ "message": "Login first" }), "{store}");
    let browser_me = common::get_json(&browser, &app.url("/get/")).await;
    assert_eq!(browser_me["session_info"]["user_id"], "ferris", "{store}");
}

#[tokio::test]
async fn serve_answers_cookie_and_header_clients_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
    for store in [
        "memory".to_owned(),
        sqlite,
        url("DATABASE_URL"),
        url("REDIS_URL"),
    ] {
        both_transports_on(&store).await;
    }
}

/// `serve`'s login with `SESSION_TRANSPORT=header` on `store`: the client
/// takes its token from `Session-Token` alone.
async fn header_login_on(store: &str, envs: &[(&str, &str)]) {
    // A user of this run alone: other tests log in on the same servers.
    let user = format!(
        "header-client-{}-{}-{}",
        std::process::id(),
        store.len(),
        envs.len()
    );
    let login = format!("/login/{user}/");
    let app = serve(
        "login",
        "hyper",
        &[
            ("SESSION_STORE", store),
            ("SESSION_SECRET", SECRET),
            ("SESSION_TRANSPORT", "header"),
        ]
        .into_iter()
        .chain(envs.iter().copied())
        .collect::<Vec<_>>(),
    );
    let token = call(&app, "GET", &login, None, None).await.token;
    let token = token.expect("a token");
    let me = call(&app, "GET", "/get/", Some(&token), None).await;
    assert_eq!(me.body["session_info"]["user_id"], user.as_str(), "{store}");
    let rotated = call(&app, "GET", &login, Some(&token), None).await.token;
    let rotated = rotated.expect("a rotated token");
    assert_ne!(rotated, token, "{store}");
    let old = call(&app, "GET", "/get/", Some(&token), None).await;
    assert_eq!(old.body, json!({ "message": "Login first" }), "{store}");
    let sessions = call(&app, "GET", "/sessions/", Some(&rotated), None).await;
    assert_eq!(
        sessions.body["sessions"].as_array().map(Vec::len),
        Some(1),
        "{store}"
    );
    let logout = call(&app, "GET", "/logout/", Some(&rotated), None).await;
    assert_eq!(logout.token.as_deref(), Some(""), "{store}");
    let me = call(&app, "GET", "/get/", Some(&rotated), None).await;
    assert_eq!(me.body, json!({ "message": "Login first" }), "{store}");
}

#[tokio::test]
async fn header_clients_on_every_server_side_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
    let stores = [
        "memory".to_owned(),
        sqlite,
        url("DATABASE_URL"),
        url("MYSQL_URL"),
        url("REDIS_URL"),
        common::cluster_spec(),
    ];
    for store in stores {
        header_login_on(&store, &[]).await;
    }
    // Encrypted at rest, and the local cache Redis keeps coherent.
    header_login_on("memory", &[("SESSION_DATA_KEY", SECRET)]).await;
    header_login_on(&url("REDIS_URL"), &[("SESSION_CACHE", "1")]).await;
}
