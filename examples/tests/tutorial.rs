//! The tutorial's manual steps, against the lesson binaries themselves
//! (memory store), and against `serve` for the other stores and switches,
//! in axum and in hyper.

mod common;

use common::{browser, get_json, run_to_exit, serve, App, FRAMEWORKS};
use serde_json::json;

const AXUM_COUNTER: &str = env!("CARGO_BIN_EXE_axum-counter");
const HYPER_COUNTER: &str = env!("CARGO_BIN_EXE_hyper-counter");
const AXUM_LOGIN: &str = env!("CARGO_BIN_EXE_axum-login");
const HYPER_LOGIN: &str = env!("CARGO_BIN_EXE_hyper-login");

/// The stores that need no server: every tutorial step runs on each.
const STORES: &[&str] = &["memory", "cookie", "cookie-encrypted", "starlette"];

/// Reload shows 0, 1, 2; another browser starts at 0; logout resets.
async fn counter_steps(app: &App, what: &str) {
    let first = browser();
    for expected in 0..3 {
        assert_eq!(
            get_json(&first, &app.url("/")).await,
            json!({ "user_count": expected }),
            "{what}"
        );
    }
    let second = browser();
    assert_eq!(
        get_json(&second, &app.url("/")).await,
        json!({ "user_count": 0 })
    );
    assert_eq!(
        get_json(&first, &app.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get_json(&first, &app.url("/")).await,
        json!({ "user_count": 0 }),
        "{what}"
    );
    assert_eq!(
        get_json(&second, &app.url("/")).await,
        json!({ "user_count": 1 }),
        "{what}"
    );
}

/// Login, see the profile, logout, "Login first".
async fn login_steps(app: &App, what: &str) {
    let client = browser();
    assert_eq!(
        get_json(&client, &app.url("/get/")).await,
        json!({ "message": "Login first" })
    );
    assert_eq!(
        get_json(&client, &app.url("/login/hong/")).await,
        json!({ "message": "Logged in" })
    );
    assert_eq!(
        get_json(&client, &app.url("/get/")).await,
        json!({ "session_info": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } }),
        "{what}"
    );
    assert_eq!(
        get_json(&browser(), &app.url("/get/")).await,
        json!({ "message": "Login first" }),
        "{what}: another browser must not see the login"
    );
    assert_eq!(
        get_json(&client, &app.url("/logout/")).await,
        json!({ "message": "Logged out" })
    );
    assert_eq!(
        get_json(&client, &app.url("/get/")).await,
        json!({ "message": "Login first" }),
        "{what}"
    );
}

#[tokio::test]
async fn axum_counter_lesson_follows_the_tutorial() {
    counter_steps(&App::start(AXUM_COUNTER, &[]), "axum-counter").await;
}

#[tokio::test]
async fn hyper_counter_lesson_follows_the_tutorial() {
    counter_steps(&App::start(HYPER_COUNTER, &[]), "hyper-counter").await;
}

#[tokio::test]
async fn serve_counter_follows_the_tutorial_on_every_store() {
    for framework in FRAMEWORKS {
        for store in STORES {
            let app = serve("counter", framework, &[("SESSION_STORE", store)]);
            counter_steps(&app, &format!("serve counter, {framework}, {store}")).await;
        }
    }
}

#[tokio::test]
async fn axum_login_lesson_follows_the_tutorial() {
    login_steps(&App::start(AXUM_LOGIN, &[]), "axum-login").await;
}

#[tokio::test]
async fn hyper_login_lesson_follows_the_tutorial() {
    login_steps(&App::start(HYPER_LOGIN, &[]), "hyper-login").await;
}

#[tokio::test]
async fn serve_login_follows_the_tutorial_on_every_store() {
    for framework in FRAMEWORKS {
        for store in STORES {
            let app = serve("login", framework, &[("SESSION_STORE", store)]);
            login_steps(&app, &format!("serve login, {framework}, {store}")).await;
        }
    }
}

/// The login apps: the two lessons, and `serve` in hyper.
fn login_apps() -> Vec<(&'static str, App)> {
    vec![
        ("axum-login", App::start(AXUM_LOGIN, &[])),
        ("hyper-login", App::start(HYPER_LOGIN, &[])),
        ("serve login, hyper", serve("login", "hyper", &[])),
    ]
}

