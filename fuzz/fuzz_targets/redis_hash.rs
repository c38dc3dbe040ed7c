//! The Redis store's decoder of a session hash (`HGETALL`'s field, value
//! pairs), fed whatever someone with write access to Redis could leave in
//! a session's hash: any fields, any bytes.
//!
//! Checks: no panic; an error is `Corrupt` and never names the id; "no
//! session" exactly when `created` is absent or `0`; a decoded record holds
//! what the fields say (times to the millisecond, in range; the policy; the
//! user; each `d:` field's JSON), and written back in the documented layout
//! it decodes to itself, a layout that is then a fixed point.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use session_core::store::{from_unix_millis, unix_millis, Record, StoreError};
use session_core::{Expiry, Id};
use session_store_redis::__private::decode_hash;

#[path = "../common/json.rs"]
mod json;
use json::JsonText;

/// A field the fuzzer builds: the store's own names, or any other, with a
/// value that is either well-formed for that field or raw bytes.
#[derive(Arbitrary, Debug)]
enum Field {
    Created(Text),
    Expires(Text),
    Policy(PolicyText),
    User(Vec<u8>),
    Data(Vec<u8>, JsonText),
    Other(Vec<u8>, Vec<u8>),
}

/// A time field's value: Unix milliseconds as decimal text, or raw bytes.
#[derive(Arbitrary, Debug)]
enum Text {
    Millis(i64),
    Raw(Vec<u8>),
}

/// A `policy` value: one of the three shapes with any number, or raw bytes.
#[derive(Arbitrary, Debug)]
enum PolicyText {
    End,
    Idle(u64),
    At(i64),
    Raw(Vec<u8>),
}

impl Field {
    fn pair(self) -> (Vec<u8>, Vec<u8>) {
        fn text(text: Text) -> Vec<u8> {
            match text {
                Text::Millis(ms) => ms.to_string().into_bytes(),
                Text::Raw(raw) => raw,
            }
        }
        match self {
            Field::Created(value) => (b"created".to_vec(), text(value)),
            Field::Expires(value) => (b"expires".to_vec(), text(value)),
            Field::Policy(policy) => {
                let value = match policy {
                    PolicyText::End => b"end".to_vec(),
                    PolicyText::Idle(ms) => format!("idle:{ms}").into_bytes(),
                    PolicyText::At(ms) => format!("at:{ms}").into_bytes(),
                    PolicyText::Raw(raw) => raw,
                };
                (b"policy".to_vec(), value)
            }
            Field::User(user) => (b"user".to_vec(), user),
            Field::Data(key, value) => ([b"d:".as_slice(), &key].concat(), value.bytes()),
            Field::Other(name, value) => (name, value),
        }
    }
}

/// The hash a record is stored as (the crate documentation's key layout).
fn layout(record: &Record) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut fields = vec![
        (
            b"created".to_vec(),
            unix_millis(record.created_at).to_string().into_bytes(),
        ),
        (
            b"expires".to_vec(),
            unix_millis(record.expires_at).to_string().into_bytes(),
        ),
    ];
    if let Some(policy) = &record.expiry {
        fields.push((b"policy".to_vec(), policy.to_stored().into_bytes()));
    }
    if let Some(user) = &record.user {
        fields.push((b"user".to_vec(), user.clone().into_bytes()));
    }
    for (key, value) in &record.data {
        fields.push((
            [b"d:".as_slice(), key.as_bytes()].concat(),
            value.to_string().into_bytes(),
        ));
    }
    fields
}

fn field<'a>(fields: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    fields
        .iter()
        .find(|(field, _)| field == name.as_bytes())
        .map(|(_, value)| value.as_slice())
}

fn millis(raw: Option<&[u8]>) -> i64 {
    let text = std::str::from_utf8(raw.expect("a decoded record had the field")).unwrap();
    text.parse().expect("a decoded record's time is a number")
}

fuzz_target!(|input: Vec<Field>| {
    // HGETALL names each field once: the first occurrence stands.
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (name, value) in input.into_iter().map(Field::pair) {
        if !fields.iter().any(|(seen, _)| *seen == name) {
            fields.push((name, value));
        }
    }
    let id = Id::from_bytes([0x5a; 16]);
    let decoded = decode_hash(&id, fields.clone());
    let created = field(&fields, "created");
    match decoded {
        Err(err) => {
            let StoreError::Corrupt(message) = &err else {
                panic!("a stored hash made a non-Corrupt error: {err:?}");
            };
            assert!(message.contains(&id.short_hash()), "{message}");
            let echoed = fields.iter().any(|(name, value)| {
                [name, value]
                    .iter()
                    .any(|bytes| String::from_utf8_lossy(bytes).contains(&id.encode()))
            });
            assert!(echoed || !message.contains(&id.encode()), "{message}");
            assert!(
                created.is_some_and(|c| c != b"0"),
                "a non-session hash is an error: {message}"
            );
        }
        Ok(None) => assert!(
            created.is_none_or(|c| c == b"0"),
            "a live hash decoded to no session"
        ),
        Ok(Some(record)) => {
            assert_eq!(record.id, id);
            let (created_ms, expires_ms) = (millis(created), millis(field(&fields, "expires")));
            assert_eq!(unix_millis(record.created_at), created_ms);
            assert_eq!(unix_millis(record.expires_at), expires_ms);
            assert_eq!(from_unix_millis(created_ms), Some(record.created_at));
            let policy = field(&fields, "policy")
                .map(|raw| Expiry::from_stored(std::str::from_utf8(raw).unwrap()).unwrap());
            assert_eq!(record.expiry, policy);
            let user = field(&fields, "user").map(|raw| std::str::from_utf8(raw).unwrap());
            assert_eq!(record.user.as_deref(), user);
            let keys = fields
                .iter()
                .filter(|(name, _)| name.starts_with(b"d:"))
                .count();
            assert_eq!(record.data.len(), keys);
            for (name, value) in &fields {
                if let Some(key) = name.strip_prefix(b"d:") {
                    let key = std::str::from_utf8(key).unwrap();
                    let parsed: Value = serde_json::from_slice(value).unwrap();
                    assert_eq!(record.data[key], parsed);
                }
            }
            // Written back, it reads back the same; and that layout is a
            // fixed point.
            let stored = layout(&record);
            let again = decode_hash(&id, stored.clone())
                .expect("a record written back is corrupt")
                .expect("a record written back is no session");
            assert_eq!(again, record);
            assert_eq!(layout(&again), stored);
        }
    }
});
