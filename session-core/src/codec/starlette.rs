//! [`StarletteCookie`]: the cookie format of Starlette's `SessionMiddleware`.
//!
//! Starlette signs `base64(json.dumps(session))` with itsdangerous'
//! `TimestampSigner`: HMAC-SHA1 under the key
//! `SHA1("itsdangerous.Signer" + "signer" + secret)`. This codec writes
//! values byte-for-byte identical to Starlette's and reads everything
//! Starlette reads, so a Python service and a Rust service can share one
//! session cookie during a migration.

use std::fmt;
use std::io::{self, Write};

use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::ser::Formatter;
use sha1::{Digest, Sha1};
use time::OffsetDateTime;

use super::{encode_error, MAX_VALUE_LEN};
use crate::session::is_valid_user;
use crate::{ClientSession, Data, DataCodec};

type HmacSha1 = Hmac<Sha1>;

/// itsdangerous' default salt, then its "django-concat" key derivation word.
const SALT: &[u8] = b"itsdangerous.Signer";
const DERIVATION: &[u8] = b"signer";

/// Session data in Starlette's `SessionMiddleware` cookie format.
///
/// The value is `payload "." timestamp "." signature`:
///
/// - `payload`: standard base64 (with `=` padding) of the session as
///   Python's `json.dumps` writes it (`", "` and `": "` separators,
///   insertion order, non-ASCII escaped as `\uXXXX`);
/// - `timestamp`: the issue time in Unix seconds, big-endian bytes without
///   leading zeros, URL-safe base64 without padding;
/// - `signature`: HMAC-SHA1 of `payload.timestamp` under
///   `SHA1("itsdangerous.Signer" + "signer" + secret)`, URL-safe base64
///   without padding.
///
/// Decoding follows Starlette (and Python's lenient base64) exactly, except
/// that a payload Starlette would crash on (a signed value that is not a
/// JSON object) is simply "no session". The format carries no creation
/// time, so [`ClientSession::created_at`] is `None`: an absolute timeout
/// counts from the last time the cookie was issued. Time checks (max age,
/// future-dated values) are the layer's, as for every codec.
///
/// Values are not bound to the cookie's name (the `name` argument of
/// [`DataCodec`] is ignored): Starlette signs only the payload and the
/// timestamp, and this codec writes and reads exactly what Starlette does.
/// Give each application its own secret rather than relying on distinct
/// cookie names.
///
/// The format has one secret and no key rotation. Starlette accepts any
/// secret string; so does this codec, but
/// [`is_weak_secret`](Self::is_weak_secret) tells whether it is shorter
/// than [`MIN_SECRET_LEN`](Self::MIN_SECRET_LEN), so an application can warn.
///
/// ```
/// use session_core::codec::StarletteCookie;
/// use session_core::codec::{ClientSession, DataCodec};
/// use session_core::store::Data;
/// use time::OffsetDateTime;
///
/// let codec = StarletteCookie::new("dev-secret-key");
/// let mut data = Data::new();
/// data.insert("user_count".into(), 1.into());
/// let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let session = ClientSession { data, created_at: None, issued_at: at, rekey: false, expires_at: None, expiry: None, user: None };
///
/// // What Starlette 1.10 writes for {"user_count": 1} at that time.
/// let value = codec.encode("session", &session)?;
/// assert_eq!(value, "eyJ1c2VyX2NvdW50IjogMX0=.ZVPxAA.hl6i7kxoUYqbXuf4mRmmytq-sTw");
/// assert_eq!(codec.decode("session", &value), Some(session));
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone)]
pub struct StarletteCookie {
    mac: HmacSha1,
    weak: bool,
}

impl fmt::Debug for StarletteCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StarletteCookie")
            .field("weak_secret", &self.weak)
            .finish_non_exhaustive()
    }
}

impl StarletteCookie {
    /// Secrets shorter than this many bytes are reported by
    /// [`is_weak_secret`](Self::is_weak_secret): the same bar as
    /// [`Key::MIN_LEN`](crate::Key::MIN_LEN).
    ///
    /// ```
    /// use session_core::codec::StarletteCookie;
    ///
    /// assert_eq!(StarletteCookie::MIN_SECRET_LEN, session_core::Key::MIN_LEN);
    /// ```
    pub const MIN_SECRET_LEN: usize = crate::Key::MIN_LEN;

