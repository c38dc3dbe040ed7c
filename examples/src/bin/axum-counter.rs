//! The tutorial's visit counter in axum: `GET /` answers `{"user_count": N}`
//! and counts the visit; `GET /logout/` forgets the count.
//!
//! `cargo run -p examples --bin axum-counter`, then `curl -c j -b j localhost:8000/` twice.

use std::process::ExitCode;

use examples::{serve, settings, stores, tutorial, Settings};
use session_core::SessionConfig;

#[tokio::main]
async fn main() -> ExitCode {
    settings::init_tracing();
    let settings = Settings::from_env();
    let config = SessionConfig::new()
        // The example serves plain http://, where browsers drop `Secure` cookies.
        .with_secure(false)
        // A counter is read-modify-write: one request per session at a time.
        .with_serialized_requests(settings.serialize);
    let layer = match stores::session_layer(&settings, config).await {
        Ok(layer) => layer,
        Err(message) => return serve::fail(&message),
    };
    serve::run_axum(&settings, tutorial::counter_router().layer(layer)).await
}
