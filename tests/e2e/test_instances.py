"""Instances: lifecycle, placement and addresses, launch options, lookups,
attributes, and how long terminated instances stay visible."""

import base64
import ipaddress
import re
import time

import pytest
from botocore.exceptions import ClientError

from support import (
    assert_usable_address,
    describe_instances,
    instances_of,
    pages,
    raises_aws,
    reserved_addresses,
    tag_spec,
    tags,
    unique,
    wait_for_state,
)

MISSING_INSTANCE = "i-0123456789abcdef0"
PENDING = {"Code": 0, "Name": "pending"}
RUNNING = {"Code": 16, "Name": "running"}
SHUTTING_DOWN = {"Code": 32, "Name": "shutting-down"}
TERMINATED = {"Code": 48, "Name": "terminated"}
STOPPING = {"Code": 64, "Name": "stopping"}
STOPPED = {"Code": 80, "Name": "stopped"}


@pytest.fixture
def launch(ec2, ami):
    """run_instances with defaults (the al2023 image, t3.micro, one instance);
    returns the launched instances and terminates them after the test."""
    launched = []

    def run(**kwargs):
        params = {"ImageId": ami, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}
        params.update(kwargs)
        instances = ec2.run_instances(**params)["Instances"]
        launched.extend(i["InstanceId"] for i in instances)
        return instances

    yield run
    if launched:
        try:
            ec2.terminate_instances(InstanceIds=launched)
        except ClientError:
            pass  # Some tests leave instances that cannot be terminated.


@pytest.fixture
def subnet(ec2):
    """A fresh VPC 10.0.0.0/16 with one subnet 10.0.1.0/24 in us-east-1a."""
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24",
                             AvailabilityZone="us-east-1a")["Subnet"]


def with_tag(key, value="*"):
    return [{"Name": f"tag:{key}", "Values": [value]}]


def started_running(ec2, launch, **kwargs):
    [instance] = launch(**kwargs)
    [running] = wait_for_state(ec2, instance["InstanceId"], "running")
    return running


# Lifecycle.


def test_run_instances_is_pending_then_running(ec2, ami):
    response = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    [instance] = response["Instances"]

    assert re.fullmatch(r"r-[0-9a-f]{8,17}", response["ReservationId"]), response
    assert response["OwnerId"] == "000000000000"
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance["InstanceId"]), instance["InstanceId"]
    assert instance["State"] == PENDING
    assert instance["ImageId"] == ami
    assert instance["InstanceType"] == "t3.micro"
    [running] = wait_for_state(ec2, instance["InstanceId"], "running", timeout=5)
    assert running["State"] == RUNNING
    assert running["LaunchTime"]
    ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])


def test_default_placement_is_a_default_subnet_and_the_default_group(
        ec2, launch, default_vpc, default_subnets):
    instance = started_running(ec2, launch)

    assert instance["VpcId"] == default_vpc["VpcId"]
    subnet = {s["SubnetId"]: s for s in default_subnets.values()}[instance["SubnetId"]]
    assert instance["Placement"]["AvailabilityZone"] == subnet["AvailabilityZone"]
    assert_usable_address(instance["PrivateIpAddress"], subnet["CidrBlock"])
    assert [g["GroupName"] for g in instance["SecurityGroups"]] == ["default"]


def test_launch_in_a_zone_uses_that_zones_default_subnet(ec2, launch, default_subnets):
    [instance] = launch(Placement={"AvailabilityZone": "us-east-1b"})

    assert instance["SubnetId"] == default_subnets["us-east-1b"]["SubnetId"]
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"


