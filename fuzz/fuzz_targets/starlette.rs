//! `StarletteCookie::decode` on arbitrary text: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec::StarletteCookie;
use session_core::codec::DataCodec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codec = StarletteCookie::new("dev-secret-key");
    if let Some(session) = codec.decode(text) {
        let again = codec.decode(&codec.encode(&session).unwrap()).unwrap();
        assert_eq!(again.data, session.data);
        assert_eq!(again.issued_at, session.issued_at);
    }
});
