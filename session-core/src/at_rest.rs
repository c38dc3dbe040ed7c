//! [`Encrypted`]: a store wrapper that keeps session data encrypted at
//! rest and authenticates what a record says about its session.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;
use time::OffsetDateTime;

use crate::store::{
    async_trait, is_reserved, unix_millis, user_index, Capabilities, ChangeSet, Created,
    CycleStore, Cycled, Data, ExpiredCleanup, Id, LeaseStore, Record, Saved, SessionLease,
    SessionStore, StoreError, UserIndex, UserSession, RESERVED_KEY_PREFIX,
};
use crate::{Expiry, Keys};

const PURPOSE: &[u8] = b"session-core/v1/data-at-rest";
const KEY_ID_PURPOSE: &[u8] = b"session-core/v1/data-at-rest/key-id";
const PREFIX: &str = "enc1:";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_ID_HEX: usize = 8;

/// Bytes kept on the stack while sealing or opening one value (nonce,
/// JSON, tag): what most session values fit in. Larger ones use the heap.
type Bytes = SmallVec<[u8; 256]>;

/// The reserved entries, each holding one sealed field of the record.
const USER: &str = "@session/user";
const CREATED: &str = "@session/created";
const POLICY: &str = "@session/policy";

/// A [`SessionStore`] that encrypts every session value before it reaches
/// the store it wraps, and verifies everything it reads back.
///
/// It works around any store, this workspace's or your own: every method
/// is forwarded, values are sealed on [`create`](SessionStore::create),
/// [`save`](SessionStore::save) and [`cycle`](CycleStore::cycle) and
/// opened on [`load`](SessionStore::load). It advertises exactly the
/// [capabilities](SessionStore::capabilities) of the store it wraps.
/// [`SessionLayer::with_data_keys`](crate::SessionLayer::with_data_keys)
/// wraps the layer's store in it; wrap the store yourself for the
/// options below.
///
/// ```
/// use session_core::store::Encrypted;
/// use session_core::{Key, Keys, SessionLayer};
/// use session_store_memory::MemoryStore;
///
/// // In production: Keys::from_env("SESSION_DATA_KEYS")?, keys of their own
/// // (not the cookie-signing keys).
/// let data_keys = Keys::from(Key::generate());
/// let store = Encrypted::new(MemoryStore::new(), data_keys);
/// let layer = SessionLayer::new(store, Key::generate());
/// # let _ = layer;
/// ```
///
/// # What is sealed, and how
///
/// Each value is sealed on its own with AES-256-GCM under a key derived
/// (HKDF-SHA256) from the first data key, with a fresh random 96-bit nonce,
/// so a save still writes only the keys a request changed. The associated
/// data is the record's stored id and the value's key name: a value copied
/// into another session, or under another key, does not open. A sealed
/// value is the JSON string `enc1:`, 8 hex digits naming the data key that
/// sealed it, `:`, then URL-safe base64 of nonce, ciphertext and tag.
/// Key names, times and the user binding stay readable: stores need them
/// (expiry, the user index).
///
/// **Metadata is authenticated too.** A record also holds sealed copies of
/// its user binding, its creation time (to the millisecond) and its expiry
/// policy, as the reserved entries `@session/user`, `@session/created` and
/// `@session/policy` ([`RESERVED_KEY_PREFIX`]), each sealed on its own:
/// `create` and `cycle` write all three, a `save` writes the user or
/// policy copy only when its change set names that field. On load, each
/// copy must open and equal the record's readable field, so a store
/// writer cannot bind a session to another user (nor unbind it), make it
/// younger than it is (the absolute timeout counts from its creation), or
/// give it another expiry policy. The reserved entries never reach the
/// application. The expiry time itself is not authenticated: a store
/// writer can end a session early or keep it alive past its idle timeout
/// (the absolute timeout, checked against the authenticated creation time,
/// still ends it).
///
/// # What a load refuses
///
/// A record is refused when a value does not open (a tampered value, one
/// moved from another session or key, one sealed under a data key no longer
/// in the list), when a reserved entry is missing or does not match its
/// field, or when a value is not sealed at all. A refused record is
/// reported as absent (`Ok(None)`) with a `tracing` event at `WARN` naming
/// the session's stored short hash ([`Id::short_hash`]) and the reason
/// (never a value). Through the layer, the application sees no session:
/// an empty [`Session`](crate::Session) with no user and no id, and the
/// browser's cookie is removed (or, if the handler writes, replaced by a
/// fresh session's), never a `500`. The refused record stays in the store
/// until it expires: putting a removed key back makes it load again.
///
/// [`list_user`](UserIndex::list_user) reports only sessions that load:
/// it loads each session the wrapped store lists (one `load` per session,
/// one after another; listing is rare, and a user has few sessions), so a
/// session forged into a user's list is not shown.
/// [`delete_user`](UserIndex::delete_user) and
/// [`end_user_session`](UserIndex::end_user_session) are forwarded as
/// they are: ending a forged session ends nothing that was trusted.
///
/// # Unsealed values: strict by default
///
/// By default a value that is not sealed is refused (a store writer could
/// otherwise write `role: "admin"` in clear), and so is a record without
/// its reserved entries. [`allow_unsealed`](Self::allow_unsealed) is the
/// opt-out for turning encryption on over a store that already holds
/// sessions: plain values and missing reserved entries are then accepted
/// (entries that are present must still match, and sealed values must
/// still open). New sessions are sealed whole from the start, and older
/// sessions' values as they are written; switch back to strict once the
/// sessions created before the data keys have ended (any still alive are
/// then refused once: their users are logged out, nothing fails).
///
/// # No freshness
///
/// Nothing binds a sealed value to a point in time: someone who can write
/// to the store can put back an older sealed value of the same key of the
/// same session, or an older copy of a whole record (say, one from before
/// a logout that only removed keys, or before a rebind of the user under
/// the same id). Rollback by a store writer is out of scope. A logout with
/// [`Session::destroy`](crate::Session::destroy) deletes the record, and
/// [`Session::cycle_id`](crate::Session::cycle_id) moves the session to a
/// new stored id, under which no older value opens: call it at login and
/// at every privilege change.
///
/// # Keys, rotation and the nonce bound
///
/// The first key seals; every key of the list opens what it sealed, so a
/// new key goes first and the old one stays until no session holds a value
/// sealed under it. A key removed too early makes those sessions refused,
/// as above.
///
/// With random 96-bit nonces, one key may seal at most 2<sup>32</sup>
/// values (NIST SP 800-38D) before nonce collisions become a real risk.
/// Every value written counts: a counter request that saves seals one, a
/// new session seals its values plus the three reserved entries. At 1,000
/// sealed values per second that is about 50 days; count your writes and
/// put a new key first well before. A new first key starts a new count;
/// keys after the first only open, so they seal nothing more.
///
/// # What the wrapped store must do
///
/// Keep every field of a record as the store contract says: the user
/// binding, the expiry policy and the creation time to the millisecond (the
/// conformance suite checks it), and data keys of any text (the reserved
/// names are printable ASCII: `@`, letters and `/`). A store that drops
/// one of them makes every session that has it refused.
#[derive(Clone)]
pub struct Encrypted<S> {
    store: S,
    keys: Vec<DataKey>,
    /// Plain values and records without their reserved entries are
    /// refused ([`Encrypted::allow_unsealed`] turns this off).
    strict: bool,
}

