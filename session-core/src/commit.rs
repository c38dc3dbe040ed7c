//! After the handler: decide from what the request did to its session what
//! to write to the store and which cookie to send (ARCHITECTURE.md, "the
//! write rules").

use http::header::{HeaderMap, HeaderValue, CACHE_CONTROL, SET_COOKIE, VARY};
use time::OffsetDateTime;

use crate::config::{Expiry, MAX_COOKIE_SIZE};
use crate::layer::{SessionStorage, Shared};
use crate::session::{client_session, Incoming, SignedValue, State};
use crate::store::Cycled;
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
    /// Adds the cookie and the caching headers that must go with it: a
    /// response that read the session, or sets its cookie, differs from one
    /// user to the next (`Vary: Cookie`), and one that sets the cookie must
    /// not be kept by a shared cache (`Cache-Control`).
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        let sets_cookie = self.set_cookie.is_some();
        if let Some(cookie) = self.set_cookie {
            headers.append(SET_COOKIE, cookie);
        }
        if self.vary || sets_cookie {
            vary_on_cookie(headers);
        }
        if sets_cookie {
            keep_private(headers);
        }
    }
}

/// Adds `Vary: Cookie` unless the response already varies on it (or on
/// everything).
fn vary_on_cookie(headers: &mut HeaderMap) {
    let varies = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .map(str::trim)
                .any(|field| field == "*" || field.eq_ignore_ascii_case("cookie"))
        })
    });
    if !varies {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
}

/// Makes sure no shared cache stores a response that sets the session
/// cookie: `no-store` when the handler said nothing about caching;
/// otherwise `private` is added (and `public` dropped), unless the handler
/// already chose `private` or `no-store`.
fn keep_private(headers: &mut HeaderMap) {
    let mut directives = Vec::new();
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return;
        };
        directives.extend(text.split(',').map(str::trim).filter(|d| !d.is_empty()));
    }
    let name = |directive: &str| directive.split('=').next().unwrap_or("").trim().to_owned();
    if directives.is_empty() {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    if directives.iter().any(|d| {
        let n = name(d);
        n.eq_ignore_ascii_case("private") || n.eq_ignore_ascii_case("no-store")
    }) {
        return;
    }
    let mut text = String::from("private");
    for directive in directives {
        if !name(directive).eq_ignore_ascii_case("public") {
            text.push_str(", ");
            text.push_str(directive);
        }
    }
    let value = HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("no-store"));
    headers.insert(CACHE_CONTROL, value);
}

