//! The Lua scripts behind create, cycle and ending sessions. (Save and touch
//! are pipelines of plain commands, which cost Redis less: see
//! `RedisStore::write_live`.)
//!
//! Each script checks whether the session exists and writes in the same
//! atomic step, so that a create never overwrites a live session or a
//! stub, and a cycle never brings back a session that was deleted or
//! expired. The text lives in `scripts/*.lua`, next to this file; the field
//! names it writes (`created`, `expires`, `policy`, `user`) are those of
//! [`fields`](crate::fields). The user index (see [`users`](crate::users))
//! has scripts of its own, each on one key: on a cluster the index and the
//! sessions it lists live in different slots.
//!
//! Scripts are sent by hash (`EVALSHA`); [`redis::Script`] loads one with
//! `SCRIPT LOAD` the first time a server does not know it.

use redis::Script;

/// Inserts a session unless its key exists. Returns 1 (inserted, or found
/// exactly what it writes: resent), 0 (the key exists; nothing written) or
/// 2 (the key holds a stub, such as the tombstone of an end of the user's
/// sessions; nothing written).
const CREATE: &str = include_str!("scripts/create.lua");

/// Moves a session to a new key if the old one exists and the new one
/// does not. Returns 1 (moved), 0 (the old key is gone, or the new one
/// holds a tombstone; nothing written) or 2 (the new key exists; nothing
/// written). Its two keys are in
/// different cluster slots, so it runs on one node only.
const CYCLE: &str = include_str!("scripts/cycle.lua");

/// Adds a session to a user's index with a fresh score (the server's time
/// in ms). Returns the size of the index.
const INDEX_ADD: &str = include_str!("scripts/index_add.lua");

/// Removes members of a user's index whose score is still the one seen and
/// older than a grace period. Returns how many it removed.
const INDEX_PRUNE: &str = include_str!("scripts/index_prune.lua");

/// Ends a session if it is bound to the given user, leaving a tombstone
/// (a stub that expires after the grace period) in its place, and in the
/// place of an id that holds nothing yet. Returns 1 (it ended a live
/// session) or 0.
const END_BOUND: &str = include_str!("scripts/end_bound.lua");

/// The last step of a cycle on a cluster: ends the old session if it is
/// still live, leaving a stub that names the new id. Returns 1 (it was
/// live, or this same move ended it) or 0 (it was gone).
const CYCLE_OUT: &str = include_str!("scripts/cycle_out.lua");

/// Deletes a stub or a hash without `created`, unless it marks a cycle's
/// move. Returns 1 or 0.
const DROP_LEFTOVER: &str = include_str!("scripts/drop_leftover.lua");

/// Deletes a lease key if it holds the given token. Returns 1 or 0.
const UNLOCK: &str = include_str!("scripts/unlock.lua");

/// The scripts, with their hashes computed once per store.
pub(crate) struct Scripts {
    /// `KEYS[1]`: the session key. `ARGV`: created ms, expires ms, the
    /// policy ([`policy_text`](crate::fields::policy_text)), the user
    /// ([`user_text`](crate::fields::user_text)), then data field, value,
    /// field, value, …
    pub(crate) create: Script,
    /// `KEYS[1]`: the old session key, `KEYS[2]`: the new one. `ARGV`: as
    /// for `create`.
    pub(crate) cycle: Script,
    /// `KEYS[1]`: a user's index. `ARGV`: the session id.
    pub(crate) index_add: Script,
    /// `KEYS[1]`: a user's index. `ARGV`: the grace period in ms, then
    /// member, seen score (`""` for any), …
    pub(crate) index_prune: Script,
    /// `KEYS[1]`: the session key. `ARGV`: the user, the grace period in
    /// ms.
    pub(crate) end_bound: Script,
    /// `KEYS[1]`: the old session key. `ARGV`: the new id, the grace
    /// period in ms.
    pub(crate) cycle_out: Script,
    /// `KEYS[1]`: the session key.
    pub(crate) drop_leftover: Script,
    /// `KEYS[1]`: a lease key. `ARGV`: the token.
    pub(crate) unlock: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            create: Script::new(CREATE),
            cycle: Script::new(CYCLE),
            index_add: Script::new(INDEX_ADD),
            index_prune: Script::new(INDEX_PRUNE),
            end_bound: Script::new(END_BOUND),
            cycle_out: Script::new(CYCLE_OUT),
            drop_leftover: Script::new(DROP_LEFTOVER),
            unlock: Script::new(UNLOCK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{CREATED, EXPIRES, MOVED, POLICY, STUB_CREATED, USER};

    #[test]
    fn scripts_write_the_metadata_fields_that_are_read_back() {
        let created = format!("'{CREATED}'");
        let expires = format!("'{EXPIRES}'");
        let policy = format!("'{POLICY}'");
        let user = format!("'{USER}'");
        for script in [CREATE, CYCLE] {
            assert!(script.contains(&created) && script.contains(&expires));
            assert!(script.contains(&policy) && script.contains(&user));
        }
        assert!(END_BOUND.contains(&user) && END_BOUND.contains(&created));
        // A stub (what a save or touch that lost to a logout leaves) is no
        // session for the scripts either.
        let stub = format!("'{}'", std::str::from_utf8(STUB_CREATED).unwrap());
        for script in [CYCLE, END_BOUND, CYCLE_OUT, DROP_LEFTOVER] {
            assert!(script.contains(&stub), "{script}");
        }
        let moved = format!("'{MOVED}'");
        assert!(CYCLE_OUT.contains(&moved) && DROP_LEFTOVER.contains(&moved));
    }
}
