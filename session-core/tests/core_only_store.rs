//! A store that implements only the five required methods of
//! `SessionStore` and advertises no capability: it passes the core
//! conformance group, and works behind the layer (logins cycle the id in
//! steps; the account operations answer `501`, the store's `Unsupported`;
//! `Encrypted` over it advertises nothing either).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use session_core::store::{
    ChangeSet, Created, Encrypted, Id, Record, Saved, SessionStore, StoreError,
};
use session_core::time::OffsetDateTime;
use session_core::{Error, Key, Session, SessionLayer};
use tower::ServiceExt;

/// Records in a map behind one lock, with the calls counted by name.
#[derive(Debug, Clone, Default)]
struct CoreOnly {
    records: Arc<Mutex<HashMap<Id, Record>>>,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl CoreOnly {
    fn called(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }

    /// The live record `id`, for `f` to read or change.
    fn with_live<T>(&self, id: &Id, f: impl FnOnce(&mut Record) -> T) -> Option<T> {
        let now = OffsetDateTime::now_utc();
        let mut records = self.records.lock().unwrap();
        records
            .get_mut(id)
            .filter(|record| !record.is_expired(now))
            .map(f)
    }

    fn len(&self) -> usize {
        self.records.lock().unwrap().len()
    }
}

impl SessionStore for CoreOnly {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.called("load");
        Ok(self.with_live(id, |record| record.clone()))
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.called("create");
        let now = OffsetDateTime::now_utc();
        let mut records = self.records.lock().unwrap();
        if records.get(&record.id).is_some_and(|r| !r.is_expired(now)) {
            return Ok(Created::IdTaken);
        }
        records.insert(record.id, record.clone());
        Ok(Created::Inserted)
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.called("save");
        let applied = self.with_live(id, |record| {
            changes.apply_to(&mut record.data);
            record.expires_at = changes.expires_at;
            if let Some(expiry) = changes.expiry {
                record.expiry = expiry;
            }
            if let Some(user) = &changes.user {
                record.user.clone_from(user);
            }
        });
        Ok(if applied.is_some() {
            Saved::Applied
        } else {
            Saved::Gone
        })
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.called("touch");
        Ok(
            match self.with_live(id, |record| record.expires_at = expires_at) {
                Some(()) => Saved::Applied,
                None => Saved::Gone,
            },
        )
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.called("delete");
        self.records.lock().unwrap().remove(id);
        Ok(())
    }
}

/// A core-only store that also answers loads at once
/// ([`SessionStore::load_now`]), truthfully or (`lie`) always "none".
#[derive(Debug, Clone, Default)]
struct AtOnce {
    inner: CoreOnly,
    lie: bool,
}

impl SessionStore for AtOnce {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        self.inner.called("load_now");
        let live = self.inner.with_live(id, |record| record.clone());
        Some(Ok(live.filter(|_| !self.lie)))
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.inner.create(record).await
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.inner.save(id, changes).await
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.inner.touch(id, expires_at).await
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.inner.delete(id).await
    }
}

session_core::conformance_tests!(core_only, async { CoreOnly::default() }, core);
session_core::conformance_tests!(at_once, async { AtOnce::default() }, core);
session_core::conformance_tests!(
    at_once_encrypted,
    async { Encrypted::new(AtOnce::default(), Key::from_bytes(&[9; 32]).unwrap()) },
    core
);

/// The suite catches a store whose answer at once differs from its load.
#[tokio::test]
#[should_panic(expected = "load_now must answer what load answers")]
async fn a_load_now_that_differs_from_load_fails() {
    let store = AtOnce {
        lie: true,
        ..AtOnce::default()
    };
    let store = session_core::store::AnyStore::new(store);
    session_core::store::conformance::load_now_agrees_with_load(store).await;
}

/// Through the layer, a store that answers at once is read that way
/// (its future is never asked), and the session round-trips.
#[tokio::test]
async fn the_layer_reads_a_store_that_answers_at_once_without_its_future() {
    let store = AtOnce::default();
    let app = app(SessionLayer::new(store.clone(), Key::generate()));
    let cookie = send(&app, "/login/hong", None).await.cookie.unwrap();
    assert_eq!(send(&app, "/whoami", Some(&cookie)).await.body, "hong");
    let calls = store.inner.calls.lock().unwrap().clone();
    assert!(calls.contains(&"load_now"), "{calls:?}");
    assert!(!calls.contains(&"load"), "{calls:?}");
}
session_core::conformance_tests!(
    core_only_encrypted,
    async { Encrypted::new(CoreOnly::default(), Key::from_bytes(&[9; 32]).unwrap()) },
    core
);

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
            get(|session: Session| async move {
                Ok::<_, Error>(session.user_sessions().await?.len().to_string())
            }),
        )
        .route(
            "/logout/others",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_other_sessions().await?.to_string())
            }),
        )
        .route(
            "/logout/everywhere",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_all_sessions().await?.to_string())
            }),
        )
        .route(
            "/end/{handle}",
            get(|session: Session, Path(handle): Path<String>| async move {
                Ok::<_, Error>(session.end_session(&handle).await?.to_string())
            }),
        )
        .layer(layer)
}

