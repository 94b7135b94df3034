//! The bridge from stored EC2 state to the network substrate: builds `fogbank_netns` specs
//! (VPCs, instances, firewalls) from documents, applies what changed, and runs each VPC's
//! data-plane servers (instance metadata, DNS) on sockets the substrate opens inside the VPC's
//! router namespace.
//!
//! Used only by the instance controller; handlers never come here.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};

use base64::Engine;
use fogbank_netns::{
    AclEntry, Cidr, InstanceFirewall, SubnetAcl, InstanceSpec, Limits, NatMapping, Peer, Proto, RootSpec, Rule, SubnetSpec, Substrate,
    VpcFirewall, VpcSpec,
};
use fogbank_state::{Scope, Store};
use serde_json::Value;

use crate::api::instance::state_name;
use crate::api::{fb, kind, InputExt};
use crate::dataplane;

/// What runs instances for real: the substrate and the runtime its servers run on.
pub struct Host {
    pub substrate: StartingSubstrate,
    pub runtime: tokio::runtime::Handle,
}

/// A substrate being set up on another thread while the API already answers (sweeping a
/// crashed run's leftovers and building the edge take tens of milliseconds); the first use
/// waits for it. The starter decides what a failure means (the binary exits).
pub struct StartingSubstrate {
    ready: std::sync::OnceLock<Substrate>,
    pending: Mutex<Option<std::thread::JoinHandle<Substrate>>>,
}

impl StartingSubstrate {
    /// Runs `start` on its own thread.
    pub fn spawn(start: impl FnOnce() -> Substrate + Send + 'static) -> StartingSubstrate {
        let handle = std::thread::Builder::new()
            .name("substrate-start".into())
            .spawn(start)
            .expect("spawn the substrate's start thread");
        StartingSubstrate { ready: std::sync::OnceLock::new(), pending: Mutex::new(Some(handle)) }
    }

    /// The substrate, waiting for its start if needed.
    pub fn get(&self) -> &Substrate {
        self.ready.get_or_init(|| {
            let handle = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
            match handle.map(|h| h.join()) {
                Some(Ok(substrate)) => substrate,
                // The start thread panicked or the handle was taken by a racing caller that
                // then panicked: nothing sensible is left to run instances with.
                _ => {
                    tracing::error!("the network substrate did not start; exiting");
                    std::process::exit(1)
                }
            }
        })
    }
}

