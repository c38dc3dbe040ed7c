//! The hash layout of one session: `created`, `expires`, `policy` (only
//! when the session has its own expiry policy), `user` (only when it is
//! bound to a user), and `d:<key>` per data key
//! (see the [crate documentation](crate#key-layout)).
//!
//! Writing goes through the scripts (see [`scripts`](crate::scripts)) and
//! the save and touch pipelines, which take the field names and values
//! made here; reading is one
//! `HGETALL`, decoded by [`decode`].

use std::fmt;

use serde_json::Value;
use session_core::store::{from_unix_millis, Data, Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::{Expiry, Id};

/// The hash field holding the creation time (Unix milliseconds).
pub(crate) const CREATED: &str = "created";
/// The hash field holding the expiry (Unix milliseconds).
pub(crate) const EXPIRES: &str = "expires";
/// The hash field holding the session's own expiry policy
/// ([`Expiry::to_stored`] text); absent when it follows the layer's.
pub(crate) const POLICY: &str = "policy";
/// The hash field holding the user the session is bound to; absent when
/// it is bound to none.
pub(crate) const USER: &str = "user";
/// The field of the stub a cycle on a cluster leaves under the old id: the
/// new id (see `scripts/cycle_out.lua`; only the scripts read it).
#[cfg(test)]
pub(crate) const MOVED: &str = "moved";
/// The prefix of every data field: data key `k` is field `d:k`.
const DATA: &str = "d:";

/// The hash field of data key `key`: `d:` + key, whatever the key holds.
pub(crate) fn data_field(key: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(DATA.len() + key.len());
    field.extend_from_slice(DATA.as_bytes());
    field.extend_from_slice(key.as_bytes());
    field
}

/// The stored text of a data value: its JSON.
pub(crate) fn json_text(value: &Value) -> String {
    // Serializing a `serde_json::Value` cannot fail: its map keys are strings.
    value.to_string()
}

/// The policy argument of the create, cycle and save scripts: the
/// [`Expiry::to_stored`] text, or `""` for none (stored text is never
/// empty).
pub(crate) fn policy_text(policy: Option<&Expiry>) -> String {
    policy.map(Expiry::to_stored).unwrap_or_default()
}

/// The user argument of the create and cycle scripts: `""` for none, else
/// `=` and the user (so that every user, the empty text too, is told apart
/// from none).
pub(crate) fn user_text(user: Option<&str>) -> String {
    user.map(|user| format!("={user}")).unwrap_or_default()
}

/// The `created` value of a *stub*: what a save or touch that found no
/// session leaves behind (see `RedisStore::write_live`). A hash whose `created` is
/// this is no session.
pub(crate) const STUB_CREATED: &[u8] = b"0";

/// Whether a hash with this `created` field is a live session rather than
/// a stub (or nothing): a hash without `created` is no session either
/// (only the create and cycle scripts write it, together with the rest).
pub(crate) fn is_live(created: Option<&[u8]>) -> bool {
    created.is_some_and(|created| created != STUB_CREATED)
}

/// Whether the fields of a hash (as `HGETALL` returns them) are what a
/// save or touch leaves when it finds no session: a stub, or a hash with
/// `expires` but no `created` (a write whose pipeline was cut after its
/// `HSET`). Neither is a session, nor can become one, so either may be
/// deleted. A hash with neither field is no session but not ours to
/// delete.
pub(crate) fn is_leftover(fields: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name.as_bytes())
            .map(|(_, value)| &value[..])
    };
    match field(CREATED) {
        Some(created) => created == STUB_CREATED,
        None => field(EXPIRES).is_some(),
    }
}

