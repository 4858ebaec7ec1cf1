//! The README and `docs/` against the code and the repository: the metrics
//! the code registers, the files and links the pages name, the flags of
//! the binary, the config examples, and the map of the docs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use entrust_gateway::config::Config;
use entrust_gateway::metrics::Metrics;

use super::config_keys::{normalise, schema_keys};
use super::{fenced_blocks, pages, read};
use crate::common::BIN;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every metric the code registers, as a query names it (a counter with
/// `_total`), and its type. Read from `src/metrics.rs`, since a family
/// without series (no failover yet, no Redis) is not in `/metrics`: each
/// `registry.register("name", help, var)` call, its type from `var`'s
/// `let`. What the registry encodes is checked against it.
fn registered_metrics() -> BTreeMap<String, String> {
    let src = read("src/metrics.rs");
    let prefix = src
        .split("Registry::with_prefix(\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("Registry::with_prefix in src/metrics.rs");
    let mut out = BTreeMap::new();
    for call in src.split("registry.register(").skip(1) {
        let call = &call[..call.find(");").expect("a register call's end")];
        let name = call.split('"').nth(1).expect("the metric's name");
        let var = call
            .trim_end()
            .trim_end_matches(',')
            .rsplit([',', ' ', '\n'])
            .next()
            .unwrap()
            .trim_end_matches(".clone()");
        let decl = src
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("let {var} =")))
            .unwrap_or_else(|| panic!("src/metrics.rs: no `let {var} =` for {name}"));
        let kind = ["Histogram", "Counter", "Gauge"]
            .into_iter()
            .find(|k| decl.contains(k))
            .unwrap_or_else(|| panic!("src/metrics.rs: the type of {name}: {decl}"))
            .to_lowercase();
        let full = format!("{prefix}_{name}");
        let full = if kind == "counter" {
            format!("{full}_total")
        } else {
            full
        };
        out.insert(full, kind);
    }
    // What the registry encodes (every family with a series) agrees.
    let encoded = Metrics::for_data_centers(&["a", "b"], &[("entrust", &["/x"])], "-").encode();
    for line in encoded.lines() {
        let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        let name = if kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        };
        assert_eq!(
            out.get(&name).map(String::as_str),
            Some(kind),
            "{name} ({kind}) is encoded but not found as registered in src/metrics.rs"
        );
    }
    assert!(out.len() >= 10, "{out:?}");
    out
}

/// The metrics table of `docs/operations.md` lists every metric the code
/// registers, with its type, and nothing else.
#[test]
fn the_operations_page_lists_every_metric() {
    let code = registered_metrics();
    let mut documented = BTreeMap::new();
    for line in read("docs/operations.md").lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        let Some(name) = cells
            .first()
            .and_then(|c| c.trim().strip_prefix("`entrust_gateway_"))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let kind = cells.get(1).map_or("", |c| c.trim());
        documented.insert(format!("entrust_gateway_{name}"), kind.to_string());
    }
    assert_eq!(
        documented, code,
        "docs/operations.md's metrics table (left) against the metrics the code registers (right)"
    );
}

/// Every `entrust_gateway_*` metric name a page writes is one the code
/// registers (series suffixes allowed).
#[test]
fn every_metric_a_page_names_exists() {
    let code = registered_metrics();
    let bases: BTreeSet<&str> = code
        .keys()
        .map(|n| n.strip_suffix("_total").unwrap_or(n))
        .collect();
    for (page, text) in pages() {
        let mut rest = text.as_str();
        while let Some(i) = rest.find("entrust_gateway_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            let base = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(
                bases.contains(base) || bases.contains(name.as_str()),
                "{page} names {name}, which the code does not register"
            );
        }
    }
}

/// The first characters a repository path can start with, as pages write them.
const TOP: [&str; 9] = [
    "src/",
    "tests/",
    "deploy/",
    "docs/",
    "examples/",
    "bench/",
    "scripts/",
    "fuzz/",
    ".ci/",
];
const TOP_FILES: [&str; 8] = [
    "gateway.toml",
    "Dockerfile",
    ".dockerignore",
    "README.md",
    "BENCHMARKS.md",
    "Cargo.toml",
    "Cargo.lock",
    ".gitignore",
];

