//! Accounts through the layer: what binding sessions to users costs in
//! store calls, revocation of cookie sessions with a `SessionCheck`, races
//! of "log out everywhere" with a saving request, and misuse.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use session_core::store::{
    async_trait, Capabilities, ChangeSet, Created, CycleStore, Cycled, Record, Saved, SessionStore,
    StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{
    EncryptedCookie, Error, Id, Key, Keys, LoadedSession, Session, SessionConfig, SessionLayer,
    SignedCookie, StarletteCookie,
};
use session_store_memory::MemoryStore;
use tokio::sync::Notify;
use tower::ServiceExt;

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

fn config() -> SessionConfig {
    SessionConfig::new().with_secure(false)
}

/// The memory store, counting every call.
#[derive(Debug, Clone, Default)]
struct Counting {
    store: MemoryStore,
    calls: Arc<AtomicUsize>,
}

impl Counting {
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl SessionStore for Counting {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.count();
        self.store.load(id).await
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.count();
        self.store.create(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.count();
        self.store.save(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.count();
        self.store.touch(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.count();
        self.store.delete(id).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none().with_cycle(self).with_users(self)
    }
}

#[async_trait]
impl CycleStore for Counting {
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        self.count();
        self.store.cycle(old, record).await
    }
}

#[async_trait]
impl UserIndex for Counting {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        self.count();
        self.store.list_user(user).await
    }
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        self.count();
        self.store.delete_user(user, keep).await
    }
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        self.count();
        self.store.end_user_session(user, id).await
    }
}

/// Per-user version numbers, as an application keeps them (in its
/// database; here in memory) to revoke cookie sessions.
type Versions = Arc<Mutex<HashMap<String, u64>>>;

fn version_of(versions: &Versions, user: &str) -> u64 {
    versions.lock().unwrap().get(user).copied().unwrap_or(0)
}

fn version_check(
    versions: Versions,
) -> impl Fn(LoadedSession) -> std::future::Ready<Result<bool, session_core::store::BoxError>> {
    move |session: LoadedSession| {
        let Some(user) = session.user else {
            return std::future::ready(Ok(true));
        };
        let stored = session.data.get("user_version").and_then(Value::as_u64);
        std::future::ready(Ok(stored == Some(version_of(&versions, &user))))
    }
}

fn app(layer: SessionLayer<impl session_core::store::SessionStore>, versions: Versions) -> Router {
    let login_versions = versions.clone();
    let others_versions = versions.clone();
    Router::new()
        .route(
            "/login/{user}",
            get(move |session: Session, Path(user): Path<String>| {
                let versions = login_versions.clone();
                async move {
                    session
                        .insert("user_version", version_of(&versions, &user))
                        .await?;
                    session.insert("email", "aaa@aaa.com").await?;
                    session.set_user(user).await?;
                    session.cycle_id().await?;
                    Ok::<_, Error>("in".to_owned())
                }
            }),
        )
        .route(
            "/whoami",
            get(|session: Session| async move {
                Ok::<_, Error>(session.user().await?.unwrap_or_default())
            }),
        )
        .route(
            "/count",
            get(|session: Session| async move {
                let n: u64 = session.get("n").await?.unwrap_or(0);
                session.insert("n", n + 1).await?;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/sessions",
            get(|session: Session| async move {
                Ok::<_, Error>(session.user_sessions().await?.len().to_string())
            }),
        )
        .route(
            "/others",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_other_sessions().await?.to_string())
            }),
        )
        .route(
            "/everywhere",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_all_sessions().await?.to_string())
            }),
        )
        // Revocation of cookie sessions: bump the user's version.
        .route(
            "/revoke-others",
            get(move |session: Session| {
                let versions = others_versions.clone();
                async move {
                    let user = session.user().await?.unwrap_or_default();
                    let next = {
                        let mut versions = versions.lock().unwrap();
                        let entry = versions.entry(user).or_default();
                        *entry += 1;
                        *entry
                    };
                    session.insert("user_version", next).await?;
                    Ok::<_, Error>(String::new())
                }
            }),
        )
        .route(
            "/clear",
            get(|session: Session| async move {
                session.clear().await?;
                Ok::<_, Error>(String::new())
            }),
        )
        .route(
            "/bad-user/{len}",
            get(|session: Session, Path(len): Path<usize>| async move {
                session.set_user("x".repeat(len)).await?;
                Ok::<_, Error>(String::new())
            }),
        )
        .layer(layer)
}

