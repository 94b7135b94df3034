//! Security groups and their rules: CreateSecurityGroup, DeleteSecurityGroup,
//! DescribeSecurityGroups, AuthorizeSecurityGroupIngress/Egress,
//! RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules.
//!
//! Rules are stored as their own documents (kind `security-group-rule`, ids `sgr-`), in the
//! shape of the model's `SecurityGroupRule`; a group's `IpPermissions` are built from them.

use fogbank_core::{arn, ids};
use fogbank_state::Tx;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{kind, Env, Handler};

pub const OPERATIONS: &[(&str, Handler)] = &[];

/// Creates a security group document inside `tx` (no rules).
pub fn create_group_in_tx(tx: &mut Tx, env: &Env, vpc_id: &str, name: &str, description: &str, tags: Vec<Value>) -> Value {
    let id = ids::resource_id("sg");
    let doc = json!({
        "GroupId": id,
        "GroupName": name,
        "Description": description,
        "VpcId": vpc_id,
        "OwnerId": env.ctx.account,
        "SecurityGroupArn": arn::build("ec2", &env.ctx.region, &env.ctx.account, &format!("security-group/{id}")),
        "Tags": tags,
    });
    tx.put(&env.scope(), kind::SECURITY_GROUP, &id, doc.clone());
    doc
}

/// Stores one rule (in the shape of `SecurityGroupRule`, plus `_fb.VpcId`).
pub fn add_rule_in_tx(tx: &mut Tx, env: &Env, group_id: &str, vpc_id: &str, egress: bool, mut rule: Value) -> Value {
    let id = ids::resource_id("sgr");
    rule["SecurityGroupRuleId"] = json!(id);
    rule["GroupId"] = json!(group_id);
    rule["GroupOwnerId"] = json!(env.ctx.account);
    rule["IsEgress"] = json!(egress);
    rule["SecurityGroupRuleArn"] =
        json!(arn::build("ec2", &env.ctx.region, &env.ctx.account, &format!("security-group-rule/{id}")));
    if rule.get("Tags").is_none() {
        rule["Tags"] = json!([]);
    }
    rule["_fb"] = json!({"VpcId": vpc_id});
    tx.put(&env.scope(), kind::SECURITY_GROUP_RULE, &id, rule.clone());
    rule
}

/// A VPC's `default` group: all traffic from itself, all traffic out.
pub fn create_default_in_tx(tx: &mut Tx, env: &Env, vpc_id: &str) -> Value {
    let group = create_group_in_tx(tx, env, vpc_id, "default", "default VPC security group", vec![]);
    let gid = group["GroupId"].as_str().unwrap_or_default().to_string();
    add_rule_in_tx(
        tx,
        env,
        &gid,
        vpc_id,
        false,
        json!({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1,
               "ReferencedGroupInfo": {"GroupId": gid, "UserId": env.ctx.account}}),
    );
    add_rule_in_tx(tx, env, &gid, vpc_id, true, json!({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"}));
    group
}

#[allow(dead_code)]
fn unused(_: AwsError) {}
