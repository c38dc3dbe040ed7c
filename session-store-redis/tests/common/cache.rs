//! What the local cache tests share: a record and a change of its `n`, a
//! login app, a wait for invalidations, the ACL user that may not run
//! `CLIENT`, the kill of tracking connections, and the checks that run on
//! one node and on a cluster alike.

use std::convert::Infallible;
use std::time::Duration;

use http::header;
use http::{Request, Response};
use serde_json::json;
use session_core::store::{ChangeSet, CycleStore, Record, SessionStore, UserIndex};
use session_core::time::{self, OffsetDateTime};
use session_core::{Id, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::{redis, CacheMode, CacheState, RedisStore};
use tower::util::BoxCloneSyncService;
use tower::Layer;

use super::{send, App};

/// A session of an hour holding `n` = 1, bound to `user` if given.
pub fn record(user: Option<&str>) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record.user = user.map(str::to_owned);
    record
}

/// A save that sets `n` to `n` (and the expiry an hour ahead).
pub fn set(n: i64) -> ChangeSet {
    let mut changes = ChangeSet::new(OffsetDateTime::now_utc() + time::Duration::hours(1));
    changes.set.insert("n".into(), json!(n));
    changes
}

/// Waits (at most 5 s, then fails) until `store`'s cache has received at
/// least `seen + more` invalidations.
pub async fn invalidated(store: &RedisStore, seen: u64, more: u64) {
    for _ in 0..5000 {
        if store.cache_stats().invalidations >= seen + more {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!(
        "{more} invalidations did not arrive within 5 s: {:?}",
        store.cache_stats()
    );
}

/// `/login` stores a value, `/get` reads it (read-only), `/logout` ends
/// the session.
async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().cloned().unwrap();
    let body = match req.uri().path() {
        "/login" => {
            session.insert("name", "ann").await.unwrap();
            "in".to_owned()
        }
        "/logout" => {
            session.destroy();
            "out".to_owned()
        }
        _ => session
            .get::<String>("name")
            .await
            .unwrap()
            .unwrap_or_else(|| "anonymous".into()),
    };
    Ok(Response::new(body))
}

/// The login app on `store`.
pub fn login_app(store: RedisStore, key: &Key) -> App {
    login_app_with(store, key, SessionConfig::new().with_secure(false))
}

/// The login app on `store`, with the layer configured by `config`.
pub fn login_app_with(store: RedisStore, key: &Key, config: SessionConfig) -> App {
    let layer = SessionLayer::new(store, key.clone()).with_config(config);
    BoxCloneSyncService::new(layer.layer(tower::service_fn(handler)))
}

/// A new ACL user name, for [`add_user_without_client`].
pub fn acl_user() -> String {
    format!("nocache{}", Id::random().encode().replace(['-', '_'], "x"))
}

/// Adds ACL user `user` (password `pw`) who may do anything but the
/// `CLIENT` command, so that tracking is refused to it.
pub async fn add_user_without_client(conn: &mut impl redis::aio::ConnectionLike, user: &str) {
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg(user)
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .arg("-client")
        .query_async::<()>(conn)
        .await
        .unwrap();
}

/// Removes ACL user `user`.
pub async fn delete_user(conn: &mut impl redis::aio::ConnectionLike, user: &str) {
    redis::cmd("ACL")
        .arg("DELUSER")
        .arg(user)
        .query_async::<()>(conn)
        .await
        .unwrap();
}

/// Kills every tracking connection of the cache (by its client name) on
/// the server `conn` talks to; returns how many.
pub async fn kill_tracking(conn: &mut impl redis::aio::ConnectionLike) -> usize {
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(conn)
        .await
        .unwrap();
    let mut killed = 0;
    for line in clients.lines() {
        if !line.contains("name=session-store-redis-cache ") {
            continue;
        }
        let id = line
            .split(' ')
            .find_map(|field| field.strip_prefix("id="))
            .unwrap();
        let _: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(conn)
            .await
            .unwrap();
        killed += 1;
    }
    killed
}

/// A store whose server refused tracking (an ACL user without `CLIENT`)
/// says so, and works uncached: no hits, no misses, no entries.
pub async fn works_uncached(store: RedisStore) {
    let stats = store.cache_stats();
    eprintln!("{stats:?}");
    assert!(
        matches!(stats.state, CacheState::Disabled(ref why) if why.contains("NOPERM") || why.to_lowercase().contains("permission")),
        "{stats:?}"
    );
    let record = record(None);
    store.create(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_some());
    assert!(store.load(&record.id).await.unwrap().is_some());
    let stats = store.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 0, 0));
}

