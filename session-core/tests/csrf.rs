//! CSRF tokens (`Session::csrf_token`, `verify_csrf_token`) and the
//! `CsrfLayer`, through the real session layer, on a server-side store and
//! on both data cookies: what gets refused (and with which status and
//! reason), what passes, and that the handler gets the body it was sent.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::routing::{any, get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use session_core::codec::{EncryptedCookie, SignedCookie};
use session_core::csrf::CsrfBody;
use session_core::{CsrfLayer, Error, Key, Keys, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use tower::{ServiceBuilder, ServiceExt};

const FORM: &str = "application/x-www-form-urlencoded";

fn keys() -> Keys {
    Keys::from(Key::from_bytes(&[9; 32]).unwrap())
}

/// A store, and both data cookies.
fn layers() -> Vec<(&'static str, SessionLayer)> {
    let config = SessionConfig::new().with_secure(false);
    vec![
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                keys(),
            ),
        ),
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&keys())),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&keys())),
        ),
    ]
    .into_iter()
    .map(|(kind, layer)| (kind, layer.with_config(config.clone())))
    .collect()
}

/// `GET /token` (a new token), `GET /tokens` (twenty), `GET /peek` (counts
/// its runs, never touches the session), `POST /login` (`cycle_id`), and
/// `/echo` for every method: the content type and the body as received.
fn app(
    layer: SessionLayer<impl session_core::store::SessionStore>,
    csrf: CsrfLayer,
    runs: Arc<AtomicUsize>,
) -> Router {
    Router::new()
        .route(
            "/token",
            get(|session: Session| async move { session.csrf_token().await }),
        )
        .route(
            "/tokens",
            get(|session: Session| async move {
                let mut all = Vec::new();
                for _ in 0..20 {
                    all.push(session.csrf_token().await?);
                }
                Ok::<_, Error>(all.join("\n"))
            }),
        )
        .route(
            "/peek",
            any(move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                "peeked"
            }),
        )
        .route(
            "/login",
            post(|session: Session| async move {
                session.insert("user", "alice").await?;
                session.cycle_id().await?;
                Ok::<_, Error>("logged in")
            }),
        )
        .route(
            "/echo",
            any(|headers: HeaderMap, body: Bytes| async move {
                let kind = headers
                    .get(CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let mut out = format!("{kind}\n").into_bytes();
                out.extend_from_slice(&body);
                out
            }),
        )
        .layer(csrf)
        .layer(layer)
}

