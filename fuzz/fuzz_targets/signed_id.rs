//! `SignedId::verify` on arbitrary text: never panics; whatever verifies
//! re-signs to the same text (one id, one accepted spelling).
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::{Key, Keys};
use session_core::__private::SignedId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codec = SignedId::new(&Keys::from(Key::from_bytes(&[7; 32]).unwrap()));
    if let Some(verified) = codec.verify(text) {
        assert_eq!(codec.sign(&verified.id), text);
    }
});
