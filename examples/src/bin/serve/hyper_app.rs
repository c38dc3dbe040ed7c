//! `FRAMEWORK=hyper`: the scenarios in plain hyper 1. The session layer
//! wraps a `service_fn`, which takes the `Session` from the request
//! extensions and routes by hand.

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use session_core::{Error, Session, SessionLayer};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::scenarios::{big, counter, flash, login, Scenario};
use crate::stores::Accounts;

/// Serves `scenario`, wrapped in `layer`, on `listener` until Ctrl-C.
pub async fn serve(
    listener: TcpListener,
    scenario: Scenario,
    layer: SessionLayer,
    versions: Accounts,
) -> std::io::Result<()> {
    let service = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |request| handle(scenario, versions.clone(), request));
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors, say: wait a little, go on.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        // One task per connection, serving HTTP/1.1 with the tower service.
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
}

/// Every request: routes it, and turns a session error into its status
/// code (`503` when the store is unreachable, `500` otherwise).
async fn handle(
    scenario: Scenario,
    versions: Accounts,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The session layer put the request's session there.
    let Some(session) = request.extensions().get::<Session>().cloned() else {
        let err = Error::MissingLayer;
        tracing::error!(error = %err);
        let body = json!({ "error": err.to_string() });
        return Ok(json_response(StatusCode::INTERNAL_SERVER_ERROR, &body));
    };
    if let (Some(text), "/metrics") = (crate::metrics::render(), request.uri().path()) {
        let mut response = Response::new(Full::new(Bytes::from(text)));
        let content_type = HeaderValue::from_static(crate::metrics::CONTENT_TYPE);
        response.headers_mut().insert(CONTENT_TYPE, content_type);
        return Ok(response);
    }
    if request.method() != Method::GET {
        let body = json!({ "detail": "Method Not Allowed" });
        return Ok(json_response(StatusCode::METHOD_NOT_ALLOWED, &body));
    }
    let Some(answer) = route(scenario, &versions, &session, request.uri().path()).await else {
        let body = json!({ "detail": "Not Found" });
        return Ok(json_response(StatusCode::NOT_FOUND, &body));
    };
    Ok(match answer {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(err) => {
            tracing::error!(error = %err, "session error");
            json_response(err.status(), &json!({ "error": err.public_message() }))
        }
    })
}

/// The answer of the handler of `path` in `scenario`, or `None` when no
/// route matches.
async fn route(
    scenario: Scenario,
    versions: &Accounts,
    session: &Session,
    path: &str,
) -> Option<Result<Value, Error>> {
    Some(match (scenario, path) {
        (Scenario::Counter | Scenario::Settings, "/") => counter::count(session).await,
        (Scenario::Counter | Scenario::Settings, "/logout/") => counter::logout(session).await,
        (Scenario::Login, "/get/") => login::profile(session).await,
        (Scenario::Login, "/logout/") => login::logout(session).await,
        (Scenario::Login, "/sessions/") => login::sessions(versions, session).await,
        (Scenario::Login, "/logout/others/") => login::logout_others(versions, session).await,
        (Scenario::Login, "/logout/everywhere/") => {
            login::logout_everywhere(versions, session).await
        }
        (Scenario::Login, path) => login::login(versions, session, &login_user(path)?).await,
        (Scenario::Big, "/get/") => big::profile(session).await,
        (Scenario::Big, "/logout/") => big::logout(session).await,
        (Scenario::Big, path) => big::login(session, &login_user(path)?).await,
        (Scenario::Flash, "/") => flash::page(session).await,
        (Scenario::Flash, "/save/") => flash::save(session).await,
        _ => return None,
    })
}

/// The `{username}` of `/login/{username}/`, with `%XX` escapes decoded
/// (`h%C3%B6ng` is `höng`) as axum's `Path` decodes them.
fn login_user(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/login/")?.strip_suffix('/')?;
    if encoded.contains('/') {
        return None;
    }
    let hex = |digit: u8| (digit as char).to_digit(16).unwrap_or(0) as u8;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let [first, tail @ ..] = rest {
        match (*first, tail) {
            (b'%', [high, low, after @ ..])
                if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() =>
            {
                bytes.push(hex(*high) * 16 + hex(*low));
                rest = after;
            }
            _ => {
                bytes.push(*first);
                rest = tail;
            }
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A JSON response.
fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let json = HeaderValue::from_static("application/json");
    response.headers_mut().insert(CONTENT_TYPE, json);
    response
}
