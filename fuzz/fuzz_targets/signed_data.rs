//! `SignedCookie::decode` on arbitrary text: never panics; whatever
//! verifies re-encodes to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec::DataCodec;
use session_core::codec::SignedCookie;
use session_core::{Key, Keys};

/// The cookie name the values are made for (signed and encrypted values are
/// bound to it).
const NAME: &str = "session";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let keys = Keys::new(vec![
        Key::from_bytes(&[7; 32]).unwrap(),
        Key::from_bytes(&[8; 32]).unwrap(),
    ])
    .unwrap();
    let codec = SignedCookie::new(&keys);
    if let Some(session) = codec.decode(NAME, text) {
        if !session.rekey {
            assert_eq!(codec.encode(NAME, &session).unwrap(), text);
        }
    }
});
