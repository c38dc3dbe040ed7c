//! Metrics of sessions, through the [`metrics`](https://docs.rs/metrics)
//! facade (cargo feature `metrics`, off by default).
//!
//! With the feature on, the layer counts what happens to sessions and
//! times every call it makes to its store. The application chooses the
//! exporter (Prometheus, StatsD, …) by installing a `metrics` recorder;
//! without one, each record is a call into the facade's no-op recorder.
//! Without the feature nothing is recorded and nothing is compiled in.
//!
//! | name | type | labels | counts or measures |
//! |---|---|---|---|
//! | `session_created_total` | counter | | sessions stored under a fresh id: a store's `create` that inserted, a new data cookie |
//! | `session_loaded_total` | counter | | live sessions read (once per request that uses one), after the application's check |
//! | `session_saved_total` | counter | | changes written to a live session (a store's `save` that applied, a data cookie re-encoded) |
//! | `session_touched_total` | counter | | expiries moved without a change (idle timeout, rolling) |
//! | `session_cycled_total` | counter | | sessions moved to a fresh id ([`Session::cycle_id`](crate::Session::cycle_id), e.g. at login) |
//! | `session_ended_total` | counter | `cause` | sessions ended, by cause (below) |
//! | `session_refused_total` | counter | `reason` | requests answered with an error status by the layer, by reason (below) |
//! | `session_store_duration_seconds` | histogram | `operation`, `store` | the time of each store call the layer makes |
//! | `session_memory_sessions` | gauge | | sessions a `MemoryStore` holds (its feature `metrics`) |
//! | `session_redis_cache_entries` | gauge | | entries of a `RedisStore`'s local cache, as of its last read (its feature `metrics`) |
//! | `session_redis_cache_hits_total` | counter | | reads the local cache answered |
//! | `session_redis_cache_misses_total` | counter | | reads the local cache sent to Redis |
//!
//! `session_ended_total{cause}`:
//!
//! | `cause` | when |
//! |---|---|
//! | `logout` | the handler ended its session: [`Session::destroy`](crate::Session::destroy), or removed its last key |
//! | `expiry` | a request came back with the cookie of a session that is no longer live: timed out, or ended by another request (then also counted under that request's cause) |
//! | `end_others` | [`Session::end_other_sessions`](crate::Session::end_other_sessions), [`end_all_sessions`](crate::Session::end_all_sessions) and [`end_session`](crate::Session::end_session), each for the sessions other than the request's own (which counts as `logout`) |
//! | `revoked` | the application's [`SessionCheck`](crate::SessionCheck) ended it |
//! | `evicted` | a full `MemoryStore` dropped a live session to make room |
//!
//! A session that times out and whose browser never comes back is not
//! counted: the store drops it by itself.
//!
//! `session_refused_total{reason}`:
//!
//! | `reason` | when |
//! |---|---|
//! | `oversize` | a data cookie over [`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE) ([`Error::TooLarge`]) |
//! | `lease_timeout` | with serialized requests, the store did not grant the session's lease (busy past its wait, or unreachable; `503`) |
//! | `store_unavailable` | a store call of the layer (load, create, save, touch, delete, cycle) answered [`StoreError::Unavailable`]: the store could not be reached (`503`) |
//!
//! `session_store_duration_seconds{operation, store}`: `operation` is
//! `load`, `create`, `save`, `touch`, `delete` or `cycle` (a whole move to
//! a new id, atomic or in steps); `store` is the store's
//! [`kind`](crate::store::SessionStore::kind) (`memory`, `redis`, `sql`,
//! `custom` …), or `cookie` for sessions kept in the cookie, whose
//! `load` is decoding it and whose writes are encoding it.
//!
//! Turn the feature on, and install a recorder at startup: the
//! `metrics-exporter-prometheus` crate's `PrometheusBuilder::new().install()`
//! serves them to Prometheus. Here a recorder of `metrics-util` reads
//! them back:
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use session_core::{Key, SessionLayer};
//! use session_store_memory::MemoryStore;
//! use tower::{Layer, ServiceExt};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     let app = SessionLayer::new(MemoryStore::new(), Key::generate()).layer(tower::service_fn(
//!         |req: http::Request<String>| async move {
//!             let session = req.extensions().get::<session_core::Session>().unwrap().clone();
//!             session.insert("count", 1).await.unwrap();
//!             Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//!         },
//!     ));
//!     let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//!     runtime.block_on(app.oneshot(http::Request::new(String::new()))).unwrap();
//! });
//! let created = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!     (key.key().name() == "session_created_total").then_some(value)
//! });
//! assert_eq!(created, Some(DebugValue::Counter(1)));
//! ```
//!
//! The names follow Prometheus' conventions (`_total` counters, base units).
//! The `serve` example exposes them at `/metrics` with `SESSION_METRICS=1`.

