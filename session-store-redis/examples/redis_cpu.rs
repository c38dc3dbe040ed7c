//! Measures what Redis spends per request: runs a fixed number of requests
//! through the session layer (and, for comparison, the plain command
//! sequences other Redis session stores send), and reports for each the
//! server's CPU time (`/proc/<pid>/task/*/schedstat` of the Redis process,
//! in nanoseconds: network I/O and parsing count too) and the command time of
//! `INFO commandstats`, per request.
//!
//! Point it at a Redis nobody else uses (its numbers are deltas over the
//! whole server), on this machine (it reads the server's `/proc` entry):
//!
//! ```text
//! redis-server --port 6399 --save '' --appendonly no --daemonize yes
//! REDIS_URL=redis://127.0.0.1:6399 cargo run --release -p session-store-redis --example redis_cpu
//! ```
//!
//! `REQUESTS` (default 20000) sets how many requests each scenario runs,
//! `CONCURRENCY` (default 8) how many are in flight at once, each on its own
//! session. `ROUNDS` (default 1) runs everything that many times and ends
//! with the median, lowest and highest process CPU per label; `ONLY` (labels
//! or parts of them, comma-separated, e.g. `ours: /inc,actix`) runs only
//! those; `CANDIDATES=1` adds raw command sequences for the write.
//!
//! Redis's CPU per request depends mostly on how many reads and writes it
//! makes per request (how well requests are batched), less on the commands,
//! so pin the two processes the same way for every comparison: Redis on
//! one CPU and this on the other (`taskset -c 0` / `taskset -c 1`:
//! few requests per wake-up), or both on one CPU (as `benches/load.sh`
//! pins Redis and the server: more per wake-up).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Request, Response};
use session_core::{Key, Session, SessionConfig, SessionLayer};
use session_store_redis::{redis, CacheMode, RedisStore};
use tower::{Layer, Service, ServiceExt};

type Cmds = HashMap<String, (u64, f64)>;

async fn commandstats(conn: &mut redis::aio::MultiplexedConnection) -> Cmds {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO commandstats");
    let mut out = Cmds::new();
    for line in info.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, fields)) = rest.split_once(':') else {
            continue;
        };
        let field = |key: &str| {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        out.insert(name.to_owned(), (field("calls=") as u64, field("usec=")));
    }
    out
}

fn proc_cpu_us(pid: u32) -> f64 {
    // The first field of schedstat: nanoseconds this process ran on a CPU
    // (all threads of the main task; Redis runs commands on its main thread).
    let mut total = 0.0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
                total += stat
                    .split(' ')
                    .next()
                    .and_then(|ns| ns.parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
        }
    }
    total / 1000.0
}

struct Probe {
    conn: redis::aio::MultiplexedConnection,
    pid: u32,
    /// `ONLY`: the labels to run (substrings, comma-separated); all if empty.
    only: Vec<String>,
    /// Process CPU µs per request of every run, by label, in first-run order.
    results: Vec<(String, Vec<f64>)>,
}

impl Probe {
    fn wanted(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }

    /// The median, lowest and highest process CPU µs per request of each
    /// label over the rounds.
    fn summary(&self) {
        println!("\nprocess CPU us/req over the rounds: median (min - max)");
        for (name, runs) in &self.results {
            let mut runs = runs.clone();
            runs.sort_by(f64::total_cmp);
            let median = if runs.len() % 2 == 1 {
                runs[runs.len() / 2]
            } else {
                (runs[runs.len() / 2 - 1] + runs[runs.len() / 2]) / 2.0
            };
            println!(
                "{name:<44} {median:>6.2}  ({:.2} - {:.2}, {} runs)",
                runs[0],
                runs[runs.len() - 1],
                runs.len()
            );
        }
    }

    async fn measure<F, Fut>(&mut self, name: &str, requests: usize, run: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        if !self.wanted(name) {
            return;
        }
        let before = commandstats(&mut self.conn).await;
        let cpu_before = proc_cpu_us(self.pid);
        run().await;
        let cpu_after = proc_cpu_us(self.pid);
        let after = commandstats(&mut self.conn).await;
        let mut parts = Vec::new();
        let mut total_usec = 0.0;
        let mut names: Vec<_> = after.keys().collect();
        names.sort();
        for cmd in names {
            if cmd == "info" {
                continue;
            }
            let (calls, usec) = after[cmd];
            let (calls0, usec0) = before.get(cmd).copied().unwrap_or((0, 0.0));
            if calls > calls0 {
                let n = (calls - calls0) as f64 / requests as f64;
                let u = (usec - usec0) / requests as f64;
                total_usec += u;
                parts.push(format!("{cmd} {n:.2}x {u:.2}us"));
            }
        }
        let cpu = (cpu_after - cpu_before) / requests as f64;
        println!(
            "{name:<44} process CPU {cpu:>6.2} us/req | commandstats {total_usec:>5.2} us/req: {}",
            parts.join(", ")
        );
        match self.results.iter_mut().find(|(n, _)| n == name) {
            Some((_, runs)) => runs.push(cpu),
            None => self.results.push((name.to_owned(), vec![cpu])),
        }
    }
}

