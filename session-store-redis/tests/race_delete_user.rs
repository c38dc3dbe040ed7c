//! "Log out everywhere" (`delete_user`) and "end this device"
//! (`end_user_session`) racing logins (`cycle`, a session moved to a fresh
//! id at the same moment), on one node and on the Cluster, many rounds in
//! a row.
//!
//! Each round counts as failed when, once every call is answered, a
//! session of the user is still live under its old or its new id, or is
//! still listed; or when `end_user_session` answered `true` although the
//! session goes on under its new id. The counting tests print how many
//! rounds failed before asserting none did, so a regression shows its
//! rate; the conformance suite's `race_cycles_against_delete_user` runs
//! 1000 rounds as well and stops at the first failure.

mod common;

use serde_json::json;
use session_core::store::conformance::race_cycles_against_delete_user;
use session_core::store::{CycleStore, Cycled, Record, SessionStore, UserIndex};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::RedisStore;

/// Rounds per test.
const ROUNDS: usize = 1000;
/// Sessions of the user per round, each cycled by a task of its own.
const SESSIONS: usize = 3;

fn bound(user: &str) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record.user = Some(user.to_owned());
    record
}

fn fresh_user(label: &str) -> String {
    format!("{label}-{}", Id::random().short_hash())
}

/// Yields `n` times: the cycles start at different moments of the
/// `delete_user` they race, round after round.
async fn yields(n: usize) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// `ROUNDS` rounds of `SESSIONS` cycles racing one `delete_user`; returns
/// how many rounds left a session of the user live or listed.
async fn delete_user_racing_cycles(store: RedisStore) -> usize {
    let mut failed = 0;
    let mut moved = 0;
    for round in 0..ROUNDS {
        let user = fresh_user("racer");
        let sessions: Vec<Record> = (0..SESSIONS).map(|_| bound(&user)).collect();
        for record in &sessions {
            store.create(record).await.unwrap();
        }
        let mut cycles = Vec::new();
        for (n, old) in sessions.iter().enumerate() {
            let store = store.clone();
            let old = old.id;
            let mut target = bound(&user);
            target.created_at = sessions[n].created_at;
            let new = target.id;
            let pause = (round / 2 + 3 * n) % 9;
            cycles.push((
                old,
                new,
                tokio::spawn(async move {
                    yields(pause).await;
                    store.cycle(&old, &target).await.unwrap()
                }),
            ));
        }
        // Sometimes a round trip or more later: on a cluster a cycle takes
        // several.
        yields(round % 3).await;
        for _ in 0..(round / 3) % 4 {
            store.load(&Id::random()).await.unwrap();
        }
        store.delete_user(&user, None).await.unwrap();
        let mut survived = false;
        for (old, new, task) in cycles {
            let outcome = task.await.unwrap();
            assert!(
                matches!(outcome, Cycled::Moved | Cycled::Gone),
                "round {round}: {outcome:?}"
            );
            moved += usize::from(outcome == Cycled::Moved);
            survived |= store.load(&old).await.unwrap().is_some();
            survived |= store.load(&new).await.unwrap().is_some();
        }
        survived |= !store.list_user(&user).await.unwrap().is_empty();
        failed += usize::from(survived);
    }
    eprintln!(
        "delete_user racing cycles: {failed} of {ROUNDS} rounds left a session live \
         ({moved} of {} cycles answered Moved)",
        ROUNDS * SESSIONS
    );
    // The race was run: some cycles landed before delete_user saw them.
    assert!(moved > 0, "no cycle ever moved a session: no race was run");
    failed
}

/// `ROUNDS` rounds of one cycle racing `end_user_session` of the same
/// session; returns how many rounds `end_user_session` did not tell the
/// truth in (answered `true` while the session lives on under its new
/// id, or `false` while it was neither moved nor is live).
async fn end_user_session_racing_a_cycle(store: RedisStore) -> usize {
    let mut lies = 0;
    let (mut ended, mut moved) = (0, 0);
    for round in 0..ROUNDS {
        let user = fresh_user("ender");
        let old = bound(&user);
        store.create(&old).await.unwrap();
        let mut target = bound(&user);
        target.created_at = old.created_at;
        let new = target.id;
        let cycling = {
            let store = store.clone();
            let old = old.id;
            tokio::spawn(async move {
                yields(round % 3).await;
                store.cycle(&old, &target).await.unwrap()
            })
        };
        // From before the cycle starts to after it is done (a cluster's
        // cycle takes several round trips): a few round trips of delay.
        yields(round % 5).await;
        for _ in 0..(round / 5) % 8 {
            store.load(&Id::random()).await.unwrap();
        }
        let answer = store.end_user_session(&user, &old.id).await.unwrap();
        let cycled = cycling.await.unwrap();
        let old_lives = store.load(&old.id).await.unwrap().is_some();
        let new_lives = store.load(&new).await.unwrap().is_some();
        let truthful = !old_lives
            && if answer {
                !new_lives
            } else {
                cycled == Cycled::Moved && new_lives
            };
        lies += usize::from(!truthful);
        ended += usize::from(answer);
        moved += usize::from(cycled == Cycled::Moved);
        store.delete_user(&user, None).await.unwrap();
    }
    eprintln!(
        "end_user_session racing a cycle: {lies} of {ROUNDS} answers untrue \
         ({ended} answered true, {moved} cycles moved)"
    );
    assert!(
        ended > 0 && moved > 0,
        "one side always won: no race was run"
    );
    lies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_delete_user_racing_cycles_leaves_nothing() {
    let failed = delete_user_racing_cycles(common::standalone().await).await;
    assert_eq!(failed, 0, "{failed} of {ROUNDS} rounds left a session live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_delete_user_racing_cycles_leaves_nothing() {
    let failed = delete_user_racing_cycles(common::cluster().await).await;
    assert_eq!(failed, 0, "{failed} of {ROUNDS} rounds left a session live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_end_user_session_racing_a_cycle_tells_the_truth() {
    let lies = end_user_session_racing_a_cycle(common::standalone().await).await;
    assert_eq!(lies, 0, "{lies} of {ROUNDS} answers were untrue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_end_user_session_racing_a_cycle_tells_the_truth() {
    let lies = end_user_session_racing_a_cycle(common::cluster().await).await;
    assert_eq!(lies, 0, "{lies} of {ROUNDS} answers were untrue");
}

/// The conformance suite's race, 1000 rounds in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_conformance_race_1000_rounds() {
    race_cycles_against_delete_user(
        session_core::store::AnyStore::new(common::standalone().await),
        ROUNDS,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_conformance_race_1000_rounds() {
    race_cycles_against_delete_user(
        session_core::store::AnyStore::new(common::cluster().await),
        ROUNDS,
    )
    .await;
}
