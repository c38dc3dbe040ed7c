//! The tutorial's cookie settings on the counter, in plain hyper: cookie
//! name `session_id`, max age 1800 s, `SameSite=Strict`, HTTPS only
//! (`Secure`).
//!
//! `cargo run -p examples --bin hyper-settings`

use std::process::ExitCode;
use std::time::Duration;

use examples::hyper_app::{handle, Scenario};
use examples::{serve, settings, stores, Settings};
use session_core::{SameSite, SessionConfig};
use tower::ServiceBuilder;

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
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|request| handle(Scenario::Counter, request));
    serve::run_hyper(&settings, service).await
}
