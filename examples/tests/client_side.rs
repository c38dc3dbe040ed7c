//! The tutorial's cookie-settings and big-session scenarios, and sessions
//! kept in the cookie (signed, encrypted, Starlette-compatible): the
//! `axum-settings`, `hyper-settings`, `axum-big` and `hyper-big` lessons
//! themselves, and `serve` for the other stores, in axum and hyper.

mod common;

use common::{get_json, serve, App, FRAMEWORKS, SECRET};
use serde_json::{json, Value};
use session_core::codec::DataCodec;
use session_core::codec::StarletteCookie;

const AXUM_SETTINGS: &str = env!("CARGO_BIN_EXE_axum-settings");
const AXUM_BIG: &str = env!("CARGO_BIN_EXE_axum-big");
const HYPER_SETTINGS: &str = env!("CARGO_BIN_EXE_hyper-settings");
const HYPER_BIG: &str = env!("CARGO_BIN_EXE_hyper-big");

/// GET with an explicit cookie header; returns status, JSON body and the
/// raw `Set-Cookie`, if any.
async fn get(url: &str, cookie: Option<&str>) -> (u16, Value, Option<String>) {
    let client = reqwest::Client::new();
    let mut request = client.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("request failed");
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body, set_cookie)
}

/// The `name=value` part of a `Set-Cookie`.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

/// Checks the settings scenario on `app`: each attribute exactly as
/// configured, and the cookie works.
async fn settings_attributes_are_exact_on(app: &App, what: &str) {
    let (status, body, set_cookie) = get(&app.url("/"), None).await;
    assert_eq!((status, body), (200, json!({ "user_count": 0 })), "{what}");
    let set_cookie = set_cookie.expect("a session cookie");
    let mut parts: Vec<&str> = set_cookie.split("; ").collect();
    let first = parts.remove(0);
    assert!(first.starts_with("session_id="), "{what}: {set_cookie}");
    parts.sort_unstable();
    assert_eq!(
        parts,
        [
            "HttpOnly",
            "Max-Age=1800",
            "Path=/",
            "SameSite=Strict",
            "Secure"
        ],
        "{what}: {set_cookie}"
    );
    let (_, body, _) = get(&app.url("/"), Some(first)).await;
    assert_eq!(body, json!({ "user_count": 1 }), "{what}");
    let (_, body, removal) = get(&app.url("/logout/"), Some(first)).await;
    assert_eq!(body, json!({ "message": "Logged out" }), "{what}");
    assert!(removal.unwrap().contains("Max-Age=0"), "{what}");
}

/// The tutorial's settings: the lesson.
#[tokio::test]
async fn settings_lesson_attributes_are_exact() {
    let app = App::start(AXUM_SETTINGS, &[]);
    settings_attributes_are_exact_on(&app, "axum-settings").await;
}

/// The same settings in the hyper lesson.
#[tokio::test]
async fn hyper_settings_lesson_attributes_are_exact() {
    let app = App::start(HYPER_SETTINGS, &[]);
    settings_attributes_are_exact_on(&app, "hyper-settings").await;
}

/// The tutorial's settings in `serve`, on a server-side store and in the
/// cookie, in axum and hyper: the settings apply alike.
#[tokio::test]
async fn serve_settings_attributes_are_exact() {
    for framework in FRAMEWORKS {
        for store in ["memory", "cookie"] {
            let app = serve("settings", framework, &[("SESSION_STORE", store)]);
            settings_attributes_are_exact_on(&app, &format!("serve, {framework}, {store}")).await;
        }
    }
}

/// A server-side store keeps a session of a million entries with a small
/// cookie: `base` is where the scenario's routes are.
async fn big_session_works_on(base: &str, what: &str) {
    let (status, body, set_cookie) = get(&format!("{base}/login/hong/"), None).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["entries"], 1_000_000, "{what}");
    let cookie = pair(&set_cookie.expect("a session cookie"));
    assert!(cookie.len() < 100, "the cookie holds only the id: {cookie}");
    let (_, body, _) = get(&format!("{base}/get/"), Some(&cookie)).await;
    assert_eq!(body, json!({ "user_id": "hong", "entries": 1_000_000 }));
    let (_, body, removal) = get(&format!("{base}/logout/"), Some(&cookie)).await;
    assert_eq!(body, json!({ "message": "Logged out" }));
    assert!(removal.unwrap().contains("Max-Age=0"), "{what}");
    let (_, body, _) = get(&format!("{base}/get/"), Some(&cookie)).await;
    assert_eq!(body, json!({ "message": "Login first" }), "{what}");
}

/// A cookie store refuses the big session clearly instead of sending a
/// cookie the browser would drop; the session stays as it was.
async fn big_session_is_refused_on(base: &str, what: &str) {
    let (status, body, set_cookie) = get(&format!("{base}/login/hong/"), None).await;
    assert_eq!(status, 500, "{what}");
    assert!(
        set_cookie.is_none(),
        "{what}: no cookie may be sent: {set_cookie:?}"
    );
    let text = body.to_string();
    for needle in ["4096", "server-side store", "bytes"] {
        assert!(
            text.contains(needle),
            "{what}: {needle:?} missing from {text}"
        );
    }
    let (_, body, _) = get(&format!("{base}/get/"), None).await;
    assert_eq!(body, json!({ "message": "Login first" }), "{what}");
}

