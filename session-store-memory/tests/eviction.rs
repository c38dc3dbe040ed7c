//! Eviction when the memory store is full: floods through the layer must
//! not log out logged-in users, and a model of the store under random
//! operations checks which session each create displaces.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::json;
use session_core::store::{
    ChangeSet, Created, CycleStore, Cycled, Record, Saved, SessionStore, StoreError, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Error, Id, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn app(store: MemoryStore) -> Router {
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
            "/count",
            get(|session: Session| async move {
                let n: u64 = session.get("n").await?.unwrap_or(0);
                session.insert("n", n + 1).await?;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/logout",
            get(|session: Session| async move {
                session.destroy();
                Ok::<_, Error>(String::new())
            }),
        )
        .layer(
            SessionLayer::new(store, Key::from_bytes(&[9; 32]).unwrap())
                .with_config(SessionConfig::new().with_secure(false)),
        )
}

/// A browser: keeps the cookie the last response set.
#[derive(Default, Clone)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    async fn get(&mut self, app: &Router, path: &str) -> (StatusCode, String) {
        let mut request = Request::get(path);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
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

    async fn ok(&mut self, app: &Router, path: &str) -> String {
        let (status, body) = self.get(app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

const CAPACITY: usize = 640;
const USERS: usize = 200;

/// 200 users log in, as `set_user` + `cycle_id` do: the even ones on their
/// first request (a new session, bound at once), the odd ones after a
/// first visit that made an anonymous session (which the login moves to a
/// fresh id).
async fn log_in_users(app: &Router) -> Vec<(String, Browser)> {
    let mut users = Vec::new();
    for n in 0..USERS {
        let name = format!("user-{n}");
        let mut browser = Browser::default();
        if n % 2 == 1 {
            browser.ok(app, "/count").await;
        }
        browser.ok(app, &format!("/login/{name}")).await;
        users.push((name, browser));
    }
    users
}

/// How many of the users still are logged in (their cookie names a
/// session bound to them).
async fn still_logged_in(app: &Router, users: &mut [(String, Browser)]) -> usize {
    let mut count = 0;
    for (name, browser) in users.iter_mut() {
        count += usize::from(browser.ok(app, "/whoami").await == *name);
    }
    count
}

/// Attack (a): 3,000 sessions each made to come back once (a second
/// request with its cookie, 6,000 requests in all) left no room for
/// returning visitors; logged-in users now keep theirs.
#[tokio::test]
async fn sessions_that_come_back_once_do_not_log_users_out() {
    let store = MemoryStore::new().with_capacity_limit(CAPACITY);
    let app = app(store.clone());
    let mut users = log_in_users(&app).await;
    for _ in 0..3_000 {
        let mut attacker = Browser::default();
        attacker.ok(&app, "/count").await;
        assert_eq!(attacker.ok(&app, "/count").await, "1");
    }
    assert!(store.len() <= CAPACITY);
    assert!(store.evicted() >= 3_000 - (CAPACITY - USERS) as u64);
    let kept = still_logged_in(&app, &mut users).await;
    assert_eq!(
        kept, USERS,
        "only {kept} of {USERS} logged-in users kept their session"
    );
}

/// Attack (b): 3,000 cookieless requests that each create a session
/// evicted every user who had just logged in (a fresh login was a session
/// that "never came back"); logged-in users now keep theirs, and the
/// flood's newest sessions work (anonymous sessions compete with each
/// other).
#[tokio::test]
async fn a_flood_of_new_sessions_does_not_log_users_out() {
    let store = MemoryStore::new().with_capacity_limit(CAPACITY);
    let app = app(store.clone());
    let mut users = log_in_users(&app).await;
    let mut last = Browser::default();
    for _ in 0..3_000 {
        last = Browser::default();
        last.ok(&app, "/count").await;
    }
    assert!(store.len() <= CAPACITY);
    assert_eq!(
        last.ok(&app, "/count").await,
        "1",
        "the newest session lives"
    );
    let kept = still_logged_in(&app, &mut users).await;
    assert_eq!(
        kept, USERS,
        "only {kept} of {USERS} logged-in users kept their session"
    );
}

/// Logged-in sessions alone beyond the capacity: an attacker who can log
/// in to one account, over and over, ends its own sessions, not the other
/// users'; a new anonymous session is refused (503) rather than take a
/// logged-in user's place, until a place is freed.
#[tokio::test]
async fn logins_beyond_the_capacity_end_the_busiest_users_sessions() {
    let capacity = 64;
    let store = MemoryStore::new().with_capacity_limit(capacity);
    let app = app(store.clone());
    let mut users = Vec::new();
    for n in 0..40 {
        let name = format!("user-{n}");
        let mut browser = Browser::default();
        browser.ok(&app, &format!("/login/{name}")).await;
        users.push((name, browser));
    }
    let mut attackers = Vec::new();
    for _ in 0..500 {
        let mut attacker = Browser::default();
        attacker.ok(&app, "/login/mallory").await;
        attackers.push(attacker);
    }
    assert_eq!(store.len(), capacity);
    let kept = still_logged_in(&app, &mut users).await;
    assert_eq!(kept, 40, "only {kept} of 40 users kept their session");
    assert_eq!(
        store.list_user("mallory").await.unwrap().len(),
        capacity - 40
    );
    // The newest of mallory's logins live.
    assert_eq!(
        attackers.last_mut().unwrap().ok(&app, "/whoami").await,
        "mallory"
    );

    let (status, _) = Browser::default().get(&app, "/count").await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no bound session's place"
    );
    assert_eq!(still_logged_in(&app, &mut users).await, 40);

    // A logout frees a place: an anonymous session fits again.
    let (_, mut leaving) = users.pop().unwrap();
    leaving.ok(&app, "/logout").await;
    assert_eq!(Browser::default().ok(&app, "/count").await, "0");
}

// A model of the store's eviction, under random operations on a small
// store with no expiry: after each operation, exactly the sessions the
// model holds are live, with their users, and each create displaced the
// session the policy says.

#[derive(Clone, Debug)]
enum Op {
    Create {
        user: Option<u8>,
    },
    Load(usize),
    Cycle {
        pick: usize,
        user: Option<Option<u8>>,
    },
    Rebind {
        pick: usize,
        user: Option<u8>,
    },
    Delete(usize),
    DeleteUser(u8),
    EndUserSession {
        user: u8,
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let user = prop::option::of(0u8..4);
    prop_oneof![
        4 => user.clone().prop_map(|user| Op::Create { user }),
        2 => any::<usize>().prop_map(Op::Load),
        2 => (any::<usize>(), prop::option::of(user.clone()))
            .prop_map(|(pick, user)| Op::Cycle { pick, user }),
        1 => (any::<usize>(), user).prop_map(|(pick, user)| Op::Rebind { pick, user }),
        1 => any::<usize>().prop_map(Op::Delete),
        1 => (0u8..4).prop_map(Op::DeleteUser),
        1 => (0u8..4, any::<usize>()).prop_map(|(user, pick)| Op::EndUserSession { user, pick }),
    ]
}

fn name(user: u8) -> String {
    format!("model-user-{user}")
}

/// The sessions the store should hold: id, user.
type Model = Vec<(Id, Option<u8>)>;

fn record(user: Option<u8>, now: OffsetDateTime) -> Record {
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record.user = user.map(name);
    record
}

fn sessions_of(model: &Model, user: u8) -> usize {
    model.iter().filter(|(_, u)| *u == Some(user)).count()
}

async fn run_model(capacity: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = MemoryStore::new().with_capacity_limit(capacity);
    let now = OffsetDateTime::now_utc();
    let mut model: Model = Vec::new();
    for op in ops {
        let pick = |n: usize, model: &Model| (!model.is_empty()).then(|| n % model.len());
        match op {
            Op::Create { user } => {
                let before = model.clone();
                let new = record(user, now);
                let full = model.len() >= capacity;
                let anonymous_held = model.iter().any(|(_, u)| u.is_none());
                match store.create(&new).await {
                    Ok(Created::Inserted) => {}
                    Ok(Created::IdTaken) => prop_assert!(false, "a fresh id was taken"),
                    Err(StoreError::Unavailable(_)) => {
                        prop_assert!(full && user.is_none() && !anonymous_held);
                        continue;
                    }
                    Err(other) => prop_assert!(false, "create failed: {other}"),
                }
                // Which session, if any, made room.
                let mut gone = Vec::new();
                for (id, u) in &before {
                    if store.load(id).await.unwrap().is_none() {
                        gone.push((*id, *u));
                    }
                }
                if !full {
                    prop_assert!(gone.is_empty(), "evicted below the capacity: {gone:?}");
                } else {
                    prop_assert_eq!(gone.len(), 1, "a full store evicts exactly one");
                    let (victim, victim_user) = gone[0];
                    match victim_user {
                        None => {}
                        Some(bound) => {
                            prop_assert!(
                                user.is_some(),
                                "an anonymous session displaced a bound one"
                            );
                            prop_assert!(
                                !anonymous_held,
                                "a bound session went while anonymous ones were held"
                            );
                            let most = (0..4).map(|u| sessions_of(&before, u)).max().unwrap();
                            prop_assert_eq!(
                                sessions_of(&before, bound),
                                most,
                                "the victim's user does not hold the most sessions"
                            );
                        }
                    }
                    model.retain(|(id, _)| *id != victim);
                }
                model.push((new.id, user));
            }
            Op::Load(n) => {
                if let Some(i) = pick(n, &model) {
                    prop_assert!(store.load(&model[i].0).await.unwrap().is_some());
                }
            }
            Op::Cycle { pick: n, user } => {
                if let Some(i) = pick(n, &model) {
                    let (old, old_user) = model[i];
                    let user = user.unwrap_or(old_user);
                    let moved = record(user, now);
                    prop_assert_eq!(store.cycle(&old, &moved).await.unwrap(), Cycled::Moved);
                    model[i] = (moved.id, user);
                }
            }
            Op::Rebind { pick: n, user } => {
                if let Some(i) = pick(n, &model) {
                    let mut changes = ChangeSet::new(now + Duration::hours(1));
                    changes.user = Some(user.map(name));
                    prop_assert_eq!(
                        store.save(&model[i].0, &changes).await.unwrap(),
                        Saved::Applied
                    );
                    model[i].1 = user;
                }
            }
            Op::Delete(n) => {
                if let Some(i) = pick(n, &model) {
                    store.delete(&model[i].0).await.unwrap();
                    model.remove(i);
                }
            }
            Op::DeleteUser(user) => {
                let ended = store.delete_user(&name(user), None).await.unwrap();
                prop_assert_eq!(ended as usize, sessions_of(&model, user));
                model.retain(|(_, u)| *u != Some(user));
            }
            Op::EndUserSession { user, pick: n } => {
                if let Some(i) = pick(n, &model) {
                    let ended = store
                        .end_user_session(&name(user), &model[i].0)
                        .await
                        .unwrap();
                    prop_assert_eq!(ended, model[i].1 == Some(user));
                    if ended {
                        model.remove(i);
                    }
                }
            }
        }
        prop_assert_eq!(store.len(), model.len());
        prop_assert!(store.len() <= capacity);
        for (id, user) in &model {
            let loaded = store.load(id).await.unwrap();
            prop_assert!(loaded.is_some(), "a session the model holds is gone");
            prop_assert_eq!(loaded.unwrap().user, user.map(name));
        }
        let mut listed: HashMap<u8, usize> = HashMap::new();
        for user in 0..4 {
            listed.insert(user, store.list_user(&name(user)).await.unwrap().len());
        }
        for user in 0..4 {
            prop_assert_eq!(
                listed[&user],
                sessions_of(&model, user),
                "list_user of {}",
                user
            );
        }
    }
    Ok(())
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn eviction_matches_the_model(
        capacity in 1usize..10,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(run_model(capacity, ops))?;
    }
}
