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
//! `expiry_policy` with `pragma_table_info` and adds it when a table made
//! by an earlier version lacks it (a "duplicate column" error from an
//! instance that added it at the same moment counts as done).

use std::str::FromStr as _;

use serde_json::Value;
use session_core::store::{ChangeSet, Created, Data, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::database::{self, Database, Driver, NewRow, Statements};
use crate::error;
use crate::row::{policy, set_object};
use crate::table::TableName;

/// A store's SQLite pool and statements.
#[derive(Clone)]
pub(crate) struct Sqlite {
    pub(crate) pool: SqlitePool,
    pub(crate) sql: Statements,
    /// `CREATE TABLE`, then `CREATE INDEX`, both `IF NOT EXISTS`.
    migrate: [String; 2],
    /// Whether the table has `expiry_policy`. Binds: the table name, its
    /// schema (or `NULL`). One row: the count of such columns.
    has_policy: String,
    /// Adds `expiry_policy` to a table made by an earlier version.
    add_policy: String,
    /// Binds: id, data, created_at, expires_at, now, expiry_policy.
    /// 0 rows: id taken.
    create: String,
    /// Binds: the removal patch, the set members (object text without
    /// braces), expires_at, id, now, whether the policy changes, the new
    /// policy.
    save: String,
    /// The bare table name and its schema, for `has_policy`.
    parts: (String, Option<String>),
}

impl Sqlite {
    pub(crate) fn new(pool: SqlitePool, table: &TableName) -> Self {
        let t = table.quoted('"');
        // SQLite puts the schema on the index name, never on the indexed table.
        let (schema, bare) = table.parts();
        let index = match schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", table.index()),
            None => format!("\"{}\"", table.index()),
        };
        Self {
            migrate: [
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT PRIMARY KEY NOT NULL, \
                     data TEXT NOT NULL, \
                     created_at INTEGER NOT NULL, \
                     expires_at INTEGER NOT NULL, \
                     expiry_policy TEXT)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {index} ON \"{bare}\" (expires_at)"),
            ],
            has_policy: "SELECT COUNT(*) FROM pragma_table_info(?1, ?2) \
                         WHERE name = 'expiry_policy'"
                .to_owned(),
            add_policy: format!("ALTER TABLE {t} ADD COLUMN expiry_policy TEXT"),
            create: format!(
                "INSERT INTO {t} AS s (id, data, created_at, expires_at, expiry_policy) \
                 VALUES (?1, ?2, ?3, ?4, ?6) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at, \
                 expiry_policy = excluded.expiry_policy \
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
                 expiry_policy = CASE WHEN ?6 THEN ?7 ELSE expiry_policy END \
                 WHERE id = ?4 AND expires_at > ?5"
            ),
            sql: Statements {
                load: format!(
                    "SELECT data, created_at, expires_at, expiry_policy FROM {t} \
                     WHERE id = ?1 AND expires_at > ?2"
                ),
                touch: format!("UPDATE {t} SET expires_at = ?1 WHERE id = ?2 AND expires_at > ?3"),
                delete: format!("DELETE FROM {t} WHERE id = ?1"),
                delete_if_expired: format!("DELETE FROM {t} WHERE id = ?1 AND expires_at <= ?2"),
                cycle: format!(
                    "UPDATE {t} SET id = ?1, data = ?2, created_at = ?3, expires_at = ?4, \
                     expiry_policy = ?5 WHERE id = ?6 AND expires_at > ?7"
                ),
                delete_expired: format!(
                    "DELETE FROM {t} WHERE rowid IN \
                     (SELECT rowid FROM {t} WHERE expires_at <= ?1 LIMIT ?2)"
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
        let has_policy: i64 = sqlx::query_scalar(&self.has_policy)
            .bind(table)
            .bind(schema.as_deref())
            .fetch_one(&self.pool)
            .await?;
        if has_policy == 0 {
            match sqlx::query(&self.add_policy).execute(&self.pool).await {
                Err(sqlx::Error::Database(err)) if err.message().contains("duplicate column") => {}
                other => {
                    other?;
                }
            }
        }
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
            .execute(&self.pool)
            .await?;
        Ok(database::created(done.rows_affected()))
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
