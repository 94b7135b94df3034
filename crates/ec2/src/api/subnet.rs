//! Subnets: CreateSubnet, DeleteSubnet, DescribeSubnets, ModifySubnetAttribute.

use fogbank_core::{arn, ids, regions};
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, kind, DescribeSpec, Env, Handler, InputExt};
use crate::net::Cidr;

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateSubnet", create_subnet),
    ("DeleteSubnet", delete_subnet),
    ("DescribeSubnets", describe_subnets),
    ("ModifySubnetAttribute", modify_subnet_attribute),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::SUBNET,
    ids_member: Some("SubnetIds"),
    not_found: ("InvalidSubnetID.NotFound", "subnet"),
    filters: &[
        ("availability-zone", "AvailabilityZone"),
        ("availabilityZone", "AvailabilityZone"),
        ("availability-zone-id", "AvailabilityZoneId"),
        ("available-ip-address-count", "AvailableIpAddressCount"),
        ("cidr-block", "CidrBlock"),
        ("cidr", "CidrBlock"),
        ("cidrBlock", "CidrBlock"),
        ("default-for-az", "DefaultForAz"),
        ("defaultForAz", "DefaultForAz"),
        ("map-public-ip-on-launch", "MapPublicIpOnLaunch"),
        ("owner-id", "OwnerId"),
        ("state", "State"),
        ("subnet-arn", "SubnetArn"),
        ("subnet-id", "SubnetId"),
        ("vpc-id", "VpcId"),
    ],
    id_filter: Some("subnet-id"),
    page_limits: Some((5, 1000)),
};

/// Creates a subnet document inside `tx` (checks done by the caller).
pub fn create_in_tx(tx: &mut Tx, env: &Env, vpc_id: &str, cidr: Cidr, zone: (&str, &str), default_for_az: bool, tags: Vec<Value>) -> Value {
    let id = ids::resource_id("subnet");
    let doc = json!({
        "AvailabilityZone": zone.0,
        "AvailabilityZoneId": zone.1,
        "AvailableIpAddressCount": cidr.size().saturating_sub(5),
        "CidrBlock": cidr.to_string(),
        "DefaultForAz": default_for_az,
        "MapPublicIpOnLaunch": default_for_az,
        "MapCustomerOwnedIpOnLaunch": false,
        "State": "available",
        "SubnetId": id,
        "VpcId": vpc_id,
        "OwnerId": env.ctx.account,
        "AssignIpv6AddressOnCreation": false,
        "Ipv6CidrBlockAssociationSet": [],
        "Tags": tags,
        "SubnetArn": arn::build("ec2", &env.ctx.region, &env.ctx.account, &format!("subnet/{id}")),
        "EnableDns64": false,
        "Ipv6Native": false,
        "PrivateDnsNameOptionsOnLaunch": {
            "HostnameType": "ip-name", "EnableResourceNameDnsARecord": false, "EnableResourceNameDnsAAAARecord": false,
        },
    });
    tx.put(&env.scope(), kind::SUBNET, &id, doc.clone());
    doc
}

fn create_subnet(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    let Some(cidr_text) = input.str("CidrBlock") else { return Err(super::missing("CidrBlock")) };
    let cidr = Cidr::parse(cidr_text)
        .filter(Cidr::is_network_address)
        .ok_or_else(|| super::invalid_value("cidrBlock", cidr_text, "This is not a valid CIDR block."))?;
    let zones = regions::zones(&env.ctx.region);
    let zone = match (input.str("AvailabilityZone"), input.str("AvailabilityZoneId")) {
        (Some(name), _) => Some(zones.iter().find(|(n, _)| n == name).cloned().ok_or_else(|| {
            let all: Vec<&str> = zones.iter().map(|(n, _)| n.as_str()).collect();
            super::invalid_value(
                "availabilityZone",
                name,
                &format!("Subnets can currently only be created in the following availability zones: {}.", all.join(", ")),
            )
        })?),
        (None, Some(zid)) => Some(
            zones.iter().find(|(_, i)| i == zid).cloned().ok_or_else(|| super::invalid_value("availabilityZoneId", zid, "Unknown zone."))?,
        ),
        (None, None) => None,
    };
    super::check_tag_specs(&input, &["subnet"])?;
    let tags = super::tags_for(&input, "subnet")?;
    super::dry_run(&input)?;
    let scope = env.scope();
    let subnet = env.write(|tx| {
        let vpc = tx
            .get(&scope, kind::VPC, &vpc_id)
            .ok_or_else(|| super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]))?;
        let vpc_cidrs: Vec<Cidr> = vpc
            .list("CidrBlockAssociationSet")
            .iter()
            .filter_map(|a| a.str("CidrBlock").and_then(Cidr::parse))
            .collect();
        if !(16..=28).contains(&cidr.prefix) || !vpc_cidrs.iter().any(|v| v.contains(&cidr)) {
            return Err(AwsError::new("InvalidSubnet.Range", format!("The CIDR '{cidr_text}' is invalid.")));
        }
        let siblings: Vec<(String, Cidr)> = tx
            .list(&scope, kind::SUBNET)
            .filter(|(_, d)| d.str("VpcId") == Some(vpc_id.as_str()))
            .filter_map(|(_, d)| Some((d.str("AvailabilityZone")?.to_string(), Cidr::parse(d.str("CidrBlock")?)?)))
            .collect();
        if siblings.iter().any(|(_, c)| c.overlaps(&cidr)) {
            return Err(AwsError::new(
                "InvalidSubnet.Conflict",
                format!("The CIDR '{cidr_text}' conflicts with another subnet"),
            ));
        }
        // Without a zone, AWS picks one; take the zone with the fewest subnets of this VPC.
        let zone = zone.clone().unwrap_or_else(|| {
            zones
                .iter()
                .min_by_key(|(n, _)| siblings.iter().filter(|(z, _)| z == n).count())
                .cloned()
                .unwrap_or_default()
        });
        Ok(create_in_tx(tx, env, &vpc_id, cidr, (&zone.0, &zone.1), false, tags))
    })?;
    Ok(json!({ "Subnet": subnet }))
}

