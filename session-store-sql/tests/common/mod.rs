//! Checks every database runs besides the conformance suite.
#![allow(dead_code)]

use serde_json::json;
use session_core::store::{
    from_unix_millis, unix_millis, ChangeSet, Created, CycleStore, Cycled, ExpiredCleanup, Record,
    Saved, SessionStore, StoreError, UserIndex,
};
use session_core::time::{Duration, OffsetDateTime, PrimitiveDateTime};
use session_core::{Clock, Expiry, Id, ManualClock};
use session_store_sql::{Database, SqlStore};

/// The URL in `var`, or a failure that says how to get one.
pub fn url(var: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{var} is not set: run `scripts/test`, which starts throwaway PostgreSQL and \
             MariaDB servers and sets DATABASE_URL and MYSQL_URL, or set {var} yourself \
             (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test, \
             MYSQL_URL=mysql://root@127.0.0.1:3306/test)"
        ),
    }
}

/// `url` (one of the test servers) with the user `user` and the password
/// `hunter2`.
pub fn with_password(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with ://");
    let host = rest.rsplit('@').next().unwrap_or(rest);
    format!("{scheme}://{user}:hunter2@{host}")
}

/// Connecting with URLs that carry the password `hunter2` fails, whatever
/// goes wrong (a malformed URL, nothing listening, refused credentials),
/// with an error that never carries the password: applications print
/// these errors at start.
pub async fn connect_errors_never_carry_the_password(urls: &[String]) {
    for url in urls {
        let err = SqlStore::connect(url).await.expect_err(url);
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("hunter2"), "{url} -> {text}");
        }
    }
}

/// A table name no other test (or concurrent run) uses.
pub fn unique_table(prefix: &str) -> String {
    format!("{prefix}_{}", Id::random().short_hash())
}

/// Runs one statement on the store's own pool.
pub async fn execute(store: &SqlStore, sql: &str) {
    match store.database() {
        #[cfg(feature = "sqlite")]
        Database::Sqlite => {
            sqlx::query(sql)
                .execute(store.sqlite_pool().unwrap())
                .await
                .unwrap();
        }
        #[cfg(feature = "postgres")]
        Database::Postgres => {
            sqlx::query(sql)
                .execute(store.postgres_pool().unwrap())
                .await
                .unwrap();
        }
        #[cfg(feature = "mysql")]
        Database::MySql => {
            sqlx::query(sql)
                .execute(store.mysql_pool().unwrap())
                .await
                .unwrap();
        }
        other => panic!("database {other:?} not compiled in"),
    }
}

/// `SELECT count(*)` of the store's table.
pub async fn count_rows(store: &SqlStore) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {}", store.table_name());
    match store.database() {
        #[cfg(feature = "sqlite")]
        Database::Sqlite => sqlx::query_scalar(&sql)
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap(),
        #[cfg(feature = "postgres")]
        Database::Postgres => sqlx::query_scalar(&sql)
            .fetch_one(store.postgres_pool().unwrap())
            .await
            .unwrap(),
        #[cfg(feature = "mysql")]
        Database::MySql => sqlx::query_scalar(&sql)
            .fetch_one(store.mysql_pool().unwrap())
            .await
            .unwrap(),
        other => panic!("database {other:?} not compiled in"),
    }
}

