//! Cookie values: signing and verifying a session id, side by side with the
//! `cookie` crate's SignedJar and a bare pre-keyed HMAC-SHA256 + base64 (the
//! floor for signing an id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, CookieJar};
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use serde_json::json;
use session_core::__private::SignedId;
use session_core::codec::{ClientSession, DataCodec};
use session_core::codec::{EncryptedCookie, SignedCookie, StarletteCookie};
use session_core::store::Data;
use session_core::time::OffsetDateTime;
use session_core::{Id, Key, Keys};
use sha2::Sha256;
use std::hint::black_box;

fn signed_id(c: &mut Criterion) {
    let key = Key::from_bytes(&[7; 32]).unwrap();
    let ours = SignedId::new(&key.clone().into());
    let id = Id::random();
    let id_text = id.encode();
    let value = ours.sign(&id);

    let jar_key = cookie::Key::from(&[7u8; 64]);
    let mut signed_jar = CookieJar::new();
    signed_jar
        .signed_mut(&jar_key)
        .add(Cookie::new("session", id_text.clone()));
    let jar_value = signed_jar.delta().next().unwrap().value().to_owned();
    let mut incoming = CookieJar::new();
    incoming.add_original(Cookie::new("session", jar_value));

    let floor_mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
    let floor_sign = |id: &Id| {
        let mut mac = floor_mac.clone();
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(66);
        out.push_str(&id_text);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    };
    let floor_value = floor_sign(&id);

    let mut group = c.benchmark_group("signed_id");
    group.bench_function("sign/ours", |b| b.iter(|| ours.sign(black_box(&id))));
    group.bench_function("sign/cookie_signed_jar", |b| {
        b.iter(|| {
            let mut jar = CookieJar::new();
            jar.signed_mut(&jar_key).add(Cookie::new(
                "session",
                black_box(id_text.as_str()).to_owned(),
            ));
            jar.delta().next().map(|c| c.value().len())
        })
    });
    group.bench_function("sign/hmac_floor", |b| b.iter(|| floor_sign(black_box(&id))));
    group.bench_function("verify/ours", |b| b.iter(|| ours.verify(black_box(&value))));
    group.bench_function("verify/cookie_signed_jar", |b| {
        b.iter(|| incoming.signed(&jar_key).get(black_box("session")))
    });
    group.bench_function("verify/hmac_floor", |b| {
        b.iter(|| {
            let (id_part, tag_part) = black_box(&floor_value).split_once('.').unwrap();
            let mut raw = [0u8; 16];
            URL_SAFE_NO_PAD.decode_slice(id_part, &mut raw).unwrap();
            let mut tag = [0u8; 32];
            URL_SAFE_NO_PAD.decode_slice(tag_part, &mut tag).unwrap();
            let mut mac = floor_mac.clone();
            mac.update(&raw);
            assert!(mac.verify_slice(&tag).is_ok());
        })
    });
    group.finish();
}

/// The payloads of the tutorial: the counter, and the login profile.
fn payloads() -> [(&'static str, Data); 2] {
    let counter = json!({ "user_count": 1 });
    let login = json!({ "username": { "user_id": "hong", "age": 21, "email": "aaa@aaa.com" } });
    let map = |v: serde_json::Value| match v {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    };
    [("counter", map(counter)), ("login", map(login))]
}

/// Data cookies: encode (serialize + sign or encrypt) and verify (check +
/// parse) the same payload with our codecs and with the `cookie` crate's
/// SignedJar / PrivateJar doing the same job, beside a bare pre-keyed
/// HMAC-SHA256 + base64 over the JSON.
fn data_cookie(c: &mut Criterion) {
    let keys: Keys = Key::from_bytes(&[7; 32]).unwrap().into();
    let codecs: [(&str, Box<dyn DataCodec>); 3] = [
        ("signed", Box::new(SignedCookie::new(&keys))),
        ("encrypted", Box::new(EncryptedCookie::new(&keys))),
        ("starlette", Box::new(StarletteCookie::new(&"k".repeat(32)))),
    ];
    let jar_key = cookie::Key::from(&[7u8; 64]);
    let floor_mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
    let now = OffsetDateTime::now_utc();
    for (payload_name, data) in payloads() {
        let mut group = c.benchmark_group(format!("data_cookie/{payload_name}"));
        let session = ClientSession {
            data: data.clone(),
            created_at: Some(now),
            issued_at: now,
            rekey: false,
            expires_at: None,
            expiry: None,
            user: None,
        };
        for (name, codec) in &codecs {
            let value = codec.encode("session", &session).unwrap();
            group.bench_function(format!("encode/ours_{name}"), |b| {
                b.iter(|| codec.encode("session", black_box(&session)).unwrap())
            });
            group.bench_function(format!("verify/ours_{name}"), |b| {
                b.iter(|| codec.decode("session", black_box(&value)).unwrap())
            });
        }
        for (name, private) in [("signed_jar", false), ("private_jar", true)] {
            let encode = |data: &Data| {
                let json = serde_json::to_string(data).unwrap();
                let mut jar = CookieJar::new();
                let cookie = Cookie::new("session", json);
                if private {
                    jar.private_mut(&jar_key).add(cookie);
                } else {
                    jar.signed_mut(&jar_key).add(cookie);
                }
                jar.delta().next().unwrap().value().to_owned()
            };
            let mut incoming = CookieJar::new();
            incoming.add_original(Cookie::new("session", encode(&data)));
            group.bench_function(format!("encode/cookie_{name}"), |b| {
                b.iter(|| encode(black_box(&data)))
            });
            group.bench_function(format!("verify/cookie_{name}"), |b| {
                b.iter(|| {
                    let cookie = if private {
                        incoming.private(&jar_key).get("session")
                    } else {
                        incoming.signed(&jar_key).get("session")
                    };
                    serde_json::from_str::<Data>(cookie.unwrap().value()).unwrap()
                })
            });
        }
        group.bench_function("encode/hmac_floor", |b| {
            b.iter(|| {
                let json = serde_json::to_vec(black_box(&data)).unwrap();
                let mut mac = floor_mac.clone();
                mac.update(&json);
                let tag = mac.finalize().into_bytes();
                let mut out = URL_SAFE_NO_PAD.encode(&json);
                out.push('.');
                URL_SAFE_NO_PAD.encode_string(tag, &mut out);
                out
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = signed_id, data_cookie
}
criterion_main!(benches);
