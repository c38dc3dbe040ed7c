//! The one error type of this crate.

use std::fmt;

use http::StatusCode;

use crate::StoreError;

/// What can go wrong while using a session.
///
/// Under the `axum` feature it implements `IntoResponse`, so handlers can
/// use `?`: [`Error::status`] picks the status code.
///
/// ```
/// use session_core::Error;
/// use http::StatusCode;
///
/// let err = Error::TooLarge { size: 5000, limit: 4096 };
/// assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(err.to_string().contains("server-side store"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed (or could not be reached).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be converted to or from JSON.
    ///
    /// Its message (`Display`) and its `Debug` say what kind of mismatch it
    /// was and where, never the value: serde_json's own text quotes it
    /// (`invalid type: string "…"`), and session values can be secrets
    /// that must not reach an error log. For the same reason the serde_json
    /// error is not its [`source`](std::error::Error::source) (reports such
    /// as anyhow's print the whole chain); match the variant to read it on
    /// purpose.
    ///
    /// ```
    /// use session_core::Error;
    ///
    /// let json = serde_json::from_value::<u64>(serde_json::json!("hunter2")).unwrap_err();
    /// let err = Error::from(json);
    /// assert!(!err.to_string().contains("hunter2"));
    /// assert!(!format!("{err:?}").contains("hunter2"));
    /// assert!(std::error::Error::source(&err).is_none());
    /// ```
    #[error("session value is not valid for this type ({})", json_summary(.0))]
    Json(serde_json::Error),
    /// The session would make a cookie larger than browsers keep.
    #[error(
        "the session cookie would be {size} bytes (name + value), over the {limit}-byte limit \
         browsers keep; store less in the session or use a server-side store \
         (memory, Redis or SQL), where the cookie holds only the id"
    )]
    TooLarge {
        /// The size the cookie would have had.
        size: usize,
        /// The limit ([`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE)).
        limit: usize,
    },
    /// The session layer has not been added to this service.
    #[error(
        "no session in the request extensions: add `SessionLayer` to the router or service \
         (e.g. `Router::new().route(..).layer(session_layer)`) before handlers take `Session`"
    )]
    MissingLayer,
    /// The session's cookie value holds a character a cookie cannot carry
    /// (RFC 6265 allows visible ASCII but `"`, `,`, `;` and `\`): a custom
    /// [`DataCodec`](crate::codec::DataCodec) produced it. The cookie is not
    /// sent; the value is not quoted here.
    #[error(
        "the session codec produced a cookie value with a character cookies cannot carry \
         (only visible ASCII except `\"`, `,`, `;` and `\\`); the cookie was not sent"
    )]
    InvalidCookieValue,
    /// [`Session::set_user`](crate::Session::set_user) got an empty user
    /// name or one longer than [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes.
    #[error("a session's user must be 1 to 255 bytes long, not {len}")]
    InvalidUser {
        /// The length given, in bytes.
        len: usize,
    },
    /// A handler wrote a data key the session keeps for itself:
    /// names starting with [`RESERVED_KEY_PREFIX`](crate::store::RESERVED_KEY_PREFIX)
    /// (`@session/`), under which encrypted stores keep a session's sealed
    /// metadata (refused whether or not data keys are set), and the keys
    /// the session's cookie format reserves
    /// ([`DataCodec::reserves_key`](crate::codec::DataCodec::reserves_key):
    /// [`StarletteCookie`](crate::StarletteCookie) carries the user binding
    /// as [`_session_user`](crate::codec::STARLETTE_USER_KEY), so writing it
    /// would bind the session to a user without
    /// [`Session::set_user`](crate::Session::set_user)), and the keys the
    /// session keeps for its own features: `@flash`, its flash messages
    /// ([`Session::flash`](crate::Session::flash)), and `@csrf`, its CSRF
    /// secret ([`Session::csrf_token`](crate::Session::csrf_token)).
    /// Nothing is written.
    ///
    /// ```
    /// use session_core::Error;
    ///
    /// let err = Error::ReservedKey { key: "@session/user".into() };
    /// assert!(err.to_string().contains("@session/user"));
    /// let err = Error::ReservedKey { key: "@flash".into() };
    /// assert!(err.to_string().contains("Session::flash"));
    /// let err = Error::ReservedKey { key: "_session_user".into() };
    /// assert!(err.to_string().contains("set_user"));
    /// let err = Error::ReservedKey { key: "@csrf".into() };
    /// assert!(err.to_string().contains("CSRF secret"));
    /// ```
    #[error("the session key {key:?} is reserved: {}", reserved_because(key))]
    ReservedKey {
        /// The refused key name.
        key: String,
    },
    /// The store could not create a session under a fresh id after several tries.
    #[error("the store reported every freshly drawn session id as taken; is the store broken?")]
    IdExhausted,
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::Json(err)
    }
}

