//! Where the session's token travels: the cookie (browsers), a request
//! header (single-page apps, mobile apps, API clients), or both at once.
//!
//! The token is the same value either way: the signed id (`<id>.<tag>`,
//! verified against every key) for a server-side store, the encoded data
//! for a client-side codec. Only where it is read from and written to
//! changes.

use http::header::{HeaderMap, HeaderName, AUTHORIZATION, COOKIE};

use crate::life::Life;
use crate::storage::{Incoming, Storage};
use crate::store::StoreError;
use crate::{Error, Id, Session};

/// Where a session's token travels ([`SessionConfig::with_transport`](crate::SessionConfig::with_transport)).
///
/// With a token header, the client's contract is:
///
/// - send the token it holds in the request header
///   (`Authorization: Bearer <token>` by default);
/// - when a response carries the response header (`Session-Token` by
///   default) with a value, keep that value as the token from now on (a new
///   session, or a new id after a login);
/// - when it carries the header empty, forget the token: the session ended
///   (a logout);
/// - no header: keep what it has.
///
/// A client that holds no token yet and wants one on the header sends the
/// request header with no token (`Authorization: Bearer`, or the named
/// header empty); with [`Transport::Header`] it may also send nothing.
///
/// A token header that does not verify is no session, exactly like a bad
/// cookie. With [`Transport::Both`] a request that sends the token header is
/// answered on it and its cookie is not read (so a stale token never picks
/// up a browser's session); a request without it uses the cookie. A
/// response on the header transport never sets a cookie.
///
/// ```
/// use session_core::{SessionConfig, TokenHeader, Transport};
///
/// // An API: `Authorization: Bearer <token>` in, `Session-Token: <token>` out.
/// let api = SessionConfig::new().with_transport(Transport::Header(TokenHeader::bearer()));
/// // A site and its mobile app on one server.
/// let both = SessionConfig::new().with_transport(Transport::Both(TokenHeader::bearer()));
/// # let _ = (api, both);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// The session cookie (the default).
    #[default]
    Cookie,
    /// Only the token header: no cookie is read or set.
    Header(TokenHeader),
    /// The token header when the request sends it, the cookie otherwise.
    Both(TokenHeader),
}

/// The header transport's settings: which request header carries the
/// token, which response header sends a new one, and the longest token
/// taken.
///
/// ```
/// use http::HeaderName;
/// use session_core::TokenHeader;
///
/// let bearer = TokenHeader::bearer(); // Authorization: Bearer …, answered in Session-Token
/// let named = TokenHeader::named(HeaderName::from_static("x-session"))
///     .with_response_header(HeaderName::from_static("x-session"))
///     .with_max_len(16 * 1024);
/// assert_eq!(bearer.response_header().as_str(), "session-token");
/// assert_eq!(named.max_len(), 16 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHeader {
    /// `None`: `Authorization: Bearer`.
    request: Option<HeaderName>,
    response: HeaderName,
    max_len: usize,
}

/// The response header a new token is sent in, unless configured.
const SESSION_TOKEN: &str = "session-token";

/// The longest token read or sent, unless configured.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

impl Default for TokenHeader {
    fn default() -> Self {
        Self::bearer()
    }
}

