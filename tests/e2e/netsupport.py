"""Helpers for the network end-to-end tests (test_network.py): Fogbank on the
netns substrate, where instances are real hosts in network namespaces and VPCs
are router namespaces between them.

Ground rules these helpers keep:
- Every server gets its own kernel-name prefix (`fbe` + 3 hex digits) and its
  own small public range inside 198.19.0.0/16, so nothing here collides with a
  developer's Fogbank (prefix `fb`, range 198.18.0.0/15) or with the Rust
  substrate tests (prefix `fbt…`, 198.19.100.0 and up).
- Packets to private IPs are only ever sent from inside an instance's network
  namespace (`ip netns exec`). From the host, the only non-loopback addresses
  we talk to are public IPs inside the range we gave the server; `host_tcp` and
  `host_http` refuse anything else.
- Probes are small stdlib-only Python programs (`PROBE_SOURCE`) with short
  timeouts: connect 1 s, every poll loop bounded.
"""

import atexit
import ipaddress
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

from support import LIVE_SERVERS, fogbank_binary, unique, wait_for_state

# Poll loops never wait longer than this.
POLL_SECS = 10.0
# How long a security-group change may take to apply (the contract says ~1 s).
LIVE_RULE_SECS = 5.0
# Connect timeout of every probe.
CONNECT_SECS = 1.0

WEB_IMAGE_ID = "ami-0f0ba4c0de0000001"
INSTANCE_TYPE = "t3.micro"


# --- Can the substrate run here? ---------------------------------------------


def skip_reason():
    """Why the netns tests cannot run on this machine, or None."""
    reasons = []
    if os.geteuid() != 0:
        reasons.append("not root: real instances need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
    else:
        caps = 0
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("CapEff:"):
                        caps = int(line.split()[1], 16)
        except OSError:
            pass
        if not (caps >> 12 & 1 and caps >> 21 & 1):
            reasons.append("root without CAP_NET_ADMIN and CAP_SYS_ADMIN (a restricted container?)")
    for program, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(program) is None:
            reasons.append(f"`{program}` is missing (apt-get install -y {package})")
    if not os.path.exists("/proc/self/ns/net"):
        reasons.append("the kernel has no network namespaces")
    if not reasons:
        return None
    return "netns substrate unavailable: " + "; ".join(reasons)


# --- Names, prefixes and ranges ----------------------------------------------

_used_prefixes = {}  # prefix -> public range, for the atexit sweep
_range_counter = itertools.count()


def instance_netns(prefix, instance_id):
    return f"{prefix}i-{instance_id[-8:]}"


def vpc_netns(prefix, vpc_id):
    return f"{prefix}v-{vpc_id[-8:]}"


def edge_link(prefix):
    return f"{prefix}-edge"


def new_prefix():
    """`fbe` + 3 hex digits, not in use by any namespace, link or lock on this host."""
    for _ in range(50):
        prefix = "fbe" + secrets.token_hex(2)[:3]
        if prefix in _used_prefixes:
            continue
        if not names_with_prefix(prefix) and not os.path.exists(f"/run/{prefix}-substrate"):
            return prefix
    raise RuntimeError("no free fbe??? prefix found")


def new_public_range():
    """A /27 of its own for each server: 198.19.X.(32k)/27, X from the pid (0-99)."""
    x = os.getpid() % 100
    k = next(_range_counter) % 8
    return f"198.19.{x}.{32 * k}/27"


def remember(prefix, public_range):
    _used_prefixes[prefix] = public_range


# --- Looking at the host -----------------------------------------------------


def run(argv, timeout=20, check=False):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=check)


def netns_names():
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def host_links():
    """Names of the host's links (`eth0`, `fb-edge`; without `@peer`)."""
    out = run(["ip", "-o", "link", "show"]).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def names_with_prefix(prefix):
    """Namespaces and host links whose name starts with `prefix`."""
    return sorted({n for n in netns_names() + host_links() if n.startswith(prefix)})


def nft_tables_with(prefix):
    out = run(["nft", "list", "tables"]).stdout
    return [line for line in out.splitlines() if prefix in line]


