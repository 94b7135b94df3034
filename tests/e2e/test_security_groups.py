"""Security groups and their rules."""

import re

import pytest

from support import pages, raises_aws, unique

MISSING_GROUP = "sg-0123456789abcdef0"


@pytest.fixture
def vpc_id(ec2):
    return ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


@pytest.fixture
def group_id(ec2, vpc_id):
    return ec2.create_security_group(
        GroupName=unique("group"), Description="e2e test group", VpcId=vpc_id
    )["GroupId"]


def ssh_from(cidr):
    return [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": cidr}]}]


def rules_of(ec2, group_id):
    return ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]


def test_create_security_group_and_describe_it(ec2, vpc_id):
    name = unique("group")

    group_id = ec2.create_security_group(
        GroupName=name, Description="web servers", VpcId=vpc_id)["GroupId"]

    assert re.fullmatch(r"sg-[0-9a-f]{8,17}", group_id), group_id
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["GroupName"] == name
    assert group["Description"] == "web servers"
    assert group["VpcId"] == vpc_id
    assert group["IpPermissions"] == []


def test_new_security_group_allows_all_egress(ec2, group_id):
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]

    [egress] = group["IpPermissionsEgress"]
    assert egress["IpProtocol"] == "-1"
    assert [r["CidrIp"] for r in egress["IpRanges"]] == ["0.0.0.0/0"]


def test_security_group_without_vpc_goes_to_the_default_vpc(ec2, default_vpc):
    group_id = ec2.create_security_group(
        GroupName=unique("group"), Description="no vpc given")["GroupId"]

    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["VpcId"] == default_vpc["VpcId"]


def test_duplicate_group_name_in_a_vpc_is_invalid_group_duplicate(ec2, vpc_id):
    name = unique("group")
    ec2.create_security_group(GroupName=name, Description="first", VpcId=vpc_id)

    with raises_aws("InvalidGroup.Duplicate"):
        ec2.create_security_group(GroupName=name, Description="second", VpcId=vpc_id)


def test_same_group_name_in_two_vpcs_is_allowed(ec2, vpc_id):
    name = unique("group")
    other_vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    first = ec2.create_security_group(GroupName=name, Description="a", VpcId=vpc_id)
    second = ec2.create_security_group(GroupName=name, Description="b", VpcId=other_vpc)

    assert first["GroupId"] != second["GroupId"]


def test_security_group_in_unknown_vpc_is_vpc_not_found(ec2):
    with raises_aws("InvalidVpcID.NotFound"):
        ec2.create_security_group(GroupName=unique("group"), Description="x",
                                  VpcId="vpc-0123456789abcdef0")


def test_describe_unknown_security_group_is_not_found(ec2):
    with raises_aws("InvalidGroup.NotFound"):
        ec2.describe_security_groups(GroupIds=[MISSING_GROUP])


def test_deleted_security_group_is_not_found(ec2, group_id):
    ec2.delete_security_group(GroupId=group_id)

    with raises_aws("InvalidGroup.NotFound"):
        ec2.describe_security_groups(GroupIds=[group_id])


def test_create_security_group_dry_run_creates_nothing(ec2, vpc_id):
    name = unique("group")

    with raises_aws("DryRunOperation"):
        ec2.create_security_group(GroupName=name, Description="x", VpcId=vpc_id, DryRun=True)

    assert ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"] == []


def test_authorize_ingress_returns_rule_ids_and_shows_the_rule(ec2, group_id):
    response = ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8"))

    assert response["Return"] is True
    [rule] = response["SecurityGroupRules"]
    assert re.fullmatch(r"sgr-[0-9a-f]{8,17}", rule["SecurityGroupRuleId"]), rule
    assert rule["GroupId"] == group_id
    assert rule["IsEgress"] is False
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    [permission] = group["IpPermissions"]
    assert (permission["IpProtocol"], permission["FromPort"], permission["ToPort"]) == (
        "tcp", 22, 22)
    assert [r["CidrIp"] for r in permission["IpRanges"]] == ["10.0.0.0/8"]


