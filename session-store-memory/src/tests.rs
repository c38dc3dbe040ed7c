//! Unit tests of the private parts.

use proptest::prelude::*;
use session_core::store::ExpiredCleanup;

use super::*;

proptest! {
    /// The compact pairs change exactly as a map does (values and key
    /// order), whatever the change set.
    #[test]
    fn pairs_apply_like_a_map(
        keys in proptest::collection::vec(0u8..6, 0..6),
        set in proptest::collection::btree_map(0u8..8, 0i64..3, 0..4),
        removed in proptest::collection::vec(0u8..8, 0..3),
    ) {
        // Names from 2 to 37 bytes: keys kept inline (up to 24) and on
        // the heap.
        let name = |key: &u8| format!("k{key}{}", "x".repeat(usize::from(*key) * 5));
        let mut map = Data::new();
        for (n, key) in keys.iter().enumerate() {
            map.insert(name(key), Value::from(n));
        }
        let mut changes = ChangeSet::new(OffsetDateTime::UNIX_EPOCH);
        for (key, value) in &set {
            changes.set.insert(name(key), Value::from(*value));
        }
        // A key may be in both lists: removals apply first.
        changes.removed = removed.iter().map(name).collect();
        let mut compact = pairs(&map);
        apply(&mut compact, &changes);
        changes.apply_to(&mut map);
        let back = data(&compact);
        prop_assert_eq!(back.keys().collect::<Vec<_>>(), map.keys().collect::<Vec<_>>());
        prop_assert_eq!(back, map);
    }
}

use session_core::time::Duration;
use session_core::ManualClock;

fn record(now: OffsetDateTime, ttl: Duration) -> Record {
    Record::new(Id::random(), now, now + ttl)
}

#[tokio::test]
async fn expired_entries_are_swept_as_sessions_arrive() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::new().with_clock(clock.clone());
    for _ in 0..2000 {
        store
            .create(&record(clock.now(), Duration::seconds(10)))
            .await
            .unwrap();
    }
    assert_eq!(store.len(), 2000);
    clock.advance(Duration::seconds(11));
    for _ in 0..(SHARDS as u32 * SWEEP_EVERY * 2) {
        store
            .create(&record(clock.now(), Duration::hours(1)))
            .await
            .unwrap();
    }
    // Every shard has been swept at least once since the first batch expired.
    assert_eq!(store.len(), SHARDS * SWEEP_EVERY as usize * 2);
}

#[tokio::test]
async fn capacity_limit_evicts_the_soonest_to_expire() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::new()
        .with_capacity_limit(SHARDS)
        .with_clock(clock.clone());
    let mut ids = Vec::new();
    for i in 0..(SHARDS * 4) {
        let r = record(clock.now(), Duration::seconds(100 + i as i64));
        ids.push(r.id);
        store.create(&r).await.unwrap();
    }
    assert!(store.len() <= SHARDS);
    assert!(store.evicted() >= (SHARDS * 3) as u64);
    // The latest-expiring record always survives its shard's evictions.
    assert!(store.load(ids.last().unwrap()).await.unwrap().is_some());
}

/// The `n`th id of `shard` (distinct for distinct `n`).
fn id_in(shard: usize, n: u64) -> Id {
    let mut bytes = [0; 16];
    bytes[0] = shard as u8;
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    Id::from_bytes(bytes)
}

fn record_in(shard: usize, n: u64, now: OffsetDateTime, ttl: Duration) -> Record {
    let mut record = record(now, ttl);
    record.id = id_in(shard, n);
    record
}

