//! The tutorial's last step in axum: the login app with its sessions kept
//! server-side in an SQL table, so they outlive a restart of the app (and,
//! on PostgreSQL or MySQL, are shared by any number of app instances). The
//! cookie holds only a signed id.
//!
//! `SESSION_STORE` defaults to `sqlite://sessions.db` (a file in the
//! current directory, created if missing); PostgreSQL is
//! `postgres://user:pass@host/db`, MySQL or MariaDB `mysql://user:pass@host/db`.
//! The table `sessions` is created at start if absent, and expired rows are
//! deleted every ten minutes. Give every instance the same key:
//!
//! ```text
//! export SESSION_SECRET=$(cargo run -q -p examples --bin keygen)
//! cargo run -p examples --bin axum-db &
//! curl -c j -b j localhost:8000/login/hong/
//! kill %1; cargo run -p examples --bin axum-db &
//! curl -b j localhost:8000/get/        # still logged in
//! ```

use examples::app::{self, Example};
use examples::tutorial;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Example::new(app::plain_http)
        .with_default_store("sqlite://sessions.db")
        .run_axum(tutorial::login_router())
        .await
}
