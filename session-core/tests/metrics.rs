//! The `metrics` feature through real requests: a recorder of this test
//! (local to the thread, so tests running side by side do not mix) counts
//! what each step of a session's life records, and nothing else.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use session_core::store::{
    async_trait, Capabilities, ChangeSet, Created, Id, LeaseStore, Record, Saved, SessionLease,
    SessionStore, StoreError,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{
    Error, Key, LoadedSession, ManualClock, Session, SessionConfig, SessionLayer, SignedCookie,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn key() -> Key {
    Key::from_bytes(&[7; 32]).unwrap()
}

/// `/count` increments `n`, `/read` only reads it; `/login` binds the user `ann` and cycles the
/// id; `/logout` destroys; `/big` stores 5000 bytes; `/others` ends the
/// user's other sessions.
fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    let layer = layer.with_config(SessionConfig::new().with_secure(false));
    app_with(layer)
}

fn app_with(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    Router::new()
        .route(
            "/count",
            get(|session: Session| async move {
                let n: u64 = session.get("n").await?.unwrap_or(0);
                session.insert("n", n + 1).await?;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/read",
            get(|session: Session| async move {
                let n: Option<u64> = session.get("n").await?;
                Ok::<_, Error>(format!("{n:?}"))
            }),
        )
        .route(
            "/login",
            get(|session: Session| async move {
                session.set_user("ann").await?;
                session.cycle_id().await?;
                Ok::<_, Error>("in")
            }),
        )
        .route(
            "/logout",
            get(|session: Session| async move {
                session.destroy();
                "out"
            }),
        )
        .route(
            "/big",
            get(|session: Session| async move {
                session.insert("big", "x".repeat(5000)).await?;
                Ok::<_, Error>("big")
            }),
        )
        .route(
            "/others",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_other_sessions().await?.to_string())
            }),
        )
        .layer(layer)
}

/// Sends `GET path` with `cookie`; the status and the `name=value` of the
/// `Set-Cookie` answered, if any.
async fn get_with(app: &Router, path: &str, cookie: Option<&str>) -> (StatusCode, Option<String>) {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let set = response.headers().get(SET_COOKIE).map(|value| {
        let value = value.to_str().unwrap();
        value.split(';').next().unwrap().to_owned()
    });
    (response.status(), set)
}

/// Runs `test` on a one-thread runtime with `recorder` as the thread's
/// recorder (every task of the runtime runs on this thread).
fn recorded<F: Future<Output = ()>>(recorder: &DebuggingRecorder, test: F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test));
}

/// What was recorded since the last snapshot: counters (non-zero ones)
/// and the number of histogram samples, each under `name{label=value,…}`.
#[derive(Debug, Default)]
struct Recorded {
    counters: BTreeMap<String, u64>,
    samples: BTreeMap<String, usize>,
    gauges: BTreeMap<String, f64>,
}

impl Recorded {
    fn take(snapshotter: &Snapshotter) -> Self {
        let mut recorded = Recorded::default();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            labels.sort();
            let name = if labels.is_empty() {
                key.name().to_owned()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            match value {
                DebugValue::Counter(0) => {}
                DebugValue::Counter(n) => {
                    recorded.counters.insert(name, n);
                }
                DebugValue::Histogram(values) if values.is_empty() => {}
                DebugValue::Histogram(values) => {
                    assert!(values.iter().all(|v| v.0 >= 0.0), "{name}: {values:?}");
                    recorded.samples.insert(name, values.len());
                }
                DebugValue::Gauge(value) => {
                    recorded.gauges.insert(name, value.0);
                }
            }
        }
        recorded
    }

    fn counters(&self) -> Vec<(&str, u64)> {
        self.counters
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }

    fn samples(&self) -> Vec<(&str, usize)> {
        self.samples.iter().map(|(k, v)| (k.as_str(), *v)).collect()
    }
}

#[test]
fn a_counter_counts_a_create_then_a_load_and_a_save_each_timed() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::new(MemoryStore::new(), key()));
    recorded(&recorder, async {
        let (status, cookie) = get_with(&app, "/count", None).await;
        assert_eq!(status, StatusCode::OK);
        let first = Recorded::take(&snapshotter);
        assert_eq!(first.counters(), [("session_created_total", 1)]);
        assert_eq!(
            first.samples(),
            [(
                "session_store_duration_seconds{operation=create,store=memory}",
                1
            )]
        );

        let (status, _) = get_with(&app, "/count", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        let second = Recorded::take(&snapshotter);
        assert_eq!(
            second.counters(),
            [("session_loaded_total", 1), ("session_saved_total", 1)]
        );
        assert_eq!(
            second.samples(),
            [
                (
                    "session_store_duration_seconds{operation=load,store=memory}",
                    1
                ),
                (
                    "session_store_duration_seconds{operation=save,store=memory}",
                    1
                ),
            ]
        );
    });
}

