//! Debian's headless Chromium, driven through chromedriver (WebDriver) with
//! `fantoccini`.
//!
//! - One chromedriver per test process, shared by the tests that run at the
//!   same time ([`driver`]); it is killed when the last [`Browser`] that
//!   uses it is dropped. It stays in the test's process group, so Ctrl-C,
//!   or scripts/test stopping the test command's group, reaches it and
//!   every Chromium too.
//! - A [`Browser`] is one simulated person: a fresh Chromium with its own
//!   new `--user-data-dir`, so nothing (cookies above all) is shared between
//!   two of them. [`Browser::close`] ends it; a dropped browser (a failed
//!   assertion) is ended too, synchronously; then any process still running
//!   with that profile is killed by its pid, and the profile is removed.
//! - Every WebDriver call is bounded in time ([`STEP`], [`START`]).
//! - Missing binaries are a failure naming the packages, never a skip.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How to get the binaries; part of every "not found" failure.
pub const INSTALL_HINT: &str = "install Debian's Chromium and its WebDriver with \
    `apt-get update && apt-get install -y chromium chromium-driver` \
    (scripts/test does this when run as root)";

/// Chromium's flags on this machine: headless, as root, with no background
/// traffic (the network is closed: only loopback is reached).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];

/// The most any one WebDriver command (a navigation included) may take.
pub const STEP: Duration = Duration::from_secs(60);
/// The most starting chromedriver, or a new Chromium session, may take.
pub const START: Duration = Duration::from_secs(60);

/// `name` on `PATH`, or a failure with the install hint.
fn find_binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` not found on PATH: {INSTALL_HINT}"))
}

/// A running chromedriver (in the test process's own process group).
pub struct Driver {
    child: Mutex<Child>,
    /// `http://127.0.0.1:PORT`
    url: String,
    /// `127.0.0.1:PORT`, for the synchronous session cleanup.
    addr: String,
    chromium: PathBuf,
}

static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());

/// The chromedriver of this test process: the running one, or a new one.
pub fn driver() -> Arc<Driver> {
    let mut slot = DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(driver) = slot.upgrade() {
        return driver;
    }
    remove_stale_profiles();
    let driver = Arc::new(Driver::start());
    *slot = Arc::downgrade(&driver);
    driver
}

/// Removes the profiles left behind by test processes that were killed
/// (no `Drop` ran): `examples-browser-PID-N` whose PID no longer runs.
fn remove_stale_profiles() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix("examples-browser-"))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Driver {
    fn start() -> Driver {
        let chromium = find_binary("chromium");
        let chromedriver = find_binary("chromedriver");
        let mut child = Command::new(&chromedriver)
            // Port 0: chromedriver picks a free one and prints it.
            .args(["--port=0", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keeps reading (and discarding) after the port, so that
            // chromedriver never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    let _ = tx.send(port);
                }
            }
        });
        let deadline = Instant::now() + START;
        let port = loop {
            if let Ok(port) = rx.recv_timeout(Duration::from_millis(50)) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromedriver exited before listening: {status}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromedriver did not start listening within {START:?}");
            }
        };
        let addr = format!("127.0.0.1:{port}");
        Driver {
            child: Mutex::new(child),
            url: format!("http://{addr}"),
            addr,
            chromium,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Turns a fantoccini result into its value, failing the test with `what`
/// on an error or when no answer came within `limit`.
pub async fn bounded<T, E: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    future: impl Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => panic!("{what}: {err:?}"),
        Err(_) => panic!("{what}: no answer within {limit:?}"),
    }
}

static PROFILES: AtomicUsize = AtomicUsize::new(0);

/// One simulated person: a headless Chromium with a fresh profile.
pub struct Browser {
    client: Client,
    /// The WebDriver session id, while the session is open.
    session: Option<String>,
    /// Held for its `Drop`, which runs after the session is ended (fields
    /// drop in order, after `Browser::drop`).
    _profile: Profile,
    driver: Arc<Driver>,
}

/// A new, empty Chromium profile directory. When dropped, whatever still
/// runs with it (a session that could not be ended, or one whose start
/// timed out) is killed by pid, and the directory is removed.
struct Profile(PathBuf);

