//! The account methods of `Session` through the real layer with the memory
//! store: which session is "this one" when the handler also gave it a new
//! id, and whether `end_session` says truthfully what it ended.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use session_core::store::{
    async_trait, Capabilities, ChangeSet, Created, CycleStore, Cycled, Record, Saved, SessionStore,
    StoreError, UserIndex, UserSession,
};
use session_core::time::OffsetDateTime;
use session_core::{Error, Id, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

/// What `/sessions` and the other pages answer: one line per listed
/// session, `handle current`.
async fn listed(session: &Session) -> Result<String, Error> {
    Ok(session
        .user_sessions()
        .await?
        .into_iter()
        .map(|info| format!("{} {}\n", info.handle, info.current))
        .collect())
}

fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    Router::new()
        .route(
            "/login/{user}",
            get(|session: Session, Path(user): Path<String>| async move {
                session.set_user(user).await?;
                session.cycle_id().await?;
                Ok::<_, Error>(String::new())
            }),
        )
        .route(
            "/whoami",
            get(|session: Session| async move {
                Ok::<_, Error>(session.user().await?.unwrap_or_default())
            }),
        )
        .route(
            "/sessions",
            get(|session: Session| async move { listed(&session).await }),
        )
        // A privilege change ("log out my other devices" after a password
        // change) that also gives this session a fresh id, listing in
        // between.
        .route(
            "/cycle-then-end-others",
            get(|session: Session| async move {
                session.cycle_id().await?;
                let before = listed(&session).await?;
                let ended = session.end_other_sessions().await?;
                Ok::<_, Error>(format!("{before}ended {ended}"))
            }),
        )
        .route(
            "/end/{handle}",
            get(|session: Session, Path(handle): Path<String>| async move {
                Ok::<_, Error>(session.end_session(&handle).await?.to_string())
            }),
        )
        .route(
            "/cycle-then-end/{handle}",
            get(|session: Session, Path(handle): Path<String>| async move {
                session.cycle_id().await?;
                Ok::<_, Error>(session.end_session(&handle).await?.to_string())
            }),
        )
        .layer(layer.with_config(SessionConfig::new().with_secure(false)))
}

struct Reply {
    status: StatusCode,
    body: String,
    /// `name=value` of the `Set-Cookie`, if any.
    cookie: Option<String>,
}

async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: String::from_utf8(body.to_vec()).unwrap(),
        cookie,
    }
}

