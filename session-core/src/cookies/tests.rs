use super::*;
use crate::SessionConfig;
use std::time::Duration;

#[test]
fn reads_every_value_with_the_name_and_keeps_equals_signs() {
    let mut headers = HeaderMap::new();
    headers.append(COOKIE, HeaderValue::from_static("a=1; session=x=y+/z"));
    headers.append(COOKIE, HeaderValue::from_static("session=second"));
    let found: Vec<_> = values(&headers, "session").collect();
    assert_eq!(found, ["x=y+/z", "second"]);
}

/// The reader finds what parsing every pair with the `cookie` crate
/// and taking its `value_trimmed` finds (the name filter before the
/// parse changes nothing; one pair of surrounding quotes goes): every
/// header of up to six bytes from an alphabet of name letters, blanks,
/// `=`, `"`, `;`, a stray byte and another letter.
#[test]
fn skipping_other_names_finds_the_same_values() {
    let reference = |headers: &HeaderMap, name: &str| -> Vec<String> {
        headers
            .get_all(COOKIE)
            .iter()
            .flat_map(|header| header.as_bytes().split(|&byte| byte == b';'))
            .filter_map(pair)
            .filter_map(|pair| match Cookie::parse(pair) {
                Ok(cookie) if cookie.name() == name => Some(cookie.value_trimmed().to_owned()),
                _ => None,
            })
            .collect()
    };
    let alphabet = [b'a', b'b', b' ', b'\t', b'=', b'"', b'x', b';', 0xff];
    let mut compared = 0;
    for len in 0..=6u32 {
        for mut n in 0..alphabet.len().pow(len) {
            let mut bytes = Vec::new();
            for _ in 0..len {
                bytes.push(alphabet[n % alphabet.len()]);
                n /= alphabet.len();
            }
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            let mut headers = HeaderMap::new();
            headers.append(COOKIE, value);
            let found: Vec<String> = values(&headers, "ab").map(str::to_owned).collect();
            assert_eq!(found, reference(&headers, "ab"), "{bytes:?}");
            compared += 1;
        }
    }
    assert!(compared > 500_000, "{compared}");
}

/// RFC 6265 §4.1.1: a cookie value may be sent inside one pair of
/// double quotes, which are not part of it (Starlette, Python's
/// `http.cookies` and the `cookie` crate read it so). One pair goes,
/// and only a pair.
#[test]
fn a_quoted_value_is_read_without_its_quotes() {
    for (header, expected) in [
        ("session=\"abc\"", vec!["abc"]),
        ("a=1; session=\"x=y+/z\" ;b=\"2\"", vec!["x=y+/z"]),
        (" session = \"abc\" ", vec!["abc"]),
        ("session=\"\"", vec![""]),
        ("session=\"\"abc\"\"", vec!["\"abc\""]),
        ("session=\"a\"b\"", vec!["a\"b"]),
        ("session=\"abc", vec!["\"abc"]),
        ("session=abc\"", vec!["abc\""]),
        ("session=\"", vec!["\""]),
        ("session=a\"b\"c", vec!["a\"b\"c"]),
        ("session=\"one\"; session=two", vec!["one", "two"]),
    ] {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static(header));
        let found: Vec<_> = values(&headers, "session").collect();
        assert_eq!(found, expected, "{header}");
    }
}

#[test]
fn a_bad_pair_drops_only_itself() {
    let mut headers = HeaderMap::new();
    let bad = HeaderValue::from_bytes(b"a=\xff; session=valid; b=\xc3\xa9").unwrap();
    headers.append(COOKIE, bad);
    headers.append(
        COOKIE,
        HeaderValue::from_bytes(b"x\xfe=1;session=second ;\t;=;  ;session=").unwrap(),
    );
    let found: Vec<_> = values(&headers, "session").collect();
    assert_eq!(found, ["valid", "second", ""]);
}

#[test]
fn writes_configured_attributes() {
    let config = SessionConfig::new()
        .with_cookie_name("session_id")
        .with_max_age(Some(Duration::from_secs(1800)))
        .with_same_site(cookie::SameSite::Strict);
    let writer = CookieWriter::new(&config).unwrap();
    let value = writer.set("v", None, OffsetDateTime::UNIX_EPOCH).unwrap();
    let text = value.to_str().unwrap();
    assert!(text.starts_with("session_id=v"), "{text}");
    // The prebuilt suffix says exactly what the cookie crate says.
    let built = writer.build("v", config.max_age.map(to_time)).to_string();
    assert_eq!(text, built);
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/",
        "Max-Age=1800",
    ] {
        assert!(text.contains(part), "{part} missing in {text}");
    }
    let removal = writer.removal();
    let text = removal.to_str().unwrap();
    assert!(
        text.contains("Max-Age=0") && text.contains("1970"),
        "{text}"
    );
}

#[test]
fn host_prefix_forces_its_rules() {
    let config = SessionConfig::new()
        .with_host_prefix(true)
        .with_secure(false)
        .with_path("/app")
        .with_domain(Some("example.com".into()));
    let writer = CookieWriter::new(&config).unwrap();
    let value = writer.set("v", None, OffsetDateTime::UNIX_EPOCH).unwrap();
    let text = value.to_str().unwrap();
    assert!(text.starts_with("__Host-session=v"), "{text}");
    assert!(text.contains("Secure"), "{text}");
    assert!(text.contains("Path=/") && !text.contains("/app"), "{text}");
    assert!(!text.contains("Domain"), "{text}");
}

mod response {
    use super::*;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    fn cache_control(map: &HeaderMap) -> Vec<&str> {
        map.get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_response_setting_the_cookie_is_private() {
        let mut map = headers(&[]);
        keep_private(&mut map);
        assert_eq!(cache_control(&map), ["no-store"]);

        let mut map = headers(&[(CACHE_CONTROL, "public, max-age=60")]);
        keep_private(&mut map);
        assert_eq!(cache_control(&map), ["private, max-age=60"]);

        for strict in [
            "no-store",
            "private, max-age=5",
            "Private",
            "no-cache, no-store",
        ] {
            let mut map = headers(&[(CACHE_CONTROL, strict)]);
            keep_private(&mut map);
            assert_eq!(cache_control(&map), [strict]);
        }
    }

    #[test]
    fn vary_cookie_is_added_once() {
        let mut map = headers(&[(VARY, "Accept-Encoding")]);
        vary_on(&mut map, &COOKIE);
        vary_on(&mut map, &COOKIE);
        let vary: Vec<_> = map.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
        let mut map = headers(&[(VARY, "accept, cookie")]);
        vary_on(&mut map, &COOKIE);
        assert_eq!(map.get_all(VARY).iter().count(), 1);
    }
}
