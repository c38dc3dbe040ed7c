//! One example binary: its session settings, its default store, and the
//! framework that serves it.
//!
//! Every binary in `src/bin/` is one line on top of this: it names the
//! session configuration (the presets below) and the routes or hyper
//! scenario; [`Example`] reads the environment, builds the layer for
//! `SESSION_STORE`, and serves `127.0.0.1:$PORT`.

use std::process::ExitCode;
use std::time::Duration;

use session_core::{SameSite, SessionConfig, SessionLayer};
use tower::ServiceBuilder;

use crate::hyper_app::{handle, Scenario};
use crate::{serve, settings, stores, Settings};

/// Plain `http://` in development: browsers drop `Secure` cookies there
/// (except on localhost), so the examples turn `Secure` off, visibly.
///
/// ```
/// let config = examples::app::plain_http(&examples::Settings::from_env());
/// # let _ = config;
/// ```
pub fn plain_http(_: &Settings) -> SessionConfig {
    SessionConfig::new().with_secure(false)
}

/// The counter: plain http, and one request per session at a time (a
/// counter is read-modify-write) unless `SESSION_SERIALIZE=0`.
///
/// ```
/// let config = examples::app::counter(&examples::Settings::from_env());
/// # let _ = config;
/// ```
pub fn counter(settings: &Settings) -> SessionConfig {
    plain_http(settings).with_serialized_requests(settings.serialize)
}

/// The tutorial's cookie settings on the counter: cookie name
/// `session_id`, max age 1800 s, `SameSite=Strict`, HTTPS only (`Secure`).
///
/// ```
/// let config = examples::app::tutorial_settings(&examples::Settings::from_env());
/// assert_eq!(config.cookie_name(), "session_id");
/// ```
pub fn tutorial_settings(settings: &Settings) -> SessionConfig {
    SessionConfig::new()
        .with_cookie_name("session_id")
        .with_max_age(Some(Duration::from_secs(1800)))
        .with_same_site(SameSite::Strict)
        .with_secure(true)
        .with_serialized_requests(settings.serialize)
}

/// An example app before it is served.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::process::ExitCode {
/// use examples::app::{self, Example};
/// Example::new(app::counter).run_axum(examples::tutorial::counter_router()).await
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Example {
    config: fn(&Settings) -> SessionConfig,
    default_store: &'static str,
}

impl Example {
    /// An app whose session layer is configured by `config`; the store
    /// defaults to `memory`.
    ///
    /// ```
    /// let example = examples::app::Example::new(examples::app::plain_http);
    /// # let _ = example;
    /// ```
    pub const fn new(config: fn(&Settings) -> SessionConfig) -> Self {
        Self {
            config,
            default_store: "memory",
        }
    }

    /// The store used when `SESSION_STORE` is not set.
    ///
    /// ```
    /// use examples::app::{self, Example};
    /// let example = Example::new(app::plain_http).with_default_store("sqlite://sessions.db");
    /// # let _ = example;
    /// ```
    pub const fn with_default_store(self, store: &'static str) -> Self {
        Self {
            default_store: store,
            ..self
        }
    }

    /// Reads the environment and builds the session layer.
    async fn prepare(&self) -> Result<(Settings, SessionLayer), ExitCode> {
        settings::init_tracing();
        let mut settings = Settings::from_env();
        if std::env::var_os("SESSION_STORE").is_none() {
            settings.store = self.default_store.to_owned();
        }
        match stores::session_layer(&settings, (self.config)(&settings)).await {
            Ok(layer) => Ok((settings, layer)),
            Err(message) => Err(serve::fail(&message)),
        }
    }

    /// Serves `routes` with axum, wrapped in the session layer.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> std::process::ExitCode {
    /// use examples::app::{self, Example};
    /// Example::new(app::plain_http).run_axum(examples::tutorial::login_router()).await
    /// # }
    /// ```
    pub async fn run_axum(self, routes: axum::Router) -> ExitCode {
        match self.prepare().await {
            Ok((settings, layer)) => serve::run_axum(&settings, routes.layer(layer)).await,
            Err(code) => code,
        }
    }

    /// Serves `scenario` with plain hyper: a `service_fn` wrapped in the
    /// session layer with `tower::ServiceBuilder`.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> std::process::ExitCode {
    /// use examples::app::{self, Example};
    /// use examples::hyper_app::Scenario;
    /// Example::new(app::plain_http).run_hyper(Scenario::Login).await
    /// # }
    /// ```
    pub async fn run_hyper(self, scenario: Scenario) -> ExitCode {
        match self.prepare().await {
            Ok((settings, layer)) => {
                let service = ServiceBuilder::new()
                    .layer(layer)
                    .service_fn(move |request| handle(scenario, request));
                serve::run_hyper(&settings, service).await
            }
            Err(code) => code,
        }
    }
}