/// Of anonymous sessions, those that came back go after those that did
/// not, in a shard that holds both. (Ids are chosen so that every shard
/// receives the flood before the store is full.)
#[tokio::test]
async fn a_flood_of_new_sessions_does_not_evict_returning_visitors() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::new()
        .with_capacity_limit(SHARDS * 10)
        .with_clock(clock.clone());
    // Returning visitors: created first (so closest to expiry), then used.
    let mut regulars = Vec::new();
    for n in 0..100 {
        let r = record_in(n % SHARDS, n as u64, clock.now(), Duration::days(1));
        store.create(&r).await.unwrap();
        regulars.push(r.id);
    }
    for id in &regulars {
        assert!(store.load(id).await.unwrap().is_some());
    }
    // A flood of sessions nobody comes back to, all expiring later.
    clock.advance(Duration::seconds(1));
    for n in 0..(SHARDS * 50) {
        let r = record_in(n % SHARDS, 1_000 + n as u64, clock.now(), Duration::days(1));
        store.create(&r).await.unwrap();
    }
    assert_eq!(store.len(), SHARDS * 10);
    assert!(store.evicted() > 0);
    for id in &regulars {
        assert!(
            store.load(id).await.unwrap().is_some(),
            "a returning visitor was evicted by the flood"
        );
    }
}

fn bound_in(shard: usize, n: u64, user: &str, now: OffsetDateTime) -> Record {
    let mut record = record_in(shard, n, now, Duration::days(1));
    record.user = Some(user.to_owned());
    record
}

/// The capacity counts the whole store: bound sessions crowded into one
/// shard, beyond an even share of the capacity, stay through a flood
/// of anonymous sessions in every shard, theirs included.
#[tokio::test]
async fn bound_sessions_crowded_into_one_shard_stay() {
    let store = MemoryStore::new().with_capacity_limit(SHARDS * 10);
    let now = OffsetDateTime::now_utc();
    let mut crowd = Vec::new();
    for n in 0..40 {
        let r = bound_in(7, n, &format!("user-{n}"), now);
        store.create(&r).await.unwrap();
        crowd.push(r.id);
    }
    for n in 0..(SHARDS * 40) {
        let r = record_in(n % SHARDS, 1_000 + n as u64, now, Duration::days(1));
        store.create(&r).await.unwrap();
    }
    assert_eq!(store.len(), SHARDS * 10);
    for id in &crowd {
        assert!(
            store.load(id).await.unwrap().is_some(),
            "a bound session was evicted"
        );
    }
    assert_eq!(store.inner.shards[7].read().bound, 40);
}

/// An expired session makes room before any live one, bound or not: in
/// the new session's shard at once, and in the whole store (swept)
/// before a bound session is evicted for a login.
#[tokio::test]
async fn expired_sessions_make_room_first() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::new()
        .with_capacity_limit(4)
        .with_clock(clock.clone());
    let short = |n: u64| {
        let mut r = bound_in(n as usize, n, "short", clock.now());
        r.expires_at = clock.now() + Duration::seconds(5);
        r
    };
    let long = bound_in(9, 9, "long", clock.now());
    for r in [short(1), short(2), short(3), long.clone()] {
        store.create(&r).await.unwrap();
    }
    clock.advance(Duration::seconds(6));
    // Anonymous, into the shard of an expired bound session: takes its
    // place.
    let anonymous = record_in(1, 100, clock.now(), Duration::days(1));
    store.create(&anonymous).await.unwrap();
    assert_eq!(store.len(), 4);
    store.delete(&anonymous.id).await.unwrap();
    // Logins, into shards with nothing expired: the first fits; for the
    // second, with no anonymous session left, the whole store is swept
    // rather than a live session evicted.
    let first = bound_in(30, 102, "new", clock.now());
    store.create(&first).await.unwrap();
    store
        .create(&bound_in(31, 103, "new", clock.now()))
        .await
        .unwrap();
    assert_eq!(store.len(), 3, "both expired sessions swept");
    assert_eq!(store.evicted(), 0);
    assert!(store.load(&long.id).await.unwrap().is_some());
    assert!(store.load(&first.id).await.unwrap().is_some());
}

#[tokio::test]
async fn delete_expired_counts_what_it_removed() {
    let clock = ManualClock::starting_now();
    let store = MemoryStore::new().with_clock(clock.clone());
    store
        .create(&record(clock.now(), Duration::seconds(5)))
        .await
        .unwrap();
    store
        .create(&record(clock.now(), Duration::seconds(50)))
        .await
        .unwrap();
    clock.advance(Duration::seconds(6));
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    assert_eq!(store.len(), 1);
}
