//! Session ids: 128 random bits from the operating system's CSPRNG, the
//! digest stores keep of them ([`Id::at_rest`]), and the signed cookie value
//! that carries one, `<id>.<HMAC-SHA256 tag>`.
//!
//! The signed value is the 22-character id, a dot, and 43 characters of
//! URL-safe base64 of HMAC-SHA256 over the raw id bytes, under a sub-key
//! derived from each [`Key`](crate::Key) for this one purpose ([`MacKeys`]:
//! the first key signs, every key verifies in constant time; shared with
//! the signed-data cookie, which has its own purpose).

use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A session id: 16 bytes (128 bits) from the OS CSPRNG.
///
/// Its text form is 22 characters of URL-safe base64. `Debug` and `Display`
/// never show the id itself (ids are bearer secrets): they show
/// [`Id::short_hash`], enough to correlate log lines. Use [`Id::encode`] for
/// the real text, e.g. as a store key.
///
/// ```
/// use session_core::Id;
///
/// let id = Id::random();
/// let text = id.encode();
/// assert_eq!(text.len(), 22);
/// assert_eq!(text.parse::<Id>()?, id);
/// assert!(!format!("{id:?}").contains(&text));
/// # Ok::<(), session_core::store::ParseIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; Id::LEN]);

impl Id {
    /// Length of an id in bytes.
    pub const LEN: usize = 16;
    /// Length of the text form.
    pub const ENCODED_LEN: usize = 22;

    /// The raw bytes.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// assert_eq!(Id::random().as_bytes().len(), 16);
    /// ```
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// The id stores keep in place of this cookie id: the first 16 bytes of
    /// SHA-256 over a fixed label and the id. The layer hands stores only
    /// this form, so a dump of a store holds no id that a cookie could
    /// carry, even for someone who also holds the signing key. It is not
    /// keyed: rotating keys does not move sessions.
    ///
    /// ```
    /// use session_core::Id;
    ///
    /// let cookie_id = Id::random();
    /// let stored = cookie_id.at_rest();
    /// assert_ne!(stored, cookie_id);
    /// assert_eq!(stored, cookie_id.at_rest()); // the same every time
    /// ```
    pub fn at_rest(&self) -> Id {
        Self(digest16(b"session-id at rest v1\0", &self.0))
    }
}

/// The first 16 bytes of SHA-256 over `label` and `bytes`.
pub(super) fn digest16(label: &[u8], bytes: &[u8]) -> [u8; Id::LEN] {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(bytes)
        .finalize();
    let mut out = [0u8; Id::LEN];
    out.copy_from_slice(&digest[..Id::LEN]);
    out
}

type HmacSha256 = Hmac<Sha256>;

/// Length of a tag in bytes.
pub(crate) const TAG_LEN: usize = 32;
/// Length of a tag as unpadded base64.
pub(crate) const TAG_ENCODED_LEN: usize = 43;

/// Pre-keyed HMAC-SHA256 states, the signing key first.
#[derive(Clone)]
pub(crate) struct MacKeys(Vec<HmacSha256>);

impl MacKeys {
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

pub(super) const PURPOSE: &[u8] = b"session-core/v1/signed-session-id";

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

impl SignedId {
    /// Length of a signed value: 22 + 1 + 43 characters.
    pub const ENCODED_LEN: usize = Id::ENCODED_LEN + 1 + TAG_ENCODED_LEN;

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

mod more;

/// The text was not a session id.
///
/// ```
/// use session_core::Id;
///
/// assert!("not an id".parse::<Id>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a session id (expected 22 characters of URL-safe base64)")]
pub struct ParseIdError;

impl FromStr for Id {
    type Err = ParseIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != Self::ENCODED_LEN {
            return Err(ParseIdError);
        }
        let mut bytes = [0u8; Self::LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(Self::LEN) => Ok(Self(bytes)),
            _ => Err(ParseIdError),
        }
    }
}

pub(crate) use more::fill_random;

#[cfg(test)]
mod tests;
