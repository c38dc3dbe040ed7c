//! Sessions in Redis, shared by several instances of an app: a cookie that
//! instance A set is counted on instance B, and a login outlives a restart
//! of the app. Needs `REDIS_URL` (and `REDIS_CLUSTER_URLS` for the cluster
//! case): `scripts/test` starts throwaway servers and sets both.

mod common;

use common::{cluster_spec, App, SECRET};
use serde_json::{json, Value};

const AXUM_COUNTER: &str = env!("CARGO_BIN_EXE_axum-counter");
const HYPER_COUNTER: &str = env!("CARGO_BIN_EXE_hyper-counter");
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

/// Two instances on one store: A starts the count, B continues it with A's
/// cookie, logout on B is seen by A.
async fn shared_counter(a_bin: &str, b_bin: &str, store: &str) {
    shared_counter_with(a_bin, b_bin, store, &[]).await;
}

async fn shared_counter_with(a_bin: &str, b_bin: &str, store: &str, more: &[(&str, &str)]) {
    let mut envs = vec![("SESSION_STORE", store), ("SESSION_SECRET", SECRET)];
    envs.extend_from_slice(more);
    let a = App::start(a_bin, &envs);
    let b = App::start(b_bin, &envs);
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
    shared_counter(AXUM_COUNTER, AXUM_COUNTER, &redis_url()).await;
}

#[tokio::test]
async fn axum_and_hyper_instances_share_a_counter_in_a_redis_cluster() {
    shared_counter(AXUM_COUNTER, HYPER_COUNTER, &cluster_spec()).await;
}

/// The same with each instance's local cache (fenced: a cached read sees
/// every write the other instance completed), on one node and on a cluster.
#[tokio::test]
async fn instances_with_a_fenced_local_cache_see_each_others_writes() {
    let fenced = [("SESSION_CACHE", "fenced"), ("SESSION_SERIALIZE", "0")];
    shared_counter_with(AXUM_COUNTER, HYPER_COUNTER, &redis_url(), &fenced).await;
    shared_counter_with(AXUM_COUNTER, HYPER_COUNTER, &cluster_spec(), &fenced).await;
}

/// Login on one instance, stop it, start a new one: still logged in.
async fn login_outlives_the_app(bin: &str) {
    let store = redis_url();
    let envs = [
        ("SESSION_STORE", store.as_str()),
        ("SESSION_SECRET", SECRET),
    ];
    let client = client();
    let first = App::start(bin, &envs);
    assert_eq!(
        get(&client, &first.url("/get/"), None).await.0,
        json!({ "message": "Login first" })
    );
    let (body, cookie) = get(&client, &first.url("/login/hong/"), None).await;
    assert_eq!(body, json!({ "message": "Logged in" }));
    let cookie = cookie.expect("login must set a session cookie");
    first.stop();

    let second = App::start(bin, &envs);
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
async fn axum_redis_login_outlives_the_app() {
    login_outlives_the_app(AXUM_REDIS).await;
}

#[tokio::test]
async fn hyper_redis_login_outlives_the_app() {
    login_outlives_the_app(HYPER_REDIS).await;
}

/// A Redis that is not there is a clear startup error, not a hang.
#[tokio::test]
async fn unreachable_redis_is_a_startup_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let output = std::process::Command::new(AXUM_REDIS)
        .env("PORT", "0")
        .env(
            "SESSION_STORE",
            format!("redis://:hunter2@127.0.0.1:{port}"),
        )
        .env("SESSION_SECRET", SECRET)
        .output()
        .expect("run axum-redis");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Redis"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password leaked into the error: {stderr}"
    );
}
