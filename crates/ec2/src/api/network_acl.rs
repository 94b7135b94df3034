//! Network ACLs. Today: DescribeNetworkAcls, showing each VPC's default ACL (allow all, made
//! with the VPC) and its implicit associations with every subnet of the VPC. Creating and
//! editing ACLs comes with the network substrate, which enforces them.

use std::collections::HashMap;

use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, kind, DescribeSpec, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[("DescribeNetworkAcls", describe_network_acls)];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::NETWORK_ACL,
    ids_member: Some("NetworkAclIds"),
    not_found: ("InvalidNetworkAclID.NotFound", "network ACL"),
    filters: &[
        ("association.association-id", "Associations[].NetworkAclAssociationId"),
        ("association.network-acl-id", "Associations[].NetworkAclId"),
        ("association.subnet-id", "Associations[].SubnetId"),
        ("default", "IsDefault"),
        ("entry.cidr", "Entries[].CidrBlock"),
        ("entry.egress", "Entries[].Egress"),
        ("entry.protocol", "Entries[].Protocol"),
        ("entry.rule-action", "Entries[].RuleAction"),
        ("entry.rule-number", "Entries[].RuleNumber"),
        ("network-acl-id", "NetworkAclId"),
        ("owner-id", "OwnerId"),
        ("vpc-id", "VpcId"),
    ],
    id_filter: Some("network-acl-id"),
    page_limits: Some((5, 100)),
};

fn describe_network_acls(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    // Every subnet is associated with its VPC's default ACL; the association id is derived
    // from the subnet id so that it is stable.
    let mut subnets_by_vpc: HashMap<String, Vec<String>> = HashMap::new();
    env.store.scan(&env.scope(), kind::SUBNET, |iter| {
        for (id, d) in iter {
            subnets_by_vpc.entry(d.str("VpcId").unwrap_or_default().to_string()).or_default().push(id.to_string());
        }
    });
    let view = |doc: &Value| {
        let mut d = doc.clone();
        if doc.bool("IsDefault") == Some(true) {
            let acl_id = doc.str("NetworkAclId").unwrap_or_default();
            let vpc = doc.str("VpcId").unwrap_or_default();
            let associations: Vec<Value> = subnets_by_vpc
                .get(vpc)
                .into_iter()
                .flatten()
                .map(|s| {
                    json!({
                        "NetworkAclAssociationId": format!("aclassoc-{}", s.trim_start_matches("subnet-")),
                        "NetworkAclId": acl_id,
                        "SubnetId": s,
                    })
                })
                .collect();
            d["Associations"] = json!(associations);
        }
        d
    };
    let (acls, next) = describe(env, &input, &SPEC, Some(&view))?;
    Ok(json!({ "NetworkAcls": acls, "NextToken": next }))
}
