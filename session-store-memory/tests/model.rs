//! Model-based test of the session layer: random sequences of requests, each
//! doing random `get` / `insert` / `remove` / `clear` / `destroy` /
//! `cycle_id` / `set_expiry` / `flash` / `take_flashes` calls, run through the real layer — with the
//! memory store and with the signed and encrypted cookie codecs — and
//! checked against a small reference model of what the next request must
//! see, and what the response's cookie must say.
//!
//! CI runs a fixed number of cases from a fixed seed (proptest's default
//! deterministic runner); a longer exploration:
//! `PROPTEST_CASES=5000 cargo test -p session-store-memory --test model`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::Request;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use session_core::{
    EncryptedCookie, Expiry, Key, Keys, Level, Session, SessionConfig, SessionLayer, SignedCookie,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

const KEYS: [&str; 3] = ["a", "b", "c"];
/// The layer's default max age, as `Max-Age` says it.
const DEFAULT_MAX_AGE: &str = "1209600";

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    Insert(usize, i64),
    Remove(usize),
    Clear,
    Destroy,
    Cycle,
    /// `None`, or one of the policies of [`policy`].
    SetExpiry(Option<usize>),
    /// A flash message whose text is this number.
    Flash(i64),
    TakeFlashes,
}

fn policy(index: usize) -> Expiry {
    match index {
        0 => Expiry::OnSessionEnd,
        1 => Expiry::OnInactivity(StdDuration::from_secs(3 * 86_400)),
        _ => Expiry::OnInactivity(StdDuration::from_secs(30 * 86_400)),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..KEYS.len()).prop_map(Op::Get),
        4 => (0..KEYS.len(), -3i64..100).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (0..KEYS.len()).prop_map(Op::Remove),
        1 => Just(Op::Clear),
        1 => Just(Op::Destroy),
        1 => Just(Op::Cycle),
        1 => proptest::option::of(0usize..3).prop_map(Op::SetExpiry),
        2 => (0i64..100).prop_map(Op::Flash),
        2 => Just(Op::TakeFlashes),
    ]
}

fn requests() -> impl Strategy<Value = Vec<Vec<Op>>> {
    proptest::collection::vec(proptest::collection::vec(op(), 0..6), 1..8)
}

/// What the application has stored between requests, as the model sees it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Stored {
    data: BTreeMap<String, i64>,
    expiry: Option<Expiry>,
    /// Pending flash messages, oldest first.
    flashes: Vec<i64>,
}

/// What the handler saw: each `get`'s value and each `take_flashes`' list.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    gets: Vec<Option<i64>>,
    takes: Vec<Vec<i64>>,
}

/// The model of one request: what the handler sees, and what is stored
/// after it (`None`: no session).
fn model(before: &Option<Stored>, ops: &[Op]) -> (Seen, Option<Stored>, bool) {
    let mut state = before.clone().unwrap_or_default();
    let mut gets = Seen::default();
    let mut changed = false;
    for op in ops {
        match op {
            Op::Get(k) => gets.gets.push(state.data.get(KEYS[*k]).copied()),
            Op::Insert(k, v) => {
                if state.data.insert(KEYS[*k].to_owned(), *v) != Some(*v) {
                    changed = true;
                }
            }
            Op::Remove(k) => changed |= state.data.remove(KEYS[*k]).is_some(),
            Op::Clear => {
                changed |= !state.data.is_empty() || !state.flashes.is_empty();
                state.data.clear();
                state.flashes.clear();
            }
            Op::Destroy => {
                state = Stored::default();
                changed = true;
            }
            Op::Cycle => changed = true,
            Op::SetExpiry(p) => {
                let p = p.map(policy);
                if state.expiry != p {
                    state.expiry = p;
                    changed = true;
                }
            }
            Op::Flash(n) => {
                state.flashes.push(*n);
                changed = true;
            }
            Op::TakeFlashes => {
                changed |= !state.flashes.is_empty();
                gets.takes.push(std::mem::take(&mut state.flashes));
            }
        }
    }
    let after = (!state.data.is_empty() || !state.flashes.is_empty()).then_some(state);
    (gets, after, changed)
}

