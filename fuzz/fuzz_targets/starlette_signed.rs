//! `StarletteCookie::decode` past the signature: the fuzzer writes
//! `payload.timestamp`, this target signs it as itsdangerous would (the
//! format is public, the secret is this target's), so the base64, timestamp
//! and JSON paths behind the MAC are exercised too.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use session_core::codec::DataCodec;
use session_core::codec::StarletteCookie;
use sha1::{Digest, Sha1};

/// The cookie name (Starlette's format does not bind values to it).
const NAME: &str = "session";

const SECRET: &str = "dev-secret-key";

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = std::str::from_utf8(data) else {
        return;
    };
    let key = Sha1::new()
        .chain_update(b"itsdangerous.Signer")
        .chain_update(b"signer")
        .chain_update(SECRET)
        .finalize();
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let value = format!("{signed}.{sig}");
    let codec = StarletteCookie::new(SECRET);
    if let Some(session) = codec.decode(NAME, &value) {
        let again = codec
            .decode(NAME, &codec.encode(NAME, &session).unwrap())
            .unwrap();
        assert_eq!(again.data, session.data);
        assert_eq!(again.issued_at, session.issued_at);
    }
});
