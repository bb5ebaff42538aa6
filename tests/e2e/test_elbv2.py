"""The ELBv2 API and the load balancer behind it, driven as a user would: the
real `aws elbv2 ...` CLI and boto3 create load balancers, target groups,
listeners and rules; real HTTP servers on loopback are registered as targets,
go healthy, receive requests routed by host header and path through the
listener, and drain when deregistered. Malformed requests are sent as raw
signed query-protocol POSTs."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from botocore.auth import SigV4Auth
from botocore.exceptions import ParamValidationError
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import (CLI_ERROR, CLI_TIMEOUT, REGION, REPO, BerthServer, api_error, assert_mentions,
                      assert_subset, free_port, send_http, wait_for)

ELB_ARN = re.compile(r"^arn:aws:elasticloadbalancing:us-east-1:000000000000:")
HEALTH_TIMEOUT = 60.0
# Fast checks, so that a target goes healthy in seconds rather than ALB's 150.
FAST_CHECKS = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                   HealthCheckPath="/health")

# A self-signed P-256 certificate for localhost and its key, made for these tests.
CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUaZymLTC83JEaos/Noq/yXFLyI1YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyMjAyNDA0NFoXDTM2MTExOTAy
NDA0NFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEzFIMuLcO5yKruLUupWiVvwHHXzs0VfFAR2ckKFqx3Hdr8JjJCRiqr9QI
wpUTdswrQX3kq/MNEKm61bPzNMOcmqNTMFEwHQYDVR0OBBYEFHX4Lq2rwFqq8+5O
A1e375/nqg08MB8GA1UdIwQYMBaAFHX4Lq2rwFqq8+5OA1e375/nqg08MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgYFk5AFhtPfZI9iIBrBL62dIv
YODuo5GPJw60MSDg3xoCIQC26qvbX6K6dSGRGrAyPja6MGg+qyqcGhWfAARcCt6M
7w==
-----END CERTIFICATE-----
"""
PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/I+gXkj+kDdRR7i/
PKGpGnBhsf8ZGAnwBiY5wWJtzVOhRANCAATMUgy4tw7nIqu4tS6laJW/AcdfOzRV
8UBHZyQoWrHcd2vwmMkJGKqv1AjClRN2zCtBfeSr8w0QqbrVs/M0w5ya
-----END PRIVATE KEY-----
"""


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------


@pytest.fixture
def lb_server(start_server) -> BerthServer:
    """A server whose listeners bind on loopback only."""
    return start_server("--lb-bind", "127.0.0.1")


@pytest.fixture
def elbv2(lb_server: BerthServer):
    return lb_server.elbv2


def aws_elbv2(server: BerthServer, *args: str) -> subprocess.CompletedProcess:
    aws = Path(sys.executable).parent / "aws"
    return subprocess.run([str(aws), "elbv2", *args, "--output", "json"], env=server.env, cwd=REPO,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT)


def cli(server: BerthServer, *args: str) -> dict:
    result = aws_elbv2(server, *args)
    assert result.returncode == 0, f"aws elbv2 {shlex.join(args)} exited {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else {}


def cli_error(server: BerthServer, *args: str) -> tuple[str, str]:
    result = aws_elbv2(server, *args)
    assert result.returncode != 0, f"aws elbv2 {shlex.join(args)} succeeded:\n{result.stdout}"
    match = CLI_ERROR.search(result.stderr)
    assert match, f"aws elbv2 {shlex.join(args)} failed without an API error:\n{result.stderr}"
    return match["code"], match["message"].strip()


def raw_query(server: BerthServer, body: str | bytes, service: str = "elasticloadbalancing",
              content_type: str = "application/x-www-form-urlencoded; charset=utf-8"):
    """POST a form body signed with the admin key, bypassing botocore's validation."""
    data = body.encode() if isinstance(body, str) else body
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=data, headers={"Content-Type": content_type})
    SigV4Auth(Credentials(*server.admin_credentials()), service, REGION).add_auth(request)
    return send_http(server.port, dict(request.headers.items()), data)


