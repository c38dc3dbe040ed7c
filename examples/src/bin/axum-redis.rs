//! The tutorial's login in axum with its sessions in Redis, so that every instance of the app
//! shares them and they outlive a restart of the app. The cookie holds only a signed id. A
//! whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-redis = { version = "0.1" }
//! axum = "0.8"
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
//! PORT=8000 cargo run -p examples --bin axum-redis &
//! PORT=8001 cargo run -p examples --bin axum-redis &
//! curl -c jar -b jar localhost:8000/login/hong/   # {"message":"Logged in"}
//! curl -b jar localhost:8001/get/                 # the other instance: {"session_info":…}
//! ```
#![forbid(unsafe_code)]

use axum::{extract::Path, routing::get, Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::RedisStore;

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
    session.destroy(); // deleted from Redis, and the cookie removed
    Json(json!({ "message": "Logged out" }))
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
