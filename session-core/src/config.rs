//! Everything the layer can be told: the cookie's attributes, timeouts and
//! request handling.

use std::sync::Arc;
use std::time::Duration;

pub use cookie::SameSite;
use time::OffsetDateTime;

use crate::life::{Clock, SystemClock};
use crate::transport::Transport;
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};

/// The largest cookie (name plus value) that browsers keep, in bytes.
///
/// RFC 6265 asks browsers to keep at least this much; Chromium and Firefox
/// silently drop anything larger.
pub const MAX_COOKIE_SIZE: usize = 4096;

/// The default lifetime of a session: 14 days, as in Starlette.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// How far a session's expiry may lag behind the exact one by default
/// ([`SessionConfig::with_expiry_precision`]).
pub const DEFAULT_EXPIRY_PRECISION: Duration = Duration::from_secs(60);

/// A [`SessionConfig`] whose cookie attributes a `Set-Cookie` header
/// cannot carry safely, from [`SessionConfig::validate`] and
/// [`SessionLayer::try_with_config`](crate::SessionLayer::try_with_config).
///
/// ```
/// use session_core::{ConfigError, SessionConfig};
///
/// let config = SessionConfig::new().with_cookie_name("my session");
/// assert!(matches!(config.validate(), Err(ConfigError::CookieName { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is not an RFC 6265 token.
    #[error(
        "cookie name {name:?} is not a token: use ASCII letters, digits and \
         ! # $ % & ' * + - . ^ _ ` | ~ only (no space, control character or ( ) < > @ , ; : \\ \" / [ ] ? = {{ }})"
    )]
    CookieName {
        /// The name as it would be sent (with `__Host-` when enabled).
        name: String,
    },
    /// The cookie path does not start with `/`, or holds a `;`, a control
    /// character or a non-ASCII character.
    #[error(
        "cookie path {path:?} must start with `/` and hold only visible ASCII and spaces, \
         without `;` (percent-encode anything else)"
    )]
    Path {
        /// The configured path.
        path: String,
    },
    /// The cookie domain is empty or not a host name.
    #[error(
        "cookie domain {domain:?} must be a host name: ASCII letters, digits, `-`, `_` and `.` \
         (write internationalized names in their `xn--` form)"
    )]
    Domain {
        /// The configured domain.
        domain: String,
    },
    /// The token header transport names a header that is no place for a
    /// token: `Cookie` or `Set-Cookie`, or a response header of another
    /// kind the layer or a proxy writes (`Vary`, `Cache-Control`).
    #[error(
        "the token header {header:?} cannot carry the session token; choose a header of \
         its own such as `Session-Token`"
    )]
    TokenHeader {
        /// The refused header name.
        header: String,
    },
}

/// How long a session lives: set per session with
/// [`Session::set_expiry`](crate::Session::set_expiry).
///
/// ```
/// use session_core::Expiry;
/// use std::time::Duration;
///
/// let remember_me = Expiry::OnInactivity(Duration::from_secs(30 * 24 * 3600));
/// assert_ne!(remember_me, Expiry::OnSessionEnd);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Ends when the browser session ends (a cookie without `Max-Age`); the
    /// server still forgets it after the idle timeout, or else the max age.
    OnSessionEnd,
    /// Ends after this long without a request that uses it.
    OnInactivity(Duration),
    /// Ends at this instant.
    AtDateTime(OffsetDateTime),
}

impl Expiry {
    /// The compact text stores keep for a policy: `end` for
    /// [`OnSessionEnd`](Expiry::OnSessionEnd), `idle:<ms>` for
    /// [`OnInactivity`](Expiry::OnInactivity), `at:<Unix ms>` for
    /// [`AtDateTime`](Expiry::AtDateTime) (milliseconds, so a sub-millisecond
    /// part is dropped).
    ///
    /// ```
    /// use session_core::Expiry;
    /// use std::time::Duration;
    ///
    /// let remember_me = Expiry::OnInactivity(Duration::from_secs(30 * 86_400));
    /// assert_eq!(remember_me.to_stored(), "idle:2592000000");
    /// assert_eq!(Expiry::from_stored(&remember_me.to_stored()), Some(remember_me));
    /// ```
    pub fn to_stored(&self) -> String {
        match self {
            Expiry::OnSessionEnd => "end".to_owned(),
            Expiry::OnInactivity(ttl) => format!("idle:{}", ttl.as_millis()),
            Expiry::AtDateTime(at) => format!("at:{}", crate::store::unix_millis(*at)),
        }
    }

