//! Conformance checks that run the layer over the store: a login through
//! the layer with whatever capabilities the store has (core group), what
//! reaches the store from real requests (hashed ids, sealed values) and
//! the account operations of [`Session`] end to end (users group).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::{user_index, DynStore};
use crate::id::SignedId;
use crate::store::{ChangeSet, Id, SessionStore};
use crate::{Key, Keys, Session, SessionConfig, SessionLayer};

type Reply = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

/// The application under test: a few routes of a login app.
#[derive(Clone)]
struct App;

impl Service<Request<()>> for App {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Reply;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<()>) -> Reply {
        let session = req
            .extensions()
            .get::<Session>()
            .cloned()
            .expect("the layer adds the session");
        let path = req.uri().path().to_owned();
        Box::pin(async move {
            let body = route(&session, &path).await;
            Ok(match body {
                Ok(body) => Response::new(body.to_string()),
                Err(err) => {
                    let mut response = Response::new(err.to_string());
                    *response.status_mut() = err.status();
                    response
                }
            })
        })
    }
}

async fn route(session: &Session, path: &str) -> Result<Value, crate::Error> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Ok(match parts.as_slice() {
        ["login", user] => {
            session
                .insert("profile", json!({"user_id": user, "email": "aaa@aaa.com"}))
                .await?;
            session.set_user(*user).await?;
            session.cycle_id().await?;
            json!({"message": "Logged in"})
        }
        ["get"] => json!({
            "user": session.user().await?,
            "profile": session.get_value("profile").await?,
        }),
        ["sessions"] => {
            let sessions = session.user_sessions().await?;
            Value::Array(
                sessions
                    .into_iter()
                    .map(|s| json!({"handle": s.handle, "current": s.current}))
                    .collect(),
            )
        }
        ["logout", "others"] => json!({"ended": session.end_other_sessions().await?}),
        ["logout", "everywhere"] => json!({"ended": session.end_all_sessions().await?}),
        ["logout"] => {
            session.destroy();
            json!({"message": "Logged out"})
        }
        _ => json!(null),
    })
}

/// One browser: a cookie jar of one cookie.
struct Browser {
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Browser {
    fn new() -> Self {
        Self { cookie: None }
    }

    async fn get(
        &mut self,
        layer: &SessionLayer<impl crate::store::SessionStore>,
        path: &str,
    ) -> Answer {
        let mut req = Request::builder().uri(path);
        if let Some(cookie) = &self.cookie {
            req = req.header(COOKIE, cookie);
        }
        let mut service = layer.layer(App);
        let response = service
            .call(req.body(()).unwrap())
            .await
            .expect("infallible");
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = (!set.to_str().unwrap().contains("Max-Age=0")).then_some(pair);
        }
        let status = response.status();
        let text = response.into_body();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// The id the store keeps the session under.
    fn stored(&self) -> Id {
        self.cookie_id().at_rest()
    }

    /// The id the session cookie carries.
    fn cookie_id(&self) -> Id {
        let value = self
            .cookie
            .as_ref()
            .expect("a session cookie")
            .split_once('=')
            .unwrap()
            .1;
        SignedId::new(&Keys::from(signing_key()))
            .verify(value)
            .expect("the cookie verifies")
            .id
    }
}

fn signing_key() -> Key {
    Key::from_bytes(&[7; 32]).unwrap()
}

fn data_key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

fn layer(store: &DynStore) -> SessionLayer {
    SessionLayer::new(store.clone(), signing_key())
        .with_config(SessionConfig::new().with_secure(false))
}

fn fresh_user(label: &str) -> String {
    format!("{label}-{}", Id::random().short_hash())
}

/// A login through the layer works with the capabilities the store has:
/// the session is created, a second login from the same browser moves it
/// to a new id (the store's [`CycleStore`](crate::store::CycleStore), or
/// steps) and the old one is gone; the account operations answer from
/// the store's [`UserIndex`](crate::store::UserIndex), or `501 Not
/// Implemented` ([`StoreError::Unsupported`](crate::store::StoreError::Unsupported))
/// when it has none; and a logout ends the session.
pub async fn layer_serves_sessions_with_the_capabilities_it_has(store: DynStore) {
    let layer = layer(&store);
    let user = fresh_user("core");
    let mut browser = Browser::new();
    browser.get(&layer, &format!("/login/{user}/")).await;
    let first = browser.stored();
    let read = browser.get(&layer, "/get/").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["user"], user.as_str());
    assert_eq!(read.body["profile"]["email"], "aaa@aaa.com");

