//! Every session-core store as a [tower-sessions] store: keep
//! tower-sessions (or [axum-login], which is built on it) and switch the
//! store.
//!
//! [`TowerStore`] wraps any [`SessionStore`] of ours (the memory store,
//! Redis on one node or a Cluster, with or without the local cache, SQLite,
//! PostgreSQL, MySQL / MariaDB, any of them inside
//! [`Encrypted`](session_core::store::Encrypted), or an
//! [`AnyStore`](session_core::store::AnyStore)) and implements tower-sessions'
//! `SessionStore` and `ExpiredDeletion` for it.
//!
//! ```
//! use session_store_memory::MemoryStore;
//! use session_tower_sessions::TowerStore;
//!
//! // Where a tower-sessions app wrote `MemoryStore::default()`:
//! let store = TowerStore::new(MemoryStore::new());
//! // ... `SessionManagerLayer::new(store)` as before.
//! # let _ = store;
//! ```
//!
//! # Which feature
//!
//! tower-sessions' store trait lives in `tower-sessions-core`, and each
//! minor version of it is a different trait. Enable the one your
//! application's tower-sessions uses (`cargo tree -i tower-sessions-core`
//! tells):
//!
//! | you use | feature |
//! |---|---|
//! | axum-login 0.18 (tower-sessions 0.14) | `tower-sessions-core-0-14` (the default) |
//! | tower-sessions 0.15 | `tower-sessions-core-0-15` |
//!
//! Both may be on at once; [`TowerStore`] then implements both traits.
//! Each version's crate is re-exported under its feature's name
//! ([`tower_sessions_core_0_14`], [`tower_sessions_core_0_15`]).
//!
//! # What the store gives there
//!
//! - **Every store, one version.** The same adapter serves each store, on
//!   each supported tower-sessions version.
//! - **Ids hashed at rest.** A tower-sessions id (the 128 bits its cookie
//!   carries) reaches the store only as [`Id::at_rest`]: a digest, so a
//!   dump of the store holds no id a cookie could carry.
//! - **Encryption at rest, with key rotation**, by wrapping the store in
//!   [`Encrypted`](session_core::store::Encrypted).
//! - **Collision-safe create.** The store inserts only when no live
//!   session has the id; on a collision the adapter picks a new random id
//!   and tries again (tower-sessions lets `create` change the id).
//! - **Store-side expiry.** tower-sessions' `expiry_date` is the record's
//!   expiry in the store: Redis expires the key itself, SQL and memory
//!   treat an expired record as absent, and
//!   `ExpiredDeletion::delete_expired` runs the store's own cleanup
//!   ([`ExpiredCleanup`](session_core::store::ExpiredCleanup)) where it has
//!   one.
//!
//! # How a record is kept
//!
//! A tower-sessions record's data (a map of string keys to JSON values) is
//! kept as one JSON object under the data key [`DATA_KEY`], and its
//! `expiry_date` as the record's expiry. One key makes `save` replace the
//! data whole in one atomic write, as tower-sessions expects (keys the new
//! record lacks are gone), and leaves tower-sessions' keys clear of the
//! names our stores reserve. A stored record without that object (not
//! written through this adapter) loads as a decoding error, never as
//! someone else's data.
//!
//!
//! # What stays tower-sessions'
//!
//! The cookie, the layer and their rules are tower-sessions': its cookie
//! carries the bare id unless you use its `with_signed` or `with_private`,
//! and `save` writes the whole record, so the last writer wins and a save
//! that arrives after a logout writes the session back (as with
//! tower-sessions' own stores). Signed ids on every cookie, change sets,
//! "logout wins" and the user index are what
//! [`SessionLayer`](session_core::SessionLayer) gives instead.
//!
//! [tower-sessions]: https://docs.rs/tower-sessions
//! [axum-login]: https://docs.rs/axum-login
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(
    feature = "tower-sessions-core-0-14",
    feature = "tower-sessions-core-0-15"
)))]
compile_error!(
    "session-tower-sessions needs one of the features `tower-sessions-core-0-14` \
     (axum-login 0.18, tower-sessions 0.14) or `tower-sessions-core-0-15` (tower-sessions 0.15)"
);

