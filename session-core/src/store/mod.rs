//! The store contract: what a place that keeps sessions must do.
//!
//! A store keeps [`Record`]s. The layer calls it at most a few times per
//! request: [`load`](SessionStore::load) on first access,
//! then one of [`create`](SessionStore::create),
//! [`save`](SessionStore::save), [`touch`](SessionStore::touch) or
//! [`delete`](SessionStore::delete) after the handler.
//!
//! Those five methods are the whole required contract. Everything else is
//! an optional capability, a trait of its own beside [`SessionStore`] that
//! a store implements and advertises with
//! [`SessionStore::capabilities`]:
//!
//! | capability | trait | without it |
//! |---|---|---|
//! | atomic id cycling | [`CycleStore`] | the layer cycles in steps ([`cycle_in_steps`]) |
//! | the user index (list / end a user's sessions) | [`UserIndex`] | the account operations answer [`StoreError::Unsupported`] |
//! | leases across instances | [`LeaseStore`] | requests are serialized within one process only |
//! | expired-session cleanup | [`ExpiredCleanup`] | nothing to clean up ([`spawn_cleanup`] needs it) |
//!
//! Every store crate runs the shared conformance suite ([`conformance`],
//! feature `conformance`) against itself: the core group, and the group of
//! each capability it advertises.
//!
//! It is for store authors; applications hand a store crate's store to
//! [`SessionLayer::new`](crate::SessionLayer::new) and never call it.
//!
//! ```
//! use session_core::store::{ChangeSet, Created, Id, Record, Saved, SessionStore};
//! use session_core::time::{Duration, OffsetDateTime};
//! use session_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), session_core::store::StoreError> {
//! let store = MemoryStore::new();
//! let now = OffsetDateTime::now_utc();
//! let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
//! record.data.insert("user_count".into(), 1.into());
//! assert_eq!(store.create(&record).await?, Created::Inserted);
//!
//! let mut changes = ChangeSet::new(now + Duration::hours(2));
//! changes.set.insert("user_count".into(), 2.into());
//! assert_eq!(store.save(&record.id, &changes).await?, Saved::Applied);
//!
//! store.delete(&record.id).await?;
//! assert_eq!(store.save(&record.id, &changes).await?, Saved::Gone); // logout wins
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;

use time::OffsetDateTime;

pub use crate::at_rest::Encrypted;
pub use crate::id::{Id, ParseIdError};
pub use async_trait::async_trait;

mod apply;
mod arc;
mod capabilities;
mod error;
mod outcome;
mod record;
pub use arc::AnyStore;
pub(crate) use arc::StoreFuture;
pub(crate) use capabilities::user_index;
pub use capabilities::{
    cycle, cycle_in_steps, spawn_cleanup, Capabilities, CycleStore, ExpiredCleanup, LeaseStore,
    SessionLease, UserIndex, UserSession,
};
pub use error::{BoxError, StoreError};
pub use outcome::{Created, Cycled, Saved};
pub(crate) use record::is_reserved;
pub use record::{
    from_unix_millis, unix_millis, ChangeSet, Data, KeyValues, KeyValuesIter, Record,
    RESERVED_KEY_PREFIX,
};

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