struct Browser {
    cookie: Option<String>,
}

impl Browser {
    fn new() -> Self {
        Self { cookie: None }
    }

    async fn get(&mut self, app: &Router, path: &str) -> (StatusCode, String) {
        let mut req = Request::builder().uri(path);
        if let Some(cookie) = &self.cookie {
            req = req.header("cookie", cookie);
        }
        let response = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            let text = set.to_str().unwrap();
            let pair = text.split(';').next().unwrap().to_owned();
            self.cookie = (!text.contains("Max-Age=0")).then_some(pair);
        }
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn text(&mut self, app: &Router, path: &str) -> String {
        let (status, body) = self.get(app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

#[tokio::test]
async fn binding_costs_no_store_call_on_requests_that_do_not_log_in_or_out() {
    let store = Counting::default();
    let app = app(
        SessionLayer::new(store.clone(), key(1)).with_config(config()),
        Versions::default(),
    );
    let mut browser = Browser::new();
    let calls = |store: &Counting| store.calls.load(Ordering::SeqCst);
    let before = calls(&store);
    browser.text(&app, "/login/hong").await;
    assert_eq!(
        calls(&store) - before,
        1,
        "a first-visit login is one create"
    );
    for (path, expected) in [
        ("/count", 2),      // load + save
        ("/whoami", 1),     // load
        ("/sessions", 2),   // load + list_user
        ("/others", 2),     // load + delete_user
        ("/login/hong", 2), // load + cycle
    ] {
        let before = calls(&store);
        browser.text(&app, path).await;
        assert_eq!(calls(&store) - before, expected, "{path}");
    }
}

fn cookie_layers() -> Vec<(&'static str, SessionLayer)> {
    let keys = Keys::from(key(1));
    vec![
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&keys)),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&keys)),
        ),
        (
            "starlette",
            SessionLayer::client_side(StarletteCookie::new("not so secret")),
        ),
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(1),
            ),
        ),
    ]
}

#[tokio::test]
async fn a_session_check_revokes_sessions_in_every_storage() {
    for (name, layer) in cookie_layers() {
        let versions = Versions::default();
        let layer = layer
            .with_config(config())
            .with_check(version_check(versions.clone()));
        let app = app(layer, versions.clone());
        let (mut a, mut b, mut c) = (Browser::new(), Browser::new(), Browser::new());
        a.text(&app, "/login/hong").await;
        b.text(&app, "/login/hong").await;
        c.text(&app, "/login/kim").await;
        assert_eq!(b.text(&app, "/whoami").await, "hong", "{name}");

        // "Log out my other sessions": bump the version, keep it in A.
        a.text(&app, "/revoke-others").await;
        assert_eq!(a.text(&app, "/whoami").await, "hong", "{name}: A survives");
        assert_eq!(b.text(&app, "/whoami").await, "", "{name}: B is revoked");
        assert!(b.cookie.is_none(), "{name}: B's cookie is removed");
        assert_eq!(
            c.text(&app, "/whoami").await,
            "kim",
            "{name}: kim untouched"
        );

        // "Log out everywhere": bump again.
        *versions.lock().unwrap().get_mut("hong").unwrap() += 1;
        assert_eq!(a.text(&app, "/whoami").await, "", "{name}: A is revoked");
        assert_eq!(c.text(&app, "/whoami").await, "kim", "{name}");
    }
}

#[tokio::test]
async fn a_revoked_server_session_is_deleted_from_the_store() {
    let store = MemoryStore::new();
    let versions = Versions::default();
    let layer = SessionLayer::new(store.clone(), key(1))
        .with_config(config())
        .with_check(version_check(versions.clone()));
    let app = app(layer, versions.clone());
    let mut a = Browser::new();
    a.text(&app, "/login/hong").await;
    assert_eq!(store.len(), 1);
    versions.lock().unwrap().insert("hong".into(), 1);
    assert_eq!(a.text(&app, "/whoami").await, "");
    assert!(store.list_user("hong").await.unwrap().is_empty());
    assert!(store.is_empty(), "the revoked session is still stored");
}

