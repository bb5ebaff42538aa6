"""Deployments behind Berth's load balancer drop nothing: each scenario runs a service of real
containers behind a listener, keeps a steady stream of requests going through it from this
test (every non-2xx answer and every connection error counted, every answering version
recorded), changes the service, and checks that no request failed.

The load balancer, the ECS and ELBv2 APIs and the agent are the real ones; the clients are
boto3 and the aws CLI.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time

import pytest

from conftest import free_port, wait_for
from docker_cluster import TESTAPP_V1, TESTAPP_V2, service, tasks
from load import Load, WebSocket, get


def web_app(image: str, family: str = "web", stop_timeout: int = 2, **environment: str) -> dict:
    """A bridge-mode task definition of the test app on a dynamic host port."""
    return {
        "family": family, "networkMode": "bridge",
        "containerDefinitions": [{
            "name": "web", "image": image, "essential": True, "memory": 48, "cpu": 32,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "environment": [{"name": k, "value": v} for k, v in environment.items()],
            "stopTimeout": stop_timeout,
        }],
    }


class Site:
    """One load balancer with an HTTP listener on a free port of this machine."""

    def __init__(self, server, name: str = "site"):
        self.server, self.ecs, self.elbv2 = server, server.ecs, server.elbv2
        self.port = free_port()
        self.balancer = self.elbv2.create_load_balancer(
            Name=name, Subnets=["subnet-0berth"], Type="application")["LoadBalancers"][0]
        self.listener = None

    def group(self, name: str, deregistration_delay: int = 30) -> str:
        arn = self.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=8080, VpcId="vpc-0berth", TargetType="ip",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2, UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
        return arn

    def listen(self, group: str, **fields) -> None:
        self.listener = self.elbv2.create_listener(
            LoadBalancerArn=self.balancer["LoadBalancerArn"], Protocol=fields.pop("Protocol", "HTTP"),
            Port=self.port, DefaultActions=[{"Type": "forward", "TargetGroupArn": group}], **fields,
        )["Listeners"][0]

    def route_host(self, host: str, group: str, priority: int) -> None:
        self.elbv2.create_rule(
            ListenerArn=self.listener["ListenerArn"], Priority=priority,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": group}])

    def serve(self, name: str, group: str, definition: dict, count: int = 4, **fields) -> None:
        """A service of `definition` behind `group`, started and stable with healthy targets."""
        self.ecs.register_task_definition(**definition)
        self.ecs.create_service(
            serviceName=name, taskDefinition=definition["family"], desiredCount=count,
            loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}],
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100, **fields.pop("deployment", {})},
            **fields)
        wait_rolled(self.ecs, name, timeout=90)
        wait_for(lambda: self.health(group), f"{count} healthy targets in {name}'s group",
                 lambda states: states.count("healthy") == count, timeout=60)

    def health(self, group: str) -> list[str]:
        described = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return [d["TargetHealth"]["State"] for d in described]

    def ports_by_state(self, group: str) -> dict[str, set[int]]:
        """The group's targets' ports by their state."""
        described = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        states: dict[str, set[int]] = {}
        for d in described:
            states.setdefault(d["TargetHealth"]["State"], set()).add(d["Target"]["Port"])
        return states


def new_ports(ecs, service_name: str, revision: str) -> set[int]:
    """The host ports of the service's running tasks of `revision` (`family:n`)."""
    arns = ecs.list_tasks(serviceName=service_name)["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return {binding["hostPort"] for t in tasks
            if t["taskDefinitionArn"].endswith(f"/{revision}") and t["lastStatus"] == "RUNNING"
            for c in t["containers"] for binding in c.get("networkBindings", [])}


def wait_rolled(ecs, name: str, timeout: float = 120) -> dict:
    """Until the service has one deployment, COMPLETED, with its count running."""
    def done(s: dict) -> bool:
        d = s["deployments"]
        return len(d) == 1 and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == s["desiredCount"]
    return wait_for(lambda: service(ecs, name), f"{name} to finish rolling", done, timeout=timeout, interval=0.5)


def only_version_answers(port: int, version: str, host: str | None = None) -> None:
    answers = {get(port, host=host)[1] for _ in range(40)}
    assert answers == {version}, f"after the roll: {answers}"


@pytest.fixture
def site(cluster):
    server, _ = cluster
    return Site(server)


def test_a_rolling_deploy_drops_no_request(site):
    group = site.group("web")
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1))
    with Load(site.port, workers=4) as load:
        time.sleep(1)
        site.ecs.register_task_definition(**web_app(TESTAPP_V2))
        site.ecs.update_service(service="web", taskDefinition="web:2")
        wait_rolled(site.ecs, "web")
        time.sleep(1)
    tally = load.tally
    assert tally.failures == 0, tally.summary()
    assert tally.versions["v2"] > 0 and tally.ok > 200, tally.summary()
    only_version_answers(site.port, "v2")
    events = [e["message"] for e in service(site.ecs, "web")["events"]]
    for wanted in ("registered", "has begun draining connections", "deregistered", "deployment completed"):
        assert any(wanted in e for e in events), f"no event says {wanted!r}: {events}"