fn millis(time: OffsetDateTime) -> i64 {
    (time.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Inserts a row by hand, with `data` as raw SQL text (already quoted).
pub async fn insert_raw(store: &SqlStore, id: &Id, data_sql: &str) {
    let now = OffsetDateTime::now_utc();
    let sql = format!(
        "INSERT INTO {} (id, data, created_at, expires_at) VALUES ('{}', {data_sql}, {}, {})",
        store.table_name(),
        id.encode(),
        millis(now),
        millis(now + Duration::hours(1)),
    );
    execute(store, &sql).await;
}

/// A row whose `data` is not a JSON object loads as `Corrupt`, naming the
/// table and the id's short hash, never the id.
pub async fn corrupt_row_is_reported(store: SqlStore, data_sql: &str) {
    let id = Id::random();
    insert_raw(&store, &id, data_sql).await;
    let err = store
        .load(&id)
        .await
        .expect_err("a corrupt row must not load");
    let StoreError::Corrupt(message) = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert!(message.contains(store.table_name()), "{message}");
    assert!(message.contains(&id.short_hash()), "{message}");
    assert!(!message.contains(&id.encode()), "the id leaked: {message}");
    store.delete(&id).await.unwrap();
}

/// A time before 1970 and the last one the calendar holds are stored as
/// Unix milliseconds and read back; a stored time no date can hold loads
/// as `Corrupt`.
pub async fn extreme_times_round_trip(store: SqlStore) {
    let created = OffsetDateTime::UNIX_EPOCH - Duration::milliseconds(1);
    let expires = PrimitiveDateTime::MAX.assume_utc();
    let record = Record::new(Id::random(), created, expires);
    assert_eq!(store.create(&record).await.unwrap(), Created::Inserted);
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(loaded.created_at, created);
    assert_eq!(
        loaded.expires_at,
        from_unix_millis(unix_millis(expires)).unwrap()
    );
    store.delete(&record.id).await.unwrap();

    let id = Id::random();
    let sql = format!(
        "INSERT INTO {} (id, data, created_at, expires_at) VALUES ('{}', '{{}}', 0, {})",
        store.table_name(),
        id.encode(),
        i64::MAX,
    );
    execute(&store, &sql).await;
    let err = store
        .load(&id)
        .await
        .expect_err("expires_at is out of range");
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("expires_at"), "{err}");
    store.delete(&id).await.unwrap();
}

/// `delete_expired` removes every expired row, in batches, counts them, and
/// keeps the live ones. The store should have its own table.
pub async fn delete_expired_removes_every_expired_row(store: SqlStore) {
    let clock = ManualClock::starting_now();
    let store = store.with_clock(clock.clone()).with_cleanup_batch(7);
    store.migrate().await.unwrap();
    let now = clock.now();
    for i in 0..25 {
        let record = Record::new(Id::random(), now, now + Duration::seconds(10 + i));
        assert_eq!(store.create(&record).await.unwrap(), Created::Inserted);
    }
    let mut live = Vec::new();
    for _ in 0..3 {
        let record = Record::new(Id::random(), now, now + Duration::hours(1));
        store.create(&record).await.unwrap();
        live.push(record.id);
    }
    assert_eq!(
        store.delete_expired().await.unwrap(),
        0,
        "nothing has expired yet"
    );
    clock.advance(Duration::minutes(1));
    assert_eq!(store.delete_expired().await.unwrap(), 25);
    assert_eq!(count_rows(&store).await, 3, "expired rows left behind");
    for id in &live {
        assert!(store.load(id).await.unwrap().is_some());
    }
    assert_eq!(store.delete_expired().await.unwrap(), 0);
    // Exactly one batch's worth: the loop must stop on an empty batch.
    for _ in 0..7 {
        let record = Record::new(
            Id::random(),
            clock.now(),
            clock.now() + Duration::seconds(1),
        );
        store.create(&record).await.unwrap();
    }
    clock.advance(Duration::seconds(2));
    assert_eq!(store.delete_expired().await.unwrap(), 7);
    assert_eq!(count_rows(&store).await, 3);
    drop_table(&store).await;
}

/// The cleanup task deletes expired rows on its own.
pub async fn cleanup_task_deletes_expired_rows(store: SqlStore) {
    let clock = ManualClock::starting_now();
    let store = store.with_clock(clock.clone());
    store.migrate().await.unwrap();
    let now = clock.now();
    store
        .create(&Record::new(Id::random(), now, now + Duration::seconds(1)))
        .await
        .unwrap();
    clock.advance(Duration::seconds(5));
    let task = store.spawn_cleanup(std::time::Duration::from_millis(50));
    for _ in 0..100 {
        if count_rows(&store).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(count_rows(&store).await, 0, "the cleanup task did not run");
    drop_table(&store).await;
}

/// `migrate` twice is fine, and a fresh table works at once.
pub async fn migrate_is_idempotent(store: SqlStore) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("k".into(), json!("v"));
    assert_eq!(store.create(&record).await.unwrap(), Created::Inserted);
    store.migrate().await.unwrap();
    assert_eq!(
        store.load(&record.id).await.unwrap().unwrap().data,
        record.data
    );
    drop_table(&store).await;
}

/// Without `migrate`, operations fail as `Failed` errors (not a panic, not
/// `Unavailable`).
pub async fn missing_table_is_failed(store: SqlStore) {
    let err = store
        .load(&Id::random())
        .await
        .expect_err("there is no table");
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
}

/// A closed pool is `Unavailable`.
pub async fn closed_pool_is_unavailable(store: SqlStore) {
    store.migrate().await.unwrap();
    match store.database() {
        #[cfg(feature = "sqlite")]
        Database::Sqlite => store.sqlite_pool().unwrap().close().await,
        #[cfg(feature = "postgres")]
        Database::Postgres => store.postgres_pool().unwrap().close().await,
        #[cfg(feature = "mysql")]
        Database::MySql => store.mysql_pool().unwrap().close().await,
        other => panic!("database {other:?} not compiled in"),
    }
    let err = store
        .load(&Id::random())
        .await
        .expect_err("the pool is closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let changes = ChangeSet::new(OffsetDateTime::now_utc());
    let err = store
        .save(&Id::random(), &changes)
        .await
        .expect_err("the pool is closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// Setting a key to the value it already has, with the same expiry, is
/// still `Applied` (MySQL counts matched rows, not changed ones).
pub async fn unchanged_save_is_applied(store: SqlStore) {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("k".into(), json!(1));
    store.create(&record).await.unwrap();
    let mut changes = ChangeSet::new(record.expires_at);
    changes.set.insert("k".into(), json!(1));
    assert_eq!(
        store.save(&record.id, &changes).await.unwrap(),
        Saved::Applied
    );
    assert_eq!(
        store.save(&record.id, &changes).await.unwrap(),
        Saved::Applied
    );
    assert_eq!(
        store.touch(&record.id, record.expires_at).await.unwrap(),
        Saved::Applied
    );
    store.delete(&record.id).await.unwrap();
}

/// Ids differ only by case in base64: they are different sessions.
pub async fn ids_are_case_sensitive(store: SqlStore) {
    let lower = Id::from_bytes(*b"abcdefghijklmnop");
    let text = lower.encode();
    let upper_text: String = text.chars().map(|c| c.to_ascii_uppercase()).collect();
    let Ok(upper) = upper_text.parse::<Id>() else {
        panic!("upper-cased id text {upper_text} did not parse");
    };
    assert_ne!(lower, upper);
    store.delete(&lower).await.unwrap();
    store.delete(&upper).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut a = Record::new(lower, now, now + Duration::hours(1));
    a.data.insert("who".into(), json!("lower"));
    let mut b = Record::new(upper, now, now + Duration::hours(1));
    b.data.insert("who".into(), json!("upper"));
    assert_eq!(store.create(&a).await.unwrap(), Created::Inserted);
    assert_eq!(
        store.create(&b).await.unwrap(),
        Created::Inserted,
        "ids compared case-insensitively"
    );
    assert_eq!(
        store.load(&lower).await.unwrap().unwrap().data["who"],
        "lower"
    );
    assert_eq!(
        store.load(&upper).await.unwrap().unwrap().data["who"],
        "upper"
    );
    store.delete(&lower).await.unwrap();
    store.delete(&upper).await.unwrap();
}

/// Makes the store's table with `old_schema` (a `CREATE TABLE` of an
/// earlier version, `{table}` for the name), inserts `rows` (ids and raw
/// `data` SQL), checks that they do not load before the migration (a
/// column is missing), then runs `migrate()` from several instances at
/// once.
async fn migrate_old_table(store: &SqlStore, old_schema: &str, rows: &[(Id, &str)]) {
    drop_table(store).await;
    execute(store, &old_schema.replace("{table}", store.table_name())).await;
    for (id, data_sql) in rows {
        insert_raw(store, id, data_sql).await;
    }
    let err = store
        .load(&rows[0].0)
        .await
        .expect_err("the old table lacks a column");
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.spawn(async move { store.migrate().await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("a concurrent migrate failed");
    }
}

/// A table made by the previous version (`old_schema`: its `CREATE TABLE`
/// with `{table}` for the name, without `expiry_policy`) gains the column
/// with `migrate()`, run by several instances at once: the rows it holds
/// load as before, and the policy is kept from then on. The store should
/// have its own table.
pub async fn migrate_adds_the_policy_column(store: SqlStore, old_schema: &str) {
    let id = Id::random();
    migrate_old_table(&store, old_schema, &[(id, "'{\"user\": \"alice\"}'")]).await;
    let loaded = store.load(&id).await.unwrap().expect("the old row loads");
    assert_eq!(loaded.data["user"], "alice");
    assert_eq!(loaded.expiry, None);

    let remember_me = Expiry::OnInactivity(std::time::Duration::from_secs(30 * 86_400));
    let mut changes = ChangeSet::new(loaded.expires_at);
    changes.expiry = Some(Some(remember_me));
    assert_eq!(store.save(&id, &changes).await.unwrap(), Saved::Applied);
    let mut kept = ChangeSet::new(loaded.expires_at);
    kept.set.insert("cart".into(), json!([1]));
    assert_eq!(store.save(&id, &kept).await.unwrap(), Saved::Applied);
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.expiry, Some(remember_me));
    assert_eq!(loaded.data["user"], "alice");

    let mut moved = Record::new(Id::random(), loaded.created_at, loaded.expires_at);
    moved.data = loaded.data.clone();
    moved.expiry = loaded.expiry;
    assert_eq!(store.cycle(&id, &moved).await.unwrap(), Cycled::Moved);
    store.migrate().await.unwrap();
    assert_eq!(
        store.load(&moved.id).await.unwrap().unwrap().expiry,
        Some(remember_me)
    );
    assert!(store.load(&id).await.unwrap().is_none());
    drop_table(&store).await;
}

/// A policy the store cannot read loads as `Corrupt`, naming the column
/// and the id's short hash, never the id.
pub async fn corrupt_policy_is_reported(store: SqlStore) {
    corrupt_column_is_reported(store, "expiry_policy", "'idle:forever'").await;
}

/// A row whose `column` holds `value_sql` (raw SQL), a value the store
/// cannot read, loads as `Corrupt`, naming the column and the id's short
/// hash, never the id.
pub async fn corrupt_column_is_reported(store: SqlStore, column: &str, value_sql: &str) {
    let now = OffsetDateTime::now_utc();
    let record = Record::new(Id::random(), now, now + Duration::hours(1));
    store.create(&record).await.unwrap();
    execute(
        &store,
        &format!(
            "UPDATE {} SET {column} = {value_sql} WHERE id = '{}'",
            store.table_name(),
            record.id.encode()
        ),
    )
    .await;
    let err = store.load(&record.id).await.expect_err("a corrupt column");
    let StoreError::Corrupt(message) = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert!(message.contains(column), "{message}");
    assert!(message.contains(&record.id.short_hash()), "{message}");
    assert!(
        !message.contains(&record.id.encode()),
        "the id leaked: {message}"
    );
    store.delete(&record.id).await.unwrap();
}

/// `cycle` onto the id of an expired row moves the session there (the
/// expired row does not block it), and the move writes every column.
pub async fn cycle_over_an_expired_row_moves(store: SqlStore) {
    let clock = ManualClock::starting_now();
    let store = store.with_clock(clock.clone());
    let now = clock.now();
    let mut dead = Record::new(Id::random(), now, now + Duration::seconds(1));
    dead.data.insert("who".into(), json!("dead"));
    dead.expiry = Some(Expiry::OnSessionEnd);
    store.create(&dead).await.unwrap();
    clock.advance(Duration::seconds(2));
    let now = clock.now();
    let mut old = Record::new(Id::random(), now, now + Duration::hours(1));
    old.data.insert("who".into(), json!("alice"));
    store.create(&old).await.unwrap();
    let mut moved = Record::new(dead.id, old.created_at, now + Duration::hours(2));
    moved.data.insert("who".into(), json!("alice"));
    assert_eq!(store.cycle(&old.id, &moved).await.unwrap(), Cycled::Moved);
    let back = store.load(&dead.id).await.unwrap().expect("moved");
    assert_eq!(back.data, moved.data);
    assert_eq!(back.expiry, None, "the expired row's policy must not stay");
    assert_eq!(unix_millis(back.expires_at), unix_millis(moved.expires_at));
    assert!(store.load(&old.id).await.unwrap().is_none());
    store.delete(&dead.id).await.unwrap();
}

/// A table made by an earlier version (`old_schema`: its `CREATE TABLE`
/// with `{table}` for the name, without `user_id`) gains the column and its
/// index with `migrate()`, run by several instances at once: the rows it
/// holds load as before, unbound, and can be bound, listed, cycled and
/// ended from then on. The store should have its own table.
pub async fn migrate_adds_the_user_column(store: SqlStore, old_schema: &str) {
    let (id, other) = (Id::random(), Id::random());
    migrate_old_table(
        &store,
        old_schema,
        &[(id, "'{\"cart\": [1]}'"), (other, "'{}'")],
    )
    .await;
    let loaded = store.load(&id).await.unwrap().expect("the old row loads");
    assert_eq!(loaded.data["cart"], json!([1]));
    assert_eq!(loaded.user, None, "an old row is bound to nobody");
    let user = format!("alice-{}", Id::random().short_hash());
    assert!(store.list_user(&user).await.unwrap().is_empty());

    let mut bind = ChangeSet::new(loaded.expires_at);
    bind.user = Some(Some(user.clone()));
    assert_eq!(store.save(&id, &bind).await.unwrap(), Saved::Applied);
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().user.as_deref(),
        Some(user.as_str())
    );
    assert_eq!(listed(&store, &user).await, [id]);

    let mut moved = Record::new(Id::random(), loaded.created_at, loaded.expires_at);
    moved.data = loaded.data.clone();
    moved.user = Some(user.clone());
    assert_eq!(store.cycle(&id, &moved).await.unwrap(), Cycled::Moved);
    assert_eq!(listed(&store, &user).await, [moved.id]);
    store.migrate().await.unwrap();
    let mut second = Record::new(Id::random(), loaded.created_at, loaded.expires_at);
    second.user = Some(user.clone());
    assert_eq!(store.create(&second).await.unwrap(), Created::Inserted);
    assert_eq!(store.delete_user(&user, Some(&moved.id)).await.unwrap(), 1);
    assert_eq!(listed(&store, &user).await, [moved.id]);
    assert!(
        store.load(&other).await.unwrap().is_some(),
        "an unbound row was ended"
    );
    list_user_uses_the_index(&store).await;
    drop_table(&store).await;
}

async fn listed(store: &SqlStore, user: &str) -> Vec<Id> {
    let sessions = store.list_user(user).await.unwrap();
    sessions.into_iter().map(|session| session.id).collect()
}

/// User names are compared byte for byte: no case folding, and trailing
/// spaces count (MariaDB's `_bin` collations would ignore them).
pub async fn user_names_compare_byte_for_byte(store: SqlStore) {
    let base = format!("Bob-{}", Id::random().short_hash());
    let names = [base.clone(), format!("{base} "), base.to_lowercase()];
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for name in &names {
        let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
        record.user = Some(name.clone());
        store.create(&record).await.unwrap();
        ids.push(record.id);
    }
    for (name, id) in names.iter().zip(&ids) {
        assert_eq!(
            listed(&store, name).await,
            [*id],
            "{name:?} shares sessions"
        );
        assert_eq!(
            store.load(id).await.unwrap().unwrap().user.as_deref(),
            Some(name.as_str())
        );
        assert_eq!(store.delete_user(name, None).await.unwrap(), 1);
    }
}

/// A row bound to a user whose `id` is not a session id (edited by hand)
/// makes `list_user` answer `Corrupt`, without repeating the id.
pub async fn listed_row_with_a_bad_id_is_corrupt(store: SqlStore) {
    let user = format!("bad-{}", Id::random().short_hash());
    let bad_id = format!("not-an-id-{}", Id::random().short_hash());
    let now = OffsetDateTime::now_utc();
    execute(
        &store,
        &format!(
            "INSERT INTO {} (id, data, created_at, expires_at, user_id) \
             VALUES ('{bad_id}', '{{}}', {}, {}, '{user}')",
            store.table_name(),
            millis(now),
            millis(now + Duration::hours(1)),
        ),
    )
    .await;
    let err = store.list_user(&user).await.expect_err("a corrupt row");
    let StoreError::Corrupt(message) = &err else {
        panic!("expected Corrupt, got {err:?}");
    };
    assert!(message.contains(store.table_name()), "{message}");
    assert!(!message.contains(&bad_id), "the id leaked: {message}");
    // `delete_user` needs no id: it still ends the row.
    assert_eq!(store.delete_user(&user, None).await.unwrap(), 1);
    assert!(store.list_user(&user).await.unwrap().is_empty());
}

/// The query plan of `list_user`'s `SELECT` (the same text, with literals
/// for the user and now) uses the index on `user_id`. The table is filled
/// with enough rows of other users and unbound ones that a scan would not
/// be chosen for want of rows; PostgreSQL is told not to scan.
pub async fn list_user_uses_the_index(store: &SqlStore) {
    let now = OffsetDateTime::now_utc();
    for i in 0..60 {
        let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
        if i % 3 != 0 {
            record.user = Some(format!("plan-{}", i % 20));
        }
        store.create(&record).await.unwrap();
    }
    let (_, bare) = store
        .table_name()
        .split_once('.')
        .unwrap_or(("", store.table_name()));
    let index = format!("{bare}_user_id_idx");
    let select = format!(
        "SELECT id, created_at, expires_at FROM {} \
         WHERE user_id = 'plan-7' AND expires_at > {} ORDER BY created_at, id",
        store.table_name(),
        millis(now),
    );
    let plan: Vec<String> = match store.database() {
        #[cfg(feature = "sqlite")]
        Database::Sqlite => sqlx::query(&format!("EXPLAIN QUERY PLAN {select}"))
            .fetch_all(store.sqlite_pool().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 3))
            .collect(),
        #[cfg(feature = "postgres")]
        Database::Postgres => {
            let mut tx = store.postgres_pool().unwrap().begin().await.unwrap();
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query_scalar(&format!("EXPLAIN {select}"))
                .fetch_all(&mut *tx)
                .await
                .unwrap()
        }
        #[cfg(feature = "mysql")]
        Database::MySql => sqlx::query(&format!("EXPLAIN {select}"))
            .fetch_all(store.mysql_pool().unwrap())
            .await
            .unwrap()
            .iter()
            .map(|row| {
                let key: Option<Vec<u8>> = sqlx::Row::get(row, "key");
                String::from_utf8_lossy(&key.unwrap_or_default()).into_owned()
            })
            .collect(),
        other => panic!("database {other:?} not compiled in"),
    };
    assert!(
        plan.iter().any(|line| line.contains(&index)),
        "list_user does not use {index}: {plan:#?}"
    );
}

pub async fn drop_table(store: &SqlStore) {
    execute(
        store,
        &format!("DROP TABLE IF EXISTS {}", store.table_name()),
    )
    .await;
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const KEYS: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "zz",
    "k1",
    "k10",
    "k2",
    "a.b",
    "$",
    "$.x",
    "[0]",
    "quote\"d",
    "back\\slash",
    "",
    "ключ",
    "*",
    "with space",
    "'single'",
    "tab\there",
    "{}",
    "null",
];

fn value(rng: &mut Rng) -> serde_json::Value {
    match rng.below(9) {
        0 => json!(null),
        1 => json!(rng.below(1000)),
        2 => json!(0.30000000000000004),
        3 => json!("text \"quoted\" \\ ünïcode 🦀"),
        4 => json!([1, null, "x", {"n": null}]),
        5 => json!({"nested": {"deep": [true, false]}, "k": null}),
        6 => json!(true),
        7 => json!(u64::MAX),
        _ => json!(""),
    }
}

/// Random change sets (awkward keys, nulls, keys both removed and set,
/// removals of absent keys) give exactly what `ChangeSet::apply_to` gives.
pub async fn random_change_sets_match_the_model(store: SqlStore) {
    let mut rng = Rng(0x5e55_10e5_dead_beef);
    for round in 0..60 {
        let now = OffsetDateTime::now_utc();
        let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
        for _ in 0..rng.below(8) {
            record
                .data
                .insert(KEYS[rng.below(KEYS.len())].into(), value(&mut rng));
        }
        store.create(&record).await.unwrap();
        let mut model = record.data.clone();
        for _ in 0..3 {
            let mut changes = ChangeSet::new(now + Duration::hours(2));
            for _ in 0..rng.below(5) {
                changes.removed.push(KEYS[rng.below(KEYS.len())].into());
            }
            for _ in 0..rng.below(5) {
                changes
                    .set
                    .insert(KEYS[rng.below(KEYS.len())].into(), value(&mut rng));
            }
            changes.apply_to(&mut model);
            assert_eq!(
                store.save(&record.id, &changes).await.unwrap(),
                Saved::Applied
            );
            let loaded = store.load(&record.id).await.unwrap().unwrap();
            assert_eq!(
                loaded.data, model,
                "round {round}: after {changes:?} the store disagrees with the model"
            );
        }
        store.delete(&record.id).await.unwrap();
    }
}

/// The two orders a cycle can move a row in the user index: to a new id
/// that sorts before the old one (behind a scan that has reached the old
/// row) and after it. Each is `(old, new)`.
pub fn cycle_orders() -> [(Id, Id); 2] {
    let (a, b) = (Id::random(), Id::random());
    let (low, high) = if a.encode() < b.encode() {
        (a, b)
    } else {
        (b, a)
    };
    [(high, low), (low, high)]
}

/// A live session of `user` with the id `id`.
pub fn bound_record(user: &str, id: Id) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(id, now, now + Duration::hours(1));
    record.data.insert("who".into(), json!(user));
    record.user = Some(user.to_owned());
    record
}

/// Polls `waiting` every 150 ms until it says a statement of ours waits
/// for a row lock; panics after 15 s. (InnoDB refreshes what
/// `information_schema.INNODB_TRX` shows only when it has not been read
/// for 100 ms.)
pub async fn until_waiting<F, Fut>(what: &str, mut waiting: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        if waiting().await {
            return;
        }
    }
    panic!("{what} never waited for the row the open cycle holds");
}

