//! Fault behaviour on a throwaway three-node Redis Cluster this test starts
//! on free loopback ports: when the node that holds a session is killed,
//! operations on that session fail with `Unavailable` within the timeout
//! while sessions on the other nodes keep working; when the node comes
//! back, the same store serves it again.
//!
//! Needs `redis-server` and `redis-cli` (or `REDIS_SERVER` / `REDIS_CLI`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::store::{Created, Record, SessionStore, StoreError};
use session_core::time::{self, OffsetDateTime};
use session_core::Id;
use session_store_redis::{redis, RedisStore};

const TIMEOUT: Duration = Duration::from_millis(800);
/// Scheduling slack on a busy two-core machine.
const SLACK: Duration = Duration::from_millis(700);

/// One cluster node process, killed when dropped.
struct Node {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn start(port: u16, dir: PathBuf) -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            // Keep serving the other nodes' slots while one node is down.
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--cluster-node-timeout", "2000"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start `{binary}` ({err}): install Redis or set REDIS_SERVER")
            });
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server on port {port} did not start within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port, self.dir.clone());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free port whose cluster bus port (+10000) is free too.
fn free_cluster_port(taken: &[u16]) -> u16 {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("no free loopback port")
            .port();
        if port < 50_000
            && !taken.contains(&port)
            && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
    panic!("found no free port pair for a cluster node");
}

fn cluster_is_ok(port: u16) -> bool {
    let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    Command::new(cli)
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
        .unwrap_or(false)
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + time::Duration::hours(1));
    record.data.insert("user".into(), json!("alice"));
    record
}

/// The port of the node that serves `key`.
async fn owner_port(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> u16 {
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap();
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .unwrap();
    let redis::Value::Array(ranges) = slots else {
        panic!("unexpected CLUSTER SLOTS reply {slots:?}")
    };
    for range in ranges {
        let redis::Value::Array(parts) = range else {
            continue;
        };
        let (redis::Value::Int(start), redis::Value::Int(end), redis::Value::Array(node)) =
            (&parts[0], &parts[1], &parts[2])
        else {
            continue;
        };
        if (*start..=*end).contains(&slot) {
            if let redis::Value::Int(port) = node[1] {
                return port as u16;
            }
        }
    }
    panic!("no node serves slot {slot}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_cluster_node_fails_fast_and_recovers() {
    let dir = std::env::temp_dir().join(format!(
        "session-store-redis-cluster-{}",
        std::process::id()
    ));
    let _cleanup = TempDir(dir.clone());
    let mut ports = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let port = free_cluster_port(&ports);
        ports.push(port);
        let node_dir = dir.join(i.to_string());
        std::fs::create_dir_all(&node_dir).unwrap();
        nodes.push(Node::start(port, node_dir));
    }
    let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let status = Command::new(&cli)
        .arg("--cluster")
        .arg("create")
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|err| panic!("cannot run `{cli}` ({err}): install Redis or set REDIS_CLI"));
    assert!(status.success(), "redis-cli --cluster create failed");
    wait_until("cluster_state:ok", Duration::from_secs(20), || {
        ports.iter().all(|&p| cluster_is_ok(p))
    });

    let urls: Vec<String> = addresses.iter().map(|a| format!("redis://{a}")).collect();
    let store = RedisStore::connect_cluster(&urls)
        .await
        .expect("connect to the throwaway cluster")
        .with_timeout(TIMEOUT);
    let mut raw = redis::Client::open(urls[0].as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    // One session on the node we will kill, one elsewhere.
    let victim_port = ports[1];
    let victim_index = 1;
    let mut on_victim = None;
    let mut elsewhere = None;
    for _ in 0..200 {
        let record = record();
        let owner = owner_port(&mut raw, &store.key(&record.id)).await;
        if owner == victim_port && on_victim.is_none() {
            on_victim = Some(record);
        } else if owner != victim_port && owner != ports[0] && elsewhere.is_none() {
            // Not on the node our raw connection uses, so that it stays up.
            elsewhere = Some(record);
        }
        if on_victim.is_some() && elsewhere.is_some() {
            break;
        }
    }
    let (on_victim, elsewhere) = (on_victim.unwrap(), elsewhere.unwrap());
    assert_eq!(store.create(&on_victim).await.unwrap(), Created::Inserted);
    assert_eq!(store.create(&elsewhere).await.unwrap(), Created::Inserted);

    nodes[victim_index].kill();
    for round in 0..3 {
        let started = Instant::now();
        let result = store.load(&on_victim.id).await;
        let took = started.elapsed();
        eprintln!("node down, round {round}: load -> {result:?} after {took:?}");
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "a session on a dead node must be Unavailable, got {result:?}"
        );
        assert!(took <= TIMEOUT + SLACK, "took {took:?}");
        let started = Instant::now();
        let other = store.load(&elsewhere.id).await;
        eprintln!(
            "node down, round {round}: other node's session loaded after {:?}",
            started.elapsed()
        );
        assert!(
            matches!(other, Ok(Some(_))),
            "sessions on live nodes must keep working: {other:?}"
        );
    }

    // Back with the same cluster config (its slots) but no data.
    nodes[victim_index].restart();
    let back = Instant::now();
    let mut recovered = None;
    for _ in 0..50 {
        match store.load(&on_victim.id).await {
            Ok(loaded) => {
                recovered = Some(back.elapsed());
                assert!(loaded.is_none(), "this Redis keeps no data across restarts");
                break;
            }
            Err(err) => {
                eprintln!("node back: {err} after {:?}", back.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let recovered = recovered.expect("the store did not recover within ~5 s of the node's restart");
    eprintln!("node back: first successful load {recovered:?} after the restart");
    let mut fresh = record();
    fresh.id = on_victim.id;
    assert_eq!(store.create(&fresh).await.unwrap(), Created::Inserted);
    assert!(store.load(&fresh.id).await.unwrap().is_some());
}