/// Logs a new browser in as `user`; its cookie.
async fn login(app: &Router, user: &str) -> String {
    let reply = send(app, &format!("/login/{user}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.cookie.expect("a login sends its cookie")
}

async fn whoami(app: &Router, cookie: &str) -> String {
    let reply = send(app, "/whoami", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// `(handle, current)` of each session `/sessions` lists for `cookie`.
fn parse(listing: &str) -> Vec<(String, bool)> {
    listing
        .lines()
        .filter(|line| !line.starts_with("ended"))
        .map(|line| {
            let (handle, current) = line.split_once(' ').unwrap();
            (handle.to_owned(), current == "true")
        })
        .collect()
}

async fn sessions_of(app: &Router, cookie: &str) -> Vec<(String, bool)> {
    let reply = send(app, "/sessions", Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    parse(&reply.body)
}

fn memory() -> Router {
    app(SessionLayer::new(MemoryStore::new(), Key::generate()))
}

/// `cycle_id()` then `end_other_sessions()` in one request ends the other
/// sessions and keeps this one, under its new id; `user_sessions()` in
/// between marks it current.
#[tokio::test]
async fn a_cycled_session_is_still_this_one_for_the_account_methods() {
    let app = memory();
    let a = login(&app, "hong").await;
    let b = login(&app, "hong").await;
    let kim = login(&app, "kim").await;

    let reply = send(&app, "/cycle-then-end-others", Some(&a)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let listed = parse(&reply.body);
    assert_eq!(listed.len(), 2, "{}", reply.body);
    assert_eq!(
        listed.iter().filter(|(_, current)| *current).count(),
        1,
        "this session is marked current: {}",
        reply.body
    );
    assert!(reply.body.ends_with("ended 1"), "{}", reply.body);
    let moved = reply.cookie.expect("the new id's cookie");
    assert_ne!(moved, a);

    assert_eq!(whoami(&app, &moved).await, "hong");
    assert_eq!(whoami(&app, &a).await, "", "the old id is gone");
    assert_eq!(whoami(&app, &b).await, "", "the other session is ended");
    assert_eq!(whoami(&app, &kim).await, "kim");
    let left = sessions_of(&app, &moved).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].1, "{left:?}");
}

/// `end_session` ends the listed session it is given and says so; a
/// handle no live session of the user has is `false`; ending this session
/// by its handle logs it out.
#[tokio::test]
async fn end_session_ends_what_it_names() {
    let app = memory();
    let a = login(&app, "hong").await;
    let b = login(&app, "hong").await;
    let kim = login(&app, "kim").await;
    let listed = sessions_of(&app, &a).await;
    let (other, _) = listed.iter().find(|(_, current)| !current).unwrap().clone();
    let (mine, _) = listed.iter().find(|(_, current)| *current).unwrap().clone();
    let (kims, _) = sessions_of(&app, &kim).await.remove(0);

    for (handle, why) in [
        ("AAAAAAAAAAAAAAAA", "unknown"),
        (kims.as_str(), "another user's"),
    ] {
        let reply = send(&app, &format!("/end/{handle}"), Some(&a)).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "false"),
            "{why}"
        );
    }
    assert_eq!(whoami(&app, &kim).await, "kim");

    let reply = send(&app, &format!("/end/{other}"), Some(&a)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    assert_eq!(whoami(&app, &b).await, "");
    assert_eq!(whoami(&app, &a).await, "hong");
    let reply = send(&app, &format!("/end/{other}"), Some(&a)).await;
    assert_eq!(reply.body, "false", "already ended");

    let reply = send(&app, &format!("/end/{mine}"), Some(&a)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    assert_eq!(
        reply.cookie.as_deref(),
        Some("session="),
        "a removal cookie"
    );
    assert_eq!(whoami(&app, &a).await, "");
}

/// Ending this session by its handle after `cycle_id()` in the same
/// request ends it (no session under the new id either).
#[tokio::test]
async fn ending_this_session_after_a_cycle_ends_it() {
    let app = memory();
    let a = login(&app, "hong").await;
    let (mine, _) = sessions_of(&app, &a).await.remove(0);
    let reply = send(&app, &format!("/cycle-then-end/{mine}"), Some(&a)).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "true")
    );
    assert_eq!(
        reply.cookie.as_deref(),
        Some("session="),
        "a removal cookie"
    );
    assert_eq!(whoami(&app, &a).await, "");
    let b = login(&app, "hong").await;
    assert_eq!(
        sessions_of(&app, &b).await.len(),
        1,
        "nothing left of the old one"
    );
}

/// The memory store, which moves the session with a given handle to a new
/// id right after listing it: a login of that session's browser landing
/// between `end_session`'s list and its end.
#[derive(Debug, Clone, Default)]
struct MovesAfterListing {
    store: MemoryStore,
    target: Arc<Mutex<Option<String>>>,
}

impl MovesAfterListing {
    async fn move_away(&self, session: &UserSession) {
        let old = self.store.load(&session.id).await.unwrap().unwrap();
        let mut moved = old.clone();
        moved.id = Id::random().at_rest();
        let cycled = self.store.cycle(&session.id, &moved).await.unwrap();
        assert_eq!(cycled, Cycled::Moved);
    }
}

impl SessionStore for MovesAfterListing {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
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
        self.store.delete(id).await
    }
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::none().with_cycle(self).with_users(self)
    }
}

#[async_trait]
impl CycleStore for MovesAfterListing {
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        self.store.cycle(old, record).await
    }
}

#[async_trait]
impl UserIndex for MovesAfterListing {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let listed = self.store.list_user(user).await?;
        let target = self.target.lock().unwrap().take();
        if let Some(target) = target {
            for session in listed.iter().filter(|s| s.handle() == target) {
                self.move_away(session).await;
            }
        }
        Ok(listed)
    }
    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        self.store.delete_user(user, keep).await
    }
    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        self.store.end_user_session(user, id).await
    }
}

/// A session given a new id between `end_session`'s list and its end is
/// not ended, and the answer says so (`false`: list again); it goes on
/// under its new id.
#[tokio::test]
async fn end_session_racing_a_cycle_answers_false() {
    let store = MovesAfterListing::default();
    let app = app(SessionLayer::new(store.clone(), Key::generate()));
    let a = login(&app, "hong").await;
    let _b = login(&app, "hong").await;
    let listed = sessions_of(&app, &a).await;
    let (other, _) = listed.iter().find(|(_, current)| !current).unwrap().clone();

    *store.target.lock().unwrap() = Some(other.clone());
    let reply = send(&app, &format!("/end/{other}"), Some(&a)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let after = sessions_of(&app, &a).await;
    assert_eq!(after.len(), 2, "the moved session lives on: {after:?}");
    assert_eq!(
        reply.body, "false",
        "end_session answered {} but the session lives on",
        reply.body
    );
    assert!(!after.iter().any(|(handle, _)| *handle == other));
}
