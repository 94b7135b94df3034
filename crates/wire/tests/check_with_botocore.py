#!/usr/bin/env python3
"""Makes and checks the fixtures of crates/wire/tests/protocols.rs with botocore.

botocore (the library under the aws CLI and boto3) is the reference for what a client sends and
what it understands. Nothing here runs at `cargo test` time: the Rust tests only read the files.

    PY=/path/to/venv/bin/python     # a venv with botocore (tested with 1.44.8)
    $PY check_with_botocore.py --write   # (re)write fixtures/*/*.request.json from REQUESTS below
    $PY check_with_botocore.py           # check everything (exit status 1 on any mismatch)
    $PY check_with_botocore.py --sweep   # every operation of every model with sample values
                                         # (runs `cargo test -p fogbank-wire` itself; slow-ish)

What is checked:

* requests: each `*.request.json` holds the exact HTTP request botocore sends for `params`
  (captured at `before-send`, nothing goes on the network; the clock is frozen so signatures are
  stable) and the value Fogbank's parser must produce (`input`: member names as in the model,
  timestamps as `YYYY-MM-DDTHH:MM:SS.mmmZ`, blobs as base64). The check re-captures every
  request and fails if a fixture is stale.
* responses: each `*.response.json` holds a Fogbank output value; the Rust test renders it into
  the golden `*.response.http` (`UPDATE_EXPECT=1 cargo test -p fogbank-wire --test protocols`).
  Here botocore's own parser reads the golden and must give back the output value (less the
  members the model does not know) with the right request id and HTTP status.
* errors: the same for `*.error.json` / `*.error.http`: botocore must find the error code,
  message, status and request id.
* `--sweep` (not part of the default check): for every operation of every model botocore
  serializes an input made of sample values, and Fogbank must route it to that operation and
  parse it back; Fogbank renders a sample output and botocore must parse it back. Nothing is
  kept: the files live in target/wire-sweep.
"""

