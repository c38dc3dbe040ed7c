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

use std::process::ExitCode;

use examples::{serve, settings, stores, tutorial, Settings};
use session_core::SessionConfig;

#[tokio::main]
async fn main() -> ExitCode {
    settings::init_tracing();
    let mut settings = Settings::from_env();
    if std::env::var_os("SESSION_STORE").is_none() {
        settings.store = "sqlite://sessions.db".to_owned();
    }
    // The example serves plain http://, where browsers drop `Secure` cookies.
    let config = SessionConfig::new().with_secure(false);
    let layer = match stores::session_layer(&settings, config).await {
        Ok(layer) => layer,
        Err(message) => return serve::fail(&message),
    };
    serve::run_axum(&settings, tutorial::login_router().layer(layer)).await
}
