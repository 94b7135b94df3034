//! Security groups, network ACLs and 1:1 NAT of one VPC, rendered as one nftables table in the
//! VPC router namespace. Pure: specs in, `nft -f` script out; the caller runs it.
//!
//! Every packet between instances, or between an instance and the edge, is forwarded by the
//! router, so one `forward` chain sees all of it:
//!
//! 1. network ACLs (stateless, so before conntrack): the source subnet's egress ACL and the
//!    destination subnet's ingress ACL, skipped for traffic inside one subnet, as in AWS;
//! 2. `ct state established,related accept`: security groups are stateful;
//! 3. the source instance's egress rules (by input link), then the destination's ingress rules
//!    (by output link); traffic to the edge passes only from instances that have a public IP
//!    in a public subnet; everything else is dropped.
//!
//! The script deletes and recreates the table inside one transaction, so a change applies
//! atomically; connections already tracked keep flowing, as in AWS.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::error::SubstrateError;
use crate::names::{short, Names, VPC_UPLINK};
use crate::spec::{AclEntry, Cidr, InstanceFirewall, Proto, Rule, VpcFirewall, VpcSpec};

/// The table's name inside each VPC namespace.
pub const TABLE: &str = "fbvpc";

/// What applying a firewall takes: the script, and the public IPs the edge must route here.
#[derive(Debug, Clone, PartialEq)]
pub struct FirewallPlan {
    pub script: String,
    pub nat: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

/// Renders the whole table of one VPC.
pub fn render(
    names: &Names,
    vpc: &VpcSpec,
    fw: &VpcFirewall,
    public_range: Cidr,
) -> Result<FirewallPlan, SubstrateError> {
    let subnet_of = |ip: Ipv4Addr| vpc.subnets.iter().find(|s| s.cidr.contains(ip));

    // 1:1 NAT, only for private IPs in public subnets.
    let mut nat = BTreeMap::new();
    let mut nat_private = BTreeSet::new();
    for m in &fw.nat {
        if !public_range.contains(m.public_ip) {
            return Err(SubstrateError::InvalidSpec(format!(
                "public IP {} is outside the public range {public_range}",
                m.public_ip
            )));
        }
        match subnet_of(m.private_ip) {
            Some(s) if s.public => {}
            _ => {
                tracing::debug!(public = %m.public_ip, private = %m.private_ip, "no internet gateway route: NAT skipped");
                continue;
            }
        }
        if nat.insert(m.public_ip, m.private_ip).is_some() || !nat_private.insert(m.private_ip) {
            return Err(SubstrateError::InvalidSpec(format!(
                "NAT {} <-> {} maps an address twice",
                m.public_ip, m.private_ip
            )));
        }
    }

    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "table inet {TABLE}\ndelete table inet {TABLE}\ntable inet {TABLE} {{"
    );

    // NAT at the edge link.
    let _ = writeln!(
        w,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;"
    );
    if !nat.is_empty() {
        let map = join(nat.iter().map(|(p, q)| format!("{p} : {q}")));
        let _ = writeln!(
            w,
            "    iifname \"{VPC_UPLINK}\" dnat ip to ip daddr map {{ {map} }}"
        );
    }
    let _ = writeln!(w, "  }}\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;");
    if !nat.is_empty() {
        let map = join(nat.iter().map(|(p, q)| format!("{q} : {p}")));
        let _ = writeln!(
            w,
            "    oifname \"{VPC_UPLINK}\" snat ip to ip saddr map {{ {map} }}"
        );
    }
    let _ = writeln!(w, "  }}");

    // Which link belongs to which instance and subnet.
    let mut seen = BTreeSet::new();
    let mut links = Vec::new();
    for inst in &fw.instances {
        let subnet = subnet_of(inst.private_ip).ok_or_else(|| {
            SubstrateError::InvalidSpec(format!(
                "instance {} has {} outside every subnet of {}",
                inst.instance_id, inst.private_ip, vpc.vpc_id
            ))
        })?;
        if !seen.insert(names.instance_link(&inst.instance_id)) {
            return Err(SubstrateError::InvalidSpec(format!(
                "instance {} listed twice",
                inst.instance_id
            )));
        }
        links.push((names.instance_link(&inst.instance_id), inst, subnet));
    }

