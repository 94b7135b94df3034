//! The network and host substrate: EC2 instances as real, isolated Linux hosts on this
//! machine, VPCs as routers between them.
//!
//! It knows Linux (namespaces, veths, routes, nftables, overlayfs, cgroups) and nothing of
//! the store, the wire protocols or tokio. The EC2 controllers build plain specs from stored
//! state ([`VpcSpec`], [`InstanceSpec`], [`VpcFirewall`]) and call [`Substrate`]; every call
//! is synchronous and idempotent. Start reading at [`Substrate`], then `firewall.rs` and
//! `boot.rs`. Where it cannot run (not root, no `ip` or `nft`), [`detect`] says why and EC2
//! keeps records only.
//!
//! # Layout
//!
//! ```text
//!  host (root namespace)
//!   | <p>-edge 198.18.0.1/32; route 198.18.0.0/15 via 198.18.0.2 onlink;
//!   | blackhole 198.18.0.0/15 metric 4000
//!   |
//!   | veth
//!  edge namespace <p>-edge:  host0 198.18.0.2/32, 169.254.0.2/32 on lo, no default route;
//!   |                        one /32 route per mapped public IP; forwards range <-> range only
//!   | veth <p>v<vpc> -- edge0 (169.254.0.1/32), one per VPC
//!   |
//!  VPC router namespace <p>v-<vpc>:  subnet routers (base+1), DNS (base+2), 169.254.169.254
//!   |                                on lo; nft table `fbvpc` (SGs, NACLs, 1:1 NAT)
//!   | veth <p>i<inst> (/32 route, proxy ARP) -- eth0, one per instance
//!   |
//!  instance namespace <p>i-<inst>:  eth0 10.0.1.5/24, default via 10.0.1.1; plus its own
//!                                   mount/pid/uts/ipc namespaces and an overlay root
//! ```
//!
//! - **VPC**: one network namespace, the VPC's router. Every subnet's base+1, the DNS
//!   address (base+2) and 169.254.169.254 sit on its loopback as /32s; `ip_forward=1`,
//!   `proxy_arp=1`, strict `rp_filter` (an instance cannot spoof another's address). Each VPC
//!   CIDR has an `unreachable` route, so addresses without an instance answer at once. VPCs
//!   share nothing, so CIDRs may overlap.
//! - **Instance**: one network namespace with `eth0` (private IP, subnet prefix, `default via`
//!   the subnet router, the spec's MAC), plugged into the router by a veth whose router end
//!   has a /32 route. No bridge: same-subnet traffic is routed through the router too (proxy
//!   ARP answers for peers), so every packet meets the firewall, as in AWS's VPC.
//! - **Firewall** (`firewall.rs`): one `inet` table per VPC router, replaced as a whole by one
//!   `nft -f` transaction per [`Substrate::apply_firewall`]. Network ACLs (stateless, per
//!   subnet), then `ct state established,related accept`, then the source's egress and the
//!   destination's ingress security-group rules, keyed by veth name. Rules live in the router
//!   namespace: root inside an instance sees an empty ruleset and cannot turn them off.
//! - **Public IPs**: Fogbank owns a range (default 198.18.0.0/15, the benchmarking range that
//!   no real network routes). The host reaches it through one veth into an edge namespace and
//!   one host route (plus a blackhole route beneath it, metric 4000, so a packet for an
//!   address nobody holds is dropped on the host, never sent out). The edge holds one /32 route
//!   per mapped public IP towards the owning VPC's uplink; the VPC router does 1:1 NAT (DNAT on
//!   the way in, SNAT on the way out) for instances in subnets whose route table sends
//!   0.0.0.0/0 to an attached internet gateway. The edge forwards only between addresses of the
//!   range and has no default route, so no packet of an instance ever leaves the machine, and
//!   no VPC range is routed out. The host talks to public IPs from base+1 of the range.
//!   Private IPs are unreachable from the host: it has no route to them (its default route
//!   goes to its own network, never into a namespace).
//! - **Boot** (`boot.rs`, `init.rs`): the instance's processes run in its network namespace
//!   and fresh mount/pid/uts/ipc namespaces, on an overlayfs root (lower: the host's `/` or
//!   a given directory; upper and work dirs under the data dir, so the disk survives stop and
//!   restarts), with their own `/proc`, read-only `/sys`, a minimal `/dev`, tmpfs `/tmp` and
//!   `/run`, after `pivot_root`. Dangerous capabilities are dropped from the bounding set.
//!   PID 1 is a small `sh` init: it starts the role (`web`: an HTTP server on port 80
//!   answering the instance id and AZ; the command is configurable), runs per-boot scripts,
//!   runs `#!` user data once (a marker in the instance's own disk remembers), and reaps
//!   orphans. Output goes to a console log under the data dir. Cgroups (v1 memory/cpu/pids, or
//!   v2) limit each instance, best effort.
//! - **Metadata and DNS**: [`Substrate::listen_tcp_in_vpc`] and [`Substrate::bind_udp_in_vpc`]
//!   open sockets inside a router namespace (on a thread that `setns`es there), so a server
//!   running in the Fogbank process sees the instances' private IPs as peers.
//!
//! # Lifecycle and restarts
//!
//! Stop kills the process tree and keeps namespace, addresses and disk; start boots again.
//! Terminate removes everything of the instance. Kernel objects are found by name (see
//! `names.rs`), never by memory: after `kill -9` of Fogbank, [`Substrate::cleanup_leftovers`]
//! (or [`Substrate::new`], which sweeps its own prefix) kills leftover instance processes and
//! removes every namespace, link, host route and cgroup of the prefix; `ensure_*` from
//! stored state then rebuilds everything with the same addresses and reboots every instance on
//! its kept disk, so user data does not run twice. Instances are rebooted, not adopted: that
//! keeps one code path and needs no persisted runtime state. A lock file in
//! `/run/<prefix>-substrate/` keeps two processes (or a cleanup) off one prefix.
//!
//! # Using it
//!
//! `detect()`; `Substrate::new` once (it sweeps leftovers of its own prefix first;
//! `cleanup_leftovers` is for `fogbank cleanup` without a server); then per VPC `ensure_vpc`, per instance `ensure_instance`, and after
//! any change to instances, security groups, network ACLs, route tables or addresses of a VPC
//! one `apply_firewall` with the whole VPC's rules. Until then a new instance is reachable by
//! nobody (everything forwarded is dropped by default). `shutdown` on clean exit.
//! Public IPs must come from `first_public_ip()` up to the end of the range: the network
//! address, base+1 (the host's) and base+2 (the edge's) are the substrate's. The host reaches
//! public IPs from base+1, and public instances reach the host there too (like any address
//! on the internet); nothing else outside the machine is reachable.
//!
//! Where this differs from the issue's sketch: `InstanceSpec` has no `public_ip`. A public
//! IP is a NAT rule of the VPC ([`VpcFirewall::nat`]), so associating or releasing one never
//! touches the instance, as in AWS, where the instance never sees its public IP either.
//! Cgroups are named like the instance's namespace (`<p>i-<8hex>`).
//!
//! # Speed
//!
//! Measured on the 2-core development machine (debug build, `tests/substrate.rs`
//! `boot_speed`, web role = `python3 -m http.server`): one instance is plumbed and booted in
//! 20-40 ms and answers HTTP after ~0.15 s; 20 instances answer after ~1.1 s; 100 after
//! 5-8 s depending on other load; removing 100 takes 1-4 s. Per instance: 3 `ip -batch`
//! processes (started inside the target namespace, no `ip netns exec`), one sysctl write from
//! a thread inside the namespace, one fork for the boot; per firewall change one `nft -f`.
//!
//! # What it does not do
//!
//! IPv6 (disabled in every namespace of ours), elastic network interfaces beyond eth0,
//! VPC peering, NAT gateways, flow logs; cloud-init's `#cloud-config`, MIME multipart or
//! gzipped user data (only `#!` scripts run). Instances are isolated for networking and file
//! system semantics; they are not a security boundary against a hostile root (they share the
//! host kernel).

