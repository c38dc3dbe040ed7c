//! Debian's headless Chromium, driven through chromedriver (WebDriver) with
//! `fantoccini`.
//!
//! - One chromedriver per test process, shared by the tests that run at the
//!   same time ([`driver`]); it is stopped when the last [`Browser`] that
//!   uses it is dropped, and its whole process group (every Chromium it
//!   started) is killed then, whatever state the browsers were left in.
//! - A [`Browser`] is one simulated person: a fresh Chromium with its own
//!   new `--user-data-dir`, so nothing (cookies above all) is shared between
//!   two of them. [`Browser::close`] ends it; a dropped browser (a failed
//!   assertion) is ended too, synchronously, and its profile removed.
//! - Every WebDriver call is bounded in time ([`STEP`], [`START`]).
//! - Missing binaries are a failure naming the packages, never a skip.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
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

/// A running chromedriver, in its own process group.
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
    let driver = Arc::new(Driver::start());
    *slot = Arc::downgrade(&driver);
    driver
}

impl Driver {
    fn start() -> Driver {
        let chromium = find_binary("chromium");
        let chromedriver = find_binary("chromedriver");
        let mut child = Command::new(&chromedriver)
            // Port 0: chromedriver picks a free one and prints it.
            .args(["--port=0", "--log-level=WARNING"])
            // Its own process group: Chromium and its helpers join it, so one
            // signal to the group ends them all (see `Drop`).
            .process_group(0)
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
                kill_group(&mut child);
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

/// SIGKILL to the child's whole process group (chromedriver and every
/// Chromium process it started), then reap the child.
fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let killed = Command::new("kill")
        .args(["-KILL", "--", &group])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !killed {
        let _ = child.kill();
    }
    let _ = child.wait();
}

impl Drop for Driver {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        kill_group(child);
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
    profile: PathBuf,
    driver: Arc<Driver>,
}

impl Browser {
    /// Starts a new Chromium with a new, empty profile.
    pub async fn launch() -> Browser {
        let driver = driver();
        let profile = std::env::temp_dir().join(format!(
            "examples-browser-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", profile.display()));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
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
            profile,
            driver,
        }
    }

    /// Navigates to `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        bounded(&format!("navigating to {url}"), STEP, self.client.goto(url)).await;
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

    /// Navigates to `url` and returns the JSON the page shows (Chromium
    /// renders a JSON response as text in the page's body).
    pub async fn json(&self, url: &str) -> Value {
        self.goto(url).await;
        let text = self.text().await;
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
        // Drop removes the profile.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // A test that failed midway: end the session synchronously (no
            // runtime may be left to run fantoccini's own cleanup).
            delete_session(&self.driver.addr, &session);
        }
        remove_profile(&self.profile);
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
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
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
