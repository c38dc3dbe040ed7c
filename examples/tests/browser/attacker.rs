//! A test-only "other site", served inside the test process: its page
//! posts a form to a target URL as soon as it loads, with a made-up CSRF
//! token, as a forged cross-site request would.

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The attacker's site on `127.0.0.1:<free port>`; stopped when dropped.
pub struct Attacker {
    port: u16,
    server: JoinHandle<()>,
}

impl Attacker {
    /// Serves, at `/`, a page that posts `csrf_token=forged&amount=1000`
    /// to `target` when it loads.
    pub async fn start(target: &str) -> Attacker {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let page = format!(
            r#"<!doctype html><title>You won!</title>
<form method="post" action="{target}">
  <input type="hidden" name="csrf_token" value="forged">
  <input type="hidden" name="amount" value="1000">
</form>
<script>document.forms[0].submit();</script>"#
        );
        let app = Router::new().route("/", get(move || async move { Html(page) }));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Attacker { port, server }
    }

    /// The page's URL under `host` (`127.0.0.1`: another origin of the same
    /// site as a target on 127.0.0.1; `localhost`: another site).
    pub fn url(&self, host: &str) -> String {
        format!("http://{host}:{}/", self.port)
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.server.abort();
    }
}
