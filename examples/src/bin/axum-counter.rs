//! The tutorial's visit counter in axum: `GET /` answers `{"user_count": N}`
//! and counts the visit; `GET /logout/` forgets the count.
//!
//! `cargo run -p examples --bin axum-counter`, then `curl -c j -b j localhost:8000/` twice.

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::counter)
        .run_axum(tutorial::counter_router())
        .await
}
