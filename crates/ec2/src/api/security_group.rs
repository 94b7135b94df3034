//! Security groups and their rules: CreateSecurityGroup, DeleteSecurityGroup,
//! DescribeSecurityGroups, AuthorizeSecurityGroupIngress/Egress,
//! RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules, ModifySecurityGroupRules.
//!
//! Rules are stored as their own documents (kind `security-group-rule`, ids `sgr-`), in the
//! shape of the model's `SecurityGroupRule`; a group's `IpPermissions` are built from them.
//! A rule document has `IpProtocol` (`tcp`, `udp`, `icmp`, `icmpv6`, `-1` or another protocol
//! number), `FromPort`/`ToPort` (`-1` when the protocol has no ports), exactly one peer
//! (`CidrIpv4`, `CidrIpv6`, `PrefixListId` or `ReferencedGroupInfo.GroupId`) and `IsEgress`;
//! `_fb.VpcId` is the group's VPC and `_fb.Seq` orders rules by creation.

use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};

use fogbank_core::{arn, ids};
use fogbank_state::{Scope, Tx};
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{describe, fb, kind, DescribeSpec, Env, Handler, InputExt};
use crate::net::Cidr;

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateSecurityGroup", create_security_group),
    ("DeleteSecurityGroup", delete_security_group),
    ("DescribeSecurityGroups", describe_security_groups),
    ("AuthorizeSecurityGroupIngress", authorize_ingress),
    ("AuthorizeSecurityGroupEgress", authorize_egress),
    ("RevokeSecurityGroupIngress", revoke_ingress),
    ("RevokeSecurityGroupEgress", revoke_egress),
    ("DescribeSecurityGroupRules", describe_security_group_rules),
    ("ModifySecurityGroupRules", modify_security_group_rules),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::SECURITY_GROUP,
    ids_member: Some("GroupIds"),
    not_found: ("InvalidGroup.NotFound", "security group"),
    filters: &[
        ("description", "Description"),
        ("group-id", "GroupId"),
        ("group-name", "GroupName"),
        ("owner-id", "OwnerId"),
        ("vpc-id", "VpcId"),
        ("ip-permission.cidr", "IpPermissions[].IpRanges[].CidrIp"),
        ("ip-permission.from-port", "IpPermissions[].FromPort"),
        ("ip-permission.to-port", "IpPermissions[].ToPort"),
        ("ip-permission.protocol", "IpPermissions[].IpProtocol"),
        ("ip-permission.group-id", "IpPermissions[].UserIdGroupPairs[].GroupId"),
        ("ip-permission.ipv6-cidr", "IpPermissions[].Ipv6Ranges[].CidrIpv6"),
        ("ip-permission.prefix-list-id", "IpPermissions[].PrefixListIds[].PrefixListId"),
        ("ip-permission.user-id", "IpPermissions[].UserIdGroupPairs[].UserId"),
        ("egress.ip-permission.cidr", "IpPermissionsEgress[].IpRanges[].CidrIp"),
        ("egress.ip-permission.from-port", "IpPermissionsEgress[].FromPort"),
        ("egress.ip-permission.to-port", "IpPermissionsEgress[].ToPort"),
        ("egress.ip-permission.protocol", "IpPermissionsEgress[].IpProtocol"),
        ("egress.ip-permission.group-id", "IpPermissionsEgress[].UserIdGroupPairs[].GroupId"),
        ("egress.ip-permission.ipv6-cidr", "IpPermissionsEgress[].Ipv6Ranges[].CidrIpv6"),
        ("egress.ip-permission.prefix-list-id", "IpPermissionsEgress[].PrefixListIds[].PrefixListId"),
        ("egress.ip-permission.user-id", "IpPermissionsEgress[].UserIdGroupPairs[].UserId"),
    ],
    id_filter: Some("group-id"),
    page_limits: Some((5, 1000)),
};

pub const RULE_SPEC: DescribeSpec = DescribeSpec {
    kind: kind::SECURITY_GROUP_RULE,
    ids_member: Some("SecurityGroupRuleIds"),
    not_found: ("InvalidSecurityGroupRuleId.NotFound", "security group rule"),
    filters: &[("group-id", "GroupId"), ("security-group-rule-id", "SecurityGroupRuleId")],
    id_filter: Some("security-group-rule-id"),
    page_limits: Some((5, 1000)),
};

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

/// A number that grows with every rule made, so that a group shows its rules in the order
/// they were added (ids are random).
fn next_seq() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Stores one rule (in the shape of `SecurityGroupRule`, plus `_fb.VpcId` and `_fb.Seq`).
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
    rule["_fb"] = json!({"VpcId": vpc_id, "Seq": next_seq()});
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
    add_rule_in_tx(tx, env, &gid, vpc_id, true, allow_all_egress());
    group
}

/// The rule every new group starts with: all traffic out.
fn allow_all_egress() -> Value {
    json!({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"})
}

// ---------------------------------------------------------------------------------------------
// Pure rule logic: protocols, ports, peers, identity, merging into IpPermissions.

fn bad_value(message: impl Into<String>) -> AwsError {
    AwsError::new("InvalidParameterValue", message)
}

/// `tcp`/`6` -> `tcp`, `udp`/`17` -> `udp`, `icmp`/`1` -> `icmp`, `icmpv6`/`58` -> `icmpv6`,
/// `-1`/`all` -> `-1`; other protocol numbers stay numbers.
pub fn normalize_protocol(raw: &str) -> Result<String, AwsError> {
    let p = raw.trim().to_ascii_lowercase();
    let number = p.parse::<i64>().ok();
    let name = match (p.as_str(), number) {
        ("tcp", _) | (_, Some(6)) => "tcp",
        ("udp", _) | (_, Some(17)) => "udp",
        ("icmp", _) | (_, Some(1)) => "icmp",
        ("icmpv6", _) | (_, Some(58)) => "icmpv6",
        ("all", _) | (_, Some(-1)) => "-1",
        (_, Some(n)) if (0..=255).contains(&n) => return Ok(n.to_string()),
        _ => return Err(bad_value(format!("Invalid value '{raw}' for IP protocol. Unknown protocol."))),
    };
    Ok(name.to_string())
}

/// Whether rules of this protocol have ports (or ICMP type and code) of their own.
fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "icmp" | "icmpv6")
}

