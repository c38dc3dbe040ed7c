//! A test-only app, served inside the test process, that shows what a
//! browser does with a cookie over 4096 bytes: `GET /set/` answers with two
//! `Set-Cookie`s, one that fits and one that does not; `GET /echo/` answers
//! with the `Cookie` header the browser sent.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::HeaderMap;
use axum::response::{AppendHeaders, IntoResponse};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The value length of the cookie that fits (name + value < 4096 bytes).
pub const FITS_LEN: usize = 4000;
/// The value length of the cookie that does not (name + value > 4096 bytes).
pub const TOO_BIG_LEN: usize = 5000;

/// The control app, on `127.0.0.1:<free port>`; stopped when dropped.
pub struct ControlApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    server: JoinHandle<()>,
}

impl ControlApp {
    /// Serves the control app on the current tokio runtime.
    pub async fn start() -> ControlApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/set/", get(set))
            .route("/echo/", get(echo));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ControlApp { base, server }
    }

    /// The URL of `path` on this app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for ControlApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn set() -> impl IntoResponse {
    let fits = format!("fits={}; Path=/", "f".repeat(FITS_LEN));
    let too_big = format!("toobig={}; Path=/", "t".repeat(TOO_BIG_LEN));
    (
        AppendHeaders([(SET_COOKIE, fits), (SET_COOKIE, too_big)]),
        "two cookies sent",
    )
}

async fn echo(headers: HeaderMap) -> String {
    let cookies: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    format!("cookie: {}", cookies.join("; "))
}
