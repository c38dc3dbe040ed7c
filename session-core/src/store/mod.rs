//! The store contract: what a place that keeps sessions must do.
//!
//! A store keeps [`Record`]s. The layer calls it at most a few times per
//! request: [`load`](SessionStore::load) on first access,
//! then one of [`create`](SessionStore::create),
//! [`save`](SessionStore::save), [`touch`](SessionStore::touch) or
//! [`delete`](SessionStore::delete) after the handler. Every store crate runs
//! the shared conformance suite ([`conformance`], feature `conformance`)
//! against itself.
//!
//! This module is for store authors. Applications pick a store crate
//! (`session-store-memory`, `session-store-redis`, `session-store-sql`) and
//! hand it to [`SessionLayer::new`](crate::SessionLayer::new); they never
//! call these methods themselves.
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

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;

pub use crate::at_rest::{Encrypted, RESERVED_KEY_PREFIX};
pub use crate::id::{Id, ParseIdError};
use crate::Expiry;
pub use async_trait::async_trait;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

/// Session data: string keys to JSON values.
pub type Data = serde_json::Map<String, Value>;

/// `at` as Unix time in milliseconds, rounded down (towards the past, also
/// before 1970), the form stores keep times in; saturates at the ends of
/// `i64`.
///
/// ```
/// use session_core::store::unix_millis;
/// use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
///
/// let epoch = OffsetDateTime::UNIX_EPOCH;
/// assert_eq!(unix_millis(epoch + Duration::microseconds(1_999)), 1);
/// assert_eq!(unix_millis(epoch - Duration::nanoseconds(1)), -1);
/// let far = PrimitiveDateTime::MAX.assume_utc();
/// assert_eq!(unix_millis(far), far.unix_timestamp() * 1000 + 999);
/// ```
pub fn unix_millis(at: OffsetDateTime) -> i64 {
    // Whole seconds (floored) and the millisecond within the second: plain
    // `i64` arithmetic, no 128-bit division (this runs on every request).
    at.unix_timestamp()
        .saturating_mul(1000)
        .saturating_add(i64::from(at.millisecond()))
}

/// The time `millis` Unix milliseconds after 1970 (before, if negative),
/// or `None` outside the range an [`OffsetDateTime`] holds: a store reports
/// such a stored value as [`StoreError::Corrupt`].
///
/// ```
/// use session_core::store::{from_unix_millis, unix_millis};
/// use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
///
/// let epoch = OffsetDateTime::UNIX_EPOCH;
/// assert_eq!(from_unix_millis(-1), Some(epoch - Duration::milliseconds(1)));
/// let far = PrimitiveDateTime::MAX.assume_utc();
/// let back = from_unix_millis(unix_millis(far)).unwrap();
/// assert!(back <= far && far - back < Duration::milliseconds(1));
/// assert_eq!(from_unix_millis(i64::MAX), None);
/// assert_eq!(from_unix_millis(i64::MIN), None);
/// ```
pub fn from_unix_millis(millis: i64) -> Option<OffsetDateTime> {
    let seconds = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)).ok()?;
    // Whole seconds have no millisecond part: set it (no date arithmetic).
    let within = u16::try_from(millis.rem_euclid(1000)).ok()?;
    seconds.replace_millisecond(within).ok()
}

/// One stored session.
///
/// ```
/// use session_core::store::{Id, Record};
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::now_utc();
/// let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
/// record.data.insert("user".into(), "alice".into());
/// assert!(!record.is_expired(now));
/// assert!(record.is_expired(now + Duration::hours(1)));
/// ```
///
/// The struct is `#[non_exhaustive]`: stores build one with
/// [`Record::new`] and set the public fields, so a field added later does
/// not break them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The session id (the store's key).
    pub id: Id,
    /// The data.
    pub data: Data,
    /// When the session was created; the absolute timeout counts from here.
    pub created_at: OffsetDateTime,
    /// When the store must stop returning it.
    pub expires_at: OffsetDateTime,
    /// The session's own expiry policy, set with
    /// [`Session::set_expiry`](crate::Session::set_expiry) ("remember me");
    /// `None` follows the layer's configuration. Stores keep it as
    /// [`Expiry::to_stored`] text and read it back with
    /// [`Expiry::from_stored`].
    pub expiry: Option<Expiry>,
    /// The user the session is bound to
    /// ([`Session::set_user`](crate::Session::set_user)), or `None`. Stores
    /// keep an index from user to sessions for
    /// [`SessionStore::list_user`] and [`SessionStore::delete_user`].
    pub user: Option<String>,
}

