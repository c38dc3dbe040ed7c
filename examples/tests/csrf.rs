//! The `axum-csrf` lesson over real HTTP: the form's token passes, in the
//! form or in the header; a missing, foreign, tampered or post-restart
//! token, a cross-site request and a foreign `Origin` are refused with a
//! 403 that says why, and an oversized form with a 413.

mod common;

use std::time::Instant;

use common::{browser, App};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

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