    browser.get(&layer, &format!("/login/{user}/")).await;
    let second = browser.stored();
    assert_ne!(first, second, "a login moves the session to a new id");
    assert!(
        store.load(&first).await.unwrap().is_none(),
        "the id before the login still loads"
    );
    let moved = store
        .load(&second)
        .await
        .unwrap()
        .expect("the session lives under its new id");
    assert_eq!(moved.user.as_deref(), Some(user.as_str()));
    assert_eq!(
        browser.get(&layer, "/get/").await.body["user"],
        user.as_str()
    );

    let listed = browser.get(&layer, "/sessions/").await;
    let ended = browser.get(&layer, "/logout/others/").await;
    if store.capabilities().users.is_some() {
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
        assert_eq!(listed.body[0]["current"], true);
        assert_eq!(ended.body["ended"], 0);
    } else {
        for answer in [&listed, &ended] {
            assert_eq!(
                answer.status,
                StatusCode::NOT_IMPLEMENTED,
                "a store without a user index: {}",
                answer.body
            );
        }
    }
    assert_eq!(
        browser.get(&layer, "/get/").await.body["user"],
        user.as_str(),
        "the session goes on"
    );

    browser.get(&layer, "/logout/").await;
    assert!(browser.cookie.is_none(), "the logout removes the cookie");
    assert!(store.load(&second).await.unwrap().is_none());
}

/// The layer hands the store only a digest of the cookie's id: the
/// cookie's id loads nothing, its digest loads the session, and the
/// handles a user sees are neither.
pub async fn layer_stores_only_digests_of_cookie_ids(store: DynStore) {
    let layer = layer(&store);
    let hong = fresh_user("hong");
    let mut browser = Browser::new();
    browser.get(&layer, &format!("/login/{hong}/")).await;
    let cookie_id = browser.cookie_id();
    assert!(
        store.load(&cookie_id).await.unwrap().is_none(),
        "the store holds the cookie's own id"
    );
    let record = store
        .load(&cookie_id.at_rest())
        .await
        .unwrap()
        .expect("the store holds the session under the digest of the cookie's id");
    assert_eq!(record.user.as_deref(), Some(hong.as_str()));
    let listed = browser.get(&layer, "/sessions/").await.body;
    let handle = listed[0]["handle"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["current"], true);
    assert_ne!(handle, cookie_id.encode());
    assert_ne!(handle, record.id.encode());
    assert!(!cookie_id.encode().contains(&handle) && !record.id.encode().contains(&handle));
}

