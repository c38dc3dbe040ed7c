//! The tutorial's cookie settings, on the visit counter in plain hyper 1, sessions in memory:
//! `axum-settings`'s routes, answers and cookie, with the session layer around a `service_fn`.
//! A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "service"] }
//! http-body-util = "0.1"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin hyper-settings
//! curl -i localhost:8000/
//! # set-cookie: session_id=…; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=1800
//! ```
//!
//! Browsers treat `http://localhost` and `http://127.0.0.1` as secure: the `Secure` cookie
//! works there, and is dropped on any other plain-http host. In production, behind HTTPS,
//! `with_host_prefix(true)` goes one step further: the cookie is named `__Host-session_id`, is
//! `Secure` with `Path=/` and no `Domain`, and browsers take it only from this exact host (a
//! sibling subdomain cannot plant one: "cookie tossing").
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde_json::{json, Value};
use session_core::{Error, Key, SameSite, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer put the session there (a service outside the layer finds none).
    let (status, answer) = match (request.extensions().get::<Session>(), request.uri().path()) {
        (Some(session), "/") => (StatusCode::OK, count(session).await),
        (Some(session), "/logout/") => (StatusCode::OK, logout(session).await),
        (None, _) => (StatusCode::OK, Err(Error::MissingLayer)),
        _ => (StatusCode::NOT_FOUND, Ok(json!({ "detail": "Not Found" }))),
    };
    // A session error is a 503 when the store cannot be reached, a 500 otherwise.
    let (status, body) = match answer {
        Ok(body) => (status, body),
        Err(err) => (err.status(), json!({ "error": err.public_message() })),
    };
    let response = Response::builder().header("content-type", "application/json");
    let response = response.status(status).body(Full::from(body.to_string()));
    Ok(response.expect("a valid response"))
}

async fn count(session: &Session) -> Result<Value, Error> {
    let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
    session.insert("user_count", user_count + 1).await?;
    Ok(json!({ "user_count": user_count }))
}

async fn logout(session: &Session) -> Result<Value, Error> {
    session.remove_value("user_count").await?; // emptied: deleted, its cookie removed
    Ok(json!({ "message": "Logged out" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::new()
        // The cookie's name (Starlette's `session_cookie`); default `session`.
        .with_cookie_name("session_id")
        // How long the session lives, and the cookie's `Max-Age` (Starlette's `max_age`);
        // default 14 days. `None` makes a cookie the browser forgets when it closes.
        .with_max_age(Some(Duration::from_secs(1800)))
        // `Strict`: the browser sends the cookie only on requests from this site, not even when
        // a link on another site leads here. Default `Lax`: also on such top-level navigations.
        .with_same_site(SameSite::Strict)
        // `Secure`: the cookie travels over HTTPS only (Starlette's `https_only`). Default on.
        .with_secure(true)
        // `HttpOnly` (the default): page scripts cannot read the cookie.
        .with_http_only(true)
        // A session's requests take turns: two visits at once cannot both count from N.
        .with_serialized_requests(true);
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(handle);
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}