use std::collections::HashMap;

use serde_json::Value;
use session_core::store::{Created, Record, Saved, SessionStore, StoreError};
use session_core::Id;
use time::OffsetDateTime;

#[cfg(feature = "tower-sessions-core-0-14")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower-sessions-core-0-14")))]
pub use tower_sessions_core_0_14;
#[cfg(feature = "tower-sessions-core-0-15")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower-sessions-core-0-15")))]
pub use tower_sessions_core_0_15;

/// The data key under which a tower-sessions record's data is kept, as one
/// JSON object.
///
/// ```
/// use session_core::store::{Id, SessionStore};
/// use session_store_memory::MemoryStore;
/// use session_tower_sessions::{TowerStore, DATA_KEY};
/// # #[cfg(feature = "tower-sessions-core-0-14")]
/// use session_tower_sessions::tower_sessions_core_0_14 as tower;
/// # #[cfg(not(feature = "tower-sessions-core-0-14"))]
/// # use session_tower_sessions::tower_sessions_core_0_15 as tower;
/// use tower::session::{Id as TowerId, Record};
/// use tower::SessionStore as _;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = TowerStore::new(MemoryStore::new());
/// let expiry_date = session_core::time::OffsetDateTime::now_utc() + session_core::time::Duration::hours(1);
/// let mut record = Record { id: TowerId(7), data: Default::default(), expiry_date };
/// record.data.insert("user".into(), "ferris".into());
/// store.create(&mut record).await?;
///
/// // What the store keeps, under the digest of the id:
/// let key = Id::from_bytes(record.id.0.to_le_bytes()).at_rest();
/// let kept = store.inner().load(&key).await?.expect("kept");
/// assert_eq!(kept.data[DATA_KEY]["user"], "ferris");
/// # Ok(()) }
/// ```
pub const DATA_KEY: &str = "tower-sessions";

/// How many ids `create` tries before it gives up (each a fresh 128-bit
/// random id after the first: more than one collision in a row means the
/// store is broken, not unlucky).
const CREATE_ATTEMPTS: usize = 8;

/// How many times `save` goes round when the record keeps appearing and
/// disappearing under it (a concurrent create or delete of the same id).
const SAVE_ATTEMPTS: usize = 8;

/// One of our stores as a tower-sessions store.
///
/// `S` is any [`SessionStore`] of ours, including an `Arc` of one or an
/// [`AnyStore`](session_core::store::AnyStore). With the feature `tower-sessions-core-0-14`
/// (the default) it implements tower-sessions-core 0.14's `SessionStore`
/// and `ExpiredDeletion`; with `tower-sessions-core-0-15`, 0.15's.
///
/// ```
/// use session_core::store::AnyStore;
/// use session_store_memory::MemoryStore;
/// use session_tower_sessions::TowerStore;
/// # #[cfg(feature = "tower-sessions-core-0-14")]
/// use session_tower_sessions::tower_sessions_core_0_14 as tower;
/// # #[cfg(not(feature = "tower-sessions-core-0-14"))]
/// # use session_tower_sessions::tower_sessions_core_0_15 as tower;
/// use tower::session::{Id, Record};
/// use tower::{ExpiredDeletion as _, SessionStore as _};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::session_store::Error> {
/// let shared = AnyStore::new(MemoryStore::new());
/// let store = TowerStore::new(shared);
/// let expiry_date = session_core::time::OffsetDateTime::now_utc() + session_core::time::Duration::hours(1);
/// let mut record = Record { id: Id::default(), data: Default::default(), expiry_date };
/// record.data.insert("n".into(), 1.into());
/// store.create(&mut record).await?;
/// assert_eq!(store.load(&record.id).await?.expect("live").data["n"], 1);
///
/// record.data.clear(); // save replaces the data whole
/// store.save(&record).await?;
/// assert!(store.load(&record.id).await?.expect("live").data.is_empty());
///
/// store.delete_expired().await?; // the store's own cleanup (here: none needed)
/// store.delete(&record.id).await?;
/// assert!(store.load(&record.id).await?.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TowerStore<S> {
    store: S,
}

