//! Session data encrypted at rest: what server-side stores hold when the
//! layer has data keys ([`SessionLayer::with_data_keys`](crate::SessionLayer::with_data_keys)).
//!
//! Each value is sealed on its own with AES-256-GCM (a fresh random nonce
//! per value), so change-set saves still write only the keys a request
//! changed. The associated data binds a sealed value to the session's
//! stored id and to its key name: a value copied into another session, or
//! under another key, does not open. Key names stay readable.
//!
//! A sealed value is a JSON string: `enc1:`, 8 hex digits naming the data
//! key that sealed it, `:`, then URL-safe base64 of nonce, ciphertext and
//! tag. The first data key seals; every key opens (rotation).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::store::{Data, Id, StoreError};
use crate::Keys;

const PURPOSE: &[u8] = b"session-core/v1/data-at-rest";
const KEY_ID_PURPOSE: &[u8] = b"session-core/v1/data-at-rest/key-id";
const PREFIX: &str = "enc1:";
const NONCE_LEN: usize = 12;
const KEY_ID_HEX: usize = 8;

/// The data keys of a layer: seals with the first, opens with any.
#[derive(Clone)]
pub(crate) struct DataCipher {
    keys: Vec<DataKey>,
}

#[derive(Clone)]
struct DataKey {
    /// Hex of 4 bytes derived from the key: names the key in sealed values
    /// without revealing it.
    name: String,
    cipher: Aes256Gcm,
}

impl fmt::Debug for DataCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataCipher")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// What a sealed value is bound to: the session's stored id and its key.
fn associated_data(id: &Id, key: &str) -> Vec<u8> {
    [PURPOSE, &[0], id.as_bytes(), key.as_bytes()].concat()
}

impl DataCipher {
    pub(crate) fn new(keys: &Keys) -> Self {
        let keys = keys
            .iter()
            .map(|key| DataKey {
                name: hex::encode(&key.derive(KEY_ID_PURPOSE)[..KEY_ID_HEX / 2]),
                cipher: Aes256Gcm::new(&key.derive(PURPOSE).into()),
            })
            .collect();
        Self { keys }
    }

