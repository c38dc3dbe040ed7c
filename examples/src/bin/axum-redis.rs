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

use std::process::ExitCode;

use examples::{serve, settings, stores, tutorial, Settings};
use session_core::SessionConfig;

#[tokio::main]
async fn main() -> ExitCode {
    settings::init_tracing();
    let mut settings = Settings::from_env();
    if std::env::var_os("SESSION_STORE").is_none() {
        settings.store = "redis://127.0.0.1:6379".to_owned();
    }
    // The example serves plain http://, where browsers drop `Secure` cookies.
    let config = SessionConfig::new().with_secure(false);
    let layer = match stores::session_layer(&settings, config).await {
        Ok(layer) => layer,
        Err(message) => return serve::fail(&message),
    };
    serve::run_axum(&settings, tutorial::login_router().layer(layer)).await
}
