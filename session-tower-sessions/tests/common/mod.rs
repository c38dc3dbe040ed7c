//! The stores the behaviours run on, each on a real server where it needs
//! one: `REDIS_URL`, `REDIS_CLUSTER_URLS`, `DATABASE_URL` (PostgreSQL) and
//! `MYSQL_URL` (MariaDB / MySQL). `scripts/test` starts throwaway servers
//! and sets all four; a missing one fails the test that needs it, with a
//! message that says how to get it (never a silent skip).
//!
//! Each constructor takes the test's name and keeps that test apart: its
//! own SQL table, its own Redis key prefix, its own SQLite file, its own
//! memory store. So `delete_expired`, which sweeps a whole store, sees only
//! its own test's sessions.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};

use session_core::store::{
    ChangeSet, Created, Encrypted, Id, Record, Saved, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::Key;
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

/// The URL in `var`, or a failure that says how to get one.
pub fn url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{var} is not set. Run `scripts/test` (it starts throwaway Redis, Redis Cluster, \
             PostgreSQL and MariaDB servers and sets REDIS_URL, REDIS_CLUSTER_URLS, \
             DATABASE_URL and MYSQL_URL), or set {var} yourself (e.g. \
             REDIS_URL=redis://127.0.0.1:6379, \
             REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001,..., \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test, \
             MYSQL_URL=mysql://root@127.0.0.1:3306/test)"
        ),
    }
}

/// A fresh memory store.
pub async fn memory(_name: &str) -> (MemoryStore, ()) {
    (MemoryStore::new(), ())
}

/// A fresh memory store inside `Encrypted`, under a fresh key.
pub async fn encrypted_memory(_name: &str) -> (Encrypted<MemoryStore>, ()) {
    (Encrypted::new(MemoryStore::new(), Key::generate()), ())
}

fn prefix(name: &str) -> String {
    format!("test:tower:{name}:")
}

/// The one-node Redis at `REDIS_URL`, keys under the test's own prefix.
pub async fn redis(name: &str) -> (RedisStore, ()) {
    let url = url("REDIS_URL");
    let store = RedisStore::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to REDIS_URL={url}: {err}"));
    (store.with_prefix(prefix(name)), ())
}

/// The Redis Cluster at `REDIS_CLUSTER_URLS`.
pub async fn redis_cluster(name: &str) -> (RedisStore, ()) {
    let urls: Vec<String> = url("REDIS_CLUSTER_URLS")
        .split(',')
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    let store = RedisStore::connect_cluster(&urls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to REDIS_CLUSTER_URLS={urls:?}: {err}"));
    (store.with_prefix(prefix(name)), ())
}

/// The one-node Redis with the coherent local cache in front.
pub async fn redis_cached(name: &str) -> (RedisStore, ()) {
    let (store, ()) = redis(name).await;
    let store = store
        .with_local_cache(10_000)
        .await
        .expect("the local cache");
    (store, ())
}

/// SQLite in a file of a fresh temporary directory (kept while the test
/// holds the directory).
pub async fn sqlite(_name: &str) -> (SqlStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let store = SqlStore::connect(&url).await.expect("open SQLite");
    store.migrate().await.expect("migrate");
    (store, dir)
}

async fn sql(var: &str, name: &str) -> (SqlStore, ()) {
    let url = url(var);
    let store = SqlStore::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {var}={url}: {err}"))
        .with_table_name(&name[..name.len().min(48)]) // table names are at most 48 bytes
        .expect("a valid table name");
    store.migrate().await.expect("migrate");
    (store, ())
}

/// PostgreSQL at `DATABASE_URL`, in the test's own table.
pub async fn postgres(name: &str) -> (SqlStore, ()) {
    sql("DATABASE_URL", name).await
}

/// MariaDB / MySQL at `MYSQL_URL`, in the test's own table.
pub async fn mysql(name: &str) -> (SqlStore, ()) {
    sql("MYSQL_URL", name).await
}

/// A memory store that answers its first `create` with `IdTaken`
/// (inserting nothing), as a store does when the id is already live.
#[derive(Debug, Default)]
pub struct CollidesOnce {
    pub store: MemoryStore,
    collided: AtomicBool,
}

impl SessionStore for CollidesOnce {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.store.load(id).await
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        if !self.collided.swap(true, Ordering::SeqCst) {
            return Ok(Created::IdTaken);
        }
        self.store.create(record).await
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.store.save(id, changes).await
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.store.touch(id, expires_at).await
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.store.delete(id).await
    }
}
