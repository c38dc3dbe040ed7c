//! PostgreSQL (feature `postgres`): the statements, the migration,
//! connecting, and which errors mean "unavailable".
//!
//! `data` is `JSONB`. A save patches it in place with `jsonb` operators:
//! the removed keys are subtracted as a `text[]`, the set keys merged in as
//! one object, so no key is ever parsed as a JSON path.
//!
//! The migration adds `expiry_policy` and `user_id` to a table made by an
//! earlier version. It looks in `pg_attribute` first, so that a table that
//! has the column is not locked (`ALTER TABLE` takes an exclusive lock even
//! when `IF NOT EXISTS` finds nothing to do). The index on `user_id` is
//! partial (`WHERE user_id IS NOT NULL`): anonymous sessions cost it
//! nothing, and `user_id = $1` implies the predicate, so lookups use it.

use session_core::store::{ChangeSet, Created, StoreError};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::database::{self, Database, Driver, NewRow, Statements, ACQUIRE_TIMEOUT, ADDED_COLUMNS};
use crate::error;
use crate::row::{policy, set_object, user, TextColumn};
use crate::table::TableName;

/// A store's PostgreSQL pool and statements.
#[derive(Clone)]
pub(crate) struct Postgres {
    pub(crate) pool: PgPool,
    pub(crate) sql: Statements,
    /// `CREATE TABLE`, then `CREATE INDEX` on `expires_at`, both
    /// `IF NOT EXISTS`, run in one transaction that holds an advisory lock
    /// on `lock`.
    migrate: [String; 2],
    /// Whether the table has a column. Binds: the quoted table name, the
    /// column.
    has_column: String,
    /// Adds each of [`ADDED_COLUMNS`] to a table made by an earlier version.
    add_column: [String; 2],
    /// `CREATE INDEX IF NOT EXISTS` on `user_id`, once the column exists.
    user_index: String,
    /// The quoted table name, for `has_column`.
    quoted: String,
    /// The advisory lock's key text: instances that migrate the same table
    /// at once wait for each other.
    lock: String,
    /// Binds: id, data, created_at, expires_at, now, expiry_policy,
    /// user_id. 0 rows: id taken.
    create: String,
    /// Binds: removed keys (`text[]`), set keys (a JSON object),
    /// expires_at, id, now, whether the policy changes, the new policy,
    /// whether the user changes, the new user.
    save: String,
}

impl Postgres {
    pub(crate) fn new(pool: PgPool, table: &TableName) -> Self {
        let t = table.quoted('"');
        let expires_index = table.index("expires_at");
        let user_index = table.index("user_id");
        let column_type = |column| match column {
            "user_id" => "TEXT COLLATE \"C\"",
            _ => "TEXT",
        };
        Self {
            migrate: [
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT COLLATE \"C\" PRIMARY KEY, \
                     data JSONB NOT NULL, \
                     created_at BIGINT NOT NULL, \
                     expires_at BIGINT NOT NULL, \
                     expiry_policy TEXT, \
                     user_id TEXT COLLATE \"C\")"
                ),
                format!("CREATE INDEX IF NOT EXISTS \"{expires_index}\" ON {t} (expires_at)"),
            ],
            has_column: "SELECT EXISTS (SELECT 1 FROM pg_attribute \
                         WHERE attrelid = to_regclass($1) AND attname = $2 \
                         AND NOT attisdropped)"
                .to_owned(),
            add_column: ADDED_COLUMNS.map(|column| {
                format!(
                    "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {column} {}",
                    column_type(column)
                )
            }),
            user_index: format!(
                "CREATE INDEX IF NOT EXISTS \"{user_index}\" ON {t} (user_id, created_at) \
                 WHERE user_id IS NOT NULL"
            ),
            lock: format!("session-store-sql migrate {}", table.as_str()),
            create: format!(
                "INSERT INTO {t} AS s (id, data, created_at, expires_at, expiry_policy, user_id) \
                 VALUES ($1, $2::jsonb, $3, $4, $6, $7) \
                 ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, \
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, \
                 expiry_policy = EXCLUDED.expiry_policy, user_id = EXCLUDED.user_id \
                 WHERE s.expires_at <= $5"
            ),
            save: format!(
                "UPDATE {t} SET data = (data - $1::text[]) || $2::jsonb, expires_at = $3, \
                 expiry_policy = CASE WHEN $6 THEN $7 ELSE expiry_policy END, \
                 user_id = CASE WHEN $8 THEN $9 ELSE user_id END \
                 WHERE id = $4 AND expires_at > $5"
            ),
            sql: Statements {
                load: format!(
                    "SELECT data::text, created_at, expires_at, expiry_policy, user_id FROM {t} \
                     WHERE id = $1 AND expires_at > $2"
                ),
                touch: format!("UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"),
                delete: format!("DELETE FROM {t} WHERE id = $1"),
                delete_if_expired: format!("DELETE FROM {t} WHERE id = $1 AND expires_at <= $2"),
                cycle: format!(
                    "UPDATE {t} SET id = $1, data = $2::jsonb, created_at = $3, expires_at = $4, \
                     expiry_policy = $5, user_id = $6 WHERE id = $7 AND expires_at > $8"
                ),
                // Concurrent cleanups skip each other's rows; the outer
                // condition is re-checked if a row was replaced meanwhile.
                delete_expired: format!(
                    "DELETE FROM {t} WHERE id IN \
                     (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     AND expires_at <= $1"
                ),
                list_user: format!(
                    "SELECT id, created_at, expires_at FROM {t} \
                     WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id"
                ),
                delete_user: format!(
                    "DELETE FROM {t} WHERE user_id = $1 AND expires_at > $2 AND id <> $3"
                ),
                end_user_session: format!(
                    "DELETE FROM {t} WHERE id = $1 AND user_id = $2 AND expires_at > $3"
                ),
            },
            quoted: t,
            pool,
        }
    }
}

/// sqlx's default pool for `url`, except that waiting for a connection
/// gives up after [`ACQUIRE_TIMEOUT`].
pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url)
        .await
        .map_err(|err| error::store_error(err, Postgres::unavailable))
}

impl Driver for Postgres {
    fn database(&self) -> Database {
        Database::Postgres
    }

    fn with_table(&self, table: &TableName) -> Self {
        Self::new(self.pool.clone(), table)
    }

    /// SQLSTATE class 08 (connection exception), 53300 (too many
    /// connections), 57P01..57P03 (shutdown, cannot connect now).
    fn unavailable(code: &str) -> bool {
        code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03")
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&self.lock)
            .execute(&mut *tx)
            .await?;
        for statement in &self.migrate {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        for (column, add) in ADDED_COLUMNS.iter().zip(&self.add_column) {
            let has: bool = sqlx::query_scalar(&self.has_column)
                .bind(&self.quoted)
                .bind(column)
                .fetch_one(&mut *tx)
                .await?;
            if !has {
                sqlx::query(add).execute(&mut *tx).await?;
            }
        }
        sqlx::query(&self.user_index).execute(&mut *tx).await?;
        tx.commit().await
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
        let done = sqlx::query(&self.save)
            .bind(changes.removed.as_slice())
            .bind(set_object(changes))
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

/// `id` and `user_id` are `TEXT`.
impl TextColumn for sqlx::postgres::PgRow {
    fn text(&self, index: usize) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(self, index)
    }
}
