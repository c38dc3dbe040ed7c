//! [`SignedCookie`]: session data in the cookie, readable, signed with HMAC-SHA256.

use std::fmt;

use super::{encode_error, parse_payload, with_decoded, write_payload, MAX_VALUE_LEN};
use crate::id::{MacKeys, TAG_ENCODED_LEN, TAG_LEN};
use crate::{ClientSession, DataCodec, Keys};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const PURPOSE: &[u8] = b"session-core/v1/signed-data";

/// Session data kept in the cookie as signed JSON: the browser (and anyone
/// who sees the cookie) can read it, nobody without a key can change it.
///
/// The value is `base64url(payload) "." base64url(tag)`, where the payload is
/// a short binary header (a version byte, then when the value was issued,
/// when the session began and when it ends, in Unix seconds, the session's
/// own expiry policy and the user it is bound to, about a dozen bytes in
/// all) followed by the data as compact JSON, and
/// the tag is HMAC-SHA256 over the cookie name's length (8 bytes,
/// big-endian), the cookie name and the payload bytes, under a sub-key
/// derived from each [`Key`](crate::Key) for this one purpose: a value
/// signed for one cookie name does not verify under another, even with the
/// same key. The first key signs;
/// every key verifies (in constant time), and a value verified by an older
/// key comes back with [`ClientSession::rekey`] set, so the layer re-signs
/// it with the current key.
///
/// Put nothing secret in a signed cookie; use [`EncryptedCookie`](super::EncryptedCookie)
/// for that.
///
/// ```
/// use session_core::codec::SignedCookie;
/// use session_core::{Key, Keys};
/// use session_core::codec::{ClientSession, DataCodec};
/// use session_core::store::Data;
/// use time::OffsetDateTime;
///
/// let codec = SignedCookie::new(&Keys::from(Key::generate()));
/// let mut data = Data::new();
/// data.insert("user_count".into(), 1.into());
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let session = ClientSession { data, created_at: Some(now), issued_at: now, rekey: false, expires_at: None, expiry: None, user: None };
///
/// let value = codec.encode("session", &session)?;
/// assert_eq!(codec.decode("session", &value), Some(session));
/// assert!(codec.decode("session", &value.replace('.', "x")).is_none());
/// // Bound to the cookie's name.
/// assert!(codec.decode("other", &value).is_none());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SignedCookie {
    macs: MacKeys,
}

impl fmt::Debug for SignedCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCookie")
            .field("keys", &self.macs.len())
            .finish()
    }
}

impl SignedCookie {
    /// A codec for these keys: the first signs, every one verifies.
    ///
    /// ```
    /// use session_core::codec::SignedCookie;
    /// use session_core::{Key, Keys, SessionLayer};
    ///
    /// let keys = Keys::new(vec![Key::generate(), Key::generate()])?;
    /// let layer = SessionLayer::client_side(SignedCookie::new(&keys));
    /// # let _ = layer;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn new(keys: &Keys) -> Self {
        Self {
            macs: MacKeys::new(keys, PURPOSE),
        }
    }
}

/// The length prefix of the cookie name in the MAC input, which makes the
/// concatenation name ‖ payload unambiguous.
fn name_len(name: &str) -> [u8; 8] {
    (name.len() as u64).to_be_bytes()
}

impl DataCodec for SignedCookie {
    fn encode(&self, name: &str, session: &ClientSession) -> Result<String, crate::Error> {
        let mut payload = Vec::with_capacity(128);
        write_payload(session, &mut payload)?;
        let tag = self
            .macs
            .sign_parts(&[&name_len(name), name.as_bytes(), &payload]);
        // Straight into one exact buffer (`encode_string` goes through a
        // 1 KiB staging buffer and a UTF-8 check per chunk).
        let payload_text = base64::encoded_len(payload.len(), false)
            .ok_or_else(|| encode_error("session too large"))?;
        let mut out = vec![0; payload_text + 1 + TAG_ENCODED_LEN];
        let (payload_out, tag_out) = out.split_at_mut(payload_text);
        URL_SAFE_NO_PAD
            .encode_slice(&payload, payload_out)
            .map_err(|_| encode_error("base64 output too short"))?;
        tag_out[0] = b'.';
        URL_SAFE_NO_PAD
            .encode_slice(tag, &mut tag_out[1..])
            .map_err(|_| encode_error("base64 output too short"))?;
        String::from_utf8(out).map_err(|_| encode_error("base64 is ASCII"))
    }

