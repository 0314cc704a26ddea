//! Every committed seed of the `plugin_output` fuzz target (`fuzz/seeds/plugin_output/*`,
//! including inputs that once found a bug) run through the same checks, on every `cargo test`.

use std::path::Path;

#[test]
fn plugin_output_seeds_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/plugin_output");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|_| panic!("{} exists", dir.display())) {
        let path = entry.unwrap().path();
        // Named in the output, so a failing seed is easy to find.
        eprintln!("seed {}", path.display());
        lux_plugins::testing::fuzz::plugin_output(&std::fs::read(&path).unwrap());
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
}
