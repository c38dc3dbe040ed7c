//! The tutorial's last step, in plain hyper: the login app with its sessions
//! kept server-side in an SQL table, so they outlive a restart of the app
//! (and, on PostgreSQL or MySQL, are shared by any number of app
//! instances). The cookie holds only a signed id.
//!
//! `SESSION_STORE` is the database URL, `sqlite://sessions.db` by default
//! (a file in the current directory, created if missing); PostgreSQL is
//! `postgres://user:pass@host/db`, MySQL or MariaDB
//! `mysql://user:pass@host/db`. The table `sessions` is created at start if
//! absent, and expired rows are deleted every ten minutes. Give every
//! instance the same key:
//!
//! ```text
//! export SESSION_SECRET=$(openssl rand -hex 32)
//! cargo run -p examples --bin hyper-db &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! kill %1; cargo run -p examples --bin hyper-db &
//! curl -b jar localhost:8000/get/                 # still logged in
//! ```
//!
//! | route | what it does |
//! |---|---|
//! | `GET /login/{username}/` | stores a profile in the session, binds the session to `username` and gives it a fresh id |
//! | `GET /get/` | the profile, or "Login first" |
//! | `GET /logout/` | ends this session |
//! | `GET /sessions/` | the logged-in user's sessions ("your devices"): handle, whether it is this one, when it began and ends (Unix seconds) |
//! | `GET /logout/others/` | ends the user's other sessions ("log out my other devices"), this one goes on |
//! | `GET /logout/everywhere/` | ends every session of the user, this one included |
//!
//! The settings:
//!
//! | variable | meaning |
//! |---|---|
//! | `SESSION_STORE` | the database URL (default `sqlite://sessions.db`) |
//! | `PORT` | the port, on 127.0.0.1 (default 8000) |
//! | `SESSION_SECRET` | the key as hex (`openssl rand -hex 32`; comma-separated keys rotate: the first signs, all verify); a random key with a warning when unset |
//! | `SESSION_DATA_KEY` | optional: a key as hex, of its own (not `SESSION_SECRET`), that encrypts every session value in the table (AES-256-GCM), so a dump of it shows no profile; comma-separated keys rotate (the first encrypts, all decrypt). A value that is not a key stops the app at start |
//! | `SESSION_HTTPS` | `1` behind HTTPS: a `Secure`, `__Host-` cookie |
//!
//! To make this file the `src/main.rs` of a crate of your own:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
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
use session_core::{Error, Key, Keys, Session, SessionConfig, SessionLayer};
use session_store_sql::SqlStore;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

/// `GET /login/{username}/`: stores the tutorial's profile, binds the
/// session to the user, and gives the session a fresh id
/// (session-fixation defence).
async fn login(session: &Session, username: &str) -> Result<Value, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    // The user the store lists the session under.
    session.set_user(username).await?;
    session.cycle_id().await?;
    Ok(json!({ "message": "Logged in" }))
}

/// `GET /get/`: the stored profile, or "Login first".
async fn profile(session: &Session) -> Result<Value, Error> {
    Ok(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    })
}

/// `GET /logout/`: ends the session (and its binding to the user): its
/// data is deleted and the cookie removed.
async fn logout(session: &Session) -> Result<Value, Error> {
    session.destroy();
    Ok(json!({ "message": "Logged out" }))
}

/// `GET /sessions/`: the logged-in user's sessions, oldest first.
async fn sessions(session: &Session) -> Result<Value, Error> {
    if session.user().await?.is_none() {
        return Ok(json!({ "message": "Login first" }));
    }
    let sessions: Vec<Value> = session
        .user_sessions()
        .await?
        .into_iter()
        .map(|info| {
            json!({
                // Safe to show: it is not the session id, and cannot be
                // turned into one.
                "handle": info.handle,
                "current": info.current,
                "created_at": info.created_at.unix_timestamp(),
                "expires_at": info.expires_at.unix_timestamp(),
            })
        })
        .collect();
    Ok(json!({ "sessions": sessions }))
}

/// `GET /logout/others/`: ends the user's other sessions; this one goes on.
async fn logout_others(session: &Session) -> Result<Value, Error> {
    if session.user().await?.is_none() {
        return Ok(json!({ "message": "Login first" }));
    }
    let ended = session.end_other_sessions().await?;
    Ok(json!({ "message": "Logged out other sessions", "ended": ended }))
}

/// `GET /logout/everywhere/`: ends every session of the user, this one
/// included.
async fn logout_everywhere(session: &Session) -> Result<Value, Error> {
    if session.user().await?.is_none() {
        return Ok(json!({ "message": "Login first" }));
    }
    let ended = session.end_all_sessions().await?;
    Ok(json!({ "message": "Logged out everywhere", "ended": ended }))
}

/// Every request: routes it, and turns a session error into its status
/// code (`503` when the store is unreachable, `501` for what it cannot do,
/// `500` otherwise).
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
        "/sessions/" => sessions(&session).await,
        "/logout/others/" => logout_others(&session).await,
        "/logout/everywhere/" => logout_everywhere(&session).await,
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

    let store =
        std::env::var("SESSION_STORE").unwrap_or_else(|_| "sqlite://sessions.db".to_owned());
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

/// The session layer for the database `url`: SQLite, PostgreSQL or
/// MySQL/MariaDB. Error messages leave the URL out: it may hold a password.
async fn session_layer(url: &str) -> Result<SessionLayer, String> {
    if ![
        "sqlite:",
        "postgres://",
        "postgresql://",
        "mysql://",
        "mariadb://",
    ]
    .iter()
    .any(|scheme| url.starts_with(scheme))
    {
        let shown = match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => url.to_owned(),
        };
        return Err(format!(
            "unknown SESSION_STORE {shown:?}; valid values: sqlite://sessions.db, \
             sqlite::memory:, postgres://…, mysql://…, mariadb://…"
        ));
    }
    // Read before connecting: a bad key is reported at once.
    let data_keys = data_keys()?;
    let sql = SqlStore::connect(url)
        .await
        .map_err(|e| format!("SESSION_STORE names a database that cannot be used: {e}"))?;
    // Creates the `sessions` table if it is not there yet.
    sql.migrate()
        .await
        .map_err(|e| format!("creating the sessions table failed: {e}"))?;
    // Deletes expired rows every ten minutes, as long as the app runs
    // (dropping the handle does not stop the task).
    drop(sql.spawn_cleanup(Duration::from_secs(10 * 60)));
    let layer = SessionLayer::new(sql, keys()?);
    // Values encrypted in the table when SESSION_DATA_KEY is set.
    Ok(match data_keys {
        Some(data_keys) => layer.with_data_keys(data_keys),
        None => layer,
    })
}

/// The keys from `SESSION_DATA_KEY` (hex, comma-separated to rotate: the
/// first encrypts, all decrypt), or `None` when it is unset.
fn data_keys() -> Result<Option<Keys>, String> {
    if std::env::var_os("SESSION_DATA_KEY").is_none_or(|keys| keys.is_empty()) {
        return Ok(None);
    }
    Keys::from_env("SESSION_DATA_KEY")
        .map(Some)
        .map_err(|e| format!("SESSION_DATA_KEY: {e}"))
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
