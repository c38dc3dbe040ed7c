//! The Lua scripts behind create, save and touch.
//!
//! Each script checks whether the session key exists and writes in the
//! same atomic step, so that a create never overwrites a live session and
//! a save or touch never brings back one that was deleted or expired. The
//! text lives in `scripts/*.lua`, next to this file; the field names it
//! writes (`created`, `expires`) are those of [`fields`](crate::fields).
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

/// The three scripts, with their hashes computed once per store.
pub(crate) struct Scripts {
    /// `KEYS[1]`: the session key. `ARGV`: created ms, expires ms, then
    /// data field, value, field, value, …
    pub(crate) create: Script,
    /// `KEYS[1]`: the session key. `ARGV`: expires ms, n, then n data
    /// field/value pairs to set, then the data fields to remove.
    pub(crate) save: Script,
    /// `KEYS[1]`: the session key. `ARGV`: expires ms.
    pub(crate) touch: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            create: Script::new(CREATE),
            save: Script::new(SAVE),
            touch: Script::new(TOUCH),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{CREATED, EXPIRES};

    #[test]
    fn scripts_write_the_metadata_fields_that_are_read_back() {
        let created = format!("'{CREATED}'");
        let expires = format!("'{EXPIRES}'");
        assert!(CREATE.contains(&created) && CREATE.contains(&expires));
        assert!(SAVE.contains(&expires) && !SAVE.contains(&created));
        assert!(TOUCH.contains(&expires) && !TOUCH.contains(&created));
    }
}
