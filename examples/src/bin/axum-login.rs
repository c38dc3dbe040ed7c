//! The login of the FastAPI session tutorial, in axum, with the pages of
//! an account's sessions:
//!
//! | route | what it does |
//! |---|---|
//! | `GET /login/{username}/` | stores a profile in the session, binds the session to `username` and gives it a fresh id (so an id planted before the login is worth nothing after it) |
//! | `GET /get/` | the profile, or "Login first" |
//! | `GET /logout/` | ends this session |
//! | `GET /sessions/` | the logged-in user's sessions ("your devices"): handle, whether it is this one, when it began and ends (Unix seconds) |
//! | `GET /logout/others/` | ends the user's other sessions ("log out my other devices"), this one goes on |
//! | `GET /logout/everywhere/` | ends every session of the user, this one included |
//!
//! ```text
//! cargo run -p examples --bin axum-login
//! curl -c jar -b jar localhost:8000/get/               # {"message":"Login first"}
//! curl -c jar -b jar localhost:8000/login/hong/        # {"message":"Logged in"}
//! curl -c jar -b jar localhost:8000/get/               # {"session_info":{"user_id":"hong",…}}
//! curl -c jar2 -b jar2 localhost:8000/login/hong/      # hong again, on another "device"
//! curl -c jar -b jar localhost:8000/sessions/          # {"sessions":[{"handle":…,"current":true,…},…]}
//! curl -c jar -b jar localhost:8000/logout/others/     # {"message":"Logged out other sessions","ended":1}
//! curl -c jar2 -b jar2 localhost:8000/get/             # {"message":"Login first"}
//! curl -c jar -b jar localhost:8000/logout/            # {"message":"Logged out"}
//! ```
//!
//! `SESSION_STORE` picks where sessions live; `session_layer` below shows
//! how each store is built:
//!
//! | `SESSION_STORE` | where the profile lives |
//! |---|---|
//! | `memory` (default) | this process |
//! | `cookie`, `cookie-encrypted` | the cookie, signed (HMAC-SHA256) or encrypted (AES-256-GCM) |
//! | `starlette` | the cookie, in Starlette's format: a FastAPI app with the same secret shares the login |
//! | `sqlite://sessions.db`, `sqlite::memory:`, `postgres://…`, `mysql://…`, `mariadb://…` | an SQL table |
//! | `redis://…`, `rediss://…`, `redis+cluster://host:port,host:port` | Redis or a Redis Cluster |
//!
//! ```text
//! SESSION_STORE=redis://127.0.0.1:6379 cargo run -p examples --bin axum-login
//! ```
//!
//! Sessions kept in a cookie cannot be listed or deleted by the server:
//! there `/sessions/` lists nothing, and the two `/logout/…/` pages revoke
//! sessions with a per-user version number that every request checks (see
//! `Versions`); they answer `"ended": null` (the number is unknown).
//! `/logout/` only removes this browser's cookie: a copy of it taken
//! before stays logged in until it expires or `/logout/everywhere/`.
//!
//! The other settings:
//!
//! | variable | meaning |
//! |---|---|
//! | `PORT` | the port, on 127.0.0.1 (default 8000) |
//! | `SESSION_SECRET` | the key as hex (`openssl rand -hex 32`; comma-separated keys rotate: the first signs, all verify; for `starlette`, the secret text exactly as the FastAPI app has it); a random key with a warning when unset |
//! | `SESSION_DATA_KEY` | optional, server-side stores only: a key as hex, of its own (not `SESSION_SECRET`), that encrypts every session value in the store (AES-256-GCM), so a dump of the store shows no profile; comma-separated keys rotate (the first encrypts, all decrypt). A value that is not a key stops the app at start |
//! | `SESSION_HTTPS` | `1` behind HTTPS: a `Secure`, `__Host-` cookie |
//! | `SESSION_SERIALIZE` | `1`: the requests of one session take turns; with Redis, across every instance sharing it (a lease in Redis) |
//! | `SESSION_CACHE` | Redis (one node or a Cluster): `1` keeps a local cache of sessions that Redis keeps coherent (`CLIENT TRACKING`), so a request that only reads its session costs no round trip (a write on another instance reaches it a moment later); `fenced`: every cached read first checks with Redis (one `PING`) |
//!
//! To make this file the `src/main.rs` of a crate of your own:
//!
//! ```toml
//! [dependencies]
//! session-core = { version = "0.1", features = ["axum"] }
//! session-store-memory = { version = "0.1" }
//! session-store-redis = { version = "0.1" }
//! session-store-sql = { version = "0.1", features = ["sqlite", "postgres", "mysql"] }
//! axum = "0.8"
//! serde_json = "1"
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "signal"] }
//! tracing = "0.1"
//! tracing-subscriber = { version = "0.3", features = ["env-filter"] }
//! ```
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use session_core::store::SessionStore;
use session_core::{
    EncryptedCookie, Error, Key, Keys, LoadedSession, Session, SessionConfig, SessionLayer,
    SignedCookie, StarletteCookie,
};
use session_store_memory::MemoryStore;
use session_store_redis::{CacheMode, RedisStore};
use session_store_sql::SqlStore;
use tokio::net::TcpListener;

