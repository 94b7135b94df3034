"""VPCs, subnets, internet gateways and route tables."""

import random
import re

import pytest

from support import (
    DEFAULT_ACCOUNT,
    REGIONS,
    pages,
    raises_aws,
    tag_spec,
    tags,
    unique,
)

MISSING_VPC = "vpc-0123456789abcdef0"
MISSING_SUBNET = "subnet-0123456789abcdef0"


def by_name(name):
    return [{"Name": "tag:Name", "Values": [name]}]


@pytest.fixture
def vpc(ec2):
    """A fresh 10.0.0.0/16 VPC with a unique Name tag."""
    name = unique("vpc")
    return ec2.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=tag_spec("vpc", Name=name)
    )["Vpc"]


# VPCs.


def test_create_vpc_returns_and_describes_it(ec2):
    name = unique("vpc")

    created = ec2.create_vpc(
        CidrBlock="10.20.0.0/16", TagSpecifications=tag_spec("vpc", Name=name)
    )["Vpc"]

    assert re.fullmatch(r"vpc-[0-9a-f]{8,17}", created["VpcId"]), created["VpcId"]
    assert created["CidrBlock"] == "10.20.0.0/16"
    assert created["State"] in ("pending", "available")
    assert created["IsDefault"] is False
    assert created["OwnerId"] == DEFAULT_ACCOUNT
    assert tags(created) == {"Name": name}
    [described] = ec2.describe_vpcs(VpcIds=[created["VpcId"]])["Vpcs"]
    assert described["State"] == "available"
    assert described["CidrBlock"] == "10.20.0.0/16"
    assert described["InstanceTenancy"] == "default"
    [association] = described["CidrBlockAssociationSet"]
    assert association["CidrBlock"] == "10.20.0.0/16"
    assert association["CidrBlockState"]["State"] == "associated"
    assert tags(described) == {"Name": name}


def test_create_vpc_via_cli_is_seen_by_boto3(aws, ec2):
    name = unique("cli-vpc")

    created = aws(
        "ec2", "create-vpc", "--cidr-block", "10.30.0.0/16",
        "--tag-specifications", f"ResourceType=vpc,Tags=[{{Key=Name,Value={name}}}]",
    )["Vpc"]

    [described] = ec2.describe_vpcs(Filters=by_name(name))["Vpcs"]
    assert described["VpcId"] == created["VpcId"]
    assert described["CidrBlock"] == "10.30.0.0/16"


def test_new_vpc_gets_a_main_route_table_with_a_local_route(ec2, vpc):
    tables = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"]

    assert len(tables) == 1
    local = [r for r in tables[0]["Routes"] if r.get("GatewayId") == "local"]
    assert [r["DestinationCidrBlock"] for r in local] == ["10.0.0.0/16"]


def test_new_vpc_gets_a_default_security_group(ec2, vpc):
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]},
    ])["SecurityGroups"]

    assert len(groups) == 1
    assert groups[0]["GroupId"].startswith("sg-")


def test_vpcs_belong_to_one_region(fogbank):
    name = unique("regional")
    east = fogbank.client("ec2", region="us-east-1")
    west = fogbank.client("ec2", region="us-west-2")
    vpc_id = west.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=tag_spec("vpc", Name=name)
    )["Vpc"]["VpcId"]

    assert [v["VpcId"] for v in west.describe_vpcs(Filters=by_name(name))["Vpcs"]] == [vpc_id]
    assert east.describe_vpcs(Filters=by_name(name))["Vpcs"] == []
    with raises_aws("InvalidVpcID.NotFound"):
        east.describe_vpcs(VpcIds=[vpc_id])


def test_describe_unknown_vpc_is_not_found(ec2):
    with raises_aws("InvalidVpcID.NotFound"):
        ec2.describe_vpcs(VpcIds=[MISSING_VPC])


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "10.0.0.0/29"])
def test_vpc_netmask_outside_16_to_28_is_invalid_vpc_range(ec2, cidr):
    with raises_aws("InvalidVpc.Range"):
        ec2.create_vpc(CidrBlock=cidr)


def test_malformed_vpc_cidr_is_invalid_parameter_value(ec2):
    with raises_aws("InvalidParameterValue"):
        ec2.create_vpc(CidrBlock="not-a-cidr")


def test_delete_vpc_with_a_subnet_is_a_dependency_violation(ec2, vpc):
    subnet_id = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")[
        "Subnet"]["SubnetId"]

    with raises_aws("DependencyViolation"):
        ec2.delete_vpc(VpcId=vpc["VpcId"])

    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    with raises_aws("InvalidVpcID.NotFound"):
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])


