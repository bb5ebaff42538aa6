"""Shared fixtures and helpers for the Berth end-to-end tests.

Every test that takes the `server` fixture gets its own `berth server` process
on a free loopback port with a fresh data directory, so tests never share
state and can run in parallel (`pytest -n 2`). Tests drive it the way a user
does: through the unmodified `aws ecs ...` CLI (a subprocess), through boto3,
and, for malformed input, through hand-built SigV4-signed HTTP requests.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "000000000000"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
SERVER_START_TIMEOUT = 30.0
CLI_TIMEOUT = 120.0

# Botocore prints "An error occurred (Code) when calling the Op operation: msg".
CLI_ERROR = re.compile(r"An error occurred \((?P<code>\w+)\) when calling the \w+ operation(?: \([^)]*\))?: (?P<message>.*)", re.S)


def arn(resource: str, region: str = REGION) -> str:
    """The ECS ARN Berth gives `resource` (e.g. "cluster/web")."""
    return f"arn:aws:ecs:{region}:{ACCOUNT}:{resource}"


# Berth creates the `default` cluster on first start (README: "`default` exists
# from the start"), so every fresh server lists it.
DEFAULT_CLUSTER = arn("cluster/default")


def wait_for(probe: Callable[[], Any], what: str, done: Callable[[Any], bool] = bool,
             timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll `probe` until `done(value)` and return that value.

    On timeout, fail with the last value seen, so the report shows how far
    the server got rather than just "timed out".
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {value!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# The berth binary and server process
# --------------------------------------------------------------------------


def berth_binary() -> Path:
    return Path(os.environ.get("BERTH_BIN") or REPO / "target" / "debug" / "berth")


@pytest.fixture(scope="session")
def berth_bin() -> Path:
    """The berth executable. Missing is an error: a suite that silently skips
    everything would look green while testing nothing."""
    path = berth_binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"berth binary not found at {path}: build it with `cargo build -p berth` "
            "or point BERTH_BIN at one",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_environ() -> dict[str, str]:
    """The caller's environment without any AWS_* settings, so a developer's
    own profile, keys or endpoint can never leak into a test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


