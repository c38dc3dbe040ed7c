//! The counter in axum 0.8 with tower-sessions 0.15 and its MemoryStore.

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Plain http: no `Secure` attribute.
    let layer = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let app = Router::new().route("/", get(counter)).layer(layer);
    let listener = tokio::net::TcpListener::bind(session_peers::addr()).await?;
    session_peers::announce(listener.local_addr()?);
    axum::serve(listener, app).await
}
