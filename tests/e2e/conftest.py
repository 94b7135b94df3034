"""Fixtures for the end-to-end tests: real fogbank processes, driven only
through real clients (boto3 and the aws CLI).

Fixtures:
  fogbank        session-wide server; the suite runs once per backend listed in
                 $FOGBANK_E2E_BACKENDS (default "ephemeral,data-dir": --ephemeral,
                 then --data-dir on a temporary directory).
  start_fogbank  factory for a fresh server owned by one test:
                 start_fogbank(*flags, env=None, data_dir=None) -> FogbankServer.
  ec2, sts       boto3 clients (us-east-1, keys test/test) for `fogbank`.
  aws            runs the aws CLI against `fogbank`: aws("ec2", "describe-vpcs")
                 returns parsed JSON, raises AwsCliError (with .code and .stderr).
  ami            the newest al2023 x86_64 image id, found as Terraform would.
  default_vpc    the default VPC of us-east-1; default_subnets: its subnets by AZ.

Tests must not depend on each other's order: on the shared server they create
uniquely named resources and filter on them; a test that needs global state
(reset, flags, environment, restarts) starts its own server.
"""

import os

import pytest

from support import FogbankServer, isolated_aws_config_files

BACKENDS = ("ephemeral", "data-dir")


def _backends():
    wanted = os.environ.get("FOGBANK_E2E_BACKENDS", ",".join(BACKENDS))
    chosen = [b.strip() for b in wanted.split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown or not chosen:
        raise pytest.UsageError(
            f"FOGBANK_E2E_BACKENDS={wanted!r}: choose from {', '.join(BACKENDS)}"
        )
    return chosen


def pytest_configure(config):
    # boto3 in this process must not read the developer's profile, config,
    # credentials or endpoint overrides either.
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ.update(isolated_aws_config_files())
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # The server is local: never reach it through a proxy the environment names.
    for key in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(key, "").split(",") if h]
        os.environ[key] = ",".join(hosts + ["127.0.0.1", "localhost"])


def servers_used_by(item):
    """The servers a test used: the shared one and those it started itself."""
    funcargs = getattr(item, "funcargs", {})
    servers = []
    if isinstance(funcargs.get("fogbank"), FogbankServer):
        servers.append(funcargs["fogbank"])
    if isinstance(funcargs.get("start_fogbank"), FogbankFactory):
        servers.extend(funcargs["start_fogbank"].servers)
    return servers


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Show the tail of each server's log under a failing test."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for server in servers_used_by(item):
            report.sections.append(
                (f"fogbank log tail ({server.log_path})", server.log_tail())
            )
    return report


@pytest.fixture(scope="session", params=_backends())
def fogbank(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"fogbank-{request.param}")
    data_dir = base / "state" if request.param == "data-dir" else None
    server = FogbankServer(base / "fogbank.log", data_dir=data_dir, workdir=base)
    try:
        server.start()
        yield server
    finally:
        server.stop()
    server.assert_no_panics()


class FogbankFactory:
    """Starts fresh servers for one test and stops them after it."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.servers = []

    def __call__(self, *args, env=None, data_dir=None):
        n = len(self.servers)
        server = FogbankServer(
            self.tmp_path / f"fogbank-{n}.log", args=args, env=env,
            data_dir=data_dir, workdir=self.tmp_path / f"fogbank-{n}",
        )
        self.servers.append(server)
        return server.start()

    def stop_all(self):
        for server in self.servers:
            server.stop()


@pytest.fixture
def start_fogbank(tmp_path):
    factory = FogbankFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()
    for server in factory.servers:
        server.assert_no_panics()


@pytest.fixture(scope="session")
def ec2(fogbank):
    return fogbank.client("ec2")


@pytest.fixture(scope="session")
def sts(fogbank):
    return fogbank.client("sts")


@pytest.fixture(scope="session")
def aws(fogbank):
    return fogbank.aws


@pytest.fixture(scope="session")
def ami(ec2):
    """Like Terraform's `data "aws_ami"` with owners = ["amazon"], a name filter
    and most_recent = true."""
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-*"]}]
    )["Images"]
    x86 = [i for i in images if i.get("Architecture") == "x86_64"]
    assert x86, f"no x86_64 al2023 image among {images}"
    return max(x86, key=lambda i: i["CreationDate"])["ImageId"]


@pytest.fixture(scope="session")
def default_vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return vpcs[0]


@pytest.fixture(scope="session")
def default_subnets(ec2, default_vpc):
    """The default VPC's subnets, keyed by availability zone."""
    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}]
    )["Subnets"]
    return {s["AvailabilityZone"]: s for s in subnets if s.get("DefaultForAz")}


def pytest_report_header(config):
    """Says up front whether the network tests (test_network.py) can run here."""
    from netsupport import skip_reason

    reason = skip_reason()
    return f"netns substrate: {'available' if reason is None else reason}"
