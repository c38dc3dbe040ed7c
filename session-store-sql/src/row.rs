//! A session as a row: the columns read back into a [`Record`] (or a
//! [`UserSession`]), and the JSON written.

use std::fmt;

use serde_json::Value;
use session_core::store::{from_unix_millis, ChangeSet, Record, StoreError, UserSession};
use session_core::time::OffsetDateTime;
use session_core::{Expiry, Id};

use crate::error::corrupt;

/// The columns of a loaded row, as read (each may have failed to decode).
pub(crate) struct Columns {
    /// `data`, as JSON text.
    pub(crate) data: Result<String, sqlx::Error>,
    pub(crate) created_at: Result<i64, sqlx::Error>,
    pub(crate) expires_at: Result<i64, sqlx::Error>,
    /// `expiry_policy`: [`Expiry::to_stored`] text, or `NULL`.
    pub(crate) expiry_policy: Result<Option<String>, sqlx::Error>,
    /// `user_id`, as [`TextColumn::text`] reads it.
    pub(crate) user_id: Result<Option<String>, sqlx::Error>,
}

/// Reads a text column of a row that the database may hand over as bytes:
/// `id` and `user_id` are binary strings on MySQL (`ascii_bin`,
/// `VARBINARY`), which sqlx does not decode as text.
pub(crate) trait TextColumn {
    /// The text at column `index`, or `None` for `NULL`; an error for a
    /// value that is not text (or not UTF-8).
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error>;
}

impl Columns {
    /// The record of session `id` in `table`; anything unreadable is
    /// [`StoreError::Corrupt`].
    pub(crate) fn record(self, table: &str, id: &Id) -> Result<Record, StoreError> {
        let text = self
            .data
            .map_err(|err| corrupt(table, id, format_args!("`data` unreadable: {err}")))?;
        let data = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(corrupt(
                    table,
                    id,
                    format_args!("`data` is JSON {}, not an object", kind(&other)),
                ))
            }
            Err(err) => {
                return Err(corrupt(
                    table,
                    id,
                    format_args!("`data` is not valid JSON ({err})"),
                ))
            }
        };
        let fail = |what: &dyn fmt::Display| corrupt(table, id, what);
        let mut record = Record::new(
            *id,
            time("created_at", self.created_at, fail)?,
            time("expires_at", self.expires_at, fail)?,
        );
        record.data = data;
        let policy = self
            .expiry_policy
            .map_err(|err| corrupt(table, id, format_args!("`expiry_policy` unreadable: {err}")))?;
        record.expiry = policy
            .map(|text| {
                Expiry::from_stored(&text).ok_or_else(|| {
                    corrupt(
                        table,
                        id,
                        "`expiry_policy` is not an expiry policy (`end`, `idle:<ms>` or `at:<ms>`)",
                    )
                })
            })
            .transpose()?;
        record.user = self
            .user_id
            .map_err(|err| corrupt(table, id, format_args!("`user_id` unreadable: {err}")))?;
        Ok(record)
    }
}

/// The columns of a row [`UserIndex::list_user`](session_core::store::UserIndex::list_user)
/// reads, as read.
pub(crate) struct Listed {
    /// `id`, as [`TextColumn::text`] reads it.
    pub(crate) id: Result<Option<String>, sqlx::Error>,
    pub(crate) created_at: Result<i64, sqlx::Error>,
    pub(crate) expires_at: Result<i64, sqlx::Error>,
}

impl Listed {
    /// The listed session; anything unreadable is [`StoreError::Corrupt`]
    /// (an id that does not parse is not repeated in the message).
    pub(crate) fn session(self, table: &str) -> Result<UserSession, StoreError> {
        let id = self
            .id
            .ok()
            .flatten()
            .and_then(|text| text.parse::<Id>().ok())
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a row of a user's sessions in table `{table}` has an `id` that is not \
                     a session id"
                ))
            })?;
        let fail = |what: &dyn fmt::Display| corrupt(table, &id, what);
        Ok(UserSession::new(
            id,
            time("created_at", self.created_at, fail)?,
            time("expires_at", self.expires_at, fail)?,
        ))
    }
}

/// The time stored in `column` as Unix milliseconds; `fail` makes the
/// [`StoreError::Corrupt`] for a value that is unreadable or out of range.
fn time(
    column: &str,
    value: Result<i64, sqlx::Error>,
    fail: impl Fn(&dyn fmt::Display) -> StoreError,
) -> Result<OffsetDateTime, StoreError> {
    let value = value.map_err(|err| fail(&format_args!("`{column}` unreadable: {err}")))?;
    from_unix_millis(value).ok_or_else(|| {
        fail(&format_args!(
            "`{column}` = {value} is not a time in Unix milliseconds"
        ))
    })
}

/// The keys and values a change set sets, as a JSON object.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn set_object(changes: &ChangeSet) -> String {
    let mut text = String::from("{");
    for (i, (key, value)) in changes.set.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&Value::from(key.as_str()).to_string());
        text.push(':');
        text.push_str(&value.to_string());
    }
    text.push('}');
    text
}

/// The policy a change set stores when it names one
/// ([`Expiry::to_stored`] text, `None` to clear it); `None` too when it
/// does not, and the statement then keeps the stored policy.
pub(crate) fn policy(changes: &ChangeSet) -> Option<String> {
    changes.expiry.flatten().as_ref().map(Expiry::to_stored)
}

/// The user a change set binds the session to (`None` to unbind it);
/// `None` too when it keeps the binding, and the statement then keeps the
/// stored `user_id`.
pub(crate) fn user(changes: &ChangeSet) -> Option<&str> {
    changes.user.as_ref().and_then(Option::as_deref)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