/// `delete_user` on `b` ends the `sessions` sessions of one user that `a`
/// holds in its cache; a cycle on `b` ends the old id in `a`'s cache.
pub async fn ends_elsewhere_are_seen(a: &RedisStore, b: &RedisStore, sessions: usize) {
    let user = format!("u{}", Id::random().encode());
    let records: Vec<Record> = (0..sessions).map(|_| record(Some(&user))).collect();
    for session in &records {
        a.create(session).await.unwrap();
    }
    for _ in 0..2 {
        for session in &records {
            assert!(a.load(&session.id).await.unwrap().is_some());
        }
    }
    assert_eq!(b.delete_user(&user, None).await.unwrap(), sessions as u64);
    for session in &records {
        assert!(a.load(&session.id).await.unwrap().is_none());
    }

    let old = record(None);
    a.create(&old).await.unwrap();
    assert!(a.load(&old.id).await.unwrap().is_some());
    assert!(a.load(&old.id).await.unwrap().is_some());
    let new = Record::new(Id::random(), old.created_at, old.expires_at);
    b.cycle(&old.id, &new).await.unwrap();
    assert!(a.load(&old.id).await.unwrap().is_none());
    assert!(a.load(&new.id).await.unwrap().is_some());
}

/// A cache bounded to 3 entries (`store`'s) never holds more, and is full
/// after 20 sessions were created and read.
pub async fn stays_within_the_bound(store: RedisStore) {
    let a = store.with_local_cache(3).await.unwrap();
    for _ in 0..20 {
        let record = record(None);
        a.create(&record).await.unwrap();
        assert!(a.load(&record.id).await.unwrap().is_some());
        assert!(a.cache_stats().entries <= 3);
    }
    assert_eq!(a.cache_stats().entries, 3);
}

/// Logs in `logins` visitors on instance A (`a_store`), reads each on A
/// until cached, logs each out on B (`b_store`), and checks that A's next
/// request is anonymous (after the invalidation arrived, in pushed mode).
pub async fn logout_elsewhere(
    a_store: RedisStore,
    b_store: RedisStore,
    mode: CacheMode,
    logins: usize,
) {
    let key = Key::generate();
    let (a, b) = (login_app(a_store.clone(), &key), login_app(b_store, &key));
    let mut cookies = Vec::with_capacity(logins);
    for _ in 0..logins {
        let res = send(&a, "/login", None).await;
        let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }
    for cookie in &cookies {
        for _ in 0..3 {
            assert_eq!(send(&a, "/get", Some(cookie)).await.into_body(), "ann");
        }
    }
    let hits = a_store.cache_stats().hits;
    assert!(hits >= 2 * logins as u64, "{:?}", a_store.cache_stats());
    for cookie in &cookies {
        assert_eq!(send(&b, "/get", Some(cookie)).await.into_body(), "ann");
        let seen = a_store.cache_stats().invalidations;
        assert_eq!(send(&b, "/logout", Some(cookie)).await.into_body(), "out");
        if mode == CacheMode::Pushed {
            invalidated(&a_store, seen, 1).await;
        }
        assert_eq!(
            send(&a, "/get", Some(cookie)).await.into_body(),
            "anonymous"
        );
    }
    eprintln!("{mode:?}: {:?}", a_store.cache_stats());
}

/// Waits (at most 10 s, then fails) until `done` holds for `store`'s state.
pub async fn until(store: &RedisStore, what: &str, done: impl Fn(&CacheState) -> bool) {
    for _ in 0..1000 {
        if done(&store.cache_stats().state) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 10 s ({:?})", store.cache_stats());
}