#[cfg(not(feature = "metrics"))]
use std::future::Future;

use http::HeaderValue;
use time::OffsetDateTime;

use crate::life::{Life, Write};
use crate::storage::Storage;
use crate::store::{Cycled, StoreError};
use crate::{ChangeSet, Created, Error, Id, Record, Saved, SessionStore};

/// Why a session ended (`session_ended_total{cause}`); `evicted` is
/// counted by the memory store.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cause {
    Logout,
    Expiry,
    EndOthers,
    Revoked,
}

/// Why the layer answered with an error (`session_refused_total{reason}`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Refusal {
    Oversize,
    LeaseTimeout,
    /// Counted by [`Measured`], with the feature only.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    StoreUnavailable,
}

/// Registers the description and unit of every metric of the table
/// above with the recorder installed now, so that an exporter can show
/// them (Prometheus' `# HELP` lines). Optional: metrics are recorded
/// without it. Call it after installing the recorder.
///
/// ```
/// let recorder = metrics_util::debugging::DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, session_core::metrics::describe);
/// ```
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("session_created_total", "Sessions stored under a fresh id");
    describe_counter!("session_loaded_total", "Live sessions read");
    describe_counter!("session_saved_total", "Changes written to live sessions");
    describe_counter!(
        "session_touched_total",
        "Session expiries moved without a change"
    );
    describe_counter!("session_cycled_total", "Sessions moved to a fresh id");
    describe_counter!("session_ended_total", "Sessions ended, by cause");
    describe_counter!(
        "session_refused_total",
        "Requests refused by the session layer, by reason"
    );
    describe_histogram!(
        "session_store_duration_seconds",
        Unit::Seconds,
        "Time of each session store call, by operation and store"
    );
    describe_gauge!(
        "session_memory_sessions",
        "Sessions held by the memory store"
    );
    describe_gauge!(
        "session_redis_cache_entries",
        "Entries of the Redis store's local cache"
    );
    describe_counter!(
        "session_redis_cache_hits_total",
        "Reads the Redis local cache answered"
    );
    describe_counter!(
        "session_redis_cache_misses_total",
        "Reads the Redis local cache sent to Redis"
    );
}

/// Counts `n` under `name` (a literal) with at most one literal label,
/// when the feature is on.
macro_rules! count {
    ($name:literal $(, $label:literal => $value:literal)?; $n:expr) => {{
        #[cfg(feature = "metrics")]
        ::metrics::counter!($name $(, $label => $value)?).increment($n);
        #[cfg(not(feature = "metrics"))]
        let _ = $n;
    }};
}

/// A live session was read.
#[inline]
pub(crate) fn loaded() {
    count!("session_loaded_total"; 1);
}

/// `n` sessions ended for `cause`.
#[inline]
pub(crate) fn ended(cause: Cause, n: u64) {
    match cause {
        Cause::Logout => count!("session_ended_total", "cause" => "logout"; n),
        Cause::Expiry => count!("session_ended_total", "cause" => "expiry"; n),
        Cause::EndOthers => count!("session_ended_total", "cause" => "end_others"; n),
        Cause::Revoked => count!("session_ended_total", "cause" => "revoked"; n),
    }
}

