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
    layer: &SessionLayer<impl session_core::store::SessionStore>,
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
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(1),
            )
            .with_config(config.clone()),
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

/// A codec whose values a `Set-Cookie` header cannot carry as they are.
#[derive(Debug)]
struct Unsafe(&'static str);

impl session_core::codec::DataCodec for Unsafe {
    fn encode(
        &self,
        _name: &str,
        _session: &session_core::codec::ClientSession,
    ) -> Result<String, session_core::Error> {
        Ok(self.0.to_owned())
    }
    fn decode(&self, _name: &str, _value: &str) -> Option<session_core::codec::ClientSession> {
        None
    }
}

#[tokio::test]
async fn a_codec_value_a_cookie_cannot_carry_is_a_500_not_a_panic() {
    // A control character (`HeaderValue` refuses it), an attribute
    // injection, and the other characters RFC 6265 keeps out of values.
    for value in [
        "a\u{1}b",
        "v; Domain=evil.example",
        "a b",
        "a,b",
        "\"a\"",
        "a\\b",
        "é",
    ] {
        let layer = SessionLayer::client_side(Unsafe(value));
        let (status, _, cookie) = send(&layer, "/count", &[]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{value:?}");
        assert_eq!(cookie, None, "{value:?}");
    }
}

#[test]
#[should_panic(expected = "cookie name")]
fn an_invalid_cookie_name_fails_at_configuration() {
    let _ = SessionLayer::new(MemoryStore::new(), key(1))
        .with_config(SessionConfig::new().with_cookie_name("sid; Domain=evil.example"));
}

#[tokio::test]
async fn the_first_session_cookie_that_verifies_wins() {
    for (name, layer) in layers() {
        let (_, _, cookie) = send(&layer, "/count", &[]).await;
        let valid = cookie.unwrap();
        let (_, value) = valid.split_once('=').unwrap();
        // A sibling subdomain can toss a cookie of the same name that the
        // browser sends first; it does not verify.
        let mut tampered = value.as_bytes().to_vec();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = format!("session={}", String::from_utf8(tampered).unwrap());

        let both = format!("{tampered}; {valid}");
        let (_, body, _) = send(&layer, "/", &[both.as_bytes()]).await;
        assert_eq!(body, "Some(1)", "{name}: one header");
        let (_, body, _) = send(&layer, "/", &[tampered.as_bytes(), valid.as_bytes()]).await;
        assert_eq!(body, "Some(1)", "{name}: two headers");
        // Writing goes on from the valid one.
        let (_, body, cookie) = send(&layer, "/count", &[both.as_bytes()]).await;
        assert_eq!(body, "Some(1)", "{name}");
        // (A server-side session keeps its cookie: none is sent when the
        // expiry does not move.)
        let cookie = cookie.unwrap_or_else(|| valid.clone());
        let (_, body, _) = send(&layer, "/", &[cookie.as_bytes()]).await;
        assert_eq!(body, "Some(2)", "{name}");
        // Only garbage: a fresh session.
        let (_, body, _) = send(&layer, "/", &[tampered.as_bytes()]).await;
        assert_eq!(body, "None", "{name}");
    }
}

/// Two applications sharing one key, each with its own cookie name: one's
/// cookie, renamed, is no session for the other.
async fn shares_nothing_across_names<C: session_core::codec::DataCodec>(
    kind: &str,
    make: fn() -> C,
) {
    let layer = |name: &str| {
        SessionLayer::client_side(make()).with_config(SessionConfig::new().with_cookie_name(name))
    };
    let (shop, admin) = (layer("shop"), layer("admin"));
    let (_, _, cookie) = send(&shop, "/count", &[]).await;
    let cookie = cookie.unwrap();
    let (_, body, _) = send(&shop, "/", &[cookie.as_bytes()]).await;
    assert_eq!(body, "Some(1)", "{kind}");
    let moved = cookie.replacen("shop=", "admin=", 1);
    let (_, body, _) = send(&admin, "/", &[moved.as_bytes()]).await;
    assert_eq!(
        body, "None",
        "{kind}: shop's cookie accepted under admin's name"
    );
}

#[tokio::test]
async fn a_data_cookie_is_bound_to_its_cookie_name() {
    use session_core::codec::EncryptedCookie;
    shares_nothing_across_names("signed", || SignedCookie::new(&Keys::from(key(1)))).await;
    shares_nothing_across_names("encrypted", || EncryptedCookie::new(&Keys::from(key(1)))).await;
}

/// Every kind of cookie the layer reads: a signed id (memory store) and the
/// signed, encrypted and Starlette data cookies.
fn every_kind() -> Vec<(&'static str, SessionLayer)> {
    use session_core::codec::{EncryptedCookie, StarletteCookie};
    let config = SessionConfig::new().with_secure(false);
    vec![
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                key(1),
            )
            .with_config(config.clone()),
        ),
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&Keys::from(key(1))))
                .with_config(config.clone()),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&Keys::from(key(1))))
                .with_config(config.clone()),
        ),
        (
            "starlette",
            SessionLayer::client_side(StarletteCookie::new("dev-secret-key")).with_config(config),
        ),
    ]
}

/// RFC 6265 §4.1.1 lets a cookie value travel inside double quotes
/// (Starlette, Python's `http.cookies` and proxies send it so): the
/// session is the same, quoted or not. One pair of quotes goes, and only
/// that.
#[tokio::test]
async fn a_quoted_session_cookie_is_the_same_session() {
    for (kind, layer) in every_kind() {
        let (_, _, cookie) = send(&layer, "/count", &[]).await;
        let cookie = cookie.expect("a new session sends its cookie");
        let (name, value) = cookie.split_once('=').unwrap();
        let quoted = format!("{name}=\"{value}\"");
        let (status, body, _) = send(&layer, "/", &[cookie.as_bytes()]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "Some(1)"),
            "{kind}: bare"
        );
        let (status, body, _) = send(&layer, "/", &[quoted.as_bytes()]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "Some(1)"),
            "{kind}: quoted"
        );
        let among = format!("a=1; {quoted}; b=\"2\"");
        let (_, body, _) = send(&layer, "/", &[among.as_bytes()]).await;
        assert_eq!(body, "Some(1)", "{kind}: quoted among others");

        // Writing through the quoted cookie goes on with the same session.
        let (status, body, sent) = send(&layer, "/count", &[quoted.as_bytes()]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "Some(1)"),
            "{kind}"
        );
        // (A server-side session keeps its cookie when the expiry does not
        // move; a data cookie is re-issued.)
        let next = sent.unwrap_or_else(|| cookie.clone());
        let (_, body, _) = send(&layer, "/", &[next.as_bytes()]).await;
        assert_eq!(body, "Some(2)", "{kind}");

        // Only one surrounding pair is taken away.
        for not_ours in [
            format!("{name}=\"\"{value}\"\""),
            format!("{name}=\"{value}"),
            format!("{name}={value}\""),
            format!("{name}='{value}'"),
        ] {
            let (status, body, _) = send(&layer, "/", &[not_ours.as_bytes()]).await;
            assert_eq!(
                (status, body.as_str()),
                (StatusCode::OK, "None"),
                "{kind}: {not_ours}"
            );
        }
    }
}
