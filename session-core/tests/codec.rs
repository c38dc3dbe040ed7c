//! The client-side codecs on their own: round trips, tampering, keys, and
//! Starlette's real vectors (`tests/data/starlette-vectors.json`; see
//! `tests/data/README.md` for where they come from).

use serde_json::{json, Value};
use session_core::codec::{ClientSession, DataCodec};
use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie, MAX_VALUE_LEN};
use session_core::store::Data;
use session_core::{Key, Keys};
use time::OffsetDateTime;

/// The cookie name every value here is made for.
const NAME: &str = "session";

fn key(byte: u8) -> Key {
    Key::from_bytes(&[byte; 32]).unwrap()
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

fn data(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn session(value: Value) -> ClientSession {
    ClientSession {
        data: data(value),
        created_at: Some(at(1_699_990_000)),
        issued_at: at(1_700_000_000),
        rekey: false,
        expires_at: None,
        expiry: None,
        user: None,
    }
}

fn sample() -> ClientSession {
    session(json!({
        "user_count": 3,
        "username": {"user_id": "hong", "age": 21, "email": "aaa@aaa.com"},
        "greeting": "안녕하세요 😀",
        "list": [1, 2.5, null, true, "x"],
    }))
}

/// What Starlette's format can carry: no creation time.
fn starlette_view(mut session: ClientSession) -> ClientSession {
    session.created_at = None;
    session
}

/// A codec under test: its name, itself, and the form a decoded value takes.
type Case = (
    &'static str,
    Box<dyn DataCodec>,
    fn(ClientSession) -> ClientSession,
);

/// Every codec under test.
fn codecs() -> Vec<Case> {
    vec![
        ("signed", Box::new(SignedCookie::new(&key(1).into())), |s| s),
        (
            "encrypted",
            Box::new(EncryptedCookie::new(&key(1).into())),
            |s| s,
        ),
        (
            "starlette",
            Box::new(StarletteCookie::new("dev-secret-key")),
            starlette_view,
        ),
    ]
}

#[test]
fn round_trips() {
    for (name, codec, view) in codecs() {
        for original in [
            sample(),
            session(json!({})),
            session(json!({"b": 1, "a": 2, "_c": 3, "A": 4})),
            session(
                json!({"nested": {"deep": [[[{"x": -1.5e-7}]]]}, "big": 12345678901234567890u64}),
            ),
            session(json!({"s": "quote\" backslash\\ nl\n nul\u{0} del\u{7f} é 😀 <>&'=;,"})),
        ] {
            let value = codec.encode(NAME, &original).unwrap();
            let back = codec
                .decode(NAME, &value)
                .unwrap_or_else(|| panic!("{name}: {value}"));
            assert_eq!(back, view(original.clone()), "{name}");
            // Key order survives (insertion order, as in Python dicts).
            let keys: Vec<_> = back.data.keys().collect();
            assert_eq!(keys, original.data.keys().collect::<Vec<_>>(), "{name}");
            // Values are cookie-safe: no `;`, `,`, space, quote or backslash.
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b";,\"\\".contains(&b)),
                "{name}: {value}"
            );
        }
    }
}

#[test]
fn floats_survive_exactly() {
    // Found by the `roundtrip` fuzz target: without serde_json's
    // `float_roundtrip` feature, 1.296874305123235e31 came back as
    // 1.2968743051232347e31.
    let floats = [
        1.296_874_305_123_235e31,
        0.1,
        -0.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e16,
        1.5e-7,
        123_456_789.012_345_68,
    ];
    for (name, codec, _) in codecs() {
        for float in floats {
            let original = session(json!({ "f": float }));
            let back = codec
                .decode(NAME, &codec.encode(NAME, &original).unwrap())
                .unwrap();
            let got = back.data["f"].as_f64().unwrap();
            assert_eq!(
                got.to_bits(),
                float.to_bits(),
                "{name}: {float:e} became {got:e}"
            );
        }
    }
}

