//! The tutorial's login in plain hyper: `GET /login/{username}/` stores a
//! profile (and gives the session a fresh id), `GET /get/` shows it,
//! `GET /logout/` ends the session.
//!
//! `cargo run -p examples --bin hyper-login`

use examples::app::{self, Example};
use examples::hyper_app::Scenario;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http)
        .run_hyper(Scenario::Login)
        .await
}