    /// Reads what [`to_stored`](Expiry::to_stored) wrote; `None` for
    /// anything else (a store reports that as a corrupt record).
    ///
    /// ```
    /// use session_core::Expiry;
    ///
    /// assert_eq!(Expiry::from_stored("end"), Some(Expiry::OnSessionEnd));
    /// assert_eq!(Expiry::from_stored("idle:x"), None);
    /// ```
    pub fn from_stored(text: &str) -> Option<Self> {
        if text == "end" {
            return Some(Expiry::OnSessionEnd);
        }
        if let Some(ms) = text.strip_prefix("idle:") {
            return ms
                .parse()
                .ok()
                .map(|ms| Expiry::OnInactivity(Duration::from_millis(ms)));
        }
        let ms: i64 = text.strip_prefix("at:")?.parse().ok()?;
        crate::store::from_unix_millis(ms).map(Expiry::AtDateTime)
    }
}

/// The layer's settings, with Starlette's names mapped to Rust ones and
/// safe defaults.
///
/// | Starlette `SessionMiddleware` | here | default |
/// |---|---|---|
/// | `session_cookie` | [`with_cookie_name`](Self::with_cookie_name) | `"session"` |
/// | `max_age` | [`with_max_age`](Self::with_max_age) | 14 days |
/// | `path` | [`with_path`](Self::with_path) | `/` |
/// | `same_site` | [`with_same_site`](Self::with_same_site) | `Lax` |
/// | `https_only` | [`with_secure`](Self::with_secure) | **on** (Starlette: off) |
/// | `domain` | [`with_domain`](Self::with_domain) | none |
/// | — | [`with_http_only`](Self::with_http_only) | on |
/// | — | [`with_partitioned`](Self::with_partitioned) | off |
/// | — | [`with_host_prefix`](Self::with_host_prefix) | off |
/// | — | [`with_idle_timeout`](Self::with_idle_timeout) | none |
/// | — | [`with_absolute_timeout`](Self::with_absolute_timeout) | none |
/// | — | [`with_rolling`](Self::with_rolling) | off |
/// | — | [`with_serialized_requests`](Self::with_serialized_requests) | off |
/// | — | [`with_transport`](Self::with_transport) | the cookie |
/// | — | [`with_expiry_precision`](Self::with_expiry_precision) | 60 s (at most 1 % of the lifetime) |
///
/// ```
/// use session_core::{SameSite, SessionConfig};
/// use std::time::Duration;
///
/// let config = SessionConfig::default()
///     .with_cookie_name("session_id")
///     .with_max_age(Some(Duration::from_secs(1800)))
///     .with_same_site(SameSite::Strict)
///     .with_idle_timeout(Some(Duration::from_secs(900)));
/// assert_eq!(config.cookie_name(), "session_id");
/// ```
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub(crate) name: String,
    pub(crate) max_age: Option<Duration>,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) same_site: SameSite,
    /// `Secure`, `HttpOnly`, `Partitioned`.
    pub(crate) flags: CookieFlags,
    pub(crate) host_prefix: bool,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) absolute_timeout: Option<Duration>,
    pub(crate) rolling: bool,
    pub(crate) serialize: bool,
    pub(crate) expiry_precision: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) transport: Transport,
}

/// The cookie attributes that are on or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CookieFlags {
    pub(crate) secure: bool,
    pub(crate) http_only: bool,
    pub(crate) partitioned: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            name: "session".to_owned(),
            max_age: Some(DEFAULT_MAX_AGE),
            path: "/".to_owned(),
            domain: None,
            same_site: SameSite::Lax,
            flags: CookieFlags {
                secure: true,
                http_only: true,
                partitioned: false,
            },
            host_prefix: false,
            idle_timeout: None,
            absolute_timeout: None,
            rolling: false,
            serialize: false,
            expiry_precision: DEFAULT_EXPIRY_PRECISION,
            clock: Arc::new(SystemClock),
            transport: Transport::Cookie,
        }
    }
}

