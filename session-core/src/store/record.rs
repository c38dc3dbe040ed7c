//! What a store keeps: a [`Record`] per session, the [`ChangeSet`] a save
//! writes, the [`KeyValues`] in it, and the time form stores use.

use serde_json::Value;
use smallvec::SmallVec;
use time::OffsetDateTime;

use super::Id;
#[cfg(doc)]
use super::{Encrypted, StoreError, UserIndex};
use crate::Expiry;

/// Data keys starting with this are reserved: [`Encrypted`] keeps the
/// sealed copies of a record's user binding, creation time and expiry
/// policy under them, and
/// [`Session::insert`](crate::Session::insert) refuses them
/// ([`Error::ReservedKey`](crate::Error::ReservedKey)), with or without
/// data keys.
///
/// ```
/// use session_core::store::RESERVED_KEY_PREFIX;
///
/// assert!("@session/user".starts_with(RESERVED_KEY_PREFIX));
/// ```
pub const RESERVED_KEY_PREFIX: &str = "@session/";

/// Whether `key` names a reserved entry ([`RESERVED_KEY_PREFIX`]).
pub(crate) fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_KEY_PREFIX)
}

/// Session data: string keys to JSON values.
pub type Data = serde_json::Map<String, Value>;

/// `at` as Unix time in milliseconds, rounded down (towards the past, also
/// before 1970), the form stores keep times in; saturates at the ends of
/// `i64`.
///
/// ```
/// use session_core::store::unix_millis;
/// use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
///
/// let epoch = OffsetDateTime::UNIX_EPOCH;
/// assert_eq!(unix_millis(epoch + Duration::microseconds(1_999)), 1);
/// assert_eq!(unix_millis(epoch - Duration::nanoseconds(1)), -1);
/// let far = PrimitiveDateTime::MAX.assume_utc();
/// assert_eq!(unix_millis(far), far.unix_timestamp() * 1000 + 999);
/// ```
pub fn unix_millis(at: OffsetDateTime) -> i64 {
    // Whole seconds (floored) and the millisecond within the second: plain
    // `i64` arithmetic, no 128-bit division (this runs on every request).
    at.unix_timestamp()
        .saturating_mul(1000)
        .saturating_add(i64::from(at.millisecond()))
}

/// The time `millis` Unix milliseconds after 1970 (before, if negative),
/// or `None` outside the range an [`OffsetDateTime`] holds: a store reports
/// such a stored value as [`StoreError::Corrupt`].
///
/// ```
/// use session_core::store::{from_unix_millis, unix_millis};
/// use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
///
/// let epoch = OffsetDateTime::UNIX_EPOCH;
/// assert_eq!(from_unix_millis(-1), Some(epoch - Duration::milliseconds(1)));
/// let far = PrimitiveDateTime::MAX.assume_utc();
/// let back = from_unix_millis(unix_millis(far)).unwrap();
/// assert!(back <= far && far - back < Duration::milliseconds(1));
/// assert_eq!(from_unix_millis(i64::MAX), None);
/// assert_eq!(from_unix_millis(i64::MIN), None);
/// ```
pub fn from_unix_millis(millis: i64) -> Option<OffsetDateTime> {
    let seconds = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)).ok()?;
    // Whole seconds have no millisecond part: set it (no date arithmetic).
    let within = u16::try_from(millis.rem_euclid(1000)).ok()?;
    seconds.replace_millisecond(within).ok()
}

/// One stored session.
///
/// ```
/// use session_core::store::{Id, Record};
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::now_utc();
/// let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
/// record.data.insert("user".into(), "alice".into());
/// assert!(!record.is_expired(now));
/// assert!(record.is_expired(now + Duration::hours(1)));
/// ```
///
/// The struct is `#[non_exhaustive]`: stores build one with
/// [`Record::new`] and set the public fields, so a field added later does
/// not break them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The session id (the store's key).
    pub id: Id,
    /// The data.
    pub data: Data,
    /// When the session was created; the absolute timeout counts from here.
    pub created_at: OffsetDateTime,
    /// When the store must stop returning it.
    pub expires_at: OffsetDateTime,
    /// The session's own expiry policy, set with
    /// [`Session::set_expiry`](crate::Session::set_expiry) ("remember me");
    /// `None` follows the layer's configuration. Stores keep it as
    /// [`Expiry::to_stored`] text and read it back with
    /// [`Expiry::from_stored`].
    pub expiry: Option<Expiry>,
    /// The user the session is bound to
    /// ([`Session::set_user`](crate::Session::set_user)), or `None`. Every
    /// store keeps it; a store with a [`UserIndex`] also indexes sessions
    /// by it, in the same write (see [`UserIndex`] for why).
    pub user: Option<String>,
}

impl Record {
    /// An empty record.
    ///
    /// ```
    /// use session_core::store::{Id, Record};
    /// use time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// assert!(Record::new(Id::random(), now, now).data.is_empty());
    /// ```
    pub fn new(id: Id, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            data: Data::new(),
            created_at,
            expires_at,
            expiry: None,
            user: None,
        }
    }

    /// Whether the record is expired at `now` (expiry is exclusive: a record
    /// is gone at its `expires_at`).
    ///
    /// ```
    /// use session_core::store::{Id, Record};
    /// use time::OffsetDateTime;
    ///
    /// let now = OffsetDateTime::now_utc();
    /// assert!(Record::new(Id::random(), now, now).is_expired(now));
    /// ```
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
}

