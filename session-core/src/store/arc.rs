//! A shared store is a store: `Arc<S>` forwards every method and
//! capability to `S`.

use time::OffsetDateTime;

use super::{Capabilities, ChangeSet, Created, Id, Record, Saved, SessionStore, StoreError};

/// The future every [`SessionStore`] method returns once
/// [`async_trait`](macro@async_trait) has rewritten it.
pub(crate) type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A shared store is a store. Each method hands back the inner store's own
/// boxed future instead of boxing one that awaits it: no allocation of its
/// own per call (the layer holds its store as an `Arc<dyn SessionStore>`,
/// and [`Encrypted`](super::Encrypted) may wrap one).
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
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
}
