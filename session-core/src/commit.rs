//! After the handler: decide from what the request did to its session what
//! to write to the store and which cookie to send (DESIGN.md, step 4).

use http::header::{HeaderMap, HeaderValue, SET_COOKIE, VARY};
use time::OffsetDateTime;

use crate::client::ClientSession;
use crate::config::{Expiry, MAX_COOKIE_SIZE};
use crate::layer::{SessionStorage, Shared};
use crate::session::{Incoming, State};
use crate::{
    ChangeSet, Created, DataCodec, Error, Id, Record, Saved, Session, SessionStore, SignedId,
};

/// How many fresh ids to try when the store reports a collision.
const CREATE_ATTEMPTS: usize = 8;

/// What to add to the response.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    set_cookie: Option<HeaderValue>,
    vary: bool,
}

impl Outcome {
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        if let Some(cookie) = self.set_cookie {
            headers.append(SET_COOKIE, cookie);
        }
        if self.vary {
            headers.append(VARY, HeaderValue::from_static("Cookie"));
        }
    }
}

/// Writes what the request changed and returns the headers to send.
pub(crate) async fn commit(session: &Session) -> Result<Outcome, Error> {
    let inner = &session.0;
    let shared = &*inner.shared;
    // The request is over: take the state (later changes through a clone
    // kept alive by a spawned task are not saved, as documented).
    let state = std::mem::take(&mut *inner.state.lock());
    let mut outcome = Outcome {
        set_cookie: None,
        vary: state.accessed,
    };
    if state.load_failed {
        return Ok(outcome);
    }
    let now = shared.config.now();
    outcome.set_cookie = match &shared.storage {
        SessionStorage::Server { store, signer } => {
            let (incoming, current_value) = match &inner.incoming {
                Incoming::Id {
                    id,
                    needs_resign,
                    value,
                } => (
                    Some((*id, *needs_resign)),
                    (!needs_resign).then_some((*id, value.as_str())),
                ),
                _ => (None, None),
            };
            let write = StoreCommit {
                shared,
                store: &**store,
                signer,
                current_value,
                now,
            };
            write.run(state, incoming).await?
        }
        SessionStorage::Client { codec } => {
            let had_cookie = matches!(inner.incoming, Incoming::Data(_));
            commit_client(shared, &**codec, state, had_cookie, now)?
        }
    };
    Ok(outcome)
}

/// The `Set-Cookie` for `value`, refused when browsers would drop it.
fn set_cookie(
    shared: &Shared,
    value: &str,
    expiry: Option<Expiry>,
    now: OffsetDateTime,
) -> Result<HeaderValue, Error> {
    let size = shared.cookie_name.len() + value.len();
    if size > MAX_COOKIE_SIZE {
        return Err(Error::TooLarge {
            size,
            limit: MAX_COOKIE_SIZE,
        });
    }
    shared.writer.set(value, expiry, now)
}

struct StoreCommit<'a> {
    shared: &'a Shared,
    store: &'a dyn SessionStore,
    signer: &'a SignedId,
    /// The request's cookie value, when it was signed with the current key.
    current_value: Option<(Id, &'a str)>,
    now: OffsetDateTime,
}

