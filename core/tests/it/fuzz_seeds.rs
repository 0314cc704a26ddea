//! Every committed fuzz seed (`fuzz/seeds/<target>/*`, including inputs that once found a bug)
//! run through the same checks as the fuzz targets, so they hold on every `cargo test`.

use std::path::Path;

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|_| panic!("{} exists", dir.display())) {
        check(&std::fs::read(entry.unwrap().path()).unwrap());
        seeds += 1;
    }
    assert!(seeds > 0, "no seeds in {}", dir.display());
}

#[test]
fn synthesis_parser_seeds_hold() {
    // libFuzzer's `&str` targets only ever see valid UTF-8; the same here.
    replay("synthesis_parser", |bytes| {
        if let Ok(text) = std::str::from_utf8(bytes) {
            lux_core::testing::fuzz::synthesis_parser(text);
        }
    });
}

#[test]
fn import_reader_seeds_hold() {
    replay("import_reader", lux_core::testing::fuzz::import_reader);
}
