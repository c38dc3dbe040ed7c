//! The tutorial's visit counter in axum, sessions in memory: a whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! axum = "0.8"
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin axum-counter
//! curl -c jar -b jar localhost:8000/          # {"user_count":0}, then 1, 2…
//! curl -c jar -b jar localhost:8000/logout/   # {"message":"Logged out"}
//! ```
#![forbid(unsafe_code)]

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

async fn count(session: Session) -> Result<Json<Value>, Error> {
    let user_count: u64 = session.get("user_count").await?.unwrap_or(0);
    session.insert("user_count", user_count + 1).await?;
    Ok(Json(json!({ "user_count": user_count })))
}

async fn logout(session: Session) -> Result<Json<Value>, Error> {
    session.remove_value("user_count").await?; // emptied: deleted, its cookie removed
    Ok(Json(json!({ "message": "Logged out" })))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let config = SessionConfig::new()
        .with_secure(false) // plain http, for development: no `Secure` cookie
        .with_serialized_requests(true); // a session's requests take turns: no visit is lost
    let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let app = Router::new()
        .route("/", get(count))
        .route("/logout/", get(logout));
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.layer(layer)).await?;
    Ok(())
}