/// The ops the next request runs, and the `get` results it saw.
#[derive(Default)]
struct Script {
    ops: Vec<Op>,
    gets: Vec<Option<i64>>,
    takes: Vec<Vec<i64>>,
}

async fn run(
    session: Session,
    script: Arc<Mutex<Script>>,
) -> Result<&'static str, session_core::Error> {
    let ops = std::mem::take(&mut script.lock().ops);
    for op in ops {
        match op {
            Op::Get(k) => {
                let value: Option<i64> = session.get(KEYS[k]).await?;
                script.lock().gets.push(value);
            }
            Op::Insert(k, v) => session.insert(KEYS[k], v).await?,
            Op::Remove(k) => {
                session.remove_value(KEYS[k]).await?;
            }
            Op::Clear => session.clear().await?,
            Op::Destroy => session.destroy(),
            Op::Cycle => session.cycle_id().await?,
            Op::SetExpiry(p) => session.set_expiry(p.map(policy)).await?,
            Op::Flash(n) => session.flash(Level::Info, n.to_string()).await?,
            Op::TakeFlashes => {
                let taken = session.take_flashes::<Level>().await?;
                let texts = taken.iter().map(|f| f.text.parse().unwrap()).collect();
                script.lock().takes.push(texts);
            }
        }
    }
    Ok("done")
}

fn expected_max_age(expiry: Option<Expiry>) -> Option<String> {
    match expiry {
        None => Some(DEFAULT_MAX_AGE.to_owned()),
        Some(Expiry::OnSessionEnd) => None,
        Some(Expiry::OnInactivity(ttl)) => Some(ttl.as_secs().to_string()),
        Some(Expiry::AtDateTime(_)) => unreachable!("not generated"),
    }
}

/// Runs one sequence of requests through `layer` and checks every step.
fn check(
    rt: &tokio::runtime::Runtime,
    layer: SessionLayer<impl session_core::store::SessionStore>,
    store: Option<&MemoryStore>,
    requests: &[Vec<Op>],
) -> Result<(), TestCaseError> {
    let script = Arc::new(Mutex::new(Script::default()));
    let app = Router::new()
        .route(
            "/",
            get({
                let script = script.clone();
                move |session: Session| run(session, script.clone())
            }),
        )
        .layer(layer);
    let mut jar: Option<String> = None;
    let mut stored: Option<Stored> = None;
    for (step, ops) in requests.iter().enumerate() {
        script.lock().ops = ops.clone();
        let mut request = Request::get("/");
        if let Some(cookie) = &jar {
            request = request.header("cookie", cookie.as_str());
        }
        let response = rt
            .block_on(app.clone().oneshot(request.body(Body::empty()).unwrap()))
            .unwrap();
        prop_assert!(
            response.status().is_success(),
            "step {step}: {}",
            response.status()
        );
        let (gets, after, changed) = model(&stored, ops);
        let seen = {
            let mut script = script.lock();
            Seen {
                gets: std::mem::take(&mut script.gets),
                takes: std::mem::take(&mut script.takes),
            }
        };
        prop_assert_eq!(
            &seen,
            &gets,
            "step {}: gets and flashes of {:?} after {:?}",
            step,
            ops,
            stored
        );

        let set_cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        match (&after, &set_cookie) {
            (Some(now), Some(header)) if !header.contains("Max-Age=0") => {
                let max_age = header
                    .split("; ")
                    .find_map(|p| p.strip_prefix("Max-Age="))
                    .map(str::to_owned);
                prop_assert_eq!(
                    max_age,
                    expected_max_age(now.expiry),
                    "step {}: {}",
                    step,
                    header
                );
                jar = Some(header.split(';').next().unwrap().to_owned());
            }
            (Some(_), None) => {
                // A server-side session that keeps its id and policy keeps
                // its cookie: the expiry does not move within the
                // precision (`with_expiry_precision`), so none is re-sent.
                let same_id_and_policy = store.is_some()
                    && stored.as_ref().map(|s| s.expiry) == after.as_ref().map(|a| a.expiry)
                    && !ops.iter().any(|op| matches!(op, Op::Destroy | Op::Cycle));
                prop_assert!(
                    !changed || stored == after || same_id_and_policy,
                    "step {}: changed but no cookie",
                    step
                );
                prop_assert!(jar.is_some(), "step {}: a session but no cookie", step);
            }
            (Some(_), Some(header)) => {
                prop_assert!(
                    false,
                    "step {}: session kept but cookie removed: {}",
                    step,
                    header
                )
            }
            (None, Some(header)) => {
                prop_assert!(header.contains("Max-Age=0"), "step {}: {}", step, header);
                jar = None;
            }
            (None, None) => {
                // Nothing to remove unless the request came with a cookie
                // that held a session.
                prop_assert!(
                    stored.is_none(),
                    "step {}: session ended, cookie left",
                    step
                );
            }
        }
        if let Some(store) = store {
            let live = usize::from(after.is_some());
            prop_assert_eq!(store.len(), live, "step {}: stored sessions", step);
        }
        stored = after;
    }
    Ok(())
}

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]),
    )
}