    fn decode(&self, name: &str, value: &str) -> Option<ClientSession> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let (payload, tag_text) = value.split_once('.')?;
        if tag_text.len() != TAG_ENCODED_LEN {
            return None;
        }
        // The base64 engine refuses non-canonical text (stray trailing
        // bits), so one payload and one tag have exactly one accepted
        // spelling each.
        let mut tag = [0u8; TAG_LEN];
        match URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag) {
            Ok(TAG_LEN) => {}
            _ => return None,
        }
        with_decoded(payload, |payload| {
            let index = self
                .macs
                .verify_parts(&[&name_len(name), name.as_bytes(), payload], &tag)?;
            let mut session = parse_payload(payload)?;
            session.rekey = index != 0;
            Some(session)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, Key};
    use time::OffsetDateTime;

    const NAME: &str = "session";

    fn key(byte: u8) -> Key {
        Key::from_bytes(&[byte; 32]).unwrap()
    }

    fn session() -> ClientSession {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut data = Data::new();
        data.insert(
            "user".into(),
            serde_json::json!({"name": "hong", "age": 21}),
        );
        ClientSession {
            data,
            created_at: Some(now - time::Duration::minutes(5)),
            issued_at: now,
            rekey: false,
            expires_at: None,
            expiry: None,
            user: None,
        }
    }

    #[test]
    fn value_shape_is_payload_dot_tag() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let value = codec.encode(NAME, &session()).unwrap();
        let (payload, tag) = value.split_once('.').unwrap();
        assert_eq!(tag.len(), TAG_ENCODED_LEN);
        let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
        assert!(payload.ends_with(br#"{"user":{"name":"hong","age":21}}"#));
    }

    fn sign(codec: &SignedCookie, payload: &[u8]) -> String {
        let tag = codec
            .macs
            .sign_parts(&[&name_len(NAME), NAME.as_bytes(), payload]);
        let tag = URL_SAFE_NO_PAD.encode(tag);
        format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn version_1_values_are_refused() {
        // Version 1: the MAC over the payload alone, the version byte 1.
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let mut payload = Vec::new();
        write_payload(&session(), &mut payload).unwrap();
        payload[0] = 1;
        let old = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(codec.macs.sign(&payload))
        );
        assert!(codec.decode(NAME, &old).is_none());
        // Even signed the new way, version 1 is not read.
        assert!(codec.decode(NAME, &sign(&codec, &payload)).is_none());
        payload[0] = super::super::VERSION;
        assert!(codec.decode(NAME, &sign(&codec, &payload)).is_some());
    }

    #[test]
    fn the_name_is_length_prefixed() {
        // "ab" + payload and "a" + "b" ‖ payload must not share a tag.
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let value = codec.encode("ab", &session()).unwrap();
        assert!(codec.decode("ab", &value).is_some());
        for other in ["a", "abc", "", "AB", "__Host-ab"] {
            assert!(codec.decode(other, &value).is_none(), "{other}");
        }
    }

    #[test]
    fn signature_over_someone_elses_payload_is_refused() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let value = codec.encode(NAME, &session()).unwrap();
        let (_, tag) = value.split_once('.').unwrap();
        let mut forged = session();
        forged.data.insert("admin".into(), true.into());
        let mut payload = Vec::new();
        write_payload(&forged, &mut payload).unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
        assert!(codec.decode(NAME, &forged).is_none());
    }

    #[test]
    fn malformed_payloads_are_refused_even_when_signed() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let mut good = Vec::new();
        write_payload(&session(), &mut good).unwrap();
        assert!(codec.decode(NAME, &sign(&codec, &good)).is_some());
        // The header alone: the payload of the same session without data,
        // less its `{}`.
        let mut header = Vec::new();
        let empty = ClientSession {
            data: Data::new(),
            ..session()
        };
        write_payload(&empty, &mut header).unwrap();
        header.truncate(header.len() - 2);
        let header = &header[..];
        assert!(codec
            .decode(NAME, &sign(&codec, &[header, b"{}"].concat()))
            .is_some());
        for payload in [
            [header, b"[1]"].concat(),
            [header, b"null"].concat(),
            b"[]".to_vec(),
            b"{}".to_vec(),
            Vec::new(),
        ] {
            assert!(codec.decode(NAME, &sign(&codec, &payload)).is_none());
        }
    }
}
