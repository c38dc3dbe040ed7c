//! Where sessions live, one seam: [`Storage`] is [`InStore`] (a store; the
//! cookie holds a signed id) or [`InCookie`] (the cookie holds the data);
//! each reads the cookie, loads, and carries out the [`Write`] decided.

use std::sync::Arc;

use http::HeaderValue;
use time::OffsetDateTime;

use crate::config::Expiry;
use crate::layer::Shared;
use crate::life::{State, Stored, Write};
use crate::store::{AnyStore, Capabilities, Cycled, Encrypted, StoreError};
use crate::transport::Via;
use crate::{
    ChangeSet, Created, Data, DataCodec, Error, Id, Record, Saved, Session, SessionStore, SignedId,
};

mod in_cookie;
mod more;

pub(crate) use in_cookie::client_session;

/// How many fresh ids to try when the store reports a collision.
const CREATE_ATTEMPTS: usize = 8;

/// A verified signed-id cookie value, kept inline (it has a fixed length).
#[derive(Clone, Copy)]
pub(crate) struct SignedValue([u8; SignedId::ENCODED_LEN]);

impl SignedValue {
    /// `value` if it has a signed id's length (verified values do).
    pub(crate) fn new(value: &str) -> Option<Self> {
        value.as_bytes().try_into().ok().map(Self)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Verified values are ASCII; anything else reads as empty and so
        // never matches a cookie.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// What the request's cookie said, before anything was loaded.
#[derive(Debug, Clone)]
pub(crate) enum Incoming {
    /// No (valid) session cookie.
    None,
    /// A verified session id (server-side stores), with the cookie value
    /// that carried it: when the current key signed it, the same value can
    /// be sent back without signing again.
    Id {
        id: Id,
        needs_resign: bool,
        value: SignedValue,
    },
    /// The raw values of every data cookie of the session's name
    /// (client-side sessions), in header order, decoded lazily: the first
    /// that decodes is the session.
    Data(Vec<String>),
}

impl Incoming {
    /// The cookie was verified with an older key.
    pub(crate) fn needs_resign(&self) -> bool {
        matches!(
            self,
            Incoming::Id {
                needs_resign: true,
                ..
            }
        )
    }
}

/// What loading found.
pub(crate) enum Found {
    /// A live session.
    Live {
        stored: Stored,
        data: Data,
        expiry: Option<Expiry>,
        user: Option<String>,
    },
    /// The cookie named nothing live (absent, expired, not verifying).
    Stale,
}

/// Sessions in a store: the cookie holds a signed id.
#[derive(Clone)]
pub(crate) struct InStore {
    pub(crate) store: AnyStore,
    pub(crate) signer: SignedId,
}

/// The layer's store: the store given to [`SessionLayer::new`](crate::SessionLayer::new), or that
/// store inside [`Encrypted`] once [`with_data_keys`](crate::SessionLayer::with_data_keys)
/// was called (a later call wraps the store given again: the last keys
/// win, nothing is sealed twice).
#[derive(Debug)]
pub(crate) enum LayerStore<St> {
    Plain(Arc<St>),
    Sealed(Encrypted<Arc<St>>),
}

impl<St: SessionStore> LayerStore<St> {
    /// `store` with its type erased, for the calls made through the
    /// non-generic `Session`: a plain store is erased itself, a sealed one
    /// with its `Encrypted`.
    pub(crate) fn erased(store: &Arc<Self>) -> AnyStore {
        match &**store {
            LayerStore::Plain(plain) => AnyStore::from_arc(plain.clone()),
            LayerStore::Sealed(_) => AnyStore::from_arc(store.clone()),
        }
    }
}

impl<St> LayerStore<St> {
    pub(crate) fn given(&self) -> &Arc<St> {
        match self {
            LayerStore::Plain(store) => store,
            LayerStore::Sealed(sealed) => sealed.inner(),
        }
    }
}

impl<St: SessionStore> SessionStore for LayerStore<St> {
    async fn load(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        match self {
            LayerStore::Plain(store) => St::load(store, id).await,
            LayerStore::Sealed(sealed) => sealed.load(id).await,
        }
    }
    async fn create(&self, record: &Record) -> Result<Created, StoreError> {
        match self {
            LayerStore::Plain(store) => St::create(store, record).await,
            LayerStore::Sealed(sealed) => sealed.create(record).await,
        }
    }
    async fn save(&self, id: &Id, changes: &ChangeSet) -> Result<Saved, StoreError> {
        match self {
            LayerStore::Plain(store) => St::save(store, id, changes).await,
            LayerStore::Sealed(sealed) => sealed.save(id, changes).await,
        }
    }
    async fn touch(&self, id: &Id, expires_at: OffsetDateTime) -> Result<Saved, StoreError> {
        match self {
            LayerStore::Plain(store) => St::touch(store, id, expires_at).await,
            LayerStore::Sealed(sealed) => sealed.touch(id, expires_at).await,
        }
    }
    async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        match self {
            LayerStore::Plain(store) => St::delete(store, id).await,
            LayerStore::Sealed(sealed) => sealed.delete(id).await,
        }
    }
    fn load_now(&self, id: &Id) -> Option<Result<Option<Record>, StoreError>> {
        match self {
            LayerStore::Plain(store) => St::load_now(store, id),
            LayerStore::Sealed(sealed) => sealed.load_now(id),
        }
    }
    fn capabilities(&self) -> Capabilities<'_> {
        match self {
            LayerStore::Plain(store) => St::capabilities(store),
            LayerStore::Sealed(sealed) => sealed.capabilities(),
        }
    }
    fn kind(&self) -> &'static str {
        St::kind(self.given())
    }
}