#[derive(Clone)]
struct DataKey {
    /// Hex of 4 bytes derived from the key: names the key in sealed values
    /// without revealing it.
    name: String,
    cipher: Aes256Gcm,
}

impl<S: fmt::Debug> fmt::Debug for Encrypted<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encrypted")
            .field("store", &self.store)
            .field("data_keys", &self.keys.len())
            .field("strict", &self.strict)
            .finish()
    }
}

/// Why a loaded record was refused (logged; never a value).
#[derive(Debug)]
enum Refusal {
    NotSealed(String),
    UnknownKey { key: String, name: String },
    DoesNotOpen(String),
    Missing(&'static str),
    Differs(&'static str),
    UnknownReserved(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotSealed(key) => write!(f, "the value of {key:?} is not sealed"),
            Refusal::UnknownKey { key, name } => write!(
                f,
                "the value of {key:?} was sealed under data key {name}, which is no longer configured"
            ),
            Refusal::DoesNotOpen(key) => write!(
                f,
                "the value of {key:?} does not open (tampered, or moved from another session or key)"
            ),
            Refusal::Missing(field) => write!(f, "the sealed copy of the {field} is missing"),
            Refusal::Differs(field) => {
                write!(f, "the {field} differs from its sealed copy")
            }
            Refusal::UnknownReserved(key) => write!(f, "unknown reserved entry {key:?}"),
        }
    }
}

/// Runs `f` on what a sealed value is bound to: the purpose, the
/// session's stored id and the value's key name (assembled on the stack
/// for key names up to 83 bytes).
fn with_associated_data<R>(id: &Id, key: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const ID_AT: usize = PURPOSE.len() + 1;
    const KEY_AT: usize = ID_AT + Id::LEN;
    let mut stack = [0u8; 128];
    let end = KEY_AT + key.len();
    match stack.get_mut(..end) {
        Some(aad) => {
            aad[..PURPOSE.len()].copy_from_slice(PURPOSE);
            aad[ID_AT..KEY_AT].copy_from_slice(id.as_bytes());
            aad[KEY_AT..].copy_from_slice(key.as_bytes());
            f(aad)
        }
        None => f(&[PURPOSE, &[0], id.as_bytes(), key.as_bytes()].concat()),
    }
}

/// The sealed copies hold these, as JSON: the user (or `null`), the
/// creation time in Unix milliseconds, the policy's
/// [`Expiry::to_stored`] text (or `null`).
fn created_millis(created_at: OffsetDateTime) -> i64 {
    unix_millis(created_at)
}

fn policy_text(expiry: Option<Expiry>) -> Option<String> {
    expiry.map(|expiry| expiry.to_stored())
}

/// Whether the JSON `plaintext` is `readable`: compared as the bytes
/// sealing writes, and as JSON values when those differ (a copy sealed
/// by another serializer).
fn holds(plaintext: &[u8], readable: &impl Serialize) -> bool {
    let mut expected = Bytes::new();
    if serde_json::to_writer(&mut expected, readable).is_err() {
        return false;
    }
    if expected[..] == *plaintext {
        return true;
    }
    match (
        serde_json::from_slice::<Value>(plaintext),
        serde_json::to_value(readable),
    ) {
        (Ok(sealed), Ok(readable)) => sealed == readable,
        _ => false,
    }
}

fn reserved_error(key: &str) -> StoreError {
    StoreError::failed(std::io::Error::other(format!(
        "the data key {key:?} is reserved for the sealed metadata of encrypted sessions \
         (keys starting with {RESERVED_KEY_PREFIX:?})"
    )))
}

impl<S> Encrypted<S> {
    /// `store`, with every value sealed under the first of `keys` and
    /// opened with any of them; unsealed values refused.
    ///
    /// ```
    /// use session_core::store::Encrypted;
    /// use session_core::{Key, Keys};
    /// use session_store_memory::MemoryStore;
    ///
    /// // The new key first; the old one still opens what it sealed.
    /// let keys = Keys::new(vec![Key::generate(), Key::generate()])?;
    /// let store = Encrypted::new(MemoryStore::new(), keys);
    /// # let _ = store;
    /// # Ok::<(), session_core::KeyError>(())
    /// ```
    pub fn new(store: S, keys: impl Into<Keys>) -> Self {
        let keys = keys
            .into()
            .iter()
            .map(|key| DataKey {
                name: hex::encode(&key.derive(KEY_ID_PURPOSE)[..KEY_ID_HEX / 2]),
                cipher: Aes256Gcm::new(&key.derive(PURPOSE).into()),
            })
            .collect();
        Self {
            store,
            keys,
            strict: true,
        }
    }

