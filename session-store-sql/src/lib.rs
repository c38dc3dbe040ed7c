//! SQL [`SessionStore`]s for [`session_core`]: SQLite, PostgreSQL and
//! MySQL/MariaDB, on [sqlx] 0.8.
//!
//! Sessions live in one table. They survive restarts and are shared by
//! every instance that uses the same database. One type, [`SqlStore`],
//! speaks all three databases; the SQL that differs is a handful of
//! statements per database, listed below.
//!
//! ```
//! use session_core::{Key, SessionLayer};
//! use session_store_sql::SqlStore;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
//! # let url = url.as_str();
//! // let url = "sqlite://sessions.db"; // created if missing
//! let store = SqlStore::connect(url).await?;
//! store.migrate().await?; // creates the table and its index if absent
//! let _cleanup = store.spawn_cleanup(std::time::Duration::from_secs(600));
//! let layer = SessionLayer::new(store, Key::generate());
//! # let _ = layer;
//! # Ok(()) }
//! ```
//!
//! # Which database
//!
//! | database | feature | pick it when |
//! |---|---|---|
//! | SQLite | `sqlite` (default) | one instance, or a small site: an embedded file, no server to run; sessions survive restarts |
//! | PostgreSQL | `postgres` | several instances, or the application already has PostgreSQL; `JSONB` patches in place |
//! | MySQL 8 / MariaDB 10.4+ (tested: MariaDB 10.11) | `mysql` | the application already has MySQL or MariaDB |
//!
//! If sessions only need to be fast and shared, and losing them on a
//! restart of the cache is acceptable, Redis (`session-store-redis`) expires
//! them natively; SQL stores need [`delete_expired`](SessionStore::delete_expired)
//! now and then (see [Cleanup](#cleanup)).
//!
//! The features `tls-rustls` and `tls-native-tls` enable TLS connections
//! to PostgreSQL and MySQL (`?sslmode=require` / `?ssl-mode=REQUIRED` in the URL).
//!
//! # Connecting
//!
//! [`SqlStore::connect`] takes a URL and picks the database by its scheme:
//!
//! | URL | what you get |
//! |---|---|
//! | `sqlite://sessions.db`, `sqlite:sessions.db?mode=rwc` | a file, created if missing, in WAL mode with `synchronous=NORMAL` |
//! | `sqlite::memory:` | a private in-memory database on one connection (tests) |
//! | `postgres://user:pass@host/db` | a pool of PostgreSQL connections |
//! | `mysql://user:pass@host/db` | a pool of MySQL or MariaDB connections |
//!
//! To tune the pool (size, timeouts) or share the application's own pool,
//! build it with [sqlx] and hand it over with [`SqlStore::sqlite`],
//! [`SqlStore::postgres`] or [`SqlStore::mysql`]. sqlx is re-exported as
//! [`session_store_sql::sqlx`](sqlx), so the versions always match.
//!
//! # The schema
//!
//! One table, `sessions` unless [`SqlStore::with_table_name`] says
//! otherwise (a schema-qualified `schema.table` works too; the schema must
//! exist). [`SqlStore::migrate`] creates it and its index if absent, and is
//! safe to run at every start, from several instances at once.
//!
//! | column | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `id` | `TEXT PRIMARY KEY` | `TEXT COLLATE "C" PRIMARY KEY` | `VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY` |
//! | `data` | `TEXT` (JSON text) | `JSONB` | `JSON` (`LONGTEXT` checked by `JSON_VALID` on MariaDB) |
//! | `created_at` | `INTEGER` | `BIGINT` | `BIGINT` |
//! | `expires_at` | `INTEGER`, indexed | `BIGINT`, indexed | `BIGINT`, indexed |
//!
//! - `id` is the session id's 22-character text ([`Id::encode`]), compared
//!   byte for byte (ids are case-sensitive base64, hence the binary
//!   collations).
//! - `data` is a JSON object: the session's keys and values.
//! - `created_at` and `expires_at` are Unix time in **milliseconds**
//!   (`BIGINT`): exact, identical on the three databases, free of time
//!   zones, and trivial to compare. In SQL, PostgreSQL shows them with
//!   `to_timestamp(expires_at / 1000.0)`, MySQL with
//!   `FROM_UNIXTIME(expires_at / 1000)`, SQLite with
//!   `datetime(expires_at / 1000, 'unixepoch')`.
//! - The index is named `<table>_expires_at_idx`.
//!
//! "Now" is read from the application's clock and bound as a parameter
//! to every statement, so the three databases agree to the millisecond
//! whatever their own clocks and time zones say.
//!
//! # Statements
//!
//! `$now` is the current Unix time in milliseconds; a record is live while
//! `expires_at > $now`. PostgreSQL numbers its parameters `$1`, SQLite
//! `?1`, MySQL uses `?`: they are written by name here.
//!
//! **load** — one `SELECT`, expired rows ignored:
//!
//! ```sql
//! SELECT data, created_at, expires_at FROM sessions
//! WHERE id = $id AND expires_at > $now      -- PostgreSQL selects data::text
//! ```
//!
//! **create** — insert unless a *live* row has the id; an expired row with
//! the id is replaced.
//!
//! ```sql
//! -- PostgreSQL (SQLite: the same, with excluded.*); 0 rows = id taken
//! INSERT INTO sessions AS s (id, data, created_at, expires_at)
//! VALUES ($id, $data::jsonb, $created_at, $expires_at)
//! ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data,
//!     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
//! WHERE s.expires_at <= $now;
//!
//! -- MySQL / MariaDB: a duplicate-key error = id taken
//! DELETE FROM sessions WHERE id = $id AND expires_at <= $now;
//! INSERT INTO sessions (id, data, created_at, expires_at)
//! VALUES ($id, $data, $created_at, $expires_at);
//! ```
//!
//! MySQL has no conditional upsert whose row count tells "inserted" from
//! "kept" (sqlx connects with `CLIENT_FOUND_ROWS`, so an
//! `ON DUPLICATE KEY UPDATE` that keeps the row and a fresh insert both
//! count 1). The two statements need no transaction: the `DELETE` only
//! removes a row that is already absent (expired), and a live row that
//! appears between the two makes the `INSERT` fail with a duplicate key,
//! which is reported as [`Created::IdTaken`].
//!
//! **save** — one `UPDATE` of the live row that patches the JSON in place,
//! so two requests that write different keys of one session both keep
//! their writes. 0 rows = [`Saved::Gone`]; a save never inserts.
//!
//! ```sql
//! -- PostgreSQL: $removed is a text[], $set a JSON object
//! UPDATE sessions SET data = (data - $removed::text[]) || $set::jsonb,
//!     expires_at = $expires_at
//! WHERE id = $id AND expires_at > $now;
//!
//! -- MySQL / MariaDB: one bound JSON path per key ($."key", the key
//! -- written as a JSON string), one bound JSON text per value
//! UPDATE sessions SET data = JSON_SET(JSON_REMOVE(data, $path_r1, $path_r2),
//!         $path_s1, JSON_EXTRACT($value_s1, '$'), $path_s2, JSON_EXTRACT($value_s2, '$')),
//!     expires_at = $expires_at
//! WHERE id = $id AND expires_at > $now;
//!
//! -- SQLite: $unset maps every removed *and* set key to null,
//! -- $members is the text of the $set object without its braces
//! UPDATE sessions SET data = (SELECT CASE
//!         WHEN $members = '' THEN p
//!         WHEN p = '{}' THEN '{' || $members || '}'
//!         ELSE '{' || $members || ',' || substr(p, 2) END
//!     FROM (SELECT json_patch(sessions.data, $unset) AS p)),
//!     expires_at = $expires_at
//! WHERE id = $id AND expires_at > $now;
//! ```
//!
//! Every key is a plain key: `a.b`, `$`, `[0]`, `*`, `quote"d` or the empty
//! string never select anything else. PostgreSQL and SQLite never parse a
//! key as a JSON path at all. A JSON merge patch deletes the keys whose
//! value is `null`, so SQLite's `json_patch` only *removes* keys, and the
//! set members are then spliced into its minified output (the keys are
//! gone by then, so none repeats), which keeps values that are JSON `null`.
//! MySQL and MariaDB take each key as a quoted path leg `$."…"`, with the
//! key escaped as a JSON string and bound as a parameter. (MariaDB's
//! `JSON_MERGE_PATCH` is not used: as of 10.11 it skips some removals when
//! the patch lists keys in another order than the document.) The statement
//! text depends on how many keys a change set names; sqlx keeps the
//! prepared statements of the most recent shapes per connection.
//!
//! A change set that names no key (only a new expiry) is saved as a
//! **touch**.
//!
//! **touch** — only the expiry of the live row:
//!
//! ```sql
//! UPDATE sessions SET expires_at = $expires_at WHERE id = $id AND expires_at > $now
//! ```
//!
//! **delete** — `DELETE FROM sessions WHERE id = $id`.
//!
//! **delete_expired** — bounded batches (1,000 rows unless
//! [`SqlStore::with_cleanup_batch`] says otherwise), repeated until a
//! batch comes back short, so no statement holds locks for long:
//!
//! ```sql
//! -- PostgreSQL: concurrent cleanups skip each other's rows; the outer
//! -- condition is re-checked if a row was replaced meanwhile
//! DELETE FROM sessions WHERE id IN
//!     (SELECT id FROM sessions WHERE expires_at <= $now LIMIT $batch FOR UPDATE SKIP LOCKED)
//!     AND expires_at <= $now;
//! -- SQLite
//! DELETE FROM sessions WHERE rowid IN
//!     (SELECT rowid FROM sessions WHERE expires_at <= $now LIMIT $batch);
//! -- MySQL / MariaDB
//! DELETE FROM sessions WHERE expires_at <= $now ORDER BY expires_at LIMIT $batch;
//! ```
//!
//! # Limits
//!
//! - PostgreSQL's `JSONB` cannot hold the character U+0000 inside a string:
//!   such a session fails to save with [`StoreError::Failed`].
//! - MySQL and MariaDB refuse statements over `max_allowed_packet` (16 MiB
//!   by default on MariaDB, 64 MiB on MySQL 8), which bounds a session's size.
//! - `JSONB` and MariaDB reorder an object's keys; session data is a map,
//!   so nothing changes for the application. Numbers round-trip exactly
//!   (`JSONB` keeps them as decimals, SQLite and MariaDB as text).
//!
//! # Cleanup
//!
//! Expired rows are invisible to every operation at once, but they stay in
//! the table until deleted. [`SqlStore::spawn_cleanup`] runs
//! [`delete_expired`](SessionStore::delete_expired) on a tokio task every
//! period and logs failures with `tracing`; alternatively call it from a
//! scheduler of your own. With several instances, running it on all of
//! them is harmless.
//!
//! # Errors
//!
//! | what happened | [`StoreError`] |
//! |---|---|
//! | connection refused or lost, TLS failure, pool timed out or closed, SQLite busy or locked past its timeout, "too many connections" | [`StoreError::Unavailable`] (`503`) |
//! | a row whose `data` is not a JSON object, or whose times are out of range (edited by hand) | [`StoreError::Corrupt`], naming the table and the id's short hash |
//! | anything else (a missing table: did you run [`migrate`](SqlStore::migrate)?) | [`StoreError::Failed`] |
//!
//! Error messages and log events never carry a session id, only its short
//! hash, and never a connection URL.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "session-store-sql needs at least one database: enable its feature `sqlite`, `postgres` or `mysql`"
);

