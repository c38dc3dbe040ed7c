//! The floor: the counter's shape in axum 0.8 without any session.

use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

async fn counter() -> Json<Value> {
    Json(json!({ "user_count": 0 }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(session_peers::addr()).await?;
    session_peers::announce(listener.local_addr()?);
    axum::serve(listener, Router::new().route("/", get(counter))).await
}
