//! What binding a session to a user costs Redis as the user's index grows:
//! each bind prunes a bounded part of the index in the background, so
//! `n` logins of one user cost O(n) reads of sessions, not O(n²). Counted
//! with `INFO commandstats` on a `redis-server` of the test's own (no
//! other test's commands mixed in).

mod common;

use std::time::Duration as StdDuration;

use serde_json::json;
use session_core::store::{Record, SessionStore, UserIndex};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::{redis, RedisStore};

use common::server::{free_port, Server};

/// The most `HMGET`s (reads of a session) one bind may cost.
const PER_BIND: u64 = 8;

fn bound(user: &str, lives: Duration) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + lives);
    record.data.insert("n".into(), json!(1));
    record.user = Some(user.to_owned());
    record
}

/// How many `HMGET`s the server ran since its statistics were reset.
async fn hmgets(conn: &mut impl redis::aio::ConnectionLike) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_hmget:calls="))
        .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
        .unwrap_or(0)
}

/// The `HMGET` count once the background prunes are done: unchanged for
/// 300 ms (at most 30 s, then fails).
async fn settled(conn: &mut impl redis::aio::ConnectionLike) -> u64 {
    let mut last = hmgets(conn).await;
    let mut still = 0;
    for _ in 0..300 {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        let now = hmgets(conn).await;
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still == 3 {
            return now;
        }
    }
    panic!("the background prunes did not settle within 30 s");
}

async fn server_and_store() -> (Server, RedisStore, redis::aio::MultiplexedConnection) {
    let server = Server::start(free_port());
    let store = RedisStore::connect(&server.url())
        .await
        .unwrap()
        .with_timeout(StdDuration::from_millis(250));
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    (server, store, conn)
}

/// `n` logins (creates bound to one user, one after another, each session
/// live for an hour): the `HMGET`s they cost, the prunes they start
/// included.
async fn logins(n: u64) -> u64 {
    let (_server, store, mut conn) = server_and_store().await;
    let user = "many-devices";
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    for _ in 0..n {
        store
            .create(&bound(user, Duration::hours(1)))
            .await
            .unwrap();
    }
    let count = settled(&mut conn).await;
    assert_eq!(store.list_user(user).await.unwrap().len() as u64, n);
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_cost_a_bounded_number_of_reads() {
    let mut counts = Vec::new();
    for n in [300, 600] {
        let count = logins(n).await;
        eprintln!(
            "{n} logins of one user: {count} HMGETs ({:.1} per login)",
            count as f64 / n as f64
        );
        counts.push((n, count));
    }
    for (n, count) in counts {
        assert!(
            count <= n * PER_BIND,
            "{n} logins cost {count} HMGETs, more than {PER_BIND} per login"
        );
    }
}
