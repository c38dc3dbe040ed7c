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
//! # use session_core::{async_trait, ChangeSet, Created, Id, Record, Saved, SessionStore, StoreError};
//! # #[derive(Debug)] struct MemoryStore;
//! # impl MemoryStore { fn new() -> Self { Self } }
//! # #[async_trait] impl SessionStore for MemoryStore {
//! #   async fn load(&self, _: &Id) -> Result<Option<Record>, StoreError> { Ok(None) }
//! #   async fn create(&self, _: &Record) -> Result<Created, StoreError> { Ok(Created::Inserted) }
//! #   async fn save(&self, _: &Id, _: &ChangeSet) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
//! #   async fn touch(&self, _: &Id, _: time::OffsetDateTime) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
//! #   async fn delete(&self, _: &Id) -> Result<(), StoreError> { Ok(()) }
//! # }
//!
//! async fn counter(session: Session) -> Result<Json<Value>, session_core::Error> {
//!     let count: u64 = session.get("user_count").await?.unwrap_or(0);
//!     session.insert("user_count", count + 1).await?;
//!     Ok(Json(json!({ "user_count": count })))
//! }
//!
//! // MemoryStore comes from the `session-store-memory` crate.
//! let layer = SessionLayer::new(MemoryStore::new(), Key::generate().into())
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
//! A store implements [`SessionStore`]; the `conformance` feature brings
//! the suite every store runs against itself.
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

pub mod client;
pub mod clock;
pub mod codec;
mod commit;
pub mod config;
mod cookies;
pub mod error;
#[cfg(feature = "axum")]
mod extract;
pub mod future;
pub mod id;
pub mod key;
pub mod layer;
mod lock;
mod mac;
pub mod service;
pub mod session;
pub mod signed_id;
pub mod store;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use async_trait::async_trait;
pub use client::{ClientSession, DataCodec};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codec::{EncryptedCookie, SignedCookie, StarletteCookie};
pub use config::{Expiry, SameSite, SessionConfig, DEFAULT_MAX_AGE, MAX_COOKIE_SIZE};
pub use error::Error;
pub use future::ResponseFuture;
pub use id::Id;
pub use key::{Key, KeyError, Keys};
pub use layer::SessionLayer;
pub use service::SessionService;
pub use session::Session;
pub use signed_id::{SignedId, VerifiedId};
pub use store::{BoxError, ChangeSet, Created, Data, Record, Saved, SessionStore, StoreError};
pub use time;
