//! The tutorial's manual browser steps, automated in a real browser:
//! Debian's headless Chromium, driven through chromedriver (WebDriver), on
//! `serve`'s scenarios, in axum and in hyper.
//!
//! Each step navigates like a person would, reads what the page shows
//! (`document.body.innerText`, JSON for these apps) and reads the cookies
//! *as the browser stored them* through WebDriver. A control app proves that
//! Chromium really drops a cookie over 4096 bytes, which is why the library
//! refuses to send one.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages
//! `chromium` and `chromium-driver`); without them every test here fails
//! with the install hint (scripts/test installs them when run as root).
//! `cargo test -p examples --test browser -- --nocapture` prints how long
//! each scenario took.

mod common;

#[path = "browser/attacker.rs"]
mod attacker;
#[path = "browser/chromium.rs"]
mod chromium;
#[path = "browser/control.rs"]
mod control;

use std::time::Instant;

use attacker::Attacker;
use chromium::Browser;
use common::{serve, App, SECRET};
use control::ControlApp;
use serde_json::json;

/// One framework of `serve` (`FRAMEWORK`).
struct Apps {
    name: &'static str,
}

impl Apps {
    /// `serve` in this framework, with `SCENARIO=scenario` and `envs`.
    fn start(&self, scenario: &str, envs: &[(&str, &str)]) -> App {
        serve(scenario, self.name, envs)
    }
}

const AXUM: Apps = Apps { name: "axum" };

const HYPER: Apps = Apps { name: "hyper" };

/// A secret for the Starlette-compatible store: text, as Starlette takes it.
const STARLETTE_SECRET: &str = "a text secret, as a FastAPI app would have in its settings";

#[tokio::test]
async fn axum_apps_in_chromium() {
    scenarios(&AXUM).await;
}

#[tokio::test]
async fn hyper_apps_in_chromium() {
    scenarios(&HYPER).await;
}

/// The `axum-csrf` lesson: the page's form, submitted in Chromium, is
/// let through; a page on another origin (`127.0.0.1` on another port: the
/// same site) or another site (`localhost`) that posts the form as soon as
/// it loads lands on a 403 that names the check that failed.
#[tokio::test]
async fn csrf_form_in_chromium() {
    let started = Instant::now();
    let app = App::start(env!("CARGO_BIN_EXE_axum-csrf"), &[]);
    let browser = Browser::launch().await;
    browser.goto(&app.url("/")).await;
    browser.click("button[type=submit]").await;
    let text = settled(&browser).await;
    assert!(text.contains("Transferred 10 coins"), "{text}");
    assert_eq!(browser.status().await, 200, "{text}");
    assert!(
        browser.cookie("session").await.is_some(),
        "the session's cookie"
    );

    for (host, reason) in [
        ("127.0.0.1", "origin mismatch"),
        ("localhost", "cross-site request"),
    ] {
        let attacker = Attacker::start(&app.url("/transfer")).await;
        browser.goto(&attacker.url(host)).await;
        let text = settled(&browser).await;
        assert!(text.contains(reason), "{host}: {reason:?} not in {text:?}");
        assert!(!text.contains("Transferred"), "{host}: {text}");
        assert_eq!(browser.status().await, 403, "{host}: {text}");
    }
    browser.close().await;
    eprintln!("axum-csrf in Chromium: {:.1?}", started.elapsed());
}

