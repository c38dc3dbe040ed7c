//! Client-side session codecs: the session data lives in the cookie.
//!
//! Each codec is a [`DataCodec`] for
//! [`SessionLayer::client_side`](crate::SessionLayer::client_side):
//!
//! | codec | cookie value | the browser can read the data | keys |
//! |---|---|---|---|
//! | [`SignedCookie`] | base64url(JSON) `.` base64url(HMAC-SHA256) | yes | a [`Keys`](crate::Keys) list, rotation |
//! | [`EncryptedCookie`] | base64url(nonce ‖ AES-256-GCM ciphertext) | no | a [`Keys`](crate::Keys) list, rotation |
//! | [`StarletteCookie`] | Starlette's `SessionMiddleware` format (itsdangerous) | yes | one secret string |
//!
//! The signed and encrypted codecs bind each value to the cookie's name
//! (the MAC input and the AEAD associated data include it), so two
//! applications that share a key but not a cookie name refuse each
//! other's cookies. They carry the data and three times: when
//! the value was issued (for the max age and the idle timeout), when the
//! session began (for the absolute timeout) and when it ends (so a
//! per-session expiry such as "remember me" holds). The layer checks those
//! times on the server; the codecs check integrity and format only.
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

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use time::OffsetDateTime;

use crate::{Data, Expiry};

pub use crate::client::{ClientSession, DataCodec};

mod encrypted;
mod signed;
mod starlette;

pub use encrypted::EncryptedCookie;
pub use signed::SignedCookie;
pub use starlette::{StarletteCookie, STARLETTE_USER_KEY};

/// The longest cookie value any codec here will look at, in bytes (8 KiB).
///
/// Browsers keep at most [`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE) bytes
/// (name + value), so anything longer was not written by this layer; it is
/// refused before any decoding or MAC work.
///
/// ```
/// use session_core::codec::{SignedCookie, MAX_VALUE_LEN};
/// use session_core::{Key, Keys};
/// use session_core::codec::DataCodec;
///
/// let codec = SignedCookie::new(&Keys::from(Key::generate()));
/// assert!(codec.decode("session", &"a".repeat(MAX_VALUE_LEN + 1)).is_none());
/// ```
pub const MAX_VALUE_LEN: usize = 8 * 1024;

/// The version byte that opens every signed and encrypted payload. Version
/// 2 binds the value to the cookie's name; version 1 values (unbound) are
/// refused: their MAC or associated data no longer match, and the version
/// check catches anything else.
const VERSION: u8 = 3;
/// The version before the user binding: read, never written.
const VERSION_WITHOUT_USER: u8 = 2;
/// The version byte, then `issued_at`, `created_at` and `expires_at` as
/// big-endian `i64` Unix seconds ([`ABSENT`] when a time is not carried),
/// then the expiry policy: a kind byte and a big-endian `i64`. Version 3
/// follows it with the user: a length byte (0: no user) and that many
/// bytes of UTF-8.
const HEADER_LEN: usize = 1 + 3 * 8 + POLICY_LEN;
/// Where the policy starts: after the version byte and the three times.
const POLICY_AT: usize = 1 + 3 * 8;
const POLICY_LEN: usize = 1 + 8;
/// Marks a time the payload does not carry.
const ABSENT: i64 = i64::MIN;

