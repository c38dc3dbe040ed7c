//! Flash messages shown once when two tabs race across two instances of
//! an application on one Redis: with serialized requests (the store's
//! leases), exactly one of two concurrent page loads shows the message;
//! without, both can (the control that shows the race is real).

mod common;

use std::convert::Infallible;
use std::time::Duration;

use http::{header, Request, Response};
use session_core::{Flash, Id, Key, Level, Session, SessionConfig, SessionLayer};
use session_store_redis::RedisStore;
use tower::util::BoxCloneSyncService;
use tower::Layer;

use common::{send, App};

/// `/flash` leaves the message `Saved`; `/take` answers how many messages
/// it took, after holding the request 20 ms (so that, unserialized, the
/// other tab loads before this one writes).
async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().cloned().unwrap();
    let body = match req.uri().path() {
        "/flash" => {
            session.flash(Level::Success, "Saved").await.unwrap();
            "flashed".to_owned()
        }
        _ => {
            let taken: Vec<Flash> = session.take_flashes().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            taken.len().to_string()
        }
    };
    Ok(Response::new(body))
}

fn app(store: RedisStore, key: &Key, serialize: bool) -> App {
    let config = SessionConfig::new()
        .with_secure(false)
        .with_serialized_requests(serialize);
    let layer = SessionLayer::new(store, key.clone()).with_config(config);
    BoxCloneSyncService::new(layer.layer(tower::service_fn(handler)))
}

/// `rounds` times: a message, then two tabs (one per instance) loading a
/// page at once; returns how many rounds showed it in both.
async fn race(serialize: bool, rounds: usize) -> usize {
    let key = Key::generate();
    let prefix = format!("test:flash-race:{}:", Id::random().encode());
    let store = |s: RedisStore| {
        s.with_prefix(prefix.clone())
            .with_lease(Duration::from_secs(10), Duration::from_secs(30))
    };
    let a = app(store(common::standalone().await), &key, serialize);
    let b = app(store(common::standalone().await), &key, serialize);
    let mut both = 0;
    for round in 0..rounds {
        let res = send(&a, "/flash", None).await;
        let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        let (x, y) = tokio::join!(
            send(&a, "/take", Some(&cookie)),
            send(&b, "/take", Some(&cookie))
        );
        let shown: usize =
            x.into_body().parse::<usize>().unwrap() + y.into_body().parse::<usize>().unwrap();
        assert!(shown >= 1, "round {round}: the message was lost");
        if serialize {
            assert_eq!(shown, 1, "round {round}: shown by both tabs");
        }
        both += usize::from(shown == 2);
    }
    both
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serialized_instances_show_a_flash_once() {
    assert_eq!(race(true, 30).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unserialized_instances_can_show_it_twice() {
    assert!(race(false, 10).await > 0);
}