fn delete_subnet(env: &Env, input: Value) -> Result<Value, AwsError> {
    let subnet_id = input.str("SubnetId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        if tx.get(&scope, kind::SUBNET, &subnet_id).is_none() {
            return Err(super::not_found("InvalidSubnetID.NotFound", "subnet", &[subnet_id.clone()]));
        }
        let in_use = tx.list(&scope, kind::INSTANCE).any(|(_, d)| {
            d.str("SubnetId") == Some(subnet_id.as_str())
                && d.pointer("/State/Name").and_then(Value::as_str) != Some("terminated")
        });
        if in_use {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("The subnet '{subnet_id}' has dependencies and cannot be deleted."),
            ));
        }
        let tables: Vec<String> = tx
            .list(&scope, kind::ROUTE_TABLE)
            .filter(|(_, d)| d.list("Associations").iter().any(|a| a.str("SubnetId") == Some(subnet_id.as_str())))
            .map(|(id, _)| id.to_string())
            .collect();
        for t in tables {
            if let Some(doc) = tx.get_mut(&scope, kind::ROUTE_TABLE, &t) {
                if let Some(list) = doc.get_mut("Associations").and_then(Value::as_array_mut) {
                    list.retain(|a| a.str("SubnetId") != Some(subnet_id.as_str()));
                }
            }
        }
        super::network_acl::forget_subnet_in_tx(tx, &scope, &subnet_id);
        tx.delete(&scope, kind::SUBNET, &subnet_id);
        Ok(())
    })?;
    Ok(json!({}))
}

/// Counts addresses in use per subnet, to show `AvailableIpAddressCount`.
fn with_free_count(env: &Env) -> impl Fn(&Value) -> Value {
    let mut used: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    env.store.scan(&env.scope(), kind::INSTANCE, |iter| {
        for (_, d) in iter {
            if d.str("PrivateIpAddress").is_some() {
                if let Some(s) = d.str("SubnetId") {
                    *used.entry(s.to_string()).or_default() += 1;
                }
            }
        }
    });
    move |doc: &Value| {
        let mut d = doc.clone();
        let size = doc.str("CidrBlock").and_then(Cidr::parse).map(|c| c.size()).unwrap_or(0);
        let taken = doc.str("SubnetId").and_then(|s| used.get(s)).copied().unwrap_or(0);
        d["AvailableIpAddressCount"] = json!(size.saturating_sub(5).saturating_sub(taken));
        d
    }
}

fn describe_subnets(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let view = with_free_count(env);
    let (subnets, next) = describe(env, &input, &SPEC, Some(&view))?;
    Ok(json!({ "Subnets": subnets, "NextToken": next }))
}

fn modify_subnet_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let subnet_id = input.str("SubnetId").unwrap_or_default().to_string();
    let scope = env.scope();
    let settable = ["MapPublicIpOnLaunch", "AssignIpv6AddressOnCreation", "EnableDns64", "MapCustomerOwnedIpOnLaunch"];
    let changes: Vec<(&str, bool)> = settable
        .iter()
        .filter_map(|n| input.get(*n).and_then(|v| v.get("Value")).and_then(Value::as_bool).map(|b| (*n, b)))
        .collect();
    env.write(|tx| {
        let doc = tx
            .get_mut(&scope, kind::SUBNET, &subnet_id)
            .ok_or_else(|| super::not_found("InvalidSubnetID.NotFound", "subnet", &[subnet_id.clone()]))?;
        for (n, b) in &changes {
            doc[*n] = json!(b);
        }
        Ok(())
    })?;
    Ok(json!({}))
}
