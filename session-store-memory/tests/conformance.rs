//! The session-core conformance suite against the memory store.

use session_store_memory::MemoryStore;

// The memory store moves ids atomically, keeps a user index and sweeps
// expired entries; it lives in one process, so it has no leases.
session_core::conformance_tests!(
    memory,
    async { MemoryStore::new() },
    core,
    cycle,
    users,
    cleanup
);
session_core::conformance_tests!(
    memory_bounded,
    async { MemoryStore::new().with_capacity_limit(1_000_000) },
    core,
    cycle,
    users,
    cleanup
);
