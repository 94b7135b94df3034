//! Instances: RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances,
//! DescribeInstanceStatus, Describe/ModifyInstanceAttribute, GetConsoleOutput.
//!
//! Handlers write the desired state (`_fb.Desired`) and the transitional state AWS shows at
//! once (`pending`, `stopping`, `shutting-down`); the instance controller moves each instance
//! on to `running`, `stopped` or `terminated` when the substrate has really done it.

use base64::Engine;
use fogbank_core::ids;
use fogbank_state::{Scope, Tx};
use fogbank_wire::{time, AwsError};
use serde_json::{json, Value};

use super::{describe, fb, image, kind, DescribeSpec, Env, Handler, InputExt};
use crate::net::{self, Cidr};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("RunInstances", run_instances),
    ("DescribeInstances", describe_instances),
    ("StartInstances", start_instances),
    ("StopInstances", stop_instances),
    ("RebootInstances", reboot_instances),
    ("TerminateInstances", terminate_instances),
    ("DescribeInstanceStatus", describe_instance_status),
    ("DescribeInstanceAttribute", describe_instance_attribute),
    ("ModifyInstanceAttribute", modify_instance_attribute),
    ("GetConsoleOutput", get_console_output),
];

/// The instance states and their codes.
pub mod state {
    pub const PENDING: (i64, &str) = (0, "pending");
    pub const RUNNING: (i64, &str) = (16, "running");
    pub const SHUTTING_DOWN: (i64, &str) = (32, "shutting-down");
    pub const TERMINATED: (i64, &str) = (48, "terminated");
    pub const STOPPING: (i64, &str) = (64, "stopping");
    pub const STOPPED: (i64, &str) = (80, "stopped");
}

pub fn state_value((code, name): (i64, &str)) -> Value {
    json!({"Code": code, "Name": name})
}

pub fn state_name(doc: &Value) -> &str {
    doc.pointer("/State/Name").and_then(Value::as_str).unwrap_or("")
}

/// The kind and scope of public address leases; they are host-wide, across accounts.
const PUBLIC_IP: &str = "public-ip";
fn host_scope() -> Scope {
    Scope::new("", "")
}

pub const SPEC: DescribeSpec = DescribeSpec {
    kind: kind::INSTANCE,
    ids_member: Some("InstanceIds"),
    not_found: ("InvalidInstanceID.NotFound", "instance"),
    filters: &[
        ("instance-id", "InstanceId"),
        ("instance-state-name", "State.Name"),
        ("instance-state-code", "State.Code"),
        ("instance-type", "InstanceType"),
        ("image-id", "ImageId"),
        ("vpc-id", "VpcId"),
        ("subnet-id", "SubnetId"),
        ("private-ip-address", "PrivateIpAddress"),
        ("ip-address", "PublicIpAddress"),
        ("availability-zone", "Placement.AvailabilityZone"),
        ("key-name", "KeyName"),
        ("reservation-id", "_fb.ReservationId"),
        ("owner-id", "_fb.OwnerId"),
        ("instance.group-id", "SecurityGroups[].GroupId"),
        ("instance.group-name", "SecurityGroups[].GroupName"),
        ("group-id", "SecurityGroups[].GroupId"),
        ("group-name", "SecurityGroups[].GroupName"),
        ("network-interface.network-interface-id", "NetworkInterfaces[].NetworkInterfaceId"),
        ("network-interface.addresses.private-ip-address", "NetworkInterfaces[].PrivateIpAddresses[].PrivateIpAddress"),
        ("private-dns-name", "PrivateDnsName"),
        ("dns-name", "PublicDnsName"),
        ("architecture", "Architecture"),
        ("client-token", "ClientToken"),
        ("launch-time", "LaunchTime"),
        ("root-device-type", "RootDeviceType"),
        ("virtualization-type", "VirtualizationType"),
        ("hypervisor", "Hypervisor"),
        ("tenancy", "Placement.Tenancy"),
        ("monitoring-state", "Monitoring.State"),
        ("metadata-options.http-tokens", "MetadataOptions.HttpTokens"),
        ("metadata-options.http-endpoint", "MetadataOptions.HttpEndpoint"),
        ("platform-details", "PlatformDetails"),
    ],
    id_filter: Some("instance-id"),
    page_limits: Some((5, 1000)),
};

fn check_ids(ids: &[String]) -> Result<(), AwsError> {
    for id in ids {
        super::check_id_format(id, "i", "InvalidInstanceID.Malformed")?;
    }
    Ok(())
}

/// vCPUs of an instance type (for `CpuOptions` and, later, cgroup limits).
pub fn vcpus(instance_type: &str) -> i64 {
    super::instance_type::resources(instance_type).map(|(v, _)| v).unwrap_or(2)
}

fn dns_suffix(region: &str) -> String {
    if region == "us-east-1" { "ec2.internal".into() } else { format!("{region}.compute.internal") }
}

fn private_dns(ip: &str, region: &str) -> String {
    format!("ip-{}.{}", ip.replace('.', "-"), dns_suffix(region))
}

fn public_dns(ip: &str, region: &str) -> String {
    let zone = if region == "us-east-1" { "compute-1".to_string() } else { format!("{region}.compute") };
    format!("ec2-{}.{zone}.amazonaws.com", ip.replace('.', "-"))
}