/// The text of the page `/transfer` answered with, once the browser shows
/// it (a form post navigates after the step that caused it returned).
async fn settled(browser: &Browser) -> String {
    let deadline = Instant::now() + chromium::STEP;
    loop {
        let text = browser.text().await;
        if text.contains("Transferred") || text.contains("CSRF check failed") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no answer from /transfer: {text:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every scenario, in order, for one framework.
async fn scenarios(apps: &Apps) {
    let all = Instant::now();
    timed(apps, "counter", counter(apps)).await;
    timed(apps, "login", login(apps)).await;
    timed(apps, "settings", settings(apps)).await;
    timed(apps, "big session, memory", big_session_server_side(apps)).await;
    timed(apps, "big session, cookie", big_session_refused(apps)).await;
    timed(
        apps,
        "restart, cookie",
        survives_restart(apps, "cookie", SECRET),
    )
    .await;
    timed(
        apps,
        "restart, starlette",
        survives_restart(apps, "starlette", STARLETTE_SECRET),
    )
    .await;
    eprintln!("{}: all scenarios in {:.1?}", apps.name, all.elapsed());
}

async fn timed(apps: &Apps, what: &str, scenario: impl std::future::Future<Output = ()>) {
    let start = Instant::now();
    scenario.await;
    eprintln!("{}: {what}: {:.1?}", apps.name, start.elapsed());
}

/// Counter, memory store: three reloads show 0, 1, 2; a second browser
/// starts at 0; `/logout/` removes the cookie and the count starts over.
async fn counter(apps: &Apps) {
    let app = apps.start("counter", &[("SESSION_STORE", "memory")]);
    let first = Browser::launch().await;
    for expected in 0..3 {
        assert_eq!(
            first.json(&app.url("/")).await,
            json!({ "user_count": expected }),
            "{}: reload {expected}",
            apps.name
        );
    }
    let cookie = first.cookie("session").await.expect("a session cookie");
    assert!(cookie.http_only().unwrap_or(false), "{cookie:?}");
    assert!(!cookie.secure().unwrap_or(false), "{cookie:?}");

    let second = Browser::launch().await;
    assert!(second.cookies().await.is_empty(), "a fresh profile");
    assert_eq!(
        second.json(&app.url("/")).await,
        json!({ "user_count": 0 }),
        "{}: another browser has its own session",
        apps.name
    );
    let other = second.cookie("session").await.expect("a session cookie");
    assert_ne!(other.value(), cookie.value());

    assert_eq!(
        first.json(&app.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert!(
        first.cookie("session").await.is_none(),
        "{}: /logout/ empties the session, so the browser drops the cookie",
        apps.name
    );
    assert_eq!(first.json(&app.url("/")).await, json!({ "user_count": 0 }));
    assert_eq!(second.json(&app.url("/")).await, json!({ "user_count": 1 }));
    first.close().await;
    second.close().await;
}

/// Login, memory store: "Login first", login, the profile, logout,
/// "Login first" again.
async fn login(apps: &Apps) {
    let app = apps.start("login", &[("SESSION_STORE", "memory")]);
    let browser = Browser::launch().await;
    let login_first = json!({ "message": "Login first" });
    assert_eq!(browser.json(&app.url("/get/")).await, login_first);
    assert!(
        browser.cookie("session").await.is_none(),
        "reading no session sets no cookie"
    );
    assert_eq!(
        browser.json(&app.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    assert!(browser.cookie("session").await.is_some());
    assert_eq!(
        browser.json(&app.url("/get/")).await,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "{}",
        apps.name
    );
    assert_eq!(
        browser.json(&app.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert!(
        browser.cookie("session").await.is_none(),
        "{}: logout removes the cookie from the browser",
        apps.name
    );
    assert_eq!(browser.json(&app.url("/get/")).await, login_first);
    browser.close().await;
}

/// The tutorial's cookie settings, as the browser stored them: name
/// `session_id`, HttpOnly, SameSite=Strict, Secure (kept on
/// http://127.0.0.1, a secure context), expiring in about 1800 s.
async fn settings(apps: &Apps) {
    let app = apps.start("settings", &[("SESSION_STORE", "memory")]);
    let browser = Browser::launch().await;
    for expected in 0..3 {
        assert_eq!(
            browser.json(&app.url("/")).await,
            json!({ "user_count": expected }),
            "{}: the Secure cookie is kept and sent on http://127.0.0.1",
            apps.name
        );
    }
    let cookies = browser.cookies().await;
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert_eq!(cookie.name(), "session_id");
    assert_eq!(cookie.http_only(), Some(true), "{cookie:?}");
    assert_eq!(cookie.secure(), Some(true), "{cookie:?}");
    assert_eq!(
        cookie.same_site(),
        Some(cookie::SameSite::Strict),
        "{cookie:?}"
    );
    assert_eq!(cookie.path(), Some("/"), "{cookie:?}");
    let expires = cookie
        .expires_datetime()
        .unwrap_or_else(|| panic!("a persistent cookie: {cookie:?}"));
    let ahead = expires.unix_timestamp() - now();
    assert!(
        (1800 - 60..=1800 + 60).contains(&ahead),
        "{}: the cookie expires in {ahead} s, not about 1800 s",
        apps.name
    );
    browser.close().await;
}

/// Big session, memory store: the browser keeps the session of a million
/// entries, with a cookie that only holds the signed id.
async fn big_session_server_side(apps: &Apps) {
    let app = apps.start("big", &[("SESSION_STORE", "memory")]);
    let browser = Browser::launch().await;
    assert_eq!(
        browser.json(&app.url("/login/hong/")).await,
        json!({ "message": "Logged in", "entries": 1_000_000 })
    );
    let cookie = browser.cookie("session").await.expect("a session cookie");
    let size = cookie.name().len() + cookie.value().len();
    assert!(size < 100, "the cookie holds only the id: {size} bytes");
    assert_eq!(
        browser.json(&app.url("/get/")).await,
        json!({ "user_id": "hong", "entries": 1_000_000 }),
        "{}",
        apps.name
    );
    browser.close().await;
}

/// Big session, cookie store: the app answers with its clear error instead
/// of a cookie the browser would drop, and the browser stores nothing.
async fn big_session_refused(apps: &Apps) {
    let app = apps.start(
        "big",
        &[("SESSION_STORE", "cookie"), ("SESSION_SECRET", SECRET)],
    );
    let browser = Browser::launch().await;
    browser.goto(&app.url("/login/hong/")).await;
    assert_eq!(browser.status().await, 500, "{}", apps.name);
    let text = browser.text().await;
    for needle in ["4096", "server-side store"] {
        assert!(
            text.contains(needle),
            "{}: {needle:?} missing from the page: {text}",
            apps.name
        );
    }
    let cookies = browser.cookies().await;
    assert!(cookies.is_empty(), "no session cookie: {cookies:?}");
    assert_eq!(
        browser.json(&app.url("/get/")).await,
        json!({ "message": "Login first" })
    );
    browser.close().await;
}

/// Sessions kept in the cookie survive an app restart (same secret): count
/// 0, 1; restart the app (on a new port: cookies are per host, not per
/// port); the browser sends its cookie and the count goes on at 2.
async fn survives_restart(apps: &Apps, store: &str, secret: &str) {
    let envs = [("SESSION_STORE", store), ("SESSION_SECRET", secret)];
    let app = apps.start("counter", &envs);
    let browser = Browser::launch().await;
    for expected in 0..2 {
        assert_eq!(
            browser.json(&app.url("/")).await,
            json!({ "user_count": expected })
        );
    }
    app.stop();
    let app = apps.start("counter", &envs);
    assert_eq!(
        browser.json(&app.url("/")).await,
        json!({ "user_count": 2 }),
        "{} {store}: the session survived the restart",
        apps.name
    );
    browser.close().await;
}

/// The control: Chromium keeps a cookie of 4000 bytes and silently drops
/// one of 5000 (name + value over 4096), so an app must never send one.
#[tokio::test]
async fn chromium_silently_drops_a_cookie_over_4096_bytes() {
    let start = Instant::now();
    let app = ControlApp::start().await;
    let browser = Browser::launch().await;
    browser.goto(&app.url("/set/")).await;
    assert_eq!(browser.status().await, 200);
    assert_eq!(browser.text().await.trim(), "two cookies sent");
    let names: Vec<String> = browser
        .cookies()
        .await
        .iter()
        .map(|c| format!("{}={} bytes", c.name(), c.value().len()))
        .collect();
    assert_eq!(
        names,
        [format!("fits={} bytes", control::FITS_LEN)],
        "the browser keeps only the cookie that fits"
    );
    browser.goto(&app.url("/echo/")).await;
    let echoed = browser.text().await;
    assert!(
        echoed.contains(&format!("fits={}", "f".repeat(control::FITS_LEN))),
        "{echoed}"
    );
    assert!(!echoed.contains("toobig"), "{echoed}");
    browser.close().await;
    eprintln!("control: {:.1?}", start.elapsed());
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
