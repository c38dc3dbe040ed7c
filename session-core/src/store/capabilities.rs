//! The optional capabilities of a store: each its own trait beside
//! [`SessionStore`], advertised with [`SessionStore::capabilities`].

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    async_trait, Created, Cycled, Id, Record, Saved, SessionStore, StoreError, StoreFuture,
};

/// The optional capabilities a store offers, as
/// [`SessionStore::capabilities`] reports them: for each, the store as that
/// capability's trait, or `None`.
///
/// A store builds its answer from [`Capabilities::none`] with one `with_*`
/// call per capability trait it implements:
///
/// ```
/// use session_core::store::{Capabilities, SessionStore};
/// use session_store_memory::MemoryStore;
///
/// let store = MemoryStore::new();
/// let capabilities = store.capabilities();
/// assert!(capabilities.cycle.is_some() && capabilities.users.is_some());
/// assert!(capabilities.leases.is_none()); // one process needs no lease
/// assert!(Capabilities::none().cycle.is_none());
/// ```
///
/// A store that wraps another one (as [`Encrypted`](super::Encrypted)
/// does) advertises what the wrapped store advertises, setting the fields
/// it forwards:
///
/// ```
/// # use session_core::store::{Capabilities, SessionStore};
/// # fn wrapping<'a>(me: &'a dyn session_core::store::UserIndex, inner: &impl SessionStore) -> Capabilities<'a> {
/// let mut capabilities = Capabilities::none();
/// capabilities.users = inner.capabilities().users.map(|_| me);
/// # capabilities }
/// ```
///
/// The struct is `#[non_exhaustive]`: a capability added later is one
/// more field, `None` for stores that do not set it.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct Capabilities<'a> {
    /// Moving a session to a new id in one atomic step ([`CycleStore`]).
    pub cycle: Option<&'a dyn CycleStore>,
    /// The index from user to sessions ([`UserIndex`]).
    pub users: Option<&'a dyn UserIndex>,
    /// Leases that serialize a session's requests across instances
    /// ([`LeaseStore`]).
    pub leases: Option<&'a dyn LeaseStore>,
    /// Removing expired sessions on demand ([`ExpiredCleanup`]).
    pub cleanup: Option<&'a dyn ExpiredCleanup>,
}

impl<'a> Capabilities<'a> {
    /// No optional capability: what a store that implements only
    /// [`SessionStore`] offers.
    ///
    /// ```
    /// use session_core::store::Capabilities;
    ///
    /// let none = Capabilities::none();
    /// assert!(none.cycle.is_none() && none.users.is_none());
    /// assert!(none.leases.is_none() && none.cleanup.is_none());
    /// ```
    pub const fn none() -> Self {
        Self {
            cycle: None,
            users: None,
            leases: None,
            cleanup: None,
        }
    }

    /// Advertises atomic id cycling ([`CycleStore`]).
    ///
    /// ```
    /// use session_core::store::{Capabilities, SessionStore};
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert!(Capabilities::none().with_cycle(&store).cycle.is_some());
    /// ```
    pub fn with_cycle(mut self, store: &'a dyn CycleStore) -> Self {
        self.cycle = Some(store);
        self
    }

    /// Advertises the user index ([`UserIndex`]).
    ///
    /// ```
    /// use session_core::store::Capabilities;
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert!(Capabilities::none().with_users(&store).users.is_some());
    /// ```
    pub fn with_users(mut self, store: &'a dyn UserIndex) -> Self {
        self.users = Some(store);
        self
    }

    /// Advertises leases across instances ([`LeaseStore`]).
    ///
    /// ```
    /// # use session_core::store::{Capabilities, LeaseStore};
    /// # fn demo(store: &dyn LeaseStore) {
    /// assert!(Capabilities::none().with_leases(store).leases.is_some());
    /// # }
    /// ```
    pub fn with_leases(mut self, store: &'a dyn LeaseStore) -> Self {
        self.leases = Some(store);
        self
    }

