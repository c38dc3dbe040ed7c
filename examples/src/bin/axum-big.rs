//! The tutorial's session that is too big for a cookie, in axum:
//! `GET /login/{username}/` stores 1,000,000 integers. With a server-side
//! store (the default, `memory`) it works and the cookie stays a small
//! signed id; with `SESSION_STORE=cookie` (or `starlette`) the app answers
//! with a clear error instead of a cookie the browser would silently drop.
//!
//! `cargo run -p examples --bin axum-big`

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http)
        .run_axum(tutorial::big_router())
        .await
}