    // Network ACLs, per subnet.
    let mut acl_out = Vec::new();
    let mut acl_in = Vec::new();
    for acl in &fw.subnet_acls {
        let Some(subnet) = vpc.subnets.iter().find(|s| s.subnet_id == acl.subnet_id) else {
            return Err(SubstrateError::InvalidSpec(format!(
                "ACL for unknown subnet {}",
                acl.subnet_id
            )));
        };
        let tag = short(&acl.subnet_id);
        render_acl(
            w,
            &format!("acl_in_{tag}"),
            &format!("ip saddr {}", subnet.cidr),
            "saddr",
            &acl.ingress,
        )?;
        render_acl(
            w,
            &format!("acl_out_{tag}"),
            &format!("ip daddr {}", subnet.cidr),
            "daddr",
            &acl.egress,
        )?;
        for (link, _, s) in &links {
            if s.subnet_id == acl.subnet_id {
                acl_out.push(format!("\"{link}\" : jump acl_out_{tag}"));
                acl_in.push(format!("\"{link}\" : jump acl_in_{tag}"));
            }
        }
    }

    // Security groups, per instance.
    let mut from = vec![format!("\"{VPC_UPLINK}\" : goto to_dest")];
    let mut to = vec![format!("\"{VPC_UPLINK}\" : goto to_internet")];
    for (link, inst, _) in &links {
        let tag = short(&inst.instance_id);
        render_sg(w, inst, &tag)?;
        from.push(format!("\"{link}\" : goto sg_out_{tag}"));
        to.push(format!("\"{link}\" : goto sg_in_{tag}"));
    }

    let _ = writeln!(
        w,
        "  chain to_dest {{\n    oifname vmap {{ {} }}\n    drop\n  }}",
        to.join(", ")
    );
    let _ = writeln!(w, "  chain to_internet {{");
    if !nat_private.is_empty() {
        let _ = writeln!(w, "    ip saddr {{ {} }} accept", join(nat_private.iter()));
    }
    let _ = writeln!(w, "    drop\n  }}");

    let _ = writeln!(
        w,
        "  chain forward {{\n    type filter hook forward priority filter; policy drop;"
    );
    if !acl_out.is_empty() {
        let _ = writeln!(w, "    iifname vmap {{ {} }}", acl_out.join(", "));
        let _ = writeln!(w, "    oifname vmap {{ {} }}", acl_in.join(", "));
    }
    let _ = writeln!(
        w,
        "    ct state established,related accept\n    ct state != new drop"
    );
    let _ = writeln!(
        w,
        "    iifname vmap {{ {} }}\n    drop\n  }}",
        from.join(", ")
    );
    let _ = writeln!(w, "}}");
    Ok(FirewallPlan { script: s, nat })
}

fn render_sg(w: &mut String, inst: &InstanceFirewall, tag: &str) -> Result<(), SubstrateError> {
    let _ = writeln!(w, "  chain sg_out_{tag} {{");
    for rule in &inst.egress {
        if let Some(m) = rule_match(rule, "daddr")? {
            let _ = writeln!(w, "    {m}goto to_dest");
        }
    }
    let _ = writeln!(w, "    drop\n  }}\n  chain sg_in_{tag} {{");
    for rule in &inst.ingress {
        if let Some(m) = rule_match(rule, "saddr")? {
            let _ = writeln!(w, "    {m}accept");
        }
    }
    let _ = writeln!(w, "    drop\n  }}");
    Ok(())
}

fn render_acl(
    w: &mut String,
    chain: &str,
    same_subnet: &str,
    field: &str,
    entries: &[AclEntry],
) -> Result<(), SubstrateError> {
    let mut entries: Vec<&AclEntry> = entries.iter().collect();
    entries.sort_by_key(|e| e.rule_number);
    let _ = writeln!(w, "  chain {chain} {{\n    {same_subnet} return");
    for e in entries {
        let verdict = if e.allow { "return" } else { "drop" };
        let proto = proto_match(e.protocol, e.from_port, e.to_port)?;
        let _ = writeln!(w, "    ip {field} {} {proto}{verdict}", e.cidr);
    }
    let _ = writeln!(w, "    drop\n  }}");
    Ok(())
}

