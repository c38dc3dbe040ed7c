//! Flash messages over real HTTP: the `axum-flash` lesson (form post, 303,
//! the message shown once), and `serve`'s `flash` scenario on every store
//! kind — memory (also encrypted at rest), the three cookie codecs, SQLite,
//! PostgreSQL, MariaDB, Redis and a Redis Cluster — in axum and in hyper.
//! Needs `DATABASE_URL`, `MYSQL_URL`, `REDIS_URL` and `REDIS_CLUSTER_URLS`:
//! `scripts/test` starts throwaway servers and sets them.

mod common;

use common::{browser, cluster_spec, get_json, serve, App, FRAMEWORKS, SECRET};
use serde_json::json;

const AXUM_FLASH: &str = env!("CARGO_BIN_EXE_axum-flash");

use common::server_url as url;

#[tokio::test]
async fn the_lesson_shows_a_saved_message_once() {
    let app = App::start(AXUM_FLASH, &[]);
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(r#"<form method="post" action="/save">"#),
        "{page}"
    );
    assert!(!page.contains("Saved"), "{page}");

    let saved = client.post(app.url("/save")).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], "/");
    let page = client.get(app.url("/")).send().await.unwrap().text().await;
    assert!(page.unwrap().contains("Saved"), "the next page shows it");
    let page = client.get(app.url("/")).send().await.unwrap().text().await;
    assert!(!page.unwrap().contains("Saved"), "the one after does not");

    // Two saves before a page: both messages, in order.
    for _ in 0..2 {
        client.post(app.url("/save")).send().await.unwrap();
    }
    let page = client.get(app.url("/")).send().await.unwrap().text().await;
    assert_eq!(page.unwrap().matches("Saved").count(), 2);
}

/// `serve`'s flash scenario on `store` (with `envs`): saved twice, shown
/// once and in order, then gone; another browser never sees them.
async fn flashes_on(framework: &str, store: &str, envs: &[(&str, &str)]) {
    let mut all = vec![("SESSION_STORE", store), ("SESSION_SECRET", SECRET)];
    all.extend_from_slice(envs);
    let app = serve("flash", framework, &all);
    let (me, other) = (browser(), browser());
    let get = |client: &reqwest::Client, path: &str| {
        let url = app.url(path);
        let client = client.clone();
        async move { get_json(&client, &url).await }
    };
    let context = format!("{framework} on {store} {envs:?}");
    assert_eq!(get(&me, "/").await, json!({ "flashes": [] }), "{context}");
    assert_eq!(get(&me, "/save/").await, json!({ "message": "Saved" }));
    assert_eq!(get(&me, "/save/").await, json!({ "message": "Saved" }));
    assert_eq!(
        get(&other, "/").await,
        json!({ "flashes": [] }),
        "{context}"
    );
    let saved = json!({ "level": "success", "text": "Saved" });
    assert_eq!(
        get(&me, "/").await,
        json!({ "flashes": [saved, saved] }),
        "{context}"
    );
    assert_eq!(get(&me, "/").await, json!({ "flashes": [] }), "{context}");
}

#[tokio::test]
async fn flashes_in_memory_and_in_cookies() {
    for framework in FRAMEWORKS {
        for store in ["memory", "cookie", "cookie-encrypted"] {
            flashes_on(framework, store, &[]).await;
        }
        flashes_on(framework, "memory", &[("SESSION_DATA_KEY", SECRET)]).await;
    }
    // Starlette's format takes the secret as text.
    flashes_on(
        "axum",
        "starlette",
        &[("SESSION_SECRET", "a FastAPI app's secret text")],
    )
    .await;
}

#[tokio::test]
async fn flashes_in_sql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("sessions.db").display());
    for store in [sqlite, url("DATABASE_URL"), url("MYSQL_URL")] {
        flashes_on("axum", &store, &[]).await;
    }
    flashes_on(
        "hyper",
        &url("DATABASE_URL"),
        &[("SESSION_DATA_KEY", SECRET)],
    )
    .await;
}

#[tokio::test]
async fn flashes_in_redis() {
    flashes_on("axum", &url("REDIS_URL"), &[]).await;
    flashes_on("hyper", &url("REDIS_URL"), &[("SESSION_CACHE", "1")]).await;
    flashes_on("axum", &cluster_spec(), &[]).await;
}