/// The lesson: memory at `/`, the cookie under `/cookie/`.
#[tokio::test]
async fn big_lesson_works_in_memory_and_is_refused_in_the_cookie() {
    let app = App::start(AXUM_BIG, &[]);
    big_session_works_on(&app.base, "axum-big").await;
    big_session_is_refused_on(&app.url("/cookie"), "axum-big /cookie/").await;
}

/// The hyper lesson: the same, one `service_fn` inside two layers.
#[tokio::test]
async fn hyper_big_lesson_works_in_memory_and_is_refused_in_the_cookie() {
    let app = App::start(HYPER_BIG, &[]);
    big_session_works_on(&app.base, "hyper-big").await;
    big_session_is_refused_on(&app.url("/cookie"), "hyper-big /cookie/").await;
}

#[tokio::test]
async fn serve_big_session_works_with_a_server_side_store() {
    for framework in FRAMEWORKS {
        let app = serve("big", framework, &[("SESSION_STORE", "memory")]);
        big_session_works_on(&app.base, &format!("serve big, {framework}")).await;
    }
}

#[tokio::test]
async fn serve_big_session_is_refused_clearly_by_cookie_stores() {
    for framework in FRAMEWORKS {
        for store in ["cookie", "cookie-encrypted", "starlette"] {
            let app = serve("big", framework, &[("SESSION_STORE", store)]);
            big_session_is_refused_on(&app.base, &format!("serve big, {framework}, {store}")).await;
        }
    }
}

/// Sessions kept in the cookie survive an app restart with the same key.
#[tokio::test]
async fn cookie_sessions_survive_a_restart() {
    for (store, secret) in [
        ("cookie", SECRET),
        ("cookie-encrypted", SECRET),
        ("starlette", "dev-secret-key"),
    ] {
        let envs = [("SESSION_STORE", store), ("SESSION_SECRET", secret)];
        let app = serve("counter", "axum", &envs);
        let (_, _, set_cookie) = get(&app.url("/"), None).await;
        let cookie = pair(&set_cookie.unwrap());
        app.stop();
        let app = serve("counter", "hyper", &envs);
        let (_, body, _) = get(&app.url("/"), Some(&cookie)).await;
        assert_eq!(body, json!({ "user_count": 1 }), "{store}");
    }
}

/// A cookie in Starlette's format, minted for secret `dev-secret-key`
/// (the codec's output is checked byte for byte against the real
/// Starlette's in session-core's tests), is accepted by the Rust app, which
/// answers with a cookie in the same format.
#[tokio::test]
async fn starlette_cookie_is_shared_with_a_fastapi_app() {
    let codec = StarletteCookie::new("dev-secret-key");
    let mut data = session_core::store::Data::new();
    data.insert("user_count".into(), json!(41));
    let minted = common::starlette_cookie(&codec, data);
    for framework in FRAMEWORKS {
        let app = serve(
            "counter",
            framework,
            &[
                ("SESSION_STORE", "starlette"),
                ("SESSION_SECRET", "dev-secret-key"),
            ],
        );
        let (status, body, set_cookie) =
            get(&app.url("/"), Some(&format!("session={minted}"))).await;
        assert_eq!((status, body), (200, json!({ "user_count": 41 })));
        let answer = pair(&set_cookie.unwrap());
        let value = answer.strip_prefix("session=").unwrap();
        // Starlette's layout: base64(json).base64(ts).sig, JSON as Python writes it.
        let payload = value.split('.').next().unwrap();
        assert_eq!(
            payload, "eyJ1c2VyX2NvdW50IjogNDJ9",
            "base64 of {{\"user_count\": 42}}"
        );
        let decoded = codec
            .decode("session", value)
            .expect("Starlette-format cookie verifies");
        assert_eq!(decoded.data["user_count"], 42);
        // A wrong secret is a fresh session, not an error.
        let wrong = StarletteCookie::new("another-secret");
        assert!(wrong.decode("session", value).is_none());
    }
}

/// `/logout/` of the counter with a cookie store removes the cookie.
#[tokio::test]
async fn emptied_cookie_session_is_removed() {
    let app = serve("counter", "axum", &[("SESSION_STORE", "cookie-encrypted")]);
    let client = common::browser();
    assert_eq!(
        get_json(&client, &app.url("/")).await,
        json!({ "user_count": 0 })
    );
    let (_, body, removal) = {
        let (_, _, set) = get(&app.url("/"), None).await;
        get(&app.url("/logout/"), Some(&pair(&set.unwrap()))).await
    };
    assert_eq!(body, json!({ "message": "Logged out" }));
    let removal = removal.expect("a removal cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
}
