//! [`CsrfLayer`]: refuses unsafe requests that do not carry one of the
//! session's CSRF tokens.
//!
//! # The scheme
//!
//! Cross-site request forgery makes a visitor's browser send a request
//! that the visitor did not mean to send: a page on another site posts a
//! form to yours, and the browser attaches your session cookie. The
//! defence here is OWASP's *synchronizer token*: each session keeps a
//! random secret ([`Session::csrf_token`]), pages put a token made from it
//! in their forms (a hidden `csrf_token` field) or scripts send it in a
//! header (`X-CSRF-Token`), and the layer lets an unsafe request through
//! only if its token verifies against the session
//! ([`Session::verify_csrf_token`]). Another site can make the browser send
//! the cookie, but it cannot read your pages, so it cannot know a token.
//!
//! Every token is the secret under a fresh random mask, so a page never
//! shows the same token twice (BREACH-style attacks on compressed pages
//! learn nothing from repetition), and any token of the session verifies
//! until the secret changes: at [`Session::cycle_id`] (login) and when the
//! session ends.
//!
//! Before the token, two cheap checks of what the browser says refuse
//! forged requests outright (defence in depth, as OWASP recommends):
//! `Sec-Fetch-Site: cross-site`, and an `Origin` header that names another
//! site than the request's own `Host` (and is none of the
//! [trusted origins](CsrfLayer::with_trusted_origin)). Requests without
//! these headers (older browsers, clients that are no browser) go on to
//! the token check.
//!
//! # What is and is not protected
//!
//! - Checked: `POST`, `PUT`, `PATCH`, `DELETE` and every other method but
//!   `GET`, `HEAD`, `OPTIONS` and `TRACE`. Those safe methods pass
//!   untouched (the session is not even loaded), so they must not change
//!   anything: a `GET` that transfers money is not protected.
//! - The token is read from the header first. Without it, an
//!   `application/x-www-form-urlencoded` body (what an HTML form posts) is
//!   read, up to [`DEFAULT_MAX_FORM_SIZE`] bytes, and handed to the
//!   handler unchanged. Other bodies (JSON, multipart uploads) are never
//!   read here: they need the header.
//! - A request whose session comes from a token header
//!   ([`Transport::Header`](crate::Transport::Header) or
//!   [`Both`](crate::Transport::Both)) passes: a browser never attaches
//!   that header to a request another site makes it send, so it cannot be
//!   forged.
//! - Not a defence against cross-site scripting: a script running in your
//!   own pages can read a token like the page can. Nor does it replace
//!   `SameSite` cookies or TLS; it works with them.
//!
//! The layer only uses the [`Session`] API, so it works with every store
//! and with sessions kept in the cookie.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use tower_layer::Layer;
use tower_service::Service;

use crate::Session;

/// The header a token is read from unless
/// [`with_header_name`](CsrfLayer::with_header_name) says otherwise.
///
/// ```
/// assert_eq!(session_core::csrf::DEFAULT_HEADER, "x-csrf-token");
/// ```
pub const DEFAULT_HEADER: &str = "x-csrf-token";

/// The form field a token is read from unless
/// [`with_field_name`](CsrfLayer::with_field_name) says otherwise.
///
/// ```
/// assert_eq!(session_core::csrf::DEFAULT_FIELD, "csrf_token");
/// ```
pub const DEFAULT_FIELD: &str = "csrf_token";

/// The largest form body read for its token (64 KiB) unless
/// [`with_max_form_size`](CsrfLayer::with_max_form_size) says otherwise;
/// a larger one is refused with `413 Payload Too Large`.
///
/// ```
/// assert_eq!(session_core::csrf::DEFAULT_MAX_FORM_SIZE, 65_536);
/// ```
pub const DEFAULT_MAX_FORM_SIZE: usize = 64 * 1024;

/// The request body the service behind a [`CsrfLayer`] gets: the body as it
/// came (`Left`), or, when the layer read a form for its token, the same
/// bytes again (`Right`).
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use session_core::csrf::CsrfBody;
///
/// # async fn demo() {
/// let body: CsrfBody<Full<Bytes>> = CsrfBody::Left(Full::new(Bytes::from("a=1")));
/// let bytes = body.collect().await.unwrap().to_bytes();
/// assert_eq!(bytes, "a=1");
/// # }
/// ```
pub type CsrfBody<B> = Either<B, Full<Bytes>>;

