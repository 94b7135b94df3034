//! Internet gateways: CreateInternetGateway, DeleteInternetGateway,
//! DescribeInternetGateways, AttachInternetGateway, DetachInternetGateway.
//!
//! A gateway's attachment lives in its `Attachments` (at most one, `State: available` as AWS
//! shows it); a VPC has at most one gateway attached.

use fogbank_core::ids;
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, kind, route_table, DescribeSpec, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateInternetGateway", create_internet_gateway),
    ("DeleteInternetGateway", delete_internet_gateway),
    ("DescribeInternetGateways", describe_internet_gateways),
    ("AttachInternetGateway", attach_internet_gateway),
    ("DetachInternetGateway", detach_internet_gateway),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::IGW,
    ids_member: Some("InternetGatewayIds"),
    not_found: ("InvalidInternetGatewayID.NotFound", "internetGateway"),
    filters: &[
        ("attachment.state", "Attachments[].State"),
        ("attachment.vpc-id", "Attachments[].VpcId"),
        ("internet-gateway-id", "InternetGatewayId"),
        ("owner-id", "OwnerId"),
    ],
    id_filter: Some("internet-gateway-id"),
    page_limits: Some((5, 1000)),
};

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

/// The VPC a gateway document is attached to.
pub fn attached_vpc(doc: &Value) -> Option<&str> {
    doc.list("Attachments").iter().find_map(|a| a.str("VpcId"))
}

fn igw_not_found(id: &str) -> AwsError {
    super::not_found("InvalidInternetGatewayID.NotFound", "internetGateway", &[id.to_string()])
}

fn create_internet_gateway(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::check_tag_specs(&input, &["internet-gateway"])?;
    let tags = super::tags_for(&input, "internet-gateway")?;
    super::dry_run(&input)?;
    let igw = env.write(|tx| Ok(create_in_tx(tx, env, tags)))?;
    Ok(json!({"InternetGateway": igw}))
}

fn delete_internet_gateway(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("InternetGatewayId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let doc = tx.get(&scope, kind::IGW, &id).ok_or_else(|| igw_not_found(&id))?;
        if attached_vpc(doc).is_some() {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("The internetGateway '{id}' has dependencies and cannot be deleted."),
            ));
        }
        tx.delete(&scope, kind::IGW, &id);
        Ok(())
    })?;
    Ok(json!({}))
}

fn describe_internet_gateways(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let (igws, next) = describe(env, &input, &SPEC, None)?;
    Ok(json!({"InternetGateways": igws, "NextToken": next}))
}

fn attach_internet_gateway(env: &Env, input: Value) -> Result<Value, AwsError> {
    let igw_id = input.str("InternetGatewayId").unwrap_or_default().to_string();
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let doc = tx.get(&scope, kind::IGW, &igw_id).ok_or_else(|| igw_not_found(&igw_id))?;
        if let Some(current) = attached_vpc(doc) {
            return Err(AwsError::new(
                "Resource.AlreadyAssociated",
                format!("resource {igw_id} is already attached to network {current}"),
            ));
        }
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        if tx.list(&scope, kind::IGW).any(|(_, d)| attached_vpc(d) == Some(vpc_id.as_str())) {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("Network {vpc_id} already has an internet gateway attached"),
            ));
        }
        attach_in_tx(tx, env, &igw_id, &vpc_id);
        route_table::set_gateway_route_state_in_tx(tx, &scope, &vpc_id, &igw_id, "active");
        Ok(())
    })?;
    Ok(json!({}))
}

fn detach_internet_gateway(env: &Env, input: Value) -> Result<Value, AwsError> {
    let igw_id = input.str("InternetGatewayId").unwrap_or_default().to_string();
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let doc = tx.get(&scope, kind::IGW, &igw_id).ok_or_else(|| igw_not_found(&igw_id))?;
        let attached = attached_vpc(doc) == Some(vpc_id.as_str());
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        if !attached {
            return Err(AwsError::new(
                "Gateway.NotAttached",
                format!("resource {igw_id} is not attached to network {vpc_id}"),
            ));
        }
        let mapped = tx.list(&scope, kind::INSTANCE).any(|(_, d)| {
            d.str("VpcId") == Some(vpc_id.as_str())
                && d.str("PublicIpAddress").is_some()
                && d.pointer("/State/Name").and_then(Value::as_str) != Some("terminated")
        });
        if mapped {
            return Err(AwsError::new(
                "DependencyViolation",
                format!(
                    "Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
                ),
            ));
        }
        if let Some(doc) = tx.get_mut(&scope, kind::IGW, &igw_id) {
            doc["Attachments"] = json!([]);
        }
        route_table::set_gateway_route_state_in_tx(tx, &scope, &vpc_id, &igw_id, "blackhole");
        Ok(())
    })?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_of_a_gateway() {
        assert_eq!(attached_vpc(&json!({"Attachments": [{"State": "available", "VpcId": "vpc-1"}]})), Some("vpc-1"));
        assert_eq!(attached_vpc(&json!({"Attachments": []})), None);
        assert_eq!(attached_vpc(&json!({})), None);
    }

    #[test]
    fn filters_see_attachments() {
        let doc = json!({"InternetGatewayId": "igw-1", "Attachments": [{"State": "available", "VpcId": "vpc-1"}]});
        let f = |name: &str, v: &str| vec![super::super::filter::Filter { name: name.into(), values: vec![v.into()] }];
        assert!(super::super::filter::matches(&doc, &f("attachment.vpc-id", "vpc-1"), SPEC.filters));
        assert!(super::super::filter::matches(&doc, &f("attachment.state", "available"), SPEC.filters));
        assert!(!super::super::filter::matches(&doc, &f("attachment.vpc-id", "vpc-2"), SPEC.filters));
    }
}
