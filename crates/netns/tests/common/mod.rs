//! Shared by the root-gated substrate tests: a guard that removes everything a test made,
//! even when it fails, and probes that connect from inside namespaces.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fogbank_netns::*;

/// The reason the tests cannot run here, if any.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    match detect() {
        Mode::Netns => None,
        Mode::RecordsOnly { reason } => Some(reason),
    }
}

/// Prints why a test is skipped and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match skip_reason() {
        Some(reason) => {
            // Straight to fd 2: the test harness captures eprintln! of passing tests.
            let _ = writeln!(
                io::stderr(),
                "SKIPPED {test}: the substrate needs root, `ip` and `nft` ({reason})"
            );
            true
        }
        None => false,
    }
}

/// A prefix unique to this process and test: `fbt` + 2 base-36 digits of the pid + a letter.
pub fn test_prefix(letter: char) -> String {
    let pid = std::process::id() % (36 * 36);
    let digit = |n: u32| char::from_digit(n, 36).unwrap_or('0');
    format!("fbt{}{}{letter}", digit(pid / 36), digit(pid % 36))
}

/// A public range for one test: a /27 in 198.19.X.0/24, X chosen by pid, slot by test.
pub fn test_range(slot: u8) -> Cidr {
    let x = 100 + (std::process::id() % 150) as u8;
    Cidr::new(Ipv4Addr::new(198, 19, x, slot * 32), 27).unwrap()
}

/// Owns a substrate and removes everything under its prefix when dropped.
pub struct Guard {
    pub sub: Option<Substrate>,
    pub prefix: String,
    pub config: SubstrateConfig,
}

impl Guard {
    pub fn new(letter: char, slot: u8) -> Guard {
        let prefix = test_prefix(letter);
        let data = std::env::temp_dir().join(format!("{prefix}-data"));
        let _ = std::fs::remove_dir_all(&data);
        let mut config = SubstrateConfig::new(data);
        config.prefix = prefix.clone();
        config.public_range = test_range(slot);
        let sub = Substrate::new(config.clone()).expect("substrate");
        Guard {
            sub: Some(sub),
            prefix,
            config,
        }
    }

    pub fn sub(&self) -> &Substrate {
        self.sub.as_ref().expect("substrate")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(sub) = self.sub.take() {
            sub.shutdown();
        }
        if let Err(e) = Substrate::cleanup_leftovers(&self.prefix) {
            eprintln!("cleanup of {}: {e}", self.prefix);
        }
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
    }
}

/// Whatever under `prefix` is still visible on the host: namespaces, links, routes, nft
/// tables, cgroups. Empty after a clean test.
pub fn leftovers(prefix: &str, range: Cidr) -> Vec<String> {
    let run = |args: &[&str]| -> String {
        Command::new("ip")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut left = Vec::new();
    for line in run(&["netns", "list"])
        .lines()
        .chain(run(&["-o", "link"]).lines())
    {
        if line
            .split_whitespace()
            .any(|w| w.trim_end_matches(':').starts_with(prefix))
        {
            left.push(line.to_string());
        }
    }
    let range = range.to_string();
    for line in run(&["route", "show", "table", "all"]).lines() {
        if line.contains(prefix) || line.contains(&range) {
            left.push(line.to_string());
        }
    }
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    for line in tables.unwrap_or_default().lines() {
        if line.contains(prefix) {
            left.push(line.to_string());
        }
    }
    for controller in ["memory", "cpu", "pids", ""] {
        if let Ok(entries) = std::fs::read_dir(PathBuf::from("/sys/fs/cgroup").join(controller)) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(prefix) {
                    left.push(e.path().display().to_string());
                }
            }
        }
    }
    if std::path::Path::new(&format!("/run/{prefix}-substrate")).exists() {
        left.push(format!("/run/{prefix}-substrate"));
    }
    left
}

const CONNECT: Duration = Duration::from_millis(700);

fn get(addr: SocketAddrV4) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.into(), CONNECT)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// An HTTP GET from inside a network namespace (`None`: from the host).
pub fn http_get(netns: Option<&str>, addr: SocketAddrV4) -> io::Result<String> {
    match netns {
        None => get(addr),
        Some(ns) => in_netns(ns, move || get(addr)).map_err(|e| io::Error::other(e.to_string()))?,
    }
}

/// A TCP connect (then close) from inside a namespace; the error tells refused from dropped.
pub fn connect(netns: Option<&str>, addr: SocketAddrV4) -> io::Result<()> {
    let attempt = move || TcpStream::connect_timeout(&addr.into(), CONNECT).map(drop);
    match netns {
        None => attempt(),
        Some(ns) => in_netns(ns, attempt).map_err(|e| io::Error::other(e.to_string()))?,
    }
}

/// Polls `f` until it is true or `timeout` passes; returns whether it became true.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A tiny TCP server on a socket opened inside a namespace: answers `reply` and closes.
pub struct TestServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(netns: &str, port: u16, reply: &str) -> TestServer {
        let listener = in_netns(netns, move || TcpListener::bind(("0.0.0.0", port)))
            .unwrap()
            .unwrap();
        Self::serve(listener, reply)
    }

    pub fn serve(listener: TcpListener, reply: &str) -> TestServer {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, reply) = (stop.clone(), reply.to_string());
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        // Read the request first: closing with unread data would reset.
                        let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(reply.as_bytes());
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TestServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

pub fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn tcp_in(port: i32, peer: Peer) -> Rule {
    Rule {
        protocol: Proto::Tcp,
        from_port: port,
        to_port: port,
        peer,
    }
}

pub fn all_out() -> Rule {
    Rule {
        protocol: Proto::All,
        from_port: -1,
        to_port: -1,
        peer: Peer::Cidr(cidr("0.0.0.0/0")),
    }
}

/// A VPC with the given subnets (`(id, cidr, public)`), DNS at base+2.
pub fn vpc(id: &str, cidr_s: &str, subnets: &[(&str, &str, bool)]) -> VpcSpec {
    let c = cidr(cidr_s);
    VpcSpec {
        vpc_id: id.into(),
        cidrs: vec![c],
        subnets: subnets
            .iter()
            .map(|(sid, sc, public)| {
                let sc = cidr(sc);
                SubnetSpec {
                    subnet_id: sid.to_string(),
                    cidr: sc,
                    router_ip: sc.nth(1).unwrap(),
                    public: *public,
                }
            })
            .collect(),
        dns_ip: c.nth(2).unwrap(),
    }
}

/// An instance in `subnet` of `vpc` at `addr`.
pub fn instance(id: &str, vpc: &VpcSpec, subnet: &str, addr: &str, n: u8) -> InstanceSpec {
    let s = vpc.subnets.iter().find(|s| s.subnet_id == subnet).unwrap();
    let private_ip = ip(addr);
    InstanceSpec {
        instance_id: id.into(),
        vpc_id: vpc.vpc_id.clone(),
        subnet_id: subnet.into(),
        private_ip,
        prefix_len: s.cidr.prefix_len(),
        gateway: s.router_ip,
        mac: format!("0a:fb:00:00:00:{n:02x}"),
        hostname: format!("ip-{}", addr.replace('.', "-")),
        root: RootSpec::Host,
        role: None,
        user_data: None,
        availability_zone: "us-east-1a".into(),
        limits: Limits {
            vcpus: Some(1),
            memory_mib: Some(512),
        },
    }
}