impl Record {
    /// An empty record.
    ///
    /// ```
    /// use session_core::store::{Id, Record};
    /// use time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// assert!(Record::new(Id::random(), now, now).data.is_empty());
    /// ```
    pub fn new(id: Id, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            data: Data::new(),
            created_at,
            expires_at,
            expiry: None,
            user: None,
        }
    }

    /// Whether the record is expired at `now` (expiry is exclusive: a record
    /// is gone at its `expires_at`).
    ///
    /// ```
    /// use session_core::store::{Id, Record};
    /// use time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// assert!(Record::new(Id::random(), now, now).is_expired(now));
    /// ```
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
}

/// What one request changed: keys set, keys removed, and the new expiry.
///
/// A store applies a change set atomically and only to a record that still
/// exists. Two change sets touching different keys of one record must both
/// survive, whatever order they arrive in. The layer never names one key in
/// both lists; a store that receives such a set applies the removals first,
/// then the sets (as [`ChangeSet::apply_to`] does).
///
/// ```
/// use session_core::store::ChangeSet;
/// use time::OffsetDateTime;
///
/// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
/// changes.set.insert("count".into(), 3.into());
/// changes.removed.push("flash".into());
/// assert!(!changes.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChangeSet {
    /// Keys to set, with their new values.
    pub set: BTreeMap<String, Value>,
    /// Keys to remove.
    pub removed: Vec<String>,
    /// The record's new expiry.
    pub expires_at: OffsetDateTime,
    /// `Some(policy)` when the request changed the session's expiry policy
    /// ([`Record::expiry`]; `Some(None)` returns it to the layer's
    /// configuration); `None` leaves the stored policy as it is.
    pub expiry: Option<Option<Expiry>>,
    /// `Some(Some(user))` when the request bound the session to `user`,
    /// `Some(None)` when it unbound it ([`Record::user`]); `None` leaves
    /// the binding as it is. The record's `user` changes in the same atomic
    /// step as the rest of the change; the user index follows in an order
    /// that never hides a bound session from
    /// [`SessionStore::delete_user`] (a store that cannot update both
    /// atomically, such as a Redis Cluster, adds to the new user's index
    /// before the record names the user, and treats the record as the
    /// truth when listing).
    pub user: Option<Option<String>>,
    /// True when [`expires_at`](Self::expires_at) is the expiry the store
    /// already holds (the request did not move it, within the layer's
    /// [`with_expiry_precision`](crate::SessionConfig::with_expiry_precision)):
    /// a store may skip rewriting it. Writing it again is also correct.
    pub expiry_kept: bool,
}

impl ChangeSet {
    /// A change set that only moves the expiry.
    ///
    /// ```
    /// use session_core::store::ChangeSet;
    /// use time::OffsetDateTime;
    ///
    /// assert!(ChangeSet::new(OffsetDateTime::now_utc()).is_empty());
    /// ```
    pub fn new(expires_at: OffsetDateTime) -> Self {
        Self {
            set: BTreeMap::new(),
            removed: Vec::new(),
            expires_at,
            expiry: None,
            user: None,
            expiry_kept: false,
        }
    }

    /// True when no key is set or removed, and the expiry policy and the
    /// user binding are kept.
    ///
    /// ```
    /// use session_core::store::ChangeSet;
    /// use time::OffsetDateTime;
    ///
    /// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
    /// changes.removed.push("k".into());
    /// assert!(!changes.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.removed.is_empty()
            && self.expiry.is_none()
            && self.user.is_none()
    }

    /// Applies the change set to `data` in place (for stores that keep the
    /// whole map, such as the memory store).
    ///
    /// ```
    /// use session_core::store::{ChangeSet, Data};
    /// use time::OffsetDateTime;
    ///
    /// let mut data = Data::new();
    /// data.insert("a".into(), 1.into());
    /// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
    /// changes.set.insert("b".into(), 2.into());
    /// changes.removed.push("a".into());
    /// changes.apply_to(&mut data);
    /// assert_eq!(data.len(), 1);
    /// assert_eq!(data["b"], 2);
    /// ```
    pub fn apply_to(&self, data: &mut Data) {
        for key in &self.removed {
            // Keep the order of the other keys, as the session does.
            data.shift_remove(key);
        }
        for (key, value) in &self.set {
            data.insert(key.clone(), value.clone());
        }
    }
}

