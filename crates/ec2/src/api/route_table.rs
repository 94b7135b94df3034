//! Route tables: CreateRouteTable, DeleteRouteTable, DescribeRouteTables, CreateRoute,
//! DeleteRoute, ReplaceRoute, AssociateRouteTable, DisassociateRouteTable,
//! ReplaceRouteTableAssociation.
//!
//! A table's routes and associations live in its document (`Routes`, `Associations`), in the
//! shape of the model's `RouteTable`. A route has one destination (`DestinationCidrBlock`,
//! `DestinationIpv6CidrBlock` or `DestinationPrefixListId`) and one target member
//! (`GatewayId`, `InstanceId`, `NatGatewayId`, ...); the `local` routes have
//! `GatewayId: local` and `Origin: CreateRouteTable`. Routes to an internet gateway are
//! `blackhole` while the gateway is not attached to the table's VPC.

use std::collections::HashMap;

use fogbank_core::ids;
use fogbank_state::{Scope, Tx};
use fogbank_wire::AwsError;
use serde_json::{json, Map, Value};

use super::{describe, kind, DescribeSpec, Env, Handler, InputExt};
use crate::net::Cidr;

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateRouteTable", create_route_table),
    ("DeleteRouteTable", delete_route_table),
    ("DescribeRouteTables", describe_route_tables),
    ("CreateRoute", create_route),
    ("ReplaceRoute", replace_route),
    ("DeleteRoute", delete_route),
    ("AssociateRouteTable", associate_route_table),
    ("DisassociateRouteTable", disassociate_route_table),
    ("ReplaceRouteTableAssociation", replace_route_table_association),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::ROUTE_TABLE,
    ids_member: Some("RouteTableIds"),
    not_found: ("InvalidRouteTableID.NotFound", "routeTable"),
    filters: &[
        ("association.gateway-id", "Associations[].GatewayId"),
        ("association.main", "Associations[].Main"),
        ("association.route-table-association-id", "Associations[].RouteTableAssociationId"),
        ("association.route-table-id", "Associations[].RouteTableId"),
        ("association.subnet-id", "Associations[].SubnetId"),
        ("owner-id", "OwnerId"),
        ("route-table-id", "RouteTableId"),
        ("route.destination-cidr-block", "Routes[].DestinationCidrBlock"),
        ("route.destination-ipv6-cidr-block", "Routes[].DestinationIpv6CidrBlock"),
        ("route.destination-prefix-list-id", "Routes[].DestinationPrefixListId"),
        ("route.egress-only-internet-gateway-id", "Routes[].EgressOnlyInternetGatewayId"),
        ("route.gateway-id", "Routes[].GatewayId"),
        ("route.instance-id", "Routes[].InstanceId"),
        ("route.nat-gateway-id", "Routes[].NatGatewayId"),
        ("route.transit-gateway-id", "Routes[].TransitGatewayId"),
        ("route.origin", "Routes[].Origin"),
        ("route.state", "Routes[].State"),
        ("route.vpc-peering-connection-id", "Routes[].VpcPeeringConnectionId"),
        ("vpc-id", "VpcId"),
    ],
    id_filter: Some("route-table-id"),
    page_limits: Some((5, 100)),
};

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
        "Routes": [local_route(vpc_cidr)],
        "Tags": tags,
    })
}

