//! The signed session-id cookie value: `<id>.<HMAC-SHA256 tag>`.
//!
//! The value is the 22-character id, a dot, and 43 characters of URL-safe
//! base64 of HMAC-SHA256 over the raw id bytes, under a sub-key derived from
//! each [`Key`](crate::Key) for this one purpose. Verification tries every
//! key in constant time per key.

use crate::mac::{MacKeys, TAG_ENCODED_LEN, TAG_LEN};
use crate::{Id, Keys};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const PURPOSE: &[u8] = b"session-core/v1/signed-session-id";

/// Signs and verifies session ids with a key list.
///
/// The first key signs; every key verifies. A value that verifies under an
/// older key reports it through [`VerifiedId::needs_resign`] so the layer can
/// send it again signed with the current key.
///
/// ```
/// use session_core::{Id, Key, Keys};
/// use session_core::__private::SignedId;
///
/// let old = SignedId::new(&Keys::from(Key::generate()));
/// let id = Id::random();
/// let value = old.sign(&id);
/// assert_eq!(value.len(), SignedId::ENCODED_LEN);
/// assert_eq!(old.verify(&value).map(|v| v.id), Some(id));
/// assert!(old.verify(&value.replace('.', ",")).is_none());
/// ```
#[derive(Clone)]
pub struct SignedId {
    macs: MacKeys,
}

/// The result of a successful [`SignedId::verify`].
///
/// ```
/// use session_core::{Id, Key, Keys};
/// use session_core::__private::SignedId;
///
/// let codec = SignedId::new(&Keys::from(Key::generate()));
/// let verified = codec.verify(&codec.sign(&Id::random())).unwrap();
/// assert!(!verified.needs_resign);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedId {
    /// The id the value carried.
    pub id: Id,
    /// True when a key other than the current one verified it.
    pub needs_resign: bool,
}

impl std::fmt::Debug for SignedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedId")
            .field("keys", &self.macs.len())
            .finish()
    }
}

impl SignedId {
    /// Length of a signed value: 22 + 1 + 43 characters.
    pub const ENCODED_LEN: usize = Id::ENCODED_LEN + 1 + TAG_ENCODED_LEN;

    /// A codec for these keys.
    ///
    /// ```
    /// use session_core::{Key, Keys};
    /// use session_core::__private::SignedId;
    ///
    /// let codec = SignedId::new(&Keys::from(Key::generate()));
    /// # let _ = codec;
    /// ```
    pub fn new(keys: &Keys) -> Self {
        Self {
            macs: MacKeys::new(keys, PURPOSE),
        }
    }

    /// The cookie value for `id`, signed with the current key.
    ///
    /// ```
    /// use session_core::{Id, Key, Keys};
    /// use session_core::__private::SignedId;
    ///
    /// let codec = SignedId::new(&Keys::from(Key::generate()));
    /// let value = codec.sign(&Id::from_bytes([0; 16]));
    /// assert!(value.starts_with("AAAAAAAAAAAAAAAAAAAAAA."));
    /// ```
    pub fn sign(&self, id: &Id) -> String {
        let tag = self.macs.sign(id.as_bytes());
        let mut out = String::with_capacity(Self::ENCODED_LEN);
        id.encode_into(&mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Checks a cookie value; `None` for anything that is not a value this
    /// key list signed (wrong length, bad base64, wrong tag).
    ///
    /// ```
    /// use session_core::{Id, Key, Keys};
    /// use session_core::__private::SignedId;
    ///
    /// let (new, old) = (Key::generate(), Key::generate());
    /// let before = SignedId::new(&Keys::from(old.clone()));
    /// let after = SignedId::new(&Keys::new(vec![new, old])?);
    /// let value = before.sign(&Id::random());
    /// assert!(after.verify(&value).unwrap().needs_resign);
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn verify(&self, value: &str) -> Option<VerifiedId> {
        // Only ASCII can be a signed value; checking it first also keeps
        // `split_at` on a character boundary.
        if value.len() != Self::ENCODED_LEN || !value.is_ascii() {
            return None;
        }
        let (id_text, rest) = value.split_at(Id::ENCODED_LEN);
        let tag_text = rest.strip_prefix('.')?;
        let id: Id = id_text.parse().ok()?;
        let mut tag = [0u8; TAG_LEN];
        match URL_SAFE_NO_PAD.decode_slice(tag_text, &mut tag) {
            Ok(TAG_LEN) => {}
            _ => return None,
        }
        let index = self.macs.verify(id.as_bytes(), &tag)?;
        Some(VerifiedId {
            id,
            needs_resign: index != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    fn codec() -> SignedId {
        SignedId::new(&Keys::from(Key::from_bytes(&[9; 32]).unwrap()))
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let codec = codec();
        let value = codec.sign(&Id::random());
        assert!(codec.verify(&value).is_some());
        let bytes = value.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'B', b'_', b'-', b'.', b'z'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert!(codec.verify(&changed).is_none(), "accepted {changed}");
            }
        }
    }

    #[test]
    fn wrong_key_and_truncation_rejected() {
        let value = codec().sign(&Id::random());
        let other = SignedId::new(&Keys::from(Key::from_bytes(&[8; 32]).unwrap()));
        assert!(other.verify(&value).is_none());
        assert!(codec().verify(&value[..value.len() - 1]).is_none());
        assert!(codec().verify("").is_none());
        assert!(codec().verify(&"é".repeat(33)).is_none());
        // Found by the fuzzer: a multi-byte character across byte 22.
        let straddling = format!("{}é{}", "a".repeat(21), "a".repeat(43));
        assert_eq!(straddling.len(), SignedId::ENCODED_LEN);
        assert!(codec().verify(&straddling).is_none());
    }
}
