//! The user index: which sessions each user has, and ending them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;
use session_core::store::{async_trait, StoreError, UserIndex, UserSession};
use session_core::Id;

use crate::{time, Entry, MemoryStore};

/// The user index: which sessions each user has. It changes only under the
/// shard lock of the session it names, in the same critical section as the
/// entry, so it never holds an id the shards do not (every entry removed
/// from a shard — deleted, expired, evicted, moved — leaves it there), and
/// it lists every bound entry. Lock order: a shard, then the index.
#[derive(Default)]
pub(crate) struct Users(Mutex<HashMap<Arc<str>, HashSet<Id>>>);

impl Users {
    pub(crate) fn add(&self, user: &Arc<str>, id: Id) {
        self.0.lock().entry(user.clone()).or_default().insert(id);
    }

    /// Replaces `from` (a user and one of its ids) with `to` in one step,
    /// so that no reader sees the session under neither (a cycle, a rebind).
    pub(crate) fn replace(&self, from: Option<(&str, &Id)>, to: Option<(&Arc<str>, Id)>) {
        let mut users = self.0.lock();
        if let Some((user, id)) = from {
            if let Some(ids) = users.get_mut(user) {
                ids.remove(id);
                if ids.is_empty() {
                    users.remove(user);
                }
            }
        }
        if let Some((user, id)) = to {
            users.entry(user.clone()).or_default().insert(id);
        }
    }

    fn of(&self, user: &str) -> Vec<Id> {
        self.0
            .lock()
            .get(user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Up to `limit` ids of the users who hold the most sessions.
    pub(crate) fn of_the_busiest(&self, limit: usize) -> Vec<Id> {
        let users = self.0.lock();
        let most = users.values().map(HashSet::len).max().unwrap_or(0);
        users
            .values()
            .filter(|ids| ids.len() == most)
            .flat_map(|ids| ids.iter().copied())
            .take(limit)
            .collect()
    }
}

impl Entry {
    fn is_bound_to(&self, user: &str) -> bool {
        self.user().is_some_and(|bound| &**bound == user)
    }
}

/// The index is updated under the shard lock of the session it names, in
/// the same critical section as the entry.
#[async_trait]
impl UserIndex for MemoryStore {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let now = self.now();
        let mut sessions: Vec<UserSession> = self
            .inner
            .books
            .users
            .of(user)
            .into_iter()
            .filter_map(|id| {
                let shard = self.shard(&id).read();
                let entry = shard.live(&id, now)?;
                Some((|| {
                    let created_at = time(&id, entry.created_at)?;
                    Ok(UserSession::new(
                        id,
                        created_at,
                        time(&id, entry.expires_at)?,
                    ))
                })())
            })
            .collect::<Result<_, StoreError>>()?;
        sessions.sort_by_key(|session| (session.created_at, session.id));
        Ok(sessions)
    }

    /// Ends every session of `user` but `keep`, a session moved to a new id
    /// by a [`cycle`] racing this call included. Each is removed under its
    /// shard's lock, so a save racing this call either lands before (and is
    /// removed with the session) or finds the session gone. `keep` names an
    /// id: should the kept session itself be moved to a new id while this
    /// runs, the new id is ended too.
    ///
    /// [`cycle`]: session_core::store::CycleStore::cycle
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        // Read the index, end each member not handled yet, and read again
        // until a read brings no new member. Why that ends them all:
        //
        // - The index changes only under the shard lock of the session it
        //   names, in the same critical section as the entry: once this
        //   call holds that lock, the entry and the index agree on it.
        // - A cycle holds both shards' locks and swaps the old id for the
        //   new one in one step of the index's lock (`Users::replace`):
        //   every read lists a session of the user under its old id or its
        //   new one, never under neither. (Reading once misses the new id
        //   of a session cycled after the read: that was the bug.)
        // - An id that left its shard never comes back (a fresh id is 128
        //   random bits), and one this call removed cannot be saved,
        //   touched or cycled back ("logout wins").
        //
        // Let R be the last read: whatever it lists is `keep` or was
        // handled before it. A handled id was removed by this call or found
        // gone, for good, so it is not in the index at R: R lists nothing
        // but `keep`. As the index
        // hides no session, no session of `user` but `keep` lives at R,
        // under any id: the call takes effect at R. One bound to `user`
        // after R (a login after the logout) is not ended. An id found
        // bound to another user (a rebinding save) is not marked handled:
        // should it be bound to `user` again, a later read lists it. Each
        // read after the second is caused by a session bound or moved to
        // `user` during the previous round; without a race there are two.
        let now = self.now();
        let books = &self.inner.books;
        let mut handled: HashSet<Id> = keep.copied().into_iter().collect();
        let mut ended = 0;
        loop {
            let fresh: Vec<Id> = books
                .users
                .of(user)
                .into_iter()
                .filter(|id| !handled.contains(id))
                .collect();
            if fresh.is_empty() {
                return Ok(ended);
            }
            for id in fresh {
                let mut shard = self.shard(&id).write();
                match shard.map.get(&id) {
                    Some(entry) if !entry.is_bound_to(user) => continue,
                    Some(_) => {
                        if let Some(entry) = shard.remove(&id, books) {
                            ended += u64::from(entry.is_live(now));
                        }
                    }
                    None => {}
                }
                handled.insert(id);
            }
        }
    }

    /// Atomic under the session's shard lock: the session is removed only
    /// if it is there, live and bound to `user`, and the answer says so.
    /// A [`cycle`] of it either ran first (the old id is gone: `false`, the
    /// session goes on under its new id) or finds it gone afterwards
    /// (`Gone`: nothing moves).
    ///
    /// [`cycle`]: session_core::store::CycleStore::cycle
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).write();
        if !shard
            .map
            .get(id)
            .is_some_and(|entry| entry.is_bound_to(user))
        {
            return Ok(false);
        }
        Ok(shard
            .remove(id, &self.inner.books)
            .is_some_and(|entry| entry.is_live(now)))
    }
}