/// The match part of a security-group rule, ending in a space; `None` when it can match
/// nothing (a referenced group without members).
fn rule_match(rule: &Rule, field: &str) -> Result<Option<String>, SubstrateError> {
    let peer = match &rule.peer {
        crate::spec::Peer::Cidr(c) => format!("ip {field} {c} "),
        crate::spec::Peer::Addresses(addrs) => {
            let set: BTreeSet<_> = addrs.iter().collect();
            if set.is_empty() {
                return Ok(None);
            }
            format!("ip {field} {{ {} }} ", join(set.iter()))
        }
    };
    Ok(Some(
        peer + &proto_match(rule.protocol, rule.from_port, rule.to_port)?,
    ))
}

/// `tcp dport 80 `, `meta l4proto udp `, `meta l4proto icmp icmp type 8 `, or empty for all.
fn proto_match(proto: Proto, from: i32, to: i32) -> Result<String, SubstrateError> {
    let proto = match proto {
        Proto::Num(6) => Proto::Tcp,
        Proto::Num(17) => Proto::Udp,
        Proto::Num(1) => Proto::Icmp,
        p => p,
    };
    Ok(match proto {
        Proto::All => String::new(),
        Proto::Num(n) => format!("meta l4proto {n} "),
        Proto::Tcp | Proto::Udp => {
            let name = if proto == Proto::Tcp { "tcp" } else { "udp" };
            match ports(from, to)? {
                Some(p) => format!("{name} dport {p} "),
                None => format!("meta l4proto {name} "),
            }
        }
        Proto::Icmp => {
            let mut m = String::from("meta l4proto icmp ");
            if (0..=255).contains(&from) {
                let _ = write!(m, "icmp type {from} ");
                if (0..=255).contains(&to) {
                    let _ = write!(m, "icmp code {to} ");
                }
            }
            m
        }
    })
}