impl TokenHeader {
    /// The token in `Authorization: Bearer <token>`; a new one answered in
    /// `Session-Token`; tokens up to [`DEFAULT_MAX_TOKEN_LEN`] bytes.
    /// An `Authorization` header of another scheme (`Basic` …) is no token.
    ///
    /// ```
    /// let header = session_core::TokenHeader::bearer();
    /// assert_eq!(header.request_header().as_str(), "authorization");
    /// ```
    pub fn bearer() -> Self {
        Self {
            request: None,
            response: HeaderName::from_static(SESSION_TOKEN),
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// The token as the whole value of the request header `name` (say
    /// `X-Session-Token`); a new one answered in `Session-Token`.
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let header = session_core::TokenHeader::named(HeaderName::from_static("x-session-token"));
    /// assert_eq!(header.request_header().as_str(), "x-session-token");
    /// ```
    pub fn named(name: HeaderName) -> Self {
        Self {
            request: Some(name),
            ..Self::bearer()
        }
    }

    /// The response header that carries a new token (and, empty, the end of
    /// the session).
    ///
    /// ```
    /// use http::HeaderName;
    ///
    /// let header = session_core::TokenHeader::bearer()
    ///     .with_response_header(HeaderName::from_static("x-new-token"));
    /// assert_eq!(header.response_header().as_str(), "x-new-token");
    /// ```
    pub fn with_response_header(mut self, name: HeaderName) -> Self {
        self.response = name;
        self
    }

    /// The longest token read (a longer one is no session) and sent (a
    /// session whose token would be longer is refused with
    /// [`Error::TooLarge`](crate::Error::TooLarge), as a cookie over 4 KB
    /// is). Matters for client-side codecs, whose token is the data.
    ///
    /// ```
    /// let header = session_core::TokenHeader::bearer().with_max_len(4096);
    /// assert_eq!(header.max_len(), 4096);
    /// ```
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// The request header read: `authorization`, or the named one.
    ///
    /// ```
    /// assert_eq!(session_core::TokenHeader::bearer().request_header(), http::header::AUTHORIZATION);
    /// ```
    pub fn request_header(&self) -> &HeaderName {
        self.request.as_ref().unwrap_or(&AUTHORIZATION)
    }

    /// The response header written.
    ///
    /// ```
    /// assert_eq!(session_core::TokenHeader::bearer().response_header().as_str(), "session-token");
    /// ```
    pub fn response_header(&self) -> &HeaderName {
        &self.response
    }

    /// The longest token read or sent.
    ///
    /// ```
    /// assert_eq!(session_core::TokenHeader::bearer().max_len(), session_core::DEFAULT_MAX_TOKEN_LEN);
    /// ```
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Whether the request sends the token header, and the token if it is
    /// usable (present, within the length, visible ASCII). `Some(None)`:
    /// sent, but no usable token (no session, and no fall back to the
    /// cookie).
    fn token<'h>(&self, headers: &'h HeaderMap) -> Option<Option<&'h str>> {
        let token = match &self.request {
            None => {
                // Only a Bearer credential is a session token: an app may
                // also use Basic or another scheme for something else.
                let bearer = headers.get_all(AUTHORIZATION).iter().find_map(|value| {
                    let text = value.to_str().ok()?.trim();
                    // `Bearer` alone: the header transport, no token yet.
                    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
                    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
                })?;
                Some(bearer)
            }
            Some(name) => {
                let value = headers.get(name)?;
                value.to_str().ok().map(str::trim)
            }
        };
        Some(token.filter(|token| !token.is_empty() && token.len() <= self.max_len))
    }
}

/// Which transport a request's session came on, and so which one its
/// response answers on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Cookie,
    Header,
}

impl Transport {
    /// The token header, unless cookies only.
    pub(crate) fn header(&self) -> Option<&TokenHeader> {
        match self {
            Transport::Cookie => None,
            Transport::Header(header) | Transport::Both(header) => Some(header),
        }
    }

    /// The token the request sends on the header transport, when its
    /// session comes from there: `None` when it comes from the cookie,
    /// `Some(None)` when from the header but the request holds no usable
    /// token there (no session).
    pub(crate) fn header_token<'h>(&self, headers: &'h HeaderMap) -> Option<Option<&'h str>> {
        match self {
            Transport::Cookie => None,
            Transport::Header(header) => Some(header.token(headers).flatten()),
            Transport::Both(header) => header.token(headers),
        }
    }

    /// The request headers a response that used the session varies on:
    /// what may be read to find the session.
    pub(crate) fn vary(&self) -> [Option<&HeaderName>; 2] {
        match self {
            Transport::Cookie => [Some(&COOKIE), None],
            Transport::Header(header) => [Some(header.request_header()), None],
            // Either header may decide which session answers.
            Transport::Both(header) => [Some(header.request_header()), Some(&COOKIE)],
        }
    }
}

impl Session {
    /// The token that names this session after this request, for a
    /// handler that hands it to the client in its body (an API's
    /// `{"token": "…"}` login answer): the signed id the session is (or,
    /// for a new session or one [`cycle_id`](Session::cycle_id) moves, will
    /// be) stored under. The layer sends the same token in the response's
    /// token header (or cookie).
    ///
    /// Call it after the handler's last change to what the session is: a
    /// session that ends up empty is not stored, so its token names
    /// nothing, and a [`destroy`](Session::destroy) or `cycle_id` after it
    /// gives the session another id. Server-side stores only: a
    /// client-side session's token is its encoded data, known after the
    /// handler (read it from the response), so this is a
    /// [`StoreError::Unsupported`] error there.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.insert("user_id", "hong").await?;
    /// session.cycle_id().await?;
    /// let token = session.token().await?; // send it: {"token": token}
    /// # let _ = token; Ok(()) }
    /// ```
    pub async fn token(&self) -> Result<String, Error> {
        let Storage::Store(store) = &self.0.shared.storage else {
            return Err(StoreError::Unsupported(
                "Session::token with a client-side session (its token is the data, \
                 sent in the response)",
            )
            .into());
        };
        let id = self
            .with_state(|state| match (state.life, &self.0.incoming) {
                (Life::Live(_), Incoming::Id { id, .. }) => *id,
                // New, cycling, ended or unreadable: the next write draws
                // a fresh id; draw it now.
                _ => *state.next_id.get_or_insert_with(Id::random),
            })
            .await?;
        Ok(store.signer.sign(&id))
    }
}
