//! The memory store at 1 k, 100 k and 1 M live sessions: time per
//! load + save (one counter request's store work) and bytes per session,
//! beside a bare `HashMap` read and written the same way (`hashmap_floor`:
//! what the machine's caches alone take from 1 k to 1 M). Then the cost of
//! a new session: `create_delete/N` (a session created and deleted beside
//! N live ones, below the capacity) and `create_full/N` (a new anonymous
//! session in a store full at its capacity of N, evicting one).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;
use session_core::store::{ChangeSet, Record, SessionStore};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_memory::MemoryStore;

/// Resident memory of this process, in bytes (from /proc/self/statm).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("memory_store");
    for size in [1_000usize, 100_000, 1_000_000] {
        // Unbounded: the default capacity (100,000) would evict at 1 M.
        let store = MemoryStore::new().with_capacity_limit(usize::MAX);
        let now = OffsetDateTime::now_utc();
        let before = resident_bytes();
        let ids: Vec<Id> = rt.block_on(async {
            let mut ids = Vec::with_capacity(size);
            for i in 0..size {
                let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
                record.data.insert("user_count".into(), json!(i));
                store.create(&record).await.unwrap();
                ids.push(record.id);
            }
            ids
        });
        let grown = resident_bytes().saturating_sub(before);
        // Ids themselves (16 bytes each) belong to the bench, not the store.
        let per_session = grown as f64 / size as f64 - 16.0;
        eprintln!("memory_store/{size}: about {per_session:.0} bytes per session (RSS growth)");
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::new("load_save", size), &size, |b, _| {
            b.to_async(&rt).iter(|| {
                // A different session each time, spread over the whole store.
                next = (next + 7919) % ids.len();
                let id = ids[next];
                let store = &store;
                async move {
                    let record = store.load(&id).await.unwrap().unwrap();
                    let n = record.data["user_count"].as_u64().unwrap();
                    let mut changes = ChangeSet::new(record.expires_at);
                    changes.set.insert("user_count".into(), json!(n + 1));
                    store.save(&id, &changes).await.unwrap();
                }
            })
        });
        drop(ids);
        drop(store);

        // The floor of the same access pattern: a bare std HashMap from ids
        // to counters, read and written at a spread-out key. What it loses
        // from 1 k to 1 M is the machine's (cache and TLB misses), not the
        // store's.
        let mut map: std::collections::HashMap<Id, u64> =
            (0..size as u64).map(|i| (Id::random(), i)).collect();
        let keys: Vec<Id> = map.keys().copied().collect();
        let mut next = 0usize;
        group.bench_with_input(BenchmarkId::new("hashmap_floor", size), &size, |b, _| {
            b.iter(|| {
                next = (next + 7919) % keys.len();
                let id = keys[next];
                let n = map[&id];
                map.insert(id, std::hint::black_box(n + 1));
            })
        });
    }
    group.finish();
}

/// The `n`th of a sequence of distinct ids spread over every shard, drawn
/// without asking the OS for randomness (which would dominate a create).
fn nth_id(n: u64) -> Id {
    // Multiplying by an odd constant is a bijection modulo 2^128.
    let spread = u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    Id::from_bytes(spread.to_be_bytes())
}

fn counter_record(id: Id, now: OffsetDateTime) -> Record {
    let mut record = Record::new(id, now, now + Duration::hours(1));
    record.data.insert("user_count".into(), json!(1));
    record
}

fn memory_store_create(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("memory_store");
    let now = OffsetDateTime::now_utc();
    for size in [1_000usize, 100_000] {
        let fill = |store: &MemoryStore| {
            rt.block_on(async {
                for n in 0..size as u64 {
                    store.create(&counter_record(nth_id(n), now)).await.unwrap();
                }
            })
        };
        let store = MemoryStore::new().with_capacity_limit(usize::MAX);
        fill(&store);
        let mut next = size as u64;
        group.bench_with_input(BenchmarkId::new("create_delete", size), &size, |b, _| {
            b.to_async(&rt).iter(|| {
                next += 1;
                let record = counter_record(nth_id(next), now);
                let store = &store;
                async move {
                    store.create(&record).await.unwrap();
                    store.delete(&record.id).await.unwrap();
                }
            })
        });
        drop(store);

        let store = MemoryStore::new().with_capacity_limit(size);
        fill(&store);
        let mut next = size as u64;
        group.bench_with_input(BenchmarkId::new("create_full", size), &size, |b, _| {
            b.to_async(&rt).iter(|| {
                next += 1;
                let record = counter_record(nth_id(next), now);
                let store = &store;
                async move {
                    store.create(&record).await.unwrap();
                }
            })
        });
        assert!(store.evicted() > 0, "the store was not full");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = memory_store, memory_store_create
}
criterion_main!(benches);
