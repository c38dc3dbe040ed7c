//! The session-core conformance suite against the memory store.

use session_store_memory::MemoryStore;

session_core::conformance_tests!(memory, async { MemoryStore::new() });
session_core::conformance_tests!(memory_bounded, async {
    MemoryStore::new().with_capacity_limit(1_000_000)
});