/// Sessions in the cookie: the codec encodes and decodes them.
#[derive(Clone)]
pub(crate) struct InCookie {
    pub(crate) codec: Arc<dyn DataCodec>,
}

/// The storage a layer was built with.
#[derive(Clone)]
pub(crate) enum Storage {
    Store(InStore),
    Cookie(InCookie),
}

impl Storage {
    /// The session the request's token names (the values of its session
    /// cookie, in header order, or the one from its token header), unread.
    pub(crate) fn read<'h>(&self, tokens: impl Iterator<Item = &'h str>) -> Incoming {
        match self {
            Storage::Store(s) => s.read(tokens),
            Storage::Cookie(c) => c.read(tokens),
        }
    }

    /// Reads what `incoming` names (through the erased store).
    pub(crate) async fn load(&self, session: &Session) -> Result<Found, StoreError> {
        match self {
            Storage::Store(s) => s.load(session).await,
            Storage::Cookie(c) => c.load(session),
        }
    }

    /// Carries out `write` and returns the cookie to send, if any: on
    /// `store`, the layer's store as its own type, when there is one.
    pub(crate) async fn write<St: SessionStore>(
        &self,
        store: Option<&St>,
        session: &Session,
        write: Write,
        state: &mut State,
    ) -> Result<Option<HeaderValue>, Error> {
        match (self, store) {
            (Storage::Store(s), Some(store)) => s.write(store, session, write, state).await,
            (Storage::Store(s), None) => s.write(&s.store, session, write, state).await,
            (Storage::Cookie(c), _) => c.write(session, write, state),
        }
    }

    /// Whether the cookie's format keeps `key` for itself.
    pub(crate) fn reserves_key(&self, key: &str) -> bool {
        match self {
            Storage::Store(_) => false,
            Storage::Cookie(c) => c.codec.reserves_key(key),
        }
    }
}

/// The header value that sends the token `value` on the request's
/// transport: a `Set-Cookie`, refused when browsers would drop it, or the
/// token header's value, refused past its configured length.
fn send(
    session: &Session,
    value: &str,
    expiry: Option<Expiry>,
    now: OffsetDateTime,
) -> Result<HeaderValue, Error> {
    let shared = &session.0.shared;
    let (size, limit) = session.token_size(value.len());
    if size > limit {
        return Err(Error::TooLarge { size, limit });
    }
    match session.0.via {
        Via::Cookie => shared.writer.set(value, expiry, now),
        Via::Header => HeaderValue::try_from(value).map_err(|_| Error::InvalidCookieValue),
    }
}

