//! The `Cookie` header as the layer reads it, through the real layer
//! (tower `oneshot`) with the memory store and with a data-cookie codec:
//! stray bytes, several cookies of the session's name.

use std::convert::Infallible;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use session_core::codec::SignedCookie;
use session_core::{Key, Keys, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::{Layer, ServiceExt};

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

/// `/count` increments `n` and answers its old value; anything else reads it.
async fn handler(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().unwrap().clone();
    let n: Option<u64> = session.get("n").await.unwrap();
    if req.uri().path() == "/count" {
        session.insert("n", n.unwrap_or(0) + 1).await.unwrap();
    }
    Ok(Response::new(format!("{n:?}")))
}

/// Sends one request with these raw `Cookie` header values.
async fn send(
    layer: &SessionLayer,
    path: &str,
    cookies: &[&[u8]],
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(path).body(String::new()).unwrap();
    for cookie in cookies {
        request
            .headers_mut()
            .append(COOKIE, HeaderValue::from_bytes(cookie).unwrap());
    }
    let service = layer.layer(tower::service_fn(handler));
    let response = service.oneshot(request).await.unwrap();
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status(), response.into_body(), set_cookie)
}

fn layers() -> Vec<(&'static str, SessionLayer)> {
    let config = SessionConfig::new().with_secure(false);
    vec![
        (
            "memory",
            SessionLayer::new(MemoryStore::new(), key(1)).with_config(config.clone()),
        ),
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&Keys::from(key(1)))).with_config(config),
        ),
    ]
}

#[tokio::test]
async fn a_stray_byte_in_another_cookie_does_not_hide_the_session() {
    for (name, layer) in layers() {
        let (_, _, cookie) = send(&layer, "/count", &[]).await;
        let cookie = cookie.expect("a new session sends its cookie");
        let (_, body, _) = send(&layer, "/", &[cookie.as_bytes()]).await;
        assert_eq!(body, "Some(1)", "{name}");

        let header = [b"a=\xff; ".as_slice(), cookie.as_bytes(), b"; b=\xc3\xa9"].concat();
        let (status, body, _) = send(&layer, "/", &[&header]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "Some(1)"),
            "{name}"
        );
    }
}
