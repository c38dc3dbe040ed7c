//! The store: [`SqlStore`], its settings, and the session operations,
//! written once for every database.

use std::fmt;
use std::sync::Arc;

use session_core::store::{
    async_trait, unix_millis, Capabilities, ChangeSet, Created, CycleStore, Cycled, ExpiredCleanup,
    Record, Saved, SessionStore, StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{Clock, Expiry, Id, SystemClock};
use sqlx::Row as _;

use crate::cleanup::{self, DEFAULT_CLEANUP_BATCH};
use crate::database::{on_db, retried, Database, Db, Driver as _, NewRow};
use crate::error::corrupt;
#[cfg(feature = "mysql")]
use crate::mysql::{self, MySql};
#[cfg(feature = "postgres")]
use crate::postgres::{self, Postgres};
use crate::row::{Columns, Listed, TextColumn as _};
#[cfg(feature = "sqlite")]
use crate::sqlite::{self, Sqlite};
use crate::table::{InvalidTableName, TableName};

/// The table used unless [`SqlStore::with_table_name`] says otherwise.
pub const DEFAULT_TABLE_NAME: &str = "sessions";

/// Sessions in an SQL table: SQLite, PostgreSQL or MySQL/MariaDB.
///
/// Clones share the pool. See the [crate documentation](crate) for the
/// schema and what each operation does.
///
/// ```
/// use session_core::{Key, SessionLayer};
/// use session_store_sql::SqlStore;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqlStore::connect("sqlite::memory:").await?.with_table_name("web_sessions")?;
/// store.migrate().await?;
/// let layer = SessionLayer::new(store, Key::generate());
/// # let _ = layer;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    db: Db,
    table: TableName,
    clock: Arc<dyn Clock>,
    cleanup_batch: u32,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &self.inner.db.database())
            .field("table", &self.inner.table.as_str())
            .field("cleanup_batch", &self.inner.cleanup_batch)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// Connects to the database named by `url`, chosen by its scheme:
    /// `sqlite:`, `postgres:` (or `postgresql:`) or `mysql:` (or `mariadb:`).
    ///
    /// SQLite files are created if missing (unless the URL sets `mode=`)
    /// and opened in WAL mode with `synchronous=NORMAL`; `sqlite::memory:`
    /// is a private in-memory database on a single connection that never
    /// closes. PostgreSQL and MySQL get sqlx's default pool (up to 10
    /// connections) except that waiting for a connection gives up after
    /// 5 s instead of 30 s (the first connection too: an unreachable server
    /// fails `connect` within about 5 s); build your own pool to change that.
    ///
    /// This does not create the table: call [`migrate`](Self::migrate).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached,
    /// [`StoreError::Failed`] for a malformed URL, an unknown scheme, or a
    /// database whose feature is not enabled. Messages never repeat the URL
    /// (it may hold a password).
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// ```no_run
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("postgres://app@localhost/app").await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let database = Database::of_url(url)?;
        #[cfg(feature = "sqlite")]
        if database == Database::Sqlite {
            return sqlite::connect(url).await.map(Self::sqlite);
        }
        #[cfg(feature = "postgres")]
        if database == Database::Postgres {
            return postgres::connect(url).await.map(Self::postgres);
        }
        #[cfg(feature = "mysql")]
        if database == Database::MySql {
            return mysql::connect(url).await.map(Self::mysql);
        }
        Err(database.missing_feature(url))
    }

    /// A store on `db` with the default settings; `db` was built for
    /// [`DEFAULT_TABLE_NAME`].
    fn build(db: impl FnOnce(&TableName) -> Db) -> Self {
        let table = TableName::new(DEFAULT_TABLE_NAME).expect("the default table name is valid");
        Self {
            inner: Arc::new(Inner {
                db: db(&table),
                table,
                clock: Arc::new(SystemClock),
                cleanup_batch: DEFAULT_CLEANUP_BATCH,
            }),
        }
    }

    /// A store on an existing SQLite pool (feature `sqlite`).
    ///
    /// For an in-memory database, give the pool a single connection that
    /// never closes (`max_connections(1)`, no idle timeout, no max
    /// lifetime): every SQLite connection to `:memory:` is its own database.
    ///
    /// ```
    /// use session_store_sql::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("sessions.db");
    /// let options = SqliteConnectOptions::new()
    ///     .filename(path) // e.g. "sessions.db"
    ///     .create_if_missing(true);
    /// let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    /// let store = SqlStore::sqlite(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite(pool: sqlx::SqlitePool) -> Self {
        Self::build(|table| Db::Sqlite(Sqlite::new(pool, table)))
    }

    /// A store on an existing PostgreSQL pool (feature `postgres`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use session_store_sql::sqlx::postgres::PgPoolOptions;
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(20)
    ///     .acquire_timeout(Duration::from_secs(3))
    ///     .connect("postgres://app@localhost/app")
    ///     .await?;
    /// let store = SqlStore::postgres(pool).with_table_name("auth.sessions")?;
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::build(|table| Db::Postgres(Postgres::new(pool, table)))
    }

    /// A store on an existing MySQL or MariaDB pool (feature `mysql`).
    ///
    /// ```no_run
    /// use session_store_sql::sqlx::mysql::MySqlPoolOptions;
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = MySqlPoolOptions::new()
    ///     .max_connections(20)
    ///     .connect("mysql://app@localhost/app")
    ///     .await?;
    /// let store = SqlStore::mysql(pool);
    /// store.migrate().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub fn mysql(pool: sqlx::MySqlPool) -> Self {
        Self::build(|table| Db::MySql(MySql::new(pool, table)))
    }

    /// Keeps sessions in the table `name` instead of `sessions`; `name` may
    /// be schema-qualified (`auth.sessions`; the schema must exist).
    ///
    /// The name is spliced into SQL text, so only letters, digits and
    /// underscores are accepted (not starting with a digit, at most 48
    /// characters per part), with at most one dot. It is quoted in every
    /// statement, so it is used exactly as written (case included, on
    /// PostgreSQL).
    ///
    /// # Errors
    ///
    /// [`InvalidTableName`] for anything else.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("sqlite::memory:").await?.with_table_name("web_sessions")?;
    /// assert_eq!(store.table_name(), "web_sessions");
    /// assert!(SqlStore::connect("sqlite::memory:").await?.with_table_name("x; --").is_err());
    /// # Ok(()) }
    /// ```
    pub fn with_table_name(self, name: &str) -> Result<Self, InvalidTableName> {
        let table = TableName::new(name)?;
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.db = inner.db.with_table(&table);
        inner.table = table;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Deletes at most `rows` expired rows per statement in
    /// [`delete_expired`](ExpiredCleanup::delete_expired) (default
    /// [`DEFAULT_CLEANUP_BATCH`]; at least 1).
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("sqlite::memory:").await?.with_cleanup_batch(500);
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn with_cleanup_batch(self, rows: u32) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.cleanup_batch = rows.max(1);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Reads "now" from `clock` instead of the system clock (tests pass a
    /// `ManualClock` to expire sessions without waiting).
    ///
    /// ```
    /// use session_core::ManualClock;
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let clock = ManualClock::starting_now();
    /// let store = SqlStore::connect("sqlite::memory:").await?.with_clock(clock.clone());
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        inner.clock = Arc::new(clock);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The database this store talks to.
    ///
    /// ```
    /// use session_store_sql::{Database, SqlStore};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// assert_eq!(SqlStore::connect("sqlite::memory:").await?.database(), Database::Sqlite);
    /// # Ok(()) }
    /// ```
    pub fn database(&self) -> Database {
        self.inner.db.database()
    }

    /// The table name, as given.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// assert_eq!(SqlStore::connect("sqlite::memory:").await?.table_name(), "sessions");
    /// # Ok(()) }
    /// ```
    pub fn table_name(&self) -> &str {
        self.inner.table.as_str()
    }

    /// The SQLite pool, if this store is on SQLite (feature `sqlite`).
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let pool = store.sqlite_pool().expect("an SQLite store");
    /// let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM sessions").fetch_one(pool).await?;
    /// assert_eq!(rows, 0);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "sqlite")]
    #[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        self.inner.db.pool()
    }

    /// The PostgreSQL pool, if this store is on PostgreSQL (feature `postgres`).
    ///
    /// ```no_run
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("postgres://app@localhost/app").await?;
    /// let pool = store.postgres_pool().expect("a PostgreSQL store");
    /// sqlx::query("VACUUM sessions").execute(pool).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        self.inner.db.pool()
    }

    /// The MySQL pool, if this store is on MySQL or MariaDB (feature `mysql`).
    ///
    /// ```no_run
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("mysql://app@localhost/app").await?;
    /// let pool = store.mysql_pool().expect("a MySQL store");
    /// sqlx::query("OPTIMIZE TABLE sessions").execute(pool).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "mysql")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        self.inner.db.pool()
    }

    /// Creates the table and its indexes (on `expires_at`, and on
    /// `user_id, created_at`) if they are absent, and adds the
    /// `expiry_policy` and `user_id` columns (the latter with its index) to
    /// a table made by an earlier version of this crate (its rows keep
    /// loading, with no policy, bound to nobody).
    ///
    /// Idempotent: run it at every start. It looks for each column first
    /// and only alters a table that lacks it. On PostgreSQL it runs in one
    /// transaction holding an advisory lock, so instances starting together
    /// do not trip over each other's `CREATE TABLE IF NOT EXISTS`; on
    /// SQLite and MySQL an instance that finds the column added by another
    /// at the same moment takes it as done. It never drops or changes an
    /// existing column.
    ///
    /// ```
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// store.migrate().await?; // nothing to do
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let db = &self.inner.db;
        on_db!(db, d => d.migrate().await).map_err(|err| db.error(err))
    }
}

