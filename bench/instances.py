#!/usr/bin/env python3
"""Time from RunInstances to a TCP port answering inside the instances, on the network
substrate (root only), for 1 and for N instances; Fogbank's RSS with N running.

    sudo bench/.venv/bin/python bench/instances.py [--count 100] [--bin target/release/fogbank]

Starts its own Fogbank (`--substrate netns`, prefix `fbb`, public range 198.19.100.0/24),
opens port 80 in the default VPC's default group, runs the fogbank-web image (an HTTP server
on port 80) and polls each instance's public IP from the host until it answers. Only the
public range this script gives Fogbank is ever contacted. Stops Fogbank at the end (it
removes everything it made) and prints a markdown table.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import boto3

PREFIX = "fbb"
PUBLIC_RANGE = "198.19.100.0/24"
WEB_AMI = "ami-0f0ba4c0de0000001"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(ip, port=80, timeout=0.3):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/")
    except OSError:
        return False


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def launch_and_wait(ec2, count, deadline_s=120):
    t0 = time.perf_counter()
    reservation = ec2.run_instances(ImageId=WEB_AMI, InstanceType="t3.nano", MinCount=count, MaxCount=count)
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    ips = {}
    while len(ips) < count and time.perf_counter() - t0 < deadline_s:
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            for i in r["Instances"]:
                if i.get("PublicIpAddress"):
                    ips[i["InstanceId"]] = i["PublicIpAddress"]
    waiting = dict(ips)
    while waiting and time.perf_counter() - t0 < deadline_s:
        for iid, ip in list(waiting.items()):
            if answers(ip):
                del waiting[iid]
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    return ids, elapsed, count - len(waiting)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--bin", default=os.environ.get("FOGBANK_BIN", "target/release/fogbank"))
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("instances.py needs root (the network substrate makes namespaces)")
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="fogbank-bench-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [args.bin, "serve", "--port", str(port), "--ephemeral", "--substrate", "netns",
         "--substrate-prefix", PREFIX, "--public-range", PUBLIC_RANGE],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        for _ in range(200):
            try:
                ec2.describe_regions()
                break
            except Exception:
                time.sleep(0.05)
        vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]
        ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        idle = rss_mib(proc.pid)
        one_ids, one_s, one_ok = launch_and_wait(ec2, 1)
        ec2.terminate_instances(InstanceIds=one_ids)
        time.sleep(1)
        many_ids, many_s, many_ok = launch_and_wait(ec2, args.count)
        rss_many = rss_mib(proc.pid)
        print("| instances | RunInstances to all answering on port 80 | answered | Fogbank RSS MiB |")
        print("|---:|---:|---:|---:|")
        print(f"| 0 | – | – | {idle:.1f} |")
        print(f"| 1 | {one_s:.2f} s | {one_ok}/1 | – |")
        print(f"| {args.count} | {many_s:.2f} s | {many_ok}/{args.count} | {rss_many:.1f} |")
        load = os.getloadavg()
        print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; log: {log.name}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            subprocess.run([args.bin, "cleanup", "--substrate-prefix", PREFIX], check=False)


if __name__ == "__main__":
    main()