    /// A codec for Starlette's `secret_key`. Any string is accepted, as in
    /// Starlette; check [`is_weak_secret`](Self::is_weak_secret) to warn
    /// about a short one.
    ///
    /// ```
    /// use session_core::codec::StarletteCookie;
    /// use session_core::{SessionConfig, SessionLayer};
    ///
    /// let codec = StarletteCookie::new(&"use a long random secret here!".repeat(2));
    /// if codec.is_weak_secret() {
    ///     tracing::warn!("the session secret is short: anyone can forge sessions after guessing it");
    /// }
    /// let layer = SessionLayer::client_side(codec)
    ///     .with_config(SessionConfig::new().with_secure(false)); // Starlette's https_only=False
    /// # let _ = layer;
    /// ```
    pub fn new(secret: &str) -> Self {
        let mut hasher = Sha1::new();
        hasher.update(SALT);
        hasher.update(DERIVATION);
        hasher.update(secret.as_bytes());
        let key = hasher.finalize();
        Self {
            mac: HmacSha1::new_from_slice(&key).expect("HMAC-SHA1 accepts any key length"),
            weak: secret.len() < Self::MIN_SECRET_LEN,
        }
    }

    /// Whether the secret is shorter than [`MIN_SECRET_LEN`](Self::MIN_SECRET_LEN)
    /// bytes: such a secret can be guessed offline from one cookie, and then
    /// anyone can forge any session.
    ///
    /// ```
    /// use session_core::codec::StarletteCookie;
    ///
    /// assert!(StarletteCookie::new("dev-secret-key").is_weak_secret());
    /// assert!(!StarletteCookie::new(&"k".repeat(32)).is_weak_secret());
    /// ```
    pub fn is_weak_secret(&self) -> bool {
        self.weak
    }

    fn signature(&self, message: &[u8]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// Where a Starlette cookie carries the session's user
/// ([`Session::set_user`](crate::Session::set_user)): Starlette's format
/// holds only the data, so the binding travels as this key, which Python
/// code sees as `request.session["_session_user"]`.
///
/// The key is the binding, never data: through the layer a handler cannot
/// write it ([`Session::insert`](crate::Session::insert) answers
/// [`Error::ReservedKey`](crate::Error::ReservedKey);
/// [`DataCodec::reserves_key`] says so), and
/// [`decode`](DataCodec::decode) takes it out of the data. A cookie whose
/// `_session_user` is not a user name `set_user` would take (a string of 1
/// to [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes) is no session at all:
/// it was signed with the secret, so a Python app wrote it, but its
/// binding cannot be honoured, and a session that holds a login without
/// its user could not be listed or revoked by user.
/// [`encode`](DataCodec::encode) writes the data as given (a
/// `_session_user` in it is what Python code wrote) and `user`, when set,
/// under the key; it refuses a `user` that `decode` would refuse
/// ([`Error::InvalidUser`](crate::Error::InvalidUser)).
///
/// ```
/// use session_core::codec::{ClientSession, DataCodec, StarletteCookie, STARLETTE_USER_KEY};
/// use session_core::store::Data;
/// use time::OffsetDateTime;
///
/// let codec = StarletteCookie::new("dev-secret-key");
/// let mut data = Data::new();
/// data.insert(STARLETTE_USER_KEY.into(), 42.into()); // not a user name
/// let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let session = ClientSession { data, created_at: None, issued_at: at, rekey: false, expires_at: None, expiry: None, user: None };
/// let value = codec.encode("session", &session)?;
/// assert_eq!(codec.decode("session", &value), None);
/// # Ok::<(), session_core::Error>(())
/// ```
pub const STARLETTE_USER_KEY: &str = "_session_user";

impl DataCodec for StarletteCookie {
    fn encode(&self, _name: &str, session: &ClientSession) -> Result<String, crate::Error> {
        let ts = u64::try_from(session.issued_at.unix_timestamp())
            .map_err(|_| encode_error("a Starlette cookie cannot be dated before 1970"))?;
        let json = match &session.user {
            None => python_json(&session.data)?,
            Some(user) if !is_valid_user(user) => {
                return Err(crate::Error::InvalidUser { len: user.len() })
            }
            Some(user) => {
                let mut data = session.data.clone();
                data.insert(STARLETTE_USER_KEY.to_owned(), user.clone().into());
                python_json(&data)?
            }
        };
        let mut out = STANDARD.encode(json);
        out.push('.');
        let ts_bytes = ts.to_be_bytes();
        let first = ts_bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(ts_bytes.len());
        URL_SAFE_NO_PAD.encode_string(&ts_bytes[first..], &mut out);
        let sig = self.signature(out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut out);
        Ok(out)
    }

    /// `_session_user` ([`STARLETTE_USER_KEY`]): the user binding.
    fn reserves_key(&self, key: &str) -> bool {
        key == STARLETTE_USER_KEY
    }

    fn decode(&self, _name: &str, value: &str) -> Option<ClientSession> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        // itsdangerous `Signer.unsign`: the signature follows the last dot.
        let (signed, sig_text) = value.rsplit_once('.')?;
        let sig = python_b64decode(sig_text.as_bytes(), Flavour::ItsDangerous)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&sig).ok()?;
        // `TimestampSigner.unsign`: the timestamp follows the next-to-last dot.
        let (payload, ts_text) = signed.rsplit_once('.')?;
        let ts_bytes = python_b64decode(ts_text.as_bytes(), Flavour::ItsDangerous)?;
        let issued_at = timestamp(&ts_bytes)?;
        // Starlette: `json.loads(b64decode(payload))`, then used as a dict.
        let json = python_b64decode(payload.as_bytes(), Flavour::Standard)?;
        let mut data: Data = serde_json::from_slice(&json).ok()?;
        // The binding, out of the data; a value that is not a user name
        // makes the cookie no session (see `STARLETTE_USER_KEY`).
        let user = match data.shift_remove(STARLETTE_USER_KEY) {
            None => None,
            Some(serde_json::Value::String(user)) if is_valid_user(&user) => Some(user),
            Some(_) => return None,
        };
        Some(ClientSession {
            data,
            created_at: None,
            issued_at,
            rekey: false,
            expires_at: None,
            expiry: None,
            user,
        })
    }
}

