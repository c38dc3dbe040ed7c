//! Two instances of an application (two layers, each on its own store
//! connection) on one Redis: with serialized requests, the requests of one
//! session are serialized across both through the store's leases.

mod common;

use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use http::{header, Request, Response, StatusCode};
use session_core::store::LeaseStore;
use session_core::{Id, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::RedisStore;
use tokio::task::JoinSet;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use common::{send, App};

/// `/inc` adds one to `n` (reading it, yielding, writing it back: a
/// read-modify-write that loses updates unless serialized), `/get` reads
/// it, `/id` answers the session's id.
async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().cloned().unwrap();
    let n: Result<Option<u64>, _> = session.get("n").await;
    let body = match (req.uri().path(), n) {
        (_, Err(err)) => return Ok(err_response(err.status())),
        ("/inc", Ok(n)) => {
            tokio::task::yield_now().await;
            let n = n.unwrap_or(0) + 1;
            session.insert("n", n).await.unwrap();
            n.to_string()
        }
        ("/id", Ok(_)) => session.id().map(|id| id.encode()).unwrap_or_default(),
        (_, Ok(n)) => n.unwrap_or(0).to_string(),
    };
    Ok(Response::new(body))
}

fn err_response(status: StatusCode) -> Response<String> {
    let mut response = Response::new(String::new());
    *response.status_mut() = status;
    response
}

fn app(store: RedisStore, key: &Key, serialize: bool) -> App {
    let config = SessionConfig::new()
        .with_secure(false)
        .with_serialized_requests(serialize);
    let layer = SessionLayer::new(store, key.clone()).with_config(config);
    BoxCloneSyncService::new(layer.layer(tower::service_fn(handler)))
}

/// A fresh session on `app`: its cookie (`name=value`).
async fn new_session(app: &App) -> String {
    let res = send(app, "/inc", None).await;
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Runs `total` increments of one session, alternating between `a` and
/// `b`, all at once; returns (the counter read back, the 2xx answers).
async fn increments(a: &App, b: &App, total: u64) -> (u64, u64) {
    let cookie = new_session(a).await;
    let mut requests = JoinSet::new();
    // The session already counts 1: count from there.
    for i in 0..total - 1 {
        let app = if i % 2 == 0 { a.clone() } else { b.clone() };
        let cookie = cookie.clone();
        requests.spawn(async move { send(&app, "/inc", Some(&cookie)).await.status() });
    }
    let mut ok = 1;
    while let Some(status) = requests.join_next().await {
        if status.unwrap().is_success() {
            ok += 1;
        }
    }
    let read = send(a, "/get", Some(&cookie)).await.into_body();
    (read.parse().unwrap(), ok)
}

fn prefix() -> String {
    format!("test:serialize:{}:", Id::random().encode())
}

async fn two_instances(
    connect: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = RedisStore>>>,
) {
    let key = Key::generate();
    let prefix = prefix();
    let store = |s: RedisStore| {
        s.with_prefix(prefix.clone())
            .with_lease(Duration::from_secs(10), Duration::from_secs(30))
    };
    let (a, b) = (store(connect().await), store(connect().await));

    let (n, ok) = increments(
        &app(a.clone(), &key, true),
        &app(b.clone(), &key, true),
        200,
    )
    .await;
    eprintln!("serialized across two instances: counter {n}, {ok} answers 2xx");
    assert_eq!(ok, 200);
    assert_eq!(n, 200, "lost {} increments", 200 - n);

    let (n, ok) = increments(&app(a, &key, false), &app(b, &key, false), 200).await;
    eprintln!(
        "not serialized: counter {n}, {ok} answers 2xx: {} increments lost",
        ok - n
    );
    assert!(n <= ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_two_instances_lose_no_increment() {
    two_instances(|| Box::pin(common::standalone())).await;
}

/// With the local cache on both instances: the lease drops the cached
/// entry, so a serialized request reads what the previous holder wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_cached_two_instances_lose_no_increment() {
    two_instances(|| {
        Box::pin(async {
            common::standalone()
                .await
                .with_local_cache(1000)
                .await
                .unwrap()
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_two_instances_lose_no_increment() {
    two_instances(|| Box::pin(common::cluster())).await;
}

/// The stored id of the session behind `cookie`.
async fn stored_id(app: &App, cookie: &str) -> Id {
    let id = send(app, "/id", Some(cookie)).await.into_body();
    Id::from_str(&id).unwrap().at_rest()
}

/// A lease taken by an instance that then died (never released) blocks
/// its session until the lease runs out, and is taken over after: a
/// request that waits less answers 503 and changes nothing, one that waits
/// longer goes through.
#[tokio::test]
async fn a_dead_instance_lease_is_taken_over() {
    let key = Key::generate();
    let prefix = prefix();
    let dead = common::standalone()
        .await
        .with_prefix(prefix.clone())
        .with_lease(Duration::from_millis(1500), Duration::from_secs(1));
    let live = common::standalone().await.with_prefix(prefix.clone());
    let impatient = live
        .clone()
        .with_lease(DEFAULT_LEASE_FOR_TEST, Duration::from_millis(1));
    let patient = live.with_lease(DEFAULT_LEASE_FOR_TEST, Duration::from_secs(30));
    let patient_app = app(patient.clone(), &key, true);
    let cookie = new_session(&patient_app).await;
    let stored = stored_id(&patient_app, &cookie).await;

    // The dead instance takes the lease and never gives it back.
    let lease = dead.lock(&stored).await.unwrap();
    drop(lease);

    let res = send(&app(impatient, &key, true), "/inc", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get(header::SET_COOKIE).is_none());

    let res = send(&patient_app, "/inc", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.into_body(),
        "2",
        "the refused request changed the session"
    );
    // Released: the next request does not wait for a lease.
    let res = send(&patient_app, "/get", Some(&cookie)).await;
    assert_eq!(res.into_body(), "2");
}

const DEFAULT_LEASE_FOR_TEST: Duration = session_store_redis::DEFAULT_LEASE;

/// A request that never touches its session takes no lease: a lease held
/// elsewhere does not hold it up.
#[tokio::test]
async fn requests_that_do_not_touch_the_session_take_no_lease() {
    let key = Key::generate();
    let store = common::standalone()
        .await
        .with_prefix(prefix())
        .with_lease(Duration::from_secs(30), Duration::from_millis(1));
    let app = app(store.clone(), &key, true);
    let cookie = new_session(&app).await;
    let stored = stored_id(&app, &cookie).await;
    let held = store.lock(&stored).await.unwrap();
    let layer = SessionLayer::new(store, key).with_config(
        SessionConfig::new()
            .with_secure(false)
            .with_serialized_requests(true),
    );
    let untouched = layer.layer(tower::service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new("plain".to_owned()))
    }));
    let res = untouched
        .oneshot(
            Request::get("/")
                .header(header::COOKIE, &cookie)
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The touching app, waiting 1 ms, is refused while the lease is held.
    assert_eq!(
        send(&app, "/get", Some(&cookie)).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    held.release().await;
    assert_eq!(send(&app, "/get", Some(&cookie)).await.into_body(), "1");
}
