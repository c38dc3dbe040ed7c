//! The tutorial's session that is too big for a cookie, in axum:
//! `GET /login/{username}/` stores a million integers in the session.
//! With a server-side store (`memory`, the default) that just works and the
//! cookie stays a small signed id. With a cookie store the session cannot
//! fit in the 4096 bytes a browser keeps, and the handler finds out with
//! `Session::check_size`: it answers `500` with the reason instead of
//! sending a cookie the browser would silently drop. `GET /get/` tells who
//! is logged in and how many entries the session holds; `GET /logout/`
//! ends the session.
//!
//! ```text
//! cargo run -p examples --bin axum-big
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in","entries":1000000}
//! curl -c jar -b jar localhost:8000/get/          # {"user_id":"hong","entries":1000000}
//! SESSION_STORE=cookie cargo run -p examples --bin axum-big
//! curl -i localhost:8000/login/hong/   # 500: … over the 4096-byte limit browsers keep …
//! ```
//!
//! `SESSION_STORE` is `memory` (default), `cookie`, `cookie-encrypted` or
//! `starlette` (see `session_layer`). `PORT` (default 8000, on 127.0.0.1);
//! `SESSION_SECRET`, the key as hex (`openssl rand -hex 32`; comma-separated
//! keys rotate; for `starlette`, the secret text as the FastAPI app has it),
//! a random key with a warning when unset.
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

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use session_core::{
    EncryptedCookie, Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie,
    StarletteCookie,
};
use session_store_memory::MemoryStore;
use tokio::net::TcpListener;

/// How many entries `/login/{username}/` stores.
const ENTRIES: usize = 1_000_000;

/// `GET /login/{username}/`: stores the user and a map of [`ENTRIES`]
/// integers, far too big for a cookie. A cookie store would make a cookie
/// browsers drop: `check_size` says so before anything is sent.
async fn login(session: Session, Path(username): Path<String>) -> Result<Json<Value>, Error> {
    let big: Map<String, Value> = (0..ENTRIES).map(|i| (i.to_string(), i.into())).collect();
    session.insert("user_id", username).await?;
    session.insert_value("big", Value::Object(big)).await?;
    if let Err(too_large) = session.check_size().await {
        // Take the login out again, and answer with the reason (a 500).
        session.remove_value("big").await?;
        session.remove_value("user_id").await?;
        return Err(too_large);
    }
    session.cycle_id().await?;
    Ok(Json(json!({ "message": "Logged in", "entries": ENTRIES })))
}

/// `GET /get/`: who is logged in and how many entries the session holds,
/// or "Login first".
async fn profile(session: Session) -> Result<Json<Value>, Error> {
    let Some(user_id) = session.get::<String>("user_id").await? else {
        return Ok(Json(json!({ "message": "Login first" })));
    };
    let big = session.get_value("big").await?;
    let entries = big.as_ref().and_then(Value::as_object).map_or(0, Map::len);
    Ok(Json(json!({ "user_id": user_id, "entries": entries })))
}

/// `GET /logout/`: ends the session: its data is deleted and the cookie
/// removed.
async fn logout(session: Session) -> Result<Json<Value>, Error> {
    session.clear().await?;
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
    // Plain http (this app's default) needs `Secure` off: browsers drop
    // `Secure` cookies there (except on localhost). In production, behind
    // HTTPS, run with SESSION_HTTPS=1: the cookie becomes `__Host-session`
    // (`Secure`, `Path=/`, no `Domain`), which browsers accept only from
    // this exact host, so a sibling subdomain cannot plant a session cookie
    // for it ("cookie tossing").
    let config = if std::env::var("SESSION_HTTPS").is_ok_and(|v| v == "1") {
        SessionConfig::new().with_host_prefix(true)
    } else {
        SessionConfig::new().with_secure(false)
    };

    let app = Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
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

/// The session layer for `store`: the server-side store, or one of the
/// cookie stores that cannot hold this session.
fn session_layer(store: &str) -> Result<SessionLayer, String> {
    match store {
        // The session lives in this process; the cookie holds a signed id.
        "memory" => Ok(SessionLayer::new(MemoryStore::new(), keys()?)),
        // The session would live in the cookie: 4096 bytes at most.
        "cookie" => Ok(SessionLayer::client_side(SignedCookie::new(&keys()?))),
        "cookie-encrypted" => Ok(SessionLayer::client_side(EncryptedCookie::new(&keys()?))),
        "starlette" => Ok(SessionLayer::client_side(starlette_cookie())),
        other => {
            // A URL is cut to its scheme: the rest may hold a password.
            let shown = match other.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://…"),
                None => other.to_owned(),
            };
            Err(format!(
                "unknown SESSION_STORE {shown:?}; valid values: memory, cookie, \
                 cookie-encrypted, starlette"
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

/// Starlette's cookie format, signed with `SESSION_SECRET` taken as the
/// secret text exactly as the FastAPI app has it (not hex). Starlette takes
/// short secrets, so this does too, with a warning.
fn starlette_cookie() -> StarletteCookie {
    let secret = match std::env::var("SESSION_SECRET") {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            tracing::warn!(
                "SESSION_SECRET is not set: using a random secret, so sessions will not \
                 survive a restart nor be shared with a Starlette app"
            );
            Key::generate().to_hex()
        }
    };
    let codec = StarletteCookie::new(&secret);
    if codec.is_weak_secret() {
        tracing::warn!(
            min = StarletteCookie::MIN_SECRET_LEN,
            "SESSION_SECRET is short: a short secret can be guessed offline from one cookie"
        );
    }
    codec
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
