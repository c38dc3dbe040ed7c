//! The session-core conformance suite against a real Redis and a real
//! Redis Cluster (see `tests/common` for where they are found).

mod common;

session_core::conformance_tests!(standalone, async { common::standalone().await });
session_core::conformance_tests!(cluster, async { common::cluster().await });
