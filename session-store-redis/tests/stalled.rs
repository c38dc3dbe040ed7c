//! A connection that silently stops carrying data (a half-open TCP
//! connection: a host that vanished, a NAT or firewall that dropped its
//! state) is never reported broken by the OS in time. The store must
//! notice by its timeout and move to a fresh connection by itself.
//!
//! The test puts a TCP proxy it controls between the store and the Redis
//! of `REDIS_URL`, then makes the proxy swallow everything on the
//! connections it has, while still carrying new ones.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{Created, Record, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_core::Id;
use session_store_redis::RedisStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_millis(500);

/// Forwards `from` to `to` while the connection's generation is current;
/// afterwards reads and discards, keeping both sockets open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: u64,
    current: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if current.load(Ordering::SeqCst) == generation && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A proxy to `upstream` (host:port); returns its port and the generation
/// counter (bump it to stall every connection open so far).
async fn proxy(upstream: String) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let current = Arc::new(AtomicU64::new(0));
    let counter = current.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let generation = counter.load(Ordering::SeqCst);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, generation, counter.clone()));
            tokio::spawn(pump(server_read, client_write, generation, counter.clone()));
        }
    });
    (port, current)
}

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("user".into(), json!("alice"));
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_is_replaced() {
    let url = common::redis_url();
    let upstream = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .rsplit('@')
        .next()
        .unwrap()
        .to_owned();
    let (port, generation) = proxy(upstream).await;
    let store = RedisStore::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect("connect through the proxy")
        .with_prefix(common::PREFIX)
        .with_timeout(TIMEOUT);
    let first = record();
    assert_eq!(store.create(&first).await.unwrap(), Created::Inserted);

    // Stall the store's connection: the OS reports nothing.
    generation.fetch_add(1, Ordering::SeqCst);
    let stalled = Instant::now();
    let mut timeouts = 0;
    let mut loaded = None;
    for _ in 0..5 {
        let started = Instant::now();
        match store.load(&first.id).await {
            Ok(found) => {
                loaded = Some(found);
                break;
            }
            Err(StoreError::Unavailable(cause)) => {
                eprintln!(
                    "stalled: load -> Unavailable after {:?} ({cause})",
                    started.elapsed()
                );
                assert!(started.elapsed() < TIMEOUT + Duration::from_millis(500));
                timeouts += 1;
            }
            Err(other) => panic!("a stalled connection must be Unavailable, got {other:?}"),
        }
    }
    let loaded = loaded.expect("the store never moved off the stalled connection");
    eprintln!(
        "stalled: {timeouts} timeout(s), then served again {:?} after the stall",
        stalled.elapsed()
    );
    assert_eq!(
        loaded.expect("the session is still in Redis").data,
        first.data
    );
    assert!(
        timeouts <= 1,
        "{timeouts} timeouts before the connection was replaced"
    );
    store.delete(&first.id).await.unwrap();
}
