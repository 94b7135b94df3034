"""Terraform with the real hashicorp/aws provider against Fogbank: a VPC, a subnet, a
security group and an instance found through `data "aws_ami"`, applied, planned again with
no drift, and destroyed. Skipped, with the reason, where terraform or the provider is absent
(no registry serves the provider here; it must be in a local filesystem mirror)."""

import glob
import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MIRRORS = ["/opt/tf-plugins", os.path.expanduser("~/.terraform.d/plugins"), "/usr/share/terraform/plugins"]


def provider_mirror():
    for root in MIRRORS:
        if glob.glob(os.path.join(root, "registry.terraform.io/hashicorp/aws/5.*")):
            return root
    return None


@pytest.fixture
def terraform(tmp_path):
    exe = shutil.which("terraform")
    mirror = provider_mirror()
    if not exe:
        pytest.skip("terraform is not installed on this machine")
    if not mirror:
        pytest.skip(f"the hashicorp/aws provider is not in a filesystem mirror ({', '.join(MIRRORS)})")
    work = tmp_path / "tf"
    shutil.copytree(os.path.join(HERE, "terraform"), work)
    rc = tmp_path / "terraformrc"
    rc.write_text(
        'provider_installation {\n'
        f'  filesystem_mirror {{ path = "{mirror}" }}\n'
        '  direct { exclude = ["registry.terraform.io/*/*"] }\n'
        '}\n'
    )
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")

    def run(*args, endpoint, check=True):
        proc = subprocess.run(
            [exe, *args, "-input=false", "-no-color", f"-var=endpoint={endpoint}"] if args[0] != "init"
            else [exe, *args, "-input=false", "-no-color"],
            cwd=work, env=env, capture_output=True, text=True, timeout=600,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def test_terraform_apply_plan_destroy(terraform, start_fogbank):
    server = start_fogbank()
    ec2 = server.client("ec2")
    terraform("init", endpoint=server.endpoint)
    terraform("apply", "-auto-approve", endpoint=server.endpoint)

    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fb-tf"]}])["Vpcs"]
    assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == "10.0.0.0/16"
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["fb-tf-web"]}])["Reservations"]
    instance = reservations[0]["Instances"][0]
    assert instance["State"]["Name"] == "running"
    assert instance["PrivateIpAddress"].startswith("10.0.1.")
    assert instance["ImageId"].startswith("ami-")

    # A second plan finds nothing to change: what Fogbank reports matches what was asked.
    plan = terraform("plan", "-detailed-exitcode", endpoint=server.endpoint, check=False)
    assert plan.returncode == 0, f"terraform plan found drift:\n{plan.stdout}\n{plan.stderr}"

    terraform("destroy", "-auto-approve", endpoint=server.endpoint)
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fb-tf"]}])["Vpcs"] == []
    states = [i["State"]["Name"] for r in ec2.describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["fb-tf-web"]}])["Reservations"] for i in r["Instances"]]
    assert states in ([], ["terminated"])
