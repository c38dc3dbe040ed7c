//! The tutorial's login in plain hyper 1 with its sessions in Redis, so that every instance of
//! the app shares them and they outlive a restart of the app: `axum-redis`'s routes and answers,
//! the session layer around a `service_fn`. The cookie holds only a signed id. A whole
//! `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-redis = { version = "0.1" }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "service"] }
//! http-body-util = "0.1"
//! percent-encoding = "2"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! `REDIS_URL` names the Redis: `redis://127.0.0.1:6379` by default (`rediss://` for TLS; a
//! Redis Cluster takes `RedisStore::connect_spec`). Every instance needs the same key, as hex
//! in `SESSION_SECRET`:
//!
//! ```text
//! export SESSION_SECRET=$(cargo run -q -p examples --bin keygen)
//! PORT=8000 cargo run -p examples --bin hyper-redis &
//! PORT=8001 cargo run -p examples --bin hyper-redis &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! curl -b jar localhost:8001/get/                 # the other instance: {"session_info":…}
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::RedisStore;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer put the session there (a service outside the layer finds none).
    let answer = match request.extensions().get::<Session>() {
        Some(session) => route(session, request.uri().path()).await,
        None => Err(Error::MissingLayer),
    };
    // No route: a 404. A session error: a 503 when Redis cannot be reached, else a 500.
    let (status, body) = match answer {
        Ok(Some(body)) => (StatusCode::OK, body),
        Ok(None) => (StatusCode::NOT_FOUND, json!({ "detail": "Not Found" })),
        Err(err) => (err.status(), json!({ "error": err.public_message() })),
    };
    let response = Response::builder().header("content-type", "application/json");
    let response = response.status(status).body(Full::from(body.to_string()));
    Ok(response.expect("a valid response"))
}

async fn route(session: &Session, path: &str) -> Result<Option<Value>, Error> {
    Ok(Some(match path {
        "/get/" => match session.get_value("username").await? {
            Some(info) => json!({ "session_info": info }),
            None => json!({ "message": "Login first" }),
        },
        "/logout/" => {
            session.destroy(); // deleted from Redis, and the cookie removed
            json!({ "message": "Logged out" })
        }
        _ => match username(path) {
            Some(username) => login(session, &username).await?,
            None => return Ok(None),
        },
    }))
}

/// The `{username}` of `/login/{username}/`, `%XX` decoded as axum's `Path` decodes it.
fn username(path: &str) -> Option<String> {
    let segment = path.strip_prefix("/login/")?.strip_suffix('/')?;
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    Some(percent_decode_str(segment).decode_utf8().ok()?.into_owned())
}

async fn login(session: &Session, username: &str) -> Result<Value, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    session.set_user(username).await?; // the store can list and end the user's sessions
    session.cycle_id().await?; // a fresh id at login: session-fixation defence
    Ok(json!({ "message": "Logged in" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stops here, before serving, when the key is missing, not hex or shorter than 32 bytes.
    let key = Key::from_env("SESSION_SECRET")?;
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // An error never shows the URL, which may hold a password. Sessions expire in Redis itself
    // (a TTL on each key): no cleanup task.
    let store = (RedisStore::connect(&url).await)
        .map_err(|e| format!("REDIS_URL names a Redis that cannot be used: {e}"))?;
    let config = SessionConfig::new().with_secure(false); // plain http, for development
    let layer = SessionLayer::new(store, key).with_config(config);
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
