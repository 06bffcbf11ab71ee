//! The layers as the compiler cannot see them: no import cycle between the top-level modules of `src/`, no diesel
//! outside `src/store/`, a protocol core that depends on neither actix-web nor diesel, and one migration history
//! for both backends. `cargo test --test architecture` prints the module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments and without its unit-test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("").to_string();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module -> the top-level modules it names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let top_of = |p: &Path| {
        let rel = p.strip_prefix(&root).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        first.trim_end_matches(".rs").to_string()
    };
    let tops: BTreeSet<String> = files.iter().map(|p| top_of(p)).filter(|t| t != "lib" && t != "main").collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for f in &files {
        let from = top_of(f);
        if !tops.contains(&from) {
            continue;
        }
        let text = code(f);
        let mut names = Vec::new();
        for part in text.split("crate::").skip(1) {
            if let Some(group) = part.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                names.extend(inner.split(',').map(|s| s.trim().split("::").next().unwrap_or("").to_string()));
            } else {
                names.push(part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
            }
        }
        for n in names {
            if n != from && tops.contains(&n) {
                graph.get_mut(&from).unwrap().insert(n);
            }
        }
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_of_src_imports_one_that_imports_it_back() {
    let graph = module_graph();
    for (m, deps) in &graph {
        println!("{m} -> {}", deps.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    assert_eq!(find_cycle(&graph), None, "an import cycle between modules of src/");
    assert!(graph["store"].iter().all(|d| d == "secret"), "store depends on nothing above it: {:?}", graph["store"]);
    assert!(!graph["settings"].contains("oauth") && !graph["settings"].contains("state"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let g: BTreeMap<String, BTreeSet<String>> =
        [("a".to_string(), BTreeSet::from(["b".to_string()])), ("b".to_string(), BTreeSet::from(["a".to_string()]))]
            .into();
    assert!(find_cycle(&g).is_some());
}

#[test]
fn diesel_is_used_only_inside_store() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let store = src().join("store");
    let offenders: Vec<_> = files.iter().filter(|f| !f.starts_with(&store) && code(f).contains("diesel")).collect();
    assert!(offenders.is_empty(), "diesel outside src/store: {offenders:?}");
}

#[test]
fn the_protocol_core_depends_on_neither_http_nor_sql() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/core/Cargo.toml")).unwrap();
    let deps = manifest.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    for banned in ["actix", "diesel", "tokio", "reqwest", "tera"] {
        assert!(!deps.contains(banned), "the core depends on {banned}");
    }
}

#[test]
fn both_backends_have_the_same_migrations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |b: &str| -> BTreeSet<String> {
        std::fs::read_dir(dir.join(b)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect()
    };
    assert_eq!(names("sqlite"), names("postgres"));
    for m in names("sqlite") {
        for f in ["up.sql", "down.sql"] {
            assert!(dir.join("sqlite").join(&m).join(f).exists() && dir.join("postgres").join(&m).join(f).exists());
        }
    }
}