#[tokio::test]
async fn cookie_sessions_cannot_be_listed_and_say_so() {
    let layer =
        SessionLayer::client_side(SignedCookie::new(&Keys::from(key(1)))).with_config(config());
    let app = app(layer, Versions::default());
    let mut a = Browser::new();
    a.text(&app, "/login/hong").await;
    let (status, body) = a.get(&app, "/sessions").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(body.contains("list_user"), "{body}");
    assert_eq!(a.text(&app, "/whoami").await, "hong", "the session goes on");
}

#[tokio::test]
async fn user_names_must_fit() {
    let app = app(
        SessionLayer::new(MemoryStore::new(), key(1)).with_config(config()),
        Versions::default(),
    );
    let mut a = Browser::new();
    for len in [0, 256, 10_000] {
        let (status, body) = a.get(&app, &format!("/bad-user/{len}")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{len}");
        assert!(body.contains("1 to 255 bytes"), "{body}");
    }
    let (status, _) = a.get(&app, "/bad-user/255").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.text(&app, "/whoami").await.len(), 255);
}

/// `clear()` at logout ends a bound session too: the binding goes with
/// the keys, the session is deleted, the user lists nothing.
#[tokio::test]
async fn clear_unbinds_and_deletes_a_bound_session() {
    let store = MemoryStore::new();
    let app = app(
        SessionLayer::new(store.clone(), key(1)).with_config(config()),
        Versions::default(),
    );
    let mut a = Browser::new();
    a.text(&app, "/login/hong").await;
    a.text(&app, "/clear").await;
    assert!(a.cookie.is_none(), "the cookie is removed");
    assert!(store.is_empty(), "the cleared session is still stored");
    assert!(store.list_user("hong").await.unwrap().is_empty());
}

#[test]
#[should_panic(expected = "EncryptedCookie")]
fn data_keys_on_a_cookie_layer_fail_loudly() {
    let _ =
        SessionLayer::client_side(SignedCookie::new(&Keys::from(key(1)))).with_data_keys(key(2));
}

/// "Log out everywhere" while another request of the same user has
/// loaded its session and is about to save: the save finds the session
/// gone, sends no cookie, and nothing of the user is left in the store.
#[tokio::test]
async fn log_out_everywhere_wins_over_a_racing_save() {
    let store = MemoryStore::new();
    let loaded = Arc::new(Notify::new());
    let resume = Arc::new(Notify::new());
    let layer = SessionLayer::new(store.clone(), key(1)).with_config(config());
    let slow = {
        let (loaded, resume) = (loaded.clone(), resume.clone());
        get(move |session: Session| {
            let (loaded, resume) = (loaded.clone(), resume.clone());
            async move {
                let n: u64 = session.get("n").await?.unwrap_or(0);
                loaded.notify_one();
                resume.notified().await;
                session.insert("n", n + 1).await?;
                Ok::<_, Error>(String::new())
            }
        })
    };
    let app = app(layer.clone(), Versions::default())
        .merge(Router::new().route("/slow", slow).layer(layer));
    let (mut a, mut b) = (Browser::new(), Browser::new());
    a.text(&app, "/login/hong").await;
    b.text(&app, "/login/hong").await;
    let late = tokio::spawn({
        let (app, mut b) = (
            app.clone(),
            Browser {
                cookie: b.cookie.clone(),
            },
        );
        async move {
            let reply = b.get(&app, "/slow").await;
            (reply, b.cookie)
        }
    });
    tokio::time::timeout(StdDuration::from_secs(10), loaded.notified())
        .await
        .expect("the slow request loaded its session");
    assert_eq!(a.text(&app, "/everywhere").await, "2");
    resume.notify_one();
    let ((status, _), cookie) = late.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(cookie.is_some(), "the browser was not told anything new");
    assert!(store.list_user("hong").await.unwrap().is_empty());
    assert!(store.is_empty(), "the racing save brought a session back");
    assert_eq!(b.text(&app, "/whoami").await, "");
}
