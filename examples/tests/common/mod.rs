//! Starting example binaries on free ports and talking to them like a browser.
//!
//! The lessons listen on `ADDR`, `serve` on `ADDR` too (or `PORT`); both
//! print `listening on http://…` once they do.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running example app, killed when dropped.
pub struct App {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl App {
    /// Starts the binary `bin` (a `CARGO_BIN_EXE_*` path) on a free port
    /// of 127.0.0.1 with `envs` (and none of the variables the examples
    /// read but those), and waits (at most 30 s) for its `listening on`
    /// line.
    pub fn start(bin: &str, envs: &[(&str, &str)]) -> App {
        let mut command = Command::new(bin);
        for name in READ {
            command.env_remove(name);
        }
        if !envs
            .iter()
            .any(|(name, _)| *name == "ADDR" || *name == "PORT")
        {
            command.env("PORT", "0");
        }
        command
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(base) = line.strip_prefix("listening on ") {
                    let _ = tx.send(base.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(base) = rx.recv_timeout(Duration::from_millis(100)) {
                return App { child, base };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{bin} exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "{bin} did not start listening within 30 s"
            );
        }
    }

    /// The URL of `path` on this app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the app (as Ctrl-C would not reach it here: kill) and waits.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every variable an example reads.
const READ: &[&str] = &[
    "ADDR",
    "PORT",
    "SCENARIO",
    "FRAMEWORK",
    "SESSION_STORE",
    "SESSION_SECRET",
    "SESSION_DATA_KEY",
    "SESSION_HTTPS",
    "SESSION_SERIALIZE",
    "SESSION_TRANSPORT",
    "SESSION_CACHE",
    "SESSION_METRICS",
    "DATABASE_URL",
    "REDIS_URL",
];

/// The playground binary.
pub const SERVE: &str = env!("CARGO_BIN_EXE_serve");

/// Starts `serve` with `SCENARIO=scenario`, `FRAMEWORK=framework` and
/// `envs`.
pub fn serve(scenario: &str, framework: &str, envs: &[(&str, &str)]) -> App {
    let mut all = vec![("SCENARIO", scenario), ("FRAMEWORK", framework)];
    all.extend_from_slice(envs);
    App::start(SERVE, &all)
}

/// `serve`'s two frameworks.
pub const FRAMEWORKS: &[&str] = &["axum", "hyper"];

/// Runs `bin` with `envs` (and none of the other variables the examples
/// read) until it exits, for programs that must stop at start: one still
/// running after 30 s is killed, and the test fails.
pub fn run_to_exit(bin: &str, envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(bin);
    for name in READ {
        command.env_remove(name);
    }
    if !envs
        .iter()
        .any(|(name, _)| *name == "ADDR" || *name == "PORT")
    {
        command.env("PORT", "0");
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "{bin} {envs:?} did not stop within 30 s: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

/// The server URL in the environment variable `var` (`DATABASE_URL`,
/// `MYSQL_URL`, `REDIS_URL`), which `scripts/test` sets to throwaway
/// servers it starts; a missing one fails the test, saying so.
pub fn server_url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{var} is not set. Run `scripts/test` (it starts throwaway Redis, PostgreSQL and \
             MariaDB servers and sets REDIS_URL, DATABASE_URL and MYSQL_URL), or set \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test, \
             MYSQL_URL=mysql://root@127.0.0.1:3306/test and REDIS_URL=redis://127.0.0.1:6379 \
             to test against servers you run"
        ),
    }
}

/// A fresh "browser": an HTTP client with its own cookie jar.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// GETs `url` and returns the JSON body (asserting a 200).
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.expect("request failed");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "GET {url} answered {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

/// A fixed hex key for apps that must share sessions across restarts.
pub const SECRET: &str = "6b0f3c1d2e4a59687f8e9d0c1b2a39485f6e7d8c9b0a1f2e3d4c5b6a79880706";

/// `redis+cluster://host:port,…` from `REDIS_CLUSTER_URLS`.
pub fn cluster_spec() -> String {
    let urls = std::env::var("REDIS_CLUSTER_URLS").unwrap_or_default();
    let hosts: Vec<&str> = urls
        .split(',')
        .map(|url| url.trim().trim_start_matches("redis://"))
        .filter(|host| !host.is_empty())
        .collect();
    assert!(
        !hosts.is_empty(),
        "REDIS_CLUSTER_URLS is not set. Run `scripts/test` (it starts a throwaway Redis \
         Cluster), or set REDIS_CLUSTER_URLS=redis://127.0.0.1:7000,redis://127.0.0.1:7001,..."
    );
    format!("redis+cluster://{}", hosts.join(","))
}

/// The value of a `session` cookie holding `data` in Starlette's format,
/// as a FastAPI app with the codec's secret writes it.
pub fn starlette_cookie(
    codec: &session_core::codec::StarletteCookie,
    data: session_core::store::Data,
) -> String {
    use session_core::codec::{ClientSession, DataCodec as _};
    let session = ClientSession {
        data,
        created_at: None,
        issued_at: session_core::time::OffsetDateTime::now_utc(),
        rekey: false,
        expires_at: None,
        expiry: None,
        user: None,
    };
    codec
        .encode("session", &session)
        .expect("a Starlette cookie")
}
