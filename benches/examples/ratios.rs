//! The in-process request overhead ratios of `benches/request.rs`, measured
//! in alternating short bursts so that a busy machine slows every case
//! alike (criterion measures one case after the other, so a build starting
//! midway skews its ratios):
//!
//! ```sh
//! cargo run --release -p benches --example ratios [rounds] [requests per burst]
//! ```
//!
//! Each round times a burst of every case in turn (`no_session`,
//! `ours_memory`, `ours_cookie_store`, `tower_sessions_memory`,
//! `layer_floor`, the names of `benches/request.rs`) and computes the
//! overhead ratio of ours over tower-sessions' (time above `no_session`,
//! divided), and the same ratio above `layer_floor` (the session work
//! alone, without the plumbing every layer pays); the median and the spread
//! over the rounds are printed last.

use std::time::{Duration, Instant};

use axum::Router;

const CASES: [&str; 5] = [
    "no_session",
    "ours_memory",
    "ours_cookie_store",
    "tower_sessions_memory",
    "layer_floor",
];

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(15);
    let burst: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let apps: Vec<(Router, Option<String>)> = CASES
        .iter()
        .map(|case| {
            let app = benches::request_case(case).expect("a case of benches/request.rs");
            let cookie = rt.block_on(benches::request(&app, None));
            (app, cookie)
        })
        .collect();
    let run = |(app, cookie): &(Router, Option<String>), n: usize| -> Duration {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(benches::request(app, cookie.as_deref()).await);
            }
            start.elapsed()
        })
    };
    for app in &apps {
        run(app, burst / 4); // warm-up
    }
    let mut memory_ratios = Vec::new();
    let mut cookie_ratios = Vec::new();
    let mut memory_work = Vec::new();
    let mut cookie_work = Vec::new();
    let mut per_case: Vec<Vec<f64>> = vec![Vec::new(); CASES.len()];
    println!("round  no_session  ours_memory  ours_cookie  tower  layer_floor | memory/tower  cookie/tower (overhead) | memory/tower  cookie/tower (above layer_floor)");
    for round in 1..=rounds {
        let us: Vec<f64> = apps
            .iter()
            .map(|app| run(app, burst).as_secs_f64() * 1e6 / burst as f64)
            .collect();
        let tower = us[3] - us[0];
        let memory = (us[1] - us[0]) / tower;
        let cookie = (us[2] - us[0]) / tower;
        let tower_work = us[3] - us[4];
        let memory_alone = (us[1] - us[4]) / tower_work;
        let cookie_alone = (us[2] - us[4]) / tower_work;
        println!(
            "{round:5}  {:7.3} µs  {:8.3} µs  {:8.3} µs  {:.3} µs  {:.3} µs | {memory:12.2}  {cookie:12.2} | {memory_alone:12.2}  {cookie_alone:12.2}",
            us[0], us[1], us[2], us[3], us[4]
        );
        memory_ratios.push(memory);
        cookie_ratios.push(cookie);
        memory_work.push(memory_alone);
        cookie_work.push(cookie_alone);
        for (all, one) in per_case.iter_mut().zip(&us) {
            all.push(*one);
        }
    }
    for (case, values) in CASES.iter().zip(&mut per_case) {
        println!("median {case}: {:.3} µs", median(values));
    }
    for (what, values) in [
        ("overhead ours_memory", &mut memory_ratios),
        ("overhead ours_cookie_store", &mut cookie_ratios),
        ("above layer_floor, ours_memory", &mut memory_work),
        ("above layer_floor, ours_cookie_store", &mut cookie_work),
    ] {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{what} / tower_sessions_memory: median {:.2} (min {min:.2}, max {max:.2})",
            median(values)
        );
    }
}