fn local_route(cidr: &str) -> Value {
    json!({"DestinationCidrBlock": cidr, "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"})
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

/// Sets the state of the routes to an internet gateway in a VPC's tables: `active` when it
/// is attached, `blackhole` when it is detached or deleted.
pub fn set_gateway_route_state_in_tx(tx: &mut Tx, scope: &Scope, vpc_id: &str, gateway_id: &str, state: &str) {
    let tables: Vec<String> = tx
        .list(scope, kind::ROUTE_TABLE)
        .filter(|(_, d)| d.str("VpcId") == Some(vpc_id))
        .filter(|(_, d)| d.list("Routes").iter().any(|r| r.str("GatewayId") == Some(gateway_id)))
        .map(|(id, _)| id.to_string())
        .collect();
    for id in tables {
        if let Some(routes) = tx.get_mut(scope, kind::ROUTE_TABLE, &id).and_then(|d| d.get_mut("Routes")).and_then(Value::as_array_mut) {
            for r in routes.iter_mut().filter(|r| r.str("GatewayId") == Some(gateway_id)) {
                r["State"] = json!(state);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pure route logic.

/// The destination members of a route, in the order they are looked for.
const DESTINATIONS: &[(&str, &str)] = &[
    ("DestinationCidrBlock", "destination-cidr-block"),
    ("DestinationIpv6CidrBlock", "destination-ipv6-cidr-block"),
    ("DestinationPrefixListId", "destination-prefix-list-id"),
];

/// The target members of CreateRoute/ReplaceRoute: the member, the id prefixes it takes,
/// and the error code and noun for ids that do not exist.
const TARGETS: &[(&str, &[&str], &str, &str)] = &[
    ("GatewayId", &["igw", "vgw"], "InvalidGatewayID.NotFound", "gateway"),
    ("NatGatewayId", &["nat"], "InvalidNatGatewayID.NotFound", "natGateway"),
    ("InstanceId", &["i"], "InvalidInstanceID.NotFound", "instance"),
    ("NetworkInterfaceId", &["eni"], "InvalidNetworkInterfaceID.NotFound", "networkInterface"),
    ("VpcPeeringConnectionId", &["pcx"], "InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection"),
    ("TransitGatewayId", &["tgw"], "InvalidTransitGatewayID.NotFound", "transitGateway"),
    ("EgressOnlyInternetGatewayId", &["eigw"], "InvalidGatewayID.NotFound", "gateway"),
    ("LocalGatewayId", &["lgw"], "InvalidLocalGatewayID.NotFound", "localGateway"),
    ("CarrierGatewayId", &["cagw"], "InvalidCarrierGatewayID.NotFound", "carrierGateway"),
    ("VpcEndpointId", &["vpce"], "InvalidVpcEndpointId.NotFound", "vpcEndpoint"),
];

/// Every member a route may name its target with (all are cleared when a route is replaced).
const TARGET_MEMBERS: &[&str] = &[
    "GatewayId", "NatGatewayId", "InstanceId", "InstanceOwnerId", "NetworkInterfaceId", "VpcPeeringConnectionId",
    "TransitGatewayId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId", "CoreNetworkArn",
];

/// The destination a request names: `(member, canonical value)`.
pub fn parse_destination(input: &Value) -> Result<(&'static str, String), AwsError> {
    if let Some(text) = input.str("DestinationCidrBlock") {
        let cidr = Cidr::parse(text)
            .filter(|c| text.contains('/') && c.is_network_address())
            .ok_or_else(|| super::invalid_value("destinationCidrBlock", text, "This is not a valid CIDR block."))?;
        return Ok(("DestinationCidrBlock", cidr.to_string()));
    }
    if let Some(text) = input.str("DestinationIpv6CidrBlock") {
        let canonical = parse_ipv6_cidr(text)
            .ok_or_else(|| super::invalid_value("destinationIpv6CidrBlock", text, "This is not a valid IPv6 CIDR block."))?;
        return Ok(("DestinationIpv6CidrBlock", canonical));
    }
    if let Some(p) = input.str("DestinationPrefixListId") {
        return Ok(("DestinationPrefixListId", p.to_string()));
    }
    Err(AwsError::new(
        "MissingParameter",
        "The request must contain the parameter destinationCidrBlock or destinationIpv6CidrBlock",
    ))
}

fn parse_ipv6_cidr(text: &str) -> Option<String> {
    let (addr, prefix) = text.trim().split_once('/')?;
    let addr: std::net::Ipv6Addr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 128)?;
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    let net = std::net::Ipv6Addr::from(u128::from(addr) & mask);
    Some(format!("{net}/{prefix}"))
}

/// The single target a request names: `(member, id)`.
pub fn requested_target(input: &Value) -> Result<(&'static str, String), AwsError> {
    let given: Vec<(&'static str, String)> =
        TARGETS.iter().filter_map(|(m, ..)| input.str(m).map(|v| (*m, v.to_string()))).collect();
    let all = "gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, \
               transitGatewayId, localGatewayId, carrierGatewayId, vpcEndpointId or instanceId";
    match given.len() {
        1 => Ok(given.into_iter().next().unwrap_or_default()),
        0 => Err(AwsError::new("MissingParameter", format!("The request must contain exactly one of {all}"))),
        _ => Err(AwsError::new("InvalidParameterCombination", format!("The request must contain exactly one of {all}"))),
    }
}

/// The index of the route to a destination, if the table has one.
pub fn find_route(doc: &Value, member: &str, destination: &str) -> Option<usize> {
    doc.list("Routes").iter().position(|r| r.str(member) == Some(destination))
}

/// The filter-style name of a destination member (`destination-cidr-block`).
fn destination_label(member: &str) -> &'static str {
    DESTINATIONS.iter().find(|(m, _)| *m == member).map(|(_, l)| *l).unwrap_or("destination-cidr-block")
}

// ---------------------------------------------------------------------------------------------
// Lookups inside a transaction.

fn table_not_found(id: &str) -> AwsError {
    super::not_found("InvalidRouteTableID.NotFound", "routeTable", &[id.to_string()])
}

fn get_table(tx: &Tx, scope: &Scope, id: &str) -> Result<Value, AwsError> {
    tx.get(scope, kind::ROUTE_TABLE, id).cloned().ok_or_else(|| table_not_found(id))
}

fn vpc_cidrs(tx: &Tx, scope: &Scope, vpc_id: &str) -> Vec<String> {
    tx.get(scope, kind::VPC, vpc_id)
        .map(|v| v.list("CidrBlockAssociationSet").iter().filter_map(|a| a.str("CidrBlock").map(str::to_string)).collect())
        .unwrap_or_default()
}

fn instance_is_up(doc: &Value) -> bool {
    !matches!(
        doc.pointer("/State/Name").and_then(Value::as_str),
        Some("stopped" | "stopping" | "terminated" | "shutting-down")
    )
}

/// The route members for a target, after checking it exists and may be used by `table`.
fn target_members(tx: &Tx, scope: &Scope, env: &Env, table: &Value, member: &str, id: &str) -> Result<Map<String, Value>, AwsError> {
    let rtb = table.str("RouteTableId").unwrap_or_default();
    let vpc_id = table.str("VpcId").unwrap_or_default();
    let (_, prefixes, code, noun) = TARGETS.iter().find(|(m, ..)| *m == member).copied().unwrap_or(TARGETS[0]);
    let prefix = id.split('-').next().unwrap_or_default();
    let doc = if prefixes.contains(&prefix) { kind::of_id(id).and_then(|k| tx.get(scope, k, id)) } else { None };
    let Some(doc) = doc else { return Err(super::not_found(code, noun, &[id.to_string()])) };
    let mut out = Map::new();
    out.insert(member.to_string(), json!(id));
    let mut state = "active";
    match member {
        "GatewayId" if prefix == "igw" => {
            if !doc.list("Attachments").iter().any(|a| a.str("VpcId") == Some(vpc_id)) {
                return Err(AwsError::new(
                    "InvalidParameterValue",
                    format!("route table {rtb} and network gateway {id} belong to different networks"),
                ));
            }
        }
        "InstanceId" => {
            if doc.str("VpcId").is_some_and(|v| v != vpc_id) {
                return Err(AwsError::new(
                    "InvalidParameterValue",
                    format!("route table {rtb} and instance {id} belong to different networks"),
                ));
            }
            out.insert("InstanceOwnerId".into(), json!(env.ctx.account));
            if let Some(eni) = doc.list("NetworkInterfaces").first().and_then(|n| n.str("NetworkInterfaceId")) {
                out.insert("NetworkInterfaceId".into(), json!(eni));
            }
            if !instance_is_up(doc) {
                state = "blackhole";
            }
        }
        _ => {}
    }
    out.insert("State".into(), json!(state));
    Ok(out)
}

/// Where an association id is: `(table id, index in Associations)`.
fn find_association(tx: &Tx, scope: &Scope, association_id: &str) -> Option<(String, usize)> {
    tx.list(scope, kind::ROUTE_TABLE).find_map(|(id, d)| {
        d.list("Associations")
            .iter()
            .position(|a| a.str("RouteTableAssociationId") == Some(association_id))
            .map(|i| (id.to_string(), i))
    })
}

fn association_not_found(id: &str) -> AwsError {
    AwsError::new("InvalidAssociationID.NotFound", format!("The association ID '{id}' does not exist"))
}

// ---------------------------------------------------------------------------------------------
// Handlers.

fn create_route_table(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    super::check_tag_specs(&input, &["route-table"])?;
    let tags = super::tags_for(&input, "route-table")?;
    if let Some(previous) = super::replay(env, "CreateRouteTable", &input) {
        return Ok(previous);
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        let cidrs = vpc_cidrs(tx, &scope, &vpc_id);
        let mut doc = table_doc(env, &vpc_id, cidrs.first().map(String::as_str).unwrap_or_default(), tags.clone());
        if let Some(routes) = doc.get_mut("Routes").and_then(Value::as_array_mut) {
            routes.extend(cidrs.iter().skip(1).map(|c| local_route(c)));
        }
        let id = doc.str("RouteTableId").unwrap_or_default().to_string();
        tx.put(&scope, kind::ROUTE_TABLE, &id, doc.clone());
        let response = json!({"RouteTable": doc, "ClientToken": input.str("ClientToken")});
        super::remember(tx, env, "CreateRouteTable", &input, &response);
        Ok(response)
    })
}

fn delete_route_table(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("RouteTableId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let table = get_table(tx, &scope, &id)?;
        if !table.list("Associations").is_empty() {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("The routeTable '{id}' has dependencies and cannot be deleted."),
            ));
        }
        tx.delete(&scope, kind::ROUTE_TABLE, &id);
        Ok(())
    })?;
    Ok(json!({}))
}