/// What was last applied for one VPC, so that only changes reach the kernel.
#[derive(Default)]
struct VpcState {
    spec: Option<VpcSpec>,
    firewall: Option<VpcFirewall>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

/// The network side of the instance controller.
pub struct Network {
    host: Host,
    store: Arc<Store>,
    vpcs: Mutex<HashMap<String, VpcState>>,
    /// Set by `shutdown`: nothing is built on the host after it.
    closed: std::sync::atomic::AtomicBool,
}

/// Instance states that keep a namespace on the host.
fn holds_host(doc: &Value) -> bool {
    matches!(state_name(doc), "pending" | "running" | "stopping" | "stopped" | "shutting-down")
        && doc.str("PrivateIpAddress").is_some()
}

fn ip(text: Option<&str>) -> Option<Ipv4Addr> {
    text?.parse().ok()
}

fn cidr(text: Option<&str>) -> Option<Cidr> {
    text?.parse().ok()
}

/// Whether a subnet's route table (its explicit one, else the VPC's main one) sends 0.0.0.0/0
/// to an internet gateway that is attached (route state `active`).
fn subnet_is_public(tables: &[&Value], subnet_id: &str, vpc_id: &str) -> bool {
    let in_vpc: Vec<&&Value> = tables.iter().filter(|t| t.str("VpcId") == Some(vpc_id)).collect();
    let explicit = in_vpc
        .iter()
        .find(|t| t.list("Associations").iter().any(|a| a.str("SubnetId") == Some(subnet_id)));
    let main = in_vpc.iter().find(|t| t.list("Associations").iter().any(|a| a.bool("Main") == Some(true)));
    let Some(table) = explicit.or(main) else { return false };
    table.list("Routes").iter().any(|r| {
        r.str("DestinationCidrBlock") == Some("0.0.0.0/0")
            && r.str("GatewayId").is_some_and(|g| g.starts_with("igw-"))
            && r.str("State") != Some("blackhole")
    })
}

fn proto(text: &str) -> Proto {
    match text {
        "-1" | "all" => Proto::All,
        "tcp" | "6" => Proto::Tcp,
        "udp" | "17" => Proto::Udp,
        "icmp" | "1" => Proto::Icmp,
        other => other.parse::<u8>().map(Proto::Num).unwrap_or(Proto::All),
    }
}

impl Network {
    pub fn new(host: Host, store: Arc<Store>) -> Network {
        Network { host, store, vpcs: Mutex::new(HashMap::new()), closed: Default::default() }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn substrate(&self) -> &Substrate {
        self.host.substrate.get()
    }

    /// The VPC spec of `vpc_id` from stored state.
    fn vpc_spec(&self, scope: &Scope, vpc_id: &str) -> Option<VpcSpec> {
        let vpc = self.store.get(scope, kind::VPC, vpc_id)?;
        let cidrs: Vec<Cidr> = vpc.list("CidrBlockAssociationSet").iter().filter_map(|a| cidr(a.str("CidrBlock"))).collect();
        let primary = *cidrs.first()?;
        let tables: Vec<Value> = self.store.scan(scope, kind::ROUTE_TABLE, |it| it.map(|(_, d)| d.clone()).collect());
        let table_refs: Vec<&Value> = tables.iter().collect();
        let subnets = self.store.scan(scope, kind::SUBNET, |it| {
            it.filter(|(_, d)| d.str("VpcId") == Some(vpc_id))
                .filter_map(|(id, d)| {
                    let c = cidr(d.str("CidrBlock"))?;
                    Some(SubnetSpec {
                        subnet_id: id.to_string(),
                        cidr: c,
                        router_ip: c.nth(1)?,
                        public: subnet_is_public(&table_refs, id, vpc_id),
                    })
                })
                .collect::<Vec<_>>()
        });
        Some(VpcSpec { vpc_id: vpc_id.to_string(), cidrs, subnets, dns_ip: primary.nth(2)? })
    }

    /// The instance spec of a stored instance document.
    pub fn instance_spec(&self, scope: &Scope, doc: &Value) -> Option<InstanceSpec> {
        let subnet_id = doc.str("SubnetId")?;
        let subnet = self.store.get(scope, kind::SUBNET, subnet_id)?;
        let subnet_cidr = cidr(subnet.str("CidrBlock"))?;
        let private_ip = ip(doc.str("PrivateIpAddress"))?;
        let image_id = fb(doc).str("RunImageId").or(doc.str("ImageId")).unwrap_or_default();
        let image = crate::api::image::builtin(image_id)
            .cloned()
            .or_else(|| self.store.get(scope, kind::IMAGE, image_id))
            .unwrap_or(Value::Null);
        let root = match fb(&image).str("Root") {
            Some(dir) if dir != "host" => RootSpec::Dir(dir.into()),
            _ => RootSpec::Host,
        };
        let user_data = fb(doc)
            .str("UserData")
            .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok());
        let resources = crate::api::instance_type::resources(doc.str("InstanceType").unwrap_or_default());
        Some(InstanceSpec {
            instance_id: doc.str("InstanceId")?.to_string(),
            vpc_id: doc.str("VpcId")?.to_string(),
            subnet_id: subnet_id.to_string(),
            private_ip,
            prefix_len: subnet_cidr.prefix_len(),
            gateway: subnet_cidr.nth(1)?,
            mac: doc.pointer("/NetworkInterfaces/0/MacAddress").and_then(Value::as_str).unwrap_or_default().to_string(),
            hostname: format!("ip-{}", private_ip.to_string().replace('.', "-")),
            root,
            role: fb(&image).str("Role").map(str::to_string),
            user_data,
            availability_zone: doc.pointer("/Placement/AvailabilityZone").and_then(Value::as_str).unwrap_or_default().to_string(),
            limits: Limits {
                vcpus: resources.map(|(v, _)| v as u32),
                memory_mib: resources.map(|(_, m)| m as u64),
            },
        })
    }

