//! Cookie values: signing and verifying a session id, side by side with the
//! `cookie` crate's SignedJar and a bare pre-keyed HMAC-SHA256 + base64 (the
//! floor for signing an id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cookie::{Cookie, CookieJar};
use criterion::{criterion_group, Criterion};
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

/// One data-cookie case: its criterion group and id, and one iteration.
type Case = (String, String, Box<dyn FnMut()>);

/// Data cookies: encode (serialize + sign or encrypt) and verify (check +
/// parse) the same payload with our codecs and with the `cookie` crate's
/// SignedJar / PrivateJar doing the same job, beside a bare pre-keyed
/// HMAC-SHA256 + base64 over the JSON.
fn data_cookie_cases() -> Vec<Case> {
    let keys: Keys = Key::from_bytes(&[7; 32]).unwrap().into();
    let codecs: [(&str, std::rc::Rc<dyn DataCodec>); 3] = [
        ("signed", std::rc::Rc::new(SignedCookie::new(&keys))),
        ("encrypted", std::rc::Rc::new(EncryptedCookie::new(&keys))),
        (
            "starlette",
            std::rc::Rc::new(StarletteCookie::new(&"k".repeat(32))),
        ),
    ];
    let jar_key = cookie::Key::from(&[7u8; 64]);
    let floor_mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut cases: Vec<Case> = Vec::new();
    for (payload_name, data) in payloads() {
        let group = format!("data_cookie/{payload_name}");
        let mut case = |id: String, f: Box<dyn FnMut()>| cases.push((group.clone(), id, f));
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
            let (encoder, session) = (codec.clone(), session.clone());
            case(
                format!("encode/ours_{name}"),
                Box::new(move || {
                    black_box(encoder.encode("session", black_box(&session)).unwrap());
                }),
            );
            let codec = codec.clone();
            case(
                format!("verify/ours_{name}"),
                Box::new(move || {
                    black_box(codec.decode("session", black_box(&value)).unwrap());
                }),
            );
        }
        for (name, private) in [("signed_jar", false), ("private_jar", true)] {
            let (jar_key, encode_key) = (jar_key.clone(), jar_key.clone());
            let encode = move |data: &Data| {
                let json = serde_json::to_string(data).unwrap();
                let mut jar = CookieJar::new();
                let cookie = Cookie::new("session", json);
                if private {
                    jar.private_mut(&encode_key).add(cookie);
                } else {
                    jar.signed_mut(&encode_key).add(cookie);
                }
                jar.delta().next().unwrap().value().to_owned()
            };
            let mut incoming = CookieJar::new();
            incoming.add_original(Cookie::new("session", encode(&data)));
            let data = data.clone();
            case(
                format!("encode/cookie_{name}"),
                Box::new(move || {
                    black_box(encode(black_box(&data)));
                }),
            );
            case(
                format!("verify/cookie_{name}"),
                Box::new(move || {
                    let cookie = if private {
                        incoming.private(&jar_key).get("session")
                    } else {
                        incoming.signed(&jar_key).get("session")
                    };
                    black_box(serde_json::from_str::<Data>(cookie.unwrap().value()).unwrap());
                }),
            );
        }
        // What an encrypted encode cannot do without: one random 96-bit
        // nonce from the OS (a 128-bit id is the same one `getrandom` call).
        case(
            "encode/getrandom_floor".to_owned(),
            Box::new(|| {
                black_box(Id::random());
            }),
        );
        // What every verify ends with: the JSON text parsed into `Data`.
        let json = serde_json::to_string(&data).unwrap();
        case(
            "verify/json_floor".to_owned(),
            Box::new(move || {
                black_box(serde_json::from_str::<Data>(black_box(&json)).unwrap());
            }),
        );
        let floor_mac = floor_mac.clone();
        let data = data.clone();
        case(
            "encode/hmac_floor".to_owned(),
            Box::new(move || {
                let json = serde_json::to_vec(black_box(&data)).unwrap();
                let mut mac = floor_mac.clone();
                mac.update(&json);
                let tag = mac.finalize().into_bytes();
                let mut out = URL_SAFE_NO_PAD.encode(&json);
                out.push('.');
                URL_SAFE_NO_PAD.encode_string(tag, &mut out);
                black_box(out);
            }),
        );
    }
    cases
}

fn data_cookie(c: &mut Criterion) {
    let mut cases = data_cookie_cases();
    let mut i = 0;
    while i < cases.len() {
        let mut group = c.benchmark_group(cases[i].0.clone());
        let name = cases[i].0.clone();
        while i < cases.len() && cases[i].0 == name {
            let (_, id, f) = &mut cases[i];
            group.bench_function(id.as_str(), |b| b.iter(&mut *f));
            i += 1;
        }
        group.finish();
    }
}