def test_delete_vpc_with_an_attached_internet_gateway_is_a_dependency_violation(ec2, vpc):
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])

    with raises_aws("DependencyViolation"):
        ec2.delete_vpc(VpcId=vpc["VpcId"])

    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])


def test_delete_unknown_vpc_is_not_found(ec2):
    with raises_aws("InvalidVpcID.NotFound"):
        ec2.delete_vpc(VpcId=MISSING_VPC)


# VPC filters.


def test_filter_vpcs_by_tag_name_with_wildcards(ec2):
    run = unique("run")
    web1 = ec2.create_vpc(CidrBlock="10.0.0.0/16",
                          TagSpecifications=tag_spec("vpc", Name=f"web-{run}-1"))["Vpc"]
    web2 = ec2.create_vpc(CidrBlock="10.0.0.0/16",
                          TagSpecifications=tag_spec("vpc", Name=f"web-{run}-2"))["Vpc"]
    ec2.create_vpc(CidrBlock="10.0.0.0/16",
                   TagSpecifications=tag_spec("vpc", Name=f"db-{run}-1"))

    exact = ec2.describe_vpcs(Filters=by_name(f"web-{run}-1"))["Vpcs"]
    wild = ec2.describe_vpcs(Filters=by_name(f"web-{run}-*"))["Vpcs"]
    either = ec2.describe_vpcs(
        Filters=[{"Name": "tag:Name", "Values": [f"web-{run}-2", f"db-{run}-?"]}])["Vpcs"]

    assert [v["VpcId"] for v in exact] == [web1["VpcId"]]
    assert {v["VpcId"] for v in wild} == {web1["VpcId"], web2["VpcId"]}
    assert len(either) == 2 and web2["VpcId"] in {v["VpcId"] for v in either}


def test_filter_vpcs_by_tag_key_after_create_tags(ec2, vpc):
    key = unique("key")
    untagged = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]

    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": key, "Value": "yes"}])

    found = ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": [key]}])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc["VpcId"]]
    assert untagged["VpcId"] not in {v["VpcId"] for v in found}
    by_value = ec2.describe_vpcs(Filters=[{"Name": f"tag:{key}", "Values": ["yes"]}])["Vpcs"]
    assert [v["VpcId"] for v in by_value] == [vpc["VpcId"]]


def test_filter_vpcs_by_is_default(ec2, vpc):
    default = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    others = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]

    assert [v["CidrBlock"] for v in default] == ["172.31.0.0/16"]
    assert default[0]["IsDefault"] is True
    assert vpc["VpcId"] in {v["VpcId"] for v in others}
    assert default[0]["VpcId"] not in {v["VpcId"] for v in others}


def test_filter_vpcs_by_cidr_block_association(ec2):
    name = unique("cidr")
    octet = random.randrange(256)
    cidr = f"10.{octet}.0.0/16"
    other = f"10.{(octet + 1) % 256}.0.0/16"
    vpc_id = ec2.create_vpc(
        CidrBlock=cidr, TagSpecifications=tag_spec("vpc", Name=name))["Vpc"]["VpcId"]

    matching = ec2.describe_vpcs(Filters=by_name(name) + [
        {"Name": "cidr-block-association.cidr-block", "Values": [cidr]}])["Vpcs"]
    not_matching = ec2.describe_vpcs(Filters=by_name(name) + [
        {"Name": "cidr-block-association.cidr-block", "Values": [other]}])["Vpcs"]

    assert [v["VpcId"] for v in matching] == [vpc_id]
    assert not_matching == []


def test_describe_vpcs_pages_with_max_results(ec2):
    key = unique("page")
    created = {
        ec2.create_vpc(CidrBlock="10.0.0.0/16",
                       TagSpecifications=tag_spec("vpc", **{key: str(n)}))["Vpc"]["VpcId"]
        for n in range(7)
    }

    result = pages(ec2.describe_vpcs, "Vpcs", MaxResults=5,
                   Filters=[{"Name": "tag-key", "Values": [key]}])

    seen = [v["VpcId"] for page in result for v in page]
    assert len(result) >= 2
    assert all(len(page) <= 5 for page in result)
    assert sorted(seen) == sorted(created)


# Subnets.


