"""Helpers shared by the end-to-end tests: a handle on one running fogbank
process, and small helpers for asserting AWS behaviour through real clients.

Tests import what they need from here (`from support import raises_aws`);
fixtures that hand out servers and clients live in conftest.py.
"""

import atexit
import contextlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")

# How long a server gets to answer its health check after it is started.
HEALTH_TIMEOUT_SECS = 10.0
# How long a server gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT_SECS = 5.0
# How long an instance may take to reach a state the server promises "shortly".
STATE_TIMEOUT_SECS = 10.0

# Every server that is currently running; any still running when Python exits
# (say, after an interrupt) is killed then.
LIVE_SERVERS = []


@atexit.register
def _kill_leftover_servers():
    for server in list(LIVE_SERVERS):
        server.kill()


def fogbank_binary():
    """The fogbank binary under test: $FOGBANK_BIN or target/release/fogbank."""
    override = os.environ.get("FOGBANK_BIN")
    if override:
        return Path(override)
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    if not target_dir.is_absolute():
        target_dir = REPO_ROOT / target_dir
    return target_dir / "release" / "fogbank"


def unique(prefix="fb"):
    """A name no other test (or earlier run against a data dir) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_isolated_config_dir = None


def isolated_aws_config_files():
    """Empty config and credentials files, so no client reads ~/.aws."""
    global _isolated_config_dir
    if _isolated_config_dir is None:
        _isolated_config_dir = Path(tempfile.mkdtemp(prefix="fogbank-aws-config-"))
        (_isolated_config_dir / "config").write_text("")
        (_isolated_config_dir / "credentials").write_text("")
    return {
        "AWS_CONFIG_FILE": str(_isolated_config_dir / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(_isolated_config_dir / "credentials"),
    }


def environment_without_aws():
    """os.environ without any AWS_* variable the developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


class FogbankStartError(Exception):
    """The server did not become healthy."""


