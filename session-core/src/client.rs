//! Client-side sessions: the data lives in the cookie itself.
//!
//! A [`DataCodec`] turns session data into a cookie value and back. The
//! layer does the rest exactly as for server-side stores: the cookie is
//! written only when the session changed, removed when it became empty, and
//! never sent when it would pass [`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE).
//! Timeouts are enforced by the server from the times carried inside the
//! signed (or encrypted) value, not only by the cookie's `Max-Age`.

use std::fmt::Debug;

use time::OffsetDateTime;

use crate::{Data, Expiry};

/// What a data cookie carries.
///
/// ```
/// use session_core::codec::ClientSession;
/// use session_core::store::Data;
/// use time::OffsetDateTime;
///
/// let now = OffsetDateTime::now_utc();
/// let session = ClientSession { data: Data::new(), created_at: Some(now), issued_at: now, rekey: false, expires_at: None, expiry: None };
/// assert!(session.data.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSession {
    /// The session data.
    pub data: Data,
    /// When the session began (for the absolute timeout); `None` in formats
    /// that do not carry it (Starlette's).
    pub created_at: Option<OffsetDateTime>,
    /// When this cookie value was issued (for max age and idle timeout).
    pub issued_at: OffsetDateTime,
    /// When the session ends, as the layer computed it when issuing the
    /// value (it carries a per-session expiry such as "remember me"); `None`
    /// in formats that do not carry it, where the layer's configuration
    /// decides from `issued_at`.
    pub expires_at: Option<OffsetDateTime>,
    /// Set by `decode` when a key other than the current one verified the
    /// value: the layer then re-issues the cookie under the current key.
    /// Ignored by `encode`.
    pub rekey: bool,
    /// The session's own expiry policy
    /// ([`Session::set_expiry`](crate::Session::set_expiry)), so it holds on
    /// later requests; `None` when the layer's configuration applies, and
    /// in formats that do not carry it (Starlette's).
    pub expiry: Option<Expiry>,
}

/// Encodes session data into a cookie value and decodes it back.
///
/// `decode` checks integrity (signature or authenticated encryption) and
/// format only; the layer checks the times. Anything that does not verify is
/// `None`: to the application it is simply "no session".
///
/// ```
/// use session_core::Error;
/// use session_core::codec::{ClientSession, DataCodec};
///
/// /// An (insecure!) codec that stores plain JSON, for illustration.
/// #[derive(Debug)]
/// struct PlainJson;
///
/// impl DataCodec for PlainJson {
///     fn encode(&self, session: &ClientSession) -> Result<String, Error> {
///         Ok(serde_json::to_string(&session.data)?)
///     }
///     fn decode(&self, value: &str) -> Option<ClientSession> {
///         let data = serde_json::from_str(value).ok()?;
///         Some(ClientSession { data, created_at: None, issued_at: time::OffsetDateTime::now_utc(), rekey: false, expires_at: None, expiry: None })
///     }
/// }
/// ```
pub trait DataCodec: Debug + Send + Sync + 'static {
    /// The cookie value for `session`.
    fn encode(&self, session: &ClientSession) -> Result<String, crate::Error>;

    /// The session a cookie value carries, or `None` if it does not verify.
    fn decode(&self, value: &str) -> Option<ClientSession>;
}