/// Appends the payload of `session` to `out`: the fixed binary header,
/// then the data as compact JSON. A header instead of a JSON wrapper keeps
/// the payload short, so signing it takes fewer hash blocks. Times are
/// truncated to whole seconds, so a value is never dated after the moment
/// it was issued.
fn write_payload(session: &ClientSession, out: &mut Vec<u8>) -> Result<(), crate::Error> {
    out.push(VERSION);
    out.extend_from_slice(&session.issued_at.unix_timestamp().to_be_bytes());
    for time in [session.created_at, session.expires_at] {
        let seconds = time.map_or(ABSENT, OffsetDateTime::unix_timestamp);
        out.extend_from_slice(&seconds.to_be_bytes());
    }
    let (kind, value) = match session.expiry {
        None => (0, 0),
        Some(Expiry::OnSessionEnd) => (1, 0),
        Some(Expiry::OnInactivity(ttl)) => (2, i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        Some(Expiry::AtDateTime(at)) => (3, crate::store::unix_millis(at)),
    };
    out.push(kind);
    out.extend_from_slice(&value.to_be_bytes());
    let user = session.user.as_deref().unwrap_or("");
    let len =
        u8::try_from(user.len()).map_err(|_| crate::Error::InvalidUser { len: user.len() })?;
    out.push(len);
    out.extend_from_slice(user.as_bytes());
    serde_json::to_writer(out, &session.data)?;
    Ok(())
}

/// The session a verified (or decrypted) payload carries; `None` unless it
/// has our header, times `time` can represent and a JSON object as data.
fn parse_payload(bytes: &[u8]) -> Option<ClientSession> {
    let (header, rest) = bytes.split_at_checked(HEADER_LEN)?;
    let (user, json) = match header[0] {
        VERSION => {
            let (&len, rest) = rest.split_first()?;
            let (user, json) = rest.split_at_checked(usize::from(len))?;
            let user = (len > 0)
                .then(|| std::str::from_utf8(user).map(str::to_owned))
                .transpose()
                .ok()?;
            (user, json)
        }
        VERSION_WITHOUT_USER => (None, rest),
        _ => return None,
    };
    let int = |start: usize| -> Option<i64> {
        Some(i64::from_be_bytes(
            header.get(start..start + 8)?.try_into().ok()?,
        ))
    };
    let time = |index: usize| -> Option<Option<OffsetDateTime>> {
        let seconds = int(1 + 8 * index)?;
        if seconds == ABSENT {
            return Some(None);
        }
        OffsetDateTime::from_unix_timestamp(seconds).ok().map(Some)
    };
    let expiry = match header[POLICY_AT] {
        0 => None,
        1 => Some(Expiry::OnSessionEnd),
        2 => Some(Expiry::OnInactivity(std::time::Duration::from_millis(
            u64::try_from(int(POLICY_AT + 1)?).ok()?,
        ))),
        3 => Some(Expiry::AtDateTime(crate::store::from_unix_millis(int(
            POLICY_AT + 1,
        )?)?)),
        _ => return None,
    };
    Some(ClientSession {
        issued_at: time(0)??,
        created_at: time(1)?,
        expires_at: time(2)?,
        // One UTF-8 check of the whole text, then the parser's `str` path,
        // which skips the per-string check `from_slice` makes.
        data: serde_json::from_str::<Data>(std::str::from_utf8(json).ok()?).ok()?,
        rekey: false,
        expiry,
        user,
    })
}

/// Decoded values up to this many bytes live on the stack while they are
/// checked and parsed (a counter or login session is about 100); longer
/// ones get a heap buffer.
const STACK_LEN: usize = 512;

/// Runs `f` on the bytes of `text`, unpadded URL-safe base64, decoded into
/// a stack buffer when they fit; `None` if `text` is not canonical base64
/// (the engine refuses stray trailing bits, so one byte string has exactly
/// one accepted spelling).
fn with_decoded<R>(text: &str, f: impl FnOnce(&mut [u8]) -> Option<R>) -> Option<R> {
    // What the engine requires of the output: room for whole 3-byte groups.
    let room = text.len().div_ceil(4) * 3;
    let mut stack = [0u8; STACK_LEN];
    let mut heap = Vec::new();
    let buf = if room <= STACK_LEN {
        &mut stack[..]
    } else {
        heap.resize(room, 0);
        &mut heap[..]
    };
    let len = URL_SAFE_NO_PAD.decode_slice(text, buf).ok()?;
    f(&mut buf[..len])
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

    fn payload(session: &ClientSession) -> Vec<u8> {
        let mut out = Vec::new();
        write_payload(session, &mut out).unwrap();
        out
    }

    #[test]
    fn decoding_on_the_stack_and_on_the_heap_agree() {
        for len in [
            0,
            1,
            2,
            3,
            STACK_LEN - 4,
            STACK_LEN - 1,
            STACK_LEN,
            STACK_LEN + 1,
            5000,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                with_decoded(&text, |raw| Some(raw.to_vec())),
                Some(bytes),
                "{len}"
            );
        }
        // Not base64, padded, or with stray trailing bits.
        for bad in ["a", "ab==", "a*", "AB"] {
            assert_eq!(with_decoded(bad, |raw| Some(raw.len())), None, "{bad}");
        }
        let long_bad = format!("{}B", "A".repeat(2 * STACK_LEN + 1));
        assert_eq!(with_decoded(&long_bad, |raw| Some(raw.len())), None);
    }

    #[test]
    fn payload_round_trips_and_refuses_anything_else() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut data = Data::new();
        data.insert("n".into(), 1.into());
        let session = ClientSession {
            data,
            created_at: Some(now - time::Duration::hours(1)),
            issued_at: now,
            rekey: true,
            expires_at: Some(now + time::Duration::days(30)),
            expiry: Some(Expiry::OnInactivity(std::time::Duration::from_secs(
                30 * 86_400,
            ))),
            user: None,
        };
        let bytes = payload(&session);
        assert_eq!(bytes.len(), HEADER_LEN + 1 + br#"{"n":1}"#.len());
        assert_eq!(&bytes[HEADER_LEN + 1..], br#"{"n":1}"#);
        let back = parse_payload(&bytes).unwrap();
        assert_eq!(back.data, session.data);
        assert_eq!(back.issued_at, now);
        assert_eq!(back.created_at, session.created_at);
        assert_eq!(back.expires_at, session.expires_at);
        assert_eq!(back.expiry, session.expiry);
        assert!(!back.rekey);
        for expiry in [
            None,
            Some(Expiry::OnSessionEnd),
            Some(Expiry::AtDateTime(now + time::Duration::days(400))),
        ] {
            let with = ClientSession {
                expiry,
                ..session.clone()
            };
            assert_eq!(parse_payload(&payload(&with)).unwrap().expiry, expiry);
        }

        let absent = ClientSession {
            created_at: None,
            expires_at: None,
            ..session.clone()
        };
        let back = parse_payload(&payload(&absent)).unwrap();
        assert_eq!((back.created_at, back.expires_at), (None, None));

        let bound = ClientSession {
            user: Some("hong 🦀".into()),
            ..session.clone()
        };
        let bound_bytes = payload(&bound);
        assert_eq!(parse_payload(&bound_bytes).unwrap().user, bound.user);
        let long = ClientSession {
            user: Some("x".repeat(256)),
            ..session.clone()
        };
        let mut out = Vec::new();
        assert!(matches!(
            write_payload(&long, &mut out),
            Err(crate::Error::InvalidUser { len: 256 })
        ));
        // A version 2 payload (no user byte) still reads.
        let mut version_2 = bytes[..HEADER_LEN].to_vec();
        version_2[0] = VERSION_WITHOUT_USER;
        version_2.extend_from_slice(br#"{"n":1}"#);
        let back = parse_payload(&version_2).unwrap();
        assert_eq!((back.user, back.data), (None, session.data.clone()));
        let mut bad_utf8 = bound_bytes[..HEADER_LEN].to_vec();
        bad_utf8.extend_from_slice(&[2, 0xff, 0xfe]);
        bad_utf8.extend_from_slice(b"{}");
        let mut short_user = bound_bytes[..HEADER_LEN].to_vec();
        short_user.extend_from_slice(&[200, b'a']);

        let mut wrong_version = bytes.clone();
        wrong_version[0] = VERSION + 1;
        let mut bad_policy = bytes.clone();
        bad_policy[POLICY_AT] = 9;
        let mut version_1 = bytes.clone();
        version_1[0] = 1;
        let mut bad_time = bytes.clone();
        bad_time[1..9].copy_from_slice(&i64::MAX.to_be_bytes());
        let header = &bytes[..HEADER_LEN];
        for bad in [
            wrong_version,
            bad_policy,
            version_1,
            bad_time,
            bad_utf8,
            short_user,
            bytes[..HEADER_LEN - 1].to_vec(),
            header.to_vec(),
            [header, b"[1]"].concat(),
            [header, b"\"s\""].concat(),
            [header, b"{\"n\":1} x"].concat(),
            Vec::new(),
        ] {
            assert!(parse_payload(&bad).is_none(), "{bad:?}");
        }
    }
}
