//! EC2 API handlers, one file per resource, and what they share: input access, filters,
//! pagination, tags, DryRun and ClientToken.
//!
//! Each resource file exposes `OPERATIONS`, a table of `(operation, handler)`; [`find`] looks
//! an operation up across all of them.

mod address;
pub(crate) mod defaults;
mod filter;
pub(crate) mod image;
pub(crate) mod instance_type;
pub(crate) mod instance;
mod internet_gateway;
mod key_pair;
pub(crate) mod network_acl;
mod network_interface;
mod region;
mod route_table;
mod security_group;
mod subnet;
mod tags;
mod vpc;

use fogbank_core::Context;
use fogbank_state::{Scope, Store, StoreError};
use fogbank_wire::AwsError;
use serde_json::Value;

pub(crate) use filter::{describe, DescribeSpec};

use crate::Options;

/// What a handler sees.
pub struct Env<'a> {
    pub store: &'a Store,
    pub options: &'a Options,
    pub ctx: &'a Context,
    /// The host substrate, when instances are real (read-only use: console output).
    pub network: Option<&'a crate::host::Network>,
}

impl Env<'_> {
    pub fn scope(&self) -> Scope {
        Scope::new(&self.ctx.account, &self.ctx.region)
    }

    /// Runs a write transaction, mapping store failures to an AWS `InternalError`.
    pub fn write<R>(&self, f: impl FnOnce(&mut fogbank_state::Tx) -> Result<R, AwsError>) -> Result<R, AwsError> {
        self.store.write(|tx| f(tx).map_err(HandlerError::Aws)).map_err(|e| match e {
            HandlerError::Aws(e) => e,
            HandlerError::Store(e) => {
                tracing::error!(error = %e, "state store write failed");
                AwsError::new("InternalError", "An internal error has occurred").with_status(500)
            }
        })
    }
}

enum HandlerError {
    Aws(AwsError),
    Store(StoreError),
}

impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        HandlerError::Store(e)
    }
}

pub type Handler = fn(&Env, Value) -> Result<Value, AwsError>;

const TABLES: &[&[(&str, Handler)]] = &[
    region::OPERATIONS,
    vpc::OPERATIONS,
    subnet::OPERATIONS,
    internet_gateway::OPERATIONS,
    route_table::OPERATIONS,
    security_group::OPERATIONS,
    instance::OPERATIONS,
    address::OPERATIONS,
    image::OPERATIONS,
    instance_type::OPERATIONS,
    key_pair::OPERATIONS,
    network_acl::OPERATIONS,
    network_interface::OPERATIONS,
    tags::OPERATIONS,
];

/// The handler of an operation, if Fogbank implements it.
pub fn find(operation: &str) -> Option<Handler> {
    TABLES.iter().flat_map(|t| t.iter()).find(|(name, _)| *name == operation).map(|(_, h)| *h)
}

/// Store kinds, by the id prefix AWS uses.
pub mod kind {
    pub const VPC: &str = "vpc";
    pub const SUBNET: &str = "subnet";
    pub const IGW: &str = "internet-gateway";
    pub const ROUTE_TABLE: &str = "route-table";
    pub const SECURITY_GROUP: &str = "security-group";
    pub const SECURITY_GROUP_RULE: &str = "security-group-rule";
    pub const INSTANCE: &str = "instance";
    pub const IMAGE: &str = "image";
    pub const KEY_PAIR: &str = "key-pair";
    pub const NETWORK_ACL: &str = "network-acl";
    pub const DHCP_OPTIONS: &str = "dhcp-options";
    pub const ELASTIC_IP: &str = "elastic-ip";
    pub const CLIENT_TOKEN: &str = "client-token";
    pub const SCOPE: &str = "scope";

    /// The kind of a resource id, from its prefix (`vpc-...` is a VPC).
    pub fn of_id(id: &str) -> Option<&'static str> {
        let prefix = id.split('-').next()?;
        Some(match prefix {
            "vpc" => VPC,
            "subnet" => SUBNET,
            "igw" => IGW,
            "rtb" => ROUTE_TABLE,
            "sg" => SECURITY_GROUP,
            "sgr" => SECURITY_GROUP_RULE,
            "i" => INSTANCE,
            "ami" => IMAGE,
            "key" => KEY_PAIR,
            "acl" => NETWORK_ACL,
            "dopt" => DHCP_OPTIONS,
            "eipalloc" => ELASTIC_IP,
            _ => return None,
        })
    }
}

