//! Real hosts on this machine: namespaces, veths, nftables, overlay roots. Root-gated (each
//! test prints why it skips), and each removes everything it made, even when it fails.
//!
//! Traffic goes only to loopback, to addresses inside the tests' own namespaces, and to the
//! tests' own public range (a /27 of 198.19.0.0/16 routed into their own edge namespace).

mod common;

use std::io::ErrorKind;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fogbank_netns::*;

const VPC_A: &str = "vpc-0000000000000000a";
const VPC_B: &str = "vpc-0000000000000000b";
const WEB: &str = "i-00000000000000a01";
const CLIENT: &str = "i-00000000000000a02";
const OTHER: &str = "i-00000000000000b01";

fn firewall_a(
    web_ingress: Vec<Rule>,
    client_ingress: Vec<Rule>,
    acls: Vec<SubnetAcl>,
    web_public: Option<std::net::Ipv4Addr>,
) -> VpcFirewall {
    VpcFirewall {
        instances: vec![
            InstanceFirewall {
                instance_id: WEB.into(),
                private_ip: ip("10.0.1.10"),
                ingress: web_ingress,
                egress: vec![all_out()],
            },
            InstanceFirewall {
                instance_id: CLIENT.into(),
                private_ip: ip("10.0.2.20"),
                ingress: client_ingress,
                egress: vec![all_out()],
            },
        ],
        subnet_acls: acls,
        nat: web_public
            .map(|p| NatMapping {
                public_ip: p,
                private_ip: ip("10.0.1.10"),
            })
            .into_iter()
            .collect(),
    }
}

fn at(addr: &str, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip(addr), port)
}

fn dropped(r: std::io::Result<()>) -> bool {
    matches!(r, Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock)
}

#[test]
fn vpcs_security_groups_acls_public_ips_and_boot() {
    if skip("vpcs_security_groups_acls_public_ips_and_boot") {
        return;
    }
    let g = Guard::new('a', 0);
    let range = g.config.public_range;
    run_scenario(&g);
    let prefix = g.prefix.clone();
    drop(g);
    assert_eq!(
        leftovers(&prefix, range),
        Vec::<String>::new(),
        "everything removed"
    );
}

