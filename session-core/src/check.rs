//! [`SessionCheck`]: an application's own test of every session it loads,
//! able to end it (revocation for sessions that live in the cookie).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use crate::store::Data;

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

/// The future a [`SessionCheck`] answers with.
pub type CheckFuture = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// An application's test of every session the layer loads, set with
/// [`SessionLayer::with_check`](crate::SessionLayer::with_check): `false`
/// ends the session as if the user had logged out (the handler sees an
/// empty session, a server-side store deletes it, the browser is told to
/// drop the cookie).
///
/// Sessions kept in the cookie cannot be listed or deleted on the server;
/// this is how they are revoked. A common pattern: keep a per-user version
/// number in the session at login and compare it with the application's
/// current one; "log out everywhere" bumps the number. Any `Fn(LoadedSession)
/// -> impl Future<Output = bool>` closure is a check:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use session_core::{Key, LoadedSession, SessionLayer, SignedCookie};
///
/// let versions: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
/// let current = versions.clone();
/// let layer = SessionLayer::client_side(SignedCookie::new(&Key::generate().into()))
///     .with_check(move |session: LoadedSession| {
///         let current = current.clone();
///         async move {
///             let Some(user) = session.user else { return true };
///             let now = current.lock().unwrap().get(&user).copied().unwrap_or(0);
///             session.data.get("user_version").and_then(|v| v.as_u64()) == Some(now)
///         }
///     });
/// # let _ = layer;
/// ```
pub trait SessionCheck: Send + Sync + 'static {
    /// Whether `session` may go on.
    fn check(&self, session: LoadedSession) -> CheckFuture;
}

impl<F, Fut> SessionCheck for F
where
    F: Fn(LoadedSession) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
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
