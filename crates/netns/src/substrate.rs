//! `Substrate`: the calls the EC2 controllers make. Each is synchronous and idempotent, and
//! holds one lock for its whole run, so two calls never interleave their kernel changes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::Child;
use std::sync::{Mutex, MutexGuard};

use nix::fcntl::{Flock, FlockArg};

use crate::boot::{self, BootPlan};
use crate::cgroup;
use crate::cmd::{self, in_netns, ip_batch, netns_exists, netns_path, nft_in, sysctls_in};
use crate::error::{IoContext, SubstrateError};
use crate::firewall;
use crate::init;
use crate::names::{Names, EDGE_HOST_LINK, INSTANCE_LINK, VPC_UPLINK};
use crate::process;
use crate::spec::{Cidr, InstanceSpec, RootSpec, VpcFirewall, VpcSpec};

/// The VPC router's address on its uplink, and the edge's address the VPC routes to. Every
/// uplink is a separate point-to-point veth between two namespaces of ours, so every VPC can
/// use the same pair.
const UPLINK_VPC_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
const UPLINK_EDGE_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 2);
/// The instance metadata address, held by every VPC router.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// How much console output `console_output` returns at most (EC2 returns the last 64 KiB).
const CONSOLE_TAIL: u64 = 64 * 1024;
/// The metric of the blackhole route beneath the public range's route.
const BLACKHOLE_METRIC: &str = "4000";

/// How a substrate is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct SubstrateConfig {
    /// Starts every kernel name (`fb`; tests use `fbt…`). `fb` plus up to 4 letters or digits.
    pub prefix: String,
    /// Instances' disks (overlay upper dirs) and console logs; survives restarts.
    pub data_dir: PathBuf,
    /// Where public IPs come from. The substrate keeps the network address, base+1 (the
    /// host's address towards the edge) and base+2 (the edge's); see
    /// [`Substrate::first_public_ip`].
    pub public_range: Cidr,
    /// Role name to the command that starts it inside the instance (run by `sh`).
    pub roles: BTreeMap<String, String>,
    /// `pids.max` of every instance's cgroup.
    pub pids_max: u64,
}

impl SubstrateConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> SubstrateConfig {
        SubstrateConfig {
            prefix: "fb".into(),
            data_dir: data_dir.into(),
            public_range: Cidr::new(Ipv4Addr::new(198, 18, 0, 0), 15)
                .unwrap_or(Cidr::host(Ipv4Addr::new(198, 18, 0, 0))),
            roles: BTreeMap::from([("web".to_string(), init::default_web_command())]),
            pids_max: 4096,
        }
    }
}

/// What `ensure_instance` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRuntime {
    /// The instance's network namespace (`/run/netns/<name>`).
    pub netns: String,
    /// PID 1 of the instance, as the host sees it.
    pub init_pid: i32,
    /// Whether this call booted it (false: it was already running).
    pub booted: bool,
    pub console_log: PathBuf,
}

struct VpcState {
    spec: VpcSpec,
    firewall: VpcFirewall,
    /// Public IP to private IP, as routed by the edge and NATed by the VPC router.
    nat: BTreeMap<Ipv4Addr, Ipv4Addr>,
}

struct InstanceState {
    spec: InstanceSpec,
    /// The middle process of the boot; it exits when the instance's PID 1 does.
    child: Option<Child>,
    init_pid: i32,
    cgroups: Vec<PathBuf>,
}

impl InstanceState {
    fn running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

#[derive(Default)]
struct State {
    vpcs: BTreeMap<String, VpcState>,
    instances: BTreeMap<String, InstanceState>,
    /// Kernel name to AWS id, to refuse two ids with the same last 8 hex digits.
    owners: BTreeMap<String, String>,
}

/// The network and host substrate of one Fogbank process.
pub struct Substrate {
    config: SubstrateConfig,
    names: Names,
    host_addr: Ipv4Addr,
    edge_addr: Ipv4Addr,
    state: Mutex<State>,
    _lock: Flock<File>,
}

impl Substrate {
    /// Takes the prefix's lock, then builds the edge: a namespace joined to the host by one
    /// veth, one host route for the public range through it and a blackhole route beneath.
    /// Leftovers of an earlier run under the same prefix are removed first.
    pub fn new(config: SubstrateConfig) -> Result<Substrate, SubstrateError> {
        let names = Names::new(&config.prefix)?;
        if let crate::Mode::RecordsOnly { reason } = crate::detect() {
            return Err(SubstrateError::InvalidConfig(reason));
        }
        let range = config.public_range;
        let (Some(host_addr), Some(edge_addr), Some(_)) =
            (range.nth(1), range.nth(2), range.nth(4))
        else {
            return Err(SubstrateError::InvalidConfig(format!(
                "public range {range} is smaller than /29"
            )));
        };
        if !config.data_dir.is_absolute() {
            return Err(SubstrateError::InvalidConfig(format!(
                "data dir {} is not absolute",
                config.data_dir.display()
            )));
        }
        fs::create_dir_all(config.data_dir.join("instances"))
            .context(|| format!("create {}", config.data_dir.display()))?;
        let lock = take_lock(&names)?;
        let substrate = Substrate {
            config,
            names,
            host_addr,
            edge_addr,
            state: Mutex::new(State::default()),
            _lock: lock,
        };
        // Sweep a crashed run of this prefix (we hold its lock now, so it is not running).
        let result = sweep(&substrate.names)
            .and_then(|_| check_range_free(&substrate.names, range))
            .and_then(|_| substrate.create_edge());
        if let Err(e) = result {
            let _ = sweep(&substrate.names);
            let _ = fs::remove_dir_all(substrate.names.run_dir());
            return Err(e);
        }
        Ok(substrate)
    }

