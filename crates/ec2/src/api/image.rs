//! AMIs: DescribeImages, RegisterImage, DeregisterImage, DescribeImageAttribute; the built-in
//! images that configurations written for real AWS look up.
//!
//! Built-in images are not stored: they are the same constants in every account and region
//! ([`builtins`]), owned by their real owners (Amazon, Canonical, Debian) or by Fogbank itself,
//! public and `available`. Images an account registers are stored per account and region as kind
//! `image`, in the shape of the model's `Image`, private to their owner. Both carry under `_fb`
//! which root filesystem an instance of them boots (`Root`) and, for Fogbank's demo image, what
//! it serves (`Role`).

use std::sync::OnceLock;

use base64::Engine;
use fogbank_core::ids;
use fogbank_wire::AwsError;
use serde_json::{json, Value};

use super::{filter, kind, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("DescribeImages", describe_images),
    ("RegisterImage", register_image),
    ("DeregisterImage", deregister_image),
    ("DescribeImageAttribute", describe_image_attribute),
];

/// Amazon's account and alias.
const AMAZON: &str = "137112412989";
/// Canonical's account (Ubuntu); AWS shows no owner alias for it.
const CANONICAL: &str = "099720109477";
/// Debian's account; no owner alias either.
const DEBIAN: &str = "136693071363";
/// The account Fogbank's own images are published from, with the alias `fogbank`.
const FOGBANK: &str = "111111111111";

/// One built-in image.
struct Builtin {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    owner: &'static str,
    alias: Option<&'static str>,
    architecture: &'static str,
    root_device: &'static str,
    volume_type: &'static str,
    snapshot: &'static str,
    created: &'static str,
    imds_v2: bool,
    role: Option<&'static str>,
}

const AL2023_X86: &str = "ami-0a3c14e1ddbe7f23c";

const BUILTINS: &[Builtin] = &[
    Builtin {
        id: AL2023_X86,
        name: "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
        description: "Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 HVM kernel-6.1",
        owner: AMAZON,
        alias: Some("amazon"),
        architecture: "x86_64",
        root_device: "/dev/xvda",
        volume_type: "gp3",
        snapshot: "snap-0c4b2d8e1f7a93650",
        created: "2024-12-12T20:05:13.000Z",
        imds_v2: true,
        role: None,
    },
    Builtin {
        id: "ami-07b9d1e5c3a0f4182",
        name: "al2023-ami-2023.6.20241212.0-kernel-6.1-arm64",
        description: "Amazon Linux 2023 AMI 2023.6.20241212.0 arm64 HVM kernel-6.1",
        owner: AMAZON,
        alias: Some("amazon"),
        architecture: "arm64",
        root_device: "/dev/xvda",
        volume_type: "gp3",
        snapshot: "snap-05e1a7c3b9d2f8406",
        created: "2024-12-12T20:05:14.000Z",
        imds_v2: true,
        role: None,
    },
    Builtin {
        id: "ami-0d6e2f9a4b1c83e57",
        name: "al2023-ami-minimal-2023.6.20241212.0-kernel-6.1-x86_64",
        description: "Amazon Linux 2023 AMI 2023.6.20241212.0 x86_64 Minimal HVM kernel-6.1",
        owner: AMAZON,
        alias: Some("amazon"),
        architecture: "x86_64",
        root_device: "/dev/xvda",
        volume_type: "gp3",
        snapshot: "snap-0a8f3c6e2d1b97504",
        created: "2024-12-12T20:05:11.000Z",
        imds_v2: true,
        role: None,
    },
    Builtin {
        id: "ami-0f1e6b3d9a2c58470",
        name: "amzn2-ami-hvm-2.0.20241217.0-x86_64-gp2",
        description: "Amazon Linux 2 AMI 2.0.20241217.0 x86_64 HVM gp2",
        owner: AMAZON,
        alias: Some("amazon"),
        architecture: "x86_64",
        root_device: "/dev/xvda",
        volume_type: "gp2",
        snapshot: "snap-0e2d9b5a7c3f18406",
        created: "2024-12-17T23:36:46.000Z",
        imds_v2: false,
        role: None,
    },
    Builtin {
        id: "ami-04b3c7e19d5a2f068",
        name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241206",
        description: "Canonical, Ubuntu, 24.04, amd64 noble image",
        owner: CANONICAL,
        alias: None,
        architecture: "x86_64",
        root_device: "/dev/sda1",
        volume_type: "gp3",
        snapshot: "snap-0b7e4a1c9f3d62085",
        created: "2024-12-06T09:12:31.000Z",
        imds_v2: false,
        role: None,
    },
    Builtin {
        id: "ami-09c2e5a8f1b7d3046",
        name: "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20241206",
        description: "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image build on 2024-12-06",
        owner: CANONICAL,
        alias: None,
        architecture: "x86_64",
        root_device: "/dev/sda1",
        volume_type: "gp2",
        snapshot: "snap-03f9c1e6a2b8d7450",
        created: "2024-12-06T08:57:02.000Z",
        imds_v2: false,
        role: None,
    },
    Builtin {
        id: "ami-064a8d2c7e9f1b305",
        name: "debian-12-amd64-20241201-1947",
        description: "Debian 12 (20241201-1947)",
        owner: DEBIAN,
        alias: None,
        architecture: "x86_64",
        root_device: "/dev/sda1",
        volume_type: "gp3",
        snapshot: "snap-0d5a2f8c4e1b96730",
        created: "2024-12-01T21:03:40.000Z",
        imds_v2: false,
        role: None,
    },
    Builtin {
        id: "ami-0f0ba4c0de0000001",
        name: "fogbank-web-2026.12-x86_64",
        description: "Fogbank demo web server: serves HTTP on port 80, answering every request with the \
                      instance id and Availability Zone of the instance",
        owner: FOGBANK,
        alias: Some("fogbank"),
        architecture: "x86_64",
        root_device: "/dev/xvda",
        volume_type: "gp3",
        snapshot: "snap-0f0ba4c0de0000001",
        created: "2026-12-01T00:00:00.000Z",
        imds_v2: true,
        role: Some("web"),
    },
];

