//! The library's top-level modules import each other one way: binaries → wiring →
//! configuration → components, never back. A cycle (say `checkpoint` reading a constant of
//! `config`, which reads `checkpoint`) makes a module impossible to understand, test or move on
//! its own. An edge is any `crate::<module>` path in a module's code outside its tests.
//!
//! Plain `cargo test` runs it: no Python, no network.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/<name>/` and `src/<name>.rs` but `lib.rs` and `bin/`.
fn modules() -> BTreeSet<String> {
    fs::read_dir(src())
        .expect("src/")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
            (module && name != "lib" && name != "bin").then_some(name)
        })
        .collect()
}

/// The module's source files, its test files left out (`tests.rs`, `tests/`).
fn files_of(module: &str) -> Vec<PathBuf> {
    let file = src().join(format!("{module}.rs"));
    if file.is_file() {
        return vec![file];
    }
    let mut files = Vec::new();
    let mut folders = vec![src().join(module)];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).expect("a module folder").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && name != "tests" {
                folders.push(path);
            } else if name.ends_with(".rs") && name != "tests.rs" {
                files.push(path);
            }
        }
    }
    files
}

/// The modules `module` names as `crate::<name>`, before any `#[cfg(test)]` of a file.
fn imports(module: &str, all: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in files_of(module) {
        let text = fs::read_to_string(&file).expect("a source file");
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if name != module && all.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

/// A cycle through `start`, if any: the modules along it.
fn cycle_from(start: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("a path is never empty");
        for next in &graph[last] {
            if next == start {
                return Some(path.clone());
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let all = modules();
    assert!(
        all.contains("collector") && all.contains("config"),
        "{all:?}"
    );
    let graph: BTreeMap<String, BTreeSet<String>> =
        all.iter().map(|m| (m.clone(), imports(m, &all))).collect();
    assert!(
        graph["collector"].contains("checkpoint"),
        "the reader sees imports"
    );
    let cycles: Vec<String> = all
        .iter()
        .filter_map(|m| cycle_from(m, &graph))
        .map(|path| format!("{} → {}", path.join(" → "), path[0]))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_finds_a_cycle_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, to)| (m.into(), to.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycle_from("a", &graph),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(cycle_from("d", &graph), None);
}