    /// Accepts values that are not sealed and records without the sealed
    /// copies of their user, creation time and expiry policy: the opt-out
    /// for turning encryption on over a store that already holds sessions
    /// (see [migration](Self#unsealed-values-strict-by-default)). Anyone
    /// who can write to the store can then add plain values and rebind
    /// sessions that lack the copies; switch back once the older sessions
    /// have ended.
    ///
    /// ```
    /// use session_core::store::Encrypted;
    /// use session_core::{Key, SessionLayer};
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = Encrypted::new(MemoryStore::new(), Key::generate()).allow_unsealed();
    /// let layer = SessionLayer::new(store, Key::generate());
    /// # let _ = layer;
    /// ```
    pub fn allow_unsealed(mut self) -> Self {
        self.strict = false;
        self
    }

    /// The wrapped store.
    ///
    /// ```
    /// use session_core::store::Encrypted;
    /// use session_core::Key;
    /// use session_store_memory::MemoryStore;
    ///
    /// let store = Encrypted::new(MemoryStore::new(), Key::generate());
    /// assert!(store.inner().is_empty());
    /// ```
    pub fn inner(&self) -> &S {
        &self.store
    }

    /// `value`, stored under `key` of the session stored as `id`, sealed
    /// with the first key.
    fn seal(&self, id: &Id, key: &str, value: &impl Serialize) -> Result<Value, StoreError> {
        let current = &self.keys[0];
        // nonce ‖ JSON, the JSON encrypted in place, then the tag.
        let mut bytes = Bytes::new();
        bytes.resize(NONCE_LEN, 0);
        crate::id::fill_random(&mut bytes);
        serde_json::to_writer(&mut bytes, value).map_err(StoreError::failed)?;
        let (nonce, plaintext) = bytes.split_at_mut(NONCE_LEN);
        let tag = with_associated_data(id, key, |aad| {
            current
                .cipher
                .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, plaintext)
        })
        .map_err(|_| {
            StoreError::failed(std::io::Error::other(
                "AES-GCM refused to seal a session value",
            ))
        })?;
        bytes.extend_from_slice(&tag);
        let mut text =
            String::with_capacity(PREFIX.len() + KEY_ID_HEX + 1 + bytes.len().div_ceil(3) * 4);
        text.push_str(PREFIX);
        text.push_str(&current.name);
        text.push(':');
        URL_SAFE_NO_PAD.encode_string(&bytes, &mut text);
        Ok(Value::String(text))
    }

