//! [`SignedCookie`]: session data in the cookie, readable, signed with HMAC-SHA256.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{parse_payload, payload_json, MAX_VALUE_LEN};
use crate::{ClientSession, DataCodec, Keys};

type HmacSha256 = Hmac<Sha256>;

const PURPOSE: &[u8] = b"session-core/v1/signed-data";
const TAG_LEN: usize = 32;
const TAG_ENCODED_LEN: usize = 43;

/// Session data kept in the cookie as signed JSON: the browser (and anyone
/// who sees the cookie) can read it, nobody without a key can change it.
///
/// The value is `base64url(payload) "." base64url(tag)`, where the payload is
/// `{"d":<data>,"i":<issued at>,"c":<created at>}` (Unix seconds) and the
/// tag is HMAC-SHA256 over the encoded payload, under a sub-key derived
/// from each [`Key`](crate::Key) for this one purpose. The first key signs;
/// every key verifies (in constant time), and a value verified by an older
/// key comes back with [`ClientSession::rekey`] set, so the layer re-signs
/// it with the current key.
///
/// Put nothing secret in a signed cookie; use [`EncryptedCookie`](super::EncryptedCookie)
/// for that.
///
/// ```
/// use session_core::codec::SignedCookie;
/// use session_core::{ClientSession, Data, DataCodec, Key, Keys};
/// use time::OffsetDateTime;
///
/// let codec = SignedCookie::new(&Keys::from(Key::generate()));
/// let mut data = Data::new();
/// data.insert("user_count".into(), 1.into());
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let session = ClientSession { data, created_at: Some(now), issued_at: now, rekey: false };
///
/// let value = codec.encode(&session)?;
/// assert_eq!(codec.decode(&value), Some(session));
/// assert!(codec.decode(&value.replace('.', "x")).is_none());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SignedCookie {
    /// Pre-keyed MAC states, the signing key first.
    macs: Vec<HmacSha256>,
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
        let macs = keys
            .iter()
            .map(|key| {
                HmacSha256::new_from_slice(&key.derive(PURPOSE))
                    .expect("HMAC-SHA256 accepts any key length")
            })
            .collect();
        Self { macs }
    }
}

impl DataCodec for SignedCookie {
    fn encode(&self, session: &ClientSession) -> Result<String, crate::Error> {
        let json = payload_json(session)?;
        let mut out = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.macs[0].clone();
        mac.update(out.as_bytes());
        let tag = mac.finalize().into_bytes();
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        Ok(out)
    }

    fn decode(&self, value: &str) -> Option<ClientSession> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let (payload, tag_text) = value.split_once('.')?;
        if tag_text.len() != TAG_ENCODED_LEN {
            return None;
        }
        // The base64 engine refuses non-canonical text (stray trailing
        // bits), so one tag has exactly one accepted spelling.
        let mut tag = [0u8; TAG_LEN];
        match URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag) {
            Ok(TAG_LEN) => {}
            _ => return None,
        }
        let index = self.macs.iter().position(|mac| {
            let mut mac = mac.clone();
            mac.update(payload.as_bytes());
            mac.verify_slice(&tag).is_ok()
        })?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let mut session = parse_payload(&json)?;
        session.rekey = index != 0;
        Some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Data, Key};
    use time::OffsetDateTime;

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
        }
    }

    #[test]
    fn value_shape_is_payload_dot_tag() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let value = codec.encode(&session()).unwrap();
        let (payload, tag) = value.split_once('.').unwrap();
        assert_eq!(tag.len(), TAG_ENCODED_LEN);
        let json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        assert_eq!(
            json,
            br#"{"d":{"user":{"name":"hong","age":21}},"i":1700000000,"c":1699999700}"#
        );
    }

    #[test]
    fn signature_over_someone_elses_payload_is_refused() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        let value = codec.encode(&session()).unwrap();
        let (_, tag) = value.split_once('.').unwrap();
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(br#"{"d":{"admin":true},"i":1}"#)
        );
        assert!(codec.decode(&forged).is_none());
    }

    #[test]
    fn non_object_data_is_refused_even_when_signed() {
        let codec = SignedCookie::new(&Keys::from(key(1)));
        for json in [
            &br#"{"d":[1],"i":1}"#[..],
            br#"{"d":null,"i":1}"#,
            b"[]",
            b"1",
        ] {
            let payload = URL_SAFE_NO_PAD.encode(json);
            let mut mac = codec.macs[0].clone();
            mac.update(payload.as_bytes());
            let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            assert!(codec.decode(&format!("{payload}.{tag}")).is_none());
        }
    }
}
