//! Moving a session to a new id in one step.

use session_core::store::{async_trait, CycleStore, Cycled, Record, StoreError};
use session_core::Id;

use crate::evict::Books;
use crate::{shard_index, Entry, MemoryStore, Shard};

#[async_trait]
impl CycleStore for MemoryStore {
    /// Atomic: both shards are locked (in index order) for the check, the
    /// insert, the removal and the index, which swaps the old id for the
    /// new one in one step. The store holds as many sessions after as
    /// before, so a cycle evicts nothing.
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        let now = self.now();
        let (a, b) = (shard_index(old), shard_index(&record.id));
        let shards = &self.inner.shards;
        let mut first = shards[a.min(b)].write();
        let mut second = (a != b).then(|| shards[a.max(b)].write());
        let (old_shard, new_shard) = match second.as_deref_mut() {
            None => (&mut *first, None),
            Some(other) if a < b => (&mut *first, Some(other)),
            Some(other) => (other, Some(&mut *first)),
        };
        Ok(move_entry(
            old_shard,
            new_shard,
            old,
            record,
            now,
            &self.inner.books,
        ))
    }
}

/// Moves the live session `old` (in `old_shard`) to `record` (in
/// `new_shard`, or in `old_shard` when that is `None`). The entry, the
/// index and the count of places change together, under the locks the
/// caller holds; the count does not grow, so nothing is evicted.
fn move_entry(
    old_shard: &mut Shard,
    new_shard: Option<&mut Shard>,
    old: &Id,
    record: &Record,
    now: i64,
    books: &Books,
) -> Cycled {
    if old_shard.live(old, now).is_none() {
        return Cycled::Gone;
    }
    let taken = match &new_shard {
        Some(shard) => shard.live(&record.id, now).is_some(),
        None => old_shard.live(&record.id, now).is_some(),
    };
    if taken {
        return Cycled::IdTaken;
    }
    let Some(moved) = old_shard.detach(old) else {
        return Cycled::Gone;
    };
    let target = match new_shard {
        Some(shard) => shard,
        None => old_shard,
    };
    // An expired entry under the new id leaves first.
    target.remove(&record.id, books);
    let entry = Entry::new(record);
    // Cycling is coming back: the visitor used the session to move it.
    entry.mark_returned();
    books.users.replace(
        moved.user().map(|user| (&**user, old)),
        entry.user().map(|user| (user, record.id)),
    );
    target.attach(record.id, entry);
    Cycled::Moved
}