    /// The first address of the public range that callers may hand out.
    pub fn first_public_ip(&self) -> Ipv4Addr {
        self.config.public_range.nth(4).unwrap_or(self.edge_addr)
    }

    /// The name of an instance's network namespace (for tools and tests that enter it).
    pub fn instance_netns(&self, instance_id: &str) -> String {
        self.names.instance_netns(instance_id)
    }

    /// The name of a VPC router's network namespace.
    pub fn vpc_netns(&self, vpc_id: &str) -> String {
        self.names.vpc_netns(vpc_id)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic inside one call leaves the kernel as it was mid-call; the next ensure_*
        // converges again, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn create_edge(&self) -> Result<(), SubstrateError> {
        let edge = self.names.edge();
        let range = self.config.public_range;
        let (h, e) = (self.host_addr, self.edge_addr);
        // Record the blackhole route first, so a crash at any later point is cleaned up.
        let routes = self.names.run_dir().join("host-routes");
        fs::write(
            &routes,
            format!("blackhole {range} metric {BLACKHOLE_METRIC}\n"),
        )
        .context(|| format!("write {}", routes.display()))?;
        ip_batch(
            None,
            &[
                format!("netns add {edge}"),
                format!("link add {edge} type veth peer name {EDGE_HOST_LINK} netns {edge}"),
            ],
            false,
        )?;
        // Our own link only: keep IPv6 (router solicitations, DAD) off it.
        let _ = cmd::write_sysctl(&format!("net/ipv6/conf/{edge}/disable_ipv6"), "1");
        sysctls_in(
            &edge,
            &[
                ("net/ipv4/ip_forward", "1"),
                ("net/ipv4/conf/all/rp_filter", "1"),
                ("net/ipv4/conf/all/send_redirects", "0"),
                ("net/ipv6/conf/all/disable_ipv6", "1"),
                ("net/ipv6/conf/default/disable_ipv6", "1"),
            ],
        )?;
        ip_batch(
            Some(&edge),
            &[
                "link set lo up".into(),
                format!("addr add {e}/32 dev {EDGE_HOST_LINK}"),
                format!("addr add {UPLINK_EDGE_ADDR}/32 dev lo"),
                format!("link set {EDGE_HOST_LINK} up"),
                format!("route add {h}/32 dev {EDGE_HOST_LINK}"),
            ],
            false,
        )?;
        // The edge forwards only between public addresses: the host's end of the edge link,
        // and public IPs mapped into VPCs. Nothing else has a route here, so no VPC address
        // and no instance packet can reach the host's real networks.
        nft_in(
            &edge,
            &format!(
                "table inet fbedge\ndelete table inet fbedge\ntable inet fbedge {{\n  chain forward {{\n    type filter hook forward priority filter; policy drop;\n    ip saddr {range} ip daddr {range} accept\n  }}\n}}\n"
            ),
        )?;
        ip_batch(
            None,
            &[
                format!("addr add {h}/32 dev {edge}"),
                format!("link set {edge} up"),
                format!("route add {range} via {e} dev {edge} onlink src {h}"),
                format!("route add blackhole {range} metric {BLACKHOLE_METRIC}"),
            ],
            false,
        )?;
        tracing::info!(edge, %range, "edge ready");
        Ok(())
    }