def test_create_subnet_in_a_chosen_zone(ec2, vpc):
    subnet = ec2.create_subnet(
        VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b"
    )["Subnet"]

    assert re.fullmatch(r"subnet-[0-9a-f]{8,17}", subnet["SubnetId"]), subnet["SubnetId"]
    assert subnet["VpcId"] == vpc["VpcId"]
    assert subnet["CidrBlock"] == "10.0.1.0/24"
    assert subnet["AvailabilityZone"] == "us-east-1b"
    assert re.fullmatch(r"use1-az\d+", subnet["AvailabilityZoneId"])
    assert subnet["AvailableIpAddressCount"] == 256 - 5
    assert subnet["DefaultForAz"] is False
    assert subnet["MapPublicIpOnLaunch"] is False
    [described] = ec2.describe_subnets(SubnetIds=[subnet["SubnetId"]])["Subnets"]
    assert described["State"] == "available"
    assert described["AvailabilityZone"] == "us-east-1b"


def test_create_subnet_without_zone_picks_a_zone_of_the_region(ec2, vpc):
    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.2.0/28")["Subnet"]

    assert subnet["AvailabilityZone"] in {"us-east-1a", "us-east-1b", "us-east-1c"}
    assert subnet["AvailableIpAddressCount"] == 16 - 5


def test_subnet_outside_the_vpc_is_invalid_subnet_range(ec2, vpc):
    with raises_aws("InvalidSubnet.Range"):
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.1.0.0/24")


def test_overlapping_subnets_are_invalid_subnet_conflict(ec2, vpc):
    ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.0.0/20")

    with raises_aws("InvalidSubnet.Conflict"):
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.4.0/24")


def test_same_subnet_cidr_in_two_vpcs_is_allowed(ec2, vpc):
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]

    first = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]
    second = ec2.create_subnet(VpcId=other["VpcId"], CidrBlock="10.0.9.0/24")["Subnet"]

    assert first["SubnetId"] != second["SubnetId"]


def test_subnet_in_unknown_vpc_is_vpc_not_found(ec2):
    with raises_aws("InvalidVpcID.NotFound"):
        ec2.create_subnet(VpcId=MISSING_VPC, CidrBlock="10.0.0.0/24")


def test_subnet_without_cidr_block_is_missing_parameter(ec2, vpc):
    # botocore does not require CidrBlock (IPv6-only and IPAM subnets omit it),
    # so the server must say what is missing.
    with raises_aws("MissingParameter"):
        ec2.create_subnet(VpcId=vpc["VpcId"])


def test_describe_unknown_subnet_is_not_found(ec2):
    with raises_aws("InvalidSubnetID.NotFound"):
        ec2.describe_subnets(SubnetIds=[MISSING_SUBNET])


def test_deleted_subnet_is_gone(ec2, vpc):
    subnet_id = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.3.0/24")[
        "Subnet"]["SubnetId"]

    ec2.delete_subnet(SubnetId=subnet_id)

    with raises_aws("InvalidSubnetID.NotFound"):
        ec2.describe_subnets(SubnetIds=[subnet_id])


def test_filter_subnets_by_vpc_and_availability_zone(ec2, vpc):
    in_a = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24",
                             AvailabilityZone="us-east-1a")["Subnet"]
    in_b = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.2.0/24",
                             AvailabilityZone="us-east-1b")["Subnet"]

    all_in_vpc = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    only_b = ec2.describe_subnets(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "availability-zone", "Values": ["us-east-1b"]},
    ])["Subnets"]

    assert {s["SubnetId"] for s in all_in_vpc} == {in_a["SubnetId"], in_b["SubnetId"]}
    assert [s["SubnetId"] for s in only_b] == [in_b["SubnetId"]]


def test_describe_subnets_pages_with_max_results(ec2, vpc):
    created = {
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"10.0.{n}.0/24")["Subnet"]["SubnetId"]
        for n in range(7)
    }

    result = pages(ec2.describe_subnets, "Subnets", MaxResults=5,
                   Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])

    seen = [s["SubnetId"] for page in result for s in page]
    assert len(result) >= 2
    assert all(len(page) <= 5 for page in result)
    assert sorted(seen) == sorted(created)


# The default VPC.