struct Reply {
    status: StatusCode,
    cookie: Option<String>,
    body: String,
}

async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let cookie = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        cookie,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// A login cycles the session to a new id with the five methods (create
/// the new record, touch the old one, delete it), and the old cookie then
/// names no session.
#[tokio::test]
async fn a_login_cycles_in_steps() {
    let store = CoreOnly::default();
    let app = app(SessionLayer::new(store.clone(), Key::generate()));
    let first = send(&app, "/login/hong", None).await.cookie.unwrap();
    assert_eq!(send(&app, "/whoami", Some(&first)).await.body, "hong");
    store.calls.lock().unwrap().clear();

    let second = send(&app, "/login/hong", Some(&first))
        .await
        .cookie
        .expect("a login gives a new cookie");
    assert_ne!(first, second);
    let calls = store.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        ["load", "create", "touch", "delete"],
        "a login of a stored session cycles in steps"
    );
    assert_eq!(store.len(), 1, "the old record is gone");
    assert_eq!(send(&app, "/whoami", Some(&second)).await.body, "hong");
    assert_eq!(send(&app, "/whoami", Some(&first)).await.body, "");
}

/// Without a user index, every account operation of a bound session
/// answers `501 Not Implemented` naming the operation, and the session
/// goes on; an unbound session has no user to ask about.
#[tokio::test]
async fn account_operations_answer_unsupported() {
    let store = CoreOnly::default();
    let app = app(SessionLayer::new(store.clone(), Key::generate()));
    let cookie = send(&app, "/login/hong", None).await.cookie.unwrap();
    for (path, operation) in [
        ("/sessions", "list_user"),
        ("/logout/others", "delete_user"),
        ("/logout/everywhere", "delete_user"),
        ("/end/Zm9vYmFyYmF6cXV4", "list_user"),
    ] {
        let reply = send(&app, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED, "{path}");
        assert!(
            reply.body.contains(operation),
            "{path}: the answer names `{operation}`: {}",
            reply.body
        );
        assert_eq!(
            send(&app, "/whoami", Some(&cookie)).await.body,
            "hong",
            "{path}: the session goes on"
        );
    }
    let anonymous = send(&app, "/sessions", None).await;
    assert_eq!(
        (anonymous.status, anonymous.body.as_str()),
        (StatusCode::OK, "0")
    );
}

/// The capabilities a wrapper advertises are its store's: none here.
#[test]
fn encrypted_advertises_what_its_store_advertises() {
    let plain = CoreOnly::default();
    let caps = plain.capabilities();
    assert!(caps.cycle.is_none() && caps.users.is_none());
    assert!(caps.leases.is_none() && caps.cleanup.is_none());
    let sealed = Encrypted::new(CoreOnly::default(), Key::generate());
    let caps = sealed.capabilities();
    assert!(caps.cycle.is_none() && caps.users.is_none());
    assert!(caps.leases.is_none() && caps.cleanup.is_none());

    let memory = Encrypted::new(session_store_memory::MemoryStore::new(), Key::generate());
    let caps = memory.capabilities();
    assert!(caps.cycle.is_some() && caps.users.is_some() && caps.cleanup.is_some());
    assert!(caps.leases.is_none());
    assert_eq!(
        format!("{caps:?}"),
        "Capabilities { cycle: true, users: true, leases: false, cleanup: true }"
    );
}

/// The capability check fails a store tested for a group whose
/// capability it does not advertise.
#[tokio::test]
#[should_panic(expected = "does not advertise UserIndex")]
async fn a_group_without_its_capability_fails() {
    use session_core::store::conformance::advertises_the_tested_capabilities;
    advertises_the_tested_capabilities(
        session_core::store::AnyStore::new(CoreOnly::default()),
        &["core", "users"],
    )
    .await;
}

/// The capability check fails a store that advertises a capability whose
/// group was not run (the memory store has a user index).
#[tokio::test]
#[should_panic(expected = "the `users` group is not tested")]
async fn an_untested_capability_fails() {
    use session_core::store::conformance::advertises_the_tested_capabilities;
    let store = session_store_memory::MemoryStore::new();
    advertises_the_tested_capabilities(
        session_core::store::AnyStore::new(store),
        &["core", "cycle", "cleanup"],
    )
    .await;
}

/// The capability check names a group it does not know.
#[tokio::test]
#[should_panic(expected = "unknown conformance group \"lease\"")]
async fn an_unknown_group_fails() {
    use session_core::store::conformance::advertises_the_tested_capabilities;
    advertises_the_tested_capabilities(
        session_core::store::AnyStore::new(CoreOnly::default()),
        &["core", "lease"],
    )
    .await;
}
