//! Network ACLs: Create/Delete/DescribeNetworkAcls, Create/Replace/DeleteNetworkAclEntry,
//! ReplaceNetworkAclAssociation. Stateless, numbered rules per subnet; the network substrate
//! enforces them at the VPC router.
//!
//! Every VPC has a default ACL (allow all, made with the VPC). A subnet belongs to the ACL
//! whose stored `Associations` name it, else to its VPC's default ACL, shown with the
//! association id `aclassoc-<the subnet id's hex>`, so that subnets need no bookkeeping of
//! their own.

use std::collections::HashMap;

use fogbank_core::ids;
use fogbank_state::{Scope, Tx};
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, kind, DescribeSpec, Env, Handler, InputExt};
use crate::net::Cidr;

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("DescribeNetworkAcls", describe_network_acls),
    ("CreateNetworkAcl", create_network_acl),
    ("DeleteNetworkAcl", delete_network_acl),
    ("CreateNetworkAclEntry", create_network_acl_entry),
    ("ReplaceNetworkAclEntry", replace_network_acl_entry),
    ("DeleteNetworkAclEntry", delete_network_acl_entry),
    ("ReplaceNetworkAclAssociation", replace_network_acl_association),
];

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
    page_limits: Some((5, 100)),
    id_filter: Some("network-acl-id"),
};

/// The association id a subnet has while it belongs to its VPC's default ACL.
fn default_association_id(subnet_id: &str) -> String {
    format!("aclassoc-{}", subnet_id.trim_start_matches("subnet-"))
}

/// The subnet of a default-ACL association id, if it is one.
fn subnet_of_default_association(association_id: &str) -> Option<String> {
    association_id.strip_prefix("aclassoc-").map(|h| format!("subnet-{h}"))
}

/// Subnet id to the id of the ACL it is explicitly associated with.
fn explicit_associations<'a>(acls: impl Iterator<Item = &'a Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for acl in acls {
        if acl.bool("IsDefault") == Some(true) {
            continue;
        }
        for a in acl.list("Associations") {
            if let (Some(s), Some(id)) = (a.str("SubnetId"), acl.str("NetworkAclId")) {
                out.insert(s.to_string(), id.to_string());
            }
        }
    }
    out
}

/// The ACL document that governs each subnet of a scope: subnet id to ACL document.
pub fn effective_acls(store: &fogbank_state::Store, scope: &Scope) -> HashMap<String, Value> {
    let acls: Vec<Value> = store.scan(scope, kind::NETWORK_ACL, |it| it.map(|(_, d)| d.clone()).collect());
    let explicit = explicit_associations(acls.iter());
    let by_id: HashMap<&str, &Value> = acls.iter().filter_map(|a| Some((a.str("NetworkAclId")?, a))).collect();
    let defaults: HashMap<&str, &Value> = acls
        .iter()
        .filter(|a| a.bool("IsDefault") == Some(true))
        .filter_map(|a| Some((a.str("VpcId")?, a)))
        .collect();
    store.scan(scope, kind::SUBNET, |it| {
        it.filter_map(|(id, subnet)| {
            let acl = match explicit.get(id) {
                Some(acl_id) => by_id.get(acl_id.as_str()).copied(),
                None => defaults.get(subnet.str("VpcId")?).copied(),
            }?;
            Some((id.to_string(), acl.clone()))
        })
        .collect()
    })
}

