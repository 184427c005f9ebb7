//! The dependency rule of DESIGN.md §2: the domain crates stay pure. This reads `Cargo.lock`
//! (no cargo invocation, no network) and walks each domain crate's dependency graph.

use std::collections::{BTreeSet, HashMap};

const DOMAIN_CRATES: [&str; 3] = ["achex-core", "achex-listing", "achex-bidding-engine"];
const FORBIDDEN: [&str; 12] = [
    "actix-web",
    "actix-http",
    "actix-rt",
    "sea-orm",
    "sea-query",
    "sqlx",
    "sqlx-core",
    "lettre",
    "reqwest",
    "hyper",
    "tokio-postgres",
    "rusqlite",
];

fn lock_graph() -> HashMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let text = std::fs::read_to_string(path).expect("Cargo.lock is committed");
    let lock: toml::Value = toml::from_str(&text).expect("Cargo.lock parses");
    let mut graph = HashMap::new();
    for package in lock["package"].as_array().expect("packages") {
        let name = package["name"].as_str().unwrap().to_owned();
        let deps = package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                // Entries are "name" or "name version" when several versions exist.
                d.iter().map(|e| e.as_str().unwrap().split(' ').next().unwrap().to_owned()).collect()
            })
            .unwrap_or_default();
        graph.entry(name).or_insert_with(Vec::new).extend::<Vec<String>>(deps);
    }
    graph
}

fn reachable(graph: &HashMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            stack.extend(graph.get(&name).cloned().unwrap_or_default());
        }
    }
    seen
}

#[test]
fn domain_crates_never_reach_a_web_framework_a_database_driver_or_a_mail_client() {
    let graph = lock_graph();
    for root in DOMAIN_CRATES {
        assert!(graph.contains_key(root), "{root} is in the workspace");
        let deps = reachable(&graph, root);
        let bad: Vec<_> = FORBIDDEN.iter().filter(|f| deps.contains(**f)).collect();
        assert!(bad.is_empty(), "{root} depends on {bad:?}");
    }
}

#[test]
fn the_check_would_notice_a_forbidden_dependency() {
    // The store legitimately uses sea-orm: the same walk must find it there, or the rule above
    // proves nothing.
    let deps = reachable(&lock_graph(), "achex-store");
    assert!(deps.contains("sea-orm") && deps.contains("sqlx"));
}