/// One browser: its cookie, kept up to date from every answer.
struct Visitor {
    app: Router,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    set_cookie: bool,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Visitor {
    fn new(app: &Router) -> Self {
        Self {
            app: app.clone(),
            cookie: None,
        }
    }

    async fn send(&mut self, request: http::request::Builder, body: Body) -> Answer {
        let mut request = request.header(HOST, "shop.example");
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let set = response
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        if let Some(pair) = &set {
            self.cookie = (!pair.ends_with('=')).then(|| pair.clone());
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            body: body.to_vec(),
            set_cookie: set.is_some(),
        }
    }

    async fn token(&mut self) -> String {
        let answer = self.send(Request::get("/token"), Body::empty()).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.text()
    }

    /// `POST /echo` with `token` in the header (if any) and a small JSON body.
    async fn post_with_header(&mut self, token: Option<&str>) -> Answer {
        let mut request = Request::post("/echo").header(CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        self.send(request, Body::from(r#"{"amount":10}"#)).await
    }
}

fn assert_refused(answer: &Answer, reason: &str, context: &str) {
    assert_eq!(
        answer.status,
        StatusCode::FORBIDDEN,
        "{context}: {}",
        answer.text()
    );
    assert!(
        answer.text().contains(reason),
        "{context}: expected {reason:?} in {:?}",
        answer.text()
    );
}

fn apps() -> Vec<(&'static str, Router, Arc<AtomicUsize>)> {
    layers()
        .into_iter()
        .map(|(kind, layer)| {
            let runs = Arc::new(AtomicUsize::new(0));
            (kind, app(layer, CsrfLayer::new(), runs.clone()), runs)
        })
        .collect()
}

#[tokio::test]
async fn a_token_of_the_session_passes_and_everything_else_is_refused() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let token = alice.token().await;
        assert_eq!(token.len(), 86, "{kind}");

        let ok = alice.post_with_header(Some(&token)).await;
        assert_eq!(ok.status, StatusCode::OK, "{kind}: {}", ok.text());
        assert_eq!(ok.text(), "application/json\n{\"amount\":10}", "{kind}");

        let missing = alice.post_with_header(None).await;
        assert_refused(&missing, "missing token", kind);
        let empty = alice.post_with_header(Some("")).await;
        assert_refused(&empty, "missing token", kind);

        // One character changed (the first, so it changes the mask's bits).
        let mut tampered = token.clone().into_bytes();
        tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_refused(
            &alice.post_with_header(Some(&tampered)).await,
            "invalid token",
            kind,
        );
        for malformed in ["x", &token[..85], &format!("{token}A"), &"!".repeat(86)] {
            assert_refused(
                &alice.post_with_header(Some(malformed)).await,
                "invalid token",
                kind,
            );
        }
        let not_text = alice
            .send(
                Request::post("/echo").header(
                    "x-csrf-token",
                    http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
                ),
                Body::empty(),
            )
            .await;
        assert_refused(&not_text, "invalid token", kind);

        // Another visitor's token, and a new visitor (no secret) with it.
        let mut mallory = Visitor::new(&app);
        let hers = mallory.token().await;
        assert_refused(
            &alice.post_with_header(Some(&hers)).await,
            "invalid token",
            kind,
        );
        let mut stranger = Visitor::new(&app);
        assert_refused(
            &stranger.post_with_header(Some(&token)).await,
            "invalid token",
            kind,
        );

        // Still valid after all that.
        let again = alice.post_with_header(Some(&token)).await;
        assert_eq!(again.status, StatusCode::OK, "{kind}: {}", again.text());
    }
}

#[tokio::test]
async fn login_rotates_the_secret_so_earlier_tokens_are_refused() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let before = alice.token().await;
        let login = alice
            .send(
                Request::post("/login").header("x-csrf-token", &before),
                Body::empty(),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{kind}: {}", login.text());
        assert!(login.set_cookie, "{kind}: a new id or cookie at login");

        assert_refused(
            &alice.post_with_header(Some(&before)).await,
            "invalid token",
            kind,
        );
        let after = alice.token().await;
        let ok = alice.post_with_header(Some(&after)).await;
        assert_eq!(ok.status, StatusCode::OK, "{kind}: {}", ok.text());
        assert_refused(
            &alice.post_with_header(Some(&before)).await,
            "invalid token",
            kind,
        );
    }
}

#[tokio::test]
async fn every_masked_token_of_a_session_differs_and_verifies() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let first = alice.token().await;
        let all = alice.send(Request::get("/tokens"), Body::empty()).await;
        let mut tokens: Vec<String> = all.text().lines().map(str::to_owned).collect();
        tokens.push(first);
        assert_eq!(tokens.len(), 21, "{kind}");
        let mut distinct = tokens.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            tokens.len(),
            "{kind}: a new mask every time"
        );
        for token in &tokens {
            let ok = alice.post_with_header(Some(token)).await;
            assert_eq!(ok.status, StatusCode::OK, "{kind}: {token}: {}", ok.text());
        }
    }
}

#[tokio::test]
async fn fetch_metadata_and_origin_are_checked_before_the_token() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let token = alice.token().await;
        let post = |headers: &[(&str, &str)]| {
            let mut request = Request::post("/echo").header("x-csrf-token", token.as_str());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            request
        };

        let cross = alice
            .send(post(&[("sec-fetch-site", "cross-site")]), Body::empty())
            .await;
        assert_refused(&cross, "cross-site request", kind);
        for site in ["same-origin", "same-site", "none"] {
            let ok = alice
                .send(post(&[("sec-fetch-site", site)]), Body::empty())
                .await;
            assert_eq!(ok.status, StatusCode::OK, "{kind}: {site}: {}", ok.text());
        }

        for origin in [
            "https://evil.example",
            "http://shop.example.evil.example",
            "https://shop.example:8443",
            "null",
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/path",
        ] {
            let refused = alice.send(post(&[("origin", origin)]), Body::empty()).await;
            assert_refused(&refused, "origin mismatch", &format!("{kind}: {origin}"));
        }
        for origin in [
            "https://shop.example",
            "http://shop.example",
            "HTTPS://Shop.Example",
            "https://shop.example:443",
        ] {
            let ok = alice.send(post(&[("origin", origin)]), Body::empty()).await;
            assert_eq!(ok.status, StatusCode::OK, "{kind}: {origin}: {}", ok.text());
        }
        // A right origin does not replace the token.
        let no_token = alice
            .send(
                Request::post("/echo").header(ORIGIN, "https://shop.example"),
                Body::empty(),
            )
            .await;
        assert_refused(&no_token, "missing token", kind);
    }
}