/// What kind of JSON failure `err` is, in words that hold none of the data.
fn json_kind(err: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => "the stored value has another type or shape",
        Category::Syntax => "malformed JSON",
        Category::Eof => "truncated JSON",
        Category::Io => "an I/O error",
    }
}

/// What went wrong in a JSON conversion, without any of the data.
/// Why a key is reserved ([`Error::ReservedKey`]).
fn reserved_because(key: &str) -> &'static str {
    if key.starts_with(crate::store::RESERVED_KEY_PREFIX) {
        "names starting with \"@session/\" hold the sealed metadata of encrypted sessions; \
         choose another name"
    } else if crate::session::is_internal(key) {
        "the session keeps its own data under it (\"@flash\": the flash messages of \
         `Session::flash`; \"@csrf\": the CSRF secret of `Session::csrf_token`); \
         choose another name"
    } else {
        "the session cookie's format keeps it for itself (Starlette's carries the user binding \
         under `_session_user`); bind a user with `Session::set_user`"
    }
}

fn json_summary(err: &serde_json::Error) -> String {
    let kind = json_kind(err);
    // Conversions from an in-memory value have no position (line 0).
    if err.line() == 0 {
        kind.to_owned()
    } else {
        format!("{kind} at line {}, column {}", err.line(), err.column())
    }
}

/// Written by hand so that no variant prints a session value: `Json`
/// shows the kind of failure and its position, not serde_json's text.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Store(err) => f.debug_tuple("Store").field(err).finish(),
            Error::Json(err) => f
                .debug_struct("Json")
                .field("kind", &json_kind(err))
                .field("line", &err.line())
                .field("column", &err.column())
                .finish(),
            Error::TooLarge { size, limit } => f
                .debug_struct("TooLarge")
                .field("size", size)
                .field("limit", limit)
                .finish(),
            Error::MissingLayer => f.write_str("MissingLayer"),
            Error::InvalidCookieValue => f.write_str("InvalidCookieValue"),
            Error::InvalidUser { len } => f.debug_struct("InvalidUser").field("len", len).finish(),
            Error::IdExhausted => f.write_str("IdExhausted"),
            Error::ReservedKey { key } => f.debug_struct("ReservedKey").field("key", key).finish(),
        }
    }
}

