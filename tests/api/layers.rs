//! Dependencies run one way (docs/architecture.md): the floors below may not import
//! the floors above. Read from the source's own `crate::` paths, so a wrong import
//! fails here, in `cargo test`, before review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Leaves: they import nothing of the crate.
const LEAVES: &[&str] = &["domain", "crypto", "signing", "secret_ref"];

/// A floor and what it may import besides itself and the leaves.
const FLOORS: &[(&str, &[&str])] = &[
    // Storage owns its engine, the audit entry and its chain hash.
    ("store", &[]),
    // Connectors own their call bounds and HTTP client; they know no job.
    ("connectors", &[]),
];

/// Settings are read at the edge and handed down as each module's own type: only
/// these read `crate::config`.
const READ_CONFIG: &[&str] = &["config", "startup", "main", "lib", "cli", "api"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top module a file belongs to: `src/store/jobs.rs` → `store`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

/// The top modules a file names through `crate::` paths, comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let (mut depth, mut item_start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// Every import that runs the wrong way, as `file: imports module`.
fn wrong_way(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        for imported in imports(&text) {
            if imported == module {
                continue;
            }
            let allowed = if LEAVES.contains(&module.as_str()) {
                false
            } else if let Some((_, may)) = FLOORS.iter().find(|(floor, _)| *floor == module) {
                LEAVES.contains(&imported.as_str()) || may.contains(&imported.as_str())
            } else {
                imported != "config" || READ_CONFIG.contains(&module.as_str())
            };
            if !allowed {
                let shown = file.strip_prefix(src.parent().unwrap()).unwrap();
                out.push(format!("{}: imports {imported}", shown.display()));
            }
        }
    }
    out
}

#[test]
fn dependencies_run_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let wrong = wrong_way(&src);
    assert!(
        wrong.is_empty(),
        "imports that run up the floors:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_reads_every_form_of_import() {
    let text = "use crate::jobs::LEASE;\n// crate::config in a comment\n\
                use crate::{store::Store, domain::{A, B}, config};\n\
                let x = crate::alerts::enqueue(tx);";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["alerts", "config", "domain", "jobs", "store"]);
}

/// `docs/architecture.md` is the map: every path it names exists, and every module
/// under `src/` is on it.
#[test]
fn the_architecture_map_names_every_module_and_only_real_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let named: BTreeSet<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            ["src/", "tests/", "benches/", "docs/", "migrations/"]
                .iter()
                .any(|p| t.starts_with(p))
        })
        .collect();
    let missing: Vec<&&str> = named.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "the map names paths that do not exist: {missing:?}"
    );
    let mut off_the_map = Vec::new();
    for entry in std::fs::read_dir(root.join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        let shown = if entry.path().is_dir() {
            format!("src/{name}/")
        } else {
            format!("src/{name}")
        };
        if !named.contains(shown.as_str()) {
            off_the_map.push(shown);
        }
    }
    assert!(
        off_the_map.is_empty(),
        "modules missing from the map: {off_the_map:?}"
    );
}