    /// Opens the value sealed under `key` of the session stored as `id`
    /// into `bytes` and returns its JSON.
    fn open_into<'b>(
        &self,
        id: &Id,
        key: &str,
        value: &Value,
        bytes: &'b mut Bytes,
    ) -> Result<&'b [u8], Refusal> {
        let rest = match value {
            Value::String(text) => text.strip_prefix(PREFIX),
            _ => None,
        }
        .ok_or_else(|| Refusal::NotSealed(key.to_owned()))?;
        let does_not_open = || Refusal::DoesNotOpen(key.to_owned());
        let (name, body) = rest
            .split_at_checked(KEY_ID_HEX)
            .ok_or_else(does_not_open)?;
        let body = body.strip_prefix(':').ok_or_else(does_not_open)?;
        let data_key =
            self.keys
                .iter()
                .find(|k| k.name == name)
                .ok_or_else(|| Refusal::UnknownKey {
                    key: key.to_owned(),
                    name: name.to_owned(),
                })?;
        bytes.resize(base64::decoded_len_estimate(body.len()), 0);
        let len = URL_SAFE_NO_PAD
            .decode_slice(body, bytes)
            .map_err(|_| does_not_open())?;
        bytes.truncate(len);
        if len < NONCE_LEN + TAG_LEN {
            return Err(does_not_open());
        }
        let (nonce, rest) = bytes.split_at_mut(NONCE_LEN);
        let (sealed, tag) = rest.split_at_mut(len - NONCE_LEN - TAG_LEN);
        with_associated_data(id, key, |aad| {
            data_key.cipher.decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                aad,
                sealed,
                Tag::from_slice(tag),
            )
        })
        .map_err(|_| does_not_open())?;
        Ok(&bytes[NONCE_LEN..len - TAG_LEN])
    }

    /// The value sealed under `key` of the session stored as `id`, opened.
    #[cfg(test)]
    fn open(&self, id: &Id, key: &str, value: &Value) -> Result<Value, Refusal> {
        let mut bytes = Bytes::new();
        let plaintext = self.open_into(id, key, value, &mut bytes)?;
        serde_json::from_slice(plaintext).map_err(|_| Refusal::DoesNotOpen(key.to_owned()))
    }

    /// `record` as the wrapped store keeps it: every value sealed, and the
    /// sealed copies of its user, creation time and policy added.
    fn seal_record(&self, record: &Record) -> Result<Record, StoreError> {
        let id = &record.id;
        let mut data = Data::with_capacity(record.data.len() + 3);
        for (key, value) in &record.data {
            if is_reserved(key) {
                return Err(reserved_error(key));
            }
            data.insert(key.clone(), self.seal(id, key, value)?);
        }
        let user = record.user.as_deref();
        data.insert(USER.to_owned(), self.seal(id, USER, &user)?);
        let created = created_millis(record.created_at);
        data.insert(CREATED.to_owned(), self.seal(id, CREATED, &created)?);
        let policy = policy_text(record.expiry);
        data.insert(POLICY.to_owned(), self.seal(id, POLICY, &policy)?);
        // Every field named, so that a field added to `Record` is a
        // compile error here rather than silently dropped.
        Ok(Record {
            id: *id,
            data,
            created_at: record.created_at,
            expires_at: record.expires_at,
            expiry: record.expiry,
            user: record.user.clone(),
        })
    }

    /// `changes` as the wrapped store applies them: set values sealed, and
    /// the sealed copy of the user or policy when the change names it.
    fn seal_changes(&self, id: &Id, changes: &ChangeSet) -> Result<ChangeSet, StoreError> {
        if let Some(key) = changes.removed.iter().find(|key| is_reserved(key)) {
            return Err(reserved_error(key));
        }
        let mut set = crate::store::KeyValues::new();
        for (key, value) in &changes.set {
            if is_reserved(key) {
                return Err(reserved_error(key));
            }
            set.insert(key.clone(), self.seal(id, key, value)?);
        }
        if let Some(user) = &changes.user {
            set.insert(USER.to_owned(), self.seal(id, USER, &user.as_deref())?);
        }
        if let Some(expiry) = changes.expiry {
            set.insert(
                POLICY.to_owned(),
                self.seal(id, POLICY, &policy_text(expiry))?,
            );
        }
        Ok(ChangeSet {
            set,
            removed: changes.removed.clone(),
            expires_at: changes.expires_at,
            expiry: changes.expiry,
            user: changes.user.clone(),
            expiry_kept: changes.expiry_kept,
        })
    }

    /// Opens every value of a loaded record in place, checks the sealed
    /// copies of its fields and takes them out of the data.
    fn open_record(&self, record: &mut Record) -> Result<(), Refusal> {
        let id = record.id;
        let (mut user, mut created, mut policy) = (false, false, false);
        let mut bytes = Bytes::new();
        for (key, value) in record.data.iter_mut() {
            if is_reserved(key) {
                let plaintext = self.open_into(&id, key, value, &mut bytes)?;
                let (seen, field, matches) = match key.as_str() {
                    USER => (&mut user, "user binding", holds(plaintext, &record.user)),
                    CREATED => (
                        &mut created,
                        "creation time",
                        holds(plaintext, &created_millis(record.created_at)),
                    ),
                    POLICY => (
                        &mut policy,
                        "expiry policy",
                        holds(plaintext, &policy_text(record.expiry)),
                    ),
                    _ => return Err(Refusal::UnknownReserved(key.clone())),
                };
                if !matches {
                    return Err(Refusal::Differs(field));
                }
                *seen = true;
                continue;
            }
            match self.open_into(&id, key, value, &mut bytes) {
                Ok(plaintext) => {
                    *value = serde_json::from_slice(plaintext)
                        .map_err(|_| Refusal::DoesNotOpen(key.clone()))?;
                }
                // Written before the data keys were set (accepted only
                // when asked for).
                Err(Refusal::NotSealed(_)) if !self.strict => {}
                Err(refusal) => return Err(refusal),
            }
        }
        if self.strict {
            for (seen, field) in [
                (user, "user binding"),
                (created, "creation time"),
                (policy, "expiry policy"),
            ] {
                if !seen {
                    return Err(Refusal::Missing(field));
                }
            }
        }
        if user || created || policy {
            record.data.retain(|key, _| !is_reserved(key));
        }
        Ok(())
    }
}