#[test]
fn times_are_whole_seconds_and_created_at_is_optional() {
    let mut original = sample();
    original.issued_at = at(1_700_000_000) + time::Duration::milliseconds(999);
    original.created_at = None;
    for (name, codec, _) in codecs() {
        let back = codec
            .decode(NAME, &codec.encode(NAME, &original).unwrap())
            .unwrap();
        assert_eq!(
            back.issued_at,
            at(1_700_000_000),
            "{name}: truncated, never rounded up"
        );
        assert_eq!(back.created_at, None, "{name}");
    }
}

#[test]
fn rekey_is_ignored_by_encode() {
    let mut original = sample();
    original.rekey = true;
    for (name, codec, _) in codecs() {
        assert!(
            !codec
                .decode(NAME, &codec.encode(NAME, &original).unwrap())
                .unwrap()
                .rekey,
            "{name}"
        );
    }
}

/// Every printable ASCII character, the alphabet cookie values are made of.
fn replacements() -> impl Iterator<Item = u8> {
    0x20..=0x7e
}

#[test]
fn every_single_byte_change_is_rejected_signed_and_encrypted() {
    for (name, codec, _) in codecs()
        .into_iter()
        .filter(|(name, ..)| *name != "starlette")
    {
        let value = codec.encode(NAME, &sample()).unwrap();
        let bytes = value.as_bytes();
        let mut tried = 0;
        for i in 0..bytes.len() {
            for replacement in replacements().filter(|r| *r != bytes[i]) {
                let mut changed = bytes.to_vec();
                changed[i] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                assert!(
                    codec.decode(NAME, &changed).is_none(),
                    "{name} accepted {changed}"
                );
                tried += 1;
            }
        }
        assert!(tried > 10_000, "{name}: {tried}");
    }
}

#[test]
fn single_byte_changes_to_starlette_values_only_reach_the_signature_spelling() {
    // Starlette reads the signature with Python's lenient base64, which
    // ignores characters outside the alphabet and the unused low bits of the
    // last character (see the `sig_*` negative vectors): a few spellings of
    // the same signature verify. The signed text (payload and timestamp)
    // itself cannot change.
    let codec = StarletteCookie::new("dev-secret-key");
    let original = sample();
    let value = codec.encode(NAME, &original).unwrap();
    let sig_start = value.rfind('.').unwrap() + 1;
    let bytes = value.as_bytes();
    let mut accepted = Vec::new();
    for i in 0..bytes.len() {
        for replacement in replacements().filter(|r| *r != bytes[i]) {
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            if let Some(back) = codec.decode(NAME, &changed) {
                assert!(
                    i >= sig_start,
                    "payload/timestamp change accepted: {changed}"
                );
                assert_eq!(back, starlette_view(original.clone()));
                accepted.push((i, replacement as char));
            }
        }
    }
    // Exactly two kinds of respelling verify: the last character's two
    // unused bits, and `-`/`_` written as `+`/`/` (itsdangerous maps them).
    for (i, replacement) in &accepted {
        let same_sextet = matches!((bytes[*i], *replacement as u8), (b'-', b'+') | (b'_', b'/'));
        assert!(*i == bytes.len() - 1 || same_sextet, "{i} {replacement}");
    }
    assert!(
        accepted
            .iter()
            .filter(|(i, _)| *i == bytes.len() - 1)
            .count()
            <= 3
    );
}

#[test]
fn wrong_key_is_rejected() {
    let original = sample();
    let pairs: Vec<(Box<dyn DataCodec>, Box<dyn DataCodec>)> = vec![
        (
            Box::new(SignedCookie::new(&key(1).into())),
            Box::new(SignedCookie::new(&key(2).into())),
        ),
        (
            Box::new(EncryptedCookie::new(&key(1).into())),
            Box::new(EncryptedCookie::new(&key(2).into())),
        ),
        (
            Box::new(StarletteCookie::new("dev-secret-key")),
            Box::new(StarletteCookie::new("another-secret-key")),
        ),
    ];
    for (writer, reader) in pairs {
        let value = writer.encode(NAME, &original).unwrap();
        assert!(
            reader.decode(NAME, &value).is_none(),
            "{reader:?} accepted {writer:?}'s value"
        );
    }
    // Same key material, different purposes: a signed value is not an
    // encrypted one and vice versa.
    let signed = SignedCookie::new(&key(1).into());
    let encrypted = EncryptedCookie::new(&key(1).into());
    assert!(encrypted
        .decode(NAME, &signed.encode(NAME, &original).unwrap())
        .is_none());
    assert!(signed
        .decode(NAME, &encrypted.encode(NAME, &original).unwrap())
        .is_none());
}

