//! The playground: every scenario of the FastAPI session tutorial, on
//! every store, in axum or plain hyper, with every switch the library
//! offers, chosen by environment variables. The lessons (`axum-counter`,
//! `axum-login`, …) each show one thing in a short file; this binary is
//! where to try the combinations, and what the tests and benchmarks run.
//!
//! ```text
//! SCENARIO=login SESSION_STORE=sqlite://sessions.db cargo run -p examples --bin serve
//! SCENARIO=counter FRAMEWORK=hyper SESSION_STORE=cookie cargo run -p examples --bin serve
//! ```
//!
//! | variable | meaning |
//! |---|---|
//! | `SCENARIO` | `counter` (default): `GET /`, `GET /logout/`; `settings`: the counter with the tutorial's cookie settings (`session_id`, 1800 s, `SameSite=Strict`, `Secure`); `login`: `/login/{username}/`, `/get/`, `/logout/` and the account pages `/sessions/`, `/logout/others/`, `/logout/everywhere/`; `big`: a session of 1,000,000 entries (`/login/{username}/`, `/get/`, `/logout/`); `flash`: `GET /save/` leaves the flash message `Saved`, `GET /` shows the waiting messages once |
//! | `FRAMEWORK` | `axum` (default) or `hyper` |
//! | `SESSION_STORE` | `memory` (default); `cookie`, `cookie-encrypted` (the data in the cookie, signed or encrypted); `starlette` (Starlette's cookie format); `sqlite://sessions.db`, `sqlite::memory:`, `postgres://…`, `mysql://…`, `mariadb://…`; `redis://…`, `rediss://…`, `redis+cluster://host:port,host:port` |
//! | `SESSION_SECRET` | the key as hex (`openssl rand -hex 32`; comma-separated keys rotate: the first signs, all verify; for `starlette`, the secret text exactly as the FastAPI app has it); a random key with a warning when unset |
//! | `SESSION_DATA_KEY` | server-side stores: a key of its own, as hex, that encrypts every session value in the store (comma-separated keys rotate) |
//! | `SESSION_HTTPS` | `1` behind HTTPS: a `Secure`, `__Host-session` cookie (not with `settings`, whose cookie is fixed) |
//! | `SESSION_TRANSPORT` | `cookie` (default); `header`: the token in `Authorization: Bearer …`, a new one sent back in `Session-Token` (empty at logout), never a cookie; `both`: the header when a request sends one, the cookie otherwise |
//! | `SESSION_SERIALIZE` | `1`: the requests of one session take turns (with Redis, across every instance sharing it); `0`: they do not. Default: on for `counter`, `settings` and `flash`, off for `login` and `big` |
//! | `SESSION_CACHE` | Redis: `1`, a local cache Redis keeps coherent; `fenced`, the same with every cached read checked with Redis first |
//! | `SESSION_METRICS` | `1`: the session metrics (`session_core::metrics`: counters of created, loaded, saved, ended … sessions, store call times) in Prometheus' text format at `GET /metrics`; `0` (default): none |
//! | `ADDR` / `PORT` | where to listen: `ADDR` as `host:port`, or `PORT` on 127.0.0.1; default `127.0.0.1:8000` |
//!
//! With `login` on a cookie store, `/sessions/` lists nothing and the two
//! `/logout/…/` pages revoke sessions with a per-user version number every
//! request checks (`stores::revocable`); they answer `"ended": null`.
//! Anything not understood stops the program at start (exit code 2), with
//! what is valid; a URL in a message is cut to its scheme.
#![forbid(unsafe_code)]

mod axum_app;
mod hyper_app;
mod metrics;
mod scenarios;
mod stores;

use std::process::ExitCode;
use std::time::Duration;

use scenarios::Scenario;
use session_core::{SameSite, SessionConfig, TokenHeader, Transport};
use tokio::net::TcpListener;

/// `FRAMEWORK`: which web framework serves the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framework {
    Axum,
    Hyper,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(Failure::Serve(err)) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Why the program stopped.
enum Failure {
    /// It could not start: a setting is wrong, or a store cannot be used.
    Start(String),
    /// Serving failed.
    Serve(std::io::Error),
}