fn describe_network_acls(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let scope = env.scope();
    let acls: Vec<Value> = env.store.scan(&scope, kind::NETWORK_ACL, |it| it.map(|(_, d)| d.clone()).collect());
    let explicit = explicit_associations(acls.iter());
    let mut subnets_by_vpc: HashMap<String, Vec<String>> = HashMap::new();
    env.store.scan(&scope, kind::SUBNET, |iter| {
        for (id, d) in iter {
            if !explicit.contains_key(id) {
                subnets_by_vpc.entry(d.str("VpcId").unwrap_or_default().to_string()).or_default().push(id.to_string());
            }
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
                .map(|s| json!({"NetworkAclAssociationId": default_association_id(s), "NetworkAclId": acl_id, "SubnetId": s}))
                .collect();
            d["Associations"] = json!(associations);
        }
        if let Some(entries) = d.get_mut("Entries").and_then(Value::as_array_mut) {
            entries.sort_by_key(|e| (e.bool("Egress") == Some(true), e.int("RuleNumber").unwrap_or(0)));
        }
        d
    };
    let (acls, next) = describe(env, &input, &SPEC, Some(&view))?;
    Ok(json!({ "NetworkAcls": acls, "NextToken": next }))
}

fn acl_not_found(id: &str) -> AwsError {
    AwsError::new("InvalidNetworkAclID.NotFound", format!("The network ACL '{id}' does not exist"))
}

fn create_network_acl(env: &Env, input: Value) -> Result<Value, AwsError> {
    let vpc_id = input.str("VpcId").unwrap_or_default().to_string();
    super::check_tag_specs(&input, &["network-acl"])?;
    let tags = super::tags_for(&input, "network-acl")?;
    super::dry_run(&input)?;
    let scope = env.scope();
    let acl = env.write(|tx| {
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        let id = ids::resource_id("acl");
        let doc = json!({
            "NetworkAclId": id, "VpcId": vpc_id, "IsDefault": false, "OwnerId": env.ctx.account,
            "Associations": [], "Tags": tags,
            "Entries": [
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0"},
                {"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": true, "CidrBlock": "0.0.0.0/0"},
            ],
        });
        tx.put(&scope, kind::NETWORK_ACL, &id, doc.clone());
        Ok(doc)
    })?;
    Ok(json!({ "NetworkAcl": acl, "ClientToken": input.str("ClientToken") }))
}

fn delete_network_acl(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("NetworkAclId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        let acl = tx.get(&scope, kind::NETWORK_ACL, &id).ok_or_else(|| acl_not_found(&id))?;
        if acl.bool("IsDefault") == Some(true) {
            return Err(AwsError::new("InvalidParameterValue", format!("cannot delete default network ACL {id}")));
        }
        if !acl.list("Associations").is_empty() {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("The networkAcl '{id}' has dependencies and cannot be deleted."),
            ));
        }
        tx.delete(&scope, kind::NETWORK_ACL, &id);
        Ok(())
    })?;
    Ok(json!({}))
}

/// Protocol names to the numbers EC2 stores (`tcp` is `6`); `-1` and `all` are every protocol.
fn protocol_number(text: &str) -> Result<String, AwsError> {
    let n = match text.to_ascii_lowercase().as_str() {
        "-1" | "all" => return Ok("-1".into()),
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        other => other
            .parse::<u8>()
            .map_err(|_| super::invalid_value("protocol", text, "Invalid protocol."))? as i64,
    };
    Ok(n.to_string())
}

/// An entry from Create/ReplaceNetworkAclEntry input, in the shape of `NetworkAclEntry`.
fn entry_from(input: &Value) -> Result<Value, AwsError> {
    let number = input.int("RuleNumber").unwrap_or(0);
    if !(1..=32766).contains(&number) {
        return Err(super::invalid_value("RuleNumber", &number.to_string(), "Rule numbers must be between 1 and 32766."));
    }
    let protocol = protocol_number(input.str("Protocol").unwrap_or("-1"))?;
    let cidr = input.str("CidrBlock").ok_or_else(|| super::missing("CidrBlock"))?;
    if !Cidr::parse(cidr).is_some_and(|c| c.is_network_address()) {
        return Err(super::invalid_value("cidrBlock", cidr, "This is not a valid CIDR block."));
    }
    let mut entry = json!({
        "RuleNumber": number,
        "Protocol": protocol,
        "RuleAction": input.str("RuleAction").unwrap_or("deny"),
        "Egress": input.bool("Egress").unwrap_or(false),
        "CidrBlock": cidr,
    });
    if protocol == "6" || protocol == "17" {
        let range = input.get("PortRange").ok_or_else(|| {
            AwsError::new("InvalidParameterValue", "PortRange is required for the TCP and UDP protocols")
        })?;
        entry["PortRange"] = json!({"From": range.int("From"), "To": range.int("To")});
    }
    if protocol == "1" {
        if let Some(icmp) = input.get("IcmpTypeCode") {
            entry["IcmpTypeCode"] = json!({"Code": icmp.int("Code"), "Type": icmp.int("Type")});
        }
    }
    Ok(entry)
}