impl Profile {
    fn new() -> Profile {
        let path = std::env::temp_dir().join(format!(
            "examples-browser-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Profile(path)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        // Chromium's helpers follow its main process.
        kill_profile_processes(&self.0);
        remove_profile(&self.0);
    }
}

impl Browser {
    /// Starts a new Chromium with a new, empty profile.
    pub async fn launch() -> Browser {
        let driver = driver();
        let profile = Profile::new();
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {
                "pageLoad": STEP.as_millis() as u64,
                "script": STEP.as_millis() as u64,
                "implicit": 0,
            },
            "goog:chromeOptions": {
                "binary": driver.chromium.display().to_string(),
                "args": args,
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let client = bounded(
            "starting Chromium through chromedriver",
            START,
            builder.connect(&driver.url),
        )
        .await;
        let session = bounded("the WebDriver session id", STEP, client.session_id()).await;
        Browser {
            client,
            session,
            _profile: profile,
            driver,
        }
    }

    /// Navigates to `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        bounded(&format!("navigating to {url}"), STEP, self.client.goto(url)).await;
    }

    /// Clicks the element `css` selects (a form's submit button, say).
    pub async fn click(&self, css: &str) {
        let locator = fantoccini::Locator::Css(css);
        let element = bounded(&format!("finding {css}"), STEP, self.client.find(locator)).await;
        bounded(&format!("clicking {css}"), STEP, element.click()).await;
    }

    /// `document.body.innerText` of the current page.
    pub async fn text(&self) -> String {
        let value = bounded(
            "reading document.body.innerText",
            STEP,
            self.client.execute(
                "return document.body ? document.body.innerText : ''",
                vec![],
            ),
        )
        .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The HTTP status of the current page's response (Navigation Timing).
    pub async fn status(&self) -> u64 {
        let value = bounded(
            "reading the response status",
            STEP,
            self.client.execute(
                "return performance.getEntriesByType('navigation')[0].responseStatus",
                vec![],
            ),
        )
        .await;
        value
            .as_u64()
            .unwrap_or_else(|| panic!("no response status: {value}"))
    }

    /// Navigates to `url`, checks that it answered 200, and returns the
    /// JSON the page shows (Chromium renders a JSON response as text in the
    /// page's body).
    pub async fn json(&self, url: &str) -> Value {
        self.goto(url).await;
        let text = self.text().await;
        let status = self.status().await;
        assert_eq!(status, 200, "{url} answered {status}: {text}");
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{url}: the page is not JSON ({e}): {text:?}"))
    }

    /// Every cookie the browser keeps for the current page, as the
    /// browser stored it (WebDriver's "Get All Cookies").
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        bounded("reading cookies", STEP, self.client.get_all_cookies()).await
    }

    /// The cookie `name` the browser keeps for the current page, if any.
    pub async fn cookie(&self, name: &str) -> Option<Cookie<'static>> {
        self.cookies().await.into_iter().find(|c| c.name() == name)
    }

    /// Ends the browser: Chromium exits and its profile is removed.
    pub async fn close(mut self) {
        if self.session.take().is_some() {
            let client = self.client.clone();
            bounded("closing Chromium", STEP, client.close()).await;
        }
        // Dropping the profile removes it.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // A test that failed midway: end the session synchronously (no
            // runtime may be left to run fantoccini's own cleanup).
            delete_session(&self.driver.addr, &session);
        }
        // Then the profile's Drop kills what is left and removes it.
    }
}

/// The pids of the processes started with `--user-data-dir=PROFILE`.
fn profile_processes(profile: &Path) -> Vec<String> {
    let wanted = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().into_string().ok()?;
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == wanted.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// SIGKILL to every process running with `profile`, then wait (bounded)
/// until none is left.
fn kill_profile_processes(profile: &Path) {
    for _ in 0..50 {
        let pids = profile_processes(profile);
        if pids.is_empty() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(&pids)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `DELETE /session/ID` on chromedriver, which quits that Chromium; bounded.
fn delete_session(addr: &str, session: &str) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // chromedriver keeps the connection open: read one whole response
    // (headers, then Content-Length bytes), not to the end of the stream.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !is_complete(&answer) {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Whether `answer` holds a whole HTTP response with a Content-Length body.
fn is_complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= end + 4 + length
}

/// Removes a profile directory; Chromium may still be writing to it for a
/// moment after it was told to quit, so try a few times.
fn remove_profile(profile: &Path) {
    for _ in 0..20 {
        match std::fs::remove_dir_all(profile) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => return,
        }
    }
}
