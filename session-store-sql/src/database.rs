//! What differs between databases, and how the shared code reaches it.
//!
//! Each database has a module (`sqlite`, `postgres`, `mysql`, one per
//! feature) with a driver type that owns the pool (field `pool`), the
//! statement text with the table name spliced in (field `sql`, the
//! [`Statements`] every database runs alike, plus its own), and the
//! migration, and implements [`Driver`] for the rest. [`Db`] holds the
//! driver of a store, and [`on_db!`] runs shared code against it, whatever
//! the database.

use std::any::Any;

use session_core::store::{ChangeSet, Created, Id, StoreError};

use crate::error;
use crate::table::TableName;

/// Which database a [`SqlStore`](crate::SqlStore) talks to.
///
/// ```
/// use session_store_sql::{Database, SqlStore};
///
/// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
/// let store = SqlStore::connect("sqlite::memory:").await?;
/// assert_eq!(store.database(), Database::Sqlite);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Database {
    /// SQLite (feature `sqlite`).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (feature `mysql`).
    MySql,
}

impl Database {
    /// The database a URL names by its scheme: `sqlite:`, `postgres:` (or
    /// `postgresql:`), `mysql:` (or `mariadb:`).
    pub(crate) fn of_url(url: &str) -> Result<Self, StoreError> {
        match scheme(url).to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Database::Sqlite),
            "postgres" | "postgresql" => Ok(Database::Postgres),
            "mysql" | "mariadb" => Ok(Database::MySql),
            _ => Err(StoreError::failed(match shown_scheme(url) {
                Some(scheme) => format!(
                    "unsupported session store URL scheme {scheme:?}: expected \
                     sqlite://, postgres:// or mysql://"
                ),
                None => "unsupported session store URL (not repeated here: it may hold \
                         a password): expected sqlite://, postgres:// or mysql://"
                    .to_owned(),
            })),
        }
    }

    /// The error for a `url` of this database when its feature is off.
    pub(crate) fn missing_feature(self, url: &str) -> StoreError {
        let feature = match self {
            Database::Sqlite => "sqlite",
            Database::Postgres => "postgres",
            Database::MySql => "mysql",
        };
        StoreError::failed(format!(
            "{}: URLs need the `{feature}` feature of session-store-sql",
            scheme(url)
        ))
    }
}

/// The scheme of `url`: what comes before the first `:`.
fn scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(scheme, _)| scheme)
}

/// The scheme of `url` if it is safe to repeat in an error: a plain scheme
/// followed by `://`. Otherwise what comes before the first `:` may be a
/// user name (`user:password@host`, the scheme forgotten).
fn shown_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once(':')?;
    let plain = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (plain && rest.starts_with("//")).then_some(scheme)
}

/// The statements every database runs alike (the same parameters in the
/// same order, the same result), each written by its database module.
/// "Now" is always a bound parameter: Unix milliseconds from the store's
/// clock.
#[derive(Clone, Debug)]
pub(crate) struct Statements {
    /// The live row. Binds: id, now. Columns: data (as text), created_at,
    /// expires_at, expiry_policy, user_id.
    pub(crate) load: String,
    /// Moves the expiry of the live row. Binds: expires_at, id, now.
    /// Rows affected: 1, or 0 when there is no live row.
    pub(crate) touch: String,
    /// Binds: id.
    pub(crate) delete: String,
    /// Deletes the row with the id if it is expired (it is absent to every
    /// reader already). Binds: id, now.
    pub(crate) delete_if_expired: String,
    /// Moves the live row to a new id, rewriting every column. Binds: new
    /// id, data, created_at, expires_at, expiry_policy, user_id, old id,
    /// now. Rows affected: 1, or 0 when the old row is not live; a unique
    /// violation when a row has the new id.
    pub(crate) cycle: String,
    /// Deletes at most one batch of expired rows. Binds: now, batch size.
    /// Rows affected: how many were deleted.
    pub(crate) delete_expired: String,
    /// The live rows of a user, through the index on `user_id`. Binds:
    /// user, now. Columns: id, created_at, expires_at; oldest first
    /// (`created_at`, then `id`).
    pub(crate) list_user: String,
    /// Deletes the live rows of a user but one. Binds: user, now, the id
    /// to keep (the empty string, which is never an id, keeps none). Rows
    /// affected: how many were deleted. [`Driver::delete_user`] runs it.
    pub(crate) delete_user: String,
    /// Deletes the live row with the id if it is bound to the user. Binds:
    /// id, user, now. Rows affected: 1, or 0 when there is no such row.
    pub(crate) end_user_session: String,
}

