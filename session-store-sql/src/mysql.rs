//! MySQL 8 and MariaDB 10.4+ (feature `mysql`): the statements, the
//! migration, connecting, and which errors mean "unavailable".
//!
//! MySQL has no conditional upsert whose row count tells "inserted" from
//! "kept" (sqlx connects with `CLIENT_FOUND_ROWS`, so an
//! `ON DUPLICATE KEY UPDATE` that keeps the row and a fresh insert both
//! count 1). So a create is two statements, with no transaction: a
//! `DELETE` of the row with the id if it is expired, then a plain
//! `INSERT`. The `DELETE` only removes a row that is already absent to
//! every reader, and a live row that appears between the two makes the
//! `INSERT` fail with a duplicate key: the id is taken.
//!
//! A save patches `data` with `JSON_REMOVE` and `JSON_SET`, one bound path
//! `$."key"` per key (the key written as a JSON string, never spliced into
//! the SQL), so the statement text depends on how many keys a change set
//! names; sqlx keeps the prepared statements of the most recent shapes per
//! connection. MariaDB's `JSON_MERGE_PATCH` is not used: as of 10.11 it
//! skips some removals when the patch lists keys in another order than the
//! document.
//!
//! MySQL 8 has no `ADD COLUMN IF NOT EXISTS` (MariaDB has): the migration
//! looks for `expiry_policy` and `user_id` in `information_schema.COLUMNS`
//! and adds each that a table made by an earlier version lacks (a
//! "duplicate column" error from an instance that added it at the same
//! moment counts as done). `user_id` comes with its index in the same
//! `ALTER TABLE`, so a table that has the column has the index.
//!
//! `user_id` is `VARBINARY(255)`: user names are compared byte for byte
//! (no case folding, and no `PAD SPACE`, which the `_bin` collations of
//! MariaDB apply), and 255 bytes keep the index within the key limits of
//! every InnoDB row format. Being binary, it is read as bytes and checked
//! to be UTF-8 (anything else is [`StoreError::Corrupt`]).

use session_core::store::{ChangeSet, Created, StoreError};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::MySqlPool;

use crate::database::{self, Database, Driver, NewRow, Statements, ACQUIRE_TIMEOUT, ADDED_COLUMNS};
use crate::error;
use crate::row::{policy, user, TextColumn};
use crate::table::TableName;

/// MySQL's error number for "duplicate column name" (`ER_DUP_FIELDNAME`).
const DUPLICATE_COLUMN: u16 = 1060;

/// A store's MySQL pool and statements.
#[derive(Clone)]
pub(crate) struct MySql {
    pub(crate) pool: MySqlPool,
    pub(crate) sql: Statements,
    /// `CREATE TABLE IF NOT EXISTS`, the indexes included.
    migrate: String,
    /// Whether the table has a column. Binds: the schema (or `NULL` for
    /// the connection's database), the bare table name, the column. One
    /// row: the count of such columns.
    has_column: String,
    /// Adds each of [`ADDED_COLUMNS`] (with its index, if it has one) to a
    /// table made by an earlier version.
    add_column: [String; 2],
    /// The schema and the bare table name, for `has_column`.
    parts: (Option<String>, String),
    /// A plain insert, after [`Statements::delete_if_expired`]. Binds: id,
    /// data, created_at, expires_at, expiry_policy, user_id; a
    /// duplicate-key error: id taken.
    create: String,
    /// The quoted table name, for [`save_statement`].
    table: String,
}

impl MySql {
    pub(crate) fn new(pool: MySqlPool, table: &TableName) -> Self {
        let t = table.quoted('`');
        let expires_index = table.index("expires_at");
        let user_index = table.index("user_id");
        Self {
            migrate: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY, \
                 data JSON NOT NULL, \
                 created_at BIGINT NOT NULL, \
                 expires_at BIGINT NOT NULL, \
                 expiry_policy TEXT NULL, \
                 user_id VARBINARY(255) NULL, \
                 INDEX `{expires_index}` (expires_at), \
                 INDEX `{user_index}` (user_id, created_at)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            ),
            has_column: "SELECT COUNT(*) FROM information_schema.COLUMNS \
                         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? \
                         AND COLUMN_NAME = ?"
                .to_owned(),
            add_column: [
                format!("ALTER TABLE {t} ADD COLUMN expiry_policy TEXT NULL"),
                format!(
                    "ALTER TABLE {t} ADD COLUMN user_id VARBINARY(255) NULL, \
                     ADD INDEX `{user_index}` (user_id, created_at)"
                ),
            ],
            parts: {
                let (schema, bare) = table.parts();
                (schema.map(str::to_owned), bare.to_owned())
            },
            create: format!(
                "INSERT INTO {t} (id, data, created_at, expires_at, expiry_policy, user_id) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ),
            sql: Statements {
                load: format!(
                    "SELECT data, created_at, expires_at, expiry_policy, user_id FROM {t} \
                     WHERE id = ? AND expires_at > ?"
                ),
                touch: format!("UPDATE {t} SET expires_at = ? WHERE id = ? AND expires_at > ?"),
                delete: format!("DELETE FROM {t} WHERE id = ?"),
                delete_if_expired: format!("DELETE FROM {t} WHERE id = ? AND expires_at <= ?"),
                cycle: format!(
                    "UPDATE {t} SET id = ?, data = ?, created_at = ?, expires_at = ?, \
                     expiry_policy = ?, user_id = ? WHERE id = ? AND expires_at > ?"
                ),
                delete_expired: format!(
                    "DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
                ),
                list_user: format!(
                    "SELECT id, created_at, expires_at FROM {t} \
                     WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id"
                ),
                delete_user: format!(
                    "DELETE FROM {t} WHERE user_id = ? AND expires_at > ? AND id <> ?"
                ),
                end_user_session: format!(
                    "DELETE FROM {t} WHERE id = ? AND user_id = ? AND expires_at > ?"
                ),
            },
            table: t,
            pool,
        }
    }
}

