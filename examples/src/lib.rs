//! The FastAPI session tutorial's scenarios as axum and hyper apps.
//!
//! Every binary in `src/bin/` is one scenario in one framework. They share:
//!
//! - [`settings`]: what the environment says (`PORT`, `SESSION_SECRET`,
//!   `SESSION_STORE`, `SESSION_SERIALIZE`);
//! - [`stores`]: the session layer for the chosen store;
//! - [`tutorial`]: what each route does with the session, written once;
//! - [`serve`]: binding `127.0.0.1:$PORT` and serving an axum router or a
//!   hyper service.
//!
//! Run one with `cargo run -p examples --bin axum-counter`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod hyper_app;
pub mod serve;
pub mod settings;
pub mod stores;
pub mod tutorial;

pub use settings::Settings;
