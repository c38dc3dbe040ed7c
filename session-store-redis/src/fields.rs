//! The hash layout of one session: `created`, `expires`, and `d:<key>` per
//! data key (see the [crate documentation](crate#key-layout)).
//!
//! Writing goes through the scripts (see [`scripts`](crate::scripts)),
//! which take the field names and values made here; reading is one
//! `HGETALL`, decoded by [`decode`].

use std::fmt;

use serde_json::Value;
use session_core::store::{from_unix_millis, Data, Record, StoreError};
use session_core::time::OffsetDateTime;
use session_core::Id;

/// The hash field holding the creation time (Unix milliseconds).
pub(crate) const CREATED: &str = "created";
/// The hash field holding the expiry (Unix milliseconds).
pub(crate) const EXPIRES: &str = "expires";
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

/// Decodes the fields of a session hash (as `HGETALL` returns them).
pub(crate) fn decode(id: &Id, fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Record, StoreError> {
    let mut created = None;
    let mut expires = None;
    let mut data = Data::new();
    for (field, value) in fields {
        if let Some(key) = field.strip_prefix(DATA.as_bytes()) {
            let key = String::from_utf8(key.to_vec())
                .map_err(|_| corrupt(id, "a data field name is not UTF-8"))?;
            let value: Value = serde_json::from_slice(&value).map_err(|err| {
                corrupt(id, format!("the value of key {key:?} is not JSON ({err})"))
            })?;
            data.insert(key, value);
        } else if field == CREATED.as_bytes() {
            created = Some(value);
        } else if field == EXPIRES.as_bytes() {
            expires = Some(value);
        }
        // Other fields are not ours: ignored, so that a later version may
        // add metadata without breaking older readers.
    }
    let mut record = Record::new(
        *id,
        parse_time(id, CREATED, created.as_deref())?,
        parse_time(id, EXPIRES, expires.as_deref())?,
    );
    record.data = data;
    Ok(record)
}

fn parse_time(id: &Id, field: &str, raw: Option<&[u8]>) -> Result<OffsetDateTime, StoreError> {
    let raw = raw.ok_or_else(|| corrupt(id, format!("the `{field}` field is missing")))?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .and_then(from_unix_millis)
        .ok_or_else(|| {
            corrupt(
                id,
                format!("the `{field}` field is not a time in Unix milliseconds"),
            )
        })
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
        let err = decode(&id, vec![(b"d:x".to_vec(), b"1".to_vec())]).unwrap_err();
        assert!(err.to_string().contains("created"), "{err}");
    }
}
