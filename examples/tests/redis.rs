//! Sessions in Redis, shared by several instances of an app: a cookie that
//! instance A set is counted on instance B, and a login outlives a restart
//! of the app; the `axum-redis` and `hyper-redis` lessons themselves, and
//! `serve` for the counter, hyper, a Redis Cluster and the local cache. Needs `REDIS_URL` (and
//! `REDIS_CLUSTER_URLS` for the cluster case): `scripts/test` starts
//! throwaway servers and sets both.

mod common;

use common::{cluster_spec, run_to_exit, serve, App, SECRET};
use serde_json::{json, Value};

const AXUM_REDIS: &str = env!("CARGO_BIN_EXE_axum-redis");
const HYPER_REDIS: &str = env!("CARGO_BIN_EXE_hyper-redis");

fn redis_url() -> String {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "REDIS_URL is not set. Run `scripts/test` (it starts throwaway Redis servers), \
             or set REDIS_URL=redis://127.0.0.1:6379 to test against a Redis you run"
        ),
    }
}

/// A client without a cookie jar: the test carries the cookie by hand, so
/// it is plain which instance set it and which one received it.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// GETs `url` sending `cookie` (if any); returns the JSON body and the
/// `name=value` of the cookie the response set, if it set one.
async fn get(client: &reqwest::Client, url: &str, cookie: Option<&str>) -> (Value, Option<String>) {
    let mut request = client.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request failed");
    let status = response.status();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "GET {url} answered {status}: {text}");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"));
    (body, set_cookie)
}

/// Two `serve` counters on one store, in frameworks `a` and `b`: A starts
/// the count, B continues it with A's cookie, logout on B is seen by A.
async fn shared_counter(a: &str, b: &str, store: &str) {
    shared_counter_with(a, b, store, &[]).await;
}

async fn shared_counter_with(a: &str, b: &str, store: &str, more: &[(&str, &str)]) {
    let mut envs = vec![("SESSION_STORE", store), ("SESSION_SECRET", SECRET)];
    envs.extend_from_slice(more);
    let a = serve("counter", a, &envs);
    let b = serve("counter", b, &envs);
    let client = client();

    let (body, cookie) = get(&client, &a.url("/"), None).await;
    assert_eq!(body, json!({ "user_count": 0 }));
    let cookie = cookie.expect("instance A must set a session cookie");
    assert_eq!(
        get(&client, &b.url("/"), Some(&cookie)).await.0,
        json!({ "user_count": 1 }),
        "B must see A's session"
    );
    assert_eq!(
        get(&client, &a.url("/"), Some(&cookie)).await.0,
        json!({ "user_count": 2 }),
        "A must see B's write"
    );
    assert_eq!(
        get(&client, &b.url("/"), Some(&cookie)).await.0,
        json!({ "user_count": 3 })
    );

    // Another visitor has a count of their own.
    assert_eq!(
        get(&client, &b.url("/"), None).await.0,
        json!({ "user_count": 0 })
    );

    // Logout on B ends the session for A too.
    assert_eq!(
        get(&client, &b.url("/logout/"), Some(&cookie)).await.0,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get(&client, &a.url("/"), Some(&cookie)).await.0,
        json!({ "user_count": 0 })
    );
}

#[tokio::test]
async fn axum_instances_share_a_counter_in_redis() {
    shared_counter("axum", "axum", &redis_url()).await;
}

#[tokio::test]
async fn axum_and_hyper_instances_share_a_counter_in_a_redis_cluster() {
    shared_counter("axum", "hyper", &cluster_spec()).await;
}

/// The same with each instance's local cache (fenced: a cached read sees
/// every write the other instance completed), on one node and on a cluster.
#[tokio::test]
async fn instances_with_a_fenced_local_cache_see_each_others_writes() {
    let fenced = [("SESSION_CACHE", "fenced"), ("SESSION_SERIALIZE", "0")];
    shared_counter_with("axum", "hyper", &redis_url(), &fenced).await;
    shared_counter_with("axum", "hyper", &cluster_spec(), &fenced).await;
}

