//! The same routes for plain hyper: a `service_fn` that matches the path
//! and takes the [`Session`] from the request extensions.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use session_core::{Error, Session};

use crate::tutorial;

/// Which tutorial scenario a hyper app serves.
///
/// ```
/// use examples::hyper_app::Scenario;
/// assert_ne!(Scenario::Counter, Scenario::Login);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `/` and `/logout/`.
    Counter,
    /// `/login/{username}/`, `/get/` and `/logout/`.
    Login,
    /// The same routes, storing a session far too big for a cookie.
    Big,
}

/// A JSON response.
fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Handles one request of `scenario`. The session layer must wrap it.
///
/// ```
/// use examples::hyper_app::{handle, Scenario};
/// use tower::ServiceBuilder;
///
/// let layer = session_core::SessionLayer::new(
///     session_store_memory::MemoryStore::new(),
///     session_core::Key::generate(),
/// );
/// let service = ServiceBuilder::new()
///     .layer(layer)
///     .service_fn(|req: http::Request<String>| handle(Scenario::Counter, req));
/// # let _ = service;
/// ```
pub async fn handle<B>(
    scenario: Scenario,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        let err = Error::MissingLayer;
        tracing::error!(error = %err);
        return Ok(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": err.to_string() }),
        ));
    };
    if request.method() != Method::GET {
        return Ok(json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "detail": "Method Not Allowed" }),
        ));
    }
    let path = request.uri().path();
    let result = match (scenario, path) {
        (Scenario::Counter, "/") => tutorial::count(&session).await,
        (Scenario::Counter, "/logout/") => tutorial::forget_count(&session).await,
        (Scenario::Login, "/get/") => tutorial::profile(&session).await,
        (Scenario::Big, "/get/") => tutorial::big_profile(&session).await,
        (Scenario::Login | Scenario::Big, "/logout/") => tutorial::logout(&session).await,
        (Scenario::Login | Scenario::Big, _) if login_user(path).is_some() => {
            let user = login_user(path).unwrap_or_default();
            // Decoded as axum's `Path` does, so both apps store the same name.
            let user = percent_encoding::percent_decode_str(user).decode_utf8_lossy();
            if scenario == Scenario::Big {
                tutorial::big_login(&session, &user).await
            } else {
                tutorial::login(&session, &user).await
            }
        }
        _ => {
            return Ok(json_response(
                StatusCode::NOT_FOUND,
                &json!({ "detail": "Not Found" }),
            ))
        }
    };
    Ok(match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => {
            tracing::error!(error = %err, "session error");
            json_response(err.status(), &json!({ "error": err.public_message() }))
        }
    })
}

/// The `{username}` of `/login/{username}/`.
fn login_user(path: &str) -> Option<&str> {
    let user = path.strip_prefix("/login/")?.strip_suffix('/')?;
    (!user.is_empty() && !user.contains('/')).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::login_user;

    #[test]
    fn login_paths() {
        assert_eq!(login_user("/login/hong/"), Some("hong"));
        assert_eq!(login_user("/login//"), None);
        assert_eq!(login_user("/login/a/b/"), None);
        assert_eq!(login_user("/login/hong"), None);
    }
}