fn mac_address() -> String {
    let h = ids::hex(10);
    format!("0e:{}:{}:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6], &h[6..8], &h[8..10])
}

/// Leases a public address to an instance or an Elastic IP allocation (host-wide, lowest free).
pub(crate) fn lease_public_ip(tx: &mut Tx, env: &Env, owner: &str) -> Result<String, AwsError> {
    let range = env.options.public_range();
    let scope = host_scope();
    // The first four addresses are the substrate's (network, host side, edge, spare).
    for n in 4..range.size().saturating_sub(1) as u32 {
        let ip = net::ip_to_string(range.nth(n));
        if tx.get(&scope, PUBLIC_IP, &ip).is_none() {
            tx.put(&scope, PUBLIC_IP, &ip, json!({"Owner": owner}));
            return Ok(ip);
        }
    }
    Err(AwsError::new("AddressLimitExceeded", "The public address range of Fogbank is exhausted."))
}

/// Leases one given public address, if it is in the range, usable and free.
pub(crate) fn lease_given_public_ip(tx: &mut Tx, env: &Env, ip: &str, owner: &str) -> bool {
    let range = env.options.public_range();
    let scope = host_scope();
    let usable = (4..range.size().saturating_sub(1) as u32).any(|n| net::ip_to_string(range.nth(n)) == ip);
    if !usable || tx.get(&scope, PUBLIC_IP, ip).is_some() {
        return false;
    }
    tx.put(&scope, PUBLIC_IP, ip, json!({"Owner": owner}));
    true
}

pub(crate) fn release_public_ip(tx: &mut Tx, ip: &str) {
    tx.delete(&host_scope(), PUBLIC_IP, ip);
}

/// Releases a lease only if `owner` still holds it (a stale address may be someone else's now).
pub(crate) fn release_public_ip_of(tx: &mut Tx, ip: &str, owner: &str) {
    if tx.get(&host_scope(), PUBLIC_IP, ip).and_then(|l| l.str("Owner")) == Some(owner) {
        release_public_ip(tx, ip);
    }
}

/// Private addresses in use in a subnet.
fn used_ips(tx: &Tx, scope: &Scope, subnet_id: &str) -> Vec<u32> {
    tx.list(scope, kind::INSTANCE)
        .filter(|(_, d)| d.str("SubnetId") == Some(subnet_id))
        .filter_map(|(_, d)| d.str("PrivateIpAddress").and_then(net::parse_ip))
        .collect()
}

struct Launch {
    subnet: Value,
    groups: Vec<Value>,
    public_ip: bool,
    private_ip: Option<u32>,
}

fn resolve_placement(env: &Env, input: &Value) -> Result<Launch, AwsError> {
    let scope = env.scope();
    let eni = input.list("NetworkInterfaces").iter().find(|n| n.int("DeviceIndex").unwrap_or(0) == 0).cloned();
    let subnet_id = input
        .str("SubnetId")
        .map(str::to_string)
        .or_else(|| eni.as_ref().and_then(|n| n.str("SubnetId").map(str::to_string)));
    let zone = input.pointer("/Placement/AvailabilityZone").and_then(Value::as_str).filter(|z| !z.is_empty());
    let subnet = match subnet_id {
        Some(id) => env
            .store
            .get(&scope, kind::SUBNET, &id)
            .ok_or_else(|| super::not_found("InvalidSubnetID.NotFound", "subnet", &[id.clone()]))?,
        None => {
            let vpc_id = super::defaults::default_vpc_id(env.store, env)
                .ok_or_else(|| AwsError::new("VPCIdNotSpecified", "No default VPC for this user"))?;
            env.store.scan(&scope, kind::SUBNET, |iter| {
                let mut candidates: Vec<Value> = iter
                    .map(|(_, d)| d)
                    .filter(|d| d.str("VpcId") == Some(vpc_id.as_str()) && d.bool("DefaultForAz") == Some(true))
                    .filter(|d| zone.is_none_or(|z| d.str("AvailabilityZone") == Some(z)))
                    .cloned()
                    .collect();
                candidates.sort_by(|a, b| a.str("AvailabilityZone").cmp(&b.str("AvailabilityZone")));
                candidates.into_iter().next()
            })
            .ok_or_else(|| match zone {
                Some(z) => super::invalid_value("availabilityZone", z, "No default subnet for availability zone."),
                None => AwsError::new("MissingInput", "No subnets found for the default VPC"),
            })?
        }
    };
    if let Some(z) = zone {
        if subnet.str("AvailabilityZone") != Some(z) {
            return Err(AwsError::new(
                "InvalidParameterCombination",
                format!("The specified Availability Zone {z} does not match the subnet's Availability Zone."),
            ));
        }
    }
    let vpc_id = subnet.str("VpcId").unwrap_or_default().to_string();

    let mut group_ids = input.strings("SecurityGroupIds");
    if let Some(n) = &eni {
        group_ids.extend(n.strings("Groups"));
    }
    let group_names = input.strings("SecurityGroups");
    let mut groups = Vec::new();
    for gid in &group_ids {
        let g = env.store.get(&scope, kind::SECURITY_GROUP, gid).filter(|g| g.str("VpcId") == Some(vpc_id.as_str()));
        let g = g.ok_or_else(|| {
            AwsError::new("InvalidGroup.NotFound", format!("The security group '{gid}' does not exist in VPC '{vpc_id}'"))
        })?;
        groups.push(json!({"GroupId": gid, "GroupName": g.str("GroupName")}));
    }
    for name in &group_names {
        let found = env.store.scan(&scope, kind::SECURITY_GROUP, |iter| {
            iter.map(|(_, d)| d)
                .find(|d| d.str("GroupName") == Some(name.as_str()) && d.str("VpcId") == Some(vpc_id.as_str()))
                .cloned()
        });
        let g = found.ok_or_else(|| {
            AwsError::new("InvalidGroup.NotFound", format!("The security group '{name}' does not exist in VPC '{vpc_id}'"))
        })?;
        groups.push(json!({"GroupId": g.str("GroupId"), "GroupName": name}));
    }
    if groups.is_empty() {
        let default = env.store.scan(&scope, kind::SECURITY_GROUP, |iter| {
            iter.map(|(_, d)| d)
                .find(|d| d.str("GroupName") == Some("default") && d.str("VpcId") == Some(vpc_id.as_str()))
                .cloned()
        });
        if let Some(g) = default {
            groups.push(json!({"GroupId": g.str("GroupId"), "GroupName": "default"}));
        }
    }
    groups.dedup_by(|a, b| a.str("GroupId") == b.str("GroupId"));

    let public_ip = eni
        .as_ref()
        .and_then(|n| n.bool("AssociatePublicIpAddress"))
        .unwrap_or_else(|| subnet.bool("MapPublicIpOnLaunch").unwrap_or(false));
    let private_text = input
        .str("PrivateIpAddress")
        .map(str::to_string)
        .or_else(|| eni.as_ref().and_then(|n| n.str("PrivateIpAddress").map(str::to_string)));
    let private_ip = match private_text {
        Some(t) => Some(net::parse_ip(&t).ok_or_else(|| super::invalid_value("privateIpAddress", &t, "Invalid IPv4 address."))?),
        None => None,
    };
    Ok(Launch { subnet, groups, public_ip, private_ip })
}

fn run_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    if let Some(previous) = super::replay(env, "RunInstances", &input) {
        return Ok(previous);
    }
    let min = input.int("MinCount").unwrap_or(1);
    let max = input.int("MaxCount").unwrap_or(1);
    if min < 1 {
        return Err(super::invalid_value("minCount", &min.to_string(), "Expecting a value greater than 0."));
    }
    if max < min {
        return Err(AwsError::new(
            "InvalidParameterValue",
            format!("Value ({max}) for parameter maxCount is invalid. Expecting a value greater than or equal to minCount ({min})."),
        ));
    }
    let image_id = input.str("ImageId").map(str::to_string).ok_or_else(|| super::missing("ImageId"))?;
    super::check_id_format(&image_id, "ami", "InvalidAMIID.Malformed")?;
    let image = match image::lookup(env, &image_id) {
        Some(i) => i,
        None if env.options.strict_amis => {
            return Err(AwsError::new("InvalidAMIID.NotFound", format!("The image id '[{image_id}]' does not exist")))
        }
        None => {
            let fallback = image::default_image_id();
            tracing::warn!(requested = %image_id, running = fallback, "unknown AMI id: running the default image (use --strict-amis to refuse)");
            image::lookup(env, fallback).unwrap_or_else(|| json!({"ImageId": fallback}))
        }
    };
    let instance_type = input.str("InstanceType").unwrap_or("m1.small").to_string();
    let scope = env.scope();
    if let Some(key) = input.str("KeyName") {
        if !super::key_pair::exists(env, key) {
            return Err(AwsError::new("InvalidKeyPair.NotFound", format!("The key pair '{key}' does not exist")));
        }
    }
    let user_data = input.str("UserData").map(str::to_string);
    if let Some(ud) = &user_data {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(ud)
            .map_err(|_| super::invalid_value("userData", "<blob>", "Invalid BASE64 encoding of user data."))?;
        if decoded.len() > 16 * 1024 {
            return Err(AwsError::new("InvalidParameterValue", "User data is limited to 16384 bytes"));
        }
    }
    super::check_tag_specs(&input, &["instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu"])?;
    let tags = super::tags_for(&input, "instance")?;
    let launch = resolve_placement(env, &input)?;
    if launch.private_ip.is_some() && max > 1 {
        return Err(AwsError::new(
            "InvalidParameterCombination",
            "Cannot specify a private IP address when launching more than one instance.",
        ));
    }
    let metadata_options = {
        let m = input.get("MetadataOptions").cloned().unwrap_or(json!({}));
        json!({
            "State": "pending",
            "HttpTokens": m.str("HttpTokens").unwrap_or("optional"),
            "HttpPutResponseHopLimit": m.int("HttpPutResponseHopLimit").unwrap_or(1),
            "HttpEndpoint": m.str("HttpEndpoint").unwrap_or("enabled"),
            "HttpProtocolIpv6": m.str("HttpProtocolIpv6").unwrap_or("disabled"),
            "InstanceMetadataTags": m.str("InstanceMetadataTags").unwrap_or("disabled"),
        })
    };
    super::dry_run(&input)?;

    let subnet = launch.subnet;
    let subnet_id = subnet.str("SubnetId").unwrap_or_default().to_string();
    let vpc_id = subnet.str("VpcId").unwrap_or_default().to_string();
    let cidr = subnet.str("CidrBlock").and_then(Cidr::parse).ok_or_else(|| AwsError::internal("subnet without CIDR"))?;
    let zone = subnet.str("AvailabilityZone").unwrap_or_default().to_string();
    let region = env.ctx.region.clone();
    let reservation_id = ids::resource_id("r");
    let now = time::now_iso();
    let now_ms = time::now_millis();
    let client_token = input.str("ClientToken").unwrap_or_default().to_string();

    let reservation = env.write(|tx| {
        let mut used = used_ips(tx, &scope, &subnet_id);
        let reserved = |ip: u32| ip < cidr.nth(4) || ip >= cidr.last();
        if let Some(ip) = launch.private_ip {
            if !cidr.contains_ip(ip) {
                return Err(AwsError::new(
                    "InvalidParameterValue",
                    format!("Address {} does not fall within the subnet's address range", net::ip_to_string(ip)),
                ));
            }
            if reserved(ip) {
                return Err(AwsError::new(
                    "InvalidParameterValue",
                    format!("Address {} is in subnet's reserved address range", net::ip_to_string(ip)),
                ));
            }
            if used.contains(&ip) {
                return Err(AwsError::new("InvalidIPAddress.InUse", format!("Address {} is in use.", net::ip_to_string(ip))));
            }
        }
        let free: u64 = (cidr.size().saturating_sub(5)).saturating_sub(used.len() as u64);
        if (free as i64) < min {
            return Err(AwsError::new(
                "InsufficientFreeAddressesInSubnet",
                format!("There are not enough free addresses in subnet '{subnet_id}' to satisfy the requested number of instances."),
            ));
        }
        let count = max.min(free as i64);
        let mut instances = Vec::new();
        for index in 0..count {
            let ip = match launch.private_ip {
                Some(ip) => ip,
                None => (4..cidr.size() as u32 - 1)
                    .map(|n| cidr.nth(n))
                    .find(|ip| !used.contains(ip))
                    .ok_or_else(|| AwsError::internal("no free address"))?,
            };
            used.push(ip);
            let ip_text = net::ip_to_string(ip);
            let instance_id = ids::resource_id("i");
            let public = if launch.public_ip { Some(lease_public_ip(tx, env, &instance_id)?) } else { None };
            let private_dns_name = private_dns(&ip_text, &region);
            let mut association = Value::Null;
            if let Some(p) = &public {
                association = json!({"IpOwnerId": "amazon", "PublicDnsName": public_dns(p, &region), "PublicIp": p});
            }
            let eni_id = ids::resource_id("eni");
            let vcpu = vcpus(&instance_type);
            let doc = json!({
                "AmiLaunchIndex": index,
                "ImageId": image_id,
                "InstanceId": instance_id,
                "InstanceType": instance_type,
                "KeyName": input.str("KeyName"),
                "LaunchTime": now,
                "Monitoring": {"State": "disabled"},
                "Placement": {"AvailabilityZone": zone, "GroupName": "", "Tenancy": "default"},
                "PrivateDnsName": private_dns_name,
                "PrivateIpAddress": ip_text,
                "ProductCodes": [],
                "PublicDnsName": public.as_deref().map(|p| public_dns(p, &region)).unwrap_or_default(),
                "PublicIpAddress": public,
                "State": state_value(state::PENDING),
                "StateTransitionReason": "",
                "SubnetId": subnet_id,
                "VpcId": vpc_id,
                "Architecture": image.str("Architecture").unwrap_or("x86_64"),
                "BlockDeviceMappings": [],
                "ClientToken": client_token,
                "EbsOptimized": input.bool("EbsOptimized").unwrap_or(false),
                "EnaSupport": true,
                "Hypervisor": "xen",
                "NetworkInterfaces": [{
                    "Association": association,
                    "Attachment": {
                        "AttachTime": now, "AttachmentId": ids::resource_id("eni-attach"),
                        "DeleteOnTermination": true, "DeviceIndex": 0, "Status": "attaching", "NetworkCardIndex": 0,
                    },
                    "Description": "",
                    "Groups": launch.groups,
                    "Ipv6Addresses": [],
                    "MacAddress": mac_address(),
                    "NetworkInterfaceId": eni_id,
                    "OwnerId": env.ctx.account,
                    "PrivateDnsName": private_dns_name,
                    "PrivateIpAddress": ip_text,
                    "PrivateIpAddresses": [{
                        "Association": association, "Primary": true,
                        "PrivateDnsName": private_dns_name, "PrivateIpAddress": ip_text,
                    }],
                    "SourceDestCheck": true,
                    "Status": "in-use",
                    "SubnetId": subnet_id,
                    "VpcId": vpc_id,
                    "InterfaceType": "interface",
                }],
                "RootDeviceName": image.str("RootDeviceName").unwrap_or("/dev/xvda"),
                "RootDeviceType": "ebs",
                "SecurityGroups": launch.groups,
                "SourceDestCheck": true,
                "Tags": tags,
                "VirtualizationType": "hvm",
                "CpuOptions": {"CoreCount": (vcpu / 2).max(1), "ThreadsPerCore": if vcpu > 1 { 2 } else { 1 }},
                "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
                "HibernationOptions": {"Configured": false},
                "MetadataOptions": metadata_options,
                "EnclaveOptions": {"Enabled": false},
                "BootMode": "uefi-preferred",
                "PlatformDetails": "Linux/UNIX",
                "UsageOperation": "RunInstances",
                "UsageOperationUpdateTime": now,
                "PrivateDnsNameOptions": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": false, "EnableResourceNameDnsAAAARecord": false},
                "MaintenanceOptions": {"AutoRecovery": "default"},
                "CurrentInstanceBootMode": "legacy-bios",
                "_fb": {
                    "Desired": "running",
                    "Since": now_ms,
                    "ReservationId": reservation_id,
                    "OwnerId": env.ctx.account,
                    "UserData": user_data,
                    "RunImageId": image.str("ImageId"),
                    "WantsPublicIp": launch.public_ip,
                    "DisableApiTermination": input.bool("DisableApiTermination").unwrap_or(false),
                    "DisableApiStop": input.bool("DisableApiStop").unwrap_or(false),
                    "ShutdownBehavior": input.str("InstanceInitiatedShutdownBehavior").unwrap_or("stop"),
                    "Console": [],
                },
            });
            tx.put(&scope, kind::INSTANCE, &instance_id, doc.clone());
            instances.push(doc);
        }
        let reservation = json!({
            "ReservationId": reservation_id,
            "OwnerId": env.ctx.account,
            "Groups": [],
            "Instances": instances,
        });
        super::remember(tx, env, "RunInstances", &input, &reservation);
        Ok(reservation)
    })?;
    Ok(reservation)
}

