//! The session-core conformance suite against a real Redis and a real
//! Redis Cluster (see `tests/common` for where they are found).

mod common;

session_core::conformance_tests!(
    standalone,
    async { common::standalone().await },
    core,
    cycle,
    users,
    leases,
    cleanup
);
session_core::conformance_tests!(
    cluster,
    async { common::cluster().await },
    core,
    cycle,
    users,
    leases,
    cleanup
);
session_core::conformance_tests!(
    standalone_cached,
    async {
        common::standalone()
            .await
            .with_local_cache(10_000)
            .await
            .expect("the local cache")
    },
    core,
    cycle,
    users,
    leases,
    cleanup
);
session_core::conformance_tests!(
    standalone_cached_fenced,
    async {
        common::standalone()
            .await
            .with_local_cache_mode(10_000, session_store_redis::CacheMode::Fenced)
            .await
            .expect("the local cache")
    },
    core,
    cycle,
    users,
    leases,
    cleanup
);