fn builtin_doc(b: &Builtin) -> Value {
    let location_owner = b.alias.unwrap_or(b.owner);
    let mut doc = json!({
        "ImageId": b.id,
        "ImageLocation": format!("{location_owner}/{}", b.name),
        "State": "available",
        "OwnerId": b.owner,
        "CreationDate": b.created,
        "Public": true,
        "Architecture": b.architecture,
        "ImageType": "machine",
        "ImageOwnerAlias": b.alias,
        "Name": b.name,
        "Description": b.description,
        "RootDeviceName": b.root_device,
        "RootDeviceType": "ebs",
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": true,
        "SriovNetSupport": "simple",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "uefi-preferred",
        "BlockDeviceMappings": [{
            "DeviceName": b.root_device,
            "Ebs": {
                "DeleteOnTermination": true,
                "SnapshotId": b.snapshot,
                "VolumeSize": 8,
                "VolumeType": b.volume_type,
                "Encrypted": false,
            },
        }],
        "Tags": [],
        "_fb": {"Root": "host", "Builtin": true},
    });
    if b.alias.is_none() {
        doc.as_object_mut().map(|o| o.remove("ImageOwnerAlias"));
    }
    if b.imds_v2 {
        doc["ImdsSupport"] = json!("v2.0");
    }
    if let Some(role) = b.role {
        doc["_fb"]["Role"] = json!(role);
    }
    doc
}

/// The built-in images, as `Image` documents (with their `_fb`).
pub fn builtins() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| BUILTINS.iter().map(builtin_doc).collect())
}

pub(crate) fn builtin(image_id: &str) -> Option<&'static Value> {
    builtins().iter().find(|d| d.str("ImageId") == Some(image_id))
}

/// The image run when an unknown AMI id is asked for without `--strict-amis`: Amazon Linux 2023
/// for x86_64.
pub fn default_image_id() -> &'static str {
    AL2023_X86
}

