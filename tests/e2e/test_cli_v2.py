"""The same commands with the aws CLI v2 (Debian's `awscli` package), where installed.
Older v2 releases do not read AWS_ENDPOINT_URL, so the endpoint is given with
--endpoint-url."""

import json
import os
import shutil
import subprocess

import pytest

CANDIDATES = ["/usr/bin/aws", "/usr/local/bin/aws"]


def cli_v2():
    for path in CANDIDATES + [shutil.which("aws") or ""]:
        if path and os.path.exists(path):
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
            if (out.stdout + out.stderr).startswith("aws-cli/2."):
                return path
    return None


@pytest.fixture
def aws2(fogbank, tmp_path):
    exe = cli_v2()
    if not exe:
        pytest.skip("aws CLI v2 is not installed (Debian: apt-get install awscli)")
    config = tmp_path / "config"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(config), AWS_PAGER="",
               AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1")

    def run(*args, check=True):
        proc = subprocess.run([exe, "--endpoint-url", fogbank.endpoint, "--output", "json", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {proc.stderr}")
        return json.loads(proc.stdout) if proc.stdout.strip() else None, proc

    return run


def test_cli_v2_drives_the_foundation_commands(aws2):
    identity, _ = aws2("sts", "get-caller-identity")
    assert identity["Account"] == "000000000000"
    zones, _ = aws2("ec2", "describe-availability-zones")
    assert len(zones["AvailabilityZones"]) >= 3
    vpc, _ = aws2("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")
    vpc_id = vpc["Vpc"]["VpcId"]
    subnet, _ = aws2("ec2", "create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.0.1.0/24")
    images, _ = aws2("ec2", "describe-images", "--owners", "amazon",
                     "--filters", "Name=name,Values=al2023-ami-2023*-x86_64")
    ami = images["Images"][0]["ImageId"]
    run, _ = aws2("ec2", "run-instances", "--image-id", ami, "--instance-type", "t3.micro",
                  "--subnet-id", subnet["Subnet"]["SubnetId"])
    instance_id = run["Instances"][0]["InstanceId"]
    aws2("ec2", "wait", "instance-running", "--instance-ids", instance_id)
    described, _ = aws2("ec2", "describe-instances", "--instance-ids", instance_id)
    instance = described["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running"
    assert instance["PrivateIpAddress"].startswith("10.0.1.")

    _, failed = aws2("ec2", "describe-vpcs", "--vpc-ids", "vpc-12345678", check=False)
    assert failed.returncode != 0
    assert "InvalidVpcID.NotFound" in failed.stderr