    /// Every security-group and NAT rule of one VPC, from its instances' groups.
    fn firewall(&self, scope: &Scope, vpc_id: &str, instances: &[Value]) -> VpcFirewall {
        let rules: Vec<Value> = self.store.scan(scope, kind::SECURITY_GROUP_RULE, |it| {
            it.filter(|(_, d)| fb(d).str("VpcId") == Some(vpc_id)).map(|(_, d)| d.clone()).collect()
        });
        let live: Vec<&Value> = instances.iter().filter(|d| matches!(state_name(d), "pending" | "running")).collect();
        let groups_of = |d: &Value| -> Vec<String> {
            d.list("SecurityGroups").iter().filter_map(|g| g.str("GroupId").map(str::to_string)).collect()
        };
        let members = |group: &str| -> Vec<Ipv4Addr> {
            live.iter()
                .filter(|d| groups_of(d).iter().any(|g| g == group))
                .filter_map(|d| ip(d.str("PrivateIpAddress")))
                .collect()
        };
        let to_rule = |r: &Value| -> Option<Rule> {
            let peer = if let Some(c) = r.str("CidrIpv4") {
                Peer::Cidr(c.parse().ok()?)
            } else if let Some(g) = r.pointer("/ReferencedGroupInfo/GroupId").and_then(Value::as_str) {
                Peer::Addresses(members(g))
            } else {
                return None; // IPv6 and prefix lists: nothing to match on this substrate
            };
            Some(Rule {
                protocol: proto(r.str("IpProtocol").unwrap_or("-1")),
                from_port: r.int("FromPort").unwrap_or(-1) as i32,
                to_port: r.int("ToPort").unwrap_or(-1) as i32,
                peer,
            })
        };
        let mut fw = VpcFirewall::default();
        for (subnet_id, acl) in crate::api::network_acl::effective_acls(&self.store, scope) {
            if acl.str("VpcId") != Some(vpc_id) {
                continue;
            }
            let entries = |egress: bool| -> Vec<AclEntry> {
                acl.list("Entries")
                    .iter()
                    .filter(|e| e.bool("Egress").unwrap_or(false) == egress)
                    .filter_map(|e| {
                        let protocol = proto(e.str("Protocol").unwrap_or("-1"));
                        let (from_port, to_port) = match protocol {
                            Proto::Icmp => (
                                e.pointer("/IcmpTypeCode/Type").and_then(Value::as_i64).unwrap_or(-1),
                                e.pointer("/IcmpTypeCode/Code").and_then(Value::as_i64).unwrap_or(-1),
                            ),
                            _ => (
                                e.pointer("/PortRange/From").and_then(Value::as_i64).unwrap_or(-1),
                                e.pointer("/PortRange/To").and_then(Value::as_i64).unwrap_or(-1),
                            ),
                        };
                        Some(AclEntry {
                            rule_number: u16::try_from(e.int("RuleNumber")?).ok()?,
                            protocol,
                            from_port: from_port as i32,
                            to_port: to_port as i32,
                            cidr: e.str("CidrBlock")?.parse().ok()?,
                            allow: e.str("RuleAction") == Some("allow"),
                        })
                    })
                    .collect()
            };
            fw.subnet_acls.push(SubnetAcl { subnet_id, ingress: entries(false), egress: entries(true) });
        }
        fw.subnet_acls.sort_by(|a, b| a.subnet_id.cmp(&b.subnet_id));
        for d in instances {
            let Some(private_ip) = ip(d.str("PrivateIpAddress")) else { continue };
            let groups = groups_of(d);
            let mine = |egress: bool| -> Vec<Rule> {
                rules
                    .iter()
                    .filter(|r| r.bool("IsEgress") == Some(egress))
                    .filter(|r| r.str("GroupId").is_some_and(|g| groups.iter().any(|x| x == g)))
                    .filter_map(to_rule)
                    .collect()
            };
            fw.instances.push(InstanceFirewall {
                instance_id: d.str("InstanceId").unwrap_or_default().to_string(),
                private_ip,
                ingress: mine(false),
                egress: mine(true),
            });
            if let Some(public_ip) = ip(d.str("PublicIpAddress")) {
                fw.nat.push(NatMapping { public_ip, private_ip });
            }
        }
        fw
    }

    /// Converges every VPC that has instances on the host: router namespaces, firewalls,
    /// data-plane servers; removes VPCs that no longer have any.
    pub fn reconcile_vpcs(&self) {
        if self.is_closed() {
            return;
        }
        let mut wanted: BTreeMap<String, (Scope, Vec<Value>)> = BTreeMap::new();
        for scope in self.store.scopes_with(kind::INSTANCE) {
            self.store.scan(&scope, kind::INSTANCE, |it| {
                for (_, d) in it {
                    if holds_host(d) {
                        if let Some(v) = d.str("VpcId") {
                            wanted.entry(v.to_string()).or_insert_with(|| (scope.clone(), Vec::new())).1.push(d.clone());
                        }
                    }
                }
            });
        }
        let mut vpcs = self.vpcs.lock().unwrap_or_else(|e| e.into_inner());
        for (vpc_id, (scope, instances)) in &wanted {
            let Some(spec) = self.vpc_spec(scope, vpc_id) else { continue };
            let state = vpcs.entry(vpc_id.clone()).or_default();
            if state.spec.as_ref() != Some(&spec) {
                match self.host.substrate.get().ensure_vpc(&spec) {
                    Ok(()) => {
                        if state.spec.is_none() {
                            state.servers = self.start_servers(scope, &spec);
                        }
                        state.spec = Some(spec.clone());
                        state.firewall = None;
                    }
                    Err(e) => {
                        tracing::error!(vpc = %vpc_id, error = %e, "could not build the VPC on the host");
                        continue;
                    }
                }
            }
            let fw = self.firewall(scope, vpc_id, instances);
            if state.firewall.as_ref() != Some(&fw) {
                match self.host.substrate.get().apply_firewall(vpc_id, &fw) {
                    Ok(()) => state.firewall = Some(fw),
                    Err(e) => tracing::error!(vpc = %vpc_id, error = %e, "could not apply the VPC's security groups"),
                }
            }
        }
        let gone: Vec<String> = vpcs.keys().filter(|v| !wanted.contains_key(*v)).cloned().collect();
        for vpc_id in gone {
            if let Some(state) = vpcs.remove(&vpc_id) {
                for s in state.servers {
                    s.abort();
                }
            }
            if let Err(e) = self.host.substrate.get().remove_vpc(&vpc_id) {
                tracing::warn!(vpc = %vpc_id, error = %e, "could not remove the VPC from the host");
            }
        }
    }

