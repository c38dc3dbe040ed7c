//! The tutorial's session too big for a cookie, in axum: `/login/{username}/` stores a million
//! integers. The same routes are served twice: at `/`, sessions live in memory and the cookie
//! holds only a signed id, so it just works; under `/cookie/`, sessions live in the cookie
//! itself, which cannot hold them (a browser keeps 4096 bytes at most, and silently drops a
//! bigger cookie), so the handler asks `Session::check_size` first and answers a 500 with the
//! reason. A whole `src/main.rs` needing:
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
//! cargo run -p examples --bin axum-big
//! curl -c jar -b jar localhost:8000/login/hong/    # {"message":"Logged in","entries":1000000}
//! curl -c jar -b jar localhost:8000/get/           # {"user_id":"hong","entries":1000000}
//! curl -i localhost:8000/cookie/login/hong/        # 500: … over the 4096-byte limit …
//! ```
#![forbid(unsafe_code)]

use axum::{extract::Path, routing::get, Json, Router};
use serde_json::{json, Map, Value};
use session_core::{Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie};
use session_store_memory::MemoryStore;

const ENTRIES: usize = 1_000_000;

async fn login(session: Session, Path(username): Path<String>) -> Result<Json<Value>, Error> {
    let big: Map<String, Value> = (0..ENTRIES).map(|i| (i.to_string(), i.into())).collect();
    session.insert("user_id", username).await?;
    session.insert_value("big", Value::Object(big)).await?;
    // Too big for where the session is kept? Then take the login out again and answer the
    // reason (a 500), rather than send a cookie the browser would drop.
    if let Err(too_large) = session.check_size().await {
        session.remove_value("big").await?;
        session.remove_value("user_id").await?;
        return Err(too_large);
    }
    session.cycle_id().await?;
    Ok(Json(json!({ "message": "Logged in", "entries": ENTRIES })))
}

async fn profile(session: Session) -> Result<Json<Value>, Error> {
    let Some(user_id) = session.get::<String>("user_id").await? else {
        return Ok(Json(json!({ "message": "Login first" })));
    };
    let big = session.get_value("big").await?;
    let entries = big.as_ref().and_then(Value::as_object).map_or(0, Map::len);
    Ok(Json(json!({ "user_id": user_id, "entries": entries })))
}

async fn logout(session: Session) -> Result<Json<Value>, Error> {
    session.clear().await?; // deleted, and the cookie removed
    Ok(Json(json!({ "message": "Logged out" })))
}

fn routes() -> Router {
    Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
        .route("/logout/", get(logout))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let keys = Keys::from(Key::generate());
    // Plain http, for development: no `Secure` cookie.
    let config = SessionConfig::new().with_secure(false);
    // Server-side: the session lives in the store, the cookie holds a signed id.
    let server_side = SessionLayer::new(MemoryStore::new(), keys.clone());
    // Client-side: the session lives in the cookie, signed (a cookie of its own name).
    let client_side = SessionLayer::client_side(SignedCookie::new(&keys));
    let app = Router::new()
        .merge(routes().layer(server_side.with_config(config.clone())))
        .nest(
            "/cookie",
            routes().layer(client_side.with_config(config.with_cookie_name("cookie"))),
        );
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
