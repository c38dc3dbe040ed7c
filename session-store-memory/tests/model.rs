//! Model-based test of the session layer: random sequences of requests, each
//! doing random `get` / `insert` / `remove` / `clear` / `destroy` /
//! `cycle_id` / `set_expiry` calls, run through the real layer — with the
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
    EncryptedCookie, Expiry, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie,
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
}

/// The model of one request: what each `get` returns, and what is stored
/// after it (`None`: no session).
fn model(before: &Option<Stored>, ops: &[Op]) -> (Vec<Option<i64>>, Option<Stored>, bool) {
    let mut state = before.clone().unwrap_or_default();
    let mut gets = Vec::new();
    let mut changed = false;
    for op in ops {
        match op {
            Op::Get(k) => gets.push(state.data.get(KEYS[*k]).copied()),
            Op::Insert(k, v) => {
                if state.data.insert(KEYS[*k].to_owned(), *v) != Some(*v) {
                    changed = true;
                }
            }
            Op::Remove(k) => changed |= state.data.remove(KEYS[*k]).is_some(),
            Op::Clear => {
                changed |= !state.data.is_empty();
                state.data.clear();
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
        }
    }
    let after = (!state.data.is_empty()).then_some(state);
    (gets, after, changed)
}

/// The ops the next request runs, and the `get` results it saw.
#[derive(Default)]
struct Script {
    ops: Vec<Op>,
    gets: Vec<Option<i64>>,
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
    layer: SessionLayer,
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
        let seen = std::mem::take(&mut script.lock().gets);
        prop_assert_eq!(
            &seen,
            &gets,
            "step {}: gets of {:?} after {:?}",
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
                prop_assert!(
                    !changed || stored == after,
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
        let layer = SessionLayer::new(store.clone(), key()).with_config(config());
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