fn describe_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    check_ids(&input.strings("InstanceIds"))?;
    super::dry_run(&input)?;
    let (instances, next) = describe(env, &input, &SPEC, None)?;
    let mut reservations: Vec<Value> = Vec::new();
    for inst in instances {
        let rid = fb(&inst).str("ReservationId").unwrap_or_default().to_string();
        match reservations.iter_mut().find(|r| r.str("ReservationId") == Some(rid.as_str())) {
            Some(r) => {
                if let Some(list) = r["Instances"].as_array_mut() {
                    list.push(inst);
                }
            }
            None => {
                let owner = fb(&inst).str("OwnerId").unwrap_or(&env.ctx.account).to_string();
                reservations.push(json!({"ReservationId": rid, "OwnerId": owner, "Groups": [], "Instances": [inst]}));
            }
        }
    }
    Ok(json!({ "Reservations": reservations, "NextToken": next }))
}

/// Applies `change` to each instance (all must exist), answering with their state changes.
fn change_states(
    env: &Env,
    input: &Value,
    change: impl Fn(&mut Value, &str) -> Result<(), AwsError>,
) -> Result<Vec<Value>, AwsError> {
    let ids = input.strings("InstanceIds");
    if ids.is_empty() {
        return Err(super::missing("InstanceId"));
    }
    check_ids(&ids)?;
    let scope = env.scope();
    let missing: Vec<String> = ids.iter().filter(|id| env.store.get(&scope, kind::INSTANCE, id).is_none()).cloned().collect();
    if !missing.is_empty() {
        return Err(super::not_found("InvalidInstanceID.NotFound", "instance", &missing));
    }
    super::dry_run(input)?;
    let region = env.ctx.region.clone();
    env.write(|tx| {
        let mut out = Vec::new();
        for id in &ids {
            let Some(doc) = tx.get(&scope, kind::INSTANCE, id) else { continue };
            let mut doc = doc.clone();
            let previous = doc["State"].clone();
            change(&mut doc, id)?;
            if matches!(state_name(&doc), "shutting-down" | "terminated") {
                // A terminated instance's Elastic IP is disassociated and stays allocated.
                super::address::detach_from_instance(tx, &scope, &mut doc, &region);
            }
            release_or_keep_public_ip(tx, &doc);
            out.push(json!({"InstanceId": id, "PreviousState": previous, "CurrentState": doc["State"].clone()}));
            tx.put(&scope, kind::INSTANCE, id, doc);
        }
        Ok(out)
    })
}