/// Decodes the fields of a session hash (as `HGETALL` returns them);
/// `None` for a stub or a hash without `created` (no session: see
/// [`is_live`]).
pub(crate) fn decode(
    id: &Id,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Option<Record>, StoreError> {
    let mut created = None;
    let mut expires = None;
    let mut policy = None;
    let mut user = None;
    let mut values = Vec::new();
    for (field, value) in fields {
        if field.starts_with(DATA.as_bytes()) {
            values.push((field, value));
        } else if field == CREATED.as_bytes() {
            created = Some(value);
        } else if field == EXPIRES.as_bytes() {
            expires = Some(value);
        } else if field == POLICY.as_bytes() {
            policy = Some(value);
        } else if field == USER.as_bytes() {
            user = Some(value);
        }
        // Other fields are not ours: ignored, so that a later version may
        // add metadata without breaking older readers.
    }
    if !is_live(created.as_deref()) {
        // No session: what its other fields hold does not matter.
        return Ok(None);
    }
    let mut data = Data::new();
    for (field, value) in values {
        let key = String::from_utf8(field[DATA.len()..].to_vec())
            .map_err(|_| corrupt(id, "a data field name is not UTF-8"))?;
        let value: Value = serde_json::from_slice(&value)
            .map_err(|err| corrupt(id, format!("the value of key {key:?} is not JSON ({err})")))?;
        data.insert(key, value);
    }
    let mut record = Record::new(
        *id,
        parse_time(id, CREATED, created.as_deref())?,
        parse_time(id, EXPIRES, expires.as_deref())?,
    );
    record.data = data;
    record.expiry = policy.map(|raw| parse_policy(id, &raw)).transpose()?;
    record.user = user.map(|raw| parse_user(id, raw)).transpose()?;
    Ok(Some(record))
}

/// The `user` field's text; not UTF-8 is corrupt.
pub(crate) fn parse_user(id: &Id, raw: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(raw).map_err(|_| corrupt(id, format!("the `{USER}` field is not UTF-8")))
}

/// The `created` and `expires` fields of a listed session.
pub(crate) fn parse_times(
    id: &Id,
    created: Option<&[u8]>,
    expires: Option<&[u8]>,
) -> Result<(OffsetDateTime, OffsetDateTime), StoreError> {
    Ok((
        parse_time(id, CREATED, created)?,
        parse_time(id, EXPIRES, expires)?,
    ))
}

fn parse_policy(id: &Id, raw: &[u8]) -> Result<Expiry, StoreError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(Expiry::from_stored)
        .ok_or_else(|| corrupt(id, format!("the `{POLICY}` field is not an expiry policy")))
}

fn parse_time(id: &Id, field: &str, raw: Option<&[u8]>) -> Result<OffsetDateTime, StoreError> {
    let raw = raw.ok_or_else(|| corrupt(id, format!("the `{field}` field is missing")))?;
    std::str::from_utf8(raw)
        .ok()
        .filter(|text| as_written(text))
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(from_unix_millis)
        .ok_or_else(|| {
            corrupt(
                id,
                format!("the `{field}` field is not a time in Unix milliseconds"),
            )
        })
}

/// Whether `text` spells a number as the store writes it (an `i64` in
/// decimal): no `+`, no leading zero, no `-0`. So every time has one
/// spelling, and `0` (the stub's `created`) only one.
fn as_written(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.starts_with('+') && !(digits.starts_with('0') && (digits.len() > 1 || digits != text))
}

