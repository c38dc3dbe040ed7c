//! What the environment tells an example app.

use std::env;

/// The settings every example reads from its environment.
///
/// | variable | meaning | default |
/// |---|---|---|
/// | `PORT` | port on 127.0.0.1 (`0` picks a free one) | `8000` |
/// | `SESSION_SECRET` | the key, as hex (for `starlette`: the secret text as given to Starlette) | a fresh key, with a warning |
/// | `SESSION_STORE` | where sessions live (see [`crate::stores::VALID_STORES`]) | `memory` |
/// | `SESSION_SERIALIZE` | `0` turns per-session request serialization off (counter apps) | on |
///
/// ```
/// let settings = examples::Settings::from_env();
/// assert!(!settings.store.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Settings {
    /// The port to listen on.
    pub port: u16,
    /// `SESSION_SECRET`, if set.
    pub secret: Option<String>,
    /// `SESSION_STORE`.
    pub store: String,
    /// Whether requests of one session are serialized.
    pub serialize: bool,
}

impl Settings {
    /// Reads the settings; an unparsable `PORT` falls back to 8000 with a warning.
    ///
    /// ```
    /// let settings = examples::Settings::from_env();
    /// # let _ = settings;
    /// ```
    pub fn from_env() -> Self {
        let port = match env::var("PORT") {
            Ok(text) => text.parse().unwrap_or_else(|_| {
                tracing::warn!(%text, "PORT is not a port number; using 8000");
                8000
            }),
            Err(_) => 8000,
        };
        Self {
            port,
            secret: env::var("SESSION_SECRET").ok().filter(|s| !s.is_empty()),
            store: env::var("SESSION_STORE").unwrap_or_else(|_| "memory".to_owned()),
            serialize: env::var("SESSION_SERIALIZE").map_or(true, |v| v != "0"),
        }
    }
}

/// Sets up `tracing` output (`RUST_LOG`, default `info`).
///
/// ```
/// examples::settings::init_tracing();
/// ```
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
