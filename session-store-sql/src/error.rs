//! From sqlx errors to [`StoreError`]s.

use session_core::store::StoreError;
use session_core::Id;

/// Unreachable, timed out or overloaded → [`StoreError::Unavailable`]
/// (a `503`); anything else → [`StoreError::Failed`] (a `500`).
/// `unavailable` tells which database error codes mean the server cannot
/// answer now (each database has its own).
pub(crate) fn store_error(err: sqlx::Error, unavailable: fn(&str) -> bool) -> StoreError {
    let is_unavailable = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable(&code)),
        _ => false,
    };
    if is_unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::failed(err)
    }
}

/// A [`StoreError::Corrupt`] naming the table and the id's short hash
/// (never the id).
pub(crate) fn corrupt(table: &str, id: &Id, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "row of session #{} in table `{table}`: {what}",
        id.short_hash()
    ))
}
