//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.

use cookie::{Cookie, CookieBuilder};
use http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use time::OffsetDateTime;

use crate::config::{CookieFlags, Expiry};
use crate::life::to_time;
use crate::transport::{Transport, Via};
use crate::Error;

/// Every value of a cookie named `name` in the request, in header order.
///
/// Each `Cookie` header is read as bytes and split on `;`: a pair that is
/// not visible ASCII (a stray byte such as `\xff` from another site's
/// cookie) is skipped alone, and the other pairs of the header still count.
/// Each remaining pair is parsed by the `cookie` crate. Values are taken as
/// sent (no percent-decoding): our values, and Starlette's, use only
/// cookie-safe characters such as `=`, `+`, `/`. A value inside one pair
/// of double quotes is read without them ([`unquoted`]).
pub(crate) fn values<'h>(headers: &'h HeaderMap, name: &'h str) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&byte| byte == b';'))
        .filter(move |bytes| named(bytes, name))
        .filter_map(pair)
        .filter_map(move |pair| match Cookie::parse(pair) {
            Ok(cookie) if cookie.name() == name => cookie.value_raw().map(unquoted),
            _ => None,
        })
}

/// `value` without one pair of surrounding double quotes, if it has them.
/// RFC 6265 §4.1.1 allows `cookie-value = DQUOTE *cookie-octet DQUOTE`,
/// and Starlette, Python's `http.cookies` and proxies may send a value so;
/// the quotes are not part of it. Only a pair goes, only one, as the
/// `cookie` crate's `value_trimmed` does (which borrows from the parsed
/// cookie, not from the header, so it cannot be used here).
fn unquoted(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

/// Whether the raw pair `bytes` may be a cookie named `name` (its name,
/// between optional spaces and tabs, then `=`): the other cookies a browser
/// sends (often many) are not checked or parsed.
fn named(bytes: &[u8], name: &str) -> bool {
    let blank = |byte: &u8| matches!(byte, b' ' | b'\t');
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    bytes[start..]
        .strip_prefix(name.as_bytes())
        .and_then(|rest| rest.iter().find(|b| !blank(b)))
        == Some(&b'=')
}

/// One `name=value` pair of a `Cookie` header as text, `None` when it holds
/// a byte outside visible ASCII (spaces and tabs aside, which the parser
/// trims) or nothing at all.
fn pair(bytes: &[u8]) -> Option<&str> {
    let printable = |byte: u8| matches!(byte, b' ' | b'\t' | 0x21..=0x7e);
    // Every byte is checked, with no early exit: the compiler then checks
    // many at a time (a session cookie is 66 bytes).
    if !bytes.iter().fold(true, |ok, &byte| ok & printable(byte)) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?.trim_matches([' ', '\t']);
    (!text.is_empty()).then_some(text)
}

/// Builds `Set-Cookie` values from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct CookieWriter {
    name: String,
    path: String,
    domain: Option<String>,
    same_site: cookie::SameSite,
    flags: CookieFlags,
    /// Everything after `name=value` for the configured max age, as the
    /// `cookie` crate writes it, built once: most responses only need the
    /// value put in front of it.
    default_suffix: String,
    /// The removal cookie, built once with the configuration.
    removal: HeaderValue,
}

impl CookieWriter {
    fn builder<'c>(&'c self, value: &'c str) -> CookieBuilder<'c> {
        let mut builder = Cookie::build((self.name.as_str(), value))
            .path(self.path.as_str())
            .same_site(self.same_site)
            .secure(self.flags.secure)
            .http_only(self.flags.http_only)
            .partitioned(self.flags.partitioned);
        if let Some(domain) = &self.domain {
            builder = builder.domain(domain.as_str());
        }
        builder
    }

    fn build<'c>(&'c self, value: &'c str, max_age: Option<time::Duration>) -> Cookie<'c> {
        let mut builder = self.builder(value);
        if let Some(max_age) = max_age {
            builder = builder.max_age(max_age);
        }
        builder.build()
    }