    /// Creates or updates a VPC's router namespace: router addresses of every subnet, the
    /// DNS and metadata addresses, the uplink to the edge, and a firewall that drops all
    /// forwarded traffic until `apply_firewall` says otherwise.
    pub fn ensure_vpc(&self, vpc: &VpcSpec) -> Result<(), SubstrateError> {
        validate_vpc(vpc)?;
        let ns = self.names.vpc_netns(&vpc.vpc_id);
        let mut state = self.lock();
        claim(&mut state, &ns, &vpc.vpc_id)?;
        if let Some(existing) = state.vpcs.get(&vpc.vpc_id) {
            if existing.spec == *vpc {
                return Ok(());
            }
            let old = existing.spec.clone();
            self.reconfigure_vpc(&old, vpc)?;
            let fw = existing.firewall.clone();
            if let Some(v) = state.vpcs.get_mut(&vpc.vpc_id) {
                v.spec = vpc.clone();
            }
            return self.apply_firewall_locked(&mut state, &vpc.vpc_id, &fw);
        }
        if netns_exists(&ns) {
            self.teardown_vpc(&vpc.vpc_id, &[]);
        }
        let link = self.names.vpc_link(&vpc.vpc_id);
        let edge = self.names.edge();
        let result = (|| {
            ip_batch(None, &[format!("netns add {ns}")], false)?;
            // The firewall first: nothing is forwarded before the links exist.
            let plan = firewall::render(
                &self.names,
                vpc,
                &VpcFirewall::default(),
                self.config.public_range,
            )?;
            nft_in(&ns, &plan.script)?;
            sysctls_in(
                &ns,
                &[
                    ("net/ipv4/ip_forward", "1"),
                    ("net/ipv4/conf/all/rp_filter", "1"),
                    ("net/ipv4/conf/all/proxy_arp", "1"),
                    ("net/ipv4/conf/all/send_redirects", "0"),
                    ("net/ipv6/conf/all/disable_ipv6", "1"),
                    ("net/ipv6/conf/default/disable_ipv6", "1"),
                ],
            )?;
            ip_batch(
                Some(&edge),
                &[
                    format!("link add {link} type veth peer name {VPC_UPLINK} netns {ns}"),
                    format!("link set {link} up"),
                ],
                false,
            )?;
            let mut lines = vec!["link set lo up".to_string()];
            lines.extend(
                vpc_addresses(vpc)
                    .iter()
                    .map(|a| format!("addr add {a}/32 dev lo")),
            );
            lines.push(format!("addr add {UPLINK_VPC_ADDR}/32 dev {VPC_UPLINK}"));
            lines.push(format!("link set {VPC_UPLINK} up"));
            lines.extend(
                vpc.cidrs
                    .iter()
                    .map(|c| format!("route add unreachable {c}")),
            );
            lines.push(format!(
                "route add default via {UPLINK_EDGE_ADDR} dev {VPC_UPLINK} onlink"
            ));
            ip_batch(Some(&ns), &lines, false)
        })();
        if let Err(e) = result {
            self.teardown_vpc(&vpc.vpc_id, &[]);
            return Err(e);
        }
        state.vpcs.insert(
            vpc.vpc_id.clone(),
            VpcState {
                spec: vpc.clone(),
                firewall: VpcFirewall::default(),
                nat: BTreeMap::new(),
            },
        );
        tracing::info!(vpc = vpc.vpc_id, ns, "VPC router ready");
        Ok(())
    }

    fn reconfigure_vpc(&self, old: &VpcSpec, new: &VpcSpec) -> Result<(), SubstrateError> {
        let ns = self.names.vpc_netns(&new.vpc_id);
        let (old_addrs, new_addrs) = (vpc_addresses(old), vpc_addresses(new));
        let mut lines = Vec::new();
        lines.extend(
            old_addrs
                .iter()
                .filter(|a| !new_addrs.contains(a))
                .map(|a| format!("addr del {a}/32 dev lo")),
        );
        lines.extend(
            new_addrs
                .iter()
                .map(|a| format!("addr replace {a}/32 dev lo")),
        );
        lines.extend(
            old.cidrs
                .iter()
                .filter(|c| !new.cidrs.contains(c))
                .map(|c| format!("route del unreachable {c}")),
        );
        lines.extend(
            new.cidrs
                .iter()
                .map(|c| format!("route replace unreachable {c}")),
        );
        ip_batch(Some(&ns), &lines, false)
    }

