//! What the local cache tests share: a record and a change of its `n`, a
//! login app, a wait for invalidations, the ACL user that may not run
//! `CLIENT`, and the kill of tracking connections.

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use serde_json::json;
use session_core::store::{ChangeSet, Record, SessionStore};
use session_core::time::{self, OffsetDateTime};
use session_core::{Id, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::{redis, CacheState, RedisStore};
use tower::util::BoxCloneSyncService;
use tower::Layer;

use super::App;

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
