//! Network interfaces. Today an ENI exists only as an instance's primary interface, so
//! DescribeNetworkInterfaces derives them from the instances (ids `eni-`, attachment, groups,
//! addresses); creating and attaching ENIs of their own comes later.

use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{filter, kind, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[("DescribeNetworkInterfaces", describe_network_interfaces)];

const FILTERS: &[(&str, &str)] = &[
    ("network-interface-id", "NetworkInterfaceId"),
    ("subnet-id", "SubnetId"),
    ("vpc-id", "VpcId"),
    ("group-id", "Groups[].GroupId"),
    ("group-name", "Groups[].GroupName"),
    ("attachment.instance-id", "Attachment.InstanceId"),
    ("attachment.instance-owner-id", "Attachment.InstanceOwnerId"),
    ("attachment.status", "Attachment.Status"),
    ("attachment.attachment-id", "Attachment.AttachmentId"),
    ("attachment.device-index", "Attachment.DeviceIndex"),
    ("private-ip-address", "PrivateIpAddress"),
    ("addresses.private-ip-address", "PrivateIpAddresses[].PrivateIpAddress"),
    ("association.public-ip", "Association.PublicIp"),
    ("availability-zone", "AvailabilityZone"),
    ("description", "Description"),
    ("interface-type", "InterfaceType"),
    ("mac-address", "MacAddress"),
    ("owner-id", "OwnerId"),
    ("private-dns-name", "PrivateDnsName"),
    ("requester-managed", "RequesterManaged"),
    ("source-dest-check", "SourceDestCheck"),
    ("status", "Status"),
];

/// The interfaces of one instance document, in the shape of `NetworkInterface`.
fn interfaces_of(instance: &Value) -> Vec<Value> {
    instance
        .list("NetworkInterfaces")
        .iter()
        .map(|eni| {
            let mut n = eni.clone();
            n["Attachment"]["InstanceId"] = json!(instance.str("InstanceId"));
            n["Attachment"]["InstanceOwnerId"] = eni.get("OwnerId").cloned().unwrap_or(Value::Null);
            n["AvailabilityZone"] = instance.pointer("/Placement/AvailabilityZone").cloned().unwrap_or(Value::Null);
            n["RequesterManaged"] = json!(false);
            n["TagSet"] = json!([]);
            if n.get("Association").is_some_and(Value::is_null) {
                n.as_object_mut().map(|o| o.remove("Association"));
            }
            n
        })
        .collect()
}

fn describe_network_interfaces(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let filters = filter::parse_filters(&input, FILTERS)?;
    let ids = input.strings("NetworkInterfaceIds");
    let mut all = Vec::new();
    env.store.scan(&env.scope(), kind::INSTANCE, |iter| {
        for (_, doc) in iter {
            all.extend(interfaces_of(doc));
        }
    });
    let missing: Vec<String> =
        ids.iter().filter(|id| !all.iter().any(|n| n.str("NetworkInterfaceId") == Some(id.as_str()))).cloned().collect();
    if !missing.is_empty() {
        return Err(super::not_found("InvalidNetworkInterfaceID.NotFound", "network interface", &missing));
    }
    let matching: Vec<Value> = all
        .into_iter()
        .filter(|n| ids.is_empty() || ids.iter().any(|i| n.str("NetworkInterfaceId") == Some(i.as_str())))
        .filter(|n| filter::matches(n, &filters, FILTERS))
        .collect();
    let max = input.int("MaxResults").unwrap_or(1000).clamp(5, 1000) as usize;
    let start: usize = match input.str("NextToken") {
        Some(t) => t.parse().map_err(|_| AwsError::new("InvalidPaginationToken", "Invalid pagination token"))?,
        None => 0,
    };
    let page: Vec<Value> = matching.iter().skip(start).take(max).cloned().collect();
    let next = (start + max < matching.len()).then(|| (start + max).to_string());
    Ok(json!({ "NetworkInterfaces": page, "NextToken": next }))
}
