//! Data encrypted at rest ([`SessionLayer::with_data_keys`]), through the
//! real layer and the memory store: what someone who can write to the
//! store can and cannot make the application believe, and what the
//! browser gets when a record does not verify (a fresh session, the
//! cookie removed, a warning in the log; never a `500`).

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_core::__private::SignedId;
use session_core::store::{ChangeSet, Id, SessionStore, UserIndex};
use session_core::time::Duration;
use session_core::{Error, Expiry, Key, Keys, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

fn signing_key() -> Key {
    key(7)
}

fn keys(bytes: &[u8]) -> Keys {
    Keys::new(bytes.iter().map(|b| key(*b)).collect()).unwrap()
}

/// A layer over `store` sealing with the data keys made of `bytes`.
fn sealing(store: &MemoryStore, bytes: &[u8]) -> Router {
    app(SessionLayer::new(store.clone(), signing_key()).with_data_keys(keys(bytes)))
}

fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    let layer = layer.with_config(SessionConfig::new().with_secure(false));
    Router::new()
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.insert("profile", json!({"email": format!("{user}@example.com")}))
                    .await?;
                s.set_user(user).await?;
                s.cycle_id().await?;
                Ok::<_, Error>("logged in".to_owned())
            }),
        )
        .route(
            "/get",
            get(|s: Session| async move {
                Ok::<_, Error>(
                    json!({
                        "user": s.user().await?,
                        "profile": s.get_value("profile").await?,
                        "role": s.get_value("role").await?,
                        "keys": s.keys().await?,
                        "expiry": s.expiry().await?.map(|e| e.to_stored()),
                        "id": s.id().is_some(),
                    })
                    .to_string(),
                )
            }),
        )
        .route(
            "/count",
            get(|s: Session| async move {
                let n: u64 = s.get("n").await?.unwrap_or(0);
                s.insert("n", n + 1).await?;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/remember",
            get(|s: Session| async move {
                let month = Expiry::OnInactivity(StdDuration::from_secs(30 * 86_400));
                s.set_expiry(Some(month)).await?;
                Ok::<_, Error>("remembered".to_owned())
            }),
        )
        .route(
            "/sessions",
            get(|s: Session| async move {
                Ok::<_, Error>(s.user_sessions().await?.len().to_string())
            }),
        )
        .route(
            "/insert/{key}",
            get(|s: Session, Path(key): Path<String>| async move {
                match s.insert(&key, "alice").await {
                    Ok(()) => (StatusCode::OK, "accepted".to_owned()),
                    Err(err) => (err.status(), err.to_string()),
                }
            }),
        )
        .layer(layer)
}

struct Reply {
    status: StatusCode,
    set_cookie: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// Whether the response tells the browser to drop its cookie.
    fn removes_cookie(&self) -> bool {
        self.set_cookie
            .as_deref()
            .is_some_and(|c| c.contains("Max-Age=0"))
    }
}

/// One browser: a jar of one cookie.
#[derive(Default)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    async fn get(&mut self, app: &Router, path: &str) -> Reply {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        if let Some(set) = &set_cookie {
            let pair = set.split(';').next().unwrap().to_owned();
            self.cookie = (!set.contains("Max-Age=0")).then_some(pair);
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            set_cookie,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// The id the store keeps this browser's session under.
    fn stored(&self) -> Id {
        let cookie = self.cookie.as_deref().expect("a session cookie");
        let value = cookie.split_once('=').unwrap().1;
        SignedId::new(&signing_key().into())
            .verify(value)
            .expect("the cookie verifies")
            .id
            .at_rest()
    }
}

/// Everything logged at `WARN` and above while the guard lives (on this
/// thread: the tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The warnings logged so far that name the session stored as `id`.
    fn warnings_about(&self, id: &Id) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.contains("WARN") && line.contains(&id.short_hash()))
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