/// A stopping or terminating instance gives its (non-elastic) public address back, if the
/// lease is still its own (a stale `ReleasedPublicIp` may be leased to someone else by now).
fn release_or_keep_public_ip(tx: &mut Tx, doc: &Value) {
    if matches!(state_name(doc), "stopping" | "shutting-down" | "stopped" | "terminated") {
        if let (Some(ip), Some(id)) = (fb(doc).str("ReleasedPublicIp"), doc.str("InstanceId")) {
            let (ip, id) = (ip.to_string(), id.to_string());
            release_public_ip_of(tx, &ip, &id);
        }
    }
}

/// An Elastic IP association, as the instance's interface shows it.
pub(crate) struct Elastic<'a> {
    /// The account that owns the address (`IpOwnerId`).
    pub owner: &'a str,
    pub allocation_id: &'a str,
    pub association_id: &'a str,
}

/// Sets (or clears) the instance's public address, its DNS name and its interface's
/// association: Amazon's address when `elastic` is `None`, else the account's Elastic IP.
pub(crate) fn set_public_ip(doc: &mut Value, ip: Option<&str>, region: &str, elastic: Option<&Elastic>) {
    let dns = ip.map(|p| public_dns(p, region)).unwrap_or_default();
    doc["PublicIpAddress"] = json!(ip);
    doc["PublicDnsName"] = json!(dns);
    let association = match (ip, elastic) {
        (Some(p), Some(e)) => json!({
            "IpOwnerId": e.owner, "PublicDnsName": dns, "PublicIp": p,
            "AllocationId": e.allocation_id, "AssociationId": e.association_id,
        }),
        (Some(p), None) => json!({"IpOwnerId": "amazon", "PublicDnsName": dns, "PublicIp": p}),
        (None, _) => Value::Null,
    };
    if let Some(enis) = doc["NetworkInterfaces"].as_array_mut() {
        for eni in enis {
            eni["Association"] = association.clone();
            if let Some(ips) = eni["PrivateIpAddresses"].as_array_mut() {
                for p in ips {
                    p["Association"] = association.clone();
                }
            }
        }
    }
}