#[test]
fn key_rotation_old_key_verifies_and_asks_for_rekey() {
    let (old, new) = (key(1), key(2));
    let before: Keys = old.clone().into();
    let during = Keys::new(vec![new.clone(), old.clone()]).unwrap();
    let after: Keys = new.into();
    type Maker = fn(&Keys) -> Box<dyn DataCodec>;
    let makers: [(&str, Maker); 2] = [
        ("signed", |k| Box::new(SignedCookie::new(k))),
        ("encrypted", |k| Box::new(EncryptedCookie::new(k))),
    ];
    for (name, make) in makers {
        let original = sample();
        let old_value = make(&before).encode(NAME, &original).unwrap();
        let read = make(&during).decode(NAME, &old_value).unwrap();
        assert!(read.rekey, "{name}: an old key verified, re-issue");
        assert_eq!(read.data, original.data);

        let new_value = make(&during).encode(NAME, &original).unwrap();
        assert!(
            !make(&during).decode(NAME, &new_value).unwrap().rekey,
            "{name}"
        );
        assert!(
            !make(&after).decode(NAME, &new_value).unwrap().rekey,
            "{name}: the first key signs"
        );
        assert!(make(&before).decode(NAME, &new_value).is_none(), "{name}");
        assert!(
            make(&after).decode(NAME, &old_value).is_none(),
            "{name}: old key retired"
        );
    }
}

#[test]
fn encrypted_value_carries_no_plaintext() {
    let codec = EncryptedCookie::new(&key(1).into());
    let original = session(json!({"email": "alice@example.com", "role": "administrator"}));
    let value = codec.encode(NAME, &original).unwrap();
    for needle in ["alice", "example", "administrator", "email", "\"d\"", "{"] {
        assert!(!value.contains(needle), "{needle} in {value}");
    }
    // Nor its base64 (at any of the three alignments) or the JSON bytes
    // once the value is un-base64'd.
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&value)
        .unwrap();
    for needle in [&b"alice"[..], b"administrator", br#""d":"#] {
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }
    let plain_json = serde_json::to_string(&original.data).unwrap();
    for skip in 0..3 {
        let encoded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&plain_json.as_bytes()[skip..]);
        assert!(!value.contains(&encoded[4..16]), "{encoded}");
    }
    // Two encryptions of one session differ (fresh nonce each time).
    assert_ne!(value, codec.encode(NAME, &original).unwrap());
}

#[test]
fn truncated_garbage_empty_and_huge_input_is_none() {
    for (name, codec, _) in codecs() {
        let value = codec.encode(NAME, &sample()).unwrap();
        for end in 0..value.len() {
            assert!(
                codec.decode(NAME, &value[..end]).is_none(),
                "{name}: prefix {end}"
            );
        }
        for start in 1..value.len() {
            assert!(
                codec.decode(NAME, &value[start..]).is_none(),
                "{name}: suffix {start}"
            );
        }
        let garbage = [
            "",
            ".",
            "..",
            "...",
            "=",
            "null",
            "garbage",
            "a.b",
            "a.b.c",
            "e30=.ZVPxAA.",
            ".ZVPxAA.hl6i7kxoUYqbXuf4mRmmytq-sTw",
            "\u{0}",
            "é.é.é",
            "😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
        ];
        for input in garbage {
            assert!(codec.decode(NAME, input).is_none(), "{name}: {input:?}");
        }
        // Doubled, or with junk around it.
        assert!(
            codec.decode(NAME, &format!("{value}{value}")).is_none(),
            "{name}"
        );
        assert!(
            codec.decode(NAME, &format!("{value}.{value}")).is_none(),
            "{name}"
        );
        assert!(codec.decode(NAME, &format!(" {value}")).is_none() || name == "starlette");
        // Huge input is refused before any work, even a validly signed one.
        for huge in [
            "A".repeat(MAX_VALUE_LEN + 1),
            ".".repeat(1 << 20),
            "é".repeat(1 << 16),
        ] {
            assert!(codec.decode(NAME, &huge).is_none(), "{name}");
        }
        let big = session(json!({ "blob": "x".repeat(MAX_VALUE_LEN) }));
        let big_value = codec.encode(NAME, &big).unwrap();
        assert!(big_value.len() > MAX_VALUE_LEN);
        assert!(
            codec.decode(NAME, &big_value).is_none(),
            "{name}: over 8 KiB"
        );
    }
}

