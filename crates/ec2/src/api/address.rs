//! Elastic IPs: AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
//! DescribeAddresses, DescribeAddressesAttribute.
//!
//! An address is its own document (kind `elastic-ip`, id the allocation id, in the shape of
//! `Address`) and holds a host-wide public-IP lease whose owner is the allocation id. While it is
//! associated, the instance document carries the address as its `PublicIpAddress` (which is
//! what the host's 1:1 NAT follows) and `_fb.ElasticAllocationId`. An Elastic IP stays with a
//! stopped instance and is disassociated, still allocated, when the instance terminates.

use fogbank_core::ids;
use fogbank_state::{Scope, Tx};
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::instance::{self, state_name, Elastic};
use super::{describe, fb, internet_gateway, kind, DescribeSpec, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("AllocateAddress", allocate_address),
    ("AssociateAddress", associate_address),
    ("DisassociateAddress", disassociate_address),
    ("ReleaseAddress", release_address),
    ("DescribeAddresses", describe_addresses),
    ("DescribeAddressesAttribute", describe_addresses_attribute),
];

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::ELASTIC_IP,
    ids_member: Some("AllocationIds"),
    not_found: ("InvalidAllocationID.NotFound", "allocation"),
    filters: &[
        ("allocation-id", "AllocationId"),
        ("association-id", "AssociationId"),
        ("domain", "Domain"),
        ("instance-id", "InstanceId"),
        ("network-border-group", "NetworkBorderGroup"),
        ("network-interface-id", "NetworkInterfaceId"),
        ("network-interface-owner-id", "NetworkInterfaceOwnerId"),
        ("private-ip-address", "PrivateIpAddress"),
        ("public-ip", "PublicIp"),
    ],
    id_filter: Some("allocation-id"),
    // DescribeAddresses does not page.
    page_limits: None,
};

/// The members an address has only while it is associated.
const ASSOCIATION_MEMBERS: [&str; 5] =
    ["AssociationId", "InstanceId", "NetworkInterfaceId", "NetworkInterfaceOwnerId", "PrivateIpAddress"];

fn allocation_not_found(id: &str) -> AwsError {
    super::not_found("InvalidAllocationID.NotFound", "allocation", &[id.to_string()])
}

fn address_not_found(ip: &str) -> AwsError {
    AwsError::new("InvalidAddress.NotFound", format!("Address '{ip}' not found."))
}

fn clear_association(address: &mut Value) {
    if let Some(o) = address.as_object_mut() {
        for m in ASSOCIATION_MEMBERS {
            o.remove(m);
        }
    }
}

/// Takes an instance's Elastic IP off it (the address stays allocated, now unassociated) and
/// leaves the instance without a public address. Nothing happens without an Elastic IP.
pub(crate) fn detach_from_instance(tx: &mut Tx, scope: &Scope, instance: &mut Value, region: &str) {
    let Some(allocation_id) = fb(instance).str("ElasticAllocationId").map(str::to_string) else { return };
    let instance_id = instance.str("InstanceId").unwrap_or_default().to_string();
    if let Some(address) = tx.get_mut(scope, kind::ELASTIC_IP, &allocation_id) {
        if address.str("InstanceId") == Some(instance_id.as_str()) {
            clear_association(address);
        }
    }
    instance["_fb"]["ElasticAllocationId"] = Value::Null;
    instance::set_public_ip(instance, None, region, None);
}

/// Disassociates an address from wherever it is. As in EC2, an instance that got a public
/// address at launch and is running is given a new (non-elastic) one at once; a stopped one
/// gets it when it starts.
fn disassociate_in_tx(tx: &mut Tx, env: &Env, allocation_id: &str) {
    let scope = env.scope();
    let Some(address) = tx.get_mut(&scope, kind::ELASTIC_IP, allocation_id) else { return };
    let instance_id = address.str("InstanceId").map(str::to_string);
    clear_association(address);
    let Some(instance_id) = instance_id else { return };
    let Some(mut doc) = tx.get(&scope, kind::INSTANCE, &instance_id).cloned() else { return };
    if fb(&doc).str("ElasticAllocationId") != Some(allocation_id) {
        return;
    }
    detach_from_instance(tx, &scope, &mut doc, &env.ctx.region);
    if fb(&doc).bool("WantsPublicIp") == Some(true) && matches!(state_name(&doc), "pending" | "running") {
        // An exhausted range leaves the instance without one, as a failed lease writes nothing.
        if let Ok(ip) = instance::lease_public_ip(tx, env, &instance_id) {
            instance::set_public_ip(&mut doc, Some(&ip), &env.ctx.region, None);
            doc["_fb"]["ReleasedPublicIp"] = Value::Null;
        }
    }
    tx.put(&scope, kind::INSTANCE, &instance_id, doc);
}

