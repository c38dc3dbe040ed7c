//! The tutorial's login in plain hyper 1, sessions in memory, with the pages of an account's
//! sessions ("your devices"): `axum-login`'s routes and answers, routed by hand in a `service_fn`
//! that the session layer wraps and that finds each request's `Session` in its extensions. Needs:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1" }
//! session-store-memory = { version = "0.1" }
//! hyper = { version = "1", features = ["server", "http1"] }
//! hyper-util = { version = "0.1", features = ["tokio", "service"] }
//! http-body-util = "0.1"
//! percent-encoding = "2"
//! tower = { version = "0.5", features = ["util"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net"] }
//! ```
//! ```text
//! cargo run -p examples --bin hyper-login
//! curl -c jar -b jar localhost:8000/login/hong/      # {"message":"Logged in"}
//! curl -c jar -b jar localhost:8000/get/             # {"session_info":{"user_id":"hong",…}}
//! curl -c jar2 -b jar2 localhost:8000/login/hong/    # hong again, on another "device"
//! curl -c jar -b jar localhost:8000/sessions/        # {"sessions":[{"handle":…},{…}]}
//! curl -c jar -b jar localhost:8000/logout/others/   # {…,"ended":1}: jar2 is logged out
//! ```
#![forbid(unsafe_code)]

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{server::conn::http1, Request, Response, StatusCode};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use session_core::{Error, Key, Session, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use std::convert::Infallible;

async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // The layer put the session there (a service outside the layer finds none).
    let answer = match request.extensions().get::<Session>() {
        Some(session) => route(session, request.uri().path()).await,
        None => Err(Error::MissingLayer),
    };
    // No route: a 404. A session error: a 503 when the store cannot be reached, a 500 otherwise.
    let (status, body) = match answer {
        Ok(Some(body)) => (StatusCode::OK, body),
        Ok(None) => (StatusCode::NOT_FOUND, json!({ "detail": "Not Found" })),
        Err(err) => (err.status(), json!({ "error": err.public_message() })),
    };
    let response = Response::builder().header("content-type", "application/json");
    let response = response.status(status).body(Full::from(body.to_string()));
    Ok(response.expect("a valid response"))
}

/// The pages of the user's sessions, for a logged-in user only.
const ACCOUNT_PAGES: [&str; 3] = ["/sessions/", "/logout/others/", "/logout/everywhere/"];

async fn route(session: &Session, path: &str) -> Result<Option<Value>, Error> {
    if ACCOUNT_PAGES.contains(&path) && session.user().await?.is_none() {
        return Ok(Some(json!({ "message": "Login first" })));
    }
    Ok(Some(match path {
        "/get/" => match session.get_value("username").await? {
            Some(info) => json!({ "session_info": info }),
            None => json!({ "message": "Login first" }),
        },
        "/logout/" => {
            session.destroy(); // deleted from the store, and the cookie removed
            json!({ "message": "Logged out" })
        }
        "/sessions/" => {
            let mut sessions = Vec::new();
            for info in session.user_sessions().await? {
                sessions.push(json!({
                    "handle": info.handle, // not the id, nor can it become one: safe to show
                    "current": info.current, "created_at": info.created_at.unix_timestamp(),
                    "expires_at": info.expires_at.unix_timestamp(),
                }));
            }
            json!({ "sessions": sessions })
        }
        "/logout/others/" => {
            let ended = session.end_other_sessions().await?; // this one goes on
            json!({ "message": "Logged out other sessions", "ended": ended })
        }
        "/logout/everywhere/" => {
            let ended = session.end_all_sessions().await?; // this one included
            json!({ "message": "Logged out everywhere", "ended": ended })
        }
        _ => match username(path) {
            Some(username) => login(session, &username).await?,
            None => return Ok(None),
        },
    }))
}

/// The `{username}` of `/login/{username}/`: one path segment, `%XX` decoded as axum's `Path`
/// decodes it (`h%C3%B6ng` is `höng`).
fn username(path: &str) -> Option<String> {
    let segment = path.strip_prefix("/login/")?.strip_suffix('/')?;
    if segment.is_empty() || segment.contains('/') {
        return None;
    }
    Some(percent_decode_str(segment).decode_utf8().ok()?.into_owned())
}

async fn login(session: &Session, username: &str) -> Result<Value, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    session.set_user(username).await?; // binds it to the user, who can list and end it
    session.cycle_id().await?; // a fresh id: one planted in the browser before login is void
    Ok(json!({ "message": "Logged in" }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A random key: sessions end with the process; `Key::from_env("SESSION_SECRET")?` lasts.
    let config = SessionConfig::new().with_secure(false); // plain http, for development
    let layer = SessionLayer::new(MemoryStore::new(), Key::generate()).with_config(config);
    let service = tower::ServiceBuilder::new().layer(layer).service_fn(handle);
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}