/// A cycle of each of the [`cycle_orders`] held open in a transaction
/// (`begin_cycle(old, new)` moves the row, uncommitted, and gives back the
/// commit) while `delete_user` or `end_user_session` runs; `waiting` says
/// when that statement waits for the row. Once the cycle commits,
/// `delete_user` has ended the session under its new id and
/// `end_user_session` of the old id has said it ended nothing.
pub async fn ending_a_user_while_a_cycle_is_held<B, BFut, C, W, WFut>(
    store: &SqlStore,
    begin_cycle: B,
    mut waiting: W,
) where
    B: Fn(Id, Id) -> BFut,
    BFut: std::future::Future<Output = C>,
    C: std::future::Future<Output = ()>,
    W: FnMut() -> WFut,
    WFut: std::future::Future<Output = bool>,
{
    for (old, new) in cycle_orders() {
        for ending_all in [true, false] {
            let user = unique_table("held");
            store.create(&bound_record(&user, old)).await.unwrap();
            let other = bound_record(&user, Id::random());
            store.create(&other).await.unwrap();
            let commit = begin_cycle(old, new).await;
            let ending = {
                let (store, user) = (store.clone(), user.clone());
                tokio::spawn(async move {
                    if ending_all {
                        store.delete_user(&user, None).await.unwrap()
                    } else {
                        u64::from(store.end_user_session(&user, &old).await.unwrap())
                    }
                })
            };
            until_waiting("the DELETE", &mut waiting).await;
            commit.await;
            let ended = ending.await.unwrap();
            assert!(store.load(&old).await.unwrap().is_none());
            if ending_all {
                assert_eq!(ended, 2, "delete_user missed the moved session");
                assert!(store.load(&new).await.unwrap().is_none());
                assert!(store.list_user(&user).await.unwrap().is_empty());
            } else {
                assert_eq!(
                    ended, 0,
                    "end_user_session claims to have ended a moved session"
                );
                assert!(store.load(&new).await.unwrap().is_some());
                assert_eq!(store.delete_user(&user, None).await.unwrap(), 2);
            }
        }
    }
}