fn in_default_vpc(tx: &Tx, scope: &Scope, instance: &Value) -> bool {
    instance
        .str("VpcId")
        .and_then(|v| tx.get(scope, kind::VPC, v))
        .is_some_and(|v| v.bool("IsDefault") == Some(true))
}

fn allocate_address(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::check_tag_specs(&input, &["elastic-ip"])?;
    let tags = super::tags_for(&input, "elastic-ip")?;
    let requested = input.str("Address").map(str::to_string);
    if let Some(ip) = &requested {
        if crate::net::parse_ip(ip).is_none() {
            return Err(super::invalid_value("Address", ip, "Invalid IPv4 address."));
        }
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    let allocation_id = ids::resource_id("eipalloc");
    let region = env.ctx.region.clone();
    let doc = env.write(|tx| {
        let public_ip = match &requested {
            // Recovering a given address: only a free one of the range.
            Some(ip) if instance::lease_given_public_ip(tx, env, ip, &allocation_id) => ip.clone(),
            Some(ip) => return Err(address_not_found(ip)),
            None => instance::lease_public_ip(tx, env, &allocation_id)?,
        };
        let doc = json!({
            "AllocationId": allocation_id,
            "PublicIp": public_ip,
            "Domain": "vpc",
            "PublicIpv4Pool": "amazon",
            "NetworkBorderGroup": region,
            "Tags": tags,
        });
        tx.put(&scope, kind::ELASTIC_IP, &allocation_id, doc.clone());
        Ok(doc)
    })?;
    Ok(json!({
        "PublicIp": doc.str("PublicIp"),
        "AllocationId": allocation_id,
        "PublicIpv4Pool": "amazon",
        "NetworkBorderGroup": region,
        "Domain": "vpc",
    }))
}

/// The allocation an input names: `AllocationId`, else (deprecated) the address's `PublicIp`.
fn allocation_of(tx: &Tx, scope: &Scope, input: &Value) -> Result<String, AwsError> {
    if let Some(id) = input.str("AllocationId") {
        super::check_id_format(id, "eipalloc", "InvalidAllocationID.Malformed")?;
        return Ok(id.to_string());
    }
    let Some(ip) = input.str("PublicIp") else { return Err(super::missing("AllocationId")) };
    tx.list(scope, kind::ELASTIC_IP)
        .find(|(_, d)| d.str("PublicIp") == Some(ip))
        .map(|(id, _)| id.to_string())
        .ok_or_else(|| address_not_found(ip))
}

fn associate_address(env: &Env, input: Value) -> Result<Value, AwsError> {
    let instance_id = input.str("InstanceId").map(str::to_string);
    let eni_id = input.str("NetworkInterfaceId").map(str::to_string);
    match (&instance_id, &eni_id) {
        (Some(_), Some(_)) => {
            return Err(AwsError::new(
                "InvalidParameterCombination",
                "You can specify either an instance ID or a network interface ID, but not both.",
            ))
        }
        (None, None) => {
            return Err(AwsError::new("MissingParameter", "Either an instance ID or a network interface ID must be specified."))
        }
        _ => {}
    }
    if let Some(id) = &instance_id {
        super::check_id_format(id, "i", "InvalidInstanceID.Malformed")?;
    }
    let allow = input.bool("AllowReassociation") == Some(true);
    let wanted_private = input.str("PrivateIpAddress").map(str::to_string);
    let scope = env.scope();
    let region = env.ctx.region.clone();
    let account = env.ctx.account.clone();
    env.write(|tx| {
        let allocation_id = allocation_of(tx, &scope, &input)?;
        let address = tx.get(&scope, kind::ELASTIC_IP, &allocation_id).cloned().ok_or_else(|| allocation_not_found(&allocation_id))?;
        // The target instance and its interface.
        let target = match (&instance_id, &eni_id) {
            (Some(id), _) => tx
                .get(&scope, kind::INSTANCE, id)
                .cloned()
                .ok_or_else(|| super::not_found("InvalidInstanceID.NotFound", "instance", &[id.clone()]))?,
            (None, Some(eni)) => tx
                .list(&scope, kind::INSTANCE)
                .find(|(_, d)| d.list("NetworkInterfaces").iter().any(|n| n.str("NetworkInterfaceId") == Some(eni.as_str())))
                .map(|(_, d)| d.clone())
                .ok_or_else(|| super::not_found("InvalidNetworkInterfaceID.NotFound", "networkInterface", &[eni.clone()]))?,
            (None, None) => unreachable!("checked above"),
        };
        let target_id = target.str("InstanceId").unwrap_or_default().to_string();
        let state = state_name(&target).to_string();
        if !matches!(state.as_str(), "running" | "stopping" | "stopped") || target.str("SubnetId").is_none() {
            return Err(match &eni_id {
                Some(eni) => AwsError::new(
                    "IncorrectInstanceState",
                    format!("The {state} instance to which '{eni}' is attached is not in a valid state for this operation"),
                ),
                None => AwsError::new(
                    "InvalidInstanceID",
                    format!("The {state} instance '{target_id}' is not in a valid state for this operation."),
                ),
            });
        }
        let vpc_id = target.str("VpcId").unwrap_or_default().to_string();
        let gateway = tx.list(&scope, kind::IGW).any(|(_, g)| internet_gateway::attached_vpc(g) == Some(vpc_id.as_str()));
        if !gateway {
            return Err(AwsError::new("Gateway.NotAttached", format!("Network {vpc_id} is not attached to any internet gateway")));
        }
        let eni = match &eni_id {
            Some(e) => target.list("NetworkInterfaces").iter().find(|n| n.str("NetworkInterfaceId") == Some(e.as_str())),
            None => target.list("NetworkInterfaces").first(),
        }
        .cloned()
        .unwrap_or(Value::Null);
        let eni_id = eni.str("NetworkInterfaceId").unwrap_or_default().to_string();
        let private_ip = match &wanted_private {
            Some(ip) => {
                let assigned = eni.list("PrivateIpAddresses").iter().any(|p| p.str("PrivateIpAddress") == Some(ip.as_str()));
                if !assigned {
                    return Err(AwsError::new(
                        "InvalidParameterValue",
                        format!("The specified private IP address {ip} is not assigned to the network interface {eni_id}."),
                    ));
                }
                ip.clone()
            }
            None => eni.str("PrivateIpAddress").or(target.str("PrivateIpAddress")).unwrap_or_default().to_string(),
        };

        // Already there: nothing to change.
        if address.str("InstanceId") == Some(target_id.as_str()) && address.str("PrivateIpAddress") == Some(private_ip.as_str()) {
            super::dry_run(&input)?;
            return Ok(json!({ "AssociationId": address.str("AssociationId") }));
        }
        if let (Some(assoc), false) = (address.str("AssociationId"), allow) {
            return Err(AwsError::new(
                "Resource.AlreadyAssociated",
                format!("resource {allocation_id} is already associated with associate-id {assoc}"),
            ));
        }
        // The target's own Elastic IP gives way in a default VPC, or when reassociation is allowed.
        let previous = fb(&target).str("ElasticAllocationId").filter(|a| *a != allocation_id).map(str::to_string);
        if previous.is_some() && !allow && !in_default_vpc(tx, &scope, &target) {
            return Err(AwsError::new(
                "Resource.AlreadyAssociated",
                format!(
                    "resource {eni_id} and {private_ip} is already associated with public address {}",
                    target.str("PublicIpAddress").unwrap_or_default()
                ),
            ));
        }
        super::dry_run(&input)?;

        // Take the address off where it was, then the target's own public address off it.
        if address.str("AssociationId").is_some() {
            disassociate_in_tx(tx, env, &allocation_id);
        }
        let mut doc = tx.get(&scope, kind::INSTANCE, &target_id).cloned().unwrap_or(target);
        detach_from_instance(tx, &scope, &mut doc, &region);
        if let Some(ip) = doc.str("PublicIpAddress").map(str::to_string) {
            instance::release_public_ip_of(tx, &ip, &target_id);
        }
        let public_ip = address.str("PublicIp").unwrap_or_default().to_string();
        let association_id = ids::resource_id("eipassoc");
        let elastic = Elastic { owner: &account, allocation_id: &allocation_id, association_id: &association_id };
        instance::set_public_ip(&mut doc, Some(&public_ip), &region, Some(&elastic));
        doc["_fb"]["ElasticAllocationId"] = json!(allocation_id);
        doc["_fb"]["ReleasedPublicIp"] = Value::Null;
        tx.put(&scope, kind::INSTANCE, &target_id, doc);
        if let Some(a) = tx.get_mut(&scope, kind::ELASTIC_IP, &allocation_id) {
            a["AssociationId"] = json!(association_id);
            a["InstanceId"] = json!(target_id);
            a["NetworkInterfaceId"] = json!(eni_id);
            a["NetworkInterfaceOwnerId"] = json!(account);
            a["PrivateIpAddress"] = json!(private_ip);
        }
        Ok(json!({ "AssociationId": association_id }))
    })
}

fn disassociate_address(env: &Env, input: Value) -> Result<Value, AwsError> {
    let scope = env.scope();
    let association_id = match (input.str("AssociationId"), input.str("PublicIp")) {
        (Some(a), _) => a.to_string(),
        (None, Some(ip)) => {
            let known = env.store.scan(&scope, kind::ELASTIC_IP, |it| it.map(|(_, d)| d).any(|d| d.str("PublicIp") == Some(ip)));
            return Err(if known {
                AwsError::new(
                    "InvalidParameterValue",
                    "You must specify an association id when unmapping an address from a VPC instance",
                )
            } else {
                address_not_found(ip)
            });
        }
        (None, None) => return Err(super::missing("AssociationId")),
    };
    env.write(|tx| {
        let allocation_id = tx
            .list(&scope, kind::ELASTIC_IP)
            .find(|(_, d)| d.str("AssociationId") == Some(association_id.as_str()))
            .map(|(id, _)| id.to_string())
            .ok_or_else(|| super::not_found("InvalidAssociationID.NotFound", "association", &[association_id.clone()]))?;
        super::dry_run(&input)?;
        disassociate_in_tx(tx, env, &allocation_id);
        Ok(())
    })?;
    Ok(json!({}))
}

fn release_address(env: &Env, input: Value) -> Result<Value, AwsError> {
    let scope = env.scope();
    let allocation_id = match (input.str("AllocationId"), input.str("PublicIp")) {
        (Some(a), _) => {
            super::check_id_format(a, "eipalloc", "InvalidAllocationID.Malformed")?;
            a.to_string()
        }
        (None, Some(ip)) => {
            let known = env.store.scan(&scope, kind::ELASTIC_IP, |it| it.map(|(_, d)| d).any(|d| d.str("PublicIp") == Some(ip)));
            return Err(if known {
                AwsError::new("InvalidParameterValue", "You must specify an allocation id when releasing a VPC elastic IP address")
            } else {
                address_not_found(ip)
            });
        }
        (None, None) => return Err(super::missing("AllocationId")),
    };
    env.write(|tx| {
        let address = tx.get(&scope, kind::ELASTIC_IP, &allocation_id).cloned().ok_or_else(|| allocation_not_found(&allocation_id))?;
        let public_ip = address.str("PublicIp").unwrap_or_default().to_string();
        let associated = address.str("AssociationId").is_some();
        if associated {
            // In a default VPC releasing disassociates; elsewhere it must be disassociated first.
            let instance = address.str("InstanceId").and_then(|i| tx.get(&scope, kind::INSTANCE, i));
            if !instance.is_some_and(|i| in_default_vpc(tx, &scope, i)) {
                return Err(AwsError::new("InvalidIPAddress.InUse", format!("Address {public_ip} is in use.")));
            }
        }
        super::dry_run(&input)?;
        if associated {
            disassociate_in_tx(tx, env, &allocation_id);
        }
        instance::release_public_ip_of(tx, &public_ip, &allocation_id);
        tx.delete(&scope, kind::ELASTIC_IP, &allocation_id);
        Ok(())
    })?;
    Ok(json!({}))
}

fn check_allocation_ids(input: &Value) -> Result<(), AwsError> {
    for id in input.strings("AllocationIds") {
        super::check_id_format(&id, "eipalloc", "InvalidAllocationID.Malformed")?;
    }
    Ok(())
}

fn describe_addresses(env: &Env, input: Value) -> Result<Value, AwsError> {
    check_allocation_ids(&input)?;
    super::dry_run(&input)?;
    let (mut addresses, _) = describe(env, &input, &SPEC, None)?;
    let public_ips = input.strings("PublicIps");
    if !public_ips.is_empty() {
        let known: Vec<String> = env.store.scan(&env.scope(), kind::ELASTIC_IP, |it| {
            it.filter_map(|(_, d)| d.str("PublicIp").map(str::to_string)).collect()
        });
        if let Some(missing) = public_ips.iter().find(|ip| !known.contains(ip)) {
            return Err(address_not_found(missing));
        }
        addresses.retain(|a| a.str("PublicIp").is_some_and(|ip| public_ips.iter().any(|p| p == ip)));
    }
    Ok(json!({ "Addresses": addresses }))
}

fn describe_addresses_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    check_allocation_ids(&input)?;
    match input.str("Attribute") {
        Some("domain-name") => {}
        Some(other) => return Err(super::invalid_value("Attribute", other, "Unknown attribute.")),
        None => return Err(super::missing("Attribute")),
    }
    super::dry_run(&input)?;
    let mut by_ids = input.clone();
    if let Some(o) = by_ids.as_object_mut() {
        o.remove("Filters");
        o.remove("MaxResults");
        o.remove("NextToken");
    }
    let (addresses, _) = describe(env, &by_ids, &SPEC, None)?;
    // No reverse DNS records here: an address answers without a PtrRecord.
    let out: Vec<Value> =
        addresses.iter().map(|a| json!({"PublicIp": a.str("PublicIp"), "AllocationId": a.str("AllocationId")})).collect();
    Ok(json!({ "Addresses": out }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::with_test_env;

    fn call(env: &Env, op: &str, input: Value) -> Result<Value, AwsError> {
        super::super::find(op).expect(op)(env, input)
    }

    fn code(r: Result<Value, AwsError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e.code.to_string(),
        }
    }

    fn set_state(env: &Env, id: &str, state: (i64, &str)) {
        env.write(|tx| {
            let doc = tx.get_mut(&env.scope(), kind::INSTANCE, id).expect("instance");
            doc["State"] = instance::state_value(state);
            Ok(())
        })
        .unwrap();
    }

    /// Launches one instance (in the default VPC unless a subnet is given) and makes it running.
    fn running_instance(env: &Env, subnet: Option<&str>) -> Value {
        let mut input = json!({"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1});
        if let Some(s) = subnet {
            input["SubnetId"] = json!(s);
        }
        let out = call(env, "RunInstances", input).unwrap();
        let id = out["Instances"][0].str("InstanceId").unwrap().to_string();
        set_state(env, &id, instance::state::RUNNING);
        instance_doc(env, &id)
    }

    fn instance_doc(env: &Env, id: &str) -> Value {
        env.store.get(&env.scope(), kind::INSTANCE, id).expect("instance")
    }

    fn lease_owner(env: &Env, ip: &str) -> Option<String> {
        env.store.get(&Scope::new("", ""), "public-ip", ip).and_then(|l| l.str("Owner").map(str::to_string))
    }

    fn allocate(env: &Env) -> (String, String) {
        let out = call(env, "AllocateAddress", json!({"Domain": "vpc"})).unwrap();
        (out.str("AllocationId").unwrap().to_string(), out.str("PublicIp").unwrap().to_string())
    }

    fn describe_one(env: &Env, allocation_id: &str) -> Value {
        let out = call(env, "DescribeAddresses", json!({"AllocationIds": [allocation_id]})).unwrap();
        out["Addresses"][0].clone()
    }

    /// A VPC of its own with a subnet, with or without an attached internet gateway.
    fn own_subnet(env: &Env, gateway: bool) -> String {
        let vpc = call(env, "CreateVpc", json!({"CidrBlock": "10.9.0.0/16"})).unwrap();
        let vpc_id = vpc["Vpc"].str("VpcId").unwrap().to_string();
        let subnet = call(env, "CreateSubnet", json!({"VpcId": vpc_id, "CidrBlock": "10.9.1.0/24"})).unwrap();
        if gateway {
            let igw = call(env, "CreateInternetGateway", json!({})).unwrap();
            let igw_id = igw["InternetGateway"].str("InternetGatewayId").unwrap().to_string();
            call(env, "AttachInternetGateway", json!({"InternetGatewayId": igw_id, "VpcId": vpc_id})).unwrap();
        }
        subnet["Subnet"].str("SubnetId").unwrap().to_string()
    }

    #[test]
    fn allocate_describe_release() {
        with_test_env(|env| {
            let out = call(
                env,
                "AllocateAddress",
                json!({"Domain": "vpc", "TagSpecifications": [{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "web"}]}]}),
            )
            .unwrap();
            let id = out.str("AllocationId").unwrap().to_string();
            let ip = out.str("PublicIp").unwrap().to_string();
            assert!(ids::is_well_formed(&id, "eipalloc") && id.len() == "eipalloc-".len() + 17, "{id}");
            assert_eq!(out.str("Domain"), Some("vpc"));
            assert_eq!(out.str("PublicIpv4Pool"), Some("amazon"));
            assert_eq!(out.str("NetworkBorderGroup"), Some("us-east-1"));
            assert!(ip.starts_with("198.18."), "{ip}");
            assert_eq!(lease_owner(env, &ip).as_deref(), Some(id.as_str()));

            let a = describe_one(env, &id);
            assert_eq!(a.str("PublicIp"), Some(ip.as_str()));
            assert_eq!(a["Tags"], json!([{"Key": "Name", "Value": "web"}]));
            assert!(a.get("AssociationId").is_none());
            let by_ip = call(env, "DescribeAddresses", json!({"PublicIps": [ip]})).unwrap();
            assert_eq!(by_ip["Addresses"].as_array().unwrap().len(), 1);
            let by_tag = call(env, "DescribeAddresses", json!({"Filters": [{"Name": "tag:Name", "Values": ["web"]}]})).unwrap();
            assert_eq!(by_tag["Addresses"][0].str("AllocationId"), Some(id.as_str()));
            let tags = call(env, "DescribeTags", json!({"Filters": [{"Name": "resource-id", "Values": [id]}]})).unwrap();
            assert_eq!(tags["Tags"][0].str("ResourceType"), Some("elastic-ip"));
            call(env, "CreateTags", json!({"Resources": [id], "Tags": [{"Key": "env", "Value": "test"}]})).unwrap();
            assert_eq!(describe_one(env, &id)["Tags"].as_array().unwrap().len(), 2);

            // A second address is another one.
            let (id2, ip2) = allocate(env);
            assert_ne!(ip, ip2);

            call(env, "ReleaseAddress", json!({"AllocationId": id})).unwrap();
            assert_eq!(lease_owner(env, &ip), None);
            assert_eq!(code(call(env, "DescribeAddresses", json!({"AllocationIds": [id]}))), "InvalidAllocationID.NotFound");
            assert_eq!(code(call(env, "ReleaseAddress", json!({"AllocationId": id}))), "InvalidAllocationID.NotFound");
            assert_eq!(code(call(env, "DescribeAddresses", json!({"PublicIps": [ip]}))), "InvalidAddress.NotFound");
            assert_eq!(code(call(env, "DescribeAddresses", json!({"AllocationIds": ["eipalloc-zz"]}))), "InvalidAllocationID.Malformed");
            let all = call(env, "DescribeAddresses", json!({})).unwrap();
            assert_eq!(all["Addresses"].as_array().unwrap().len(), 1);
            assert_eq!(all["Addresses"][0].str("AllocationId"), Some(id2.as_str()));
        });
    }

    #[test]
    fn associate_disassociate_with_a_running_instance() {
        with_test_env(|env| {
            let inst = running_instance(env, None);
            let iid = inst.str("InstanceId").unwrap().to_string();
            let auto_ip = inst.str("PublicIpAddress").expect("default subnets map public IPs").to_string();
            let (alloc, eip) = allocate(env);

            let out = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();
            let assoc = out.str("AssociationId").unwrap().to_string();
            assert!(ids::is_well_formed(&assoc, "eipassoc"), "{assoc}");

            // The instance shows the address, owned by the account; its own went back.
            let doc = instance_doc(env, &iid);
            assert_eq!(doc.str("PublicIpAddress"), Some(eip.as_str()));
            assert_eq!(doc.str("PublicDnsName"), Some(format!("ec2-{}.compute-1.amazonaws.com", eip.replace('.', "-")).as_str()));
            let association = &doc["NetworkInterfaces"][0]["Association"];
            assert_eq!(association.str("IpOwnerId"), Some("000000000000"));
            assert_eq!(association.str("PublicIp"), Some(eip.as_str()));
            assert_eq!(fb(&doc).str("ElasticAllocationId"), Some(alloc.as_str()));
            assert_eq!(lease_owner(env, &auto_ip), None);
            assert_eq!(lease_owner(env, &eip).as_deref(), Some(alloc.as_str()));

            let a = describe_one(env, &alloc);
            assert_eq!(a.str("AssociationId"), Some(assoc.as_str()));
            assert_eq!(a.str("InstanceId"), Some(iid.as_str()));
            assert_eq!(a.str("NetworkInterfaceId"), doc["NetworkInterfaces"][0].str("NetworkInterfaceId"));
            assert_eq!(a.str("NetworkInterfaceOwnerId"), Some("000000000000"));
            assert_eq!(a.str("PrivateIpAddress"), doc.str("PrivateIpAddress"));
            for (name, value) in [("instance-id", iid.as_str()), ("association-id", assoc.as_str()), ("public-ip", eip.as_str())] {
                let out = call(env, "DescribeAddresses", json!({"Filters": [{"Name": name, "Values": [value]}]})).unwrap();
                assert_eq!(out["Addresses"].as_array().unwrap().len(), 1, "{name}");
            }
            let eni = call(env, "DescribeNetworkInterfaces", json!({"Filters": [{"Name": "association.public-ip", "Values": [eip]}]})).unwrap();
            assert_eq!(eni["NetworkInterfaces"][0]["Association"].str("AllocationId"), Some(alloc.as_str()));

            // Again to the same instance: the same association.
            let again = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();
            assert_eq!(again.str("AssociationId"), Some(assoc.as_str()));

            call(env, "DisassociateAddress", json!({"AssociationId": assoc})).unwrap();
            let a = describe_one(env, &alloc);
            assert!(a.get("AssociationId").is_none() && a.get("InstanceId").is_none());
            assert_eq!(lease_owner(env, &eip).as_deref(), Some(alloc.as_str()), "still allocated");
            // Launched with a public IP and running: EC2 gives it a new one of Amazon's.
            let doc = instance_doc(env, &iid);
            let new_ip = doc.str("PublicIpAddress").expect("a new public IP").to_string();
            assert_ne!(new_ip, eip);
            assert_eq!(doc["NetworkInterfaces"][0]["Association"].str("IpOwnerId"), Some("amazon"));
            assert_eq!(lease_owner(env, &new_ip).as_deref(), Some(iid.as_str()));
            assert_eq!(fb(&doc).str("ElasticAllocationId"), None);
            assert_eq!(code(call(env, "DisassociateAddress", json!({"AssociationId": assoc}))), "InvalidAssociationID.NotFound");

            call(env, "ReleaseAddress", json!({"AllocationId": alloc})).unwrap();
            assert_eq!(lease_owner(env, &eip), None);
        });
    }

    #[test]
    fn association_errors() {
        with_test_env(|env| {
            let inst = running_instance(env, None);
            let iid = inst.str("InstanceId").unwrap().to_string();
            let (alloc, _) = allocate(env);
            let missing = "eipalloc-0123456789abcdef0";
            let err = call(env, "AssociateAddress", json!({"AllocationId": missing, "InstanceId": iid})).unwrap_err();
            assert_eq!(err.code, "InvalidAllocationID.NotFound");
            assert_eq!(err.message, format!("The allocation ID '{missing}' does not exist"));
            let r = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": "i-0123456789abcdef0"}));
            assert_eq!(code(r), "InvalidInstanceID.NotFound");
            let r = call(env, "AssociateAddress", json!({"AllocationId": alloc, "NetworkInterfaceId": "eni-0123456789abcdef0"}));
            assert_eq!(code(r), "InvalidNetworkInterfaceID.NotFound");
            assert_eq!(code(call(env, "AssociateAddress", json!({"AllocationId": alloc}))), "MissingParameter");
            let r = call(env, "DisassociateAddress", json!({"AssociationId": "eipassoc-0123456789abcdef0"}));
            assert_eq!(code(r), "InvalidAssociationID.NotFound");

            // A pending instance is not ready for an address.
            let pending = call(env, "RunInstances", json!({"ImageId": "ami-0123456789abcdef0", "MinCount": 1, "MaxCount": 1})).unwrap();
            let pid = pending["Instances"][0].str("InstanceId").unwrap().to_string();
            let err = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": pid})).unwrap_err();
            assert_eq!(err.code, "InvalidInstanceID");
            assert_eq!(err.message, format!("The pending instance '{pid}' is not in a valid state for this operation."));

            // Associated elsewhere: only with AllowReassociation.
            let other = running_instance(env, None);
            let oid = other.str("InstanceId").unwrap().to_string();
            let assoc = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();
            let assoc = assoc.str("AssociationId").unwrap().to_string();
            let err = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": oid})).unwrap_err();
            assert_eq!(err.code, "Resource.AlreadyAssociated");
            assert_eq!(err.message, format!("resource {alloc} is already associated with associate-id {assoc}"));
            let eni = other["NetworkInterfaces"][0].str("NetworkInterfaceId").unwrap().to_string();
            let moved = call(env, "AssociateAddress", json!({"AllocationId": alloc, "NetworkInterfaceId": eni, "AllowReassociation": true})).unwrap();
            assert_ne!(moved.str("AssociationId"), Some(assoc.as_str()));
            assert_eq!(describe_one(env, &alloc).str("InstanceId"), Some(oid.as_str()));
            let first = instance_doc(env, &iid);
            assert_eq!(fb(&first).str("ElasticAllocationId"), None);
            assert!(first.str("PublicIpAddress").is_some(), "the first instance has a public IP of Amazon's again");

            // A VPC without an internet gateway cannot have one.
            let subnet = own_subnet(env, false);
            let lonely = running_instance(env, Some(&subnet));
            let lid = lonely.str("InstanceId").unwrap().to_string();
            let (alloc2, _) = allocate(env);
            let err = call(env, "AssociateAddress", json!({"AllocationId": alloc2, "InstanceId": lid})).unwrap_err();
            assert_eq!(err.code, "Gateway.NotAttached");
            assert_eq!(err.message, format!("Network {} is not attached to any internet gateway", lonely.str("VpcId").unwrap()));
        });
    }

    #[test]
    fn release_in_use_outside_the_default_vpc_and_inside_it() {
        with_test_env(|env| {
            let subnet = own_subnet(env, true);
            let inst = running_instance(env, Some(&subnet));
            let iid = inst.str("InstanceId").unwrap().to_string();
            assert_eq!(inst.str("PublicIpAddress"), None, "a new subnet does not map public IPs");
            let (alloc, eip) = allocate(env);
            let assoc = call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();
            let err = call(env, "ReleaseAddress", json!({"AllocationId": alloc})).unwrap_err();
            assert_eq!(err.code, "InvalidIPAddress.InUse");
            assert_eq!(err.message, format!("Address {eip} is in use."));
            call(env, "DisassociateAddress", json!({"AssociationId": assoc.str("AssociationId")})).unwrap();
            // It had no public IP at launch: it has none now.
            assert_eq!(instance_doc(env, &iid).str("PublicIpAddress"), None);
            call(env, "ReleaseAddress", json!({"AllocationId": alloc})).unwrap();

            // In the default VPC, releasing disassociates.
            let inst = running_instance(env, None);
            let iid = inst.str("InstanceId").unwrap().to_string();
            let (alloc, eip) = allocate(env);
            call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();
            call(env, "ReleaseAddress", json!({"AllocationId": alloc})).unwrap();
            assert_eq!(lease_owner(env, &eip), None);
            let doc = instance_doc(env, &iid);
            assert_ne!(doc.str("PublicIpAddress"), Some(eip.as_str()));
            assert_eq!(fb(&doc).str("ElasticAllocationId"), None);
        });
    }

    #[test]
    fn stop_keeps_the_address_and_terminate_disassociates_it() {
        with_test_env(|env| {
            let inst = running_instance(env, None);
            let iid = inst.str("InstanceId").unwrap().to_string();
            let (alloc, eip) = allocate(env);
            call(env, "AssociateAddress", json!({"AllocationId": alloc, "InstanceId": iid})).unwrap();

            call(env, "StopInstances", json!({"InstanceIds": [iid]})).unwrap();
            set_state(env, &iid, instance::state::STOPPED);
            assert_eq!(instance_doc(env, &iid).str("PublicIpAddress"), Some(eip.as_str()));
            // Stopping again must not give anybody's address back.
            call(env, "StopInstances", json!({"InstanceIds": [iid]})).unwrap();
            assert_eq!(lease_owner(env, &eip).as_deref(), Some(alloc.as_str()));

            call(env, "StartInstances", json!({"InstanceIds": [iid]})).unwrap();
            set_state(env, &iid, instance::state::RUNNING);
            assert_eq!(instance_doc(env, &iid).str("PublicIpAddress"), Some(eip.as_str()));
            assert_eq!(describe_one(env, &alloc).str("InstanceId"), Some(iid.as_str()));

            call(env, "TerminateInstances", json!({"InstanceIds": [iid]})).unwrap();
            let doc = instance_doc(env, &iid);
            assert_eq!(doc.str("PublicIpAddress"), None);
            assert_eq!(fb(&doc).str("ElasticAllocationId"), None);
            let a = describe_one(env, &alloc);
            assert!(a.get("AssociationId").is_none() && a.get("InstanceId").is_none());
            assert_eq!(lease_owner(env, &eip).as_deref(), Some(alloc.as_str()), "still allocated");
            call(env, "ReleaseAddress", json!({"AllocationId": alloc})).unwrap();
        });
    }

    #[test]
    fn an_exhausted_range_is_address_limit_exceeded() {
        let store = fogbank_state::Store::open(None).unwrap();
        // A /29 has three addresses after the substrate's four and before the last.
        let options = crate::Options { public_range: crate::net::Cidr::parse("203.0.113.0/29"), ..Default::default() };
        let ctx = fogbank_core::Context {
            account: "000000000000".into(),
            region: "us-east-1".into(),
            request_id: "r".into(),
            access_key: None,
        };
        let env = Env { store: &store, options: &options, ctx: &ctx, network: None };
        let ips: Vec<String> = (0..3).map(|_| allocate(&env).1).collect();
        assert_eq!(ips, ["203.0.113.4", "203.0.113.5", "203.0.113.6"]);
        assert_eq!(code(call(&env, "AllocateAddress", json!({}))), "AddressLimitExceeded");
        // Recovering an address: a free one of the range only.
        let first = describe_all(&env).into_iter().find(|a| a.str("PublicIp") == Some("203.0.113.4")).unwrap();
        call(&env, "ReleaseAddress", json!({"AllocationId": first.str("AllocationId")})).unwrap();
        assert_eq!(code(call(&env, "AllocateAddress", json!({"Address": "203.0.113.5"}))), "InvalidAddress.NotFound");
        let again = call(&env, "AllocateAddress", json!({"Address": "203.0.113.4"})).unwrap();
        assert_eq!(again.str("PublicIp"), Some("203.0.113.4"));
    }

    fn describe_all(env: &Env) -> Vec<Value> {
        call(env, "DescribeAddresses", json!({})).unwrap()["Addresses"].as_array().unwrap().clone()
    }
}