impl Inner {
    fn now(&self) -> i64 {
        unix_millis(self.clock.now())
    }

    /// Runs `statement` as [`retried`] does; an error is reported as the
    /// store reports every database error.
    async fn run<T, F, Fut>(&self, statement: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        retried(statement).await.map_err(|err| self.db.error(err))
    }
}

impl SessionStore for SqlStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let inner = &*self.inner;
        let (key, now) = (id.encode(), inner.now());
        let key = key.as_str();
        let columns = inner
            .run(move || async move {
                Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.load)
                .bind(key)
                .bind(now)
                .fetch_optional(&d.pool)
                .await?
                .map(|row| Columns {
                    data: row.try_get_unchecked(0),
                    created_at: row.try_get(1),
                    expires_at: row.try_get(2),
                    expiry_policy: row.try_get(3),
                    user_id: row.text(4),
                })))
            })
            .await?;
        columns
            .map(|columns| columns.record(inner.table.as_str(), id))
            .transpose()
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let inner = &*self.inner;
        let key = record.id.encode();
        let data = serde_json::to_string(&record.data).map_err(StoreError::failed)?;
        let policy = record.expiry.as_ref().map(Expiry::to_stored);
        let row = NewRow {
            id: &key,
            data: &data,
            created_at: unix_millis(record.created_at),
            expires_at: unix_millis(record.expires_at),
            expiry_policy: policy.as_deref(),
            user_id: record.user.as_deref(),
        };
        let now = inner.now();
        inner
            .run(move || async move { on_db!(&inner.db, d => d.create(row, now).await) })
            .await
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        if changes.is_empty() {
            return self.touch(id, changes.expires_at).await;
        }
        let inner = &*self.inner;
        let key = id.encode();
        let key = key.as_str();
        let (expires_at, now) = (unix_millis(changes.expires_at), inner.now());
        let rows = retried(move || async move {
            on_db!(&inner.db, d => d.save(key, changes, expires_at, now).await)
        })
        .await;
        match rows {
            Ok(0) => Ok(Saved::Gone),
            Ok(_) => Ok(Saved::Applied),
            Err(err) if inner.db.refused_stored_json(&err) => Err(corrupt(
                inner.table.as_str(),
                id,
                "`data` is not valid JSON (SQLite refused to patch it)",
            )),
            Err(err) => Err(inner.db.error(err)),
        }
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        let key = key.as_str();
        let (expires_at, now) = (unix_millis(expires_at), inner.now());
        let rows = inner
            .run(move || async move {
                Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.touch)
                .bind(expires_at)
                .bind(key)
                .bind(now)
                .execute(&d.pool)
                .await?
                .rows_affected()))
            })
            .await?;
        Ok(if rows == 0 {
            Saved::Gone
        } else {
            Saved::Applied
        })
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        let key = key.as_str();
        inner
            .run(move || async move {
                on_db!(&inner.db, d => sqlx::query(&d.sql.delete)
                .bind(key)
                .execute(&d.pool)
                .await
                .map(drop))
            })
            .await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none()
            .with_cycle(self)
            .with_users(self)
            .with_cleanup(self)
    }

    fn kind(&self) -> &'static str {
        "sql"
    }
}