def test_describe_security_group_rules_by_group_id(ec2, group_id):
    rule_id = ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=ssh_from("192.0.2.0/24")
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    rules = rules_of(ec2, group_id)

    ingress = [r for r in rules if not r["IsEgress"]]
    egress = [r for r in rules if r["IsEgress"]]
    assert [r["SecurityGroupRuleId"] for r in ingress] == [rule_id]
    assert ingress[0]["IpProtocol"] == "tcp"
    assert (ingress[0]["FromPort"], ingress[0]["ToPort"]) == (22, 22)
    assert ingress[0]["CidrIpv4"] == "192.0.2.0/24"
    assert all(r["GroupId"] == group_id for r in rules)
    assert len(egress) == 1


def test_authorizing_the_same_rule_twice_is_invalid_permission_duplicate(ec2, group_id):
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8"))

    with raises_aws("InvalidPermission.Duplicate"):
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8"))


def test_authorize_ingress_on_unknown_group_is_not_found(ec2):
    with raises_aws("InvalidGroup.NotFound"):
        ec2.authorize_security_group_ingress(
            GroupId=MISSING_GROUP, IpPermissions=ssh_from("10.0.0.0/8"))


def test_revoke_ingress_by_rule_id(ec2, group_id):
    rule_id = ec2.authorize_security_group_ingress(
        GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8")
    )["SecurityGroupRules"][0]["SecurityGroupRuleId"]

    ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=[rule_id])

    assert rule_id not in {r["SecurityGroupRuleId"] for r in rules_of(ec2, group_id)}
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert group["IpPermissions"] == []


def test_revoke_ingress_by_permission(ec2, group_id):
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8"))
    https = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
              "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=https)

    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=ssh_from("10.0.0.0/8"))

    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    assert [p["FromPort"] for p in group["IpPermissions"]] == [443]


def test_ingress_from_another_security_group(ec2, vpc_id, group_id):
    source = ec2.create_security_group(
        GroupName=unique("group"), Description="source", VpcId=vpc_id)["GroupId"]

    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": source}],
    }])

    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    [permission] = group["IpPermissions"]
    assert [p["GroupId"] for p in permission["UserIdGroupPairs"]] == [source]
    [rule] = [r for r in rules_of(ec2, group_id) if not r["IsEgress"]]
    assert rule["ReferencedGroupInfo"]["GroupId"] == source


def test_authorize_and_revoke_egress(ec2, group_id):
    dns = [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
            "IpRanges": [{"CidrIp": "10.0.0.2/32"}]}]

    rule = ec2.authorize_security_group_egress(
        GroupId=group_id, IpPermissions=dns)["SecurityGroupRules"][0]

    assert rule["IsEgress"] is True
    assert rule["SecurityGroupRuleId"].startswith("sgr-")
    egress_ids = {r["SecurityGroupRuleId"] for r in rules_of(ec2, group_id) if r["IsEgress"]}
    assert rule["SecurityGroupRuleId"] in egress_ids
    ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=dns)
    egress_ids = {r["SecurityGroupRuleId"] for r in rules_of(ec2, group_id) if r["IsEgress"]}
    assert rule["SecurityGroupRuleId"] not in egress_ids


def test_filter_security_groups_by_group_name_and_vpc(ec2, vpc_id):
    name, other_name = unique("group"), unique("group")
    wanted = ec2.create_security_group(GroupName=name, Description="x", VpcId=vpc_id)["GroupId"]
    ec2.create_security_group(GroupName=other_name, Description="y", VpcId=vpc_id)

    by_name = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    in_vpc = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]

    assert [g["GroupId"] for g in by_name] == [wanted]
    assert sorted(g["GroupName"] for g in in_vpc) == sorted(["default", name, other_name])


def test_describe_security_groups_pages_with_max_results(ec2, vpc_id):
    created = {
        ec2.create_security_group(GroupName=unique("group"), Description="page",
                                  VpcId=vpc_id)["GroupId"]
        for _ in range(7)
    }

    result = pages(ec2.describe_security_groups, "SecurityGroups", MaxResults=5,
                   Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])

    seen = [g["GroupId"] for page in result for g in page]
    assert len(result) >= 2
    assert all(len(page) <= 5 for page in result)
    assert len(seen) == len(set(seen)) == 8  # seven created plus the VPC's default group
    assert created <= set(seen)


def test_group_names_in_the_format_of_ids_are_refused(ec2, vpc_id):
    with raises_aws("InvalidParameterValue"):
        ec2.create_security_group(GroupName="sg-web", Description="x", VpcId=vpc_id)
    names = [g["GroupName"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]]
    assert names == ["default"]