/// Login on one instance (`start` starts one), stop it, start a new one:
/// still logged in.
async fn login_outlives_the_app(start: impl Fn() -> App) {
    let client = client();
    let first = start();
    assert_eq!(
        get(&client, &first.url("/get/"), None).await.0,
        json!({ "message": "Login first" })
    );
    let (body, cookie) = get(&client, &first.url("/login/hong/"), None).await;
    assert_eq!(body, json!({ "message": "Logged in" }));
    let cookie = cookie.expect("login must set a session cookie");
    first.stop();

    let second = start();
    assert_eq!(
        get(&client, &second.url("/get/"), Some(&cookie)).await.0,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "the session must live in Redis, not in the app"
    );
    let (body, _) = get(&client, &second.url("/logout/"), Some(&cookie)).await;
    assert_eq!(body, json!({ "message": "Logged out" }));
    assert_eq!(
        get(&client, &second.url("/get/"), Some(&cookie)).await.0,
        json!({ "message": "Login first" })
    );
}

#[tokio::test]
async fn redis_lesson_login_outlives_the_app() {
    let url = redis_url();
    let envs = [("REDIS_URL", url.as_str()), ("SESSION_SECRET", SECRET)];
    login_outlives_the_app(|| App::start(AXUM_REDIS, &envs)).await;
}

#[tokio::test]
async fn hyper_redis_lesson_login_outlives_the_app() {
    let url = redis_url();
    let envs = [("REDIS_URL", url.as_str()), ("SESSION_SECRET", SECRET)];
    login_outlives_the_app(|| App::start(HYPER_REDIS, &envs)).await;
}

#[tokio::test]
async fn serve_hyper_login_in_redis_outlives_the_app() {
    let url = redis_url();
    let envs = [("SESSION_STORE", url.as_str()), ("SESSION_SECRET", SECRET)];
    login_outlives_the_app(|| serve("login", "hyper", &envs)).await;
}

/// Two instances of a lesson on one Redis: a login on one is seen by the
/// other, a logout on the other ends it for both.
async fn lesson_instances_share_a_login(a: &str, b: &str) {
    let url = redis_url();
    let envs = [("REDIS_URL", url.as_str()), ("SESSION_SECRET", SECRET)];
    let (a, b) = (App::start(a, &envs), App::start(b, &envs));
    let client = client();
    let (body, cookie) = get(&client, &a.url("/login/hong/"), None).await;
    assert_eq!(body, json!({ "message": "Logged in" }));
    let cookie = cookie.expect("login must set a session cookie");
    assert_eq!(
        get(&client, &b.url("/get/"), Some(&cookie)).await.0,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "B must see A's login"
    );
    let (body, _) = get(&client, &b.url("/logout/"), Some(&cookie)).await;
    assert_eq!(body, json!({ "message": "Logged out" }));
    assert_eq!(
        get(&client, &a.url("/get/"), Some(&cookie)).await.0,
        json!({ "message": "Login first" }),
        "a logout on B must end the session on A"
    );
}

#[tokio::test]
async fn redis_lesson_instances_share_a_login() {
    lesson_instances_share_a_login(AXUM_REDIS, AXUM_REDIS).await;
}

/// An instance of the hyper lesson and one of the axum lesson share logins.
#[tokio::test]
async fn hyper_and_axum_redis_lessons_share_a_login() {
    lesson_instances_share_a_login(HYPER_REDIS, AXUM_REDIS).await;
}

/// A lesson without a key stops at start, naming the variable.
#[tokio::test]
async fn redis_lessons_need_a_key() {
    for bin in [AXUM_REDIS, HYPER_REDIS] {
        let output = run_to_exit(bin, &[("REDIS_URL", "redis://127.0.0.1:1")]);
        assert!(!output.status.success(), "{bin}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("SESSION_SECRET"), "{bin}: {stderr}");
    }
}

/// A Redis that is not there is a clear startup error, not a hang, and the
/// password in the URL does not leak into it: the lessons and `serve`.
#[tokio::test]
async fn unreachable_redis_is_a_startup_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    for (bin, variable) in [
        (AXUM_REDIS, "REDIS_URL"),
        (HYPER_REDIS, "REDIS_URL"),
        (common::SERVE, "SESSION_STORE"),
    ] {
        let output = run_to_exit(bin, &[(variable, &url), ("SESSION_SECRET", SECRET)]);
        assert!(!output.status.success(), "{bin}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("Redis"), "{bin}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "{bin}: the password leaked into the error: {stderr}"
        );
    }
}
