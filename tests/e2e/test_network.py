"""Real instances in real VPCs: Fogbank on the netns substrate, checked with
real packets.

Every test starts its own server with `--substrate netns`, a prefix of its own
(`fbe` + 3 hex digits) and a public range of its own inside 198.19.0.0/16, so
it never meets a developer's Fogbank. Packets to private IPs are sent only from
inside instances (`ip netns exec <P>i-<8hex> python3 …`); from the host we only
talk to public IPs of our own range. After each test the servers get SIGTERM
and nothing of the prefix may be left on the host (namespaces, links, nft
tables, cgroups, routes); whatever is left is reported and then removed.

Needs root, `ip` and `nft`; skipped otherwise, saying why.
"""

import ipaddress
import os
import signal

import pytest
from botocore.exceptions import ClientError

from netsupport import (
    LIVE_RULE_SECS,
    NetnsFogbank,
    al2023_image,
    allow,
    answered,
    console,
    disallow,
    dns_name,
    edge_link,
    eth0_of,
    eventually,
    fogbank_cleanup,
    host_http,
    host_links,
    host_route_dev,
    host_tcp,
    identities,
    in_netns,
    launch,
    make_group,
    make_vpc,
    names_with_prefix,
    netns_names,
    netns_pids,
    run,
    skip_reason,
    wait_console,
    wait_gone,
    wait_running,
    web_image,
)
from support import describe_instances, error_code, unique, wait_for_state

SKIP_REASON = skip_reason()
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

# User data that opens a second port on the instance, and says so on the console.
USER_DATA_8080 = (
    "#!/bin/sh\n"
    "python3 -m http.server 8080 --bind 0.0.0.0 --directory / &\n"
    "echo hello-from-userdata\n"
)
METADATA = "169.254.169.254"


@pytest.fixture
def net(start_fogbank, tmp_path):
    """This test's netns servers (see netsupport.NetnsFogbank). After the test:
    SIGTERM to each, then nothing of the prefix may be left on the host."""
    servers = NetnsFogbank(start_fogbank, scratch_dir=tmp_path / "tmp")
    yield servers
    left = servers.finish()
    assert not left, (
        f"left on the host after SIGTERM of every server of prefix {servers.prefix} "
        f"(removed now by `fogbank cleanup` or by hand): {left}"
    )


def http_from(netns, address, port=80, **kwargs):
    return in_netns(netns, "http", host=address, port=port, **kwargs)


def tcp_from(netns, address, port):
    return in_netns(netns, "tcp", host=address, port=port)


def page_from(netns, address, port=80, timeout=10.0, what=None):
    """Polls until an HTTP GET from inside `netns` is answered; returns the answer."""
    return eventually(lambda: answered(http_from(netns, address, port)), timeout=timeout,
                      what=what or f"HTTP answer from {address}:{port} inside {netns}")


def public_page(address, public_range, timeout=10.0):
    return eventually(lambda: answered(host_http(address, public_range)), timeout=timeout,
                      what=f"HTTP answer from public IP {address} on the host")


# 1. Security groups decide who reaches whom, and changes apply live.


