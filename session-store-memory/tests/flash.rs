//! Flash messages through the real layer, on the memory store (with and
//! without encryption at rest) and on the three cookie codecs: shown once,
//! in order, several per request, typed; the session they alone kept ends
//! when they are taken; the cookie's size limit counts them; and two tabs
//! racing to take them: with serialized requests exactly one shows them.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use session_core::{
    EncryptedCookie, Error, Flash, Flashes, Key, Keys, Level, Session, SessionConfig, SessionLayer,
    SignedCookie, StarletteCookie,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn key() -> Key {
    Key::from_bytes(&[7; 32]).unwrap()
}

fn config() -> SessionConfig {
    SessionConfig::new().with_secure(false)
}

/// Every kind of storage the layer has, by name.
fn layers() -> Vec<(&'static str, SessionLayer)> {
    let keys = Keys::from(key());
    vec![
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(),
            )
            .with_config(config()),
        ),
        (
            "memory, encrypted at rest",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(),
            )
            .with_data_keys(Key::from_bytes(&[8; 32]).unwrap())
            .with_config(config()),
        ),
        (
            "signed cookie",
            SessionLayer::client_side(SignedCookie::new(&keys)).with_config(config()),
        ),
        (
            "encrypted cookie",
            SessionLayer::client_side(EncryptedCookie::new(&keys)).with_config(config()),
        ),
        (
            "starlette cookie",
            SessionLayer::client_side(StarletteCookie::new("a starlette secret"))
                .with_config(config()),
        ),
    ]
}

#[derive(Deserialize)]
struct Texts {
    /// Comma-separated texts to flash, each as a `success`.
    add: Option<String>,
    /// Sleep this many milliseconds after taking (widens a race).
    wait: Option<u64>,
}

/// `/add?add=a,b`: flashes `a` then `b`; `/take`: the pending messages
/// (`/take?wait=20` holds the request a little after taking them);
/// `/peek`: the pending messages, left pending.
fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    Router::new()
        .route(
            "/add",
            get(|flashes: Flashes, Query(q): Query<Texts>| async move {
                for text in q.add.unwrap_or_default().split(',') {
                    flashes.success(text).await?;
                }
                Ok::<_, Error>("added")
            }),
        )
        .route(
            "/take",
            get(|session: Session, Query(q): Query<Texts>| async move {
                let taken: Vec<Flash> = session.take_flashes().await?;
                if let Some(ms) = q.wait {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                Ok::<_, Error>(Json(json!(taken)))
            }),
        )
        .route(
            "/peek",
            get(|session: Session| async move {
                Ok::<_, Error>(Json(json!(session.peek_flashes::<Level>().await?)))
            }),
        )
        .layer(layer)
}

/// A browser of one: sends its cookie, keeps what the responses set.
struct Client {
    app: Router,
    cookie: Option<String>,
}

impl Client {
    fn new(app: Router) -> Self {
        Client { app, cookie: None }
    }

    fn request(&self, path: &str) -> Request<Body> {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.body(Body::empty()).unwrap()
    }

    /// Keeps the cookie `response` sets (or drops it when removed).
    fn keep(&mut self, response: &Response<Body>) {
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            self.cookie =
                (!set.contains("Max-Age=0")).then(|| set.split(';').next().unwrap().to_owned());
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(self.request(path)).await.unwrap();
        self.keep(&response);
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, value)
    }
}

#[tokio::test]
async fn flashes_are_shown_once_in_order_on_every_storage() {
    for (name, layer) in layers() {
        let mut client = Client::new(app(layer));
        assert_eq!(client.get("/add?add=first,second").await.0, StatusCode::OK);
        assert!(client.cookie.is_some(), "{name}: a flash starts a session");
        assert_eq!(client.get("/add?add=third").await.0, StatusCode::OK);
        let (_, peeked) = client.get("/peek").await;
        assert_eq!(peeked.as_array().map(Vec::len), Some(3), "{name}: {peeked}");
        let (status, taken) = client.get("/take").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(
            taken,
            json!([
                { "level": "success", "text": "first" },
                { "level": "success", "text": "second" },
                { "level": "success", "text": "third" },
            ]),
            "{name}"
        );
        assert!(
            client.cookie.is_none(),
            "{name}: a session that held only flashes ends when they are taken"
        );
        assert_eq!(client.get("/take").await.1, json!([]), "{name}: shown once");
    }
}

#[tokio::test]
async fn flashes_keep_a_session_that_holds_more() {
    for (name, layer) in layers() {
        let app = Router::new()
            .route(
                "/login",
                get(|session: Session| async move {
                    session.insert("user", "ferris").await?;
                    session.flash(Level::Info, "Welcome").await?;
                    Ok::<_, Error>("in")
                }),
            )
            .route(
                "/page",
                get(|session: Session| async move {
                    let flashes: Vec<Flash> = session.take_flashes().await?;
                    let user: Option<String> = session.get("user").await?;
                    Ok::<_, Error>(Json(json!({ "user": user, "flashes": flashes })))
                }),
            )
            .layer(layer);
        let mut client = Client::new(app);
        client.get("/login").await;
        let (_, page) = client.get("/page").await;
        assert_eq!(
            page,
            json!({ "user": "ferris", "flashes": [{ "level": "info", "text": "Welcome" }] }),
            "{name}"
        );
        let (_, page) = client.get("/page").await;
        assert_eq!(page, json!({ "user": "ferris", "flashes": [] }), "{name}");
    }
}

