//! The tutorial's session that is too big for a cookie, in plain hyper:
//! `GET /login/{username}/` stores 1,000,000 integers. With a server-side
//! store it works; with a cookie store the app answers with a clear error
//! instead of a cookie the browser would silently drop.
//!
//! `cargo run -p examples --bin hyper-big`

use examples::app::{self, Example};
use examples::hyper_app::Scenario;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http).run_hyper(Scenario::Big).await
}
