//! A loopback TCP proxy in front of the Redis of `REDIS_URL` that breaks
//! the connection at a chosen request: before the request reaches Redis
//! ([`Cut::Request`]), or after Redis ran it but before its answer reaches
//! the store ([`Cut::Answer`], the case of a resent command). A request is
//! chosen by bytes it contains (a key); each rule breaks a given number of
//! connections, then the proxy only forwards. It can also stall every
//! connection open so far ([`Proxy::stall`]): they stay open and carry
//! nothing more, as a half-open TCP connection does, while new ones work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Where a rule breaks the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The request is not sent to Redis; the connection is closed.
    Request,
    /// The request is sent; Redis's answer is swallowed and the connection
    /// closed.
    Answer,
}

struct Rule {
    needle: Vec<u8>,
    cut: Cut,
    left: usize,
}

/// The proxy; it runs until the test's runtime ends.
pub struct Proxy {
    pub port: u16,
    rules: Arc<Mutex<Vec<Rule>>>,
    cuts: Arc<Mutex<usize>>,
    generation: Arc<AtomicU64>,
}

/// Whether the connection of `generation` still carries data.
#[derive(Clone)]
struct Live {
    generation: u64,
    current: Arc<AtomicU64>,
}

impl Live {
    fn carries(&self) -> bool {
        self.current.load(Ordering::SeqCst) == self.generation
    }
}

impl Proxy {
    /// A proxy to the Redis of `REDIS_URL`.
    pub async fn start() -> Self {
        let url = super::redis_url();
        let upstream = url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .rsplit('@')
            .next()
            .unwrap()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let cuts: Arc<Mutex<usize>> = Arc::default();
        let generation: Arc<AtomicU64> = Arc::default();
        let (shared_rules, shared_cuts) = (rules.clone(), cuts.clone());
        let current = generation.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let live = Live {
                    generation: current.load(Ordering::SeqCst),
                    current: current.clone(),
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                // Set when the answer to the next request must be cut.
                let (cut_tx, cut_rx) = watch::channel(false);
                tokio::spawn(requests(
                    client_read,
                    server_write,
                    shared_rules.clone(),
                    shared_cuts.clone(),
                    cut_tx,
                    live.clone(),
                ));
                tokio::spawn(answers(server_read, client_write, cut_rx, live));
            }
        });
        Self {
            port,
            rules,
            cuts,
            generation,
        }
    }

    /// Stalls every connection open so far: what either side sends is
    /// read and dropped, and both stay open. Connections made later work.
    pub fn stall(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The URL to connect a store to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Breaks the next `times` connections that send a request containing
    /// `needle`, at `cut`.
    pub fn cut(&self, needle: impl AsRef<[u8]>, cut: Cut, times: usize) {
        self.rules.lock().unwrap().push(Rule {
            needle: needle.as_ref().to_vec(),
            cut,
            left: times,
        });
    }

    /// How many connections the rules have broken so far.
    pub fn cuts(&self) -> usize {
        *self.cuts.lock().unwrap()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Client to server: forwards, unless a rule matches.
async fn requests(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    rules: Arc<Mutex<Vec<Rule>>>,
    cuts: Arc<Mutex<usize>>,
    cut_answer: watch::Sender<bool>,
    live: Live,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !live.carries() {
            continue;
        }
        let chunk = &buf[..n];
        let cut = {
            let mut rules = rules.lock().unwrap();
            let cut = rules
                .iter_mut()
                .find(|rule| rule.left > 0 && contains(chunk, &rule.needle))
                .map(|rule| {
                    rule.left -= 1;
                    rule.cut
                });
            if cut.is_some() {
                *cuts.lock().unwrap() += 1;
            }
            cut
        };
        match cut {
            Some(Cut::Request) => {
                // Dropping both halves closes the connection to the store
                // (the answers task sees the server side close too).
                let _ = to.shutdown().await;
                return;
            }
            Some(Cut::Answer) => {
                let _ = cut_answer.send(true);
                let _ = to.write_all(chunk).await;
            }
            None => {
                if to.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Server to client: forwards, until an answer must be cut; then closes.
async fn answers(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    cut_answer: watch::Receiver<bool>,
    live: Live,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        if !live.carries() {
            continue;
        }
        if *cut_answer.borrow() {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
