//! Hands out the example plugins' bytes (built once per test process by the crate's `testing`
//! module, compiled into this test binary too), a shared host and step inputs.

use std::sync::{Arc, OnceLock};

use lux_core::detect::{DetectorInput, PriorStep, StepUnderReview};
use lux_plugins::{HostConfig, PluginHost};

/// The component built from the example crate `crate_name` (e.g. `absolute-claims`).
pub(crate) fn wasm(crate_name: &str) -> Vec<u8> {
    crate::testing::example_wasm(crate_name)
}

/// The component componentize-py builds from `plugins/examples-python/<name>`.
pub(crate) fn python_wasm(name: &str) -> Vec<u8> {
    let path = crate::testing::python_example_path(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A host shared by the tests of this process, with a cache dir of its own.
pub(crate) fn host() -> PluginHost {
    static HOST: OnceLock<(PluginHost, tempfile::TempDir)> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = PluginHost::new(HostConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..HostConfig::default()
        })
        .expect("host starts");
        (host, dir)
    })
    .0
    .clone()
}

pub(crate) fn step(content: &str) -> DetectorInput {
    DetectorInput {
        step: StepUnderReview {
            step_number: Some(3),
            kind: "analysis".into(),
            content: content.into(),
        },
        previous: vec![Arc::new(PriorStep {
            step_number: 1,
            kind: "thought".into(),
            content: "What limits the cache hit rate?".into(),
        })],
        synthesis: None,
    }
}