fn key() -> Key {
    Key::from_bytes(&[9; 32]).unwrap()
}

fn config() -> SessionConfig {
    SessionConfig::new().with_secure(false)
}

fn run_model(layer: impl Fn() -> (SessionLayer, Option<MemoryStore>)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    runner()
        .run(&requests(), |requests| {
            let (layer, store) = layer();
            check(&rt, layer, store.as_ref(), &requests)
        })
        .unwrap();
}

#[test]
fn memory_store_matches_the_model() {
    run_model(|| {
        let store = MemoryStore::new();
        let layer = SessionLayer::new(session_core::store::AnyStore::new(store.clone()), key())
            .with_config(config());
        (layer, Some(store))
    });
}

#[test]
fn signed_cookie_matches_the_model() {
    run_model(|| {
        let codec = SignedCookie::new(&Keys::from(key()));
        (SessionLayer::client_side(codec).with_config(config()), None)
    });
}

#[test]
fn encrypted_cookie_matches_the_model() {
    run_model(|| {
        let codec = EncryptedCookie::new(&Keys::from(key()));
        (SessionLayer::client_side(codec).with_config(config()), None)
    });
}

/// Two interleaved requests of one session: `X` runs its first ops, then
/// `Y` runs from start to finish, then `X` runs the rest. Both carry the
/// same cookie. Ops: `get`, `insert`, `remove`, and in `Y` also `destroy`
/// (a logout in another tab).
#[derive(Clone, Debug)]
struct Interleaving {
    before: Vec<(usize, i64)>,
    x1: Vec<Op>,
    y: Vec<Op>,
    x2: Vec<Op>,
}

fn data_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..KEYS.len()).prop_map(Op::Get),
        3 => (0..KEYS.len(), -3i64..5).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (0..KEYS.len()).prop_map(Op::Remove),
    ]
}

fn interleavings() -> impl Strategy<Value = Interleaving> {
    let ops = || proptest::collection::vec(data_op(), 0..4);
    let y_ops =
        proptest::collection::vec(prop_oneof![6 => data_op(), 1 => Just(Op::Destroy)], 0..4);
    (
        proptest::collection::vec((0..KEYS.len(), -3i64..5), 1..3),
        ops(),
        y_ops,
        ops(),
    )
        .prop_map(|(before, x1, y, x2)| Interleaving { before, x1, y, x2 })
}

/// The sessions in the store, by generation: the cookie both requests
/// carry names generation 0; each new session gets the next one.
type Sessions = BTreeMap<u32, BTreeMap<String, i64>>;

/// What one request of the interleaving sees and leaves, by the layer's
/// rules: it loads its session as the store has it at its first use; its
/// commit applies only the keys it changed (a change set) to the session as
/// it is then, deletes it when the request left it empty, and writes
/// nothing when the session ended meanwhile (logout wins); a request that
/// found no live session, or destroyed it, and wrote, makes a new session.
struct Visit<'a> {
    /// The request's view, once loaded.
    view: Option<BTreeMap<String, i64>>,
    /// Whether the view came from a live session.
    live: bool,
    dirty: std::collections::BTreeSet<&'a str>,
    destroyed: bool,
    gets: Vec<Option<i64>>,
}

impl<'a> Visit<'a> {
    fn new() -> Self {
        Self {
            view: None,
            live: false,
            dirty: Default::default(),
            destroyed: false,
            gets: Vec::new(),
        }
    }

