//! Every lesson is meant to be copied: pasted alone as `src/main.rs` of a
//! new crate whose `[dependencies]` are the ones its doc comment lists, it
//! builds and runs. This test does exactly that for every lesson (`serve`,
//! the playground, is not meant to be copied).
//!
//! It writes one cargo workspace with a member per example under the target
//! directory's `tmp/standalone/` (each member: the file as `src/main.rs`, the
//! doc comment's `[dependencies]` block as its manifest, with `path` added
//! to this workspace's crates), copies this workspace's `Cargo.lock`, and
//! runs one `cargo build --offline` with its own target directory there
//! (the first run builds the dependencies once; later runs only what
//! changed). Then it starts each program it built and walks through its
//! first steps (the Redis lessons against `REDIS_URL`, which `scripts/test`
//! sets).
//!
//! A member sees only the crates its own manifest names, so a file that
//! uses a crate it does not list fails to build. Cargo features, though,
//! are unified across the members of one build: a feature one file forgets
//! but another file's list turns on goes unnoticed here. (One build per
//! member would catch that too, at several more minutes of dependency
//! builds on a cold cache.)

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{browser, get_json, App, SECRET};
use serde_json::json;

/// The examples built as crates of their own: every lesson.
const EXAMPLES: &[&str] = &[
    "axum-counter",
    "axum-flash",
    "axum-api",
    "hyper-api",
    "axum-csrf",
    "hyper-counter",
    "axum-settings",
    "axum-login",
    "axum-big",
    "axum-db",
    "axum-redis",
    "hyper-settings",
    "hyper-login",
    "hyper-big",
    "hyper-db",
    "hyper-redis",
];

/// What an example may depend on: the session crates, a framework, and
/// the usual companions. No helper crate of this repository.
const ALLOWED: &[&str] = &[
    "session-core",
    "session-store-memory",
    "session-store-redis",
    "session-store-sql",
    "axum",
    "hyper",
    "hyper-util",
    "http-body-util",
    "http",
    "percent-encoding",
    "tower",
    "tokio",
    "serde",
    "serde_json",
    "tracing",
    "tracing-subscriber",
];

/// This repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ has a parent")
        .to_path_buf()
}

