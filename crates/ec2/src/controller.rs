//! The instance controller.
use std::sync::Arc;
use std::time::Duration;

use fogbank_core::Controller;
use fogbank_state::Store;

pub struct InstanceController {
    store: Arc<Store>,
}

impl InstanceController {
    pub fn new(store: Arc<Store>) -> Self {
        InstanceController { store }
    }
}

impl Controller for InstanceController {
    fn name(&self) -> &'static str {
        "instances"
    }
    fn reconcile(&self) -> Duration {
        let _ = &self.store;
        Duration::from_secs(1)
    }
}
