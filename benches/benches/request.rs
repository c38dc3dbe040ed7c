//! A whole request in-process (tower `oneshot`, no sockets): the tutorial's
//! counter through our layer, beside tower-sessions, beside the same
//! handler with no session (the floor).

use criterion::{criterion_group, criterion_main, Criterion};
use session_core::codec::SignedCookie;
use session_core::{Key, SessionConfig, SessionLayer};
use session_store_memory::MemoryStore;

fn whole_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let floor = benches::no_session_counter();
    let ours_memory = benches::session_counter().layer(
        SessionLayer::new(MemoryStore::new(), Key::from_bytes(&[7; 32]).unwrap())
            .with_config(SessionConfig::new().with_secure(false)),
    );
    let ours_client_side = benches::session_counter().layer(
        SessionLayer::client_side(SignedCookie::new(
            &Key::from_bytes(&[7; 32]).unwrap().into(),
        ))
        .with_config(SessionConfig::new().with_secure(false)),
    );
    let peer = benches::tower_sessions_counter();
    let ours_cookie = rt.block_on(benches::request(&ours_memory, None)).unwrap();
    let client_side_cookie = rt
        .block_on(benches::request(&ours_client_side, None))
        .unwrap();
    let peer_cookie = rt.block_on(benches::request(&peer, None)).unwrap();

    let mut group = c.benchmark_group("request");
    group.bench_function("no_session", |b| {
        b.to_async(&rt).iter(|| benches::request(&floor, None))
    });
    group.bench_function("ours_memory", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&ours_memory, Some(&ours_cookie)))
    });
    group.bench_function("ours_cookie_store", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&ours_client_side, Some(&client_side_cookie)))
    });
    group.bench_function("tower_sessions_memory", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&peer, Some(&peer_cookie)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = whole_request
}
criterion_main!(benches);