fn user_reason(action: &str) -> String {
    let now = time::now_iso();
    format!("User initiated ({} {} GMT)", &now[..10], &now[11..19]).replace("User", action)
}

fn start_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    let region = env.ctx.region.clone();
    let scope = env.scope();
    // Public addresses for instances that want one are leased in the same transaction.
    let ids = input.strings("InstanceIds");
    check_ids(&ids)?;
    let changes = change_states(env, &input, |doc, id| match state_name(doc) {
        "stopped" => {
            doc["State"] = state_value(state::PENDING);
            doc["StateTransitionReason"] = json!("");
            doc["_fb"]["Desired"] = json!("running");
            doc["_fb"]["Since"] = json!(time::now_millis());
            Ok(())
        }
        "pending" | "running" => Ok(()),
        _ => Err(AwsError::new(
            "IncorrectInstanceState",
            format!("The instance '{id}' is not in a state from which it can be started."),
        )),
    })?;
    // Lease public addresses for the instances that were started.
    env.write(|tx| {
        for c in &changes {
            let id = c.str("InstanceId").unwrap_or_default();
            let was_stopped = c.pointer("/PreviousState/Name").and_then(Value::as_str) == Some("stopped");
            let Some(doc) = tx.get(&scope, kind::INSTANCE, id) else { continue };
            if was_stopped && fb(doc).bool("WantsPublicIp") == Some(true) && doc.str("PublicIpAddress").is_none() {
                let ip = lease_public_ip(tx, env, id)?;
                if let Some(doc) = tx.get_mut(&scope, kind::INSTANCE, id) {
                    set_public_ip(doc, Some(&ip), &region, None);
                    doc["_fb"]["ReleasedPublicIp"] = Value::Null;
                }
            }
        }
        Ok(())
    })?;
    Ok(json!({ "StartingInstances": changes }))
}

