//! Flash messages in axum: a message set before a redirect, shown once by the next page.
//! A whole `src/main.rs` needing:
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
//! cargo run -p examples --bin axum-flash
//! curl -c jar -b jar -X POST localhost:8000/save   # 303 to /
//! curl -c jar -b jar localhost:8000/               # the page shows "Saved"
//! curl -c jar -b jar localhost:8000/               # and now it does not
//! ```
#![forbid(unsafe_code)]

use axum::response::{Html, Redirect};
use axum::{routing::get, routing::post, Router};
use session_core::{Error, Flashes, Key, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

async fn page(flashes: Flashes) -> Result<Html<String>, Error> {
    let mut html = String::from("<!doctype html><title>Flash</title>");
    for flash in flashes.take().await? {
        // Taken: gone for every later request. Escape the text as any user-facing string.
        let text = flash.text.replace('&', "&amp;").replace('<', "&lt;");
        html += &format!("<p class=\"{}\">{text}</p>", flash.level.as_str());
    }
    html += r#"<form method="post" action="/save"><button>Save</button></form>"#;
    Ok(Html(html))
}

async fn save(flashes: Flashes) -> Result<Redirect, Error> {
    flashes.success("Saved").await?; // kept in the session until a page takes it
    Ok(Redirect::to("/")) // 303 See Other
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SessionConfig::new()
        .with_secure(false) // plain http, for development
        .with_serialized_requests(true); // two tabs racing: one of them shows the message
    let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let app = Router::new()
        .route("/", get(page))
        .route("/save", post(save));
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.layer(layer)).await?;
    Ok(())
}
