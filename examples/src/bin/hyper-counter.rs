//! The tutorial's visit counter in plain hyper: `GET /` answers
//! `{"user_count": N}` and counts the visit; `GET /logout/` forgets the count.
//!
//! `cargo run -p examples --bin hyper-counter`, then `curl -c j -b j localhost:8000/` twice.

use std::process::ExitCode;

use examples::hyper_app::{handle, Scenario};
use examples::{serve, settings, stores, Settings};
use session_core::SessionConfig;
use tower::ServiceBuilder;

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
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|request| handle(Scenario::Counter, request));
    serve::run_hyper(&settings, service).await
}
