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
/// The data-plane servers each VPC runs: instance metadata and DNS.
pub mod dataplane;
/// Stored state to the network substrate.
mod host;
/// IPv4 and CIDR arithmetic.
pub mod net;

use std::sync::Arc;

pub use host::{Host, StartingSubstrate};

use fogbank_core::{Context, Controller, Service};
use fogbank_state::Store;
use fogbank_wire::AwsError;
use serde_json::Value;

/// Start-up options of the EC2 service.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Unknown AMI ids fail with `InvalidAMIID.NotFound` instead of running the default image.
    pub strict_amis: bool,
    /// Where public IPs come from (default 198.18.0.0/15, reserved for benchmarking, routed
    /// nowhere).
    pub public_range: Option<net::Cidr>,
}

/// The default public address range.
pub const DEFAULT_PUBLIC_RANGE: &str = "198.18.0.0/15";

impl Options {
    pub fn public_range(&self) -> net::Cidr {
        self.public_range.unwrap_or_else(|| net::Cidr::parse(DEFAULT_PUBLIC_RANGE).expect("literal"))
    }
}

/// The EC2 service: its API and its controllers share one store.
pub struct Ec2 {
    store: Arc<Store>,
    options: Options,
    /// Real hosts, when the machine allows; `None` keeps instances as records.
    network: Option<Arc<host::Network>>,
}

impl Ec2 {
    pub fn new(store: Arc<Store>, options: Options, host: Option<Host>) -> Arc<Ec2> {
        let network = host.map(|h| Arc::new(host::Network::new(h, store.clone())));
        Arc::new(Ec2 { store, options, network })
    }

    /// The API, to register with the server.
    pub fn service(self: &Arc<Self>) -> Arc<dyn Service> {
        Arc::new(Ec2Api(self.clone()))
    }

    /// The reconcile loops.
    pub fn controllers(self: &Arc<Self>) -> Vec<Arc<dyn Controller>> {
        vec![Arc::new(controller::InstanceController::new(self.store.clone(), self.network.clone()))]
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
        let env = api::Env { store: &self.0.store, options: &self.0.options, ctx, network: self.0.network.as_deref() };
        handler(&env, input)
    }
}
