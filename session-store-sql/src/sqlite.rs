//! SQLite (feature `sqlite`): the statements, the migration, connecting,
//! and which errors mean "locked".
//!
//! `data` is JSON text. A save patches it in one `UPDATE`: `json_patch`
//! removes every key the change set names (a JSON merge patch deletes the
//! keys it maps to `null`), then the set members are spliced into its
//! minified output as text, so values that are JSON `null` are kept and no
//! key is ever parsed as a JSON path.
//!
//! SQLite has no `ADD COLUMN IF NOT EXISTS`: the migration looks for
//! `expiry_policy` and `user_id` with `pragma_table_info` and adds each
//! that a table made by an earlier version lacks (a "duplicate column"
//! error from an instance that added it at the same moment counts as
//! done), then creates the index on `user_id` if absent. That index is
//! partial (`WHERE user_id IS NOT NULL`): anonymous sessions cost it
//! nothing.

use std::str::FromStr as _;

use serde_json::Value;
use session_core::store::{ChangeSet, Created, Data, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::database::{self, Database, Driver, NewRow, Statements, ADDED_COLUMNS};
use crate::error;
use crate::row::{policy, set_object, user, TextColumn};
use crate::table::TableName;

/// A store's SQLite pool and statements.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pub(crate) pool: SqlitePool,
    pub(crate) sql: Statements,
    /// `CREATE TABLE`, then `CREATE INDEX` on `expires_at`, both
    /// `IF NOT EXISTS`.
    migrate: [String; 2],
    /// Whether the table has a column. Binds: the table name, its schema
    /// (or `NULL`), the column. One row: the count of such columns.
    has_column: String,
    /// Adds each of [`ADDED_COLUMNS`] to a table made by an earlier version.
    add_column: [String; 2],
    /// `CREATE INDEX IF NOT EXISTS` on `user_id`, once the column exists.
    user_index: String,
    /// Binds: id, data, created_at, expires_at, now, expiry_policy,
    /// user_id. 0 rows: id taken.
    create: String,
    /// Binds: the removal patch, the set members (object text without
    /// braces), expires_at, id, now, whether the policy changes, the new
    /// policy, whether the user changes, the new user.
    save: String,
    /// The bare table name and its schema, for `has_column`.
    parts: (String, Option<String>),
}

impl Sqlite {
    pub(crate) fn new(pool: SqlitePool, table: &TableName) -> Self {
        let t = table.quoted('"');
        // SQLite puts the schema on the index name, never on the indexed table.
        let (schema, bare) = table.parts();
        let index = |column| match schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", table.index(column)),
            None => format!("\"{}\"", table.index(column)),
        };
        let (expires_index, user_index) = (index("expires_at"), index("user_id"));
        Self {
            migrate: [
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT PRIMARY KEY NOT NULL, \
                     data TEXT NOT NULL, \
                     created_at INTEGER NOT NULL, \
                     expires_at INTEGER NOT NULL, \
                     expiry_policy TEXT, \
                     user_id TEXT)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {expires_index} ON \"{bare}\" (expires_at)"),
            ],
            has_column: "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) WHERE name = ?3".to_owned(),
            add_column: ADDED_COLUMNS
                .map(|column| format!("ALTER TABLE {t} ADD COLUMN {column} TEXT")),
            user_index: format!(
                "CREATE INDEX IF NOT EXISTS {user_index} ON \"{bare}\" (user_id, created_at) \
                 WHERE user_id IS NOT NULL"
            ),
            create: format!(
                "INSERT INTO {t} AS s (id, data, created_at, expires_at, expiry_policy, user_id) \
                 VALUES (?1, ?2, ?3, ?4, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at, \
                 expiry_policy = excluded.expiry_policy, user_id = excluded.user_id \
                 WHERE s.expires_at <= ?5"
            ),
            // `p` is json_patch's minified output, `{}` or `{...}`.
            save: format!(
                "UPDATE {t} SET data = (SELECT CASE \
                 WHEN ?2 = '' THEN p \
                 WHEN p = '{{}}' THEN '{{' || ?2 || '}}' \
                 ELSE '{{' || ?2 || ',' || substr(p, 2) END \
                 FROM (SELECT json_patch({t}.data, ?1) AS p)), \
                 expires_at = ?3, \
                 expiry_policy = CASE WHEN ?6 THEN ?7 ELSE expiry_policy END, \
                 user_id = CASE WHEN ?8 THEN ?9 ELSE user_id END \
                 WHERE id = ?4 AND expires_at > ?5"
            ),
            sql: Statements {
                load: format!(
                    "SELECT data, created_at, expires_at, expiry_policy, user_id FROM {t} \
                     WHERE id = ?1 AND expires_at > ?2"
                ),
                touch: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3"),
                delete: format!("DELETE FROM {t} WHERE id = ?1"),
                delete_if_expired: format!("DELETE FROM {t} WHERE id = ?1 AND expires_at <= ?2"),
                cycle: format!(
                    "UPDATE {t} SET id = ?1, data = ?2, created_at = ?3, expires_at = ?4, \
                     expiry_policy = ?5, user_id = ?6 WHERE id = ?7 AND expires_at > ?8"
                ),
                delete_expired: format!(
                    "DELETE FROM {t} WHERE rowid IN \
                     (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
                ),
                list_user: format!(
                    "SELECT id, created_at, expires_at FROM {t} \
                     WHERE user_id = ?1 AND expires_at > ?2 ORDER BY created_at, id"
                ),
                delete_user: format!(
                    "DELETE FROM {t} WHERE user_id = ?1 AND expires_at > ?2 AND id <> ?3"
                ),
                end_user_session: format!(
                    "DELETE FROM {t} WHERE id = ?1 AND user_id = ?2 AND expires_at > ?3"
                ),
            },
            parts: (bare.to_owned(), schema.map(str::to_owned)),
            pool,
        }
    }
}