/// What a browser whose stored session was refused sees: an empty
/// session (no user, no data, no id), a `200`, its cookie removed, and
/// one warning naming the session's stored short hash.
async fn assert_refused(app: &Router, browser: &mut Browser, logs: &Logs, what: &str) {
    let stored = browser.stored();
    let before = logs.warnings_about(&stored).len();
    let reply = browser.get(app, "/get").await;
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"user": null, "profile": null, "role": null, "keys": [], "expiry": null, "id": false}),
        "{what}: the application sees the record"
    );
    assert!(reply.removes_cookie(), "{what}: {:?}", reply.set_cookie);
    assert!(browser.cookie.is_none());
    let warnings = logs.warnings_about(&stored);
    assert_eq!(
        warnings.len(),
        before + 1,
        "{what}: one warning naming #{}: {}",
        stored.short_hash(),
        logs.text()
    );
}

async fn save(store: &MemoryStore, id: &Id, change: impl FnOnce(&mut ChangeSet)) {
    let record = store.load(id).await.unwrap().expect("a live record");
    let mut changes = ChangeSet::new(record.expires_at);
    change(&mut changes);
    store.save(id, &changes).await.unwrap();
}

#[tokio::test]
async fn a_plain_value_written_into_the_store_is_refused() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let mut browser = Browser::default();
    browser.get(&app, "/login/hong").await;
    save(&store, &browser.stored(), |c| {
        c.set.insert("role".into(), json!("superadmin"));
    })
    .await;
    assert_refused(&app, &mut browser, &logs, "a plain value").await;
}

#[tokio::test]
async fn a_refused_session_gives_way_to_a_fresh_one() {
    let (_logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let mut browser = Browser::default();
    browser.get(&app, "/login/hong").await;
    let old = browser.stored();
    save(&store, &old, |c| {
        c.set.insert("n".into(), json!(41));
    })
    .await;
    // A handler that writes on that request starts a new session: the
    // count starts over, under a fresh id.
    let reply = browser.get(&app, "/count").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "0"));
    assert_ne!(browser.stored(), old, "a fresh id");
    assert_eq!(browser.get(&app, "/count").await.body, "1");
    let fresh = store.load(&browser.stored()).await.unwrap().unwrap();
    assert_eq!(fresh.user, None, "nothing of the refused session is kept");
}

#[tokio::test]
async fn a_rebound_user_is_refused_and_not_listed() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let (mut alice, mut mallory) = (Browser::default(), Browser::default());
    alice.get(&app, "/login/alice").await;
    mallory.get(&app, "/login/mallory").await;
    save(&store, &mallory.stored(), |c| {
        c.user = Some(Some("alice".into()));
    })
    .await;
    assert_eq!(
        store.list_user("alice").await.unwrap().len(),
        2,
        "the store itself lists the forged binding"
    );
    let listed = alice.get(&app, "/sessions").await;
    assert_eq!(listed.body, "1", "alice's devices list the forged session");
    assert_refused(&app, &mut mallory, &logs, "a rebound user").await;
}

#[tokio::test]
async fn an_unbound_user_is_refused() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let mut browser = Browser::default();
    browser.get(&app, "/login/alice").await;
    save(&store, &browser.stored(), |c| c.user = Some(None)).await;
    assert_refused(&app, &mut browser, &logs, "an unbound user").await;
}

#[tokio::test]
async fn a_changed_creation_time_is_refused() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let mut browser = Browser::default();
    browser.get(&app, "/login/hong").await;
    let id = browser.stored();
    // Younger than it is: it would outlive an absolute timeout.
    let mut record = store.load(&id).await.unwrap().unwrap();
    record.created_at += Duration::days(1);
    store.delete(&id).await.unwrap();
    store.create(&record).await.unwrap();
    assert_refused(&app, &mut browser, &logs, "a changed creation time").await;
}

