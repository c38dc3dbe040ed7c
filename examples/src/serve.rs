//! Serving an example: bind `127.0.0.1:$PORT`, then serve an axum router or
//! a hyper service until Ctrl-C.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

use crate::Settings;

/// Binds `127.0.0.1:$PORT` and prints `listening on http://ADDR` (tests
/// read that line to find the port when `PORT=0`).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = examples::serve::bind(&examples::Settings::from_env()).await?;
/// # let _ = listener; Ok(()) }
/// ```
pub async fn bind(settings: &Settings) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], settings.port))).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Ok(listener)
}

/// Serves an axum router until Ctrl-C.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let listener = examples::serve::bind(&examples::Settings::from_env()).await?;
/// examples::serve::axum(listener, axum::Router::new()).await
/// # }
/// ```
pub async fn axum(listener: TcpListener, router: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Serves a tower service through hyper (HTTP/1.1) until Ctrl-C.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// use examples::hyper_app::{handle, Scenario};
/// let layer = session_core::SessionLayer::new(
///     session_store_memory::MemoryStore::new(),
///     session_core::Key::generate(),
/// );
/// let service = tower::ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req| handle(Scenario::Counter, req));
/// let listener = examples::serve::bind(&examples::Settings::from_env()).await?;
/// examples::serve::hyper(listener, service).await
/// # }
/// ```
pub async fn hyper<S>(listener: TcpListener, service: S) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut shutdown => return Ok(()),
        };
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}

/// Binds and serves an axum app; the exit code says how it ended.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::process::ExitCode {
/// examples::serve::run_axum(&examples::Settings::from_env(), axum::Router::new()).await
/// # }
/// ```
pub async fn run_axum(settings: &Settings, app: axum::Router) -> ExitCode {
    match bind(settings).await {
        Ok(listener) => finish(axum(listener, app).await),
        Err(err) => fail(&format!("cannot listen on port {}: {err}", settings.port)),
    }
}

/// Binds and serves a hyper service; the exit code says how it ended.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::process::ExitCode {
/// use examples::hyper_app::{handle, Scenario};
/// let layer = session_core::SessionLayer::new(
///     session_store_memory::MemoryStore::new(),
///     session_core::Key::generate(),
/// );
/// let service = tower::ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req| handle(Scenario::Counter, req));
/// examples::serve::run_hyper(&examples::Settings::from_env(), service).await
/// # }
/// ```
pub async fn run_hyper<S>(settings: &Settings, service: S) -> ExitCode
where
    S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    match bind(settings).await {
        Ok(listener) => finish(hyper(listener, service).await),
        Err(err) => fail(&format!("cannot listen on port {}: {err}", settings.port)),
    }
}

fn finish(result: std::io::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err.to_string()),
    }
}

/// Prints `message` to stderr and returns exit code 2 (bad configuration).
///
/// ```
/// let code = examples::serve::fail("unknown SESSION_STORE");
/// # let _ = code;
/// ```
pub fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