/// With data keys, every value the store holds is sealed (no plaintext
/// of the profile), reads back through the layer with the user binding,
/// creation time and policy it was stored with (their sealed copies are
/// kept by the store and match), survives a key rotation, and a record
/// that does not verify is no session (`200`, empty, the cookie removed):
/// sealed under a key no longer configured, a value moved in from another
/// session, a plain value written into the store, a user rebound in the
/// store (which is then not listed for that user either).
pub async fn layer_encrypts_values_at_rest(store: DynStore) {
    let sealing = layer(&store).with_data_keys(data_key(1));
    let hong = fresh_user("hong");
    let mut browser = Browser::new();
    browser.get(&sealing, &format!("/login/{hong}/")).await;
    let stored = browser.cookie_id().at_rest();
    let record = store.load(&stored).await.unwrap().unwrap();
    let dump = serde_json::to_string(&record.data).unwrap();
    assert!(
        !dump.contains("aaa@aaa.com"),
        "a value is stored in clear: {dump}"
    );
    assert!(
        record.data.contains_key("profile"),
        "key names stay readable"
    );
    let read = browser.get(&sealing, "/get/").await;
    assert_eq!(read.body["profile"]["email"], "aaa@aaa.com");
    assert_eq!(read.body["user"], hong.as_str());

    // Rotation: a new key first, the old one still opens.
    let rotated = layer(&store).with_data_keys(Keys::new(vec![data_key(2), data_key(1)]).unwrap());
    assert_eq!(
        browser.get(&rotated, "/get/").await.body["profile"]["email"],
        "aaa@aaa.com"
    );
    // Without the key that sealed it, the session does not load: no
    // session (and no garbage), the cookie removed.
    let other_key = layer(&store).with_data_keys(data_key(3));
    assert_no_session(browser.get(&other_key, "/get/").await, &browser);

    // A sealed value moved into another session does not open there.
    let mut thief = Browser::new();
    thief
        .get(&sealing, &format!("/login/{}/", fresh_user("kim")))
        .await;
    let mut moved = ChangeSet::new(record.expires_at);
    moved
        .set
        .insert("profile".into(), record.data["profile"].clone());
    store.save(&thief.stored(), &moved).await.unwrap();
    assert_no_session(thief.get(&sealing, "/get/").await, &thief);

    // A plain value written into the store is refused.
    let mut victim = Browser::new();
    victim
        .get(&sealing, &format!("/login/{}/", fresh_user("lee")))
        .await;
    let mut plain = ChangeSet::new(record.expires_at);
    plain.set.insert("role".into(), json!("superadmin"));
    store.save(&victim.stored(), &plain).await.unwrap();
    assert_no_session(victim.get(&sealing, "/get/").await, &victim);

    // A session rebound to hong in the store is neither hong's nor listed.
    let mut forged = Browser::new();
    forged
        .get(&sealing, &format!("/login/{}/", fresh_user("mallory")))
        .await;
    let mut rebind = ChangeSet::new(record.expires_at);
    rebind.user = Some(Some(hong.clone()));
    store.save(&forged.stored(), &rebind).await.unwrap();
    let mut second = Browser::new();
    second.get(&sealing, &format!("/login/{hong}/")).await;
    let listed = second.get(&sealing, "/sessions/").await.body;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(2),
        "hong's two sessions and not the forged one: {listed}"
    );
    assert_no_session(forged.get(&sealing, "/get/").await, &forged);
}

/// A refused session as the browser sees it: `200`, no user, no data,
/// and its cookie removed.
#[track_caller]
fn assert_no_session(answer: Answer, browser: &Browser) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, json!({"user": null, "profile": null}));
    assert!(browser.cookie.is_none(), "the cookie is removed");
}

/// Two browsers of one user and one of another: listing, "log out my
/// other sessions" and "log out everywhere" end exactly what they say.
pub async fn layer_ends_other_and_all_sessions(store: DynStore) {
    let layer = layer(&store);
    let (hong, kim) = (fresh_user("hong"), fresh_user("kim"));
    let (mut first, mut second, mut third) = (Browser::new(), Browser::new(), Browser::new());
    first.get(&layer, &format!("/login/{hong}/")).await;
    second.get(&layer, &format!("/login/{hong}/")).await;
    third.get(&layer, &format!("/login/{kim}/")).await;

    let listed = first.get(&layer, "/sessions/").await.body;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2, "hong has two sessions: {listed:?}");
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    assert_ne!(listed[0]["handle"], listed[1]["handle"]);

    assert_eq!(first.get(&layer, "/logout/others/").await.body["ended"], 1);
    assert_eq!(
        second.get(&layer, "/get/").await.body["user"],
        Value::Null,
        "the other session lives"
    );
    assert_eq!(first.get(&layer, "/get/").await.body["user"], hong.as_str());
    assert_eq!(
        third.get(&layer, "/get/").await.body["user"],
        kim.as_str(),
        "another user's session ended"
    );
    assert_eq!(
        first
            .get(&layer, "/sessions/")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    second.get(&layer, &format!("/login/{hong}/")).await;
    assert_eq!(
        first.get(&layer, "/logout/everywhere/").await.body["ended"],
        2
    );
    assert!(
        first.cookie.is_none(),
        "the current session's cookie is removed"
    );
    assert_eq!(second.get(&layer, "/get/").await.body["user"], Value::Null);
    assert!(user_index(&store)
        .list_user(&hong)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(third.get(&layer, "/get/").await.body["user"], kim.as_str());
}