/// Reads the settings, builds the app and serves it until Ctrl-C.
async fn run() -> Result<(), Failure> {
    let scenario = env_or("SCENARIO", "counter");
    let scenario = Scenario::from_name(&scenario).ok_or_else(|| {
        Failure::Start(format!(
            "unknown SCENARIO {scenario:?}; valid values: {}",
            Scenario::NAMES
        ))
    })?;
    let framework = match env_or("FRAMEWORK", "axum").as_str() {
        "axum" => Framework::Axum,
        "hyper" => Framework::Hyper,
        other => {
            return Err(Failure::Start(format!(
                "unknown FRAMEWORK {other:?}; valid values: axum, hyper"
            )))
        }
    };
    metrics::install(switch("SESSION_METRICS")?.unwrap_or(false)).map_err(Failure::Start)?;
    let store = env_or("SESSION_STORE", "memory");
    let revoke = scenario == Scenario::Login;
    let (layer, versions) = stores::session_layer(&store, revoke)
        .await
        .map_err(|err| Failure::Start(err.to_string()))?;
    let layer = layer
        .try_with_config(config(scenario)?)
        .map_err(|err| Failure::Start(err.to_string()))?;

    let addr = addr()?;
    let listener = TcpListener::bind(addr.as_str()).await.map_err(|err| {
        Failure::Start(format!("cannot listen on {addr:?} (ADDR or PORT): {err}"))
    })?;
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
    }
    let served = match framework {
        Framework::Axum => {
            axum_app::serve(listener, axum_app::app(scenario, layer, versions)).await
        }
        Framework::Hyper => hyper_app::serve(listener, scenario, layer, versions).await,
    };
    served.map_err(Failure::Serve)
}

/// The cookie and session settings of `scenario`, with `SESSION_HTTPS`,
/// `SESSION_SERIALIZE` and `SESSION_TRANSPORT`.
fn config(scenario: Scenario) -> Result<SessionConfig, Failure> {
    let config = if scenario == Scenario::Settings {
        // The tutorial's settings. `Secure` stays on: browsers keep a
        // `Secure` cookie over plain http on localhost only.
        SessionConfig::new()
            .with_cookie_name("session_id")
            .with_max_age(Some(Duration::from_secs(1800)))
            .with_same_site(SameSite::Strict)
            .with_secure(true)
    } else if switch("SESSION_HTTPS")?.unwrap_or(false) {
        // Behind HTTPS: `__Host-session` (`Secure`, `Path=/`, no `Domain`),
        // which only this exact host can set ("cookie tossing" defence).
        SessionConfig::new().with_host_prefix(true)
    } else {
        // Plain http: browsers drop `Secure` cookies there (but on
        // localhost).
        SessionConfig::new().with_secure(false)
    };
    // A counter visit reads the count and writes it back plus one: two
    // visits of one session at once would both read N and count once, so
    // there the requests of one session take turns by default.
    let serialize_by_default = matches!(
        scenario,
        Scenario::Counter | Scenario::Settings | Scenario::Flash
    );
    let serialize = switch("SESSION_SERIALIZE")?.unwrap_or(serialize_by_default);
    let transport = match env_or("SESSION_TRANSPORT", "cookie").as_str() {
        "cookie" => Transport::Cookie,
        "header" => Transport::Header(TokenHeader::bearer()),
        "both" => Transport::Both(TokenHeader::bearer()),
        other => {
            return Err(Failure::Start(format!(
                "SESSION_TRANSPORT must be cookie, header or both, not {other:?}"
            )))
        }
    };
    Ok(config
        .with_serialized_requests(serialize)
        .with_transport(transport))
}

/// `name`'s value, or `default` when it is unset or empty.
fn env_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => default.to_owned(),
    }
}

/// A `0`/`1` variable: `None` when unset.
fn switch(name: &str) -> Result<Option<bool>, Failure> {
    match std::env::var(name).as_deref() {
        Err(_) | Ok("") => Ok(None),
        Ok("1") => Ok(Some(true)),
        Ok("0") => Ok(Some(false)),
        Ok(other) => Err(Failure::Start(format!(
            "{name} must be 0 or 1, not {other:?}"
        ))),
    }
}

/// `ADDR` (`host:port`), else `PORT` on 127.0.0.1, else 127.0.0.1:8000.
fn addr() -> Result<String, Failure> {
    if let Ok(addr) = std::env::var("ADDR") {
        return Ok(addr);
    }
    match std::env::var("PORT") {
        Ok(port) => match port.parse::<u16>() {
            Ok(port) => Ok(format!("127.0.0.1:{port}")),
            Err(_) => Err(Failure::Start(format!(
                "PORT must be a port number, not {port:?}"
            ))),
        },
        Err(_) => Ok("127.0.0.1:8000".to_owned()),
    }
}
