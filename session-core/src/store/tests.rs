use super::*;

/// The `i64` conversions agree with the plain 128-bit formulas they
/// replace, across the range a time holds, negative times included.
#[test]
fn millisecond_conversions_match_the_nanosecond_formulas() {
    let reference = |at: OffsetDateTime| -> i64 {
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap()
    };
    let min = unix_millis(time::PrimitiveDateTime::MIN.assume_utc());
    let max = unix_millis(time::PrimitiveDateTime::MAX.assume_utc());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut samples: Vec<i64> = vec![0, -1, 1, -999, -1000, -1001, 999, 1000, 1001, min, max];
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let span = (max - min) as u64;
        samples.push(min + (x % span) as i64);
        samples.push((x % 4_000_000_000_000) as i64 - 2_000_000_000_000);
    }
    for millis in samples {
        let at = from_unix_millis(millis).expect("in range");
        let expected =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).unwrap();
        assert_eq!(at, expected, "{millis}");
        assert_eq!(unix_millis(at), millis);
        let later = at + time::Duration::nanoseconds(999_999);
        assert_eq!(unix_millis(later), reference(later), "{millis} + 999999 ns");
    }
    assert_eq!(from_unix_millis(min - 1), None);
    assert_eq!(from_unix_millis(max + 1), None);
}