    fn run(&mut self, store: &Sessions, ops: &[Op]) {
        for op in ops {
            if self.view.is_none() && !matches!(op, Op::Destroy) {
                self.live = store.contains_key(&0);
                self.view = Some(store.get(&0).cloned().unwrap_or_default());
            }
            match op {
                Op::Get(k) => self
                    .gets
                    .push(self.view.as_ref().unwrap().get(KEYS[*k]).copied()),
                Op::Insert(k, v) => {
                    let view = self.view.as_mut().unwrap();
                    if view.insert(KEYS[*k].to_owned(), *v) != Some(*v) {
                        self.dirty.insert(KEYS[*k]);
                    }
                }
                Op::Remove(k) => {
                    if self.view.as_mut().unwrap().remove(KEYS[*k]).is_some() {
                        self.dirty.insert(KEYS[*k]);
                    }
                }
                Op::Destroy => {
                    self.destroyed = true;
                    self.view = Some(BTreeMap::new());
                    self.live = false;
                    self.dirty.clear();
                }
                _ => unreachable!("not generated here"),
            }
        }
    }

    /// Applies the commit to `store`; returns what the response tells the
    /// browser: `None` nothing, `Some(None)` drop the cookie,
    /// `Some(Some(generation))` the cookie of that session.
    fn commit(self, store: &mut Sessions, next: u32) -> Option<Option<u32>> {
        let view = self.view?; // never used the session
        if self.destroyed {
            store.remove(&0);
            if view.is_empty() {
                return Some(None);
            }
            store.insert(next, view);
            return Some(Some(next));
        }
        if !self.live {
            // The cookie named no live session when it loaded.
            if view.is_empty() {
                return Some(None);
            }
            store.insert(next, view);
            return Some(Some(next));
        }
        if self.dirty.is_empty() {
            return None;
        }
        if view.is_empty() {
            store.remove(&0);
            return Some(None);
        }
        let now = store.get_mut(&0)?; // ended meanwhile: logout wins
        for key in self.dirty {
            match view.get(key) {
                Some(v) => now.insert(key.to_owned(), *v),
                None => now.remove(key),
            };
        }
        Some(Some(0))
    }
}