impl StoreCommit<'_> {
    async fn run(
        &self,
        state: State,
        incoming: Option<(Id, bool)>,
    ) -> Result<Option<HeaderValue>, Error> {
        let config = &self.shared.config;
        if !state.accessed {
            // Untouched: nothing to write; finish a key rotation for free.
            return match incoming {
                Some((id, true)) => self.cookie_for(&id, &state).map(Some),
                _ => Ok(None),
            };
        }
        let removal = || Some(self.shared.writer.removal());

        if state.destroyed || state.stale {
            if let Some((id, _)) = incoming {
                self.store.delete(&id).await?;
                tracing::debug!(session = %id, destroyed = state.destroyed, "session deleted");
            }
            if state.data.is_empty() {
                return Ok(incoming.and_then(|_| removal()));
            }
            return self.create(&state).await.map(Some);
        }

        let Some((id, needs_resign)) = incoming.filter(|_| state.exists) else {
            // A new visitor.
            if state.data.is_empty() {
                return Ok(None);
            }
            return self.create(&state).await.map(Some);
        };

        let created_at = state.created_at.unwrap_or(self.now);
        let expires_at = config.expires_at(self.now, created_at, state.expiry);
        if state.data.is_empty() && state.changed() {
            self.store.delete(&id).await?;
            tracing::debug!(session = %id, "emptied session deleted");
            return Ok(removal());
        }
        if state.cycle {
            let new_id = self.create_record(&state, created_at).await?;
            self.store.delete(&id).await?;
            tracing::debug!(old = %id, new = %new_id, "session id cycled");
            return self.cookie_for(&new_id, &state).map(Some);
        }
        if state.changed() {
            let mut changes = ChangeSet::new(expires_at);
            for key in &state.dirty {
                match state.data.get(key) {
                    Some(value) => {
                        changes.set.insert(key.clone(), value.clone());
                    }
                    None => changes.removed.push(key.clone()),
                }
            }
            return match self.store.save(&id, &changes).await? {
                Saved::Applied => self.cookie_for(&id, &state).map(Some),
                Saved::Gone => {
                    tracing::debug!(session = %id, "session ended by another request; not recreated");
                    Ok(removal())
                }
            };
        }
        if config.extends_on_use() {
            return match self.store.touch(&id, expires_at).await? {
                Saved::Applied if config.rolling || needs_resign => {
                    self.cookie_for(&id, &state).map(Some)
                }
                Saved::Applied => Ok(None),
                Saved::Gone => Ok(removal()),
            };
        }
        if needs_resign {
            return self.cookie_for(&id, &state).map(Some);
        }
        Ok(None)
    }

    fn cookie_for(&self, id: &Id, state: &State) -> Result<HeaderValue, Error> {
        match self.current_value {
            // Signing is deterministic: the value that came in is the value.
            Some((current, value)) if current == *id => {
                set_cookie(self.shared, value, state.expiry, self.now)
            }
            _ => set_cookie(self.shared, &self.signer.sign(id), state.expiry, self.now),
        }
    }

    /// Stores the state as a new session and returns its cookie.
    async fn create(&self, state: &State) -> Result<HeaderValue, Error> {
        let id = self.create_record(state, self.now).await?;
        tracing::debug!(session = %id, "session created");
        self.cookie_for(&id, state)
    }

    /// Inserts the state under a fresh id, drawing again on a collision.
    async fn create_record(&self, state: &State, created_at: OffsetDateTime) -> Result<Id, Error> {
        let expires_at = self
            .shared
            .config
            .expires_at(self.now, created_at, state.expiry);
        let mut record = Record {
            id: Id::random(),
            data: state.data.clone(),
            created_at,
            expires_at,
        };
        for _ in 0..CREATE_ATTEMPTS {
            match self.store.create(&record).await? {
                Created::Inserted => return Ok(record.id),
                Created::IdTaken => {
                    tracing::warn!(session = %record.id, "fresh session id already taken; drawing another");
                    record.id = Id::random();
                }
            }
        }
        Err(Error::IdExhausted)
    }
}

/// Client-side sessions: the cookie is the store.
fn commit_client(
    shared: &Shared,
    codec: &dyn DataCodec,
    state: State,
    had_cookie: bool,
    now: OffsetDateTime,
) -> Result<Option<HeaderValue>, Error> {
    if !state.accessed {
        return Ok(None);
    }
    let removal = || had_cookie.then(|| shared.writer.removal());
    if state.destroyed || (state.changed() && state.data.is_empty()) {
        return Ok(removal());
    }
    if state.data.is_empty() {
        return Ok(None);
    }
    let extend = state.exists && shared.config.extends_on_use();
    if !(state.changed() || state.rekey || extend) {
        return Ok(None);
    }
    let created_at = match state.created_at {
        Some(created) if !state.cycle => created,
        _ => now,
    };
    let expiry = state.expiry;
    let client = ClientSession {
        data: state.data,
        created_at: Some(created_at),
        issued_at: now,
        rekey: false,
        expires_at: Some(shared.config.expires_at(now, created_at, expiry)),
    };
    let value = codec.encode(&shared.cookie_name, &client)?;
    set_cookie(shared, &value, expiry, now).map(Some)
}
