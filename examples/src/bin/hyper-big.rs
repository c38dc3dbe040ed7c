//! The tutorial's session that is too big for a cookie, in plain hyper:
//! `GET /login/{username}/` stores 1,000,000 integers. With a server-side
//! store it works; with a cookie store the app answers with a clear error
//! instead of a cookie the browser would silently drop.
//!
//! `cargo run -p examples --bin hyper-big`

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
        .service_fn(|request| handle(Scenario::Big, request));
    serve::run_hyper(&settings, service).await
}
