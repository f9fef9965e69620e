//! The documentation against the repository, in the spirit of the tests that tie the template
//! to the code:
//! - README's folder table names every module under `src/` (each `src/<name>/` folder and each
//!   `src/<name>.rs` file but `lib.rs`), so a new module cannot go undocumented;
//! - every relative link of every Markdown file of the repository (README, `docs/`,
//!   BENCHMARKS, RELIABILITY, `benches/`, `fuzz/`, `tests/`, …) names a file or folder that
//!   exists, and a link to a heading of a Markdown file (`file.md#heading`, or `#heading` in
//!   the same file) names a heading that file has.
//!
//! Plain `cargo test` runs it: no Python, no network.
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The modules a newcomer meets under `src/`: `src/<name>/` and `src/<name>.rs`, without
/// `lib.rs` (the list itself) and `bin/` (the binaries, documented with the Lambda).
fn src_modules() -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    for entry in fs::read_dir(root().join("src")).expect("src/") {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            if name != "bin" {
                modules.insert(format!("src/{name}/"));
            }
        } else if name.ends_with(".rs") && name != "lib.rs" {
            modules.insert(format!("src/{name}"));
        }
    }
    modules
}

/// The first cells of README's folder table (the table whose header's first cell is
/// `folder`): every path written in backticks there.
fn folder_table_paths(readme: &str) -> BTreeSet<String> {
    let mut lines = readme.lines().skip_while(|l| {
        !l.trim_start()
            .strip_prefix('|')
            .is_some_and(|rest| rest.trim_start().starts_with("folder"))
    });
    assert!(
        lines.next().is_some(),
        "README.md has no folder table (a table whose first column is `folder`)"
    );
    let mut paths = BTreeSet::new();
    for line in lines.take_while(|l| l.trim_start().starts_with('|')) {
        let first_cell = line.trim_start()[1..].split('|').next().unwrap_or("");
        for (i, piece) in first_cell.split('`').enumerate() {
            if i % 2 == 1 {
                paths.insert(piece.trim().to_string());
            }
        }
    }
    paths
}

#[test]
fn the_readme_folder_table_names_every_module_under_src() {
    let readme = read(&root().join("README.md"));
    let listed = folder_table_paths(&readme);
    let missing: Vec<String> = src_modules()
        .into_iter()
        .filter(|module| !listed.contains(module))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md's folder table lacks {missing:?}: add a row for each (in flow order, as \
         src/lib.rs lists them), naming it in backticks in the first column"
    );
}

/// Every Markdown file of the repository but the build's and the tools' own (`target/`,
/// hidden folders such as `.venv`).
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                if !name.starts_with('.') && name != "target" && name != "node_modules" {
                    walk(&path, out);
                }
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &mut out);
    out
}

/// The link destinations of a Markdown text, outside code blocks and code spans: inline links
/// `[text](dest "title")`, images, and reference definitions `[label]: dest`. (line, dest).
fn links(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    // The backtick run that opened the code span we are in: a span may run over lines, never
    // past the end of its paragraph.
    let mut code_span: Option<usize> = None;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            continue;
        }
        if trimmed.is_empty() {
            code_span = None;
            continue;
        }
        if code_span.is_none() {
            if trimmed.starts_with("```") {
                fence = Some("```");
                continue;
            }
            if trimmed.starts_with("~~~") {
                fence = Some("~~~");
                continue;
            }
            // Reference definitions: `[label]: dest`.
            if let Some(rest) = trimmed.strip_prefix('[') {
                if let Some(at) = rest.find("]:") {
                    if !rest[..at].contains(']') {
                        let dest = rest[at + 2..].split_whitespace().next().unwrap_or("");
                        out.push((n + 1, dest.trim_matches(['<', '>']).to_string()));
                        continue;
                    }
                }
            }
        }
        // The line's prose: code spans blanked out (a run of backticks closes the span that
        // the same length of run opened).
        let mut prose = String::with_capacity(line.len());
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '`' {
                let mut run = 1;
                while chars.peek() == Some(&'`') {
                    chars.next();
                    run += 1;
                }
                code_span = match code_span {
                    None => Some(run),
                    Some(open) if open == run => None,
                    still => still,
                };
                prose.push(' ');
            } else if code_span.is_some() {
                prose.push(' ');
            } else {
                prose.push(c);
            }
        }
        // Inline links.
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let dest = if let Some(stripped) = after.strip_prefix('<') {
                stripped.split('>').next().unwrap_or("")
            } else {
                // Up to the closing parenthesis that balances, or a title.
                let mut depth = 0usize;
                let mut end = after.len();
                for (i, c) in after.char_indices() {
                    match c {
                        '(' => depth += 1,
                        ')' if depth == 0 => {
                            end = i;
                            break;
                        }
                        ')' => depth -= 1,
                        ' ' => {
                            end = i;
                            break;
                        }
                        _ => {}
                    }
                }
                &after[..end]
            };
            out.push((n + 1, dest.to_string()));
            rest = after;
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, letters, digits, `-` and `_` kept, spaces made
/// `-`, everything else dropped; a repeated anchor gets `-1`, `-2`, ….
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || !trimmed.starts_with('#') {
            continue;
        }
        let text = trimmed.trim_start_matches('#');
        if !text.starts_with(' ') && !text.is_empty() {
            continue;
        }
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        let anchor = if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        };
        *count += 1;
        out.insert(anchor);
    }
    out
}

