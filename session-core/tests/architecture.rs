//! Keeps the workspace's maps honest: `ARCHITECTURE.md` stays short (at
//! most 300 lines) and names only paths that exist; the decision records
//! under `docs/decisions/` are all listed in their index and name only
//! paths that exist. Paths are relative to the workspace root, the parent
//! of this crate's directory.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const MAX_ARCHITECTURE_LINES: usize = 300;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("session-core sits inside the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

/// The text outside fenced code blocks (code there is not prose that names
/// files).
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The contents of every inline code span (`like/this`).
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, span)| span)
        .collect()
}

/// The targets of every inline link `[text](target)`.
fn link_targets(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        match after.find(')') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end..];
            }
            None => break,
        }
    }
    out
}

/// Whether a code span names a file or directory of the repository: a
/// single token with a `/`, made of path characters, that is no URL. Such
/// a span must exist, relative to the workspace root; a slashed string
/// that is no path (an HKDF purpose, say) belongs in a fenced code block.
fn is_repository_path(span: &str) -> bool {
    !span.is_empty()
        && span.contains('/')
        && !span.contains("://")
        && !span.starts_with('/')
        && span
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'))
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// turned into hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    prose(markdown)
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

/// Every repository path `file` (relative to the root) names that does
/// not exist, and every link into a heading of `file` that it lacks.
/// Returns the problems and how many paths were checked.
fn missing_paths(file: &str) -> (Vec<String>, usize) {
    let text = read(file);
    let body = prose(&text);
    let dir = Path::new(file).parent().unwrap_or(Path::new(""));
    let own_anchors = anchors(&text);
    let mut problems = Vec::new();
    let mut checked = 0;
    for span in code_spans(&body)
        .into_iter()
        .filter(|s| is_repository_path(s))
    {
        checked += 1;
        if !root().join(span).exists() {
            problems.push(format!("{file}: `{span}` does not exist"));
        }
    }
    for target in link_targets(&body) {
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
        if path.is_empty() {
            if !own_anchors.contains(fragment) {
                problems.push(format!("{file}: no heading for the link #{fragment}"));
            }
            continue;
        }
        checked += 1;
        if !root().join(dir).join(path).exists() {
            problems.push(format!("{file}: link target {target} does not exist"));
        }
    }
    (problems, checked)
}

/// The record files in `docs/decisions/` (`NNNN-title.md`).
fn record_files() -> Vec<String> {
    let dir = root().join("docs/decisions");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("reading {}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| {
            name.ends_with(".md")
                && name.len() > 5
                && name[..4].bytes().all(|b| b.is_ascii_digit())
                && name.as_bytes()[4] == b'-'
        })
        .collect();
    names.sort();
    names
}

#[test]
fn architecture_stays_a_map_of_at_most_300_lines() {
    let lines = read("ARCHITECTURE.md").lines().count();
    assert!(
        lines <= MAX_ARCHITECTURE_LINES,
        "ARCHITECTURE.md has {lines} lines, more than {MAX_ARCHITECTURE_LINES}: \
         move the analysis into a decision record under docs/decisions/"
    );
}

#[test]
fn architecture_names_only_paths_that_exist() {
    let (problems, checked) = missing_paths("ARCHITECTURE.md");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A map that names next to no file means the extraction broke.
    assert!(
        checked >= 20,
        "only {checked} paths found in ARCHITECTURE.md"
    );
}

#[test]
fn every_decision_record_is_in_the_index() {
    let index = read("docs/decisions/README.md");
    let listed: BTreeSet<&str> = link_targets(&index).into_iter().collect();
    let records = record_files();
    assert!(!records.is_empty(), "no records in docs/decisions/");
    let missing: Vec<&String> = records
        .iter()
        .filter(|name| !listed.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/decisions/README.md does not link {missing:?}"
    );
}

#[test]
fn decision_records_name_only_paths_that_exist() {
    let mut problems = Vec::new();
    let files = std::iter::once("README.md".to_owned()).chain(record_files());
    for name in files {
        problems.extend(missing_paths(&format!("docs/decisions/{name}")).0);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_extraction_finds_paths_and_skips_the_rest() {
    let text = "See `session-core/src/lib.rs`, `redis+cluster://h:1,h:2`, \
                `SET NX GET PX`, `Id::at_rest` and [a record](docs/x.md#why).\n\
                ```text\n`not/checked.rs`\n```\n";
    let body = prose(text);
    let paths: Vec<&str> = code_spans(&body)
        .into_iter()
        .filter(|s| is_repository_path(s))
        .collect();
    assert_eq!(paths, ["session-core/src/lib.rs"]);
    assert_eq!(link_targets(&body), ["docs/x.md#why"]);
    assert_eq!(anchor("The flow of one request"), "the-flow-of-one-request");
    assert_eq!(
        anchor("Timeouts, keys and cookies"),
        "timeouts-keys-and-cookies"
    );
}
