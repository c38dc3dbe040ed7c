//! [`StoreError`]: how a store fails, and what the layer answers then.

/// A store failure.
///
/// [`StoreError::Unavailable`] means the store could not be reached (or
/// timed out) and becomes `503 Service Unavailable`; the others become
/// `500 Internal Server Error`.
///
/// ```
/// use session_core::store::StoreError;
///
/// let err = StoreError::unavailable(std::io::Error::other("connection refused"));
/// assert!(err.to_string().contains("connection refused"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A stored record could not be decoded (corrupt or foreign data).
    #[error("session record is corrupt: {0}")]
    Corrupt(String),
    /// The store was reached but the operation failed (a query or script
    /// error, a refused command, a value the store would not take).
    #[error("session store failed: {0}")]
    Failed(#[source] BoxError),
    /// The store does not offer this operation: it does not advertise the
    /// capability it belongs to ([`SessionStore::capabilities`](super::SessionStore::capabilities)), such as
    /// the [`UserIndex`](super::UserIndex) behind
    /// [`Session::user_sessions`](crate::Session::user_sessions).
    #[error("this session store does not support `{0}`")]
    Unsupported(&'static str),
}

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// Wraps an error as [`StoreError::Unavailable`].
    ///
    /// ```
    /// use session_core::store::StoreError;
    ///
    /// let err = StoreError::unavailable(std::io::Error::other("timed out"));
    /// assert!(matches!(err, StoreError::Unavailable(_)));
    /// ```
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        Self::Unavailable(err.into())
    }

    /// Wraps an error as [`StoreError::Failed`].
    ///
    /// ```
    /// use session_core::store::StoreError;
    ///
    /// let err = StoreError::failed(std::io::Error::other("syntax error"));
    /// assert!(matches!(err, StoreError::Failed(_)));
    /// ```
    pub fn failed(err: impl Into<BoxError>) -> Self {
        Self::Failed(err.into())
    }
}
