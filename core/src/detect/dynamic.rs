//! Detectors that come and go while Lux runs (enabled WASM plugins): a shared, swappable set the
//! [`super::DetectorRegistry`] runs after its fixed detectors, so installing or disabling a plugin
//! takes effect on the next step write without rebuilding `Lux` or restarting the server.

use std::sync::{Arc, RwLock};

use super::RegisteredDetector;

/// A handle on the swappable set; clones share it. Readers take a snapshot (an `Arc` clone under a
/// read lock held for nanoseconds), so a swap never waits for a running analysis and an analysis
/// never sees half a swap.
#[derive(Debug, Clone, Default)]
pub struct DynamicDetectors {
    current: Arc<RwLock<Arc<Vec<RegisteredDetector>>>>,
}

impl DynamicDetectors {
    /// The set as it is now.
    pub fn snapshot(&self) -> Arc<Vec<RegisteredDetector>> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            // A writer cannot panic between taking the lock and storing an Arc, so the value is
            // whole even if the lock is poisoned.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the whole set; analyses already running keep the set they started with.
    pub fn replace(&self, detectors: Vec<RegisteredDetector>) {
        let detectors = Arc::new(detectors);
        match self.current.write() {
            Ok(mut guard) => *guard = detectors,
            Err(poisoned) => *poisoned.into_inner() = detectors,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.snapshot().is_empty()
    }
}
