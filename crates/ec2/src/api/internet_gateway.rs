//! Internet gateways: CreateInternetGateway, DeleteInternetGateway,
//! DescribeInternetGateways, AttachInternetGateway, DetachInternetGateway.

use fogbank_core::ids;
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{kind, Env, Handler};

pub const OPERATIONS: &[(&str, Handler)] = &[];

/// Creates an internet gateway document inside `tx`.
pub fn create_in_tx(tx: &mut Tx, env: &Env, tags: Vec<Value>) -> Value {
    let id = ids::resource_id("igw");
    let doc = json!({
        "Attachments": [],
        "InternetGatewayId": id,
        "OwnerId": env.ctx.account,
        "Tags": tags,
    });
    tx.put(&env.scope(), kind::IGW, &id, doc.clone());
    doc
}

/// Attaches (checks done by the caller).
pub fn attach_in_tx(tx: &mut Tx, env: &Env, igw_id: &str, vpc_id: &str) {
    if let Some(doc) = tx.get_mut(&env.scope(), kind::IGW, igw_id) {
        doc["Attachments"] = json!([{"State": "available", "VpcId": vpc_id}]);
    }
}