/// The session key holding the user's session version at login (sessions
/// kept in cookies only).
const USER_VERSION: &str = "user_version";

/// Each user's current session version, for revoking sessions kept in
/// cookies: the server cannot delete a cookie, so every request compares
/// the version its session got at login with the user's current one, and
/// "log out everywhere" bumps the current one (see `revocable`). A user
/// never bumped is at version 0.
///
/// This map lives in this one process. A real app keeps the versions in
/// its database (a column of the users table), so that every instance
/// shares them and they survive a restart.
#[derive(Clone, Default)]
struct Versions(Arc<Mutex<HashMap<String, u64>>>);

impl Versions {
    /// `user`'s current version.
    fn current(&self, user: &str) -> u64 {
        let versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        versions.get(user).copied().unwrap_or(0)
    }

    /// Moves `user` to a new version, ending every session issued before;
    /// returns the new version.
    fn bump(&self, user: &str) -> u64 {
        let mut versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let version = versions.entry(user.to_owned()).or_insert(0);
        *version += 1;
        *version
    }
}

/// What the handlers share: the versions when sessions are kept in cookies,
/// `None` with a server-side store (which lists and deletes sessions
/// itself).
type Accounts = Option<Versions>;

/// `GET /login/{username}/`: stores the tutorial's profile, binds the
/// session to the user, and gives the session a fresh id
/// (session-fixation defence).
async fn login(
    State(versions): State<Accounts>,
    session: Session,
    Path(username): Path<String>,
) -> Result<Json<Value>, Error> {
    let profile = json!({ "user_id": username, "age": 21, "email": "aaa@aaa.com" });
    session.insert("username", profile).await?;
    // The user a server-side store lists the session under, and the one
    // the version check of cookie sessions looks up.
    session.set_user(&username).await?;
    if let Some(versions) = &versions {
        session
            .insert(USER_VERSION, versions.current(&username))
            .await?;
    }
    session.cycle_id().await?;
    Ok(Json(json!({ "message": "Logged in" })))
}

/// `GET /get/`: the stored profile, or "Login first".
async fn profile(session: Session) -> Result<Json<Value>, Error> {
    Ok(Json(match session.get_value("username").await? {
        Some(info) => json!({ "session_info": info }),
        None => json!({ "message": "Login first" }),
    }))
}

/// `GET /logout/`: ends the session (and its binding to the user): its
/// data is deleted and the cookie removed.
async fn logout(session: Session) -> Json<Value> {
    session.destroy();
    Json(json!({ "message": "Logged out" }))
}

