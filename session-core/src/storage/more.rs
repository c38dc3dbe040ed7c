//! What no request of a live session runs: printing the storage, sizing
//! the cookie ([`Session::check_size`](crate::Session::check_size)) and
//! handing the store to the account methods.

use std::fmt;

use super::{SignedValue, Storage};
use crate::{Error, Session, SignedId};

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Store(s) => f.debug_tuple("Store").field(&s.store).finish(),
            Storage::Cookie(c) => f.debug_tuple("Cookie").field(&c.codec).finish(),
        }
    }
}

impl fmt::Debug for SignedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedValue(<redacted>)")
    }
}

impl Storage {
    /// The length in bytes of the token (the cookie's value) the session
    /// would be sent as now.
    pub(crate) fn token_len(&self, session: &Session) -> Result<usize, Error> {
        Ok(match self {
            Storage::Store(_) => SignedId::ENCODED_LEN,
            Storage::Cookie(c) => {
                let client = session.client_session(session.now());
                c.codec
                    .encode(&session.0.shared.cookie_name, &client)?
                    .len()
            }
        })
    }

    /// The store, for the account methods; `None` for data cookies.
    pub(crate) fn store(&self) -> Option<&crate::store::AnyStore> {
        match self {
            Storage::Store(s) => Some(&s.store),
            Storage::Cookie(_) => None,
        }
    }
}