/// The columns added to the table after its first version, in the order
/// they came: [`Driver::migrate`] adds those a table lacks.
pub(crate) const ADDED_COLUMNS: [&str; 2] = ["expiry_policy", "user_id"];

/// A new row, as [`Driver::create`] binds it.
#[derive(Clone, Copy)]
pub(crate) struct NewRow<'a> {
    pub(crate) id: &'a str,
    /// The JSON object text.
    pub(crate) data: &'a str,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    /// The `expiry_policy` column: [`Expiry::to_stored`](session_core::Expiry::to_stored)
    /// text, or `NULL`.
    pub(crate) expiry_policy: Option<&'a str>,
    /// The `user_id` column: the user the session is bound to, or `NULL`.
    pub(crate) user_id: Option<&'a str>,
}

/// How long [`SqlStore::connect`](crate::SqlStore::connect)'s PostgreSQL
/// and MySQL pools wait for a connection (sqlx's default is 30 s): a
/// session store that cannot answer soon should answer `503` soon.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The outcome of an `ALTER TABLE … ADD COLUMN` run because the column
/// was missing: a "duplicate column" error (`is_duplicate`) means another
/// instance added it at the same moment, which counts as done.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(crate) fn added<T>(
    result: Result<T, sqlx::Error>,
    is_duplicate: impl FnOnce(&dyn sqlx::error::DatabaseError) -> bool,
) -> Result<(), sqlx::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(err)) if is_duplicate(&*err) => Ok(()),
        Err(err) => Err(err),
    }
}

/// How many times in all a statement is run while the database keeps
/// answering that it lost a conflict ([`lost_conflict`]).
pub(crate) const ATTEMPTS: u32 = 8;

