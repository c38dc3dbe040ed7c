//! From sqlx errors to [`StoreError`]s.

use session_core::store::StoreError;
use session_core::Id;

use crate::Backend;

/// Unreachable, timed out or overloaded → [`StoreError::Unavailable`]
/// (a `503`); anything else → [`StoreError::Failed`] (a `500`).
pub(crate) fn store_error(backend: Backend, err: sqlx::Error) -> StoreError {
    if is_unavailable(backend, &err) {
        StoreError::unavailable(err)
    } else {
        StoreError::failed(err)
    }
}

fn is_unavailable(backend: Backend, err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            match backend {
                // SQLITE_BUSY and SQLITE_LOCKED, with their extended codes:
                // the busy timeout ran out while another writer held the lock.
                Backend::Sqlite => code
                    .parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
                // SQLSTATE class 08 (connection exception), 53300 (too many
                // connections), 57P01..57P03 (shutdown, cannot connect now).
                Backend::Postgres => {
                    code.starts_with("08")
                        || matches!(&*code, "53300" | "57P01" | "57P02" | "57P03")
                }
                // SQLSTATE class 08 (e.g. 1040, too many connections).
                Backend::MySql => code.starts_with("08"),
            }
        }
        _ => false,
    }
}

/// Whether SQLite refused the stored `data` as JSON (a row edited by hand).
pub(crate) fn is_malformed_json(backend: Backend, err: &sqlx::Error) -> bool {
    matches!(
        (backend, err),
        (Backend::Sqlite, sqlx::Error::Database(db)) if db.message().contains("malformed JSON")
    )
}

/// A [`StoreError::Corrupt`] naming the table and the id's short hash
/// (never the id).
pub(crate) fn corrupt(table: &str, id: &Id, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!(
        "row of session #{} in table `{table}`: {what}",
        id.short_hash()
    ))
}