/// An application's own level type.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Mood {
    Cheerful,
    Grumpy,
}

#[tokio::test]
async fn an_application_level_type_round_trips_and_a_mismatch_loses_nothing() {
    for (name, layer) in layers() {
        let app = Router::new()
            .route(
                "/add",
                get(|session: Session| async move {
                    session.flash(Mood::Grumpy, "Out of coffee").await?;
                    session.flash(Mood::Cheerful, "Coffee delivered").await?;
                    Ok::<_, Error>("added")
                }),
            )
            .route(
                "/as-levels",
                get(|session: Session| async move {
                    match session.take_flashes::<Level>().await {
                        Err(Error::Json(_)) => "refused",
                        Err(_) => "another error",
                        Ok(_) => "taken",
                    }
                }),
            )
            .route(
                "/as-moods",
                get(|session: Session| async move {
                    let taken: Vec<Flash<Mood>> = session.take_flashes().await?;
                    Ok::<_, Error>(Json(json!(taken)))
                }),
            )
            .layer(layer);
        let mut client = Client::new(app);
        client.get("/add").await;
        let response = client
            .app
            .clone()
            .oneshot(client.request("/as-levels"))
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"refused", "{name}");
        let (_, taken) = client.get("/as-moods").await;
        assert_eq!(
            taken,
            json!([
                { "level": "Grumpy", "text": "Out of coffee" },
                { "level": "Cheerful", "text": "Coffee delivered" },
            ]),
            "{name}: a failed take leaves every message pending"
        );
    }
}

#[tokio::test]
async fn the_flash_key_is_the_librarys() {
    for (name, layer) in layers() {
        let app = Router::new()
            .route(
                "/",
                get(|session: Session| async move {
                    let refused = session.insert("@flash", json!("not a list")).await;
                    assert!(matches!(refused, Err(Error::ReservedKey { .. })));
                    session.insert("user", "ferris").await?;
                    session.flash(Level::Info, "hello").await?;
                    let keys = session.keys().await?;
                    Ok::<_, Error>(Json(json!(keys)))
                }),
            )
            .layer(layer);
        let (status, keys) = Client::new(app).get("/").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(keys, json!(["user"]), "{name}: keys() lists the app's keys");
    }
}

#[tokio::test]
async fn flashes_count_towards_the_cookie_size_limit() {
    let keys = Keys::from(key());
    for (name, layer) in [
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&keys)),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&keys)),
        ),
    ] {
        let long = "x".repeat(100);
        let texts = vec![long.as_str(); 50].join(",");
        let app = app(layer.with_config(config()));
        let response = app
            .oneshot(
                Request::get(format!("/add?add={texts}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{name}: 5 KB of flashes make a cookie browsers drop"
        );
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{name}: no oversized cookie is sent"
        );
    }
}

/// Two tabs of one session take the flashes at the same time, `rounds`
/// times; how many rounds showed the message in both.
async fn racing_tabs(serialized: bool, rounds: usize) -> usize {
    let store = MemoryStore::new();
    let layer =
        SessionLayer::new(store, key()).with_config(config().with_serialized_requests(serialized));
    let mut client = Client::new(app(layer));
    let mut both = 0;
    for round in 0..rounds {
        client.get("/add?add=Saved").await;
        let cookie = client.cookie.clone().expect("a session");
        let tab = |cookie: String, app: Router| async move {
            let request = Request::get("/take?wait=5")
                .header("cookie", cookie)
                .body(Body::empty())
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let taken: Value = serde_json::from_slice(&body).unwrap();
            taken.as_array().unwrap().len()
        };
        let (a, b) = tokio::join!(
            tab(cookie.clone(), client.app.clone()),
            tab(cookie, client.app.clone())
        );
        assert!(a + b >= 1, "round {round}: the message was lost");
        if serialized {
            assert_eq!(a + b, 1, "round {round}: shown by {a} + {b} responses");
        }
        both += usize::from(a + b == 2);
        // Whatever is left (nothing), and the session, for the next round.
        client.cookie = None;
    }
    both
}

#[tokio::test]
async fn with_serialized_requests_one_tab_shows_a_flash() {
    assert_eq!(racing_tabs(true, 100).await, 0);
}

/// The control: without serialization the race is real (this is why the
/// docs point to serialized requests).
#[tokio::test]
async fn without_serialization_two_tabs_can_both_show_it() {
    assert!(racing_tabs(false, 20).await > 0);
}
