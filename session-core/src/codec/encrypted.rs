//! [`EncryptedCookie`]: session data in the cookie, encrypted with AES-256-GCM.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::{encode_error, parse_payload, with_decoded, write_payload, MAX_VALUE_LEN};
use crate::{ClientSession, DataCodec, Keys};

const PURPOSE: &[u8] = b"session-core/v1/encrypted-data";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Session data kept in the cookie, encrypted and authenticated with
/// AES-256-GCM: the browser can neither read nor change it.
///
/// The value is `base64url(nonce ‖ ciphertext ‖ tag)`: a fresh 96-bit nonce
/// from the operating system's CSPRNG for every value, then the encrypted
/// payload (the same binary header and JSON data as
/// [`SignedCookie`](super::SignedCookie)), authenticated together with the
/// cookie's name as associated data: a value sealed for one cookie name
/// does not open under another, even with the same key. Each [`Key`](crate::Key) gives
/// its own AES key for this one purpose (HKDF-SHA256). The first key
/// encrypts; every key is tried to decrypt, and a value only an older key
/// opens comes back with [`ClientSession::rekey`] set, so the layer
/// re-encrypts it with the current key.
///
/// With random nonces, one key should encrypt fewer than 2³² values (the
/// AES-GCM nonce-collision bound); rotate keys long before that.
///
/// ```
/// use session_core::codec::EncryptedCookie;
/// use session_core::{Key, Keys};
/// use session_core::codec::{ClientSession, DataCodec};
/// use session_core::store::Data;
/// use time::OffsetDateTime;
///
/// let codec = EncryptedCookie::new(&Keys::from(Key::generate()));
/// let mut data = Data::new();
/// data.insert("email".into(), "alice@example.com".into());
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
/// let session = ClientSession { data, created_at: Some(now), issued_at: now, rekey: false, expires_at: None, expiry: None, user: None };
///
/// let value = codec.encode("session", &session)?;
/// assert!(!value.contains("alice"));
/// assert_eq!(codec.decode("session", &value), Some(session));
/// assert!(codec.decode("other", &value).is_none());
/// # Ok::<(), session_core::Error>(())
/// ```
#[derive(Clone)]
pub struct EncryptedCookie {
    /// One cipher per key, the encrypting key first.
    ciphers: Vec<Aes256Gcm>,
}

impl fmt::Debug for EncryptedCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedCookie")
            .field("keys", &self.ciphers.len())
            .finish()
    }
}

impl EncryptedCookie {
    /// A codec for these keys: the first encrypts, every one decrypts.
    ///
    /// ```
    /// use session_core::codec::EncryptedCookie;
    /// use session_core::{Key, Keys, SessionLayer};
    ///
    /// let keys = Keys::new(vec![Key::generate(), Key::generate()])?;
    /// let layer = SessionLayer::client_side(EncryptedCookie::new(&keys));
    /// # let _ = layer;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn new(keys: &Keys) -> Self {
        let ciphers = keys
            .iter()
            .map(|key| Aes256Gcm::new(&key.derive(PURPOSE).into()))
            .collect();
        Self { ciphers }
    }
}

/// The associated data of a value for the cookie `name`: this codec's
/// purpose (a constant, so the concatenation is unambiguous), then the name.
fn associated_data(name: &str) -> Vec<u8> {
    [PURPOSE, name.as_bytes()].concat()
}

/// Runs `f` on the associated data of a value for the cookie `name` (see
/// [`associated_data`]), built on the stack for any usual cookie name.
fn with_associated_data<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    let mut stack = [0u8; 128];
    let len = PURPOSE.len() + name.len();
    if len <= stack.len() {
        stack[..PURPOSE.len()].copy_from_slice(PURPOSE);
        stack[PURPOSE.len()..len].copy_from_slice(name.as_bytes());
        f(&stack[..len])
    } else {
        f(&associated_data(name))
    }
}

