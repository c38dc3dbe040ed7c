//! The SQL store's decoders of a row, fed whatever someone with write
//! access to the table could leave in it: any `data` text, any times, any
//! `expiry_policy` and `user_id`, and columns the database cannot hand over
//! as the type the store asks for (a BLOB in SQLite's `data`, bytes that
//! are not UTF-8 in MySQL's `user_id`, text in an integer column).
//!
//! Checks: no panic; an error is `Corrupt`, names the table and the id's
//! short hash and never the id; a decoded record holds what the columns
//! say (times to the millisecond, in range), and written back as the store
//! writes it, it decodes to itself. For `list_user`'s rows: an id that
//! decodes is the one the row's text spells.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use session_core::store::{from_unix_millis, unix_millis, StoreError};
use session_core::{Expiry, Id};
use session_store_sql::__private::{decode_listed, decode_row};
use session_store_sql::sqlx;

#[path = "../common/json.rs"]
mod json;
use json::JsonText;

/// A column as the database hands it over: a value, or a decoding error.
type Column<T> = Result<T, sqlx::Error>;

#[derive(Arbitrary, Debug)]
struct Row {
    /// `None`: the value is not text (say, a BLOB); bytes that are not
    /// UTF-8 fail to decode as text too.
    data: Option<JsonText>,
    created_at: Option<i64>,
    expires_at: Option<i64>,
    expiry_policy: Option<Option<PolicyText>>,
    /// Read as bytes and checked to be UTF-8, as MySQL's `VARBINARY` is.
    user_id: Option<Option<Vec<u8>>>,
    /// `list_user`'s `id` column.
    listed_id: Option<Option<Vec<u8>>>,
}

#[derive(Arbitrary, Debug)]
enum PolicyText {
    End,
    Idle(u64),
    At(i64),
    Raw(String),
}

impl PolicyText {
    fn text(self) -> String {
        match self {
            PolicyText::End => "end".to_owned(),
            PolicyText::Idle(ms) => format!("idle:{ms}"),
            PolicyText::At(ms) => format!("at:{ms}"),
            PolicyText::Raw(raw) => raw,
        }
    }
}

fn unreadable<T>(column: &str) -> Column<T> {
    Err(sqlx::Error::ColumnNotFound(column.to_owned()))
}

fn readable<T>(value: Option<T>, column: &str) -> Column<T> {
    value.map_or_else(|| unreadable(column), Ok)
}

fn text(bytes: Vec<u8>, column: &str) -> Column<String> {
    String::from_utf8(bytes).map_err(|err| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(err),
    })
}

fn nullable_text(value: Option<Option<Vec<u8>>>, column: &str) -> Column<Option<String>> {
    match value {
        None => unreadable(column),
        Some(None) => Ok(None),
        Some(Some(bytes)) => text(bytes, column).map(Some),
    }
}

fn check_error(err: StoreError, table: &str, id: &Id, inputs: &[&str]) {
    let StoreError::Corrupt(message) = &err else {
        panic!("a stored row made a non-Corrupt error: {err:?}");
    };
    assert!(message.contains(table), "{message}");
    assert!(message.contains(&id.short_hash()), "{message}");
    let echoed = inputs.iter().any(|input| input.contains(&id.encode()));
    assert!(echoed || !message.contains(&id.encode()), "{message}");
}

const TABLE: &str = "fuzz_sessions";

fuzz_target!(|row: Row| {
    let id = Id::from_bytes([0xa5; 16]);
    let data = row.data.map(|json| text(json.bytes(), "data"));
    let data_text = data.as_ref().and_then(|data| data.as_ref().ok()).cloned();
    let policy = row.expiry_policy.map(|policy| policy.map(PolicyText::text));
    let user = nullable_text(row.user_id.clone(), "user_id");
    let user_text = user.as_ref().ok().cloned().flatten();
    let decoded = decode_row(
        TABLE,
        &id,
        data.unwrap_or_else(|| unreadable("data")),
        readable(row.created_at, "created_at"),
        readable(row.expires_at, "expires_at"),
        readable(policy.clone(), "expiry_policy"),
        user,
    );
    let inputs = [
        data_text.as_deref().unwrap_or(""),
        user_text.as_deref().unwrap_or(""),
        policy.as_ref().and_then(Option::as_deref).unwrap_or(""),
    ];
    match decoded {
        Err(err) => check_error(err, TABLE, &id, &inputs),
        Ok(record) => {
            assert_eq!(record.id, id);
            let (created, expires) = (row.created_at.unwrap(), row.expires_at.unwrap());
            assert_eq!(unix_millis(record.created_at), created);
            assert_eq!(unix_millis(record.expires_at), expires);
            assert_eq!(from_unix_millis(created), Some(record.created_at));
            let Value::Object(map) = serde_json::from_str(data_text.as_deref().unwrap()).unwrap()
            else {
                panic!("a record decoded from `data` that is not an object");
            };
            assert_eq!(record.data, map);
            let policy = policy
                .unwrap()
                .map(|text| Expiry::from_stored(&text).unwrap());
            assert_eq!(record.expiry, policy);
            assert_eq!(record.user, user_text);
            // Written back as the store writes it, it reads back the same.
            let again = decode_row(
                TABLE,
                &id,
                Ok(serde_json::to_string(&record.data).unwrap()),
                Ok(unix_millis(record.created_at)),
                Ok(unix_millis(record.expires_at)),
                Ok(record.expiry.as_ref().map(Expiry::to_stored)),
                Ok(record.user.clone()),
            )
            .expect("a record written back is corrupt");
            assert_eq!(again, record);
        }
    }

    let listed_text = row
        .listed_id
        .clone()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let listed_id = listed_text
        .as_deref()
        .and_then(|text| text.parse::<Id>().ok());
    let listed = decode_listed(
        TABLE,
        nullable_text(row.listed_id, "id"),
        readable(row.created_at, "created_at"),
        readable(row.expires_at, "expires_at"),
    );
    match listed {
        Ok(session) => {
            assert_eq!(
                Some(session.id.encode()),
                listed_text,
                "two spellings of one id"
            );
            assert_eq!(unix_millis(session.created_at), row.created_at.unwrap());
            assert_eq!(unix_millis(session.expires_at), row.expires_at.unwrap());
        }
        Err(StoreError::Corrupt(message)) => {
            assert!(message.contains(TABLE), "{message}");
            match listed_id {
                Some(id) => check_error(StoreError::Corrupt(message), TABLE, &id, &[]),
                None => {
                    // The id is what is wrong: the message says so the same
                    // way whatever the text was (it is never repeated).
                    let Err(StoreError::Corrupt(plain)) =
                        decode_listed(TABLE, Ok(None), Ok(0), Ok(0))
                    else {
                        panic!("a NULL id decoded");
                    };
                    assert_eq!(message, plain);
                }
            }
        }
        Err(err) => panic!("a listed row made a non-Corrupt error: {err:?}"),
    }
});
