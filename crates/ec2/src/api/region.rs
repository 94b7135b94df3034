//! DescribeRegions and DescribeAvailabilityZones.

use fogbank_core::regions;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{filter, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] =
    &[("DescribeRegions", describe_regions), ("DescribeAvailabilityZones", describe_availability_zones)];

const REGION_FILTERS: &[(&str, &str)] = &[("endpoint", "Endpoint"), ("region-name", "RegionName"), ("opt-in-status", "OptInStatus")];

fn describe_regions(_env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let filters = filter::parse_filters(&input, REGION_FILTERS)?;
    let names = input.strings("RegionNames");
    let mut out = Vec::new();
    for r in regions::REGIONS {
        let doc = json!({
            "RegionName": r.name,
            "Endpoint": format!("ec2.{}.amazonaws.com", r.name),
            "OptInStatus": "opt-in-not-required",
        });
        if (names.is_empty() || names.iter().any(|n| n == r.name)) && filter::matches(&doc, &filters, REGION_FILTERS) {
            out.push(doc);
        }
    }
    for n in &names {
        if regions::find(n).is_none() {
            return Err(AwsError::new("InvalidParameterValue", format!("Invalid region name: {n}")));
        }
    }
    Ok(json!({ "Regions": out }))
}

const ZONE_FILTERS: &[(&str, &str)] = &[
    ("zone-name", "ZoneName"),
    ("zone-id", "ZoneId"),
    ("region-name", "RegionName"),
    ("state", "State"),
    ("zone-type", "ZoneType"),
    ("group-name", "GroupName"),
    ("opt-in-status", "OptInStatus"),
];

fn describe_availability_zones(env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let filters = filter::parse_filters(&input, ZONE_FILTERS)?;
    let names = input.strings("ZoneNames");
    let zone_ids = input.strings("ZoneIds");
    let region = &env.ctx.region;
    let mut out = Vec::new();
    for (name, id) in regions::zones(region) {
        let doc = json!({
            "State": "available",
            "OptInStatus": "opt-in-not-required",
            "Messages": [],
            "RegionName": region,
            "ZoneName": name,
            "ZoneId": id,
            "GroupName": region,
            "NetworkBorderGroup": region,
            "ZoneType": "availability-zone",
            "GroupLongName": regions::find(region).map(|r| r.endpoint_name).unwrap_or(""),
        });
        let wanted = (names.is_empty() && zone_ids.is_empty()) || names.contains(&name) || zone_ids.contains(&id);
        if wanted && filter::matches(&doc, &filters, ZONE_FILTERS) {
            out.push(doc);
        }
    }
    if let Some(bad) = names.iter().find(|n| !out.iter().any(|z| z.str("ZoneName") == Some(n.as_str()))) {
        if filters.is_empty() {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("The zone '{bad}' does not exist in the region {region}"),
            ));
        }
    }
    Ok(json!({ "AvailabilityZones": out }))
}
