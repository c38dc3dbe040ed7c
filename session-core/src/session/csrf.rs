//! CSRF tokens tied to the session (the synchronizer token pattern): one
//! random secret per session, kept in its data under [`CSRF_KEY`], and
//! tokens that are that secret under a fresh random mask each time.
//!
//! A token is `base64url(mask ‖ secret ⊕ mask)` without padding: 32 random
//! bytes of mask, then the 32 secret bytes XORed with them. Every call to
//! [`Session::csrf_token`] draws a new mask, so a page never shows the same
//! token twice. That defeats BREACH-style attacks, which recover a secret
//! repeated in every compressed response by watching the response size;
//! the masked secret differs each time while any of its tokens verifies.
//!
//! [`Session::cycle_id`] removes the secret (a login starts a new one, and
//! tokens handed out before it no longer verify); it ends with the session
//! ([`Session::destroy`], [`Session::clear`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::Session;
use crate::life::Body;
use crate::Error;

/// The data key the session's CSRF secret is kept under. Handlers cannot
/// write it ([`Error::ReservedKey`]) and [`Session::keys`] does not list it.
pub(crate) const CSRF_KEY: &str = "@csrf";

/// Bytes of secret, and of mask.
const SECRET_LEN: usize = 32;

/// Bytes of a decoded token: the mask, then the masked secret.
const TOKEN_BYTES: usize = 2 * SECRET_LEN;

/// Characters of a token: 64 bytes in unpadded base64 (4 characters for
/// every 3 bytes, the last byte in 2).
const TOKEN_LEN: usize = TOKEN_BYTES.div_ceil(3) * 4 - 2;

/// Fills `buf` from the operating system's CSPRNG.
fn random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// The secret held in `body`, if it holds a well-formed one.
fn secret_in(body: &Body) -> Option<[u8; SECRET_LEN]> {
    let Some(Value::String(text)) = body.data.get(CSRF_KEY) else {
        return None;
    };
    let mut secret = [0u8; SECRET_LEN];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut secret) {
        Ok(SECRET_LEN) => Some(secret),
        _ => None,
    }
}

/// The secret held in `body`, or a new one stored there (which makes the
/// session be saved, as any change does). A value under the key that is
/// not a secret (it cannot come from this crate) is replaced.
fn secret_or_new(body: &mut Body) -> [u8; SECRET_LEN] {
    if let Some(secret) = secret_in(body) {
        return secret;
    }
    let mut secret = [0u8; SECRET_LEN];
    random(&mut secret);
    body.data.insert(
        CSRF_KEY.to_owned(),
        Value::String(URL_SAFE_NO_PAD.encode(secret)),
    );
    body.mark_dirty(CSRF_KEY);
    secret
}

/// Removes the secret from `body`, if it holds one (at a new id).
pub(crate) fn forget_secret(body: &mut Body) {
    if body.data.shift_remove(CSRF_KEY).is_some() {
        body.mark_dirty(CSRF_KEY);
    }
}

/// `secret` under the random `mask`, as a token.
fn masked(secret: &[u8; SECRET_LEN], mask: &[u8; SECRET_LEN]) -> String {
    let mut raw = [0u8; TOKEN_BYTES];
    let (head, tail) = raw.split_at_mut(SECRET_LEN);
    head.copy_from_slice(mask);
    for ((out, s), m) in tail.iter_mut().zip(secret).zip(mask) {
        *out = s ^ m;
    }
    URL_SAFE_NO_PAD.encode(raw)
}

/// The secret a token carries; `None` for anything that is not a token
/// (any other length, a character outside base64url, padding).
fn unmasked(token: &str) -> Option<[u8; SECRET_LEN]> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut raw = [0u8; TOKEN_BYTES];
    if URL_SAFE_NO_PAD.decode_slice(token, &mut raw).ok()? != TOKEN_BYTES {
        return None;
    }
    let (mask, body) = raw.split_at(SECRET_LEN);
    let mut secret = [0u8; SECRET_LEN];
    for ((out, b), m) in secret.iter_mut().zip(body).zip(mask) {
        *out = b ^ m;
    }
    Some(secret)
}

impl Session {
    /// A token for a form or a request header, proving that the request
    /// comes from a page this session was shown (the check is
    /// [`verify_csrf_token`](Session::verify_csrf_token), or
    /// [`CsrfLayer`](crate::CsrfLayer) for every unsafe request).
    ///
    /// The session keeps one random 32-byte secret, made by the first call
    /// (which, like any insert, makes the session be saved and its cookie
    /// sent). Each call returns that secret under a fresh random mask, 86
    /// URL-safe characters: two calls never return the same token, and
    /// every one of them verifies until the secret changes — at
    /// [`cycle_id`](Session::cycle_id) (login) or when the session ends.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let token = session.csrf_token().await?;
    /// let page = format!(r#"<input type="hidden" name="csrf_token" value="{token}">"#);
    /// assert_ne!(token, session.csrf_token().await?); // masked anew every time
    /// assert!(session.verify_csrf_token(&token).await?);
    /// # let _ = page; Ok(()) }
    /// ```
    pub async fn csrf_token(&self) -> Result<String, Error> {
        let secret = self.with_body(secret_or_new).await?;
        let mut mask = [0u8; SECRET_LEN];
        random(&mut mask);
        Ok(masked(&secret, &mask))
    }

    /// Whether `token` is one of this session's CSRF tokens
    /// ([`csrf_token`](Session::csrf_token)). The comparison takes the
    /// same time wherever the token differs. Anything that is not a token
    /// of the right length and alphabet is `false`, as is every token when
    /// the session has no secret (a new visitor, after
    /// [`cycle_id`](Session::cycle_id), after the session ended). Verifying
    /// never creates a secret or changes the session.
    ///
    /// ```
    /// # async fn demo(session: session_core::Session) -> Result<(), session_core::Error> {
    /// let token = session.csrf_token().await?;
    /// assert!(session.verify_csrf_token(&token).await?);
    /// assert!(!session.verify_csrf_token("forged").await?);
    /// session.cycle_id().await?; // login: a new secret from now on
    /// assert!(!session.verify_csrf_token(&token).await?);
    /// # Ok(()) }
    /// ```
    pub async fn verify_csrf_token(&self, token: &str) -> Result<bool, Error> {
        let Some(given) = unmasked(token) else {
            return Ok(false);
        };
        let secret = self.with_body(|body| secret_in(body)).await?;
        Ok(secret.is_some_and(|secret| bool::from(secret.ct_eq(&given))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_86_characters_and_unmasks_to_its_secret() {
        assert_eq!(TOKEN_LEN, 86);
        let secret = [7u8; SECRET_LEN];
        let mask = [0xA5u8; SECRET_LEN];
        let token = masked(&secret, &mask);
        assert_eq!(token.len(), TOKEN_LEN);
        assert_eq!(unmasked(&token), Some(secret));
    }

    #[test]
    fn anything_but_a_token_unmasks_to_nothing() {
        let token = masked(&[1u8; SECRET_LEN], &[2u8; SECRET_LEN]);
        for bad in [
            String::new(),
            token[..TOKEN_LEN - 1].to_owned(),
            format!("{token}A"),
            format!("{}=", &token[..TOKEN_LEN - 1]),
            format!("{}+", &token[..TOKEN_LEN - 1]),
            "é".repeat(TOKEN_LEN / 2),
            "A".repeat(100_000),
        ] {
            assert_eq!(unmasked(&bad), None, "{bad:?}");
        }
    }
}