#[test]
fn interleaved_requests_of_one_session_match_the_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    runner()
        .run(&interleavings(), |case| {
            let store = MemoryStore::new();
            let layer = SessionLayer::new(store.clone(), key()).with_config(config());
            let paused = Arc::new(tokio::sync::Notify::new());
            let resume = Arc::new(tokio::sync::Notify::new());
            let scripts: Arc<Mutex<BTreeMap<&'static str, Script>>> = Arc::default();
            let app = Router::new()
                .route(
                    "/",
                    get({
                        let scripts = scripts.clone();
                        let (paused, resume) = (paused.clone(), resume.clone());
                        move |session: Session, uri: http::Uri| {
                            let scripts = scripts.clone();
                            let (paused, resume) = (paused.clone(), resume.clone());
                            async move {
                                let run_named = |name: &'static str| {
                                    let script = Arc::new(Mutex::new(std::mem::take(
                                        scripts.lock().get_mut(name).unwrap(),
                                    )));
                                    let (session, scripts) = (session.clone(), scripts.clone());
                                    async move {
                                        run(session, script.clone()).await?;
                                        let done = std::mem::take(&mut *script.lock());
                                        scripts
                                            .lock()
                                            .get_mut(name)
                                            .unwrap()
                                            .gets
                                            .extend(done.gets);
                                        Ok::<_, session_core::Error>(())
                                    }
                                };
                                match uri.query() {
                                    Some("x") => {
                                        run_named("x1").await?;
                                        paused.notify_one();
                                        resume.notified().await;
                                        run_named("x2").await?;
                                    }
                                    _ => run_named("y").await?,
                                }
                                Ok::<_, session_core::Error>("done")
                            }
                        }
                    }),
                )
                .layer(layer);
            // The session as it stands before X and Y.
            let before: BTreeMap<String, i64> = case
                .before
                .iter()
                .map(|(k, v)| (KEYS[*k].to_owned(), *v))
                .collect();
            let setup: Vec<Op> = case
                .before
                .iter()
                .map(|(k, v)| Op::Insert(*k, *v))
                .collect();
            {
                let mut s = scripts.lock();
                s.insert(
                    "y",
                    Script {
                        ops: setup,
                        gets: Vec::new(),
                        takes: Vec::new(),
                    },
                );
            }
            let response = rt
                .block_on(
                    app.clone()
                        .oneshot(Request::get("/").body(Body::empty()).unwrap()),
                )
                .unwrap();
            let cookie = response.headers()["set-cookie"].to_str().unwrap();
            let cookie = cookie.split(';').next().unwrap().to_owned();
            {
                let mut s = scripts.lock();
                s.insert(
                    "x1",
                    Script {
                        ops: case.x1.clone(),
                        gets: Vec::new(),
                        takes: Vec::new(),
                    },
                );
                s.insert(
                    "x2",
                    Script {
                        ops: case.x2.clone(),
                        gets: Vec::new(),
                        takes: Vec::new(),
                    },
                );
                s.insert(
                    "y",
                    Script {
                        ops: case.y.clone(),
                        gets: Vec::new(),
                        takes: Vec::new(),
                    },
                );
            }
            let request = |query: &str| {
                Request::get(format!("/?{query}"))
                    .header("cookie", cookie.as_str())
                    .body(Body::empty())
                    .unwrap()
            };
            let mut jar = Some(cookie.clone());
            rt.block_on(async {
                let x = tokio::spawn(app.clone().oneshot(request("x")));
                paused.notified().await;
                let y = app.clone().oneshot(request("y")).await.unwrap();
                assert!(y.status().is_success());
                resume.notify_one();
                let x = x.await.unwrap().unwrap();
                assert!(x.status().is_success());
                // The browser keeps what the later response said.
                for response in [y, x] {
                    if let Some(set) = response.headers().get("set-cookie") {
                        let set = set.to_str().unwrap();
                        jar = (!set.contains("Max-Age=0"))
                            .then(|| set.split(';').next().unwrap().to_owned());
                    }
                }
            });

            // The model.
            let mut sessions = Sessions::new();
            sessions.insert(0, before);
            let mut x = Visit::new();
            x.run(&sessions, &case.x1);
            let mut y = Visit::new();
            y.run(&sessions, &case.y);
            let y_gets = y.gets.clone();
            let mut model_jar = Some(0);
            if let Some(told) = y.commit(&mut sessions, 1) {
                model_jar = told;
            }
            x.run(&sessions, &case.x2);
            let x_gets = x.gets.clone();
            if let Some(told) = x.commit(&mut sessions, 2) {
                model_jar = told;
            }

            let s = scripts.lock();
            prop_assert_eq!(&s["y"].gets, &y_gets, "Y's gets: {:?}", case);
            let seen_x: Vec<_> = s["x1"].gets.iter().chain(&s["x2"].gets).copied().collect();
            prop_assert_eq!(&seen_x, &x_gets, "X's gets: {:?}", case);
            drop(s);

            prop_assert_eq!(store.len(), sessions.len(), "stored sessions: {:?}", case);
            prop_assert_eq!(jar.is_some(), model_jar.is_some(), "the cookie: {:?}", case);
            if let (Some(jar), Some(generation)) = (jar, model_jar) {
                // What the browser's cookie reads now.
                let all: Vec<Op> = (0..KEYS.len()).map(Op::Get).collect();
                scripts.lock().insert(
                    "y",
                    Script {
                        ops: all,
                        gets: Vec::new(),
                        takes: Vec::new(),
                    },
                );
                let read = Request::get("/?y")
                    .header("cookie", jar.as_str())
                    .body(Body::empty())
                    .unwrap();
                rt.block_on(app.clone().oneshot(read)).unwrap();
                let seen = std::mem::take(&mut scripts.lock().get_mut("y").unwrap().gets);
                let expected = sessions.get(&generation).cloned().unwrap_or_default();
                let want: Vec<_> = KEYS.iter().map(|k| expected.get(*k).copied()).collect();
                prop_assert_eq!(seen, want, "{:?}", case);
            }
            Ok(())
        })
        .unwrap();
}
