//! The crate's shape, checked from its sources: no file imports another that (through any
//! chain of imports) imports it back, and the lower floors never reach up. A file's imports
//! are every `crate::…`, `super::…` and `self::…` path in it and every path through a module
//! it declares, resolved to the file that defines the item's module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Top-level modules and the ones they must never import.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("ecs", &["front", "control", "server", "local", "apis"]),
    (
        "elbv2",
        &["front", "control", "server", "local", "apis", "ecs"],
    ),
    (
        "call",
        &[
            "front", "control", "server", "local", "apis", "ecs", "elbv2", "registry",
        ],
    ),
    (
        "registry",
        &[
            "front", "control", "server", "local", "apis", "ecs", "elbv2",
        ],
    ),
    (
        "data_plane",
        &["front", "control", "server", "ecs", "elbv2", "call"],
    ),
    (
        "wake",
        &["front", "control", "server", "ecs", "elbv2", "call"],
    ),
    (
        "output_requests",
        &["front", "control", "server", "ecs", "elbv2", "call"],
    ),
    (
        "presence",
        &["front", "control", "server", "ecs", "elbv2", "call"],
    ),
    (
        "autoscaling",
        &["front", "control", "server", "local", "apis"],
    ),
    (
        "eventbridge",
        &["front", "control", "server", "local", "apis"],
    ),
    (
        "schedules",
        &[
            "front",
            "control",
            "server",
            "local",
            "apis",
            "ecs",
            "elbv2",
            "autoscaling",
            "eventbridge",
        ],
    ),
    (
        "berth_api",
        &["front", "control", "server", "local", "apis"],
    ),
    (
        "cloudwatch",
        &[
            "front", "control", "server", "local", "apis", "ecs", "elbv2",
        ],
    ),
    ("control", &["front", "server", "local", "apis"]),
    ("front", &["control", "server", "local"]),
];

/// Each source file by the module path it defines (`[]` for lib.rs).
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            found.insert(segments, path);
        }
    }
    found
}

/// Every path a file names, as written, with the module it is written in (a file's inline
/// modules, such as its tests, are modules of their own for `self` and `super`).
struct Paths {
    module: Vec<String>,
    found: Vec<(Vec<String>, Vec<String>)>,
}

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let mut full = prefix.clone();
                full.push(name.ident.to_string());
                self.found.push((self.module.clone(), full));
            }
            syn::UseTree::Rename(rename) => {
                let mut full = prefix.clone();
                full.push(rename.ident.to_string());
                self.found.push((self.module.clone(), full));
            }
            syn::UseTree::Glob(_) => self.found.push((self.module.clone(), prefix.clone())),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.module.pop();
    }

    /// `pub(super)` and `pub(crate)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.found.push((self.module.clone(), segments));
        syn::visit::visit_path(self, path);
    }
}

/// The file a path written in `module` leads to, if it leads into the crate: the deepest
/// module along the path that has a file of its own.
fn resolve(
    modules: &BTreeMap<Vec<String>, PathBuf>,
    module: &[String],
    path: &[String],
) -> Option<Vec<String>> {
    let mut absolute = match path.first().map(String::as_str) {
        Some("crate") => path[1..].to_vec(),
        Some("self") => [module, &path[1..]].concat(),
        Some("super") => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            [base.as_slice(), rest].concat()
        }
        // A path through a module this one declares.
        Some(first) => {
            let child = [module, std::slice::from_ref(&first.to_string())].concat();
            if !modules.contains_key(&child) {
                return None;
            }
            [module, path].concat()
        }
        None => return None,
    };
    while !modules.contains_key(&absolute) {
        absolute.pop()?;
    }
    Some(absolute)
}

/// Every file's imports, as module paths.
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut paths = Paths {
            module: module.clone(),
            found: Vec::new(),
        };
        paths.visit_file(&parsed);
        let targets: BTreeSet<Vec<String>> = paths
            .found
            .iter()
            .filter_map(|(site, path)| resolve(&modules, site, path))
            .filter(|target| target != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let edges = imports();
    assert!(edges.len() > 30, "too few files found: {:?}", edges.keys());
    // Depth-first search for a back edge; reports the whole circle.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|n| n == node) {
            let circle: Vec<String> = path[at..].iter().map(|m| name(m)).collect();
            panic!("import circle: {} → {}", circle.join(" → "), name(node));
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(node.clone());
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn lower_floors_never_import_upper_ones() {
    let edges = imports();
    let mut violations = Vec::new();
    for (module, targets) in &edges {
        // Tests drive an API through the same path the front takes.
        if module.last().is_some_and(|m| m == "tests") {
            continue;
        }
        let Some(top) = module.first() else { continue };
        let Some((_, forbidden)) = FORBIDDEN.iter().find(|(m, _)| m == top) else {
            continue;
        };
        for target in targets {
            if target
                .first()
                .is_some_and(|t| forbidden.contains(&t.as_str()))
            {
                violations.push(format!("{} imports {}", name(module), name(target)));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_checker_sees_imports_and_circles() {
    let modules: BTreeMap<Vec<String>, PathBuf> = [
        vec![],
        vec!["ecs".to_string()],
        vec!["ecs".to_string(), "tasks".to_string()],
        vec!["call".to_string()],
    ]
    .into_iter()
    .map(|m| (m, PathBuf::new()))
    .collect();
    let ecs = vec!["ecs".to_string()];
    let tasks = vec!["ecs".to_string(), "tasks".to_string()];
    let path = |text: &str| text.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        resolve(&modules, &tasks, &path("super::Call")),
        Some(ecs.clone())
    );
    assert_eq!(
        resolve(&modules, &tasks, &path("crate::call::Call")),
        Some(vec!["call".to_string()])
    );
    assert_eq!(
        resolve(&modules, &ecs, &path("tasks::run")),
        Some(tasks.clone())
    );
    assert_eq!(resolve(&modules, &ecs, &path("serde_json::json")), None);
    let edges = imports();
    assert!(
        edges[&vec!["front".to_string(), "aws".to_string()]].contains(&vec!["keys".to_string()]),
        "front::aws authenticates with keys"
    );
}