#[async_trait]
impl CycleStore for SqlStore {
    /// One `UPDATE` moves the live row to the new id (every column
    /// rewritten) only if the old row is live: the old id and the new one
    /// change hands in one statement, so a logout either lands before it
    /// ([`Cycled::Gone`], nothing written) or after it. A row that already
    /// has the new id makes the update fail on the primary key: if that row
    /// is expired it is deleted and the update tried once more, else the id
    /// is taken ([`Cycled::IdTaken`], nothing written).
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        let inner = &*self.inner;
        let (old_key, new_key) = (old.encode(), record.id.encode());
        let (old_key, new_key) = (old_key.as_str(), new_key.as_str());
        let data = serde_json::to_string(&record.data).map_err(StoreError::failed)?;
        let data = data.as_str();
        let policy = record.expiry.as_ref().map(Expiry::to_stored);
        let policy = policy.as_deref();
        let user = record.user.as_deref();
        let (created_at, expires_at) = (
            unix_millis(record.created_at),
            unix_millis(record.expires_at),
        );
        let now = inner.now();
        let mut retried_taken = false;
        loop {
            let moved = retried(move || async move {
                Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.cycle)
                    .bind(new_key)
                    .bind(data)
                    .bind(created_at)
                    .bind(expires_at)
                    .bind(policy)
                    .bind(user)
                    .bind(old_key)
                    .bind(now)
                    .execute(&d.pool)
                    .await?
                    .rows_affected()))
            })
            .await;
            match moved {
                Ok(0) => return Ok(Cycled::Gone),
                Ok(_) => return Ok(Cycled::Moved),
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() && !retried_taken => {
                    retried_taken = true;
                    let cleared = inner
                        .run(move || async move {
                            Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.delete_if_expired)
                            .bind(new_key)
                            .bind(now)
                            .execute(&d.pool)
                            .await?
                            .rows_affected()))
                        })
                        .await?;
                    if cleared == 0 {
                        return Ok(Cycled::IdTaken);
                    }
                }
                Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                    return Ok(Cycled::IdTaken)
                }
                Err(err) => return Err(inner.db.error(err)),
            }
        }
    }
}

