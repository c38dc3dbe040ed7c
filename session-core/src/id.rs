//! Session ids: 128 random bits from the operating system's CSPRNG.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_wrong_lengths_and_alphabet() {
        assert!("".parse::<Id>().is_err());
        assert!("A".repeat(21).parse::<Id>().is_err());
        assert!("A".repeat(23).parse::<Id>().is_err());
        assert!(format!("{}+", "A".repeat(21)).parse::<Id>().is_err());
        // 22 chars whose last symbol carries non-zero padding bits
        assert!(format!("{}B", "A".repeat(21)).parse::<Id>().is_err());
    }
}
