//! The user binding in Starlette's cookie format, which carries it as the
//! data key `_session_user`: a handler cannot write that key (it would
//! become the session's user without `set_user`'s checks), and a cookie
//! whose `_session_user` is not a valid user name is no session.

use std::convert::Infallible;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};
use session_core::codec::{
    ClientSession, DataCodec, EncryptedCookie, SignedCookie, StarletteCookie, STARLETTE_USER_KEY,
};
use session_core::store::Data;
use session_core::time::OffsetDateTime;
use session_core::{Error, Key, Keys, Session, SessionConfig, SessionLayer, MAX_USER_LEN};
use session_store_memory::MemoryStore;
use tower::{Layer, ServiceExt};

const SECRET: &str = "dev-secret-key";

fn keys() -> Keys {
    Keys::from(Key::from_bytes(&[1; 32]).unwrap())
}

/// `/write` tries to write `_session_user` both ways, then reports what
/// each call answered and who the session's user is; `/` reads the user
/// and `n`.
async fn handler(req: Request<()>) -> Result<Response<String>, Infallible> {
    let session = req.extensions().get::<Session>().unwrap().clone();
    let body = if req.uri().path() == "/write" {
        session.insert("n", 1).await.unwrap();
        let typed = session.insert(STARLETTE_USER_KEY, "victim").await;
        let raw = session
            .insert_value(STARLETTE_USER_KEY, json!("victim"))
            .await;
        let shown = |answer: Result<(), Error>| match answer {
            Ok(()) => "ok".to_owned(),
            Err(Error::ReservedKey { key }) => format!("reserved {key}"),
            Err(other) => format!("{other:?}"),
        };
        format!(
            "{} / {} / user {:?} / key {:?}",
            shown(typed),
            shown(raw),
            session.user().await.unwrap(),
            session.get_value(STARLETTE_USER_KEY).await.unwrap()
        )
    } else {
        format!(
            "user {:?} / n {:?}",
            session.user().await.unwrap(),
            session.get_value("n").await.unwrap()
        )
    };
    Ok(Response::new(body))
}

async fn send(
    layer: &SessionLayer<impl session_core::store::SessionStore>,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(path).body(()).unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    }
    let response = layer
        .layer(tower::service_fn(handler))
        .oneshot(request)
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status(), response.into_body(), cookie)
}

fn config() -> SessionConfig {
    SessionConfig::new().with_secure(false)
}

#[tokio::test]
async fn a_handler_cannot_write_the_starlette_user_key() {
    let layer = SessionLayer::client_side(StarletteCookie::new(SECRET)).with_config(config());
    let (status, body, cookie) = send(&layer, "/write", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        "reserved _session_user / reserved _session_user / user None / key None"
    );
    // The cookie carries the rest of what was written, and no user.
    let cookie = cookie.expect("`n` was written");
    let value = cookie.strip_prefix("session=").unwrap();
    let decoded = StarletteCookie::new(SECRET)
        .decode("session", value)
        .expect("the layer's own cookie");
    assert_eq!(decoded.user, None);
    assert_eq!(Value::Object(decoded.data), json!({ "n": 1 }));
    let (_, body, _) = send(&layer, "/", Some(&cookie)).await;
    assert_eq!(body, "user None / n Some(Number(1))");
}

/// Elsewhere the user travels outside the data, and the name is an
/// ordinary key.
#[tokio::test]
async fn the_key_is_reserved_only_where_the_format_needs_it() {
    let layers = [
        (
            "memory",
            SessionLayer::new(
                session_core::store::AnyStore::new(MemoryStore::new()),
                keys(),
            ),
        ),
        (
            "signed",
            SessionLayer::client_side(SignedCookie::new(&keys())),
        ),
        (
            "encrypted",
            SessionLayer::client_side(EncryptedCookie::new(&keys())),
        ),
    ];
    for (kind, layer) in layers {
        let layer = layer.with_config(config());
        let (status, body, _) = send(&layer, "/write", None).await;
        assert_eq!(status, StatusCode::OK, "{kind}");
        assert_eq!(
            body, "ok / ok / user None / key Some(String(\"victim\"))",
            "{kind}"
        );
    }
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

/// A cookie as a Starlette app would write it: `data` as given, with
/// whatever it holds under `_session_user`.
fn from_python(data: Data, issued_at: OffsetDateTime) -> String {
    let session = ClientSession {
        data,
        created_at: None,
        issued_at,
        rekey: false,
        expires_at: None,
        expiry: None,
        user: None,
    };
    StarletteCookie::new(SECRET)
        .encode("session", &session)
        .unwrap()
}

/// Whether `value` is a user name [`Session::set_user`] takes.
fn valid_user(value: &Value) -> Option<&str> {
    value
        .as_str()
        .filter(|user| (1..=MAX_USER_LEN).contains(&user.len()))
}

/// Any JSON value, biased towards strings around the length limit.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        (0usize..3, 250usize..260, any::<char>()).prop_map(|(wide, len, ch)| {
            // Around 255 bytes, in one- to four-byte characters.
            let ch = [ch, 'a', 'é'][wide];
            let text: String = std::iter::repeat_n(ch, len).collect();
            let mut cut = MAX_USER_LEN.min(text.len()) - 3;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            Value::from(if len % 2 == 0 {
                text
            } else {
                text[..cut].to_owned()
            })
        }),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::vec(("[a-z_]{1,4}", inner), 0..3)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A fixed seed and no regression file, as the other model tests: 256
