//! Throwaway Redis Cluster nodes on free loopback ports, for the tests that
//! break a cluster of their own (kill a node, fail a master over).
//!
//! Needs `redis-server` and `redis-cli` (or `REDIS_SERVER` / `REDIS_CLI`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One cluster node process, killed when dropped.
pub struct Node {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn start(port: u16, dir: PathBuf) -> Self {
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
        until_listening(port);
        Self {
            port,
            dir,
            child: Some(child),
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = Self::start(self.port, self.dir.clone());
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (at most 10 s, then fails) until a server accepts connections on
/// loopback `port`.
pub fn until_listening(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server on port {port} did not start within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free port whose cluster bus port (+10000) is free too.
pub fn free_cluster_port(taken: &[u16]) -> u16 {
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

pub fn cluster_is_ok(port: u16) -> bool {
    let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    Command::new(cli)
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
        .unwrap_or(false)
}

pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cluster of `masters` masters with `replicas` replicas each, started
/// in a fresh directory, once every node reports `cluster_state:ok`: its
/// directory (removed when dropped), its nodes (killed when dropped), and
/// their URLs.
pub fn start_cluster(
    name: &str,
    masters: usize,
    replicas: usize,
) -> (TempDir, Vec<Node>, Vec<String>) {
    let dir =
        std::env::temp_dir().join(format!("session-store-redis-{name}-{}", std::process::id()));
    let cleanup = TempDir(dir.clone());
    let mut ports = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..masters * (1 + replicas) {
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
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|err| panic!("cannot run `{cli}` ({err}): install Redis or set REDIS_CLI"));
    assert!(status.success(), "redis-cli --cluster create failed");
    wait_until("cluster_state:ok", Duration::from_secs(20), || {
        ports.iter().all(|&p| cluster_is_ok(p))
    });
    let urls = addresses.iter().map(|a| format!("redis://{a}")).collect();
    (cleanup, nodes, urls)
}