def test_security_groups_decide_who_reaches_whom(net):
    ec2 = net.start().client("ec2")
    web, al2023 = web_image(ec2), al2023_image(ec2)
    vpc = make_vpc(ec2, "10.0.0.0/16",
                   [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")])
    web_sg = make_group(ec2, vpc.id, "web")
    client_sg = make_group(ec2, vpc.id, "client")
    other_sg = make_group(ec2, vpc.id, "other")
    allow(ec2, web_sg, 80, group=client_sg)

    a = launch(ec2, web, vpc.subnets[0], [web_sg], user_data=USER_DATA_8080)
    b = launch(ec2, al2023, vpc.subnets[1], [client_sg])
    c = launch(ec2, al2023, vpc.subnets[0], [other_sg])  # same subnet as A
    a, b, c = wait_running(ec2, [a, b, c])

    # Each instance is a namespace whose eth0 has the address the API reports.
    for instance, gateway in ((a, "10.0.1.1"), (b, "10.0.2.1"), (c, "10.0.1.1")):
        assert eth0_of(net.instance_ns(instance)) == (
            f"{instance['PrivateIpAddress']}/24", gateway), instance["InstanceId"]
    a_ip = a["PrivateIpAddress"]
    ns_b, ns_c = net.instance_ns(b), net.instance_ns(c)

    # B's group is allowed on 80: the answer comes back although B's own group
    # has no inbound rule (stateful).
    page = page_from(ns_b, a_ip, what="A's web page from B")
    assert page.status == 200, page
    assert a["InstanceId"] in page.body and "us-east-1a" in page.body, page.body
    # C's group is not: dropped, even inside A's own subnet.
    assert tcp_from(ns_c, a_ip, 80).error == "timeout"

    # 8080 listens (user data) but no rule opens it.
    wait_console(ec2, a, "hello-from-userdata")
    assert not tcp_from(ns_b, a_ip, 8080).ok

    # Opened to B's group: works within seconds, for B only.
    allow(ec2, web_sg, 8080, group=client_sg)
    listing = page_from(ns_b, a_ip, 8080, timeout=LIVE_RULE_SECS,
                        what="8080 from B after authorizing it")
    assert listing.status == 200, listing
    assert not tcp_from(ns_c, a_ip, 8080).ok

    # Revoked: new connections stop; port 80 is untouched.
    disallow(ec2, web_sg, 8080, group=client_sg)
    eventually(lambda: not tcp_from(ns_b, a_ip, 8080).ok, timeout=LIVE_RULE_SECS,
               what="8080 closed to B after revoking it")
    assert http_from(ns_b, a_ip, 80).ok


# 2. Two VPCs with the same CIDR are separate networks.


def test_overlapping_vpcs_are_isolated(net):
    ec2 = net.start().client("ec2")
    web, al2023 = web_image(ec2), al2023_image(ec2)
    vpc1, vpc2 = (make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")])
                  for _ in range(2))
    sg1, sg2 = make_group(ec2, vpc1.id, "web"), make_group(ec2, vpc2.id, "web")
    for sg in (sg1, sg2):
        allow(ec2, sg, 80, cidr="10.0.0.0/16")

    a = launch(ec2, web, vpc1.subnets[0], [sg1], private_ip="10.0.1.10")
    b = launch(ec2, al2023, vpc1.subnets[0], [sg1], private_ip="10.0.1.20")
    d = launch(ec2, web, vpc2.subnets[0], [sg2], private_ip="10.0.1.10")
    e = launch(ec2, al2023, vpc2.subnets[0], [sg2], private_ip="10.0.1.30")
    a, b, d, e = wait_running(ec2, [a, b, d, e])

    assert a["PrivateIpAddress"] == d["PrivateIpAddress"] == "10.0.1.10"
    assert eth0_of(net.instance_ns(a))[0] == eth0_of(net.instance_ns(d))[0] == "10.0.1.10/24"
    names = netns_names()
    assert net.vpc_ns(vpc1.id) in names and net.vpc_ns(vpc2.id) in names

    # Each client reaches the 10.0.1.10 of its own VPC.
    from_b = page_from(net.instance_ns(b), "10.0.1.10", what="10.0.1.10 from VPC 1")
    assert a["InstanceId"] in from_b.body and d["InstanceId"] not in from_b.body
    ns_e = net.instance_ns(e)
    from_e = page_from(ns_e, "10.0.1.10", what="10.0.1.10 from VPC 2")
    assert d["InstanceId"] in from_e.body and a["InstanceId"] not in from_e.body

    # VPC 2 has nothing at 10.0.1.20 (B's address in VPC 1).
    assert not tcp_from(ns_e, "10.0.1.20", 80).ok

    # With D gone, 10.0.1.10 seen from VPC 2 is nothing, never A.
    ec2.terminate_instances(InstanceIds=[d["InstanceId"]])
    wait_for_state(ec2, [d["InstanceId"]], "terminated")
    eventually(lambda: net.instance_ns(d) not in netns_names(),
               what="terminated instance's namespace removed")
    after = http_from(ns_e, "10.0.1.10")
    assert not after.ok or a["InstanceId"] not in after.body, after
    assert http_from(net.instance_ns(b), "10.0.1.10").ok  # A itself is fine


# 3. Instance metadata from inside an instance.


def imds(netns, path, token=None, method="GET", headers=None):
    all_headers = dict(headers or {})
    if token:
        all_headers["X-aws-ec2-metadata-token"] = token
    return http_from(netns, METADATA, 80, path=path, method=method, headers=all_headers)


def imds_token(netns):
    def attempt():
        answer = imds(netns, "/latest/api/token", method="PUT",
                      headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        return answer if answer.ok and answer.status == 200 and answer.body.strip() else None
    return eventually(attempt, what=f"an IMDSv2 token inside {netns}").body.strip()


def test_imds_v2_from_inside_an_instance(net):
    ec2 = net.start().client("ec2")
    al2023 = al2023_image(ec2)
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1b")])
    sg = make_group(ec2, vpc.id, "imds")
    user_data = "#!/bin/sh\necho imds-user-data\n"
    x = launch(ec2, al2023, vpc.subnets[0], [sg], user_data=user_data,
               metadata={"HttpTokens": "optional", "HttpEndpoint": "enabled"})
    y = launch(ec2, al2023, vpc.subnets[0], [sg],
               metadata={"HttpTokens": "required", "HttpEndpoint": "enabled"})
    x, y = wait_running(ec2, [x, y])

    ns_x = net.instance_ns(x)
    token = imds_token(ns_x)
    expected = {
        "/latest/meta-data/instance-id": x["InstanceId"],
        "/latest/meta-data/local-ipv4": x["PrivateIpAddress"],
        "/latest/meta-data/placement/availability-zone": "us-east-1b",
        "/latest/user-data": user_data,
    }
    for path, value in expected.items():
        answer = imds(ns_x, path, token)
        assert (answer.status, answer.body) == (200, value), (path, answer)


def test_imds_tokens_required_and_optional(net):
    ec2 = net.start().client("ec2")
    al2023 = al2023_image(ec2)
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")])
    sg = make_group(ec2, vpc.id, "imds")
    optional = launch(ec2, al2023, vpc.subnets[0], [sg],
                      metadata={"HttpTokens": "optional", "HttpEndpoint": "enabled"})
    required = launch(ec2, al2023, vpc.subnets[0], [sg],
                      metadata={"HttpTokens": "required", "HttpEndpoint": "enabled"})
    optional, required = wait_running(ec2, [optional, required])
    path = "/latest/meta-data/instance-id"

    ns_required = net.instance_ns(required)
    token = imds_token(ns_required)
    assert imds(ns_required, path).status == 401
    assert imds(ns_required, path, token="not-a-token").status == 401
    answer = imds(ns_required, path, token)
    assert (answer.status, answer.body) == (200, required["InstanceId"]), answer

    # IMDSv1 (no token) still answers where tokens are optional; each instance
    # is told its own identity.
    answer = eventually(lambda: answered(imds(net.instance_ns(optional), path)),
                        what="IMDSv1 answer")
    assert (answer.status, answer.body) == (200, optional["InstanceId"]), answer


# 4. User data runs once; stop/start keeps the address and the disk.


def test_user_data_runs_once_across_stop_and_start(net):
    ec2 = net.start().client("ec2")
    al2023 = al2023_image(ec2)
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")])
    sg = make_group(ec2, vpc.id, "ud")
    marker = unique("ud").replace("-", "")
    count_file = f"/var/tmp/{marker}"
    per_boot = f"/var/lib/cloud/scripts/per-boot/{marker}"
    user_data = (
        "#!/bin/sh\n"
        f"echo run >> {count_file}\n"
        f'echo "hello-from-userdata runs=$(wc -l < {count_file})"\n'
        # A per-boot script (cloud-init's convention) makes the second boot visible.
        "mkdir -p /var/lib/cloud/scripts/per-boot\n"
        f"cat > {per_boot} <<'EOF'\n"
        "#!/bin/sh\n"
        f'echo "per-boot-{marker} runs=$(wc -l < {count_file})"\n'
        "EOF\n"
        f"chmod 755 {per_boot}\n"
    )
    [instance] = wait_running(ec2, [launch(ec2, al2023, vpc.subnets[0], [sg],
                                           user_data=user_data)])
    instance_id, ip = instance["InstanceId"], instance["PrivateIpAddress"]

    wait_console(ec2, instance, "hello-from-userdata runs=1")
    assert not os.path.exists(count_file), "a file written inside the instance is on the host"

    ec2.stop_instances(InstanceIds=[instance_id])
    [stopped] = wait_for_state(ec2, [instance_id], "stopped")
    assert stopped["PrivateIpAddress"] == ip
    ec2.start_instances(InstanceIds=[instance_id])
    [started] = wait_running(ec2, [instance_id])
    assert started["PrivateIpAddress"] == ip
    assert eth0_of(net.instance_ns(instance))[0] == f"{ip}/24"

    # Second boot: the disk kept the file and the per-boot script; the user data did not run.
    text = wait_console(ec2, instance, f"per-boot-{marker} runs=1")
    assert text.count("hello-from-userdata") == 1, text[-3000:]


# 5. Public IPs: reachable from the host, on open ports only.


def check_public_address(net, instance):
    public = instance.get("PublicIpAddress")
    assert public, f"no public IP: {instance}"
    network = ipaddress.ip_network(net.public_range)
    assert ipaddress.ip_address(public) in network, (public, net.public_range)
    assert public not in (str(network[0]), str(network[1])), public
    # The host reaches the range through <P>-edge, from base+1; it has no route
    # into a VPC (checked with `ip route get`, which sends nothing).
    assert host_route_dev(public) == edge_link(net.prefix)
    addrs = run(["ip", "-o", "-4", "addr", "show", "dev", edge_link(net.prefix)]).stdout
    assert f"{network[1]}/" in addrs, addrs
    private_dev = host_route_dev(instance["PrivateIpAddress"])
    assert private_dev is None or not private_dev.startswith(net.prefix), private_dev
    return public


def test_public_ip_reachable_from_the_host_on_open_ports_only(net):
    ec2 = net.start().client("ec2")
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")], public=True)
    sg = make_group(ec2, vpc.id, "public-web")
    allow(ec2, sg, 80, cidr="0.0.0.0/0")
    [a] = wait_running(ec2, [launch(ec2, web_image(ec2), vpc.subnets[0], [sg],
                                    user_data=USER_DATA_8080)])
    public = check_public_address(net, a)

    page = public_page(public, net.public_range)
    assert page.status == 200
    assert a["InstanceId"] in page.body and "us-east-1a" in page.body, page.body

    wait_console(ec2, a, "hello-from-userdata")  # 8080 listens, but is not open
    assert not host_tcp(public, 8080, net.public_range).ok
    assert not host_tcp(public, 22, net.public_range).ok


def test_default_vpc_instances_are_public(net):
    ec2 = net.start().client("ec2")
    [default_vpc] = ec2.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [subnet] = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [default_vpc["VpcId"]]},
        {"Name": "default-for-az", "Values": ["true"]},
        {"Name": "availability-zone", "Values": ["us-east-1c"]}])["Subnets"]
    assert subnet["MapPublicIpOnLaunch"] is True
    sg = make_group(ec2, default_vpc["VpcId"], "default-web")
    allow(ec2, sg, 80, cidr="0.0.0.0/0")
    [a] = wait_running(ec2, [launch(ec2, web_image(ec2), subnet["SubnetId"], [sg])])
    public = check_public_address(net, a)

    page = public_page(public, net.public_range)
    assert a["InstanceId"] in page.body and "us-east-1c" in page.body, page.body