#[test]
fn pseudo_random_input_never_panics() {
    // A small deterministic fuzz pass (the real fuzzing is in /fuzz).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> = "AZaz09+/-_=.!é😀 \u{0}".chars().collect();
    let codecs = codecs();
    let seeds: Vec<String> = codecs
        .iter()
        .map(|(_, c, _)| c.encode(NAME, &sample()).unwrap())
        .collect();
    for round in 0..3_000 {
        let mut text: String = if round % 2 == 0 {
            seeds[round % seeds.len()].clone()
        } else {
            String::new()
        };
        for _ in 0..(next() % 8) {
            let ch = alphabet[(next() % alphabet.len() as u64) as usize];
            let at = if text.is_empty() {
                0
            } else {
                (next() as usize) % text.len()
            };
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap();
            text.insert(at, ch);
        }
        for (_, codec, _) in &codecs {
            let _ = codec.decode(NAME, &text);
        }
    }
}

#[test]
fn starlette_weak_secret_is_allowed_but_reported() {
    let weak = StarletteCookie::new("dev-secret-key");
    assert!(weak.is_weak_secret());
    let value = weak.encode(NAME, &sample()).unwrap();
    assert!(weak.decode(NAME, &value).is_some());
    assert!(!StarletteCookie::new(&"0123456789abcdef".repeat(2)).is_weak_secret());
}

#[test]
fn starlette_refuses_to_date_a_cookie_before_1970() {
    let mut before = sample();
    before.issued_at = at(-1);
    assert!(StarletteCookie::new("s").encode(NAME, &before).is_err());
    before.issued_at = at(0);
    let value = StarletteCookie::new("s").encode(NAME, &before).unwrap();
    assert_eq!(
        value.split('.').nth(1),
        Some(""),
        "0 is no bytes at all, as in itsdangerous"
    );
}

// ----------------------------------------------------------------------
// Starlette's real vectors.

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/starlette-vectors.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read the Starlette vectors at {path}: {err}"));
    serde_json::from_str(&text).unwrap()
}

fn cases<'v>(vectors: &'v Value, section: &str) -> &'v [Value] {
    let cases = vectors[section]
        .as_array()
        .unwrap_or_else(|| panic!("no {section}"));
    assert!(!cases.is_empty(), "{section} is empty");
    cases
}

fn starlette_session(session: &Value, timestamp: &Value) -> ClientSession {
    ClientSession {
        data: data(session.clone()),
        created_at: None,
        issued_at: at(timestamp.as_i64().unwrap()),
        rekey: false,
        expires_at: None,
        expiry: None,
        user: None,
    }
}

/// Starlette's time rule (itsdangerous `TimestampSigner.unsign`): with a max
/// age, valid while `0 <= now - ts <= max_age`; without, always. (Our layer
/// is stricter without a max age; `client_side.rs` tests that.)
fn starlette_accepts(issued_at: OffsetDateTime, now: i64, max_age: &Value) -> bool {
    match max_age.as_i64() {
        None => true,
        Some(max_age) => {
            let age = now - issued_at.unix_timestamp();
            (0..=max_age).contains(&age)
        }
    }
}

