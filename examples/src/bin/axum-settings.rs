//! The tutorial's cookie settings on the visit counter, in axum: the
//! cookie is named `session_id`, expires after 1800 seconds, is sent on
//! same-site requests only (`SameSite=Strict`) and over HTTPS only
//! (`Secure`). `GET /` answers `{"user_count": N}` and counts the visit;
//! `GET /logout/` forgets the count.
//!
//! Browsers treat `http://localhost` and `http://127.0.0.1` as secure, so the
//! `Secure` cookie works there; any other plain-http host drops it.
//!
//! ```text
//! cargo run -p examples --bin axum-settings
//! curl -i localhost:8000/
//! # set-cookie: session_id=…; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=1800
//! ```
//!
//! `SESSION_STORE` is `memory` (default: the count lives in this process,
//! the cookie holds a signed id) or `cookie` (the count lives in the cookie,
//! signed): the settings apply to both alike. `PORT` (default 8000, on
//! 127.0.0.1); `SESSION_SECRET`, the key as hex (`openssl rand -hex 32`;
//! comma-separated keys rotate), a random key with a warning when unset;
//! `SESSION_SERIALIZE=0` lets the requests of one session run at the same
//! time (by default they take turns: see `main`).
//!
//! To make this file the `src/main.rs` of a crate of your own:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! axum = "0.8"
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "signal"] }
//! tracing = "0.1"
//! tracing-subscriber = { version = "0.3", features = ["env-filter"] }
//! ```
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use session_core::{
    Error, Key, Keys, SameSite, Session, SessionConfig, SessionLayer, SignedCookie,
};
use session_store_memory::MemoryStore;
use tokio::net::TcpListener;

/// `GET /`: the count before this visit; then this visit is counted.
async fn count(session: Session) -> Result<Json<Value>, Error> {
    let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
    session.insert("user_count", user_count + 1).await?;
    Ok(Json(json!({ "user_count": user_count })))
}

/// `GET /logout/`: forgets the count. An emptied session is deleted and
/// its cookie removed.
async fn logout(session: Session) -> Result<Json<Value>, Error> {
    session.remove_value("user_count").await?;
    Ok(Json(json!({ "message": "Logged out" })))
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let store = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".to_owned());
    let layer = match session_layer(&store) {
        Ok(layer) => layer,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // The tutorial's cookie settings. `Secure` stays on: browsers keep a
    // `Secure` cookie over plain http on localhost only.
    let config = SessionConfig::new()
        .with_cookie_name("session_id")
        .with_max_age(Some(Duration::from_secs(1800)))
        .with_same_site(SameSite::Strict)
        .with_secure(true)
        // A visit reads the count and writes it back plus one: two visits of
        // one session at the same time would both read N and count once. So
        // the requests of one session take turns, unless SESSION_SERIALIZE=0.
        .with_serialized_requests(std::env::var("SESSION_SERIALIZE").map_or(true, |v| v != "0"));

    let app = Router::new()
        .route("/", get(count))
        .route("/logout/", get(logout))
        .layer(layer.with_config(config));

    let port = port();
    let listener = match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on port {port}: {err}");
            return ExitCode::from(2);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The session layer for `store`: this example offers one store of each
/// kind (the counter and login examples show them all).
fn session_layer(store: &str) -> Result<SessionLayer, String> {
    match store {
        // The count lives in this process; the cookie holds a signed id.
        "memory" => Ok(SessionLayer::new(MemoryStore::new(), keys()?)),
        // The count lives in the cookie, signed.
        "cookie" => Ok(SessionLayer::client_side(SignedCookie::new(&keys()?))),
        other => {
            // A URL is cut to its scheme: the rest may hold a password.
            let shown = match other.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://…"),
                None => other.to_owned(),
            };
            Err(format!(
                "unknown SESSION_STORE {shown:?}; valid values: memory, cookie"
            ))
        }
    }
}

/// The keys from `SESSION_SECRET` (hex, comma-separated to rotate: the
/// first signs, all verify), or a random key that dies with the process.
fn keys() -> Result<Keys, String> {
    if std::env::var("SESSION_SECRET").is_ok_and(|secret| !secret.is_empty()) {
        return Keys::from_env("SESSION_SECRET").map_err(|e| format!("SESSION_SECRET: {e}"));
    }
    tracing::warn!(
        "SESSION_SECRET is not set: using a random key, so sessions will not survive a \
         restart (make a key with `openssl rand -hex 32`)"
    );
    Ok(Key::generate().into())
}

/// `PORT`, or 8000.
fn port() -> u16 {
    match std::env::var("PORT") {
        Ok(text) => text.parse().unwrap_or_else(|_| {
            tracing::warn!(%text, "PORT is not a port number; using 8000");
            8000
        }),
        Err(_) => 8000,
    }
}