def test_stop_start_terminate_report_aws_state_codes(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    [stopping] = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"]
    assert stopping["InstanceId"] == instance_id
    assert stopping["PreviousState"] == RUNNING
    assert stopping["CurrentState"] == STOPPING
    [stopped] = wait_for_state(ec2, instance_id, "stopped")
    assert stopped["State"] == STOPPED

    [starting] = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"]
    assert starting["PreviousState"] == STOPPED
    assert starting["CurrentState"] == PENDING
    wait_for_state(ec2, instance_id, "running")

    [terminating] = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
    assert terminating["PreviousState"] == RUNNING
    assert terminating["CurrentState"] == SHUTTING_DOWN
    [terminated] = wait_for_state(ec2, instance_id, "terminated")
    assert terminated["State"] == TERMINATED


def test_stopping_a_terminated_instance_is_incorrect_instance_state(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_for_state(ec2, instance_id, "terminated")

    with raises_aws("IncorrectInstanceState"):
        ec2.stop_instances(InstanceIds=[instance_id])


def test_cli_run_instances_and_wait_instance_running(aws, ami):
    name = unique("cli")

    launched = aws(
        "ec2", "run-instances", "--image-id", ami, "--instance-type", "t3.micro",
        "--count", "1",
        "--tag-specifications", f"ResourceType=instance,Tags=[{{Key=Name,Value={name}}}]",
    )
    instance_id = launched["Instances"][0]["InstanceId"]
    waited = aws("ec2", "wait", "instance-running", "--instance-ids", instance_id)
    described = aws("ec2", "describe-instances", "--instance-ids", instance_id)

    assert launched["Instances"][0]["State"]["Name"] in ("pending", "running")
    assert waited is None
    [instance] = instances_of(described)
    assert instance["State"]["Name"] == "running"
    assert tags(instance)["Name"] == name
    aws("ec2", "terminate-instances", "--instance-ids", instance_id)


# Addresses.


def test_instances_in_a_subnet_get_distinct_usable_addresses(ec2, launch, subnet):
    instances = launch(SubnetId=subnet["SubnetId"], MinCount=3, MaxCount=3)

    addresses = [i["PrivateIpAddress"] for i in instances]
    assert len(set(addresses)) == 3
    for instance in instances:
        assert instance["SubnetId"] == subnet["SubnetId"]
        assert instance["VpcId"] == subnet["VpcId"]
        assert instance["Placement"]["AvailabilityZone"] == "us-east-1a"
        assert_usable_address(instance["PrivateIpAddress"], "10.0.1.0/24")


def test_a_small_subnet_hands_out_every_usable_address_once(ec2, launch):
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    small = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.5.0/28")["Subnet"]
    assert small["AvailableIpAddressCount"] == 11

    instances = launch(SubnetId=small["SubnetId"], MinCount=11, MaxCount=11)

    network = ipaddress.ip_network("10.0.5.0/28")
    usable = set(network) - reserved_addresses("10.0.5.0/28")
    assert {ipaddress.ip_address(i["PrivateIpAddress"]) for i in instances} == usable
    [after] = ec2.describe_subnets(SubnetIds=[small["SubnetId"]])["Subnets"]
    assert after["AvailableIpAddressCount"] == 0


def test_a_full_subnet_is_insufficient_free_addresses(ec2, launch):
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    small = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.6.0/28")["Subnet"]
    launch(SubnetId=small["SubnetId"], MinCount=11, MaxCount=11)

    with raises_aws("InsufficientFreeAddressesInSubnet"):
        launch(SubnetId=small["SubnetId"])


# Launch options.


def test_tags_at_launch_appear_on_the_instance(ec2, launch):
    name = unique("tagged")

    [instance] = launch(TagSpecifications=tag_spec("instance", Name=name, team="e2e"))

    assert tags(instance) == {"Name": name, "team": "e2e"}
    [described] = describe_instances(ec2, [instance["InstanceId"]])
    assert tags(described) == {"Name": name, "team": "e2e"}


def test_user_data_is_kept_base64_encoded(ec2, launch):
    script = "#!/bin/bash\necho hello from fogbank\n"
    [instance] = launch(UserData=script)  # boto3 base64-encodes it

    attribute = ec2.describe_instance_attribute(
        InstanceId=instance["InstanceId"], Attribute="userData")

    assert attribute["InstanceId"] == instance["InstanceId"]
    assert base64.b64decode(attribute["UserData"]["Value"]).decode() == script


def test_same_client_token_returns_the_same_instance(ec2, launch):
    token = unique("token")
    key = unique("idem")

    [first] = launch(ClientToken=token, TagSpecifications=tag_spec("instance", **{key: "1"}))
    [second] = launch(ClientToken=token, TagSpecifications=tag_spec("instance", **{key: "1"}))

    assert second["InstanceId"] == first["InstanceId"]
    assert [i["InstanceId"] for i in describe_instances(ec2, filters=with_tag(key))] == [
        first["InstanceId"]]


def test_different_client_tokens_launch_different_instances(ec2, launch):
    [first] = launch(ClientToken=unique("token"))
    [second] = launch(ClientToken=unique("token"))

    assert first["InstanceId"] != second["InstanceId"]


def test_run_instances_dry_run_launches_nothing(ec2, launch):
    key = unique("dry")

    with raises_aws("DryRunOperation"):
        launch(DryRun=True, TagSpecifications=tag_spec("instance", **{key: "1"}))

    assert describe_instances(ec2, filters=with_tag(key)) == []


def test_terminate_dry_run_leaves_the_instance_running(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    with raises_aws("DryRunOperation"):
        ec2.terminate_instances(InstanceIds=[instance_id], DryRun=True)

    [instance] = describe_instances(ec2, [instance_id])
    assert instance["State"] == RUNNING


def test_launch_with_security_group_and_key_in_a_vpc_subnet(ec2, launch, subnet):
    group_id = ec2.create_security_group(
        GroupName=unique("group"), Description="app", VpcId=subnet["VpcId"])["GroupId"]
    key_name = unique("key")
    ec2.create_key_pair(KeyName=key_name)

    [instance] = launch(SubnetId=subnet["SubnetId"], SecurityGroupIds=[group_id],
                        KeyName=key_name)

    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [group_id]
    assert instance["KeyName"] == key_name
    filtered = describe_instances(ec2, filters=[
        {"Name": "instance.group-id", "Values": [group_id]}])
    assert [i["InstanceId"] for i in filtered] == [instance["InstanceId"]]


def test_launch_into_unknown_subnet_is_subnet_not_found(launch):
    with raises_aws("InvalidSubnetID.NotFound"):
        launch(SubnetId="subnet-0123456789abcdef0")


def test_launch_with_unknown_security_group_is_group_not_found(launch, subnet):
    with raises_aws("InvalidGroup.NotFound"):
        launch(SubnetId=subnet["SubnetId"], SecurityGroupIds=["sg-0123456789abcdef0"])


def test_launch_with_unknown_key_pair_is_key_pair_not_found(launch):
    with raises_aws("InvalidKeyPair.NotFound"):
        launch(KeyName=unique("no-such-key"))


def test_launch_with_unknown_instance_type_is_invalid_parameter_value(launch):
    with raises_aws("InvalidParameterValue"):
        launch(InstanceType="bogus.huge")


# Looking instances up.


def test_describe_unknown_instance_is_not_found(ec2):
    with raises_aws("InvalidInstanceID.NotFound"):
        ec2.describe_instances(InstanceIds=[MISSING_INSTANCE])


def test_describe_malformed_instance_id_is_malformed(ec2):
    with raises_aws("InvalidInstanceID.Malformed"):
        ec2.describe_instances(InstanceIds=["i-zzz"])


def test_terminate_unknown_instance_is_not_found(ec2):
    with raises_aws("InvalidInstanceID.NotFound"):
        ec2.terminate_instances(InstanceIds=[MISSING_INSTANCE])


def test_describe_instances_pages_with_max_results(ec2, launch):
    key = unique("page")
    created = {launch(TagSpecifications=tag_spec("instance", **{key: str(n)}))[0]["InstanceId"]
               for n in range(7)}

    result = pages(ec2.describe_instances, instances_of, MaxResults=5, Filters=with_tag(key))

    seen = [i["InstanceId"] for page in result for i in page]
    assert len(result) >= 2
    assert all(len(page) <= 5 for page in result)
    assert sorted(seen) == sorted(created)


def test_cli_follows_next_tokens(aws, launch):
    key = unique("clipage")
    created = {launch(TagSpecifications=tag_spec("instance", **{key: "x"}))[0]["InstanceId"]
               for _ in range(7)}

    described = aws("ec2", "describe-instances", "--page-size", "5",
                    "--filters", f"Name=tag-key,Values={key}")

    assert sorted(i["InstanceId"] for i in instances_of(described)) == sorted(created)


def test_filter_instances_by_tag_name_wildcard_and_tag_key(ec2, launch):
    run = unique("run")
    web = {launch(TagSpecifications=tag_spec("instance", Name=f"web-{run}-{n}"))[0]["InstanceId"]
           for n in range(2)}
    [db] = launch(TagSpecifications=tag_spec("instance", Name=f"db-{run}", **{run: "k"}))

    wild = describe_instances(ec2, filters=with_tag("Name", f"web-{run}-*"))
    keyed = describe_instances(ec2, filters=[{"Name": "tag-key", "Values": [run]}])

    assert {i["InstanceId"] for i in wild} == web
    assert [i["InstanceId"] for i in keyed] == [db["InstanceId"]]


def test_filter_instances_by_state_name(ec2, launch):
    key = unique("state")
    [keep] = launch(TagSpecifications=tag_spec("instance", **{key: "1"}))
    [halt] = launch(TagSpecifications=tag_spec("instance", **{key: "1"}))
    wait_for_state(ec2, [keep["InstanceId"], halt["InstanceId"]], "running")
    ec2.stop_instances(InstanceIds=[halt["InstanceId"]])
    wait_for_state(ec2, halt["InstanceId"], "stopped")

    stopped = describe_instances(ec2, filters=with_tag(key) + [
        {"Name": "instance-state-name", "Values": ["stopped"]}])
    running = describe_instances(ec2, filters=with_tag(key) + [
        {"Name": "instance-state-name", "Values": ["running"]}])

    assert [i["InstanceId"] for i in stopped] == [halt["InstanceId"]]
    assert [i["InstanceId"] for i in running] == [keep["InstanceId"]]


def test_filter_instances_by_vpc_subnet_and_zone(ec2, launch, subnet):
    key = unique("where")
    [inside] = launch(SubnetId=subnet["SubnetId"],
                      TagSpecifications=tag_spec("instance", **{key: "1"}))
    launch(Placement={"AvailabilityZone": "us-east-1c"},
           TagSpecifications=tag_spec("instance", **{key: "1"}))

    by_vpc = describe_instances(ec2, filters=with_tag(key) + [
        {"Name": "vpc-id", "Values": [subnet["VpcId"]]}])
    by_subnet = describe_instances(ec2, filters=with_tag(key) + [
        {"Name": "subnet-id", "Values": [subnet["SubnetId"]]}])
    by_zone = describe_instances(ec2, filters=with_tag(key) + [
        {"Name": "availability-zone", "Values": ["us-east-1a"]}])

    assert [i["InstanceId"] for i in by_vpc] == [inside["InstanceId"]]
    assert [i["InstanceId"] for i in by_subnet] == [inside["InstanceId"]]
    assert [i["InstanceId"] for i in by_zone] == [inside["InstanceId"]]


# Console, status and attributes.


def test_console_output_names_the_instance(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    output = ec2.get_console_output(InstanceId=instance_id)

    assert output["InstanceId"] == instance_id
    assert isinstance(output.get("Output", ""), str)  # boto3 has decoded the base64


def test_console_output_of_unknown_instance_is_not_found(ec2):
    with raises_aws("InvalidInstanceID.NotFound"):
        ec2.get_console_output(InstanceId=MISSING_INSTANCE)


def test_instance_status_lists_running_and_optionally_all_instances(ec2, launch):
    running_id = started_running(ec2, launch)["InstanceId"]
    stopped_id = started_running(ec2, launch)["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped_id])
    wait_for_state(ec2, stopped_id, "stopped")

    default = ec2.describe_instance_status(InstanceIds=[running_id, stopped_id])
    everything = ec2.describe_instance_status(
        InstanceIds=[running_id, stopped_id], IncludeAllInstances=True)

    [status] = default["InstanceStatuses"]
    assert status["InstanceId"] == running_id
    assert status["InstanceState"] == RUNNING
    assert status["AvailabilityZone"].startswith("us-east-1")
    states = {s["InstanceId"]: s["InstanceState"] for s in everything["InstanceStatuses"]}
    assert states == {running_id: RUNNING, stopped_id: STOPPED}


def test_change_instance_type_of_a_stopped_instance(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]
    ec2.stop_instances(InstanceIds=[instance_id])
    wait_for_state(ec2, instance_id, "stopped")

    ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.small"})

    attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceType")
    assert attribute["InstanceType"]["Value"] == "t3.small"
    ec2.start_instances(InstanceIds=[instance_id])
    [instance] = wait_for_state(ec2, instance_id, "running")
    assert instance["InstanceType"] == "t3.small"


def test_change_instance_type_of_a_running_instance_is_incorrect_instance_state(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    with raises_aws("IncorrectInstanceState"):
        ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.small"})

    [instance] = describe_instances(ec2, [instance_id])
    assert instance["InstanceType"] == "t3.micro"


def test_disable_api_termination_blocks_terminate(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})

    attribute = ec2.describe_instance_attribute(
        InstanceId=instance_id, Attribute="disableApiTermination")
    assert attribute["DisableApiTermination"]["Value"] is True
    with raises_aws("OperationNotPermitted"):
        ec2.terminate_instances(InstanceIds=[instance_id])
    assert describe_instances(ec2, [instance_id])[0]["State"] == RUNNING
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_for_state(ec2, instance_id, "terminated")


# Retention of terminated instances.


def test_terminated_instances_disappear_after_the_retention_period(start_fogbank):
    server = start_fogbank(env={"FOGBANK_TERMINATED_RETENTION_SECS": "2"})
    ec2 = server.client("ec2")
    [image] = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-*"]}])["Images"][:1]
    [instance] = ec2.run_instances(ImageId=image["ImageId"], InstanceType="t3.micro",
                                   MinCount=1, MaxCount=1)["Instances"]
    instance_id = instance["InstanceId"]
    wait_for_state(ec2, instance_id, "running")

    terminate_time = time.monotonic()
    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_for_state(ec2, instance_id, "terminated")

    deadline = terminate_time + 15
    while describe_instances(ec2, filters=[{"Name": "instance-id", "Values": [instance_id]}]):
        if time.monotonic() > deadline:
            pytest.fail("terminated instance still listed 15 s after terminate (retention 2 s)")
        time.sleep(0.1)
    gone_after = time.monotonic() - terminate_time

    assert gone_after >= 1.5, f"gone after {gone_after:.1f} s, retention is 2 s"
    with raises_aws("InvalidInstanceID.NotFound"):
        ec2.describe_instances(InstanceIds=[instance_id])


def test_terminated_instances_stay_visible_by_default(ec2, launch):
    instance_id = started_running(ec2, launch)["InstanceId"]

    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_for_state(ec2, instance_id, "terminated")
    time.sleep(3)

    [instance] = describe_instances(ec2, [instance_id])
    assert instance["State"] == TERMINATED