impl SessionConfig {
    /// The defaults (same as [`SessionConfig::default`]).
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// assert_eq!(SessionConfig::new().cookie_name(), "session");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The cookie's name (Starlette's `session_cookie`); default `session`.
    ///
    /// It must be an RFC 6265 token (letters, digits and
    /// ``! # $ % & ' * + - . ^ _ ` | ~``): anything else is refused when the
    /// configuration is given to the layer (see [`validate`](Self::validate)).
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_cookie_name("sid");
    /// assert_eq!(config.cookie_name(), "sid");
    /// ```
    pub fn with_cookie_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The cookie's `Max-Age` and the session's lifetime; `None` makes a
    /// browser-session cookie. Default 14 days.
    ///
    /// ```
    /// use session_core::SessionConfig;
    /// use std::time::Duration;
    ///
    /// let config = SessionConfig::new().with_max_age(Some(Duration::from_secs(1800)));
    /// # let _ = config;
    /// ```
    pub fn with_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The cookie's `Path`; default `/`. It must start with `/` and hold
    /// only visible ASCII (and spaces), without `;` (see
    /// [`validate`](Self::validate)).
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_path("/app");
    /// # let _ = config;
    /// ```
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The cookie's `Domain`; default none (this host only). It must be a
    /// host name: ASCII letters, digits, `-`, `_` and `.` (see
    /// [`validate`](Self::validate)).
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_domain(Some("example.com".into()));
    /// # let _ = config;
    /// ```
    pub fn with_domain(mut self, domain: Option<String>) -> Self {
        self.domain = domain;
        self
    }

