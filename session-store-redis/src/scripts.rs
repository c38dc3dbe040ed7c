//! The Lua scripts behind create, save, touch and (on one node) cycle.
//!
//! Each script checks whether the session key exists and writes in the
//! same atomic step, so that a create never overwrites a live session and
//! a save, touch or cycle never brings back one that was deleted or
//! expired. The text lives in `scripts/*.lua`, next to this file; the field
//! names it writes (`created`, `expires`, `policy`) are those of
//! [`fields`](crate::fields).
//!
//! Scripts are sent by hash (`EVALSHA`); [`redis::Script`] loads one with
//! `SCRIPT LOAD` the first time a server does not know it.

use redis::Script;

/// Inserts a session unless its key exists. Returns 1 (inserted) or 0
/// (the key exists; nothing written).
const CREATE: &str = include_str!("scripts/create.lua");

/// Applies a change set to an existing session. Returns 1 (applied) or 0
/// (gone; nothing written).
const SAVE: &str = include_str!("scripts/save.lua");

/// Moves the expiry of an existing session. Returns 1 (applied) or 0
/// (gone; nothing written).
const TOUCH: &str = include_str!("scripts/touch.lua");

/// Moves a session to a new key if the old one exists and the new one
/// does not. Returns 1 (moved), 0 (the old key is gone; nothing written)
/// or 2 (the new key exists; nothing written). Its two keys are in
/// different cluster slots, so it runs on one node only.
const CYCLE: &str = include_str!("scripts/cycle.lua");

/// The scripts, with their hashes computed once per store.
pub(crate) struct Scripts {
    /// `KEYS[1]`: the session key. `ARGV`: created ms, expires ms, the
    /// policy ([`policy_text`](crate::fields::policy_text)), then data
    /// field, value, field, value, …
    pub(crate) create: Script,
    /// `KEYS[1]`: the session key. `ARGV`: expires ms, n, the policy
    /// change (`""` keep, `"-"` remove, else the new policy), then n data
    /// field/value pairs to set, then the data fields to remove.
    pub(crate) save: Script,
    /// `KEYS[1]`: the session key. `ARGV`: expires ms.
    pub(crate) touch: Script,
    /// `KEYS[1]`: the old session key, `KEYS[2]`: the new one. `ARGV`: as
    /// for `create`.
    pub(crate) cycle: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            create: Script::new(CREATE),
            save: Script::new(SAVE),
            touch: Script::new(TOUCH),
            cycle: Script::new(CYCLE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{CREATED, EXPIRES, POLICY};

    #[test]
    fn scripts_write_the_metadata_fields_that_are_read_back() {
        let created = format!("'{CREATED}'");
        let expires = format!("'{EXPIRES}'");
        let policy = format!("'{POLICY}'");
        for script in [CREATE, CYCLE] {
            assert!(script.contains(&created) && script.contains(&expires));
            assert!(script.contains(&policy));
        }
        assert!(SAVE.contains(&expires) && !SAVE.contains(&created));
        assert!(SAVE.contains(&policy));
        assert!(TOUCH.contains(&expires) && !TOUCH.contains(&created));
        assert!(!TOUCH.contains(&policy));
    }
}