#[tokio::test]
async fn a_changed_or_removed_expiry_policy_is_refused() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let year = Expiry::OnInactivity(StdDuration::from_secs(365 * 86_400));
    for (forged, what) in [
        (Some(Some(year)), "a longer policy"),
        (Some(None), "a removed policy"),
    ] {
        let mut browser = Browser::default();
        browser.get(&app, "/login/hong").await;
        browser.get(&app, "/remember").await;
        let read = browser.get(&app, "/get").await.json();
        assert_eq!(read["expiry"], "idle:2592000000", "the policy reads back");
        save(&store, &browser.stored(), |c| c.expiry = forged).await;
        assert_refused(&app, &mut browser, &logs, what).await;
    }
    // Without a policy of its own, a session cannot be given one either.
    let mut browser = Browser::default();
    browser.get(&app, "/login/hong").await;
    save(&store, &browser.stored(), |c| c.expiry = Some(Some(year))).await;
    assert_refused(&app, &mut browser, &logs, "an added policy").await;
}

#[tokio::test]
async fn a_value_moved_to_another_session_or_key_is_refused() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let app = sealing(&store, &[1]);
    let (mut hong, mut kim) = (Browser::default(), Browser::default());
    hong.get(&app, "/login/hong").await;
    kim.get(&app, "/login/kim").await;
    let sealed = store.load(&hong.stored()).await.unwrap().unwrap().data["profile"].clone();
    // Into another session, under the same key.
    save(&store, &kim.stored(), |c| {
        c.set.insert("profile".into(), sealed.clone());
    })
    .await;
    assert_refused(&app, &mut kim, &logs, "a value from another session").await;
    // Within the session, under another key.
    save(&store, &hong.stored(), |c| {
        c.set.insert("role".into(), sealed.clone());
    })
    .await;
    assert_refused(&app, &mut hong, &logs, "a value under another key").await;
}

#[tokio::test]
async fn rotation_opens_what_older_keys_sealed() {
    let store = MemoryStore::new();
    let mut browser = Browser::default();
    browser.get(&sealing(&store, &[1]), "/login/hong").await;
    let rotated = sealing(&store, &[2, 1]);
    let read = browser.get(&rotated, "/get").await.json();
    assert_eq!(read["user"], "hong");
    assert_eq!(read["profile"]["email"], "hong@example.com");
    // Values written now are sealed under the new key; the rest stay
    // under the old one, and the session reads whole.
    browser.get(&rotated, "/count").await;
    assert_eq!(browser.get(&rotated, "/count").await.body, "1");
}

#[tokio::test]
async fn a_removed_data_key_is_no_session_with_a_warning() {
    let (logs, _guard) = Logs::capture();
    let store = MemoryStore::new();
    let mut browser = Browser::default();
    browser.get(&sealing(&store, &[1]), "/login/hong").await;
    let id = browser.stored();
    assert_refused(&sealing(&store, &[3]), &mut browser, &logs, "a removed key").await;
    let warning = logs.warnings_about(&id).join("\n");
    assert!(
        warning.contains("no longer configured"),
        "the warning says why: {warning}"
    );
    // The record is left as it was: putting the key back brings it back
    // (for a browser that still has the cookie).
    assert!(store.load(&id).await.unwrap().is_some());
}

#[tokio::test]
async fn reserved_key_names_are_refused_loudly() {
    let plain = app(SessionLayer::new(MemoryStore::new(), signing_key()));
    for app in [sealing(&MemoryStore::new(), &[1]), plain] {
        for name in ["@session/user", "@session/created", "@session/anything"] {
            let reply = Browser::default()
                .get(&app, &format!("/insert/{}", name.replace('/', "%2F")))
                .await;
            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{name}");
            assert!(
                reply.body.contains("reserved") && reply.body.contains(name),
                "{name}: {}",
                reply.body
            );
        }
        let reply = Browser::default().get(&app, "/insert/session").await;
        assert_eq!(reply.body, "accepted", "an ordinary name");
    }
}