import base64
import copy
import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import botocore.auth
import botocore.parsers
import botocore.session
from botocore.awsrequest import HeadersDict
from botocore.config import Config
from botocore.response import StreamingBody

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
ENDPOINT = "http://localhost:4566"
ACCESS_KEY = "AKIDEXAMPLE"
REGION = "us-east-1"
# Headers that change from run to run or machine to machine and that Fogbank ignores.
VOLATILE_HEADERS = {"user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "content-length"}

# A frozen clock: the SigV4 date and signature stay the same between runs.
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: datetime.datetime(2026, 1, 2, 3, 4, 5)

SESSION = botocore.session.get_session()


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def iso(value):
    """Fogbank's canonical timestamp: ISO 8601 UTC with milliseconds."""
    if isinstance(value, (int, float)):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    elif isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    value = value.astimezone(datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def canonical(shape, value):
    """A value of `shape` the way Fogbank holds it: unknown members dropped, timestamps as ISO
    strings, blobs as base64."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        if getattr(shape, "is_document_type", False):
            return value
        return {k: canonical(shape.members[k], v) for k, v in value.items() if k in shape.members}
    if kind == "list":
        return [canonical(shape.member, v) for v in value]
    if kind == "map":
        return {k: canonical(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        return iso(value)
    if kind == "blob":
        if isinstance(value, StreamingBody):
            value = value.read()
        # Bytes (botocore's side) become base64; a string is already Fogbank's base64.
        return b64(value) if isinstance(value, bytes) else value
    return value


def jsonable(value):
    if isinstance(value, bytes):
        return b64(value)
    if isinstance(value, datetime.datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Requests. Each entry: protocol folder, fixture name, botocore service, operation (model name),
# params. The expected `input` is made from the params as botocore's own handlers leave them
# (they base64-encode ec2 UserData, strip route53's `/hostedzone/`, ...). Blob params are
# bytes (a string in an expected value is taken as base64 already). Optional:
# `validation` (the error `fogbank_wire::validate` must give; botocore's own validation is then
# off), `parse_error` (the error `parse_input` must give instead of an input), or `raw` (a request written by hand) with `service`/`operation`/`input` or
# `route_error`.
# ---------------------------------------------------------------------------------------------

ZIP = b"PK\x03\x04fake zip \x00\xff"

REQUESTS = [
    # ec2
    dict(proto="ec2", name="describe_vpcs", service="ec2", op="DescribeVpcs", params={
        "VpcIds": ["vpc-0a1b2c3d", "vpc-11111111"],
        "Filters": [
            {"Name": "cidr", "Values": ["10.0.0.0/16"]},
            {"Name": "tag:Name", "Values": ["a b", "c&d=e"]},
        ],
        "MaxResults": 5,
    }),
    dict(proto="ec2", name="run_instances", service="ec2", op="RunInstances", params={
        "ImageId": "ami-12345678",
        "InstanceType": "t3.micro",
        "MinCount": 1,
        "MaxCount": 2,
        "UserData": "#!/bin/sh\necho hi\n",
        "ClientToken": "token-1",
        "DisableApiTermination": True,
        "SecurityGroupIds": ["sg-1", "sg-2"],
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "DeleteOnTermination": True}},
            {"DeviceName": "/dev/xvdb", "NoDevice": ""},
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "env", "Value": ""}]},
            {"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "web-root"}]},
        ],
        "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-1", "AssociatePublicIpAddress": False}],
        "Placement": {"AvailabilityZone": "us-east-1a"},
        "Monitoring": {"Enabled": False},
        # botocore base64-encodes UserData before sending it.
    }),
    dict(proto="ec2", name="authorize_security_group_ingress", service="ec2", op="AuthorizeSecurityGroupIngress", params={
        "GroupId": "sg-0123",
        "IpPermissions": [
            {
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": "203.0.113.0/24", "Description": "office"}],
                "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            },
            {
                "IpProtocol": "-1",
                "UserIdGroupPairs": [{"GroupId": "sg-0456", "UserId": "000000000000"}],
                "PrefixListIds": [{"PrefixListId": "pl-1"}],
            },
        ],
        "DryRun": True,
    }),
    dict(proto="ec2", name="describe_spot_price_history", service="ec2", op="DescribeSpotPriceHistory", params={
        "StartTime": datetime.datetime(2026, 1, 2, 3, 4, 5, 678900, tzinfo=datetime.timezone.utc),
        "EndTime": datetime.datetime(2026, 1, 3, tzinfo=datetime.timezone.utc),
        "InstanceTypes": ["t3.micro", "m5.large"],
        "ProductDescriptions": ["Linux/UNIX"],
        "AvailabilityZone": "us-east-1a",
        # botocore sends microseconds (.678900); Fogbank keeps milliseconds (.678).
    }),
    dict(proto="ec2", name="create_tags_missing_resources", service="ec2", op="CreateTags", params={
        "Tags": [{"Key": "Name", "Value": "x"}],
    }, validation={"code": "MissingParameter", "message": "The request must contain the parameter ResourceId"}),
    dict(proto="ec2", name="create_vpc_bad_tenancy", service="ec2", op="CreateVpc", params={
        "CidrBlock": "10.0.0.0/16", "InstanceTenancy": "bogus",
    }, validation={
        "code": "InvalidParameterValue",
        "message": "Value (bogus) for parameter InstanceTenancy is invalid. "
                   "Member must satisfy enum value set: [default, dedicated, host]",
    }),
    dict(proto="ec2", name="unsigned_action_only", raw=dict(
        method="GET", path="/", query="Action=DescribeRegions", headers={}, body=""),
        service="ec2", operation="DescribeRegions", input={}),
    dict(proto="ec2", name="unknown_action", raw=dict(
        method="POST", path="/", query="",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/ec2/aws4_request, "
                                  "SignedHeaders=content-type;host;x-amz-date, Signature=0"},
        body="Action=DescribeUnicorns&Version=2016-11-15"),
        route_error={"protocol": "ec2", "code": "InvalidAction", "status": 400, "service": "ec2",
                     "message": "The action DescribeUnicorns is not valid for this web service."}),
    # query
    dict(proto="query", name="sts_get_caller_identity", service="sts", op="GetCallerIdentity", params={}),
    # botocore sends this one unsigned (the operation needs no credentials): routed by Version.
    dict(proto="query", name="sts_assume_role_with_web_identity_unsigned", service="sts",
         op="AssumeRoleWithWebIdentity", params={
             "RoleArn": "arn:aws:iam::000000000000:role/r",
             "RoleSessionName": "session-1",
             "WebIdentityToken": "eyJhbGciOi.x.y",
             "DurationSeconds": 900,
             "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
         }),
    dict(proto="query", name="autoscaling_create_auto_scaling_group", service="autoscaling",
         op="CreateAutoScalingGroup", params={
             "AutoScalingGroupName": "asg-1",
             "LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": "$Latest"},
             "MinSize": 0, "MaxSize": 3, "DesiredCapacity": 1,
             "AvailabilityZones": ["us-east-1a", "us-east-1b"],
             "TargetGroupARNs": [],
             "NewInstancesProtectedFromScaleIn": False,
             "Tags": [
                 {"ResourceId": "asg-1", "ResourceType": "auto-scaling-group", "Key": "k1", "Value": "v1",
                  "PropagateAtLaunch": True},
                 {"Key": "k2", "Value": "v 2+3", "PropagateAtLaunch": False},
             ],
         }),
    dict(proto="query", name="autoscaling_put_scheduled_update_group_action", service="autoscaling",
         op="PutScheduledUpdateGroupAction", params={
             "AutoScalingGroupName": "asg-1", "ScheduledActionName": "nightly",
             "StartTime": datetime.datetime(2026, 1, 2, 22, 0, tzinfo=datetime.timezone.utc),
             "EndTime": "2026-02-01T00:00:00.250Z",
             "Recurrence": "0 22 * * *", "MinSize": 0, "DesiredCapacity": 0, "TimeZone": "Europe/Paris",
         }),
    dict(proto="query", name="elbv2_create_target_group", service="elbv2", op="CreateTargetGroup", params={
        "Name": "tg-1", "Protocol": "HTTP", "Port": 80, "VpcId": "vpc-1",
        "HealthCheckPath": "/health?x=1", "HealthCheckEnabled": True, "Matcher": {"HttpCode": "200-299"},
        "TargetType": "ip", "Tags": [{"Key": "team", "Value": "web"}],
    }),
    dict(proto="query", name="elbv2_create_target_group_bad_protocol", service="elbv2", op="CreateTargetGroup",
         params={"Name": "tg-1", "Protocol": "BOGUS"},
         validation={
             "code": "ValidationError",
             "message": "1 validation error detected: Value 'BOGUS' at 'protocol' failed to satisfy constraint: "
                        "Member must satisfy enum value set: [HTTP, HTTPS, TCP, TLS, UDP, TCP_UDP, GENEVE, QUIC, TCP_QUIC]",
         }),
    dict(proto="query", name="elbv2_describe_load_balancers", service="elbv2", op="DescribeLoadBalancers",
         params={"Names": ["lb-1"], "PageSize": 10}),
    dict(proto="query", name="elb_describe_load_balancers", service="elb", op="DescribeLoadBalancers",
         params={"LoadBalancerNames": ["lb-1"], "PageSize": 10}),
    dict(proto="query", name="iam_create_role", service="iam", op="CreateRole", params={
        "Path": "/app/", "RoleName": "role-1",
        "AssumeRolePolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": []}),
        "MaxSessionDuration": 3600,
        "Tags": [{"Key": "a", "Value": "1"}],
    }),
    dict(proto="query", name="iam_create_role_missing_policy", service="iam", op="CreateRole",
         params={"RoleName": "role-1"},
         validation={
             "code": "ValidationError",
             "message": "1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy "
                        "constraint: Member must not be null",
         }),
    # json
    dict(proto="json", name="ecs_register_task_definition", service="ecs", op="RegisterTaskDefinition", params={
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256", "memory": "512",
        "containerDefinitions": [{
            "name": "app", "image": "nginx:1", "essential": True, "memory": 256,
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "environment": [{"name": "A", "value": "1"}],
            "command": ["nginx", "-g", "daemon off;"],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
        }],
        "tags": [{"key": "team", "value": "web"}],
    }),
    dict(proto="json", name="ecs_register_task_definition_bad_network_mode", service="ecs",
         op="RegisterTaskDefinition", params={
             "family": "web", "networkMode": "bogus", "containerDefinitions": [{"name": "app"}],
         }, validation={
             "code": "ValidationException",
             "message": "1 validation error detected: Value 'bogus' at 'networkMode' failed to satisfy constraint: "
                        "Member must satisfy enum value set: [bridge, host, awsvpc, none]",
         }),
    dict(proto="json", name="lightsail_create_instances", service="lightsail", op="CreateInstances", params={
        "instanceNames": ["i-1", "i-2"], "availabilityZone": "us-east-1a",
        "blueprintId": "amazon_linux_2023", "bundleId": "nano_3_0",
        "userData": "echo hi",
        "tags": [{"key": "k", "value": "v"}],
        "addOns": [{"addOnType": "AutoSnapshot", "autoSnapshotAddOnRequest": {"snapshotTimeOfDay": "06:00"}}],
    }),
    dict(proto="json", name="lightsail_get_instance_metric_data", service="lightsail", op="GetInstanceMetricData",
         params={
             "instanceName": "i-1", "metricName": "CPUUtilization", "period": 300,
             "startTime": datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timezone.utc),
             "endTime": datetime.datetime(2026, 1, 2, 1, 30, 0, 500000, tzinfo=datetime.timezone.utc),
             "unit": "Percent", "statistics": ["Average", "Maximum"],
         }),
    dict(proto="json", name="lightsail_create_instances_missing_bundle", service="lightsail", op="CreateInstances",
         params={"instanceNames": ["i-1"], "availabilityZone": "us-east-1a", "blueprintId": "amazon_linux_2023"},
         validation={
             "code": "ValidationException",
             "message": "1 validation error detected: Value null at 'bundleId' failed to satisfy constraint: "
                        "Member must not be null",
         }),
    dict(proto="json", name="unknown_target", raw=dict(
        method="POST", path="/", query="",
        headers={"Content-Type": "application/x-amz-json-1.1",
                 "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.FlyToTheMoon"},
        body="{}"),
        route_error={"protocol": "json", "code": "UnknownOperationException", "status": 400, "service": "ecs",
                     "message": "Unknown operation FlyToTheMoon"}),
    # rest-json
    dict(proto="rest-json", name="lambda_create_function", service="lambda", op="CreateFunction", params={
        "FunctionName": "fn-1", "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler", "Code": {"ZipFile": ZIP}, "Timeout": 30, "MemorySize": 256,
        "Publish": True, "Environment": {"Variables": {"A": "1", "B": "two"}},
        "Tags": {"team": "web"}, "Architectures": ["arm64"],
    }),
    dict(proto="rest-json", name="lambda_invoke", service="lambda", op="Invoke", params={
        "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:fn-1",
        "InvocationType": "RequestResponse", "LogType": "Tail",
        "ClientContext": b64('{"custom":{}}'),
        "Payload": b'{"key": "value \xc3\xa9"}', "Qualifier": "$LATEST",
    }),
    dict(proto="rest-json", name="lambda_list_functions", service="lambda", op="ListFunctions", params={
        "MasterRegion": "ALL", "FunctionVersion": "ALL", "Marker": "a/b c", "MaxItems": 10,
    }),
    dict(proto="rest-json", name="lambda_list_durable_executions", service="lambda",
         op="ListDurableExecutionsByFunction", params={
             "FunctionName": "fn-1", "Statuses": ["RUNNING", "SUCCEEDED"],
             "StartedAfter": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
             "ReverseOrder": True, "MaxItems": 5,
         }),
    dict(proto="rest-json", name="lambda_untag_resource", service="lambda", op="UntagResource", params={
        "Resource": "arn:aws:lambda:us-east-1:000000000000:function:fn-1", "TagKeys": ["a", "b c"],
    }),
    dict(proto="rest-json", name="apigateway_get_export", service="apigateway", op="GetExport", params={
        "restApiId": "abc123", "stageName": "prod", "exportType": "oas30",
        "parameters": {"extensions": "integrations,authorizers"}, "accepts": "application/yaml",
    }),
    # Same path; the list has `?List=ALL` in its URI template and must win when it is there.
    dict(proto="rest-json", name="lambda_get_provisioned_concurrency_config", service="lambda",
         op="GetProvisionedConcurrencyConfig", params={"FunctionName": "fn-1", "Qualifier": "live"}),
    dict(proto="rest-json", name="lambda_list_provisioned_concurrency_configs", service="lambda",
         op="ListProvisionedConcurrencyConfigs", params={"FunctionName": "fn-1", "MaxItems": 3}),
    # A blob payload, a query-string map, and `mode=import` from the URI template (no member's).
    dict(proto="rest-json", name="apigateway_import_rest_api", service="apigateway", op="ImportRestApi", params={
        "failOnWarnings": True, "parameters": {"endpointConfigurationTypes": "REGIONAL"},
        "body": b'{"openapi": "3.0.1", "info": {"title": "t"}}',
    }),
    dict(proto="rest-json", name="lambda_create_function_missing_role", service="lambda", op="CreateFunction",
         params={"FunctionName": "fn-1", "Code": {"ZipFile": b"x"}},
         validation={
             "code": "ValidationException",
             "message": "1 validation error detected: Value null at 'role' failed to satisfy constraint: "
                        "Member must not be null",
         }),
    dict(proto="rest-json", name="apigateway_create_resource", service="apigateway", op="CreateResource", params={
        "restApiId": "abc123", "parentId": "root id", "pathPart": "{proxy+}",
    }),
    dict(proto="rest-json", name="apigateway_get_rest_apis", service="apigateway", op="GetRestApis",
         params={"limit": 5, "position": "p"}),
    dict(proto="rest-json", name="apigatewayv2_get_apis", service="apigatewayv2", op="GetApis",
         params={"MaxResults": "5", "NextToken": "n"}),
    dict(proto="rest-json", name="lambda_unknown_path", raw=dict(
        method="GET", path="/2015-03-31/unicorns", query="",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/lambda/aws4_request, "
                                  "SignedHeaders=host;x-amz-date, Signature=0"},
        body=""),
        route_error={"protocol": "rest-json", "code": "UnknownOperationException", "status": 404,
                     "service": "lambda", "message": "No operation matches GET /2015-03-31/unicorns"}),
    # rest-xml
    dict(proto="rest-xml", name="route53_change_resource_record_sets", service="route53",
         op="ChangeResourceRecordSets", params={
             "HostedZoneId": "/hostedzone/Z0123456789",
             "ChangeBatch": {
                 "Comment": "a & b",
                 "Changes": [
                     {"Action": "UPSERT", "ResourceRecordSet": {
                         "Name": "www.example.com.", "Type": "A", "TTL": 300,
                         "ResourceRecords": [{"Value": "192.0.2.1"}, {"Value": "192.0.2.2"}]}},
                     {"Action": "CREATE", "ResourceRecordSet": {
                         "Name": "alias.example.com.", "Type": "A",
                         "AliasTarget": {"HostedZoneId": "Z2", "DNSName": "lb.example.com.",
                                         "EvaluateTargetHealth": False}}},
                 ],
             },
             # botocore strips the /hostedzone/ prefix of ids.
         }),
    dict(proto="rest-xml", name="route53_list_resource_record_sets", service="route53",
         op="ListResourceRecordSets", params={
             "HostedZoneId": "Z0123456789", "StartRecordName": "www.example.com.", "StartRecordType": "AAAA",
             "MaxItems": "10",
         }),
    dict(proto="rest-xml", name="route53_create_hosted_zone", service="route53", op="CreateHostedZone", params={
        "Name": "example.com.", "CallerReference": "ref-1",
        "HostedZoneConfig": {"Comment": "c", "PrivateZone": True},
        "VPC": {"VPCRegion": "us-east-1", "VPCId": "vpc-1"},
    }),
    dict(proto="rest-xml", name="route53_change_resource_record_sets_bad_action", service="route53",
         op="ChangeResourceRecordSets", params={
             "HostedZoneId": "Z1",
             "ChangeBatch": {"Changes": [{"Action": "MERGE", "ResourceRecordSet": {"Name": "a.", "Type": "A"}}]},
         }, validation={
             "code": "InvalidInput",
             "message": "1 validation error detected: Value 'MERGE' at 'changeBatch.changes.1.action' failed to "
                        "satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]",
         }),
    dict(proto="rest-xml", name="cloudfront_create_distribution", service="cloudfront", op="CreateDistribution",
         params={"DistributionConfig": {
             "CallerReference": "ref-1",
             "Comment": "",
             "Enabled": True,
             "Origins": {"Quantity": 1, "Items": [{
                 "Id": "o1", "DomainName": "bucket.s3.amazonaws.com",
                 "S3OriginConfig": {"OriginAccessIdentity": ""},
             }]},
             "DefaultCacheBehavior": {
                 "TargetOriginId": "o1", "ViewerProtocolPolicy": "redirect-to-https",
                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
             },
         }}),
    dict(proto="rest-xml", name="cloudfront_tag_resource", service="cloudfront", op="TagResource", params={
        "Resource": "arn:aws:cloudfront::000000000000:distribution/E123",
        "Tags": {"Items": [{"Key": "team", "Value": "web"}, {"Key": "empty"}]},
    }),
    # cloudwatch offers smithy-rpc-v2-cbor, json and query; botocore prefers json.
    dict(proto="json", name="cloudwatch_list_metrics", service="cloudwatch", op="ListMetrics",
         params={"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                 "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}], "RecentlyActive": "PT3H"}),
    # Other SDKs send rpc-v2-cbor, which is routed by its path but not decoded yet: 501.
    dict(proto="smithy-rpc-v2-cbor", name="cloudwatch_list_metrics_cbor", raw=dict(
        method="POST", path="/service/GraniteServiceVersion20100801/operation/ListMetrics", query="",
        headers={"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                 "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260102/us-east-1/monitoring/aws4_request, "
                                  "SignedHeaders=content-type;host;smithy-protocol;x-amz-date, Signature=0"},
        body_base64="oA=="),
        service="cloudwatch", operation="ListMetrics", signing_name="monitoring",
        parse_error={"code": "NotImplemented", "status": 501}),
]


def make_client(service, validate=True):
    config = Config(retries={"max_attempts": 0}, parameter_validation=validate)
    return SESSION.create_client(service, region_name=REGION, endpoint_url=ENDPOINT, config=config,
                                 aws_access_key_id=ACCESS_KEY, aws_secret_access_key="secret")


class Captured(Exception):
    pass


def capture(client, operation, params, seen=None):
    """The request botocore would send for `operation`, captured before it leaves. When `seen`
    is a dict, it receives the params as botocore's own handlers left them (route53 ids without
    their `/hostedzone/` prefix, ec2 UserData in base64, ...) under "params"."""
    box = {}

    def before_send(request, **_):
        box["request"] = request
        raise Captured()

    def after_handlers(params, **_):
        if seen is not None:
            seen["params"] = copy.deepcopy(params)

    client.meta.events.register("before-send", before_send)
    client.meta.events.register_last("before-parameter-build", after_handlers)
    method = client.meta.method_to_api_mapping
    py_name = next(k for k, v in method.items() if v == operation)
    try:
        getattr(client, py_name)(**params)
    except Captured:
        pass
    finally:
        client.meta.events.unregister("before-send", before_send)
        client.meta.events.unregister("before-parameter-build", after_handlers)
    request = box["request"]
    url = urlsplit(request.url)
    headers = {}
    for k, v in request.headers.items():
        if k.lower() in VOLATILE_HEADERS:
            continue
        headers[k] = v.decode() if isinstance(v, bytes) else v
    body = request.body or b""
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    out = {"method": request.method, "path": url.path, "query": url.query, "headers": headers}
    try:
        out["body"] = body.decode()
    except UnicodeDecodeError:
        out["body_base64"] = b64(body)
    return out


def request_fixture(case):
    if "raw" in case:
        auth = case["raw"]["headers"].get("Authorization")
        signing_name = case.get("signing_name") or case.get("route_error", {}).get("service")
        fixture = {"request": case["raw"], "credential": credential_of(auth, signing_name)}
        for key in ("service", "operation", "input", "parse_error", "route_error"):
            if key in case:
                fixture[key] = case[key]
        return fixture
    service, operation, params = case["service"], case["op"], case["params"]
    client = make_client(service, validate="validation" not in case)
    model = client.meta.service_model
    op_model = model.operation_model(operation)
    seen = {}
    request = capture(client, operation, params, seen)
    expected = canonical(op_model.input_shape, seen["params"]) if op_model.input_shape else {}
    signed = "Authorization" in request["headers"]
    fixture = {
        "service": service,
        "operation": operation,
        "params": jsonable(params),
        "request": request,
        "credential": {
            "access_key": ACCESS_KEY if signed else None,
            "region": REGION if signed else None,
            "service": model.signing_name if signed else None,
        },
        "input": expected,
    }
    if "validation" in case:
        fixture["validation"] = case["validation"]
    if "parse_error" in case:
        del fixture["input"]
        fixture["parse_error"] = case["parse_error"]
    return fixture


def credential_of(auth, service):
    if not auth:
        return {"access_key": None, "region": None, "service": None}
    return {"access_key": ACCESS_KEY, "region": REGION, "service": service}


def request_path(case):
    return FIXTURES / case["proto"] / f"{case['name']}.request.json"


def dump(value):
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def write_requests():
    for case in REQUESTS:
        path = request_path(case)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(request_fixture(case)))
        print("wrote", path.relative_to(HERE))


# ---------------------------------------------------------------------------------------------
# Checking goldens with botocore's parsers.
# ---------------------------------------------------------------------------------------------

def read_http(path):
    """A golden written by protocols.rs: `HTTP <status>`, `Name: value` lines, a blank line, the
    body (or `base64:<body>` for bytes that are not UTF-8)."""
    text = path.read_bytes().decode()
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(": ")
        headers[k] = v
    body = base64.b64decode(body[len("base64:"):]) if body.startswith("base64:") else body.encode()
    return status, headers, body


def botocore_parse(protocol, operation_model, status, headers, body):
    """What botocore's parser makes of a response (the dict a client call returns)."""
    parser = botocore.parsers.create_parser(protocol)
    response = {"status_code": status, "headers": HeadersDict(headers), "body": body}
    shape = operation_model.output_shape if operation_model else None
    if shape is not None and operation_model.has_streaming_output and status < 300:
        response["body"] = StreamingBody(io.BytesIO(body), len(body))
    return parser.parse(response, shape)


def compare(label, expected, actual, problems):
    if expected != actual:
        problems.append(f"{label}:\n  expected {json.dumps(expected, sort_keys=True, default=str)}\n"
                        f"  botocore {json.dumps(actual, sort_keys=True, default=str)}")


def check_requests(problems):
    names = set()
    for case in REQUESTS:
        path = request_path(case)
        names.add(path)
        want = dump(request_fixture(case))
        if not path.exists():
            problems.append(f"{path.relative_to(HERE)}: missing (run with --write)")
        elif path.read_text() != want:
            problems.append(f"{path.relative_to(HERE)}: stale, botocore now sends something else (run with --write)")
    for path in sorted(FIXTURES.glob("*/*.request.json")):
        if path not in names:
            problems.append(f"{path.relative_to(HERE)}: not made by REQUESTS (delete it or add a case)")
    return len(REQUESTS)


def check_responses(problems):
    count = 0
    for path in sorted(FIXTURES.glob("*/*.response.json")):
        count += 1
        label = str(path.relative_to(HERE))
        fixture = json.loads(path.read_text())
        golden = path.with_name(path.name.replace(".json", ".http"))
        if not golden.exists():
            problems.append(f"{label}: no golden (UPDATE_EXPECT=1 cargo test -p fogbank-wire --test protocols)")
            continue
        model = SESSION.get_service_model(fixture["service"])
        op_model = model.operation_model(fixture["operation"])
        status, headers, body = read_http(golden)
        parsed = botocore_parse(model.resolved_protocol, op_model, status, headers, body)
        meta = parsed.pop("ResponseMetadata", {})
        if "Error" in parsed:
            problems.append(f"{label}: botocore sees an error: {parsed['Error']}")
            continue
        expected = fixture.get("expected_parsed", canonical(op_model.output_shape, fixture["output"]))
        compare(label, expected, canonical(op_model.output_shape, parsed), problems)
        compare(f"{label} request id", fixture["request_id"], meta.get("RequestId"), problems)
        compare(f"{label} status", fixture.get("status", 200), meta.get("HTTPStatusCode"), problems)
    return count


def check_errors(problems):
    count = 0
    for path in sorted(FIXTURES.glob("*/*.error.json")):
        count += 1
        label = str(path.relative_to(HERE))
        fixture = json.loads(path.read_text())
        golden = path.with_name(path.name.replace(".json", ".http"))
        if not golden.exists():
            problems.append(f"{label}: no golden (UPDATE_EXPECT=1 cargo test -p fogbank-wire --test protocols)")
            continue
        op_model = None
        if fixture.get("service") and fixture.get("operation"):
            op_model = SESSION.get_service_model(fixture["service"]).operation_model(fixture["operation"])
        status, headers, body = read_http(golden)
        parsed = botocore_parse(fixture["protocol"], op_model, status, headers, body)
        error = parsed.get("Error", {})
        meta = parsed.get("ResponseMetadata", {})
        want = fixture["expected"]
        got = {"Code": error.get("Code"), "Message": error.get("Message"),
               "HTTPStatusCode": meta.get("HTTPStatusCode"), "RequestId": meta.get("RequestId")}
        compare(label, {**want, "RequestId": fixture["request_id"]}, got, problems)
    return count


def check_route_errors(problems):
    count = 0
    for path in sorted(FIXTURES.glob("*/*.request.json")):
        fixture = json.loads(path.read_text())
        want = fixture.get("route_error")
        if not want:
            continue
        count += 1
        label = str(path.relative_to(HERE))
        golden = path.with_name(path.name.replace(".request.json", ".route_error.http"))
        if not golden.exists():
            problems.append(f"{label}: no golden (UPDATE_EXPECT=1 cargo test -p fogbank-wire --test protocols)")
            continue
        status, headers, body = read_http(golden)
        parsed = botocore_parse(want["protocol"], None, status, headers, body)
        error = parsed.get("Error", {})
        meta = parsed.get("ResponseMetadata", {})
        got = {"Code": error.get("Code"), "Message": error.get("Message"),
               "HTTPStatusCode": meta.get("HTTPStatusCode"), "RequestId": meta.get("RequestId")}
        compare(label, {"Code": want["code"], "Message": want["message"], "HTTPStatusCode": want["status"],
                        "RequestId": "route-req"}, got, problems)
    return count


# ---------------------------------------------------------------------------------------------
# The sweep: every operation, sample values.
# ---------------------------------------------------------------------------------------------

SWEEP_SERVICES = ["ec2", "sts", "iam", "autoscaling", "elb", "elbv2", "ecs", "lightsail", "cloudwatch", "directconnect", "lambda",
                  "apigateway", "apigatewayv2", "route53", "cloudfront"]
SWEEP_TIME = datetime.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc)