    /// Advertises removing expired sessions ([`ExpiredCleanup`]).
    ///
    /// ```
    /// use session_core::store::Capabilities;
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert!(Capabilities::none().with_cleanup(&store).cleanup.is_some());
    /// ```
    pub fn with_cleanup(mut self, store: &'a dyn ExpiredCleanup) -> Self {
        self.cleanup = Some(store);
        self
    }
}

/// Which capabilities are there (not the stores themselves, which would
/// print four times).
impl fmt::Debug for Capabilities<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("cycle", &self.cycle.is_some())
            .field("users", &self.users.is_some())
            .field("leases", &self.leases.is_some())
            .field("cleanup", &self.cleanup.is_some())
            .finish()
    }
}

/// A store that moves a session to a new id in one atomic step.
///
/// [`Session::cycle_id`](crate::Session::cycle_id) (at login) moves the
/// live session `old` to a fresh id. Without this capability the layer
/// does it in steps ([`cycle_in_steps`]): create the new record, check
/// with [`touch`](SessionStore::touch) that `old` is still live (if not,
/// delete the new record again), delete `old`. That leaves a window of
/// one round trip between the check and the delete of `old`, in which a
/// request of `old` may still write to it; a store that can do it
/// atomically (a transaction, one lock, one script) implements this.
/// Advertise it with [`Capabilities::with_cycle`].
#[async_trait]
pub trait CycleStore: fmt::Debug + Send + Sync + 'static {
    /// Moves the live session `old` to `record` (a fresh id, the data the
    /// request ends with): stores `record`, deletes `old`, in one atomic
    /// step.
    ///
    /// When `old` is no longer live (a logout ran meanwhile), nothing may
    /// be written: [`Cycled::Gone`]. When a live record already has
    /// `record`'s id, nothing is written either: [`Cycled::IdTaken`].
    /// A store that also has a [`UserIndex`] moves the index entry in the
    /// same step (see there).
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError>;
}

/// A store that keeps an index from user to sessions: what
/// [`Session::user_sessions`](crate::Session::user_sessions),
/// [`end_other_sessions`](crate::Session::end_other_sessions),
/// [`end_all_sessions`](crate::Session::end_all_sessions) and
/// [`end_session`](crate::Session::end_session) use. Advertise it with
/// [`Capabilities::with_users`]; without it, those answer
/// [`StoreError::Unsupported`] for a session bound to a user.
///
/// # Why the binding stays in the core write path
///
/// The binding itself is not part of this trait: it travels in
/// [`Record::user`] and [`ChangeSet::user`](super::ChangeSet::user), and
/// every store keeps it through [`create`](SessionStore::create),
/// [`save`](SessionStore::save) and [`cycle`](CycleStore::cycle). A store
/// with this capability updates its index *in the same atomic write* as
/// the record (or, where it cannot, such as a Redis Cluster, adds to the
/// new user's index before the record names the user and treats the
/// record as the truth when listing). A separate "bind" call after the
/// write would leave a moment where a session is bound but not indexed,
/// and a [`delete_user`](UserIndex::delete_user) ("log out everywhere")
/// running in that moment would miss it. So this capability reaches into
/// the record: that is the atomicity guarantee it keeps.
#[async_trait]
pub trait UserIndex: fmt::Debug + Send + Sync + 'static {
    /// The live sessions bound to `user` ([`Record::user`]), oldest first.
    /// Expired or deleted sessions never appear, and leave no index entry
    /// behind that grows without bound.
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError>;

    /// Deletes every live session bound to `user` except `keep` (when it is
    /// one of them) and returns how many it deleted. Deleted sessions are
    /// gone for good: a [`save`](SessionStore::save),
    /// [`touch`](SessionStore::touch) or cycle (atomic,
    /// [`CycleStore::cycle`], or in steps) racing this call answers `Gone`
    /// and writes nothing, the same "logout wins" rule as
    /// [`delete`](SessionStore::delete); a session moved to a new id by a
    /// cycle racing this call is ended under its new id.
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError>;

    /// Ends the live session `id` if it is bound to `user`, and says
    /// whether it did: `false` when `id` is gone, expired, bound to
    /// someone else, or was moved to a new id by a cycle that ran first
    /// (the moved session goes on under its new id). Like
    /// [`delete`](SessionStore::delete), what it ends is gone for good
    /// ("logout wins").
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError>;
}

