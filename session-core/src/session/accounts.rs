//! Accounts: binding a session to a user, and listing and ending the
//! user's sessions through the store's user index.

use time::OffsetDateTime;

use super::Session;
use crate::storage::Incoming;
use crate::store::{user_index, StoreError};
use crate::{Error, Id};

/// The longest user name [`Session::set_user`] takes, in bytes.
pub const MAX_USER_LEN: usize = 255;

/// Whether `user` is a name [`Session::set_user`] takes: 1 to
/// [`MAX_USER_LEN`] bytes.
pub(crate) fn is_valid_user(user: &str) -> bool {
    (1..=MAX_USER_LEN).contains(&user.len())
}

impl Session {
    /// Binds the session to `user` (an application-chosen id, 1 to
    /// [`MAX_USER_LEN`](crate::MAX_USER_LEN) bytes), as at login. Server-side
    /// stores index sessions by user, so that
    /// [`user_sessions`](Session::user_sessions),
    /// [`end_other_sessions`](Session::end_other_sessions) and
    /// [`end_all_sessions`](Session::end_all_sessions) (and the store's
    /// [`list_user`](crate::store::UserIndex::list_user) and
    /// [`delete_user`](crate::store::UserIndex::delete_user), outside a
    /// request) find it. Call [`cycle_id`](Session::cycle_id) with it: a
    /// login deserves a fresh id. [`destroy`](Session::destroy) ends the
    /// binding with the session.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.set_user("hong").await?;
    /// session.cycle_id().await?;
    /// assert_eq!(session.user().await?.as_deref(), Some("hong"));
    /// # Ok(()) }
    /// ```
    pub async fn set_user(&self, user: impl Into<String>) -> Result<(), Error> {
        let user = user.into();
        if !is_valid_user(&user) {
            return Err(Error::InvalidUser { len: user.len() });
        }
        self.bind(Some(user)).await
    }

