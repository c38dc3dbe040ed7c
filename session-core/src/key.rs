//! Secret keys: one [`Key`] signs, a [`Keys`] list verifies (rotation).
//!
//! A key is at least [`Key::MIN_LEN`] bytes of secret material. Shorter keys
//! are refused: a short key can be guessed offline from one signed cookie.
//! Each purpose (signing ids, signing data, encrypting data) uses its own
//! sub-key derived with HKDF-SHA256, so one secret never signs two kinds of
//! message.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;

/// What can go wrong when building a [`Key`].
///
/// ```
/// use session_core::{Key, KeyError};
///
/// assert!(matches!(Key::from_bytes(b"short"), Err(KeyError::TooShort { len: 5, .. })));
/// ```
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key has fewer bytes than [`Key::MIN_LEN`].
    #[error(
        "session key is {len} bytes; at least {min} random bytes are needed \
         (generate one with `Key::generate()` or `openssl rand -hex 32`)"
    )]
    TooShort {
        /// The length that was given.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The text given as hex is not hex. Only its length is kept: the text
    /// is (most of) a secret, so neither the message nor `Debug` quotes any
    /// character of it.
    #[error(
        "session key is not valid hex ({len} bytes of text); expected an even number of \
         hex digits 0-9, a-f (e.g. from `openssl rand -hex 32`)"
    )]
    Hex {
        /// The length of the text, surrounding whitespace removed, in bytes.
        len: usize,
    },
    /// The environment variable is not set (or not Unicode).
    #[error("environment variable {0} is not set; put a hex key there (e.g. from `openssl rand -hex 32`)")]
    MissingEnv(String),
    /// A key list must hold at least one key.
    #[error("a key list needs at least one key")]
    Empty,
}

