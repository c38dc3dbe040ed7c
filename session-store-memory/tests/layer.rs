//! The session layer's behaviour, driven through axum with the real memory
//! store. A thin wrapper counts store calls and injects faults.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use session_core::__private::SignedId;
use session_core::store::{
    async_trait, Capabilities, ChangeSet, Created, Record, Saved, SessionStore, StoreError,
    UserIndex, UserSession,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Expiry, Id, Key, Keys, ManualClock, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

/// The memory store, with call counters and a switch that makes every call
/// fail as if the store were unreachable.
#[derive(Debug, Clone, Default)]
struct Probe {
    store: MemoryStore,
    calls: Arc<AtomicUsize>,
    saves: Arc<AtomicUsize>,
    touches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Probe {
    fn with_clock(clock: &ManualClock) -> Self {
        Self {
            store: MemoryStore::new().with_clock(clock.clone()),
            ..Self::default()
        }
    }

    fn enter(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(std::io::Error::other(
                "connection refused (injected)",
            )));
        }
        Ok(())
    }
}

impl SessionStore for Probe {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.enter()?;
        self.store.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.enter()?;
        self.store.create(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.enter()?;
        self.saves.fetch_add(1, Ordering::SeqCst);
        self.store.save(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.enter()?;
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.store.touch(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.enter()?;
        self.store.delete(id).await
    }
    /// The user index only: ids are cycled in steps, through the counted
    /// methods.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none().with_users(self)
    }
}

#[async_trait]
impl UserIndex for Probe {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.enter()?;
        self.store.list_user(user).await
    }
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        self.enter()?;
        self.store.delete_user(user, keep).await
    }
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        self.enter()?;
        self.store.end_user_session(user, id).await
    }
}

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

/// Routes exercising every kind of session use.
fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    Router::new()
        .route("/untouched", get(|| async { "hi" }))
        .route(
            "/count",
            get(|s: Session| async move {
                let n: u64 = s.get("n").await?.unwrap_or(0);
                s.insert("n", n + 1).await?;
                Ok::<_, session_core::Error>(n.to_string())
            }),
        )
        .route(
            "/read",
            get(|s: Session| async move {
                let n: Option<u64> = s.get("n").await?;
                Ok::<_, session_core::Error>(format!("{n:?}"))
            }),
        )
        .route(
            "/set/{key}",
            get(
                |s: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
                    s.insert(&key, true).await?;
                    Ok::<_, session_core::Error>("ok")
                },
            ),
        )
        .route(
            "/clear",
            get(|s: Session| async move {
                s.clear().await?;
                Ok::<_, session_core::Error>("cleared")
            }),
        )
        .route(
            "/destroy",
            get(|s: Session| async move {
                s.destroy();
                "bye"
            }),
        )
        .route(
            "/cycle",
            get(|s: Session| async move {
                s.cycle_id().await?;
                Ok::<_, session_core::Error>("cycled")
            }),
        )
        .route(
            "/remember",
            get(|s: Session| async move {
                s.set_expiry(Some(Expiry::OnInactivity(StdDuration::from_secs(
                    30 * 86_400,
                ))))
                .await?;
                s.insert("remember", true).await?;
                Ok::<_, session_core::Error>("ok")
            }),
        )
        .layer(layer)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    /// The `name=value` pair of the Set-Cookie, if any.
    fn cookie(&self) -> Option<String> {
        self.headers
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    }

    fn set_cookie(&self) -> Option<&str> {
        self.headers.get("set-cookie").map(|v| v.to_str().unwrap())
    }
}

async fn call(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn layer(store: Probe, config: SessionConfig) -> SessionLayer<Probe> {
    SessionLayer::new(store, key(1)).with_config(config)
}

/// The id the store keeps for the session `cookie` carries.
fn id_of(cookie: &str) -> Id {
    let value = cookie.split_once('=').unwrap().1;
    SignedId::new(&key(1).into())
        .verify(value)
        .unwrap()
        .id
        .at_rest()
}

#[tokio::test]
async fn untouched_session_costs_no_store_call_and_no_cookie() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let first = call(&app, "/count", None).await;
    let cookie = first.cookie().unwrap();
    let calls = probe.calls.load(Ordering::SeqCst);
    let reply = call(&app, "/untouched", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.set_cookie().is_none());
    assert!(reply.headers.get("vary").is_none());
    assert_eq!(probe.calls.load(Ordering::SeqCst), calls, "no store I/O");
}

