//! "Log out everywhere" and "sign out this device" racing cycles of the
//! same user's sessions, run many times in a row: at the store (the
//! conformance race for 1000 rounds, and counted versions that report how
//! many rounds went wrong) and through the layer (requests that cycle
//! their session while another device of the user logs out everywhere).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use session_core::store::conformance::race_cycles_against_delete_user;
use session_core::store::{CycleStore, Cycled, Record, SessionStore, UserIndex};
use session_core::time::{Duration, OffsetDateTime};
use session_core::{Error, Id, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

/// The conformance race, 1000 rounds in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_racing_delete_user_a_thousand_rounds() {
    let _alone = ONE_RACE_AT_A_TIME.lock().await;
    race_cycles_against_delete_user(session_core::store::AnyStore::new(MemoryStore::new()), 1000)
        .await;
}

fn bound(user: &str) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("who".into(), json!(user));
    record.user = Some(user.to_owned());
    record
}

/// Held by each test here for its whole run: the races spin threads, and
/// on a small machine two tests spinning at once starve each other's
/// racers, so that one side wins every round.
static ONE_RACE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a racer waits at the start line for the other at most.
const LINE_UP: StdDuration = StdDuration::from_secs(2);

/// Keeps this thread busy for `nanos` ns.
fn spin(nanos: u64) {
    let until = Instant::now() + StdDuration::from_nanos(nanos);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Lines up two racers on two threads (the test's own and one worker of
/// its runtime): the spawned one spins until the start, so that it need
/// not be woken; the test's thread yields while it waits for it to be
/// ready. Every wait is bounded by [`LINE_UP`].
#[derive(Default)]
struct StartLine {
    ready: AtomicBool,
    go: AtomicBool,
}

impl StartLine {
    /// The spawned racer: says it is ready, then waits for the start.
    fn ready_then_wait(&self) {
        self.ready.store(true, Ordering::SeqCst);
        let since = Instant::now();
        while !self.go.load(Ordering::SeqCst) && since.elapsed() < LINE_UP {
            std::hint::spin_loop();
        }
    }

    /// The test's thread: waits until the racer is ready, then starts it.
    fn start(&self) {
        let since = Instant::now();
        while !self.ready.load(Ordering::SeqCst) && since.elapsed() < LINE_UP {
            std::thread::yield_now();
        }
        self.go.store(true, Ordering::SeqCst);
    }
}

/// The race counted: in each of 1000 rounds, a user with 24 sessions has
/// four of them cycled (by a task on another thread, started on the same
/// instant and then a little later each round: 0 to 3.9 µs) while
/// `delete_user` runs, keeping the first session as "log out my other
/// devices" does. A round goes wrong when a cycled session lives on under
/// either id, or the user lists anything but the kept session afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_ends_sessions_cycled_meanwhile_counted() {
    let _alone = ONE_RACE_AT_A_TIME.lock().await;
    let store = MemoryStore::new();
    let rounds = 1000;
    let mut wrong = Vec::new();
    for round in 0..rounds {
        let user = format!("cycled-{round}");
        let sessions: Vec<Record> = (0..24).map(|_| bound(&user)).collect();
        for record in &sessions {
            store.create(record).await.unwrap();
        }
        let keep = sessions[0].id;
        let moves: Vec<(Id, Record)> = sessions
            .iter()
            .skip(5)
            .step_by(6)
            .map(|old| {
                let mut moved = bound(&user);
                moved.created_at = old.created_at;
                (old.id, moved)
            })
            .collect();
        let line = Arc::new(StartLine::default());
        let cycler = {
            let (store, line, moves) = (store.clone(), line.clone(), moves.clone());
            tokio::spawn(async move {
                line.ready_then_wait();
                spin(100 * (round as u64 % 40));
                let mut outcomes = Vec::new();
                for (old, moved) in &moves {
                    outcomes.push(store.cycle(old, moved).await.unwrap());
                }
                outcomes
            })
        };
        line.start();
        let ended = store.delete_user(&user, Some(&keep)).await.unwrap();
        let outcomes = cycler.await.unwrap();
        let mut alive = 0;
        for ((old, moved), outcome) in moves.iter().zip(outcomes) {
            assert!(matches!(outcome, Cycled::Moved | Cycled::Gone));
            alive += usize::from(store.load(old).await.unwrap().is_some());
            alive += usize::from(store.load(&moved.id).await.unwrap().is_some());
        }
        let listed: Vec<Id> = store
            .list_user(&user)
            .await
            .unwrap()
            .into_iter()
            .map(|session| session.id)
            .collect();
        if alive > 0 || listed != [keep] || ended != 23 {
            wrong.push((round, alive, listed.len(), ended));
        }
        store.delete_user(&user, None).await.unwrap();
    }
    assert!(
        wrong.is_empty(),
        "{} of {rounds} rounds left a session cycled during delete_user alive \
         (round, sessions alive, listed, ended): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

/// How long one racer starts after the other, in ns: 0, then doubling
/// from 50 ns to 25.6 µs.
const LAGS: [u64; 11] = [
    0, 50, 100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600,
];

/// `end_user_session` racing a cycle of the session it names (started on
/// the same instant on another thread, then one side up to 25.6 µs after
/// the other), counted over 1000 rounds: `true` only if the session is live under neither id
/// afterwards; `false` only if the cycle moved it first (and it lives
/// under the new id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_session_racing_a_cycle_tells_the_truth_counted() {
    let _alone = ONE_RACE_AT_A_TIME.lock().await;
    let store = MemoryStore::new();
    let rounds = 1000;
    let (mut lies, mut ended_first, mut moved_first) = (Vec::new(), 0, 0);
    for round in 0..rounds {
        let user = format!("ender-{round}");
        let old = bound(&user);
        store.create(&old).await.unwrap();
        let mut moved = bound(&user);
        moved.created_at = old.created_at;
        let new = moved.id;
        // Each side in turn starts after the other, by a lag from LAGS:
        // the short ones race inside the two calls' few hundred ns, the
        // long ones make sure each order happens even on a loaded machine.
        let lag = LAGS[round / 2 % LAGS.len()];
        let (cycle_lag, end_lag) = if round % 2 == 0 { (lag, 0) } else { (0, lag) };
        let line = Arc::new(StartLine::default());
        let cycling = {
            let (store, old, line) = (store.clone(), old.id, line.clone());
            tokio::spawn(async move {
                line.ready_then_wait();
                spin(cycle_lag);
                store.cycle(&old, &moved).await.unwrap()
            })
        };
        line.start();
        spin(end_lag);
        let ended = store.end_user_session(&user, &old.id).await.unwrap();
        let cycled = cycling.await.unwrap();
        let old_lives = store.load(&old.id).await.unwrap().is_some();
        let new_lives = store.load(&new).await.unwrap().is_some();
        let truthful = if ended {
            !old_lives && !new_lives && cycled == Cycled::Gone
        } else {
            !old_lives && new_lives && cycled == Cycled::Moved
        };
        if !truthful {
            lies.push((round, ended, cycled, old_lives, new_lives));
        }
        if ended {
            ended_first += 1;
        } else {
            moved_first += 1;
        }
        store.delete_user(&user, None).await.unwrap();
    }
    assert!(
        lies.is_empty(),
        "{} of {rounds} answers were wrong (round, ended, cycle, old lives, new lives): {:?}",
        lies.len(),
        &lies[..lies.len().min(10)]
    );
    eprintln!("end_user_session ran first {ended_first} times, the cycle {moved_first} times");
    // Both orders happened, or the race was not exercised.
    assert!(
        ended_first > 0 && moved_first > 0,
        "ended first {ended_first}, moved first {moved_first}"
    );
}

fn key() -> Key {
    Key::from_bytes(&[7; 32]).unwrap()
}

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
        // A privilege change: a fresh id for a live session, nothing else.
        .route(
            "/cycle",
            get(|session: Session| async move {
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
            "/everywhere",
            get(|session: Session| async move {
                Ok::<_, Error>(session.end_all_sessions().await?.to_string())
            }),
        )
        .layer(SessionLayer::new(store, key()).with_config(SessionConfig::new().with_secure(false)))
}

/// A browser: keeps the cookie the last response set.
#[derive(Default)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    async fn get(&mut self, app: &Router, path: &str) -> String {
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
        let body = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

/// Through the layer, 500 rounds: a user logged in on 40 browsers; ten of
/// them send requests that cycle their session (a privilege change), from
/// another thread, while the last logs out everywhere; the cycling starts
/// on the same instant, then a little later each round (0 to 19.6 µs).
/// Afterwards no browser is logged in and the store lists nothing for the
/// user, whichever ran first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_racing_cycles_through_the_layer() {
    let _alone = ONE_RACE_AT_A_TIME.lock().await;
    let store = MemoryStore::new();
    let app = app(store.clone());
    let rounds = 500;
    let mut wrong = Vec::new();
    for round in 0..rounds {
        let user = format!("device-{round}");
        let mut browsers = Vec::new();
        for _ in 0..40 {
            let mut browser = Browser::default();
            browser.get(&app, &format!("/login/{user}")).await;
            browsers.push(browser);
        }
        let mut everywhere = browsers.pop().unwrap();
        let line = Arc::new(StartLine::default());
        let racer = {
            let (app, line) = (app.clone(), line.clone());
            tokio::spawn(async move {
                line.ready_then_wait();
                spin(400 * (round as u64 % 50));
                // Some of them cycle; the others wait to be ended.
                for browser in browsers.iter_mut().step_by(4) {
                    browser.get(&app, "/cycle").await;
                }
                browsers
            })
        };
        line.start();
        everywhere.get(&app, "/everywhere").await;
        let mut logged_in = 0;
        for mut browser in racer.await.unwrap() {
            logged_in += usize::from(browser.get(&app, "/whoami").await == user);
        }
        let listed = store.list_user(&user).await.unwrap().len();
        if logged_in > 0 || listed > 0 {
            wrong.push((round, logged_in, listed));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {rounds} rounds left a browser logged in after \"log out everywhere\" \
         (round, browsers still logged in, sessions listed): {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}
