//! A throwaway `redis-server` on a free loopback port, for the tests that
//! stop, freeze or measure a server of their own.
//!
//! Needs the `redis-server` binary (or `REDIS_SERVER=/path/to/redis-server`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use super::nodes::until_listening;

/// A `redis-server` child process, killed when dropped.
pub struct Server {
    pub port: u16,
    child: Option<Child>,
}

impl Server {
    pub fn start(port: u16) -> Self {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start `{binary}` ({err}): install Redis (the `redis-server` binary) \
                     or set REDIS_SERVER to its path; `scripts/test` needs it too"
                )
            });
        let server = Self {
            port,
            child: Some(child),
        };
        until_listening(port);
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process must be woken to die promptly on some systems.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free loopback port")
        .port()
}
