//! The `axum-csrf` lesson over real HTTP: the form's token passes, in the
//! form or in the header; a missing, foreign, tampered or post-restart
//! token, a cross-site request and a foreign `Origin` are refused with a
//! 403 that says why, and an oversized form with a 413. Then `CsrfLayer`
//! in a plain hyper server, on the server-side stores Redis (`REDIS_URL`,
//! which `scripts/test` sets) and SQLite.

mod common;

use std::convert::Infallible;
use std::time::Instant;

use common::{browser, App, SECRET};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;
use session_core::csrf::CsrfBody;
use session_core::{CsrfLayer, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

const LESSON: &str = env!("CARGO_BIN_EXE_axum-csrf");
const FORM: &str = "application/x-www-form-urlencoded";

/// The token in the page's hidden `csrf_token` input.
fn token_in(page: &str) -> String {
    let value = page
        .split(r#"name="csrf_token" value=""#)
        .nth(1)
        .unwrap_or_else(|| panic!("no csrf_token input in {page}"));
    value.split('"').next().unwrap().to_owned()
}

/// `GET /` for `client`: the page's token.
async fn token(client: &reqwest::Client, app: &App) -> String {
    let response = client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(response.status(), StatusCode::OK);
    token_in(&response.text().await.unwrap())
}

/// `POST /transfer` with a form body and extra headers.
async fn transfer(
    client: &reqwest::Client,
    app: &App,
    form: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut request = client
        .post(app.url("/transfer"))
        .header(CONTENT_TYPE, FORM)
        .body(form.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("POST /transfer");
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_forms_token_passes_and_forgeries_are_refused() {
    let started = Instant::now();
    let app = App::start(LESSON, &[]);
    let alice = browser();
    let first = token(&alice, &app).await;
    let second = token(&alice, &app).await;
    assert_ne!(first, second, "a new mask on every page");

    // Both tokens of the page, in the form field or the header.
    for form_token in [&first, &second] {
        let (status, body) = transfer(
            &alice,
            &app,
            &format!("csrf_token={form_token}&amount=10"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("Transferred 10 coins"), "{body}");
    }
    let (status, body) = transfer(&alice, &app, "amount=7", &[("x-csrf-token", &first)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Transferred 7 coins"), "{body}");

    let refused = |status: StatusCode, body: &str, reason: &str| {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains(reason), "{reason:?} not in {body:?}");
        assert!(!body.contains("Transferred"), "{body}");
    };
    let (status, body) = transfer(&alice, &app, "amount=10", &[]).await;
    refused(status, &body, "missing token");

    // Another visitor's token, in alice's session, and alice's in a new one.
    let mallory = browser();
    let hers = token(&mallory, &app).await;
    let (status, body) = transfer(&alice, &app, &format!("csrf_token={hers}"), &[]).await;
    refused(status, &body, "invalid token");
    let (status, body) = transfer(&browser(), &app, &format!("csrf_token={first}"), &[]).await;
    refused(status, &body, "invalid token");

    let mut tampered = first.clone().into_bytes();
    tampered[40] = if tampered[40] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = transfer(&alice, &app, &format!("csrf_token={tampered}"), &[]).await;
    refused(status, &body, "invalid token");

    let good = format!("csrf_token={first}&amount=10");
    let (status, body) = transfer(&alice, &app, &good, &[("sec-fetch-site", "cross-site")]).await;
    refused(status, &body, "cross-site request");
    let (status, body) = transfer(&alice, &app, &good, &[("origin", "http://evil.example")]).await;
    refused(status, &body, "origin mismatch");
    let own = app.base.clone();
    let (status, body) = transfer(&alice, &app, &good, &[("origin", &own)]).await;
    assert_eq!(status, StatusCode::OK, "{own}: {body}");

    // Over 64 KiB: refused before the handler, the server still answers.
    let big = format!("{good}&pad={}", "p".repeat(70 * 1024));
    let (status, body) = transfer(&alice, &app, &big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _) = transfer(&alice, &app, &good, &[]).await;
    assert_eq!(status, StatusCode::OK);

    // A restart (a new key): the old token and cookie are worth nothing.
    app.stop();
    let app = App::start(LESSON, &[]);
    let (status, body) = transfer(&alice, &app, &good, &[]).await;
    refused(status, &body, "invalid token");
    eprintln!("axum-csrf over HTTP: {:.1?}", started.elapsed());
}

/// The hyper app: `GET /token`, `POST /login` (`cycle_id`), and any other
/// request that passed the check answered with the body it carried.
async fn handle(request: Request<CsrfBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let session = request.extensions().get::<Session>().cloned();
    let session = session.expect("the session layer is outside");
    let body = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/token") => Bytes::from(session.csrf_token().await.expect("a token")),
        ("POST", "/login") => {
            session.insert("user", "alice").await.expect("insert");
            session.cycle_id().await.expect("cycle_id");
            Bytes::from("logged in")
        }
        _ => request
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes(),
    };
    Ok(Response::new(Full::new(body)))
}

/// Serves `handle` behind `CsrfLayer` and a session layer on `store` over
/// plain hyper; returns its base URL.
async fn serve_hyper(store: impl session_core::store::SessionStore) -> String {
    let key = Key::from_hex(SECRET).expect("the test key");
    let sessions =
        SessionLayer::new(store, key).with_config(SessionConfig::new().with_secure(false));
    let service = tower::ServiceBuilder::new()
        .layer(sessions)
        .layer(CsrfLayer::new())
        .service_fn(handle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    base
}

/// Tokens through a stored session: a form posts with one, a login
/// rotates the secret, a foreign session's token fails.
async fn tokens_on(kind: &str, base: &str) {
    let alice = browser();
    let get_token = |client: &reqwest::Client| {
        let request = client.get(format!("{base}/token"));
        async move {
            request
                .send()
                .await
                .expect("GET /token")
                .text()
                .await
                .expect("token")
        }
    };
    let post = |client: &reqwest::Client, path: &str, form: String| {
        let request = client
            .post(format!("{base}{path}"))
            .header(CONTENT_TYPE, FORM)
            .body(form);
        async move {
            let response = request.send().await.expect("POST");
            (response.status(), response.text().await.expect("body"))
        }
    };
    let before = get_token(&alice).await;
    assert_eq!(before.len(), 86, "{kind}: {before}");
    let form = format!("amount=5&csrf_token={before}");
    assert_eq!(
        post(&alice, "/echo", form.clone()).await,
        (StatusCode::OK, form.clone()),
        "{kind}"
    );

    let other = browser();
    let hers = get_token(&other).await;
    let (status, body) = post(&alice, "/echo", format!("csrf_token={hers}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{kind}: {body}");
    assert!(body.contains("invalid token"), "{kind}: {body}");

    let login = post(&alice, "/login", format!("csrf_token={before}")).await;
    assert_eq!(login, (StatusCode::OK, "logged in".to_owned()), "{kind}");
    let (status, body) = post(&alice, "/echo", form).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{kind}: the token from before login: {body}"
    );
    let after = get_token(&alice).await;
    let form = format!("csrf_token={after}&amount=6");
    assert_eq!(
        post(&alice, "/echo", form.clone()).await,
        (StatusCode::OK, form),
        "{kind}"
    );
}

#[tokio::test]
async fn plain_hyper_on_redis_and_sqlite() {
    let started = Instant::now();
    let redis = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set. Run `scripts/test` (it starts a throwaway Redis), or set \
         REDIS_URL=redis://127.0.0.1:6379",
    );
    let store = RedisStore::connect(&redis).await.expect("Redis");
    tokens_on("redis", &serve_hyper(store).await).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = SqlStore::connect(&sqlite).await.expect("SQLite");
    store.migrate().await.expect("the sessions table");
    tokens_on("sqlite", &serve_hyper(store).await).await;
    eprintln!(
        "CsrfLayer in hyper on Redis and SQLite: {:.1?}",
        started.elapsed()
    );
}