    /// Removes a VPC's router namespace and its uplink. Fails while instances of it exist.
    pub fn remove_vpc(&self, vpc_id: &str) -> Result<(), SubstrateError> {
        let mut state = self.lock();
        let instances: Vec<String> = state
            .instances
            .values()
            .filter(|i| i.spec.vpc_id == vpc_id)
            .map(|i| i.spec.instance_id.clone())
            .collect();
        if !instances.is_empty() {
            return Err(SubstrateError::VpcInUse {
                vpc_id: vpc_id.to_string(),
                instances,
            });
        }
        let public: Vec<Ipv4Addr> = state
            .vpcs
            .get(vpc_id)
            .map(|v| v.nat.keys().copied().collect())
            .unwrap_or_default();
        self.teardown_vpc(vpc_id, &public);
        state.vpcs.remove(vpc_id);
        state.owners.remove(&self.names.vpc_netns(vpc_id));
        Ok(())
    }

    /// Best-effort removal of a VPC's kernel objects.
    fn teardown_vpc(&self, vpc_id: &str, public: &[Ipv4Addr]) {
        let edge = self.names.edge();
        let mut lines: Vec<String> = public.iter().map(|p| format!("route del {p}/32")).collect();
        lines.push(format!("link del {}", self.names.vpc_link(vpc_id)));
        let _ = ip_batch(Some(&edge), &lines, true);
        let ns = self.names.vpc_netns(vpc_id);
        if netns_exists(&ns) {
            process::kill_netns(&[&netns_path(&ns)]);
            let _ = ip_batch(None, &[format!("netns del {ns}")], true);
        }
    }

    /// Replaces every security-group, network-ACL and NAT rule of one VPC in one nftables
    /// transaction, then points the edge's routes for the VPC's public IPs at it.
    pub fn apply_firewall(&self, vpc_id: &str, fw: &VpcFirewall) -> Result<(), SubstrateError> {
        let mut state = self.lock();
        self.apply_firewall_locked(&mut state, vpc_id, fw)
    }

    fn apply_firewall_locked(
        &self,
        state: &mut State,
        vpc_id: &str,
        fw: &VpcFirewall,
    ) -> Result<(), SubstrateError> {
        let vpc = state
            .vpcs
            .get(vpc_id)
            .ok_or_else(|| SubstrateError::UnknownVpc(vpc_id.to_string()))?;
        let plan = firewall::render(&self.names, &vpc.spec, fw, self.config.public_range)?;
        for public in plan.nat.keys() {
            if let Some((other, _)) = state
                .vpcs
                .iter()
                .find(|(id, v)| *id != vpc_id && v.nat.contains_key(public))
            {
                return Err(SubstrateError::InvalidSpec(format!(
                    "public IP {public} is already mapped in {other}"
                )));
            }
            if *public == self.host_addr
                || *public == self.edge_addr
                || Some(*public) == self.config.public_range.nth(0)
            {
                return Err(SubstrateError::InvalidSpec(format!(
                    "public IP {public} is reserved by the substrate"
                )));
            }
        }
        let ns = self.names.vpc_netns(vpc_id);
        nft_in(&ns, &plan.script)?;
        let link = self.names.vpc_link(vpc_id);
        let mut lines: Vec<String> = vpc
            .nat
            .keys()
            .filter(|p| !plan.nat.contains_key(p))
            .map(|p| format!("route del {p}/32"))
            .collect();
        lines.extend(
            plan.nat
                .keys()
                .map(|p| format!("route replace {p}/32 via {UPLINK_VPC_ADDR} dev {link} onlink")),
        );
        ip_batch(Some(&self.names.edge()), &lines, false)?;
        if let Some(v) = state.vpcs.get_mut(vpc_id) {
            v.nat = plan.nat;
            v.firewall = fw.clone();
        }
        Ok(())
    }