/// What the layer is configured with.
#[derive(Clone, Debug)]
struct Settings {
    header: HeaderName,
    field: String,
    max_form_size: usize,
    /// `scheme://host[:port]`, lowercase, without a trailing `/`.
    trusted: Vec<String>,
}

/// The tower layer that refuses unsafe requests without a valid CSRF token
/// of their session (see the [module docs](crate::csrf) for the scheme).
///
/// It goes *inside* the [`SessionLayer`](crate::SessionLayer): it takes the
/// [`Session`] the session layer put in the request. In axum the layer
/// added last runs first, so add this one before the session layer.
/// Without a session it answers `500` and logs why.
///
/// ```
/// use axum::{response::Html, routing::get, Router};
/// use session_core::{CsrfLayer, Key, Session, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// async fn form(session: Session) -> Result<Html<String>, session_core::Error> {
///     let token = session.csrf_token().await?;
///     Ok(Html(format!(
///         r#"<form method="post"><input type="hidden" name="csrf_token" value="{token}">
///            <button>Send</button></form>"#
///     )))
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(form).post(|| async { "Sent" }))
///     .layer(CsrfLayer::new()) // inside…
///     .layer(SessionLayer::new(MemoryStore::new(), Key::generate())); // …the session layer
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct CsrfLayer {
    settings: Arc<Settings>,
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CsrfLayer {
    /// The layer with the defaults: the token in the
    /// [`X-CSRF-Token`](DEFAULT_HEADER) header or the
    /// [`csrf_token`](DEFAULT_FIELD) form field, forms up to
    /// [`DEFAULT_MAX_FORM_SIZE`] bytes, only the request's own origin.
    ///
    /// ```
    /// let layer = session_core::CsrfLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self {
            settings: Arc::new(Settings {
                header: HeaderName::from_static(DEFAULT_HEADER),
                field: DEFAULT_FIELD.to_owned(),
                max_form_size: DEFAULT_MAX_FORM_SIZE,
                trusted: Vec::new(),
            }),
        }
    }

    fn settings(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }

    /// Reads the token from the header `name` instead of `X-CSRF-Token`.
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let layer = session_core::CsrfLayer::new()
    ///     .with_header_name(HeaderName::from_static("x-xsrf-token"));
    /// # let _ = layer;
    /// ```
    pub fn with_header_name(mut self, name: HeaderName) -> Self {
        self.settings().header = name;
        self
    }

    /// Reads the token from the form field `name` instead of `csrf_token`.
    ///
    /// ```
    /// let layer = session_core::CsrfLayer::new().with_field_name("_token");
    /// # let _ = layer;
    /// ```
    pub fn with_field_name(mut self, name: impl Into<String>) -> Self {
        self.settings().field = name.into();
        self
    }

    /// Reads form bodies up to `bytes` long for their token (instead of
    /// 64 KiB); a longer one is refused with `413 Payload Too Large`
    /// before the handler runs.
    ///
    /// ```
    /// let layer = session_core::CsrfLayer::new().with_max_form_size(1024 * 1024);
    /// # let _ = layer;
    /// ```
    pub fn with_max_form_size(mut self, bytes: usize) -> Self {
        self.settings().max_form_size = bytes;
        self
    }

    /// Accepts requests whose `Origin` is `origin` (`scheme://host[:port]`,
    /// e.g. `https://app.example`), besides the request's own: a front end
    /// served from another origin, or a proxy that rewrites `Host`. Case
    /// and a trailing `/` do not matter. The token is still required.
    ///
    /// ```
    /// let layer = session_core::CsrfLayer::new()
    ///     .with_trusted_origin("https://app.example")
    ///     .with_trusted_origin("https://admin.example:8443");
    /// # let _ = layer;
    /// ```
    pub fn with_trusted_origin(mut self, origin: impl AsRef<str>) -> Self {
        let origin = origin.as_ref().trim().trim_end_matches('/');
        let origin = origin.to_ascii_lowercase();
        self.settings().trusted.push(origin);
        self
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            settings: self.settings.clone(),
        }
    }
}

