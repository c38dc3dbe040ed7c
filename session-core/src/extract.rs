//! The axum extractor for [`Session`] (feature `axum`).

use axum_core::extract::FromRequestParts;
use http::request::Parts;

use crate::{Error, Session};

/// Takes the [`Session`] the [`SessionLayer`](crate::SessionLayer) put in
/// the request. Without the layer it rejects with [`Error::MissingLayer`],
/// a `500` whose log line says to add the layer.
///
/// ```
/// use axum::{routing::get, Router};
/// use session_core::Session;
///
/// async fn whoami(session: Session) -> String {
///     let user: Option<String> = session.get("user").await.ok().flatten();
///     user.unwrap_or_else(|| "anonymous".into())
/// }
///
/// let app: Router = Router::new().route("/", get(whoami)); // .layer(session_layer)
/// # let _ = app;
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(Error::MissingLayer)
    }
}