fn same_slot(e: &Value, number: i64, egress: bool) -> bool {
    e.int("RuleNumber") == Some(number) && e.bool("Egress").unwrap_or(false) == egress
}

fn edit_entries(
    env: &Env,
    id: &str,
    f: impl FnOnce(&mut Vec<Value>) -> Result<(), AwsError>,
) -> Result<(), AwsError> {
    let scope = env.scope();
    env.write(|tx: &mut Tx| {
        let acl = tx.get_mut(&scope, kind::NETWORK_ACL, id).ok_or_else(|| acl_not_found(id))?;
        if !acl["Entries"].is_array() {
            acl["Entries"] = json!([]);
        }
        let entries = acl["Entries"].as_array_mut().ok_or_else(|| AwsError::internal("entries"))?;
        f(entries)
    })
}

fn create_network_acl_entry(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("NetworkAclId").unwrap_or_default().to_string();
    let entry = entry_from(&input)?;
    super::dry_run(&input)?;
    let (number, egress) = (entry.int("RuleNumber").unwrap_or(0), entry.bool("Egress").unwrap_or(false));
    edit_entries(env, &id, |entries| {
        if entries.iter().any(|e| same_slot(e, number, egress)) {
            return Err(AwsError::new(
                "NetworkAclEntryAlreadyExists",
                format!("The network acl entry identified by {number} already exists."),
            ));
        }
        entries.push(entry);
        Ok(())
    })?;
    Ok(json!({}))
}

fn replace_network_acl_entry(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("NetworkAclId").unwrap_or_default().to_string();
    let entry = entry_from(&input)?;
    super::dry_run(&input)?;
    let (number, egress) = (entry.int("RuleNumber").unwrap_or(0), entry.bool("Egress").unwrap_or(false));
    edit_entries(env, &id, |entries| {
        let slot = entries.iter_mut().find(|e| same_slot(e, number, egress)).ok_or_else(|| {
            AwsError::new("InvalidNetworkAclEntry.NotFound", format!("The network acl entry identified by {number} does not exist."))
        })?;
        *slot = entry;
        Ok(())
    })?;
    Ok(json!({}))
}

fn delete_network_acl_entry(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("NetworkAclId").unwrap_or_default().to_string();
    let number = input.int("RuleNumber").unwrap_or(0);
    let egress = input.bool("Egress").unwrap_or(false);
    super::dry_run(&input)?;
    edit_entries(env, &id, |entries| {
        let before = entries.len();
        entries.retain(|e| !(same_slot(e, number, egress) && number != 32767));
        if entries.len() == before {
            return Err(AwsError::new(
                "InvalidNetworkAclEntry.NotFound",
                format!("The network acl entry identified by {number} does not exist."),
            ));
        }
        Ok(())
    })?;
    Ok(json!({}))
}

