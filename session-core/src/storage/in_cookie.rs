//! [`InCookie`]: sessions kept in the cookie itself, encoded by a
//! [`DataCodec`](crate::DataCodec); the cookie is the store, so every write
//! that keeps a session re-encodes it.

use http::HeaderValue;
use time::OffsetDateTime;

use super::{removal, send, Found, InCookie, Incoming};
use crate::client::ClientSession;
use crate::config::Expiry;
use crate::life::{to_time, State, Stored, Write};
use crate::store::StoreError;
use crate::{Data, Error, Session};

impl InCookie {
    pub(super) fn read<'h>(&self, tokens: impl Iterator<Item = &'h str>) -> Incoming {
        let candidates: Vec<String> = tokens.map(str::to_owned).collect();
        if candidates.is_empty() {
            Incoming::None
        } else {
            Incoming::Data(candidates)
        }
    }

    pub(super) fn load(&self, session: &Session) -> Result<Found, StoreError> {
        let Incoming::Data(candidates) = &session.0.incoming else {
            return Ok(Found::Stale);
        };
        let shared = &session.0.shared;
        let now = session.now();
        let timer = crate::metrics::Timer::start();
        let decoded = candidates
            .iter()
            .find_map(|value| self.codec.decode(&shared.cookie_name, value));
        timer.stop("load", "cookie");
        let Some(client) = decoded else {
            tracing::debug!("session cookie did not verify");
            return Ok(Found::Stale);
        };
        // Valid up to and including its expiry second (Starlette's rule),
        // and never when it claims to come from the future.
        let created_at = client.created_at.unwrap_or(client.issued_at);
        let expires_at = client.expires_at.unwrap_or_else(|| {
            client
                .issued_at
                .saturating_add(to_time(shared.config.server_ttl(None)))
        });
        if client.issued_at > now
            || shared.config.past_absolute(now, created_at)
            || expires_at < now
        {
            tracing::debug!("session cookie expired");
            crate::metrics::ended(crate::metrics::Cause::Expiry, 1);
            return Ok(Found::Stale);
        }
        Ok(Found::Live {
            stored: Stored {
                created_at,
                expires_at,
                rekey: client.rekey,
            },
            data: client.data,
            expiry: client.expiry,
            user: client.user,
        })
    }

    pub(super) fn write(
        &self,
        session: &Session,
        write: Write,
        state: &mut State,
    ) -> Result<Option<HeaderValue>, Error> {
        let shared = &session.0.shared;
        let now = session.now();
        match write {
            Write::Nothing | Write::Forget => Ok(None),
            Write::Remove { .. } => {
                Ok(matches!(session.0.incoming, Incoming::Data(_)).then(|| removal(session)))
            }
            // Every other write re-issues the cookie: it is the store. A
            // session written after `destroy` (or by a new visitor) begins
            // now; any other keeps its start, `cycle_id` included, so the
            // absolute timeout cannot be dodged by cycling.
            Write::Resend
            | Write::Create { .. }
            | Write::Cycle
            | Write::Save { .. }
            | Write::Touch { .. } => {
                let expiry = state.body.expiry;
                let created_at = state.created_at(now);
                let client = client_session(
                    &shared.config,
                    std::mem::take(&mut state.body.data),
                    created_at,
                    expiry,
                    state.body.user.take(),
                    now,
                );
                let timer = crate::metrics::Timer::start();
                let value = self.codec.encode(&shared.cookie_name, &client)?;
                timer.stop(crate::metrics::cookie_operation(write), "cookie");
                send(session, &value, expiry, now).map(Some)
            }
        }
    }
}

/// The data cookie for `data`, issued at `now`: the one place a
/// [`ClientSession`] is assembled for encoding.
pub(crate) fn client_session(
    config: &crate::SessionConfig,
    data: Data,
    created_at: OffsetDateTime,
    expiry: Option<Expiry>,
    user: Option<String>,
    now: OffsetDateTime,
) -> ClientSession {
    ClientSession {
        data,
        created_at: Some(created_at),
        issued_at: now,
        rekey: false,
        expires_at: Some(config.expires_at(now, created_at, expiry)),
        expiry,
        user,
    }
}
