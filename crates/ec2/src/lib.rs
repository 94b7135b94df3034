#![recursion_limit = "256"]
//! EC2 and VPC.
//!
//! `api/` holds one file per resource: its handlers validate input, write desired state to the
//! store in one transaction and answer in the shape of the model. `controller.rs` moves
//! instances through their states (today on the records substrate: no real hosts yet).
//! Documents are stored in the shape of the EC2 model (`Vpc`, `Instance`, ...), so describing
//! is filtering and copying; Fogbank's own bookkeeping sits under the `_fb` key, which the wire
//! layer never renders because no model shape has that member.
//!
//! Start reading at [`Ec2::service`] and `api/mod.rs`.

mod api;
mod controller;
/// IPv4 and CIDR arithmetic.
pub mod net;

use std::sync::Arc;

use fogbank_core::{Context, Controller, Service};
use fogbank_state::Store;
use fogbank_wire::AwsError;
use serde_json::Value;

/// Start-up options of the EC2 service.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Unknown AMI ids fail with `InvalidAMIID.NotFound` instead of running the default image.
    pub strict_amis: bool,
}

/// The EC2 service: its API and its controllers share one store.
pub struct Ec2 {
    store: Arc<Store>,
    options: Options,
}

impl Ec2 {
    pub fn new(store: Arc<Store>, options: Options) -> Arc<Ec2> {
        Arc::new(Ec2 { store, options })
    }

    /// The API, to register with the server.
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Ec2Api(self.clone()))
    }

    /// The reconcile loops.
    pub fn controllers(self: &Arc<Self>) -> Vec<Arc<dyn Controller>> {
        vec![Arc::new(controller::InstanceController::new(self.store.clone()))]
    }
}

struct Ec2Api(Arc<Ec2>);

impl Service for Ec2Api {
    fn model_name(&self) -> &'static str {
        "ec2"
    }

    fn implements(&self, operation: &str) -> bool {
        api::find(operation).is_some()
    }

    fn ensure_scope(&self, ctx: &Context) -> Result<(), AwsError> {
        api::defaults::ensure(&self.0.store, ctx)
    }

    fn handle(&self, ctx: &Context, operation: &str, input: Value) -> Result<Value, AwsError> {
        let handler = api::find(operation).ok_or_else(|| AwsError::not_implemented("ec2", operation))?;
        handler(&api::Env { store: &self.0.store, options: &self.0.options, ctx }, input)
    }
}