/// `COOKIE_INSTRUCTIONS="data_cookie/login verify/ours_signed 2000"` runs one
/// case that many times and nothing else, for callgrind (which counts
/// instructions, so results repeat on a busy machine):
///
/// ```sh
/// cargo bench -p benches --bench cookie --no-run   # prints the binary's path
/// for n in 0 2000; do
///   COOKIE_INSTRUCTIONS="data_cookie/login verify/ours_signed $n" \
///     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n target/release/deps/cookie-*
/// done
/// ```
///
/// One iteration costs the difference of the two totals divided by 2000.
fn instructions(spec: &str) {
    let mut words = spec.split_whitespace();
    let (group, id) = (words.next().unwrap(), words.next().unwrap());
    let n: usize = words.next().map_or(1000, |n| n.parse().unwrap());
    let mut cases = data_cookie_cases();
    let (_, _, f) = cases
        .iter_mut()
        .find(|(g, i, _)| g == group && i == id)
        .unwrap_or_else(|| panic!("no case {group} {id}"));
    for _ in 0..n {
        f();
    }
}

/// `COOKIE_RATIOS=401` times each of our data-cookie codecs against the
/// `cookie` crate's jar doing the same job in alternating bursts (401
/// rounds of about 50 µs each), so that both see the same load on a
/// shared machine, and prints for each the time per iteration at the
/// 10th percentile of its bursts (the bursts nothing else interrupted)
/// and at the median, and the ratios. Criterion measures one case after
/// another, and its ratios move with whatever else the machine runs in
/// between.
fn ratios(rounds: usize) {
    let mut cases = data_cookie_cases();
    let index = |cases: &[Case], group: &str, id: &str| {
        cases
            .iter()
            .position(|(g, i, _)| g == group && i == id)
            .unwrap_or_else(|| panic!("no case {group} {id}"))
    };
    let burst = |case: &mut Box<dyn FnMut()>, n: u32| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            case();
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    let percentile = |v: &mut Vec<f64>, p: usize| {
        v.sort_by(f64::total_cmp);
        v[v.len() * p / 100]
    };
    println!("| payload | op | ours | ns (p10 / median) | peer | ns (p10 / median) | peer / ours (p10) | (median) |");
    println!("|---|---|---|---:|---|---:|---:|---:|");
    for payload in ["counter", "login"] {
        let group = format!("data_cookie/{payload}");
        for op in ["encode", "verify"] {
            let mut pairs = vec![
                ("ours_signed", "cookie_signed_jar"),
                ("ours_encrypted", "cookie_private_jar"),
            ];
            if op == "verify" {
                pairs.push(("json_floor", "cookie_signed_jar"));
            } else {
                pairs.push(("getrandom_floor", "cookie_private_jar"));
            }
            for (ours, peer) in pairs {
                let a = index(&cases, &group, &format!("{op}/{ours}"));
                let b = index(&cases, &group, &format!("{op}/{peer}"));
                // About 50 µs a burst, after a warm-up.
                let per = burst(&mut cases[a].2, 20_000).max(burst(&mut cases[b].2, 20_000));
                let n = (5e4 / per).max(1.0) as u32;
                let (mut ta, mut tb) = (Vec::new(), Vec::new());
                for round in 0..rounds {
                    if round % 2 == 0 {
                        ta.push(burst(&mut cases[a].2, n));
                        tb.push(burst(&mut cases[b].2, n));
                    } else {
                        tb.push(burst(&mut cases[b].2, n));
                        ta.push(burst(&mut cases[a].2, n));
                    }
                }
                let (a10, am) = (percentile(&mut ta, 10), percentile(&mut ta, 50));
                let (b10, bm) = (percentile(&mut tb, 10), percentile(&mut tb, 50));
                println!(
                    "| {payload} | {op} | {ours} | {a10:.0} / {am:.0} | {peer} | {b10:.0} / {bm:.0} | {:.2} | {:.2} |",
                    b10 / a10,
                    bm / am
                );
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = signed_id, data_cookie
}

fn main() {
    if let Ok(spec) = std::env::var("COOKIE_INSTRUCTIONS") {
        return instructions(&spec);
    }
    if let Ok(rounds) = std::env::var("COOKIE_RATIOS") {
        return ratios(rounds.parse().expect("COOKIE_RATIOS: a number of rounds"));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