/// The outcome of [`SessionStore::create`].
///
/// ```
/// use session_core::store::Created;
///
/// assert_ne!(Created::Inserted, Created::IdTaken);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The record was stored.
    Inserted,
    /// A live record already has this id; nothing was written. The layer
    /// draws a new id and tries again.
    IdTaken,
}

/// The outcome of [`SessionStore::save`] and [`SessionStore::touch`].
///
/// ```
/// use session_core::store::Saved;
///
/// assert_ne!(Saved::Applied, Saved::Gone);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The change was applied.
    Applied,
    /// The record no longer exists (deleted, or expired): nothing was
    /// written, and the session must not come back.
    Gone,
}

/// The outcome of [`SessionStore::cycle`].
///
/// ```
/// use session_core::store::Cycled;
///
/// assert_ne!(Cycled::Moved, Cycled::Gone);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cycled {
    /// The new record is stored and the old one is gone.
    Moved,
    /// A live record already has the new id; nothing was written. The
    /// layer draws another id and tries again.
    IdTaken,
    /// The old record no longer exists (another request ended the
    /// session): nothing was written, and the session must not come back.
    Gone,
}

/// A store failure.
///
/// [`StoreError::Unavailable`] means the store could not be reached (or
/// timed out) and becomes `503 Service Unavailable`; the others become
/// `500 Internal Server Error`.
///
/// ```
/// use session_core::store::StoreError;
///
/// let err = StoreError::unavailable(std::io::Error::other("connection refused"));
/// assert!(err.to_string().contains("connection refused"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A stored record could not be decoded (corrupt or foreign data).
    #[error("session record is corrupt: {0}")]
    Corrupt(String),
    /// The store was reached but the operation failed (a query or script
    /// error, a refused command, a value the store would not take).
    #[error("session store failed: {0}")]
    Failed(#[source] BoxError),
    /// The store does not offer this operation (a store written before
    /// user indexes existed keeps the default bodies of
    /// [`SessionStore::list_user`] and [`SessionStore::delete_user`]).
    #[error("this session store does not support `{0}`")]
    Unsupported(&'static str),
}

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// Wraps an error as [`StoreError::Unavailable`].
    ///
    /// ```
    /// use session_core::store::StoreError;
    ///
    /// let err = StoreError::unavailable(std::io::Error::other("timed out"));
    /// assert!(matches!(err, StoreError::Unavailable(_)));
    /// ```
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Wraps an error as [`StoreError::Failed`].
    ///
    /// ```
    /// use session_core::store::StoreError;
    ///
    /// let err = StoreError::failed(std::io::Error::other("syntax error"));
    /// assert!(matches!(err, StoreError::Failed(_)));
    /// ```
    pub fn failed(err: impl Into<BoxError>) -> Self {
        Self::Failed(err.into())
    }
}