/// `GET /sessions/`: the logged-in user's sessions, oldest first.
async fn sessions(
    State(versions): State<Accounts>,
    session: Session,
) -> Result<Json<Value>, Error> {
    if session.user().await?.is_none() {
        return Ok(Json(json!({ "message": "Login first" })));
    }
    if versions.is_some() {
        return Ok(Json(json!({
            "sessions": [],
            "message": "Sessions kept in cookies cannot be listed; \
                        /logout/others/ and /logout/everywhere/ still work",
        })));
    }
    let sessions: Vec<Value> = session
        .user_sessions()
        .await?
        .into_iter()
        .map(|info| {
            json!({
                // Safe to show: it is not the session id, and cannot be
                // turned into one.
                "handle": info.handle,
                "current": info.current,
                "created_at": info.created_at.unix_timestamp(),
                "expires_at": info.expires_at.unix_timestamp(),
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

/// `GET /logout/others/`: ends the user's other sessions; this one goes on.
async fn logout_others(
    State(versions): State<Accounts>,
    session: Session,
) -> Result<Json<Value>, Error> {
    let Some(user) = session.user().await? else {
        return Ok(Json(json!({ "message": "Login first" })));
    };
    let ended = match &versions {
        None => Some(session.end_other_sessions().await?),
        Some(versions) => {
            // Every session of the user is now outdated; this one takes
            // the new version, so it alone goes on.
            let version = versions.bump(&user);
            session.insert(USER_VERSION, version).await?;
            None
        }
    };
    Ok(Json(
        json!({ "message": "Logged out other sessions", "ended": ended }),
    ))
}

/// `GET /logout/everywhere/`: ends every session of the user, this one
/// included.
async fn logout_everywhere(
    State(versions): State<Accounts>,
    session: Session,
) -> Result<Json<Value>, Error> {
    let Some(user) = session.user().await? else {
        return Ok(Json(json!({ "message": "Login first" })));
    };
    let ended = match &versions {
        None => Some(session.end_all_sessions().await?),
        Some(versions) => {
            versions.bump(&user);
            session.destroy();
            None
        }
    };
    Ok(Json(
        json!({ "message": "Logged out everywhere", "ended": ended }),
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let store = std::env::var("SESSION_STORE").unwrap_or_else(|_| "memory".to_owned());
    let (layer, versions) = match session_layer(&store).await {
        Ok(built) => built,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    // Plain http (this app's default) needs `Secure` off: browsers drop
    // `Secure` cookies there (except on localhost). In production, behind
    // HTTPS, run with SESSION_HTTPS=1: the cookie becomes `__Host-session`
    // (`Secure`, `Path=/`, no `Domain`), which browsers accept only from
    // this exact host, so a sibling subdomain cannot plant a session cookie
    // for it ("cookie tossing").
    let config = if std::env::var("SESSION_HTTPS").is_ok_and(|v| v == "1") {
        SessionConfig::new().with_host_prefix(true)
    } else {
        SessionConfig::new().with_secure(false)
    };
    // SESSION_SERIALIZE=1: the requests of one session take turns (a
    // request waits while another of the same session runs). With Redis
    // the turn is a lease in Redis, so it holds across every instance of
    // the app sharing that Redis.
    let config =
        config.with_serialized_requests(std::env::var("SESSION_SERIALIZE").is_ok_and(|v| v == "1"));

    let app = Router::new()
        .route("/login/{username}/", get(login))
        .route("/get/", get(profile))
        .route("/logout/", get(logout))
        .route("/sessions/", get(sessions))
        .route("/logout/others/", get(logout_others))
        .route("/logout/everywhere/", get(logout_everywhere))
        .layer(layer.with_config(config))
        .with_state(versions);

    let port = port();
    let listener = match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("error: cannot listen on port {port}: {err}");
            return ExitCode::from(2);
        }
    };
    if let Ok(addr) = listener.local_addr() {
        println!("listening on http://{addr}");
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What `SESSION_STORE` may be (`…`: the rest of a URL).
const STORES: &str = "memory, cookie, cookie-encrypted, starlette, sqlite://sessions.db, \
                      sqlite::memory:, postgres://…, mysql://…, mariadb://…, redis://…, \
                      rediss://…, redis+cluster://host:port,host:port";

/// The session layer for `store`, and the versions that revoke sessions
/// when they are kept in cookies. Error messages leave the URL out: it may
/// hold a password.
async fn session_layer(store: &str) -> Result<(SessionLayer, Accounts), Box<dyn StdError>> {
    if cache_mode()?.is_some() && !store.starts_with("redis") {
        return Err("SESSION_CACHE works with a Redis store (SESSION_STORE=redis://… or redis+cluster://…) only".into());
    }
    let data_keys = data_keys()?;
    let layer = match store {
        // Server-side stores keep the data; the cookie holds a signed id.
        "memory" => server_side(MemoryStore::new(), data_keys)?,
        // Client-side: the data is in the cookie itself (4 KB at most).
        "cookie" | "cookie-encrypted" | "starlette" => {
            if data_keys.is_some() {
                return Err(format!(
                    "SESSION_DATA_KEY encrypts what a server-side store keeps; with \
                     SESSION_STORE={store} the data is in the cookie (cookie-encrypted \
                     encrypts it with SESSION_SECRET): unset SESSION_DATA_KEY"
                )
                .into());
            }
            let layer = match store {
                "cookie" => SessionLayer::client_side(SignedCookie::new(&keys()?)),
                "cookie-encrypted" => SessionLayer::client_side(EncryptedCookie::new(&keys()?)),
                _ => SessionLayer::client_side(starlette_cookie()),
            };
            let versions = Versions::default();
            return Ok((revocable(layer, versions.clone()), Some(versions)));
        }
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let redis = RedisStore::connect(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            let redis = local_cache(redis).await?;
            server_side(redis, data_keys)?
        }
        url if url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") => {
            let redis = RedisStore::connect_spec(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            let redis = local_cache(redis).await?;
            server_side(redis, data_keys)?
        }
        url if [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ]
        .iter()
        .any(|scheme| url.starts_with(scheme)) =>
        {
            let sql = SqlStore::connect(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a database that cannot be used: {e}"))?;
            // Creates the `sessions` table if it is not there yet.
            sql.migrate()
                .await
                .map_err(|e| format!("creating the sessions table failed: {e}"))?;
            // Deletes expired rows every ten minutes, as long as the app
            // runs (dropping the handle does not stop the task).
            drop(sql.spawn_cleanup(Duration::from_secs(10 * 60)));
            server_side(sql, data_keys)?
        }
        other => {
            let shown = match other.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://…"),
                None => other.to_owned(),
            };
            return Err(format!("unknown SESSION_STORE {shown:?}; valid values: {STORES}").into());
        }
    };
    Ok((layer, None))
}

/// A layer for a server-side `store`: the cookie holds the id signed with
/// `SESSION_SECRET`; values are encrypted in the store with `data_keys`
/// (`SESSION_DATA_KEY`) when there are any.
fn server_side(store: impl SessionStore, data_keys: Option<Keys>) -> Result<SessionLayer, String> {
    let layer = SessionLayer::new(store, keys()?);
    Ok(match data_keys {
        Some(data_keys) => layer.with_data_keys(data_keys),
        None => layer,
    })
}

/// `layer` (sessions kept in cookies) with a check of every session it
/// loads. A session bound to a user must carry the user's current version,
/// or it is over (the handler sees a new visitor, the browser is told to
/// drop the cookie). A session bound to no user goes on only while it
/// holds no profile: only a login writes one, and a profile without a user
/// (a cookie written elsewhere) could never be revoked.
fn revocable(layer: SessionLayer, versions: Versions) -> SessionLayer {
    layer.with_check(move |session: LoadedSession| {
        let versions = versions.clone();
        async move {
            let Some(user) = session.user else {
                // Not logged in: nothing to revoke, unless it claims to be.
                return Ok(!session.data.contains_key("username"));
            };
            // A real app reads the version from its database here, with
            // `?`: an error fails the check and the request answers 503,
            // never letting the session through.
            let current = versions.current(&user);
            Ok(match session.data.get(USER_VERSION) {
                // No version (a cookie a Starlette app wrote) counts as the
                // first one: still revoked by the first bump.
                None => current == 0,
                Some(version) => version.as_u64() == Some(current),
            })
        }
    })
}

/// The keys from `SESSION_DATA_KEY` (hex, comma-separated to rotate: the
/// first encrypts, all decrypt), or `None` when it is unset.
fn data_keys() -> Result<Option<Keys>, String> {
    if std::env::var_os("SESSION_DATA_KEY").is_none_or(|keys| keys.is_empty()) {
        return Ok(None);
    }
    Keys::from_env("SESSION_DATA_KEY")
        .map(Some)
        .map_err(|e| format!("SESSION_DATA_KEY: {e}"))
}

/// What `SESSION_CACHE` asks for: unset or `0`, no cache; `1`, a local
/// cache of sessions that serves reads with no round trip to Redis, kept
/// coherent by Redis (`CLIENT TRACKING`): a write on another instance
/// reaches it a moment later (a read right after it may still see the
/// write before); `fenced`, the same cache, but every read first checks
/// with Redis (one `PING`) that no write came meanwhile.
fn cache_mode() -> Result<Option<CacheMode>, String> {
    match std::env::var("SESSION_CACHE").as_deref() {
        Err(_) | Ok("0") => Ok(None),
        Ok("1") => Ok(Some(CacheMode::Pushed)),
        Ok("fenced") => Ok(Some(CacheMode::Fenced)),
        Ok(other) => Err(format!(
            "SESSION_CACHE must be 0, 1 or fenced, not {other:?}"
        )),
    }
}

/// `redis` with the local cache `SESSION_CACHE` asks for (10,000 sessions
/// at most).
async fn local_cache(redis: RedisStore) -> Result<RedisStore, String> {
    let Some(mode) = cache_mode()? else {
        return Ok(redis);
    };
    redis
        .with_local_cache_mode(10_000, mode)
        .await
        .map_err(|e| format!("SESSION_CACHE: the local cache cannot be set up: {e}"))
}

/// The keys from `SESSION_SECRET` (hex, comma-separated to rotate: the
/// first signs, all verify), or a random key that dies with the process.
fn keys() -> Result<Keys, String> {
    if std::env::var("SESSION_SECRET").is_ok_and(|secret| !secret.is_empty()) {
        return Keys::from_env("SESSION_SECRET").map_err(|e| format!("SESSION_SECRET: {e}"));
    }
    tracing::warn!(
        "SESSION_SECRET is not set: using a random key, so sessions will not survive a \
         restart (make a key with `openssl rand -hex 32`)"
    );
    Ok(Key::generate().into())
}

/// Starlette's cookie format, signed with `SESSION_SECRET` taken as the
/// secret text exactly as the FastAPI app has it (not hex). Starlette takes
/// short secrets, so this does too, with a warning.
fn starlette_cookie() -> StarletteCookie {
    let secret = match std::env::var("SESSION_SECRET") {
        Ok(secret) if !secret.is_empty() => secret,
        _ => {
            tracing::warn!(
                "SESSION_SECRET is not set: using a random secret, so sessions will not \
                 survive a restart nor be shared with a Starlette app"
            );
            Key::generate().to_hex()
        }
    };
    let codec = StarletteCookie::new(&secret);
    if codec.is_weak_secret() {
        tracing::warn!(
            min = StarletteCookie::MIN_SECRET_LEN,
            "SESSION_SECRET is short: a short secret can be guessed offline from one cookie"
        );
    }
    codec
}

/// `PORT`, or 8000.
fn port() -> u16 {
    match std::env::var("PORT") {
        Ok(text) => text.parse().unwrap_or_else(|_| {
            tracing::warn!(%text, "PORT is not a port number; using 8000");
            8000
        }),
        Err(_) => 8000,
    }
}