# --------------------------------------------------------------------------
# Targets: real HTTP servers on loopback
# --------------------------------------------------------------------------


class Backend:
    """An HTTP server on a free loopback port answering with its name; `/slow`
    holds its answer until `release` is set."""

    def __init__(self, name: str):
        self.name = name
        self.release = threading.Event()
        self.slow_started = threading.Event()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/slow":
                    backend.slow_started.set()
                    backend.release.wait(30)
                body = f"{backend.name} {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    started = {name: Backend(name) for name in ("a", "b")}
    yield started
    for backend in started.values():
        backend.stop()


def get(port: int, path: str = "/", host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def health(elbv2, tg_arn: str) -> list[tuple[str, int, str, str]]:
    described = elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return [(d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", ""))
            for d in described]


def create_lb(elbv2, name: str = "web") -> str:
    return elbv2.create_load_balancer(Name=name, Subnets=["subnet-1", "subnet-2"])["LoadBalancers"][0]["LoadBalancerArn"]


def create_tg(elbv2, name: str, port: int = 80, **fields: Any) -> str:
    return elbv2.create_target_group(Name=name, Protocol="HTTP", Port=port, VpcId="vpc-1", TargetType="ip",
                                     **fields)["TargetGroups"][0]["TargetGroupArn"]


def forward(tg_arn: str) -> list[dict]:
    return [{"Type": "forward", "TargetGroupArn": tg_arn}]


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_routes_by_host_and_path_to_healthy_targets_and_drains(lb_server, elbv2, backends):
    lb = cli(lb_server, "create-load-balancer", "--name", "web", "--subnets", "subnet-1")["LoadBalancers"][0]
    assert ELB_ARN.match(lb["LoadBalancerArn"]) and "loadbalancer/app/web/" in lb["LoadBalancerArn"]
    assert lb["State"] == {"Code": "active"} and lb["Type"] == "application" and lb["DNSName"]
    tg_a = create_tg(elbv2, "a", port=backends["a"].port, **FAST_CHECKS)
    tg_b = create_tg(elbv2, "b", port=backends["b"].port, **FAST_CHECKS)
    elbv2.modify_target_group_attributes(TargetGroupArn=tg_a, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "60"}])
    port = free_port()
    listener = cli(lb_server, "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "HTTP",
                   "--port", str(port), "--default-actions", f"Type=forward,TargetGroupArn={tg_a}")["Listeners"][0]
    listener_arn = listener["ListenerArn"]
    assert "listener/app/web/" in listener_arn
    cli(lb_server, "create-rule", "--listener-arn", listener_arn, "--priority", "10",
        "--conditions", "Field=host-header,Values=b.example.com", "--actions", f"Type=forward,TargetGroupArn={tg_b}")
    elbv2.create_rule(ListenerArn=listener_arn, Priority=20,
                      Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/b/*"]}}],
                      Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg_b}]}}])
    # The port is served as soon as CreateListener returned; no target is healthy yet.
    assert get(port)[0] == 503

    elbv2.register_targets(TargetGroupArn=tg_a, Targets=[{"Id": "127.0.0.1"}])
    cli(lb_server, "register-targets", "--target-group-arn", tg_b, "--targets", "Id=127.0.0.1")
    first = health(elbv2, tg_a)
    assert first[0][:3] == ("127.0.0.1", backends["a"].port, "initial"), first
    for tg in (tg_a, tg_b):
        wait_for(lambda: health(elbv2, tg), f"{tg} to go healthy", timeout=HEALTH_TIMEOUT,
                 done=lambda h: [s for _, _, s, _ in h] == ["healthy"], interval=0.5)

    assert get(port, "/x") == (200, "a /x")
    assert get(port, "/x", host="b.example.com") == (200, "b /x")
    assert get(port, "/x", host="B.Example.Com:8080") == (200, "b /x")
    assert get(port, "/b/page") == (200, "b /b/page")

    # A request in flight holds the drain open; a new one gets no target.
    slow: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: slow.update(answer=get(port, "/slow")))
    thread.start()
    try:
        assert backends["a"].slow_started.wait(30), "the slow request never reached its target"
        cli(lb_server, "deregister-targets", "--target-group-arn", tg_a, "--targets", "Id=127.0.0.1")
        draining = wait_for(lambda: health(elbv2, tg_a), "the target to drain",
                            done=lambda h: h and h[0][2] == "draining")
        assert draining == [("127.0.0.1", backends["a"].port, "draining", "Target.DeregistrationInProgress")]
        wait_for(lambda: get(port)[0], "new requests to find no target", done=lambda status: status == 503)
    finally:
        backends["a"].release.set()
        thread.join(30)
    assert slow["answer"] == (200, "a /slow")
    wait_for(lambda: health(elbv2, tg_a), "the drained target to be gone", done=lambda h: h == [])
    asked = elbv2.describe_target_health(TargetGroupArn=tg_a, Targets=[{"Id": "127.0.0.1"}])
    assert asked["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == "Target.NotRegistered"

    # Deleting the listener closes its port.
    elbv2.delete_listener(ListenerArn=listener_arn)
    def closed() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) != 0
    wait_for(closed, f"port {port} to close")


def test_health_checks_every_two_seconds_from_clients_that_allow_them(lb_server, elbv2, backends, tmp_path):
    """ALB's shortest interval is 5 s, and botocore refuses a shorter one before
    sending; with the client's own check turned off Berth takes one down to 2 s,
    and a target goes healthy two seconds after it registers."""
    fast = dict(HealthCheckIntervalSeconds=2, HealthCheckTimeoutSeconds=1, HealthyThresholdCount=2,
                HealthCheckPath="/health")
    with pytest.raises(ParamValidationError, match="HealthCheckIntervalSeconds"):
        create_tg(elbv2, "strict", **fast)
    unchecked = lb_server.client(service="elbv2", parameter_validation=False)
    tg_arn = create_tg(unchecked, "fast", port=backends["a"].port, **fast)

    # The aws CLI reads the same switch from its config file.
    config = tmp_path / "aws-config"
    config.write_text(f"[profile {lb_server.env['AWS_PROFILE']}]\nparameter_validation = false\n")
    result = subprocess.run([str(Path(sys.executable).parent / "aws"), "elbv2", "create-target-group",
                             "--name", "cli-fast", "--protocol", "HTTP", "--port", "80", "--target-type", "ip",
                             "--health-check-interval-seconds", "3", "--health-check-timeout-seconds", "1",
                             "--output", "json"],
                            env={**lb_server.env, "AWS_CONFIG_FILE": str(config)}, cwd=REPO,
                            capture_output=True, text=True, timeout=CLI_TIMEOUT)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)["TargetGroups"][0]
    assert (created["HealthCheckIntervalSeconds"], created["HealthCheckTimeoutSeconds"]) == (3, 1)
    with api_error("ValidationError", "HealthCheckIntervalSeconds", "between 2 and 300"):
        unchecked.create_target_group(Name="zero", Protocol="HTTP", Port=80, TargetType="ip",
                                      HealthCheckIntervalSeconds=1, HealthCheckTimeoutSeconds=1)

    # Health is reported only for groups a listener uses.
    elbv2.create_listener(LoadBalancerArn=create_lb(elbv2), Protocol="HTTP", Port=free_port(),
                          DefaultActions=forward(tg_arn))
    registered = time.monotonic()
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "127.0.0.1"}])
    wait_for(lambda: health(elbv2, tg_arn), "the target to go healthy", timeout=HEALTH_TIMEOUT,
             done=lambda h: [s for _, _, s, _ in h] == ["healthy"], interval=0.1)
    took = time.monotonic() - registered
    # One check as it registers and the second 2 s later; a 5 s interval could not be under 5 s.
    assert 1.5 < took < 4.5, f"healthy {took:.1f} s after registering"


def test_load_balancer_attributes_set_the_idle_timeout_and_guard_deletion(lb_server, elbv2, backends):
    lb_arn = create_lb(elbv2)
    described = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]
    defaults = {a["Key"]: a["Value"] for a in described}
    assert_subset({"idle_timeout.timeout_seconds": "60", "deletion_protection.enabled": "false",
                   "routing.http2.enabled": "true"}, defaults)
    # What infrastructure tools send on every apply: ALB's defaults, all accepted.
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=described)
    with api_error("InvalidConfigurationRequest", "access_logs.s3.enabled"):
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"}])
    # The ARN with its last hex digit changed: one in sixteen ends in 0 already.
    other = lb_arn[:-1] + ("1" if lb_arn.endswith("0") else "0")
    with api_error("LoadBalancerNotFound"):
        elbv2.describe_load_balancer_attributes(LoadBalancerArn=other)

    tg_arn = create_tg(elbv2, "idle", port=backends["a"].port, **FAST_CHECKS)
    port = free_port()
    elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port, DefaultActions=forward(tg_arn))
    changed = cli(lb_server, "modify-load-balancer-attributes", "--load-balancer-arn", lb_arn, "--attributes",
                  "Key=idle_timeout.timeout_seconds,Value=2", "Key=deletion_protection.enabled,Value=true")
    assert_subset([{"Key": "deletion_protection.enabled", "Value": "true"}],
                  [a for a in changed["Attributes"] if a["Key"] == "deletion_protection.enabled"])

    def seconds_until_an_idle_connection_closes() -> float | None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            opened = time.monotonic()
            try:
                closed = sock.recv(1) == b""
            except (socket.timeout, ConnectionResetError):
                return None
            return time.monotonic() - opened if closed else None
    # The running listener takes the new timeout for the connections it accepts next.
    took = wait_for(seconds_until_an_idle_connection_closes, "an idle connection to close after 2 s",
                    done=lambda t: t is not None and t < 5, timeout=40)
    assert took > 1.5, f"closed after {took:.1f} s"

    with api_error("OperationNotPermitted", "deletion protection"):
        elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
    assert get(port)[0] == 503, "the listener still serves"
    elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)


def test_inputs_come_back_from_describe(elbv2):
    lb_arn = create_lb(elbv2)
    tg_input = dict(Name="api", Protocol="HTTP", Port=8080, VpcId="vpc-1", TargetType="ip",
                    HealthCheckProtocol="HTTP", HealthCheckPort="9000", HealthCheckEnabled=True,
                    HealthCheckPath="/ping", HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=3,
                    HealthyThresholdCount=3, UnhealthyThresholdCount=4, Matcher={"HttpCode": "200-299"},
                    ProtocolVersion="HTTP1", IpAddressType="ipv4")
    created = elbv2.create_target_group(**tg_input)["TargetGroups"][0]
    described = elbv2.describe_target_groups(TargetGroupArns=[created["TargetGroupArn"]])["TargetGroups"][0]
    expected = {("TargetGroupName" if k == "Name" else k): v for k, v in tg_input.items()}
    assert_subset(expected, described)
    assert described == created
    defaults = elbv2.create_target_group(Name="defaults", Protocol="HTTP", Port=80)["TargetGroups"][0]
    assert_subset({"HealthCheckPath": "/", "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5,
                   "HealthyThresholdCount": 5, "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"},
                   "HealthCheckPort": "traffic-port", "LoadBalancerArns": []}, defaults)
    attributes = {a["Key"]: a["Value"] for a in
                  elbv2.describe_target_group_attributes(TargetGroupArn=defaults["TargetGroupArn"])["Attributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "300"
    assert attributes["load_balancing.algorithm.type"] == "round_robin"
    changed = elbv2.modify_target_group_attributes(TargetGroupArn=defaults["TargetGroupArn"], Attributes=[
        {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}])["Attributes"]
    assert {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"} in changed
    modified = elbv2.modify_target_group(TargetGroupArn=defaults["TargetGroupArn"], HealthCheckPath="/up",
                                         Matcher={"HttpCode": "200,204"})["TargetGroups"][0]
    assert (modified["HealthCheckPath"], modified["Matcher"]) == ("/up", {"HttpCode": "200,204"})

    listener_input = dict(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=free_port(),
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": created["TargetGroupArn"], "Order": 1}])
    listener = elbv2.create_listener(**listener_input)["Listeners"][0]
    described = elbv2.describe_listeners(ListenerArns=[listener["ListenerArn"]])["Listeners"][0]
    assert_subset({k: v for k, v in listener_input.items()}, described)
    assert described == listener
    rule_input = dict(ListenerArn=listener["ListenerArn"], Priority=7, Conditions=[
        {"Field": "host-header", "Values": ["*.example.com"]},
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/v?/*"]}}],
        Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": created["TargetGroupArn"], "Weight": 1}]}}])
    rule = elbv2.create_rule(**rule_input)["Rules"][0]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [r["Priority"] for r in rules] == ["7", "default"]
    assert rules[1]["IsDefault"] is True and rules[1]["Conditions"] == []
    assert rules[0] == rule
    assert_subset({"Conditions": rule_input["Conditions"], "Actions": rule_input["Actions"]}, rule)
    in_use = elbv2.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"]
    assert [tg["TargetGroupName"] for tg in in_use] == ["api"] and in_use[0]["LoadBalancerArns"] == [lb_arn]

    elbv2.delete_rule(RuleArn=rule["RuleArn"])
    elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    elbv2.delete_target_group(TargetGroupArn=created["TargetGroupArn"])
    assert [tg["TargetGroupName"] for tg in elbv2.describe_target_groups()["TargetGroups"]] == ["defaults"]


def test_errors_carry_the_models_codes(lb_server, elbv2):
    lb_arn = create_lb(elbv2)
    tg_arn = create_tg(elbv2, "api")
    missing_tg = tg_arn.rsplit("/", 1)[0] + "/0000000000000000"
    with api_error("TargetGroupNotFound"):
        elbv2.describe_target_groups(Names=["nope"])
    with api_error("TargetGroupNotFound"):
        elbv2.register_targets(TargetGroupArn=missing_tg, Targets=[{"Id": "10.0.0.1"}])
    with api_error("LoadBalancerNotFound"):
        elbv2.describe_load_balancers(Names=["nope"])
    with api_error("DuplicateTargetGroupName", "api"):
        create_tg(elbv2, "api", port=81)
    assert create_tg(elbv2, "api") == tg_arn, "the same settings again answer the existing group"
    with api_error("ValidationError", "Name"):
        elbv2.create_load_balancer(Name="-bad-")
    with api_error("ValidationError", "HealthCheckTimeoutSeconds"):
        create_tg(elbv2, "slow", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5)
    with api_error("ValidationError", "Matcher.HttpCode"):
        create_tg(elbv2, "odd", Matcher={"HttpCode": "600"})
    with api_error("InvalidTarget", "i-0123456789abcdef0"):
        elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "i-0123456789abcdef0"}])
    with api_error("InvalidTarget"):
        elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "10.0.0.9"}])
    with api_error("InvalidConfigurationRequest", "stickiness"):
        elbv2.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[
            {"Key": "stickiness.enabled", "Value": "true"}])

    port = free_port()
    listener = elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port,
                                     DefaultActions=forward(tg_arn))["Listeners"][0]
    with api_error("DuplicateListener"):
        elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=port, DefaultActions=forward(tg_arn))
    with api_error("LoadBalancerNotFound"):
        elbv2.create_listener(LoadBalancerArn=lb_arn + "0", Protocol="HTTP", Port=free_port(),
                              DefaultActions=forward(tg_arn))
    with api_error("TargetGroupNotFound"):
        elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=free_port(),
                              DefaultActions=forward(missing_tg))
    with api_error("CertificateNotFound"):
        elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=free_port(),
                              Certificates=[{"CertificateArn": f"arn:aws:acm:{REGION}:000000000000:certificate/nope"}],
                              DefaultActions=forward(tg_arn))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with api_error("InvalidConfigurationRequest", str(taken.getsockname()[1])):
            elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=taken.getsockname()[1],
                                  DefaultActions=forward(tg_arn))
    assert len(elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]) == 1, "a refused listener was stored"

    rule = elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=5, Actions=forward(tg_arn),
                             Conditions=[{"Field": "path-pattern", "Values": ["/a"]}])["Rules"][0]
    with api_error("PriorityInUse"):
        elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=5, Actions=forward(tg_arn),
                          Conditions=[{"Field": "path-pattern", "Values": ["/b"]}])
    with api_error("ValidationError", "http-header"):
        elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=6, Actions=forward(tg_arn),
                          Conditions=[{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "x",
                                                                                    "Values": ["y"]}}])
    with api_error("InvalidLoadBalancerAction", "fixed-response"):
        elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=6,
                          Conditions=[{"Field": "path-pattern", "Values": ["/c"]}],
                          Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])
    default_rule = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"][-1]
    with api_error("OperationNotPermitted"):
        elbv2.delete_rule(RuleArn=default_rule["RuleArn"])
    with api_error("ResourceInUse"):
        elbv2.delete_target_group(TargetGroupArn=tg_arn)
    elbv2.delete_rule(RuleArn=rule["RuleArn"])
    with api_error("RuleNotFound"):
        elbv2.delete_rule(RuleArn=rule["RuleArn"])
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    with api_error("ListenerNotFound"):
        elbv2.describe_listeners(ListenerArns=[listener["ListenerArn"]])
    code, message = cli_error(lb_server, "describe-target-groups", "--names", "nope")
    assert code == "TargetGroupNotFound", message


# (test id, form body after Action=..&Version=.., expected code, words the message must contain)
BAD_REQUESTS = [
    ("unknown-action", "Action=DescribeEverything&Version=2015-12-01", "InvalidAction", ["DescribeEverything"]),
    ("no-action", "Version=2015-12-01&Name=x", "MissingAction", ["Action"]),
    ("missing-name", "Action=CreateTargetGroup&Version=2015-12-01&Port=80", "ValidationError", ["Name"]),
    ("port-not-a-number", "Action=CreateTargetGroup&Version=2015-12-01&Name=x&Port=eighty", "ValidationError",
     ["Port"]),
    ("port-out-of-range", "Action=CreateTargetGroup&Version=2015-12-01&Name=x&Port=70000", "ValidationError",
     ["Port"]),
    ("bool-not-a-bool", "Action=CreateTargetGroup&Version=2015-12-01&Name=x&Port=80&HealthCheckEnabled=yes",
     "ValidationError", ["HealthCheckEnabled"]),
    ("list-as-value", "Action=DescribeTargetGroups&Version=2015-12-01&Names=a", "ValidationError", ["Names"]),
    ("bad-list-index", "Action=DescribeTargetGroups&Version=2015-12-01&Names.member.x=a", "ValidationError",
     ["Names.member.x"]),
    ("repeated-member", "Action=CreateTargetGroup&Version=2015-12-01&Name=a&Name=b&Port=80", "ValidationError",
     ["Name"]),
    ("missing-target-id", "Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=x&Targets.member.1.Port=80",
     "ValidationError", ["Targets.member.1.Id"]),
    ("bad-page-size", "Action=DescribeLoadBalancers&Version=2015-12-01&PageSize=0", "ValidationError", ["PageSize"]),
    ("bad-marker", "Action=DescribeLoadBalancers&Version=2015-12-01&Marker=zz", "ValidationError", ["Marker"]),
    ("wrong-version", "Action=DescribeLoadBalancers&Version=2012-06-01", "NoSuchVersion", ["2015-12-01"]),
]


@pytest.mark.parametrize("body,code,mentions", [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_malformed_requests_get_400_with_the_member_named(lb_server, body, code, mentions):
    response = raw_query(lb_server, body)
    assert response.status == 400, (response.status, response.body[:300])
    text = response.body.decode()
    assert text.startswith("<ErrorResponse"), text
    assert f"<Code>{code}</Code>" in text and "<Type>Sender</Type>" in text and "<RequestId>" in text, text
    assert_mentions(re.search(r"<Message>(.*)</Message>", text, re.S)[1], mentions)


def test_requests_must_be_signed_for_elasticloadbalancing(lb_server):
    response = raw_query(lb_server, "Action=DescribeLoadBalancers&Version=2015-12-01", service="ecs")
    assert response.status == 403, response.body
    assert b"<Code>SignatureDoesNotMatch</Code>" in response.body and b"elasticloadbalancing" in response.body
    ok = raw_query(lb_server, "Action=DescribeLoadBalancers&Version=2015-12-01")
    assert ok.status == 200 and b"<DescribeLoadBalancersResult>" in ok.body, ok.body


def test_describe_pages_with_markers(lb_server, elbv2):
    names = [f"tg-{n}" for n in range(7)]
    for name in names:
        create_tg(elbv2, name)
    for n in range(3):
        create_lb(elbv2, f"lb-{n}")
    paged = [tg["TargetGroupName"] for page in elbv2.get_paginator("describe_target_groups").paginate(
        PaginationConfig={"PageSize": 2}) for tg in page["TargetGroups"]]
    assert paged == names
    first = elbv2.describe_target_groups(PageSize=3)
    assert len(first["TargetGroups"]) == 3 and first["NextMarker"]
    second = elbv2.describe_target_groups(PageSize=3, Marker=first["NextMarker"])
    assert [tg["TargetGroupName"] for tg in second["TargetGroups"]] == names[3:6]
    # PageSize is an API member here, so the CLI hands paging to the caller.
    by_cli = cli(lb_server, "describe-load-balancers", "--page-size", "1")
    assert [lb["LoadBalancerName"] for lb in by_cli["LoadBalancers"]] == ["lb-0"]
    rest = cli(lb_server, "describe-load-balancers", "--page-size", "2", "--marker", by_cli["NextMarker"])
    assert [lb["LoadBalancerName"] for lb in rest["LoadBalancers"]] == ["lb-1", "lb-2"] and "NextMarker" not in rest
    whole = cli(lb_server, "describe-load-balancers")
    assert [lb["LoadBalancerName"] for lb in whole["LoadBalancers"]] == ["lb-0", "lb-1", "lb-2"]
    assert "NextMarker" not in elbv2.describe_load_balancers(PageSize=3)


def test_imported_certificates_serve_https_listeners(lb_server, elbv2, tmp_path):
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_text(CERTIFICATE)
    key_file.write_text(PRIVATE_KEY)
    imported = lb_server.berth("certs", "import", "--certificate", str(cert_file), "--private-key", str(key_file),
                     "--certificate-chain", str(cert_file), "--output", "json")
    assert imported.returncode == 0, imported.stderr
    arn = json.loads(imported.stdout)["CertificateArn"]
    assert re.match(r"^arn:aws:acm:us-east-1:000000000000:certificate/[0-9a-f-]{36}$", arn), arn
    listed = lb_server.berth("certs", "list", "--output", "json")
    assert [c["CertificateArn"] for c in json.loads(listed.stdout)["Certificates"]] == [arn]

    refused = lb_server.berth("certs", "import", "--certificate", str(key_file), "--private-key", str(key_file), check=False)
    assert refused.returncode != 0 and "certificate" in refused.stderr, refused.stderr
    refused = lb_server.berth("certs", "import", "--certificate", str(cert_file), "--private-key", str(cert_file), check=False)
    assert refused.returncode != 0 and "private key" in refused.stderr, refused.stderr

    lb_arn = create_lb(elbv2)
    tg_arn = create_tg(elbv2, "web")
    port = free_port()
    listener = cli(lb_server, "create-listener", "--load-balancer-arn", lb_arn, "--protocol", "HTTPS",
                   "--port", str(port), "--certificates", f"CertificateArn={arn}",
                   "--default-actions", f"Type=forward,TargetGroupArn={tg_arn}")["Listeners"][0]
    described = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert described == [listener]
    assert_subset({"Protocol": "HTTPS", "Port": port, "Certificates": [{"CertificateArn": arn}],
                   "SslPolicy": "ELBSecurityPolicy-2016-08"}, listener)
    with api_error("ValidationError", "Certificates"):
        elbv2.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=free_port(),
                              DefaultActions=forward(tg_arn))
