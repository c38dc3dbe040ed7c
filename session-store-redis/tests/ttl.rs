//! No key this store writes is left without an expiry (`volatile-*`
//! eviction only ever removes keys that have one), even when a logout
//! lands in the middle of a write and the clean-up that follows is lost
//! with its connection. (The user indexes are the one exception, by
//! design: see the crate docs, "User index".)

mod common;

use serde_json::json;
use session_core::store::{ChangeSet, Record, Saved, SessionStore};
use session_core::time::{Duration, OffsetDateTime};
use session_core::Id;
use session_store_redis::{redis, RedisStore};

use common::proxy::{Cut, Proxy};

fn record() -> Record {
    let now = OffsetDateTime::now_utc();
    let mut record = Record::new(Id::random(), now, now + Duration::hours(1));
    record.data.insert("n".into(), json!(1));
    record
}

async fn pttl(conn: &mut impl redis::aio::ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

/// A save whose expiry the layer kept (`expiry_kept`: no new expiry is
/// written) of a session a logout just deleted writes into a fresh key,
/// which becomes a stub; the store then deletes it. Here that clean-up
/// is lost (the proxy breaks every connection that sends it): the stub
/// stays, and must carry an expiry. The same for a touch, and for a save
/// that writes a new expiry.
#[tokio::test]
async fn a_stub_whose_clean_up_is_lost_expires() {
    let proxy = Proxy::start().await;
    let store = RedisStore::connect(&proxy.url())
        .await
        .unwrap()
        .with_prefix(common::PREFIX);
    let mut conn = common::raw_standalone().await;
    for what in ["kept", "new expiry", "touch"] {
        let record = record();
        store.create(&record).await.unwrap();
        store.delete(&record.id).await.unwrap();
        let key = store.key(&record.id);
        // The clean-up is the only script call naming the key from here
        // on; it is cut before it reaches Redis, first try and resend.
        let cuts = proxy.cuts();
        proxy.cut("EVALSHA", Cut::Request, 2);
        let expires = record.expires_at + Duration::minutes(5);
        let outcome = if what == "touch" {
            store.touch(&record.id, expires).await.unwrap()
        } else {
            let mut changes = ChangeSet::new(expires);
            changes.expiry_kept = what == "kept";
            changes.set.insert("n".into(), json!(2));
            store.save(&record.id, &changes).await.unwrap()
        };
        assert_eq!(outcome, Saved::Gone, "{what}");
        assert_eq!(proxy.cuts(), cuts + 2, "{what}: the clean-up was not cut");
        assert!(
            common::exists(&mut conn, &key).await,
            "{what}: no stub left"
        );
        let ttl = pttl(&mut conn, &key).await;
        assert!(ttl > 0, "{what}: the stub has no expiry (PTTL {ttl})");
        assert!(store.load(&record.id).await.unwrap().is_none(), "{what}");
    }
}