/// Checks and completes the port range of a protocol; protocols without ports get `-1`.
pub fn normalize_ports(protocol: &str, from: Option<i64>, to: Option<i64>) -> Result<(i64, i64), AwsError> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(f), Some(t)) = (from, to) else {
                return Err(bad_value("Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange."));
            };
            for p in [f, t] {
                if !(0..=65535).contains(&p) {
                    return Err(bad_value(format!("TCP/UDP port ({p}) out of range")));
                }
            }
            if f > t {
                return Err(bad_value(format!("Invalid TCP/UDP port range: from port {f} is greater than to port {t}")));
            }
            Ok((f, t))
        }
        "icmp" | "icmpv6" => {
            let (f, t) = match (from, to) {
                (Some(f), Some(t)) => (f, t),
                (None, None) if protocol == "icmpv6" => (-1, -1),
                _ => {
                    let name = if protocol == "icmp" { "ICMP" } else { "ICMPv6" };
                    return Err(bad_value(format!("Invalid value 'Must specify both from and to ports with {name}.' for portRange.")));
                }
            };
            if !(-1..=255).contains(&f) {
                return Err(bad_value(format!("ICMP type ({f}) out of range")));
            }
            if !(-1..=255).contains(&t) {
                return Err(bad_value(format!("ICMP code ({t}) out of range")));
            }
            Ok((f, t))
        }
        _ => Ok((-1, -1)),
    }
}

/// An IPv4 CIDR as AWS accepts it in a rule (no host bits), in canonical form.
pub fn parse_cidr4(text: &str) -> Result<String, AwsError> {
    Cidr::parse(text)
        .filter(|c| text.contains('/') && c.is_network_address())
        .map(|c| c.to_string())
        .ok_or_else(|| bad_value(format!("CIDR block {text} is malformed")))
}

/// An IPv6 CIDR as AWS accepts it in a rule, in canonical form.
pub fn parse_cidr6(text: &str) -> Result<String, AwsError> {
    let malformed = || bad_value(format!("CIDR block {text} is malformed"));
    let (addr, prefix) = text.trim().split_once('/').ok_or_else(malformed)?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| malformed())?;
    let prefix: u32 = prefix.parse().map_err(|_| malformed())?;
    if prefix > 128 {
        return Err(malformed());
    }
    let bits = u128::from(addr);
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    if bits & !mask != 0 {
        return Err(malformed());
    }
    Ok(format!("{addr}/{prefix}"))
}

/// The other side of a rule, as requested.
#[derive(Debug, Clone, PartialEq)]
enum Peer {
    Cidr4(String),
    Cidr6(String),
    PrefixList(String),
    /// A group by id or, in the target group's VPC, by name.
    Group { id: Option<String>, name: Option<String> },
}

/// One requested rule, checked but with its group peer not yet looked up.
#[derive(Debug, Clone, PartialEq)]
struct Draft {
    protocol: String,
    from: i64,
    to: i64,
    peer: Peer,
    description: Option<String>,
}

fn check_description(d: Option<&str>) -> Result<Option<String>, AwsError> {
    match d {
        Some(d) if d.chars().count() > 255 => {
            Err(super::invalid_value("description", d, "Length exceeds maximum of 255 characters."))
        }
        Some(d) if !d.is_ascii() => {
            Err(super::invalid_value("description", d, "Character sets beyond ASCII are not supported."))
        }
        Some(d) => Ok(Some(d.to_string())),
        None => Ok(None),
    }
}

/// Splits one `IpPermission` into one draft per peer.
fn drafts_from_permission(perm: &Value) -> Result<Vec<Draft>, AwsError> {
    let Some(raw) = perm.str("IpProtocol") else { return Err(super::missing("IpProtocol")) };
    let protocol = normalize_protocol(raw)?;
    let (from, to) = normalize_ports(&protocol, perm.int("FromPort"), perm.int("ToPort"))?;
    let draft = |peer: Peer, description: Option<String>| Draft { protocol: protocol.clone(), from, to, peer, description };
    let mut out = Vec::new();
    for r in perm.list("IpRanges") {
        let cidr = parse_cidr4(r.str("CidrIp").unwrap_or_default())?;
        out.push(draft(Peer::Cidr4(cidr), check_description(r.str("Description"))?));
    }
    for r in perm.list("Ipv6Ranges") {
        let cidr = parse_cidr6(r.str("CidrIpv6").unwrap_or_default())?;
        out.push(draft(Peer::Cidr6(cidr), check_description(r.str("Description"))?));
    }
    for r in perm.list("PrefixListIds") {
        let Some(id) = r.str("PrefixListId") else { return Err(super::missing("PrefixListId")) };
        out.push(draft(Peer::PrefixList(id.to_string()), check_description(r.str("Description"))?));
    }
    for p in perm.list("UserIdGroupPairs") {
        let (id, name) = (p.str("GroupId").map(str::to_string), p.str("GroupName").map(str::to_string));
        if id.is_none() && name.is_none() {
            return Err(AwsError::new("MissingParameter", "The request must contain the parameter groupName or groupId"));
        }
        out.push(draft(Peer::Group { id, name }, check_description(p.str("Description"))?));
    }
    Ok(out)
}

