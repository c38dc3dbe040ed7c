//! Cookie values: signing and verifying a session id, side by side with the
//! `cookie` crate's SignedJar and a bare pre-keyed HMAC-SHA256 + base64 (the
//! floor for signing an id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, CookieJar};
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, Mac};
use session_core::{Id, Key, SignedId};
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

criterion_group!(benches, signed_id);
criterion_main!(benches);
