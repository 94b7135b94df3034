//! Instance types: DescribeInstanceTypes and DescribeInstanceCreditSpecifications, from a
//! table of the common families. The same table gives instances their CPU and memory.

use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{filter, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("DescribeInstanceTypes", describe_instance_types),
    ("DescribeInstanceCreditSpecifications", describe_instance_credit_specifications),
];

/// One family: name, architecture, burstable, and its sizes as (size, vCPUs, MiB).
struct Family {
    name: &'static str,
    arch: &'static str,
    burstable: bool,
    sizes: &'static [(&'static str, i64, i64)],
}

const BURST: &[(&str, i64, i64)] = &[
    ("nano", 2, 512),
    ("micro", 2, 1024),
    ("small", 2, 2048),
    ("medium", 2, 4096),
    ("large", 2, 8192),
    ("xlarge", 4, 16384),
    ("2xlarge", 8, 32768),
];
const T2: &[(&str, i64, i64)] = &[
    ("nano", 1, 512),
    ("micro", 1, 1024),
    ("small", 1, 2048),
    ("medium", 2, 4096),
    ("large", 2, 8192),
    ("xlarge", 4, 16384),
    ("2xlarge", 8, 32768),
];
const GENERAL: &[(&str, i64, i64)] = &[("large", 2, 8192), ("xlarge", 4, 16384), ("2xlarge", 8, 32768), ("4xlarge", 16, 65536)];
const COMPUTE: &[(&str, i64, i64)] = &[("large", 2, 4096), ("xlarge", 4, 8192), ("2xlarge", 8, 16384), ("4xlarge", 16, 32768)];
const MEMORY: &[(&str, i64, i64)] = &[("large", 2, 16384), ("xlarge", 4, 32768), ("2xlarge", 8, 65536), ("4xlarge", 16, 131072)];

const FAMILIES: &[Family] = &[
    Family { name: "t2", arch: "x86_64", burstable: true, sizes: T2 },
    Family { name: "t3", arch: "x86_64", burstable: true, sizes: BURST },
    Family { name: "t3a", arch: "x86_64", burstable: true, sizes: BURST },
    Family { name: "t4g", arch: "arm64", burstable: true, sizes: BURST },
    Family { name: "m5", arch: "x86_64", burstable: false, sizes: GENERAL },
    Family { name: "m6i", arch: "x86_64", burstable: false, sizes: GENERAL },
    Family { name: "m7g", arch: "arm64", burstable: false, sizes: GENERAL },
    Family { name: "c5", arch: "x86_64", burstable: false, sizes: COMPUTE },
    Family { name: "c6i", arch: "x86_64", burstable: false, sizes: COMPUTE },
    Family { name: "r5", arch: "x86_64", burstable: false, sizes: MEMORY },
    Family { name: "m1", arch: "x86_64", burstable: false, sizes: &[("small", 1, 1740)] },
];

/// vCPUs and memory (MiB) of a type, if Fogbank knows it.
pub fn resources(instance_type: &str) -> Option<(i64, i64)> {
    let (family, size) = instance_type.split_once('.')?;
    let f = FAMILIES.iter().find(|f| f.name == family)?;
    f.sizes.iter().find(|(s, _, _)| *s == size).map(|(_, v, m)| (*v, *m))
}

fn info(f: &Family, size: &str, vcpus: i64, mib: i64) -> Value {
    let threads = if vcpus > 1 { 2 } else { 1 };
    json!({
        "InstanceType": format!("{}.{size}", f.name),
        "CurrentGeneration": f.name != "m1",
        "FreeTierEligible": matches!((f.name, size), ("t2" | "t3", "micro")),
        "SupportedUsageClasses": ["on-demand", "spot"],
        "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": false,
        "Hypervisor": if f.name == "t2" || f.name == "m1" { "xen" } else { "nitro" },
        "ProcessorInfo": {"SupportedArchitectures": [f.arch], "SustainedClockSpeedInGhz": 2.5},
        "VCpuInfo": {"DefaultVCpus": vcpus, "DefaultCores": (vcpus / threads).max(1), "DefaultThreadsPerCore": threads},
        "MemoryInfo": {"SizeInMiB": mib},
        "InstanceStorageSupported": false,
        "EbsInfo": {"EbsOptimizedSupport": "default", "EncryptionSupport": "supported", "NvmeSupport": "required"},
        "NetworkInfo": {
            "NetworkPerformance": "Up to 5 Gigabit", "MaximumNetworkInterfaces": 3, "MaximumNetworkCards": 1,
            "DefaultNetworkCardIndex": 0, "Ipv4AddressesPerInterface": 6, "Ipv6AddressesPerInterface": 6,
            "Ipv6Supported": true, "EnaSupport": "required", "EfaSupported": false,
            "EncryptionInTransitSupported": false, "EnaSrdSupported": false,
        },
        "PlacementGroupInfo": {"SupportedStrategies": ["partition", "spread"]},
        "HibernationSupported": f.arch == "x86_64",
        "BurstablePerformanceSupported": f.burstable,
        "DedicatedHostsSupported": false,
        "AutoRecoverySupported": true,
        "SupportedBootModes": if f.arch == "arm64" { json!(["uefi"]) } else { json!(["legacy-bios", "uefi"]) },
        "NitroEnclavesSupport": "unsupported",
        "NitroTpmSupport": "supported",
        "PhcSupport": "unsupported",
    })
}