/// The middleware made by [`CsrfLayer`]: checks unsafe requests, then runs
/// the inner service with the request's body as a [`CsrfBody`].
///
/// It takes any request body with `Bytes` chunks (axum's, hyper's
/// `Incoming`); refusals are plain-text responses, so the response body
/// must be buildable from a `String`.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use session_core::csrf::{CsrfBody, CsrfService};
/// use session_core::CsrfLayer;
/// use tower::Layer;
///
/// let handler = tower::service_fn(|_req: Request<CsrfBody<Full<Bytes>>>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("done"))))
/// });
/// let service: CsrfService<_> = CsrfLayer::new().layer(handler);
/// # let _ = service;
/// ```
#[derive(Clone, Debug)]
pub struct CsrfService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S, B, ResBody> Service<Request<B>> for CsrfService<S>
where
    S: Service<Request<CsrfBody<B>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CsrfFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(session) = req.extensions().get::<Session>().cloned() else {
            tracing::error!(
                "CsrfLayer found no session in the request: add SessionLayer outside it \
                 (in axum, `.layer(CsrfLayer::new())` before `.layer(session_layer)`)"
            );
            return CsrfFuture::ready(Refusal::NoSession.response(&self.settings));
        };
        // A session named by a token header (`Transport::Header` or
        // `Both`) cannot be forged: a browser never adds that header to a
        // request another site makes it send.
        if is_safe(req.method()) || session.0.via == crate::transport::Via::Header {
            return CsrfFuture::new(inner.call(req.map(Either::Left)));
        }
        if let Err(refusal) = self.settings.check_headers(req.headers(), req.uri()) {
            return CsrfFuture::ready(refusal.response(&self.settings));
        }
        let settings = self.settings.clone();
        CsrfFuture::new(async move {
            let (token, req) = match settings.token(req).await {
                Ok(found) => found,
                Err(refusal) => return Ok(refusal.response(&settings)),
            };
            let Some(token) = token else {
                return Ok(Refusal::MissingToken.response(&settings));
            };
            match session.verify_csrf_token(&token).await {
                Ok(true) => inner.call(req).await,
                Ok(false) => Ok(Refusal::InvalidToken.response(&settings)),
                Err(err) => {
                    let status = err.status();
                    tracing::error!(error = %err, status = status.as_u16(), "CSRF check could not read the session");
                    Ok(plain(status, err.public_message()))
                }
            }
        })
    }
}

/// The methods that must not change anything, so are not checked.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl Settings {
    /// Fetch Metadata, then the `Origin`.
    fn check_headers(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Refusal> {
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if cross_site {
            return Err(Refusal::CrossSite);
        }
        match headers.get(ORIGIN) {
            Some(origin) if !self.allows(origin, headers, uri) => Err(Refusal::OriginMismatch),
            _ => Ok(()),
        }
    }

    /// Whether `origin` is the request's own (its `Host`, or the URI's
    /// authority in HTTP/2) or a trusted one. `null` and anything that is
    /// no `http(s)://host[:port]` are not.
    fn allows(&self, origin: &HeaderValue, headers: &HeaderMap, uri: &Uri) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim();
        if self.trusted.iter().any(|t| t.eq_ignore_ascii_case(origin)) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        let default_port = if scheme.eq_ignore_ascii_case("https") {
            ":443"
        } else if scheme.eq_ignore_ascii_case("http") {
            ":80"
        } else {
            return false;
        };
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return false;
        }
        let own = match headers.get(HOST) {
            Some(host) => host.to_str().ok(),
            None => uri.authority().map(|a| a.as_str()),
        };
        let strip = |a: &'_ str| -> String {
            let a = a.trim().to_ascii_lowercase();
            match a.strip_suffix(default_port) {
                Some(bare) => bare.to_owned(),
                None => a,
            }
        };
        own.is_some_and(|own| strip(own) == strip(authority))
    }

    /// The token the request carries, if any, and the request to hand on
    /// (its form body read and put back, when the token came from there).
    async fn token<B>(
        &self,
        req: Request<B>,
    ) -> Result<(Option<String>, Request<CsrfBody<B>>), Refusal>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(value) = req.headers().get(&self.header) {
            if !value.is_empty() {
                // A value that is no text is no token either.
                let token = value.to_str().unwrap_or_default().to_owned();
                return Ok((Some(token), req.map(Either::Left)));
            }
        }
        if !is_form(req.headers()) {
            return Ok((None, req.map(Either::Left)));
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|len| len.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_form_size as u64) {
            return Err(Refusal::TooLarge(self.max_form_size));
        }
        let (parts, body) = req.into_parts();
        let bytes = match Limited::new(body, self.max_form_size).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.is::<LengthLimitError>() => {
                return Err(Refusal::TooLarge(self.max_form_size))
            }
            Err(err) => {
                tracing::debug!(error = %err, "CSRF check could not read the form body");
                return Err(Refusal::UnreadableBody);
            }
        };
        let token = form_urlencoded::parse(&bytes)
            .find(|(name, _)| *name == self.field)
            .map(|(_, value)| value.into_owned())
            .filter(|token| !token.is_empty());
        Ok((
            token,
            Request::from_parts(parts, Either::Right(Full::new(bytes))),
        ))
    }
}