/// Shows routes to instances as `blackhole` while the instance is not running.
fn table_view(env: &Env) -> impl Fn(&Value) -> Value {
    let mut up: HashMap<String, bool> = HashMap::new();
    env.store.scan(&env.scope(), kind::INSTANCE, |iter| {
        for (id, d) in iter {
            up.insert(id.to_string(), instance_is_up(d));
        }
    });
    move |doc: &Value| {
        let mut d = doc.clone();
        if let Some(routes) = d.get_mut("Routes").and_then(Value::as_array_mut) {
            for r in routes.iter_mut() {
                if let Some(i) = r.str("InstanceId").map(str::to_string) {
                    let state = if up.get(&i).copied().unwrap_or(false) { "active" } else { "blackhole" };
                    r["State"] = json!(state);
                }
            }
        }
        d
    }
}

fn describe_route_tables(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let view = table_view(env);
    let (tables, next) = describe(env, &input, &SPEC, Some(&view))?;
    Ok(json!({"RouteTables": tables, "NextToken": next}))
}

fn create_route(env: &Env, input: Value) -> Result<Value, AwsError> {
    let rtb = input.str("RouteTableId").unwrap_or_default().to_string();
    let (dest_member, destination) = parse_destination(&input)?;
    let (target_member, target_id) = requested_target(&input)?;
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let table = get_table(tx, &scope, &rtb)?;
        if find_route(&table, dest_member, &destination).is_some() {
            return Err(AwsError::new("RouteAlreadyExists", format!("The route identified by {destination} already exists.")));
        }
        let members = target_members(tx, &scope, env, &table, target_member, &target_id)?;
        let mut route = Map::new();
        route.insert(dest_member.to_string(), json!(destination));
        route.extend(members);
        route.insert("Origin".into(), json!("CreateRoute"));
        if let Some(routes) = tx.get_mut(&scope, kind::ROUTE_TABLE, &rtb).and_then(|d| d.get_mut("Routes")).and_then(Value::as_array_mut) {
            routes.push(Value::Object(route));
        }
        Ok(())
    })?;
    Ok(json!({"Return": true}))
}

