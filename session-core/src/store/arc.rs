//! A shared store is a store (`Arc<S>` forwards every method and
//! capability to `S`), and [`DynSessionStore`] erases a store's type where
//! it is chosen at run time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{Capabilities, ChangeSet, Created, Id, Record, Saved, SessionStore, StoreError};

/// The boxed future of a [`DynSessionStore`] call.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A shared store is a store; each method hands back the inner store's own
/// future (nothing is boxed here).
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'s, 'i>(
        &'s self,
        id: &'i Id,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send + use<'s, 'i, S> {
        (**self).load(id)
    }
    fn create<'s, 'r>(
        &'s self,
        record: &'r Record,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send + use<'s, 'r, S> {
        (**self).create(record)
    }
    fn save<'s, 'i, 'c>(
        &'s self,
        id: &'i Id,
        changes: &'c ChangeSet,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send + use<'s, 'i, 'c, S> {
        (**self).save(id, changes)
    }
    fn touch<'s, 'i>(
        &'s self,
        id: &'i Id,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send + use<'s, 'i, S> {
        (**self).touch(id, expires_at)
    }
    fn delete<'s, 'i>(
        &'s self,
        id: &'i Id,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + use<'s, 'i, S> {
        (**self).delete(id)
    }
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        (**self).load_now(id)
    }
    fn capabilities(&self) -> Capabilities<'_> {
        (**self).capabilities()
    }
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}

/// A [`SessionStore`] with its type erased, for a store chosen at run
/// time (a configuration value, a test matrix). Every call boxes its
/// future; a layer built on the store's own type boxes nothing. Cloning it
/// shares the store.
///
/// ```
/// use session_core::store::{AnyStore, Id, SessionStore};
/// use session_core::{Key, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), session_core::store::StoreError> {
/// let stores = vec![AnyStore::new(MemoryStore::new()), AnyStore::new(MemoryStore::new())];
/// for store in stores {
///     assert_eq!(store.load(&Id::random()).await?, None);
///     let layer = SessionLayer::new(store, Key::generate());
///     # let _ = layer;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AnyStore(Arc<dyn DynSessionStore>);

impl AnyStore {
    /// `store`, its type erased. An `Arc` of a store is a store, so a
    /// store shared elsewhere can be erased too (`AnyStore::new(arc.clone())`).
    /// Erasing an `AnyStore` again gives it back as it is.
    pub fn new(store: impl SessionStore) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A store shared with the caller, its type erased without another
    /// allocation; an `AnyStore` already is used as it is (its calls are
    /// not boxed twice).
    pub(crate) fn from_arc<S: SessionStore>(store: Arc<S>) -> Self {
        match (&*store as &dyn std::any::Any).downcast_ref::<AnyStore>() {
            Some(erased) => erased.clone(),
            None => Self(store),
        }
    }
}

/// What [`AnyStore`] calls through `dyn`: the methods of [`SessionStore`],
/// each boxing its future.
trait DynSessionStore: fmt::Debug + Send + Sync + 'static {
    /// [`SessionStore::load`], boxed.
    fn load_boxed<'a>(&'a self, id: &'a Id) -> StoreFuture<'a, Option<Record>>;
    /// [`SessionStore::create`], boxed.
    fn create_boxed<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, Created>;
    /// [`SessionStore::save`], boxed.
    fn save_boxed<'a>(&'a self, id: &'a Id, changes: &'a ChangeSet) -> StoreFuture<'a, Saved>;
    /// [`SessionStore::touch`], boxed.
    fn touch_boxed<'a>(&'a self, id: &'a Id, expires_at: OffsetDateTime) -> StoreFuture<'a, Saved>;
    /// [`SessionStore::delete`], boxed.
    fn delete_boxed<'a>(&'a self, id: &'a Id) -> StoreFuture<'a, ()>;
    /// [`SessionStore::load_now`].
    fn dyn_load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>>;
    /// [`SessionStore::capabilities`].
    fn dyn_capabilities(&self) -> Capabilities<'_>;
    /// [`SessionStore::kind`].
    fn dyn_kind(&self) -> &'static str;
}

impl<S: SessionStore> DynSessionStore for S {
    fn load_boxed<'a>(&'a self, id: &'a Id) -> StoreFuture<'a, Option<Record>> {
        Box::pin(self.load(id))
    }
    fn create_boxed<'a>(&'a self, record: &'a Record) -> StoreFuture<'a, Created> {
        Box::pin(self.create(record))
    }
    fn save_boxed<'a>(&'a self, id: &'a Id, changes: &'a ChangeSet) -> StoreFuture<'a, Saved> {
        Box::pin(self.save(id, changes))
    }
    fn touch_boxed<'a>(&'a self, id: &'a Id, expires_at: OffsetDateTime) -> StoreFuture<'a, Saved> {
        Box::pin(self.touch(id, expires_at))
    }
    fn delete_boxed<'a>(&'a self, id: &'a Id) -> StoreFuture<'a, ()> {
        Box::pin(self.delete(id))
    }
    fn dyn_load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        self.load_now(id)
    }
    fn dyn_capabilities(&self) -> Capabilities<'_> {
        self.capabilities()
    }
    fn dyn_kind(&self) -> &'static str {
        self.kind()
    }
}

/// An erased store is a store: each call boxes its future.
impl SessionStore for AnyStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.0.load_boxed(id).await
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.0.create_boxed(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.0.save_boxed(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.0.touch_boxed(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.0.delete_boxed(id).await
    }
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        self.0.dyn_load_now(id)
    }
    fn capabilities(&self) -> Capabilities<'_> {
        self.0.dyn_capabilities()
    }
    fn kind(&self) -> &'static str {
        self.0.dyn_kind()
    }
}
