//! The tutorial's login in plain hyper 1 with its sessions in an SQL table, so that they outlive
//! a restart of the app (and, on PostgreSQL or MySQL/MariaDB, are shared by every instance):
//! `axum-db`'s routes and answers, the session layer around a `service_fn`. The cookie holds only
//! a signed id. A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres", "mysql"] }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "service"] }
//! http-body-util = "0.1"
//! percent-encoding = "2"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! `DATABASE_URL` names the database: `sqlite://sessions.db` by default (a file, created if
//! missing), `postgres://user:pass@host/db`, `mysql://user:pass@host/db`. Every instance needs
//! the same key, as hex in `SESSION_SECRET`:
//!
//! ```text
//! export SESSION_SECRET=$(cargo run -q -p examples --bin keygen)
//! cargo run -p examples --bin hyper-db &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! kill %1; cargo run -p examples --bin hyper-db &
//! curl -b jar localhost:8000/get/                 # {"session_info":{"user_id":"hong",…}}
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_sql::SqlStore;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer put the session there (a service outside the layer finds none).
    let answer = match request.extensions().get::<Session>() {
        Some(session) => route(session, request.uri().path()).await,
        None => Err(Error::MissingLayer),
    };
    // No route: a 404. A session error: a 503 when the database cannot be reached, else a 500.
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
            session.destroy(); // the row is deleted, and the cookie removed
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
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://sessions.db".into());
    // An error never shows the URL, which may hold a password.
    let store = (SqlStore::connect(&url).await)
        .map_err(|e| format!("DATABASE_URL names a database that cannot be used: {e}"))?;
    // Creates the `sessions` table if it is not there yet.
    store.migrate().await?;
    // Deletes expired rows every ten minutes, as long as the app runs (dropping the handle
    // leaves the task running; `abort()` on it would stop it).
    drop(store.spawn_cleanup(Duration::from_secs(10 * 60)));
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
