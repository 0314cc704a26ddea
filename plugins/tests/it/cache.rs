//! The compiled artifact is cached on disk and reused by the next host; a damaged cache entry is
//! recompiled, never trusted.

use std::time::Instant;

use lux_plugins::{ArtifactSource, HostConfig, PluginHost, WasmDetector};

use crate::support::{step, wasm};

fn host_on(dir: &std::path::Path) -> PluginHost {
    PluginHost::new(HostConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..HostConfig::default()
    })
    .expect("host starts")
}

fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = wasm("absolute-claims");

    let started = Instant::now();
    let first = host_on(dir.path()).load(&bytes).await.expect("loads");
    let compiled_in = started.elapsed();
    assert_eq!(first.artifact_source(), ArtifactSource::Compiled);
    let files = artifacts(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].extension().is_some_and(|e| e == "cwasm"));

    // A new host (a restarted process) with the same engine settings reuses the artifact.
    let started = Instant::now();
    let second = host_on(dir.path()).load(&bytes).await.expect("loads");
    let restored_in = started.elapsed();
    assert_eq!(second.artifact_source(), ArtifactSource::Cache);
    assert_eq!(artifacts(dir.path()), files);
    assert_eq!(second.sha256(), first.sha256());
    eprintln!("compile+load {compiled_in:?}, cached load {restored_in:?}");

    let detector = WasmDetector::new(second).expect("detector");
    let found = detector.run(&step("It never fails.")).await.expect("runs");
    assert_eq!(found.len(), 1);

    // Without a cache dir nothing is written and every load compiles.
    let uncached = PluginHost::new(HostConfig::default()).expect("host");
    let plugin = uncached.load(&bytes).await.expect("loads");
    assert_eq!(plugin.artifact_source(), ArtifactSource::Compiled);
}

#[tokio::test]
async fn damaged_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = wasm("absolute-claims");
    host_on(dir.path()).load(&bytes).await.expect("loads");
    let files = artifacts(dir.path());
    std::fs::write(&files[0], b"definitely not machine code").expect("overwrite");

    let plugin = host_on(dir.path()).load(&bytes).await.expect("loads");
    assert_eq!(plugin.artifact_source(), ArtifactSource::Compiled);
    let detector = WasmDetector::new(plugin).expect("detector");
    assert_eq!(
        detector
            .run(&step("It never fails."))
            .await
            .expect("runs")
            .len(),
        1
    );
    // The damaged file was replaced by a good one.
    let again = host_on(dir.path()).load(&bytes).await.expect("loads");
    assert_eq!(again.artifact_source(), ArtifactSource::Cache);
}