/// A user-initiated stop or terminate: the transitional state, the reason AWS shows, the
/// desired state for the controller, and a non-elastic public IP given back.
fn begin_shutdown(doc: &mut Value, transitional: (i64, &str), desired: &str, region: &str) {
    doc["State"] = state_value(transitional);
    doc["StateTransitionReason"] = json!(user_reason("User"));
    doc["StateReason"] = json!({"Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"});
    doc["_fb"]["Desired"] = json!(desired);
    doc["_fb"]["Since"] = json!(time::now_millis());
    let elastic = fb(doc).str("ElasticAllocationId").is_some();
    if let Some(ip) = doc.str("PublicIpAddress").map(str::to_string).filter(|_| !elastic) {
        doc["_fb"]["ReleasedPublicIp"] = json!(ip);
        set_public_ip(doc, None, region, None);
    }
}

fn stop_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    let region = env.ctx.region.clone();
    let changes = change_states(env, &input, |doc, id| match state_name(doc) {
        "pending" | "running" => {
            if fb(doc).bool("DisableApiStop") == Some(true) {
                return Err(AwsError::new(
                    "OperationNotPermitted",
                    format!("The instance '{id}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again."),
                ));
            }
            // An Elastic IP stays associated with a stopped instance.
            begin_shutdown(doc, state::STOPPING, "stopped", &region);
            Ok(())
        }
        "stopping" | "stopped" => Ok(()),
        _ => Err(AwsError::new(
            "IncorrectInstanceState",
            format!("This instance '{id}' is not in a state from which it can be stopped."),
        )),
    })?;
    Ok(json!({ "StoppingInstances": changes }))
}

fn terminate_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    let region = env.ctx.region.clone();
    let changes = change_states(env, &input, |doc, id| {
        if fb(doc).bool("DisableApiTermination") == Some(true) {
            return Err(AwsError::new(
                "OperationNotPermitted",
                format!("The instance '{id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again."),
            ));
        }
        match state_name(doc) {
            "shutting-down" | "terminated" => Ok(()),
            _ => {
                // An Elastic IP is disassociated (and stays allocated) in `change_states`.
                begin_shutdown(doc, state::SHUTTING_DOWN, "terminated", &region);
                Ok(())
            }
        }
    })?;
    Ok(json!({ "TerminatingInstances": changes }))
}

