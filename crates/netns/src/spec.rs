//! The plain data the EC2 controllers hand to the substrate: what a VPC, an instance and a
//! VPC's firewall should look like. Built from stored EC2 state; no behaviour here beyond
//! validation and CIDR arithmetic.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

/// An IPv4 network, `10.0.1.0/24`. Host bits are cleared on construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// A CIDR that does not parse or whose prefix length is over 32.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid IPv4 CIDR {0:?}")]
pub struct CidrError(pub String);

impl Cidr {
    /// The network of `addr/prefix_len` (host bits cleared).
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Cidr, CidrError> {
        if prefix_len > 32 {
            return Err(CidrError(format!("{addr}/{prefix_len}")));
        }
        Ok(Cidr {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        })
    }

    /// `addr/32`.
    pub fn host(addr: Ipv4Addr) -> Cidr {
        Cidr {
            network: addr,
            prefix_len: 32,
        }
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `addr` lies inside this network.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The address `n` places after the network address (`nth(1)` is AWS's router address),
    /// or `None` past the end of the network.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = 1u64 << (32 - u32::from(self.prefix_len));
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.network) + n))
    }

    /// The last address (broadcast address) of the network.
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len))
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(s.to_string());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Cidr::new(addr, len).map_err(|_| bad())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// One VPC: its router namespace holds every subnet's router address.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcSpec {
    pub vpc_id: String,
    /// The primary CIDR first, then associated secondary CIDRs.
    pub cidrs: Vec<Cidr>,
    pub subnets: Vec<SubnetSpec>,
    /// The Amazon-provided DNS address, base+2 of the primary CIDR.
    pub dns_ip: Ipv4Addr,
}

/// One subnet of a VPC.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetSpec {
    pub subnet_id: String,
    pub cidr: Cidr,
    /// base+1 of the subnet: the instances' default gateway.
    pub router_ip: Ipv4Addr,
    /// Its route table sends 0.0.0.0/0 to an attached internet gateway: only instances here
    /// get 1:1 NAT for their public IPs and a path to the public range.
    pub public: bool,
}

/// Which root file system an instance boots: always copy-on-write (overlayfs), the lower
/// layer is either the host's `/` or a prepared directory.
#[derive(Debug, Clone, PartialEq)]
pub enum RootSpec {
    Host,
    Dir(PathBuf),
}

/// Resource limits from the instance type, applied through cgroups (best effort).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// One instance: a network namespace plugged into its VPC router, booted as a process tree
/// in fresh mount/pid/uts/ipc namespaces.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    pub instance_id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub private_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// `0a:1b:2c:3d:4e:5f`; the instance's eth0 gets it.
    pub mac: String,
    /// `ip-10-0-1-5`.
    pub hostname: String,
    pub root: RootSpec,
    /// A built-in role started at every boot (`web`); see `SubstrateConfig::roles`.
    pub role: Option<String>,
    /// Run once, at first boot, when it starts with `#!`.
    pub user_data: Option<Vec<u8>>,
    pub availability_zone: String,
    pub limits: Limits,
}

/// Every security-group, network-ACL and NAT rule of one VPC; applied as one nftables
/// transaction that replaces the previous set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VpcFirewall {
    pub instances: Vec<InstanceFirewall>,
    /// Subnets without an entry allow everything (AWS's default network ACL).
    pub subnet_acls: Vec<SubnetAcl>,
    /// 1:1 NAT between public IPs (inside the substrate's public range) and private IPs.
    /// Mappings whose private IP is not in a public subnet are ignored.
    pub nat: Vec<NatMapping>,
}

/// The security groups of one instance, flattened: traffic is allowed when any rule matches.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFirewall {
    pub instance_id: String,
    pub private_ip: Ipv4Addr,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// One security-group rule. Ports follow EC2: `-1`/`-1` (or 0-65535) means every port; for
/// ICMP `from_port` is the type and `to_port` the code, `-1` meaning any.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub protocol: Proto,
    pub from_port: i32,
    pub to_port: i32,
    pub peer: Peer,
}

/// An IP protocol as EC2 names them (`-1`, `tcp`, `udp`, `icmp`, or a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    All,
    Tcp,
    Udp,
    Icmp,
    Num(u8),
}

/// The other side of a security-group rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Peer {
    Cidr(Cidr),
    /// A referenced security group, resolved by the caller to its members' private IPs.
    Addresses(Vec<Ipv4Addr>),
}

/// The network ACL of one subnet: stateless, numbered rules, lowest number first, the first
/// match decides; a packet no rule matches is denied.
#[derive(Debug, Clone, PartialEq)]
pub struct SubnetAcl {
    pub subnet_id: String,
    pub ingress: Vec<AclEntry>,
    pub egress: Vec<AclEntry>,
}

/// One network-ACL entry. `cidr` is the source for ingress and the destination for egress;
/// ports are destination ports in both directions, as in EC2.
#[derive(Debug, Clone, PartialEq)]
pub struct AclEntry {
    pub rule_number: u16,
    pub protocol: Proto,
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: Cidr,
    pub allow: bool,
}

/// A public IP mapped 1:1 to a private IP at the VPC's edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatMapping {
    pub public_ip: Ipv4Addr,
    pub private_ip: Ipv4Addr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        let c: Cidr = "10.0.1.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.1.0/24");
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(c.nth(256), None);
        assert_eq!(c.last(), Ipv4Addr::new(10, 0, 1, 255));
        assert!(c.contains(Ipv4Addr::new(10, 0, 1, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 2, 1)));
        let wide: Cidr = "10.0.0.0/16".parse().unwrap();
        assert!(wide.overlaps(&c) && c.overlaps(&wide));
        assert!(!c.overlaps(&"10.0.2.0/24".parse().unwrap()));
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().last(),
            Ipv4Addr::BROADCAST
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
    }
}
