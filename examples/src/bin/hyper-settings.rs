//! The tutorial's cookie settings on the counter, in plain hyper: cookie
//! name `session_id`, max age 1800 s, `SameSite=Strict`, HTTPS only
//! (`Secure`).
//!
//! `cargo run -p examples --bin hyper-settings`

use examples::app::{self, Example};
use examples::hyper_app::Scenario;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::tutorial_settings)
        .run_hyper(Scenario::Counter)
        .await
}
