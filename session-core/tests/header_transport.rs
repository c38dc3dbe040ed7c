//! The session in a header ([`Transport::Header`], [`Transport::Both`]),
//! through the real layer on the memory store and on client-side codecs:
//! the client's contract (a token in, a new token or an empty header out,
//! never a cookie), rotation on `cycle_id`, key rotation, logout, `Vary`,
//! no fall back from a bad token to the cookie, `Session::token` agreeing
//! with the header, the length bound, and arbitrary header bytes.

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::header::{AUTHORIZATION, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use proptest::prelude::*;
use session_core::{
    ConfigError, Error, Key, Keys, Session, SessionConfig, SessionLayer, SignedCookie, TokenHeader,
    Transport,
};
use session_store_memory::MemoryStore;
use tower::ServiceExt;

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

fn header_config() -> SessionConfig {
    SessionConfig::new().with_transport(Transport::Header(TokenHeader::bearer()))
}

fn both_config() -> SessionConfig {
    SessionConfig::new()
        .with_secure(false)
        .with_transport(Transport::Both(TokenHeader::bearer()))
}

/// `/login/{user}`: stores the user, moves to a fresh id, answers the
/// token `Session::token` gives; `/me`: the stored user or `-`;
/// `/logout`: destroys; `/put/{n}`: stores `n` bytes; `/nothing`: never
/// touches the session.
fn app(layer: SessionLayer<impl session_core::store::SessionStore>) -> Router {
    Router::new()
        .route(
            "/login/{user}",
            get(|session: Session, Path(user): Path<String>| async move {
                session.insert("user", user).await?;
                session.cycle_id().await?;
                session.token().await
            }),
        )
        .route(
            "/me",
            get(|session: Session| async move {
                let user: Option<String> = session.get("user").await?;
                Ok::<_, Error>(user.unwrap_or_else(|| "-".to_owned()))
            }),
        )
        .route(
            "/logout",
            get(|session: Session| async move {
                session.destroy();
                "bye"
            }),
        )
        .route(
            "/put/{n}",
            get(|session: Session, Path(n): Path<usize>| async move {
                session.insert("blob", "x".repeat(n)).await?;
                Ok::<_, Error>("stored")
            }),
        )
        .route("/nothing", get(|| async { "nothing" }))
        .layer(layer)
}

async fn send(app: &Router, path: &str, headers: &[(HeaderName, &str)]) -> Response<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn bearer(token: &str) -> (HeaderName, String) {
    (AUTHORIZATION, format!("Bearer {token}"))
}

async fn with_token(app: &Router, path: &str, token: &str) -> Response<Body> {
    let (name, value) = bearer(token);
    send(app, path, &[(name, &value)]).await
}

fn token_header(response: &Response<Body>) -> Option<&str> {
    response
        .headers()
        .get("session-token")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_token_client_logs_in_calls_rotates_and_logs_out() {
    let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(header_config()));

    let login = send(&app, "/login/hong", &[]).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.headers().get(SET_COOKIE).is_none(), "never a cookie");
    let token = token_header(&login).expect("a new token").to_owned();
    assert_eq!(login.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(login.headers()[VARY], "authorization");
    assert_eq!(
        text(login).await,
        token,
        "Session::token is the header's token"
    );

    let me = with_token(&app, "/me", &token).await;
    assert!(token_header(&me).is_none(), "nothing new to send");
    assert_eq!(me.headers()[VARY], "authorization");
    assert_eq!(text(me).await, "hong");

    // A login on a session that already has a token: a new id (the old
    // token stops working), and the body's token is the header's.
    let again = with_token(&app, "/login/hong", &token).await;
    let rotated = token_header(&again).expect("a rotated token").to_owned();
    assert_ne!(rotated, token);
    assert_eq!(text(again).await, rotated);
    assert_eq!(text(with_token(&app, "/me", &token).await).await, "-");
    assert_eq!(text(with_token(&app, "/me", &rotated).await).await, "hong");

    let logout = with_token(&app, "/logout", &rotated).await;
    assert_eq!(token_header(&logout), Some(""), "an empty token: forget it");
    assert!(logout.headers().get(SET_COOKIE).is_none());
    assert_eq!(text(with_token(&app, "/me", &rotated).await).await, "-");
}

#[tokio::test]
async fn a_named_request_header_and_a_named_response_header() {
    let name = HeaderName::from_static("x-session");
    let header = TokenHeader::named(name.clone()).with_response_header(name.clone());
    let config = SessionConfig::new().with_transport(Transport::Header(header));
    let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(config));
    let login = send(&app, "/login/ferris", &[]).await;
    let token = login.headers()[&name].to_str().unwrap().to_owned();
    assert_eq!(login.headers()[VARY], "x-session");
    let me = send(&app, "/me", &[(name.clone(), &token)]).await;
    assert_eq!(text(me).await, "ferris");
    // Bearer is not read when another header is configured.
    assert_eq!(text(with_token(&app, "/me", &token).await).await, "-");
}