/// A place that keeps sessions.
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
/// Stores implement it with [`async_trait`](macro@async_trait); the layer holds one as a
/// `dyn SessionStore`. A store is any `Debug + Send + Sync` type, so an
/// `Arc` of one is a store too:
///
/// ```
/// use std::sync::Arc;
/// use session_core::store::SessionStore;
/// use session_core::{Key, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// let store = Arc::new(MemoryStore::new());
/// let layer = SessionLayer::new(store.clone(), Key::generate());
/// let as_trait: &dyn SessionStore = &*store; // what the layer calls
/// # let _ = (layer, as_trait);
/// ```
#[async_trait]
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// The record with this id, or `None` if there is none or it expired.
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError>;

    /// Inserts `record` unless a live record has its id
    /// ([`Created::IdTaken`]; nothing is overwritten).
    async fn create(&self, record: &Record) -> Result<Created, StoreError>;

    /// Applies `changes` atomically to the live record `id`:
    /// sets `changes.set`, removes `changes.removed`, moves the expiry.
    /// Keys not named keep whatever value they have in the store now.
    /// Returns [`Saved::Gone`] (writing nothing) when there is no live record.
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError>;

    /// Moves only the expiry of the live record `id`; the data is not
    /// rewritten. [`Saved::Gone`] when there is no live record.
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError>;

    /// Removes the record (no error if it is absent).
    async fn delete(&self, id: &Id) -> Result<(), StoreError>;

    /// Moves the live session `old` to `record` (a fresh id, the data the
    /// request ends with): stores `record`, deletes `old`. Used by
    /// [`Session::cycle_id`](crate::Session::cycle_id) at login.
    ///
    /// When `old` is no longer live (a logout ran meanwhile), nothing may
    /// be written: [`Cycled::Gone`]. The default body checks `old` with
    /// [`touch`](SessionStore::touch) after creating `record` and removes
    /// `record` again when `old` was gone, which leaves a window of one
    /// round trip between the check and the delete of `old`; stores that
    /// can do it atomically (a transaction, one lock) override it.
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        cycle_in_steps(self, old, record).await
    }

    /// Removes expired records (and what they leave in the user index) and
    /// returns how many it removed. The default does nothing; Redis, whose
    /// records expire natively, uses it to prune index entries of expired
    /// sessions and counts those. Call it periodically (the SQL store has
    /// `SqlStore::spawn_cleanup`).
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// The live sessions bound to `user` ([`Record::user`]), oldest first.
    /// Expired or deleted sessions never appear, and leave no index entry
    /// behind that grows without bound.
    ///
    /// The default body answers [`StoreError::Unsupported`]; every store of
    /// this project implements it.
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let _ = user;
        Err(StoreError::Unsupported("list_user"))
    }

    /// Deletes every live session bound to `user` except `keep` (when it is
    /// one of them) and returns how many it deleted. Deleted sessions are
    /// gone for good: a [`save`](SessionStore::save),
    /// [`touch`](SessionStore::touch) or [`cycle`](SessionStore::cycle)
    /// racing this call answers `Gone` and writes nothing, the same "logout
    /// wins" rule as [`delete`](SessionStore::delete).
    ///
    /// The default body answers [`StoreError::Unsupported`]; every store of
    /// this project implements it.
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        let _ = (user, keep);
        Err(StoreError::Unsupported("delete_user"))
    }

    /// Ends the live session `id` if it is bound to `user`, and says
    /// whether it did: `false` when `id` is gone, expired, bound to
    /// someone else, or was moved to a new id by a
    /// [`cycle`](SessionStore::cycle) that ran first (the moved session
    /// goes on under its new id). Like [`delete`](SessionStore::delete),
    /// what it ends is gone for good ("logout wins").
    ///
    /// The default body answers [`StoreError::Unsupported`]; every store of
    /// this project implements it.
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let _ = (user, id);
        Err(StoreError::Unsupported("end_user_session"))
    }

    /// Takes the lease on session `id` that serializes its requests across
    /// every instance of the application sharing this store, waiting (for
    /// a bound the store sets) while another request holds it.
    ///
    /// The layer calls it only with
    /// [`with_serialized_requests(true)`](crate::SessionConfig::with_serialized_requests),
    /// when a request first loads a session it names (a request that never
    /// touches its session takes no lease), and gives the lease back with
    /// [`SessionLease::release`] once the request's writes are done. An
    /// error ([`StoreError::Unavailable`] when the wait ran out) fails the
    /// load, and the layer answers `503`.
    ///
    /// The default body answers `Ok(None)`: no lease across instances, so
    /// requests are serialized only within one process (by the layer's own
    /// lock). A store shared by several instances overrides it.
    ///
    /// ```
    /// use session_core::store::SessionStore;
    /// use session_core::Id;
    /// use session_store_memory::MemoryStore;
    ///
    /// # tokio_test(async {
    /// // The memory store lives in one process: it needs no lease.
    /// let lease = MemoryStore::new().lock(&Id::random()).await.unwrap();
    /// assert!(lease.is_none());
    /// # });
    /// # fn tokio_test(f: impl std::future::Future<Output = ()>) {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    async fn lock(&self, id: &Id) -> Result<Option<Box<dyn SessionLease>>, StoreError> {
        let _ = id;
        Ok(None)
    }
}

/// A lease on one session taken by [`SessionStore::lock`]: while it is
/// held, no other request of the session, in any instance, gets one.
///
/// A lease is bounded in time by the store (so that an instance that dies
/// holding one blocks its session only until it runs out); a request that
/// outlives it is no longer alone. Dropping a lease without
/// [`release`](Self::release) leaves it to run out.
///
/// ```
/// use session_core::store::{async_trait, SessionLease};
///
/// #[derive(Debug)]
/// struct NoLease;
///
/// #[async_trait]
/// impl SessionLease for NoLease {
///     async fn release(self: Box<Self>) {}
/// }
/// ```
#[async_trait]
pub trait SessionLease: fmt::Debug + Send + Sync + 'static {
    /// Gives the lease back, unless it ran out and another request holds
    /// the session now (that lease is left alone). Errors are the store's
    /// to log: the lease then runs out by itself.
    async fn release(self: Box<Self>);
}