#[tokio::test]
async fn reading_adds_vary_but_writes_nothing() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    let reply = call(&app, "/read", Some(&cookie)).await;
    assert_eq!(reply.body, "Some(1)");
    assert_eq!(reply.headers["vary"], "Cookie");
    assert!(reply.set_cookie().is_none());
    assert_eq!(probe.saves.load(Ordering::SeqCst), 0);
    assert_eq!(probe.touches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn new_visitor_who_only_reads_gets_no_cookie_and_no_record() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let reply = call(&app, "/read", None).await;
    assert_eq!(reply.body, "None");
    assert!(reply.set_cookie().is_none());
    assert!(probe.store.is_empty());
}

#[tokio::test]
async fn tampered_or_foreign_cookies_mean_a_fresh_session() {
    let app = app(layer(Probe::default(), SessionConfig::new()));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    assert_eq!(call(&app, "/count", Some(&cookie)).await.body, "1");
    let mut bytes = cookie.clone().into_bytes();
    bytes[10] = if bytes[10] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(bytes).unwrap();
    for bad in [
        tampered.as_str(),
        "session=",
        "session=garbage",
        "session=%%%",
        "session=a.b.c",
        "other=1",
        &format!("session={}", "A".repeat(5000)),
    ] {
        let reply = call(&app, "/count", Some(bad)).await;
        assert_eq!(reply.status, StatusCode::OK, "{bad}");
        assert_eq!(reply.body, "0", "{bad}");
    }
    // The genuine cookie is unaffected.
    assert_eq!(call(&app, "/count", Some(&cookie)).await.body, "2");
}

#[tokio::test]
async fn key_rotation_accepts_old_cookies_and_resigns_them() {
    let probe = Probe::default();
    let old_app = app(SessionLayer::new(probe.clone(), key(1)));
    let old_cookie = call(&old_app, "/count", None).await.cookie().unwrap();

    let rotated = Keys::new(vec![key(2), key(1)]).unwrap();
    let new_app = app(SessionLayer::new(probe.clone(), rotated));
    let reply = call(&new_app, "/read", Some(&old_cookie)).await;
    assert_eq!(
        reply.body, "Some(1)",
        "old-key cookie must still be accepted"
    );
    let resigned = reply.cookie().expect("re-signed under the new key");
    assert_ne!(resigned, old_cookie);
    let value = resigned.split_once('=').unwrap().1;
    let new_only = SignedId::new(&key(2).into());
    assert!(
        new_only.verify(value).is_some(),
        "signed with the current key"
    );
    // Even a request that never touches the session finishes the rotation.
    let reply = call(&new_app, "/untouched", Some(&old_cookie)).await;
    assert_eq!(reply.cookie().as_deref(), Some(resigned.as_str()));
    // Once the old key is dropped, only the re-signed cookie works.
    let final_app = app(SessionLayer::new(probe, key(2)));
    assert_eq!(
        call(&final_app, "/read", Some(&resigned)).await.body,
        "Some(1)"
    );
    assert_eq!(
        call(&final_app, "/read", Some(&old_cookie)).await.body,
        "None"
    );
}

#[tokio::test]
async fn cycle_id_moves_data_and_kills_the_old_id() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    let old_id = id_of(&cookie);
    let reply = call(&app, "/cycle", Some(&cookie)).await;
    let new_cookie = reply.cookie().expect("a new cookie");
    assert_ne!(new_cookie, cookie);
    assert!(
        probe.store.load(&old_id).await.unwrap().is_none(),
        "old id must be gone"
    );
    assert_eq!(call(&app, "/read", Some(&new_cookie)).await.body, "Some(1)");
    assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "None");
}

#[tokio::test]
async fn emptied_or_destroyed_sessions_are_deleted_with_a_removal_cookie() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    for path in ["/clear", "/destroy"] {
        let cookie = call(&app, "/count", None).await.cookie().unwrap();
        let id = id_of(&cookie);
        let reply = call(&app, path, Some(&cookie)).await;
        let removal = reply.set_cookie().expect("removal cookie");
        assert!(removal.starts_with("session=;"), "{removal}");
        assert!(removal.contains("Max-Age=0"), "{removal}");
        assert!(
            probe.store.load(&id).await.unwrap().is_none(),
            "{path}: record must be deleted"
        );
        assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "None");
    }
}

