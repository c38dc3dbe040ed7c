//! `axum-login-bridge`, axum-login on our stores through
//! `session-tower-sessions`, driven over real HTTP as a browser would: on
//! the memory store, SQLite, PostgreSQL (`DATABASE_URL`) and Redis
//! (`REDIS_URL`); `scripts/test` starts throwaway servers and sets both.

mod common;

use common::App;
use reqwest::{header, redirect, Client, StatusCode};

const BRIDGE: &str = env!("CARGO_BIN_EXE_axum-login-bridge");

/// The URL in `var`, or a failure that says how to get one.
use common::server_url as url;

/// A browser with its own cookie jar that shows redirects instead of
/// following them.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn get(client: &Client, url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = client.get(url);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.expect("request failed");
    (response.status(), response.text().await.expect("body"))
}

/// Posts the login form; the response as it comes (not followed).
async fn log_in(client: &Client, app: &App, username: &str, password: &str) -> reqwest::Response {
    client
        .post(app.url("/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .expect("request failed")
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[header::LOCATION]
        .to_str()
        .expect("a text Location")
}

/// Login, the protected page, logout, the protected page refused; the
/// session cookie captured before the logout is refused after it.
async fn login_flow(store: &str) {
    let app = App::start(BRIDGE, &[("SESSION_STORE", store)]);
    let client = browser();
    let (status, body) = get(&client, &app.url("/login"), None).await;
    assert_eq!(status, 200, "{store}: the login form");
    assert!(body.contains(r#"name="password""#), "{store}: {body}");
    let (status, _) = get(&client, &app.url("/protected"), None).await;
    assert_eq!(status, 401, "{store}: logged out");

    let response = log_in(&client, &app, "ferris", "hunter42").await;
    assert_eq!(response.status(), 303, "{store}: login");
    assert_eq!(location(&response), "/protected");
    let captured = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("a text cookie")
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();

    let (status, body) = get(&client, &app.url("/protected"), None).await;
    assert_eq!(status, 200, "{store}: logged in");
    assert_eq!(body, "Logged in as ferris", "{store}");
    let thief = browser(); // the captured cookie works anywhere, until logout
    let (status, body) = get(&thief, &app.url("/protected"), Some(&captured)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "Logged in as ferris")
    );

    let response = client.get(app.url("/logout")).send().await.expect("logout");
    assert_eq!(response.status(), 303, "{store}: logout");
    assert_eq!(location(&response), "/login");
    let (status, _) = get(&client, &app.url("/protected"), None).await;
    assert_eq!(status, 401, "{store}: logged out again");
    let (status, _) = get(&browser(), &app.url("/protected"), Some(&captured)).await;
    assert_eq!(
        status, 401,
        "{store}: the cookie from before the logout is refused"
    );

    let response = log_in(&client, &app, "hong", "aaa@aaa.com").await;
    assert_eq!(response.status(), 303, "{store}: the other user");
    let (status, body) = get(&client, &app.url("/protected"), None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "Logged in as hong")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_on_memory() {
    login_flow("memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    login_flow(&format!(
        "sqlite://{}",
        dir.path().join("sessions.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_on_postgres() {
    login_flow(&url("DATABASE_URL")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_flow_on_redis() {
    login_flow(&url("REDIS_URL")).await;
}

/// A wrong password (or an unknown user) is a 401, and logs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused() {
    let app = App::start(BRIDGE, &[]);
    let client = browser();
    for (username, password) in [
        ("ferris", "hunter43"),
        ("ferris", "aaa@aaa.com"),
        ("nobody", "x"),
    ] {
        let response = log_in(&client, &app, username, password).await;
        assert_eq!(response.status(), 401, "{username} / {password}");
        let (status, _) = get(&client, &app.url("/protected"), None).await;
        assert_eq!(status, 401, "{username} / {password}: nobody logged in");
    }
}