/// A draft from ModifySecurityGroupRules' `SecurityGroupRuleRequest`.
fn draft_from_rule_request(req: &Value) -> Result<Draft, AwsError> {
    let Some(raw) = req.str("IpProtocol") else { return Err(super::missing("IpProtocol")) };
    let protocol = normalize_protocol(raw)?;
    let (from, to) = normalize_ports(&protocol, req.int("FromPort"), req.int("ToPort"))?;
    let mut peers = Vec::new();
    if let Some(c) = req.str("CidrIpv4") {
        peers.push(Peer::Cidr4(parse_cidr4(c)?));
    }
    if let Some(c) = req.str("CidrIpv6") {
        peers.push(Peer::Cidr6(parse_cidr6(c)?));
    }
    if let Some(p) = req.str("PrefixListId") {
        peers.push(Peer::PrefixList(p.to_string()));
    }
    if let Some(g) = req.str("ReferencedGroupId") {
        peers.push(Peer::Group { id: Some(g.to_string()), name: None });
    }
    if peers.len() != 1 {
        return Err(AwsError::new(
            "InvalidParameterCombination",
            "Exactly one of cidrIpv4, cidrIpv6, prefixListId or referencedGroupId must be specified.",
        ));
    }
    let description = check_description(req.str("Description"))?;
    Ok(Draft { protocol, from, to, peer: peers.remove(0), description })
}

/// The rule document (without ids) for a draft whose group peer is resolved to `group`.
fn rule_value(d: &Draft, group: Option<&str>, account: &str) -> Value {
    let mut r = json!({"IpProtocol": d.protocol, "FromPort": d.from, "ToPort": d.to});
    match &d.peer {
        Peer::Cidr4(c) => r["CidrIpv4"] = json!(c),
        Peer::Cidr6(c) => r["CidrIpv6"] = json!(c),
        Peer::PrefixList(p) => r["PrefixListId"] = json!(p),
        Peer::Group { .. } => r["ReferencedGroupInfo"] = json!({"GroupId": group.unwrap_or_default(), "UserId": account}),
    }
    if let Some(desc) = &d.description {
        r["Description"] = json!(desc);
    }
    r
}

/// The peer of a stored rule, as AWS names it in messages.
fn peer_of(rule: &Value) -> String {
    for m in ["CidrIpv4", "CidrIpv6", "PrefixListId"] {
        if let Some(v) = rule.str(m) {
            return v.to_string();
        }
    }
    rule.pointer("/ReferencedGroupInfo/GroupId").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// What makes two rules of one group and direction the same rule (the description does not).
pub fn rule_key(rule: &Value) -> String {
    let kind = if rule.str("CidrIpv4").is_some() {
        "ipv4"
    } else if rule.str("CidrIpv6").is_some() {
        "ipv6"
    } else if rule.str("PrefixListId").is_some() {
        "pl"
    } else {
        "sg"
    };
    format!(
        "{}|{}|{}|{kind}:{}",
        rule.str("IpProtocol").unwrap_or("-1"),
        rule.int("FromPort").unwrap_or(-1),
        rule.int("ToPort").unwrap_or(-1),
        peer_of(rule)
    )
}

/// AWS's `InvalidPermission.Duplicate` message for a rule.
pub fn duplicate_message(rule: &Value) -> String {
    let proto = rule.str("IpProtocol").unwrap_or("-1");
    let (from, to) = (rule.int("FromPort").unwrap_or(-1), rule.int("ToPort").unwrap_or(-1));
    let what = match proto {
        "-1" => "ALL".to_string(),
        "tcp" | "udp" => format!("{}, from port: {from}, to port: {to}", proto.to_ascii_uppercase()),
        "icmp" | "icmpv6" => format!("{}, type: {from}, code: {to}", proto.to_ascii_uppercase()),
        other => other.to_string(),
    };
    format!("the specified rule \"peer: {}, {what}, ALLOW\" already exists", peer_of(rule))
}

/// A group's rules of one direction as `IpPermission`s: rules with the same protocol and
/// ports become one permission with several peers, in the order the rules were added.
pub fn permissions_from_rules<'a>(rules: impl IntoIterator<Item = &'a Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut keys: Vec<(String, i64, i64)> = Vec::new();
    for r in rules {
        let proto = r.str("IpProtocol").unwrap_or("-1").to_string();
        let (from, to) = (r.int("FromPort").unwrap_or(-1), r.int("ToPort").unwrap_or(-1));
        let key = (proto.clone(), from, to);
        let idx = match keys.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                let mut perm = json!({
                    "IpProtocol": proto, "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": [],
                });
                if has_ports(&proto) {
                    perm["FromPort"] = json!(from);
                    perm["ToPort"] = json!(to);
                }
                out.push(perm);
                keys.push(key);
                out.len() - 1
            }
        };
        let (list, mut entry) = if let Some(c) = r.str("CidrIpv4") {
            ("IpRanges", json!({"CidrIp": c}))
        } else if let Some(c) = r.str("CidrIpv6") {
            ("Ipv6Ranges", json!({"CidrIpv6": c}))
        } else if let Some(p) = r.str("PrefixListId") {
            ("PrefixListIds", json!({"PrefixListId": p}))
        } else if let Some(g) = r.get("ReferencedGroupInfo") {
            ("UserIdGroupPairs", json!({"GroupId": g.str("GroupId"), "UserId": g.str("UserId")}))
        } else {
            continue;
        };
        if let Some(d) = r.str("Description") {
            entry["Description"] = json!(d);
        }
        if let Some(items) = out[idx][list].as_array_mut() {
            items.push(entry);
        }
    }
    out
}

/// The order rules are shown in.
fn seq_of(rule: &Value) -> (u64, String) {
    (
        fb(rule).get("Seq").and_then(Value::as_u64).unwrap_or(0),
        rule.str("SecurityGroupRuleId").unwrap_or_default().to_string(),
    )
}