/// cases, `PROPTEST_CASES` for longer runs.
fn proptest_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    /// A Starlette cookie's `_session_user` is the session's user when it
    /// is a valid user name (a string of 1 to 255 bytes), and then it is
    /// not in the data; anything else under the key makes the cookie no
    /// session at all.
    #[test]
    fn the_user_key_is_a_valid_user_or_no_session(
        bound in any_value(),
        other in any_value(),
        first in any::<bool>(),
    ) {
        let mut data = Data::new();
        if first {
            data.insert(STARLETTE_USER_KEY.into(), bound.clone());
            data.insert("other".into(), other.clone());
        } else {
            data.insert("other".into(), other.clone());
            data.insert(STARLETTE_USER_KEY.into(), bound.clone());
        }
        let value = from_python(data, at(1_700_000_000));
        let decoded = StarletteCookie::new(SECRET).decode("session", &value);
        match valid_user(&bound) {
            Some(user) => {
                let decoded = decoded.expect("a valid user name is a session");
                prop_assert_eq!(decoded.user.as_deref(), Some(user));
                prop_assert_eq!(Value::Object(decoded.data), json!({ "other": other }));
            }
            None => prop_assert!(decoded.is_none(), "{} made a session", bound),
        }
    }

    /// What the layer writes for a valid user reads back as that user.
    #[test]
    fn a_bound_user_round_trips(user in "\\PC{1,80}") {
        prop_assume!(user.len() <= MAX_USER_LEN);
        let codec = StarletteCookie::new(SECRET);
        let session = ClientSession {
            data: Data::new(),
            created_at: None,
            issued_at: at(1_700_000_000),
            rekey: false,
            expires_at: None,
            expiry: None,
            user: Some(user.clone()),
        };
        let value = codec.encode("session", &session).unwrap();
        prop_assert_eq!(codec.decode("session", &value), Some(session));
    }
}

/// The writer refuses a user the reader would refuse.
#[test]
fn an_invalid_user_is_not_written() {
    let codec = StarletteCookie::new(SECRET);
    for user in [String::new(), "x".repeat(MAX_USER_LEN + 1)] {
        let len = user.len();
        let session = ClientSession {
            data: Data::new(),
            created_at: None,
            issued_at: at(1_700_000_000),
            rekey: false,
            expires_at: None,
            expiry: None,
            user: Some(user),
        };
        match codec.encode("session", &session) {
            Err(Error::InvalidUser { len: reported }) => assert_eq!(reported, len),
            other => panic!("{len} bytes: {other:?}"),
        }
    }
}

/// Through the layer: a cookie whose `_session_user` is not a user name is
/// a new visitor (and the browser is told to drop it once the session is
/// used and left empty).
#[tokio::test]
async fn a_cookie_with_an_invalid_user_is_no_session() {
    let now = OffsetDateTime::now_utc();
    let layer = SessionLayer::client_side(StarletteCookie::new(SECRET)).with_config(config());
    for bound in [
        json!("hong"),
        json!(""),
        json!(5),
        json!(null),
        json!(["hong"]),
        json!("h".repeat(256)),
    ] {
        let mut data = Data::new();
        data.insert("n".into(), json!(1));
        data.insert(STARLETTE_USER_KEY.into(), bound.clone());
        let cookie = format!("session={}", from_python(data, now));
        let (status, body, _) = send(&layer, "/", Some(&cookie)).await;
        assert_eq!(status, StatusCode::OK, "{bound}");
        let expected = match bound.as_str() {
            Some("hong") => "user Some(\"hong\") / n Some(Number(1))",
            _ => "user None / n None",
        };
        assert_eq!(body, expected, "{bound}");
    }
}