/// itsdangerous' `bytes_to_int` (big-endian, any length) as a time; `None`
/// when `time` cannot represent it (Starlette would then call it expired or
/// from the future, and so does the layer).
fn timestamp(bytes: &[u8]) -> Option<OffsetDateTime> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let significant = &bytes[first..];
    if significant.len() > 8 {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[8 - significant.len()..].copy_from_slice(significant);
    let secs = i64::try_from(u64::from_be_bytes(buf)).ok()?;
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// Which of Python's base64 decoders to mirror.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `base64.b64decode(s)` (`validate=False`): standard alphabet, no
    /// padding added.
    Standard,
    /// itsdangerous' `base64_decode`: `=` appended up to a multiple of four,
    /// then `base64.urlsafe_b64decode` (`-`/`_` read as `+`/`/`).
    ItsDangerous,
}

/// The base64 crate, as lenient as Python about the bits after the last
/// full byte and about padding (the text given to it has none).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Decodes base64 exactly as CPython's non-strict `binascii.a2b_base64`
/// does: characters outside the alphabet are skipped, a run of `=` that
/// completes a quantum ends the input (anything after it is ignored), and an
/// unfinished quantum is an error. This function only selects the
/// characters Python would use; the base64 crate decodes them.
fn python_b64decode(text: &[u8], flavour: Flavour) -> Option<Vec<u8>> {
    let padding = match flavour {
        Flavour::Standard => 0,
        Flavour::ItsDangerous => (4 - text.len() % 4) % 4,
    };
    let urlsafe = flavour == Flavour::ItsDangerous;
    let mut kept = Vec::with_capacity(text.len());
    let (mut quad_pos, mut pads) = (0usize, 0usize);
    let mut ended_by_padding = false;
    for &byte in text.iter().chain(std::iter::repeat_n(&b'=', padding)) {
        if byte == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    ended_by_padding = true;
                    break;
                }
            }
            continue;
        }
        let byte = match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => byte,
            b'-' if urlsafe => b'+',
            b'_' if urlsafe => b'/',
            _ => continue,
        };
        kept.push(byte);
        quad_pos = (quad_pos + 1) % 4;
        pads = 0;
    }
    if quad_pos != 0 && !ended_by_padding {
        return None;
    }
    LENIENT.decode(kept).ok()
}

/// The session as Python's `json.dumps(session)` writes it.
fn python_json(data: &Data) -> Result<Vec<u8>, crate::Error> {
    let mut out = Vec::with_capacity(128);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    data.serialize(&mut serializer)?;
    Ok(out)
}

/// A `serde_json` formatter with the defaults of Python's `json.dumps`:
/// `", "` and `": "` separators, every character outside printable ASCII
/// escaped as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above
/// U+FFFF), and floats written as Python's `repr` writes them.
#[derive(Clone, Copy, Debug, Default)]
struct PythonFormatter;

/// Python's item separator, `", "`, before every item but the first.
fn separator<W: ?Sized + Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // serde_json escapes `"`, `\` and controls below U+0020 itself; the
        // rest of what Python's `ensure_ascii` escapes arrives here.
        let mut start = 0;
        for (at, ch) in fragment.char_indices() {
            if matches!(ch, ' '..='~') {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..at])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = at + ch.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// Python's `repr(float)` for a finite value: the shortest digits that
