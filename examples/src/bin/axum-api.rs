//! Sessions for an API in axum: the token travels in `Authorization: Bearer …`, never in a
//! cookie. A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! session-store-redis = { version = "0.1" }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres"] }
//! axum = "0.8"
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin axum-api     # SESSION_STORE=memory, sqlite://…, postgres://…, redis://…
//! curl -X POST localhost:8000/login -H 'content-type: application/json' -d '{"username": "hong"}'
//! curl localhost:8000/me -H "Authorization: Bearer $TOKEN"   # the profile; 401 without a token
//! curl -X POST localhost:8000/logout -H "Authorization: Bearer $TOKEN"   # the token is dead
//! ```
#![forbid(unsafe_code)]

use axum::http::StatusCode;
use axum::{routing::get, routing::post, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use session_core::{
    store::AnyStore, Error, Key, Keys, Session, SessionConfig, SessionLayer, TokenHeader, Transport,
};
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

#[derive(Deserialize)]
struct Login {
    username: String,
}

async fn login(session: Session, Json(login): Json<Login>) -> Result<Json<Value>, Error> {
    let profile = json!({ "user_id": login.username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("profile", profile).await?;
    session.set_user(&login.username).await?; // the store can list and end the user's sessions
    session.cycle_id().await?; // a fresh id at login
                               // The token the client sends from now on (the layer also sends it in `Session-Token`).
    Ok(Json(json!({ "token": session.token().await? })))
}

async fn me(session: Session) -> Result<(StatusCode, Json<Value>), Error> {
    Ok(match session.get_value("profile").await? {
        Some(profile) => (StatusCode::OK, Json(profile)),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "detail": "Not authenticated" })),
        ),
    })
}

async fn logout(session: Session) -> Json<Value> {
    session.destroy(); // the store forgets it; the response carries an empty `Session-Token`
    Json(json!({ "message": "Logged out" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Comma-separated hex keys rotate (the first signs, all verify); a random key without it.
    let keys = match std::env::var("SESSION_SECRET") {
        Ok(_) => Keys::from_env("SESSION_SECRET")?,
        Err(_) => Keys::from(Key::generate()),
    };
    let config = SessionConfig::new().with_transport(Transport::Header(TokenHeader::bearer()));
    let url = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".into());
    // An error never shows the URL, which may hold a password.
    let unusable = |e: &dyn std::fmt::Display| format!("SESSION_STORE cannot be used: {e}");
    // The store is chosen at run time: `AnyStore` holds any of them.
    let store = if url == "memory" {
        AnyStore::new(MemoryStore::new())
    } else if url.starts_with("redis") {
        AnyStore::new(RedisStore::connect(&url).await.map_err(|e| unusable(&e))?)
    } else {
        let store = SqlStore::connect(&url).await.map_err(|e| unusable(&e))?;
        store.migrate().await?; // creates the `sessions` table if needed
        AnyStore::new(store)
    };
    let layer = SessionLayer::new(store, keys);
    let app = Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout));
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.layer(layer.with_config(config))).await?;
    Ok(())
}
