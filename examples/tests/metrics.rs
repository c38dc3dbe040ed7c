//! `serve` with `SESSION_METRICS=1`: `GET /metrics` answers the session
//! metrics in Prometheus' text format, in axum and in hyper; without the
//! variable there is no such page.

mod common;

use common::{browser, run_to_exit, serve, FRAMEWORKS, SERVE};

/// The value of the sample line `name` (with its labels) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_the_requests_of_a_counter() {
    for framework in FRAMEWORKS {
        let app = serve("counter", framework, &[("SESSION_METRICS", "1")]);
        let client = browser();
        for _ in 0..3 {
            let response = client.get(app.url("/")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{framework}");
        }
        let response = client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{framework}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = response.text().await.unwrap();
        let counts = [
            ("session_created_total", 1.0),
            ("session_loaded_total", 2.0),
            ("session_saved_total", 2.0),
            ("session_memory_sessions", 1.0),
            (
                r#"session_store_duration_seconds_count{operation="load",store="memory"}"#,
                2.0,
            ),
        ];
        for (name, expected) in counts {
            assert_eq!(
                sample(&text, name),
                Some(expected),
                "{framework}: {name} in\n{text}"
            );
        }
        assert!(
            text.contains("# HELP session_created_total"),
            "{framework}: described\n{text}"
        );
        app.stop();
    }
}

#[tokio::test]
async fn without_the_variable_there_is_no_metrics_page() {
    for framework in FRAMEWORKS {
        let app = serve("counter", framework, &[]);
        let response = browser().get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{framework}");
        app.stop();
    }
}

#[test]
fn a_metrics_switch_not_understood_stops_serve() {
    let output = run_to_exit(SERVE, &[("SESSION_METRICS", "yes")]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SESSION_METRICS must be 0 or 1"),
        "{stderr}"
    );
}
