//! Shared pieces of the benches: the tutorial's counter as the same axum
//! handler with and without a session, and a request runner.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use session_core::Session;
use tower::ServiceExt;

/// Criterion settings for every bench here: 1 s warm-up and 3 s of
/// measurement per function, so a full run stays within minutes.
///
/// ```
/// let criterion = benches::criterion();
/// # let _ = criterion;
/// ```
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
}

/// The counter with no session: the floor every session layer is measured against.
///
/// ```
/// let app = benches::no_session_counter();
/// # let _ = app;
/// ```
pub fn no_session_counter() -> Router {
    Router::new().route("/", get(|| async { Json(json!({ "user_count": 0 })) }))
}

/// The tutorial's counter on our `Session` (the layer is added by the caller).
///
/// ```
/// let app = benches::session_counter();
/// # let _ = app;
/// ```
pub fn session_counter() -> Router {
    Router::new().route(
        "/",
        get(|session: Session| async move {
            let n: u64 = session.get("user_count").await?.unwrap_or(0);
            session.insert("user_count", n + 1).await?;
            Ok::<Json<Value>, session_core::Error>(Json(json!({ "user_count": n })))
        }),
    )
}

/// The tutorial's counter on tower-sessions' memory store, the peer of
/// the in-process request benches.
///
/// ```
/// let app = benches::tower_sessions_counter();
/// # let _ = app;
/// ```
pub fn tower_sessions_counter() -> Router {
    async fn counter(session: tower_sessions::Session) -> Json<Value> {
        let n: u64 = session.get("user_count").await.unwrap().unwrap_or(0);
        session.insert("user_count", n + 1).await.unwrap();
        Json(json!({ "user_count": n }))
    }
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default())
        .with_secure(false);
    Router::new().route("/", get(counter)).layer(layer)
}

/// The no-session counter behind the least any session layer does: a tower
/// layer that puts a shared value in the request extensions and boxes the
/// response future. What it costs above [`no_session_counter`] is the part
/// of every session layer's overhead that is axum's and tower's plumbing,
/// not session work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let set = benches::request(&benches::layer_floor_counter(), None).await;
/// assert!(set.is_none());
/// # }
/// ```
pub fn layer_floor_counter() -> Router {
    no_session_counter().layer(tower::layer::layer_fn(|inner| Floor {
        inner,
        shared: std::sync::Arc::new(()),
    }))
}

/// The service of [`layer_floor_counter`]'s layer.
#[derive(Clone)]
struct Floor<S> {
    inner: S,
    shared: std::sync::Arc<()>,
}

impl<S, B> tower::Service<Request<B>> for Floor<S>
where
    S: tower::Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.shared.clone());
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { inner.call(request).await })
    }
}

/// The cases of `benches/request.rs` by name, for the examples that run
/// one of them (`instructions`) or all of them (`ratios`): `no_session`,
/// `ours_memory`, `ours_memory_data_keys` (the memory store with data
/// encrypted at rest), `ours_cookie_store`, `tower_sessions_memory`, and
/// `layer_floor` ([`layer_floor_counter`]); `None` for another name. The
/// routes are built once, as a server builds them.
///
/// ```
/// assert!(benches::request_case("ours_memory").is_some());
/// assert!(benches::request_case("nothing").is_none());
/// ```
pub fn request_case(name: &str) -> Option<Router> {
    use session_core::codec::SignedCookie;
    use session_core::{Key, SessionConfig, SessionLayer};
    use session_store_memory::MemoryStore;

    let key = || Key::from_bytes(&[7; 32]).expect("a 32-byte key");
    let config = SessionConfig::new().with_secure(false);
    let app = match name {
        "no_session" => no_session_counter(),
        "ours_memory" => session_counter()
            .layer(SessionLayer::new(MemoryStore::new(), key()).with_config(config)),
        // The store's type erased (a store picked at run time).
        "ours_memory_any" => session_counter().layer(
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(),
            )
            .with_config(config),
        ),
        "ours_memory_data_keys" => session_counter().layer(
            SessionLayer::new(MemoryStore::new(), key())
                .with_config(config)
                .with_data_keys(Key::from_bytes(&[8; 32]).expect("a 32-byte key")),
        ),
        "ours_cookie_store" => session_counter()
            .layer(SessionLayer::client_side(SignedCookie::new(&key().into())).with_config(config)),
        "tower_sessions_memory" => tower_sessions_counter(),
        "layer_floor" => layer_floor_counter(),
        _ => return None,
    };
    // Routes built once, as `axum::serve` does for each connection (a
    // `Router` called directly builds its routes, layers included, on
    // every request).
    Some(app.with_state(()))
}

/// Sends `GET /` with `cookie` through `app` in-process and returns the
/// `name=value` of the response's `Set-Cookie`, if any (the body is read
/// to the end, as a server would).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let set = benches::request(&benches::no_session_counter(), None).await;
/// assert!(set.is_none());
/// # }
/// ```
pub async fn request(app: &Router, cookie: Option<&str>) -> Option<String> {
    let mut request = Request::get("/");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert!(
        response.status().is_success(),
        "status {}",
        response.status()
    );
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let _ = response.into_body().collect().await.expect("body");
    set_cookie
}
