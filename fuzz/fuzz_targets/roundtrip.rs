//! Every codec round-trips every JSON object: `decode(encode(s)) == s`
//! (Starlette's Python-style JSON writer included), as long as the value
//! stays under the decoders' 8 KiB bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_core::codec::{ClientSession, DataCodec};
use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie, MAX_VALUE_LEN};
use session_core::store::Data;
use session_core::time::OffsetDateTime;
use session_core::{Key, Keys};

/// The cookie name the values are made for (signed and encrypted values are
/// bound to it).
const NAME: &str = "session";

fuzz_target!(|data: &[u8]| {
    let Ok(map) = serde_json::from_slice::<Data>(data) else {
        return;
    };
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let keys = Keys::from(Key::from_bytes(&[7; 32]).unwrap());
    let codecs: [(Box<dyn DataCodec>, Option<OffsetDateTime>); 3] = [
        (Box::new(SignedCookie::new(&keys)), Some(now)),
        (Box::new(EncryptedCookie::new(&keys)), Some(now)),
        (Box::new(StarletteCookie::new("dev-secret-key")), None),
    ];
    for (codec, created_at) in codecs {
        let session = ClientSession {
            data: map.clone(),
            created_at,
            issued_at: now,
            rekey: false,
            expires_at: None,
            expiry: None,
            user: None,
        };
        let value = codec.encode(NAME, &session).unwrap();
        if value.len() > MAX_VALUE_LEN {
            assert!(codec.decode(NAME, &value).is_none());
            continue;
        }
        let back = codec
            .decode(NAME, &value)
            .unwrap_or_else(|| panic!("{codec:?} refused its own {value}"));
        assert_eq!(back, session, "{codec:?}");
        // Key order too.
        assert!(back.data.keys().eq(session.data.keys()));
    }
});