/// The image an instance runs: the built-in or this account's registered image with this id.
pub fn lookup(env: &Env, image_id: &str) -> Option<Value> {
    builtin(image_id).cloned().or_else(|| env.store.get(&env.scope(), kind::IMAGE, image_id))
}

/// `InvalidAMIID.NotFound`, worded as EC2 words it (the ids in brackets).
fn not_found(ids: &[String]) -> AwsError {
    if ids.len() == 1 {
        AwsError::new("InvalidAMIID.NotFound", format!("The image id '[{}]' does not exist", ids[0]))
    } else {
        AwsError::new("InvalidAMIID.NotFound", format!("The image ids '[{}]' do not exist", ids.join(", ")))
    }
}

fn check_image_id(id: &str) -> Result<(), AwsError> {
    super::check_id_format(id, "ami", "InvalidAMIID.Malformed")
}

pub const FILTERS: &[(&str, &str)] = &[
    ("architecture", "Architecture"),
    ("block-device-mapping.delete-on-termination", "BlockDeviceMappings[].Ebs.DeleteOnTermination"),
    ("block-device-mapping.device-name", "BlockDeviceMappings[].DeviceName"),
    ("block-device-mapping.snapshot-id", "BlockDeviceMappings[].Ebs.SnapshotId"),
    ("block-device-mapping.volume-size", "BlockDeviceMappings[].Ebs.VolumeSize"),
    ("block-device-mapping.volume-type", "BlockDeviceMappings[].Ebs.VolumeType"),
    ("block-device-mapping.encrypted", "BlockDeviceMappings[].Ebs.Encrypted"),
    ("boot-mode", "BootMode"),
    ("creation-date", "CreationDate"),
    ("description", "Description"),
    ("ena-support", "EnaSupport"),
    ("hypervisor", "Hypervisor"),
    ("image-id", "ImageId"),
    ("image-type", "ImageType"),
    ("imds-support", "ImdsSupport"),
    ("is-public", "Public"),
    ("kernel-id", "KernelId"),
    ("manifest-location", "ImageLocation"),
    ("name", "Name"),
    ("owner-alias", "ImageOwnerAlias"),
    ("owner-id", "OwnerId"),
    ("platform", "Platform"),
    ("platform-details", "PlatformDetails"),
    ("product-code", "ProductCodes[].ProductCodeId"),
    ("ramdisk-id", "RamdiskId"),
    ("root-device-name", "RootDeviceName"),
    ("root-device-type", "RootDeviceType"),
    ("source-instance-id", "SourceInstanceId"),
    ("state", "State"),
    ("sriov-net-support", "SriovNetSupport"),
    ("usage-operation", "UsageOperation"),
    ("virtualization-type", "VirtualizationType"),
];

/// Owner aliases `Owners` understands besides account ids and `self`.
const OWNER_ALIASES: &[&str] = &["amazon", "aws-marketplace", "aws-backup-vault", "fogbank"];

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether an image belongs to one of `Owners`: account ids, `self` (the caller) or an alias.
fn owned_by(image: &Value, owner: &str, account: &str) -> bool {
    match owner {
        "self" => image.str("OwnerId") == Some(account),
        o if is_account_id(o) => image.str("OwnerId") == Some(o),
        alias => image.str("ImageOwnerAlias") == Some(alias),
    }
}

/// Whether `ExecutableUsers` lets this caller see the image: `all` is every public image;
/// `self` or the caller's own id are the images it may launch by explicit permission, which
/// Fogbank models as its own images.
fn executable_by(image: &Value, user: &str, account: &str) -> bool {
    match user {
        "all" => image.bool("Public") == Some(true),
        u if u == "self" || u == account => image.str("OwnerId") == Some(account),
        _ => false,
    }
}

fn encode_token(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("fb1:{id}"))
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("fb1:").map(str::to_string)
}

/// Every image the caller can see: the built-ins and its own registered images, by image id.
fn visible(env: &Env) -> Vec<Value> {
    let mut all: Vec<Value> = builtins().to_vec();
    env.store.scan(&env.scope(), kind::IMAGE, |iter| all.extend(iter.map(|(_, d)| d.clone())));
    all.sort_by(|a, b| a.str("ImageId").cmp(&b.str("ImageId")));
    all
}

