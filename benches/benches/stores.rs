//! Store work per counter request (one load + one save) against the real
//! servers, beside the raw client doing one read + one write of the whole
//! session (the floor).
//!
//! Needs `REDIS_URL` and `DATABASE_URL` (PostgreSQL); `benches/run.sh`
//! starts throwaway servers for them. SQLite uses a file in a temp dir.

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use session_core::store::{ChangeSet, Record, SessionStore};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::redis::{self, AsyncCommands};
use session_store_redis::RedisStore;
use session_store_sql::sqlx;
use session_store_sql::SqlStore;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `benches/run.sh` (it starts throwaway servers) or set it")
    })
}

/// A live session holding the counter.
async fn seeded(store: &impl SessionStore) -> Id {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("user_count".into(), json!(0));
    store.create(&record).await.unwrap();
    record.id
}

/// One counter request's store work through our store.
async fn load_save(store: &impl SessionStore, id: &Id) {
    let record = store.load(id).await.unwrap().unwrap();
    let n = record.data["user_count"].as_u64().unwrap();
    let mut changes = ChangeSet::new(OffsetDateTime::now_utc() + Duration::hours(1));
    changes.set.insert("user_count".into(), json!(n + 1));
    store.save(id, &changes).await.unwrap();
}

/// The raw-client floor for one SQL database: SELECT the JSON document,
/// increment, UPDATE it whole.
macro_rules! sql_floor {
    ($group:expr, $rt:expr, $name:expr, $pool:ty, $url:expr, $p1:expr, $p2:expr) => {{
        let pool = $rt.block_on(<$pool>::connect($url)).unwrap();
        let id = Id::random().encode();
        $rt.block_on(async {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS bench_floor (id VARCHAR(32) PRIMARY KEY, data TEXT NOT NULL)",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(&format!("INSERT INTO bench_floor (id, data) VALUES ({}, {})", $p1, $p2))
                .bind(&id)
                .bind(r#"{"user_count":0}"#)
                .execute(&pool)
                .await
                .unwrap();
        });
        let select = format!("SELECT data FROM bench_floor WHERE id = {}", $p1);
        let update = format!("UPDATE bench_floor SET data = {} WHERE id = {}", $p1, $p2);
        $group.bench_function(concat!($name, "/raw_select_update"), |b| {
            b.to_async(&$rt).iter(|| async {
                let (text,): (String,) = sqlx::query_as(&select).bind(&id).fetch_one(&pool).await.unwrap();
                let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                let n = value["user_count"].as_u64().unwrap();
                value["user_count"] = json!(n + 1);
                sqlx::query(&update).bind(value.to_string()).bind(&id).execute(&pool).await.unwrap();
            })
        });
        $rt.block_on(sqlx::query("DROP TABLE bench_floor").execute(&pool)).unwrap();
    }};
}

fn stores(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("store_request");

    // Redis: ours (HGETALL + one script) vs GET + SET of a JSON string.
    let redis_url = env("REDIS_URL");
    let ours = rt.block_on(RedisStore::connect(&redis_url)).unwrap();
    let id = rt.block_on(seeded(&ours));
    group.bench_function("redis/ours", |b| {
        b.to_async(&rt).iter(|| load_save(&ours, &id))
    });
    let mut raw = rt
        .block_on(
            redis::Client::open(redis_url.as_str())
                .unwrap()
                .get_connection_manager(),
        )
        .unwrap();
    let key = format!("bench-floor:{}", Id::random().encode());
    rt.block_on(raw.set::<_, _, ()>(&key, r#"{"user_count":0}"#))
        .unwrap();
    group.bench_function("redis/raw_get_set", |b| {
        b.to_async(&rt).iter(|| {
            let (mut raw, key) = (raw.clone(), key.clone());
            async move {
                let text: String = raw.get(&key).await.unwrap();
                let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
                let n = value["user_count"].as_u64().unwrap();
                value["user_count"] = json!(n + 1);
                raw.set_ex::<_, _, ()>(&key, value.to_string(), 3600)
                    .await
                    .unwrap();
            }
        })
    });

    // PostgreSQL and SQLite: ours (SELECT + one JSON-patching UPDATE) vs
    // SELECT + UPDATE of the whole document.
    let dir = std::env::temp_dir().join(format!("session-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let postgres_url = env("DATABASE_URL");
    for (name, url) in [("postgres", &postgres_url), ("sqlite", &sqlite_url)] {
        let ours = rt.block_on(SqlStore::connect(url)).unwrap();
        rt.block_on(ours.migrate()).unwrap();
        let id = rt.block_on(seeded(&ours));
        group.bench_function(format!("{name}/ours"), |b| {
            b.to_async(&rt).iter(|| load_save(&ours, &id))
        });
    }
    sql_floor!(
        group,
        rt,
        "postgres",
        sqlx::PgPool,
        &postgres_url,
        "$1",
        "$2"
    );
    sql_floor!(group, rt, "sqlite", sqlx::SqlitePool, &sqlite_url, "?", "?");
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = benches::criterion();
    targets = stores
}
criterion_main!(benches);