def cgroups_with(prefix):
    found = []
    root = "/sys/fs/cgroup"
    for sub in [""] + sorted(os.listdir(root)) if os.path.isdir(root) else []:
        directory = os.path.join(root, sub)
        if not os.path.isdir(directory) or os.path.islink(directory):
            continue
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        found.extend(os.path.join(directory, e) for e in entries if e.startswith(prefix))
    return sorted(set(found))


def routes_for(prefix, public_range):
    """Host routes that go through our links or cover our public range."""
    out = run(["ip", "-o", "route", "show", "table", "all"]).stdout
    net = ipaddress.ip_network(public_range)
    hits = []
    for line in out.splitlines():
        words = line.split()
        if any(w.startswith(prefix) for w in words):
            hits.append(line)
            continue
        # `blackhole 198.19.7.0/27 metric 4000` has no device to tell whose it is.
        for w in words[:2]:
            try:
                if ipaddress.ip_network(w, strict=False) == net:
                    hits.append(line)
            except ValueError:
                pass
    return hits


def leftovers(prefix, public_range):
    """Everything of `prefix` still on the host: namespaces, links, nft tables,
    cgroups, routes of its range, its run directory. Empty after a clean stop."""
    left = [f"name {n}" for n in names_with_prefix(prefix)]
    left += [f"nft {t}" for t in nft_tables_with(prefix)]
    left += [f"cgroup {c}" for c in cgroups_with(prefix)]
    left += [f"route {r}" for r in routes_for(prefix, public_range)]
    if os.path.exists(f"/run/{prefix}-substrate"):
        left.append(f"dir /run/{prefix}-substrate")
    return left


def netns_pids(netns):
    out = run(["ip", "netns", "pids", netns]).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def process_identity(pid):
    """(pid, start time in ticks) while the process lives, else None (a zombie,
    dead but not yet reaped, counts as gone); tells a process from a later one
    that got the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X", "x"):
            return None
        return (pid, int(fields[19]))
    except (OSError, IndexError, ValueError):
        return None


def identities(pids):
    return {i for i in (process_identity(p) for p in pids) if i is not None}


def wait_gone(processes, timeout=5.0):
    """Waits until none of `processes` (from `identities`) lives any more."""
    still = set()

    def gone():
        still.clear()
        still.update(identities(p for p, _ in processes) & processes)
        return not still

    try:
        eventually(gone, timeout=timeout, interval=0.1)
    except AssertionError:
        alive = []
        for pid, _ in sorted(still):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
                alive.append(f"{pid}: {command[:120]}")
            except OSError:
                alive.append(str(pid))
        raise AssertionError(
            f"processes of the old instances still alive after {timeout} s: {alive}") from None


def eth0_of(netns):
    """(`10.0.1.5/24`, default gateway) as configured inside the namespace."""
    addr = run(["ip", "-n", netns, "-o", "-4", "addr", "show", "dev", "eth0"]).stdout.split()
    cidr = addr[addr.index("inet") + 1] if "inet" in addr else None
    route = run(["ip", "-n", netns, "route", "show", "default"]).stdout.split()
    gateway = route[route.index("via") + 1] if "via" in route else None
    return cidr, gateway


def host_route_dev(address):
    """The device the host would use for `address` (`ip route get`; sends nothing)."""
    result = run(["ip", "-o", "route", "get", address])
    words = result.stdout.split()
    if result.returncode != 0:
        return None  # unreachable, prohibited or blackhole: no device
    return words[words.index("dev") + 1] if "dev" in words else None


# --- Cleaning up after a broken run ------------------------------------------


def fogbank_cleanup(prefix):
    """`fogbank cleanup --substrate-prefix P`; returns the CompletedProcess."""
    return run([str(fogbank_binary()), "cleanup", "--substrate-prefix", prefix], timeout=60)


def force_cleanup(prefix, public_range):
    """Last resort when Fogbank's own cleanup did not work: remove what carries
    our unique prefix by hand, so a failing test does not leave the host dirty.
    Only touches names starting with `prefix` (ours alone) and the routes of our
    own public range."""
    for ns in netns_names():
        if ns.startswith(prefix):
            for pid in netns_pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    time.sleep(0.2)
    for ns in netns_names():
        if ns.startswith(prefix):
            run(["ip", "netns", "del", ns])
    for link in host_links():
        if link.startswith(prefix):
            run(["ip", "link", "del", link])
    for line in routes_for(prefix, public_range):
        run(["ip", "route", "del", *line.split()])
    for cg in cgroups_with(prefix):
        try:
            os.rmdir(cg)
        except OSError:
            pass
    shutil.rmtree(f"/run/{prefix}-substrate", ignore_errors=True)


@atexit.register
def _sweep_at_exit():
    """After an interrupt: kill our servers (support would, but only after this
    handler), then remove what they left under our prefixes."""
    for server in list(LIVE_SERVERS):
        server.kill()
    for prefix, public_range in list(_used_prefixes.items()):
        if leftovers(prefix, public_range):
            try:
                fogbank_cleanup(prefix)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
            if leftovers(prefix, public_range):
                force_cleanup(prefix, public_range)


# --- Probes: real packets ----------------------------------------------------

# Runs inside an instance's network namespace (`ip netns exec NS python -I -S -c
# PROBE_SOURCE op json-args`) and, exec'd, on the host for public IPs. Standard
# library only, raw sockets (no proxies, no resolver), one JSON line out.
PROBE_SOURCE = r'''
import errno, json, random, socket, struct, sys


def _error(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, OSError) and e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__ + ": " + str(e)


def tcp(host, port, timeout=1.0):
    """Connect and close. error: timeout (dropped), refused, EHOSTUNREACH..."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return {"ok": True}
    except Exception as e:
        return {"ok": False, "error": _error(e)}
    finally:
        s.close()