mod error;
mod sql;
mod table;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use session_core::store::{
    async_trait, ChangeSet, Created, Record, Saved, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::{Clock, Id, SystemClock};
use sqlx::Row as _;
use tokio::task::JoinHandle;

pub use sqlx;
pub use table::InvalidTableName;

use error::{corrupt, is_malformed_json, store_error};
use sql::Statements;
use table::TableName;

/// The table used unless [`SqlStore::with_table_name`] says otherwise.
pub const DEFAULT_TABLE_NAME: &str = "sessions";

/// How many expired rows one cleanup statement deletes at most, unless
/// [`SqlStore::with_cleanup_batch`] says otherwise.
pub const DEFAULT_CLEANUP_BATCH: u32 = 1000;

/// How long [`SqlStore::connect`]'s PostgreSQL and MySQL pools wait for a
/// connection (sqlx's default is 30 s): a session store that cannot answer
/// soon should answer `503` soon.
#[cfg(any(feature = "postgres", feature = "mysql"))]
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`SqlStore`] talks to.
///
/// ```
/// use session_store_sql::{Backend, SqlStore};
///
/// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
/// let store = SqlStore::connect("sqlite::memory:").await?;
/// assert_eq!(store.backend(), Backend::Sqlite);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite (feature `sqlite`).
    Sqlite,
    /// PostgreSQL (feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (feature `mysql`).
    MySql,
}

