//! Counts what one request costs, for profiling under callgrind (which
//! counts instructions, so results repeat on a busy machine):
//!
//! ```sh
//! cargo build --release -p benches --example instructions
//! for n in 0 2000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!     target/release/examples/instructions ours_memory $n
//! done
//! ```
//!
//! The instructions of one request are the difference of the two totals
//! divided by 2000. Variants: `no_session`, `ours_memory`, `ours_memory_any`,
//! `ours_memory_data_keys`, `ours_cookie_store`, `tower_sessions_memory`, `layer_floor` (the names of
//! `benches/request.rs`).

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "ours_memory".to_owned());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let app =
        benches::request_case(&variant).unwrap_or_else(|| panic!("unknown variant {variant}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // The first request creates the session; the measured ones reuse it.
        let cookie = benches::request(&app, None).await;
        for _ in 0..n {
            std::hint::black_box(benches::request(&app, cookie.as_deref()).await);
        }
    });
}
