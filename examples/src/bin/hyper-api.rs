//! Sessions for an API in plain hyper: the token travels in `Authorization: Bearer …`, never
//! in a cookie. The routes and answers of `axum-api`. A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! session-store-redis = { version = "0.1" }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres"] }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "server", "http1", "service"] }
//! http-body-util = "0.1"
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! tower = { version = "0.5", features = ["util"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin hyper-api    # SESSION_STORE=memory, sqlite://…, postgres://…, redis://…
//! curl -X POST localhost:8000/login -d '{"username": "hong"}'
//! curl localhost:8000/me -H "Authorization: Bearer $TOKEN"   # the profile; 401 without a token
//! curl -X POST localhost:8000/logout -H "Authorization: Bearer $TOKEN"   # the token is dead
//! ```
#![forbid(unsafe_code)]

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Method, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde_json::{json, Value};
use session_core::{
    store::AnyStore, Error, Key, Keys, Session, SessionConfig, SessionLayer, TokenHeader, Transport,
};
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;
use std::convert::Infallible;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer put the session there (a service outside the layer finds none).
    let (status, body) = match request.extensions().get::<Session>().cloned() {
        Some(session) => route(&session, request).await.unwrap_or_else(|err| {
            (err.status(), json!({ "error": err.public_message() })) // 503: store unreachable
        }),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": "no session layer" }),
        ),
    };
    let response = Response::builder().header("content-type", "application/json");
    let response = response.status(status).body(Full::from(body.to_string()));
    Ok(response.expect("a valid response"))
}

async fn route(
    session: &Session,
    request: Request<Incoming>,
) -> Result<(StatusCode, Value), Error> {
    Ok(match (request.method(), request.uri().path()) {
        (&Method::POST, "/login") => {
            // At most 4 KB of JSON: `{"username": "…"}`.
            let body = Limited::new(request.into_body(), 4096).collect().await;
            let login: Option<Value> = body
                .ok()
                .and_then(|b| serde_json::from_slice(&b.to_bytes()).ok());
            let Some(username) = login.as_ref().and_then(|l| l["username"].as_str()) else {
                return Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "detail": "username" }),
                ));
            };
            let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
            session.insert("profile", profile).await?;
            session.set_user(username).await?; // the store can list and end the user's sessions
            session.cycle_id().await?; // a fresh id at login
                                       // The token the client sends from now on (also sent in `Session-Token`).
            (StatusCode::OK, json!({ "token": session.token().await? }))
        }
        (&Method::GET, "/me") => match session.get_value("profile").await? {
            Some(profile) => (StatusCode::OK, profile),
            None => (
                StatusCode::UNAUTHORIZED,
                json!({ "detail": "Not authenticated" }),
            ),
        },
        (&Method::POST, "/logout") => {
            session.destroy(); // the store forgets it; the response carries an empty `Session-Token`
            (StatusCode::OK, json!({ "message": "Logged out" }))
        }
        _ => (StatusCode::NOT_FOUND, json!({ "detail": "Not Found" })),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Comma-separated hex keys rotate (the first signs, all verify); a random key without it.
    let keys = match std::env::var("SESSION_SECRET") {
        Ok(_) => Keys::from_env("SESSION_SECRET")?,
        Err(_) => Keys::from(Key::generate()),
    };
    let config = SessionConfig::new().with_transport(Transport::Header(TokenHeader::bearer()));
    let url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
    // An error never shows the URL, which may hold a password.
    let unusable = |e: &dyn std::fmt::Display| format!("SESSION_STORE cannot be used: {e}");
    // The store is chosen at run time: `AnyStore` holds any of them.
    let store = if url == "memory" {
        AnyStore::new(MemoryStore::new())
    } else if url.starts_with("redis") {
        AnyStore::new(RedisStore::connect(&url).await.map_err(|e| unusable(&e))?)
    } else {
        let store = SqlStore::connect(&url).await.map_err(|e| unusable(&e))?;
        store.migrate().await?; // creates the `sessions` table if needed
        AnyStore::new(store)
    };
    let layer = SessionLayer::new(store, keys);
    let layer = layer.with_config(config);
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
