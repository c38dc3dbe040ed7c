//! The floor: the shapes of the counter and of the login app's routes in
//! axum 0.8 without any session. `GET /` answers the counter's JSON,
//! `GET /login/{name}/` "Logged in" and `GET /get/` the logged-in profile
//! (built per request, as the session apps build theirs), so the read-only
//! scenario has a floor that does everything but the session.

use axum::extract::Path;
use axum::{routing::get, Json, Router};
use serde_json::{json, Value};

async fn counter() -> Json<Value> {
    Json(json!({ "user_count": 0 }))
}

async fn login(Path(_name): Path<String>) -> Json<Value> {
    Json(json!({ "message": "Logged in" }))
}

async fn profile() -> Json<Value> {
    let info = json!({ "user_id": "hong", "age": 21, "email": "aaa@aaa.com" });
    Json(json!({ "session_info": info }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(session_peers::addr()).await?;
    session_peers::announce(listener.local_addr()?);
    let app = Router::new()
        .route("/", get(counter))
        .route("/login/{name}/", get(login))
        .route("/get/", get(profile));
    axum::serve(listener, app).await
}
