//! A form protected from cross-site request forgery, sessions in memory: a whole `src/main.rs` needing:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! axum = "0.8"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//!
//! ```text
//! cargo run -p examples --bin axum-csrf
//! open http://localhost:8000/ and press "Transfer"             # Transferred 10 coins
//! curl -X POST localhost:8000/transfer -d amount=10            # 403: missing token
//! ```
//!
//! `GET /` puts a token of the visitor's session in the form; `CsrfLayer`
//! lets a `POST` through only with such a token (in the `csrf_token` field
//! or the `X-CSRF-Token` header). Another site can make a browser post
//! the form, cookie and all, but it cannot read the page: it has no token.
#![forbid(unsafe_code)]

use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use session_core::{CsrfLayer, Error, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

async fn form(session: Session) -> Result<Html<String>, Error> {
    // A new masked token on every page; all of them verify for this session.
    let token = session.csrf_token().await?;
    Ok(Html(format!(
        r#"<!doctype html><title>Transfer</title>
<form method="post" action="/transfer">
  <input type="hidden" name="csrf_token" value="{token}">
  <input name="amount" value="10"> coins
  <button type="submit">Transfer</button>
</form>"#
    )))
}

/// Runs only when the layer let the request through: its token was good.
async fn transfer(body: String) -> Html<String> {
    let amount: u32 = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("amount=")?.parse().ok())
        .unwrap_or(0); // a number: nothing the visitor typed is put in the page as text
    Html(format!("<p>Transferred {amount} coins</p>"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let config = SessionConfig::new().with_secure(false); // plain http, for development
    let sessions = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let app = Router::new()
        .route("/", get(form))
        .route("/transfer", post(transfer))
        .layer(CsrfLayer::new()) // inside the session layer: the layer added last runs first
        .layer(sessions);
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