fn reboot_instances(env: &Env, input: Value) -> Result<Value, AwsError> {
    change_states(env, &input, |doc, id| match state_name(doc) {
        "running" | "pending" => {
            doc["_fb"]["RebootRequested"] = json!(time::now_millis());
            Ok(())
        }
        _ => Err(AwsError::new("IncorrectInstanceState", format!("The instance '{id}' is not in the 'running' state."))),
    })?;
    Ok(json!({}))
}

const STATUS_FILTERS: &[(&str, &str)] = &[
    ("availability-zone", "AvailabilityZone"),
    ("instance-state-name", "InstanceState.Name"),
    ("instance-state-code", "InstanceState.Code"),
    ("instance-status.status", "InstanceStatus.Status"),
    ("instance-status.reachability", "InstanceStatus.Details[].Status"),
    ("system-status.status", "SystemStatus.Status"),
    ("system-status.reachability", "SystemStatus.Details[].Status"),
];

fn describe_instance_status(env: &Env, input: Value) -> Result<Value, AwsError> {
    check_ids(&input.strings("InstanceIds"))?;
    super::dry_run(&input)?;
    let filters = super::filter::parse_filters(&input, STATUS_FILTERS)?;
    let include_all = input.bool("IncludeAllInstances").unwrap_or(false);
    // Ids and paging as DescribeInstances; status filters on the status view.
    let mut by_ids = input.clone();
    if let Some(o) = by_ids.as_object_mut() {
        o.remove("Filters");
    }
    let (instances, next) = describe(env, &by_ids, &SPEC, None)?;
    let statuses: Vec<Value> = instances
        .iter()
        .filter(|d| include_all || state_name(d) == "running")
        .map(|d| {
            let running = state_name(d) == "running";
            let summary = |name: &str| {
                if running {
                    json!({"Status": "ok", "Details": [{"Name": name, "Status": "passed"}]})
                } else {
                    json!({"Status": "not-applicable"})
                }
            };
            json!({
                "AvailabilityZone": d.pointer("/Placement/AvailabilityZone"),
                "InstanceId": d.str("InstanceId"),
                "InstanceState": d["State"],
                "InstanceStatus": summary("reachability"),
                "SystemStatus": summary("reachability"),
                "AttachedEbsStatus": if running { json!({"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}) } else { json!({"Status": "not-applicable"}) },
                "Events": [],
            })
        })
        .filter(|s| super::filter::matches(s, &filters, STATUS_FILTERS))
        .collect();
    Ok(json!({ "InstanceStatuses": statuses, "NextToken": next }))
}

fn get_instance(env: &Env, id: &str) -> Result<Value, AwsError> {
    super::check_id_format(id, "i", "InvalidInstanceID.Malformed")?;
    env.store
        .get(&env.scope(), kind::INSTANCE, id)
        .ok_or_else(|| super::not_found("InvalidInstanceID.NotFound", "instance", &[id.to_string()]))
}

fn describe_instance_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("InstanceId").unwrap_or_default().to_string();
    let attribute = input.str("Attribute").unwrap_or_default().to_string();
    let doc = get_instance(env, &id)?;
    super::dry_run(&input)?;
    let f = fb(&doc);
    let (member, value) = match attribute.as_str() {
        "instanceType" => ("InstanceType", json!({"Value": doc.str("InstanceType")})),
        "userData" => ("UserData", f.str("UserData").map(|u| json!({"Value": u})).unwrap_or(json!({}))),
        "disableApiTermination" => ("DisableApiTermination", json!({"Value": f.bool("DisableApiTermination").unwrap_or(false)})),
        "disableApiStop" => ("DisableApiStop", json!({"Value": f.bool("DisableApiStop").unwrap_or(false)})),
        "instanceInitiatedShutdownBehavior" => {
            ("InstanceInitiatedShutdownBehavior", json!({"Value": f.str("ShutdownBehavior").unwrap_or("stop")}))
        }
        "rootDeviceName" => ("RootDeviceName", json!({"Value": doc.str("RootDeviceName")})),
        "groupSet" => ("Groups", doc["SecurityGroups"].clone()),
        "sourceDestCheck" => ("SourceDestCheck", json!({"Value": doc.bool("SourceDestCheck").unwrap_or(true)})),
        "ebsOptimized" => ("EbsOptimized", json!({"Value": doc.bool("EbsOptimized").unwrap_or(false)})),
        "enaSupport" => ("EnaSupport", json!({"Value": doc.bool("EnaSupport").unwrap_or(true)})),
        "sriovNetSupport" => ("SriovNetSupport", json!({})),
        "blockDeviceMapping" => ("BlockDeviceMappings", doc["BlockDeviceMappings"].clone()),
        "productCodes" => ("ProductCodes", json!([])),
        "kernel" => ("KernelId", json!({})),
        "ramdisk" => ("RamdiskId", json!({})),
        "enclaveOptions" => ("EnclaveOptions", json!({"Enabled": false})),
        other => return Err(super::invalid_value("attribute", other, "Unknown attribute.")),
    };
    Ok(json!({ "InstanceId": id, member: value }))
}

fn modify_instance_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("InstanceId").unwrap_or_default().to_string();
    get_instance(env, &id)?;
    // The legacy form names the attribute and gives one value.
    let mut input = input;
    if let (Some(attr), Some(value)) = (input.str("Attribute").map(str::to_string), input.get("Value").cloned()) {
        let member = match attr.as_str() {
            "instanceType" => "InstanceType",
            "userData" => "UserData",
            "disableApiTermination" => "DisableApiTermination",
            "disableApiStop" => "DisableApiStop",
            "instanceInitiatedShutdownBehavior" => "InstanceInitiatedShutdownBehavior",
            "sourceDestCheck" => "SourceDestCheck",
            "ebsOptimized" => "EbsOptimized",
            other => return Err(super::invalid_value("attribute", other, "This attribute cannot be modified this way.")),
        };
        let v = match value.as_str() {
            Some("true") => json!(true),
            Some("false") => json!(false),
            _ => value,
        };
        input[member] = json!({"Value": v});
    }
    let groups = input.strings("Groups");
    let scope = env.scope();
    super::dry_run(&input)?;
    env.write(|tx| {
        let doc = tx.get(&scope, kind::INSTANCE, &id).cloned().ok_or_else(|| AwsError::internal("instance vanished"))?;
        let stopped = state_name(&doc) == "stopped";
        let mut doc = doc;
        let value = |name: &str| input.get(name).and_then(|v| v.get("Value")).cloned();
        if let Some(t) = value("InstanceType") {
            if !stopped {
                return Err(AwsError::new("IncorrectInstanceState", format!("The instance '{id}' is not in the 'stopped' state.")));
            }
            let t = t.as_str().unwrap_or_default().to_string();
            let model = fogbank_wire::Registry::global().get("ec2").and_then(|m| m.shape("InstanceType"));
            if model.is_some_and(|s| !s.enum_values.is_empty() && !s.enum_values.contains(&t)) {
                return Err(super::invalid_value("InstanceType", &t, "Invalid instance type."));
            }
            doc["InstanceType"] = json!(t);
        }
        if let Some(u) = value("UserData") {
            if !stopped {
                return Err(AwsError::new("IncorrectInstanceState", format!("The instance '{id}' is not in the 'stopped' state.")));
            }
            doc["_fb"]["UserData"] = u;
        }
        for (member, key) in [
            ("DisableApiTermination", "DisableApiTermination"),
            ("DisableApiStop", "DisableApiStop"),
        ] {
            if let Some(b) = value(member).and_then(|v| v.as_bool()) {
                doc["_fb"][key] = json!(b);
            }
        }
        if let Some(b) = value("InstanceInitiatedShutdownBehavior") {
            doc["_fb"]["ShutdownBehavior"] = b;
        }
        for member in ["SourceDestCheck", "EbsOptimized", "EnaSupport"] {
            if let Some(b) = value(member).and_then(|v| v.as_bool()) {
                doc[member] = json!(b);
            }
        }
        if !groups.is_empty() {
            let vpc_id = doc.str("VpcId").unwrap_or_default().to_string();
            let mut resolved = Vec::new();
            for gid in &groups {
                let g = tx
                    .get(&scope, kind::SECURITY_GROUP, gid)
                    .filter(|g| g.str("VpcId") == Some(vpc_id.as_str()))
                    .ok_or_else(|| AwsError::new("InvalidGroup.NotFound", format!("The security group '{gid}' does not exist")))?;
                resolved.push(json!({"GroupId": gid, "GroupName": g.str("GroupName")}));
            }
            doc["SecurityGroups"] = json!(resolved);
            if let Some(enis) = doc["NetworkInterfaces"].as_array_mut() {
                if let Some(first) = enis.first_mut() {
                    first["Groups"] = json!(resolved);
                }
            }
        }
        tx.put(&scope, kind::INSTANCE, &id, doc);
        Ok(())
    })?;
    Ok(json!({}))
}

fn get_console_output(env: &Env, input: Value) -> Result<Value, AwsError> {
    let id = input.str("InstanceId").unwrap_or_default().to_string();
    let doc = get_instance(env, &id)?;
    super::dry_run(&input)?;
    let text: String = match env.network {
        // The host's console: boot lines and what user data printed.
        Some(network) => network.substrate().console_output(&id),
        None => fb(&doc).list("Console").iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
    };
    let output = if text.is_empty() { Value::Null } else { json!(base64::engine::general_purpose::STANDARD.encode(text + "\n")) };
    Ok(json!({ "InstanceId": id, "Timestamp": time::now_iso(), "Output": output }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_sizes() {
        assert_eq!(private_dns("10.0.1.5", "us-east-1"), "ip-10-0-1-5.ec2.internal");
        assert_eq!(private_dns("10.0.1.5", "eu-west-1"), "ip-10-0-1-5.eu-west-1.compute.internal");
        assert_eq!(public_dns("198.18.0.10", "us-east-1"), "ec2-198-18-0-10.compute-1.amazonaws.com");
        assert_eq!(vcpus("t3.micro"), 2);
        assert_eq!(vcpus("m5.2xlarge"), 8);
        assert_eq!(mac_address().len(), 17);
    }
}
