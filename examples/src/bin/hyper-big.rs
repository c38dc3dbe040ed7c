//! The tutorial's session too big for a cookie, in plain hyper 1: `axum-big`'s routes and
//! answers, one `service_fn` inside two session layers. `/login/{username}/` stores a million
//! integers: at `/`, in memory (the cookie holds only a signed id), it works; under `/cookie/`,
//! in the cookie itself, it cannot (a browser keeps 4096 bytes at most, and silently drops a
//! bigger cookie), so the handler asks `Session::check_size` first and a 500 gives the reason.
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "service"] }
//! http-body-util = "0.1"
//! percent-encoding = "2"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin hyper-big
//! curl -c jar -b jar localhost:8000/login/hong/    # {"message":"Logged in","entries":1000000}
//! curl -c jar -b jar localhost:8000/get/           # {"user_id":"hong","entries":1000000}
//! curl -i localhost:8000/cookie/login/hong/        # 500: … over the 4096-byte limit …
//! ```
#![forbid(unsafe_code)]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use session_core::store::AnyStore;
use session_core::{Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie};
use session_store_memory::MemoryStore;
use std::convert::Infallible;
use tower::{ServiceBuilder, ServiceExt};

const ENTRIES: usize = 1_000_000;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Under `/cookie/`, the same routes as at `/`, each finding the session its layer put there.
    let path = request.uri().path();
    let path = path.strip_prefix("/cookie").unwrap_or(path);
    let answer = match (request.extensions().get::<Session>(), path) {
        (Some(session), "/get/") => profile(session).await.map(Some),
        (Some(session), "/logout/") => logout(session).await.map(Some),
        (Some(session), path) => match username(path) {
            Some(username) => login(session, &username).await.map(Some),
            None => Ok(None),
        },
        (None, _) => Err(Error::MissingLayer),
    };
    // No route: a 404. A session error (too big, say): its status (500 here) and the reason.
    let (status, body) = match answer {
        Ok(Some(body)) => (StatusCode::OK, body),
        Ok(None) => (StatusCode::NOT_FOUND, json!({ "detail": "Not Found" })),
        Err(err) => (err.status(), json!({ "error": err.public_message() })),
    };
    let response = Response::builder().header("content-type", "application/json");
    let response = response.status(status).body(Full::from(body.to_string()));
    Ok(response.expect("a valid response"))
}

/// The `{username}` of `/login/{username}/`, `%XX` decoded as axum's `Path` decodes it.
fn username(path: &str) -> Option<String> {
    let segment = path.strip_prefix("/login/")?.strip_suffix('/')?;
    let segment = Some(segment).filter(|s| !s.is_empty() && !s.contains('/'))?;
    Some(percent_decode_str(segment).decode_utf8().ok()?.into_owned())
}

async fn login(session: &Session, username: &str) -> Result<Value, Error> {
    let big: Map<String, Value> = (0..ENTRIES).map(|i| (i.to_string(), i.into())).collect();
    session.insert("user_id", username).await?;
    session.insert_value("big", Value::Object(big)).await?;
    // Too big for where the session is kept? Then take the login out again and answer the
    // reason (a 500), rather than send a cookie the browser would drop.
    if let Err(too_large) = session.check_size().await {
        session.remove_value("big").await?;
        session.remove_value("user_id").await?;
        return Err(too_large);
    }
    session.cycle_id().await?;
    Ok(json!({ "message": "Logged in", "entries": ENTRIES }))
}

async fn profile(session: &Session) -> Result<Value, Error> {
    let Some(user_id) = session.get::<String>("user_id").await? else {
        return Ok(json!({ "message": "Login first" }));
    };
    let big = session.get_value("big").await?;
    let entries = big.as_ref().and_then(Value::as_object).map_or(0, Map::len);
    Ok(json!({ "user_id": user_id, "entries": entries }))
}

async fn logout(session: &Session) -> Result<Value, Error> {
    session.clear().await?; // deleted, and the cookie removed
    Ok(json!({ "message": "Logged out" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let keys = Keys::from(Key::generate());
    // Server-side: the session lives in the store, the cookie holds a signed id (`AnyStore`
    // gives it the client-side layer's type, so one service routes to both).
    let config = SessionConfig::new().with_secure(false); // plain http: no `Secure` cookie
    let server_side = SessionLayer::new(AnyStore::new(MemoryStore::new()), keys.clone());
    let server_side = server_side.with_config(config.clone());
    // Client-side: the session lives in the cookie, signed (a cookie of its own name).
    let client_side = SessionLayer::client_side(SignedCookie::new(&keys));
    let client_side = client_side.with_config(config.with_cookie_name("cookie"));
    let server_side = ServiceBuilder::new().layer(server_side).service_fn(handle);
    let client_side = ServiceBuilder::new().layer(client_side).service_fn(handle);
    // Each request goes through one layer: the client-side one under `/cookie/`.
    let app = tower::service_fn(move |request: Request<Incoming>| {
        let cookie = request.uri().path().starts_with("/cookie/");
        let inner = if cookie { &client_side } else { &server_side };
        inner.clone().oneshot(request)
    });
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}
