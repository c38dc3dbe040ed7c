//! The tutorial's visit counter in plain hyper 1, sessions in memory: the session layer wraps
//! the `service_fn`, which finds each request's `Session` in its extensions. A `src/main.rs` with:
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
//! cargo run -p examples --bin hyper-counter
//! curl -c jar -b jar localhost:8000/          # {"user_count":0}, then 1, 2…
//! curl -c jar -b jar localhost:8000/logout/   # {"message":"Logged out"}
//! ```
#![forbid(unsafe_code)]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use std::convert::Infallible;

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
    let body = Full::from(body.to_string());
    Ok(response
        .status(status)
        .body(body)
        .expect("a valid response"))
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
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let config = SessionConfig::new()
        .with_secure(false) // plain http, for development: no `Secure` cookie
        .with_serialized_requests(true); // a session's requests take turns: no visit is lost
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