/// One live session of a user, as [`SessionStore::list_user`] reports it.
///
/// `id` is the store's key for the session, which is a one-way digest of
/// the id the cookie carries ([`Id::at_rest`]): it cannot be turned into a
/// cookie. Show users the [`handle`](UserSession::handle) instead.
///
/// ```
/// use session_core::store::{Id, UserSession};
/// use session_core::time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::now_utc();
/// let session = UserSession::new(Id::random(), now, now + Duration::hours(1));
/// assert_eq!(session.handle().len(), 16);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct UserSession {
    /// The store's key of the session.
    pub id: Id,
    /// When the session began.
    pub created_at: OffsetDateTime,
    /// When it ends unless used again (with an idle timeout or rolling
    /// expiry this moves with each use, so it also tells when the session
    /// was last seen).
    pub expires_at: OffsetDateTime,
}

impl UserSession {
    /// A listed session.
    ///
    /// ```
    /// use session_core::store::{Id, UserSession};
    /// use session_core::time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// assert_eq!(UserSession::new(Id::from_bytes([1; 16]), now, now).id, Id::from_bytes([1; 16]));
    /// ```
    pub fn new(id: Id, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            created_at,
            expires_at,
        }
    }

    /// A short name for the session that is safe to show and to send back
    /// (16 characters of URL-safe base64, a digest of the store's key): it
    /// tells sessions apart in a "your devices" page and names one to end,
    /// but leads to neither the cookie nor the store's key.
    ///
    /// ```
    /// use session_core::store::{Id, UserSession};
    /// use session_core::time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// let a = UserSession::new(Id::from_bytes([1; 16]), now, now);
    /// let b = UserSession::new(Id::from_bytes([2; 16]), now, now);
    /// assert_ne!(a.handle(), b.handle());
    /// assert!(!a.handle().contains(&a.id.encode()));
    /// ```
    pub fn handle(&self) -> String {
        self.id.handle()
    }
}

/// Runs [`delete_expired`](SessionStore::delete_expired) on `store` now
/// and then every `period`, on a Tokio task, until the handle is aborted:
/// the periodic cleanup every store needs (the SQL store's expired rows,
/// the Redis store's index entries of expired sessions). Failures are
/// logged with `tracing` (`WARN`) and retried at the next period; what
/// each run removed is logged at `DEBUG`.
///
/// # Panics
///
/// Outside a Tokio runtime, or if `period` is zero.
///
/// ```
/// use std::time::Duration;
/// use session_core::store::spawn_cleanup;
/// use session_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::new();
/// let cleanup = spawn_cleanup(store.clone(), Duration::from_secs(15 * 60));
/// // ... serve with `store` ...
/// cleanup.abort();
/// # }
/// ```
pub fn spawn_cleanup<S: SessionStore + Clone>(
    store: S,
    period: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    assert!(!period.is_zero(), "spawn_cleanup needs a period above zero");
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.delete_expired().await {
                Ok(removed) => tracing::debug!(?store, removed, "expired sessions cleaned up"),
                Err(err) => tracing::warn!(
                    ?store,
                    error = %err,
                    "cleaning up expired sessions failed; retrying at the next period"
                ),
            }
        }
    })
}

/// The body of [`SessionStore::cycle`]'s default, for a store that
/// overrides `cycle` but must fall back to it in some cases (a Redis
/// Cluster, where the two keys live in different slots): create `record`,
/// check with [`touch`](SessionStore::touch) that `old` is still live
/// (if not, delete `record` again: [`Cycled::Gone`]), delete `old`.
///
/// ```
/// use session_core::store::{cycle_in_steps, Cycled, Id, Record, SessionStore};
/// use session_core::time::{Duration, OffsetDateTime};
/// use session_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), session_core::store::StoreError> {
/// let store = MemoryStore::new();
/// let now = OffsetDateTime::now_utc();
/// let old = Record::new(Id::random(), now, now + Duration::hours(1));
/// store.create(&old).await?;
/// let moved = Record::new(Id::random(), now, now + Duration::hours(1));
/// assert_eq!(cycle_in_steps(&store, &old.id, &moved).await?, Cycled::Moved);
/// assert!(store.load(&old.id).await?.is_none());
/// # Ok(()) }
/// ```
pub async fn cycle_in_steps<S: SessionStore + ?Sized>(
    store: &S,
    old: &Id,
    record: &Record,
) -> Result<Cycled, StoreError> {
    if store.create(record).await? == Created::IdTaken {
        return Ok(Cycled::IdTaken);
    }
    if store.touch(old, record.expires_at).await? == Saved::Gone {
        store.delete(&record.id).await?;
        return Ok(Cycled::Gone);
    }
    store.delete(old).await?;
    Ok(Cycled::Moved)
}