    /// Makes the instance exist and run: its namespace and veth into the VPC router (kept
    /// while stopped), then a boot if it is not running. A running instance is left alone
    /// (other spec changes apply at its next boot), except when the network part of its spec
    /// (address, subnet, MAC) changed or its namespace vanished: then it is killed, re-plumbed
    /// and booted again. An instance left by an earlier process is rebooted, not adopted.
    pub fn ensure_instance(&self, inst: &InstanceSpec) -> Result<InstanceRuntime, SubstrateError> {
        let mut state = self.lock();
        let vpc = state
            .vpcs
            .get(&inst.vpc_id)
            .ok_or_else(|| SubstrateError::UnknownVpc(inst.vpc_id.clone()))?;
        validate_instance(&vpc.spec, inst)?;
        let dns_ip = vpc.spec.dns_ip;
        let ns = self.names.instance_netns(&inst.instance_id);
        claim(&mut state, &ns, &inst.instance_id)?;
        match state.instances.get_mut(&inst.instance_id) {
            Some(st) => {
                if network_part(&st.spec) != network_part(inst) || !netns_exists(&ns) {
                    tracing::info!(
                        instance = inst.instance_id,
                        "network changed or gone; re-plumbing"
                    );
                    self.kill(st);
                    self.unplug(&st.spec);
                    self.plug(inst)?;
                }
                st.spec = inst.clone();
                if st.running() {
                    return Ok(InstanceRuntime {
                        netns: ns,
                        init_pid: st.init_pid,
                        booted: false,
                        console_log: self.console_path(&inst.instance_id),
                    });
                }
            }
            None => {
                if netns_exists(&ns) {
                    // Left by an earlier run: reboot rather than adopt (see the crate docs).
                    process::kill_netns(&[&netns_path(&ns)]);
                    self.unplug(inst);
                }
                self.plug(inst)?;
                state.instances.insert(
                    inst.instance_id.clone(),
                    InstanceState {
                        spec: inst.clone(),
                        child: None,
                        init_pid: 0,
                        cgroups: Vec::new(),
                    },
                );
            }
        }
        let st = state
            .instances
            .get_mut(&inst.instance_id)
            .ok_or_else(|| SubstrateError::UnknownInstance(inst.instance_id.clone()))?;
        self.boot(st, dns_ip)?;
        Ok(InstanceRuntime {
            netns: ns,
            init_pid: st.init_pid,
            booted: true,
            console_log: self.console_path(&inst.instance_id),
        })
    }

    /// Creates the instance's namespace and its veth into the VPC router, and configures both
    /// ends: eth0 with the private IP and default route inside, a /32 route outside.
    fn plug(&self, inst: &InstanceSpec) -> Result<(), SubstrateError> {
        let ns = self.names.instance_netns(&inst.instance_id);
        let vpc_ns = self.names.vpc_netns(&inst.vpc_id);
        let link = self.names.instance_link(&inst.instance_id);
        let result = (|| {
            let mut lines = Vec::new();
            if !netns_exists(&ns) {
                lines.push(format!("netns add {ns}"));
            }
            lines.push(format!(
                "link add {link} netns {vpc_ns} type veth peer name {INSTANCE_LINK} netns {ns}"
            ));
            ip_batch(None, &lines, false)?;
            sysctls_in(
                &ns,
                &[
                    ("net/ipv6/conf/all/disable_ipv6", "1"),
                    ("net/ipv6/conf/default/disable_ipv6", "1"),
                ],
            )?;
            ip_batch(
                Some(&ns),
                &[
                    "link set lo up".into(),
                    format!("link set {INSTANCE_LINK} address {}", inst.mac),
                    format!(
                        "addr add {}/{} dev {INSTANCE_LINK}",
                        inst.private_ip, inst.prefix_len
                    ),
                    format!("link set {INSTANCE_LINK} up"),
                    format!("route add default via {} dev {INSTANCE_LINK}", inst.gateway),
                ],
                false,
            )?;
            ip_batch(
                Some(&vpc_ns),
                &[
                    format!("link set {link} up"),
                    format!("route add {}/32 dev {link}", inst.private_ip),
                    // Proxied ARP answers are otherwise delayed by up to 0.8 s
                    // (proxy_delay), which a first connection inside a subnet waits out.
                    format!("ntable change name arp_cache dev {link} proxy_delay 0"),
                ],
                false,
            )
        })();
        if result.is_err() {
            self.unplug(inst);
        }
        result
    }

    /// Removes the instance's veth and namespace (best effort).
    fn unplug(&self, inst: &InstanceSpec) {
        let vpc_ns = self.names.vpc_netns(&inst.vpc_id);
        if netns_exists(&vpc_ns) {
            let _ = ip_batch(
                Some(&vpc_ns),
                &[format!(
                    "link del {}",
                    self.names.instance_link(&inst.instance_id)
                )],
                true,
            );
        }
        let ns = self.names.instance_netns(&inst.instance_id);
        if netns_exists(&ns) {
            let _ = ip_batch(None, &[format!("netns del {ns}")], true);
        }
    }

    fn instance_dir(&self, instance_id: &str) -> PathBuf {
        self.config.data_dir.join("instances").join(instance_id)
    }

    fn console_path(&self, instance_id: &str) -> PathBuf {
        self.instance_dir(instance_id).join("console.log")
    }