#[test]
fn a_login_counts_a_cycle_and_a_logout_an_ended_session() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::new(MemoryStore::new(), key()));
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        Recorded::take(&snapshotter);

        let (status, cookie) = get_with(&app, "/login", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        let login = Recorded::take(&snapshotter);
        assert_eq!(
            login.counters(),
            [("session_cycled_total", 1), ("session_loaded_total", 1)]
        );
        assert_eq!(
            login.samples(),
            [
                (
                    "session_store_duration_seconds{operation=cycle,store=memory}",
                    1
                ),
                (
                    "session_store_duration_seconds{operation=load,store=memory}",
                    1
                ),
            ]
        );

        let (status, removal) = get_with(&app, "/logout", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        assert!(removal.is_some(), "a removal cookie");
        let logout = Recorded::take(&snapshotter);
        assert_eq!(
            logout.counters(),
            [("session_ended_total{cause=logout}", 1)]
        );
        assert_eq!(
            logout.samples(),
            [(
                "session_store_duration_seconds{operation=delete,store=memory}",
                1
            )]
        );

        // The logged-out cookie names nothing live now.
        get_with(&app, "/count", cookie.as_deref()).await;
        let after = Recorded::take(&snapshotter);
        assert_eq!(
            after.counters(),
            [
                ("session_created_total", 1),
                ("session_ended_total{cause=expiry}", 1)
            ]
        );
    });
}

#[test]
fn ending_the_other_sessions_counts_them() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::new(MemoryStore::new(), key()));
    recorded(&recorder, async {
        let (_, phone) = get_with(&app, "/login", None).await;
        let (_, laptop) = get_with(&app, "/login", None).await;
        let (_, tablet) = get_with(&app, "/login", None).await;
        assert!(phone.is_some() && laptop.is_some() && tablet.is_some());
        Recorded::take(&snapshotter);

        let (status, _) = get_with(&app, "/others", phone.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        let ended = Recorded::take(&snapshotter);
        assert_eq!(
            ended.counters(),
            [
                ("session_ended_total{cause=end_others}", 2),
                ("session_loaded_total", 1)
            ]
        );
    });
}

#[test]
fn a_session_past_its_expiry_counts_as_ended_by_expiry() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::starting_now();
    let layer = SessionLayer::new(MemoryStore::new(), key()).with_config(
        SessionConfig::new()
            .with_secure(false)
            .with_max_age(Some(std::time::Duration::from_secs(3600)))
            .with_clock(clock.clone()),
    );
    let app = app_with(layer);
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        Recorded::take(&snapshotter);

        clock.advance(Duration::hours(2));
        let (status, fresh) = get_with(&app, "/count", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(fresh, cookie, "a new session");
        let expired = Recorded::take(&snapshotter);
        assert_eq!(
            expired.counters(),
            [
                ("session_created_total", 1),
                ("session_ended_total{cause=expiry}", 1)
            ]
        );
    });
}

#[test]
fn a_read_with_an_idle_timeout_counts_a_touch() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let clock = ManualClock::starting_now();
    let layer = SessionLayer::new(MemoryStore::new(), key()).with_config(
        SessionConfig::new()
            .with_secure(false)
            .with_idle_timeout(Some(std::time::Duration::from_secs(3600)))
            .with_clock(clock.clone()),
    );
    let app = app_with(layer);
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        Recorded::take(&snapshotter);

        clock.advance(Duration::minutes(10));
        let (status, _) = get_with(&app, "/read", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::OK);
        let touched = Recorded::take(&snapshotter);
        assert_eq!(
            touched.counters(),
            [("session_loaded_total", 1), ("session_touched_total", 1)]
        );
        assert_eq!(
            touched.samples(),
            [
                (
                    "session_store_duration_seconds{operation=load,store=memory}",
                    1
                ),
                (
                    "session_store_duration_seconds{operation=touch,store=memory}",
                    1
                ),
            ]
        );
    });
}

#[test]
fn a_session_the_check_ends_counts_as_revoked() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let revoke = Arc::new(AtomicBool::new(false));
    let check = revoke.clone();
    let layer = SessionLayer::new(MemoryStore::new(), key()).with_check(move |_: LoadedSession| {
        let revoke = check.load(Ordering::SeqCst);
        async move { Ok(!revoke) }
    });
    let app = app(layer);
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        revoke.store(true, Ordering::SeqCst);
        Recorded::take(&snapshotter);

        get_with(&app, "/count", cookie.as_deref()).await;
        let revoked = Recorded::take(&snapshotter);
        assert_eq!(
            revoked.counters(),
            [
                ("session_created_total", 1),
                ("session_ended_total{cause=revoked}", 1)
            ]
        );
    });
}

