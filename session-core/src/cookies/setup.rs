//! Building a [`CookieWriter`] from the configuration: everything that does
//! not depend on a request is made once, here.

use http::HeaderValue;
use time::OffsetDateTime;

use super::CookieWriter;
use crate::config::{ConfigError, CookieFlags, SessionConfig};
use crate::life::to_time;

impl CookieWriter {
    /// The writer for `config`, or why its name, path or domain cannot be
    /// sent. Every header that does not carry a session value is built
    /// here, at configuration time.
    pub(crate) fn new(config: &SessionConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let host = config.host_prefix;
        let mut writer = Self {
            name: config.cookie_name(),
            path: if host {
                "/".into()
            } else {
                config.path.clone()
            },
            domain: if host { None } else { config.domain.clone() },
            same_site: config.same_site,
            // A `__Host-` cookie must be `Secure`.
            flags: CookieFlags {
                secure: config.flags.secure || host,
                ..config.flags
            },
            default_suffix: String::new(),
            removal: HeaderValue::from_static(""),
        };
        let template = writer.build("", config.max_age.map(to_time)).to_string();
        writer.default_suffix = template[writer.name.len() + 1..].to_owned();
        let removal = writer
            .builder("")
            .max_age(time::Duration::ZERO)
            .expires(OffsetDateTime::UNIX_EPOCH)
            .build();
        writer.removal = HeaderValue::try_from(removal.to_string())
            .expect("a validated name, path and domain make a valid header");
        Ok(writer)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}