/// Whether `err` is the database rolling a statement back because it lost
/// a conflict with another: SQLSTATE `40001` (PostgreSQL's serialization
/// failure under `REPEATABLE READ` or `SERIALIZABLE`; MySQL's and
/// MariaDB's deadlock, error 1213) or `40P01` (PostgreSQL's deadlock).
/// Nothing of the statement was written, so running it again is safe.
pub(crate) fn lost_conflict(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

/// Runs `statement` (one statement of its own, outside any transaction,
/// or a few that are each safe to repeat) again, up to [`ATTEMPTS`] times
/// in all, while it fails because it [lost a conflict](lost_conflict).
///
/// A store's statements run in autocommit mode, so a loser was rolled back
/// whole; the next run sees what the winner committed (a row that a cycle
/// moved away, or that `delete_user` deleted) and answers from that.
pub(crate) async fn retried<T, F, Fut>(mut statement: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut attempt = 1;
    loop {
        match statement().await {
            Err(err) if attempt < ATTEMPTS && lost_conflict(&err) => {
                tracing::debug!(
                    attempt,
                    error = %err,
                    "a session statement lost a conflict; running it again"
                );
                // Run again after a random pause of up to 2^attempt ms (2 to
                // 128 ms): the statements that deadlocked together start
                // apart, instead of meeting again at once.
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// A random pause of up to `2^attempt` milliseconds.
fn backoff(attempt: u32) -> std::time::Duration {
    let random = u64::from_le_bytes(
        Id::random().as_bytes()[..8]
            .try_into()
            .expect("an id has 16 bytes"),
    );
    let ceiling_us = 1_000u64 << attempt.min(7);
    std::time::Duration::from_micros(random % ceiling_us + 1)
}

/// [`Created::IdTaken`] when an insert-unless-live affected no row.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn created(rows_affected: u64) -> Created {
    if rows_affected == 0 {
        Created::IdTaken
    } else {
        Created::Inserted
    }
}

/// What a database module provides. Everything else (binding the common
/// statements, row counts, decoding rows, errors) is shared.
pub(crate) trait Driver {
    /// The database this driver speaks.
    fn database(&self) -> Database;

    /// A driver on the same pool for another table.
    fn with_table(&self, table: &TableName) -> Self;

    /// Whether a database error code (SQLSTATE, or SQLite's result code)
    /// means the server is unreachable, overloaded or locked: a `503`.
    fn unavailable(code: &str) -> bool;

    /// The [`StoreError`] for `err`, classified by this database's codes.
    fn error(&self, err: sqlx::Error) -> StoreError {
        error::store_error(err, Self::unavailable)
    }

    /// Whether `err` is the database refusing the stored `data` as JSON
    /// while patching it (a row edited by hand).
    fn refused_stored_json(&self, _err: &sqlx::Error) -> bool {
        false
    }

    /// Creates the table and its indexes if absent, and adds the columns
    /// (and the index on `user_id`) a table made by an earlier version
    /// lacks: [`ADDED_COLUMNS`].
    async fn migrate(&self) -> Result<(), sqlx::Error>;

    /// Inserts `row` unless a live row has its id; an expired row with the
    /// id is replaced.
    async fn create(&self, row: NewRow<'_>, now: i64) -> Result<Created, sqlx::Error>;

    /// Runs [`Statements::delete_user`] (binds: user, now, the id to keep)
    /// and returns the rows affected.
    async fn delete_user(&self, user: &str, now: i64, keep: &str) -> Result<u64, sqlx::Error>;

    /// Applies `changes` to the live row `id` (the JSON patched in place),
    /// moves its expiry, and sets `expiry_policy` and `user_id` only when
    /// the change set names a policy or a user binding. Returns the rows
    /// affected: 1, or 0 when there is no live row.
    async fn save(
        &self,
        id: &str,
        changes: &ChangeSet,
        expires_at: i64,
        now: i64,
    ) -> Result<u64, sqlx::Error>;
}

/// The driver of a store: one variant per enabled database.
#[derive(Clone)]
pub(crate) enum Db {
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::Sqlite),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::Postgres),
    #[cfg(feature = "mysql")]
    MySql(crate::mysql::MySql),
}

/// Runs `$body` with `$d` bound to the store's driver, whatever the
/// database: the shared logic, written once.
macro_rules! on_db {
    ($db:expr, $d:ident => $body:expr) => {
        match $db {
            #[cfg(feature = "sqlite")]
            $crate::database::Db::Sqlite($d) => $body,
            #[cfg(feature = "postgres")]
            $crate::database::Db::Postgres($d) => $body,
            #[cfg(feature = "mysql")]
            $crate::database::Db::MySql($d) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    pub(crate) fn database(&self) -> Database {
        on_db!(self, d => d.database())
    }

    /// The same pool, another table.
    pub(crate) fn with_table(&self, table: &TableName) -> Self {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(d) => Db::Sqlite(d.with_table(table)),
            #[cfg(feature = "postgres")]
            Db::Postgres(d) => Db::Postgres(d.with_table(table)),
            #[cfg(feature = "mysql")]
            Db::MySql(d) => Db::MySql(d.with_table(table)),
        }
    }

    /// The pool, if it is a `P`.
    pub(crate) fn pool<P: Any>(&self) -> Option<&P> {
        on_db!(self, d => (&d.pool as &dyn Any).downcast_ref())
    }

    /// The [`StoreError`] for `err`, classified by this database's codes.
    pub(crate) fn error(&self, err: sqlx::Error) -> StoreError {
        on_db!(self, d => d.error(err))
    }

    /// Whether `err` is the database refusing the stored `data` as JSON.
    pub(crate) fn refused_stored_json(&self, err: &sqlx::Error) -> bool {
        on_db!(self, d => d.refused_stored_json(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_never_carry_credentials() {
        for url in [
            "alice:hunter2@127.0.0.1/sessions",
            "postgres//alice:hunter2@127.0.0.1/sessions",
            "//alice:hunter2@127.0.0.1/sessions",
        ] {
            let err = Database::of_url(url).unwrap_err();
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(
                    !text.contains("hunter2") && !text.contains("alice"),
                    "{url} -> {text}"
                );
            }
        }
        let err = Database::of_url("redis://alice:hunter2@127.0.0.1").unwrap_err();
        assert!(err.to_string().contains("\"redis\""), "{err}");
    }
}