/// sqlx's default pool for `url`, except that waiting for a connection
/// gives up after [`ACQUIRE_TIMEOUT`].
pub(crate) async fn connect(url: &str) -> Result<MySqlPool, StoreError> {
    MySqlPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
        .map_err(|err| error::store_error(err, MySql::unavailable))
}

impl Driver for MySql {
    fn database(&self) -> Database {
        Database::MySql
    }

    fn with_table(&self, table: &TableName) -> Self {
        Self::new(self.pool.clone(), table)
    }

    /// SQLSTATE class 08 (e.g. 1040, too many connections).
    fn unavailable(code: &str) -> bool {
        code.starts_with("08")
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        sqlx::query(&self.migrate).execute(&self.pool).await?;
        let (schema, table) = &self.parts;
        for (column, add) in ADDED_COLUMNS.iter().zip(&self.add_column) {
            let has: i64 = sqlx::query_scalar(&self.has_column)
                .bind(schema.as_deref())
                .bind(table)
                .bind(column)
                .fetch_one(&self.pool)
                .await?;
            if has == 0 {
                let added = sqlx::query(add).execute(&self.pool).await;
                database::added(added, |err| {
                    err.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|err| err.number() == DUPLICATE_COLUMN)
                })?;
            }
        }
        Ok(())
    }

    async fn create(&self, row: NewRow<'_>, now: i64) -> Result<Created, sqlx::Error> {
        sqlx::query(&self.sql.delete_if_expired)
            .bind(row.id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let inserted = sqlx::query(&self.create)
            .bind(row.id)
            .bind(row.data)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.expiry_policy)
            .bind(row.user_id)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(_) => Ok(Created::Inserted),
            Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(Created::IdTaken),
            Err(err) => Err(err),
        }
    }

    /// At `READ COMMITTED` (or below) InnoDB takes no gap locks, and a
    /// `DELETE` scanning for the user's rows can pass over the row that a
    /// concurrent cycle moves behind its scan: the session logged out
    /// everywhere would live on under its new id. So this `DELETE` always
    /// runs at `REPEATABLE READ` (`SET TRANSACTION` without `SESSION`
    /// applies to the next transaction only, here the `DELETE`: the
    /// connection keeps its own level), where the gap locks make such a
    /// cycle wait for it, or one of the two lose a deadlock and run again.
    async fn delete_user(&self, user: &str, now: i64, keep: &str) -> Result<u64, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        // No arguments: sent as text, not prepared.
        sqlx::Executor::execute(
            &mut *conn,
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        )
        .await?;
        let done = sqlx::query(&self.sql.delete_user)
            .bind(user)
            .bind(now)
            .bind(keep)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    }

    async fn save(
        &self,
        id: &str,
        changes: &ChangeSet,
        expires_at: i64,
        now: i64,
    ) -> Result<u64, sqlx::Error> {
        let sql = save_statement(&self.table, changes.removed.len(), changes.set.len());
        let mut query = sqlx::query(&sql);
        for key in &changes.removed {
            query = query.bind(path(key));
        }
        for (key, value) in &changes.set {
            query = query.bind(path(key)).bind(value.to_string());
        }
        let done = query
            .bind(expires_at)
            .bind(changes.expiry.is_some())
            .bind(policy(changes))
            .bind(changes.user.is_some())
            .bind(user(changes))
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// The save for `removed` removed keys and `set` set keys.
///
/// Binds: one JSON path per removed key, then a JSON path and a JSON text
/// per set key, then expires_at, whether the policy changes, the new
/// policy, whether the user changes, the new user, id, now.
fn save_statement(table: &str, removed: usize, set: usize) -> String {
    let mut data = String::from("data");
    if removed > 0 {
        data = format!("JSON_REMOVE({data}{})", ", ?".repeat(removed));
    }
    if set > 0 {
        data = format!(
            "JSON_SET({data}{})",
            ", ?, JSON_EXTRACT(?, '$')".repeat(set)
        );
    }
    format!(
        "UPDATE {table} SET data = {data}, expires_at = ?, \
         expiry_policy = CASE WHEN ? THEN ? ELSE expiry_policy END, \
         user_id = CASE WHEN ? THEN ? ELSE user_id END \
         WHERE id = ? AND expires_at > ?"
    )
}

/// The JSON path of the top-level key `key`: `$."key"`.
fn path(key: &str) -> String {
    format!("$.{}", serde_json::Value::from(key))
}

/// `id` (`ascii_bin`) and `user_id` (`VARBINARY`) come as bytes, which
/// must be UTF-8.
impl TextColumn for sqlx::mysql::MySqlRow {
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        let bytes: Option<Vec<u8>> = sqlx::Row::try_get(self, index)?;
        bytes
            .map(String::from_utf8)
            .transpose()
            .map_err(|err| sqlx::Error::ColumnDecode {
                index: index.to_string(),
                source: Box::new(err),
            })
    }
}
