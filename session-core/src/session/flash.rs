//! Flash messages: a one-shot message for the next request ("Saved",
//! "Wrong password"), set before a redirect and shown once.
//!
//! They live in the session's data under one key the library keeps for
//! itself ([`KEY`]), as a JSON list of `{"level": …, "text": …}`, so they
//! work on every store and every cookie codec alike (in a cookie they count
//! towards its 4 KB limit) and are encrypted at rest when the data is.
//! Taking them removes that key, which the layer writes like any removed
//! key: a session that held nothing else is deleted.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Session;
use crate::Error;

/// The data key holding a session's pending flash messages.
pub(crate) const KEY: &str = "@flash";

/// How a flash message should be shown: the four levels web frameworks
/// agree on. An application with its own levels uses its own type with
/// [`Session::flash`] and [`Session::take_flashes`] instead (any `serde`
/// type).
///
/// ```
/// use session_core::Level;
///
/// assert_eq!(serde_json::to_string(&Level::Success).unwrap(), r#""success""#);
/// assert_eq!(Level::Warning.as_str(), "warning");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something the user may want to know.
    Info,
    /// What the user asked for was done.
    Success,
    /// Done, but something needs the user's attention.
    Warning,
    /// What the user asked for failed.
    Error,
}

impl Level {
    /// The level's name, as stored and as a CSS class would use it.
    ///
    /// ```
    /// assert_eq!(session_core::Level::Error.as_str(), "error");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Success => "success",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One flash message: its level ([`Level`] unless the application has its
/// own type) and its text.
///
/// ```
/// use session_core::{Flash, Level};
///
/// let flash = Flash { level: Level::Success, text: "Saved".to_owned() };
/// assert_eq!(
///     serde_json::to_value(&flash).unwrap(),
///     serde_json::json!({ "level": "success", "text": "Saved" }),
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flash<L = Level> {
    /// How to show it.
    pub level: L,
    /// What to show.
    pub text: String,
}

impl Session {
    /// Adds a flash message for the next request that takes them
    /// ([`take_flashes`](Session::take_flashes)); several add up, in order.
    /// The session is saved (and, if it was new, its cookie sent) as after
    /// any insert.
    ///
    /// `level` is a [`Level`] or any `serde` type of the application's.
    /// Messages nobody takes stay until the session ends; on a cookie
    /// session they count towards the cookie's size limit.
    ///
    /// ```
    /// use session_core::Level;
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// session.flash(Level::Success, "Saved").await?;
    /// // then: redirect; the next page calls `take_flashes`
    /// # Ok(()) }
    /// ```
    pub async fn flash<L: Serialize>(
        &self,
        level: L,
        text: impl Into<String>,
    ) -> Result<(), Error> {
        let flash = serde_json::to_value(Flash {
            level,
            text: text.into(),
        })?;
        self.with_body(|body| {
            match body.data.get_mut(KEY) {
                Some(Value::Array(pending)) => pending.push(flash),
                // Not a list: not ours to overwrite silently.
                Some(other) => return Err(not_a_list(other)),
                None => {
                    body.data.insert(KEY.to_owned(), Value::Array(vec![flash]));
                }
            }
            body.mark_dirty(KEY);
            Ok(())
        })
        .await?
    }

    /// Takes the pending flash messages, oldest first: they are gone for
    /// every later request. An empty list (and no write) when there are
    /// none.
    ///
    /// Two requests of one session that run at the same time (two tabs)
    /// both see the messages unless the session's requests are serialized
    /// ([`SessionConfig::with_serialized_requests`](crate::SessionConfig::with_serialized_requests));
    /// with it, exactly one of them does. A message that does not read as
    /// `Flash<L>` is an [`Error::Json`] and every message stays pending.
    ///
    /// ```
    /// use session_core::{Flash, Level};
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// for Flash { level, text } in session.take_flashes::<Level>().await? {
    ///     println!("<p class={}>{text}</p>", level.as_str());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn take_flashes<L: DeserializeOwned>(&self) -> Result<Vec<Flash<L>>, Error> {
        self.with_body(|body| {
            let Some(pending) = body.data.get(KEY) else {
                return Ok(Vec::new());
            };
            let flashes = Vec::<Flash<L>>::deserialize(pending)?;
            body.data.shift_remove(KEY);
            body.mark_dirty(KEY);
            Ok(flashes)
        })
        .await?
    }