fn no_route(rtb: &str, member: &str, destination: &str) -> AwsError {
    AwsError::new(
        "InvalidRoute.NotFound",
        format!("no route with {} {destination} in route table {rtb}", destination_label(member)),
    )
}

fn replace_route(env: &Env, input: Value) -> Result<Value, AwsError> {
    let rtb = input.str("RouteTableId").unwrap_or_default().to_string();
    let (dest_member, destination) = parse_destination(&input)?;
    let local = input.bool("LocalTarget") == Some(true);
    let target = if local { None } else { Some(requested_target(&input)?) };
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let table = get_table(tx, &scope, &rtb)?;
        let Some(index) = find_route(&table, dest_member, &destination) else {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("There is no route defined for '{destination}' in the route table. Use CreateRoute instead."),
            ));
        };
        let is_local_route = table.list("Routes")[index].str("Origin") == Some("CreateRouteTable");
        let members = match &target {
            None => {
                if !is_local_route {
                    return Err(AwsError::new(
                        "InvalidParameterValue",
                        format!("The route identified by {destination} is not a local route; it cannot target local."),
                    ));
                }
                let mut m = Map::new();
                m.insert("GatewayId".into(), json!("local"));
                m.insert("State".into(), json!("active"));
                m
            }
            Some((member, id)) => {
                if is_local_route && !matches!(*member, "NetworkInterfaceId" | "InstanceId" | "VpcEndpointId") {
                    return Err(AwsError::new(
                        "InvalidParameterValue",
                        format!("The local route {destination} in route table {rtb} can only target a network interface, an instance or a VPC endpoint."),
                    ));
                }
                target_members(tx, &scope, env, &table, member, id)?
            }
        };
        if let Some(route) = tx
            .get_mut(&scope, kind::ROUTE_TABLE, &rtb)
            .and_then(|d| d.get_mut("Routes"))
            .and_then(Value::as_array_mut)
            .and_then(|r| r.get_mut(index))
            .and_then(Value::as_object_mut)
        {
            for m in TARGET_MEMBERS {
                route.remove(*m);
            }
            route.extend(members);
        }
        Ok(())
    })?;
    Ok(json!({"Return": true}))
}