/// A store that serializes the requests of one session across every
/// instance of the application sharing it, with a lease per session.
///
/// The layer uses it only with
/// [`with_serialized_requests(true)`](crate::SessionConfig::with_serialized_requests).
/// Without this capability, requests are serialized only within one
/// process (by the layer's own lock), which is all a store living in one
/// process needs. Advertise it with [`Capabilities::with_leases`].
#[async_trait]
pub trait LeaseStore: fmt::Debug + Send + Sync + 'static {
    /// Takes the lease on session `id`, waiting (for a bound the store
    /// sets) while another request holds it.
    ///
    /// The layer calls it when a request first loads a session it names
    /// (a request that never touches its session takes no lease), and
    /// gives the lease back with [`SessionLease::release`] once the
    /// request's writes are done. An error ([`StoreError::Unavailable`]
    /// when the wait ran out) fails the load, and the layer answers `503`.
    async fn lock(&self, id: &Id) -> Result<Box<dyn SessionLease>, StoreError>;
}

/// A store that removes expired sessions (and what they leave in the user
/// index) when asked: the SQL store's expired rows, the Redis store's
/// index entries of expired sessions. A store whose expired sessions leave
/// nothing behind does not need it. Run it periodically with
/// [`spawn_cleanup`](super::spawn_cleanup); advertise it with
/// [`Capabilities::with_cleanup`].
#[async_trait]
pub trait ExpiredCleanup: fmt::Debug + Send + Sync + 'static {
    /// Removes expired records (and what they leave in the user index)
    /// and returns how many it removed. Live records are never touched.
    async fn delete_expired(&self) -> Result<u64, StoreError>;
}

/// Moves the live session `old` to `record` the best way `store` offers:
/// its [`CycleStore`] capability, or else [`cycle_in_steps`]. What the
/// layer calls for [`Session::cycle_id`](crate::Session::cycle_id).
///
/// ```
/// use session_core::store::{cycle, Cycled, Id, Record, SessionStore};
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
/// assert_eq!(cycle(&store, &old.id, &moved).await?, Cycled::Moved);
/// assert!(store.load(&old.id).await?.is_none());
/// # Ok(()) }
/// ```
pub async fn cycle<S: SessionStore + ?Sized>(
    store: &S,
    old: &Id,
    record: &Record,
) -> Result<Cycled, StoreError> {
    match store.capabilities().cycle {
        Some(atomic) => atomic.cycle(old, record).await,
        None => cycle_in_steps(store, old, record).await,
    }
}

/// `store`'s user index, or [`StoreError::Unsupported`] naming
/// `operation` when it has none.
pub(crate) fn user_index<'s, S: SessionStore + ?Sized>(
    store: &'s S,
    operation: &'static str,
) -> Result<&'s dyn UserIndex, StoreError> {
    store
        .capabilities()
        .users
        .ok_or(StoreError::Unsupported(operation))
}

/// A shared store has the capabilities of the store it shares. Each
/// method hands back the inner store's own boxed future.
impl<S: CycleStore + ?Sized> CycleStore for Arc<S> {
    fn cycle<'s, 'o, 'r, 'f>(&'s self, old: &'o Id, record: &'r Record) -> StoreFuture<'f, Cycled>
    where
        's: 'f,
        'o: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).cycle(old, record)
    }
}

/// A shared store has the capabilities of the store it shares.
impl<S: UserIndex + ?Sized> UserIndex for Arc<S> {
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
}

/// A shared store has the capabilities of the store it shares.
impl<S: LeaseStore + ?Sized> LeaseStore for Arc<S> {
    fn lock<'s, 'i, 'f>(&'s self, id: &'i Id) -> StoreFuture<'f, Box<dyn SessionLease>>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).lock(id)
    }
}

/// A shared store has the capabilities of the store it shares.
impl<S: ExpiredCleanup + ?Sized> ExpiredCleanup for Arc<S> {
    fn delete_expired<'s, 'f>(&'s self) -> StoreFuture<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        (**self).delete_expired()
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
