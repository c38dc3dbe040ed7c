//! Client-side session codecs: the session data lives in the cookie.
//!
//! Each codec is a [`DataCodec`](crate::DataCodec) for
//! [`SessionLayer::client_side`](crate::SessionLayer::client_side):
//!
//! | codec | cookie value | the browser can read the data | keys |
//! |---|---|---|---|
//! | [`SignedCookie`] | base64url(JSON) `.` base64url(HMAC-SHA256) | yes | a [`Keys`](crate::Keys) list, rotation |
//! | [`EncryptedCookie`] | base64url(nonce ‖ AES-256-GCM ciphertext) | no | a [`Keys`](crate::Keys) list, rotation |
//! | [`StarletteCookie`] | Starlette's `SessionMiddleware` format (itsdangerous) | yes | one secret string |
//!
//! The signed and encrypted codecs carry the data and two times: when the
//! value was issued (for the max age and the idle timeout) and when the
//! session began (for the absolute timeout). The layer checks those times on
//! the server; the codecs check integrity and format only.
//!
//! Decoding never panics and never errors: anything malformed, tampered,
//! signed with an unknown key or longer than [`MAX_VALUE_LEN`] is `None`,
//! which the layer treats as "no session".
//!
//! ```
//! use axum::{routing::get, Router};
//! use session_core::codec::EncryptedCookie;
//! use session_core::{Key, Keys, Session, SessionConfig, SessionLayer};
//!
//! async fn counter(session: Session) -> Result<String, session_core::Error> {
//!     let n: u64 = session.get("count").await?.unwrap_or(0);
//!     session.insert("count", n + 1).await?;
//!     Ok(n.to_string())
//! }
//!
//! let keys = Keys::from(Key::generate()); // in production: Keys::from_env("SESSION_KEYS")
//! let layer = SessionLayer::client_side(EncryptedCookie::new(&keys))
//!     .with_config(SessionConfig::new().with_secure(false)); // plain http in development
//! let app: Router = Router::new().route("/", get(counter)).layer(layer);
//! # let _ = app;
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{ClientSession, Data};

mod encrypted;
mod signed;
mod starlette;

pub use encrypted::EncryptedCookie;
pub use signed::SignedCookie;
pub use starlette::StarletteCookie;

/// The longest cookie value any codec here will look at, in bytes (8 KiB).
///
/// Browsers keep at most [`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE) bytes
/// (name + value), so anything longer was not written by this layer; it is
/// refused before any decoding or MAC work.
///
/// ```
/// use session_core::codec::{SignedCookie, MAX_VALUE_LEN};
/// use session_core::{DataCodec, Key, Keys};
///
/// let codec = SignedCookie::new(&Keys::from(Key::generate()));
/// assert!(codec.decode(&"a".repeat(MAX_VALUE_LEN + 1)).is_none());
/// ```
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// The JSON the signed and encrypted codecs carry, as written.
///
/// `{"d":{...},"i":<issued_at>,"c":<created_at>}`, times in Unix seconds.
#[derive(Serialize)]
struct PayloadOut<'a> {
    d: &'a Data,
    i: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    c: Option<i64>,
}

/// The same JSON, as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayloadIn {
    d: Data,
    i: i64,
    #[serde(default)]
    c: Option<i64>,
}

/// The payload JSON of `session` (times truncated to whole seconds, so a
/// value is never dated after the moment it was issued).
fn payload_json(session: &ClientSession) -> Result<Vec<u8>, crate::Error> {
    let payload = PayloadOut {
        d: &session.data,
        i: session.issued_at.unix_timestamp(),
        c: session.created_at.map(OffsetDateTime::unix_timestamp),
    };
    Ok(serde_json::to_vec(&payload)?)
}

/// The session a verified (or decrypted) payload carries; `None` unless it
/// is exactly our JSON object with times `time` can represent.
fn parse_payload(json: &[u8]) -> Option<ClientSession> {
    let payload: PayloadIn = serde_json::from_slice(json).ok()?;
    let issued_at = OffsetDateTime::from_unix_timestamp(payload.i).ok()?;
    let created_at = match payload.c {
        Some(c) => Some(OffsetDateTime::from_unix_timestamp(c).ok()?),
        None => None,
    };
    Some(ClientSession {
        data: payload.d,
        created_at,
        issued_at,
        rekey: false,
    })
}

/// An encoding failure that cannot come from the data itself (an
/// unrepresentable time, a cipher refusing its input), reported through
/// [`Error::Json`](crate::Error::Json) since [`Error`](crate::Error) has no
/// better variant.
fn encode_error(msg: &str) -> crate::Error {
    crate::Error::Json(<serde_json::Error as serde::ser::Error>::custom(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_refuses_extras() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut data = Data::new();
        data.insert("n".into(), 1.into());
        let session = ClientSession {
            data,
            created_at: Some(now - time::Duration::hours(1)),
            issued_at: now,
            rekey: true,
        };
        let json = payload_json(&session).unwrap();
        assert_eq!(json, br#"{"d":{"n":1},"i":1700000000,"c":1699996400}"#);
        let back = parse_payload(&json).unwrap();
        assert_eq!(back.data, session.data);
        assert_eq!(back.issued_at, now);
        assert_eq!(back.created_at, session.created_at);
        assert!(!back.rekey);

        for bad in [
            &br#"{"d":{},"i":1,"x":2}"#[..],
            br#"{"d":[],"i":1}"#,
            br#"{"d":"s","i":1}"#,
            br#"{"d":{}}"#,
            br#"{"d":{},"i":1e3}"#,
            br#"{"d":{},"i":99999999999999999}"#,
            br#"{"d":{},"i":1,"c":-99999999999999999}"#,
            br#"[]"#,
            b"",
        ] {
            assert!(
                parse_payload(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_payload(br#"{"d":{},"i":1}"#)
            .unwrap()
            .created_at
            .is_none());
    }
}