fn corrupt(id: &Id, what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("session {}: {what}", id.short_hash()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_fields_never_clash_with_metadata() {
        assert_eq!(data_field("created"), b"d:created");
        assert_eq!(data_field(POLICY), b"d:policy");
        assert_eq!(data_field(""), b"d:");
    }

    #[test]
    fn corrupt_values_are_reported_not_panicked() {
        let id = Id::random();
        let err = decode(
            &id,
            vec![
                (b"created".to_vec(), b"1".to_vec()),
                (b"expires".to_vec(), b"2".to_vec()),
                (b"d:x".to_vec(), b"{not json".to_vec()),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)));
        assert!(err.to_string().contains("\"x\""), "{err}");
        let err = decode(
            &id,
            vec![
                (b"created".to_vec(), b"1".to_vec()),
                (b"d:x".to_vec(), b"1".to_vec()),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("`expires`"), "{err}");
    }

    /// A save or touch that loses to a logout can leave a hash without
    /// `created` behind (its pipeline cut after the `HSET`), or a stub:
    /// neither is a session, and both are leftovers to delete; a hash
    /// with neither time is no session, but not ours.
    #[test]
    fn a_hash_without_created_is_no_session() {
        let id = Id::random();
        let field = |name: &str, value: &str| (name.as_bytes().to_vec(), value.as_bytes().to_vec());
        let orphan = vec![field("expires", "2"), field("d:x", "1")];
        assert!(is_leftover(&orphan));
        assert_eq!(decode(&id, orphan).unwrap(), None);
        let stub = vec![field("created", "0"), field("expires", "2")];
        assert!(is_leftover(&stub));
        assert_eq!(decode(&id, stub).unwrap(), None);
        let foreign = vec![field("d:x", "1")];
        assert!(!is_leftover(&foreign));
        assert_eq!(decode(&id, foreign).unwrap(), None);
        let live = vec![field("created", "1"), field("expires", "2")];
        assert!(!is_leftover(&live));
        assert!(decode(&id, live).unwrap().is_some());
        assert!(!is_live(None));
        assert!(!is_live(Some(b"0")));
        assert!(is_live(Some(b"1")));
    }

    /// A hash that is no session (a stub, or one without `created`) is no
    /// session whatever its other fields hold: its data is not read, so
    /// garbage there is no corrupt session. (Found by fuzzing; the cached
    /// read decodes such a hash without the leftover check that the
    /// uncached one makes first.)
    #[test]
    fn no_session_whatever_its_data() {
        let id = Id::random();
        for created in [None, Some(&b"0"[..])] {
            let mut fields = vec![
                (b"expires".to_vec(), b"2".to_vec()),
                (b"d:x".to_vec(), b"{not json".to_vec()),
                (b"d:\xff".to_vec(), b"1".to_vec()),
            ];
            fields.extend(created.map(|created| (b"created".to_vec(), created.to_vec())));
            assert_eq!(decode(&id, fields).unwrap(), None, "created: {created:?}");
        }
    }

    /// Times are read only as the store writes them (an `i64` in decimal):
    /// another spelling of a number is corrupt, so that `0`, the stub's
    /// `created`, has one spelling, and a record read back writes back
    /// the fields it was read from. (Found by fuzzing: `created` = `+0`
    /// read as a session created at the epoch, which written back is a
    /// stub.)
    #[test]
    fn times_have_one_spelling() {
        let id = Id::random();
        let hash = |created: &str| {
            vec![
                (b"created".to_vec(), created.as_bytes().to_vec()),
                (b"expires".to_vec(), b"2".to_vec()),
            ]
        };
        for spelling in ["+0", "00", "-0", "+5", "05", "-05", "-00", " 5", "5 ", ""] {
            let decoded = decode(&id, hash(spelling));
            assert!(
                matches!(decoded, Err(StoreError::Corrupt(_))),
                "{spelling:?}: {decoded:?}"
            );
        }
        for ms in [1, -1, 2, 1_700_000_000_000, -62_135_596_800_000] {
            let record = decode(&id, hash(&ms.to_string())).unwrap().unwrap();
            assert_eq!(session_core::store::unix_millis(record.created_at), ms);
        }
        assert_eq!(decode(&id, hash("0")).unwrap(), None);
    }

    #[test]
    fn the_policy_round_trips_and_garbage_is_corrupt() {
        let id = Id::random();
        let times = || {
            vec![
                (b"created".to_vec(), b"1".to_vec()),
                (b"expires".to_vec(), b"2".to_vec()),
            ]
        };
        assert_eq!(decode(&id, times()).unwrap().unwrap().expiry, None);
        let remember_me = Expiry::OnInactivity(std::time::Duration::from_secs(60));
        let mut fields = times();
        fields.push((
            POLICY.as_bytes().to_vec(),
            policy_text(Some(&remember_me)).into_bytes(),
        ));
        assert_eq!(
            decode(&id, fields).unwrap().unwrap().expiry,
            Some(remember_me)
        );
        assert_eq!(policy_text(None), "");
        for garbage in [&b"idle:soon"[..], b"", b"\xff"] {
            let mut fields = times();
            fields.push((POLICY.as_bytes().to_vec(), garbage.to_vec()));
            let err = decode(&id, fields).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
            let message = err.to_string();
            assert!(message.contains("`policy`"), "{message}");
            assert!(message.contains(&id.short_hash()), "{message}");
            assert!(!message.contains(&id.encode()), "{message}");
        }
    }
}
