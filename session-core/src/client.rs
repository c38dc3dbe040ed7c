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
/// let session = ClientSession { data: Data::new(), created_at: Some(now), issued_at: now, rekey: false, expires_at: None, expiry: None, user: None };
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
    /// The user the session is bound to
    /// ([`Session::set_user`](crate::Session::set_user)), at most 255 bytes.
    pub user: Option<String>,
}

/// Encodes session data into a cookie value and decodes it back.
///
/// `decode` checks integrity (signature or authenticated encryption) and
/// format only; the layer checks the times. Anything that does not verify is
/// `None`: to the application it is simply "no session".
///
/// Both get the name of the cookie the value travels in (as sent, with
/// `__Host-` when enabled). A codec that authenticates should bind its
/// values to it, so that two applications sharing a key under different
/// cookie names do not accept each other's cookies: [`SignedCookie`] and
/// [`EncryptedCookie`] do; [`StarletteCookie`] cannot (Starlette's format
/// has no room for it).
///
/// [`SignedCookie`]: crate::SignedCookie
/// [`EncryptedCookie`]: crate::EncryptedCookie
/// [`StarletteCookie`]: crate::StarletteCookie
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
///     fn encode(&self, _name: &str, session: &ClientSession) -> Result<String, Error> {
///         Ok(serde_json::to_string(&session.data)?)
///     }
///     fn decode(&self, _name: &str, value: &str) -> Option<ClientSession> {
///         let data = serde_json::from_str(value).ok()?;
///         Some(ClientSession { data, created_at: None, issued_at: time::OffsetDateTime::now_utc(), rekey: false, expires_at: None, expiry: None, user: None })
///     }
/// }
///
/// let now = time::OffsetDateTime::now_utc();
/// let session = ClientSession { data: Default::default(), created_at: None, issued_at: now, rekey: false, expires_at: None, expiry: None, user: None };
/// let value = PlainJson.encode("session", &session)?;
/// assert!(PlainJson.decode("session", &value).is_some());
/// # Ok::<(), Error>(())
/// ```
pub trait DataCodec: Debug + Send + Sync + 'static {
    /// The value of the cookie named `name` for `session`.
    fn encode(&self, name: &str, session: &ClientSession) -> Result<String, crate::Error>;

    /// The session the value of the cookie named `name` carries, or `None`
    /// if it does not verify (for that name, where the codec binds it).
    fn decode(&self, name: &str, value: &str) -> Option<ClientSession>;

    /// Whether the format keeps the data key `key` for itself, so that a
    /// handler may not write it ([`Session::insert`](crate::Session::insert)
    /// answers [`Error::ReservedKey`](crate::Error::ReservedKey)). A format
    /// that carries something of its own among the data (as
    /// [`StarletteCookie`] carries the user binding as `_session_user`)
    /// says so here; the default reserves nothing.
    ///
    /// [`StarletteCookie`]: crate::StarletteCookie
    ///
    /// ```
    /// use session_core::codec::{DataCodec, StarletteCookie};
    /// use session_core::{Key, SignedCookie};
    ///
    /// assert!(StarletteCookie::new("secret").reserves_key("_session_user"));
    /// assert!(!SignedCookie::new(&Key::generate().into()).reserves_key("_session_user"));
    /// ```
    fn reserves_key(&self, key: &str) -> bool {
        let _ = key;
        false
    }
}
