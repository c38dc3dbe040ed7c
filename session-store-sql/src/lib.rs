//! SQL [`SessionStore`]s for [`session_core`]: SQLite, PostgreSQL and
//! MySQL/MariaDB, on [sqlx] 0.8.
//!
//! Sessions live in one table. They survive restarts and are shared by
//! every instance that uses the same database. One type, [`SqlStore`],
//! speaks all three databases; what differs is a handful of statements per
//! database (see [Operations](#operations)).
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
//! them natively; SQL stores need [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired)
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
//! exist). [`SqlStore::migrate`] creates it and its indexes if absent, adds
//! the columns (and index) a table made by an earlier version lacks, and is
//! safe to run at every start, from several instances at once.
//!
//! | column | SQLite | PostgreSQL | MySQL / MariaDB |
//! |---|---|---|---|
//! | `id` | `TEXT PRIMARY KEY` | `TEXT COLLATE "C" PRIMARY KEY` | `VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin PRIMARY KEY` |
//! | `data` | `TEXT` (JSON text) | `JSONB` | `JSON` (`LONGTEXT` checked by `JSON_VALID` on MariaDB) |
//! | `created_at` | `INTEGER` | `BIGINT` | `BIGINT` |
//! | `expires_at` | `INTEGER`, indexed | `BIGINT`, indexed | `BIGINT`, indexed |
//! | `expiry_policy` | `TEXT`, nullable | `TEXT`, nullable | `TEXT`, nullable |
//! | `user_id` | `TEXT`, nullable, indexed | `TEXT COLLATE "C"`, nullable, indexed | `VARBINARY(255)`, nullable, indexed |
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
//! - `expiry_policy` is the session's own expiry policy
//!   ([`Record::expiry`], "remember me") as [`Expiry::to_stored`] text:
//!   `end`, `idle:<ms>` or `at:<Unix ms>`; `NULL` when the session follows
//!   the layer's configuration. Tables made before it existed gain it
//!   (`ALTER TABLE … ADD COLUMN`) at the next [`SqlStore::migrate`]; their
//!   rows keep loading, with no policy.
//! - `user_id` is the user the session is bound to ([`Record::user`]), as
//!   given: opaque UTF-8 text, compared byte for byte (no case folding, and
//!   trailing spaces count); `NULL` for a session bound to nobody. MySQL
//!   keeps it as bytes (`VARBINARY`), so that MariaDB's `PAD SPACE`
//!   collations do not apply, and the 255 bytes of the layer's limit on
//!   user names keep its index within every InnoDB row format's key
//!   limit; a longer name fails to store there (in strict SQL mode, the
//!   default: otherwise the server would cut it short). Tables made before it
//!   existed gain it, with its index, at the next [`SqlStore::migrate`]
//!   (their rows keep loading, bound to nobody).
//! - The indexes are named `<table>_expires_at_idx` (on `expires_at`, for
//!   the cleanup) and `<table>_user_id_idx` (on `user_id, created_at`, for
//!   [`list_user`](session_core::store::UserIndex::list_user) and
//!   [`delete_user`](session_core::store::UserIndex::delete_user)). On
//!   SQLite and PostgreSQL the latter is partial (`WHERE user_id IS NOT
//!   NULL`), so anonymous sessions cost it nothing. On a large existing
//!   table, the migration that adds it builds the index while it holds the
//!   table (PostgreSQL: against writes, in the migration's transaction); to
//!   avoid that, create `<table>_user_id_idx` beforehand yourself (e.g.
//!   `CREATE INDEX CONCURRENTLY … ON <table> (user_id, created_at) WHERE
//!   user_id IS NOT NULL` after adding the column), and `migrate` keeps it.
//!
//! "Now" is read from the application's clock and bound as a parameter
//! to every statement, so the three databases agree to the millisecond
//! whatever their own clocks and time zones say.
//!
//! # Operations
//!
//! Each operation is one statement (a create on MySQL: two; a cycle onto
//! the id of an expired row: three; `delete_user` on MySQL: a
//! `SET TRANSACTION`, then the statement), with the table name spliced in and
//! every value bound as a parameter, "now" included: a record is live while
//! `expires_at` is after now. The SQL of each database is written once, in
//! its module of this crate (`src/sqlite.rs`, `src/postgres.rs`,
//! `src/mysql.rs`), next to its migration.
//!
//! | operation | what the statement does |
//! |---|---|
//! | load | selects the live row with the id (an expired row is as good as absent) |
//! | create | inserts the row (its `user_id` included) unless a *live* row has the id ([`Created::IdTaken`]); an expired row with the id is replaced |
//! | save | updates the live row: patches its JSON in place, moves its expiry, and sets `expiry_policy` and `user_id` only if the change set names a policy or a binding (`CASE WHEN`; unbinding sets `NULL`); no live row: [`Saved::Gone`], nothing is inserted |
//! | touch | updates only the expiry of the live row |
//! | delete | deletes the row with the id |
//! | cycle | one `UPDATE … SET id = new, …` (`user_id` included) of the old row if it is live: the session moves to the new id, and in the user index, in one statement, or nothing is written ([`Cycled::Gone`]); a live row with the new id fails the primary key ([`Cycled::IdTaken`]), an expired one is deleted and the update tried once more |
//! | list_user | selects the live rows with the `user_id`, through its index, oldest first (`ORDER BY created_at, id`) |
//! | delete_user | deletes the live rows with the `user_id` except the one to keep, and counts them; expired rows of the user are left to the cleanup; on MySQL and MariaDB at `REPEATABLE READ` (see [Users](#users)) |
//! | end_user_session | deletes the live row with the id if its `user_id` is the user, and says whether it did |
//! | delete_expired | deletes expired rows in bounded batches (1,000 rows unless [`SqlStore::with_cleanup_batch`] says otherwise), repeated until a batch comes back short, so that no statement holds locks for long |
//!
//! On PostgreSQL and SQLite a create is one conditional upsert (it only
//! overwrites an expired row), and its row count tells inserted from taken.
//! MySQL has no such upsert, so a create there deletes an expired row with
//! the id, then inserts; a duplicate-key error means the id is taken (a
//! live row that appears between the two statements is reported that way,
//! so no transaction is needed). On PostgreSQL, concurrent cleanups skip
//! each other's rows (`FOR UPDATE SKIP LOCKED`).
//!
//! A save patches the stored JSON rather than rewriting it, so two
//! requests that write different keys of one session both keep their
//! writes. PostgreSQL subtracts the removed keys (`-` with a `text[]`) and
//! merges the set ones (`||`); SQLite removes every named key with
//! `json_patch`, then splices the set members into the object text; MySQL
//! and MariaDB use `JSON_REMOVE` and `JSON_SET` with one bound path per
//! key. Every key is a plain key: `a.b`, `$`, `[0]`, `*`, `quote"d` or the
//! empty string never select anything else, and a value that is JSON
//! `null` is stored as such (it does not remove the key). PostgreSQL and
//! SQLite never parse a key as a JSON path at all. MySQL and MariaDB take
//! each key as a quoted path leg `$."…"`, with
//! the key escaped as a JSON string and bound as a parameter; their
//! statement text depends on how many keys a change set names, and sqlx
//! keeps the prepared statements of the most recent shapes per connection.
//! A change set that names no key (only a new expiry) is saved as a touch.
//!
//! # Users
//!
//! A session bound to a user ([`Record::user`], set by the layer) carries
//! the user in `user_id`, so that one statement lists a user's live
//! sessions or ends them ("log out everywhere"). Every user name is a
//! bound parameter, never part of the SQL text or a `LIKE` pattern.
//! `delete_user` is one `DELETE`: a save, touch or cycle of one of the
//! sessions it ends either lands before it or finds no row and answers
//! `Gone`, so an ended session never comes back. A cycle that lands while
//! the `DELETE` runs is caught under its new id too: PostgreSQL follows
//! the moved row to its new version and checks it again; InnoDB (MySQL,
//! MariaDB) relies on gap locks for that, which it takes only at
//! `REPEATABLE READ` and above, so `delete_user` always runs at
//! `REPEATABLE READ` there, whatever the connection's level (at
//! `READ COMMITTED`, a session cycled during a "log out everywhere" was
//! seen to survive under its new id). [`end_user_session`](session_core::store::UserIndex::end_user_session)
//! ends one session of a user (one `DELETE` of the id, only if the row is
//! bound to the user): a cycle that ran first moved the session away and
//! it answers `false`; one that comes second finds no row.
//!
//! Racing statements can conflict: InnoDB picks a deadlock victim (error
//! 1213), and PostgreSQL at `REPEATABLE READ` or `SERIALIZABLE` refuses a
//! statement that would act on a row changed since it began (SQLSTATE
//! `40001`). Every operation runs in autocommit mode, so the loser was
//! rolled back whole: the store runs it again, after a random pause of up
//! to 2, 4, … 128 ms, up to eight times in all, and it then sees what the
//! winner did (a cycle after `delete_user`
//! answers `Gone`; `delete_user` after a cycle ends the moved row). Only a
//! statement that keeps losing fails, with [`StoreError::Failed`].
//!
//! ```
//! use session_core::store::{Record, SessionStore, UserIndex};
//! use session_core::time::{Duration, OffsetDateTime};
//! use session_core::Id;
//! use session_store_sql::SqlStore;
//!
//! # #[tokio::main] async fn main() -> Result<(), session_core::store::StoreError> {
//! let store = SqlStore::connect("sqlite::memory:").await?;
//! store.migrate().await?;
//! let now = OffsetDateTime::now_utc();
//! let mut phone = Record::new(Id::random(), now, now + Duration::hours(1));
//! phone.user = Some("alice".into());
//! let mut laptop = Record::new(Id::random(), now, now + Duration::hours(1));
//! laptop.user = Some("alice".into());
//! store.create(&phone).await?;
//! store.create(&laptop).await?;
//! assert_eq!(store.list_user("alice").await?.len(), 2);
//! // Log out everywhere but here:
//! assert_eq!(store.delete_user("alice", Some(&laptop.id)).await?, 1);
//! assert_eq!(store.list_user("alice").await?[0].id, laptop.id);
//! // End that one too (it is bound to alice, so it is ended):
//! assert!(store.end_user_session("alice", &laptop.id).await?);
//! assert!(!store.end_user_session("alice", &laptop.id).await?);
//! # Ok(()) }
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
//! [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired) on a tokio task every
//! period and logs failures with `tracing`; alternatively call it from a
//! scheduler of your own. With several instances, running it on all of
//! them is harmless.
//!
//! # Errors
//!
//! | what happened | [`StoreError`] |
//! |---|---|
//! | connection refused or lost, TLS failure, pool timed out or closed, SQLite busy or locked past its timeout, "too many connections" | [`StoreError::Unavailable`] (`503`) |
//! | a row whose `data` is not a JSON object, whose times are out of range, whose `expiry_policy` is not a policy, or whose `user_id` is not UTF-8 text (edited by hand); a user's row whose `id` is not a session id | [`StoreError::Corrupt`], naming the table and the id's short hash (never an id) |
//! | anything else (a missing table: did you run [`migrate`](SqlStore::migrate)?) | [`StoreError::Failed`] |
//!
//! Error messages and log events never carry a session id, only its short
//! hash, and never a connection URL.
//!
//! [`SessionStore`]: session_core::store::SessionStore
//! [`Id::encode`]: session_core::Id::encode
//! [`Record::expiry`]: session_core::store::Record::expiry
//! [`Record::user`]: session_core::store::Record::user
//! [`Expiry::to_stored`]: session_core::Expiry::to_stored
//! [`Cycled::Gone`]: session_core::store::Cycled::Gone
//! [`Cycled::IdTaken`]: session_core::store::Cycled::IdTaken
//! [`Created::IdTaken`]: session_core::store::Created::IdTaken
//! [`Saved::Gone`]: session_core::store::Saved::Gone
//! [`StoreError`]: session_core::store::StoreError
//! [`StoreError::Unavailable`]: session_core::store::StoreError::Unavailable
//! [`StoreError::Failed`]: session_core::store::StoreError::Failed
//! [`StoreError::Corrupt`]: session_core::store::StoreError::Corrupt
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "session-store-sql needs at least one database: enable its feature `sqlite`, `postgres` or `mysql`"
);