const TYPE_FILTERS: &[(&str, &str)] = &[
    ("instance-type", "InstanceType"),
    ("current-generation", "CurrentGeneration"),
    ("free-tier-eligible", "FreeTierEligible"),
    ("burstable-performance-supported", "BurstablePerformanceSupported"),
    ("processor-info.supported-architecture", "ProcessorInfo.SupportedArchitectures"),
    ("vcpu-info.default-vcpus", "VCpuInfo.DefaultVCpus"),
    ("memory-info.size-in-mib", "MemoryInfo.SizeInMiB"),
    ("hypervisor", "Hypervisor"),
    ("supported-usage-class", "SupportedUsageClasses"),
];

fn describe_instance_types(_env: &Env, input: Value) -> Result<Value, AwsError> {
    super::dry_run(&input)?;
    let filters = filter::parse_filters(&input, TYPE_FILTERS)?;
    let wanted = input.strings("InstanceTypes");
    let all: Vec<Value> = FAMILIES
        .iter()
        .flat_map(|f| f.sizes.iter().map(move |(s, v, m)| info(f, s, *v, *m)))
        .collect();
    for w in &wanted {
        if !all.iter().any(|i| i.str("InstanceType") == Some(w.as_str())) {
            return Err(AwsError::new(
                "InvalidInstanceType",
                format!("The following supplied instance types do not exist: [{w}]"),
            ));
        }
    }
    let matching: Vec<Value> = all
        .into_iter()
        .filter(|i| wanted.is_empty() || wanted.iter().any(|w| i.str("InstanceType") == Some(w.as_str())))
        .filter(|i| filter::matches(i, &filters, TYPE_FILTERS))
        .collect();
    let max = input.int("MaxResults").unwrap_or(100) as usize;
    let start: usize = match input.str("NextToken") {
        Some(t) => t.parse().map_err(|_| AwsError::new("InvalidPaginationToken", "Invalid pagination token"))?,
        None => 0,
    };
    let page: Vec<Value> = matching.iter().skip(start).take(max).cloned().collect();
    let next = (start + max < matching.len()).then(|| (start + max).to_string());
    Ok(json!({ "InstanceTypes": page, "NextToken": next }))
}

fn describe_instance_credit_specifications(env: &Env, input: Value) -> Result<Value, AwsError> {
    let mut ids_only = input.clone();
    if let Some(o) = ids_only.as_object_mut() {
        o.remove("Filters");
    }
    super::dry_run(&input)?;
    let (instances, next) = super::describe(env, &ids_only, &super::instance::SPEC, None)?;
    let specs: Vec<Value> = instances
        .iter()
        .filter(|d| {
            let t = d.str("InstanceType").unwrap_or_default();
            FAMILIES.iter().any(|f| f.burstable && t.starts_with(&format!("{}.", f.name)))
        })
        .map(|d| {
            let credits = if d.str("InstanceType").is_some_and(|t| t.starts_with("t2.")) { "standard" } else { "unlimited" };
            json!({"InstanceId": d.str("InstanceId"), "CpuCredits": credits})
        })
        .collect();
    Ok(json!({ "InstanceCreditSpecifications": specs, "NextToken": next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types() {
        assert_eq!(resources("t3.micro"), Some((2, 1024)));
        assert_eq!(resources("m5.2xlarge"), Some((8, 32768)));
        assert_eq!(resources("x9.huge"), None);
    }
}