impl<S> TowerStore<S> {
    /// `store`, as a tower-sessions store.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    /// use session_tower_sessions::TowerStore;
    ///
    /// let store = TowerStore::new(MemoryStore::new());
    /// # let _ = store;
    /// ```
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The wrapped store.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    /// use session_tower_sessions::TowerStore;
    ///
    /// let store = TowerStore::new(MemoryStore::new());
    /// assert_eq!(store.inner().len(), 0);
    /// ```
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// The wrapped store, taken back.
    ///
    /// ```
    /// use session_store_memory::MemoryStore;
    /// use session_tower_sessions::TowerStore;
    ///
    /// let store: MemoryStore = TowerStore::new(MemoryStore::new()).into_inner();
    /// # let _ = store;
    /// ```
    pub fn into_inner(self) -> S {
        self.store
    }
}

/// The key our store keeps the tower-sessions id `id` under: the digest
/// [`Id::at_rest`] of its 16 bytes (little-endian, as tower-sessions
/// encodes them in its cookie).
fn store_key(id: i128) -> Id {
    Id::from_bytes(id.to_le_bytes()).at_rest()
}

/// A fresh random tower-sessions id, from the operating system's CSPRNG.
fn random_id() -> i128 {
    i128::from_le_bytes(*Id::random().as_bytes())
}

/// tower-sessions' data as our stored data: one object under [`DATA_KEY`].
fn to_stored(data: &HashMap<String, Value>) -> Value {
    Value::Object(
        data.iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
    )
}

/// The version-independent half of the adapter: what both trait impls
/// call, in terms of the raw id, data and expiry.
impl<S: SessionStore> TowerStore<S> {
    /// Inserts a record under `id`, or under a fresh id if `id` is taken;
    /// returns the id used.
    async fn create_raw(
        &self,
        mut id: i128,
        data: &HashMap<String, Value>,
        expiry_date: OffsetDateTime,
    ) -> Result<i128, StoreError> {
        let now = OffsetDateTime::now_utc();
        if expiry_date <= now {
            // Over before it began: nothing to keep (and no live record to
            // collide with, so the id stays).
            return Ok(id);
        }
        let mut record = Record::new(store_key(id), now, expiry_date);
        record.data.insert(DATA_KEY.to_owned(), to_stored(data));
        for _ in 0..CREATE_ATTEMPTS {
            match self.store.create(&record).await? {
                Created::Inserted => return Ok(id),
                Created::IdTaken => {
                    id = random_id();
                    record.id = store_key(id);
                }
            }
        }
        Err(StoreError::failed(format!(
            "{CREATE_ATTEMPTS} fresh random session ids in a row were taken"
        )))
    }

    /// Replaces the record `id` whole (creating it when there is none).
    async fn save_raw(
        &self,
        id: i128,
        data: &HashMap<String, Value>,
        expiry_date: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let key = store_key(id);
        let now = OffsetDateTime::now_utc();
        if expiry_date <= now {
            // Saved as expired: the session is over.
            return self.store.delete(&key).await;
        }
        let stored = to_stored(data);
        let mut changes = session_core::store::ChangeSet::new(expiry_date);
        changes.set.insert(DATA_KEY.to_owned(), stored.clone());
        let mut record = Record::new(key, now, expiry_date);
        record.data.insert(DATA_KEY.to_owned(), stored);
        for _ in 0..SAVE_ATTEMPTS {
            if self.store.save(&key, &changes).await? == Saved::Applied {
                return Ok(());
            }
            // No live record: this save creates it, unless another request
            // just did (then the next round overwrites that one).
            if self.store.create(&record).await? == Created::Inserted {
                return Ok(());
            }
        }
        Err(StoreError::failed(
            "the session kept appearing and disappearing while it was saved",
        ))
    }