/// `a/b/../c` → `a/c`, without touching the file system (so a missing file is still named).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn is_external(dest: &str) -> bool {
    let lower = dest.to_ascii_lowercase();
    lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:")
        || lower.starts_with("ftp://")
}

#[test]
fn every_relative_link_in_the_docs_names_a_file_that_exists() {
    let root = root();
    let files = markdown_files();
    for required in ["README.md", "docs", "BENCHMARKS.md", "RELIABILITY.md"] {
        assert!(
            files.iter().any(|f| f.starts_with(root.join(required))),
            "no Markdown file found at {required}"
        );
    }
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        let shown = file.strip_prefix(&root).unwrap().display().to_string();
        for (line, dest) in links(&text) {
            if dest.is_empty() || is_external(&dest) {
                continue;
            }
            let (path, anchor) = match dest.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (dest.as_str(), None),
            };
            let path = path.split('?').next().unwrap();
            let target = if path.is_empty() {
                file.clone()
            } else if let Some(from_root) = path.strip_prefix('/') {
                normalize(&root.join(from_root))
            } else {
                normalize(&file.parent().unwrap().join(path))
            };
            if !target.exists() {
                broken.push(format!("{shown}:{line}: {dest}: no such file"));
                continue;
            }
            let Some(anchor) = anchor.filter(|a| !a.is_empty()) else {
                continue;
            };
            let is_markdown = target.extension().is_some_and(|e| e == "md");
            if is_markdown && !anchors(&read(&target)).contains(&anchor.to_lowercase()) {
                broken.push(format!(
                    "{shown}:{line}: {dest}: {} has no heading with anchor #{anchor}",
                    target.strip_prefix(&root).unwrap_or(&target).display()
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_reader_finds_what_it_should() {
    let text = "see [a](docs/a.md#x) and `[not](code.md)` or [b](<b c.md>), [c](https://x.y)\n\
                ```\n[fenced](nope.md)\n```\n[ref]: ../d.md\n![img](e.png \"title\")\n\
                a span `over\nlines` then [f](f.md) and ``a ` b [g](g.md)``\n\
                `unclosed [h](h.md)\n\n[i](i.md)\n";
    let found: Vec<String> = links(text).into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        found,
        [
            "docs/a.md#x",
            "b c.md",
            "https://x.y",
            "../d.md",
            "e.png",
            "f.md",
            "i.md"
        ]
    );
    let heads = anchors("# One\n## What ends a run\n### Alarms: what they mean and what to do\n## One\n```\n# not\n```\n");
    assert!(heads.contains("one") && heads.contains("one-1"));
    assert!(heads.contains("what-ends-a-run"));
    assert!(heads.contains("alarms-what-they-mean-and-what-to-do"));
    assert!(!heads.contains("not"));
}
