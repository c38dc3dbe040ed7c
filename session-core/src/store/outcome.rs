//! What a write found: [`Created`], [`Saved`], [`Cycled`].

/// The outcome of [`SessionStore::create`](super::SessionStore::create).
///
/// ```
/// use session_core::store::Created;
///
/// assert_ne!(Created::Inserted, Created::IdTaken);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// The record was stored.
    Inserted,
    /// A live record already has this id; nothing was written. The layer
    /// draws a new id and tries again.
    IdTaken,
}

/// The outcome of [`SessionStore::save`](super::SessionStore::save) and [`SessionStore::touch`](super::SessionStore::touch).
///
/// ```
/// use session_core::store::Saved;
///
/// assert_ne!(Saved::Applied, Saved::Gone);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// The change was applied.
    Applied,
    /// The record no longer exists (deleted, or expired): nothing was
    /// written, and the session must not come back.
    Gone,
}

/// The outcome of a cycle: [`CycleStore::cycle`](super::CycleStore::cycle), [`cycle`](super::cycle) or
/// [`cycle_in_steps`](super::cycle_in_steps).
///
/// ```
/// use session_core::store::Cycled;
///
/// assert_ne!(Cycled::Moved, Cycled::Gone);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cycled {
    /// The new record is stored and the old one is gone.
    Moved,
    /// A live record already has the new id; nothing was written. The
    /// layer draws another id and tries again.
    IdTaken,
    /// The old record no longer exists (another request ended the
    /// session): nothing was written, and the session must not come back.
    Gone,
}