/// Every file path a page names exists (a glob: its directory does).
/// `docs/mutants.md` is a dated record of past runs, paths of their time
/// included: left out.
#[test]
fn every_file_path_a_page_names_exists() {
    let mut checked = 0;
    for (page, text) in pages() {
        if page == "docs/mutants.md" {
            continue;
        }
        for word in text.split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')') {
            let word = word
                .trim_start_matches(|c: char| "\"'[]{}<>,;:!?*".contains(c))
                .trim_end_matches(|c: char| "\"'[]{}<>.,;:!?*".contains(c));
            let word = word.split('#').next().unwrap_or_default();
            let is_path = TOP.iter().any(|t| word.starts_with(t)) || TOP_FILES.contains(&word);
            if !is_path || word.contains('<') || word.contains('$') {
                continue;
            }
            let path = match word.find('*') {
                Some(i) => &word[..word[..i].rfind('/').map_or(0, |j| j + 1)],
                None => word,
            };
            assert!(
                root().join(path).exists(),
                "{page} names {word}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} paths found");
}

/// A heading's anchor as GitHub makes it.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings (a repeated heading gets
/// `-1`, `-2`, ... as on GitHub).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let s = slug(line.trim_start_matches('#'));
        let n = seen.entry(s.clone()).or_insert(0);
        out.insert(if *n == 0 {
            s.clone()
        } else {
            format!("{s}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of a Markdown text's inline links, `[text](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        out.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    out
}

/// Every relative link of a page resolves: its file exists and, in a
/// Markdown file, its anchor is a heading there.
#[test]
fn every_relative_link_resolves() {
    let mut checked = 0;
    for (page, text) in pages() {
        let dir = root().join(&page).parent().unwrap().to_path_buf();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                root().join(&page)
            } else {
                dir.join(file)
            };
            assert!(
                path.exists(),
                "{page}: link ({target}): {} does not exist",
                path.display()
            );
            if let Some(anchor) = anchor {
                let target_text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    anchors(&target_text).contains(anchor),
                    "{page}: link ({target}): no heading #{anchor} in {}",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} links found");
}

/// The README's map of the docs links every page of `docs/`.
#[test]
fn the_readme_maps_every_docs_page() {
    let readme = read("README.md");
    let targets: BTreeSet<String> = link_targets(&readme).into_iter().collect();
    for (page, _) in pages() {
        if page == "README.md" {
            continue;
        }
        assert!(
            targets.contains(&page),
            "the README's map of the docs lacks a link to {page}"
        );
    }
}

/// The long flags in a `--help` text, `--help` and `--version` left out.
fn flags(args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !["--help", "--version"].contains(w))
        .map(str::to_string)
        .collect()
}

/// Every flag the binary takes is documented: the gateway's in the
/// README's command-line table, the simulator's in `docs/simulator.md`.
#[test]
fn every_flag_of_the_binary_is_documented() {
    let readme = read("README.md");
    for flag in flags(&["--help"]) {
        assert!(
            readme.contains(&format!("`{flag}")),
            "README.md does not document {flag} (entrust-gateway --help)"
        );
    }
    let sim = read("docs/simulator.md");
    for flag in flags(&["sim", "--help"]) {
        assert!(
            sim.contains(&format!("`{flag}")),
            "docs/simulator.md does not document {flag} (entrust-gateway sim --help)"
        );
    }
}

/// The README's test command is the one CI runs.
#[test]
fn the_readme_test_command_is_the_one_ci_runs() {
    const COMMAND: &str = "scripts/test.sh";
    assert!(root().join(COMMAND).exists());
    assert!(read(".ci/run").lines().any(|l| l.trim() == COMMAND));
    let quick_start = read("README.md");
    let quick_start = quick_start
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("the README has a Quick start");
    assert!(
        fenced_blocks(quick_start)
            .iter()
            .any(|(_, body)| body.lines().any(|l| l.starts_with(COMMAND))),
        "the README's quick start has no line starting {COMMAND}"
    );
}

/// A TOML table's keys, dotted, map entries quoted (`rate_limit.paths."/x".per_second`).
fn toml_keys(at: &str, t: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in t {
        let k = if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            k.clone()
        } else {
            format!("\"{k}\"")
        };
        let key = if at.is_empty() {
            k
        } else {
            format!("{at}.{k}")
        };
        match v {
            // A secret reference's `{ env = ... }` / `{ file = ... }` is the key's value.
            toml::Value::Table(t)
                if t.len() == 1 && (t.contains_key("env") || t.contains_key("file")) =>
            {
                out.push(key)
            }
            toml::Value::Table(t) => toml_keys(&key, t, out),
            // An array of tables (`[[apps]]`): each table's keys are under the array's.
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
                for t in a.iter().filter_map(toml::Value::as_table) {
                    toml_keys(&key, t, out);
                }
            }
            _ => out.push(key),
        }
    }
}

/// Every TOML example in the pages is TOML whose keys are the schema's;
/// one with an `[upstream]` section is a whole config and validates.
#[test]
fn every_toml_example_uses_real_keys() {
    let schema = schema_keys();
    let mut checked = 0;
    for (page, text) in pages() {
        for (info, body) in fenced_blocks(&text) {
            if info != "toml" {
                continue;
            }
            let table: toml::Table =
                toml::from_str(&body).unwrap_or_else(|e| panic!("{page}: {e}\n{body}"));
            let mut keys = Vec::new();
            toml_keys("", &table, &mut keys);
            for key in keys {
                assert!(
                    schema.contains(&normalise(&key)),
                    "{page}: a TOML example sets {key}, which is no config key"
                );
            }
            if table.contains_key("upstream") {
                Config::parse(&body).unwrap_or_else(|e| panic!("{page}: {e}\n{body}"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} TOML examples found");
}
