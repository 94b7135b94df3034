"""Elastic IPs: allocation, association with instances, what instances show, stop/start and
terminate, release, and the errors EC2 answers."""

import ipaddress
import re

import pytest
from botocore.exceptions import ClientError

from support import (
    DEFAULT_ACCOUNT,
    describe_instances,
    raises_aws,
    tag_spec,
    tags,
    unique,
    wait_for_state,
)

MISSING_ALLOCATION = "eipalloc-0123456789abcdef0"
MISSING_ASSOCIATION = "eipassoc-0123456789abcdef0"
MISSING_INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def allocate(ec2):
    """allocate_address (Domain vpc, a unique Name tag); releases what is left after the test."""
    allocated = []

    def run(**kwargs):
        params = {"Domain": "vpc", "TagSpecifications": tag_spec("elastic-ip", Name=unique("eip"))}
        params.update(kwargs)
        address = ec2.allocate_address(**params)
        allocated.append(address["AllocationId"])
        return address

    yield run
    for allocation_id in allocated:
        try:
            [address] = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
            if "AssociationId" in address:
                ec2.disassociate_address(AssociationId=address["AssociationId"])
            ec2.release_address(AllocationId=allocation_id)
        except ClientError:
            pass  # released by the test


@pytest.fixture
def running(ec2, ami):
    """Launches one t3.micro (kwargs as run_instances), waits until it runs; terminates
    them all after the test."""
    launched = []

    def run(**kwargs):
        params = {"ImageId": ami, "InstanceType": "t3.micro", "MinCount": 1, "MaxCount": 1}
        params.update(kwargs)
        [instance] = ec2.run_instances(**params)["Instances"]
        launched.append(instance["InstanceId"])
        [instance] = wait_for_state(ec2, instance["InstanceId"], "running")
        return instance

    yield run
    if launched:
        ec2.terminate_instances(InstanceIds=launched)


def own_subnet(ec2, gateway=True):
    """A new VPC with one subnet (no public IPs on launch), with an attached internet gateway
    unless `gateway` is false."""
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24",
                               AvailabilityZone="us-east-1a")["Subnet"]
    if gateway:
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
    return subnet


def address_of(ec2, allocation_id):
    [address] = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"]
    return address


def instance(ec2, instance_id):
    [found] = describe_instances(ec2, [instance_id])
    return found


def public_dns(ip):
    return f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com"


# Allocation.


def test_allocate_describe_and_release(ec2, allocate):
    name = unique("eip")
    address = allocate(TagSpecifications=tag_spec("elastic-ip", Name=name))

    assert re.fullmatch(r"eipalloc-[0-9a-f]{17}", address["AllocationId"]), address
    assert address["Domain"] == "vpc"
    assert address["PublicIpv4Pool"] == "amazon"
    assert address["NetworkBorderGroup"] == "us-east-1"
    ipaddress.IPv4Address(address["PublicIp"])

    described = address_of(ec2, address["AllocationId"])
    assert described["PublicIp"] == address["PublicIp"]
    assert tags(described) == {"Name": name}
    assert "AssociationId" not in described and "InstanceId" not in described
    [by_ip] = ec2.describe_addresses(PublicIps=[address["PublicIp"]])["Addresses"]
    assert by_ip["AllocationId"] == address["AllocationId"]
    [by_tag] = ec2.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [name]}])["Addresses"]
    assert by_tag["AllocationId"] == address["AllocationId"]
    [tag] = ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [address["AllocationId"]]}])["Tags"]
    assert tag["ResourceType"] == "elastic-ip"

    other = allocate()
    assert other["PublicIp"] != address["PublicIp"]

    ec2.release_address(AllocationId=address["AllocationId"])
    with raises_aws("InvalidAllocationID.NotFound"):
        ec2.describe_addresses(AllocationIds=[address["AllocationId"]])
    with raises_aws("InvalidAddress.NotFound"):
        ec2.describe_addresses(PublicIps=[address["PublicIp"]])
    with raises_aws("InvalidAllocationID.NotFound"):
        ec2.release_address(AllocationId=address["AllocationId"])


# Association.