/// Checks the members of the `RevokedSecurityGroupRule` shape.
fn revoked_view(rule: &Value) -> Value {
    let mut r = json!({});
    for m in [
        "SecurityGroupRuleId", "GroupId", "IsEgress", "IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6",
        "PrefixListId", "Description",
    ] {
        if let Some(v) = rule.get(m) {
            r[m] = v.clone();
        }
    }
    if let Some(g) = rule.pointer("/ReferencedGroupInfo/GroupId") {
        r["ReferencedGroupId"] = g.clone();
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Looking groups up.

const NO_DEFAULT_VPC: &str = "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.";

fn group_not_found(what: &str) -> AwsError {
    AwsError::new("InvalidGroup.NotFound", format!("The security group '{what}' does not exist"))
}

fn find_by_name<'t>(tx: &'t Tx, scope: &Scope, vpc_id: &str, name: &str) -> Option<&'t Value> {
    tx.list(scope, kind::SECURITY_GROUP)
        .map(|(_, d)| d)
        .find(|d| d.str("VpcId") == Some(vpc_id) && d.str("GroupName") == Some(name))
}

/// The group an operation acts on: `GroupId`, or `GroupName` in the default VPC
/// (`default_vpc` is looked up by the caller before the transaction).
fn target_group(tx: &Tx, scope: &Scope, input: &Value, default_vpc: Option<&str>) -> Result<Value, AwsError> {
    if let Some(id) = input.str("GroupId") {
        return tx.get(scope, kind::SECURITY_GROUP, id).cloned().ok_or_else(|| group_not_found(id));
    }
    let Some(name) = input.str("GroupName") else {
        return Err(AwsError::new("MissingParameter", "The request must contain the parameter groupName or groupId"));
    };
    let Some(vpc) = default_vpc else { return Err(AwsError::new("VPCIdNotSpecified", NO_DEFAULT_VPC)) };
    find_by_name(tx, scope, vpc, name).cloned().ok_or_else(|| {
        AwsError::new("InvalidGroup.NotFound", format!("The security group '{name}' does not exist in default VPC '{vpc}'"))
    })
}

/// The default VPC, when the target group is named rather than given by id.
fn default_vpc_for(env: &Env, input: &Value) -> Option<String> {
    if input.str("GroupId").is_none() && input.str("GroupName").is_some() {
        super::defaults::default_vpc_id(env.store, env)
    } else {
        None
    }
}

fn check_group_id(input: &Value) -> Result<(), AwsError> {
    match input.str("GroupId") {
        Some(id) => super::check_id_format(id, "sg", "InvalidGroupId.Malformed"),
        None => Ok(()),
    }
}

/// Turns a draft into a rule document, looking its group peer up in `vpc_id`.
fn resolve_draft(tx: &Tx, scope: &Scope, account: &str, vpc_id: &str, d: &Draft) -> Result<Value, AwsError> {
    let group = match &d.peer {
        Peer::Group { id: Some(id), .. } => {
            if tx.get(scope, kind::SECURITY_GROUP, id).is_none() {
                return Err(group_not_found(id));
            }
            Some(id.clone())
        }
        Peer::Group { id: None, name: Some(name) } => {
            let g = find_by_name(tx, scope, vpc_id, name).ok_or_else(|| group_not_found(name))?;
            Some(g.str("GroupId").unwrap_or_default().to_string())
        }
        _ => None,
    };
    Ok(rule_value(d, group.as_deref(), account))
}

/// The permissions an Authorize/Revoke call asks for: `IpPermissions`, or the legacy
/// top-level `IpProtocol`/`FromPort`/`ToPort`/`CidrIp`/`SourceSecurityGroupName`.
fn requested_permissions(input: &Value) -> Vec<Value> {
    let mut perms: Vec<Value> = input.list("IpPermissions").to_vec();
    let legacy = ["IpProtocol", "FromPort", "ToPort", "CidrIp", "SourceSecurityGroupName"]
        .iter()
        .any(|k| input.get(*k).is_some_and(|v| !v.is_null()));
    if legacy {
        let mut p = json!({"IpProtocol": input.str("IpProtocol").unwrap_or("-1")});
        for m in ["FromPort", "ToPort"] {
            if let Some(v) = input.int(m) {
                p[m] = json!(v);
            }
        }
        if let Some(c) = input.str("CidrIp") {
            p["IpRanges"] = json!([{"CidrIp": c}]);
        }
        if let Some(n) = input.str("SourceSecurityGroupName") {
            p["UserIdGroupPairs"] = json!([{"GroupName": n}]);
        }
        perms.push(p);
    }
    perms
}