/// The layer answered with an error for `reason`.
#[inline]
pub(crate) fn refused(reason: Refusal) {
    match reason {
        Refusal::Oversize => count!("session_refused_total", "reason" => "oversize"; 1),
        Refusal::LeaseTimeout => count!("session_refused_total", "reason" => "lease_timeout"; 1),
        Refusal::StoreUnavailable => {
            count!("session_refused_total", "reason" => "store_unavailable"; 1)
        }
    }
}

/// After [`Storage::write`] carried out `write` on a session that was in
/// `life`: what ended, a cookie refused for its size, and, for data
/// cookies, what was written (a store's outcomes and failures are counted
/// by [`Measured`], call by call).
#[inline]
pub(crate) fn written(
    storage: &Storage,
    life: Life,
    write: Write,
    result: &Result<Option<HeaderValue>, Error>,
) {
    match result {
        Err(Error::TooLarge { .. }) => refused(Refusal::Oversize),
        Err(_) => {}
        Ok(_) => {
            let ends = matches!(
                write,
                Write::Remove { end: true } | Write::Create { end: true }
            );
            if ends && matches!(life, Life::Destroyed | Life::Live(_) | Life::Cycling(_)) {
                ended(Cause::Logout, 1);
            }
            if matches!(storage, Storage::Cookie(_)) {
                match write {
                    Write::Create { .. } => count!("session_created_total"; 1),
                    Write::Save { .. } => count!("session_saved_total"; 1),
                    Write::Touch { .. } => count!("session_touched_total"; 1),
                    Write::Cycle => count!("session_cycled_total"; 1),
                    // A key rotation re-signs the cookie: nothing changed.
                    Write::Resend | Write::Nothing | Write::Remove { .. } | Write::Forget => {}
                }
            }
        }
    }
}

/// The `operation` label of a data cookie's encoding for `write`.
pub(crate) fn cookie_operation(write: Write) -> &'static str {
    match write {
        Write::Create { .. } => "create",
        Write::Cycle => "cycle",
        Write::Touch { .. } => "touch",
        Write::Remove { .. } | Write::Forget => "delete",
        Write::Nothing | Write::Resend | Write::Save { .. } => "save",
    }
}

/// The time of one storage call, started (nothing without the feature).
#[derive(Clone, Copy)]
pub(crate) struct Timer(#[cfg(feature = "metrics")] std::time::Instant);

impl Timer {
    #[inline]
    pub(crate) fn start() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }

    /// Records the time since [`start`](Self::start) as one sample of
    /// `session_store_duration_seconds{operation, store}`.
    #[inline]
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn stop(self, operation: &'static str, store: &'static str) {
        #[cfg(feature = "metrics")]
        store_histogram(operation, store).record(self.0.elapsed());
    }
}

/// The `session_store_duration_seconds` histogram of one call, under the
/// recorder in force. The labels of this project's stores and operations
/// are spelled out, so that their keys are statics: without a recorder, a
/// sample then costs no allocation and no hashing. Other labels build a
/// key each time.
#[cfg(feature = "metrics")]
fn store_histogram(operation: &'static str, store: &'static str) -> ::metrics::Histogram {
    macro_rules! by_operation {
        ($store:literal) => {
            match operation {
                "load" => by_operation!(@ "load", $store),
                "create" => by_operation!(@ "create", $store),
                "save" => by_operation!(@ "save", $store),
                "touch" => by_operation!(@ "touch", $store),
                "delete" => by_operation!(@ "delete", $store),
                "cycle" => by_operation!(@ "cycle", $store),
                other => ::metrics::histogram!(
                    "session_store_duration_seconds", "operation" => other, "store" => $store
                ),
            }
        };
        (@ $operation:literal, $store:literal) => {
            ::metrics::histogram!(
                "session_store_duration_seconds", "operation" => $operation, "store" => $store
            )
        };
    }
    match store {
        "memory" => by_operation!("memory"),
        "redis" => by_operation!("redis"),
        "sql" => by_operation!("sql"),
        "cookie" => by_operation!("cookie"),
        other => ::metrics::histogram!(
            "session_store_duration_seconds", "operation" => operation, "store" => other
        ),
    }
}