def test_elastic_ip_moves_between_instances_live(net):
    ec2 = net.start().client("ec2")
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")], public=True)
    sg = make_group(ec2, vpc.id, "eip-web")
    allow(ec2, sg, 80, cidr="0.0.0.0/0")
    a, b = wait_running(ec2, [launch(ec2, web_image(ec2), vpc.subnets[0], [sg]),
                              launch(ec2, web_image(ec2), vpc.subnets[0], [sg])])
    address = ec2.allocate_address(Domain="vpc")
    eip = address["PublicIp"]
    assert ipaddress.ip_address(eip) in ipaddress.ip_network(net.public_range), eip

    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=a["InstanceId"])
    page = public_page(eip, net.public_range)
    assert a["InstanceId"] in page.body, page.body

    # Moving the address re-points the NAT: the same IP now answers with B.
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=b["InstanceId"],
                          AllowReassociation=True)
    eventually(lambda: b["InstanceId"] in (host_http(eip, net.public_range).body or ""),
               timeout=LIVE_RULE_SECS, what="the elastic IP answering from B")

    association = ec2.describe_addresses(AllocationIds=[address["AllocationId"]])["Addresses"][0]
    ec2.disassociate_address(AssociationId=association["AssociationId"])
    ec2.release_address(AllocationId=address["AllocationId"])
    eventually(lambda: not host_tcp(eip, 80, net.public_range).ok, timeout=LIVE_RULE_SECS,
               what="the released elastic IP going quiet")