#[test]
fn starlette_positive_vectors_encode_byte_for_byte_and_read_back() {
    let vectors = vectors();
    let mut count = 0;
    for case in cases(&vectors, "positive") {
        let name = case["name"].as_str().unwrap();
        let codec = StarletteCookie::new(case["secret_key"].as_str().unwrap());
        let session = starlette_session(&case["session"], &case["timestamp"]);
        let value = codec.encode(NAME, &session).unwrap();
        assert_eq!(value, case["cookie_value"].as_str().unwrap(), "{name}");
        assert_eq!(
            value.len() as u64,
            case["cookie_value_len"].as_u64().unwrap(),
            "{name}"
        );
        let decoded = codec
            .decode(NAME, &value)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(
            Value::Object(decoded.data.clone()),
            case["read_back_session"],
            "{name}"
        );
        assert_eq!(decoded.issued_at, session.issued_at, "{name}");
        assert_eq!(decoded.created_at, None);
        assert!(starlette_accepts(
            decoded.issued_at,
            case["read_back_at"].as_i64().unwrap(),
            &case["read_back_max_age"]
        ));
        // Insertion order, as Starlette wrote it.
        let json = serde_json::to_string(&decoded.data).unwrap();
        let expected = serde_json::to_string(&case["read_back_session"]).unwrap();
        assert_eq!(json, expected, "{name}: key order");
        count += 1;
    }
    assert_eq!(count, 18);
}

#[test]
fn starlette_signer_only_vectors() {
    let vectors = vectors();
    for case in cases(&vectors, "signer_only") {
        let name = case["name"].as_str().unwrap();
        let codec = StarletteCookie::new(case["secret_key"].as_str().unwrap());
        let session = starlette_session(&case["session"], &case["timestamp"]);
        assert_eq!(
            codec.encode(NAME, &session).unwrap(),
            case["cookie_value"].as_str().unwrap(),
            "{name}"
        );
        let decoded = codec
            .decode(NAME, case["cookie_value"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded.issued_at, session.issued_at, "{name}");
        assert!(starlette_accepts(
            decoded.issued_at,
            case["read_now"].as_i64().unwrap(),
            &case["middleware_max_age"]
        ));
        assert_eq!(
            Value::Object(decoded.data),
            case["starlette_read"]["session_seen_by_app"],
            "{name}"
        );
    }
}

#[test]
fn starlette_negative_vectors_decode_to_what_starlette_saw() {
    let vectors = vectors();
    let mut count = 0;
    for case in cases(&vectors, "negative") {
        let name = case["name"].as_str().unwrap();
        let codec = StarletteCookie::new(case["secret_key"].as_str().unwrap());
        let (cookie_name, value) = case["cookie_header"]
            .as_str()
            .unwrap()
            .split_once('=')
            .unwrap();
        // Where Starlette crashed (500), we must see an empty session.
        let expected = case
            .get("session_seen_by_app")
            .cloned()
            .unwrap_or(json!({}));
        if case["status"] == 500 {
            assert!(
                codec.decode(NAME, value).is_none(),
                "{name}: must not verify-and-crash"
            );
        }
        let seen = (cookie_name == "session")
            .then(|| codec.decode(NAME, value))
            .flatten()
            .filter(|s| {
                starlette_accepts(s.issued_at, case["now"].as_i64().unwrap(), &case["max_age"])
            })
            .map(|s| s.data)
            .unwrap_or_default();
        assert_eq!(Value::Object(seen), expected, "{name}: {}", case["note"]);
        count += 1;
    }
    assert_eq!(count, 23);
}

#[test]
fn starlette_reads_compact_utf8_json_too() {
    // What serde_json writes by default (and a Starlette-compatible service
    // in another language might): no spaces, raw UTF-8.
    let codec = StarletteCookie::new("dev-secret-key");
    let value = "eyJhIjoxLCJiIjoi7ZmNIn0=.ZVPxAA.iImw6uGUiVMbt7haVDPD_O0G96A";
    let decoded = codec.decode(NAME, value).unwrap();
    assert_eq!(
        Value::Object(decoded.data.clone()),
        json!({"a": 1, "b": "홍"})
    );
    // Written back, it is Python's form.
    let rewritten = codec.encode(NAME, &decoded).unwrap();
    assert!(
        rewritten.starts_with("eyJhIjogMSwgImIiOiAiXHVkNjRkIn0="),
        "{rewritten}"
    );
}