/// A secret key of at least [`Key::MIN_LEN`] bytes.
///
/// Its `Debug` output never shows the secret.
///
/// ```
/// use session_core::Key;
///
/// let key = Key::generate();
/// let again = Key::from_hex(&key.to_hex())?;
/// assert_eq!(key, again);
/// assert_eq!(format!("{key:?}"), "Key(<redacted>)");
/// # Ok::<(), session_core::KeyError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// The shortest key accepted, in bytes (256 bits).
    pub const MIN_LEN: usize = 32;

    /// Wraps secret bytes; refuses fewer than [`Key::MIN_LEN`].
    ///
    /// ```
    /// use session_core::Key;
    ///
    /// let key = Key::from_bytes(&[7u8; 32])?;
    /// assert!(Key::from_bytes(&[7u8; 31]).is_err());
    /// # let _ = key;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(KeyError::TooShort {
                len: bytes.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Self(bytes.to_vec()))
    }

    /// Parses a hex string (surrounding whitespace is ignored). A text that
    /// is not hex is refused with [`KeyError::Hex`], which gives its length
    /// and never any of its characters.
    ///
    /// ```
    /// use session_core::{Key, KeyError};
    ///
    /// let key = Key::from_hex(&"ab".repeat(32))?;
    /// # let _ = key;
    /// assert_eq!(Key::from_hex("not hex"), Err(KeyError::Hex { len: 7 }));
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        // hex's own error quotes the offending character: drop it.
        let bytes = hex::decode(text).map_err(|_| KeyError::Hex { len: text.len() })?;
        Self::from_bytes(&bytes)
    }

    /// Reads a hex key from the environment variable `name`.
    ///
    /// ```
    /// use session_core::{Key, KeyError};
    ///
    /// let err = Key::from_env("SURELY_NOT_SET_IN_DOCTEST").unwrap_err();
    /// assert!(matches!(err, KeyError::MissingEnv(_)));
    /// ```
    pub fn from_env(name: &str) -> Result<Self, KeyError> {
        let text = std::env::var(name).map_err(|_| KeyError::MissingEnv(name.to_owned()))?;
        Self::from_hex(&text)
    }

    /// A fresh 32-byte key from the operating system's CSPRNG.
    ///
    /// ```
    /// use session_core::Key;
    ///
    /// assert_ne!(Key::generate(), Key::generate());
    /// ```
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; Self::MIN_LEN];
        crate::id::fill_random(&mut bytes);
        Self(bytes)
    }

    /// The key as lowercase hex, e.g. to store it in a secret manager.
    ///
    /// ```
    /// use session_core::Key;
    ///
    /// assert_eq!(Key::generate().to_hex().len(), 64);
    /// ```
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Derives a 32-byte sub-key for one purpose (HKDF-SHA256, `info` = purpose).
    pub(crate) fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        Hkdf::<Sha256>::new(None, &self.0)
            .expand(purpose, &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// An ordered list of keys: the first signs (or encrypts), every one verifies.
///
/// To rotate, put the new key first and keep the old one after it until the
/// longest session has expired: cookies signed with the old key are still
/// accepted, and re-signed with the new one the next time they are sent.
///
/// ```
/// use session_core::{Key, Keys};
///
/// let new = Key::generate();
/// let old = Key::generate();
/// let keys = Keys::new(vec![new.clone(), old])?;
/// assert_eq!(keys.current(), &new);
/// assert_eq!(keys.len(), 2);
/// # Ok::<(), session_core::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys(Vec<Key>);

impl Keys {
    /// A list from keys in priority order; refuses an empty list.
    ///
    /// ```
    /// use session_core::Keys;
    ///
    /// assert!(Keys::new(vec![]).is_err());
    /// ```
    pub fn new(keys: Vec<Key>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(keys))
    }

    /// Reads a comma-separated list of hex keys from the environment
    /// variable `name` (first one signs).
    ///
    /// ```
    /// use session_core::Keys;
    ///
    /// assert!(Keys::from_env("SURELY_NOT_SET_IN_DOCTEST").is_err());
    /// ```
    pub fn from_env(name: &str) -> Result<Self, KeyError> {
        let text = std::env::var(name).map_err(|_| KeyError::MissingEnv(name.to_owned()))?;
        let keys = text
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Key::from_hex)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The key that signs.
    ///
    /// ```
    /// use session_core::{Key, Keys};
    ///
    /// let key = Key::generate();
    /// assert_eq!(Keys::from(key.clone()).current(), &key);
    /// ```
    pub fn current(&self) -> &Key {
        &self.0[0]
    }

    /// Every key, the signing one first.
    ///
    /// ```
    /// use session_core::{Key, Keys};
    ///
    /// assert_eq!(Keys::from(Key::generate()).iter().count(), 1);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.0.iter()
    }

    /// How many keys there are (never zero).
    ///
    /// ```
    /// use session_core::{Key, Keys};
    ///
    /// assert_eq!(Keys::from(Key::generate()).len(), 1);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<Key> for Keys {
    fn from(key: Key) -> Self {
        Self(vec![key])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_by_purpose_and_key() {
        let a = Key::from_bytes(&[1; 32]).unwrap();
        let b = Key::from_bytes(&[2; 32]).unwrap();
        assert_ne!(a.derive(b"x"), a.derive(b"y"));
        assert_ne!(a.derive(b"x"), b.derive(b"x"));
        assert_eq!(a.derive(b"x"), a.derive(b"x"));
    }

    #[test]
    fn bad_hex_is_a_clear_error() {
        assert!(matches!(Key::from_hex("zz"), Err(KeyError::Hex { .. })));
        let msg = Key::from_hex("abcd").unwrap_err().to_string();
        assert!(msg.contains("at least 32"), "{msg}");
    }

    #[test]
    fn bad_hex_error_quotes_no_character_of_the_key() {
        // A real key with one character mistyped, and one of odd length:
        // the error must not echo any part of the secret text.
        let mut text = "ab".repeat(31);
        text.push_str("Qz");
        let odd = "abc".repeat(21);
        for text in [text, odd] {
            let err = Key::from_hex(&text).unwrap_err();
            let msg = err.to_string();
            let debug = format!("{err:?}");
            for shown in [&msg, &debug] {
                assert!(!shown.contains('Q') && !shown.contains('z'), "{shown}");
                assert!(!shown.contains("ab") && !shown.contains("bc"), "{shown}");
                assert!(!shown.contains('\''), "quotes a character: {shown}");
            }
            assert!(msg.contains("not valid hex"), "{msg}");
            assert!(msg.contains(&text.len().to_string()), "{msg}");
        }
    }
}
