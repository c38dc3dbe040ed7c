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

mod capabilities;
pub(crate) use capabilities::user_index;
pub use capabilities::{cycle, Capabilities, CycleStore, ExpiredCleanup, LeaseStore, UserIndex};

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
    /// ([`Session::set_user`](crate::Session::set_user)), or `None`. Every
    /// store keeps it; a store with a [`UserIndex`] also indexes sessions
    /// by it, in the same write (see [`UserIndex`] for why).
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
    /// [`UserIndex::delete_user`] (a store that cannot update both
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

/// The outcome of a cycle: [`CycleStore::cycle`], [`cycle`] or
/// [`cycle_in_steps`].
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
    /// The store does not offer this operation: it does not advertise the
    /// capability it belongs to ([`SessionStore::capabilities`]), such as
    /// the [`UserIndex`] behind
    /// [`Session::user_sessions`](crate::Session::user_sessions).
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
    /// #[async_trait]
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
}

/// A lease on one session taken by [`LeaseStore::lock`]: while it is
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

/// One live session of a user, as [`UserIndex::list_user`] reports it.
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

/// Runs [`delete_expired`](ExpiredCleanup::delete_expired) on `store` now
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
pub fn spawn_cleanup<S: ExpiredCleanup + Clone>(
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

/// Moves the live session `old` to `record` with the five required
/// methods, for a store without the [`CycleStore`] capability (what
/// [`cycle`] does for it) or one that must fall back to steps in some
/// cases (a Redis Cluster, where the two keys live in different slots):
/// create `record`, check with [`touch`](SessionStore::touch) that `old`
/// is still live (if not, delete `record` again: [`Cycled::Gone`]),
/// delete `old`. Between the check and the delete of `old` lies one round
/// trip in which a request of `old` may still write to it.
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
pub(crate) type StoreFuture<'a, T> =
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
    fn capabilities(&self) -> Capabilities<'_> {
        (**self).capabilities()
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
