//! VPCs: CreateVpc, DeleteVpc, DescribeVpcs, ModifyVpcAttribute, DescribeVpcAttribute.
//! A new VPC comes with its main route table, default security group and default network ACL.

use fogbank_core::ids;
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, fb, kind, route_table, security_group, DescribeSpec, Env, Handler, InputExt};
use crate::net::Cidr;

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateVpc", create_vpc),
    ("DeleteVpc", delete_vpc),
    ("DescribeVpcs", describe_vpcs),
    ("ModifyVpcAttribute", modify_vpc_attribute),
    ("DescribeVpcAttribute", describe_vpc_attribute),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::VPC,
    ids_member: Some("VpcIds"),
    not_found: ("InvalidVpcID.NotFound", "vpc"),
    filters: &[
        ("cidr", "CidrBlock"),
        ("cidr-block-association.cidr-block", "CidrBlockAssociationSet[].CidrBlock"),
        ("cidr-block-association.association-id", "CidrBlockAssociationSet[].AssociationId"),
        ("cidr-block-association.state", "CidrBlockAssociationSet[].CidrBlockState.State"),
        ("dhcp-options-id", "DhcpOptionsId"),
        ("is-default", "IsDefault"),
        ("owner-id", "OwnerId"),
        ("state", "State"),
        ("vpc-id", "VpcId"),
    ],
    id_filter: Some("vpc-id"),
    page_limits: Some((5, 1000)),
};

/// Parses a VPC CIDR, answering as CreateVpc does.
pub fn parse_vpc_cidr(text: &str) -> Result<Cidr, AwsError> {
    let cidr = Cidr::parse(text)
        .filter(Cidr::is_network_address)
        .ok_or_else(|| super::invalid_value("cidrBlock", text, "This is not a valid CIDR block."))?;
    if !(16..=28).contains(&cidr.prefix) {
        return Err(AwsError::new("InvalidVpc.Range", format!("The CIDR '{text}' is invalid.")));
    }
    Ok(cidr)
}

/// Creates a VPC and what comes with it inside `tx`; returns the VPC document.
pub fn create_in_tx(tx: &mut Tx, env: &Env, cidr: Cidr, tenancy: &str, tags: Vec<Value>, is_default: bool) -> Value {
    let scope = env.scope();
    let vpc_id = ids::resource_id("vpc");
    let doc = json!({
        "VpcId": vpc_id,
        "OwnerId": env.ctx.account,
        "InstanceTenancy": tenancy,
        "CidrBlockAssociationSet": [{
            "AssociationId": ids::resource_id("vpc-cidr-assoc"),
            "CidrBlock": cidr.to_string(),
            "CidrBlockState": {"State": "associated"},
        }],
        "IsDefault": is_default,
        "Tags": tags,
        "State": "available",
        "CidrBlock": cidr.to_string(),
        "DhcpOptionsId": super::defaults::dhcp_options_id(tx, env),
        "_fb": {"EnableDnsSupport": true, "EnableDnsHostnames": is_default},
    });
    tx.put(&scope, kind::VPC, &vpc_id, doc.clone());
    let rtb = route_table::main_table_doc(env, &vpc_id, &cidr.to_string());
    let rtb_id = rtb.str("RouteTableId").unwrap_or_default().to_string();
    tx.put(&scope, kind::ROUTE_TABLE, &rtb_id, rtb);
    security_group::create_default_in_tx(tx, env, &vpc_id);
    let acl_id = ids::resource_id("acl");
    tx.put(
        &scope,
        kind::NETWORK_ACL,
        &acl_id,
        json!({
            "NetworkAclId": acl_id, "VpcId": vpc_id, "IsDefault": true, "OwnerId": env.ctx.account,
            "Associations": [], "Tags": [],
            "Entries": [
                {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": false, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 100, "Protocol": "-1", "RuleAction": "allow", "Egress": true, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": true, "CidrBlock": "0.0.0.0/0"},
            ],
        }),
    );
    doc
}