def http(host, port=80, path="/", method="GET", headers=None, body=None,
         timeout=1.0, read_timeout=3.0):
    """One HTTP/1.0 request; status, headers (lower-case names) and body text."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except Exception as e:
        s.close()
        return {"ok": False, "error": _error(e), "stage": "connect"}
    try:
        s.settimeout(read_timeout)
        data = (body or "").encode()
        lines = ["%s %s HTTP/1.0" % (method, path), "Host: %s" % host,
                 "Connection: close", "Content-Length: %d" % len(data)]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
    except Exception as e:
        return {"ok": False, "error": _error(e), "stage": "read"}
    finally:
        s.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(head_lines[0].split()[1])
    except (IndexError, ValueError):
        return {"ok": False, "error": "bad response", "raw": raw[:300].decode("latin-1")}
    hdrs = {}
    for line in head_lines[1:]:
        name, _, value = line.partition(":")
        hdrs[name.strip().lower()] = value.strip()
    return {"ok": True, "status": status, "headers": hdrs,
            "body": rest.decode("utf-8", "replace")}


def _skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def dns(server, name, qtype=1, timeout=1.0, tries=3):
    """One DNS query over UDP; rcode and the A records of the answer."""
    qid = random.randrange(65536)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        last = None
        for _ in range(tries):
            try:
                s.sendto(packet, (server, 53))
                while True:
                    msg, _peer = s.recvfrom(4096)
                    if len(msg) >= 12 and struct.unpack("!H", msg[:2])[0] == qid:
                        break
                break
            except Exception as e:
                last = e
        else:
            return {"ok": False, "error": _error(last)}
    finally:
        s.close()
    _id, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    i = 12
    for _ in range(qd):
        i = _skip_name(msg, i) + 4
    answers = []
    for _ in range(an):
        i = _skip_name(msg, i)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            answers.append(socket.inet_ntoa(msg[i:i + 4]))
        i += rdlen
    return {"ok": True, "rcode": flags & 0xF, "answers": answers}


if __name__ == "__main__":
    op, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"tcp": tcp, "http": http, "dns": dns}[op](**args)))
'''

_host_probes = {"__name__": "fogbank_probe"}
exec(compile(PROBE_SOURCE, "<fogbank probe>", "exec"), _host_probes)


class ProbeResult(dict):
    """A probe's answer: ok, and error / status / body / answers."""

    ok = property(lambda self: bool(self.get("ok")))
    error = property(lambda self: self.get("error"))
    status = property(lambda self: self.get("status"))
    body = property(lambda self: self.get("body", ""))
    answers = property(lambda self: self.get("answers", []))