    /// `value`, stored under `key` of the session stored as `id`, sealed.
    pub(crate) fn seal(&self, id: &Id, key: &str, value: &Value) -> Result<Value, crate::Error> {
        let current = &self.keys[0];
        let plaintext = serde_json::to_vec(value)?;
        let mut nonce = [0u8; NONCE_LEN];
        crate::id::fill_random(&mut nonce);
        let aad = associated_data(id, key);
        let sealed = current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                crate::Error::Store(StoreError::failed(std::io::Error::other(
                    "AES-GCM refused to seal a session value",
                )))
            })?;
        let mut text = String::with_capacity(
            PREFIX.len() + KEY_ID_HEX + 1 + (NONCE_LEN + sealed.len()).div_ceil(3) * 4,
        );
        text.push_str(PREFIX);
        text.push_str(&current.name);
        text.push(':');
        URL_SAFE_NO_PAD.encode_string([&nonce[..], &sealed].concat(), &mut text);
        Ok(Value::String(text))
    }

    /// Seals every value of `data` for the session stored as `id`.
    pub(crate) fn seal_all<'a>(
        &self,
        id: &Id,
        data: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<Vec<(String, Value)>, crate::Error> {
        data.into_iter()
            .map(|(key, value)| Ok((key.clone(), self.seal(id, key, value)?)))
            .collect()
    }

    /// Opens every sealed value of `data` (loaded for the session stored
    /// as `id`) in place. A value that is not sealed at all was written
    /// before the keys were configured and is taken as it is (it is sealed
    /// when next written); one that is sealed but does not open is
    /// [`StoreError::Corrupt`], naming the session's short hash.
    pub(crate) fn open_all(&self, id: &Id, data: &mut Data) -> Result<(), StoreError> {
        for (key, value) in data.iter_mut() {
            let Value::String(text) = value else { continue };
            let Some(rest) = text.strip_prefix(PREFIX) else {
                continue;
            };
            let opened = self.open(id, key, rest).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a value of session #{} does not decrypt with the configured data keys \
                     (a wrong or removed key, or a value moved from another session or key)",
                    id.short_hash()
                ))
            })?;
            *value = opened;
        }
        Ok(())
    }

    fn open(&self, id: &Id, key: &str, rest: &str) -> Option<Value> {
        let (name, body) = rest.split_at_checked(KEY_ID_HEX)?;
        let body = body.strip_prefix(':')?;
        let data_key = self.keys.iter().find(|k| k.name == name)?;
        let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
        let (nonce, sealed) = raw.split_at_checked(NONCE_LEN)?;
        let aad = associated_data(id, key);
        let plaintext = data_key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?;
        serde_json::from_slice(&plaintext).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;
    use serde_json::json;

    fn cipher(bytes: &[u8]) -> DataCipher {
        let keys: Vec<Key> = bytes
            .iter()
            .map(|b| Key::from_bytes(&[*b; 32]).unwrap())
            .collect();
        DataCipher::new(&Keys::new(keys).unwrap())
    }

    fn sealed_data(cipher: &DataCipher, id: &Id, key: &str, value: Value) -> Data {
        let mut data = Data::new();
        data.insert(key.into(), cipher.seal(id, key, &value).unwrap());
        data
    }

    #[test]
    fn values_round_trip_and_hide_their_text() {
        let cipher = cipher(&[1]);
        let id = Id::random();
        let value = json!({"email": "aaa@aaa.com", "age": 21});
        let mut data = sealed_data(&cipher, &id, "profile", value.clone());
        assert!(!data["profile"].to_string().contains("aaa@aaa.com"));
        assert!(data["profile"].as_str().unwrap().starts_with("enc1:"));
        cipher.open_all(&id, &mut data).unwrap();
        assert_eq!(data["profile"], value);
    }

    #[test]
    fn nonces_are_fresh() {
        let cipher = cipher(&[1]);
        let id = Id::random();
        let a = cipher.seal(&id, "k", &json!(1)).unwrap();
        let b = cipher.seal(&id, "k", &json!(1)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_value_moved_to_another_session_or_key_does_not_open() {
        let cipher = cipher(&[1]);
        let (id, other) = (Id::random(), Id::random());
        let mut data = sealed_data(&cipher, &id, "role", json!("user"));
        assert!(matches!(
            cipher.open_all(&other, &mut data.clone()),
            Err(StoreError::Corrupt(_))
        ));
        let moved = data.shift_remove("role").unwrap();
        data.insert("admin".into(), moved);
        let err = cipher.open_all(&id, &mut data).unwrap_err();
        assert!(err.to_string().contains(&id.short_hash()), "{err}");
    }

    #[test]
    fn rotation_opens_with_old_keys_and_refuses_unknown_ones() {
        let old = cipher(&[1]);
        let rotated = cipher(&[2, 1]);
        let id = Id::random();
        let mut data = sealed_data(&old, &id, "k", json!([1, 2]));
        rotated.open_all(&id, &mut data.clone()).unwrap();
        let new = sealed_data(&rotated, &id, "k", json!([1, 2]));
        assert!(old.open_all(&id, &mut new.clone()).is_err());
        cipher(&[3]).open_all(&id, &mut data).unwrap_err();
    }

    #[test]
    fn plain_values_from_before_encryption_pass_and_garbage_is_corrupt() {
        let cipher = cipher(&[1]);
        let id = Id::random();
        let mut data = Data::new();
        data.insert("count".into(), json!(3));
        data.insert("name".into(), json!("hong"));
        cipher.open_all(&id, &mut data).unwrap();
        assert_eq!(data["count"], 3);
        for garbage in [
            "enc1:",
            "enc1:0000",
            "enc1:zzzzzzzz:AAAA",
            "enc1:00000000:!!",
        ] {
            let mut data = Data::new();
            data.insert("k".into(), json!(garbage));
            assert!(matches!(
                cipher.open_all(&id, &mut data),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
