//! Regression tests for the security review's findings on the layer
//! (destroy, Debug, persisted expiry, login/logout races, caching headers),
//! driven through axum with the real memory store and the cookie codecs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use session_core::store::{
    async_trait, Capabilities, ChangeSet, Created, ExpiredCleanup, Record, Saved, SessionStore,
    StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{
    EncryptedCookie, Expiry, Id, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

/// The memory store, counting deletes.
#[derive(Debug, Clone, Default)]
struct Counting {
    store: MemoryStore,
    deletes: Arc<AtomicUsize>,
    loads: Arc<AtomicUsize>,
}

impl SessionStore for Counting {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.store.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.store.create(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.store.save(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.store.touch(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        self.store.delete(id).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none().with_users(self)
    }
}

#[async_trait]
impl UserIndex for Counting {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.store.list_user(user).await
    }
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        self.store.delete_user(user, keep).await
    }
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        self.store.end_user_session(user, id).await
    }
}

/// The three ways to keep a session the layer offers for these checks.
fn layers() -> Vec<(&'static str, SessionLayer)> {
    layers_with(SessionConfig::new().with_secure(false))
}

fn layers_with(config: SessionConfig) -> Vec<(&'static str, SessionLayer)> {
    let keys = Keys::from(key(1));
    vec![
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(1),
            )
            .with_config(config.clone()),
        ),
        (
            "signed cookie",
            SessionLayer::client_side(SignedCookie::new(&keys)).with_config(config.clone()),
        ),
        (
            "encrypted cookie",
            SessionLayer::client_side(EncryptedCookie::new(&keys)).with_config(config),
        ),
    ]
}

fn routes(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    handlers().layer(layer)
}