#[async_trait]
impl UserIndex for SqlStore {
    /// One `SELECT` through the index on `user_id`: the live rows of the
    /// user, oldest first.
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let inner = &*self.inner;
        let now = inner.now();
        let rows = inner
            .run(move || async move {
                Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.list_user)
                .bind(user)
                .bind(now)
                .fetch_all(&d.pool)
                .await?
                .into_iter()
                .map(|row| Listed {
                    id: row.text(0),
                    created_at: row.try_get(1),
                    expires_at: row.try_get(2),
                })
                .collect::<Vec<_>>()))
            })
            .await?;
        rows.into_iter()
            .map(|row| row.session(inner.table.as_str()))
            .collect()
    }

    /// One `DELETE` of the user's live rows (but `keep`): it counts what it
    /// deleted, and a save, touch or cycle of one of them either lands
    /// before it or finds no row ([`Saved::Gone`], [`Cycled::Gone`]).
    /// Expired rows of the user are left to
    /// [`delete_expired`](ExpiredCleanup::delete_expired). On MySQL and
    /// MariaDB it runs at `REPEATABLE READ` whatever the connection's
    /// level; when it loses a deadlock to a racing cycle (MySQL, MariaDB)
    /// or a serialization conflict (PostgreSQL at `REPEATABLE READ` or
    /// above), it runs again (see the [crate documentation](crate#users)).
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        let inner = &*self.inner;
        // The empty string is never an id: it keeps nothing.
        let keep = keep.map(Id::encode).unwrap_or_default();
        let keep = keep.as_str();
        let now = inner.now();
        inner
            .run(
                move || async move { on_db!(&inner.db, d => d.delete_user(user, now, keep).await) },
            )
            .await
    }

    /// One `DELETE` of the live row `id` if it is bound to `user`: a cycle
    /// that moved the row first leaves nothing under `id` to delete
    /// (`false`), and one that comes second finds no row
    /// ([`Cycled::Gone`]).
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        let key = key.as_str();
        let now = inner.now();
        let deleted = inner
            .run(move || async move {
                Ok(on_db!(&inner.db, d => sqlx::query(&d.sql.end_user_session)
                .bind(key)
                .bind(user)
                .bind(now)
                .execute(&d.pool)
                .await?
                .rows_affected()))
            })
            .await?;
        Ok(deleted > 0)
    }
}

#[async_trait]
impl ExpiredCleanup for SqlStore {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let inner = &*self.inner;
        cleanup::delete_expired(&inner.db, inner.now(), inner.cleanup_batch).await
    }
}