def in_netns(netns, op, **kwargs):
    """Runs probe `op` (tcp, http, dns) inside network namespace `netns`."""
    budget = kwargs.get("timeout", CONNECT_SECS) + kwargs.get("read_timeout", 3.0) + 10
    argv = ["ip", "netns", "exec", netns, sys.executable, "-I", "-S", "-c", PROBE_SOURCE,
            op, json.dumps(kwargs)]
    try:
        done = run(argv, timeout=budget)
    except subprocess.TimeoutExpired:
        return ProbeResult(ok=False, error="probe process hung")
    if done.returncode != 0 or not done.stdout.strip():
        return ProbeResult(ok=False, error=f"probe failed in {netns} (exit {done.returncode}): "
                                           f"{done.stderr.strip()[-500:]}")
    return ProbeResult(json.loads(done.stdout.strip().splitlines()[-1]))


def _check_public(address, public_range):
    if ipaddress.ip_address(address) not in ipaddress.ip_network(public_range):
        raise AssertionError(
            f"refusing to send packets from the host to {address}: only addresses in "
            f"the server's public range {public_range} may be probed from the host")


def host_tcp(address, port, public_range, timeout=CONNECT_SECS):
    _check_public(address, public_range)
    return ProbeResult(_host_probes["tcp"](address, port, timeout=timeout))


def host_http(address, public_range, port=80, path="/", timeout=CONNECT_SECS, **kwargs):
    _check_public(address, public_range)
    return ProbeResult(_host_probes["http"](address, port, path, timeout=timeout, **kwargs))