#[tokio::test]
async fn concurrent_requests_writing_different_keys_both_persist() {
    let probe = Probe::default();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let routes = Router::new()
        .route(
            "/seed",
            get(|s: Session| async move {
                s.insert("seed", 1).await?;
                Ok::<_, session_core::Error>("")
            }),
        )
        .route(
            "/both/{key}",
            get({
                let barrier = barrier.clone();
                move |s: Session, axum::extract::Path(key): axum::extract::Path<String>| async move {
                    let _: Option<u64> = s.get("seed").await?;
                    // Both requests have loaded before either saves.
                    barrier.wait().await;
                    s.insert(&key, true).await?;
                    Ok::<_, session_core::Error>("")
                }
            }),
        )
        .layer(layer(probe.clone(), SessionConfig::new()));
    let cookie = call(&routes, "/seed", None).await.cookie().unwrap();
    let (a, b) = tokio::join!(
        call(&routes, "/both/a", Some(&cookie)),
        call(&routes, "/both/b", Some(&cookie))
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    let record = probe.store.load(&id_of(&cookie)).await.unwrap().unwrap();
    assert_eq!(record.data.get("a"), Some(&true.into()));
    assert_eq!(record.data.get("b"), Some(&true.into()));
    assert_eq!(record.data.get("seed"), Some(&1.into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serialized_requests_lose_no_increment() {
    let app = app(layer(
        Probe::default(),
        SessionConfig::new().with_serialized_requests(true),
    ));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let (app, cookie) = (app.clone(), cookie.clone());
        tasks.spawn(async move { call(&app, "/count", Some(&cookie)).await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "Some(201)");
}

#[tokio::test]
async fn logout_wins_over_a_request_in_flight() {
    let probe = Probe::default();
    let loaded = Arc::new(tokio::sync::Notify::new());
    let logged_out = Arc::new(tokio::sync::Notify::new());
    let routes = Router::new()
        .route(
            "/login",
            get(|s: Session| async move {
                s.insert("user", "alice").await?;
                Ok::<_, session_core::Error>("")
            }),
        )
        .route(
            "/slow",
            get({
                let (loaded, logged_out) = (loaded.clone(), logged_out.clone());
                move |s: Session| async move {
                    let _: Option<String> = s.get("user").await?;
                    loaded.notify_one();
                    logged_out.notified().await;
                    s.insert("cart", vec![1, 2, 3]).await?;
                    Ok::<_, session_core::Error>("")
                }
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                s.destroy();
                ""
            }),
        )
        .layer(layer(probe.clone(), SessionConfig::new()));
    let cookie = call(&routes, "/login", None).await.cookie().unwrap();
    let slow = tokio::spawn({
        let (routes, cookie) = (routes.clone(), cookie.clone());
        async move { call(&routes, "/slow", Some(&cookie)).await }
    });
    loaded.notified().await;
    call(&routes, "/logout", Some(&cookie)).await;
    logged_out.notify_one();
    let slow = slow.await.unwrap();
    assert_eq!(slow.status, StatusCode::OK);
    // The logout's own response removed the cookie; the late request sends
    // none (it cannot know whether the browser holds a newer cookie).
    assert_eq!(slow.set_cookie(), None);
    assert!(probe.store.is_empty(), "the session must not come back");
}

#[tokio::test]
async fn within_the_expiry_precision_nothing_is_touched_or_resent() {
    let clock = ManualClock::starting_now();
    let probe = Probe::with_clock(&clock);
    let config = SessionConfig::new()
        .with_idle_timeout(Some(StdDuration::from_secs(30 * 60)))
        .with_rolling(true)
        .with_clock(clock.clone());
    let app = app(layer(probe.clone(), config));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    // 1 % of 30 minutes is 18 s, under the 60-s default: reads and writes
    // within 18 s of the stored expiry leave it, and send no cookie.
    for _ in 0..3 {
        clock.advance(Duration::seconds(5));
        let read = call(&app, "/read", Some(&cookie)).await;
        assert_eq!(read.set_cookie(), None);
        let write = call(&app, "/count", Some(&cookie)).await;
        assert_eq!(write.set_cookie(), None, "a write that keeps id and expiry");
    }
    assert_eq!(probe.touches.load(Ordering::SeqCst), 0);
    assert_eq!(
        probe.saves.load(Ordering::SeqCst),
        3,
        "the data is still written"
    );
    // The session ends at the kept expiry: never later than exact, at
    // most the precision earlier (30 min after the first request, 15 s
    // before 30 min after the last).
    clock.advance(Duration::minutes(30) - Duration::seconds(15));
    assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "None");

    // Past the precision, a read moves the expiry and re-sends the cookie.
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    clock.advance(Duration::seconds(19));
    let read = call(&app, "/read", Some(&cookie)).await;
    assert!(read.set_cookie().is_some());
    assert_eq!(probe.touches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn exact_expiry_touches_on_every_use() {
    let clock = ManualClock::starting_now();
    let probe = Probe::with_clock(&clock);
    let config = SessionConfig::new()
        .with_rolling(true)
        .with_expiry_precision(StdDuration::ZERO)
        .with_clock(clock.clone());
    let app = app(layer(probe.clone(), config));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    for n in 1..=3 {
        clock.advance(Duration::milliseconds(1));
        assert!(call(&app, "/read", Some(&cookie))
            .await
            .set_cookie()
            .is_some());
        clock.advance(Duration::milliseconds(1));
        assert!(call(&app, "/count", Some(&cookie))
            .await
            .set_cookie()
            .is_some());
        assert_eq!(probe.touches.load(Ordering::SeqCst), n);
    }
    // Even on an unchanged clock.
    assert!(call(&app, "/read", Some(&cookie))
        .await
        .set_cookie()
        .is_some());
}

#[tokio::test]
async fn idle_timeout_is_enforced_by_the_server_and_extended_by_use() {
    let clock = ManualClock::starting_now();
    let probe = Probe::with_clock(&clock);
    let config = SessionConfig::new()
        .with_idle_timeout(Some(StdDuration::from_secs(30 * 60)))
        .with_clock(clock.clone());
    let app = app(layer(probe.clone(), config));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    for _ in 0..4 {
        clock.advance(Duration::minutes(29));
        assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "Some(1)");
    }
    assert!(
        probe.touches.load(Ordering::SeqCst) >= 4,
        "reads touch the expiry"
    );
    assert_eq!(
        probe.saves.load(Ordering::SeqCst),
        0,
        "touch does not rewrite data"
    );
    clock.advance(Duration::minutes(31));
    assert_eq!(call(&app, "/read", Some(&cookie)).await.body, "None");
}

#[tokio::test]
async fn absolute_timeout_ends_even_an_active_session() {
    let clock = ManualClock::starting_now();
    let config = SessionConfig::new()
        .with_idle_timeout(Some(StdDuration::from_secs(30 * 60)))
        .with_absolute_timeout(Some(StdDuration::from_secs(60 * 60)))
        .with_clock(clock.clone());
    let app = app(layer(Probe::with_clock(&clock), config));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    clock.advance(Duration::minutes(20));
    assert_eq!(call(&app, "/count", Some(&cookie)).await.body, "1");
    clock.advance(Duration::minutes(20));
    assert_eq!(call(&app, "/count", Some(&cookie)).await.body, "2");
    clock.advance(Duration::minutes(21));
    assert_eq!(
        call(&app, "/read", Some(&cookie)).await.body,
        "None",
        "61 minutes after creation the session is over"
    );
}

#[tokio::test]
async fn rolling_expiry_touches_and_resends_the_cookie() {
    let clock = ManualClock::starting_now();
    let probe = Probe::with_clock(&clock);
    let app = app(layer(
        probe.clone(),
        SessionConfig::new()
            .with_rolling(true)
            .with_clock(clock.clone()),
    ));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    // Past the precision (60 s by default): the expiry moves.
    clock.advance(Duration::seconds(61));
    let reply = call(&app, "/read", Some(&cookie)).await;
    assert_eq!(reply.cookie().as_deref(), Some(cookie.as_str()));
    assert!(reply.set_cookie().unwrap().contains("Max-Age=1209600"));
    assert_eq!(probe.touches.load(Ordering::SeqCst), 1);
    assert_eq!(probe.saves.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn per_session_expiry_sets_max_age_and_store_expiry() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let reply = call(&app, "/remember", None).await;
    assert!(reply.set_cookie().unwrap().contains("Max-Age=2592000"));
    let record = probe
        .store
        .load(&id_of(&reply.cookie().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let left = record.expires_at - OffsetDateTime::now_utc();
    assert!(
        left > Duration::days(29),
        "store expiry follows the override: {left}"
    );
}

#[tokio::test]
async fn store_failure_is_a_503_while_untouched_routes_still_work() {
    let probe = Probe::default();
    let app = app(layer(probe.clone(), SessionConfig::new()));
    let cookie = call(&app, "/count", None).await.cookie().unwrap();
    probe.down.store(true, Ordering::SeqCst);
    let reply = call(&app, "/count", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.set_cookie().is_none());
    let reply = call(&app, "/count", None).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a create that fails is an error, not a lost write"
    );
    assert_eq!(
        call(&app, "/untouched", Some(&cookie)).await.status,
        StatusCode::OK
    );
    probe.down.store(false, Ordering::SeqCst);
    assert_eq!(
        call(&app, "/count", Some(&cookie)).await.body,
        "1",
        "nothing was lost or half-written"
    );
}

#[tokio::test]
async fn missing_layer_is_a_clear_500() {
    let app = Router::new().route(
        "/",
        get(|s: Session| async move { format!("{:?}", s.id()) }),
    );
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn host_prefix_and_partitioned_are_sent() {
    let app = app(layer(
        Probe::default(),
        SessionConfig::new()
            .with_host_prefix(true)
            .with_partitioned(true)
            .with_same_site(session_core::SameSite::None),
    ));
    let reply = call(&app, "/count", None).await;
    let cookie = reply.set_cookie().unwrap();
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    for attribute in ["Secure", "Partitioned", "SameSite=None", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let pair = reply.cookie().unwrap();
    assert_eq!(call(&app, "/count", Some(&pair)).await.body, "1");
}
