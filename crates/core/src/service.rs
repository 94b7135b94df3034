use std::sync::Arc;
use std::time::Duration;

use fogbank_state::Store;
use fogbank_wire::AwsError;
use serde_json::Value;

/// Who is asking, where, and under which request id.
#[derive(Debug, Clone)]
pub struct Context {
    pub account: String,
    pub region: String,
    pub request_id: String,
    pub access_key: Option<String>,
}

/// A service's API: validated input in, output or an AWS error out. Handlers write desired
/// state to the store and answer; they never touch processes, namespaces or sockets.
pub trait Service: Send + Sync {
    /// The botocore model name this service answers for (`ec2`, `sts`).
    fn model_name(&self) -> &'static str;
    /// Whether `operation` has a handler; the others answer 501 `NotImplemented`.
    fn implements(&self, operation: &str) -> bool;
    /// Handles one operation.
    fn handle(&self, ctx: &Context, operation: &str, input: Value) -> Result<Value, AwsError>;
    /// Prepares a fresh account/region scope (EC2's default VPC), called before each request;
    /// must be cheap when already done.
    fn ensure_scope(&self, _ctx: &Context) -> Result<(), AwsError> {
        Ok(())
    }
}

/// A reconcile loop: converges the real world to the stored desired state.
pub trait Controller: Send + Sync {
    fn name(&self) -> &'static str;
    /// Reconciles every object it owns once; returns when to run again at the latest (it also
    /// runs after every committed write).
    fn reconcile(&self) -> Duration;
    /// Called once at clean shutdown: remove what it created outside the store.
    fn shutdown(&self) {}
}

/// Everything the server runs: the store, the services, the controllers.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<Store>,
    pub services: Vec<Arc<dyn Service>>,
    pub controllers: Vec<Arc<dyn Controller>>,
}

impl Services {
    pub fn find(&self, model_name: &str) -> Option<&Arc<dyn Service>> {
        self.services.iter().find(|s| s.model_name() == model_name)
    }
}