@pytest.mark.parametrize("broken", [{"FAIL_HEALTH": "1"}, {"CRASH_AFTER_SECS": "2"}], ids=["unhealthy", "crashing"])
def test_a_broken_revision_trips_the_circuit_breaker_and_rolls_back(site, broken):
    group = site.group("web")
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1),
               deployment={"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    with Load(site.port, workers=4) as load:
        site.ecs.register_task_definition(**web_app(TESTAPP_V2, **broken))
        site.ecs.update_service(service="web", taskDefinition="web:2")
        rolled_back = wait_for(lambda: service(site.ecs, "web"), "the rollback to web:1",
                               lambda s: s["taskDefinition"].endswith("web:1") and len(s["deployments"]) == 1
                               and s["deployments"][0].get("rolloutState") == "COMPLETED", timeout=180, interval=0.5)
    tally = load.tally
    assert tally.failures == 0, tally.summary()
    assert set(tally.versions) == {"v1"}, f"a broken task got traffic: {tally.summary()}"
    events = [e["message"] for e in rolled_back["events"]]
    how = "failed health checks" if "FAIL_HEALTH" in broken else "exited"
    assert any("deployment failed" in e and how in e for e in events), events
    failed = tasks(site.ecs, serviceName="web", desiredStatus="STOPPED")
    assert failed and all(t["taskDefinitionArn"].endswith("web:2") for t in failed), \
        "the rollback keeps the old tasks that still serve"
    expected = "Task failed ELB health checks" if "FAIL_HEALTH" in broken else "Essential container"
    assert any(expected in (t.get("stoppedReason") or "") for t in failed), [t.get("stoppedReason") for t in failed]


def test_a_task_that_ignores_sigterm_is_drained_then_killed(site):
    group = site.group("web")
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1, stop_timeout=3, IGNORE_SIGTERM="1"), count=2)
    with Load(site.port, workers=4) as load:
        site.ecs.register_task_definition(**web_app(TESTAPP_V2))
        site.ecs.update_service(service="web", taskDefinition="web:2")
        wait_rolled(site.ecs, "web")
    assert load.tally.failures == 0, load.tally.summary()
    old = [t for t in tasks(site.ecs, serviceName="web", desiredStatus="STOPPED") if t["taskDefinitionArn"].endswith("web:1")]
    assert len(old) == 2
    for task in old:
        assert task["containers"][0]["exitCode"] == 137, "killed, since it ignored SIGTERM"
        assert task["stoppedAt"].timestamp() - task["stoppingAt"].timestamp() >= 3, "after stopTimeout"


def test_slow_requests_in_flight_during_a_roll_all_complete(site):
    group = site.group("web", deregistration_delay=60)
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1), count=2)
    with Load(site.port, path="/slow?ms=3000", workers=8) as load:
        time.sleep(1.5)
        site.ecs.register_task_definition(**web_app(TESTAPP_V2))
        site.ecs.update_service(service="web", taskDefinition="web:2")
        wait_rolled(site.ecs, "web")
        time.sleep(3.5)
    tally = load.tally
    assert tally.failures == 0, tally.summary()
    assert tally.ok >= 16, tally.summary()


def test_an_open_websocket_keeps_its_old_task_until_drained(site):
    group = site.group("web", deregistration_delay=8)
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1), count=2)
    old = WebSocket(site.port)
    try:
        with Load(site.port, workers=2) as load:
            assert old.ask("hello") == "v1: hello"
            site.ecs.register_task_definition(**web_app(TESTAPP_V2))
            site.ecs.update_service(service="web", taskDefinition="web:2")
            # Only the two new tasks healthy: an old one may stay healthy a moment after the
            # first new one is, until the second replaces it.
            wait_for(lambda: (site.ports_by_state(group), new_ports(site.ecs, "web", "web:2")),
                     "the new tasks to take traffic, and only them",
                     lambda seen: len(seen[1]) == 2 and seen[0].get("healthy") == seen[1] and "draining" in seen[0],
                     timeout=90, interval=0.3)
            assert old.ask("still there?") == "v1: still there?", "the draining task still serves its open connection"
            new = WebSocket(site.port)
            try:
                assert new.ask("hi") == "v2: hi", "new connections reach new tasks"
            finally:
                new.close()
            wait_rolled(site.ecs, "web")
            with pytest.raises((ConnectionError, OSError)):
                old.ask("gone?")
        assert load.tally.failures == 0, load.tally.summary()
    finally:
        old.close()