    fn boot(&self, st: &mut InstanceState, dns_ip: Ipv4Addr) -> Result<(), SubstrateError> {
        let spec = &st.spec;
        let dir = self.instance_dir(&spec.instance_id);
        let (upper, work, mountpoint) = (dir.join("upper"), dir.join("work"), dir.join("root"));
        for d in [&upper, &work, &mountpoint] {
            fs::create_dir_all(d).context(|| format!("create {}", d.display()))?;
        }
        let console_path = self.console_path(&spec.instance_id);
        let mut console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&console_path)
            .context(|| format!("open {}", console_path.display()))?;
        let _ = writeln!(
            console,
            "[fogbank] {} booting {} ({})",
            init::utc_now(),
            spec.instance_id,
            spec.hostname
        );
        init::write_instance_files(&upper, spec, dns_ip)?;
        let (lower, hide) = match &spec.root {
            RootSpec::Host => (PathBuf::from("/"), Some(self.config.data_dir.clone())),
            RootSpec::Dir(d) => (d.clone(), None),
        };
        let cgroups = cgroup::create(
            &self.names.instance_cgroup(&spec.instance_id),
            &spec.limits,
            self.config.pids_max,
        );
        let role_command = spec
            .role
            .as_ref()
            .and_then(|r| self.config.roles.get(r))
            .map(String::as_str);
        let plan = BootPlan {
            netns: cmd::open_netns(&self.names.instance_netns(&spec.instance_id))?,
            cgroup_procs: cgroups.procs,
            mountpoint,
            lower,
            upper,
            work,
            hide,
            hostname: spec.hostname.clone(),
            console,
            script: init::script(spec, role_command),
            env: Vec::new(),
        };
        st.cgroups = cgroups.dirs;
        let child = boot::spawn(plan)?;
        st.init_pid = boot::init_pid(child.id()).unwrap_or(0);
        st.child = Some(child);
        tracing::info!(
            instance = spec.instance_id,
            pid = st.init_pid,
            "instance booted"
        );
        Ok(())
    }

    /// Kills the instance's process tree; its disk, namespace and addresses stay.
    /// Stopping an instance this substrate does not know (stored as stopped before a restart)
    /// is a no-op, apart from killing whatever still runs in a leftover namespace of it.
    pub fn stop_instance(&self, instance_id: &str) -> Result<(), SubstrateError> {
        let mut state = self.lock();
        match state.instances.get_mut(instance_id) {
            Some(st) => self.kill(st),
            None => {
                process::kill_netns(&[&netns_path(&self.names.instance_netns(instance_id))]);
            }
        }
        Ok(())
    }

    fn kill(&self, st: &mut InstanceState) {
        let was_running = st.running();
        // While the middle process lives, PID 1 is its unreaped child, so its pid cannot
        // have been reused. Killing PID 1 kills its whole pid namespace; the middle process
        // then reaps it and exits.
        if was_running && st.init_pid > 0 {
            process::kill(st.init_pid);
        }
        if let Some(mut child) = st.child.take() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Anything else that entered the namespace.
        process::kill_netns(&[&netns_path(
            &self.names.instance_netns(&st.spec.instance_id),
        )]);
        cgroup::remove(&st.cgroups);
        st.cgroups.clear();
        if was_running {
            if let Ok(mut f) = OpenOptions::new()
                .append(true)
                .open(self.console_path(&st.spec.instance_id))
            {
                let _ = writeln!(f, "[fogbank] {} stopped", init::utc_now());
            }
        }
    }

    /// Kills the instance and removes everything of it: namespace, veth, cgroups and disk.
    pub fn terminate_instance(&self, instance_id: &str) -> Result<(), SubstrateError> {
        let mut state = self.lock();
        if let Some(mut st) = state.instances.remove(instance_id) {
            self.kill(&mut st);
            self.unplug(&st.spec);
        } else {
            let ns = self.names.instance_netns(instance_id);
            if netns_exists(&ns) {
                process::kill_netns(&[&netns_path(&ns)]);
                let _ = ip_batch(None, &[format!("netns del {ns}")], true);
            }
            cgroup::remove(&cgroup::candidate_dirs(
                &self.names.instance_cgroup(instance_id),
            ));
        }
        state.owners.remove(&self.names.instance_netns(instance_id));
        let dir = self.instance_dir(instance_id);
        if dir.exists() {
            fs::remove_dir_all(&dir).context(|| format!("remove {}", dir.display()))?;
        }
        Ok(())
    }

    /// Whether the instance's PID 1 is alive.
    pub fn is_running(&self, instance_id: &str) -> bool {
        self.lock()
            .instances
            .get_mut(instance_id)
            .is_some_and(InstanceState::running)
    }