/// A pool for `url`: a file is created if missing (unless the URL sets
/// `mode=`) and opened in WAL mode with `synchronous=NORMAL`; an in-memory
/// database gets one connection that never closes.
pub(crate) async fn connect(url: &str) -> Result<SqlitePool, StoreError> {
    let open = async {
        let mut options = SqliteConnectOptions::from_str(url)?;
        if !url.contains("mode=") {
            options = options.create_if_missing(true);
        }
        if url.contains(":memory:") || url.contains("mode=memory") {
            // Every connection to `:memory:` is a database of its own: one
            // connection, kept open for the life of the pool.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
        } else {
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            SqlitePoolOptions::new().connect_with(options).await
        }
    };
    open.await
        .map_err(|err| error::store_error(err, Sqlite::unavailable))
}

impl Driver for Sqlite {
    fn database(&self) -> Database {
        Database::Sqlite
    }

    fn with_table(&self, table: &TableName) -> Self {
        Self::new(self.pool.clone(), table)
    }

    /// SQLITE_BUSY and SQLITE_LOCKED, with their extended codes: the busy
    /// timeout ran out while another writer held the lock.
    fn unavailable(code: &str) -> bool {
        code.parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }

    fn refused_stored_json(&self, err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db) if db.message().contains("malformed JSON"))
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        for statement in &self.migrate {
            sqlx::query(statement).execute(&self.pool).await?;
        }
        let (table, schema) = &self.parts;
        for (column, add) in ADDED_COLUMNS.iter().zip(&self.add_column) {
            let has: i64 = sqlx::query_scalar(&self.has_column)
                .bind(table)
                .bind(schema.as_deref())
                .bind(column)
                .fetch_one(&self.pool)
                .await?;
            if has == 0 {
                let added = sqlx::query(add).execute(&self.pool).await;
                database::added(added, |err| err.message().contains("duplicate column"))?;
            }
        }
        sqlx::query(&self.user_index).execute(&self.pool).await?;
        Ok(())
    }

    async fn create(&self, row: NewRow<'_>, now: i64) -> Result<Created, sqlx::Error> {
        let done = sqlx::query(&self.create)
            .bind(row.id)
            .bind(row.data)
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(now)
            .bind(row.expiry_policy)
            .bind(row.user_id)
            .execute(&self.pool)
            .await?;
        Ok(database::created(done.rows_affected()))
    }

    async fn delete_user(&self, user: &str, now: i64, keep: &str) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(&self.sql.delete_user)
            .bind(user)
            .bind(now)
            .bind(keep)
            .execute(&self.pool)
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
        let set = set_object(changes);
        let done = sqlx::query(&self.save)
            .bind(unset_patch(changes))
            // The object's members, without its braces.
            .bind(&set[1..set.len() - 1])
            .bind(expires_at)
            .bind(id)
            .bind(now)
            .bind(changes.expiry.is_some())
            .bind(policy(changes))
            .bind(changes.user.is_some())
            .bind(user(changes))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// A merge patch that removes every key the change set names (removed or
/// set), before the set keys are added.
fn unset_patch(changes: &ChangeSet) -> String {
    let unset: Data = changes
        .removed
        .iter()
        .chain(changes.set.keys())
        .map(|key| (key.clone(), Value::Null))
        .collect();
    Value::Object(unset).to_string()
}

/// `id` and `user_id` are `TEXT`: a value of another type (edited by hand)
/// fails to decode.
impl TextColumn for sqlx::sqlite::SqliteRow {
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
}