/// Whether the body is an HTML form's (`application/x-www-form-urlencoded`,
/// with or without parameters).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Why a request was not let through.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    NoSession,
    CrossSite,
    OriginMismatch,
    MissingToken,
    InvalidToken,
    /// The form body is over the limit (bytes).
    TooLarge(usize),
    UnreadableBody,
}

impl Refusal {
    /// The answer: its status, and a plain-text body saying which check
    /// failed (and, for a missing token, where it is looked for).
    fn response<B: From<String>>(self, settings: &Settings) -> Response<B> {
        let (status, text) = match self {
            Refusal::NoSession => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "CSRF check failed: no session in the request (the server's CsrfLayer needs \
                 SessionLayer outside it)"
                    .to_owned(),
            ),
            Refusal::CrossSite => (
                StatusCode::FORBIDDEN,
                "CSRF check failed: cross-site request (Sec-Fetch-Site: cross-site)".to_owned(),
            ),
            Refusal::OriginMismatch => (
                StatusCode::FORBIDDEN,
                "CSRF check failed: origin mismatch (the Origin header names another site)"
                    .to_owned(),
            ),
            Refusal::MissingToken => (
                StatusCode::FORBIDDEN,
                format!(
                    "CSRF check failed: missing token (send it in the {} header or the {} field \
                     of a url-encoded form)",
                    settings.header, settings.field
                ),
            ),
            Refusal::InvalidToken => (
                StatusCode::FORBIDDEN,
                "CSRF check failed: invalid token (not one of this session's; reload the page \
                 and try again)"
                    .to_owned(),
            ),
            Refusal::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("CSRF check failed: the form body is larger than {limit} bytes"),
            ),
            Refusal::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "CSRF check failed: the form body could not be read".to_owned(),
            ),
        };
        if status == StatusCode::FORBIDDEN {
            tracing::debug!(reason = ?self, "CSRF check refused the request");
        }
        plain(status, text)
    }
}

/// A plain-text answer.
fn plain<B: From<String>>(status: StatusCode, text: String) -> Response<B> {
    let mut response = Response::new(B::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

type BoxFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send + 'static>>;

/// The response future of [`CsrfService`]: the check, then the inner
/// service, or the refusal.
///
/// ```
/// use session_core::csrf::CsrfFuture;
///
/// fn assert_send<T: Send>() {}
/// assert_send::<CsrfFuture<String, std::convert::Infallible>>();
/// ```
pub struct CsrfFuture<B, E> {
    inner: BoxFuture<B, E>,
}

impl<B, E> CsrfFuture<B, E> {
    fn new(future: impl Future<Output = Result<Response<B>, E>> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }

    fn ready(response: Response<B>) -> Self
    where
        B: Send + 'static,
    {
        Self::new(async move { Ok(response) })
    }
}

impl<B, E> Future for CsrfFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for CsrfFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfFuture").finish_non_exhaustive()
    }
}
