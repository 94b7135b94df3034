"""The server as a whole: health, reset, unimplemented operations, regions and
zones, STS and accounts."""

import json
import re

import pytest

from support import (
    DEFAULT_ACCOUNT,
    REGIONS,
    AwsCliError,
    http_status,
    raises_aws,
    tag_spec,
    unique,
)

ZONE_ID_PREFIX = {"us-east-1": "use1", "us-west-2": "usw2", "eu-west-1": "euw1"}


def test_health_reports_ok_with_services_and_substrate(fogbank):
    status, headers, body = fogbank.http("GET", "/_fogbank/health")

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    health = json.loads(body)
    assert health["status"] == "ok"
    assert isinstance(health["version"], str) and health["version"]
    assert {"ec2", "sts"} <= set(health["services"])
    assert health["substrate"] == "records"


def test_reset_wipes_state_and_recreates_defaults(start_fogbank):
    server = start_fogbank()
    ec2 = server.client("ec2")
    other = server.client("ec2", region="us-west-2", access_key="123456789012")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    other_vpc_id = other.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    ec2.create_key_pair(KeyName="before-reset")

    server.reset()

    with raises_aws("InvalidVpcID.NotFound"):
        ec2.describe_vpcs(VpcIds=[vpc_id])
    with raises_aws("InvalidVpcID.NotFound"):
        other.describe_vpcs(VpcIds=[other_vpc_id])
    assert ec2.describe_key_pairs()["KeyPairs"] == []
    defaults = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert [v["CidrBlock"] for v in defaults] == ["172.31.0.0/16"]
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [defaults[0]["VpcId"]]}]
    )["Subnets"]
    assert len(subnets) == 3
    assert server.health()["status"] == "ok"


def test_unimplemented_ec2_operation_answers_501_not_implemented(ec2):
    with raises_aws("NotImplemented") as info:
        ec2.create_fleet(
            LaunchTemplateConfigs=[{
                "LaunchTemplateSpecification": {
                    "LaunchTemplateId": "lt-0123456789abcdef0", "Version": "1",
                },
            }],
            TargetCapacitySpecification={
                "TotalTargetCapacity": 1, "DefaultTargetCapacityType": "on-demand",
            },
        )

    assert http_status(info.value) == 501
    assert info.value.response["Error"].get("Message")


def test_unimplemented_route53_operation_answers_501_not_implemented(fogbank):
    # Route 53 is not implemented yet; when ListHostedZones is, pick another
    # operation that is not.
    route53 = fogbank.client("route53")

    with raises_aws("NotImplemented") as info:
        route53.list_hosted_zones()

    assert http_status(info.value) == 501
    assert info.value.response["Error"].get("Message")


def test_unknown_ec2_action_is_an_invalid_action_error(fogbank):
    status, _, body = fogbank.signed_request(
        "ec2", "Action=NoSuchAction&Version=2016-11-15"
    )

    assert status == 400
    assert re.search(rb"<Code>\s*InvalidAction\s*</Code>", body), body


def test_describe_regions_lists_the_supported_regions(ec2):
    regions = ec2.describe_regions()["Regions"]

    assert set(REGIONS) <= {r["RegionName"] for r in regions}


@pytest.mark.parametrize("region", REGIONS)
def test_availability_zones_via_cli(aws, region):
    zones = aws("ec2", "describe-availability-zones", region=region)["AvailabilityZones"]

    names = {z["ZoneName"] for z in zones}
    assert {f"{region}a", f"{region}b", f"{region}c"} <= names
    for zone in zones:
        assert zone["State"] == "available"
        assert zone["RegionName"] == region
        assert re.fullmatch(rf"{ZONE_ID_PREFIX[region]}-az\d+", zone["ZoneId"]), zone


def test_availability_zones_have_distinct_zone_ids(ec2):
    zones = ec2.describe_availability_zones()["AvailabilityZones"]

    assert len(zones) >= 3
    assert len({z["ZoneId"] for z in zones}) == len(zones)


def test_sts_caller_identity_for_the_default_account(sts):
    identity = sts.get_caller_identity()

    assert identity["Account"] == DEFAULT_ACCOUNT
    assert identity["Arn"] == f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"


def test_sts_caller_identity_via_cli_with_an_account_access_key(aws):
    identity = aws("sts", "get-caller-identity", access_key="123456789012")

    assert identity["Account"] == "123456789012"
    assert identity["Arn"] == "arn:aws:iam::123456789012:root"


def test_non_numeric_access_keys_share_the_default_account(fogbank):
    identity = fogbank.client("sts", access_key="AKIDEXAMPLE").get_caller_identity()

    assert identity["Account"] == DEFAULT_ACCOUNT


def test_accounts_do_not_see_each_others_vpcs(fogbank):
    mine = fogbank.client("ec2")
    theirs = fogbank.client("ec2", access_key="123456789012")
    name = unique("acct")
    vpc = theirs.create_vpc(
        CidrBlock="10.0.0.0/16", TagSpecifications=tag_spec("vpc", Name=name)
    )["Vpc"]

    assert vpc["OwnerId"] == "123456789012"
    with raises_aws("InvalidVpcID.NotFound"):
        mine.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert mine.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"] == []
    found = theirs.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert [v["VpcId"] for v in found] == [vpc["VpcId"]]


def test_each_account_has_its_own_default_vpc(fogbank):
    is_default = [{"Name": "is-default", "Values": ["true"]}]
    mine = fogbank.client("ec2").describe_vpcs(Filters=is_default)["Vpcs"]
    theirs = fogbank.client("ec2", access_key="210987654321").describe_vpcs(
        Filters=is_default)["Vpcs"]

    assert len(mine) == 1 and len(theirs) == 1
    assert mine[0]["VpcId"] != theirs[0]["VpcId"]
    assert mine[0]["OwnerId"] == DEFAULT_ACCOUNT
    assert theirs[0]["OwnerId"] == "210987654321"


def test_account_id_flag_changes_the_default_account(start_fogbank):
    server = start_fogbank("--account-id", "111122223333")

    identity = server.client("sts").get_caller_identity()

    assert identity["Account"] == "111122223333"
    assert identity["Arn"] == "arn:aws:iam::111122223333:root"


def test_cli_reports_aws_error_codes(aws):
    with pytest.raises(AwsCliError) as info:
        aws("ec2", "describe-vpcs", "--vpc-ids", "vpc-0123456789abcdef0")

    assert info.value.returncode != 0
    assert "An error occurred (InvalidVpcID.NotFound)" in info.value.stderr


def test_dry_run_on_a_read_operation_is_dry_run_operation(ec2):
    with raises_aws("DryRunOperation"):
        ec2.describe_vpcs(DryRun=True)