@pytest.mark.parametrize("region", REGIONS)
def test_default_vpc_contents(fogbank, region):
    ec2 = fogbank.client("ec2", region=region)

    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    in_vpc = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = ec2.describe_subnets(
        Filters=in_vpc + [{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    groups = ec2.describe_security_groups(
        Filters=in_vpc + [{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    [main] = ec2.describe_route_tables(
        Filters=in_vpc + [{"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    [igw] = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]

    assert vpc["CidrBlock"] == "172.31.0.0/16"
    assert vpc["IsDefault"] is True
    assert vpc["State"] == "available"
    assert {s["AvailabilityZone"]: s["CidrBlock"] for s in subnets} == {
        f"{region}a": "172.31.0.0/20",
        f"{region}b": "172.31.16.0/20",
        f"{region}c": "172.31.32.0/20",
    }
    for subnet in subnets:
        assert subnet["DefaultForAz"] is True
        assert subnet["MapPublicIpOnLaunch"] is True
    assert len(groups) == 1
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc["VpcId"]}]
    destinations = {r.get("DestinationCidrBlock"): r.get("GatewayId") for r in main["Routes"]}
    assert destinations["172.31.0.0/16"] == "local"
    assert destinations["0.0.0.0/0"] == igw["InternetGatewayId"]


# Internet gateways.


def test_internet_gateway_attach_detach_delete(ec2, vpc):
    igw = ec2.create_internet_gateway()["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert re.fullmatch(r"igw-[0-9a-f]{8,17}", igw_id), igw_id
    assert igw.get("Attachments", []) == []

    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])
    [attached] = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"]
    assert attached["Attachments"] == [{"State": "available", "VpcId": vpc["VpcId"]}]

    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])
    [detached] = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"]
    assert detached.get("Attachments", []) == []

    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    with raises_aws("InvalidInternetGatewayID.NotFound"):
        ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])


def test_attaching_an_internet_gateway_twice_is_already_associated(ec2, vpc):
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])

    with raises_aws("Resource.AlreadyAssociated"):
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])


def test_detaching_an_unattached_internet_gateway_is_gateway_not_attached(ec2, vpc):
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]

    with raises_aws("Gateway.NotAttached"):
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])


def test_detaching_from_the_wrong_vpc_is_gateway_not_attached(ec2, vpc):
    other = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])

    with raises_aws("Gateway.NotAttached"):
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=other["VpcId"])


def test_attach_to_unknown_vpc_is_vpc_not_found(ec2):
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]

    with raises_aws("InvalidVpcID.NotFound"):
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=MISSING_VPC)


def test_filter_internet_gateways_by_attached_vpc(ec2, vpc):
    attached = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    loose = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=attached, VpcId=vpc["VpcId"])

    found = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]

    assert [g["InternetGatewayId"] for g in found] == [attached]
    assert loose not in {g["InternetGatewayId"] for g in found}


# Route tables.


def test_route_table_with_internet_route_associated_to_a_subnet(ec2, vpc):
    subnet_id = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")[
        "Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc["VpcId"])
    table = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]
    table_id = table["RouteTableId"]
    assert re.fullmatch(r"rtb-[0-9a-f]{8,17}", table_id), table_id
    assert table["VpcId"] == vpc["VpcId"]

    assert ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                            GatewayId=igw_id)["Return"] is True
    association_id = ec2.associate_route_table(
        RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]

    assert association_id.startswith("rtbassoc-")
    [found] = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"]
    assert found["RouteTableId"] == table_id
    routes = {r.get("DestinationCidrBlock"): r for r in found["Routes"]}
    assert routes["0.0.0.0/0"]["GatewayId"] == igw_id
    assert routes["0.0.0.0/0"]["State"] == "active"
    assert routes["10.0.0.0/16"]["GatewayId"] == "local"
    assert any(a.get("SubnetId") == subnet_id and a["RouteTableAssociationId"] == association_id
               for a in found["Associations"])


def test_main_route_table_is_found_with_association_main(ec2, vpc):
    created = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]

    main = ec2.describe_route_tables(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "association.main", "Values": ["true"]},
    ])["RouteTables"]
    every = ec2.describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]

    assert len(main) == 1
    assert main[0]["RouteTableId"] != created
    assert any(a.get("Main") is True for a in main[0]["Associations"])
    assert {t["RouteTableId"] for t in every} == {main[0]["RouteTableId"], created}


def test_disassociated_route_table_no_longer_matches_the_subnet(ec2, vpc):
    subnet_id = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.0.1.0/24")[
        "Subnet"]["SubnetId"]
    table_id = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]
    association_id = ec2.associate_route_table(
        RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]

    ec2.disassociate_route_table(AssociationId=association_id)

    assert ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"] == []


def test_deleted_route_table_is_not_found(ec2, vpc):
    table_id = ec2.create_route_table(VpcId=vpc["VpcId"])["RouteTable"]["RouteTableId"]

    ec2.delete_route_table(RouteTableId=table_id)

    with raises_aws("InvalidRouteTableID.NotFound"):
        ec2.describe_route_tables(RouteTableIds=[table_id])