fn handlers() -> Router {
    Router::new()
        .route(
            "/login",
            get(|s: Session| async move {
                s.insert("user", "alice").await?;
                s.cycle_id().await?;
                Ok::<_, session_core::Error>("in")
            }),
        )
        .route(
            "/whoami",
            get(|s: Session| async move {
                let user: Option<String> = s.get("user").await?;
                Ok::<_, session_core::Error>(user.unwrap_or_default())
            }),
        )
        .route(
            "/logout-flash",
            get(|s: Session| async move {
                s.destroy();
                s.insert("flash", "bye").await?;
                Ok::<_, session_core::Error>("out")
            }),
        )
        .route(
            "/logout-read",
            get(|s: Session| async move {
                s.destroy();
                let user: Option<String> = s.get("user").await?;
                Ok::<_, session_core::Error>(user.unwrap_or_default())
            }),
        )
        .route(
            "/flash",
            get(|s: Session| async move {
                let flash: Option<String> = s.get("flash").await?;
                Ok::<_, session_core::Error>(flash.unwrap_or_default())
            }),
        )
        .route(
            "/remember",
            get(|s: Session| async move {
                let month = StdDuration::from_secs(30 * 86_400);
                s.set_expiry(Some(Expiry::OnInactivity(month))).await?;
                s.insert("user", "alice").await?;
                Ok::<_, session_core::Error>("ok")
            }),
        )
        .route(
            "/browser-session",
            get(|s: Session| async move {
                s.set_expiry(Some(Expiry::OnSessionEnd)).await?;
                Ok::<_, session_core::Error>("ok")
            }),
        )
        .route(
            "/count",
            get(|s: Session| async move {
                let n: u64 = s.get("n").await?.unwrap_or(0);
                s.insert("n", n + 1).await?;
                Ok::<_, session_core::Error>(n.to_string())
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
            "/debug",
            get(|s: Session| async move {
                let before = format!("{s:?}");
                s.insert("n", 1).await?;
                let after = format!("{s:?}");
                s.destroy();
                let destroyed = format!("{s:?}");
                Ok::<_, session_core::Error>(format!("{before}\n{after}\n{destroyed}"))
            }),
        )
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn set_cookie(&self) -> Option<&str> {
        self.headers.get("set-cookie").map(|v| v.to_str().unwrap())
    }
    fn cookie(&self) -> Option<String> {
        self.set_cookie()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }
}

async fn call(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = tokio::time::timeout(
        StdDuration::from_secs(10),
        app.clone().oneshot(request.body(Body::empty()).unwrap()),
    )
    .await
    .expect("the request must not hang")
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

#[tokio::test]
async fn destroy_then_write_starts_a_new_session_without_the_old_data() {
    for (name, layer) in layers() {
        let app = routes(layer);
        let login = call(&app, "/login", None).await.cookie().unwrap();
        assert_eq!(call(&app, "/whoami", Some(&login)).await.body, "alice");
        let out = call(&app, "/logout-flash", Some(&login)).await;
        assert_eq!(out.status, StatusCode::OK, "{name}");
        let flash_cookie = out.cookie().expect("the flash lives in a new session");
        assert_ne!(flash_cookie, login, "{name}");
        assert_eq!(
            call(&app, "/whoami", Some(&flash_cookie)).await.body,
            "",
            "{name}: logged out"
        );
        assert_eq!(
            call(&app, "/flash", Some(&flash_cookie)).await.body,
            "bye",
            "{name}"
        );
        if name == "memory" {
            assert_eq!(
                call(&app, "/whoami", Some(&login)).await.body,
                "",
                "{name}: old id dead"
            );
        }
    }
}

#[tokio::test]
async fn destroy_then_read_sees_nothing_and_removes_the_session() {
    for (name, layer) in layers() {
        let app = routes(layer);
        let login = call(&app, "/login", None).await.cookie().unwrap();
        let out = call(&app, "/logout-read", Some(&login)).await;
        assert_eq!(out.body, "", "{name}: the destroyed session reads empty");
        let removal = out.set_cookie().expect("a removal cookie");
        assert!(removal.contains("Max-Age=0"), "{name}: {removal}");
        if name == "memory" {
            assert_eq!(call(&app, "/whoami", Some(&login)).await.body, "", "{name}");
        }
    }
}

#[tokio::test]
async fn destroy_after_a_read_deletes_the_stored_session() {
    let store = Counting::default();
    let app = routes(SessionLayer::new(store.clone(), key(1)));
    let login = call(&app, "/login", None).await.cookie().unwrap();
    let before = store.deletes.load(Ordering::SeqCst);
    call(&app, "/logout-read", Some(&login)).await;
    assert_eq!(store.deletes.load(Ordering::SeqCst), before + 1);
    assert!(store.store.is_empty());
}

#[tokio::test]
async fn debug_of_a_session_never_hangs() {
    for (name, layer) in layers() {
        let app = routes(layer);
        let reply = call(&app, "/debug", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert!(reply.body.contains("Session"), "{name}: {}", reply.body);
        let login = call(&app, "/login", None).await.cookie().unwrap();
        let reply = call(&app, "/debug", Some(&login)).await;
        assert!(
            reply.body.contains("life: Destroyed"),
            "{name}: {}",
            reply.body
        );
    }
}

fn max_age(reply: &Reply) -> Option<String> {
    reply.set_cookie().and_then(|c| {
        c.split("; ")
            .find_map(|part| part.strip_prefix("Max-Age="))
            .map(str::to_owned)
    })
}

#[tokio::test]
async fn a_per_session_expiry_holds_on_later_writes_and_across_cycle_id() {
    // Exact expiry, so that every write re-sends the cookie and its
    // Max-Age shows the policy.
    let config = SessionConfig::new()
        .with_secure(false)
        .with_expiry_precision(std::time::Duration::ZERO);
    for (name, layer) in layers_with(config) {
        let app = routes(layer);
        let first = call(&app, "/remember", None).await;
        assert_eq!(max_age(&first).as_deref(), Some("2592000"), "{name}");
        let mut cookie = first.cookie().unwrap();
        for path in ["/count", "/count", "/cycle", "/count"] {
            let reply = call(&app, path, Some(&cookie)).await;
            assert_eq!(
                max_age(&reply).as_deref(),
                Some("2592000"),
                "{name}: {path} forgot the 30-day policy"
            );
            cookie = reply.cookie().unwrap();
        }
        assert_eq!(
            call(&app, "/whoami", Some(&cookie)).await.body,
            "alice",
            "{name}"
        );
        // Changing it again sticks too: a browser-session cookie has no Max-Age.
        let reply = call(&app, "/browser-session", Some(&cookie)).await;
        assert!(reply.set_cookie().is_some(), "{name}");
        assert_eq!(max_age(&reply), None, "{name}");
        let cookie = reply.cookie().unwrap();
        let reply = call(&app, "/count", Some(&cookie)).await;
        assert_eq!(
            max_age(&reply),
            None,
            "{name}: the browser-session policy was forgotten"
        );
    }
}

#[tokio::test]
async fn set_expiry_alone_on_a_returning_visitor_is_kept() {
    for (name, layer) in layers() {
        let app = routes(layer);
        let cookie = call(&app, "/count", None).await.cookie().unwrap();
        let reply = call(&app, "/browser-session", Some(&cookie)).await;
        let set = reply
            .set_cookie()
            .unwrap_or_else(|| panic!("{name}: no cookie"));
        assert!(!set.contains("Max-Age"), "{name}: {set}");
        let cookie = reply.cookie().unwrap();
        assert_eq!(
            call(&app, "/count", Some(&cookie)).await.body,
            "1",
            "{name}"
        );
    }
}

#[tokio::test]
async fn cycle_after_logout_does_not_bring_the_session_back() {
    // A request loaded the session, a logout ran, then the request cycles.
    let store = MemoryStore::new();
    let loaded = Arc::new(tokio::sync::Notify::new());
    let logged_out = Arc::new(tokio::sync::Notify::new());
    let app = handlers()
        .route(
            "/slow-cycle",
            get({
                let (loaded, logged_out) = (loaded.clone(), logged_out.clone());
                move |s: Session| async move {
                    let _: Option<String> = s.get("user").await?;
                    loaded.notify_one();
                    logged_out.notified().await;
                    s.cycle_id().await?;
                    Ok::<_, session_core::Error>("cycled")
                }
            }),
        )
        .layer(SessionLayer::new(store.clone(), key(1)));
    let login = call(&app, "/login", None).await.cookie().unwrap();
    let late = tokio::spawn({
        let (app, login) = (app.clone(), login.clone());
        async move { call(&app, "/slow-cycle", Some(&login)).await }
    });
    tokio::time::timeout(StdDuration::from_secs(10), loaded.notified())
        .await
        .expect("the slow request loaded the session");
    call(&app, "/logout-read", Some(&login)).await;
    logged_out.notify_one();
    let late = late.await.unwrap();
    assert_eq!(late.status, StatusCode::OK);
    assert_eq!(
        late.set_cookie(),
        None,
        "no cookie for a session that was ended"
    );
    assert!(
        store.is_empty(),
        "the logged-out session came back under a new id"
    );
}

#[tokio::test]
async fn a_cookie_for_no_live_session_is_removed_without_a_store_delete() {
    let store = Counting::default();
    let app = routes(SessionLayer::new(store.clone(), key(1)));
    let login = call(&app, "/login", None).await.cookie().unwrap();
    // End it behind the layer's back (as an expiry or an admin would).
    let value = login.split_once('=').unwrap().1;
    let id = session_core::__private::SignedId::new(&key(1).into())
        .verify(value)
        .unwrap()
        .id;
    store.store.delete(&id.at_rest()).await.unwrap();
    let deletes = store.deletes.load(Ordering::SeqCst);
    for _ in 0..3 {
        let reply = call(&app, "/whoami", Some(&login)).await;
        assert_eq!(reply.body, "");
        assert!(reply.set_cookie().unwrap().contains("Max-Age=0"));
    }
    assert_eq!(
        store.deletes.load(Ordering::SeqCst),
        deletes,
        "no DELETE per read"
    );
}

#[tokio::test]
async fn every_response_that_sets_the_cookie_varies_on_it_and_is_private() {
    // Key rotation: an untouched request re-signs an old cookie.
    let store = MemoryStore::new();
    let old = routes(SessionLayer::new(store.clone(), key(1)));
    let cookie = call(&old, "/count", None).await.cookie().unwrap();
    let rotated = Router::new()
        .route("/untouched", get(|| async { "hi" }))
        .route(
            "/cached",
            get(|s: Session| async move {
                s.insert("n", 5).await?;
                Ok::<_, session_core::Error>(([("cache-control", "public, max-age=600")], "x"))
            }),
        )
        .layer(SessionLayer::new(
            store.clone(),
            Keys::new(vec![key(2), key(1)]).unwrap(),
        ));
    let reply = call(&rotated, "/untouched", Some(&cookie)).await;
    assert!(reply.set_cookie().is_some(), "re-signed under the new key");
    assert_eq!(reply.headers["vary"], "Cookie");
    assert_eq!(reply.headers["cache-control"], "no-store");

    let reply = call(&rotated, "/cached", Some(&cookie)).await;
    assert!(reply.set_cookie().is_some());
    assert_eq!(reply.headers["cache-control"], "private, max-age=600");
    assert_eq!(reply.headers.get_all("vary").iter().count(), 1);
}

#[tokio::test]
async fn rotation_keeps_the_sessions_own_expiry_and_removes_dead_sessions() {
    let store = MemoryStore::new();
    let old = routes(SessionLayer::new(store.clone(), key(1)));
    let cookie = call(&old, "/remember", None).await.cookie().unwrap();
    let rotated = Router::new()
        .route("/untouched", get(|| async { "hi" }))
        .layer(SessionLayer::new(
            store.clone(),
            Keys::new(vec![key(2), key(1)]).unwrap(),
        ));
    let reply = call(&rotated, "/untouched", Some(&cookie)).await;
    assert_eq!(max_age(&reply).as_deref(), Some("2592000"));
    // A dead session is not re-signed: its cookie is removed.
    store.delete_expired().await.unwrap();
    let gone = call(&old, "/logout-read", Some(&cookie)).await;
    assert!(gone.set_cookie().unwrap().contains("Max-Age=0"));
    let reply = call(&rotated, "/untouched", Some(&cookie)).await;
    assert!(reply.set_cookie().unwrap().contains("Max-Age=0"));
}