#[tokio::test]
async fn trusted_origins_pass_the_origin_check() {
    let (_, layer) = layers().remove(0);
    let csrf = CsrfLayer::new().with_trusted_origin("https://App.example/");
    let app = app(layer, csrf, Arc::default());
    let mut alice = Visitor::new(&app);
    let token = alice.token().await;
    for (origin, status) in [
        ("https://app.example", StatusCode::OK),
        ("http://app.example", StatusCode::FORBIDDEN),
        ("https://other.example", StatusCode::FORBIDDEN),
    ] {
        let answer = alice
            .send(
                Request::post("/echo")
                    .header("x-csrf-token", &token)
                    .header(ORIGIN, origin),
                Body::empty(),
            )
            .await;
        assert_eq!(answer.status, status, "{origin}: {}", answer.text());
    }
}

#[tokio::test]
async fn safe_methods_pass_untouched() {
    for (kind, app, runs) in apps() {
        let mut visitor = Visitor::new(&app);
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            let answer = visitor
                .send(
                    Request::builder()
                        .method(method.clone())
                        .uri("/peek")
                        .header("sec-fetch-site", "cross-site")
                        .header(ORIGIN, "https://evil.example"),
                    Body::empty(),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{kind}: {method}");
            assert!(!answer.set_cookie, "{kind}: {method}: no session made");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 4, "{kind}: the handler ran");
        // Unsafe methods without a token: the handler never runs.
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let answer = visitor
                .send(
                    Request::builder().method(method.clone()).uri("/peek"),
                    Body::empty(),
                )
                .await;
            assert_refused(&answer, "missing token", &format!("{kind}: {method}"));
            assert!(!answer.set_cookie, "{kind}: {method}");
        }
        assert_eq!(runs.load(Ordering::SeqCst), 4, "{kind}: nothing more ran");
    }
}

#[tokio::test]
async fn form_bodies_are_read_for_the_token_and_handed_on_unchanged() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let token = alice.token().await;
        let form = format!("amount=10&note=caf%C3%A9+%26+co&csrf_token={token}&to=bob");
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let answer = alice
                .send(
                    Request::builder()
                        .method(method.clone())
                        .uri("/echo")
                        .header(
                            CONTENT_TYPE,
                            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
                        ),
                    Body::from(form.clone()),
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{kind}: {method}: {}",
                answer.text()
            );
            assert_eq!(
                answer.text(),
                format!("Application/X-WWW-Form-Urlencoded; charset=UTF-8\n{form}"),
                "{kind}: {method}: the same bytes"
            );
        }
        // A form without the field, or with someone else's token.
        let answer = alice
            .send(
                Request::post("/echo").header(CONTENT_TYPE, FORM),
                Body::from("amount=10"),
            )
            .await;
        assert_refused(&answer, "missing token", kind);
        let answer = alice
            .send(
                Request::post("/echo").header(CONTENT_TYPE, FORM),
                Body::from("csrf_token=%FF%00&amount=10"),
            )
            .await;
        assert_refused(&answer, "invalid token", kind);
        // The header wins over the form when both are there.
        let answer = alice
            .send(
                Request::post("/echo")
                    .header(CONTENT_TYPE, FORM)
                    .header("x-csrf-token", "forged"),
                Body::from(form.clone()),
            )
            .await;
        assert_refused(&answer, "invalid token", kind);
    }
}

