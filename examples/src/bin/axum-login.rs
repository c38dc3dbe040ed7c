//! The tutorial's login in axum: `GET /login/{username}/` stores a profile
//! (and gives the session a fresh id), `GET /get/` shows it, `GET /logout/`
//! ends the session.
//!
//! `cargo run -p examples --bin axum-login`

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http)
        .run_axum(tutorial::login_router())
        .await
}
