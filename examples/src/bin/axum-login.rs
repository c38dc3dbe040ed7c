//! The tutorial's login in axum, sessions in memory, with the pages of an account's sessions
//! ("your devices"). A whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! axum = "0.8"
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//! ```text
//! cargo run -p examples --bin axum-login
//! curl -c jar -b jar localhost:8000/login/hong/      # {"message":"Logged in"}
//! curl -c jar -b jar localhost:8000/get/             # {"session_info":{"user_id":"hong",…}}
//! curl -c jar2 -b jar2 localhost:8000/login/hong/    # hong again, on another "device"
//! curl -c jar -b jar localhost:8000/sessions/        # {"sessions":[{"handle":…},{…}]}
//! curl -c jar -b jar localhost:8000/logout/others/   # {…,"ended":1}: jar2 is logged out
//! ```
#![forbid(unsafe_code)]

use axum::{extract::Path, routing::get, Json, Router};
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

async fn login(session: Session, Path(username): Path<String>) -> Result<Json<Value>, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    session.set_user(&username).await?; // binds it to the user, who can list and end it
    session.cycle_id().await?; // a fresh id: one planted in the browser before login is void
    Ok(Json(json!({ "message": "Logged in" })))
}

async fn profile(session: Session) -> Result<Json<Value>, Error> {
    Ok(Json(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}

async fn logout(session: Session) -> Json<Value> {
    session.destroy(); // deleted from the store, and the cookie removed
    Json(json!({ "message": "Logged out" }))
}

async fn sessions(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    let sessions = session.user_sessions().await?;
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|info| {
            json!({
                "handle": info.handle, // not the id, nor can it become one: safe to show
                "current": info.current, "created_at": info.created_at.unix_timestamp(),
                "expires_at": info.expires_at.unix_timestamp(),
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn logout_others(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    let ended = session.end_other_sessions().await?; // this one goes on
    let body = json!({ "message": "Logged out other sessions", "ended": ended });
    Ok(Json(body))
}

async fn logout_everywhere(session: Session) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    let ended = session.end_all_sessions().await?; // this one included
    let body = json!({ "message": "Logged out everywhere", "ended": ended });
    Ok(Json(body))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let config = SessionConfig::new().with_secure(false); // plain http, for development
    let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let app = Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
        .route("/logout/", get(logout))
        .route("/sessions/", get(sessions))
        .route("/logout/others/", get(logout_others))
        .route("/logout/everywhere/", get(logout_everywhere));
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.layer(layer)).await?;
    Ok(())
}
