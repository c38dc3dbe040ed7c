//! The tutorial's login in plain hyper: `GET /login/{username}/` stores a
//! profile (and gives the session a fresh id), `GET /get/` shows it,
//! `GET /logout/` ends the session.
//!
//! `cargo run -p examples --bin hyper-login`

use std::process::ExitCode;

use examples::hyper_app::{handle, Scenario};
use examples::{serve, settings, stores, Settings};
use session_core::SessionConfig;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> ExitCode {
    settings::init_tracing();
    let settings = Settings::from_env();
    // The example serves plain http://, where browsers drop `Secure` cookies.
    let config = SessionConfig::new().with_secure(false);
    let layer = match stores::session_layer(&settings, config).await {
        Ok(layer) => layer,
        Err(message) => return serve::fail(&message),
    };
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|request| handle(Scenario::Login, request));
    serve::run_hyper(&settings, service).await
}