impl DataCodec for EncryptedCookie {
    fn encode(&self, name: &str, session: &ClientSession) -> Result<String, crate::Error> {
        // One buffer: nonce, then the payload, sealed in place, then the tag.
        let mut raw = Vec::with_capacity(NONCE_LEN + 128);
        raw.resize(NONCE_LEN, 0);
        crate::id::fill_random(&mut raw[..NONCE_LEN]);
        write_payload(session, &mut raw)?;
        let (nonce, plaintext) = raw.split_at_mut(NONCE_LEN);
        let tag = with_associated_data(name, |aad| {
            self.ciphers[0].encrypt_in_place_detached(Nonce::from_slice(nonce), aad, plaintext)
        })
        .map_err(|_| encode_error("AES-GCM refused to encrypt the session"))?;
        raw.extend_from_slice(&tag);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    fn decode(&self, name: &str, value: &str) -> Option<ClientSession> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        // Canonical base64 only (no stray trailing bits): one ciphertext has
        // exactly one accepted spelling.
        with_decoded(value, |raw| {
            if raw.len() < NONCE_LEN + TAG_LEN {
                return None;
            }
            let (nonce, rest) = raw.split_at_mut(NONCE_LEN);
            let (sealed, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
            let (nonce, tag) = (Nonce::from_slice(nonce), Tag::from_slice(tag));
            // A failed attempt checks the tag before touching the buffer,
            // so the next key sees the ciphertext intact.
            let index = with_associated_data(name, |aad| {
                self.ciphers.iter().position(|cipher| {
                    cipher
                        .decrypt_in_place_detached(nonce, aad, sealed, tag)
                        .is_ok()
                })
            })?;
            let mut session = parse_payload(sealed)?;
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

    fn session() -> ClientSession {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let mut data = Data::new();
        data.insert("secret".into(), "hunter2".into());
        ClientSession {
            data,
            created_at: Some(now),
            issued_at: now,
            rekey: false,
            expires_at: None,
            expiry: None,
            user: None,
        }
    }

    #[test]
    fn nonces_differ_and_length_is_exact() {
        let codec = EncryptedCookie::new(&Keys::from(Key::from_bytes(&[3; 32]).unwrap()));
        let a = codec.encode("session", &session()).unwrap();
        let b = codec.encode("session", &session()).unwrap();
        assert_ne!(a, b);
        let mut payload = Vec::new();
        write_payload(&session(), &mut payload).unwrap();
        let json_len = payload.len();
        let raw = URL_SAFE_NO_PAD.decode(&a).unwrap();
        assert_eq!(raw.len(), NONCE_LEN + json_len + TAG_LEN);
        assert_ne!(
            &raw[..NONCE_LEN],
            &URL_SAFE_NO_PAD.decode(&b).unwrap()[..NONCE_LEN]
        );
    }

    #[test]
    fn version_1_values_are_refused() {
        // Version 1: the purpose alone as associated data, version byte 1.
        let codec = EncryptedCookie::new(&Keys::from(Key::from_bytes(&[3; 32]).unwrap()));
        let seal = |aad: &[u8], version: u8| {
            let mut raw = vec![0u8; NONCE_LEN];
            write_payload(&session(), &mut raw).unwrap();
            raw[NONCE_LEN] = version;
            let (nonce, plaintext) = raw.split_at_mut(NONCE_LEN);
            let tag = codec.ciphers[0]
                .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, plaintext)
                .unwrap();
            raw.extend_from_slice(&tag);
            URL_SAFE_NO_PAD.encode(raw)
        };
        assert!(codec.decode("session", &seal(PURPOSE, 1)).is_none());
        let bound = associated_data("session");
        assert!(codec.decode("session", &seal(&bound, 1)).is_none());
        let current = seal(&bound, super::super::VERSION);
        assert!(codec.decode("session", &current).is_some());
        assert!(codec.decode("sessions", &current).is_none());
    }

    #[test]
    fn keys_for_signing_and_encrypting_differ() {
        let key = Key::from_bytes(&[3; 32]).unwrap();
        assert_ne!(
            key.derive(PURPOSE),
            key.derive(b"session-core/v1/signed-data")
        );
    }
}
