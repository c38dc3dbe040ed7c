//! Sessions for [tower], [axum] and [hyper] services, with pluggable stores.
//!
//! HTTP forgets every request. A session gives each visitor a place that
//! survives from one request to the next — a login, a cart, a counter — kept
//! on the server (memory, Redis, SQL) with only a signed id in the cookie,
//! or kept in the cookie itself, signed or encrypted.
//!
//! # Quick start (axum)
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use serde_json::{json, Value};
//! use session_core::{Key, Session, SessionConfig, SessionLayer};
//! use session_store_memory::MemoryStore;
//!
//! async fn counter(session: Session) -> Result<Json<Value>, session_core::Error> {
//!     let count: u64 = session.get("user_count").await?.unwrap_or(0);
//!     session.insert("user_count", count + 1).await?;
//!     Ok(Json(json!({ "user_count": count })))
//! }
//!
//! // In production: Key::from_env("SESSION_SECRET")? (64 hex digits).
//! let layer = SessionLayer::new(MemoryStore::new(), Key::generate())
//!     .with_config(SessionConfig::new().with_secure(false)); // plain http in development
//! let app: Router = Router::new().route("/", get(counter)).layer(layer);
//! # let _ = app;
//! ```
//!
//! # How a request flows
//!
//! 1. [`SessionService`] reads the `Cookie` header and verifies the session
//!    cookie against every key (constant time). A missing, malformed,
//!    tampered or expired cookie simply means "no session".
//! 2. It puts a [`Session`] in the request extensions. Nothing is loaded
//!    yet: a handler that never touches the session costs no store I/O.
//! 3. The first access loads the record, once.
//! 4. After the handler, what changed is written (see [`Session`] for the
//!    table), the cookie is set or removed, and `Vary: Cookie` is added when
//!    the session was read. A store failure becomes a `500` (or `503` when
//!    the store is unreachable) and a `tracing` event — never a panic, never
//!    a silently lost write.
//!
//! # Stores
//!
//! | crate | where the data lives |
//! |---|---|
//! | `session-store-memory` | this process |
//! | `session-store-redis` | Redis, one node or a Cluster |
//! | `session-store-sql` | SQLite, PostgreSQL, MySQL/MariaDB |
//! | [`SessionLayer::client_side`] with a [`DataCodec`] | the cookie |
//!
//! A store implements [`store::SessionStore`]; the `conformance` feature
//! brings the suite every store runs against itself
//! ([`store::conformance`]). Any store can be wrapped in
//! [`store::Encrypted`] to keep session data encrypted at rest
//! ([`SessionLayer::with_data_keys`] does it for the layer's store).
//!
//! # What is where
//!
//! Everything an application needs is at the crate root: [`SessionLayer`],
//! [`Session`], [`SessionConfig`] and [`Expiry`], [`Key`] and [`Keys`],
//! [`Error`], the cookie codecs and, with the `axum` feature, the `Session`
//! extractor, and [`CsrfLayer`], which refuses forged form posts ([`csrf`]
//! explains the scheme). [`codec`] holds the client-side codecs and the
//! [`codec::DataCodec`] trait for writing your own; [`store`] holds what a
//! store author needs.
//!
//! # Features
//!
//! - `axum`: `Session` as an axum extractor and `IntoResponse` for [`Error`].
//! - `conformance`: the store conformance suite, for store crates' tests.
//! - `metrics`: counters, gauges and a histogram of sessions through the
//!   `metrics` facade; the names are in [`metrics`].
//!
//! session-core turns on two `serde_json` features, and cargo turns them on
//! for every crate of the application that uses `serde_json`:
//! `preserve_order` (a session keeps its keys in insertion order, as a
//! Python dict does; the Starlette cookie must match Python's output byte
//! for byte) and `float_roundtrip` (a float read back from a cookie or a
//! store is the float that was written; without it, parsing may be off by
//! one unit in the last place). Both cost a little speed in JSON parsing;
//! neither changes what valid JSON means.
//!
//! # Security defaults
//!
//! Ids are 128 bits from the OS CSPRNG; cookies are `HttpOnly`,
//! `SameSite=Lax`, `Path=/` and `Secure` unless told otherwise; keys shorter
//! than 32 bytes are refused; logs carry a short hash of an id, never the
//! id, a cookie value or a key.
//!
//! [tower]: https://docs.rs/tower
//! [axum]: https://docs.rs/axum
//! [hyper]: https://docs.rs/hyper
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod at_rest;
mod check;
mod client;
pub mod codec;
mod config;
mod cookies;
pub mod csrf;
mod error;
mod id;
mod key;
mod layer;
mod life;
mod lock;
pub mod metrics;
mod service;
mod session;
mod storage;
pub mod store;
mod transport;

pub use check::{CheckFuture, LoadedSession, SessionCheck};
pub use codec::{EncryptedCookie, SignedCookie, StarletteCookie};
pub use config::{
    ConfigError, Expiry, SameSite, SessionConfig, DEFAULT_EXPIRY_PRECISION, DEFAULT_MAX_AGE,
    MAX_COOKIE_SIZE,
};
pub use csrf::CsrfLayer;
pub use error::Error;
pub use id::Id;
pub use key::{Key, KeyError, Keys};
pub use layer::SessionLayer;
pub use life::{Clock, ManualClock, SystemClock};
pub use service::{ResponseFuture, SessionService};
pub use session::{Flash, Flashes, Level, Session, SessionInfo, MAX_USER_LEN};
pub use time;
pub use transport::{TokenHeader, Transport, DEFAULT_MAX_TOKEN_LEN};

pub(crate) use client::{ClientSession, DataCodec};
pub(crate) use id::SignedId;
pub(crate) use store::{ChangeSet, Created, Data, Record, Saved, SessionStore, StoreError};

/// Not part of the API: what the project's own benches and fuzz targets
/// reach inside the crate for. No stability promise; do not use.
#[doc(hidden)]
pub mod __private {
    pub use crate::id::{SignedId, VerifiedId};
}

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
