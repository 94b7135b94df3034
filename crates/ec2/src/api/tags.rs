//! CreateTags, DeleteTags, DescribeTags: tags live in each resource's `Tags` member.

use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{filter, kind, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] =
    &[("CreateTags", create_tags), ("DeleteTags", delete_tags), ("DescribeTags", describe_tags)];

/// Checks one tag (`Key` present, lengths within AWS's limits) and returns it normalized.
pub fn validated_tag(tag: &Value) -> Result<Value, AwsError> {
    let key = tag.str("Key").unwrap_or_default();
    let value = tag.str("Value").unwrap_or_default();
    if key.is_empty() {
        return Err(AwsError::new("InvalidParameterValue", "Tag keys must not be empty"));
    }
    if key.chars().count() > 128 {
        return Err(AwsError::new("InvalidParameterValue", format!("Tag key exceeds the maximum length of 128 characters: {key}")));
    }
    if value.chars().count() > 256 {
        return Err(AwsError::new("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters"));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(AwsError::new("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use"));
    }
    Ok(json!({ "Key": key, "Value": value }))
}

/// Sets tags on a document, replacing values of existing keys.
pub fn apply(doc: &mut Value, tags: &[Value]) {
    if !doc.get("Tags").is_some_and(Value::is_array) {
        doc["Tags"] = json!([]);
    }
    let Some(list) = doc["Tags"].as_array_mut() else { return };
    for tag in tags {
        let key = tag.str("Key").unwrap_or_default();
        match list.iter_mut().find(|t| t.str("Key") == Some(key)) {
            Some(existing) => *existing = tag.clone(),
            None => list.push(tag.clone()),
        }
    }
}

fn resolve(id: &str) -> Result<&'static str, AwsError> {
    kind::of_id(id).ok_or_else(|| AwsError::new("InvalidID", format!("The ID '{id}' is not valid")))
}

fn create_tags(env: &Env, input: Value) -> Result<Value, AwsError> {
    let resources = input.strings("Resources");
    let tags = input.list("Tags").iter().map(validated_tag).collect::<Result<Vec<_>, _>>()?;
    for r in &resources {
        resolve(r)?;
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        for r in &resources {
            let k = resolve(r)?;
            let Some(doc) = tx.get_mut(&scope, k, r) else {
                return Err(not_found_for(r, k));
            };
            apply(doc, &tags);
        }
        Ok(())
    })?;
    Ok(json!({}))
}

fn not_found_for(id: &str, k: &str) -> AwsError {
    let (code, noun) = match k {
        kind::VPC => ("InvalidVpcID.NotFound", "vpc"),
        kind::SUBNET => ("InvalidSubnetID.NotFound", "subnet"),
        kind::INSTANCE => ("InvalidInstanceID.NotFound", "instance"),
        kind::SECURITY_GROUP => ("InvalidGroup.NotFound", "security group"),
        kind::IGW => ("InvalidInternetGatewayID.NotFound", "internetGateway"),
        kind::ROUTE_TABLE => ("InvalidRouteTableID.NotFound", "routeTable"),
        kind::IMAGE => ("InvalidAMIID.NotFound", "image"),
        kind::SECURITY_GROUP_RULE => ("InvalidSecurityGroupRuleId.NotFound", "security group rule"),
        kind::KEY_PAIR => ("InvalidKeyPair.NotFound", "key pair"),
        kind::ELASTIC_IP => ("InvalidAllocationID.NotFound", "allocation"),
        _ => ("InvalidID", "resource"),
    };
    super::not_found(code, noun, &[id.to_string()])
}

fn delete_tags(env: &Env, input: Value) -> Result<Value, AwsError> {
    let resources = input.strings("Resources");
    for r in &resources {
        resolve(r)?;
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    let remove: Vec<(String, Option<String>)> = input
        .list("Tags")
        .iter()
        .map(|t| (t.str("Key").unwrap_or_default().to_string(), t.str("Value").map(str::to_string)))
        .collect();
    env.write(|tx| {
        for r in &resources {
            let k = resolve(r)?;
            let Some(doc) = tx.get_mut(&scope, k, r) else { return Err(not_found_for(r, k)) };
            if let Some(list) = doc.get_mut("Tags").and_then(Value::as_array_mut) {
                if remove.is_empty() {
                    list.clear();
                } else {
                    list.retain(|t| {
                        !remove.iter().any(|(key, value)| {
                            t.str("Key") == Some(key) && value.as_deref().is_none_or(|v| t.str("Value") == Some(v))
                        })
                    });
                }
            }
        }
        Ok(())
    })?;
    Ok(json!({}))
}

const TAG_FILTERS: &[(&str, &str)] =
    &[("key", "Key"), ("value", "Value"), ("resource-id", "ResourceId"), ("resource-type", "ResourceType")];

const TAGGED_KINDS: &[(&str, &str)] = &[
    (kind::VPC, "vpc"),
    (kind::SUBNET, "subnet"),
    (kind::IGW, "internet-gateway"),
    (kind::ROUTE_TABLE, "route-table"),
    (kind::SECURITY_GROUP, "security-group"),
    (kind::INSTANCE, "instance"),
    (kind::IMAGE, "image"),
    (kind::KEY_PAIR, "key-pair"),
    (kind::SECURITY_GROUP_RULE, "security-group-rule"),
    (kind::ELASTIC_IP, "elastic-ip"),
];

fn describe_tags(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let filters = filter::parse_filters(&input, TAG_FILTERS)?;
    let scope = env.scope();
    let mut out = Vec::new();
    for (k, resource_type) in TAGGED_KINDS {
        env.store.scan(&scope, k, |iter| {
            for (id, doc) in iter {
                for tag in doc.list("Tags") {
                    let d = json!({
                        "Key": tag.str("Key"), "Value": tag.str("Value"),
                        "ResourceId": id, "ResourceType": resource_type,
                    });
                    if filter::matches(&d, &filters, TAG_FILTERS) {
                        out.push(d);
                    }
                }
            }
        });
    }
    let max = input.int("MaxResults").unwrap_or(1000).clamp(5, 1000) as usize;
    let start = match input.str("NextToken") {
        Some(t) => t.parse::<usize>().map_err(|_| AwsError::new("InvalidPaginationToken", "Invalid pagination token"))?,
        None => 0,
    };
    let page: Vec<Value> = out.iter().skip(start).take(max).cloned().collect();
    let next = (start + max < out.len()).then(|| (start + max).to_string());
    Ok(json!({ "Tags": page, "NextToken": next }))
}
