//! A whole request in-process (tower `oneshot`, no sockets): the tutorial's
//! counter through our layer (also with data encrypted at rest), beside
//! tower-sessions, beside the same
//! handler with no session (the floor), and with a layer that does no
//! session work (`layer_floor`: what axum's and tower's plumbing costs any
//! layer).

use criterion::{criterion_group, criterion_main, Criterion};

fn whole_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let case = |name| benches::request_case(name).expect("a case of this bench");
    let floor = case("no_session");
    let ours_memory = case("ours_memory");
    let ours_data_keys = case("ours_memory_data_keys");
    let ours_client_side = case("ours_cookie_store");
    let peer = case("tower_sessions_memory");
    let layer_floor = case("layer_floor");
    let ours_cookie = rt.block_on(benches::request(&ours_memory, None)).unwrap();
    let data_keys_cookie = rt
        .block_on(benches::request(&ours_data_keys, None))
        .unwrap();
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
    group.bench_function("ours_memory_data_keys", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&ours_data_keys, Some(&data_keys_cookie)))
    });
    group.bench_function("ours_cookie_store", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&ours_client_side, Some(&client_side_cookie)))
    });
    group.bench_function("tower_sessions_memory", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&peer, Some(&peer_cookie)))
    });
    group.bench_function("layer_floor", |b| {
        b.to_async(&rt)
            .iter(|| benches::request(&layer_floor, None))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = whole_request
}
criterion_main!(benches);