/// A port range for nft, `None` meaning every port.
fn ports(from: i32, to: i32) -> Result<Option<String>, SubstrateError> {
    if from < 0 || to < 0 || (from == 0 && to >= 65535) {
        return Ok(None);
    }
    if from > to || to > 65535 {
        return Err(SubstrateError::InvalidSpec(format!(
            "port range {from}-{to}"
        )));
    }
    Ok(Some(if from == to {
        from.to_string()
    } else {
        format!("{from}-{to}")
    }))
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{NatMapping, Peer, SubnetAcl, SubnetSpec};

    fn vpc() -> VpcSpec {
        VpcSpec {
            vpc_id: "vpc-00000000000000001".into(),
            cidrs: vec!["10.0.0.0/16".parse().unwrap()],
            subnets: vec![
                SubnetSpec {
                    subnet_id: "subnet-0000000000000000a".into(),
                    cidr: "10.0.1.0/24".parse().unwrap(),
                    router_ip: "10.0.1.1".parse().unwrap(),
                    public: true,
                },
                SubnetSpec {
                    subnet_id: "subnet-0000000000000000b".into(),
                    cidr: "10.0.2.0/24".parse().unwrap(),
                    router_ip: "10.0.2.1".parse().unwrap(),
                    public: false,
                },
            ],
            dns_ip: "10.0.0.2".parse().unwrap(),
        }
    }

    fn tcp(port: i32, peer: Peer) -> Rule {
        Rule {
            protocol: Proto::Tcp,
            from_port: port,
            to_port: port,
            peer,
        }
    }

    #[test]
    fn renders_groups_acls_and_nat() {
        let fw = VpcFirewall {
            instances: vec![
                InstanceFirewall {
                    instance_id: "i-000000000000000aa".into(),
                    private_ip: "10.0.1.10".parse().unwrap(),
                    ingress: vec![
                        tcp(
                            80,
                            Peer::Addresses(vec![
                                "10.0.2.10".parse().unwrap(),
                                "10.0.2.10".parse().unwrap(),
                            ]),
                        ),
                        tcp(22, Peer::Addresses(vec![])),
                        Rule {
                            protocol: Proto::Icmp,
                            from_port: 8,
                            to_port: -1,
                            peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
                        },
                    ],
                    egress: vec![Rule {
                        protocol: Proto::All,
                        from_port: -1,
                        to_port: -1,
                        peer: Peer::Cidr("0.0.0.0/0".parse().unwrap()),
                    }],
                },
                InstanceFirewall {
                    instance_id: "i-000000000000000bb".into(),
                    private_ip: "10.0.2.10".parse().unwrap(),
                    ingress: vec![],
                    egress: vec![Rule {
                        protocol: Proto::Udp,
                        from_port: 1000,
                        to_port: 2000,
                        peer: Peer::Cidr("10.0.0.0/16".parse().unwrap()),
                    }],
                },
            ],
            subnet_acls: vec![SubnetAcl {
                subnet_id: "subnet-0000000000000000b".into(),
                ingress: vec![
                    AclEntry {
                        rule_number: 200,
                        protocol: Proto::All,
                        from_port: -1,
                        to_port: -1,
                        cidr: "0.0.0.0/0".parse().unwrap(),
                        allow: true,
                    },
                    AclEntry {
                        rule_number: 100,
                        protocol: Proto::Tcp,
                        from_port: 22,
                        to_port: 22,
                        cidr: "0.0.0.0/0".parse().unwrap(),
                        allow: false,
                    },
                ],
                egress: vec![],
            }],
            nat: vec![
                NatMapping {
                    public_ip: "198.18.0.10".parse().unwrap(),
                    private_ip: "10.0.1.10".parse().unwrap(),
                },
                // Private subnet: ignored.
                NatMapping {
                    public_ip: "198.18.0.11".parse().unwrap(),
                    private_ip: "10.0.2.10".parse().unwrap(),
                },
            ],
        };
        let names = Names::new("fb").unwrap();
        let plan = render(&names, &vpc(), &fw, "198.18.0.0/15".parse().unwrap()).unwrap();
        let s = &plan.script;
        assert_eq!(plan.nat.len(), 1);
        for want in [
            "iifname \"edge0\" dnat ip to ip daddr map { 198.18.0.10 : 10.0.1.10 }",
            "oifname \"edge0\" snat ip to ip saddr map { 10.0.1.10 : 198.18.0.10 }",
            "ip saddr { 10.0.2.10 } tcp dport 80 accept",
            "ip saddr 0.0.0.0/0 meta l4proto icmp icmp type 8 accept",
            "ip daddr 0.0.0.0/0 goto to_dest",
            "ip daddr 10.0.0.0/16 udp dport 1000-2000 goto to_dest",
            "oifname vmap { \"edge0\" : goto to_internet, \"fbi000000aa\" : goto sg_in_000000aa, \"fbi000000bb\" : goto sg_in_000000bb }",
            "iifname vmap { \"fbi000000bb\" : jump acl_out_0000000b }",
            "ip saddr { 10.0.1.10 } accept",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(
            !s.contains("dport 22 accept"),
            "a group without members matches nothing"
        );
        let deny = s.find("ip saddr 0.0.0.0/0 tcp dport 22 drop").unwrap();
        let allow = s.find("ip saddr 0.0.0.0/0 return").unwrap();
        assert!(deny < allow, "ACL entries in rule-number order");
    }

    #[test]
    fn rejects_bad_input() {
        let names = Names::new("fb").unwrap();
        let range: Cidr = "198.18.0.0/15".parse().unwrap();
        let outside = VpcFirewall {
            nat: vec![NatMapping {
                public_ip: "8.8.8.8".parse().unwrap(),
                private_ip: "10.0.1.10".parse().unwrap(),
            }],
            ..Default::default()
        };
        assert!(render(&names, &vpc(), &outside, range).is_err());
        let stray = VpcFirewall {
            instances: vec![InstanceFirewall {
                instance_id: "i-1".into(),
                private_ip: "192.168.0.1".parse().unwrap(),
                ingress: vec![],
                egress: vec![],
            }],
            ..Default::default()
        };
        assert!(render(&names, &vpc(), &stray, range).is_err());
        assert!(ports(90, 80).is_err());
        assert_eq!(ports(-1, -1).unwrap(), None);
        assert_eq!(ports(0, 65535).unwrap(), None);
        assert_eq!(ports(443, 443).unwrap().as_deref(), Some("443"));
    }
}