/// What one request changed: keys set, keys removed, and the new expiry.
///
/// A store applies a change set atomically and only to a record that still
/// exists. Two change sets touching different keys of one record must both
/// survive, whatever order they arrive in. The layer never names one key in
/// both lists; a store that receives such a set applies the removals first,
/// then the sets (as [`ChangeSet::apply_to`] does).
///
/// ```
/// use session_core::store::ChangeSet;
/// use time::OffsetDateTime;
///
/// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
/// changes.set.insert("count".into(), 3.into());
/// changes.removed.push("flash".into());
/// assert!(!changes.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChangeSet {
    /// Keys to set, with their new values.
    pub set: KeyValues,
    /// Keys to remove.
    pub removed: Vec<String>,
    /// The record's new expiry.
    pub expires_at: OffsetDateTime,
    /// `Some(policy)` when the request changed the session's expiry policy
    /// ([`Record::expiry`]; `Some(None)` returns it to the layer's
    /// configuration); `None` leaves the stored policy as it is.
    pub expiry: Option<Option<Expiry>>,
    /// `Some(Some(user))` when the request bound the session to `user`,
    /// `Some(None)` when it unbound it ([`Record::user`]); `None` leaves
    /// the binding as it is. The record's `user` changes in the same atomic
    /// step as the rest of the change; the user index follows in an order
    /// that never hides a bound session from
    /// [`UserIndex::delete_user`] (a store that cannot update both
    /// atomically, such as a Redis Cluster, adds to the new user's index
    /// before the record names the user, and treats the record as the
    /// truth when listing).
    pub user: Option<Option<String>>,
    /// True when [`expires_at`](Self::expires_at) is the expiry the store
    /// already holds (the request did not move it, within the layer's
    /// [`with_expiry_precision`](crate::SessionConfig::with_expiry_precision)):
    /// a store may skip rewriting it. Writing it again is also correct.
    pub expiry_kept: bool,
}

impl ChangeSet {
    /// A change set that only moves the expiry.
    ///
    /// ```
    /// use session_core::store::ChangeSet;
    /// use time::OffsetDateTime;
    ///
    /// assert!(ChangeSet::new(OffsetDateTime::now_utc()).is_empty());
    /// ```
    pub fn new(expires_at: OffsetDateTime) -> Self {
        Self {
            set: KeyValues::new(),
            removed: Vec::new(),
            expires_at,
            expiry: None,
            user: None,
            expiry_kept: false,
        }
    }
}

/// The keys a [`ChangeSet`] sets, with their new values, in key order
/// (as a `BTreeMap` iterates), each key once. Two are held without an
/// allocation: most requests change one or two keys.
///
/// ```
/// use session_core::store::KeyValues;
///
/// let mut set = KeyValues::new();
/// set.insert("b".into(), 2.into());
/// set.insert("a".into(), 1.into());
/// assert_eq!(set.insert("b".into(), 3.into()), Some(2.into())); // replaced
/// let pairs: Vec<_> = set.iter().map(|(k, v)| (k.as_str(), v.as_i64())).collect();
/// assert_eq!(pairs, [("a", Some(1)), ("b", Some(3))]);
/// assert_eq!(set.get("a"), Some(&1.into()));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyValues(SmallVec<[(String, Value); 2]>);

/// The iterator of [`KeyValues::iter`]: each key with its value.
pub type KeyValuesIter<'a> = std::iter::Map<
    std::slice::Iter<'a, (String, Value)>,
    fn(&(String, Value)) -> (&String, &Value),
>;

impl KeyValues {
    /// An empty set.
    ///
    /// ```
    /// assert!(session_core::store::KeyValues::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(held, _)| held.as_str().cmp(key))
    }

    /// Sets `key` to `value`; the value it replaces, if any.
    ///
    /// ```
    /// let mut set = session_core::store::KeyValues::new();
    /// assert_eq!(set.insert("n".into(), 1.into()), None);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, value)),
            Err(at) => {
                self.0.insert(at, (key, value));
                None
            }
        }
    }

    /// The value set for `key`.
    ///
    /// ```
    /// let set: session_core::store::KeyValues = [("n".to_owned(), 1.into())].into_iter().collect();
    /// assert_eq!(set.get("n"), Some(&1.into()));
    /// assert_eq!(set.get("m"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|at| &self.0[at].1)
    }

    /// Whether `key` is set.
    ///
    /// ```
    /// let set: session_core::store::KeyValues = [("n".to_owned(), 1.into())].into_iter().collect();
    /// assert!(set.contains_key("n"));
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// How many keys are set.
    ///
    /// ```
    /// assert_eq!(session_core::store::KeyValues::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is set.
    ///
    /// ```
    /// assert!(session_core::store::KeyValues::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each key with its value, in key order.
    ///
    /// ```
    /// let set: session_core::store::KeyValues =
    ///     [("b".to_owned(), 2.into()), ("a".to_owned(), 1.into())].into_iter().collect();
    /// assert_eq!(set.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn iter(&self) -> KeyValuesIter<'_> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    /// The keys, in order.
    ///
    /// ```
    /// let set: session_core::store::KeyValues = [("a".to_owned(), 1.into())].into_iter().collect();
    /// assert_eq!(set.keys().collect::<Vec<_>>(), ["a"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(key, _)| key)
    }
}

impl<'a> IntoIterator for &'a KeyValues {
    type Item = (&'a String, &'a Value);
    type IntoIter = KeyValuesIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for KeyValues {
    type Item = (String, Value);
    type IntoIter = smallvec::IntoIter<[(String, Value); 2]>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Later pairs replace earlier ones with the same key.
impl FromIterator<(String, Value)> for KeyValues {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        let mut set = Self::new();
        for (key, value) in pairs {
            set.insert(key, value);
        }
        set
    }
}