    /// The cookie's `SameSite`; default `Lax`.
    ///
    /// ```
    /// use session_core::{SameSite, SessionConfig};
    ///
    /// let config = SessionConfig::new().with_same_site(SameSite::Strict);
    /// # let _ = config;
    /// ```
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// The cookie's `Secure` flag (Starlette's `https_only`); default **on**.
    /// Turn it off only to serve plain `http://` in development.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_secure(false); // plain http in development
    /// # let _ = config;
    /// ```
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.flags.secure = secure;
        self
    }

    /// The cookie's `HttpOnly` flag (scripts cannot read it); default on.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_http_only(true);
    /// # let _ = config;
    /// ```
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.flags.http_only = http_only;
        self
    }

    /// The cookie's `Partitioned` attribute (CHIPS); default off.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_partitioned(true);
    /// # let _ = config;
    /// ```
    pub fn with_partitioned(mut self, partitioned: bool) -> Self {
        self.flags.partitioned = partitioned;
        self
    }

    /// Prefixes the cookie name with `__Host-`, which makes browsers insist
    /// on `Secure`, `Path=/` and no `Domain`: the layer then sends exactly
    /// that, whatever else was configured. Default off.
    ///
    /// # Why: cookie tossing
    ///
    /// A cookie is not bound to the host that set it. Any sibling
    /// subdomain — `blog.example.com`, a user-content host, a forgotten
    /// staging server — can set `session=…; Domain=example.com`, and the
    /// browser sends it to `app.example.com` too, often *before* the
    /// app's own cookie (longer paths first, then older cookies first). A
    /// `Cookie` header does not say where a cookie came from, so the server
    /// cannot tell the two apart.
    ///
    /// The layer takes the first cookie of its name that verifies, so a
    /// tossed cookie that is garbage, or signed with another key, is passed
    /// over and cannot hide the real session. But a tossed cookie that
    /// *does* verify — the attacker's own valid session, planted to log the
    /// victim into the attacker's account (session fixation, login CSRF),
    /// or a sibling app's cookie under a shared key — wins, and no
    /// server-side rule can refuse it.
    ///
    /// Only the browser knows a cookie's origin, and `__Host-` is how it is
    /// asked to enforce it: it keeps a `__Host-` cookie only when it was set
    /// by this exact host over HTTPS without `Domain`, so no other host can
    /// set, overwrite or shadow it. Turn the prefix on whenever the
    /// application has sibling subdomains it does not fully control (and
    /// call [`Session::cycle_id`](crate::Session::cycle_id) at login in any
    /// case). It needs HTTPS (browsers drop a `__Host-` cookie without
    /// `Secure`, though some allow it on `localhost`), and it rules out
    /// sharing the session across subdomains with
    /// [`with_domain`](Self::with_domain), which is ignored.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_host_prefix(true);
    /// assert_eq!(config.cookie_name(), "__Host-session");
    /// ```
    pub fn with_host_prefix(mut self, host_prefix: bool) -> Self {
        self.host_prefix = host_prefix;
        self
    }

    /// Ends a session after this long without a request that uses it,
    /// enforced by the server. Requests that use the session move the expiry
    /// (a cheap touch, no data rewrite). Default none.
    ///
    /// ```
    /// use session_core::SessionConfig;
    /// use std::time::Duration;
    ///
    /// let config = SessionConfig::new().with_idle_timeout(Some(Duration::from_secs(1800)));
    /// # let _ = config;
    /// ```
    pub fn with_idle_timeout(mut self, idle: Option<Duration>) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Ends a session this long after it was created, whatever the activity,
    /// enforced by the server. Default none.
    ///
    /// ```
    /// use session_core::SessionConfig;
    /// use std::time::Duration;
    ///
    /// let config = SessionConfig::new().with_absolute_timeout(Some(Duration::from_secs(86_400)));
    /// # let _ = config;
    /// ```
    pub fn with_absolute_timeout(mut self, absolute: Option<Duration>) -> Self {
        self.absolute_timeout = absolute;
        self
    }

    /// Rolling expiry: every request that uses the session extends it (the
    /// store's expiry is touched and the cookie re-sent with a fresh
    /// `Max-Age`); the data is not rewritten. Default off.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_rolling(true);
    /// # let _ = config;
    /// ```
    pub fn with_rolling(mut self, rolling: bool) -> Self {
        self.rolling = rolling;
        self
    }

    /// Per-session request serialization: requests that carry the same
    /// session run one after another, so a read-modify-write such as a
    /// counter loses nothing. Requests without a session, and requests of
    /// different sessions, still run in parallel. Default off.
    ///
    /// Within this process, a lock per session is taken before the handler
    /// runs. Across instances, a store that offers leases
    /// ([`LeaseStore::lock`](crate::store::LeaseStore::lock), e.g. the
    /// Redis store) gives one to the request when it first loads its
    /// session, until its writes are done; a request whose lease does not
    /// come in time is answered `503`.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// let config = SessionConfig::new().with_serialized_requests(true);
    /// # let _ = config;
    /// ```
    pub fn with_serialized_requests(mut self, serialize: bool) -> Self {
        self.serialize = serialize;
        self
    }

    /// How far a session's expiry may lag behind the exact one, so that
    /// requests close together do not each move it. Default 60 s, and never
    /// more than 1 % of the session's lifetime (9 s for a 15-minute idle
    /// timeout); `Duration::ZERO` moves it on every request that may (the
    /// behaviour before this setting existed).
    ///
    /// A request that would move the expiry later by no more than this
    /// keeps the stored one: the store does not rewrite it (a request that
    /// only reads, under rolling expiry or an idle timeout, then writes
    /// nothing at all), and the cookie, whose expiry is the same, is not
    /// sent again. The session may so end up to this much earlier than
    /// exactly its lifetime after the last request, never later; the
    /// browser's cookie and the store agree throughout. An expiry that
    /// moves earlier (a shorter policy, the absolute timeout) always
    /// applies, as does a new id or expiry policy.
    ///
    /// ```
    /// use session_core::SessionConfig;
    /// use std::time::Duration;
    ///
    /// // Re-send the cookie and rewrite the expiry on every request.
    /// let exact = SessionConfig::new().with_expiry_precision(Duration::ZERO);
    /// # let _ = exact;
    /// ```
    pub fn with_expiry_precision(mut self, precision: Duration) -> Self {
        self.expiry_precision = precision;
        self
    }

    /// The clock used for expiry; tests pass a [`ManualClock`](crate::ManualClock).
    ///
    /// ```
    /// use session_core::{ManualClock, SessionConfig};
    ///
    /// let config = SessionConfig::new().with_clock(ManualClock::starting_now());
    /// # let _ = config;
    /// ```
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cookie name as sent, with the `__Host-` prefix when enabled.
    ///
    /// ```
    /// use session_core::SessionConfig;
    ///
    /// assert_eq!(SessionConfig::new().cookie_name(), "session");
    /// ```
    pub fn cookie_name(&self) -> String {
        if self.host_prefix {
            format!("__Host-{}", self.name)
        } else {
            self.name.clone()
        }
    }

    /// Checks that the cookie's name, path and domain can be sent in a
    /// `Set-Cookie` header as they are: the name an RFC 6265 token, the
    /// path starting with `/` without `;`, control or non-ASCII
    /// characters, the domain a host name. Anything else would let a
    /// setting inject cookie attributes (`; Domain=…`) or make every
    /// response fail.
    ///
    /// [`SessionLayer::with_config`](crate::SessionLayer::with_config)
    /// calls it and panics on an error, at startup;
    /// [`SessionLayer::try_with_config`](crate::SessionLayer::try_with_config)
    /// returns the error instead.
    ///
    /// ```
    /// use session_core::{ConfigError, SessionConfig};
    ///
    /// assert_eq!(SessionConfig::new().with_path("/app").validate(), Ok(()));
    /// let injected = SessionConfig::new().with_path("/; Domain=example.com");
    /// assert!(matches!(injected.validate(), Err(ConfigError::Path { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name = self.cookie_name();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ConfigError::CookieName { name });
        }
        let path_ok = self.path.starts_with('/')
            && self
                .path
                .bytes()
                .all(|byte| matches!(byte, b' '..=b'~') && byte != b';');
        if !path_ok {
            return Err(ConfigError::Path {
                path: self.path.clone(),
            });
        }
        if let Some(header) = self.transport.header() {
            for name in [header.request_header(), header.response_header()] {
                if [COOKIE, SET_COOKIE, VARY, CACHE_CONTROL].contains(name) {
                    return Err(ConfigError::TokenHeader {
                        header: name.as_str().to_owned(),
                    });
                }
            }
        }
        if let Some(domain) = &self.domain {
            let domain_ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
            if !domain_ok {
                return Err(ConfigError::Domain {
                    domain: domain.clone(),
                });
            }
        }
        Ok(())
    }

    /// Where the session's token travels: the cookie (the default), a
    /// request header (APIs, mobile apps), or both at once; see
    /// [`Transport`] for the client's contract. Idle and absolute
    /// timeouts, rotation on [`cycle_id`](crate::Session::cycle_id),
    /// accounts, serialization and encryption at rest work the same on
    /// every transport.
    ///
    /// ```
    /// use session_core::{SessionConfig, TokenHeader, Transport};
    ///
    /// let config = SessionConfig::new().with_transport(Transport::Header(TokenHeader::bearer()));
    /// assert_eq!(config.transport(), &Transport::Header(TokenHeader::bearer()));
    /// ```
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The configured transport.
    ///
    /// ```
    /// use session_core::{SessionConfig, Transport};
    ///
    /// assert_eq!(SessionConfig::new().transport(), &Transport::Cookie);
    /// ```
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The configured max age.
    ///
    /// ```
    /// use session_core::{SessionConfig, DEFAULT_MAX_AGE};
    ///
    /// assert_eq!(SessionConfig::new().max_age(), Some(DEFAULT_MAX_AGE));
    /// ```
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }
}