#[tokio::test]
async fn bad_tokens_are_no_session() {
    let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(header_config()));
    let token = token_header(&send(&app, "/login/hong", &[]).await)
        .unwrap()
        .to_owned();
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let long = "a".repeat(9000);
    for bad in [
        tampered.as_str(),
        "",
        "not-a-token",
        long.as_str(),
        &token[..token.len() - 1],
    ] {
        let me = with_token(&app, "/me", bad).await;
        assert_eq!(me.status(), StatusCode::OK);
        assert!(
            token_header(&me).is_none(),
            "reading no session sends nothing"
        );
        assert_eq!(text(me).await, "-", "{bad:?}");
    }
    // Another scheme, or the token without its scheme: no token.
    for value in [
        format!("Basic {token}"),
        token.clone(),
        format!("bearer  {token}"),
    ] {
        let me = send(&app, "/me", &[(AUTHORIZATION, &value)]).await;
        let expected = if value.starts_with("bearer") {
            "hong"
        } else {
            "-"
        };
        assert_eq!(text(me).await, expected, "{value:?}");
    }
}

#[tokio::test]
async fn key_rotation_reissues_the_token_under_the_new_key() {
    let store = MemoryStore::new();
    let old = app(SessionLayer::new(store.clone(), key(1)).with_config(header_config()));
    let token = token_header(&send(&old, "/login/hong", &[]).await)
        .unwrap()
        .to_owned();
    let rotated_keys = Keys::new(vec![key(2), key(1)]).unwrap();
    let new = app(SessionLayer::new(store, rotated_keys).with_config(header_config()));
    let me = with_token(&new, "/me", &token).await;
    let reissued = token_header(&me).expect("re-signed").to_owned();
    assert_ne!(reissued, token);
    assert_eq!(text(me).await, "hong");
    assert_eq!(text(with_token(&new, "/me", &reissued).await).await, "hong");
}

#[tokio::test]
async fn both_transports_answer_on_the_one_the_request_used() {
    let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(both_config()));

    // A browser: cookies in, cookies out.
    let login = send(&app, "/login/browser", &[]).await;
    let cookie = login.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(token_header(&login).is_none());
    let vary: Vec<_> = login.headers().get_all(VARY).iter().collect();
    assert_eq!(vary, ["authorization", "Cookie"]);
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let me = send(&app, "/me", &[(COOKIE, &cookie)]).await;
    assert_eq!(text(me).await, "browser");

    // An API client on the same app: a token in, a token out.
    let (name, value) = bearer("none-yet");
    let api = send(&app, "/login/api", &[(name, &value)]).await;
    assert!(api.headers().get(SET_COOKIE).is_none());
    let token = token_header(&api).unwrap().to_owned();
    assert_eq!(text(with_token(&app, "/me", &token).await).await, "api");

    // `Bearer` with no token: a client asking for a token on the header.
    let asking = send(&app, "/login/new", &[(AUTHORIZATION, "Bearer")]).await;
    assert!(asking.headers().get(SET_COOKIE).is_none());
    assert!(token_header(&asking).is_some());

    // A stale token next to a live cookie: no session, no fall back.
    let (name, value) = bearer("stale.token");
    let me = send(&app, "/me", &[(name, &value), (COOKIE, &cookie)]).await;
    assert_eq!(text(me).await, "-");
    // Basic credentials are no token: the cookie is used.
    let me = send(
        &app,
        "/me",
        &[(AUTHORIZATION, "Basic eDp5"), (COOKIE, &cookie)],
    )
    .await;
    assert_eq!(text(me).await, "browser");
    // The logout of a token session answers on the header.
    let logout = with_token(&app, "/logout", &token).await;
    assert_eq!(token_header(&logout), Some(""));
    assert!(logout.headers().get(SET_COOKIE).is_none());
    // A request that never uses its session gets nothing added.
    let nothing = with_token(&app, "/nothing", &token).await;
    assert!(nothing.headers().get(VARY).is_none());
    assert!(token_header(&nothing).is_none());
}