fn run_scenario(g: &Guard) {
    let s = g.sub();
    let vpc_a = vpc(
        VPC_A,
        "10.0.0.0/16",
        &[
            ("subnet-00000000000000a01", "10.0.1.0/24", true),
            ("subnet-00000000000000a02", "10.0.2.0/24", false),
        ],
    );
    // Same CIDR as A, and the same private IP for its instance as A's web server.
    let vpc_b = vpc(
        VPC_B,
        "10.0.0.0/16",
        &[("subnet-00000000000000b01", "10.0.1.0/24", true)],
    );
    s.ensure_vpc(&vpc_a).unwrap();
    s.ensure_vpc(&vpc_a).unwrap(); // idempotent
    s.ensure_vpc(&vpc_b).unwrap();

    let marker = format!("/etc/{}-marker", g.prefix);
    let mut web = instance(WEB, &vpc_a, "subnet-00000000000000a01", "10.0.1.10", 1);
    web.role = Some("web".into());
    web.user_data = Some(
        format!(
            "#!/bin/sh\necho hello from user data\necho \"hostname=$(cat /proc/sys/kernel/hostname)\"\nip -o -4 addr show dev eth0\necho written > {marker}\necho \"rules=$(nft list ruleset | wc -l)\"\necho \"init=$(cat /proc/1/comm)\"\nmount -t tmpfs none /mnt 2>/dev/null && echo MOUNT-ALLOWED || echo MOUNT-DENIED\n"
        )
        .into_bytes(),
    );
    let client = instance(CLIENT, &vpc_a, "subnet-00000000000000a02", "10.0.2.20", 2);
    let mut other = instance(OTHER, &vpc_b, "subnet-00000000000000b01", "10.0.1.10", 3);
    other.role = Some("web".into());

    let public_web = s.first_public_ip();
    let public_other = std::net::Ipv4Addr::from(u32::from(public_web) + 1);
    let from_client = Peer::Addresses(vec![ip("10.0.2.20")]);
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![tcp_in(80, from_client.clone())],
            vec![],
            vec![],
            Some(public_web),
        ),
    )
    .unwrap();
    s.apply_firewall(
        VPC_B,
        &VpcFirewall {
            instances: vec![InstanceFirewall {
                instance_id: OTHER.into(),
                private_ip: ip("10.0.1.10"),
                ingress: vec![tcp_in(80, Peer::Cidr(cidr("0.0.0.0/0")))],
                egress: vec![all_out()],
            }],
            subnet_acls: vec![],
            nat: vec![NatMapping {
                public_ip: public_other,
                private_ip: ip("10.0.1.10"),
            }],
        },
    )
    .unwrap();

    let started = Instant::now();
    let rt_web = s.ensure_instance(&web).unwrap();
    let rt_client = s.ensure_instance(&client).unwrap();
    let rt_other = s.ensure_instance(&other).unwrap();
    assert!(rt_web.booted && rt_web.init_pid > 0);
    let again = s.ensure_instance(&web).unwrap();
    assert!(!again.booted, "a running instance is left alone");
    assert_eq!(again.init_pid, rt_web.init_pid);
    let (web_ns, client_ns, other_ns) = (
        rt_web.netns.clone(),
        rt_client.netns.clone(),
        rt_other.netns.clone(),
    );

    // Cgroups (best effort: checked where the memory controller is mounted).
    let memcg = Path::new("/sys/fs/cgroup/memory").join(&web_ns);
    if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        assert_eq!(
            std::fs::read_to_string(memcg.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (512u64 << 20).to_string()
        );
        let procs = std::fs::read_to_string(memcg.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|p| p == rt_web.init_pid.to_string()),
            "PID 1 in its cgroup: {procs}"
        );
    }

    // Allowed: the client's IP may reach port 80. The client has no ingress rule at all, so
    // the answer arriving proves return traffic of outbound connections passes.
    assert!(
        wait_until(Duration::from_secs(20), || http_get(
            Some(&client_ns),
            at("10.0.1.10", 80)
        )
        .is_ok()),
        "web server reachable from the client; console:\n{}",
        s.console_output(WEB)
    );
    eprintln!(
        "3 instances booted, web answering after {:?}",
        started.elapsed()
    );
    let body = http_get(Some(&client_ns), at("10.0.1.10", 80)).unwrap();
    assert!(body.contains(&format!("{WEB} us-east-1a")), "{body}");

    // Blocked: a port no rule opens is dropped (timeout), though something listens there.
    let _extra = TestServer::start(&web_ns, 8081, "extra\n");
    assert!(
        dropped(connect(Some(&client_ns), at("10.0.1.10", 8081))),
        "port 8081 is not open"
    );
    // The client accepts nothing: web -> client is dropped.
    let _client_srv = TestServer::start(&client_ns, 8080, "client\n");
    assert!(dropped(connect(Some(&web_ns), at("10.0.2.20", 8080))));

    // Live change: open 8080 on the client to the web server, and 8081 on the web server.
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![
                tcp_in(80, from_client.clone()),
                tcp_in(8081, Peer::Cidr(cidr("10.0.2.0/24"))),
            ],
            vec![tcp_in(8080, Peer::Addresses(vec![ip("10.0.1.10")]))],
            vec![],
            Some(public_web),
        ),
    )
    .unwrap();
    assert_eq!(
        http_get(Some(&web_ns), at("10.0.2.20", 8080)).unwrap(),
        "client\n"
    );
    assert_eq!(
        http_get(Some(&client_ns), at("10.0.1.10", 8081)).unwrap(),
        "extra\n"
    );

    // Egress rules of the source apply too: the client may now only send to port 80.
    let mut fw = firewall_a(
        vec![
            tcp_in(80, from_client.clone()),
            tcp_in(8081, Peer::Cidr(cidr("10.0.2.0/24"))),
        ],
        vec![],
        vec![],
        Some(public_web),
    );
    fw.instances[1].egress = vec![tcp_in(80, Peer::Cidr(cidr("10.0.1.0/24")))];
    s.apply_firewall(VPC_A, &fw).unwrap();
    assert!(
        dropped(connect(Some(&client_ns), at("10.0.1.10", 8081))),
        "egress blocks 8081"
    );
    assert!(
        http_get(Some(&client_ns), at("10.0.1.10", 80)).is_ok(),
        "egress allows 80"
    );

    // Network ACL on the web subnet: deny port 80 from the client's subnet (rule 100), allow
    // the rest (200). Stateless and evaluated before the security groups.
    let acl = SubnetAcl {
        subnet_id: "subnet-00000000000000a01".into(),
        ingress: vec![
            AclEntry {
                rule_number: 200,
                protocol: Proto::All,
                from_port: -1,
                to_port: -1,
                cidr: cidr("0.0.0.0/0"),
                allow: true,
            },
            AclEntry {
                rule_number: 100,
                protocol: Proto::Tcp,
                from_port: 80,
                to_port: 80,
                cidr: cidr("10.0.2.0/24"),
                allow: false,
            },
        ],
        egress: vec![AclEntry {
            rule_number: 100,
            protocol: Proto::All,
            from_port: -1,
            to_port: -1,
            cidr: cidr("0.0.0.0/0"),
            allow: true,
        }],
    };
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![
                tcp_in(80, from_client.clone()),
                tcp_in(8081, Peer::Cidr(cidr("10.0.2.0/24"))),
            ],
            vec![],
            vec![acl],
            Some(public_web),
        ),
    )
    .unwrap();
    assert!(
        dropped(connect(Some(&client_ns), at("10.0.1.10", 80))),
        "ACL denies port 80"
    );
    assert_eq!(
        http_get(Some(&client_ns), at("10.0.1.10", 8081)).unwrap(),
        "extra\n",
        "ACL allows the rest"
    );
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![tcp_in(80, from_client.clone())],
            vec![],
            vec![],
            Some(public_web),
        ),
    )
    .unwrap();
    assert!(
        http_get(Some(&client_ns), at("10.0.1.10", 80)).is_ok(),
        "ACL removed"
    );

    // Every kind of rule is valid nftables (ICMP type/code, UDP ranges, protocol numbers).
    let every_kind = vec![
        tcp_in(80, from_client.clone()),
        Rule {
            protocol: Proto::Icmp,
            from_port: 8,
            to_port: 0,
            peer: Peer::Cidr(cidr("10.0.0.0/16")),
        },
        Rule {
            protocol: Proto::Icmp,
            from_port: -1,
            to_port: -1,
            peer: Peer::Cidr(cidr("10.0.0.0/16")),
        },
        Rule {
            protocol: Proto::Udp,
            from_port: 1000,
            to_port: 2000,
            peer: Peer::Addresses(vec![ip("10.0.2.20"), ip("10.0.2.21")]),
        },
        Rule {
            protocol: Proto::Num(47),
            from_port: -1,
            to_port: -1,
            peer: Peer::Cidr(cidr("10.0.2.0/24")),
        },
        Rule {
            protocol: Proto::Num(6),
            from_port: 0,
            to_port: 65535,
            peer: Peer::Cidr(cidr("10.9.0.0/16")),
        },
        Rule {
            protocol: Proto::All,
            from_port: -1,
            to_port: -1,
            peer: Peer::Addresses(vec![]),
        },
    ];
    let acl_every_kind = SubnetAcl {
        subnet_id: "subnet-00000000000000a02".into(),
        ingress: vec![
            AclEntry {
                rule_number: 10,
                protocol: Proto::Icmp,
                from_port: 3,
                to_port: -1,
                cidr: cidr("10.0.0.0/8"),
                allow: true,
            },
            AclEntry {
                rule_number: 20,
                protocol: Proto::Udp,
                from_port: 53,
                to_port: 53,
                cidr: cidr("10.0.0.0/8"),
                allow: false,
            },
            AclEntry {
                rule_number: 32766,
                protocol: Proto::All,
                from_port: -1,
                to_port: -1,
                cidr: cidr("0.0.0.0/0"),
                allow: true,
            },
        ],
        egress: vec![AclEntry {
            rule_number: 100,
            protocol: Proto::All,
            from_port: -1,
            to_port: -1,
            cidr: cidr("0.0.0.0/0"),
            allow: true,
        }],
    };
    s.apply_firewall(
        VPC_A,
        &firewall_a(every_kind, vec![], vec![acl_every_kind], Some(public_web)),
    )
    .unwrap();
    assert!(
        http_get(Some(&client_ns), at("10.0.1.10", 80)).is_ok(),
        "still open with every rule kind"
    );

    // A VPC spec change (a new subnet) is applied in place; running instances keep working.
    let mut vpc_a2 = vpc_a.clone();
    vpc_a2.subnets.push(SubnetSpec {
        subnet_id: "subnet-00000000000000a03".into(),
        cidr: cidr("10.0.3.0/24"),
        router_ip: ip("10.0.3.1"),
        public: false,
    });
    s.ensure_vpc(&vpc_a2).unwrap();
    let addrs = Command::new("ip")
        .args(["-n", &s.vpc_netns(VPC_A), "-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&addrs.stdout).contains("10.0.3.1/32"));
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![tcp_in(80, from_client.clone())],
            vec![],
            vec![],
            Some(public_web),
        ),
    )
    .unwrap();
    assert!(
        http_get(Some(&client_ns), at("10.0.1.10", 80)).is_ok(),
        "still reachable after the VPC change"
    );

    // VPC B has the same CIDR but reaches nothing of A: 10.0.1.10 is its own instance there,
    // and A's client address does not exist in B.
    let own = http_get(Some(&other_ns), at("10.0.1.10", 80)).unwrap();
    assert!(own.contains(OTHER), "{own}");
    let e = connect(Some(&other_ns), at("10.0.2.20", 8080)).unwrap_err();
    eprintln!("B -> A's client: {e}");

    // The host has no route into any VPC: its route to a private IP is not one of ours. (We
    // only ask the routing table; a packet would leave through the host's own network.)
    let route = Command::new("ip")
        .args(["-o", "route", "get", "10.0.1.10"])
        .output()
        .unwrap();
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(!route.contains("fb"), "host route to a private IP: {route}");

    // Public IPs: only the opened port, only from allowed sources. The web server allows
    // port 80 from the client alone, so the host is dropped; after opening it to 0.0.0.0/0
    // the host gets through, while another port stays closed.
    assert!(
        dropped(connect(None, SocketAddrV4::new(public_web, 80))),
        "host not allowed yet"
    );
    let from_anywhere = Peer::Cidr(cidr("0.0.0.0/0"));
    s.apply_firewall(
        VPC_A,
        &firewall_a(
            vec![tcp_in(80, from_client.clone()), tcp_in(80, from_anywhere)],
            vec![],
            vec![],
            Some(public_web),
        ),
    )
    .unwrap();
    let body = http_get(None, SocketAddrV4::new(public_web, 80)).unwrap();
    assert!(body.contains(WEB), "{body}");
    assert!(
        dropped(connect(None, SocketAddrV4::new(public_web, 8081))),
        "8081 not open to the host"
    );
    let body = http_get(None, SocketAddrV4::new(public_other, 80)).unwrap();
    assert!(body.contains(OTHER), "{body}");
    // Across VPCs only through public IPs: B's instance (public subnet) reaches A's web
    // server's public IP; A's client (private subnet, no internet gateway route) reaches
    // no public IP.
    let body = http_get(Some(&other_ns), SocketAddrV4::new(public_web, 80)).unwrap();
    assert!(body.contains(WEB), "{body}");
    assert!(
        connect(Some(&client_ns), SocketAddrV4::new(public_other, 80)).is_err(),
        "private subnet has no way out"
    );
    // A public address nobody holds fails at once on the edge, never leaving the machine.
    let unused = std::net::Ipv4Addr::from(u32::from(public_web) + 10);
    assert!(connect(None, SocketAddrV4::new(unused, 80)).is_err());

    // Inside the instance: hostname, eth0, user data once, no firewall rules visible, no
    // mount capability, writes stay in its own disk.
    let console = s.console_output(WEB);
    assert!(console.contains("hello from user data"), "{console}");
    assert!(console.contains("hostname=ip-10-0-1-10"), "{console}");
    assert!(console.contains("inet 10.0.1.10/24"), "{console}");
    assert!(console.contains("rules=0"), "{console}");
    assert!(console.contains("MOUNT-DENIED"), "{console}");
    assert!(console.contains("init=sh"), "own pid namespace: {console}");
    assert!(
        !Path::new(&marker).exists(),
        "the instance's write must not reach the host"
    );
    let upper_marker = g
        .data_dir()
        .join("instances")
        .join(WEB)
        .join("upper")
        .join(marker.trim_start_matches('/'));
    assert_eq!(std::fs::read_to_string(&upper_marker).unwrap(), "written\n");

    // Metadata and DNS: sockets inside the VPC router see the instance's private IP.
    let listener = s
        .listen_tcp_in_vpc(VPC_A, SocketAddrV4::new(METADATA_ADDR, 80))
        .unwrap();
    connect(Some(&client_ns), SocketAddrV4::new(METADATA_ADDR, 80)).unwrap();
    let mut peer = None;
    assert!(wait_until(Duration::from_secs(2), || {
        peer = listener.accept().ok().map(|(_, p)| p);
        peer.is_some()
    }));
    assert_eq!(peer.unwrap().ip().to_string(), "10.0.2.20");
    let dns = s
        .bind_udp_in_vpc(VPC_A, SocketAddrV4::new(vpc_a.dns_ip, 53))
        .unwrap();
    let dns_ip = vpc_a.dns_ip;
    in_netns(&client_ns, move || {
        let u = UdpSocket::bind("0.0.0.0:0").unwrap();
        u.send_to(b"query", SocketAddrV4::new(dns_ip, 53)).unwrap();
    })
    .unwrap();
    let mut buf = [0u8; 16];
    let mut from = None;
    assert!(wait_until(Duration::from_secs(2), || {
        from = dns.recv_from(&mut buf).ok().map(|(_, f)| f);
        from.is_some()
    }));
    assert_eq!(from.unwrap().ip().to_string(), "10.0.2.20");
    drop((listener, dns));

    // A new private IP for the client re-plumbs (and reboots) it in place.
    let mut moved = client.clone();
    moved.private_ip = ip("10.0.2.30");
    assert!(s.ensure_instance(&moved).unwrap().booted);
    let addrs = Command::new("ip")
        .args(["-n", &client_ns, "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&addrs.stdout).contains("10.0.2.30/24"));
    assert!(
        http_get(Some(&client_ns), at("10.0.1.10", 80)).is_ok(),
        "port 80 is open to all by now"
    );

    // Stop keeps the address and disk; start boots again; user data does not run again.
    s.stop_instance(WEB).unwrap();
    assert!(!s.is_running(WEB));
    assert!(connect(Some(&client_ns), at("10.0.1.10", 80)).is_err());
    let rt = s.ensure_instance(&web).unwrap();
    assert!(rt.booted);
    assert!(
        wait_until(Duration::from_secs(20), || http_get(
            Some(&client_ns),
            at("10.0.1.10", 80)
        )
        .is_ok()),
        "web back after start"
    );
    assert!(http_get(None, SocketAddrV4::new(public_web, 80))
        .unwrap()
        .contains(WEB));
    assert!(wait_until(Duration::from_secs(5), || s
        .console_output(WEB)
        .matches("boot finished")
        .count()
        == 2));
    let console = s.console_output(WEB);
    assert_eq!(
        console.matches("hello from user data").count(),
        1,
        "{console}"
    );
    assert_eq!(console.matches("booting").count(), 2, "{console}");

    // Terminate removes its namespace and disk.
    drop(_extra);
    s.terminate_instance(WEB).unwrap();
    assert!(!Path::new("/run/netns").join(&web_ns).exists());
    assert!(!g.data_dir().join("instances").join(WEB).exists());
    assert!(matches!(
        s.remove_vpc(VPC_A),
        Err(SubstrateError::VpcInUse { .. })
    ));
    drop(_client_srv);
    s.terminate_instance(CLIENT).unwrap();
    s.terminate_instance(CLIENT).unwrap(); // idempotent
    s.remove_vpc(VPC_A).unwrap();
    assert!(!Path::new("/run/netns").join(s.vpc_netns(VPC_A)).exists());
}

#[test]
fn restart_after_crash_rebuilds_with_same_addresses() {
    if skip("restart_after_crash_rebuilds_with_same_addresses") {
        return;
    }
    let mut g = Guard::new('r', 1);
    let range = g.config.public_range;
    let vpc_a = vpc(
        VPC_A,
        "10.1.0.0/16",
        &[("subnet-00000000000000a01", "10.1.1.0/24", true)],
    );
    let mut web = instance(WEB, &vpc_a, "subnet-00000000000000a01", "10.1.1.5", 1);
    web.role = Some("web".into());
    web.user_data = Some(
        b"#!/bin/sh\necho first boot > /var/tmp/first\nmkdir -p /var/lib/cloud/scripts/per-boot\nprintf '#!/bin/sh\\necho per-boot ran\\n' > /var/lib/cloud/scripts/per-boot/hello\nchmod +x /var/lib/cloud/scripts/per-boot/hello\necho user data ran\n".to_vec(),
    );
    let public = g.sub().first_public_ip();
    let fw = VpcFirewall {
        instances: vec![InstanceFirewall {
            instance_id: WEB.into(),
            private_ip: ip("10.1.1.5"),
            ingress: vec![tcp_in(80, Peer::Cidr(cidr("0.0.0.0/0")))],
            egress: vec![all_out()],
        }],
        subnet_acls: vec![],
        nat: vec![NatMapping {
            public_ip: public,
            private_ip: ip("10.1.1.5"),
        }],
    };
    let bring_up = |s: &Substrate| {
        s.ensure_vpc(&vpc_a).unwrap();
        s.apply_firewall(VPC_A, &fw).unwrap();
        s.ensure_instance(&web).unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || http_get(
                None,
                SocketAddrV4::new(public, 80)
            )
            .is_ok()),
            "answers on its public IP; console:\n{}",
            s.console_output(WEB)
        );
    };
    bring_up(g.sub());
    assert!(wait_until(Duration::from_secs(5), || g
        .sub()
        .console_output(WEB)
        .contains("boot finished")));

    // A second process cannot take the prefix, nor clean it up, while this one runs.
    assert!(matches!(
        Substrate::new(g.config.clone()),
        Err(SubstrateError::Busy { .. })
    ));
    assert!(matches!(
        Substrate::cleanup_leftovers(&g.prefix),
        Err(SubstrateError::Busy { .. })
    ));

    // "Crash": the substrate goes away without shutdown; its kernel objects and instance
    // processes stay, as after kill -9.
    let crashed = g.sub.take().unwrap();
    let init_pid = crashed.ensure_instance(&web).unwrap().init_pid;
    drop(crashed);
    assert!(Path::new(&format!("/proc/{init_pid}")).exists());
    let removed = Substrate::cleanup_leftovers(&g.prefix).unwrap();
    assert!(removed >= 4, "removed {removed}");
    assert!(
        wait_until(Duration::from_secs(2), || {
            std::fs::read_to_string(format!("/proc/{init_pid}/stat"))
                .map_or(true, |s| s.contains(") Z"))
        }),
        "leftover instance killed"
    );
    assert_eq!(leftovers(&g.prefix, range), Vec::<String>::new());

    // Restart from "stored state": same specs, same addresses, same disk.
    g.sub = Some(Substrate::new(g.config.clone()).unwrap());
    bring_up(g.sub());
    let s = g.sub();
    assert!(wait_until(Duration::from_secs(5), || s
        .console_output(WEB)
        .matches("boot finished")
        .count()
        == 2));
    let console = s.console_output(WEB);
    assert_eq!(console.matches("user data ran").count(), 1, "{console}");
    assert_eq!(
        console.matches("per-boot ran").count(),
        1,
        "per-boot script runs from the second boot on: {console}"
    );
    let first = g
        .data_dir()
        .join("instances")
        .join(WEB)
        .join("upper/var/tmp/first");
    assert_eq!(std::fs::read_to_string(first).unwrap(), "first boot\n");
    let prefix = g.prefix.clone();
    drop(g);
    assert_eq!(leftovers(&prefix, range), Vec::<String>::new());
}

