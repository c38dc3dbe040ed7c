// tower-sessions' own layer on a `TowerStore`, written once. `tests/layer.rs`
// includes this file once per tower-sessions version, in a module where
// `ts` names that version's crate.

use std::convert::Infallible;
use std::sync::Arc;

use http::{header, Request, Response};
use session_store_memory::MemoryStore;
use session_tower_sessions::TowerStore;
use tower::{service_fn, Layer as _, ServiceExt as _};
use ts::{Session, SessionManagerLayer};

/// `/count` adds one to `n` and answers it; `/login` moves the session to
/// a fresh id (as axum-login's login does); `/logout` flushes it.
async fn handle(request: Request<String>) -> Result<Response<String>, Infallible> {
    let session = request.extensions().get::<Session>().cloned().expect("the layer's session");
    let body = match request.uri().path() {
        "/count" => {
            let n = session.get::<i64>("n").await.expect("get").unwrap_or(0) + 1;
            session.insert("n", n).await.expect("insert");
            n.to_string()
        }
        "/login" => {
            session.cycle_id().await.expect("cycle_id");
            "fresh id".to_owned()
        }
        "/logout" => {
            session.flush().await.expect("flush");
            "bye".to_owned()
        }
        other => panic!("no route {other}"),
    };
    Ok(Response::new(body))
}

/// The app on a fresh memory store, and the store.
fn app() -> (
    impl tower::Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
    Arc<MemoryStore>,
) {
    let store = Arc::new(MemoryStore::new());
    let layer = SessionManagerLayer::new(TowerStore::new(store.clone())).with_secure(false);
    (layer.layer(service_fn(handle)), store)
}

/// Sends `GET path` with `cookie`; the body and the `name=value` of the
/// cookie set, if any.
async fn send<A>(app: &A, path: &str, cookie: Option<&str>) -> (String, Option<String>)
where
    A: tower::Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone,
{
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request.body(String::new()).expect("a request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let set = response.headers().get(header::SET_COOKIE).map(|value| {
        let text = value.to_str().expect("a text cookie");
        text.split(';').next().expect("name=value").to_owned()
    });
    (response.into_body(), set)
}

/// Counting, a fresh id at login (the old cookie no longer reaches the
/// session), and a logout that removes the session from the store.
pub async fn counts_cycles_and_logs_out() {
    let (app, store) = app();
    let (body, cookie) = send(&app, "/count", None).await;
    assert_eq!(body, "1");
    let cookie = cookie.expect("a new session sets its cookie");
    assert_eq!(send(&app, "/count", Some(&cookie)).await.0, "2");
    assert_eq!(store.len(), 1);

    let (_, cycled) = send(&app, "/login", Some(&cookie)).await;
    let cycled = cycled.expect("a fresh id is sent");
    assert_ne!(cycled, cookie);
    assert_eq!(store.len(), 1, "the old id is gone, the new one kept");
    assert_eq!(send(&app, "/count", Some(&cycled)).await.0, "3");
    let (body, _) = send(&app, "/count", Some(&cookie)).await;
    assert_eq!(body, "1", "the cookie from before the login starts afresh");

    send(&app, "/logout", Some(&cycled)).await;
    assert_eq!(send(&app, "/count", Some(&cycled)).await.0, "1", "logged out");
}