/// The DescribeImages selection, without paging: ids, owners, executable users and filters.
fn select(env: &Env, input: &Value) -> Result<Vec<Value>, AwsError> {
    let account = env.ctx.account.as_str();
    let ids = input.strings("ImageIds");
    for id in &ids {
        check_image_id(id)?;
    }
    let owners = input.strings("Owners");
    for o in &owners {
        if o != "self" && !is_account_id(o) && !OWNER_ALIASES.contains(&o.as_str()) {
            return Err(AwsError::new("InvalidUserID.Malformed", format!("Invalid user id: \"{o}\"")));
        }
    }
    let users = input.strings("ExecutableUsers");
    let filters = filter::parse_filters(input, FILTERS)?;
    let all = visible(env);
    if !ids.is_empty() {
        let missing: Vec<String> =
            ids.iter().filter(|id| !all.iter().any(|d| d.str("ImageId") == Some(id.as_str()))).cloned().collect();
        if !missing.is_empty() {
            return Err(not_found(&missing));
        }
    }
    Ok(all
        .into_iter()
        .filter(|d| ids.is_empty() || ids.iter().any(|id| d.str("ImageId") == Some(id.as_str())))
        .filter(|d| owners.is_empty() || owners.iter().any(|o| owned_by(d, o, account)))
        .filter(|d| users.is_empty() || users.iter().any(|u| executable_by(d, u, account)))
        .filter(|d| filter::matches(d, &filters, FILTERS))
        .collect())
}

fn describe_images(env: &Env, input: Value) -> Result<Value, AwsError> {
    let max_results = input.int("MaxResults");
    if let Some(max) = max_results {
        if !input.list("ImageIds").is_empty() {
            return Err(AwsError::new(
                "InvalidParameterCombination",
                "The parameter imageIdsSet cannot be used with the parameter maxResults",
            ));
        }
        if !(5..=1000).contains(&max) {
            return Err(AwsError::new(
                "InvalidParameterValue",
                format!("Value ( {max} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."),
            ));
        }
    }
    let start_after = match input.str("NextToken") {
        Some(t) => Some(
            decode_token(t).ok_or_else(|| AwsError::new("InvalidPaginationToken", format!("Invalid pagination token: {t}")))?,
        ),
        None => None,
    };
    let images = select(env, &input)?;
    super::dry_run(&input)?;
    // Deprecation: no image Fogbank knows is deprecated, so `IncludeDeprecated` changes nothing.
    let mut page: Vec<Value> = images
        .into_iter()
        .filter(|d| start_after.as_deref().is_none_or(|s| d.str("ImageId").unwrap_or_default() >= s))
        .collect();
    let mut next = None;
    if let Some(max) = max_results {
        let max = max as usize;
        if page.len() > max {
            next = Some(encode_token(page[max].str("ImageId").unwrap_or_default()));
            page.truncate(max);
        }
    }
    Ok(json!({ "Images": page, "NextToken": next }))
}

/// AWS's rule for AMI names: 3 to 128 of letters, digits and `()[] ./-'@_`.
fn valid_name(name: &str) -> bool {
    (3..=128).contains(&name.chars().count())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c))
}

/// The block device mappings of a registered image, with EBS defaults filled in; a root device
/// volume is made up when none is given.
fn mappings(input: &Value, root_device: &str) -> Vec<Value> {
    let mut out: Vec<Value> = input
        .list("BlockDeviceMappings")
        .iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(ebs) = m.get_mut("Ebs").and_then(Value::as_object_mut) {
                ebs.entry("DeleteOnTermination").or_insert(json!(true));
                ebs.entry("SnapshotId").or_insert_with(|| json!(ids::resource_id("snap")));
                ebs.entry("VolumeSize").or_insert(json!(8));
                ebs.entry("VolumeType").or_insert(json!("gp2"));
                ebs.entry("Encrypted").or_insert(json!(false));
            }
            m
        })
        .collect();
    if !out.iter().any(|m| m.str("DeviceName") == Some(root_device)) {
        out.insert(
            0,
            json!({"DeviceName": root_device, "Ebs": {
                "DeleteOnTermination": true, "SnapshotId": ids::resource_id("snap"),
                "VolumeSize": 8, "VolumeType": "gp3", "Encrypted": false,
            }}),
        );
    }
    out
}

