//! `StarletteCookie::decode` on arbitrary text: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec::DataCodec;
use session_core::codec::StarletteCookie;

/// The cookie name (Starlette's format does not bind values to it).
const NAME: &str = "session";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codec = StarletteCookie::new("dev-secret-key");
    if let Some(session) = codec.decode(NAME, text) {
        let again = codec
            .decode(NAME, &codec.encode(NAME, &session).unwrap())
            .unwrap();
        assert_eq!(again.data, session.data);
        assert_eq!(again.issued_at, session.issued_at);
    }
});
