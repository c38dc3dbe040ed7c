//! `SESSION_STORE` and the variables that go with it: the session layer
//! for every store, the keys, the local Redis cache, encryption at rest,
//! and the version check that revokes sessions kept in cookies.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use session_core::store::SessionStore;
use session_core::{
    EncryptedCookie, Key, Keys, LoadedSession, SessionLayer, SignedCookie, StarletteCookie,
};
use session_store_memory::MemoryStore;
use session_store_redis::{CacheMode, RedisStore};
use session_store_sql::SqlStore;

/// What `SESSION_STORE` may be (`…`: the rest of a URL).
pub const STORES: &str = "memory, cookie, cookie-encrypted, starlette, sqlite://sessions.db, \
                          sqlite::memory:, postgres://…, mysql://…, mariadb://…, redis://…, \
                          rediss://…, redis+cluster://host:port,host:port";

/// The SQL URL schemes `SESSION_STORE` takes.
const SQL_SCHEMES: &[&str] = &[
    "sqlite:",
    "postgres://",
    "postgresql://",
    "mysql://",
    "mariadb://",
];

/// The session key holding the user's session version at login (sessions
/// kept in cookies only).
pub const USER_VERSION: &str = "user_version";

/// Each user's current session version, for revoking sessions kept in
/// cookies: the server cannot delete a cookie, so every request compares
/// the version its session got at login with the user's current one, and
/// "log out everywhere" bumps the current one (see [`revocable`]). A user
/// never bumped is at version 0.
///
/// This map lives in this one process. A real app keeps the versions in
/// its database (a column of the users table), so that every instance
/// shares them and they survive a restart.
#[derive(Clone, Default)]
pub struct Versions(Arc<Mutex<HashMap<String, u64>>>);

impl Versions {
    /// `user`'s current version.
    pub fn current(&self, user: &str) -> u64 {
        let versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        versions.get(user).copied().unwrap_or(0)
    }

    /// Moves `user` to a new version, ending every session issued before;
    /// returns the new version.
    pub fn bump(&self, user: &str) -> u64 {
        let mut versions = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let version = versions.entry(user.to_owned()).or_insert(0);
        *version += 1;
        *version
    }
}

/// What the login scenario's handlers share: the versions when sessions
/// are kept in cookies, `None` with a server-side store (which lists and
/// deletes sessions itself).
pub type Accounts = Option<Versions>;

/// Whether `store` keeps sessions in the cookie.
pub fn is_client_side(store: &str) -> bool {
    matches!(store, "cookie" | "cookie-encrypted" | "starlette")
}

/// The session layer for `store`. With `revoke` (the login scenario), a
/// layer keeping sessions in cookies checks every session's version, and
/// the versions come back with it. Error messages leave the URL out: it
/// may hold a password.
pub async fn session_layer(
    store: &str,
    revoke: bool,
) -> Result<(SessionLayer, Accounts), Box<dyn StdError>> {
    let cache = cache_mode()?;
    if cache.is_some() && !store.starts_with("redis") {
        return Err(
            "SESSION_CACHE works with a Redis store (SESSION_STORE=redis://… or \
                    redis+cluster://…) only"
                .into(),
        );
    }
    // Read before connecting: a bad key is reported at once.
    let data_keys = data_keys()?;
    if is_client_side(store) {
        if data_keys.is_some() {
            return Err(format!(
                "SESSION_DATA_KEY encrypts what a server-side store keeps; with \
                 SESSION_STORE={store} the data is in the cookie (cookie-encrypted \
                 encrypts it with SESSION_SECRET): unset SESSION_DATA_KEY"
            )
            .into());
        }
        // Client-side: the data is in the cookie itself (4 KB at most).
        let layer = match store {
            "cookie" => SessionLayer::client_side(SignedCookie::new(&keys()?)),
            "cookie-encrypted" => SessionLayer::client_side(EncryptedCookie::new(&keys()?)),
            _ => SessionLayer::client_side(starlette_cookie()),
        };
        if !revoke {
            return Ok((layer, None));
        }
        let versions = Versions::default();
        return Ok((revocable(layer, versions.clone()), Some(versions)));
    }
    // Server-side stores keep the data; the cookie holds a signed id.
    let layer = match store {
        "memory" => server_side(MemoryStore::new(), data_keys)?,
        url if url.starts_with("redis://") || url.starts_with("rediss://") => {
            let redis = RedisStore::connect(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            server_side(local_cache(redis, cache).await?, data_keys)?
        }
        url if url.starts_with("redis+cluster://") || url.starts_with("rediss+cluster://") => {
            let redis = RedisStore::connect_spec(url)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            server_side(local_cache(redis, cache).await?, data_keys)?
        }
        url if SQL_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) => {
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
    let layer = SessionLayer::new(session_core::store::AnyStore::new(store), keys()?);
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

/// `redis` with the local cache `mode` (10,000 sessions at most), if any.
async fn local_cache(redis: RedisStore, mode: Option<CacheMode>) -> Result<RedisStore, String> {
    let Some(mode) = mode else {
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