impl Backend {
    /// The feature of this crate that brings the backend.
    fn feature(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }
}

/// The connection pool, one variant per enabled database.
#[derive(Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool, whatever the
/// database: the shared logic, written once.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($p) => $body,
            #[cfg(feature = "postgres")]
            Pool::Postgres($p) => $body,
            #[cfg(feature = "mysql")]
            Pool::MySql($p) => $body,
        }
    };
}

/// Sessions in an SQL table: SQLite, PostgreSQL or MySQL/MariaDB.
///
/// Clones share the pool. See the [crate documentation](crate) for the
/// schema and the statements.
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
    pool: Pool,
    backend: Backend,
    table: TableName,
    sql: Statements,
    clock: Arc<dyn Clock>,
    cleanup_batch: u32,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.inner.backend)
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
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let backend = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::MySql,
            _ => {
                return Err(StoreError::failed(format!(
                    "unsupported session store URL scheme {scheme:?}: expected \
                     sqlite://, postgres:// or mysql://"
                )))
            }
        };
        let connected: Result<Self, sqlx::Error> = match backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => connect_sqlite(url).await.map(Self::sqlite),
            #[cfg(feature = "postgres")]
            Backend::Postgres => sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map(Self::postgres),
            #[cfg(feature = "mysql")]
            Backend::MySql => sqlx::mysql::MySqlPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map(Self::mysql),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(StoreError::failed(format!(
                    "{scheme}: URLs need the `{}` feature of session-store-sql",
                    backend.feature()
                )))
            }
        };
        connected.map_err(|err| store_error(backend, err))
    }

    fn build(pool: Pool, backend: Backend) -> Self {
        let table = TableName::new(DEFAULT_TABLE_NAME).expect("the default table name is valid");
        Self {
            inner: Arc::new(Inner {
                sql: Statements::new(backend, &table),
                pool,
                backend,
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
        Self::build(Pool::Sqlite(pool), Backend::Sqlite)
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
        Self::build(Pool::Postgres(pool), Backend::Postgres)
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
        Self::build(Pool::MySql(pool), Backend::MySql)
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
        inner.sql = Statements::new(inner.backend, &table);
        inner.table = table;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Deletes at most `rows` expired rows per statement in
    /// [`delete_expired`](SessionStore::delete_expired) (default
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
    /// use session_store_sql::{Backend, SqlStore};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// assert_eq!(SqlStore::connect("sqlite::memory:").await?.backend(), Backend::Sqlite);
    /// # Ok(()) }
    /// ```
    pub fn backend(&self) -> Backend {
        self.inner.backend
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
        #[allow(unreachable_patterns)]
        match &self.inner.pool {
            Pool::Sqlite(pool) => Some(pool),
            _ => None,
        }
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
        #[allow(unreachable_patterns)]
        match &self.inner.pool {
            Pool::Postgres(pool) => Some(pool),
            _ => None,
        }
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
        #[allow(unreachable_patterns)]
        match &self.inner.pool {
            Pool::MySql(pool) => Some(pool),
            _ => None,
        }
    }

    /// Creates the table and its index on `expires_at` if they are absent.
    ///
    /// Idempotent: run it at every start. On PostgreSQL it runs in one
    /// transaction holding an advisory lock, so instances starting together
    /// do not trip over each other's `CREATE TABLE IF NOT EXISTS`. It never
    /// alters an existing table.
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
        let inner = &*self.inner;
        let result: Result<(), sqlx::Error> = async {
            match &inner.pool {
                #[cfg(feature = "postgres")]
                Pool::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(format!(
                            "session-store-sql migrate {}",
                            inner.table.as_str()
                        ))
                        .execute(&mut *tx)
                        .await?;
                    for statement in &inner.sql.migrate {
                        sqlx::query(statement).execute(&mut *tx).await?;
                    }
                    tx.commit().await
                }
                #[allow(unreachable_patterns)]
                pool => {
                    for statement in &inner.sql.migrate {
                        on_pool!(pool, pool => {
                            sqlx::query(statement).execute(pool).await?;
                        });
                    }
                    Ok(())
                }
            }
        }
        .await;
        result.map_err(|err| inner.error(err))
    }

    /// Runs [`delete_expired`](SessionStore::delete_expired) now and then
    /// every `period` on a tokio task, until the handle is aborted.
    /// Failures are logged with `tracing` (level `WARN`) and retried at the
    /// next period; each deletion is logged at `DEBUG`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if `period` is zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// use session_store_sql::SqlStore;
    ///
    /// # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
    /// let store = SqlStore::connect("sqlite::memory:").await?;
    /// store.migrate().await?;
    /// let cleanup = store.spawn_cleanup(Duration::from_secs(15 * 60));
    /// // ... serve ...
    /// cleanup.abort();
    /// # Ok(()) }
    /// ```
    pub fn spawn_cleanup(&self, period: Duration) -> JoinHandle<()> {
        assert!(!period.is_zero(), "spawn_cleanup needs a period above zero");
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match store.delete_expired().await {
                    Ok(deleted) => tracing::debug!(
                        table = store.table_name(),
                        deleted,
                        "deleted expired sessions"
                    ),
                    Err(err) => tracing::warn!(
                        table = store.table_name(),
                        error = %err,
                        "deleting expired sessions failed; retrying at the next period"
                    ),
                }
            }
        })
    }
}

