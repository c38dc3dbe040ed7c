//! The tutorial's cookie settings on the counter, in axum: cookie name
//! `session_id`, max age 1800 s, `SameSite=Strict`, HTTPS only (`Secure`).
//!
//! Browsers treat `http://localhost` as secure, so the `Secure` cookie still
//! works there; other plain-http hosts drop it.
//!
//! `cargo run -p examples --bin axum-settings`

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::tutorial_settings)
        .run_axum(tutorial::counter_router())
        .await
}
