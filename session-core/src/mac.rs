//! HMAC-SHA256 under a key list: one pre-keyed state per key, the first
//! signs, every key verifies in constant time. Shared by the signed-id and
//! signed-data cookies, each with its own purpose (sub-key).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Keys;

type HmacSha256 = Hmac<Sha256>;

/// Length of a tag in bytes.
pub(crate) const TAG_LEN: usize = 32;
/// Length of a tag as unpadded base64.
pub(crate) const TAG_ENCODED_LEN: usize = 43;

/// Pre-keyed HMAC-SHA256 states, the signing key first.
#[derive(Clone)]
pub(crate) struct MacKeys(Vec<HmacSha256>);

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

    /// The index of the key whose tag `tag` is, if any (each comparison in
    /// constant time).
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> Option<usize> {
        self.verify_parts(&[message], tag)
    }

    /// [`verify`](Self::verify) over the concatenation of `parts`.
    pub(crate) fn verify_parts(&self, parts: &[&[u8]], tag: &[u8]) -> Option<usize> {
        self.0.iter().position(|mac| {
            let mut mac = mac.clone();
            for part in parts {
                mac.update(part);
            }
            mac.verify_slice(tag).is_ok()
        })
    }
}
