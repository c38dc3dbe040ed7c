//! Helpers for a store applying a [`ChangeSet`] to data it holds.

use super::{ChangeSet, Data};

impl ChangeSet {
    /// True when no key is set or removed, and the expiry policy and the
    /// user binding are kept.
    ///
    /// ```
    /// use session_core::store::ChangeSet;
    /// use time::OffsetDateTime;
    ///
    /// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
    /// changes.removed.push("k".into());
    /// assert!(!changes.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.removed.is_empty()
            && self.expiry.is_none()
            && self.user.is_none()
    }

    /// Applies the change set to `data` in place (for stores that keep the
    /// whole map, such as the memory store).
    ///
    /// ```
    /// use session_core::store::{ChangeSet, Data};
    /// use time::OffsetDateTime;
    ///
    /// let mut data = Data::new();
    /// data.insert("a".into(), 1.into());
    /// let mut changes = ChangeSet::new(OffsetDateTime::now_utc());
    /// changes.set.insert("b".into(), 2.into());
    /// changes.removed.push("a".into());
    /// changes.apply_to(&mut data);
    /// assert_eq!(data.len(), 1);
    /// assert_eq!(data["b"], 2);
    /// ```
    pub fn apply_to(&self, data: &mut Data) {
        for key in &self.removed {
            // Keep the order of the other keys, as the session does.
            data.shift_remove(key);
        }
        for (key, value) in &self.set {
            data.insert(key.clone(), value.clone());
        }
    }
}
