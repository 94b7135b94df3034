//! Route tables: CreateRouteTable, DeleteRouteTable, DescribeRouteTables, CreateRoute,
//! DeleteRoute, ReplaceRoute, AssociateRouteTable, DisassociateRouteTable.

use fogbank_core::ids;
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{kind, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[];

/// A new VPC's main route table, with its `local` route.
pub fn main_table_doc(env: &Env, vpc_id: &str, vpc_cidr: &str) -> Value {
    let mut doc = table_doc(env, vpc_id, vpc_cidr, vec![]);
    let id = doc.str("RouteTableId").unwrap_or_default().to_string();
    doc["Associations"] = json!([{
        "Main": true,
        "RouteTableAssociationId": ids::resource_id("rtbassoc"),
        "RouteTableId": id,
        "AssociationState": {"State": "associated"},
    }]);
    doc
}

/// A route table document with the `local` route.
pub fn table_doc(env: &Env, vpc_id: &str, vpc_cidr: &str, tags: Vec<Value>) -> Value {
    let id = ids::resource_id("rtb");
    json!({
        "RouteTableId": id,
        "VpcId": vpc_id,
        "OwnerId": env.ctx.account,
        "Associations": [],
        "PropagatingVgws": [],
        "Routes": [{
            "DestinationCidrBlock": vpc_cidr,
            "GatewayId": "local",
            "Origin": "CreateRouteTable",
            "State": "active",
        }],
        "Tags": tags,
    })
}

/// Whether a route table is its VPC's main table.
pub fn is_main(doc: &Value) -> bool {
    doc.list("Associations").iter().any(|a| a.bool("Main") == Some(true))
}

/// Adds a route to a VPC's main route table (default VPC set-up).
pub fn add_route_to_main_in_tx(tx: &mut Tx, env: &Env, vpc_id: &str, destination: &str, target: Value) {
    let scope = env.scope();
    let main = tx
        .list(&scope, kind::ROUTE_TABLE)
        .find(|(_, d)| d.str("VpcId") == Some(vpc_id) && is_main(d))
        .map(|(id, _)| id.to_string());
    if let Some(id) = main {
        if let Some(doc) = tx.get_mut(&scope, kind::ROUTE_TABLE, &id) {
            let mut route = json!({"DestinationCidrBlock": destination, "Origin": "CreateRoute", "State": "active"});
            if let (Some(r), Some(t)) = (route.as_object_mut(), target.as_object()) {
                r.extend(t.clone());
            }
            if let Some(routes) = doc.get_mut("Routes").and_then(Value::as_array_mut) {
                routes.push(route);
            }
        }
    }
}