/// Login gives the session a fresh id: the cookie before login no longer
/// works after it (session fixation defence).
#[tokio::test]
async fn login_cycles_the_session_id() {
    for (what, app) in login_apps() {
        let client = reqwest::Client::new();
        let first = client.get(app.url("/login/alice/")).send().await.unwrap();
        let cookie_a = first.headers()["set-cookie"].to_str().unwrap().to_owned();
        let pair_a = cookie_a.split(';').next().unwrap().to_owned();
        let second = client
            .get(app.url("/login/bob/"))
            .header("cookie", &pair_a)
            .send()
            .await
            .unwrap();
        let cookie_b = second.headers()["set-cookie"].to_str().unwrap().to_owned();
        let pair_b = cookie_b.split(';').next().unwrap().to_owned();
        assert_ne!(pair_a, pair_b, "{what}: login must issue a new session id");
        let old = client
            .get(app.url("/get/"))
            .header("cookie", &pair_a)
            .send()
            .await
            .unwrap();
        assert_eq!(
            old.json::<serde_json::Value>().await.unwrap(),
            json!({ "message": "Login first" }),
            "{what}"
        );
        let new = client
            .get(app.url("/get/"))
            .header("cookie", &pair_b)
            .send()
            .await
            .unwrap();
        assert_eq!(
            new.json::<serde_json::Value>().await.unwrap()["session_info"]["user_id"],
            "bob",
            "{what}"
        );
    }
}

/// `/login/{username}/` takes one path segment, `%XX`-decoded alike by
/// axum's `Path` and the hyper apps' own parsing; other paths are a 404.
#[tokio::test]
async fn login_names_are_decoded_alike() {
    for (what, app) in login_apps() {
        let client = browser();
        assert_eq!(
            get_json(&client, &app.url("/login/h%C3%B6ng%20gil/")).await,
            json!({ "message": "Logged in" })
        );
        assert_eq!(
            get_json(&client, &app.url("/get/")).await["session_info"]["user_id"],
            "höng gil",
            "{what}"
        );
        for path in ["/login/a/b/", "/login/hong", "/nowhere/"] {
            let status = client.get(app.url(path)).send().await.unwrap().status();
            assert_eq!(status, 404, "{what} {path}");
        }
    }
}

