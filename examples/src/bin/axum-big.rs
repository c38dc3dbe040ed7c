//! The tutorial's session that is too big for a cookie, in axum:
//! `GET /login/{username}/` stores 1,000,000 integers. With a server-side
//! store (the default, `memory`) it works and the cookie stays a small
//! signed id; with `SESSION_STORE=cookie` (or `starlette`) the app answers
//! with a clear error instead of a cookie the browser would silently drop.
//!
//! `cargo run -p examples --bin axum-big`

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
    serve::run_axum(&settings, tutorial::big_router().layer(layer)).await
}
