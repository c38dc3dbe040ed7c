//! The tutorial's cookie settings on the counter, in axum: cookie name
//! `session_id`, max age 1800 s, `SameSite=Strict`, HTTPS only (`Secure`).
//!
//! Browsers treat `http://localhost` as secure, so the `Secure` cookie still
//! works there; other plain-http hosts drop it.
//!
//! `cargo run -p examples --bin axum-settings`

use std::process::ExitCode;
use std::time::Duration;

use examples::{serve, settings, stores, tutorial, Settings};
use session_core::{SameSite, SessionConfig};

#[tokio::main]
async fn main() -> ExitCode {
    settings::init_tracing();
    let settings = Settings::from_env();
    let config = SessionConfig::new()
        .with_cookie_name("session_id")
        .with_max_age(Some(Duration::from_secs(1800)))
        .with_same_site(SameSite::Strict)
        .with_secure(true)
        .with_serialized_requests(settings.serialize);
    let layer = match stores::session_layer(&settings, config).await {
        Ok(layer) => layer,
        Err(message) => return serve::fail(&message),
    };
    serve::run_axum(&settings, tutorial::counter_router().layer(layer)).await
}
