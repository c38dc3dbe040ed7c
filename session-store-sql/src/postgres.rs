//! PostgreSQL (feature `postgres`): the statements, the migration,
//! connecting, and which errors mean "unavailable".
//!
//! `data` is `JSONB`. A save patches it in place with `jsonb` operators:
//! the removed keys are subtracted as a `text[]`, the set keys merged in as
//! one object, so no key is ever parsed as a JSON path.
//!
//! The migration adds `expiry_policy` to a table made by an earlier
//! version. It looks in `pg_attribute` first, so that a table that has the
//! column is not locked (`ALTER TABLE` takes an exclusive lock even when
//! `IF NOT EXISTS` finds nothing to do).

use session_core::store::{ChangeSet, Created, StoreError};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::database::{self, Database, Driver, NewRow, Statements, ACQUIRE_TIMEOUT};
use crate::error;
use crate::row::{policy, set_object};
use crate::table::TableName;

/// A store's PostgreSQL pool and statements.
#[derive(Clone)]
pub(crate) struct Postgres {
    pub(crate) pool: PgPool,
    pub(crate) sql: Statements,
    /// `CREATE TABLE`, then `CREATE INDEX`, both `IF NOT EXISTS`, run in
    /// one transaction that holds an advisory lock on `lock`.
    migrate: [String; 2],
    /// Whether the table has `expiry_policy`. Binds: the quoted table name.
    has_policy: String,
    /// Adds `expiry_policy` to a table made by an earlier version.
    add_policy: String,
    /// The quoted table name, for `has_policy`.
    quoted: String,
    /// The advisory lock's key text: instances that migrate the same table
    /// at once wait for each other.
    lock: String,
    /// Binds: id, data, created_at, expires_at, now, expiry_policy.
    /// 0 rows: id taken.
    create: String,
    /// Binds: removed keys (`text[]`), set keys (a JSON object),
    /// expires_at, id, now, whether the policy changes, the new policy.
    save: String,
}

impl Postgres {
    pub(crate) fn new(pool: PgPool, table: &TableName) -> Self {
        let t = table.quoted('"');
        let index = table.index();
        Self {
            migrate: [
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     id TEXT COLLATE \"C\" PRIMARY KEY, \
                     data JSONB NOT NULL, \
                     created_at BIGINT NOT NULL, \
                     expires_at BIGINT NOT NULL, \
                     expiry_policy TEXT)"
                ),
                format!("CREATE INDEX IF NOT EXISTS \"{index}\" ON {t} (expires_at)"),
            ],
            has_policy: "SELECT EXISTS (SELECT 1 FROM pg_attribute \
                         WHERE attrelid = to_regclass($1) AND attname = 'expiry_policy' \
                         AND NOT attisdropped)"
                .to_owned(),
            add_policy: format!("ALTER TABLE {t} ADD COLUMN IF NOT EXISTS expiry_policy TEXT"),
            lock: format!("session-store-sql migrate {}", table.as_str()),
            create: format!(
                "INSERT INTO {t} AS s (id, data, created_at, expires_at, expiry_policy) \
                 VALUES ($1, $2::jsonb, $3, $4, $6) \
                 ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, \
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, \
                 expiry_policy = EXCLUDED.expiry_policy \
                 WHERE s.expires_at <= $5"
            ),
            save: format!(
                "UPDATE {t} SET data = (data - $1::text[]) || $2::jsonb, expires_at = $3, \
                 expiry_policy = CASE WHEN $6 THEN $7 ELSE expiry_policy END \
                 WHERE id = $4 AND expires_at > $5"
            ),
            sql: Statements {
                load: format!(
                    "SELECT data::text, created_at, expires_at, expiry_policy FROM {t} \
                     WHERE id = $1 AND expires_at > $2"
                ),
                touch: format!("UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"),
                delete: format!("DELETE FROM {t} WHERE id = $1"),
                delete_if_expired: format!("DELETE FROM {t} WHERE id = $1 AND expires_at <= $2"),
                cycle: format!(
                    "UPDATE {t} SET id = $1, data = $2::jsonb, created_at = $3, expires_at = $4, \
                     expiry_policy = $5 WHERE id = $6 AND expires_at > $7"
                ),
                // Concurrent cleanups skip each other's rows; the outer
                // condition is re-checked if a row was replaced meanwhile.
                delete_expired: format!(
                    "DELETE FROM {t} WHERE id IN \
                     (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED) \
                     AND expires_at <= $1"
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
        let has_policy: bool = sqlx::query_scalar(&self.has_policy)
            .bind(&self.quoted)
            .fetch_one(&mut *tx)
            .await?;
        if !has_policy {
            sqlx::query(&self.add_policy).execute(&mut *tx).await?;
        }
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
        let done = sqlx::query(&self.save)
            .bind(changes.removed.as_slice())
            .bind(set_object(changes))
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