def test_two_services_share_a_listener_by_host_and_one_deploys_alone(site):
    blue, green = site.group("blue"), site.group("green")
    site.listen(blue)
    site.route_host("green.example", green, priority=10)
    site.route_host("blue.example", blue, priority=20)
    site.serve("blue", blue, web_app(TESTAPP_V1, family="blue", VERSION="blue-1"), count=2)
    site.serve("green", green, web_app(TESTAPP_V1, family="green", VERSION="green-1"), count=2)
    with Load(site.port, host="blue.example", workers=2) as blue_load, \
            Load(site.port, host="green.example", workers=2) as green_load:
        site.ecs.register_task_definition(**web_app(TESTAPP_V2, family="green", VERSION="green-2"))
        site.ecs.update_service(service="green", taskDefinition="green:2")
        wait_rolled(site.ecs, "green")
    assert blue_load.tally.failures == 0 and set(blue_load.tally.versions) == {"blue-1"}, blue_load.tally.summary()
    assert green_load.tally.failures == 0, green_load.tally.summary()
    only_version_answers(site.port, "green-2", host="green.example")
    only_version_answers(site.port, "blue-1", host="blue.example")


def test_an_https_listener_serves_an_imported_certificate(site, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=shop.example", "-addext", "subjectAltName=DNS:shop.example"],
                   check=True, capture_output=True)
    imported = site.server.berth("certs", "import", "--certificate", str(cert), "--private-key", str(key),
                                 "--output", "json")
    certificate_arn = json.loads(imported.stdout)["CertificateArn"]
    group = site.group("web")
    site.listen(group, Protocol="HTTPS", Certificates=[{"CertificateArn": certificate_arn}])
    site.serve("web", group, web_app(TESTAPP_V1), count=2)
    context = ssl.create_default_context(cafile=str(cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    try:
        tls = context.wrap_socket(socket.create_connection(("127.0.0.1", site.port), timeout=10),
                                  server_hostname="shop.example")
    except OSError as e:
        # Who holds the port tells a stalled Berth listener from a port taken by another process.
        holders = subprocess.run(["ss", "-ltnp", f"sport = :{site.port}"], capture_output=True, text=True).stdout
        raise AssertionError(f"TLS handshake with port {site.port} failed: {e!r}\n{holders}") from e
    with tls:
        assert tls.selected_alpn_protocol() == "h2", "HTTP/2 is offered"
        assert tls.getpeercert()["subject"] == ((("commonName", "shop.example"),),)
    # curl speaks HTTP/2 over the same listener, checking the certificate.
    out = subprocess.run(["curl", "-sS", "--http2", "--cacert", str(cert), "--resolve", f"shop.example:{site.port}:127.0.0.1",
                          "-w", " %{http_version}", f"https://shop.example:{site.port}/"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["v1", "2"], out.stdout
    # A roll under steady HTTPS load drops nothing either.
    https = ssl.create_default_context(cafile=str(cert))
    with Load(site.port, host="shop.example", workers=4, tls=https) as load:
        site.ecs.register_task_definition(**web_app(TESTAPP_V2))
        site.ecs.update_service(service="web", taskDefinition="web:2")
        wait_rolled(site.ecs, "web")
    assert load.tally.failures == 0, load.tally.summary()
    assert load.tally.versions["v2"] > 0, load.tally.summary()


def test_a_secret_change_rolls_a_tagged_service_and_drops_no_request(site):
    """The version the test app answers with is a SecureString parameter: changing it rolls
    the service tagged berth:redeploy-on-secret-change onto the new value, under load."""
    ssm = site.server.client(service="ssm")
    ssm.put_parameter(Name="/site/version", Value="secret-v1", Type="SecureString")
    definition = web_app(TESTAPP_V1)
    definition["containerDefinitions"][0]["secrets"] = [{"name": "VERSION", "valueFrom": "/site/version"}]
    group = site.group("web")
    site.listen(group)
    site.serve("web", group, definition,
               tags=[{"key": "berth:redeploy-on-secret-change", "value": "true"}])
    only_version_answers(site.port, "secret-v1")
    with Load(site.port, workers=4) as load:
        time.sleep(1)
        ssm.put_parameter(Name="/site/version", Value="secret-v2", Type="SecureString", Overwrite=True)
        wait_for(lambda: service(site.ecs, "web")["deployments"], "a deployment for the new value",
                 lambda d: len(d) == 2, timeout=30, interval=0.2)
        wait_rolled(site.ecs, "web")
        time.sleep(1)
    tally = load.tally
    assert tally.failures == 0, tally.summary()
    assert tally.versions["secret-v2"] > 0, tally.summary()
    only_version_answers(site.port, "secret-v2")
    events = [e["message"] for e in service(site.ecs, "web")["events"]]
    assert any("parameter /site/version changed: rolling 4 running tasks" in e for e in events), events