    /// The `Set-Cookie` value carrying `value`, with `Max-Age` from the
    /// per-session expiry or else the configuration;
    /// [`Error::InvalidCookieValue`] when `value` holds a character a cookie
    /// value cannot (a custom codec's output), never a panic.
    pub(crate) fn set(
        &self,
        value: &str,
        expiry: Option<Expiry>,
        now: OffsetDateTime,
    ) -> Result<HeaderValue, Error> {
        if !value.bytes().all(is_cookie_octet) {
            return Err(Error::InvalidCookieValue);
        }
        let max_age = match expiry {
            Some(Expiry::OnSessionEnd) => None,
            Some(Expiry::OnInactivity(ttl)) => Some(to_time(ttl)),
            Some(Expiry::AtDateTime(at)) => Some((at - now).max(time::Duration::ZERO)),
            None => {
                let mut text = String::with_capacity(
                    self.name.len() + 1 + value.len() + self.default_suffix.len(),
                );
                text.push_str(&self.name);
                text.push('=');
                text.push_str(value);
                text.push_str(&self.default_suffix);
                return HeaderValue::try_from(text).map_err(|_| Error::InvalidCookieValue);
            }
        };
        HeaderValue::try_from(self.build(value, max_age).to_string())
            .map_err(|_| Error::InvalidCookieValue)
    }

    /// The `Set-Cookie` value that makes the browser drop the cookie.
    pub(crate) fn removal(&self) -> HeaderValue {
        self.removal.clone()
    }
}

/// RFC 6265's `cookie-octet`: visible ASCII but `"`, `,`, `;` and `\`.
fn is_cookie_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// What to add to the response.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The session's token to send (`Set-Cookie`, or the token header's
    /// value), if any.
    pub(crate) send: Option<HeaderValue>,
    /// Whether the request used its session.
    pub(crate) vary: bool,
    /// The transport the request's session came on.
    pub(crate) via: Via,
}

impl Outcome {
    /// Adds the token and the caching headers that must go with it: a
    /// response that read the session, or sends its token, differs from
    /// one user to the next (`Vary: Cookie`, or the token header), and one
    /// that sends the token must not be kept by a shared cache
    /// (`Cache-Control`).
    pub(crate) fn apply(self, headers: &mut HeaderMap, transport: &Transport) {
        let sends = self.send.is_some();
        if let Some(value) = self.send {
            match (self.via, transport.header()) {
                (Via::Header, Some(header)) => {
                    headers.insert(header.response_header().clone(), value);
                }
                _ => {
                    headers.append(SET_COOKIE, value);
                }
            }
        }
        if self.vary || sends {
            for name in transport.vary().into_iter().flatten() {
                vary_on(headers, name);
            }
        }
        if sends {
            keep_private(headers);
        }
    }
}

/// Adds `Vary: <name>` unless the response already varies on it (or on
/// everything).
fn vary_on(headers: &mut HeaderMap, name: &HeaderName) {
    let varies = headers.get_all(VARY).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .map(str::trim)
                .any(|field| field == "*" || field.eq_ignore_ascii_case(name.as_str()))
        })
    });
    if !varies {
        let value = if *name == COOKIE {
            // Spelled as browsers and caches usually see it.
            HeaderValue::from_static("Cookie")
        } else {
            HeaderValue::from_name(name.clone())
        };
        headers.append(VARY, value);
    }
}

/// Makes sure no shared cache stores a response that sets the session
/// cookie: `no-store` when the handler said nothing about caching;
/// otherwise `private` is added (and `public` dropped), unless the handler
/// already chose `private` or `no-store`.
fn keep_private(headers: &mut HeaderMap) {
    let mut directives = Vec::new();
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return;
        };
        directives.extend(text.split(',').map(str::trim).filter(|d| !d.is_empty()));
    }
    let name = |directive: &str| directive.split('=').next().unwrap_or("").trim().to_owned();
    if directives.is_empty() {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    }
    if directives.iter().any(|d| {
        let n = name(d);
        n.eq_ignore_ascii_case("private") || n.eq_ignore_ascii_case("no-store")
    }) {
        return;
    }
    let mut text = String::from("private");
    for directive in directives {
        if !name(directive).eq_ignore_ascii_case("public") {
            text.push_str(", ");
            text.push_str(directive);
        }
    }
    let value = HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("no-store"));
    headers.insert(CACHE_CONTROL, value);
}

mod setup;

#[cfg(test)]
mod tests;