fn replace_network_acl_association(env: &Env, input: Value) -> Result<Value, AwsError> {
    let association_id = input.str("AssociationId").unwrap_or_default().to_string();
    let acl_id = input.str("NetworkAclId").unwrap_or_default().to_string();
    super::dry_run(&input)?;
    let scope = env.scope();
    let new_id = env.write(|tx| {
        let target = tx.get(&scope, kind::NETWORK_ACL, &acl_id).cloned().ok_or_else(|| acl_not_found(&acl_id))?;
        let not_found = || {
            AwsError::new(
                "InvalidAssociationID.NotFound",
                format!("The association ID '{association_id}' does not exist"),
            )
        };
        // Find the subnet: an explicit association, or a default one.
        let holder = tx
            .list(&scope, kind::NETWORK_ACL)
            .find(|(_, a)| a.list("Associations").iter().any(|x| x.str("NetworkAclAssociationId") == Some(association_id.as_str())))
            .map(|(id, a)| (id.to_string(), a.clone()));
        let subnet_id = match &holder {
            Some((_, acl)) => acl
                .list("Associations")
                .iter()
                .find(|x| x.str("NetworkAclAssociationId") == Some(association_id.as_str()))
                .and_then(|x| x.str("SubnetId"))
                .map(str::to_string)
                .ok_or_else(not_found)?,
            None => {
                let s = subnet_of_default_association(&association_id).ok_or_else(not_found)?;
                let explicit = explicit_associations(tx.list(&scope, kind::NETWORK_ACL).map(|(_, d)| d));
                if tx.get(&scope, kind::SUBNET, &s).is_none() || explicit.contains_key(&s) {
                    return Err(not_found());
                }
                s
            }
        };
        let subnet_vpc = tx.get(&scope, kind::SUBNET, &subnet_id).and_then(|s| s.str("VpcId").map(str::to_string));
        if subnet_vpc.as_deref() != target.str("VpcId") {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("Network ACL {acl_id} and subnet {subnet_id} belong to different networks"),
            ));
        }
        if let Some((holder_id, _)) = &holder {
            if let Some(acl) = tx.get_mut(&scope, kind::NETWORK_ACL, holder_id) {
                if let Some(list) = acl["Associations"].as_array_mut() {
                    list.retain(|x| x.str("SubnetId") != Some(subnet_id.as_str()));
                }
            }
        }
        if target.bool("IsDefault") == Some(true) {
            return Ok(default_association_id(&subnet_id));
        }
        let new_id = ids::resource_id("aclassoc");
        if let Some(acl) = tx.get_mut(&scope, kind::NETWORK_ACL, &acl_id) {
            if !acl["Associations"].is_array() {
                acl["Associations"] = json!([]);
            }
            if let Some(list) = acl["Associations"].as_array_mut() {
                list.push(json!({"NetworkAclAssociationId": new_id, "NetworkAclId": acl_id, "SubnetId": subnet_id}));
            }
        }
        Ok(new_id)
    })?;
    Ok(json!({ "NewAssociationId": new_id }))
}

/// Forgets a deleted subnet's explicit association (called by DeleteSubnet's transaction).
pub fn forget_subnet_in_tx(tx: &mut Tx, scope: &Scope, subnet_id: &str) {
    let holders: Vec<String> = tx
        .list(scope, kind::NETWORK_ACL)
        .filter(|(_, a)| a.list("Associations").iter().any(|x| x.str("SubnetId") == Some(subnet_id)))
        .map(|(id, _)| id.to_string())
        .collect();
    for id in holders {
        if let Some(acl) = tx.get_mut(scope, kind::NETWORK_ACL, &id) {
            if let Some(list) = acl["Associations"].as_array_mut() {
                list.retain(|x| x.str("SubnetId") != Some(subnet_id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::with_test_env;

    #[test]
    fn entries_and_associations() {
        with_test_env(|env| {
            let vpc = super::super::defaults::default_vpc_id(env.store, env).unwrap();
            let acl = create_network_acl(env, json!({"VpcId": vpc})).unwrap();
            let acl_id = acl["NetworkAcl"]["NetworkAclId"].as_str().unwrap().to_string();
            let entry = json!({"NetworkAclId": acl_id, "RuleNumber": 100, "Protocol": "tcp", "RuleAction": "allow",
                "Egress": false, "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 80, "To": 80}});
            create_network_acl_entry(env, entry.clone()).unwrap();
            let dup = create_network_acl_entry(env, entry).unwrap_err();
            assert_eq!(dup.code, "NetworkAclEntryAlreadyExists");

            let subnets = effective_acls(env.store, &env.scope());
            let (subnet, default_acl) = subnets.iter().next().unwrap();
            assert_eq!(default_acl.bool("IsDefault"), Some(true));
            let moved = replace_network_acl_association(
                env,
                json!({"AssociationId": default_association_id(subnet), "NetworkAclId": acl_id}),
            )
            .unwrap();
            let now = effective_acls(env.store, &env.scope());
            assert_eq!(now[subnet].str("NetworkAclId"), Some(acl_id.as_str()));
            assert_eq!(now[subnet].list("Entries")[2]["Protocol"], json!("6"));
            let err = delete_network_acl(env, json!({"NetworkAclId": acl_id})).unwrap_err();
            assert_eq!(err.code, "DependencyViolation");
            let default_id = default_acl.str("NetworkAclId").unwrap().to_string();
            replace_network_acl_association(
                env,
                json!({"AssociationId": moved["NewAssociationId"], "NetworkAclId": default_id}),
            )
            .unwrap();
            delete_network_acl(env, json!({"NetworkAclId": acl_id})).unwrap();
        });
    }
}
