//! What no request of a live session runs: drawing and printing ids, the
//! handle shown to users, and signing (a cookie is signed only when it is
//! sent).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Mac;
use sha2::{Digest, Sha256};

use super::{digest16, HmacSha256, Id, MacKeys, SignedId, PURPOSE, TAG_LEN};
use crate::Keys;

/// Fills `buf` from the operating system's CSPRNG.
///
/// A machine whose OS cannot give random bytes cannot issue safe sessions at
/// all, so that (practically impossible) failure is a panic with its cause.
pub(crate) fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

impl Id {
    /// A fresh random id.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// assert_ne!(Id::random(), Id::random());
    /// ```
    pub fn random() -> Self {
        let mut bytes = [0u8; Self::LEN];
        fill_random(&mut bytes);
        Self(bytes)
    }

    /// An id from raw bytes (tests, or stores that keep ids as binary).
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let id = Id::from_bytes([0; 16]);
    /// assert_eq!(id.as_bytes(), &[0; 16]);
    /// ```
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The 22-character URL-safe base64 text, for store keys.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// assert_eq!(Id::from_bytes([0; 16]).encode(), "AAAAAAAAAAAAAAAAAAAAAA");
    /// ```
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Appends the text form to `out` without allocating a new string.
    pub(crate) fn encode_into(&self, out: &mut String) {
        URL_SAFE_NO_PAD.encode_string(self.0, out);
    }

    /// A short, one-way digest of the id (8 hex digits of SHA-256) for logs:
    /// enough to correlate events, useless to hijack a session.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let id = Id::random();
    /// assert_eq!(id.short_hash().len(), 8);
    /// assert_eq!(id.short_hash(), id.short_hash());
    /// ```
    pub fn short_hash(&self) -> String {
        let digest = Sha256::digest(self.0);
        hex::encode(&digest[..4])
    }

    /// A name for the session this stored id belongs to that is safe to
    /// show users (16 characters of URL-safe base64 of a further digest);
    /// [`UserSession::handle`](crate::store::UserSession::handle).
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let stored = Id::random().at_rest();
    /// assert_eq!(stored.handle().len(), 16);
    /// ```
    pub fn handle(&self) -> String {
        URL_SAFE_NO_PAD.encode(&digest16(b"session handle v1\0", &self.0)[..12])
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id(#{})", self.short_hash())
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.short_hash())
    }
}

impl MacKeys {
    /// One state per key, keyed with that key's sub-key for `purpose`.
    pub(crate) fn new(keys: &Keys, purpose: &[u8]) -> Self {
        Self(
            keys.iter()
                .map(|key| {
                    HmacSha256::new_from_slice(&key.derive(purpose))
                        .expect("HMAC-SHA256 accepts any key length")
                })
                .collect(),
        )
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The tag of `message` under the current key.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; TAG_LEN] {
        self.sign_parts(&[message])
    }

    /// The tag of the concatenation of `parts` under the current key (the
    /// caller makes the concatenation unambiguous).
    pub(crate) fn sign_parts(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut mac = self.0[0].clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SignedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedId")
            .field("keys", &self.macs.len())
            .finish()
    }
}

impl SignedId {
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
}