impl<S: SessionStore> Encrypted<S> {
    /// Loads `id` from the wrapped store and opens it; a record that does
    /// not verify is logged and reported as absent.
    async fn load_verified(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        let record = self.store.load(id).await?;
        self.verified(id, record)
    }

    /// `record` opened and checked, or no session (with a `WARN`) when it
    /// does not verify.
    fn verified(&self, id: &Id, record: Option<Record>) -> Result<Option<Record>, StoreError> {
        let Some(mut record) = record else {
            return Ok(None);
        };
        match self.open_record(&mut record) {
            Ok(()) => Ok(Some(record)),
            Err(reason) => {
                tracing::warn!(
                    session = %id,
                    %reason,
                    "a stored session failed verification with the data keys; treated as no session"
                );
                Ok(None)
            }
        }
    }
}

impl<S: SessionStore> SessionStore for Encrypted<S> {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.load_verified(id).await
    }

    /// The wrapped store's answer at once, opened and checked.
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        let record = self.store.load_now(id)?;
        Some(record.and_then(|record| self.verified(id, record)))
    }

    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        self.store.create(&self.seal_record(record)?).await
    }

    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        self.store.save(id, &self.seal_changes(id, changes)?).await
    }

    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        self.store.touch(id, expires_at).await
    }

    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.store.delete(id).await
    }

    /// Exactly the capabilities of the wrapped store, each forwarded
    /// (sealing what it writes, verifying what it lists).
    fn capabilities(&self) -> Capabilities<'_> {
        let inner = self.store.capabilities();
        let mut capabilities = Capabilities::none();
        capabilities.cycle = inner.cycle.map(|_| self as &dyn CycleStore);
        capabilities.users = inner.users.map(|_| self as &dyn UserIndex);
        capabilities.leases = inner.leases.map(|_| self as &dyn LeaseStore);
        capabilities.cleanup = inner.cleanup.map(|_| self as &dyn ExpiredCleanup);
        capabilities
    }

    /// The wrapped store's kind: sealing changes what it holds, not where.
    fn kind(&self) -> &'static str {
        self.store.kind()
    }
}