fn delete_route(env: &Env, input: Value) -> Result<Value, AwsError> {
    let rtb = input.str("RouteTableId").unwrap_or_default().to_string();
    let (dest_member, destination) = parse_destination(&input)?;
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let table = get_table(tx, &scope, &rtb)?;
        let Some(index) = find_route(&table, dest_member, &destination) else {
            return Err(no_route(&rtb, dest_member, &destination));
        };
        if table.list("Routes")[index].str("Origin") == Some("CreateRouteTable") {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("cannot remove local route {destination} in route table {rtb}"),
            ));
        }
        if let Some(routes) = tx.get_mut(&scope, kind::ROUTE_TABLE, &rtb).and_then(|d| d.get_mut("Routes")).and_then(Value::as_array_mut) {
            routes.remove(index);
        }
        Ok(())
    })?;
    Ok(json!({}))
}

fn associate_route_table(env: &Env, input: Value) -> Result<Value, AwsError> {
    let rtb = input.str("RouteTableId").unwrap_or_default().to_string();
    let subnet = input.str("SubnetId").map(str::to_string);
    let gateway = input.str("GatewayId").map(str::to_string);
    match (&subnet, &gateway) {
        (None, None) => {
            return Err(AwsError::new("MissingParameter", "The request must contain the parameter subnetId or gatewayId"))
        }
        (Some(_), Some(_)) => {
            return Err(AwsError::new(
                "InvalidParameterCombination",
                "The parameter subnetId cannot be used with the parameter gatewayId",
            ))
        }
        _ => {}
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    let association_id = env.write(|tx| {
        let table = get_table(tx, &scope, &rtb)?;
        let vpc_id = table.str("VpcId").unwrap_or_default().to_string();
        let (member, id) = match (&subnet, &gateway) {
            (Some(s), _) => {
                let doc = tx
                    .get(&scope, kind::SUBNET, s)
                    .ok_or_else(|| super::not_found("InvalidSubnetID.NotFound", "subnet", &[s.clone()]))?;
                if doc.str("VpcId") != Some(vpc_id.as_str()) {
                    return Err(AwsError::new(
                        "InvalidParameterValue",
                        format!("Route table {rtb} and subnet {s} belong to different networks"),
                    ));
                }
                ("SubnetId", s.clone())
            }
            (None, Some(g)) => {
                let doc = kind::of_id(g)
                    .filter(|k| *k == kind::IGW)
                    .and_then(|k| tx.get(&scope, k, g))
                    .ok_or_else(|| super::not_found("InvalidGatewayID.NotFound", "gateway", &[g.clone()]))?;
                if !doc.list("Attachments").iter().any(|a| a.str("VpcId") == Some(vpc_id.as_str())) {
                    return Err(AwsError::new(
                        "InvalidParameterValue",
                        format!("route table {rtb} and network gateway {g} belong to different networks"),
                    ));
                }
                ("GatewayId", g.clone())
            }
            (None, None) => unreachable!("checked before the transaction"),
        };
        let taken = tx
            .list(&scope, kind::ROUTE_TABLE)
            .any(|(_, d)| d.list("Associations").iter().any(|a| a.str(member) == Some(id.as_str())));
        if taken {
            return Err(AwsError::new(
                "Resource.AlreadyAssociated",
                format!("the specified association for route table {rtb} conflicts with an existing association"),
            ));
        }
        let association_id = ids::resource_id("rtbassoc");
        let association = json!({
            "Main": false,
            "RouteTableAssociationId": association_id,
            "RouteTableId": rtb,
            member: id,
            "AssociationState": {"State": "associated"},
        });
        if let Some(list) = tx.get_mut(&scope, kind::ROUTE_TABLE, &rtb).and_then(|d| d.get_mut("Associations")).and_then(Value::as_array_mut) {
            list.push(association);
        }
        Ok(association_id)
    })?;
    Ok(json!({"AssociationId": association_id, "AssociationState": {"State": "associated"}}))
}

fn disassociate_route_table(env: &Env, input: Value) -> Result<Value, AwsError> {
    let association_id = input.str("AssociationId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let (rtb, index) = find_association(tx, &scope, &association_id).ok_or_else(|| association_not_found(&association_id))?;
        let list = tx
            .get_mut(&scope, kind::ROUTE_TABLE, &rtb)
            .and_then(|d| d.get_mut("Associations"))
            .and_then(Value::as_array_mut)
            .ok_or_else(|| association_not_found(&association_id))?;
        if list[index].bool("Main") == Some(true) {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("cannot disassociate the main route table association {association_id}"),
            ));
        }
        list.remove(index);
        Ok(())
    })?;
    Ok(json!({}))
}