fn create_vpc(env: &Env, input: Value) -> Result<Value, AwsError> {
    let Some(cidr_text) = input.str("CidrBlock") else {
        return Err(AwsError::new("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided."));
    };
    let cidr = parse_vpc_cidr(cidr_text)?;
    super::check_tag_specs(&input, &["vpc"])?;
    let tags = super::tags_for(&input, "vpc")?;
    let tenancy = input.str("InstanceTenancy").unwrap_or("default").to_string();
    super::dry_run(&input)?;
    let vpc = env.write(|tx| Ok(create_in_tx(tx, env, cidr, &tenancy, tags, false)))?;
    // A new VPC is answered as "pending" by AWS; it is usable at once here, as there.
    let mut shown = vpc;
    shown["State"] = json!("pending");
    Ok(json!({ "Vpc": shown }))
}

fn delete_vpc(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        let in_vpc = |doc: &Value| doc.str("VpcId") == Some(vpc_id.as_str());
        let attached = |doc: &Value| doc.list("Attachments").iter().any(|a| a.str("VpcId") == Some(vpc_id.as_str()));
        let blocking = tx.list(&scope, kind::SUBNET).any(|(_, d)| in_vpc(d))
            || tx.list(&scope, kind::IGW).any(|(_, d)| attached(d))
            || tx.list(&scope, kind::SECURITY_GROUP).any(|(_, d)| in_vpc(d) && d.str("GroupName") != Some("default"))
            || tx.list(&scope, kind::ROUTE_TABLE).any(|(_, d)| in_vpc(d) && !route_table::is_main(d))
            || tx.list(&scope, kind::INSTANCE).any(|(_, d)| {
                in_vpc(d) && d.pointer("/State/Name").and_then(Value::as_str) != Some("terminated")
            });
        if blocking {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("The vpc '{vpc_id}' has dependencies and cannot be deleted."),
            ));
        }
        for k in [kind::ROUTE_TABLE, kind::SECURITY_GROUP, kind::NETWORK_ACL] {
            let owned: Vec<String> = tx.list(&scope, k).filter(|(_, d)| in_vpc(d)).map(|(id, _)| id.to_string()).collect();
            for id in owned {
                tx.delete(&scope, k, &id);
            }
        }
        let rules: Vec<String> = tx
            .list(&scope, kind::SECURITY_GROUP_RULE)
            .filter(|(_, d)| fb(d).str("VpcId") == Some(vpc_id.as_str()))
            .map(|(id, _)| id.to_string())
            .collect();
        for id in rules {
            tx.delete(&scope, kind::SECURITY_GROUP_RULE, &id);
        }
        tx.delete(&scope, kind::VPC, &vpc_id);
        Ok(())
    })?;
    Ok(json!({}))
}

fn describe_vpcs(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let (vpcs, next) = describe(env, &input, &SPEC, None)?;
    Ok(json!({ "Vpcs": vpcs, "NextToken": next }))
}

fn attribute_name(input: &Value) -> Option<(&'static str, bool)> {
    for name in ["EnableDnsSupport", "EnableDnsHostnames", "EnableNetworkAddressUsageMetrics"] {
        if let Some(v) = input.get(name).and_then(|v| v.get("Value")).and_then(Value::as_bool) {
            return Some((name, v));
        }
    }
    None
}

fn modify_vpc_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    let Some((name, value)) = attribute_name(&input) else {
        return Err(AwsError::new("InvalidParameterCombination", "No attributes specified."));
    };
    let scope = env.scope();
    env.write(|tx| {
        let vpc = tx
            .get_mut(&scope, kind::VPC, &vpc_id)
            .ok_or_else(|| super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]))?;
        vpc["_fb"][name] = json!(value);
        Ok(())
    })?;
    Ok(json!({}))
}

fn describe_vpc_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    let attribute = input.str("Attribute").unwrap_or_default();
    super::dry_run(&input)?;
    let vpc = env
        .store
        .get(&env.scope(), kind::VPC, &vpc_id)
        .ok_or_else(|| super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]))?;
    let member = match attribute {
        "enableDnsSupport" => "EnableDnsSupport",
        "enableDnsHostnames" => "EnableDnsHostnames",
        "enableNetworkAddressUsageMetrics" => "EnableNetworkAddressUsageMetrics",
        other => return Err(super::invalid_value("Attribute", other, "Unknown attribute.")),
    };
    let value = fb(&vpc).bool(member).unwrap_or(false);
    Ok(json!({ "VpcId": vpc_id, member: {"Value": value} }))
}
