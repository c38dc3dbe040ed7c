//! The tutorial's cookie settings on the visit counter, in plain hyper: the
//! cookie is named `session_id`, expires after 1800 seconds, is sent on
//! same-site requests only (`SameSite=Strict`) and over HTTPS only
//! (`Secure`). `GET /` answers `{"user_count": N}` and counts the visit;
//! `GET /logout/` forgets the count.
//!
//! Browsers treat `http://localhost` and `http://127.0.0.1` as secure, so the
//! `Secure` cookie works there; any other plain-http host drops it.
//!
//! ```text
//! cargo run -p examples --bin hyper-settings
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
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "server", "http1", "service"] }
//! http-body-util = "0.1"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "signal", "time"] }
//! tracing = "0.1"
//! tracing-subscriber = { version = "0.3", features = ["env-filter"] }
//! ```
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use session_core::{
    Error, Key, Keys, SameSite, Session, SessionConfig, SessionLayer, SignedCookie,
};
use session_store_memory::MemoryStore;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// `GET /`: the count before this visit; then this visit is counted.
async fn count(session: &Session) -> Result<Value, Error> {
    let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
    session.insert("user_count", user_count + 1).await?;
    Ok(json!({ "user_count": user_count }))
}

/// `GET /logout/`: forgets the count. An emptied session is deleted and
/// its cookie removed.
async fn logout(session: &Session) -> Result<Value, Error> {
    session.remove_value("user_count").await?;
    Ok(json!({ "message": "Logged out" }))
}

/// Every request: routes it, and turns a session error into its status
/// code (`503` when the store is unreachable, `500` otherwise).
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The session layer put the request's session there.
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        let err = Error::MissingLayer;
        tracing::error!(error = %err);
        let body = json!({ "error": err.to_string() });
        return Ok(json_response(StatusCode::INTERNAL_SERVER_ERROR, &body));
    };
    if request.method() != Method::GET {
        let body = json!({ "detail": "Method Not Allowed" });
        return Ok(json_response(StatusCode::METHOD_NOT_ALLOWED, &body));
    }
    let answer = match request.uri().path() {
        "/" => count(&session).await,
        "/logout/" => logout(&session).await,
        _ => {
            let body = json!({ "detail": "Not Found" });
            return Ok(json_response(StatusCode::NOT_FOUND, &body));
        }
    };
    Ok(match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => {
            tracing::error!(error = %err, "session error");
            json_response(err.status(), &json!({ "error": err.public_message() }))
        }
    })
}

/// A JSON response.
fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(CONTENT_TYPE, json);
    response
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
    let service = ServiceBuilder::new()
        .layer(layer.with_config(config))
        .service_fn(handle);

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
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, say: wait a little, go on.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return ExitCode::SUCCESS,
        };
        // One task per connection, serving HTTP/1.1 with the tower service.
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
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
