//! How long the local cache can serve a session that another instance
//! logged out, measured (the figures the crate docs and the README give):
//!
//! - `Pushed`, a read right after the logout's `DEL` was answered: the
//!   invalidation may still be on its way; the rounds that served the
//!   ended session are counted, and how long the push took to arrive;
//! - `Fenced`: never (asserted);
//! - `Pushed` on a tracking connection that stalls silently (a half-open
//!   TCP connection): the entries are served until the heartbeat gives the
//!   connection up, about one second plus the store's timeout; `Fenced`
//!   serves nothing.
//!
//! The counts depend on scheduling, so they are printed, and only the
//! bounds the design guarantees are asserted.

mod common;

use std::time::{Duration, Instant};

use session_core::store::SessionStore;
use session_core::Id;
use session_store_redis::{CacheMode, CacheState, RedisStore};

use common::cache::record;
use common::proxy::Proxy;

const ROUNDS: usize = 300;

fn prefix() -> String {
    format!("test:window:{}:", Id::random().encode())
}

async fn cached(store: RedisStore, mode: CacheMode) -> RedisStore {
    let store = store.with_local_cache_mode(1000, mode).await.unwrap();
    assert_eq!(store.cache_stats().state, CacheState::Tracking);
    store
}

/// `ROUNDS` logouts on instance B of a session instance A holds in its
/// cache, each followed at once by a read on A. Returns how many of those
/// reads served the ended session, and the time each invalidation took to
/// arrive after B's `DEL` was answered.
async fn reads_right_after_a_logout(mode: CacheMode) -> (usize, Vec<Duration>) {
    let prefix = prefix();
    let a = cached(common::standalone().await.with_prefix(&prefix), mode).await;
    let b = common::standalone().await.with_prefix(&prefix);
    let mut stale = 0;
    let mut arrivals = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let record = record(Some("window"));
        a.create(&record).await.unwrap();
        common::until_hit(&a, &record.id).await;
        let seen = a.cache_stats().invalidations;
        b.delete(&record.id).await.unwrap();
        let deleted = Instant::now();
        stale += usize::from(a.load(&record.id).await.unwrap().is_some());
        // Bounded: 5 s.
        while a.cache_stats().invalidations == seen && deleted.elapsed() < Duration::from_secs(5) {
            tokio::task::yield_now().await;
        }
        arrivals.push(deleted.elapsed());
        assert!(
            a.load(&record.id).await.unwrap().is_none(),
            "served after its invalidation"
        );
    }
    arrivals.sort();
    (stale, arrivals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_reads_right_after_a_logout_elsewhere() {
    let (stale, arrivals) = reads_right_after_a_logout(CacheMode::Pushed).await;
    eprintln!(
        "pushed: {stale} of {ROUNDS} reads right after a logout on another instance served the \
         ended session; the invalidation arrived {:?} after the DEL was answered (median), \
         {:?} at most",
        arrivals[ROUNDS / 2],
        arrivals[ROUNDS - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_reads_right_after_a_logout_elsewhere_never_serve_it() {
    let (stale, _) = reads_right_after_a_logout(CacheMode::Fenced).await;
    eprintln!("fenced: {stale} of {ROUNDS} reads served the ended session");
    assert_eq!(
        stale, 0,
        "a fenced read served a session logged out before it began"
    );
}

/// A's connections to Redis stall silently (the proxy swallows everything
/// both ways, the sockets stay open); B logs the session out. Returns how
/// long A went on serving it (reads every 10 ms), at most 10 s.
async fn served_over_a_stalled_link(mode: CacheMode) -> Duration {
    let proxy = Proxy::start().await;
    let prefix = prefix();
    let a = RedisStore::connect(&proxy.url())
        .await
        .unwrap()
        .with_prefix(&prefix);
    let a = cached(a, mode).await;
    let b = common::standalone().await.with_prefix(&prefix);
    let record = record(Some("stalled"));
    a.create(&record).await.unwrap();
    common::until_hit(&a, &record.id).await;
    proxy.stall();
    b.delete(&record.id).await.unwrap();
    let deleted = Instant::now();
    let mut last_served = None;
    while deleted.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = a.load(&record.id).await {
            last_served = Some(deleted.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    last_served.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_stalled_link_pushed_serves_until_the_heartbeat_fails_and_fenced_never() {
    let pushed = served_over_a_stalled_link(CacheMode::Pushed).await;
    let fenced = served_over_a_stalled_link(CacheMode::Fenced).await;
    eprintln!(
        "stalled tracking link: pushed served the logged-out session for {pushed:?}; \
         fenced for {fenced:?}"
    );
    // The heartbeat (every second) gives a connection up when its PING is
    // unanswered within the store's timeout (2 s), plus scheduling slack.
    let bound =
        Duration::from_secs(1) + session_store_redis::DEFAULT_TIMEOUT + Duration::from_secs(1);
    assert!(pushed <= bound, "pushed served it for {pushed:?}");
    assert_eq!(fenced, Duration::ZERO, "fenced served a logged-out session");
}