impl Inner {
    fn now(&self) -> i64 {
        millis(self.clock.now())
    }

    fn error(&self, err: sqlx::Error) -> StoreError {
        store_error(self.backend, err)
    }

    /// A record from the columns of a loaded row.
    fn record(
        &self,
        id: &Id,
        data: Result<String, sqlx::Error>,
        created_at: Result<i64, sqlx::Error>,
        expires_at: Result<i64, sqlx::Error>,
    ) -> Result<Record, StoreError> {
        let table = self.table.as_str();
        let text =
            data.map_err(|err| corrupt(table, id, format_args!("`data` unreadable: {err}")))?;
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
        let time = |column: &str, value: Result<i64, sqlx::Error>| {
            let value = value
                .map_err(|err| corrupt(table, id, format_args!("`{column}` unreadable: {err}")))?;
            from_millis(value).ok_or_else(|| {
                corrupt(
                    table,
                    id,
                    format_args!("`{column}` = {value} is not a time in Unix milliseconds"),
                )
            })
        };
        let mut record = Record::new(
            *id,
            time("created_at", created_at)?,
            time("expires_at", expires_at)?,
        );
        record.data = data;
        Ok(record)
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        let columns = on_pool!(&inner.pool, pool => {
            sqlx::query(&inner.sql.load)
                .bind(key.as_str())
                .bind(inner.now())
                .fetch_optional(pool)
                .await
                .map_err(|err| inner.error(err))?
                .map(|row| {
                    (
                        row.try_get_unchecked::<String, _>(0),
                        row.try_get::<i64, _>(1),
                        row.try_get::<i64, _>(2),
                    )
                })
        });
        match columns {
            Some((data, created_at, expires_at)) => {
                inner.record(id, data, created_at, expires_at).map(Some)
            }
            None => Ok(None),
        }
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        let inner = &*self.inner;
        let key = record.id.encode();
        let data = serde_json::to_string(&record.data).map_err(StoreError::failed)?;
        let (created_at, expires_at, now) = (
            millis(record.created_at),
            millis(record.expires_at),
            inner.now(),
        );
        let result: Result<Created, sqlx::Error> = async {
            match &inner.pool {
                #[cfg(feature = "mysql")]
                Pool::MySql(pool) => {
                    if let Some(clear) = &inner.sql.create_clear {
                        sqlx::query(clear)
                            .bind(key.as_str())
                            .bind(now)
                            .execute(pool)
                            .await?;
                    }
                    let inserted = sqlx::query(&inner.sql.create)
                        .bind(key.as_str())
                        .bind(data.as_str())
                        .bind(created_at)
                        .bind(expires_at)
                        .execute(pool)
                        .await;
                    match inserted {
                        Ok(_) => Ok(Created::Inserted),
                        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => {
                            Ok(Created::IdTaken)
                        }
                        Err(err) => Err(err),
                    }
                }
                #[allow(unreachable_patterns)]
                pool => {
                    let rows = on_pool!(pool, pool => sqlx::query(&inner.sql.create)
                        .bind(key.as_str())
                        .bind(data.as_str())
                        .bind(created_at)
                        .bind(expires_at)
                        .bind(now)
                        .execute(pool)
                        .await?
                        .rows_affected());
                    Ok(if rows == 0 {
                        Created::IdTaken
                    } else {
                        Created::Inserted
                    })
                }
            }
        }
        .await;
        result.map_err(|err| inner.error(err))
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        if changes.is_empty() {
            return self.touch(id, changes.expires_at).await;
        }
        let inner = &*self.inner;
        let key = id.encode();
        let (expires_at, now) = (millis(changes.expires_at), inner.now());
        // The parameters after the two patch arguments, the same everywhere.
        macro_rules! run {
            ($query:expr, $pool:expr) => {
                $query
                    .bind(expires_at)
                    .bind(key.as_str())
                    .bind(now)
                    .execute($pool)
                    .await
                    .map(|done| done.rows_affected())
            };
        }
        let rows = match &inner.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(
                sqlx::query(&inner.sql.save)
                    .bind(changes.removed.as_slice())
                    .bind(set_object(changes)),
                pool
            ),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let set = set_object(changes);
                run!(
                    sqlx::query(&inner.sql.save)
                        .bind(unset_patch(changes))
                        // The object's members, without its braces.
                        .bind(&set[1..set.len() - 1]),
                    pool
                )
            }
            #[cfg(feature = "mysql")]
            Pool::MySql(pool) => {
                let sql =
                    sql::mysql_save(&inner.sql.table, changes.removed.len(), changes.set.len());
                let mut query = sqlx::query(&sql);
                for key in &changes.removed {
                    query = query.bind(sql::mysql_path(key));
                }
                for (key, value) in &changes.set {
                    query = query.bind(sql::mysql_path(key)).bind(value.to_string());
                }
                run!(query, pool)
            }
        };
        match rows {
            Ok(0) => Ok(Saved::Gone),
            Ok(_) => Ok(Saved::Applied),
            Err(err) if is_malformed_json(inner.backend, &err) => Err(corrupt(
                inner.table.as_str(),
                id,
                "`data` is not valid JSON (SQLite refused to patch it)",
            )),
            Err(err) => Err(inner.error(err)),
        }
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        let rows = on_pool!(&inner.pool, pool => sqlx::query(&inner.sql.touch)
            .bind(millis(expires_at))
            .bind(key.as_str())
            .bind(inner.now())
            .execute(pool)
            .await
            .map_err(|err| inner.error(err))?
            .rows_affected());
        Ok(if rows == 0 {
            Saved::Gone
        } else {
            Saved::Applied
        })
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let key = id.encode();
        on_pool!(&inner.pool, pool => sqlx::query(&inner.sql.delete)
            .bind(key.as_str())
            .execute(pool)
            .await
            .map_err(|err| inner.error(err))
            .map(drop))
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let inner = &*self.inner;
        let now = inner.now();
        let batch = u64::from(inner.cleanup_batch);
        let mut total = 0;
        loop {
            let deleted = on_pool!(&inner.pool, pool => sqlx::query(&inner.sql.delete_expired)
                .bind(now)
                .bind(batch as i64)
                .execute(pool)
                .await
                .map_err(|err| inner.error(err))?
                .rows_affected());
            total += deleted;
            if deleted < batch {
                return Ok(total);
            }
        }
    }
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(url: &str) -> Result<sqlx::SqlitePool, sqlx::Error> {
    use std::str::FromStr as _;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };

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
}

/// The keys and values a change set sets, as a JSON object.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn set_object(changes: &ChangeSet) -> String {
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

/// A merge patch that removes every key the change set names (removed or
/// set), before the set keys are added.
#[cfg(feature = "sqlite")]
fn unset_patch(changes: &ChangeSet) -> String {
    let unset: session_core::store::Data = changes
        .removed
        .iter()
        .chain(changes.set.keys())
        .map(|key| (key.clone(), Value::Null))
        .collect();
    Value::Object(unset).to_string()
}

/// Unix milliseconds, rounded down.
fn millis(time: OffsetDateTime) -> i64 {
    let millis = time.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX })
}

fn from_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::time::Duration;

    #[test]
    fn millis_round_trip_within_a_millisecond() {
        let now = OffsetDateTime::now_utc();
        let back = from_millis(millis(now)).unwrap();
        assert!(back <= now && now - back < Duration::milliseconds(1));
        let before_1970 = OffsetDateTime::UNIX_EPOCH - Duration::nanoseconds(1);
        assert_eq!(millis(before_1970), -1);
        assert!(from_millis(i64::MAX).is_none());
    }
}