#[test]
fn cookie_sessions_are_counted_and_timed_as_the_cookie_store() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::client_side(SignedCookie::new(&key().into())));
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        let first = Recorded::take(&snapshotter);
        assert_eq!(first.counters(), [("session_created_total", 1)]);
        assert_eq!(
            first.samples(),
            [(
                "session_store_duration_seconds{operation=create,store=cookie}",
                1
            )]
        );

        get_with(&app, "/count", cookie.as_deref()).await;
        let second = Recorded::take(&snapshotter);
        assert_eq!(
            second.counters(),
            [("session_loaded_total", 1), ("session_saved_total", 1)]
        );
        assert_eq!(
            second.samples(),
            [
                (
                    "session_store_duration_seconds{operation=load,store=cookie}",
                    1
                ),
                (
                    "session_store_duration_seconds{operation=save,store=cookie}",
                    1
                ),
            ]
        );
    });
}

#[test]
fn an_oversize_cookie_session_counts_a_refusal() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::client_side(SignedCookie::new(&key().into())));
    recorded(&recorder, async {
        let (status, cookie) = get_with(&app, "/big", None).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(cookie, None);
        let refused = Recorded::take(&snapshotter);
        assert_eq!(
            refused.counters(),
            [("session_refused_total{reason=oversize}", 1)]
        );
    });
}

/// A memory store that answers `Unavailable` while `down` is set, and
/// whose leases (when `leases` is set) are always refused; its kind is
/// the default, `custom`.
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
    leases: bool,
}

impl Flaky {
    fn new(leases: bool) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            down: AtomicBool::new(false),
            leases,
        })
    }

    fn up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other(
                "connection refused",
            )));
        }
        Ok(())
    }
}

impl SessionStore for Flaky {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.up()?;
        self.inner.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.up()?;
        self.inner.create(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.up()?;
        self.inner.save(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.up()?;
        self.inner.touch(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.up()?;
        self.inner.delete(id).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        match self.leases {
            true => Capabilities::none().with_leases(self),
            false => Capabilities::none(),
        }
    }
}

#[async_trait]
impl LeaseStore for Flaky {
    async fn lock(&self, _: &Id) -> Result<Box<dyn SessionLease>, StoreError> {
        Err(StoreError::unavailable(std::io::Error::other(
            "the session stayed busy",
        )))
    }
}

#[test]
fn an_unreachable_store_counts_refusals_and_times_the_failed_calls() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let store = Flaky::new(false);
    let app = app(SessionLayer::new(store.clone(), key()));
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        Recorded::take(&snapshotter);
        store.down.store(true, Ordering::SeqCst);

        // A returning visitor: the load fails.
        let (status, _) = get_with(&app, "/count", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let load = Recorded::take(&snapshotter);
        assert_eq!(
            load.counters(),
            [("session_refused_total{reason=store_unavailable}", 1)]
        );
        assert_eq!(
            load.samples(),
            [(
                "session_store_duration_seconds{operation=load,store=custom}",
                1
            )]
        );

        // A new visitor: the create after the handler fails.
        let (status, _) = get_with(&app, "/count", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let create = Recorded::take(&snapshotter);
        assert_eq!(
            create.counters(),
            [("session_refused_total{reason=store_unavailable}", 1)]
        );
        assert_eq!(
            create.samples(),
            [(
                "session_store_duration_seconds{operation=create,store=custom}",
                1
            )]
        );
    });
}

#[test]
fn a_refused_lease_counts_as_a_lease_timeout_only() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = SessionLayer::new(Flaky::new(true), key()).with_config(
        SessionConfig::new()
            .with_secure(false)
            .with_serialized_requests(true),
    );
    let app = app_with(layer);
    recorded(&recorder, async {
        let (_, cookie) = get_with(&app, "/count", None).await;
        assert!(cookie.is_some());
        Recorded::take(&snapshotter);

        let (status, _) = get_with(&app, "/count", cookie.as_deref()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let refused = Recorded::take(&snapshotter);
        assert_eq!(
            refused.counters(),
            [("session_refused_total{reason=lease_timeout}", 1)]
        );
        assert_eq!(refused.samples(), []);
    });
}

#[test]
fn a_full_memory_store_counts_evictions_and_reports_its_size() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let app = app(SessionLayer::new(
        MemoryStore::new().with_capacity_limit(2),
        key(),
    ));
    recorded(&recorder, async {
        get_with(&app, "/count", None).await;
        let one = Recorded::take(&snapshotter);
        assert_eq!(one.gauges.get("session_memory_sessions"), Some(&1.0));
        get_with(&app, "/count", None).await;
        Recorded::take(&snapshotter);

        get_with(&app, "/count", None).await;
        let full = Recorded::take(&snapshotter);
        assert_eq!(
            full.counters(),
            [
                ("session_created_total", 1),
                ("session_ended_total{cause=evicted}", 1)
            ]
        );
        assert_eq!(full.gauges.get("session_memory_sessions"), Some(&2.0));
    });
}
