//! The user index: one sorted set per user, `prefix + "user:" + user`,
//! whose members are the ids of the sessions bound to the user (see the
//! [crate documentation](crate#user-index)).
//!
//! On a cluster the index and the sessions it names live in different
//! slots, so no script can touch both; every step here is a command or a
//! script on one key, in an order that never loses a live session:
//!
//! - a bind adds the session to the index ([`index_add`]) *before* the
//!   session's hash says `user`, so a [`delete_user`] that reads the index
//!   meanwhile finds it;
//! - an entry is removed only after its session was seen gone or bound to
//!   someone else, and only if the entry was not renewed since and is older
//!   than the grace period ([`RedisStore::grace`]): a bind in flight (entry
//!   added, hash not yet written) keeps its entry.
//!
//! [`index_add`]: crate::scripts::Scripts::index_add
//! [`delete_user`]: session_core::store::UserIndex::delete_user

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use session_core::store::{StoreError, UserSession};
use session_core::Id;
use tokio::task::JoinSet;

use crate::connection::Call;
use crate::fields::{is_live, parse_times, CREATED, EXPIRES, USER};
use crate::RedisStore;

/// What a user's index key adds to the prefix, before the user.
pub(crate) const INDEX: &str = "user:";

/// How many index keys one `SCAN` step asks for, how many members one
/// prune script takes, and how many sessions are read at once.
const BATCH: usize = 100;

/// How many entries of a user's index the prune after a bind inspects at
/// most.
const SAMPLE: usize = 8;

/// A member of an index, as read: the member (a session id, unless someone
/// else wrote it) and its score (text, as Redis sent it).
type Member = (Vec<u8>, String);

impl RedisStore {
    /// The Redis key of `user`'s index: the prefix, `user:`, and the user
    /// as it is. Session keys are the prefix and 22 characters of URL-safe
    /// base64, never with a `:`, so no index key is a session key, and two
    /// users never share one.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), session_core::store::StoreError> {
    /// let store = session_store_redis::RedisStore::connect("redis://127.0.0.1").await?;
    /// assert_eq!(store.user_key("hong"), "session:user:hong");
    /// # Ok(())
    /// # }
    /// ```
    pub fn user_key(&self, user: &str) -> String {
        format!("{}{INDEX}{user}", self.prefix())
    }

