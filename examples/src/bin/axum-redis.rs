//! The tutorial's last step in axum: the login app with its sessions kept
//! server-side in Redis, so any number of app instances share them and
//! they outlive a restart of the app. The cookie holds only a signed id.
//!
//! `SESSION_STORE` defaults to `redis://127.0.0.1:6379`; a Redis Cluster is
//! `redis+cluster://host:port,host:port`. Give every instance the same key:
//!
//! ```text
//! export SESSION_SECRET=$(cargo run -q -p examples --bin keygen)
//! PORT=8000 cargo run -p examples --bin axum-redis &
//! PORT=8001 cargo run -p examples --bin axum-redis &
//! curl -c j -b j localhost:8000/login/hong/ && curl -b j localhost:8001/get/
//! ```

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http)
        .with_default_store("redis://127.0.0.1:6379")
        .run_axum(tutorial::login_router())
        .await
}