def sample(shape, name="", stack=()):
    """A value of `shape` with every member set (recursive shapes cut at the second level)."""
    kind = shape.type_name
    if kind == "structure":
        if stack.count(shape.name) > 1 or getattr(shape, "is_document_type", False):
            return {}
        members = shape.members.items()
        if shape.metadata.get("union"):
            members = list(members)[:1]
        return {k: sample(m, k, stack + (shape.name,)) for k, m in members}
    if kind == "list":
        return [sample(shape.member, f"{name}1", stack + (shape.name,)),
                sample(shape.member, f"{name}2", stack + (shape.name,))]
    if kind == "map":
        return {"k1": sample(shape.value, "v1", stack + (shape.name,)),
                "k 2": sample(shape.value, "v2", stack + (shape.name,))}
    if kind == "string":
        return f"{name} +&/=~x"
    if kind in ("integer", "long"):
        return 7
    if kind in ("float", "double"):
        return 1.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return SWEEP_TIME
    if kind == "blob":
        return b"sample\x00\xff"
    raise ValueError(kind)


def sweep():
    workdir = HERE.parents[2] / "target" / "wire-sweep"
    workdir.mkdir(parents=True, exist_ok=True)
    requests, outputs, skipped = [], [], []
    for service in SWEEP_SERVICES:
        client = make_client(service, validate=False)
        model = client.meta.service_model
        for op in model.operation_names:
            om = model.operation_model(op)
            if om.has_event_stream_input or om.has_event_stream_output:
                skipped.append(f"{service}:{op} (event stream)")
                continue
            if om.output_shape is not None:
                out = canonical(om.output_shape, sample(om.output_shape))
                outputs.append({"service": service, "operation": op, "output": out})
            params = sample(om.input_shape) if om.input_shape else {}
            seen = {}
            try:
                request = capture(client, op, params, seen)
            except Exception as e:  # botocore refuses the sample (a customization)
                skipped.append(f"{service}:{op} ({e!r:.80})")
                continue
            expected = canonical(om.input_shape, seen["params"]) if om.input_shape else {}
            requests.append({"service": service, "operation": op, "request": request, "input": expected})
    (workdir / "requests.json").write_text(json.dumps(requests))
    (workdir / "outputs.json").write_text(json.dumps(outputs))
    subprocess.run(["cargo", "test", "-q", "-p", "fogbank-wire", "--test", "protocols", "--",
                    "--ignored", "--exact", "sweep_every_operation"],
                   check=True, cwd=HERE.parents[2], env={**os.environ, "FOGBANK_SWEEP_DIR": str(workdir)})
    parsed = json.loads((workdir / "parsed.json").read_text())
    rendered = json.loads((workdir / "rendered.json").read_text())

    problems = []
    for case, got in zip(requests, parsed):
        key = (case["service"], case["operation"])
        want_route = f"{key[0]}:{key[1]}"
        if got.get("route") != want_route:
            problems.append(f"request {want_route}: routed to {got.get('route')} {got.get('error', '')}")
        elif "error" in got:
            problems.append(f"request {want_route}: {got['error']}")
        elif got["input"] != case["input"]:
            diff = sorted(k for k in set(got["input"]) | set(case["input"])
                          if got["input"].get(k) != case["input"].get(k))
            problems.append(f"request {want_route}: members differ: {diff}")
    for case, r in zip(outputs, rendered):
        key = (case["service"], case["operation"])
        model = SESSION.get_service_model(key[0])
        om = model.operation_model(key[1])
        body = base64.b64decode(r["body"])
        label = f"response {key[0]}:{key[1]}"
        try:
            parsed_out = botocore_parse(model.resolved_protocol, om, r["status"], dict(r["headers"]), body)
        except Exception as e:
            problems.append(f"{label}: botocore cannot parse it: {e!r:.200}")
            continue
        meta = parsed_out.pop("ResponseMetadata", {})
        got_out = canonical(om.output_shape, parsed_out)
        if got_out != case["output"]:
            diff = sorted(k for k in set(got_out) | set(case["output"]) if got_out.get(k) != case["output"].get(k))
            problems.append(f"{label}: members differ: {diff}")
        if meta.get("RequestId") != "sweep-req":
            problems.append(f"{label}: request id {meta.get('RequestId')!r}")
    for p in problems:
        print("MISMATCH", p)
    for s in skipped:
        print("skipped", s)
    print(f"sweep: {len(requests)} requests, {len(outputs)} responses, {len(skipped)} skipped, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main():
    if "--write" in sys.argv[1:]:
        write_requests()
        return 0
    if "--sweep" in sys.argv[1:]:
        return sweep()
    problems = []
    n_req = check_requests(problems)
    n_resp = check_responses(problems)
    n_err = check_errors(problems) + check_route_errors(problems)
    for p in problems:
        print("MISMATCH", p)
    print(f"botocore {botocore.__version__}: {n_req} requests, {n_resp} responses, {n_err} errors checked, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
