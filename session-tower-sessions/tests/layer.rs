//! tower-sessions' own `SessionManagerLayer` on a `TowerStore`, for each
//! tower-sessions version: the adapter as the layer drives it (create on a
//! new session, save, `cycle_id`, `flush`). The flow is
//! `tests/common/layer_flow.rs`.

#[cfg(feature = "tower-sessions-core-0-14")]
mod v0_14 {
    use tower_sessions as ts;
    include!("common/layer_flow.rs");

    #[tokio::test]
    async fn tower_sessions_layer_counts_cycles_and_logs_out() {
        counts_cycles_and_logs_out().await;
    }
}

#[cfg(feature = "tower-sessions-core-0-15")]
mod v0_15 {
    use tower_sessions_0_15 as ts;
    include!("common/layer_flow.rs");

    #[tokio::test]
    async fn tower_sessions_layer_counts_cycles_and_logs_out() {
        counts_cycles_and_logs_out().await;
    }
}