def test_associate_shows_the_address_on_the_instance(ec2, allocate, running):
    launched = running()
    instance_id = launched["InstanceId"]
    own_ip = launched["PublicIpAddress"]  # default subnets map public IPs on launch
    address = allocate()
    eip = address["PublicIp"]

    association_id = ec2.associate_address(
        AllocationId=address["AllocationId"], InstanceId=instance_id)["AssociationId"]
    assert re.fullmatch(r"eipassoc-[0-9a-f]{17}", association_id)

    shown = instance(ec2, instance_id)
    assert shown["PublicIpAddress"] == eip != own_ip
    assert shown["PublicDnsName"] == public_dns(eip)
    eni = shown["NetworkInterfaces"][0]
    assert eni["Association"] == {
        "IpOwnerId": DEFAULT_ACCOUNT, "PublicDnsName": public_dns(eip), "PublicIp": eip,
    }
    described = address_of(ec2, address["AllocationId"])
    assert described["AssociationId"] == association_id
    assert described["InstanceId"] == instance_id
    assert described["NetworkInterfaceId"] == eni["NetworkInterfaceId"]
    assert described["NetworkInterfaceOwnerId"] == DEFAULT_ACCOUNT
    assert described["PrivateIpAddress"] == shown["PrivateIpAddress"]
    for name, value in [("instance-id", instance_id), ("association-id", association_id),
                        ("public-ip", eip), ("network-interface-id", eni["NetworkInterfaceId"]),
                        ("private-ip-address", shown["PrivateIpAddress"])]:
        found = ec2.describe_addresses(Filters=[{"Name": name, "Values": [value]}])["Addresses"]
        assert [a["AllocationId"] for a in found] == [address["AllocationId"]], name
    [interface] = ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert interface["Association"]["AllocationId"] == address["AllocationId"]
    assert interface["Association"]["AssociationId"] == association_id
    assert describe_instances(ec2, filters=[{"Name": "ip-address", "Values": [eip]}])[0][
        "InstanceId"] == instance_id


def test_disassociate_gives_a_launched_public_ip_back(ec2, allocate, running):
    instance_id = running()["InstanceId"]
    address = allocate()
    association_id = ec2.associate_address(
        AllocationId=address["AllocationId"], InstanceId=instance_id)["AssociationId"]

    ec2.disassociate_address(AssociationId=association_id)

    described = address_of(ec2, address["AllocationId"])
    assert "AssociationId" not in described and "InstanceId" not in described
    # It had a public IP at launch and runs: EC2 gives it a new one of Amazon's.
    shown = instance(ec2, instance_id)
    assert shown["PublicIpAddress"] != address["PublicIp"]
    assert shown["NetworkInterfaces"][0]["Association"]["IpOwnerId"] == "amazon"
    with raises_aws("InvalidAssociationID.NotFound"):
        ec2.disassociate_address(AssociationId=association_id)
    ec2.release_address(AllocationId=address["AllocationId"])


def test_disassociate_leaves_an_instance_without_a_public_ip_at_launch(ec2, allocate, running):
    subnet = own_subnet(ec2)
    launched = running(SubnetId=subnet["SubnetId"])
    assert "PublicIpAddress" not in launched
    address = allocate()
    association_id = ec2.associate_address(
        AllocationId=address["AllocationId"], InstanceId=launched["InstanceId"])["AssociationId"]
    assert instance(ec2, launched["InstanceId"])["PublicIpAddress"] == address["PublicIp"]

    # Outside the default VPC an associated address cannot be released.
    with raises_aws("InvalidIPAddress.InUse") as info:
        ec2.release_address(AllocationId=address["AllocationId"])
    assert info.value.response["Error"]["Message"] == f"Address {address['PublicIp']} is in use."

    ec2.disassociate_address(AssociationId=association_id)
    shown = instance(ec2, launched["InstanceId"])
    assert "PublicIpAddress" not in shown
    assert shown["PublicDnsName"] == ""
    ec2.release_address(AllocationId=address["AllocationId"])


def test_releasing_in_the_default_vpc_disassociates(ec2, allocate, running):
    instance_id = running()["InstanceId"]
    address = allocate()
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance_id)

    ec2.release_address(AllocationId=address["AllocationId"])

    assert instance(ec2, instance_id)["PublicIpAddress"] != address["PublicIp"]
    with raises_aws("InvalidAllocationID.NotFound"):
        ec2.describe_addresses(AllocationIds=[address["AllocationId"]])


