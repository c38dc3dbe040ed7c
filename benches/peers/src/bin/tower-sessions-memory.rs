//! The counter (`GET /`) and the login app's `GET /login/{name}/` and
//! `GET /get/` in axum 0.8 with tower-sessions 0.15 and its MemoryStore.

use axum::extract::Path;
use axum::{http::StatusCode, routing::get, Json, Router};
use serde_json::{json, Value};
use tower_sessions::{MemoryStore, Session, SessionManagerLayer};

async fn counter(session: Session) -> Result<Json<Value>, StatusCode> {
    let count: u64 = session
        .get("user_count")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .unwrap_or(0);
    session
        .insert("user_count", count + 1)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({ "user_count": count })))
}

/// `GET /login/{name}/`: stores the profile and gives the session a fresh
/// id, as ours does.
async fn login(session: Session, Path(name): Path<String>) -> Result<Json<Value>, StatusCode> {
    let profile = json!({ "user_id": name, "age": 21, "email": "aaa@aaa.com" });
    session
        .insert("username", profile)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    session
        .cycle_id()
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({ "message": "Logged in" })))
}

/// `GET /get/`: the stored profile, or "Login first" (reads only).
async fn profile(session: Session) -> Result<Json<Value>, StatusCode> {
    let info: Option<Value> = session
        .get("username")
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(match info {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Plain http: no `Secure` attribute.
    let layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let app = Router::new()
        .route("/", get(counter))
        .route("/login/{name}/", get(login))
        .route("/get/", get(profile))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(session_peers::addr()).await?;
    session_peers::announce(listener.local_addr()?);
    axum::serve(listener, app).await
}