def minimal_root(path):
    """A root file system holding only what the instance's init and a script need: the
    shell, a few core tools and their shared libraries (found with ldd), and a marker file
    that the host does not have."""
    import re
    import shutil
    tools = ["sh", "sleep", "mkdir", "cp", "chmod", "cat"]
    for tool in tools:
        src = shutil.which(tool)
        assert src, f"{tool} not found on the host"
        real = os.path.realpath(src)
        for dest in (path / "bin" / tool,):
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(real, dest)
        libs = run(["ldd", real]).stdout
        for lib in re.findall(r"(/[^\s]+\.so[^\s]*)", libs):
            dest = path / lib.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                shutil.copy2(os.path.realpath(lib), dest)
    (path / "etc").mkdir(exist_ok=True)
    (path / "etc" / "fb-custom-root").write_text("booted-from-a-custom-root\n")
    return path


def test_registered_root_directory_boots_as_an_image(net, tmp_path):
    assert not os.path.exists("/etc/fb-custom-root")
    root = minimal_root(tmp_path / "rootfs")
    ec2 = net.start().client("ec2")
    image = ec2.register_image(Name="fb-minimal-root", ImageLocation=str(root),
                               Architecture="x86_64", RootDeviceName="/dev/xvda")["ImageId"]
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")])
    sg = make_group(ec2, vpc.id, "custom-root")
    [a] = wait_running(ec2, [launch(ec2, image, vpc.subnets[0], [sg], user_data=(
        "#!/bin/sh\ncat /etc/fb-custom-root\n"))])
    wait_console(ec2, a, "booted-from-a-custom-root")
    # The root is copy-on-write: the directory itself is untouched by the boot.
    assert not (root / "var" / "lib" / "cloud").exists()

    # A location that is no root file system is refused at registration.
    with pytest.raises(ClientError) as info:
        ec2.register_image(Name="fb-not-a-root", ImageLocation=str(tmp_path))
    assert error_code(info.value) == "InvalidParameterValue"