    /// Makes sure the instance's VPC exists on the host (before its first boot).
    pub fn ensure_vpc_of(&self, doc: &Value) {
        let Some(vpc_id) = doc.str("VpcId") else { return };
        let known = self.vpcs.lock().unwrap_or_else(|e| e.into_inner()).contains_key(vpc_id);
        if !known {
            self.reconcile_vpcs();
        }
    }

    /// The metadata and DNS servers of one VPC.
    fn start_servers(&self, scope: &Scope, spec: &VpcSpec) -> Vec<tokio::task::JoinHandle<()>> {
        let mut servers = Vec::new();
        let vpc_id = spec.vpc_id.clone();
        let region = scope.region.clone();
        let store = self.store.clone();
        let lookup_scope = scope.clone();
        let lookup_vpc = vpc_id.clone();
        let lookup: dataplane::InstanceLookup = Arc::new(move |addr: Ipv4Addr| {
            let addr = addr.to_string();
            store.scan(&lookup_scope, kind::INSTANCE, |it| {
                it.map(|(_, d)| d)
                    .find(|d| {
                        d.str("VpcId") == Some(lookup_vpc.as_str())
                            && d.str("PrivateIpAddress") == Some(addr.as_str())
                            && state_name(d) != "terminated"
                    })
                    .cloned()
            })
        });
        let metadata = SocketAddrV4::new(fogbank_netns::METADATA_ADDR, 80);
        match self.host.substrate.get().listen_tcp_in_vpc(&vpc_id, metadata) {
            Ok(listener) => {
                let _guard = self.host.runtime.enter();
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => servers.push(self.host.runtime.spawn(dataplane::serve_imds(l, lookup.clone(), region.clone()))),
                    Err(e) => tracing::error!(vpc = %vpc_id, error = %e, "metadata listener"),
                }
            }
            Err(e) => tracing::error!(vpc = %vpc_id, error = %e, "could not open the metadata service"),
        }
        let dns = SocketAddrV4::new(spec.dns_ip, 53);
        match self.host.substrate.get().bind_udp_in_vpc(&vpc_id, dns) {
            Ok(socket) => {
                let _guard = self.host.runtime.enter();
                match tokio::net::UdpSocket::from_std(socket) {
                    Ok(s) => {
                        let names = lookup.clone();
                        let resolver = dataplane::DnsResolver {
                            region: region.clone(),
                            lookup: Arc::new({
                                let region = region.clone();
                                move |name: &str| {
                                    let addr = dataplane::ip_from_private_name(name, &region)?;
                                    names(addr).map(|_| addr)
                                }
                            }),
                        };
                        servers.push(self.host.runtime.spawn(dataplane::serve_dns(s, resolver)));
                    }
                    Err(e) => tracing::error!(vpc = %vpc_id, error = %e, "DNS socket"),
                }
            }
            Err(e) => tracing::error!(vpc = %vpc_id, error = %e, "could not open the VPC's DNS"),
        }
        servers
    }

    /// Clean exit: stops the servers and removes everything from the host.
    pub fn shutdown(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wait for a reconcile in progress: it holds this lock while it builds.
        for (_, state) in self.vpcs.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            for s in state.servers {
                s.abort();
            }
        }
        self.host.substrate.get().shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn public_subnets_follow_their_route_table() {
        let main = json!({"VpcId": "vpc-1", "Associations": [{"Main": true}],
            "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "active"}]});
        let private = json!({"VpcId": "vpc-1", "Associations": [{"SubnetId": "subnet-b"}], "Routes": []});
        let tables = vec![&main, &private];
        assert!(subnet_is_public(&tables, "subnet-a", "vpc-1"));
        assert!(!subnet_is_public(&tables, "subnet-b", "vpc-1"));
        let detached = json!({"VpcId": "vpc-1", "Associations": [{"Main": true}],
            "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1", "State": "blackhole"}]});
        assert!(!subnet_is_public(&[&detached], "subnet-a", "vpc-1"));
        assert_eq!(proto("tcp"), Proto::Tcp);
        assert_eq!(proto("-1"), Proto::All);
        assert_eq!(proto("47"), Proto::Num(47));
    }
}
