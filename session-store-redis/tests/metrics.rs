//! The `metrics` feature on Redis (needs `REDIS_URL`, and `redis-server`
//! for the outage): store calls timed as `store=redis`, the local cache's
//! hits, misses and entries, and an unreachable Redis counted as refused.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http::{header, Request, Response, StatusCode};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use session_core::{Id, Key, Session, SessionConfig, SessionLayer};
use session_store_redis::{CacheMode, RedisStore};
use tower::util::BoxCloneSyncService;
use tower::Layer;

use common::server::{free_port, Server};
use common::{send, App};

/// Increments `n` (`/read`: only reads it); a session error answers with
/// its status.
async fn counter(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().cloned().unwrap();
    let counted = async {
        let n: u64 = session.get("n").await?.unwrap_or(0);
        if req.uri().path() != "/read" {
            session.insert("n", n + 1).await?;
        }
        Ok::<_, session_core::Error>(n)
    };
    Ok(match counted.await {
        Ok(n) => Response::new(n.to_string()),
        Err(err) => {
            let mut response = Response::new(String::new());
            *response.status_mut() = err.status();
            response
        }
    })
}

fn app(store: RedisStore) -> App {
    let layer = SessionLayer::new(store, Key::from_bytes(&[9; 32]).unwrap())
        .with_config(SessionConfig::new().with_secure(false));
    BoxCloneSyncService::new(layer.layer(tower::service_fn(counter)))
}

fn cookie(response: &Response<String>) -> Option<String> {
    let value = response
        .headers()
        .get(header::SET_COOKIE)?
        .to_str()
        .unwrap();
    Some(value.split(';').next().unwrap().to_owned())
}

/// Runs `test` on a one-thread runtime with `recorder` as the thread's
/// recorder (the store's own tasks run on this thread too).
fn recorded<F: Future<Output = ()>>(recorder: &DebuggingRecorder, test: F) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || runtime.block_on(test));
}

/// Non-zero counters, histogram sample counts and gauges since the last
/// snapshot, each under `name{label=value,…}`.
fn take(snapshotter: &Snapshotter) -> BTreeMap<String, String> {
    let mut recorded = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let mut labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        labels.sort();
        let name = match labels.is_empty() {
            true => key.name().to_owned(),
            false => format!("{}{{{}}}", key.name(), labels.join(",")),
        };
        let value = match value {
            DebugValue::Counter(0) => continue,
            DebugValue::Counter(n) => n.to_string(),
            DebugValue::Histogram(values) if values.is_empty() => continue,
            DebugValue::Histogram(values) => format!("{} samples", values.len()),
            DebugValue::Gauge(value) => format!("= {}", value.0),
        };
        recorded.insert(name, value);
    }
    recorded
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn redis_calls_are_timed_and_the_local_cache_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorded(&recorder, async {
        let prefix = format!("test:metrics:{}:", Id::random().encode());
        let store = common::standalone()
            .await
            .with_prefix(&prefix)
            .with_local_cache_mode(100, CacheMode::Pushed)
            .await
            .unwrap();
        let app = app(store);
        let first = send(&app, "/", None).await;
        assert_eq!(first.status(), StatusCode::OK);
        let cookie = cookie(&first);
        take(&snapshotter);

        // A miss (read from Redis, then kept), then a hit.
        for _ in 0..2 {
            let response = send(&app, "/read", cookie.as_deref()).await;
            assert_eq!(response.into_body(), "1");
        }
        assert_eq!(
            take(&snapshotter),
            expect(&[
                ("session_loaded_total", "2"),
                ("session_redis_cache_entries", "= 1"),
                ("session_redis_cache_hits_total", "1"),
                ("session_redis_cache_misses_total", "1"),
                (
                    "session_store_duration_seconds{operation=load,store=redis}",
                    "2 samples"
                ),
            ])
        );

        // A hit and a save (the cache drops its own entry), then a miss.
        send(&app, "/", cookie.as_deref()).await;
        let response = send(&app, "/read", cookie.as_deref()).await;
        assert_eq!(response.into_body(), "2");
        let recorded = take(&snapshotter);
        assert_eq!(recorded["session_saved_total"], "1");
        assert_eq!(recorded["session_redis_cache_hits_total"], "1");
        assert_eq!(recorded["session_redis_cache_misses_total"], "1");
    });
}

#[test]
fn an_unreachable_redis_is_counted_as_refused() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // This test's own server, to kill; REDIS_URL is still required, as by
    // every Redis test.
    common::redis_url();
    recorded(&recorder, async {
        let mut server = Server::start(free_port());
        let store = RedisStore::connect(&server.url())
            .await
            .expect("connect to the throwaway redis-server")
            .with_timeout(Duration::from_millis(800));
        let app = app(store);
        let first = send(&app, "/", None).await;
        assert_eq!(first.status(), StatusCode::OK);
        let cookie = cookie(&first);
        assert_eq!(
            take(&snapshotter),
            expect(&[
                ("session_created_total", "1"),
                (
                    "session_store_duration_seconds{operation=create,store=redis}",
                    "1 samples"
                ),
            ])
        );

        server.kill();
        let returning = send(&app, "/", cookie.as_deref()).await;
        assert_eq!(returning.status(), StatusCode::SERVICE_UNAVAILABLE);
        let new = send(&app, "/", None).await;
        assert_eq!(new.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            take(&snapshotter),
            expect(&[
                ("session_refused_total{reason=store_unavailable}", "2"),
                (
                    "session_store_duration_seconds{operation=create,store=redis}",
                    "1 samples"
                ),
                (
                    "session_store_duration_seconds{operation=load,store=redis}",
                    "1 samples"
                ),
            ])
        );
    });
}