/// The future every [`SessionStore`] method returns once
/// [`async_trait`](macro@async_trait) has rewritten it.
type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A shared store is a store. Each method hands back the inner store's own
/// boxed future instead of boxing one that awaits it: no allocation of its
/// own per call (the layer holds its store as an `Arc<dyn SessionStore>`,
/// and [`Encrypted`] may wrap one).
impl<S: SessionStore + ?Sized> SessionStore for std::sync::Arc<S> {
    fn load<'s, 'i, 'f>(&'s self, id: &'i Id) -> StoreFuture<'f, Option<Record>>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).load(id)
    }
    fn create<'s, 'r, 'f>(&'s self, record: &'r Record) -> StoreFuture<'f, Created>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).create(record)
    }
    fn save<'s, 'i, 'c, 'f>(&'s self, id: &'i Id, changes: &'c ChangeSet) -> StoreFuture<'f, Saved>
    where
        's: 'f,
        'i: 'f,
        'c: 'f,
        Self: 'f,
    {
        (**self).save(id, changes)
    }
    fn touch<'s, 'i, 'f>(&'s self, id: &'i Id, expires_at: OffsetDateTime) -> StoreFuture<'f, Saved>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).touch(id, expires_at)
    }
    fn delete<'s, 'i, 'f>(&'s self, id: &'i Id) -> StoreFuture<'f, ()>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).delete(id)
    }
    fn cycle<'s, 'o, 'r, 'f>(&'s self, old: &'o Id, record: &'r Record) -> StoreFuture<'f, Cycled>
    where
        's: 'f,
        'o: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).cycle(old, record)
    }
    fn delete_expired<'s, 'f>(&'s self) -> StoreFuture<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        (**self).delete_expired()
    }
    fn list_user<'s, 'u, 'f>(&'s self, user: &'u str) -> StoreFuture<'f, Vec<UserSession>>
    where
        's: 'f,
        'u: 'f,
        Self: 'f,
    {
        (**self).list_user(user)
    }
    fn delete_user<'s, 'u, 'k, 'f>(
        &'s self,
        user: &'u str,
        keep: Option<&'k Id>,
    ) -> StoreFuture<'f, u64>
    where
        's: 'f,
        'u: 'f,
        'k: 'f,
        Self: 'f,
    {
        (**self).delete_user(user, keep)
    }
    fn end_user_session<'s, 'u, 'i, 'f>(
        &'s self,
        user: &'u str,
        id: &'i Id,
    ) -> StoreFuture<'f, bool>
    where
        's: 'f,
        'u: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).end_user_session(user, id)
    }
    fn lock<'s, 'i, 'f>(&'s self, id: &'i Id) -> StoreFuture<'f, Option<Box<dyn SessionLease>>>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).lock(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `i64` conversions agree with the plain 128-bit formulas they
    /// replace, across the range a time holds, negative times included.
    #[test]
    fn millisecond_conversions_match_the_nanosecond_formulas() {
        let reference = |at: OffsetDateTime| -> i64 {
            i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap()
        };
        let min = unix_millis(time::PrimitiveDateTime::MIN.assume_utc());
        let max = unix_millis(time::PrimitiveDateTime::MAX.assume_utc());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut samples: Vec<i64> = vec![0, -1, 1, -999, -1000, -1001, 999, 1000, 1001, min, max];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = (max - min) as u64;
            samples.push(min + (x % span) as i64);
            samples.push((x % 4_000_000_000_000) as i64 - 2_000_000_000_000);
        }
        for millis in samples {
            let at = from_unix_millis(millis).expect("in range");
            let expected =
                OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap();
            assert_eq!(at, expected, "{millis}");
            assert_eq!(unix_millis(at), millis);
            let later = at + time::Duration::nanoseconds(999_999);
            assert_eq!(unix_millis(later), reference(later), "{millis} + 999999 ns");
        }
        assert_eq!(from_unix_millis(min - 1), None);
        assert_eq!(from_unix_millis(max + 1), None);
    }
}