/// Whether `byte` may appear in an RFC 6265 token (RFC 2616's `token`: any
/// visible ASCII character but the separators).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_kept_only_within_the_precision() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let s = time::Duration::seconds;
        let day = SessionConfig::new();
        // 60 s at most: a 14-day lifetime keeps an expiry 60 s behind, not 61.
        let new = now + s(14 * 86_400);
        assert!(day.keeps_expiry(now, new - s(60), new));
        assert!(!day.keeps_expiry(now, new - s(61), new));
        // An earlier expiry always applies; the same one is always kept.
        assert!(!day.keeps_expiry(now, new + s(1), new));
        assert!(day.keeps_expiry(now, new, new));
        // 1 % of a 15-minute lifetime is 9 s.
        let new = now + s(900);
        assert!(day.keeps_expiry(now, new - s(9), new));
        assert!(!day.keeps_expiry(now, new - s(10), new));
        // Exact: the expiry always moves.
        let exact = SessionConfig::new().with_expiry_precision(Duration::ZERO);
        assert!(!exact.keeps_expiry(now, new, new));
    }

    #[test]
    fn expiry_is_capped_by_absolute_timeout() {
        let config = SessionConfig::new()
            .with_idle_timeout(Some(Duration::from_secs(600)))
            .with_absolute_timeout(Some(Duration::from_secs(1000)));
        let created = OffsetDateTime::UNIX_EPOCH;
        let now = created + time::Duration::seconds(900);
        assert_eq!(
            config.expires_at(now, created, None),
            created + time::Duration::seconds(1000)
        );
        assert_eq!(
            config.expires_at(created, created, None),
            created + time::Duration::seconds(600)
        );
        assert!(config.past_absolute(created + time::Duration::seconds(1000), created));
        assert!(!config.past_absolute(created + time::Duration::seconds(999), created));
    }

    #[test]
    fn validate_refuses_what_a_set_cookie_header_cannot_carry() {
        for name in [
            "", "a b", "a;b", "a=b", "a,b", "a\u{1}b", "a\tb", "s\u{e9}", "a\"b", "a/b", "a\u{7f}",
        ] {
            let config = SessionConfig::new().with_cookie_name(name);
            assert!(
                matches!(config.validate(), Err(ConfigError::CookieName { .. })),
                "{name:?}"
            );
        }
        for path in [
            "",
            "app",
            "/a;b",
            "/a\nb",
            "/a\u{0}",
            "/caf\u{e9}",
            "/a\u{7f}",
        ] {
            let config = SessionConfig::new().with_path(path);
            assert!(
                matches!(config.validate(), Err(ConfigError::Path { .. })),
                "{path:?}"
            );
        }
        for domain in [
            "",
            "a;b",
            "ex ample.com",
            "\u{e9}.com",
            "a.com\r\nX: y",
            "a.com/",
        ] {
            let config = SessionConfig::new().with_domain(Some(domain.into()));
            assert!(
                matches!(config.validate(), Err(ConfigError::Domain { .. })),
                "{domain:?}"
            );
        }
        // What Starlette's vectors and the examples use is fine.
        let config = SessionConfig::new()
            .with_cookie_name("my_session")
            .with_path("/api v2/x=y")
            .with_domain(Some(".example.com".into()));
        assert_eq!(config.validate(), Ok(()));
        for name in ["session_id", "sid", "a!#$%&'*+-.^_`|~9"] {
            assert_eq!(
                SessionConfig::new().with_cookie_name(name).validate(),
                Ok(())
            );
        }
        let host = SessionConfig::new()
            .with_host_prefix(true)
            .with_path("bad;");
        assert_eq!(
            host.validate().map_err(|_| ()),
            Err(()),
            "checked even when unused"
        );
    }

    #[test]
    fn per_session_expiry_overrides_ttl() {
        let config = SessionConfig::new();
        let now = OffsetDateTime::UNIX_EPOCH;
        let at = config.expires_at(now, now, Some(Expiry::OnInactivity(Duration::from_secs(5))));
        assert_eq!(at, now + time::Duration::seconds(5));
        let fixed = now + time::Duration::days(400);
        assert_eq!(
            config.expires_at(now, now, Some(Expiry::AtDateTime(fixed))),
            fixed
        );
    }
}