    /// The live record `id`'s data and expiry, or `None`.
    async fn load_raw(
        &self,
        id: i128,
    ) -> Result<Option<(HashMap<String, Value>, OffsetDateTime)>, StoreError> {
        let Some(mut record) = self.store.load(&store_key(id)).await? else {
            return Ok(None);
        };
        if record.is_expired(OffsetDateTime::now_utc()) {
            return Ok(None);
        }
        match record.data.remove(DATA_KEY) {
            Some(Value::Object(data)) => Ok(Some((data.into_iter().collect(), record.expires_at))),
            _ => Err(StoreError::Corrupt(format!(
                "session {} holds no tower-sessions data (no object under {DATA_KEY:?})",
                record.id
            ))),
        }
    }

    /// Removes the record `id` (no error if there is none).
    async fn delete_raw(&self, id: i128) -> Result<(), StoreError> {
        self.store.delete(&store_key(id)).await
    }

    /// Runs the store's expired-session cleanup, if it has one; a store
    /// without one expires sessions itself, leaving nothing to delete.
    async fn delete_expired_raw(&self) -> Result<(), StoreError> {
        match self.store.capabilities().cleanup {
            Some(cleanup) => cleanup.delete_expired().await.map(drop),
            None => Ok(()),
        }
    }
}

/// Implements one tower-sessions-core version's `SessionStore` and
/// `ExpiredDeletion` for [`TowerStore`], in a module where `tower` names
/// that version's crate.
macro_rules! tower_impls {
    () => {
        use session_core::store::{SessionStore, StoreError};
        use tower::session::{Id, Record};
        use tower::session_store::{Error, Result};

        use crate::TowerStore;

        /// A store error as tower-sessions reports it: a record that does
        /// not decode as `Decode`, anything else as `Backend`.
        fn error(err: StoreError) -> Error {
            match err {
                StoreError::Corrupt(what) => Error::Decode(what),
                other => Error::Backend(other.to_string()),
            }
        }

        /// Collision-safe create: on a taken id, `record.id` becomes a
        /// fresh random one. Save replaces the data whole, creating the
        /// record when there is none. Load answers `None` for a missing or
        /// expired record.
        #[async_trait::async_trait]
        impl<S: SessionStore> tower::SessionStore for TowerStore<S> {
            async fn create(&self, record: &mut Record) -> Result<()> {
                let id = self
                    .create_raw(record.id.0, &record.data, record.expiry_date)
                    .await
                    .map_err(error)?;
                record.id = Id(id);
                Ok(())
            }

            async fn save(&self, record: &Record) -> Result<()> {
                self.save_raw(record.id.0, &record.data, record.expiry_date)
                    .await
                    .map_err(error)
            }

            async fn load(&self, id: &Id) -> Result<Option<Record>> {
                let loaded = self.load_raw(id.0).await.map_err(error)?;
                Ok(loaded.map(|(data, expiry_date)| Record {
                    id: *id,
                    data,
                    expiry_date,
                }))
            }

            async fn delete(&self, id: &Id) -> Result<()> {
                self.delete_raw(id.0).await.map_err(error)
            }
        }

        /// The store's own cleanup
        /// ([`ExpiredCleanup`](session_core::store::ExpiredCleanup)) where
        /// it has one (SQL: expired rows; Redis: what expired sessions left
        /// in the user index); a store without one expires sessions itself,
        /// and this does nothing.
        #[async_trait::async_trait]
        impl<S: SessionStore> tower::ExpiredDeletion for TowerStore<S> {
            async fn delete_expired(&self) -> Result<()> {
                self.delete_expired_raw().await.map_err(error)
            }
        }
    };
}

#[cfg(feature = "tower-sessions-core-0-14")]
mod v0_14 {
    use tower_sessions_core_0_14 as tower;
    tower_impls!();
}

#[cfg(feature = "tower-sessions-core-0-15")]
mod v0_15 {
    use tower_sessions_core_0_15 as tower;
    tower_impls!();
}

/// The README's example, compiled as a doc test so it stays true.
#[cfg(all(doctest, feature = "tower-sessions-core-0-14"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