@dataclass
class RawResponse:
    status: int
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class BerthServer:
    """One `berth server` process (and its restarts) over one data directory."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path, extra_args: tuple[str, ...] = (),
                 ca_bundle: Path | None = None, listen_host: str = "127.0.0.1"):
        self.binary = binary
        # 0.0.0.0 for agents on hosts of their own (hosts.py); clients still use loopback.
        self.listen_host = listen_host
        self.data_dir = data_dir
        self.log_path = log_path
        self.extra_args = extra_args
        # Set for a server started with --tls-cert: the CA its clients trust.
        self.ca_bundle = ca_bundle
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.exports: dict[str, str] = {}
        self._ecs = None
        self._elbv2 = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start and wait until the server listens. A restart reuses the
        previous port, so clients and the CLI environment stay valid."""
        attempts = 1 if self.port else 3
        for attempt in range(1, attempts + 1):
            port = self.port or free_port()
            failure = self._launch(port)
            if failure is None:
                self.port = port
                break
            # Another xdist worker may take the port between free_port() and
            # the server's bind: only that failure is worth another port.
            if attempt == attempts or "in use" not in failure.lower():
                raise AssertionError(f"berth server exited with {self.process.returncode} before listening\n"
                                     f"--- server log ---\n{self.log_tail()}")
        if not self.exports:
            self.exports = self._parse_exports(self.output())

    def _launch(self, port: int) -> str | None:
        """Run the server on `port`; None once it listens, else its output."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "server", "--data-dir", str(self.data_dir),
                 "--listen", f"{self.listen_host}:{port}", *self.extra_args],
                # Same process group as pytest: a Ctrl-C stops the servers too.
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=isolated_environ(),
            )
        listening = f"berth server listening on {self.scheme}://{self.listen_host}:{port}"
        try:
            wait_for(lambda: listening in self.output(offset) or self.process.poll() is not None,
                     f"{listening!r} in the server log", timeout=SERVER_START_TIMEOUT)
        except AssertionError as e:
            self.kill()
            raise AssertionError(f"{e}\n--- server log ---\n{self.log_tail()}") from None
        output = self.output(offset)
        return None if listening in output else output

    def _parse_exports(self, output: str) -> dict[str, str]:
        for line in output.splitlines():
            if line.startswith("export "):
                return dict(word.split("=", 1) for word in shlex.split(line)[1:])
        raise AssertionError(f"the first start printed no `export ...` line\n--- server log ---\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no chance to flush or clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self.process:
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart_after_crash(self) -> None:
        self.kill()
        self.start()

    def output(self, offset: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    # -- addresses and credentials ------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.ca_bundle else "http"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    def admin_credentials(self) -> tuple[str, str]:
        parser = configparser.ConfigParser()
        parser.read(self.credentials_file)
        return parser["berth"]["aws_access_key_id"], parser["berth"]["aws_secret_access_key"]

    @property
    def env(self) -> dict[str, str]:
        """Environment for the aws CLI: what the server told the user to
        export, plus isolation from any config on this machine."""
        return {
            **isolated_environ(),
            **self.exports,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
            # A single attempt: a 5xx must show up as a failure, not a retry.
            "AWS_MAX_ATTEMPTS": "1",
            **({"AWS_CA_BUNDLE": str(self.ca_bundle)} if self.ca_bundle else {}),
        }

    # -- boto3 ---------------------------------------------------------------

    @property
    def ecs(self):
        """A boto3 ECS client using the server's shared-credentials profile."""
        if self._ecs is None:
            self._ecs = self.client()
        return self._ecs

    @property
    def elbv2(self):
        """A boto3 ELBv2 client using the server's shared-credentials profile."""
        if self._elbv2 is None:
            self._elbv2 = self.client(service="elbv2")
        return self._elbv2

    def berth(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Runs `berth ARGS --data-dir DIR` against this server's data directory."""
        result = subprocess.run([str(self.binary), *args, "--data-dir", str(self.data_dir)],
                                env=isolated_environ(), capture_output=True, text=True, timeout=60)
        if check:
            assert result.returncode == 0, f"berth {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    def client(self, access_key: str | None = None, secret_key: str | None = None,
               region: str | None = None, service: str = "ecs", **config: Any):
        """A boto3 client (ECS unless `service` says); with explicit keys it ignores the profile."""
        core = botocore.session.Session()
        core.set_config_variable("config_file", os.devnull)
        core.set_config_variable("credentials_file", str(self.credentials_file))
        if access_key is None:
            core.set_config_variable("profile", "berth")
        session = boto3.session.Session(botocore_session=core, aws_access_key_id=access_key,
                                        aws_secret_access_key=secret_key)
        return session.client(
            service, endpoint_url=self.endpoint, region_name=region or REGION,
            verify=str(self.ca_bundle) if self.ca_bundle else None,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60, **config),
        )

    # -- aws CLI ---------------------------------------------------------------

    def run_aws(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """`aws ecs ARGS --output json` in the server's CLI environment,
        with `env` layered on top."""
        return self.run_aws_service("ecs", *args, env=env)

    def run_aws_service(self, service: str, *args: str,
                        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """`aws SERVICE ARGS --output json` in the server's CLI environment."""
        aws = Path(sys.executable).parent / "aws"
        assert aws.exists(), f"no aws CLI next to {sys.executable}: run scripts/python-env.sh and use .venv/bin/pytest"
        return subprocess.run([str(aws), service, *args, "--output", "json"], env={**self.env, **(env or {})},
                              cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT)

    def aws(self, service: str, *args: str) -> dict:
        """`aws SERVICE ARGS --output json`, which must succeed; returns the parsed output."""
        result = self.run_aws_service(service, *args)
        assert result.returncode == 0, f"aws {service} {shlex.join(args)} exited {result.returncode}:\n{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def aws_error(self, service: str, *args: str) -> tuple[str, str]:
        """`aws SERVICE ARGS`, which must fail with an API error; returns (code, message)."""
        result = self.run_aws_service(service, *args)
        assert result.returncode != 0, f"aws {service} {shlex.join(args)} succeeded:\n{result.stdout}"
        match = CLI_ERROR.search(result.stderr)
        assert match, f"aws {service} {shlex.join(args)} failed without an API error:\n{result.stderr}"
        return match["code"], match["message"].strip()

    def aws_ecs(self, *args: str) -> dict:
        """`aws ecs ARGS --output json`, which must succeed; returns the parsed output."""
        result = self.run_aws(*args)
        assert result.returncode == 0, f"aws ecs {shlex.join(args)} exited {result.returncode}:\n{result.stderr}"
        return json.loads(result.stdout) if result.stdout.strip() else {}

    def aws_ecs_error(self, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        """`aws ecs ARGS`, which must fail with an API error; returns (code, message)."""
        result = self.run_aws(*args, env=env)
        assert result.returncode != 0, f"aws ecs {shlex.join(args)} succeeded:\n{result.stdout}"
        match = CLI_ERROR.search(result.stderr)
        assert match, f"aws ecs {shlex.join(args)} failed without an API error:\n{result.stderr}"
        return match["code"], match["message"].strip()

    # -- berth keys ------------------------------------------------------------

    def keys(self, *args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.binary), "keys", *args, "--data-dir", str(self.data_dir)],
                                env=isolated_environ(), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"berth keys {shlex.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result

    # -- raw HTTP ----------------------------------------------------------------

    def raw(self, operation: str | None, body: bytes | str | dict | list, *,
            content_type: str | None = JSON_CONTENT_TYPE, sign: bool = True,
            headers: dict[str, str] | None = None) -> RawResponse:
        """POST `body` to the endpoint as botocore would, bypassing botocore's
        own validation. Signed with the admin key unless `sign` is false."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        request_headers = {}
        if operation is not None:
            request_headers["X-Amz-Target"] = TARGET_PREFIX + operation
        if content_type is not None:
            request_headers["Content-Type"] = content_type
        request_headers.update(headers or {})
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers=request_headers)
        if sign:
            SigV4Auth(Credentials(*self.admin_credentials()), "ecs", REGION).add_auth(request)
        return send_http(self.port, dict(request.headers.items()), body)


def send_http(port: int, headers: dict[str, str], body: bytes) -> RawResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        try:
            connection.request("POST", "/", body=body, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # A server may answer and close before reading an oversized body;
            # its answer is still waiting to be read.
            pass
        response = connection.getresponse()
        return RawResponse(response.status, response.read())
    finally:
        connection.close()


# The Docker fleet's fixtures (`cluster`) for the tests that run real tasks.
pytest_plugins = ("docker_cluster",)

SERVERS = pytest.StashKey[list]()


@pytest.fixture
def start_server(berth_bin: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., BerthServer]]:
    """Factory: start a berth server with extra command-line arguments.
    Every server it starts is killed at teardown, whatever the outcome."""
    started: list[BerthServer] = []
    request.node.stash[SERVERS] = started

    def start(*extra_args: str, ca_bundle: Path | None = None, listen_host: str = "127.0.0.1") -> BerthServer:
        n = len(started)
        data_dir = tmp_path / f"data{n}"
        data_dir.mkdir()
        server = BerthServer(berth_bin, data_dir, tmp_path / f"server{n}.log", extra_args, ca_bundle,
                             listen_host)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server) -> BerthServer:
    return start_server()


@pytest.fixture
def ecs(server: BerthServer):
    return server.ecs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "berth_bin" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.berth)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        for n, server in enumerate(item.stash.get(SERVERS, [])):
            report.sections.append((f"berth server {n} log ({server.log_path})", server.log_tail()))
    return report


# --------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------


@dataclass
class ApiError:
    code: str = ""
    message: str = ""
    status: int = 0


@contextmanager
def api_error(code: str | tuple[str, ...], *mentions: str, status: int | None = 400) -> Iterator[ApiError]:
    """Expect the block to raise a boto3 ClientError with `code` (or one of a
    tuple of codes, where ECS's choice is not documented), whose message
    mentions each of `mentions` (case-insensitively)."""
    error = ApiError()
    with pytest.raises(ClientError) as excinfo:
        yield error
    response = excinfo.value.response
    error.code = response["Error"]["Code"]
    error.message = response["Error"].get("Message", "")
    error.status = response["ResponseMetadata"]["HTTPStatusCode"]
    codes = code if isinstance(code, tuple) else (code,)
    assert error.code in codes, f"expected {' or '.join(codes)}, got {error.code}: {error.message}"
    assert_mentions(error.message, mentions)
    if status is not None:
        assert error.status == status, f"{code} came with HTTP {error.status}"


def assert_mentions(message: str, mentions: tuple[str, ...] | list[str]) -> None:
    for word in mentions:
        assert word.lower() in message.lower(), f"error message does not mention {word!r}: {message!r}"


def assert_subset(sent: Any, returned: Any, path: str = "") -> None:
    """Assert everything in `sent` is in `returned` unchanged: dict keys
    recursively, lists element by element in order. The server may add
    members (ECS defaults) but must not drop or alter any."""
    problems: list[str] = []
    _collect_differences(sent, returned, path or "$", problems)
    assert not problems, "returned value differs from what was sent:\n  " + "\n  ".join(problems)


def _collect_differences(sent: Any, returned: Any, path: str, problems: list[str]) -> None:
    if isinstance(sent, dict):
        if not isinstance(returned, dict):
            problems.append(f"{path}: sent an object, got {returned!r}")
            return
        for key, value in sent.items():
            if key not in returned:
                problems.append(f"{path}.{key}: missing (sent {value!r})")
            else:
                _collect_differences(value, returned[key], f"{path}.{key}", problems)
    elif isinstance(sent, list):
        if not isinstance(returned, list) or len(returned) != len(sent):
            problems.append(f"{path}: sent {sent!r}, got {returned!r}")
            return
        for i, (a, b) in enumerate(zip(sent, returned)):
            _collect_differences(a, b, f"{path}[{i}]", problems)
    elif sent != returned or type(sent) is not type(returned):
        problems.append(f"{path}: sent {sent!r}, got {returned!r}")


# --------------------------------------------------------------------------
# Resource builders
# --------------------------------------------------------------------------

IMAGE = "public.ecr.aws/docker/library/busybox:1.36"


def container(name: str = "app", **fields: Any) -> dict:
    """A minimal valid EC2 container definition."""
    return {"name": name, "image": IMAGE, "memory": 128, "essential": True, **fields}


def register(ecs, family: str, **fields: Any) -> dict:
    """Register a minimal task definition (overridable) and return it."""
    fields.setdefault("containerDefinitions", [container()])
    return ecs.register_task_definition(family=family, **fields)["taskDefinition"]


def service_status(ecs, cluster: str, service: str) -> str:
    """A service's status, or "MISSING" once ECS no longer describes it."""
    result = ecs.describe_services(cluster=cluster, services=[service])
    return result["services"][0]["status"] if result["services"] else result["failures"][0]["reason"]


def wait_until_inactive(ecs, cluster: str, service: str) -> str:
    """Wait for a deleted service to finish DRAINING (INACTIVE, or gone)."""
    return wait_for(lambda: service_status(ecs, cluster, service), f"service {service} to become INACTIVE",
                    done=lambda status: status in ("INACTIVE", "MISSING"))


def paginate(ecs, operation: str, key: str, **params: Any) -> list:
    """Every item of a List* operation, through boto3's paginator."""
    return [item for page in ecs.get_paginator(operation).paginate(**params) for item in page[key]]


def snapshot(ecs) -> dict:
    """Everything a user can list or describe, to prove a refused request
    changed nothing. Only stable fields: no agent runs, so nothing moves."""
    clusters = paginate(ecs, "list_clusters", "clusterArns")
    state: dict[str, Any] = {
        "clusters": ecs.describe_clusters(clusters=clusters)["clusters"] if clusters else [],
        "families": paginate(ecs, "list_task_definition_families", "families"),
        "taskDefinitions": {status: paginate(ecs, "list_task_definitions", "taskDefinitionArns", status=status)
                            for status in ("ACTIVE", "INACTIVE")},
        "services": {},
        "tasks": {},
    }
    for cluster in clusters:
        state["services"][cluster] = paginate(ecs, "list_services", "serviceArns", cluster=cluster)
        state["tasks"][cluster] = {
            status: paginate(ecs, "list_tasks", "taskArns", cluster=cluster, desiredStatus=status)
            for status in ("RUNNING", "STOPPED")
        }
    return state
