//! The visit counter of the FastAPI session tutorial, in plain hyper:
//! `GET /` answers `{"user_count": N}`, the number of earlier visits of this
//! session, and counts this one; `GET /logout/` forgets the count.
//!
//! The session layer is a tower layer: `tower::ServiceBuilder` wraps the
//! handler (a `service_fn`) in it, `TowerToHyperService` hands the result to
//! hyper, and the handler takes the `Session` from the request extensions.
//!
//! ```text
//! cargo run -p examples --bin hyper-counter
//! curl -c jar -b jar localhost:8000/          # {"user_count":0}
//! curl -c jar -b jar localhost:8000/          # {"user_count":1}
//! curl -c jar -b jar localhost:8000/logout/   # {"message":"Logged out"}
//! curl -c jar -b jar localhost:8000/          # {"user_count":0}
//! ```
//!
//! `SESSION_STORE` picks where sessions live; `session_layer` below shows
//! how each store is built:
//!
//! | `SESSION_STORE` | where the count lives |
//! |---|---|
//! | `memory` (default) | this process |
//! | `cookie`, `cookie-encrypted` | the cookie, signed (HMAC-SHA256) or encrypted (AES-256-GCM) |
//! | `starlette` | the cookie, in Starlette's format: a FastAPI app with the same secret shares it |
//! | `sqlite://sessions.db`, `sqlite::memory:`, `postgres://…`, `mysql://…`, `mariadb://…` | an SQL table |
//! | `redis://…`, `rediss://…`, `redis+cluster://host:port,host:port` | Redis or a Redis Cluster |
//!
//! ```text
//! SESSION_STORE=sqlite://sessions.db cargo run -p examples --bin hyper-counter
//! ```
//!
//! The other settings: `PORT` (default 8000, on 127.0.0.1);
//! `SESSION_SECRET`, the key as hex (`openssl rand -hex 32`; comma-separated
//! keys rotate: the first signs, all verify; for `starlette`, the secret text
//! exactly as the FastAPI app has it), a random key with a warning when
//! unset; `SESSION_HTTPS=1` behind HTTPS in production (the `__Host-`
//! cookie, see `main`); `SESSION_SERIALIZE=0` lets the requests of one session run at the
//! same time (by default they take turns: see `main`; with Redis the turns
//! hold across every instance sharing it); `SESSION_CACHE=1` (Redis, one
//! node or a Cluster) keeps a local cache of sessions that Redis keeps coherent,
//! so a request that only reads its session costs no round trip
//! (`SESSION_CACHE=fenced`: every cached read first checks with Redis).
//!
//! To make this file the `src/main.rs` of a crate of your own:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! session-store-redis = { version = "0.1" }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres", "mysql"] }
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
use std::error::Error as StdError;
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
    EncryptedCookie, Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie,
    StarletteCookie,
};
use session_store_memory::MemoryStore;
use session_store_redis::{CacheMode, RedisStore};
use session_store_sql::SqlStore;
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
    let layer = match session_layer(&store).await {
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
    let https = std::env::var("SESSION_HTTPS").is_ok_and(|v| v == "1");
    let config = SessionConfig::new()
        .with_secure(https)
        .with_host_prefix(https)
        // A visit reads the count and writes it back plus one: two visits of
        // one session at the same time would both read N and count once. So
        // the requests of one session take turns, unless SESSION_SERIALIZE=0;
        // with Redis the turn is a lease in Redis, which holds across every
        // instance of the app sharing that Redis.
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

/// What `SESSION_STORE` may be (`…`: the rest of a URL).
const STORES: &str = "memory, cookie, cookie-encrypted, starlette, sqlite://sessions.db, \
                      sqlite::memory:, postgres://…, mysql://…, mariadb://…, redis://…, \
                      rediss://…, redis+cluster://host:port,host:port";

/// The session layer for `store`. Error messages leave the URL out: it may
/// hold a password.
async fn session_layer(store: &str) -> Result<SessionLayer, Box<dyn StdError>> {
    if cache_mode()?.is_some() && !store.starts_with("redis") {
        return Err("SESSION_CACHE works with a Redis store (SESSION_STORE=redis://… or redis+cluster://…) only".into());
    }
    let layer = match store {
        // Server-side stores keep the data; the cookie holds a signed id.
        "memory" => SessionLayer::new(MemoryStore::new(), keys()?),
        // Client-side: the data is in the cookie itself (4 KB at most).
        "cookie" => SessionLayer::client_side(SignedCookie::new(&keys()?)),
        "cookie-encrypted" => SessionLayer::client_side(EncryptedCookie::new(&keys()?)),
        "starlette" => SessionLayer::client_side(starlette_cookie()),
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let redis = RedisStore::connect(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            let redis = local_cache(redis).await?;
            SessionLayer::new(redis, keys()?)
        }
        url if url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") => {
            let redis = RedisStore::connect_spec(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            let redis = local_cache(redis).await?;
            SessionLayer::new(redis, keys()?)
        }
        url if [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ]
        .iter()
        .any(|scheme| url.starts_with(scheme)) =>
        {
            let sql = SqlStore::connect(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a database that cannot be used: {e}"))?;
            // Creates the `sessions` table if it is not there yet.
            sql.migrate()
                .await
                .map_err(|e| format!("creating the sessions table failed: {e}"))?;
            // Deletes expired rows every ten minutes, as long as the app
            // runs (dropping the handle does not stop the task).
            drop(sql.spawn_cleanup(Duration::from_secs(10 * 60)));
            SessionLayer::new(sql, keys()?)
        }
        other => {
            let shown = match other.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://…"),
                None => other.to_owned(),
            };
            return Err(format!("unknown SESSION_STORE {shown:?}; valid values: {STORES}").into());
        }
    };
    Ok(layer)
}

/// What `SESSION_CACHE` asks for: unset or `0`, no cache; `1`, a local
/// cache of sessions that serves reads with no round trip to Redis, kept
/// coherent by Redis (`CLIENT TRACKING`): a write on another instance
/// reaches it a moment later (a read right after it may still see the
/// write before); `fenced`, the same cache, but every read first checks
/// with Redis (one `PING`) that no write came meanwhile.
fn cache_mode() -> Result<Option<CacheMode>, String> {
    match std::env::var("SESSION_CACHE").as_deref() {
        Err(_) | Ok("0") => Ok(None),
        Ok("1") => Ok(Some(CacheMode::Pushed)),
        Ok("fenced") => Ok(Some(CacheMode::Fenced)),
        Ok(other) => Err(format!(
            "SESSION_CACHE must be 0, 1 or fenced, not {other:?}"
        )),
    }
}

/// `redis` with the local cache `SESSION_CACHE` asks for (10,000 sessions
/// at most).
async fn local_cache(redis: RedisStore) -> Result<RedisStore, String> {
    let Some(mode) = cache_mode()? else {
        return Ok(redis);
    };
    redis
        .with_local_cache_mode(10_000, mode)
        .await
        .map_err(|e| format!("SESSION_CACHE: the local cache cannot be set up: {e}"))
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
