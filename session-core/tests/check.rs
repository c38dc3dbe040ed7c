//! The application's check (`SessionLayer::with_check`) through the real
//! layer, on every kind of storage: `Ok(false)` ends the session, and an
//! error is a failed load (the request answers 503 and writes nothing),
//! never a pass and never a logout.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie};
use session_core::{Error, Key, Keys, LoadedSession, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

/// What the check answers: go on, end the session, or fail.
const PASS: u8 = 0;
const REVOKE: u8 = 1;
const FAIL: u8 = 2;

fn layers() -> Vec<(&'static str, SessionLayer)> {
    let keys = Keys::from(Key::from_bytes(&[3; 32]).unwrap());
    vec![
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                keys.clone(),
            ),
        ),
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&keys)),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&keys)),
        ),
        (
            "starlette",
            SessionLayer::client_side(StarletteCookie::new("dev-secret-key")),
        ),
    ]
}

/// `/count` increments `n` with `?` (an error becomes its status);
/// `/lenient` reads and writes ignoring errors, as a careless handler
/// would.
fn app(
    layer: SessionLayer<impl session_core::store::SessionStore>,
    answer: Arc<AtomicU8>,
) -> Router {
    let layer = layer
        .with_config(SessionConfig::new().with_secure(false))
        .with_check(move |session: LoadedSession| {
            let answer = answer.load(Ordering::SeqCst);
            async move {
                assert!(session.data.contains_key("n"), "the check sees the data");
                match answer {
                    PASS => Ok(true),
                    REVOKE => Ok(false),
                    _ => Err("the users database is down".into()),
                }
            }
        });
    Router::new()
        .route(
            "/count",
            get(|session: Session| async move {
                let n: u64 = session.get("n").await?.unwrap_or(0);
                session.insert("n", n + 1).await?;
                Ok::<_, Error>(n.to_string())
            }),
        )
        .route(
            "/lenient",
            get(|session: Session| async move {
                let n: Option<u64> = session.get("n").await.ok().flatten();
                let wrote = session.insert("n", 100).await.is_ok();
                format!("{n:?} {wrote}")
            }),
        )
        .layer(layer)
}

async fn send(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), cookie)
}

#[tokio::test]
async fn a_failing_check_is_a_503_and_changes_nothing() {
    for (kind, layer) in layers() {
        let answer = Arc::new(AtomicU8::new(PASS));
        let app = app(layer, answer.clone());
        let (_, _, cookie) = send(&app, "/count", None).await;
        let cookie = cookie.expect("a new session's cookie");

        answer.store(FAIL, Ordering::SeqCst);
        let (status, body, set) = send(&app, "/count", Some(&cookie)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{kind}: {body}");
        assert_eq!(set, None, "{kind}: no cookie, not even a removal");
        // A handler that ignores the error sees no session and writes
        // nothing: the session is not handed out, not replaced, not ended.
        let (status, body, set) = send(&app, "/lenient", Some(&cookie)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "None false"),
            "{kind}"
        );
        assert_eq!(set, None, "{kind}");

        // Once the check answers again, the session is as it was.
        answer.store(PASS, Ordering::SeqCst);
        let (status, body, _) = send(&app, "/count", Some(&cookie)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1"), "{kind}");
    }
}

#[tokio::test]
async fn a_check_answering_false_ends_the_session() {
    for (kind, layer) in layers() {
        let answer = Arc::new(AtomicU8::new(PASS));
        let app = app(layer, answer.clone());
        let (_, _, cookie) = send(&app, "/count", None).await;
        let cookie = cookie.expect("a new session's cookie");

        answer.store(REVOKE, Ordering::SeqCst);
        let (status, body, set) = send(&app, "/lenient", Some(&cookie)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "None true"),
            "{kind}"
        );
        let fresh = set.expect("what the handler wrote is a new session");
        assert_ne!(fresh, cookie, "{kind}");
        // A stored session is deleted; a data cookie cannot be, and is
        // over only as long as the check says so: the same cookie is a
        // session again once it passes (revocation must be kept, as a
        // version number is).
        answer.store(PASS, Ordering::SeqCst);
        let (_, body, _) = send(&app, "/count", Some(&cookie)).await;
        assert_eq!(body, if kind == "memory" { "0" } else { "1" }, "{kind}");
    }
}
