//! The tutorial's login in axum: `GET /login/{username}/` stores a profile
//! (and gives the session a fresh id), `GET /get/` shows it, `GET /logout/`
//! ends the session.
//!
//! `cargo run -p examples --bin axum-login`

use std::process::ExitCode;

use examples::{serve, settings, stores, tutorial, Settings};
use session_core::SessionConfig;

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
    serve::run_axum(&settings, tutorial::login_router().layer(layer)).await
}
