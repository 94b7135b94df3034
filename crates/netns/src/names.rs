//! Names of everything the substrate creates in the kernel, and their inverse for cleanup.
//!
//! Every name starts with the prefix (`fb` for Fogbank, `fbt…` in tests) and then has a fixed
//! shape, so that `cleanup_leftovers("fb")` never matches a name made under a longer prefix
//! such as `fbt1a`: the part after the prefix must be exactly one of the shapes below.
//!
//! | object | shape | where |
//! |---|---|---|
//! | VPC router namespace | `<p>v-<8hex>` | `/run/netns` |
//! | instance namespace, its cgroups | `<p>i-<8hex>` | `/run/netns`, `/sys/fs/cgroup/*/` |
//! | edge namespace, host end of its veth | `<p>-edge` | `/run/netns`, host links |
//! | VPC end of an instance veth | `<p>i<8hex>` | links in the VPC namespace |
//! | edge end of a VPC uplink veth | `<p>v<8hex>` | links in the edge namespace |
//!
//! `<8hex>` is the last 8 hex digits of the AWS id, or a hash of the id when it does not end
//! in 8 hex digits. Linux link names hold 15 bytes, so the prefix holds at most 6.

use crate::error::SubstrateError;

/// The most bytes a prefix may have: `<p>` + `i` + 8 hex must fit a 15-byte link name.
pub const MAX_PREFIX_LEN: usize = 6;

/// The link name of the instance's end inside its own namespace.
pub const INSTANCE_LINK: &str = "eth0";
/// The VPC router's end of its uplink to the edge.
pub const VPC_UPLINK: &str = "edge0";
/// The edge's end of the veth to the host.
pub const EDGE_HOST_LINK: &str = "host0";

/// What a name made by the substrate stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    VpcNamespace(String),
    InstanceNamespace(String),
    Edge,
    InstanceLink(String),
    VpcLink(String),
}

/// The names under one prefix.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Result<Names, SubstrateError> {
        validate_prefix(prefix)?;
        Ok(Names {
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn vpc_netns(&self, vpc_id: &str) -> String {
        format!("{}v-{}", self.prefix, short(vpc_id))
    }

    pub fn instance_netns(&self, instance_id: &str) -> String {
        format!("{}i-{}", self.prefix, short(instance_id))
    }

    /// The instance's cgroup in every controller.
    pub fn instance_cgroup(&self, instance_id: &str) -> String {
        self.instance_netns(instance_id)
    }

    /// The VPC router's end of the instance's veth.
    pub fn instance_link(&self, instance_id: &str) -> String {
        format!("{}i{}", self.prefix, short(instance_id))
    }

    /// The edge's end of the VPC's uplink.
    pub fn vpc_link(&self, vpc_id: &str) -> String {
        format!("{}v{}", self.prefix, short(vpc_id))
    }

    /// The edge namespace and the host's end of the veth into it.
    pub fn edge(&self) -> String {
        format!("{}-edge", self.prefix)
    }

    /// `/run/<p>-substrate`: the lock and the list of host routes to remove.
    pub fn run_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(format!("/run/{}-substrate", self.prefix))
    }

    /// What `name` stands for, if the substrate under this prefix made it.
    pub fn parse(&self, name: &str) -> Option<Kind> {
        let rest = name.strip_prefix(&self.prefix)?;
        if rest == "-edge" {
            return Some(Kind::Edge);
        }
        let (kind, hex) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
        if !is_hex8(hex) {
            return None;
        }
        let hex = hex.to_string();
        match kind {
            "v-" => Some(Kind::VpcNamespace(hex)),
            "i-" => Some(Kind::InstanceNamespace(hex)),
            "i" => Some(Kind::InstanceLink(hex)),
            "v" => Some(Kind::VpcLink(hex)),
            _ => None,
        }
    }
}

/// A prefix is `fb` and up to 4 more lowercase letters or digits.
pub fn validate_prefix(prefix: &str) -> Result<(), SubstrateError> {
    let ok = prefix.starts_with("fb")
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(SubstrateError::InvalidConfig(format!(
            "prefix {prefix:?} must be \"fb\" followed by up to {} lowercase letters or digits",
            MAX_PREFIX_LEN - 2
        )))
    }
}

fn is_hex8(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The 8 hex digits that stand for an AWS id in kernel names.
pub fn short(id: &str) -> String {
    let tail = id
        .len()
        .checked_sub(8)
        .and_then(|at| id.get(at..))
        .unwrap_or("");
    if is_hex8(tail) {
        return tail.to_string();
    }
    // FNV-1a: stable across runs and versions, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_parse_back() {
        let n = Names::new("fb").unwrap();
        let vpc = "vpc-0123456789abcdef0";
        let inst = "i-0fedcba9876543210";
        assert_eq!(n.vpc_netns(vpc), "fbv-9abcdef0");
        assert_eq!(n.instance_link(inst), "fbi76543210");
        assert_eq!(
            n.parse(&n.vpc_netns(vpc)),
            Some(Kind::VpcNamespace("9abcdef0".into()))
        );
        assert_eq!(
            n.parse(&n.instance_netns(inst)),
            Some(Kind::InstanceNamespace("76543210".into()))
        );
        assert_eq!(
            n.parse(&n.instance_link(inst)),
            Some(Kind::InstanceLink("76543210".into()))
        );
        assert_eq!(
            n.parse(&n.vpc_link(vpc)),
            Some(Kind::VpcLink("9abcdef0".into()))
        );
        assert_eq!(n.parse("fb-edge"), Some(Kind::Edge));
        assert_eq!(n.parse("eth0"), None);
        assert_eq!(n.parse("fbiXYZ"), None);

        let long = Names::new("fbt9zz").unwrap();
        for name in [long.instance_link(inst), long.vpc_link(vpc), long.edge()] {
            assert!(name.len() <= 15, "{name}");
        }
        // A longer prefix's names are never Fogbank's.
        for name in [
            long.vpc_netns(vpc),
            long.instance_netns(inst),
            long.instance_link(inst),
            long.vpc_link(vpc),
            long.edge(),
        ] {
            assert_eq!(n.parse(&name), None, "{name}");
            assert!(long.parse(&name).is_some(), "{name}");
        }
    }

    #[test]
    fn ids_without_hex_tail_hash() {
        assert_eq!(short("i-0fedcba9876543210"), "76543210");
        let h = short("my-instance");
        assert!(is_hex8(&h));
        assert_eq!(h, short("my-instance"));
        assert_ne!(h, short("my-instance2"));
    }

    #[test]
    fn prefixes() {
        assert!(validate_prefix("fb").is_ok());
        assert!(validate_prefix("fbt1a2").is_ok());
        assert!(validate_prefix("fbt1a23").is_err());
        assert!(validate_prefix("xx").is_err());
        assert!(validate_prefix("fb-x").is_err());
    }
}
