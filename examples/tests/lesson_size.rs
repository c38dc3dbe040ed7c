//! The lessons stay short: each file in `examples/src/bin/` (but `serve`,
//! the playground, and `keygen`) has a line budget, and reads no
//! environment variable beyond the few a lesson needs. A new lesson needs
//! a budget here.

use std::path::{Path, PathBuf};

/// Each lesson and the most lines its file may have.
const BUDGETS: &[(&str, usize)] = &[
    ("axum-counter", 50),
    ("axum-flash", 60),
    ("axum-api", 100),
    ("hyper-api", 130),
    ("axum-csrf", 70),
    ("hyper-counter", 80),
    ("axum-settings", 100),
    ("axum-login", 100),
    ("axum-login-bridge", 100),
    ("axum-big", 100),
    ("axum-db", 100),
    ("axum-redis", 100),
    ("hyper-settings", 130),
    ("hyper-login", 130),
    ("hyper-big", 130),
    ("hyper-db", 130),
    ("hyper-redis", 130),
];

/// What is in `src/bin/` but is no lesson.
const NOT_LESSONS: &[&str] = &["serve", "keygen"];

/// The environment variables a lesson may read.
const LESSON_VARIABLES: &[&str] = &[
    "PORT",
    "SESSION_SECRET",
    "SESSION_STORE",
    "DATABASE_URL",
    "REDIS_URL",
];

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin")
}

/// The name of every program in `src/bin/`: `NAME.rs` or `NAME/main.rs`.
fn programs() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bin_dir())
        .expect("read src/bin")
        .map(|entry| entry.expect("an entry").path())
        .filter_map(|path| {
            if path.is_dir() {
                path.join("main.rs").is_file().then_some(path)
            } else {
                (path.extension()? == "rs").then(|| path.with_extension(""))
            }
        })
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn source(name: &str) -> String {
    let path = bin_dir().join(format!("{name}.rs"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_program_is_a_lesson_with_a_budget_or_named_as_none() {
    for name in programs() {
        assert!(
            NOT_LESSONS.contains(&name.as_str())
                || BUDGETS.iter().any(|(lesson, _)| *lesson == name),
            "examples/src/bin/{name}: a new lesson needs a line budget in tests/lesson_size.rs"
        );
    }
    for (lesson, _) in BUDGETS {
        assert!(
            programs().contains(&lesson.to_string()),
            "the lesson {lesson} is gone: take it out of tests/lesson_size.rs"
        );
    }
}

#[test]
fn lessons_stay_within_their_line_budget() {
    let over: Vec<String> = BUDGETS
        .iter()
        .filter_map(|(lesson, budget)| {
            let lines = source(lesson).lines().count();
            (lines > *budget).then(|| format!("{lesson}: {lines} lines, budget {budget}"))
        })
        .collect();
    assert!(
        over.is_empty(),
        "lessons over their budget (move what is not the lesson's one concept to serve): {over:?}"
    );
}

#[test]
fn lessons_read_only_the_variables_a_lesson_needs() {
    for (lesson, _) in BUDGETS {
        let source = source(lesson);
        for (at, _) in source.match_indices("env::var") {
            let rest = &source[at..];
            let name = rest
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("{lesson}: env::var without a literal name"));
            assert!(
                LESSON_VARIABLES.contains(&name),
                "{lesson} reads {name}: settings beyond {LESSON_VARIABLES:?} belong in serve"
            );
        }
        for (at, _) in source.match_indices("from_env(") {
            let name = source[at..].split('"').nth(1).unwrap_or_default();
            assert!(
                LESSON_VARIABLES.contains(&name),
                "{lesson} reads {name}: settings beyond {LESSON_VARIABLES:?} belong in serve"
            );
        }
    }
}