impl Error {
    /// The HTTP status this error becomes: `503` when the store is
    /// unreachable, `501` for an operation the store does not offer,
    /// `500` otherwise.
    ///
    /// ```
    /// use session_core::Error;
    /// use session_core::store::StoreError;
    /// use http::StatusCode;
    ///
    /// let err = Error::from(StoreError::unavailable(std::io::Error::other("down")));
    /// assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Store(StoreError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Unsupported(_)) => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A message fit to show the client: the full text where it helps the
    /// developer and reveals nothing (an oversized session, a missing
    /// layer), a generic one for store failures (whose details belong in
    /// the logs).
    ///
    /// ```
    /// use session_core::Error;
    /// use session_core::store::StoreError;
    ///
    /// let err = Error::from(StoreError::failed(std::io::Error::other("password=hunter2")));
    /// assert!(!err.public_message().contains("hunter2"));
    /// let err = Error::TooLarge { size: 5000, limit: 4096 };
    /// assert!(err.public_message().contains("5000"));
    /// ```
    pub fn public_message(&self) -> String {
        match self {
            Error::TooLarge { .. }
            | Error::MissingLayer
            | Error::InvalidUser { .. }
            | Error::ReservedKey { .. }
            | Error::Store(StoreError::Unsupported(_)) => self.to_string(),
            Error::Store(StoreError::Unavailable(_)) => "session store unavailable".to_owned(),
            _ => "session error".to_owned(),
        }
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Error {
    fn into_response(self) -> axum_core::response::Response {
        tracing::error!(error = %self, "session error");
        (self.status(), self.public_message()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_quote_the_stored_value() {
        // serde_json's own text would be `invalid type: string "hunter2", expected u64`.
        let from_value = serde_json::from_value::<u64>(serde_json::json!("hunter2")).unwrap_err();
        let from_text = serde_json::from_str::<u64>("\n  \"hunter2\"").unwrap_err();
        let nested = serde_json::from_value::<Vec<u8>>(serde_json::json!(["hunter2"])).unwrap_err();
        for source in [from_value, from_text, nested] {
            assert!(
                source.to_string().contains("hunter2"),
                "serde_json quotes it"
            );
            let err = Error::from(source);
            let shown = err.to_string();
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!err.public_message().contains("hunter2"));
            assert!(shown.contains("not valid for this type"), "{shown}");
            // Nor does its `Debug` (what `{:?}`, `unwrap` and `expect`
            // print), nor any error of its source chain (what anyhow's and
            // eyre's reports and some tracing layers print after it).
            for debug in [format!("{err:?}"), format!("{err:#?}")] {
                assert!(!debug.contains("hunter2"), "{debug}");
                assert!(debug.starts_with("Json"), "{debug}");
            }
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                assert!(!cause.to_string().contains("hunter2"), "{cause}");
                assert!(!format!("{cause:?}").contains("hunter2"), "{cause:?}");
                source = cause.source();
            }
            // Still there for whoever asks for it on purpose.
            let Error::Json(json) = &err else {
                panic!("{err:?}")
            };
            assert!(json.to_string().contains("hunter2"));
        }
        let err = Error::from(serde_json::from_str::<u64>("\n  \"hunter2\"").unwrap_err());
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(format!("{err:?}").contains("line: 2"), "{err:?}");
    }

    /// The hand-written `Debug` still says which variant and what it holds
    /// (but a session value).
    #[test]
    fn debug_names_every_variant() {
        let json = serde_json::from_value::<u64>(serde_json::json!("hunter2")).unwrap_err();
        for (err, shown) in [
            (
                Error::Store(StoreError::Corrupt("session 1a2b3c4d".into())),
                "Store(Corrupt(\"session 1a2b3c4d\"))",
            ),
            (
                Error::Json(json),
                "Json { kind: \"the stored value has another type or shape\", line: 0, column: 0 }",
            ),
            (
                Error::TooLarge {
                    size: 5000,
                    limit: 4096,
                },
                "TooLarge { size: 5000, limit: 4096 }",
            ),
            (Error::MissingLayer, "MissingLayer"),
            (Error::InvalidCookieValue, "InvalidCookieValue"),
            (Error::InvalidUser { len: 300 }, "InvalidUser { len: 300 }"),
            (Error::IdExhausted, "IdExhausted"),
            (
                Error::ReservedKey {
                    key: "_session_user".into(),
                },
                "ReservedKey { key: \"_session_user\" }",
            ),
        ] {
            assert_eq!(format!("{err:?}"), shown);
        }
    }
}