fn replace_route_table_association(env: &Env, input: Value) -> Result<Value, AwsError> {
    let association_id = input.str("AssociationId").unwrap_or_default().to_string();
    let new_rtb = input.str("RouteTableId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    let new_id = env.write(|tx| {
        let (old_rtb, index) = find_association(tx, &scope, &association_id).ok_or_else(|| association_not_found(&association_id))?;
        let new_table = get_table(tx, &scope, &new_rtb)?;
        let old_table = get_table(tx, &scope, &old_rtb)?;
        if new_table.str("VpcId") != old_table.str("VpcId") {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("Route table {new_rtb} and association {association_id} belong to different networks"),
            ));
        }
        let mut association = old_table.list("Associations")[index].clone();
        if let Some(list) = tx.get_mut(&scope, kind::ROUTE_TABLE, &old_rtb).and_then(|d| d.get_mut("Associations")).and_then(Value::as_array_mut) {
            list.remove(index);
        }
        let new_id = ids::resource_id("rtbassoc");
        association["RouteTableAssociationId"] = json!(new_id);
        association["RouteTableId"] = json!(new_rtb);
        association["AssociationState"] = json!({"State": "associated"});
        if let Some(list) = tx.get_mut(&scope, kind::ROUTE_TABLE, &new_rtb).and_then(|d| d.get_mut("Associations")).and_then(Value::as_array_mut) {
            list.push(association);
        }
        Ok(new_id)
    })?;
    Ok(json!({"NewAssociationId": new_id, "AssociationState": {"State": "associated"}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_canonical() {
        assert_eq!(
            parse_destination(&json!({"DestinationCidrBlock": "0.0.0.0/0"})).unwrap(),
            ("DestinationCidrBlock", "0.0.0.0/0".to_string())
        );
        assert_eq!(parse_destination(&json!({"DestinationCidrBlock": "10.0.0.1/16"})).unwrap_err().code, "InvalidParameterValue");
        assert!(parse_destination(&json!({"DestinationCidrBlock": "10.0.0.1"})).is_err());
        assert_eq!(
            parse_destination(&json!({"DestinationIpv6CidrBlock": "::/0"})).unwrap(),
            ("DestinationIpv6CidrBlock", "::/0".to_string())
        );
        assert_eq!(parse_destination(&json!({})).unwrap_err().code, "MissingParameter");
    }

    #[test]
    fn exactly_one_target() {
        assert_eq!(requested_target(&json!({"GatewayId": "igw-1"})).unwrap(), ("GatewayId", "igw-1".to_string()));
        assert_eq!(requested_target(&json!({})).unwrap_err().code, "MissingParameter");
        assert_eq!(
            requested_target(&json!({"GatewayId": "igw-1", "InstanceId": "i-1"})).unwrap_err().code,
            "InvalidParameterCombination"
        );
    }

    #[test]
    fn routes_are_found_by_destination() {
        let table = json!({"Routes": [local_route("10.0.0.0/16"),
            {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "Origin": "CreateRoute", "State": "active"}]});
        assert_eq!(find_route(&table, "DestinationCidrBlock", "0.0.0.0/0"), Some(1));
        assert_eq!(find_route(&table, "DestinationCidrBlock", "10.0.0.0/16"), Some(0));
        assert_eq!(find_route(&table, "DestinationIpv6CidrBlock", "0.0.0.0/0"), None);
        assert_eq!(
            no_route("rtb-1", "DestinationCidrBlock", "1.0.0.0/8").message,
            "no route with destination-cidr-block 1.0.0.0/8 in route table rtb-1"
        );
    }

    use crate::api::with_test_env as with_env;

    #[test]
    fn routes_and_associations() {
        with_env(|env| {
            let vpc_id = super::super::defaults::default_vpc_id(env.store, env).unwrap();
            let table = create_route_table(env, json!({"VpcId": vpc_id})).unwrap();
            let rtb = table["RouteTable"]["RouteTableId"].as_str().unwrap().to_string();
            assert_eq!(table["RouteTable"]["Routes"][0]["GatewayId"], "local");
            let igw = env.store.scan(&env.scope(), kind::IGW, |it| it.map(|(id, _)| id.to_string()).next()).unwrap();
            create_route(env, json!({"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw})).unwrap();
            let dup = create_route(env, json!({"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw}))
                .unwrap_err();
            assert_eq!(dup.message, "The route identified by 0.0.0.0/0 already exists.");
            let local = delete_route(env, json!({"RouteTableId": rtb, "DestinationCidrBlock": "172.31.0.0/16"})).unwrap_err();
            assert_eq!(local.message, format!("cannot remove local route 172.31.0.0/16 in route table {rtb}"));
            let subnet = env
                .store
                .scan(&env.scope(), kind::SUBNET, |it| it.map(|(id, _)| id.to_string()).next())
                .unwrap();
            let assoc = associate_route_table(env, json!({"RouteTableId": rtb, "SubnetId": subnet})).unwrap();
            let assoc_id = assoc.str("AssociationId").unwrap().to_string();
            let again = associate_route_table(env, json!({"RouteTableId": rtb, "SubnetId": subnet})).unwrap_err();
            assert_eq!(again.code, "Resource.AlreadyAssociated");
            let busy = delete_route_table(env, json!({"RouteTableId": rtb})).unwrap_err();
            assert_eq!(busy.code, "DependencyViolation");
            let shown = describe_route_tables(
                env,
                json!({"Filters": [{"Name": "association.subnet-id", "Values": [subnet]}]}),
            )
            .unwrap();
            assert_eq!(shown["RouteTables"][0]["RouteTableId"], json!(rtb));
            // Move the main association to the new table and back.
            let main = describe_route_tables(
                env,
                json!({"Filters": [{"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc_id]}]}),
            )
            .unwrap();
            let main_assoc = main["RouteTables"][0]["Associations"][0]["RouteTableAssociationId"].as_str().unwrap().to_string();
            let moved = replace_route_table_association(env, json!({"AssociationId": main_assoc, "RouteTableId": rtb})).unwrap();
            assert!(moved.str("NewAssociationId").is_some());
            let gone = disassociate_route_table(env, json!({"AssociationId": main_assoc})).unwrap_err();
            assert_eq!(gone.code, "InvalidAssociationID.NotFound");
            disassociate_route_table(env, json!({"AssociationId": assoc_id})).unwrap();
            let still_main = delete_route_table(env, json!({"RouteTableId": rtb})).unwrap_err();
            assert_eq!(still_main.code, "DependencyViolation");
            delete_route(env, json!({"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0"})).unwrap();
            let missing = delete_route(env, json!({"RouteTableId": rtb, "DestinationCidrBlock": "0.0.0.0/0"})).unwrap_err();
            assert_eq!(missing.code, "InvalidRoute.NotFound");
        });
    }

    #[test]
    fn main_tables() {
        let main = json!({"Associations": [{"Main": true}]});
        let other = json!({"Associations": [{"Main": false, "SubnetId": "subnet-1"}]});
        assert!(is_main(&main));
        assert!(!is_main(&other));
        assert!(!is_main(&json!({})));
    }
}