#[tokio::test]
async fn json_and_multipart_need_the_header_and_reach_the_handler_intact() {
    for (kind, app, _) in apps() {
        let mut alice = Visitor::new(&app);
        let token = alice.token().await;
        let boundary = "XyZ";
        let multipart = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n\x00\x01binary\r\n--{boundary}--\r\n"
        );
        let multipart_type = format!("multipart/form-data; boundary={boundary}");
        let json = r#"{"csrf_token":"ignored","amount":10}"#.to_owned();
        for (content_type, body) in [
            (multipart_type.as_str(), multipart),
            ("application/json", json),
        ] {
            // Without the header: refused, the token in the body is not looked for.
            let refused = alice
                .send(
                    Request::post("/echo").header(CONTENT_TYPE, content_type),
                    Body::from(body.clone()),
                )
                .await;
            assert_refused(
                &refused,
                "missing token",
                &format!("{kind}: {content_type}"),
            );
            let answer = alice
                .send(
                    Request::post("/echo")
                        .header(CONTENT_TYPE, content_type)
                        .header("x-csrf-token", &token),
                    Body::from(body.clone()),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{kind}: {content_type}");
            assert_eq!(
                answer.body,
                format!("{content_type}\n{body}").into_bytes(),
                "{kind}: {content_type}"
            );
        }
    }
}

#[tokio::test]
async fn header_and_field_names_are_configurable() {
    let (_, layer) = layers().remove(0);
    let csrf = CsrfLayer::new()
        .with_header_name(http::HeaderName::from_static("x-xsrf-token"))
        .with_field_name("_token");
    let app = app(layer, csrf, Arc::default());
    let mut alice = Visitor::new(&app);
    let token = alice.token().await;
    let missing = alice.post_with_header(Some(&token)).await;
    assert_refused(
        &missing,
        "x-xsrf-token header or the _token field",
        "default header",
    );
    let ok = alice
        .send(
            Request::post("/echo").header("x-xsrf-token", &token),
            Body::empty(),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let form = format!("_token={token}");
    let ok = alice
        .send(
            Request::post("/echo").header(CONTENT_TYPE, FORM),
            Body::from(form.clone()),
        )
        .await;
    assert_eq!(ok.text(), format!("{FORM}\n{form}"));
    let old_field = alice
        .send(
            Request::post("/echo").header(CONTENT_TYPE, FORM),
            Body::from(format!("csrf_token={token}")),
        )
        .await;
    assert_refused(&old_field, "missing token", "default field");
}

#[tokio::test]
async fn oversized_forms_are_a_413_and_the_limit_is_configurable() {
    let (_, layer) = layers().remove(0);
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(layer, CsrfLayer::new().with_max_form_size(1024), runs);
    let mut alice = Visitor::new(&app);
    let token = alice.token().await;
    let big = format!("csrf_token={token}&pad={}", "a".repeat(2000));
    // Declared too long: refused before reading.
    let answer = alice
        .send(
            Request::post("/echo").header(CONTENT_TYPE, FORM),
            Body::from(big.clone()),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("larger than 1024 bytes"),
        "{}",
        answer.text()
    );
    // Streamed without a length: refused once it passes the limit.
    let chunks = big
        .as_bytes()
        .chunks(100)
        .map(Bytes::copy_from_slice)
        .collect();
    let answer = alice
        .send(
            Request::post("/echo").header(CONTENT_TYPE, FORM),
            Body::new(Chunks(chunks)),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text()
    );
    // A lying Content-Length that is not a number is no bypass either.
    let answer = alice
        .send(
            Request::post("/echo")
                .header(CONTENT_TYPE, FORM)
                .header(CONTENT_LENGTH, "many"),
            Body::from(big),
        )
        .await;
    assert!(
        answer.status == StatusCode::PAYLOAD_TOO_LARGE || answer.status == StatusCode::BAD_REQUEST,
        "{}",
        answer.status
    );
    // Right at the limit: read, and passed on.
    let fits = format!("csrf_token={token}&pad=");
    let fits = format!("{fits}{}", "b".repeat(1024 - fits.len()));
    let answer = alice
        .send(
            Request::post("/echo").header(CONTENT_TYPE, FORM),
            Body::from(fits.clone()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.text(), format!("{FORM}\n{fits}"));
}

/// A body of `chunks` whose length is not known in advance (no
/// `Content-Length`, as a chunked upload).
struct Chunks(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|chunk| Ok(http_body::Frame::data(chunk))),
        )
    }
}