# 6. After kill -9: a restart brings everything back; `fogbank cleanup` clears it.


def build_public_web_and_client(ec2):
    """A public VPC with web instance A (80 open to the world) and client B."""
    vpc = make_vpc(ec2, "10.0.0.0/16", [("10.0.1.0/24", "us-east-1a")], public=True)
    web_sg = make_group(ec2, vpc.id, "web")
    client_sg = make_group(ec2, vpc.id, "client")
    allow(ec2, web_sg, 80, cidr="0.0.0.0/0")
    a = launch(ec2, web_image(ec2), vpc.subnets[0], [web_sg],
               user_data="#!/bin/sh\necho hello-from-userdata\n")
    b = launch(ec2, al2023_image(ec2), vpc.subnets[0], [client_sg])
    a, b = wait_running(ec2, [a, b])
    return vpc, a, b


def processes_of(net, *instances):
    pids = [p for i in instances for p in netns_pids(net.instance_ns(i))]
    return identities(pids)


def test_instances_come_back_after_kill_9_and_restart(net, tmp_path):
    data_dir = tmp_path / "state"
    first = net.start(data_dir=data_dir)
    ec2 = first.client("ec2")
    vpc, a, b = build_public_web_and_client(ec2)
    public = a["PublicIpAddress"]
    public_page(public, net.public_range)
    wait_console(ec2, a, "hello-from-userdata")
    names_before = set(names_with_prefix(net.prefix))
    assert {net.vpc_ns(vpc.id), net.instance_ns(a), net.instance_ns(b)} <= names_before
    old_processes = processes_of(net, a, b)
    assert old_processes, "no process in the instances' namespaces"

    assert first.kill() == -signal.SIGKILL
    second = net.start(data_dir=data_dir)
    ec2 = second.client("ec2")
    a2, b2 = wait_running(ec2, [a, b])
    assert (a2["PrivateIpAddress"], a2.get("PublicIpAddress")) == (a["PrivateIpAddress"], public)
    assert b2["PrivateIpAddress"] == b["PrivateIpAddress"]

    page = public_page(public, net.public_range)
    assert a["InstanceId"] in page.body
    page = page_from(net.instance_ns(b), a["PrivateIpAddress"], what="A from B after restart")
    assert a["InstanceId"] in page.body

    # Rebuilt once: our namespaces are back, nothing stale beside them, one edge,
    # none of the old processes.
    names_after = set(names_with_prefix(net.prefix))
    assert {net.vpc_ns(vpc.id), net.instance_ns(a), net.instance_ns(b)} <= names_after
    live = ({edge_link(net.prefix)}
            | {net.vpc_ns(v["VpcId"]) for v in ec2.describe_vpcs()["Vpcs"]}
            | {net.instance_ns(i) for i in describe_instances(ec2)
               if i["State"]["Name"] not in ("terminated", "shutting-down")})
    assert names_after <= live, f"stale: {names_after - live} (before the kill: {names_before})"
    assert [l for l in host_links() if l.startswith(net.prefix)] == [edge_link(net.prefix)]
    wait_gone(old_processes)
    assert console(ec2, a).count("hello-from-userdata") == 1, "user data ran again"


