//! The session layer for the store named by `SESSION_STORE`.

use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie};
use session_core::{Key, Keys, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;
use session_store_redis::RedisStore;
use session_store_sql::SqlStore;

use crate::Settings;

/// The values `SESSION_STORE` accepts (`…` stands for the rest of a URL).
pub const VALID_STORES: &[&str] = &[
    "memory",
    "cookie",
    "cookie-encrypted",
    "starlette",
    "redis://…",
    "rediss://…",
    "redis+cluster://host:port,host:port",
    "sqlite://sessions.db",
    "sqlite::memory:",
    "postgres://…",
    "mysql://…",
];

/// How often SQL stores delete expired rows.
const SQL_CLEANUP_PERIOD: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The signing keys from `SESSION_SECRET` (hex, comma-separated for
/// rotation: the first signs), or a fresh key with a warning.
///
/// ```
/// let settings = examples::Settings { port: 0, secret: None, store: "memory".into(), serialize: true };
/// let keys = examples::stores::keys(&settings)?;
/// assert_eq!(keys.len(), 1);
/// # Ok::<(), String>(())
/// ```
pub fn keys(settings: &Settings) -> Result<Keys, String> {
    match &settings.secret {
        Some(text) => {
            let keys = text
                .split(',')
                .map(Key::from_hex)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("SESSION_SECRET: {e}"))?;
            Keys::new(keys).map_err(|e| format!("SESSION_SECRET: {e}"))
        }
        None => {
            tracing::warn!(
                "SESSION_SECRET is not set: using a random key, so sessions will not survive a \
                 restart (make one with `cargo run -p examples --bin keygen`)"
            );
            Ok(Key::generate().into())
        }
    }
}

/// The layer for `settings.store`, configured with `config`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), String> {
/// let settings = examples::Settings { port: 0, secret: None, store: "memory".into(), serialize: true };
/// let layer = examples::stores::session_layer(&settings, session_core::SessionConfig::new()).await?;
/// # let _ = layer;
/// let bad = examples::Settings { store: "floppy".into(), ..settings };
/// let err = examples::stores::session_layer(&bad, session_core::SessionConfig::new()).await.unwrap_err();
/// assert!(err.contains("memory"));
/// # Ok(()) }
/// ```
pub async fn session_layer(
    settings: &Settings,
    config: SessionConfig,
) -> Result<SessionLayer, String> {
    let spec = settings.store.as_str();
    let layer = match spec {
        "memory" => SessionLayer::new(MemoryStore::new(), keys(settings)?),
        "cookie" => SessionLayer::client_side(SignedCookie::new(&keys(settings)?)),
        "cookie-encrypted" => SessionLayer::client_side(EncryptedCookie::new(&keys(settings)?)),
        "starlette" => SessionLayer::client_side(starlette(settings)),
        redis if is_redis(redis) => {
            // The message leaves the spec out: its URL may hold a password.
            let store = RedisStore::connect_spec(redis)
                .await
                .map_err(|e| format!("SESSION_STORE names a Redis that cannot be used: {e}"))?;
            SessionLayer::new(store, keys(settings)?)
        }
        sql if is_sql(sql) => {
            // The messages leave the spec out: its URL may hold a password.
            let store = SqlStore::connect(sql)
                .await
                .map_err(|e| format!("SESSION_STORE names a database that cannot be used: {e}"))?;
            store
                .migrate()
                .await
                .map_err(|e| format!("creating the sessions table failed: {e}"))?;
            // Runs for the life of the process.
            drop(store.spawn_cleanup(SQL_CLEANUP_PERIOD));
            SessionLayer::new(store, keys(settings)?)
        }
        other => {
            return Err(format!(
                "unknown SESSION_STORE {}; valid values: {}",
                redacted(other),
                VALID_STORES.join(", ")
            ))
        }
    };
    Ok(layer.with_config(config))
}

/// The Starlette-compatible codec. `SESSION_SECRET` is the secret text
/// exactly as given to Starlette (any UTF-8, not hex); Starlette accepts
/// short secrets, so this does too, with a warning.
fn starlette(settings: &Settings) -> StarletteCookie {
    let secret = settings.secret.clone().unwrap_or_else(|| {
        tracing::warn!(
            "SESSION_SECRET is not set: using a random secret, so sessions will not survive a \
             restart nor be shared with a Starlette app"
        );
        Key::generate().to_hex()
    });
    let codec = StarletteCookie::new(&secret);
    if codec.is_weak_secret() {
        tracing::warn!(
            min = StarletteCookie::MIN_SECRET_LEN,
            "SESSION_SECRET is short: a short secret can be guessed offline from one cookie"
        );
    }
    codec
}

/// `spec` fit for an error message: a URL is cut to its scheme, since the
/// rest may hold a password.
fn redacted(spec: &str) -> String {
    match spec.split_once("://") {
        Some((scheme, _)) => format!("{:?}", format!("{scheme}://…")),
        None => format!("{spec:?}"),
    }
}

/// Whether `spec` names Redis: one server (`redis://`, `rediss://`) or a
/// cluster (`redis+cluster://`, `rediss+cluster://`).
fn is_redis(spec: &str) -> bool {
    [
        "redis://",
        "rediss://",
        "redis+cluster://",
        "rediss+cluster://",
    ]
    .iter()
    .any(|scheme| spec.starts_with(scheme))
}

/// Whether `spec` names an SQL database: SQLite (`sqlite:`), PostgreSQL
/// (`postgres://`, `postgresql://`) or MySQL/MariaDB (`mysql://`, `mariadb://`).
fn is_sql(spec: &str) -> bool {
    [
        "sqlite:",
        "postgres://",
        "postgresql://",
        "mysql://",
        "mariadb://",
    ]
    .iter()
    .any(|scheme| spec.starts_with(scheme))
}