class AwsCliError(Exception):
    """The aws CLI exited non-zero. `code` is the AWS error code it printed."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        match = re.search(r"An error occurred \(([^)]+)\)", stderr)
        self.code = match.group(1) if match else None
        super().__init__(
            f"aws {' '.join(argv)} exited {returncode} (code {self.code}):\n{stderr}"
        )


class FogbankServer:
    """One fogbank process.

    Attributes: endpoint ("http://127.0.0.1:PORT"), port, host, data_dir (None
    when ephemeral), log_path, process, args (extra command-line flags).
    """

    def __init__(self, log_path, args=(), env=None, data_dir=None, workdir=None):
        self.binary = fogbank_binary()
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.log_path = Path(log_path)
        self.workdir = Path(workdir) if workdir is not None else self.log_path.parent
        self.host = "127.0.0.1"
        self.port = None
        self.process = None

    def __repr__(self):
        return f"<FogbankServer {self.endpoint} log={self.log_path}>"

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def argv(self):
        storage = ["--data-dir", str(self.data_dir)] if self.data_dir else ["--ephemeral"]
        # The API suite runs on the records substrate (no hosts, nothing on the machine) unless
        # a test asks for a substrate; tests/e2e/test_network.py asks for real hosts.
        substrate = [] if "--substrate" in self.args else ["--substrate", "records"]
        return [str(self.binary), "serve", "--host", self.host, "--port", str(self.port),
                *storage, *substrate, *self.args]

    # Process control.

    def start(self):
        if not self.binary.is_file():
            pytest.fail(
                f"fogbank binary not found at {self.binary}; build it with "
                "`cargo build --release` or point FOGBANK_BIN at it",
                pytrace=False,
            )
        env = environment_without_aws()
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.extra_env)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        # A free port can be taken between probing and binding; try again then.
        for _attempt in range(3):
            self.port = free_port()
            argv = self.argv()
            with open(self.log_path, "ab") as log:
                log.write(f"=== starting: {' '.join(argv)}\n".encode())
                log.flush()
                self.process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
                )
            LIVE_SERVERS.append(self)
            if self._wait_healthy():
                return self
            if self.process.poll() is None:
                self.kill()
                raise FogbankStartError(
                    f"fogbank did not answer /_fogbank/health within "
                    f"{HEALTH_TIMEOUT_SECS} s\n{self.log_tail()}"
                )
            self._forget()
            if "in use" not in self.log_tail(20).lower():
                break
        raise FogbankStartError(
            f"fogbank exited with status {self.process.returncode} during startup\n"
            f"{self.log_tail()}"
        )

    def _wait_healthy(self):
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                status, _, body = self.http("GET", "/_fogbank/health", timeout=1)
                if status == 200 and json.loads(body).get("status") == "ok":
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        return False

    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_SECS):
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                with open(self.log_path, "ab") as log:
                    log.write(b"=== test harness: no exit after SIGTERM, sent SIGKILL\n")
        self._forget()
        return self.process.returncode

    def kill(self):
        """SIGKILL: the process gets no chance to flush or clean up."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self._forget()
        return self.process.returncode

    def _forget(self):
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def assert_no_panics(self):
        text = self.log_text()
        assert "panicked at" not in text, (
            f"fogbank panicked (log {self.log_path}):\n{self.log_tail(80)}"
        )

    # Talking to it.

    def http(self, method, path, body=None, headers=None, timeout=30):
        """An unsigned HTTP request; returns (status, headers, body bytes)."""
        request = urllib.request.Request(
            self.endpoint + path, data=body, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def health(self):
        status, _, body = self.http("GET", "/_fogbank/health")
        assert status == 200, body
        return json.loads(body)

    def reset(self):
        status, _, body = self.http("POST", "/_fogbank/reset", body=b"")
        assert 200 <= status < 300, (status, body)

    def signed_request(self, service, body, *, method="POST", path="/",
                       region=DEFAULT_REGION, access_key="test", headers=None):
        """A SigV4-signed HTTP request built by hand, for what no SDK call sends."""
        if isinstance(body, str):
            body = body.encode()
        all_headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        all_headers.update(headers or {})
        request = AWSRequest(method=method, url=self.endpoint + path, data=body,
                             headers=all_headers)
        SigV4Auth(Credentials(access_key, "test"), service, region).add_auth(request)
        prepared = request.prepare()
        return self.http(method, path, body=prepared.body, headers=dict(prepared.headers))

    def client(self, service, region=DEFAULT_REGION, access_key="test",
               secret_key="test", **config):
        """A boto3 client for this server. Retries are off so that every
        request the test makes is exactly one request the server answers."""
        options = {
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        options.update(config)
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=region,
        )
        return session.client(service, endpoint_url=self.endpoint, config=Config(**options))

    def cli_env(self, region=DEFAULT_REGION, access_key="test", secret_key="test"):
        env = environment_without_aws()
        env.update(isolated_aws_config_files())
        env.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })
        return env

    def aws(self, *args, region=DEFAULT_REGION, access_key="test", timeout=180):
        """Run the aws CLI with `--output json`; return its parsed output (None
        when it prints nothing). Raises AwsCliError, carrying stderr and the
        AWS error code, when the CLI exits non-zero."""
        argv = [str(a) for a in args]
        completed = subprocess.run(
            [*aws_cli_command(), *argv, "--output", "json"],
            env=self.cli_env(region=region, access_key=access_key),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if completed.returncode != 0:
            raise AwsCliError(argv, completed.returncode, completed.stdout, completed.stderr)
        return json.loads(completed.stdout) if completed.stdout.strip() else None


def aws_cli_command():
    """The aws CLI of the interpreter running the tests."""
    script = Path(sys.executable).parent / "aws"
    if script.is_file():
        return [sys.executable, str(script)]
    return [sys.executable, "-m", "awscli"]


# Assertions about AWS answers.


def error_code(error):
    return error.response["Error"]["Code"]


def http_status(error_or_response):
    response = getattr(error_or_response, "response", error_or_response)
    return response["ResponseMetadata"]["HTTPStatusCode"]


@contextlib.contextmanager
def raises_aws(code):
    """Like pytest.raises(ClientError), and the AWS error code must be `code`."""
    with pytest.raises(ClientError) as info:
        yield info
    actual = error_code(info.value)
    assert actual == code, f"expected error {code}, got {actual}: {info.value}"


def tags(resource):
    """A resource's Tags list as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def tag_spec(resource_type, **kv):
    return [{"ResourceType": resource_type,
             "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]


def instances_of(response):
    """All instances in a RunInstances or DescribeInstances response."""
    if "Instances" in response:
        return response["Instances"]
    return [i for r in response["Reservations"] for i in r["Instances"]]


def describe_instances(ec2, ids=None, filters=None):
    kwargs = {}
    if ids:
        kwargs["InstanceIds"] = list(ids)
    if filters:
        kwargs["Filters"] = filters
    return instances_of(ec2.describe_instances(**kwargs))


def wait_for_state(ec2, ids, state, timeout=STATE_TIMEOUT_SECS):
    """Poll DescribeInstances until every instance in `ids` is in `state`."""
    ids = [ids] if isinstance(ids, str) else list(ids)
    deadline = time.monotonic() + timeout
    while True:
        found = describe_instances(ec2, ids)
        states = {i["InstanceId"]: i["State"]["Name"] for i in found}
        if all(states.get(i) == state for i in ids):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"instances did not reach {state!r} within {timeout} s: {states}"
            )
        time.sleep(0.1)


def pages(call, items, **kwargs):
    """Call a paginated operation by hand, following NextToken; returns the list
    of pages, each the list of items (`items` names the response key, or is a
    function from response to items)."""
    get_items = items if callable(items) else (lambda response: response[items])
    result = []
    token = None
    while True:
        args = dict(kwargs)
        if token:
            args["NextToken"] = token
        response = call(**args)
        result.append(get_items(response))
        token = response.get("NextToken")
        if not token:
            return result
        assert len(result) < 100, "pagination does not end"


def reserved_addresses(cidr):
    """The five addresses AWS keeps in every subnet: the first four and the last."""
    net = ipaddress.ip_network(cidr)
    return {net[0], net[1], net[2], net[3], net[-1]}


def assert_usable_address(ip, cidr):
    address = ipaddress.ip_address(ip)
    assert address in ipaddress.ip_network(cidr), f"{ip} is outside {cidr}"
    assert address not in reserved_addresses(cidr), f"{ip} is reserved in {cidr}"