    /// The pending flash messages, oldest first, left pending.
    ///
    /// ```
    /// use session_core::Level;
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let waiting = session.peek_flashes::<Level>().await?.len();
    /// # let _ = waiting; Ok(()) }
    /// ```
    pub async fn peek_flashes<L: DeserializeOwned>(&self) -> Result<Vec<Flash<L>>, Error> {
        self.with_body(|body| match body.data.get(KEY) {
            Some(pending) => Ok(Vec::<Flash<L>>::deserialize(pending)?),
            None => Ok(Vec::new()),
        })
        .await?
    }
}

/// The error for a flash key that holds something else than a list.
fn not_a_list(value: &Value) -> Error {
    use serde::de::{Error as _, Unexpected};
    let found = match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("a number"),
        Value::String(_) => Unexpected::Other("a string"),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    };
    Error::Json(serde_json::Error::invalid_type(
        found,
        &"a list of flash messages",
    ))
}

/// A session's flash messages, as a handler takes them: with the `axum`
/// feature an extractor (it needs the [`SessionLayer`](crate::SessionLayer)
/// like [`Session`] does), otherwise `Flashes::from(session)`. The same
/// messages as [`Session::flash`] and [`Session::take_flashes`], with the
/// four [`Level`]s spelled out.
///
/// ```
/// use axum::{response::Redirect, routing::post, Router};
/// use session_core::{Error, Flashes};
///
/// async fn save(flashes: Flashes) -> Result<Redirect, Error> {
///     flashes.success("Saved").await?;
///     Ok(Redirect::to("/"))
/// }
///
/// let app: Router = Router::new().route("/save", post(save)); // .layer(session_layer)
/// # let _ = app;
/// ```
#[derive(Clone, Debug)]
pub struct Flashes(Session);

impl From<Session> for Flashes {
    fn from(session: Session) -> Self {
        Flashes(session)
    }
}

impl Flashes {
    /// Adds a message of `level` ([`Session::flash`]).
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// flashes.push(session_core::Level::Info, "Welcome back").await?;
    /// # Ok(()) }
    /// ```
    pub async fn push(&self, level: Level, text: impl Into<String>) -> Result<(), Error> {
        self.0.flash(level, text).await
    }

    /// Adds an [`Level::Info`] message.
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// flashes.info("3 new messages").await?;
    /// # Ok(()) }
    /// ```
    pub async fn info(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(Level::Info, text).await
    }

    /// Adds a [`Level::Success`] message.
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// flashes.success("Saved").await?;
    /// # Ok(()) }
    /// ```
    pub async fn success(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(Level::Success, text).await
    }

    /// Adds a [`Level::Warning`] message.
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// flashes.warning("Your password expires in 3 days").await?;
    /// # Ok(()) }
    /// ```
    pub async fn warning(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(Level::Warning, text).await
    }

    /// Adds a [`Level::Error`] message.
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// flashes.error("Wrong password").await?;
    /// # Ok(()) }
    /// ```
    pub async fn error(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(Level::Error, text).await
    }

    /// Takes the pending messages, oldest first ([`Session::take_flashes`]).
    ///
    /// ```
    /// # async fn demo(flashes: session_core::Flashes) -> Result<(), session_core::Error> {
    /// for flash in flashes.take().await? {
    ///     println!("{}: {}", flash.level.as_str(), flash.text);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn take(&self) -> Result<Vec<Flash>, Error> {
        self.0.take_flashes().await
    }

    /// The session the messages are kept in.
    ///
    /// ```
    /// # fn demo(flashes: session_core::Flashes) {
    /// let session: &session_core::Session = flashes.session();
    /// # let _ = session; }
    /// ```
    pub fn session(&self) -> &Session {
        &self.0
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for Flashes {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state).await.map(Flashes)
    }
}
