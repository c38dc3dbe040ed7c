//! Where the tests find Redis: `REDIS_URL` (one server) and
//! `REDIS_CLUSTER_URLS` (comma-separated node URLs of a cluster).
//! `scripts/test` starts throwaway servers and sets both.
#![allow(dead_code)]

pub mod cache;
pub mod nodes;
pub mod proxy;
pub mod server;

use std::convert::Infallible;

use http::{header, Request, Response};
use session_store_redis::{redis, RedisStore};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

/// An application behind a session layer, as the layer tests build it.
pub type App = BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// Sends `GET path` to `app`, with `cookie` (`name=value`) if given.
pub async fn send(app: &App, path: &str, cookie: Option<&str>) -> Response<String> {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    app.clone()
        .oneshot(req.body(String::new()).unwrap())
        .await
        .unwrap()
}

/// The test prefix: keeps test sessions apart from anything else on the server.
pub const PREFIX: &str = "test:session:";

/// `REDIS_URL`, or a failure that says how to get one (never a silent skip).
pub fn redis_url() -> String {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "REDIS_URL is not set. Run `scripts/test` (it starts throwaway Redis servers \
             and sets REDIS_URL and REDIS_CLUSTER_URLS), or set REDIS_URL=redis://127.0.0.1:6379 \
             to test against a Redis you run"
        ),
    }
}

/// `REDIS_CLUSTER_URLS`, or a failure that says how to get it.
pub fn cluster_urls() -> Vec<String> {
    let urls: Vec<String> = std::env::var("REDIS_CLUSTER_URLS")
        .unwrap_or_default()
        .split(',')
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    if urls.is_empty() {
        panic!(
            "REDIS_CLUSTER_URLS is not set. Run `scripts/test` (it starts a throwaway Redis \
             Cluster), or set REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001,... \
             to test against a cluster you run"
        );
    }
    urls
}

/// A store on the one-node Redis.
pub async fn standalone() -> RedisStore {
    let url = redis_url();
    RedisStore::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to REDIS_URL={url}: {err}"))
        .with_prefix(PREFIX)
}

/// A store on the cluster.
pub async fn cluster() -> RedisStore {
    let urls = cluster_urls();
    RedisStore::connect_cluster(&urls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to REDIS_CLUSTER_URLS={urls:?}: {err}"))
        .with_prefix(PREFIX)
}

/// A plain connection to the one-node Redis, to look behind the store's back.
pub async fn raw_standalone() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("REDIS_URL is not a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("cannot connect to REDIS_URL")
}

/// A plain connection to the cluster.
pub async fn raw_cluster() -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(cluster_urls())
        .expect("REDIS_CLUSTER_URLS are not Redis URLs")
        .get_async_connection()
        .await
        .expect("cannot connect to REDIS_CLUSTER_URLS")
}

/// The data key `n` of session `id` as `store` loads it; `None` without a
/// session.
pub async fn n(store: &RedisStore, id: &session_core::Id) -> Option<serde_json::Value> {
    use session_core::store::SessionStore;
    store
        .load(id)
        .await
        .unwrap()
        .map(|record| record.data["n"].clone())
}

/// A plain connection to the cluster node at `url` (not following
/// redirects), to ask it about the cluster.
pub async fn raw_node(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("not a Redis URL")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|err| panic!("cannot connect to cluster node {url}: {err}"))
}

/// The URL (`redis://host:port`) of the master that serves `key`'s slot,
/// as the cluster itself says (`CLUSTER KEYSLOT`, `CLUSTER SLOTS`).
pub async fn master_of(key: &str) -> String {
    master_of_in(&cluster_urls()[0], key).await
}

/// The URL of the master that serves `key`'s slot, as the cluster node at
/// `node` says.
pub async fn master_of_in(node: &str, key: &str) -> String {
    let mut node = raw_node(node).await;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut node)
        .await
        .unwrap();
    let ranges: Vec<(i64, i64, (String, i64))> = {
        let answer: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut node)
            .await
            .unwrap();
        answer
            .into_iter()
            .map(|entry| {
                let redis::Value::Array(items) = entry else {
                    panic!("CLUSTER SLOTS: {entry:?}")
                };
                let mut items = items.into_iter();
                let first: i64 = redis::from_redis_value(items.next().unwrap()).unwrap();
                let last: i64 = redis::from_redis_value(items.next().unwrap()).unwrap();
                let redis::Value::Array(master) = items.next().unwrap() else {
                    panic!("CLUSTER SLOTS: no master")
                };
                let mut master = master.into_iter();
                let host: String = redis::from_redis_value(master.next().unwrap()).unwrap();
                let port: i64 = redis::from_redis_value(master.next().unwrap()).unwrap();
                (first, last, (host, port))
            })
            .collect()
    };
    let (_, _, (host, port)) = ranges
        .into_iter()
        .find(|(first, last, _)| (*first..=*last).contains(&slot))
        .unwrap_or_else(|| panic!("no master serves slot {slot}"));
    format!("redis://{host}:{port}")
}

/// Loads `id` through `store` until a load is a cache hit (at most 10 s,
/// then fails): the cache serves that session again.
pub async fn until_hit(store: &RedisStore, id: &session_core::Id) {
    use session_core::store::SessionStore;
    for _ in 0..1000 {
        let before = store.cache_stats().hits;
        store.load(id).await.unwrap();
        if store.cache_stats().hits > before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no cache hit within 10 s: {:?}", store.cache_stats());
}

/// Whether `key` exists on the server `conn` talks to.
pub async fn exists(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(conn)
        .await
        .unwrap()
        == 1
}
