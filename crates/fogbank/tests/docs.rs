//! The architecture map names every crate: a crate added without a line in
//! docs/ARCHITECTURE.md (or a line left for a crate that is gone) fails here.

use std::path::Path;

#[test]
fn architecture_map_names_every_crate_and_no_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let mut crates: Vec<String> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    for name in &crates {
        assert!(map.contains(&format!("`crates/{name}`")), "docs/ARCHITECTURE.md does not map crates/{name}");
    }
    for line in map.lines().filter(|l| l.starts_with("| `crates/")) {
        let named = line.trim_start_matches("| `crates/").split(['`', '/']).next().unwrap_or("");
        assert!(crates.iter().any(|c| c == named), "docs/ARCHITECTURE.md maps crates/{named}, which does not exist");
    }
}