/// The `[dependencies]` block of an example's doc comment, with `path`
/// added to the session crates so that they come from this repository.
fn manifest_dependencies(name: &str, source: &str) -> String {
    let docs: Vec<&str> = source
        .lines()
        .map_while(|line| line.strip_prefix("//!"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    let start = docs
        .iter()
        .position(|line| *line == "[dependencies]")
        .unwrap_or_else(|| panic!("{name}: no [dependencies] block in the doc comment"));
    let mut block = String::from("[dependencies]\n");
    for line in docs[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("```"))
    {
        let (dependency, spec) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("{name}: not a dependency line: {line:?}"));
        assert!(
            ALLOWED.contains(&dependency),
            "{name} depends on {dependency}, which a copied example cannot have"
        );
        if dependency.starts_with("session-") {
            let path = repository().join(dependency);
            let spec = spec
                .strip_prefix("{ ")
                .unwrap_or_else(|| panic!("{name}: {dependency} is not an inline table"));
            block.push_str(&format!("{dependency} = {{ path = {path:?}, {spec}\n"));
        } else {
            block.push_str(&format!("{dependency} = {spec}\n"));
        }
    }
    block
}

/// Writes `contents` to `path` unless it already holds them (an unchanged
/// file keeps its time stamp, so cargo need not rebuild its crate).
fn write(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return;
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes the workspace of copied examples; returns its directory.
fn write_workspace(root: &Path) -> PathBuf {
    let crates = root.join("crates");
    let members: Vec<String> = EXAMPLES.iter().map(|name| format!("{name:?}")).collect();
    let workspace = format!(
        "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
        members.join(", ")
    );
    std::fs::create_dir_all(&crates).expect("create the workspace");
    write(&crates.join("Cargo.toml"), &workspace);
    let lock = std::fs::read_to_string(repository().join("Cargo.lock")).expect("read Cargo.lock");
    write(&crates.join("Cargo.lock"), &lock);
    for name in EXAMPLES {
        let file = repository().join(format!("examples/src/bin/{name}.rs"));
        let source = std::fs::read_to_string(&file).expect("read the example");
        let manifest = format!(
            "[package]\nname = {name:?}\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n{}",
            manifest_dependencies(name, &source)
        );
        let dir = crates.join(name);
        std::fs::create_dir_all(dir.join("src")).expect("create the crate");
        write(&dir.join("Cargo.toml"), &manifest);
        write(&dir.join("src/main.rs"), &source);
    }
    crates
}

#[tokio::test]
async fn examples_build_and_run_as_crates_of_their_own() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("standalone");
    let crates = write_workspace(&root);
    let target = root.join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--workspace"])
        .current_dir(&crates)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "the copied examples do not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let bin = |name: &str| target.join("debug").join(name).display().to_string();
    for name in [
        "axum-counter",
        "hyper-counter",
        "axum-settings",
        "hyper-settings",
    ] {
        let app = App::start(&bin(name), &[]);
        let client = browser();
        for expected in 0..2 {
            assert_eq!(
                get_json(&client, &app.url("/")).await,
                json!({ "user_count": expected }),
                "{name}"
            );
        }
    }
    let app = App::start(&bin("axum-flash"), &[]);
    let client = browser();
    let saved = client
        .post(app.url("/save"))
        .send()
        .await
        .expect("POST /save");
    assert!(
        saved.status().is_success(),
        "axum-flash: {}",
        saved.status()
    );
    let page = saved.text().await.expect("the page after the redirect");
    assert!(page.contains("Saved"), "axum-flash: {page}");
    for name in ["axum-api", "hyper-api"] {
        let app = App::start(&bin(name), &[]);
        let client = reqwest::Client::new();
        let login = client
            .post(app.url("/login"))
            .json(&json!({ "username": "hong" }));
        let login: serde_json::Value = login.send().await.unwrap().json().await.unwrap();
        let token = login["token"].as_str().expect("a token");
        let me = client
            .get(app.url("/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let me: serde_json::Value = me.json().await.unwrap();
        assert_eq!(me["user_id"], "hong", "{name}");
    }
    for name in ["axum-big", "hyper-big"] {
        let app = App::start(&bin(name), &[]);
        assert_eq!(
            get_json(&browser(), &app.url("/cookie/get/")).await,
            json!({ "message": "Login first" }),
            "{name}"
        );
    }
    let app = App::start(&bin("axum-csrf"), &[]);
    let client = browser();
    let page = client.get(app.url("/")).send().await.expect("GET /");
    let page = page.text().await.expect("the form page");
    let token = page
        .split(r#"name="csrf_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("axum-csrf: no token in {page}"));
    let answer = client
        .post(app.url("/transfer"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={token}&amount=3"))
        .send()
        .await
        .expect("POST /transfer");
    assert_eq!(answer.status(), 200, "axum-csrf");
    let text = answer.text().await.expect("the answer");
    assert!(text.contains("Transferred 3 coins"), "axum-csrf: {text}");
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let redis = std::env::var("REDIS_URL").expect(
        "REDIS_URL is not set. Run `scripts/test` (it starts a throwaway Redis), or set \
         REDIS_URL=redis://127.0.0.1:6379",
    );
    let logins = [
        ("axum-login", vec![]),
        ("hyper-login", vec![]),
        ("axum-db", vec![("DATABASE_URL", sqlite.as_str())]),
        ("hyper-db", vec![("DATABASE_URL", sqlite.as_str())]),
        ("axum-redis", vec![("REDIS_URL", redis.as_str())]),
        ("hyper-redis", vec![("REDIS_URL", redis.as_str())]),
    ];
    for (name, mut envs) in logins {
        envs.push(("SESSION_SECRET", SECRET));
        let app = App::start(&bin(name), &envs);
        let client = browser();
        assert_eq!(
            get_json(&client, &app.url("/login/hong/")).await,
            json!({ "message": "Logged in" })
        );
        assert_eq!(
            get_json(&client, &app.url("/get/")).await["session_info"]["user_id"],
            "hong",
            "{name}"
        );
    }
}
