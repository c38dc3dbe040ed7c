//! The tutorial's login in axum with its sessions in an SQL table, so that they outlive a
//! restart of the app (and, on PostgreSQL or MySQL/MariaDB, are shared by every instance).
//! The cookie holds only a signed id. A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres", "mysql"] }
//! axum = "0.8"
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
//! cargo run -p examples --bin axum-db &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! kill %1; cargo run -p examples --bin axum-db &
//! curl -b jar localhost:8000/get/                 # {"session_info":{"user_id":"hong",…}}
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use axum::{extract::Path, routing::get, Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_sql::SqlStore;

async fn login(session: Session, Path(username): Path<String>) -> Result<Json<Value>, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    session.set_user(&username).await?; // the store can list and end the user's sessions
    session.cycle_id().await?; // a fresh id at login: session-fixation defence
    Ok(Json(json!({ "message": "Logged in" })))
}

async fn profile(session: Session) -> Result<Json<Value>, Error> {
    Ok(Json(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}

async fn logout(session: Session) -> Json<Value> {
    session.destroy(); // the row is deleted, and the cookie removed
    Json(json!({ "message": "Logged out" }))
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
    let app = Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
        .route("/logout/", get(logout));
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.layer(layer)).await?;
    Ok(())
}