/// The header value that tells the client to forget its token: a removal
/// cookie, or the token header sent empty.
fn removal(session: &Session) -> HeaderValue {
    match session.0.via {
        Via::Cookie => session.0.shared.writer.removal(),
        Via::Header => HeaderValue::from_static(""),
    }
}

impl InStore {
    fn read<'h>(&self, mut tokens: impl Iterator<Item = &'h str>) -> Incoming {
        tokens
            .find_map(|value| {
                let verified = self.signer.verify(value)?;
                Some(Incoming::Id {
                    id: verified.id,
                    needs_resign: verified.needs_resign,
                    value: SignedValue::new(value)?,
                })
            })
            .unwrap_or_else(|| {
                tracing::trace!("no valid session cookie");
                Incoming::None
            })
    }

    async fn load(&self, session: &Session) -> Result<Found, StoreError> {
        let Incoming::Id { id, .. } = &session.0.incoming else {
            return Ok(Found::Stale);
        };
        let shared = &session.0.shared;
        let now = session.now();
        let stored = session.stored_id(id);
        if let Some(locks) = &shared.locks {
            locks.lease(&self.store, id, &stored).await?;
        }
        // An in-process store answers at once (no future to box).
        let store = crate::metrics::Measured(&self.store);
        let record = match store.load_now(&stored) {
            Some(record) => record,
            None => store.load(&stored).await,
        };
        let record = record.inspect_err(|err| {
            tracing::error!(session = %id, error = %err, "loading the session failed");
        })?;
        match record {
            Some(record)
                if !record.is_expired(now)
                    && !shared.config.past_absolute(now, record.created_at) =>
            {
                Ok(Found::Live {
                    stored: Stored {
                        created_at: record.created_at,
                        expires_at: record.expires_at,
                        rekey: false,
                    },
                    data: record.data,
                    expiry: record.expiry,
                    user: record.user,
                })
            }
            _ => {
                tracing::debug!(session = %id, "session cookie names no live session");
                crate::metrics::ended(crate::metrics::Cause::Expiry, 1);
                Ok(Found::Stale)
            }
        }
    }

    async fn write<St: SessionStore>(
        &self,
        store: &St,
        session: &Session,
        write: Write,
        state: &mut State,
    ) -> Result<Option<HeaderValue>, Error> {
        let store = crate::metrics::Measured(store);
        let shared = &session.0.shared;
        let now = session.now();
        let (id, current_value) = match &session.0.incoming {
            Incoming::Id {
                id,
                needs_resign,
                value,
            } => (Some(*id), (!needs_resign).then_some(value)),
            _ => (None, None),
        };
        // The cookie for `cookie_id`: signing is deterministic, so the value
        // that came in is the value when the current key signed it.
        let cookie_for = |cookie_id: &Id, expiry: Option<Expiry>| match (id, current_value) {
            (Some(current), Some(value)) if current == *cookie_id => {
                send(session, value.as_str(), expiry, now)
            }
            _ => send(session, &self.signer.sign(cookie_id), expiry, now),
        };
        // The client is told to drop its token only when it sent one.
        let removal = || id.map(|_| removal(session));
        let end = |end: bool| async move {
            match id {
                Some(id) if end => {
                    store.delete(&session.stored_id(&id)).await?;
                    tracing::debug!(session = %id, "session ended");
                    Ok::<_, Error>(())
                }
                _ => Ok(()),
            }
        };
        let expiry = state.body.expiry;
        match write {
            Write::Nothing => Ok(None),
            Write::Resend => id.map(|id| cookie_for(&id, expiry)).transpose(),
            Write::Forget => Ok(removal()),
            Write::Remove { end: ends } => {
                end(ends).await?;
                Ok(removal())
            }
            Write::Create { end: ends } => {
                end(ends).await?;
                for _ in 0..CREATE_ATTEMPTS {
                    let (new_id, record, announced) = fresh_record(shared, state, now);
                    match store.create(&record).await? {
                        Created::Inserted => {
                            tracing::debug!(session = %new_id, "session created");
                            return cookie_for(&new_id, expiry).map(Some);
                        }
                        Created::IdTaken => taken(&new_id, announced)?,
                    }
                }
                Err(Error::IdExhausted)
            }
            Write::Cycle => {
                let Some(old) = id else { return Ok(None) };
                let stored = session.stored_id(&old);
                for _ in 0..CREATE_ATTEMPTS {
                    let (new_id, record, announced) = fresh_record(shared, state, now);
                    match store.cycle(&stored, &record).await? {
                        Cycled::Moved => {
                            tracing::debug!(old = %old, new = %new_id, "session id cycled");
                            return cookie_for(&new_id, expiry).map(Some);
                        }
                        Cycled::Gone => {
                            tracing::debug!(session = %old, "session ended by another request; not moved");
                            return Ok(None);
                        }
                        Cycled::IdTaken => taken(&new_id, announced)?,
                    }
                }
                Err(Error::IdExhausted)
            }
            Write::Save { resign } => {
                let Some(id) = id else { return Ok(None) };
                let (expires_at, kept) = state.next_expiry(&shared.config, now);
                let resend = !kept || resign;
                let body = &mut state.body;
                let mut changes = ChangeSet::new(expires_at);
                // The request is over: the changed keys and values move
                // into the change set (no copies).
                for key in std::mem::take(&mut body.dirty) {
                    match body.data.remove(&key) {
                        Some(value) => {
                            changes.set.insert(key, value);
                        }
                        None => changes.removed.push(key),
                    }
                }
                if body.expiry_changed {
                    changes.expiry = Some(body.expiry);
                }
                if body.user_changed {
                    changes.user = Some(body.user.clone());
                }
                changes.expiry_kept = kept;
                match store.save(&session.stored_id(&id), &changes).await? {
                    Saved::Applied if resend => cookie_for(&id, expiry).map(Some),
                    Saved::Applied => Ok(None),
                    Saved::Gone => {
                        // Another request ended (or moved) the session
                        // after this one loaded it; its response carries the
                        // cookie the browser should keep.
                        tracing::debug!(session = %id, "session ended by another request; not recreated");
                        Ok(None)
                    }
                }
            }
            Write::Touch { expires_at, resend } => {
                let Some(id) = id else { return Ok(None) };
                match store.touch(&session.stored_id(&id), expires_at).await? {
                    Saved::Applied if resend => cookie_for(&id, expiry).map(Some),
                    Saved::Applied | Saved::Gone => Ok(None),
                }
            }
        }
    }
}

/// A fresh id the store already holds: another is drawn, unless the
/// handler was already given this one's token ([`Session::token`]).
fn taken(id: &Id, announced: bool) -> Result<(), Error> {
    if announced {
        tracing::error!(session = %id, "the id whose token the handler gave out is taken");
        return Err(Error::IdExhausted);
    }
    tracing::warn!(session = %id, "fresh session id already taken; drawing another");
    Ok(())
}

/// The state as a record under a fresh cookie id: the id (the one whose
/// token the handler was given, if any: then `true`), and the record
/// stores keep (under its digest).
fn fresh_record(shared: &Shared, state: &mut State, now: OffsetDateTime) -> (Id, Record, bool) {
    let created_at = state.created_at(now);
    let expires_at = shared.config.expires_at(now, created_at, state.body.expiry);
    let announced = state.next_id.take();
    let id = announced.unwrap_or_else(Id::random);
    let mut record = Record::new(id.at_rest(), created_at, expires_at);
    record.data = state.body.data.clone();
    record.expiry = state.body.expiry;
    record.user = state.body.user.clone();
    (id, record, announced.is_some())
}