/// Boots `FBT_INSTANCES` (default 20) web servers and prints how long until every one
/// answers; one also alone. Probes come from the VPC router, which security groups do not
/// filter.
#[test]
fn boot_speed() {
    if skip("boot_speed") {
        return;
    }
    let n: usize = std::env::var("FBT_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let g = Guard::new('s', 2);
    let range = g.config.public_range;
    let s = g.sub();
    let v = vpc(
        VPC_A,
        "10.2.0.0/16",
        &[("subnet-00000000000000a01", "10.2.0.0/20", false)],
    );
    s.ensure_vpc(&v).unwrap();
    let router = s.vpc_netns(VPC_A);
    let specs: Vec<InstanceSpec> = (0..=n)
        .map(|k| {
            let addr = format!("10.2.{}.{}", (k + 10) / 250, (k + 10) % 250 + 2);
            let mut i = instance(
                &format!("i-0000000000{k:07x}"),
                &v,
                "subnet-00000000000000a01",
                &addr,
                (k % 250) as u8,
            );
            i.mac = format!("0a:fb:00:00:{:02x}:{:02x}", k / 256, k % 256);
            i.role = Some("web".into());
            i
        })
        .collect();
    let answers =
        |i: &InstanceSpec| http_get(Some(&router), SocketAddrV4::new(i.private_ip, 80)).is_ok();

    let t = Instant::now();
    s.ensure_instance(&specs[0]).unwrap();
    let ensured_one = t.elapsed();
    assert!(wait_until(Duration::from_secs(20), || answers(&specs[0])));
    eprintln!(
        "1 instance: ensure_instance {ensured_one:?}, answering after {:?}",
        t.elapsed()
    );

    let t = Instant::now();
    for i in &specs[1..] {
        s.ensure_instance(i).unwrap();
    }
    let ensured = t.elapsed();
    let mut pending: Vec<&InstanceSpec> = specs[1..].iter().collect();
    assert!(
        wait_until(Duration::from_secs(60), || {
            pending.retain(|i| !answers(i));
            pending.is_empty()
        }),
        "{} never answered",
        pending.len()
    );
    eprintln!(
        "{n} instances: all ensure_instance calls {ensured:?}, all answering after {:?}",
        t.elapsed()
    );
    let prefix = g.prefix.clone();
    let t = Instant::now();
    drop(g);
    eprintln!(
        "shutdown and cleanup of {} instances: {:?}",
        n + 1,
        t.elapsed()
    );
    assert_eq!(leftovers(&prefix, range), Vec::<String>::new());
}