/// Seals `record` and moves the session with the wrapped store's own
/// cycling ([`cycle`](crate::store::cycle): its [`CycleStore`], or steps).
#[async_trait]
impl<S: SessionStore> CycleStore for Encrypted<S> {
    async fn cycle(&self, old: &Id, record: &Record) -> Result<Cycled, StoreError> {
        crate::store::cycle(&self.store, old, &self.seal_record(record)?).await
    }
}

/// Lists only sessions that load and verify; ends sessions as the wrapped
/// store does. [`StoreError::Unsupported`] when the wrapped store has no
/// [`UserIndex`] (it is then not advertised either).
#[async_trait]
impl<S: SessionStore> UserIndex for Encrypted<S> {
    async fn list_user(&self, user: &str) -> Result<Vec<UserSession>, StoreError> {
        let listed = user_index(&self.store, "list_user")?
            .list_user(user)
            .await?;
        let mut verified = Vec::with_capacity(listed.len());
        for session in listed {
            if let Some(record) = self.load_verified(&session.id).await? {
                if record.user.as_deref() == Some(user) {
                    verified.push(session);
                }
            }
        }
        Ok(verified)
    }

    async fn delete_user(&self, user: &str, keep: Option<&Id>) -> Result<u64, StoreError> {
        user_index(&self.store, "delete_user")?
            .delete_user(user, keep)
            .await
    }

    async fn end_user_session(&self, user: &str, id: &Id) -> Result<bool, StoreError> {
        user_index(&self.store, "end_user_session")?
            .end_user_session(user, id)
            .await
    }
}

/// The wrapped store's lease; [`StoreError::Unsupported`] when it has no
/// [`LeaseStore`] (it is then not advertised either).
#[async_trait]
impl<S: SessionStore> LeaseStore for Encrypted<S> {
    async fn lock(&self, id: &Id) -> Result<Box<dyn SessionLease>, StoreError> {
        let leases = self
            .store
            .capabilities()
            .leases
            .ok_or(StoreError::Unsupported("lock"))?;
        leases.lock(id).await
    }
}

/// The wrapped store's cleanup; [`StoreError::Unsupported`] when it has no
/// [`ExpiredCleanup`] (it is then not advertised either).
#[async_trait]
impl<S: SessionStore> ExpiredCleanup for Encrypted<S> {
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let cleanup = self
            .store
            .capabilities()
            .cleanup
            .ok_or(StoreError::Unsupported("delete_expired"))?;
        cleanup.delete_expired().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;
    use serde_json::json;

    fn encrypted(bytes: &[u8]) -> Encrypted<()> {
        let keys: Vec<Key> = bytes
            .iter()
            .map(|b| Key::from_bytes(&[*b; 32]).unwrap())
            .collect();
        Encrypted::new((), Keys::new(keys).unwrap())
    }

    #[test]
    fn values_round_trip_and_hide_their_text() {
        let at_rest = encrypted(&[1]);
        let id = Id::random();
        let value = json!({"email": "aaa@aaa.com", "age": 21});
        let sealed = at_rest.seal(&id, "profile", &value).unwrap();
        assert!(!sealed.to_string().contains("aaa@aaa.com"));
        assert!(sealed.as_str().unwrap().starts_with("enc1:"));
        assert_eq!(at_rest.open(&id, "profile", &sealed).unwrap(), value);
    }

