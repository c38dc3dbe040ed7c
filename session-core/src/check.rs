//! [`SessionCheck`]: an application's own test of every session it loads,
//! able to end it (revocation for sessions that live in the cookie).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use crate::store::{BoxError, Data};

/// What a [`SessionCheck`] sees of a session the layer just loaded.
///
/// ```
/// use session_core::LoadedSession;
///
/// fn is_admin(session: &LoadedSession) -> bool {
///     session.user.as_deref() == Some("admin")
/// }
/// # let _ = is_admin;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoadedSession {
    /// The user the session is bound to ([`Session::set_user`](crate::Session::set_user)).
    pub user: Option<String>,
    /// The session's data.
    pub data: Data,
    /// When the session began.
    pub created_at: OffsetDateTime,
}

/// The future a [`SessionCheck`] answers with: `Ok(true)` the session goes
/// on, `Ok(false)` it is ended, `Err` the check could not decide (see
/// [`SessionCheck`]).
///
/// ```
/// use session_core::{CheckFuture, LoadedSession, SessionCheck};
///
/// /// Ends every session that began before a cutoff.
/// struct IssuedAfter(session_core::time::OffsetDateTime);
///
/// impl SessionCheck for IssuedAfter {
///     fn check(&self, session: LoadedSession) -> CheckFuture {
///         let fresh = session.created_at >= self.0;
///         Box::pin(async move { Ok(fresh) })
///     }
/// }
/// # let _ = IssuedAfter(session_core::time::OffsetDateTime::now_utc());
/// ```
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<bool, BoxError>> + Send + 'static>>;

/// An application's test of every session the layer loads, set with
/// [`SessionLayer::with_check`](crate::SessionLayer::with_check).
///
/// - `Ok(true)`: the session goes on.
/// - `Ok(false)`: the session is ended as if the user had logged out (the
///   handler sees an empty session, a server-side store deletes it, the
///   browser is told to drop the cookie).
/// - `Err(_)` (the check's database is down, say): the load fails as it
///   does when the store is unreachable. Every session call of the handler
///   answers [`StoreError::Unavailable`](crate::store::StoreError::Unavailable)
///   (`503` through `?`), nothing of the session is handed out, nothing is
///   written and no cookie is sent. A check that cannot decide neither
///   lets the session through nor logs the user out.
///
/// Sessions kept in the cookie cannot be listed or deleted on the server;
/// this is how they are revoked. A common pattern: keep a per-user version
/// number in the session at login and compare it with the application's
/// current one; "log out everywhere" bumps the number. Any `Fn(LoadedSession)
/// -> impl Future<Output = Result<bool, BoxError>>` closure is a check.
///
/// What such a check does not do, and why it matters:
///
/// - [`Session::destroy`](crate::Session::destroy) at logout tells the
///   browser to drop its cookie, but a copy of a data cookie taken before
///   (another device, a stolen cookie) stays valid until it expires,
///   unless the check ends it. A per-user version ends every copy at once
///   (and every other device of the user); ending one copy alone takes a
///   per-session value kept on the server (an id in the session, denied
///   after logout).
/// - Decide what a session with no user means. Answering `true` for every
///   unbound session is right only if no unbound session carries what a
///   login grants; one that does (written by another app sharing the
///   cookie, or before sessions were bound) could never be revoked.
/// - A revoked data cookie is a session again if the check ever passes it
///   again: keep what it compares with (the version) durable.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, RwLock};
/// use session_core::{Key, LoadedSession, SessionLayer, SignedCookie};
///
/// /// Each user's current session version (a column of the users table in
/// /// a real application).
/// #[derive(Clone, Default)]
/// struct Versions(Arc<RwLock<HashMap<String, u64>>>);
///
/// impl Versions {
///     async fn current(&self, user: &str) -> Result<u64, std::io::Error> {
///         let versions = self.0.read().map_err(|_| std::io::Error::other("poisoned"))?;
///         Ok(versions.get(user).copied().unwrap_or(0))
///     }
/// }
///
/// let versions = Versions::default();
/// let layer = SessionLayer::client_side(SignedCookie::new(&Key::generate().into()))
///     .with_check(move |session: LoadedSession| {
///         let versions = versions.clone();
///         async move {
///             let Some(user) = session.user else {
///                 // Not logged in: fine, unless it holds what a login grants.
///                 return Ok(!session.data.contains_key("profile"));
///             };
///             // An error (the database is down) makes this request a 503.
///             let current = versions.current(&user).await?;
///             Ok(session.data.get("user_version").and_then(|v| v.as_u64()) == Some(current))
///         }
///     });
/// # let _ = layer;
/// ```
pub trait SessionCheck: Send + Sync + 'static {
    /// Whether `session` may go on; an error when that cannot be decided.
    fn check(&self, session: LoadedSession) -> CheckFuture;
}

impl<F, Fut> SessionCheck for F
where
    F: Fn(LoadedSession) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, BoxError>> + Send + 'static,
{
    fn check(&self, session: LoadedSession) -> CheckFuture {
        Box::pin(self(session))
    }
}

/// The check a layer holds, printable.
pub(crate) struct Check(pub(crate) Box<dyn SessionCheck>);

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionCheck")
    }
}