#[tokio::test]
async fn without_the_session_layer_it_fails_loudly() {
    let app = Router::new()
        .route("/", any(|| async { "ran" }))
        .layer(CsrfLayer::new());
    for method in [Method::GET, Method::POST] {
        let response = app
            .clone()
            .oneshot(
                Request::builder()
                    .method(method.clone())
                    .uri("/")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{method}"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains("SessionLayer"),
            "{method}"
        );
    }
}

#[tokio::test]
async fn internal_key_is_refused_and_hidden() {
    let app = Router::new()
        .route(
            "/",
            get(|session: Session| async move {
                session.insert("cart", 1).await?;
                let _token = session.csrf_token().await?;
                let refused = session.insert("@csrf", "mine").await;
                assert!(
                    matches!(refused, Err(Error::ReservedKey { .. })),
                    "{refused:?}"
                );
                Ok::<_, Error>(session.keys().await?.join(","))
            }),
        )
        .layer(SessionLayer::new(MemoryStore::new(), keys()));
    let response = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "cart");
}

/// The layer outside axum: a plain tower stack over `http_body_util`
/// bodies, as a hyper server runs it.
#[tokio::test]
async fn works_as_a_plain_tower_stack() {
    let handler = tower::service_fn(|req: Request<CsrfBody<Full<Bytes>>>| async move {
        let session = req.extensions().get::<Session>().cloned().unwrap();
        let body = if req.method() == Method::GET {
            Bytes::from(session.csrf_token().await.unwrap())
        } else {
            req.into_body().collect().await.unwrap().to_bytes()
        };
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    });
    let service = ServiceBuilder::new()
        .layer(SessionLayer::new(MemoryStore::new(), keys()))
        .layer(CsrfLayer::new())
        .service(handler);
    let response = service
        .clone()
        .oneshot(Request::get("/").body(Full::default()).unwrap())
        .await
        .unwrap();
    let cookie = response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let token = response.into_body().collect().await.unwrap().to_bytes();
    let token = String::from_utf8(token.to_vec()).unwrap();
    let form = format!("csrf_token={token}&x=1");
    for (cookie, status) in [
        (cookie.as_str(), StatusCode::OK),
        ("", StatusCode::FORBIDDEN),
    ] {
        let response = service
            .clone()
            .oneshot(
                Request::post("/")
                    .header(COOKIE, cookie)
                    .header(CONTENT_TYPE, FORM)
                    .body(Full::new(Bytes::from(form.clone())))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        if status == StatusCode::OK {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, form.as_bytes());
        }
    }
}

/// One session and its token, for the property tests.
fn session_and_token(rt: &tokio::runtime::Runtime) -> (Visitor, String) {
    let (_, layer) = layers().remove(0);
    let app = app(layer, CsrfLayer::new(), Arc::default());
    rt.block_on(async {
        let mut alice = Visitor::new(&app);
        let token = alice.token().await;
        (alice, token)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Changing any one byte of a token (mask or masked secret, to any
    /// other value) makes it fail; the token itself still passes.
    #[test]
    fn every_single_byte_tamper_fails(index in 0usize..64, flip in 1u8..=255) {
        let rt = runtime();
        let (mut alice, token) = session_and_token(&rt);
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        prop_assert_eq!(raw.len(), 64);
        raw[index] ^= flip;
        let tampered = URL_SAFE_NO_PAD.encode(&raw);
        rt.block_on(async {
            let refused = alice.post_with_header(Some(&tampered)).await;
            assert_refused(&refused, "invalid token", &tampered);
            let ok = alice.post_with_header(Some(&token)).await;
            assert_eq!(ok.status, StatusCode::OK);
        });
    }

    /// Any printable text is refused as a token (403), never a panic or a 500.
    #[test]
    fn arbitrary_text_is_refused(text in "[ -~]{1,200}") {
        let rt = runtime();
        let (mut alice, _) = session_and_token(&rt);
        rt.block_on(async {
            let answer = alice.post_with_header(Some(text.trim())).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{text:?}");
        });
    }
}
