//! Session ids: 128 random bits from the operating system's CSPRNG, the
//! digest stores keep of them ([`Id::at_rest`]), and the signed cookie value
//! that carries one, `<id>.<HMAC-SHA256 tag>`.
//!
//! The signed value is the 22-character id, a dot, and 43 characters of
//! URL-safe base64 of HMAC-SHA256 over the raw id bytes, under a sub-key
//! derived from each [`Key`](crate::Key) for this one purpose ([`MacKeys`]:
//! the first key signs, every key verifies in constant time; shared with
//! the signed-data cookie, which has its own purpose).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::Keys;

/// Fills `buf` from the operating system's CSPRNG.
///
/// A machine whose OS cannot give random bytes cannot issue safe sessions at
/// all, so that (practically impossible) failure is a panic with its cause.
pub(crate) fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

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

impl Id {
    /// Length of an id in bytes.
    pub const LEN: usize = 16;
    /// Length of the text form.
    pub const ENCODED_LEN: usize = 22;

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

/// The first 16 bytes of SHA-256 over `label` and `bytes`.
fn digest16(label: &[u8], bytes: &[u8]) -> [u8; Id::LEN] {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(bytes)
        .finalize();
    let mut out = [0u8; Id::LEN];
    out.copy_from_slice(&digest[..Id::LEN]);
    out
}

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
mod tests;