    /// Unbinds the session from its user (it stays a session, no longer
    /// listed for anyone).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.clear_user().await?;
    /// assert_eq!(session.user().await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn clear_user(&self) -> Result<(), Error> {
        self.bind(None).await
    }

    async fn bind(&self, user: Option<String>) -> Result<(), Error> {
        self.with_body(|body| {
            if body.user != user {
                body.user = user;
                body.user_changed = true;
            }
        })
        .await
    }

    /// The user the session is bound to ([`set_user`](Session::set_user)).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// if let Some(user) = session.user().await? { println!("logged in as {user}"); }
    /// # Ok(()) }
    /// ```
    pub async fn user(&self) -> Result<Option<String>, Error> {
        self.with_body(|body| body.user.clone()).await
    }

    /// The store and the stored id of this request's session, and the user
    /// it is bound to; `Unsupported` for sessions kept in the cookie.
    ///
    /// The stored id is the one the session lives under in the store now:
    /// the incoming one as long as a live session was loaded and not
    /// destroyed, also after [`cycle_id`](Session::cycle_id) (the move to
    /// the new id happens after the handler), so the account methods keep
    /// treating it as "this one".
    async fn account(
        &self,
        operation: &'static str,
    ) -> Result<Option<(crate::store::AnyStore, Option<Id>, String)>, Error> {
        let (user, current) = self
            .with_state(|state| {
                let current = match self.0.incoming {
                    Incoming::Id { id, .. } if state.life.stored().is_some() => Some(id),
                    _ => None,
                };
                (state.body.user.clone(), current)
            })
            .await?;
        let Some(store) = self.0.shared.storage.store() else {
            return Err(StoreError::Unsupported(operation).into());
        };
        Ok(user.map(|user| (store.clone(), current.map(|id| self.stored_id(&id)), user)))
    }

    /// The live sessions of the user this session is bound to, oldest
    /// first, this one marked [`current`](SessionInfo::current) (under the
    /// id it is stored under until the request ends, also after
    /// [`cycle_id`](Session::cycle_id)); empty when the session is bound to
    /// no user. For a "your devices" page.
    ///
    /// Sessions kept in the cookie cannot be listed: the error is
    /// [`StoreError::Unsupported`] (use a [`SessionCheck`](crate::SessionCheck)
    /// to revoke them).
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// for device in session.user_sessions().await? {
    ///     println!("{} since {}{}", device.handle, device.created_at, if device.current { " (this one)" } else { "" });
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn user_sessions(&self) -> Result<Vec<SessionInfo>, Error> {
        let Some((store, current, user)) = self.account("list_user").await? else {
            return Ok(Vec::new());
        };
        let sessions = user_index(&store, "list_user")?.list_user(&user).await?;
        Ok(sessions
            .into_iter()
            .map(|session| SessionInfo {
                handle: session.handle(),
                current: Some(session.id) == current,
                created_at: session.created_at,
                expires_at: session.expires_at,
            })
            .collect())
    }

    /// Ends every other session of this session's user ("log out my other
    /// devices", e.g. after a password change) and returns how many it
    /// ended; this one goes on, also when the handler gave it a new id
    /// with [`cycle_id`](Session::cycle_id) in the same request. `0` when
    /// the session is bound to no user. A request of an ended session that
    /// is saving at the same moment writes nothing ("logout wins").
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_other_sessions().await?;
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_other_sessions(&self) -> Result<u64, Error> {
        let Some((store, current, user)) = self.account("delete_user").await? else {
            return Ok(0);
        };
        let index = user_index(&store, "delete_user")?;
        let ended = index.delete_user(&user, current.as_ref()).await?;
        crate::metrics::ended(crate::metrics::Cause::EndOthers, ended);
        Ok(ended)
    }

    /// Ends every session of this session's user, this one included ("log
    /// out everywhere"), and returns how many it ended. This session is
    /// then [`destroy`](Session::destroy)ed: the browser is told to drop
    /// its cookie.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_all_sessions().await?;
    /// assert!(session.is_empty().await?);
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_all_sessions(&self) -> Result<u64, Error> {
        let Some((store, current, user)) = self.account("delete_user").await? else {
            return Ok(0);
        };
        let ended = user_index(&store, "delete_user")?
            .delete_user(&user, None)
            .await?;
        // This one is counted as a logout when its destroy is written.
        let others = ended.saturating_sub(u64::from(current.is_some()));
        crate::metrics::ended(crate::metrics::Cause::EndOthers, others);
        self.destroy();
        Ok(ended)
    }

    /// Ends the session of this session's user whose
    /// [`handle`](SessionInfo::handle) is `handle` (a "sign out this
    /// device" button) and says whether it did: `true` only when that
    /// session was live, bound to the user, and is now ended for good;
    /// `false` when no live session of the user has the handle. Ending the
    /// current session this way also [`destroy`](Session::destroy)s it.
    ///
    /// It lists the user's sessions, then ends the one with the handle in
    /// one store step that checks it is still live and still the user's
    /// ([`UserIndex::end_user_session`](crate::store::UserIndex::end_user_session)).
    /// A session given a new id at the same moment (its browser logged in
    /// again, [`cycle_id`](Session::cycle_id)) is not ended: it goes on
    /// under a new handle and the answer is `false`; list again
    /// ([`user_sessions`](Session::user_sessions)) to end it.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let ended = session.end_session("Zm9vYmFyYmF6cXV4").await?;
    /// # let _ = ended; Ok(()) }
    /// ```
    pub async fn end_session(&self, handle: &str) -> Result<bool, Error> {
        let Some((store, current, user)) = self.account("list_user").await? else {
            return Ok(false);
        };
        let sessions = user_index(&store, "list_user")?.list_user(&user).await?;
        let Some(target) = sessions.into_iter().find(|s| s.handle() == handle) else {
            return Ok(false);
        };
        let index = user_index(&store, "end_user_session")?;
        if !index.end_user_session(&user, &target.id).await? {
            return Ok(false);
        }
        if Some(target.id) == current {
            self.destroy();
        } else {
            crate::metrics::ended(crate::metrics::Cause::EndOthers, 1);
        }
        Ok(true)
    }
}

/// One session of a user, as [`Session::user_sessions`] lists it.
///
/// ```
/// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
/// let others = session.user_sessions().await?.into_iter().filter(|s| !s.current).count();
/// # let _ = others; Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// A name for the session that is safe to show and to send back
    /// ([`UserSession::handle`](crate::store::UserSession::handle)); pass it
    /// to [`Session::end_session`].
    pub handle: String,
    /// Whether it is the session of this request.
    pub current: bool,
    /// When it began.
    pub created_at: OffsetDateTime,
    /// When it ends unless used again.
    pub expires_at: OffsetDateTime,
}