/// With serialization on (the counters' choice, and `serve`'s default for
/// the counter), 200 concurrent requests of one session count to 200; the
/// cookie is what the tutorial's curl steps send.
#[tokio::test]
async fn concurrent_visits_of_one_session_all_count() {
    let apps = [
        ("axum-counter", App::start(AXUM_COUNTER, &[])),
        ("hyper-counter", App::start(HYPER_COUNTER, &[])),
        ("serve counter, axum", serve("counter", "axum", &[])),
        ("serve counter, hyper", serve("counter", "hyper", &[])),
    ];
    for (what, app) in apps {
        let client = reqwest::Client::new();
        let first = client.get(app.url("/")).send().await.unwrap();
        let cookie = first.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (client, url, cookie) = (client.clone(), app.url("/"), cookie.clone());
            tasks.spawn(async move {
                let response = client
                    .get(url)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        let last = client
            .get(app.url("/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(
            last.json::<serde_json::Value>().await.unwrap(),
            json!({ "user_count": 201 }),
            "{what}"
        );
    }
}

/// The production setting `serve` shows: behind HTTPS, `SESSION_HTTPS=1`
/// gives the cookie the `__Host-` prefix (with `Secure`, `Path=/`, no
/// `Domain`), the defence against cookie tossing from a sibling subdomain.
#[tokio::test]
async fn production_config_uses_the_host_prefix() {
    for framework in FRAMEWORKS {
        for (scenario, path) in [("counter", "/"), ("login", "/login/hong/")] {
            let app = serve(scenario, framework, &[("SESSION_HTTPS", "1")]);
            let what = format!("{scenario}, {framework}");
            let response = reqwest::get(app.url(path)).await.unwrap();
            let cookie = response.headers()["set-cookie"].to_str().unwrap();
            assert!(cookie.starts_with("__Host-session="), "{what}: {cookie}");
            for attribute in ["Secure", "Path=/", "HttpOnly"] {
                assert!(
                    cookie.contains(attribute),
                    "{what}: {attribute} missing: {cookie}"
                );
            }
            assert!(!cookie.contains("Domain"), "{what}: {cookie}");
            app.stop();
        }
    }
}

/// The cookie the counters send: what the tutorial's F12 view shows.
#[tokio::test]
async fn cookie_attributes_and_vary() {
    for bin in [AXUM_COUNTER, HYPER_COUNTER] {
        let app = App::start(bin, &[]);
        let response = reqwest::get(app.url("/")).await.unwrap();
        assert_eq!(response.headers()["vary"], "Cookie", "{bin}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("session="), "{cookie}");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1209600"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(
            !cookie.contains("Secure"),
            "the lessons serve plain http: {cookie}"
        );
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("session=");
        assert!(
            value.len() < 100,
            "a server-side session cookie holds only the signed id"
        );
    }
}

/// A tampered cookie is a fresh session, answered normally.
#[tokio::test]
async fn tampered_cookie_means_a_fresh_session() {
    let app = App::start(AXUM_COUNTER, &[]);
    let client = reqwest::Client::new();
    let first = client.get(app.url("/")).send().await.unwrap();
    let pair = first.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let again = client
        .get(app.url("/"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap(),
        json!({ "user_count": 1 })
    );
    let mut tampered = pair.into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let response = client
        .get(app.url("/"))
        .header("cookie", tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap(),
        json!({ "user_count": 0 })
    );
}

/// A secret too short to be secret is refused at start with a clear message.
#[tokio::test]
async fn short_secret_is_refused_at_start() {
    let output = run_to_exit(common::SERVE, &[("SESSION_SECRET", "abcd")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 32"), "{stderr}");
}

/// An unknown store fails at start and lists the valid ones.
#[tokio::test]
async fn unknown_store_is_refused_at_start() {
    for (scenario, framework) in [("counter", "axum"), ("login", "hyper")] {
        let output = run_to_exit(
            common::SERVE,
            &[
                ("SCENARIO", scenario),
                ("FRAMEWORK", framework),
                ("SESSION_STORE", "floppy://user:hunter2@disk"),
            ],
        );
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("floppy://") && stderr.contains("memory"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "a password must not be echoed: {stderr}"
        );
    }
}

/// An unknown scenario, framework or switch value fails at start, naming
/// the variable and what is valid.
#[tokio::test]
async fn unknown_switches_are_refused_at_start() {
    let cases = [
        ("SCENARIO", "count", "counter, settings, login, big"),
        ("FRAMEWORK", "actix", "axum, hyper"),
        ("SESSION_SERIALIZE", "yes", "0 or 1"),
        ("SESSION_HTTPS", "true", "0 or 1"),
        ("SESSION_CACHE", "on", "0, 1 or fenced"),
        ("ADDR", "nowhere", "ADDR or PORT"),
        ("PORT", "http", "PORT must be a port number"),
    ];
    for (name, value, valid) in cases {
        let output = run_to_exit(common::SERVE, &[(name, value)]);
        assert_eq!(output.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(name) && stderr.contains(valid),
            "{name}={value}: {stderr}"
        );
    }
    // The local cache is Redis's only.
    let output = run_to_exit(common::SERVE, &[("SESSION_CACHE", "1")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Redis"), "{stderr}");
}

/// `keygen` prints 64 hex digits, different each time.
#[tokio::test]
async fn keygen_prints_a_fresh_key() {
    let bin = env!("CARGO_BIN_EXE_keygen");
    let a = std::process::Command::new(bin).output().unwrap().stdout;
    let b = std::process::Command::new(bin).output().unwrap().stdout;
    let a = String::from_utf8(a).unwrap();
    assert_eq!(a.trim().len(), 64);
    assert!(a.trim().chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, String::from_utf8(b).unwrap());
}

/// `serve` listens on `PORT` (on 127.0.0.1) when `ADDR` is unset, as the
/// benchmark scripts start it.
#[tokio::test]
async fn serve_listens_on_port() {
    let app = App::start(common::SERVE, &[("PORT", "0")]);
    assert!(app.base.starts_with("http://127.0.0.1:"), "{}", app.base);
    assert_eq!(
        get_json(&browser(), &app.url("/")).await,
        json!({ "user_count": 0 })
    );
}