async fn counter(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().unwrap().clone();
    let body = if req.uri().path() == "/get" {
        let n: u64 = session.get("counter").await.unwrap().unwrap_or(0);
        n.to_string()
    } else {
        let n: u64 = session.get("counter").await.unwrap().unwrap_or(0);
        session.insert("counter", n + 1).await.unwrap();
        (n + 1).to_string()
    };
    Ok(Response::new(body))
}

#[tokio::main]
async fn main() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6399".into());
    let requests: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let concurrency: usize = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .unwrap();
    let pid: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("process_id");
    let only = std::env::var("ONLY")
        .map(|o| o.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut probe = Probe {
        conn: conn.clone(),
        pid,
        only,
        results: Vec::new(),
    };
    let per_task = requests / concurrency;
    let requests = per_task * concurrency;
    println!("{requests} requests, {concurrency} in flight; Redis pid {pid}");

    for round in 1..=rounds {
        if rounds > 1 {
            println!("round {round} of {rounds}");
        }
        one_round(&mut probe, &url, &conn, requests, concurrency).await;
    }
    if rounds > 1 {
        probe.summary();
    }
}

/// Every scenario once.
async fn one_round(
    probe: &mut Probe,
    url: &str,
    conn: &redis::aio::MultiplexedConnection,
    requests: usize,
    concurrency: usize,
) {
    let per_task = requests / concurrency;
    let mut scenarios: Vec<(&str, SessionConfig, Option<CacheMode>)> = vec![
        ("ours", SessionConfig::new(), None),
        (
            "ours, local cache",
            SessionConfig::new(),
            Some(CacheMode::Pushed),
        ),
        (
            "ours, fenced local cache",
            SessionConfig::new(),
            Some(CacheMode::Fenced),
        ),
    ];
    if std::env::var("SERIALIZE").is_ok() {
        scenarios.push((
            "ours, serialized",
            SessionConfig::new().with_serialized_requests(true),
            None,
        ));
    }
    for (label, config, cache) in scenarios {
        let mut store = RedisStore::connect(url)
            .await
            .unwrap()
            .with_prefix("cpu:session:");
        if let Some(mode) = cache {
            store = store.with_local_cache_mode(100_000, mode).await.unwrap();
        }
        let svc_store = store.clone();
        let svc = SessionLayer::new(store, Key::generate())
            .with_config(config.with_secure(false))
            .layer(tower::service_fn(counter));
        // One session per task, created before measuring.
        let mut cookies = Vec::new();
        for _ in 0..concurrency {
            let res = svc
                .clone()
                .oneshot(Request::get("/inc").body(String::new()).unwrap())
                .await
                .unwrap();
            let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
            cookies.push(Arc::new(cookie.split(';').next().unwrap().to_owned()));
        }
        for path in ["/inc", "/get"] {
            let svc = svc.clone();
            let cookies = cookies.clone();
            probe
                .measure(
                    &format!(
                        "{label}: {path} ({})",
                        if path == "/inc" {
                            "load + save"
                        } else {
                            "load"
                        }
                    ),
                    requests,
                    || async move {
                        let mut tasks = Vec::new();
                        for cookie in cookies {
                            let mut svc = svc.clone();
                            tasks.push(tokio::spawn(async move {
                                for _ in 0..per_task {
                                    let req = Request::get(path)
                                        .header(header::COOKIE, cookie.as_str())
                                        .body(String::new())
                                        .unwrap();
                                    let res = svc.ready().await.unwrap().call(req).await.unwrap();
                                    assert!(res.status().is_success(), "{}", res.status());
                                }
                            }));
                        }
                        for t in tasks {
                            t.await.unwrap();
                        }
                    },
                )
                .await;
        }
        if cache.is_some() {
            println!("{label}: {:?}", svc_store.cache_stats());
        }
    }

    if std::env::var("CANDIDATES").is_ok() {
        candidates(probe, conn, requests, concurrency).await;
    }

    // The peers' command sequences, same payload sizes, on a multiplexed
    // connection like theirs.
    let actix_value = r#"{"counter":"12345"}"#;
    // tower-sessions stores a MessagePack record: id, data, expiry (~70 bytes).
    let tower_value = vec![b'x'; 72];
    for (label, value, set_style) in [
        (
            "actix-session: GET + SET EX",
            actix_value.as_bytes().to_vec(),
            "EX",
        ),
        (
            "tower-sessions-redis-store: GET + SET PX",
            tower_value,
            "PX",
        ),
    ] {
        let conn = conn.clone();
        probe
            .measure(label, requests, || async move {
                let mut tasks = Vec::new();
                for t in 0..concurrency {
                    let mut conn = conn.clone();
                    let value = value.clone();
                    tasks.push(tokio::spawn(async move {
                        let key = format!("cpu:peer:{set_style}:{t}");
                        for _ in 0..per_task {
                            let _: Option<Vec<u8>> = redis::cmd("GET")
                                .arg(&key)
                                .query_async(&mut conn)
                                .await
                                .unwrap();
                            let mut set = redis::cmd("SET");
                            set.arg(&key).arg(&value).arg(set_style);
                            set.arg(if set_style == "EX" {
                                86_400
                            } else {
                                86_400_000
                            });
                            let _: () = set.query_async(&mut conn).await.unwrap();
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            })
            .await;
    }
}

/// Candidate command sequences for a counter save (HGETALL, then the write),
/// sent raw, to compare what Redis spends on each.
async fn candidates(
    probe: &mut Probe,
    conn: &redis::aio::MultiplexedConnection,
    requests: usize,
    concurrency: usize,
) {
    const LEAN: &str = "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
        redis.call('HSET', KEYS[1], 'expires', ARGV[1], ARGV[2], ARGV[3]) \
        redis.call('PEXPIREAT', KEYS[1], ARGV[1]) return 1";
    let lean = redis::Script::new(LEAN);
    let per_task = requests / concurrency;
    for style in [
        "multi-hincrby",
        "pipe-hincrby-first",
        "pipe-hset-first",
        "lua-lean",
        "multi-exists",
        "multi-pexpire-first",
        "pipeline-no-check",
        "hgetall-only",
    ] {
        let conn = conn.clone();
        let lean = lean.clone();
        probe
            .measure(
                &format!("candidate: HGETALL + {style}"),
                requests,
                || async move {
                    let mut tasks = Vec::new();
                    for t in 0..concurrency {
                        let mut conn = conn.clone();
                        let lean = lean.clone();
                        tasks.push(tokio::spawn(async move {
                            let key = format!("cpu:cand:{t}");
                            let _: () = redis::pipe()
                                .hset_multiple(
                                    &key,
                                    &[
                                        ("created", "1764132000000"),
                                        ("expires", "4000000000000"),
                                        ("d:counter", "1"),
                                    ],
                                )
                                .pexpire_at(&key, 4_000_000_000_000i64)
                                .query_async(&mut conn)
                                .await
                                .unwrap();
                            for i in 0..per_task {
                                let _: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
                                    .arg(&key)
                                    .query_async(&mut conn)
                                    .await
                                    .unwrap();
                                let at = 4_000_000_000_000i64 + i as i64;
                                let value = i.to_string();
                                match style {
                                    "lua-lean" => {
                                        let _: i64 = lean
                                            .key(&key)
                                            .arg(at)
                                            .arg("d:counter")
                                            .arg(&value)
                                            .invoke_async(&mut conn)
                                            .await
                                            .unwrap();
                                    }
                                    "hgetall-only" => {}
                                    style => {
                                        let fields =
                                            [("expires", at.to_string()), ("d:counter", value)];
                                        let mut pipe = redis::pipe();
                                        match style {
                                            "multi-exists" => pipe.atomic().exists(&key),
                                            "multi-pexpire-first" => {
                                                pipe.atomic().pexpire_at(&key, at)
                                            }
                                            "multi-hincrby" => {
                                                pipe.atomic().hincr(&key, "created", 0)
                                            }
                                            "pipe-hincrby-first" => pipe.hincr(&key, "created", 0),
                                            _ => &mut pipe,
                                        };
                                        pipe.hset_multiple(&key, &fields);
                                        if style == "pipe-hset-first" {
                                            pipe.hincr(&key, "created", 0);
                                        }
                                        pipe.pexpire_at(&key, at);
                                        let _: redis::Value =
                                            pipe.query_async(&mut conn).await.unwrap();
                                    }
                                }
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.unwrap();
                    }
                },
            )
            .await;
    }
}