    #[test]
    fn large_values_and_long_key_names_round_trip() {
        let at_rest = encrypted(&[1]);
        let id = Id::random();
        let key = "k".repeat(300);
        let value = json!({"blob": "x".repeat(10_000), "list": vec![7u32; 500]});
        let sealed = at_rest.seal(&id, &key, &value).unwrap();
        assert_eq!(at_rest.open(&id, &key, &sealed).unwrap(), value);
        assert!(matches!(
            at_rest.open(&id, &key[1..], &sealed),
            Err(Refusal::DoesNotOpen(_))
        ));
    }

    /// The format is the one earlier versions wrote (`Aead::encrypt` of
    /// the JSON, nonce ‖ ciphertext ‖ tag, the associated data one
    /// concatenation): their values still open, for key names whose
    /// associated data is built on the stack and on the heap.
    #[test]
    fn values_sealed_by_earlier_versions_open() {
        use aes_gcm::aead::{Aead, Payload};
        let at_rest = encrypted(&[1]);
        let id = Id::random();
        let key = Key::from_bytes(&[1; 32]).unwrap();
        let cipher = Aes256Gcm::new(&key.derive(PURPOSE).into());
        for len in [0, 4, 82, 83, 84, 300] {
            let name = "c".repeat(len);
            let nonce = [9u8; NONCE_LEN];
            let aad = [PURPOSE, &[0], id.as_bytes(), name.as_bytes()].concat();
            let sealed = cipher
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: br#"["apple","pear"]"#,
                        aad: &aad,
                    },
                )
                .unwrap();
            let text = format!(
                "enc1:{}:{}",
                at_rest.keys[0].name,
                URL_SAFE_NO_PAD.encode([&nonce[..], &sealed].concat())
            );
            let opened = at_rest.open(&id, &name, &json!(text)).unwrap();
            assert_eq!(opened, json!(["apple", "pear"]), "key name of {len} bytes");
        }
    }

    #[test]
    fn copies_compare_as_json_whatever_their_bytes() {
        assert!(holds(br#""alice""#, &Some("alice")));
        assert!(holds(br#""\u0061lice""#, &Some("alice")));
        assert!(holds(b" null ", &None::<&str>));
        assert!(holds(b"1700000000000", &1_700_000_000_000i64));
        assert!(!holds(br#""alice""#, &Some("mallory")));
        assert!(!holds(b"null", &Some("alice")));
        assert!(!holds(b"1700000000001", &1_700_000_000_000i64));
        assert!(!holds(b"not json", &None::<&str>));
    }

    #[test]
    fn nonces_are_fresh() {
        let at_rest = encrypted(&[1]);
        let id = Id::random();
        let a = at_rest.seal(&id, "k", &json!(1)).unwrap();
        let b = at_rest.seal(&id, "k", &json!(1)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn rotation_opens_with_old_keys_and_names_unknown_ones() {
        let old = encrypted(&[1]);
        let rotated = encrypted(&[2, 1]);
        let id = Id::random();
        let sealed = old.seal(&id, "k", &json!([1, 2])).unwrap();
        assert_eq!(rotated.open(&id, "k", &sealed).unwrap(), json!([1, 2]));
        let new = rotated.seal(&id, "k", &json!([1, 2])).unwrap();
        assert!(matches!(
            old.open(&id, "k", &new),
            Err(Refusal::UnknownKey { .. })
        ));
    }

    #[test]
    fn garbage_does_not_open() {
        let at_rest = encrypted(&[1]);
        let id = Id::random();
        let name = &at_rest.keys[0].name;
        for garbage in [
            "enc1:".to_owned(),
            "enc1:0000".to_owned(),
            format!("enc1:{name}"),
            format!("enc1:{name}:"),
            format!("enc1:{name}:!!"),
            format!("enc1:{name}:AAAA"),
            format!("enc1:{name}x{}", "A".repeat(60)),
        ] {
            let refusal = at_rest.open(&id, "k", &json!(garbage)).unwrap_err();
            assert!(
                matches!(refusal, Refusal::DoesNotOpen(_)),
                "{garbage}: {refusal}"
            );
        }
        for plain in [json!(3), json!("hong"), json!(null), json!({"a": 1})] {
            assert!(matches!(
                at_rest.open(&id, "k", &plain),
                Err(Refusal::NotSealed(_))
            ));
        }
    }
}