/// round-trip, nearest to the value (ties to even), written positionally
/// when the decimal exponent is in `-4..16` (with `.0` for integers) and as
/// `d.ddde+XX` otherwise.
fn python_float_repr(value: f64) -> String {
    if !value.is_finite() {
        // Not reachable through `serde_json::Value`; what Python writes.
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let mut sci = format!("{value:e}");
    // `{:e}` rounds an exact tie between two shortest candidates up;
    // Python takes the even one. The correctly rounded (ties-to-even)
    // decimal of the same length is Python's choice whenever it round-trips.
    let len = sci
        .bytes()
        .take_while(|b| *b != b'e')
        .filter(u8::is_ascii_digit)
        .count();
    if len > 1 {
        let even = format!("{value:.prec$e}", prec = len - 1);
        if even.parse::<f64>() == Ok(value) {
            sci = even;
        }
    }
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` writes a decimal exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // The value is 0.DIGITS × 10^point.
    let point = exp + 1;
    let mut out = String::from(sign);
    if -4 < point && point <= 16 {
        let n = digits.len() as i32;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (point - n) as usize));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        out.push_str(&format!("e{exp_sign}{:02}", exp.unsigned_abs()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)] // exact ties, written out on purpose
    fn floats_are_written_as_python_repr() {
        for (value, python) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-5.25, "-5.25"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-7, "1.5e-07"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (0.000123, "0.000123"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.5e-308, "2.5e-308"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e22, "1e+22"),
            (0.3, "0.3"),
            (2.0 / 3.0, "0.6666666666666666"),
            // An exact tie between two 17-digit candidates: Python takes the even one.
            (1502577396411848.25, "1502577396411848.2"),
            (251599584421962.625, "251599584421962.62"),
        ] {
            assert_eq!(python_float_repr(value), python, "{value:e}");
        }
    }

    #[test]
    fn strings_are_escaped_as_python_ensure_ascii() {
        let mut data = Data::new();
        data.insert("k\u{e9}y".into(), "a\u{7f}\u{1f600}\u{0}\"\\/\n".into());
        data.insert("list".into(), serde_json::json!([1, [], {}, {"a": null}]));
        let json = String::from_utf8(python_json(&data).unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"k\u00e9y": "a\u007f\ud83d\ude00\u0000\"\\/\n", "list": [1, [], {}, {"a": null}]}"#
        );
    }

    #[test]
    fn lenient_base64_matches_python_on_edge_cases() {
        // Expected results computed with CPython 3.11 (`base64.b64decode`
        // and itsdangerous' `base64_decode`).
        use Flavour::*;
        let cases: &[(&str, Flavour, Option<&[u8]>)] = &[
            ("", ItsDangerous, Some(b"")),
            ("", Standard, Some(b"")),
            ("e30=", Standard, Some(b"{}")),
            ("e30", Standard, None),
            ("e30", ItsDangerous, Some(b"{}")),
            ("e3!0=", Standard, Some(b"{}")),
            ("e30=trailing", Standard, Some(b"{}")),
            ("e3=0=", Standard, Some(b"{}")),
            ("_w", ItsDangerous, Some(b"\xff")),
            ("_w", Standard, None),
            ("_x", ItsDangerous, Some(b"\xff")),
            ("A", ItsDangerous, None),
            ("AB=C", Standard, None),
            ("==AB==", Standard, Some(b"\x00")),
            ("+/-_", ItsDangerous, Some(b"\xfb\xff\xbf")),
            ("+/-_", Standard, None),
        ];
        for (text, flavour, expected) in cases {
            assert_eq!(
                python_b64decode(text.as_bytes(), *flavour).as_deref(),
                *expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn timestamps_of_any_width() {
        assert_eq!(timestamp(b"").unwrap().unix_timestamp(), 0);
        assert_eq!(timestamp(b"\0\0\xff").unwrap().unix_timestamp(), 255);
        assert_eq!(
            timestamp(b"\x01\0\0\0\0").unwrap().unix_timestamp(),
            1 << 32
        );
        assert!(timestamp(&[0xff; 8]).is_none());
        assert!(timestamp(&[1; 9]).is_none());
        assert_eq!(timestamp(&[0; 20]).unwrap().unix_timestamp(), 0);
    }

    #[test]
    fn secret_strength() {
        assert!(StarletteCookie::new("").is_weak_secret());
        assert!(StarletteCookie::new(&"x".repeat(31)).is_weak_secret());
        assert!(!StarletteCookie::new(&"x".repeat(32)).is_weak_secret());
        assert!(!format!("{:?}", StarletteCookie::new("hunter2")).contains("hunter2"));
    }
}