/// A place that keeps sessions: the five required methods every store
/// implements. Everything else a store may offer (atomic id cycling, a
/// user index, leases across instances, cleanup of expired sessions) is an
/// optional trait of its own, advertised with
/// [`capabilities`](SessionStore::capabilities).
///
/// Every method is one atomic operation. A record whose `expires_at` has
/// passed is absent for every operation, by the store's notion of "now":
/// Redis expires keys by its server's clock; the SQL and memory stores
/// compare with the application's clock.
/// Expiry times are computed from the application's clock, so skew between
/// the application and the store shifts when sessions end; the layer also
/// checks expiry on load with its own clock, so a session never outlives
/// its expiry as the application sees it.
///
/// Stores implement the methods as `async fn`s; the futures are not boxed,
/// so a layer built on a store type calls it directly. Where the store is
/// chosen at run time, [`AnyStore`] erases the type (each call then boxes
/// its future). A store is any `Debug + Send + Sync` type, and an `Arc` of
/// one is a store too:
///
/// ```
/// use std::sync::Arc;
/// use session_core::store::AnyStore;
/// use session_core::{Key, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let layer = SessionLayer::new(store.clone(), Key::generate());
/// // Chosen at run time: the type erased, one boxed future per call.
/// let layer = SessionLayer::new(AnyStore::new(store), Key::generate());
/// # let _ = layer;
/// ```
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// The record with this id, or `None` if there is none or it expired.
    fn load(&self, id: &Id) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// [`load`](Self::load) without a future, for a store whose load does
    /// no I/O (it lives in this process): `Some` with what `load` would
    /// answer, or `None` (the default) when the answer needs the future.
    /// The layer asks this first where it calls the store through
    /// [`AnyStore`] (the first load of a request, made from the handler),
    /// so an in-process store's load allocates no boxed future there.
    ///
    /// ```
    /// use session_core::store::{Id, SessionStore};
    /// use session_store_memory::MemoryStore;
    ///
    /// assert!(matches!(MemoryStore::new().load_now(&Id::random()), Some(Ok(None))));
    /// ```
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        let _ = id;
        None
    }

    /// Inserts `record` unless a live record has its id
    /// ([`Created::IdTaken`]; nothing is overwritten).
    fn create(&self, record: &Record) -> impl Future<Output = Result<Created, StoreError>> + Send;

    /// Applies `changes` atomically to the live record `id`:
    /// sets `changes.set`, removes `changes.removed`, moves the expiry.
    /// Keys not named keep whatever value they have in the store now.
    /// Returns [`Saved::Gone`] (writing nothing) when there is no live record.
    fn save(
        &self,
        id: &Id,
        changes: &ChangeSet,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Moves only the expiry of the live record `id`; the data is not
    /// rewritten. [`Saved::Gone`] when there is no live record.
    fn touch(
        &self,
        id: &Id,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send;

    /// Removes the record (no error if it is absent).
    fn delete(&self, id: &Id) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The optional capabilities this store offers, each a trait of its
    /// own beside this one: [`CycleStore`] (atomic id cycling),
    /// [`UserIndex`] (the user index), [`LeaseStore`] (leases across
    /// instances) and [`ExpiredCleanup`] (removing expired sessions).
    ///
    /// The default advertises none: the layer then cycles ids in steps
    /// ([`cycle_in_steps`]), answers the account operations of
    /// [`Session`](crate::Session) with [`StoreError::Unsupported`], and
    /// serializes requests within one process only. A store that
    /// implements a capability trait says so here, and the conformance
    /// suite checks that it advertises exactly the capabilities it was
    /// tested for:
    ///
    /// ```
    /// use session_core::store::{
    ///     async_trait, Capabilities, ChangeSet, Created, ExpiredCleanup, Id, Record, Saved,
    ///     SessionStore, StoreError,
    /// };
    /// use session_core::time::OffsetDateTime;
    ///
    /// #[derive(Debug)]
    /// struct Tiny;
    ///
    /// impl SessionStore for Tiny {
    ///     async fn load(&self, _: &Id) -> Result<Option<Record>, StoreError> { Ok(None) }
    ///     async fn create(&self, _: &Record) -> Result<Created, StoreError> { Ok(Created::Inserted) }
    ///     async fn save(&self, _: &Id, _: &ChangeSet) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
    ///     async fn touch(&self, _: &Id, _: OffsetDateTime) -> Result<Saved, StoreError> { Ok(Saved::Gone) }
    ///     async fn delete(&self, _: &Id) -> Result<(), StoreError> { Ok(()) }
    ///
    ///     fn capabilities(&self) -> Capabilities<'_> {
    ///         Capabilities::none().with_cleanup(self)
    ///     }
    /// }
    ///
    /// #[async_trait]
    /// impl ExpiredCleanup for Tiny {
    ///     async fn delete_expired(&self) -> Result<u64, StoreError> { Ok(0) }
    /// }
    ///
    /// assert!(Tiny.capabilities().cleanup.is_some());
    /// assert!(Tiny.capabilities().users.is_none());
    /// ```
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
    }

    /// A short, fixed name for what kind of store this is, the `store`
    /// label of the [`session_store_duration_seconds`](crate::metrics)
    /// histogram (feature `metrics`): the stores of this project answer
    /// `"memory"`, `"redis"` and `"sql"`, and a wrapper such as
    /// [`Encrypted`] answers what it wraps. The default is `"custom"`.
    /// Keep it to a handful of values: each is a time series.
    ///
    /// ```
    /// use session_core::store::SessionStore;
    /// use session_store_memory::MemoryStore;
    ///
    /// assert_eq!(MemoryStore::new().kind(), "memory");
    /// ```
    fn kind(&self) -> &'static str {
        "custom"
    }
}

#[cfg(test)]
mod tests;