/// The layer's store, measured: each call is timed, its outcome counted,
/// and an unreachable store counted as a refusal. Without the feature, each method hands back the store's own
/// future.
pub(crate) struct Measured<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: ?Sized> Clone for Measured<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for Measured<'_, S> {}

#[cfg(not(feature = "metrics"))]
impl<'a, S: SessionStore + ?Sized> Measured<'a, S> {
    #[inline]
    pub(crate) fn load_now(self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        self.0.load_now(id)
    }
    #[inline]
    pub(crate) fn load(
        self,
        id: &'a Id,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send + 'a {
        self.0.load(id)
    }
    #[inline]
    pub(crate) fn create(
        self,
        record: &'a Record,
    ) -> impl Future<Output = Result<Created, StoreError>> + Send + 'a {
        self.0.create(record)
    }
    #[inline]
    pub(crate) fn save(
        self,
        id: &'a Id,
        changes: &'a ChangeSet,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send + 'a {
        self.0.save(id, changes)
    }
    #[inline]
    pub(crate) fn touch(
        self,
        id: &'a Id,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<Saved, StoreError>> + Send + 'a {
        self.0.touch(id, expires_at)
    }
    #[inline]
    pub(crate) fn delete(
        self,
        id: &'a Id,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        self.0.delete(id)
    }
    #[inline]
    pub(crate) async fn cycle(self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        crate::store::cycle(self.0, old, record).await
    }
}

#[cfg(feature = "metrics")]
impl<S: SessionStore + ?Sized> Measured<'_, S> {
    fn timed<T>(
        &self,
        operation: &'static str,
        started: Timer,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        started.stop(operation, self.0.kind());
        if let Err(StoreError::Unavailable(_)) = result {
            refused(Refusal::StoreUnavailable);
        }
        result
    }

    pub(crate) fn load_now(self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        let started = Timer::start();
        let loaded = self.0.load_now(id)?;
        Some(self.timed("load", started, loaded))
    }

    pub(crate) async fn load(self, id: &Id) -> Result<Option<Record>, StoreError> {
        let started = Timer::start();
        self.timed("load", started, self.0.load(id).await)
    }

    pub(crate) async fn create(self, record: &Record) -> Result<Created, StoreError> {
        let started = Timer::start();
        let result = self.timed("create", started, self.0.create(record).await);
        if let Ok(Created::Inserted) = result {
            count!("session_created_total"; 1);
        }
        result
    }

    pub(crate) async fn save(self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        let started = Timer::start();
        let result = self.timed("save", started, self.0.save(id, changes).await);
        if let Ok(Saved::Applied) = result {
            count!("session_saved_total"; 1);
        }
        result
    }

    pub(crate) async fn touch(
        self,
        id: &Id,
        expires_at: OffsetDateTime,
    ) -> Result<Saved, StoreError> {
        let started = Timer::start();
        let result = self.timed("touch", started, self.0.touch(id, expires_at).await);
        if let Ok(Saved::Applied) = result {
            count!("session_touched_total"; 1);
        }
        result
    }

    pub(crate) async fn delete(self, id: &Id) -> Result<(), StoreError> {
        let started = Timer::start();
        self.timed("delete", started, self.0.delete(id).await)
    }

    pub(crate) async fn cycle(self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        let started = Timer::start();
        let moved = crate::store::cycle(self.0, old, record).await;
        let result = self.timed("cycle", started, moved);
        if let Ok(Cycled::Moved) = result {
            count!("session_cycled_total"; 1);
        }
        result
    }
}