/// Reading members of an input value.
pub trait InputExt {
    fn str(&self, name: &str) -> Option<&str>;
    fn bool(&self, name: &str) -> Option<bool>;
    fn int(&self, name: &str) -> Option<i64>;
    fn strings(&self, name: &str) -> Vec<String>;
    fn list(&self, name: &str) -> &[Value];
}

impl InputExt for Value {
    fn str(&self, name: &str) -> Option<&str> {
        self.get(name)?.as_str()
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name)?.as_bool()
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name)?.as_i64()
    }
    fn strings(&self, name: &str) -> Vec<String> {
        self.list(name).iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }
    fn list(&self, name: &str) -> &[Value] {
        self.get(name).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Answers `DryRunOperation` when the input asks for a dry run. Call after validation.
pub fn dry_run(input: &Value) -> Result<(), AwsError> {
    if input.bool("DryRun") == Some(true) {
        return Err(AwsError::dry_run());
    }
    Ok(())
}

/// `InvalidParameterValue` with AWS's wording.
pub fn invalid_value(param: &str, value: &str, why: &str) -> AwsError {
    AwsError::new("InvalidParameterValue", format!("Value ({value}) for parameter {param} is invalid. {why}"))
}

pub fn missing(param: &str) -> AwsError {
    AwsError::new("MissingParameter", format!("The request must contain the parameter {param}"))
}

/// `<Code>.NotFound` for ids that do not exist, worded as EC2 words it.
pub fn not_found(code: &str, noun: &str, ids: &[String]) -> AwsError {
    let message = if ids.len() == 1 {
        format!("The {noun} ID '{}' does not exist", ids[0])
    } else {
        format!("The {noun} IDs '{}' do not exist", ids.join(", "))
    };
    AwsError::new(code, message)
}

/// `<Code>.Malformed` for ids that are not of the resource's format.
pub fn check_id_format(id: &str, prefix: &str, code: &str) -> Result<(), AwsError> {
    if fogbank_core::ids::is_well_formed(id, prefix) {
        Ok(())
    } else {
        Err(AwsError::new(code, format!("Invalid id: \"{id}\" (expecting \"{prefix}-...\")")))
    }
}

/// Tags requested for a resource type through `TagSpecifications`.
pub fn tags_for(input: &Value, resource_type: &str) -> Result<Vec<Value>, AwsError> {
    let mut out = Vec::new();
    for spec in input.list("TagSpecifications") {
        let rt = spec.str("ResourceType").unwrap_or_default();
        if rt != resource_type {
            continue;
        }
        for tag in spec.list("Tags") {
            out.push(tags::validated_tag(tag)?);
        }
    }
    Ok(out)
}

/// Checks that every `TagSpecifications` entry names a resource type this operation creates.
pub fn check_tag_specs(input: &Value, allowed: &[&str]) -> Result<(), AwsError> {
    for spec in input.list("TagSpecifications") {
        let rt = spec.str("ResourceType").unwrap_or_default();
        if !allowed.contains(&rt) {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("'{rt}' is not a valid taggable resource type for this operation."),
            ));
        }
    }
    Ok(())
}

/// Returns the stored answer of an earlier call with the same `ClientToken`, if any.
pub fn replay(env: &Env, operation: &str, input: &Value) -> Option<Value> {
    let token = input.str("ClientToken")?;
    let doc = env.store.get(&env.scope(), kind::CLIENT_TOKEN, &format!("{operation}:{token}"))?;
    doc.get("response").cloned()
}

/// Records the answer for a `ClientToken` inside the same transaction as the change.
pub fn remember(tx: &mut fogbank_state::Tx, env: &Env, operation: &str, input: &Value, response: &Value) {
    if let Some(token) = input.str("ClientToken") {
        tx.put(
            &env.scope(),
            kind::CLIENT_TOKEN,
            &format!("{operation}:{token}"),
            serde_json::json!({ "response": response, "created": fogbank_wire::time::now_millis() }),
        );
    }
}

/// The `_fb` bookkeeping member of a stored document.
pub fn fb(doc: &Value) -> &Value {
    doc.get("_fb").unwrap_or(&Value::Null)
}

/// Runs `f` with an environment on a fresh in-memory store whose default VPC exists.
#[cfg(test)]
pub(crate) fn with_test_env<R>(f: impl FnOnce(&Env) -> R) -> R {
    let store = Store::open(None).expect("store");
    let options = Options::default();
    let ctx = Context {
        account: "000000000000".into(),
        region: "us-east-1".into(),
        request_id: "r".into(),
        access_key: None,
    };
    defaults::ensure(&store, &ctx).expect("defaults");
    f(&Env { store: &store, options: &options, ctx: &ctx, network: None })
}