fn rules_of<'t>(tx: &'t Tx, scope: &Scope, group_id: &str, egress: bool) -> Vec<(String, &'t Value)> {
    tx.list(scope, kind::SECURITY_GROUP_RULE)
        .filter(|(_, d)| d.str("GroupId") == Some(group_id) && d.bool("IsEgress") == Some(egress))
        .map(|(id, d)| (id.to_string(), d))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Handlers.

fn check_name(member: &str, value: &str) -> Result<(), AwsError> {
    if value.is_empty() {
        return Err(super::missing(member));
    }
    if value.chars().count() > 255 {
        return Err(super::invalid_value(member, value, "Length exceeds maximum of 255 characters."));
    }
    if !value.is_ascii() {
        return Err(super::invalid_value(member, value, "Character sets beyond ASCII are not supported."));
    }
    Ok(())
}

fn create_security_group(env: &Env, input: Value) -> Result<Value, AwsError> {
    let name = input.str("GroupName").unwrap_or_default().to_string();
    let description = input.str("Description").unwrap_or_default().to_string();
    check_name("GroupName", &name)?;
    check_name("GroupDescription", &description)?;
    if name.to_ascii_lowercase().starts_with("sg-") {
        return Err(super::invalid_value("GroupName", &name, "Group names may not be in the format sg-*."));
    }
    super::check_tag_specs(&input, &["security-group"])?;
    let tags = super::tags_for(&input, "security-group")?;
    let vpc_id = match input.str("VpcId") {
        Some(v) => v.to_string(),
        None => super::defaults::default_vpc_id(env.store, env)
            .ok_or_else(|| AwsError::new("VPCIdNotSpecified", "No default VPC for this user"))?,
    };
    super::dry_run(&input)?;
    let scope = env.scope();
    let group = env.write(|tx| {
        if tx.get(&scope, kind::VPC, &vpc_id).is_none() {
            return Err(super::not_found("InvalidVpcID.NotFound", "vpc", &[vpc_id.clone()]));
        }
        if find_by_name(tx, &scope, &vpc_id, &name).is_some() {
            return Err(AwsError::new(
                "InvalidGroup.Duplicate",
                format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
            ));
        }
        let group = create_group_in_tx(tx, env, &vpc_id, &name, &description, tags.clone());
        let gid = group.str("GroupId").unwrap_or_default().to_string();
        add_rule_in_tx(tx, env, &gid, &vpc_id, true, allow_all_egress());
        Ok(group)
    })?;
    let mut out = json!({"GroupId": group["GroupId"], "SecurityGroupArn": group["SecurityGroupArn"]});
    if !tags.is_empty() {
        out["Tags"] = json!(tags);
    }
    Ok(out)
}

fn delete_security_group(env: &Env, input: Value) -> Result<Value, AwsError> {
    if input.str("GroupId").is_none() && input.str("GroupName").is_none() {
        return Err(AwsError::new("MissingParameter", "The request must contain the parameter groupName or groupId"));
    }
    check_group_id(&input)?;
    let default_vpc = default_vpc_for(env, &input);
    super::dry_run(&input)?;
    let scope = env.scope();
    let gid = env.write(|tx| {
        let group = target_group(tx, &scope, &input, default_vpc.as_deref())?;
        let gid = group.str("GroupId").unwrap_or_default().to_string();
        if group.str("GroupName") == Some("default") {
            return Err(AwsError::new(
                "CannotDelete",
                format!("the specified group: \"{gid}\" name: \"default\" cannot be deleted by a user"),
            ));
        }
        let uses = |d: &Value| {
            d.list("SecurityGroups").iter().any(|g| g.str("GroupId") == Some(gid.as_str()))
                || d.list("NetworkInterfaces")
                    .iter()
                    .any(|n| n.list("Groups").iter().any(|g| g.str("GroupId") == Some(gid.as_str())))
        };
        let in_use = tx.list(&scope, kind::INSTANCE).any(|(_, d)| {
            d.pointer("/State/Name").and_then(Value::as_str) != Some("terminated") && uses(d)
        });
        let referenced = tx.list(&scope, kind::SECURITY_GROUP_RULE).any(|(_, d)| {
            d.str("GroupId") != Some(gid.as_str())
                && d.pointer("/ReferencedGroupInfo/GroupId").and_then(Value::as_str) == Some(gid.as_str())
        });
        if in_use || referenced {
            return Err(AwsError::new("DependencyViolation", format!("resource {gid} has a dependent object")));
        }
        let rules: Vec<String> = tx
            .list(&scope, kind::SECURITY_GROUP_RULE)
            .filter(|(_, d)| d.str("GroupId") == Some(gid.as_str()))
            .map(|(id, _)| id.to_string())
            .collect();
        for id in rules {
            tx.delete(&scope, kind::SECURITY_GROUP_RULE, &id);
        }
        tx.delete(&scope, kind::SECURITY_GROUP, &gid);
        Ok(gid)
    })?;
    Ok(json!({"Return": true, "GroupId": gid}))
}

/// Adds `IpPermissions` and `IpPermissionsEgress`, built from the rule documents.
fn group_view(env: &Env) -> impl Fn(&Value) -> Value {
    let mut by_group: HashMap<String, Vec<Value>> = HashMap::new();
    env.store.scan(&env.scope(), kind::SECURITY_GROUP_RULE, |iter| {
        for (_, d) in iter {
            if let Some(g) = d.str("GroupId") {
                by_group.entry(g.to_string()).or_default().push(d.clone());
            }
        }
    });
    for rules in by_group.values_mut() {
        rules.sort_by_key(seq_of);
    }
    move |doc: &Value| {
        let mut d = doc.clone();
        let rules = doc.str("GroupId").and_then(|g| by_group.get(g)).map(Vec::as_slice).unwrap_or(&[]);
        d["IpPermissions"] = json!(permissions_from_rules(rules.iter().filter(|r| r.bool("IsEgress") != Some(true))));
        d["IpPermissionsEgress"] = json!(permissions_from_rules(rules.iter().filter(|r| r.bool("IsEgress") == Some(true))));
        d
    }
}

fn describe_security_groups(env: &Env, mut input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let scope = env.scope();
    let mut ids = input.strings("GroupIds");
    for id in &ids {
        super::check_id_format(id, "sg", "InvalidGroupId.Malformed")?;
    }
    let names = input.strings("GroupNames");
    if !names.is_empty() {
        let vpc = super::defaults::default_vpc_id(env.store, env)
            .ok_or_else(|| AwsError::new("VPCIdNotSpecified", NO_DEFAULT_VPC))?;
        for name in &names {
            let found = env.store.scan(&scope, kind::SECURITY_GROUP, |iter| {
                for (id, d) in iter {
                    if d.str("VpcId") == Some(vpc.as_str()) && d.str("GroupName") == Some(name.as_str()) {
                        return Some(id.to_string());
                    }
                }
                None
            });
            match found {
                Some(id) => ids.push(id),
                None => {
                    return Err(AwsError::new(
                        "InvalidGroup.NotFound",
                        format!("The security group '{name}' does not exist in default VPC '{vpc}'"),
                    ))
                }
            }
        }
        input["GroupIds"] = json!(ids);
    }
    if let Some(missing) = ids.iter().find(|id| env.store.get(&scope, kind::SECURITY_GROUP, id).is_none()) {
        return Err(group_not_found(missing));
    }
    let view = group_view(env);
    let (groups, next) = describe(env, &input, &SPEC, Some(&view))?;
    Ok(json!({"SecurityGroups": groups, "NextToken": next}))
}

fn authorize_ingress(env: &Env, input: Value) -> Result<Value, AwsError> {
    authorize(env, input, false)
}

fn authorize_egress(env: &Env, input: Value) -> Result<Value, AwsError> {
    authorize(env, input, true)
}

/// What Authorize* and Revoke* share: the requested rules as drafts, and the default VPC in
/// which a `GroupName` is looked up (ingress only; egress needs a `GroupId`).
fn drafts_and_target(
    env: &Env,
    input: &Value,
    permissions: &[Value],
    egress: bool,
) -> Result<(Vec<Draft>, Option<String>), AwsError> {
    let mut drafts = Vec::new();
    for p in permissions {
        drafts.extend(drafts_from_permission(p)?);
    }
    if egress && input.str("GroupId").is_none() {
        return Err(super::missing("GroupId"));
    }
    let default_vpc = if egress { None } else { default_vpc_for(env, input) };
    Ok((drafts, default_vpc))
}

fn authorize(env: &Env, input: Value, egress: bool) -> Result<Value, AwsError> {
    check_group_id(&input)?;
    let permissions = requested_permissions(&input);
    if permissions.is_empty() {
        return Err(AwsError::new("MissingParameter", "The request must contain the parameter ipPermissions"));
    }
    super::check_tag_specs(&input, &["security-group-rule"])?;
    let tags = super::tags_for(&input, "security-group-rule")?;
    let (drafts, default_vpc) = drafts_and_target(env, &input, &permissions, egress)?;
    super::dry_run(&input)?;
    let scope = env.scope();
    let account = env.ctx.account.clone();
    let rules = env.write(|tx| {
        let group = target_group(tx, &scope, &input, default_vpc.as_deref())?;
        let gid = group.str("GroupId").unwrap_or_default().to_string();
        let vpc_id = group.str("VpcId").unwrap_or_default().to_string();
        let mut new_rules = Vec::new();
        for d in &drafts {
            new_rules.push(resolve_draft(tx, &scope, &account, &vpc_id, d)?);
        }
        let mut seen = HashSet::new();
        for r in &new_rules {
            if !seen.insert(rule_key(r)) {
                return Err(bad_value("The same permission must not appear multiple times"));
            }
        }
        let existing: HashSet<String> = rules_of(tx, &scope, &gid, egress).into_iter().map(|(_, d)| rule_key(d)).collect();
        if let Some(dup) = new_rules.iter().find(|r| existing.contains(&rule_key(r))) {
            return Err(AwsError::new("InvalidPermission.Duplicate", duplicate_message(dup)));
        }
        let mut out = Vec::new();
        for mut r in new_rules {
            r["Tags"] = json!(tags);
            out.push(add_rule_in_tx(tx, env, &gid, &vpc_id, egress, r));
        }
        Ok(out)
    })?;
    Ok(json!({"Return": true, "SecurityGroupRules": rules}))
}

fn revoke_ingress(env: &Env, input: Value) -> Result<Value, AwsError> {
    revoke(env, input, false)
}

fn revoke_egress(env: &Env, input: Value) -> Result<Value, AwsError> {
    revoke(env, input, true)
}

fn rule_id_not_found(id: &str) -> AwsError {
    super::not_found("InvalidSecurityGroupRuleId.NotFound", "security group rule", &[id.to_string()])
}

fn revoke(env: &Env, input: Value, egress: bool) -> Result<Value, AwsError> {
    check_group_id(&input)?;
    let rule_ids = input.strings("SecurityGroupRuleIds");
    let permissions = requested_permissions(&input);
    if permissions.is_empty() && rule_ids.is_empty() {
        return Err(AwsError::new("MissingParameter", "The request must contain the parameter ipPermissions"));
    }
    let (drafts, default_vpc) = drafts_and_target(env, &input, &permissions, egress)?;
    super::dry_run(&input)?;
    let scope = env.scope();
    let account = env.ctx.account.clone();
    let revoked = env.write(|tx| {
        let group = target_group(tx, &scope, &input, default_vpc.as_deref())?;
        let gid = group.str("GroupId").unwrap_or_default().to_string();
        let vpc_id = group.str("VpcId").unwrap_or_default().to_string();
        let mut wanted = Vec::new();
        for d in &drafts {
            wanted.push(resolve_draft(tx, &scope, &account, &vpc_id, d)?);
        }
        let existing = rules_of(tx, &scope, &gid, egress);
        let mut doomed: Vec<String> = Vec::new();
        for id in &rule_ids {
            if !existing.iter().any(|(e, _)| e == id) {
                return Err(rule_id_not_found(id));
            }
            if !doomed.contains(id) {
                doomed.push(id.clone());
            }
        }
        for r in &wanted {
            let key = rule_key(r);
            let Some((id, _)) = existing.iter().find(|(_, d)| rule_key(d) == key) else {
                return Err(AwsError::new(
                    "InvalidPermission.NotFound",
                    "The specified rule does not exist in this security group.",
                ));
            };
            if !doomed.contains(id) {
                doomed.push(id.clone());
            }
        }
        let mut out = Vec::new();
        for id in doomed {
            if let Some(old) = tx.delete(&scope, kind::SECURITY_GROUP_RULE, &id) {
                out.push(revoked_view(&old));
            }
        }
        Ok(out)
    })?;
    Ok(json!({"Return": true, "RevokedSecurityGroupRules": revoked}))
}

fn describe_security_group_rules(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let (rules, next) = describe(env, &input, &RULE_SPEC, None)?;
    Ok(json!({"SecurityGroupRules": rules, "NextToken": next}))
}

fn modify_security_group_rules(env: &Env, input: Value) -> Result<Value, AwsError> {
    check_group_id(&input)?;
    let gid = input.str("GroupId").unwrap_or_default().to_string();
    let mut updates: Vec<(String, Option<Draft>)> = Vec::new();
    for u in input.list("SecurityGroupRules") {
        let id = u.str("SecurityGroupRuleId").unwrap_or_default().to_string();
        let draft = match u.get("SecurityGroupRule").filter(|v| !v.is_null()) {
            Some(req) => Some(draft_from_rule_request(req)?),
            None => None,
        };
        updates.push((id, draft));
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    let account = env.ctx.account.clone();
    env.write(|tx| {
        let group = tx.get(&scope, kind::SECURITY_GROUP, &gid).cloned().ok_or_else(|| group_not_found(&gid))?;
        let vpc_id = group.str("VpcId").unwrap_or_default().to_string();
        for (id, draft) in &updates {
            let rule = tx
                .get(&scope, kind::SECURITY_GROUP_RULE, id)
                .filter(|r| r.str("GroupId") == Some(gid.as_str()))
                .cloned()
                .ok_or_else(|| rule_id_not_found(id))?;
            let Some(draft) = draft else { continue };
            let egress = rule.bool("IsEgress") == Some(true);
            let new = resolve_draft(tx, &scope, &account, &vpc_id, draft)?;
            let key = rule_key(&new);
            if rules_of(tx, &scope, &gid, egress).iter().any(|(other, d)| other != id && rule_key(d) == key) {
                return Err(AwsError::new("InvalidPermission.Duplicate", duplicate_message(&new)));
            }
            if let Some(doc) = tx.get_mut(&scope, kind::SECURITY_GROUP_RULE, id) {
                if let Some(obj) = doc.as_object_mut() {
                    for m in ["IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId", "ReferencedGroupInfo", "Description"] {
                        obj.remove(m);
                    }
                    if let Some(n) = new.as_object() {
                        obj.extend(n.clone());
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(json!({"Return": true}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_normalized() {
        assert_eq!(normalize_protocol("tcp").unwrap(), "tcp");
        assert_eq!(normalize_protocol("TCP").unwrap(), "tcp");
        assert_eq!(normalize_protocol("6").unwrap(), "tcp");
        assert_eq!(normalize_protocol("17").unwrap(), "udp");
        assert_eq!(normalize_protocol("1").unwrap(), "icmp");
        assert_eq!(normalize_protocol("58").unwrap(), "icmpv6");
        assert_eq!(normalize_protocol("all").unwrap(), "-1");
        assert_eq!(normalize_protocol("-1").unwrap(), "-1");
        assert_eq!(normalize_protocol("50").unwrap(), "50");
        assert_eq!(normalize_protocol("foo").unwrap_err().code, "InvalidParameterValue");
        assert!(normalize_protocol("256").is_err());
    }

    #[test]
    fn ports_are_checked() {
        assert_eq!(normalize_ports("tcp", Some(80), Some(80)).unwrap(), (80, 80));
        let e = normalize_ports("tcp", Some(80), None).unwrap_err();
        assert_eq!(e.message, "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.");
        assert!(normalize_ports("udp", Some(-1), Some(-1)).is_err());
        assert!(normalize_ports("tcp", Some(90), Some(80)).is_err());
        assert!(normalize_ports("tcp", Some(0), Some(65536)).is_err());
        assert_eq!(normalize_ports("icmp", Some(-1), Some(-1)).unwrap(), (-1, -1));
        assert_eq!(normalize_ports("icmp", Some(8), Some(0)).unwrap(), (8, 0));
        assert!(normalize_ports("icmp", None, None).is_err());
        assert_eq!(normalize_ports("icmpv6", None, None).unwrap(), (-1, -1));
        assert_eq!(normalize_ports("-1", Some(22), Some(22)).unwrap(), (-1, -1));
        assert_eq!(normalize_ports("50", None, None).unwrap(), (-1, -1));
    }

    #[test]
    fn cidrs_are_checked() {
        assert_eq!(parse_cidr4("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(parse_cidr4("10.1.0.0/16").unwrap(), "10.1.0.0/16");
        assert_eq!(parse_cidr4("10.1.0.1/16").unwrap_err().message, "CIDR block 10.1.0.1/16 is malformed");
        assert!(parse_cidr4("10.1.0.1").is_err());
        assert!(parse_cidr4("nope").is_err());
        assert_eq!(parse_cidr6("::/0").unwrap(), "::/0");
        assert_eq!(parse_cidr6("2001:DB8::/32").unwrap(), "2001:db8::/32");
        assert!(parse_cidr6("2001:db8::1/32").is_err());
    }

    #[test]
    fn permissions_split_into_drafts() {
        let perm = json!({"IpProtocol": "6", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "office"}, {"CidrIp": "192.168.0.0/16"}],
            "UserIdGroupPairs": [{"GroupId": "sg-12345678"}]});
        let drafts = drafts_from_permission(&perm).unwrap();
        assert_eq!(drafts.len(), 3);
        assert_eq!(drafts[0].protocol, "tcp");
        assert_eq!(drafts[0].description.as_deref(), Some("office"));
        assert_eq!(drafts[2].peer, Peer::Group { id: Some("sg-12345678".into()), name: None });
        let r = rule_value(&drafts[2], Some("sg-12345678"), "000000000000");
        assert_eq!(r["ReferencedGroupInfo"], json!({"GroupId": "sg-12345678", "UserId": "000000000000"}));
        assert!(drafts_from_permission(&json!({"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "1.2.3.4/32"}]})).is_err());
        assert!(drafts_from_permission(&json!({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
            "IpRanges": [{"CidrIp": "1.2.3.4/24"}]}))
        .is_err());
    }

    #[test]
    fn legacy_members_become_a_permission() {
        let input = json!({"GroupId": "sg-1", "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"});
        let perms = requested_permissions(&input);
        assert_eq!(perms, vec![json!({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})]);
        assert!(requested_permissions(&json!({"GroupId": "sg-1"})).is_empty());
    }

    #[test]
    fn duplicates_ignore_descriptions() {
        let a = json!({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "0.0.0.0/0", "Description": "x"});
        let b = json!({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "0.0.0.0/0"});
        let c = json!({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 81, "CidrIpv4": "0.0.0.0/0"});
        let g = json!({"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "ReferencedGroupInfo": {"GroupId": "sg-1"}});
        assert_eq!(rule_key(&a), rule_key(&b));
        assert_ne!(rule_key(&a), rule_key(&c));
        assert_ne!(rule_key(&a), rule_key(&g));
        assert_eq!(
            duplicate_message(&b),
            "the specified rule \"peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW\" already exists"
        );
        assert_eq!(
            duplicate_message(&json!({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv4": "0.0.0.0/0"})),
            "the specified rule \"peer: 0.0.0.0/0, ALL, ALLOW\" already exists"
        );
        assert!(duplicate_message(&g).contains("peer: sg-1, TCP"));
    }

    #[test]
    fn rules_merge_into_permissions() {
        let rules = [
            json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "10.0.0.0/8", "Description": "ssh"}),
            json!({"IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "ReferencedGroupInfo": {"GroupId": "sg-1", "UserId": "123"}}),
            json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "192.168.0.0/16"}),
            json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "ReferencedGroupInfo": {"GroupId": "sg-2", "UserId": "123"}}),
            json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIpv6": "::/0"}),
        ];
        let perms = permissions_from_rules(rules.iter());
        assert_eq!(perms.len(), 3);
        assert_eq!(
            perms[0],
            json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}, {"CidrIp": "192.168.0.0/16"}],
                "Ipv6Ranges": [], "PrefixListIds": [],
                "UserIdGroupPairs": [{"GroupId": "sg-2", "UserId": "123"}]})
        );
        // All-traffic permissions show no ports, as AWS shows them.
        assert_eq!(
            perms[1],
            json!({"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                "UserIdGroupPairs": [{"GroupId": "sg-1", "UserId": "123"}]})
        );
        assert_eq!(perms[2]["Ipv6Ranges"], json!([{"CidrIpv6": "::/0"}]));
        assert!(permissions_from_rules(std::iter::empty()).is_empty());
    }

    #[test]
    fn rule_requests_need_one_peer() {
        let ok = json!({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "CidrIpv4": "10.0.0.0/8"});
        assert_eq!(draft_from_rule_request(&ok).unwrap().peer, Peer::Cidr4("10.0.0.0/8".into()));
        let two = json!({"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "CidrIpv4": "10.0.0.0/8", "ReferencedGroupId": "sg-1"});
        assert!(draft_from_rule_request(&two).is_err());
    }

    use crate::api::with_test_env as with_env;

    #[test]
    fn group_lifecycle() {
        with_env(|env| {
            let web = create_security_group(env, json!({"GroupName": "web", "Description": "w"})).unwrap();
            let web_id = web.str("GroupId").unwrap().to_string();
            let dup = create_security_group(env, json!({"GroupName": "web", "Description": "w"})).unwrap_err();
            assert_eq!(dup.code, "InvalidGroup.Duplicate");
            let db = create_security_group(env, json!({"GroupName": "db", "Description": "d"})).unwrap();
            let db_id = db.str("GroupId").unwrap().to_string();
            let out = authorize_ingress(
                env,
                json!({"GroupId": db_id, "IpPermissions": [
                    {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                     "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}],
                     "UserIdGroupPairs": [{"GroupId": web_id}]}]}),
            )
            .unwrap();
            assert_eq!(out.list("SecurityGroupRules").len(), 3);
            let again = authorize_ingress(
                env,
                json!({"GroupId": db_id, "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": "10.0.0.0/8"}),
            )
            .unwrap_err();
            assert_eq!(again.code, "InvalidPermission.Duplicate");
            let shown = describe_security_groups(env, json!({"GroupIds": [db_id]})).unwrap();
            let group = &shown["SecurityGroups"][0];
            assert_eq!(group["IpPermissions"].as_array().unwrap().len(), 1);
            assert_eq!(group["IpPermissions"][0]["IpRanges"].as_array().unwrap().len(), 2);
            assert_eq!(group["IpPermissionsEgress"][0]["IpProtocol"], "-1");
            let by_name = describe_security_groups(env, json!({"GroupNames": ["db"]})).unwrap();
            assert_eq!(by_name["SecurityGroups"][0]["GroupId"], json!(db_id));
            let filtered = describe_security_groups(
                env,
                json!({"Filters": [{"Name": "ip-permission.group-id", "Values": [web_id]}]}),
            )
            .unwrap();
            assert_eq!(filtered["SecurityGroups"].as_array().unwrap().len(), 1);
            // web is referenced by db's rule.
            let busy = delete_security_group(env, json!({"GroupId": web_id})).unwrap_err();
            assert_eq!(busy.code, "DependencyViolation");
            revoke_ingress(
                env,
                json!({"GroupId": db_id, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                    "UserIdGroupPairs": [{"GroupId": web_id}]}]}),
            )
            .unwrap();
            let gone = revoke_ingress(
                env,
                json!({"GroupId": db_id, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                    "UserIdGroupPairs": [{"GroupId": web_id}]}]}),
            )
            .unwrap_err();
            assert_eq!(gone.code, "InvalidPermission.NotFound");
            delete_security_group(env, json!({"GroupName": "web"})).unwrap();
            let default = describe_security_groups(env, json!({"GroupNames": ["default"]})).unwrap();
            let default_id = default["SecurityGroups"][0]["GroupId"].as_str().unwrap().to_string();
            let e = delete_security_group(env, json!({"GroupId": default_id})).unwrap_err();
            assert_eq!(e.code, "CannotDelete");
            let rules = describe_security_group_rules(
                env,
                json!({"Filters": [{"Name": "group-id", "Values": [db_id]}]}),
            )
            .unwrap();
            assert_eq!(rules["SecurityGroupRules"].as_array().unwrap().len(), 3);
            delete_security_group(env, json!({"GroupId": db_id})).unwrap();
            let none = describe_security_group_rules(
                env,
                json!({"Filters": [{"Name": "group-id", "Values": [db_id]}]}),
            )
            .unwrap();
            assert!(none["SecurityGroupRules"].as_array().unwrap().is_empty());
        });
    }

    #[test]
    fn sequence_grows() {
        let a = next_seq();
        let b = next_seq();
        assert!(b > a);
    }
}
