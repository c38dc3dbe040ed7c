//! The tutorial's session that is too big for a cookie, in plain hyper:
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
//! cargo run -p examples --bin hyper-big
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in","entries":1000000}
//! curl -c jar -b jar localhost:8000/get/          # {"user_id":"hong","entries":1000000}
//! SESSION_STORE=cookie cargo run -p examples --bin hyper-big
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
use serde_json::{json, Map, Value};
use session_core::{
    EncryptedCookie, Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie,
    StarletteCookie,
};
use session_store_memory::MemoryStore;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// How many entries `/login/{username}/` stores.
const ENTRIES: usize = 1_000_000;

/// `GET /login/{username}/`: stores the user and a map of [`ENTRIES`]
/// integers, far too big for a cookie. A cookie store would make a cookie
/// browsers drop: `check_size` says so before anything is sent.
async fn login(session: &Session, username: &str) -> Result<Value, Error> {
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
    Ok(json!({ "message": "Logged in", "entries": ENTRIES }))
}

/// `GET /get/`: who is logged in and how many entries the session holds,
/// or "Login first".
async fn profile(session: &Session) -> Result<Value, Error> {
    let Some(user_id) = session.get::<String>("user_id").await? else {
        return Ok(json!({ "message": "Login first" }));
    };
    let big = session.get_value("big").await?;
    let entries = big.as_ref().and_then(Value::as_object).map_or(0, Map::len);
    Ok(json!({ "user_id": user_id, "entries": entries }))
}

/// `GET /logout/`: ends the session: its data is deleted and the cookie
/// removed.
async fn logout(session: &Session) -> Result<Value, Error> {
    session.clear().await?;
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
        "/get/" => profile(&session).await,
        "/logout/" => logout(&session).await,
        path => match login_user(path) {
            Some(username) => login(&session, &username).await,
            None => {
                let body = json!({ "detail": "Not Found" });
                return Ok(json_response(StatusCode::NOT_FOUND, &body));
            }
        },
    };
    Ok(match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => {
            tracing::error!(error = %err, "session error");
            json_response(err.status(), &json!({ "error": err.public_message() }))
        }
    })
}

/// The `{username}` of `/login/{username}/`, with `%XX` escapes decoded
/// (`h%C3%B6ng` is `höng`) as axum's `Path` decodes them.
fn login_user(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/login/")?.strip_suffix('/')?;
    if encoded.contains('/') {
        return None;
    }
    let hex = |digit: u8| (digit as char).to_digit(16).unwrap_or(0) as u8;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let [first, tail @ ..] = rest {
        match (*first, tail) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                bytes.push(hex(*high) * 16 + hex(*low));
                rest = after;
            }
            _ => {
                bytes.push(*first);
                rest = tail;
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
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