def eventually(check, timeout=POLL_SECS, interval=0.2, what="condition"):
    """Calls `check` until it returns something truthy (returned), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true within {timeout} s (last: {last!r})")
        time.sleep(interval)


def answered(result):
    """An HTTP probe result that got a response, else None (for `eventually`)."""
    return result if result.ok else None


# --- One test's servers --------------------------------------------------------


class NetnsFogbank:
    """The netns-substrate servers of one test: all share one prefix; each start
    gets the same public range (so a restart on the same data dir uses the same
    flags). Use `start()`, `flags`, `leftovers()`."""

    def __init__(self, start_fogbank, scratch_dir=None):
        self._start_fogbank = start_fogbank
        # TMPDIR of the servers: an --ephemeral server keeps instance disks in a
        # temporary folder, which a kill -9 leaves behind; keep it in the test's.
        self.scratch_dir = scratch_dir
        self.prefix = new_prefix()
        self.public_range = new_public_range()
        remember(self.prefix, self.public_range)
        self.servers = []

    @property
    def flags(self):
        return ("--substrate", "netns", "--substrate-prefix", self.prefix,
                "--public-range", self.public_range)

    def start(self, data_dir=None):
        env = None
        if self.scratch_dir is not None:
            os.makedirs(self.scratch_dir, exist_ok=True)
            env = {"TMPDIR": str(self.scratch_dir)}
        server = self._start_fogbank(*self.flags, data_dir=data_dir, env=env)
        self.servers.append(server)
        health = server.health()
        assert health.get("substrate") == "netns", (
            f"asked for --substrate netns, health says {health}")
        return server

    def leftovers(self):
        return leftovers(self.prefix, self.public_range)

    def instance_ns(self, instance):
        return instance_netns(self.prefix, _id(instance, "InstanceId"))

    def vpc_ns(self, vpc):
        return vpc_netns(self.prefix, _id(vpc, "VpcId"))

    def stop_all(self):
        for server in self.servers:
            server.stop()

    def finish(self):
        """Stops every server (SIGTERM) and returns what was left behind (then
        removed, so the next test starts clean)."""
        self.stop_all()
        left = self.leftovers()
        if left:
            fogbank_cleanup(self.prefix)
            if self.leftovers():
                force_cleanup(self.prefix, self.public_range)
        return left


def _id(thing, key):
    return thing if isinstance(thing, str) else thing[key]


# --- Building VPCs and instances through the API --------------------------------


def web_image(ec2):
    """The built-in web image, found the way a user would."""
    images = ec2.describe_images(
        Owners=["fogbank"], Filters=[{"Name": "name", "Values": ["fogbank-web-*"]}])["Images"]
    assert images, "no fogbank-web-* image owned by the alias fogbank"
    newest = max(images, key=lambda i: i["CreationDate"])
    assert newest["ImageId"] == WEB_IMAGE_ID, newest
    return newest["ImageId"]


def al2023_image(ec2):
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-*"]}])["Images"]
    x86 = [i for i in images if i.get("Architecture") == "x86_64"]
    assert x86, images
    return max(x86, key=lambda i: i["CreationDate"])["ImageId"]


def make_vpc(ec2, cidr, subnets, public=False):
    """A VPC with subnets [(cidr, az), ...]. `public`: an attached internet
    gateway, a route table sending 0.0.0.0/0 to it for every subnet, and
    MapPublicIpOnLaunch on every subnet."""
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=c, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for c, az in subnets
    ]
    igw_id = rtb_id = None
    if public:
        igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        rtb_id = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rtb_id, DestinationCidrBlock="0.0.0.0/0",
                         GatewayId=igw_id)
        for subnet_id in subnet_ids:
            ec2.associate_route_table(RouteTableId=rtb_id, SubnetId=subnet_id)
            ec2.modify_subnet_attribute(SubnetId=subnet_id,
                                        MapPublicIpOnLaunch={"Value": True})
    return SimpleNamespace(id=vpc_id, cidr=cidr, subnets=subnet_ids, igw=igw_id, rtb=rtb_id)


def make_group(ec2, vpc_id, what):
    return ec2.create_security_group(GroupName=unique(what), Description=f"e2e {what}",
                                     VpcId=vpc_id)["GroupId"]


def permission(port, cidr=None, group=None, protocol="tcp"):
    perm = {"IpProtocol": protocol, "FromPort": port, "ToPort": port}
    if cidr:
        perm["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        perm["UserIdGroupPairs"] = [{"GroupId": group}]
    return [perm]


def allow(ec2, group_id, port, cidr=None, group=None):
    ec2.authorize_security_group_ingress(GroupId=group_id,
                                         IpPermissions=permission(port, cidr, group))


def disallow(ec2, group_id, port, cidr=None, group=None):
    ec2.revoke_security_group_ingress(GroupId=group_id,
                                      IpPermissions=permission(port, cidr, group))


def launch(ec2, image_id, subnet_id, groups, user_data=None, private_ip=None,
           metadata=None):
    """RunInstances of one instance; returns its description."""
    params = {"ImageId": image_id, "InstanceType": INSTANCE_TYPE, "MinCount": 1,
              "MaxCount": 1, "SubnetId": subnet_id, "SecurityGroupIds": list(groups)}
    if user_data is not None:
        params["UserData"] = user_data  # boto3 base64-encodes it
    if private_ip is not None:
        params["PrivateIpAddress"] = private_ip
    if metadata is not None:
        params["MetadataOptions"] = metadata
    [instance] = ec2.run_instances(**params)["Instances"]
    return instance


def wait_running(ec2, instances, timeout=POLL_SECS):
    """Waits until every instance is running; returns fresh descriptions in order."""
    ids = [_id(i, "InstanceId") for i in instances]
    found = {i["InstanceId"]: i for i in wait_for_state(ec2, ids, "running", timeout=timeout)}
    return [found[i] for i in ids]


def console(ec2, instance):
    """The instance's console output as text ('' when there is none yet)."""
    out = ec2.get_console_output(InstanceId=_id(instance, "InstanceId"))
    return out.get("Output") or ""


def wait_console(ec2, instance, needle, timeout=POLL_SECS):
    """Polls GetConsoleOutput until it contains `needle`; returns the text."""
    seen = [""]

    def check():
        seen[0] = console(ec2, instance)
        return seen[0] if needle in seen[0] else None

    try:
        return eventually(check, timeout=timeout, interval=0.3)
    except AssertionError:
        raise AssertionError(
            f"{needle!r} not in the console of {_id(instance, 'InstanceId')} within "
            f"{timeout} s; console:\n{seen[0][-3000:]}") from None


def dns_name(private_ip):
    """us-east-1's private DNS name of an address: ip-10-0-1-5.ec2.internal."""
    return f"ip-{private_ip.replace('.', '-')}.ec2.internal"