/// Booting an instance's process tree in its namespaces.
mod boot;
/// Per-instance cgroups.
mod cgroup;
/// Finding and removing everything under a prefix.
mod cleanup;
/// Running `ip` and `nft`, entering namespaces.
mod cmd;
/// The substrate's error type.
mod error;
/// Security groups, network ACLs and NAT as one nftables table.
mod firewall;
/// The instance's init script and the files it reads.
mod init;
/// Kernel names and their inverse.
mod names;
/// Processes by network namespace.
mod process;
/// The specs callers build.
mod spec;
/// The `Substrate` API.
mod substrate;

pub use cmd::in_netns;
pub use error::SubstrateError;
pub use init::default_web_command;
pub use spec::{
    AclEntry, Cidr, CidrError, InstanceFirewall, InstanceSpec, Limits, NatMapping, Peer, Proto,
    RootSpec, Rule, SubnetAcl, SubnetSpec, VpcFirewall, VpcSpec,
};
pub use substrate::{InstanceRuntime, Substrate, SubstrateConfig, METADATA_ADDR};

/// Whether this process can build real hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Namespaces, veths and nftables are available.
    Netns,
    /// Only records can be kept; `reason` says what is missing and how to get it.
    RecordsOnly { reason: String },
}

/// Checks for root-level capabilities (`CAP_NET_ADMIN` and `CAP_SYS_ADMIN` in `CapEff`), the
/// `ip` and `nft` programs and network namespace support.
pub fn detect() -> Mode {
    let caps = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    let (net_admin, sys_admin) = (caps & (1 << 12) != 0, caps & (1 << 21) != 0);
    let mut missing = Vec::new();
    if !(net_admin && sys_admin) {
        missing.push(
            "root (CAP_NET_ADMIN and CAP_SYS_ADMIN) is needed: run Fogbank as root".to_string(),
        );
    }
    if cmd::find_program("ip").is_none() {
        missing.push("the `ip` program is missing: apt-get install -y iproute2".to_string());
    }
    if cmd::find_program("nft").is_none() {
        missing.push("the `nft` program is missing: apt-get install -y nftables".to_string());
    }
    if !std::path::Path::new("/proc/self/ns/net").exists() {
        missing.push("the kernel has no network namespaces".to_string());
    }
    if missing.is_empty() {
        Mode::Netns
    } else {
        Mode::RecordsOnly {
            reason: missing.join("; "),
        }
    }
}
