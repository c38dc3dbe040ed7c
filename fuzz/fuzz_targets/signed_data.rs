//! `SignedCookie::decode` on arbitrary text: never panics; whatever
//! verifies re-encodes to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec::SignedCookie;
use session_core::{Key, Keys};
use session_core::codec::DataCodec;

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
    if let Some(session) = codec.decode(text) {
        if !session.rekey {
            assert_eq!(codec.encode(&session).unwrap(), text);
        }
    }
});