def test_cleanup_command_after_kill_9(net):
    first = net.start()
    ec2 = first.client("ec2")
    vpc, a, b = build_public_web_and_client(ec2)
    public_page(a["PublicIpAddress"], net.public_range)
    old_processes = processes_of(net, a, b)
    assert old_processes

    first.kill()
    assert net.instance_ns(a) in netns_names(), "expected kill -9 to leave namespaces"
    done = fogbank_cleanup(net.prefix)
    assert done.returncode == 0, f"fogbank cleanup failed:\n{done.stdout}\n{done.stderr}"
    assert net.leftovers() == []
    wait_gone(old_processes)


# 7. A clean shutdown leaves nothing; terminate removes the instance.


def test_terminate_and_clean_shutdown_leave_nothing(net):
    server = net.start()
    ec2 = server.client("ec2")
    vpc, a, b = build_public_web_and_client(ec2)
    public_page(a["PublicIpAddress"], net.public_range)
    names = set(names_with_prefix(net.prefix))
    assert {net.vpc_ns(vpc.id), net.instance_ns(a), net.instance_ns(b),
            edge_link(net.prefix)} <= names, names

    ec2.terminate_instances(InstanceIds=[b["InstanceId"]])
    wait_for_state(ec2, [b["InstanceId"]], "terminated")
    eventually(lambda: net.instance_ns(b) not in names_with_prefix(net.prefix),
               what="terminated instance's namespace removed")

    processes = processes_of(net, a)
    assert processes
    assert server.stop() == 0, "fogbank did not exit cleanly on SIGTERM"
    assert net.leftovers() == []
    wait_gone(processes)


# 8. VPC DNS answers instance names.


def dns_from(netns, server, name):
    """Polls until the DNS server answers a query from inside `netns`."""
    def attempt():
        answer = in_netns(netns, "dns", server=server, name=name)
        return answer if answer.ok else None
    return eventually(attempt, what=f"a DNS answer from {server} inside {netns}")


