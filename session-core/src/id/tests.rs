use super::*;
use crate::{Key, Keys};
#[test]
fn parse_rejects_wrong_lengths_and_alphabet() {
    assert!("".parse::<Id>().is_err());
    assert!("A".repeat(21).parse::<Id>().is_err());
    assert!("A".repeat(23).parse::<Id>().is_err());
    assert!(format!("{}+", "A".repeat(21)).parse::<Id>().is_err());
    // 22 chars whose last symbol carries non-zero padding bits
    assert!(format!("{}B", "A".repeat(21)).parse::<Id>().is_err());
}

fn codec() -> SignedId {
    SignedId::new(&Keys::from(Key::from_bytes(&[9; 32]).unwrap()))
}

#[test]
fn every_single_byte_change_is_rejected() {
    let codec = codec();
    let value = codec.sign(&Id::random());
    assert!(codec.verify(&value).is_some());
    let bytes = value.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b'A', b'B', b'_', b'-', b'.', b'z'] {
            if bytes[i] == replacement {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = replacement;
            let changed = String::from_utf8(changed).unwrap();
            assert!(codec.verify(&changed).is_none(), "accepted {changed}");
        }
    }
}

#[test]
fn wrong_key_and_truncation_rejected() {
    let value = codec().sign(&Id::random());
    let other = SignedId::new(&Keys::from(Key::from_bytes(&[8; 32]).unwrap()));
    assert!(other.verify(&value).is_none());
    assert!(codec().verify(&value[..value.len() - 1]).is_none());
    assert!(codec().verify("").is_none());
    assert!(codec().verify(&"é".repeat(33)).is_none());
    // Found by the fuzzer: a multi-byte character across byte 22.
    let straddling = format!("{}é{}", "a".repeat(21), "a".repeat(43));
    assert_eq!(straddling.len(), SignedId::ENCODED_LEN);
    assert!(codec().verify(&straddling).is_none());
}