/// The root file system an image boots: an `ImageLocation` that is an absolute path on this
/// machine names a prepared root directory (it must hold `/bin/sh`, which the instance's init
/// runs); any other location (AWS's `bucket/manifest.xml`) boots the host's `/`.
fn root_of_location(location: Option<&str>) -> Result<String, AwsError> {
    let Some(path) = location.filter(|l| l.starts_with('/')) else { return Ok("host".into()) };
    let dir = std::path::Path::new(path);
    let has_shell = ["bin/sh", "usr/bin/sh"].iter().any(|sh| dir.join(sh).exists());
    if !dir.is_dir() || !has_shell {
        return Err(super::invalid_value(
            "imageLocation",
            path,
            "A local image location must be a directory holding a root file system with /bin/sh.",
        ));
    }
    Ok(path.trim_end_matches('/').to_string())
}

fn register_image(env: &Env, input: Value) -> Result<Value, AwsError> {
    let Some(name) = input.str("Name").map(str::to_string) else {
        return Err(super::missing("Name"));
    };
    if !valid_name(&name) {
        return Err(AwsError::new(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, \
             '(', ')', '[', ']', ' ', '.', '/', '-', ''', '@' and '_'",
        ));
    }
    super::check_tag_specs(&input, &["image", "snapshot"])?;
    let tags = super::tags_for(&input, "image")?;
    let root_device = input.str("RootDeviceName").unwrap_or("/dev/xvda").to_string();
    let root = root_of_location(input.str("ImageLocation"))?;
    let account = env.ctx.account.clone();
    let image_id = ids::resource_id("ami");
    let mut doc = json!({
        "ImageId": image_id,
        "ImageLocation": input.str("ImageLocation").map(str::to_string).unwrap_or_else(|| format!("{account}/{name}")),
        "State": "available",
        "OwnerId": account,
        "CreationDate": fogbank_wire::time::now_iso(),
        "Public": false,
        "Architecture": input.str("Architecture").unwrap_or("x86_64"),
        "ImageType": "machine",
        "Name": name,
        "RootDeviceName": root_device,
        "RootDeviceType": "ebs",
        "VirtualizationType": input.str("VirtualizationType").unwrap_or("hvm"),
        "Hypervisor": "xen",
        "EnaSupport": input.bool("EnaSupport").unwrap_or(true),
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BlockDeviceMappings": mappings(&input, &root_device),
        "Tags": tags,
        "_fb": {"Root": root},
    });
    for member in ["Description", "KernelId", "RamdiskId", "SriovNetSupport", "BootMode", "TpmSupport", "ImdsSupport"] {
        if let Some(v) = input.str(member) {
            doc[member] = json!(v);
        }
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        if let Some((id, _)) = tx.list(&scope, kind::IMAGE).find(|(_, d)| d.str("Name") == Some(name.as_str())) {
            return Err(AwsError::new(
                "InvalidAMIName.Duplicate",
                format!("AMI name {name} is already in use by AMI {id}"),
            ));
        }
        tx.put(&scope, kind::IMAGE, &image_id, doc);
        Ok(())
    })?;
    Ok(json!({ "ImageId": image_id }))
}

fn deregister_image(env: &Env, input: Value) -> Result<Value, AwsError> {
    let image_id = input.str("ImageId").unwrap_or_default().to_string();
    check_image_id(&image_id)?;
    if builtin(&image_id).is_some() {
        return Err(AwsError::new("AuthFailure", format!("Not authorized for image:{image_id}")));
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    env.write(|tx| {
        tx.delete(&scope, kind::IMAGE, &image_id).ok_or_else(|| not_found(&[image_id.clone()]))?;
        Ok(())
    })?;
    Ok(json!({ "Return": true }))
}

fn describe_image_attribute(env: &Env, input: Value) -> Result<Value, AwsError> {
    let image_id = input.str("ImageId").unwrap_or_default().to_string();
    let attribute = input.str("Attribute").unwrap_or_default().to_string();
    check_image_id(&image_id)?;
    let image = lookup(env, &image_id).ok_or_else(|| not_found(&[image_id.clone()]))?;
    let own = image.str("OwnerId") == Some(env.ctx.account.as_str());
    if attribute == "launchPermission" && !own {
        return Err(AwsError::new("AuthFailure", format!("Not authorized for image:{image_id}")));
    }
    super::dry_run(&input)?;
    let value = |member: &str| image.get(member).filter(|v| !v.is_null()).map(|v| json!({ "Value": v }));
    let mut out = json!({ "ImageId": image_id });
    let (member, v) = match attribute.as_str() {
        "description" => ("Description", value("Description")),
        "kernel" => ("KernelId", value("KernelId")),
        "ramdisk" => ("RamdiskId", value("RamdiskId")),
        "sriovNetSupport" => ("SriovNetSupport", value("SriovNetSupport")),
        "bootMode" => ("BootMode", value("BootMode")),
        "tpmSupport" => ("TpmSupport", value("TpmSupport")),
        "uefiData" => ("UefiData", None),
        "lastLaunchedTime" => ("LastLaunchedTime", value("LastLaunchedTime")),
        "imdsSupport" => ("ImdsSupport", value("ImdsSupport")),
        "deregistrationProtection" => ("DeregistrationProtection", Some(json!({ "Value": "disabled" }))),
        "launchPermission" => {
            let perms = if image.bool("Public") == Some(true) { json!([{ "Group": "all" }]) } else { json!([]) };
            ("LaunchPermissions", Some(perms))
        }
        "productCodes" => ("ProductCodes", Some(image.get("ProductCodes").cloned().unwrap_or(json!([])))),
        "blockDeviceMapping" => ("BlockDeviceMappings", Some(image.get("BlockDeviceMappings").cloned().unwrap_or(json!([])))),
        other => return Err(super::invalid_value("Attribute", other, "Unknown attribute.")),
    };
    if let Some(v) = v {
        out[member] = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::fb;

    use crate::api::with_test_env as with_env;

    fn names(out: &Value) -> Vec<String> {
        out["Images"].as_array().unwrap().iter().map(|i| i.str("Name").unwrap().to_string()).collect()
    }

    fn filter(name: &str, value: &str) -> Value {
        json!({"Name": name, "Values": [value]})
    }

    #[test]
    fn builtins_are_well_formed_and_distinct() {
        let docs = builtins();
        for d in docs {
            let id = d.str("ImageId").unwrap();
            assert!(ids::is_well_formed(id, "ami") && id.len() == 21, "{id}");
            assert_eq!(fb(d).str("Root"), Some("host"));
            assert_eq!(d.str("State"), Some("available"));
            assert_eq!(d.bool("Public"), Some(true));
            assert_eq!(docs.iter().filter(|o| o.str("ImageId") == Some(id)).count(), 1);
        }
        assert_eq!(builtin(default_image_id()).unwrap().str("Architecture"), Some("x86_64"));
        let web = docs.iter().find(|d| d.str("Name") == Some("fogbank-web-2026.12-x86_64")).unwrap();
        assert_eq!(fb(web).str("Role"), Some("web"));
        assert_eq!(web.str("ImageOwnerAlias"), Some("fogbank"));
        let noble = docs.iter().find(|d| d.str("OwnerId") == Some(CANONICAL)).unwrap();
        assert!(noble.get("ImageOwnerAlias").is_none());
    }

    #[test]
    fn terraform_lookups_find_an_image() {
        with_env(|env| {
            let al = describe_images(
                env,
                json!({"Owners": ["amazon"], "Filters": [filter("name", "al2023-ami-2023.*-x86_64")]}),
            )
            .unwrap();
            assert_eq!(names(&al), vec!["al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64"]);
            let ubuntu = describe_images(
                env,
                json!({"Owners": ["099720109477"],
                       "Filters": [filter("name", "ubuntu/images/hvm-ssd*/ubuntu-noble-24.04-amd64-server-*"),
                                   filter("virtualization-type", "hvm")]}),
            )
            .unwrap();
            assert_eq!(names(&ubuntu), vec!["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20241206"]);
            // Canonical's images are not Amazon's.
            let none = describe_images(env, json!({"Owners": ["amazon"], "Filters": [filter("name", "ubuntu*")]})).unwrap();
            assert!(names(&none).is_empty());
            let arm = describe_images(env, json!({"Filters": [filter("architecture", "arm64")]})).unwrap();
            assert_eq!(names(&arm), vec!["al2023-ami-2023.6.20241212.0-kernel-6.1-arm64"]);
            let small = describe_images(env, json!({"Filters": [filter("block-device-mapping.volume-size", "8"),
                filter("is-public", "true"), filter("owner-alias", "fogbank")]})).unwrap();
            assert_eq!(names(&small), vec!["fogbank-web-2026.12-x86_64"]);
        });
    }

    #[test]
    fn ids_owners_and_paging() {
        with_env(|env| {
            let err = describe_images(env, json!({"ImageIds": ["ami-zzz"]})).unwrap_err();
            assert_eq!(err.code, "InvalidAMIID.Malformed");
            let err = describe_images(env, json!({"ImageIds": ["ami-0123456789abcdef0"]})).unwrap_err();
            assert_eq!(err.code, "InvalidAMIID.NotFound");
            assert_eq!(err.message, "The image id '[ami-0123456789abcdef0]' does not exist");
            let err = describe_images(env, json!({"Owners": ["nobody"]})).unwrap_err();
            assert_eq!(err.code, "InvalidUserID.Malformed");

            let all = describe_images(env, json!({})).unwrap();
            assert_eq!(all["Images"].as_array().unwrap().len(), BUILTINS.len());
            let first = describe_images(env, json!({"MaxResults": 5})).unwrap();
            assert_eq!(first["Images"].as_array().unwrap().len(), 5);
            let token = first.str("NextToken").unwrap().to_string();
            let rest = describe_images(env, json!({"MaxResults": 5, "NextToken": token})).unwrap();
            assert_eq!(rest["Images"].as_array().unwrap().len(), BUILTINS.len() - 5);
            assert!(rest.get("NextToken").unwrap().is_null());
            assert!(describe_images(env, json!({"MaxResults": 4})).is_err());

            let id = register_image(env, json!({"Name": "my-image", "Description": "mine"})).unwrap();
            let id = id.str("ImageId").unwrap().to_string();
            let dup = register_image(env, json!({"Name": "my-image"})).unwrap_err();
            assert_eq!(dup.code, "InvalidAMIName.Duplicate");
            assert_eq!(dup.message, format!("AMI name my-image is already in use by AMI {id}"));
            let mine = describe_images(env, json!({"Owners": ["self"]})).unwrap();
            assert_eq!(names(&mine), vec!["my-image"]);
            let public = describe_images(env, json!({"ExecutableUsers": ["all"]})).unwrap();
            assert_eq!(names(&public).len(), BUILTINS.len());
            assert_eq!(describe_images(env, json!({})).unwrap()["Images"].as_array().unwrap().len(), BUILTINS.len() + 1);
            assert!(lookup(env, &id).is_some() && lookup(env, default_image_id()).is_some());

            let attr = describe_image_attribute(env, json!({"ImageId": id, "Attribute": "description"})).unwrap();
            assert_eq!(attr["Description"]["Value"], json!("mine"));
            let err = deregister_image(env, json!({"ImageId": default_image_id()})).unwrap_err();
            assert_eq!(err.code, "AuthFailure");
            assert_eq!(deregister_image(env, json!({"ImageId": id})).unwrap(), json!({"Return": true}));
            let err = deregister_image(env, json!({"ImageId": id})).unwrap_err();
            assert_eq!(err.code, "InvalidAMIID.NotFound");
            assert!(lookup(env, &id).is_none());
        });
    }
}