def test_vpc_dns_resolves_instance_names(net):
    ec2 = net.start().client("ec2")
    al2023 = al2023_image(ec2)
    vpc = make_vpc(ec2, "10.3.0.0/16",
                   [("10.3.1.0/24", "us-east-1a"), ("10.3.2.0/24", "us-east-1b")])
    sg = make_group(ec2, vpc.id, "dns")
    x = launch(ec2, al2023, vpc.subnets[0], [sg])
    y = launch(ec2, al2023, vpc.subnets[1], [sg])
    x, y = wait_running(ec2, [x, y])

    for source, target in ((x, y), (y, x)):
        name = dns_name(target["PrivateIpAddress"])
        assert target["PrivateDnsName"] == name
        answer = dns_from(net.instance_ns(source), "10.3.0.2", name)
        assert (answer["rcode"], answer.answers) == (0, [target["PrivateIpAddress"]]), answer


# Network ACLs: stateless, per subnet, not applied inside a subnet.


def test_network_acl_denies_across_subnets(net):
    ec2 = net.start().client("ec2")
    vpc = make_vpc(ec2, "10.0.0.0/16",
                   [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")])
    try:
        acl_id = ec2.create_network_acl(VpcId=vpc.id)["NetworkAcl"]["NetworkAclId"]
    except ClientError as error:
        if error_code(error) in ("NotImplemented", "InvalidAction"):
            pytest.skip(f"CreateNetworkAcl is not implemented yet ({error_code(error)})")
        raise
    web_sg = make_group(ec2, vpc.id, "web")
    client_sg = make_group(ec2, vpc.id, "client")
    allow(ec2, web_sg, 80, cidr="10.0.0.0/16")
    a = launch(ec2, web_image(ec2), vpc.subnets[0], [web_sg])
    b = launch(ec2, al2023_image(ec2), vpc.subnets[1], [client_sg])  # other subnet
    c = launch(ec2, al2023_image(ec2), vpc.subnets[0], [client_sg])  # A's subnet
    a, b, c = wait_running(ec2, [a, b, c])
    a_ip, ns_b, ns_c = a["PrivateIpAddress"], net.instance_ns(b), net.instance_ns(c)
    page_from(ns_b, a_ip, what="A from B before the ACL")

    entry = {"NetworkAclId": acl_id, "Protocol": "6", "CidrBlock": "10.0.2.0/24",
             "PortRange": {"From": 80, "To": 80}, "RuleAction": "deny", "Egress": False,
             "RuleNumber": 50}
    ec2.create_network_acl_entry(**entry)
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1",
                                 CidrBlock="0.0.0.0/0", RuleAction="allow", Egress=False)
    ec2.create_network_acl_entry(NetworkAclId=acl_id, RuleNumber=100, Protocol="-1",
                                 CidrBlock="0.0.0.0/0", RuleAction="allow", Egress=True)
    [current] = ec2.describe_network_acls(Filters=[
        {"Name": "association.subnet-id", "Values": [vpc.subnets[0]]}])["NetworkAcls"]
    [association] = [x for x in current["Associations"] if x["SubnetId"] == vpc.subnets[0]]
    ec2.replace_network_acl_association(
        AssociationId=association["NetworkAclAssociationId"], NetworkAclId=acl_id)

    eventually(lambda: not tcp_from(ns_b, a_ip, 80).ok, timeout=LIVE_RULE_SECS,
               what="the ACL denying B")
    assert http_from(ns_c, a_ip).ok, "an ACL must not filter traffic inside its subnet"

    ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=50, Egress=False)
    page_from(ns_b, a_ip, timeout=LIVE_RULE_SECS, what="A from B after deleting the deny")


def test_zz_nothing_of_this_suite_is_left_on_the_host():
    """Runs last in this file: every server this suite started is gone, and so is every
    namespace, host link and nftables table of theirs."""
    from netsupport import _used_prefixes, nft_tables_with
    if not _used_prefixes:
        pytest.skip("no network test ran")
    for prefix in _used_prefixes:
        assert names_with_prefix(prefix) == [], f"left behind under {prefix}"
        assert nft_tables_with(prefix) == [], f"nftables tables left under {prefix}"