def test_reassociation_needs_allow_reassociation(ec2, allocate, running):
    first = running()["InstanceId"]
    second = running()
    address = allocate()
    association_id = ec2.associate_address(
        AllocationId=address["AllocationId"], InstanceId=first)["AssociationId"]

    with raises_aws("Resource.AlreadyAssociated") as info:
        ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=second["InstanceId"])
    assert info.value.response["Error"]["Message"] == (
        f"resource {address['AllocationId']} is already associated with associate-id {association_id}")

    moved = ec2.associate_address(
        AllocationId=address["AllocationId"],
        NetworkInterfaceId=second["NetworkInterfaces"][0]["NetworkInterfaceId"],
        AllowReassociation=True,
    )["AssociationId"]
    assert moved != association_id
    assert address_of(ec2, address["AllocationId"])["InstanceId"] == second["InstanceId"]
    assert instance(ec2, second["InstanceId"])["PublicIpAddress"] == address["PublicIp"]
    assert instance(ec2, first)["PublicIpAddress"] != address["PublicIp"]


def test_association_errors(ec2, allocate, running):
    instance_id = running()["InstanceId"]
    address = allocate()

    with raises_aws("InvalidAllocationID.NotFound") as info:
        ec2.associate_address(AllocationId=MISSING_ALLOCATION, InstanceId=instance_id)
    assert info.value.response["Error"]["Message"] == (
        f"The allocation ID '{MISSING_ALLOCATION}' does not exist")
    with raises_aws("InvalidInstanceID.NotFound"):
        ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=MISSING_INSTANCE)
    with raises_aws("InvalidAssociationID.NotFound"):
        ec2.disassociate_address(AssociationId=MISSING_ASSOCIATION)
    with raises_aws("InvalidAllocationID.NotFound"):
        ec2.release_address(AllocationId=MISSING_ALLOCATION)
    with raises_aws("DryRunOperation"):
        ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance_id,
                              DryRun=True)
    assert "AssociationId" not in address_of(ec2, address["AllocationId"])

    # A VPC without an internet gateway cannot have one.
    subnet = own_subnet(ec2, gateway=False)
    lonely = running(SubnetId=subnet["SubnetId"])
    with raises_aws("Gateway.NotAttached") as info:
        ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=lonely["InstanceId"])
    assert info.value.response["Error"]["Message"] == (
        f"Network {subnet['VpcId']} is not attached to any internet gateway")


# Stop, start and terminate.


def test_address_stays_across_stop_and_start(ec2, allocate, running):
    instance_id = running()["InstanceId"]
    address = allocate()
    association_id = ec2.associate_address(
        AllocationId=address["AllocationId"], InstanceId=instance_id)["AssociationId"]

    ec2.stop_instances(InstanceIds=[instance_id])
    [stopped] = wait_for_state(ec2, instance_id, "stopped")
    assert stopped["PublicIpAddress"] == address["PublicIp"]
    assert address_of(ec2, address["AllocationId"])["AssociationId"] == association_id

    ec2.start_instances(InstanceIds=[instance_id])
    [started] = wait_for_state(ec2, instance_id, "running")
    assert started["PublicIpAddress"] == address["PublicIp"]
    assert started["NetworkInterfaces"][0]["Association"]["IpOwnerId"] == DEFAULT_ACCOUNT
    described = address_of(ec2, address["AllocationId"])
    assert described["AssociationId"] == association_id
    assert described["InstanceId"] == instance_id


def test_terminate_disassociates_and_keeps_the_address(ec2, allocate, running):
    instance_id = running()["InstanceId"]
    address = allocate()
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance_id)

    ec2.terminate_instances(InstanceIds=[instance_id])

    described = address_of(ec2, address["AllocationId"])
    assert "AssociationId" not in described and "InstanceId" not in described
    assert described["PublicIp"] == address["PublicIp"]
    [terminated] = wait_for_state(ec2, instance_id, "terminated")
    assert "PublicIpAddress" not in terminated
    # Still the account's: it goes to another instance as it is.
    other = running()["InstanceId"]
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=other)
    assert instance(ec2, other)["PublicIpAddress"] == address["PublicIp"]


def test_cli_lifecycle(aws):
    address = aws("ec2", "allocate-address", "--domain", "vpc")
    [described] = aws("ec2", "describe-addresses", "--allocation-ids",
                      address["AllocationId"])["Addresses"]
    assert described["PublicIp"] == address["PublicIp"]
    aws("ec2", "release-address", "--allocation-id", address["AllocationId"])
    assert aws("ec2", "describe-addresses", "--filters",
               f"Name=allocation-id,Values={address['AllocationId']}")["Addresses"] == []