/// Writes what the request changed and returns the headers to send.
pub(crate) async fn commit(session: &Session) -> Result<Outcome, Error> {
    let inner = &session.0;
    let shared = &*inner.shared;
    if let Incoming::Id {
        needs_resign: true, ..
    } = inner.incoming
    {
        // A cookie signed with an older key, on a request that may not have
        // touched the session: load it (a failure is logged and leaves the
        // cookie as it is), so the cookie re-sent under the current key
        // carries the session's own expiry and a dead session is not
        // re-signed.
        let _ = session.load().await;
    }
    // The request is over: take the state (later changes through a clone
    // kept alive by a spawned task are not saved, as documented).
    let state = std::mem::take(&mut *inner.state.lock());
    let mut outcome = Outcome {
        set_cookie: None,
        vary: state.accessed,
    };
    if state.load_failed && !state.destroyed {
        return Ok(outcome);
    }
    let now = session.now();
    outcome.set_cookie = match &shared.storage {
        SessionStorage::Server { store, signer, .. } => {
            let (incoming, current_value) = match &inner.incoming {
                Incoming::Id {
                    id,
                    needs_resign,
                    value,
                } => (
                    Some((*id, *needs_resign)),
                    (!needs_resign).then_some((*id, value)),
                ),
                _ => (None, None),
            };
            let write = StoreCommit {
                session,
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
    session: &'a Session,
    shared: &'a Shared,
    store: &'a dyn SessionStore,
    signer: &'a SignedId,
    /// The request's cookie value, when it was signed with the current key.
    current_value: Option<(Id, &'a SignedValue)>,
    now: OffsetDateTime,
}

impl StoreCommit<'_> {
    async fn run(
        &self,
        mut state: State,
        incoming: Option<(Id, bool)>,
    ) -> Result<Option<HeaderValue>, Error> {
        let config = &self.shared.config;
        // The browser is told to drop the cookie only when the request came
        // with one.
        let removal = || incoming.map(|_| self.shared.writer.removal());

        if state.destroyed {
            if let Some((id, _)) = incoming {
                self.store.delete(&self.stored(&id)).await?;
                tracing::debug!(session = %id, "session destroyed");
            }
            if state.holds_nothing() {
                return Ok(removal());
            }
            // Written after `destroy`: a brand-new session.
            return self.create(&state, self.now).await.map(Some);
        }
        if state.stale {
            // The cookie names no live session: nothing to delete, unless
            // the application's check ended it. What the handler wrote (if
            // anything) is a new session.
            if let (true, Some((id, _))) = (state.revoked, incoming) {
                self.store.delete(&self.stored(&id)).await?;
                tracing::debug!(session = %id, "session ended by the application's check");
            }
            if state.holds_nothing() {
                return Ok(removal());
            }
            return self.create(&state, self.now).await.map(Some);
        }
        let Some((id, needs_resign)) = incoming.filter(|_| state.exists) else {
            // A new visitor.
            if state.holds_nothing() {
                return Ok(None);
            }
            return self.create(&state, self.now).await.map(Some);
        };
        if !state.accessed {
            // Untouched, loaded only to finish a key rotation.
            return if needs_resign {
                self.cookie_for(&id, &state).map(Some)
            } else {
                Ok(None)
            };
        }

        let stored = self.stored(&id);
        let created_at = state.created_at.unwrap_or(self.now);
        // Within the precision, the stored expiry stays, and with it the
        // browser's copy of the cookie (`with_expiry_precision`).
        let (expires_at, kept) = state.next_expiry(config, self.now);
        // The cookie to send after a write that keeps the id.
        let resend = |state: &State| -> Result<Option<HeaderValue>, Error> {
            if kept && !needs_resign {
                Ok(None)
            } else {
                self.cookie_for(&id, state).map(Some)
            }
        };
        if state.holds_nothing() && state.changed() {
            self.store.delete(&stored).await?;
            tracing::debug!(session = %id, "emptied session deleted");
            return Ok(removal());
        }
        if state.cycle {
            return match self.cycle(&stored, &state, created_at).await? {
                Some(new_id) => {
                    tracing::debug!(old = %id, new = %new_id, "session id cycled");
                    self.cookie_for(&new_id, &state).map(Some)
                }
                None => {
                    tracing::debug!(session = %id, "session ended by another request; not moved");
                    Ok(None)
                }
            };
        }
        if state.changed() {
            let mut changes = ChangeSet::new(expires_at);
            // The request is over: the changed keys and values move into
            // the change set (no copies).
            for key in std::mem::take(&mut state.dirty) {
                match state.data.remove(&key) {
                    Some(value) => {
                        changes.set.insert(key, value);
                    }
                    None => changes.removed.push(key),
                }
            }
            if state.expiry_changed {
                changes.expiry = Some(state.expiry);
            }
            if state.user_changed {
                changes.user = Some(state.user.clone());
            }
            changes.expiry_kept = kept;
            return match self.store.save(&stored, &changes).await? {
                Saved::Applied => resend(&state),
                Saved::Gone => {
                    // Another request ended (or moved) the session after
                    // this one loaded it; its response carries the cookie
                    // the browser should keep, so this one sends none.
                    tracing::debug!(session = %id, "session ended by another request; not recreated");
                    Ok(None)
                }
            };
        }
        if config.extends_on_use() && !kept {
            return match self.store.touch(&stored, expires_at).await? {
                Saved::Applied if config.rolling || needs_resign => {
                    self.cookie_for(&id, &state).map(Some)
                }
                Saved::Applied | Saved::Gone => Ok(None),
            };
        }
        if needs_resign {
            return self.cookie_for(&id, &state).map(Some);
        }
        Ok(None)
    }

    /// What stores keep for the cookie's `id`.
    fn stored(&self, id: &Id) -> Id {
        self.session.stored_id(id)
    }

    fn cookie_for(&self, id: &Id, state: &State) -> Result<HeaderValue, Error> {
        match self.current_value {
            // Signing is deterministic: the value that came in is the value.
            Some((current, value)) if current == *id => {
                set_cookie(self.shared, value.as_str(), state.expiry, self.now)
            }
            _ => set_cookie(self.shared, &self.signer.sign(id), state.expiry, self.now),
        }
    }

    /// The state as a record under a fresh cookie id: the id, and the
    /// record stores keep (under its digest).
    fn record(&self, state: &State, created_at: OffsetDateTime) -> (Id, Record) {
        let expires_at = self
            .shared
            .config
            .expires_at(self.now, created_at, state.expiry);
        let id = Id::random();
        let mut record = Record::new(id.at_rest(), created_at, expires_at);
        record.data = state.data.clone();
        record.expiry = state.expiry;
        record.user = state.user.clone();
        (id, record)
    }

    /// Stores the state as a new session and returns its cookie.
    async fn create(
        &self,
        state: &State,
        created_at: OffsetDateTime,
    ) -> Result<HeaderValue, Error> {
        for _ in 0..CREATE_ATTEMPTS {
            let (id, record) = self.record(state, created_at);
            match self.store.create(&record).await? {
                Created::Inserted => {
                    tracing::debug!(session = %id, "session created");
                    return self.cookie_for(&id, state);
                }
                Created::IdTaken => {
                    tracing::warn!(session = %id, "fresh session id already taken; drawing another");
                }
            }
        }
        Err(Error::IdExhausted)
    }

    /// Moves the live session stored as `old` to a fresh id; `None` when
    /// `old` was ended by another request meanwhile (nothing is written
    /// then).
    async fn cycle(
        &self,
        old: &Id,
        state: &State,
        created_at: OffsetDateTime,
    ) -> Result<Option<Id>, Error> {
        for _ in 0..CREATE_ATTEMPTS {
            let (id, record) = self.record(state, created_at);
            match self.store.cycle(old, &record).await? {
                Cycled::Moved => return Ok(Some(id)),
                Cycled::Gone => return Ok(None),
                Cycled::IdTaken => {
                    tracing::warn!(session = %id, "fresh session id already taken; drawing another");
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
    if state.holds_nothing() && (state.destroyed || state.changed() || state.revoked) {
        return Ok(removal());
    }
    if state.holds_nothing() {
        return Ok(None);
    }
    // Extending alone re-issues the cookie only when its expiry moves by
    // more than the precision.
    let extend =
        state.exists && shared.config.extends_on_use() && !state.next_expiry(&shared.config, now).1;
    if !(state.destroyed || state.changed() || state.rekey || extend) {
        return Ok(None);
    }
    // A session written after `destroy` (or by a new visitor) begins now;
    // any other keeps its start, `cycle_id` included, so the absolute
    // timeout cannot be dodged by cycling.
    let created_at = state.created_at.unwrap_or(now);
    let expiry = state.expiry;
    let client = client_session(
        &shared.config,
        state.data,
        created_at,
        expiry,
        state.user,
        now,
    );
    let value = codec.encode(&shared.cookie_name, &client)?;
    set_cookie(shared, &value, expiry, now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    fn cache_control(map: &HeaderMap) -> Vec<&str> {
        map.get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_response_setting_the_cookie_is_private() {
        let mut map = headers(&[]);
        keep_private(&mut map);
        assert_eq!(cache_control(&map), ["no-store"]);

        let mut map = headers(&[(CACHE_CONTROL, "public, max-age=60")]);
        keep_private(&mut map);
        assert_eq!(cache_control(&map), ["private, max-age=60"]);

        for strict in [
            "no-store",
            "private, max-age=5",
            "Private",
            "no-cache, no-store",
        ] {
            let mut map = headers(&[(CACHE_CONTROL, strict)]);
            keep_private(&mut map);
            assert_eq!(cache_control(&map), [strict]);
        }
    }

    #[test]
    fn vary_cookie_is_added_once() {
        let mut map = headers(&[(VARY, "Accept-Encoding")]);
        vary_on_cookie(&mut map);
        vary_on_cookie(&mut map);
        let vary: Vec<_> = map.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
        let mut map = headers(&[(VARY, "accept, cookie")]);
        vary_on_cookie(&mut map);
        assert_eq!(map.get_all(VARY).iter().count(), 1);
    }
}
