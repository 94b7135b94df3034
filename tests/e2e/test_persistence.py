"""State kept in --data-dir survives restarts: a clean one (SIGTERM) and a
crash (SIGKILL, so nothing can be flushed on the way out)."""

import signal

import pytest

from support import raises_aws, tag_spec, tags, unique, wait_for_state


def make_some_state(ec2):
    """A tagged VPC with a subnet, a security group with a rule, and a key pair."""
    name = unique("persist")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16",
                         TagSpecifications=tag_spec("vpc", Name=name))["Vpc"]
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.42.1.0/24",
                               AvailabilityZone="us-east-1c")["Subnet"]
    group_id = ec2.create_security_group(GroupName=name, Description="kept",
                                         VpcId=vpc["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    key = ec2.create_key_pair(KeyName=name)
    return {"name": name, "vpc": vpc, "subnet": subnet, "group_id": group_id, "key": key}


def assert_state_is_back(ec2, state):
    [vpc] = ec2.describe_vpcs(VpcIds=[state["vpc"]["VpcId"]])["Vpcs"]
    assert vpc["CidrBlock"] == "10.42.0.0/16"
    assert tags(vpc) == {"Name": state["name"]}
    [subnet] = ec2.describe_subnets(SubnetIds=[state["subnet"]["SubnetId"]])["Subnets"]
    assert (subnet["VpcId"], subnet["CidrBlock"], subnet["AvailabilityZone"]) == (
        vpc["VpcId"], "10.42.1.0/24", "us-east-1c")
    [group] = ec2.describe_security_groups(GroupIds=[state["group_id"]])["SecurityGroups"]
    assert [p["FromPort"] for p in group["IpPermissions"]] == [443]
    [key] = ec2.describe_key_pairs(KeyNames=[state["name"]])["KeyPairs"]
    assert key["KeyFingerprint"] == state["key"]["KeyFingerprint"]


def default_vpc_ids(ec2):
    return [v["VpcId"] for v in ec2.describe_vpcs(
        Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]]


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_state_survives_a_restart(start_fogbank, tmp_path, how):
    data_dir = tmp_path / "state"
    first = start_fogbank(data_dir=data_dir)
    ec2 = first.client("ec2")
    state = make_some_state(ec2)
    defaults_before = default_vpc_ids(ec2)

    if how == "sigterm":
        assert first.stop() == 0, "fogbank did not exit cleanly on SIGTERM"
    else:
        assert first.kill() == -signal.SIGKILL

    second = start_fogbank(data_dir=data_dir)
    ec2 = second.client("ec2")
    assert_state_is_back(ec2, state)
    assert default_vpc_ids(ec2) == defaults_before  # kept, not created again


def test_new_resources_after_a_restart_get_new_ids(start_fogbank, tmp_path):
    data_dir = tmp_path / "state"
    first = start_fogbank(data_dir=data_dir)
    before = first.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    first.kill()

    second = start_fogbank(data_dir=data_dir)
    ec2 = second.client("ec2")
    after = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    assert after != before
    found = {v["VpcId"] for v in ec2.describe_vpcs(VpcIds=[before, after])["Vpcs"]}
    assert found == {before, after}


def test_deletes_survive_a_restart(start_fogbank, tmp_path):
    data_dir = tmp_path / "state"
    first = start_fogbank(data_dir=data_dir)
    ec2 = first.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.delete_vpc(VpcId=vpc_id)
    first.kill()

    second = start_fogbank(data_dir=data_dir)

    with raises_aws("InvalidVpcID.NotFound"):
        second.client("ec2").describe_vpcs(VpcIds=[vpc_id])


def test_instances_survive_a_restart(start_fogbank, tmp_path):
    data_dir = tmp_path / "state"
    first = start_fogbank(data_dir=data_dir)
    ec2 = first.client("ec2")
    image_id = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-*"]}]
    )["Images"][0]["ImageId"]
    name = unique("kept")
    [instance] = ec2.run_instances(
        ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=tag_spec("instance", Name=name))["Instances"]
    wait_for_state(ec2, instance["InstanceId"], "running")
    first.kill()

    second = start_fogbank(data_dir=data_dir)
    ec2 = second.client("ec2")

    [running] = wait_for_state(ec2, instance["InstanceId"], "running")
    assert tags(running) == {"Name": name}
    assert running["PrivateIpAddress"] == instance["PrivateIpAddress"]


def test_data_dir_accounts_and_regions_are_kept_apart_after_restart(start_fogbank, tmp_path):
    data_dir = tmp_path / "state"
    first = start_fogbank(data_dir=data_dir)
    vpc_id = first.client("ec2", region="eu-west-1", access_key="123456789012").create_vpc(
        CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    first.stop()

    second = start_fogbank(data_dir=data_dir)

    owner = second.client("ec2", region="eu-west-1", access_key="123456789012")
    assert [v["VpcId"] for v in owner.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]] == [vpc_id]
    with raises_aws("InvalidVpcID.NotFound"):
        second.client("ec2", region="eu-west-1").describe_vpcs(VpcIds=[vpc_id])
    with raises_aws("InvalidVpcID.NotFound"):
        second.client("ec2", region="us-east-1", access_key="123456789012").describe_vpcs(
            VpcIds=[vpc_id])
