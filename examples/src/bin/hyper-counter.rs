//! The tutorial's visit counter in plain hyper: `GET /` answers
//! `{"user_count": N}` and counts the visit; `GET /logout/` forgets the count.
//!
//! `cargo run -p examples --bin hyper-counter`, then `curl -c j -b j localhost:8000/` twice.

use examples::app::{self, Example};
use examples::hyper_app::Scenario;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::counter)
        .run_hyper(Scenario::Counter)
        .await
}