    /// The last 64 KiB of the instance's console: boot lines, user-data output.
    pub fn console_output(&self, instance_id: &str) -> String {
        let Ok(mut f) = File::open(self.console_path(instance_id)) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(CONSOLE_TAIL)));
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// A non-blocking TCP listener inside the VPC router namespace (metadata at
    /// 169.254.169.254:80): instances reach it through their default gateway and it sees their
    /// private IPs as peers. It keeps working until dropped, even after `remove_vpc`.
    pub fn listen_tcp_in_vpc(
        &self,
        vpc_id: &str,
        addr: SocketAddrV4,
    ) -> Result<TcpListener, SubstrateError> {
        let ns = self.known_vpc_netns(vpc_id)?;
        let listener = in_netns(&ns, move || TcpListener::bind(addr))?
            .context(|| format!("listen on {addr} in {ns}"))?;
        listener
            .set_nonblocking(true)
            .context(|| "set the listener non-blocking".into())?;
        Ok(listener)
    }

    /// A non-blocking UDP socket inside the VPC router namespace (DNS at base+2, port 53).
    pub fn bind_udp_in_vpc(
        &self,
        vpc_id: &str,
        addr: SocketAddrV4,
    ) -> Result<UdpSocket, SubstrateError> {
        let ns = self.known_vpc_netns(vpc_id)?;
        let socket = in_netns(&ns, move || UdpSocket::bind(addr))?
            .context(|| format!("bind {addr} in {ns}"))?;
        socket
            .set_nonblocking(true)
            .context(|| "set the socket non-blocking".into())?;
        Ok(socket)
    }

    fn known_vpc_netns(&self, vpc_id: &str) -> Result<String, SubstrateError> {
        if !self.lock().vpcs.contains_key(vpc_id) {
            return Err(SubstrateError::UnknownVpc(vpc_id.to_string()));
        }
        Ok(self.names.vpc_netns(vpc_id))
    }

    /// Clean exit: kills every instance and removes every namespace, link, route and cgroup
    /// this substrate made. Disks (upper dirs) and console logs stay for the next start.
    pub fn shutdown(&self) {
        let mut state = self.lock();
        // Kill every PID 1 first, so the instances die in parallel; then reap.
        for st in state.instances.values_mut() {
            if st.running() && st.init_pid > 0 {
                process::kill(st.init_pid);
            }
        }
        for st in state.instances.values_mut() {
            self.kill(st);
        }
        *state = State::default();
        if let Err(e) = sweep(&self.names) {
            tracing::warn!(error = %e, "shutdown left something behind");
        }
        let _ = fs::remove_dir_all(self.names.run_dir());
    }

    /// `fogbank cleanup`: removes every namespace, link, host route and cgroup made under
    /// `prefix` and kills the processes in them, as left by a crashed run. Fails while a
    /// running substrate holds the prefix. Returns how many objects it removed.
    pub fn cleanup_leftovers(prefix: &str) -> Result<usize, SubstrateError> {
        let names = Names::new(prefix)?;
        let _lock = take_lock(&names)?;
        let removed = sweep(&names)?;
        let _ = fs::remove_dir_all(names.run_dir());
        Ok(removed)
    }
}

/// The addresses a VPC router holds on its loopback.
fn vpc_addresses(vpc: &VpcSpec) -> Vec<Ipv4Addr> {
    let mut addrs: Vec<Ipv4Addr> = vpc.subnets.iter().map(|s| s.router_ip).collect();
    addrs.push(vpc.dns_ip);
    addrs.push(METADATA_ADDR);
    addrs.sort();
    addrs.dedup();
    addrs
}

fn network_part(i: &InstanceSpec) -> (&str, &str, Ipv4Addr, u8, Ipv4Addr, &str) {
    (
        &i.vpc_id,
        &i.subnet_id,
        i.private_ip,
        i.prefix_len,
        i.gateway,
        &i.mac,
    )
}

/// Records that `name` stands for `id`, refusing a second id for the same kernel name.
fn claim(state: &mut State, name: &str, id: &str) -> Result<(), SubstrateError> {
    match state.owners.get(name) {
        Some(other) if other != id => Err(SubstrateError::NameCollision {
            id: id.to_string(),
            other: other.clone(),
            name: name.to_string(),
        }),
        Some(_) => Ok(()),
        None => {
            state.owners.insert(name.to_string(), id.to_string());
            Ok(())
        }
    }
}

