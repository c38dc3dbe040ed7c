//! Removing expired rows: [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired)
//! in bounded batches, and the task that runs it now and then.

use std::time::Duration;

use session_core::store::StoreError;
use tokio::task::JoinHandle;

use crate::database::{on_db, retried, Db};
use crate::SqlStore;

/// How many expired rows one cleanup statement deletes at most, unless
/// [`SqlStore::with_cleanup_batch`] says otherwise.
pub const DEFAULT_CLEANUP_BATCH: u32 = 1000;

/// Deletes expired rows (by `now`) in batches of at most `batch` rows,
/// repeated until a batch comes back short, so that no statement holds
/// locks for long. Returns how many were deleted.
pub(crate) async fn delete_expired(db: &Db, now: i64, batch: u32) -> Result<u64, StoreError> {
    let batch = u64::from(batch);
    let mut total = 0;
    loop {
        let deleted = retried(move || async move {
            Ok(on_db!(db, d => sqlx::query(&d.sql.delete_expired)
                .bind(now)
                .bind(batch as i64)
                .execute(&d.pool)
                .await?
                .rows_affected()))
        })
        .await
        .map_err(|err| db.error(err))?;
        total += deleted;
        if deleted < batch {
            return Ok(total);
        }
    }
}

impl SqlStore {
    /// Runs [`delete_expired`](session_core::store::ExpiredCleanup::delete_expired) now and then
    /// every `period` on a tokio task, until the handle is aborted
    /// ([`session_core::store::spawn_cleanup`]). Failures are logged with
    /// `tracing` (level `WARN`) and retried at the next period; each run is
    /// logged at `DEBUG`.
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
        session_core::store::spawn_cleanup(self.clone(), period)
    }
}
