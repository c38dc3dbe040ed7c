//! The tutorial's last step, in axum: the login app with its sessions
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
//! cargo run -p examples --bin axum-db &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! kill %1; cargo run -p examples --bin axum-db &
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
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres", "mysql"] }
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

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Key, Keys, Session, SessionConfig, SessionLayer};
use session_store_sql::SqlStore;
use tokio::net::TcpListener;

/// `GET /login/{username}/`: stores the tutorial's profile, binds the
/// session to the user, and gives the session a fresh id
/// (session-fixation defence).
async fn login(session: Session, Path(username): Path<String>) -> Result<Json<Value>, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    // The user the store lists the session under.
    session.set_user(&username).await?;
    session.cycle_id().await?;
    Ok(Json(json!({ "message": "Logged in" })))
}

/// `GET /get/`: the stored profile, or "Login first".
async fn profile(session: Session) -> Result<Json<Value>, Error> {
    Ok(Json(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}

/// `GET /logout/`: ends the session (and its binding to the user): its
/// data is deleted and the cookie removed.
async fn logout(session: Session) -> Json<Value> {
    session.destroy();
    Json(json!({ "message": "Logged out" }))
}

/// `GET /sessions/`: the logged-in user's sessions, oldest first.
async fn sessions(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
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
    Ok(Json(json!({ "sessions": sessions })))
}

/// `GET /logout/others/`: ends the user's other sessions; this one goes on.
async fn logout_others(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    let ended = session.end_other_sessions().await?;
    Ok(Json(
        json!({ "message": "Logged out other sessions", "ended": ended }),
    ))
}

/// `GET /logout/everywhere/`: ends every session of the user, this one
/// included.
async fn logout_everywhere(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    let ended = session.end_all_sessions().await?;
    Ok(Json(
        json!({ "message": "Logged out everywhere", "ended": ended }),
    ))
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

    let app = Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
        .route("/logout/", get(logout))
        .route("/sessions/", get(sessions))
        .route("/logout/others/", get(logout_others))
        .route("/logout/everywhere/", get(logout_everywhere))
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