fn validate_vpc(vpc: &VpcSpec) -> Result<(), SubstrateError> {
    let bad = |m: String| Err(SubstrateError::InvalidSpec(format!("{}: {m}", vpc.vpc_id)));
    if vpc.cidrs.is_empty() {
        return bad("no CIDR".into());
    }
    for s in &vpc.subnets {
        if !vpc
            .cidrs
            .iter()
            .any(|c| c.contains(s.cidr.network()) && c.prefix_len() <= s.cidr.prefix_len())
        {
            return bad(format!(
                "subnet {} ({}) is outside the VPC's CIDRs",
                s.subnet_id, s.cidr
            ));
        }
        if !s.cidr.contains(s.router_ip) {
            return bad(format!(
                "router {} is outside subnet {}",
                s.router_ip, s.cidr
            ));
        }
    }
    if !vpc.cidrs.iter().any(|c| c.contains(vpc.dns_ip)) {
        return bad(format!("DNS address {} is outside the VPC", vpc.dns_ip));
    }
    Ok(())
}

fn validate_instance(vpc: &VpcSpec, i: &InstanceSpec) -> Result<(), SubstrateError> {
    let bad = |m: String| {
        Err(SubstrateError::InvalidSpec(format!(
            "{}: {m}",
            i.instance_id
        )))
    };
    let Some(subnet) = vpc.subnets.iter().find(|s| s.subnet_id == i.subnet_id) else {
        return bad(format!("subnet {} is not in {}", i.subnet_id, vpc.vpc_id));
    };
    if !subnet.cidr.contains(i.private_ip) || i.private_ip == subnet.router_ip {
        return bad(format!(
            "{} is not a host address of {}",
            i.private_ip, subnet.cidr
        ));
    }
    if i.prefix_len != subnet.cidr.prefix_len() || !subnet.cidr.contains(i.gateway) {
        return bad(format!(
            "{}/{} via {} does not fit subnet {}",
            i.private_ip, i.prefix_len, i.gateway, subnet.cidr
        ));
    }
    let mac_ok = i.mac.len() == 17
        && i.mac.split(':').count() == 6
        && i.mac
            .split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        && u8::from_str_radix(&i.mac[..2], 16).is_ok_and(|b| b & 1 == 0);
    if !mac_ok {
        return bad(format!("MAC address {:?}", i.mac));
    }
    let host_ok = !i.hostname.is_empty()
        && i.hostname.len() <= 63
        && i.hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !host_ok {
        return bad(format!("hostname {:?}", i.hostname));
    }
    if let RootSpec::Dir(d) = &i.root {
        if !d.is_absolute() || !d.is_dir() {
            return bad(format!("root directory {} does not exist", d.display()));
        }
    }
    Ok(())
}

/// Takes `/run/<prefix>-substrate/lock`, or fails when another process holds it.
fn take_lock(names: &Names) -> Result<Flock<File>, SubstrateError> {
    let dir = names.run_dir();
    fs::create_dir_all(&dir).context(|| format!("create {}", dir.display()))?;
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .context(|| format!("open {}", path.display()))?;
    let mut lock =
        Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| SubstrateError::Busy {
            prefix: names.prefix().to_string(),
            lock: path.clone(),
        })?;
    let _ = lock.set_len(0);
    let _ = writeln!(&mut *lock, "{}", std::process::id());
    Ok(lock)
}

/// Refuses a public range that the host already routes (other than through a Fogbank edge
/// or a blackhole): our route would take those addresses from their real owner.
fn check_range_free(names: &Names, range: Cidr) -> Result<(), SubstrateError> {
    let r = range.to_string();
    let mut foreign = Vec::new();
    for args in [
        ["-o", "route", "show", "root", r.as_str()],
        ["-o", "route", "show", "match", r.as_str()],
    ] {
        let out = cmd::ip(None, &args)?;
        for line in out.lines() {
            let line = line.trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            let is_default = words.first() == Some(&"default");
            let blackhole = words.first() == Some(&"blackhole");
            let dev = words
                .iter()
                .position(|w| *w == "dev")
                .and_then(|i| words.get(i + 1))
                .copied()
                .unwrap_or("");
            let fogbank_edge =
                dev.starts_with("fb") && dev.ends_with("-edge") && dev != names.edge();
            // Covering routes (the default route, a route for the whole LAN) are fine: ours is
            // more specific. A route for exactly the range or inside it is not.
            let covering = words
                .first()
                .and_then(|p| p.parse::<Cidr>().ok())
                .is_some_and(|c| c.prefix_len() < range.prefix_len());
            if !(is_default || blackhole || fogbank_edge || covering) {
                foreign.push(line.to_string());
            }
        }
    }
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(SubstrateError::RangeInUse {
            range: r,
            routes: foreign.join("; "),
        })
    }
}

/// Removes everything under the prefix; the caller holds the prefix's lock.
fn sweep(names: &Names) -> Result<usize, SubstrateError> {
    crate::cleanup::sweep(names)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Substrate>();
}