    fn index_key(&self, user: &[u8]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix().len() + INDEX.len() + user.len());
        key.extend_from_slice(self.prefix().as_bytes());
        key.extend_from_slice(INDEX.as_bytes());
        key.extend_from_slice(user);
        key
    }

    /// How old an index entry must be before it may be pruned: four times
    /// the timeout, longer than a bind can take from adding the entry to
    /// writing the hash (two operations, each bounded by the timeout).
    pub(crate) fn grace(&self) -> Duration {
        self.timeout() * 4
    }

    /// [`grace`](Self::grace) in milliseconds, as the scripts take it (at
    /// least 1: a zero expiry would delete at once what a script leaves).
    pub(crate) fn grace_ms(&self) -> i64 {
        self.grace().as_millis().clamp(1, i64::MAX as u128) as i64
    }

    /// Ends session `id` if it is a live session bound to `user`, and
    /// leaves a tombstone under its id whenever it finds no session there
    /// (`scripts/end_bound.lua`). Returns whether it ended one.
    pub(crate) async fn end_bound(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let mut invocation = self.scripts.end_bound.key(self.key(id));
        invocation.arg(user).arg(self.grace_ms());
        Ok(self.run::<i64>(Call::Script(invocation)).await? == 1)
    }

    /// Adds `id` to `user`'s index with a fresh score. Returns the size of
    /// the index.
    pub(crate) async fn index_add(&self, user: &str, id: &Id) -> Result<i64, StoreError> {
        let mut invocation = self.scripts.index_add.key(self.index_key(user.as_bytes()));
        invocation.arg(id.encode());
        let size = self.run(Call::Script(invocation)).await?;
        self.sweep.start(self);
        Ok(size)
    }

    /// After a bind that left `size` entries in `user`'s index: when there
    /// are others than the new one, prunes a part of the index in the
    /// background ([`prune_sample`](Self::prune_sample); the request does
    /// not wait; an error only leaves the work to the next prune).
    pub(crate) fn prune_later(&self, user: &str, size: i64) {
        if size <= 1 {
            return;
        }
        let store = self.clone();
        let user = user.as_bytes().to_vec();
        spawn(async move {
            let _ = store.prune_sample(&user).await;
        });
    }

    /// The prune after a bind: inspects at most [`SAMPLE`] entries of
    /// `user`'s index, the oldest half (the scores are the times of the
    /// binds, so ended sessions gather there, and a few binds in a row
    /// walk through them) and a random half (which reaches the entries
    /// behind long-lived sessions at the front). So a bind costs a bounded
    /// amount of Redis work however many sessions the user has; pruning
    /// the whole index was one `HMGET` per entry on every bind, O(n²) for
    /// n logins. The rest is left to `list_user`, `delete_user` and the
    /// periodic sweep (see [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired)).
    /// Returns how many entries it removed.
    pub(crate) async fn prune_sample(&self, user: &[u8]) -> Result<u64, StoreError> {
        let key = self.index_key(user);
        let half = SAMPLE / 2;
        let mut oldest = redis::cmd("ZRANGE");
        oldest.arg(&key).arg(0).arg(half - 1).arg("WITHSCORES");
        let mut random = redis::cmd("ZRANDMEMBER");
        random.arg(&key).arg(SAMPLE - half).arg("WITHSCORES");
        let (oldest, random): (Vec<Member>, Vec<Member>) =
            self.run(Call::Cmds(vec![oldest, random])).await?;
        let mut members = oldest;
        for member in random {
            if !members.iter().any(|(seen, _)| *seen == member.0) {
                members.push(member);
            }
        }
        let (_, stale) = self.inspect(user, members).await?;
        self.prune(&key, &stale).await
    }

    /// After a save moved session `id` away from `user` (unbound or bound
    /// to another): removes its entry in the background, unless a bind to
    /// `user` renewed it within the grace period.
    pub(crate) fn forget_later(&self, user: Vec<u8>, id: &Id) {
        let store = self.clone();
        let member = (id.encode().into_bytes(), String::new());
        spawn(async move {
            let _ = store.prune(&store.index_key(&user), &[member]).await;
        });
    }

    /// Every member of the index at `key`, with its score.
    async fn members(&self, key: &[u8]) -> Result<Vec<Member>, StoreError> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(key).arg(0).arg(-1).arg("WITHSCORES");
        self.run(Call::Cmd(cmd)).await
    }

    /// Reads the session of every member: the live sessions bound to
    /// `user`, and the members whose session is gone or bound to someone
    /// else (or that are not session ids).
    async fn inspect(
        &self,
        user: &[u8],
        members: Vec<Member>,
    ) -> Result<(Vec<UserSession>, Vec<Member>), StoreError> {
        let mut live = Vec::new();
        let mut stale = Vec::new();
        let mut ids = Vec::new();
        for member in members {
            match std::str::from_utf8(&member.0)
                .ok()
                .and_then(|m| Id::from_str(m).ok())
            {
                Some(id) => ids.push((id, member)),
                None => stale.push(member),
            }
        }
        for batch in chunks(ids) {
            let mut reads = JoinSet::new();
            for (n, (id, _)) in batch.iter().enumerate() {
                let store = self.clone();
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.key(id)).arg(CREATED).arg(EXPIRES).arg(USER);
                reads.spawn(async move {
                    let fields: [Option<Vec<u8>>; 3] = store.run(Call::Cmd(cmd)).await?;
                    Ok::<_, StoreError>((n, fields))
                });
            }
            let mut fields = vec![None; batch.len()];
            while let Some(read) = reads.join_next().await {
                let (n, read) = read.map_err(StoreError::failed)??;
                fields[n] = Some(read);
            }
            for ((id, member), read) in batch.into_iter().zip(fields) {
                match read {
                    Some([created, expires, Some(bound)])
                        if bound == user && is_live(created.as_deref()) =>
                    {
                        let (created, expires) =
                            parse_times(&id, created.as_deref(), expires.as_deref())?;
                        live.push(UserSession::new(id, created, expires));
                    }
                    _ => stale.push(member),
                }
            }
        }
        Ok((live, stale))
    }

    /// Removes the `stale` members from the index at `key`, those whose
    /// score is still the one seen and older than the grace period.
    /// Returns how many it removed.
    async fn prune(&self, key: &[u8], stale: &[Member]) -> Result<u64, StoreError> {
        let mut removed = 0;
        for batch in stale.chunks(BATCH) {
            let mut invocation = self.scripts.index_prune.key(key);
            invocation.arg(self.grace().as_millis().min(i64::MAX as u128) as i64);
            for (member, score) in batch {
                invocation.arg(member).arg(score);
            }
            let n: u64 = self.run(Call::Script(invocation)).await?;
            removed += n;
        }
        Ok(removed)
    }

    /// Prunes `user`'s index. Returns how many entries it removed.
    async fn prune_user(&self, user: &[u8]) -> Result<u64, StoreError> {
        let key = self.index_key(user);
        let (_, stale) = self.inspect(user, self.members(&key).await?).await?;
        self.prune(&key, &stale).await
    }

    /// [`UserIndex::list_user`](session_core::store::UserIndex::list_user).
    pub(crate) async fn list_user_sessions(
        &self,
        user: &str,
    ) -> Result<Vec<UserSession>, StoreError> {
        let key = self.index_key(user.as_bytes());
        let members = self.members(&key).await?;
        let (mut live, stale) = self.inspect(user.as_bytes(), members).await?;
        self.prune(&key, &stale).await?;
        live.sort_by_key(|session| (session.created_at, session.id));
        Ok(live)
    }

    /// [`UserIndex::delete_user`](session_core::store::UserIndex::delete_user),
    /// in passes: read the index, run the end script
    /// ([`end_bound`](Self::end_bound)) on every member but `keep` not yet
    /// handled, and again, until a read of the index brings no member not
    /// yet handled.
    ///
    /// Why that ends every session of the user, including one cycled to a
    /// new id at the same moment: take a session bound to `user` that is
    /// live once this returns. If its id was in the index at the last
    /// read, it was in an earlier read too (the last one brought nothing
    /// new), so the end script ran on it: it ended the session, or left a
    /// tombstone that no create or cycle can write into, or found it bound
    /// to someone else or to no one (a bind that came later and overlaps
    /// this call). So its id was added to the index after the last read;
    /// a bind adds the id before it writes the session, so the session was
    /// written after the last read. A cycle writes a new session only
    /// while the old one is live (one script on one node; on a cluster,
    /// the old one is ended in one step after the new one is written, and
    /// the new one deleted if the old one was gone): so the old one was
    /// live after the last read. But the old one was bound to the user and
    /// in the index before this call began, so it was handled in an
    /// earlier pass: it was gone before the last read. What can survive is
    /// only a session bound by a request that overlaps this call and was
    /// not a session of the user before it (a fresh login): the same as
    /// if that login came just after.
    ///
    /// Each pass after the first needs a bind that ran during the pass
    /// before; after [`MAX_PASSES`] the call gives up with
    /// [`StoreError::Unavailable`] (what it ended stays ended): logins of
    /// the user keep coming faster than it can end them.
    pub(crate) async fn delete_user_sessions(
        &self,
        user: &str,
        keep: Option<&Id>,
    ) -> Result<u64, StoreError> {
        let key = self.index_key(user.as_bytes());
        let keep = keep.map(|id| id.encode().into_bytes());
        let mut handled = HashSet::new();
        let mut seen: Vec<Member> = Vec::new();
        let mut deleted = 0;
        for pass in 0..=MAX_PASSES {
            let fresh: Vec<Member> = self
                .members(&key)
                .await?
                .into_iter()
                .filter(|(member, _)| keep.as_ref() != Some(member) && !handled.contains(member))
                .collect();
            if fresh.is_empty() {
                // Every member but `keep` is now gone, bound to someone
                // else, or a tombstone.
                self.prune(&key, &seen).await?;
                return Ok(deleted);
            }
            if pass == MAX_PASSES {
                break;
            }
            deleted += self.end_members(user, &fresh).await?;
            handled.extend(fresh.iter().map(|(member, _)| member.clone()));
            seen.extend(fresh);
        }
        Err(StoreError::unavailable(KeptChanging(MAX_PASSES)))
    }

    /// Runs the end script on every member that is a session id, in
    /// concurrent batches; returns how many live sessions it ended.
    async fn end_members(&self, user: &str, members: &[Member]) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for batch in members.chunks(BATCH) {
            let mut ends = JoinSet::new();
            for (member, _) in batch {
                let Some(id) = std::str::from_utf8(member)
                    .ok()
                    .and_then(|m| Id::from_str(m).ok())
                else {
                    continue;
                };
                let store = self.clone();
                let user = user.to_owned();
                ends.spawn(async move { store.end_bound(&user, &id).await });
            }
            while let Some(ended) = ends.join_next().await {
                deleted += u64::from(ended.map_err(StoreError::failed)??);
            }
        }
        Ok(deleted)
    }

    /// [`ExpiredCleanup::delete_expired`](session_core::store::ExpiredCleanup::delete_expired):
    /// prunes every index of this prefix, found by `SCAN` on every master,
    /// [`BATCH`] keys a step. Returns how many entries it removed.
    pub(crate) async fn prune_every_index(&self) -> Result<u64, StoreError> {
        let mut pattern = glob_escape(self.prefix());
        pattern.push_str(INDEX);
        pattern.push('*');
        let skip = self.prefix().len() + INDEX.len();
        let mut removed = 0;
        for node in self.conn.masters(self.timeout()).await? {
            let mut cursor = 0u64;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(BATCH)
                    .arg("TYPE")
                    .arg("zset");
                let (next, keys): (u64, Vec<Vec<u8>>) = self
                    .conn
                    .run_at(node.as_deref(), cmd, self.timeout())
                    .await?;
                for key in keys {
                    if let Some(user) = key.get(skip..) {
                        removed += self.prune_user(user).await?;
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(removed)
    }
}

/// How many times `delete_user` reads the index at most, each time ending
/// the members it had not seen: a pass after the first needs a bind that
/// ran during the previous one.
const MAX_PASSES: usize = 32;

/// `delete_user` found new members in the index on every one of its
/// passes.
#[derive(Debug)]
struct KeptChanging(usize);

impl std::fmt::Display for KeptChanging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the user's sessions kept changing: new sessions were bound during each of {} \
             passes of delete_user (the sessions it ended stay ended)",
            self.0
        )
    }
}

impl std::error::Error for KeptChanging {}

/// Runs `work` in the background on the current Tokio runtime; without one
/// (the store is used from another executor) it is left to the next prune.
fn spawn(work: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(work);
    }
}

/// `items` in batches of [`BATCH`].
fn chunks<T>(mut items: Vec<T>) -> Vec<Vec<T>> {
    let mut batches = Vec::new();
    while items.len() > BATCH {
        let rest = items.split_off(BATCH);
        batches.push(std::mem::replace(&mut items, rest));
    }
    if !items.is_empty() {
        batches.push(items);
    }
    batches
}

/// `text` as a `SCAN MATCH` pattern that matches exactly it.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_are_escaped() {
        assert_eq!(glob_escape("a:*?[x]\\"), "a:\\*\\?\\[x\\]\\\\");
        assert_eq!(glob_escape("session:"), "session:");
    }

    #[test]
    fn batches_cover_everything_once() {
        let batches = chunks((0..250).collect());
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        assert_eq!(batches.concat(), (0..250).collect::<Vec<_>>());
        assert!(chunks(Vec::<u8>::new()).is_empty());
    }
}