#[tokio::test]
async fn client_side_sessions_in_a_header_have_their_own_bound() {
    let codec = || SignedCookie::new(&Keys::from(key(3)));
    let app_with = |max_len: usize| {
        let header = TokenHeader::bearer().with_max_len(max_len);
        let config = SessionConfig::new().with_transport(Transport::Header(header));
        app(SessionLayer::client_side(codec()).with_config(config))
    };
    // 6 KB: more than a cookie may hold, within the default 8 KB.
    let app = app_with(session_core::DEFAULT_MAX_TOKEN_LEN);
    let put = send(&app, "/put/6000", &[]).await;
    assert_eq!(put.status(), StatusCode::OK);
    let token = token_header(&put).unwrap().to_owned();
    assert!(token.len() > 6000);
    let me = with_token(&app, "/put/10", &token).await;
    assert_eq!(me.status(), StatusCode::OK);
    // Past the bound: refused like an oversized cookie, nothing sent.
    let too_big = send(&app, "/put/9000", &[]).await;
    assert_eq!(too_big.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(token_header(&too_big).is_none());
    // A small bound refuses even a small session.
    let small = app_with(100);
    let long = send(&small, "/put/50", &[]).await;
    assert_eq!(long.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // Session::token is for server-side sessions.
    let login = send(&app, "/login/hong", &[]).await;
    assert_eq!(login.status(), StatusCode::NOT_IMPLEMENTED);
}

#[test]
fn a_cookie_header_cannot_carry_the_token() {
    for (request, response) in [(COOKIE, "session-token"), (AUTHORIZATION, "set-cookie")] {
        let header = TokenHeader::named(request)
            .with_response_header(HeaderName::from_bytes(response.as_bytes()).unwrap());
        let config = SessionConfig::new().with_transport(Transport::Header(header));
        let refused = SessionLayer::new(MemoryStore::new(), key(1)).try_with_config(config);
        assert!(matches!(refused, Err(ConfigError::TokenHeader { .. })));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes a header can hold, as the bearer token or the whole
    /// `Authorization` value: an answer, never a panic, and no session.
    #[test]
    fn arbitrary_header_bytes_are_no_session(bytes in proptest::collection::vec(0x20u8..0xff, 0..200)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(both_config()));
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(&bytes);
        for value in [bytes.clone(), prefixed] {
            let Ok(value) = HeaderValue::from_bytes(&value) else { continue };
            let request = Request::get("/me").header(AUTHORIZATION, value).body(Body::empty()).unwrap();
            let response = rt.block_on(app.clone().oneshot(request)).unwrap();
            prop_assert_eq!(response.status(), StatusCode::OK);
            prop_assert_eq!(rt.block_on(text(response)), "-");
        }
    }
}

#[tokio::test]
async fn idle_and_absolute_timeouts_end_a_token_session() {
    use std::time::Duration;
    let clock = session_core::ManualClock::starting_now();
    let config = header_config()
        .with_clock(clock.clone())
        .with_idle_timeout(Some(Duration::from_secs(60)))
        .with_absolute_timeout(Some(Duration::from_secs(300)));
    let app = app(SessionLayer::new(MemoryStore::new(), key(1)).with_config(config));
    let token = token_header(&send(&app, "/login/hong", &[]).await)
        .unwrap()
        .to_owned();
    // Used every 50 s, it stays alive up to the absolute timeout.
    for _ in 0..5 {
        clock.advance(session_core::time::Duration::seconds(50));
        assert_eq!(text(with_token(&app, "/me", &token).await).await, "hong");
    }
    clock.advance(session_core::time::Duration::seconds(50));
    assert_eq!(
        text(with_token(&app, "/me", &token).await).await,
        "-",
        "absolute"
    );

    let token = token_header(&send(&app, "/login/hong", &[]).await)
        .unwrap()
        .to_owned();
    clock.advance(session_core::time::Duration::seconds(61));
    assert_eq!(
        text(with_token(&app, "/me", &token).await).await,
        "-",
        "idle"
    );
}

/// A token header cannot be forged by another site: the CSRF layer lets a
/// header session's post through, and still checks the cookie's.
#[tokio::test]
async fn the_csrf_layer_checks_cookie_sessions_only() {
    use axum::routing::post;
    let app = Router::new()
        .route(
            "/login",
            get(|session: Session| async move {
                session.insert("user", "hong").await?;
                Ok::<_, Error>("in")
            }),
        )
        .route("/transfer", post(|| async { "Transferred" }))
        .layer(session_core::CsrfLayer::new())
        .layer(SessionLayer::new(MemoryStore::new(), key(1)).with_config(both_config()));
    let post = |headers: Vec<(HeaderName, String)>| {
        let app = app.clone();
        async move {
            let mut request = Request::post("/transfer");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            app.oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        }
    };
    let token = token_header(&send(&app, "/login", &[(AUTHORIZATION, "Bearer")]).await)
        .unwrap()
        .to_owned();
    assert_eq!(post(vec![bearer(&token)]).await, StatusCode::OK);
    let cookie = send(&app, "/login", &[]).await.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(post(vec![(COOKIE, cookie)]).await, StatusCode::FORBIDDEN);
}
