//! The tower-sessions store behaviours (`tests/common/behaviours.rs`) on
//! every store, for each tower-sessions-core version enabled.

mod common;

use session_tower_sessions::TowerStore;

mod behaviours {
    #[cfg(feature = "tower-sessions-core-0-14")]
    pub mod v0_14 {
        use session_tower_sessions::tower_sessions_core_0_14 as tower;
        include!("common/behaviours.rs");
    }

    #[cfg(feature = "tower-sessions-core-0-15")]
    pub mod v0_15 {
        use session_tower_sessions::tower_sessions_core_0_15 as tower;
        include!("common/behaviours.rs");
    }
}

/// One test per behaviour, per enabled version, on the store `make`
/// builds (from the test's own name, which keeps the test's data apart).
macro_rules! store_tests {
    ($store:ident, $make:path) => {
        mod $store {
            use super::*;
            store_tests!(@version $store, $make, v0_14, "tower-sessions-core-0-14");
            store_tests!(@version $store, $make, v0_15, "tower-sessions-core-0-15");
        }
    };
    (@version $store:ident, $make:path, $version:ident, $feature:literal) => {
        #[cfg(feature = $feature)]
        mod $version {
            use super::*;
            store_tests!(@tests $store, $make, $version;
                create_load_save_delete,
                save_replaces_data,
                save_of_missing_id_creates,
                expired_record_loads_as_none,
                create_on_a_taken_id_picks_a_fresh_one,
                delete_expired_keeps_live_sessions,
                foreign_record_is_an_error
            );
        }
    };
    (@tests $store:ident, $make:path, $version:ident; $($behaviour:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $behaviour() {
                let name = concat!(
                    "tower_", stringify!($store), "_", stringify!($version), "_",
                    stringify!($behaviour)
                );
                let (store, _held) = $make(name).await;
                crate::behaviours::$version::$behaviour(TowerStore::new(store)).await;
            }
        )*
    };
}

store_tests!(memory, common::memory);
store_tests!(encrypted_memory, common::encrypted_memory);
store_tests!(redis, common::redis);
store_tests!(redis_cluster, common::redis_cluster);
store_tests!(redis_cached, common::redis_cached);
store_tests!(sqlite, common::sqlite);
store_tests!(postgres, common::postgres);
store_tests!(mysql, common::mysql);

#[cfg(feature = "tower-sessions-core-0-14")]
mod v0_14 {
    #[tokio::test]
    async fn collision_reported_once_changes_the_id() {
        crate::behaviours::v0_14::collision_reported_once_changes_the_id().await;
    }

    #[tokio::test]
    async fn encrypted_store_rotates_keys() {
        crate::behaviours::v0_14::encrypted_store_rotates_keys().await;
    }
}

#[cfg(feature = "tower-sessions-core-0-15")]
mod v0_15 {
    #[tokio::test]
    async fn collision_reported_once_changes_the_id() {
        crate::behaviours::v0_15::collision_reported_once_changes_the_id().await;
    }

    #[tokio::test]
    async fn encrypted_store_rotates_keys() {
        crate::behaviours::v0_15::encrypted_store_rotates_keys().await;
    }
}