mod cleanup;
mod database;
mod error;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod table;

pub use sqlx;

pub use cleanup::DEFAULT_CLEANUP_BATCH;
pub use database::Database;
pub use store::{SqlStore, DEFAULT_TABLE_NAME};
pub use table::InvalidTableName;

/// Not part of the API: what the project's fuzz targets reach inside the
/// crate for. No stability promise; do not use.
#[doc(hidden)]
pub mod __private {
    use session_core::store::{Record, StoreError, UserSession};
    use session_core::Id;

    use crate::row::{Columns, Listed};

    /// The store's own decoder of a loaded row of session `id` in `table`:
    /// each column as the database handed it over, or the error it gave
    /// reading it as the type the store asks for (`data` and
    /// `expiry_policy` as text, the times as `i64`, `user_id` as text or
    /// `NULL`).
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let record = session_store_sql::__private::decode_row(
    ///     "sessions",
    ///     &Id::random(),
    ///     Ok(r#"{"n": 1}"#.to_owned()),
    ///     Ok(1_700_000_000_000),
    ///     Ok(1_700_000_060_000),
    ///     Ok(None),
    ///     Ok(Some("alice".to_owned())),
    /// )
    /// .unwrap();
    /// assert_eq!(record.user.as_deref(), Some("alice"));
    /// ```
    pub fn decode_row(
        table: &str,
        id: &Id,
        data: Result<String, sqlx::Error>,
        created_at: Result<i64, sqlx::Error>,
        expires_at: Result<i64, sqlx::Error>,
        expiry_policy: Result<Option<String>, sqlx::Error>,
        user_id: Result<Option<String>, sqlx::Error>,
    ) -> Result<Record, StoreError> {
        let columns = Columns {
            data,
            created_at,
            expires_at,
            expiry_policy,
            user_id,
        };
        columns.record(table, id)
    }

    /// The store's own decoder of a row that `list_user` reads: `id` as
    /// text (or `NULL`), the times as `i64`.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let id = Id::random();
    /// let listed = session_store_sql::__private::decode_listed(
    ///     "sessions",
    ///     Ok(Some(id.encode())),
    ///     Ok(1_700_000_000_000),
    ///     Ok(1_700_000_060_000),
    /// )
    /// .unwrap();
    /// assert_eq!(listed.id, id);
    /// ```
    pub fn decode_listed(
        table: &str,
        id: Result<Option<String>, sqlx::Error>,
        created_at: Result<i64, sqlx::Error>,
        expires_at: Result<i64, sqlx::Error>,
    ) -> Result<UserSession, StoreError> {
        let listed = Listed {
            id,
            created_at,
            expires_at,
        };
        listed.session(table)
    }
}
