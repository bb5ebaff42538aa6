"""The measuring half of bench/deploy-vs-swarm.sh: a rolling deploy from v1 to v2 of a 4-task
web service under steady load, with Berth (ECS and ELBv2 APIs, its own load balancer) and
with Docker Swarm mode (its routing mesh) on the same Docker engine.

For each of `--rounds` rounds, and for each system in turn (the order alternates from round to
round), it sets the service up from nothing, waits until it is stable with 4 healthy tasks,
starts the load (unless `--workers 0`), changes the image from v1 to v2, polls every 0.1 s until
the roll is done, keeps the load going for a few hundred more answers, stops it and removes the
service. Then it prints the table of bench/README.md and whether the goal is met.

Run by bench/deploy-vs-swarm.sh, which starts Berth's server and agent, puts the engine in
swarm mode when it is not, builds the Swarm images, and cleans up.
"""

from __future__ import annotations

import argparse
import configparser
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from itertools import takewhile
from datetime import datetime, timezone
from pathlib import Path

import boto3
from botocore.config import Config

from berth_bench import free_port, log, wait_until

REPLICAS = 4
# Every wait below is a poll of a condition with a deadline; these are the deadlines.
SETUP_TIMEOUT = 120.0
ROLL_TIMEOUT = 240.0
TEARDOWN_TIMEOUT = 90.0
POLL_SECONDS = 0.1
# Answers the load must have had before the roll starts (so it is steady), and after the roll
# is done (to see which versions answer then).
WARMUP_ANSWERS = 100
AFTER_ANSWERS = 500
REQUEST_TIMEOUT = 5.0

# What the task definition and the Swarm service both get (web_app() in
# tests/e2e/test_deployments.py): 48 MiB, stop signal then SIGKILL after 2 s.
MEMORY_MIB = 48
CPU_UNITS = 32
STOP_TIMEOUT = 2
# Both systems' health check: every 2 s with a 1 s timeout. Berth takes intervals down to 2 s
# and timeouts down to 1 s (ALB: 5 s and 2 s), from a client whose parameter validation is
# off, since botocore checks ALB's ranges; thresholds 2-10 as ALB.
HEALTH_PATH = "/health"
HEALTH_INTERVAL = 2
HEALTH_TIMEOUT = 1
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2
DEREGISTRATION_DELAY = 30

BERTH = "Berth"
SWARM = "Docker Swarm"


# ---------------------------------------------------------------------------------------------
# The load generator, the same for both systems: the end-to-end tests' (tests/e2e/load.py).

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from load import Load as SteadyLoad, Tally  # noqa: E402


class Load(SteadyLoad):
    """`workers` threads, each sending `GET /` to 127.0.0.1:`port` over one keep-alive
    connection, back to back, until stopped. A non-2xx answer and every connection error
    (refused, reset, closed early, timed out) count as failed; a failed connection is replaced."""

    def __init__(self, port: int, workers: int):
        super().__init__(port, workers=workers, timeout=REQUEST_TIMEOUT)

    def start(self) -> "Load":
        return self.__enter__()

    def ok(self) -> int:
        with self._lock:
            return self.tally.ok

    def seen_since(self, since: float) -> int:
        """Answers and failures after `since`; both timelines are in time order."""
        with self._lock:
            return sum(sum(1 for _ in takewhile(lambda e: e[0] > since, reversed(events)))
                       for events in (self.tally.timeline, self.tally.failure_timeline))


def start_load(port: int, workers: int) -> Load:
    """The load, steady before anything is changed: it has had WARMUP_ANSWERS answers."""
    load = Load(port, workers).start()
    wait_until(load.ok, f"{WARMUP_ANSWERS} answers before the roll", lambda n: n >= WARMUP_ANSWERS, 30, 0.05)
    return load


def finish_load(load: Load, done: float) -> Tally:
    """Keeps the load going for AFTER_ANSWERS more answers, to see what answers after the roll."""
    wait_until(lambda: load.seen_since(done), f"{AFTER_ANSWERS} answers after the roll",
               lambda n: n >= AFTER_ANSWERS, 30, 0.05)
    return load.stop()


def get(port: int, timeout: float = 2.0) -> tuple[int, str]:
    """One GET / on a fresh connection: (status, body), or (0, error)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace").strip()
    except (OSError, http.client.HTTPException) as error:
        return 0, f"{type(error).__name__}: {error}"
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# One roll's outcome.

@dataclass
class Roll:
    system: str
    round: int
    seconds: float | None = None
    tally: Tally | None = None
    # Monotonic times: the change was sent, the roll was seen done.
    started: float = 0.0
    done: float = 0.0
    # The wall clock when the change was sent, for the systems' own timestamps.
    wall: float = 0.0
    note: str = ""
    # What the system's own timestamps say happened when, relative to the change.
    milestones: str = ""

    @property
    def loaded(self) -> bool:
        return self.tally is not None

    @property
    def ok(self) -> int:
        return self.tally.ok

    @property
    def failed(self) -> int:
        return len(self.tally.failure_timeline)

    def versions_after(self) -> list[str]:
        return sorted({v for t, v in self.tally.timeline if t > self.done})

    def details(self) -> str:
        lines = [f"{self.system}, round {self.round}: roll {self.seconds:.2f} s" + (f"; {self.note}" if self.note else "")]
        if self.milestones:
            lines.append(f"  {self.milestones}")
        if not self.loaded:
            lines.append("  no load measured")
            return "\n".join(lines)
        t = self.tally
        phases = {"before the roll": lambda x: x < self.started,
                  "during the roll": lambda x: self.started <= x <= self.done,
                  "after the roll": lambda x: x > self.done}
        for name, inside in phases.items():
            versions = Counter(v for x, v in t.timeline if inside(x))
            failed = Counter(kind for x, kind, _ in t.failure_timeline if inside(x))
            lines.append(f"  {name}: {sum(versions.values())} ok {dict(sorted(versions.items()))}, "
                         f"{sum(failed.values())} failed {dict(failed)}")
        old = [x for x, v in t.timeline if v == "v1" and x >= self.started]
        new = [x for x, v in t.timeline if v == "v2"]
        if new:
            lines.append(f"  first v2 answer {min(new) - self.started:.2f} s after the change, "
                         f"last v1 answer {(max(old) - self.started if old else 0):.2f} s after it")
        for x, _, detail in t.failure_timeline[:5]:
            lines.append(f"  failure at +{x - self.started:.2f} s: {detail}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Berth, through boto3.

class Berth:
    def __init__(self, endpoint: str, credentials: Path, image_v1: str, image_v2: str, workers: int):
        profile = configparser.ConfigParser()
        profile.read(credentials)
        keys = profile["berth"]
        session = boto3.session.Session(aws_access_key_id=keys["aws_access_key_id"],
                                        aws_secret_access_key=keys["aws_secret_access_key"],
                                        region_name="us-east-1")
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, parameter_validation=False)
        self.ecs = session.client("ecs", endpoint_url=endpoint, config=config)
        self.elbv2 = session.client("elbv2", endpoint_url=endpoint, config=config)
        self.images = {"v1": image_v1, "v2": image_v2}
        self.workers = workers

    def wait_for_agent(self) -> None:
        def connected() -> list:
            arns = self.ecs.list_container_instances()["containerInstanceArns"]
            if not arns:
                return []
            return [i["agentConnected"] for i in
                    self.ecs.describe_container_instances(containerInstances=arns)["containerInstances"]]
        wait_until(connected, "the Berth agent to register", lambda c: c and all(c), SETUP_TIMEOUT)

    def task_definition(self, family: str, version: str) -> dict:
        return {
            "family": family, "networkMode": "bridge",
            "containerDefinitions": [{
                "name": "web", "image": self.images[version], "essential": True,
                "memory": MEMORY_MIB, "cpu": CPU_UNITS,
                "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                "stopTimeout": STOP_TIMEOUT,
            }],
        }

    def service(self, name: str) -> dict:
        return self.ecs.describe_services(services=[name])["services"][0]

    def health(self, group: str) -> list[str]:
        described = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return [d["TargetHealth"]["State"] for d in described]

    def roll(self, number: int, engine: "Engine", label: str) -> Roll:
        name = f"roll-r{number}"
        port = free_port()
        elbv2, ecs = self.elbv2, self.ecs
        balancer = elbv2.create_load_balancer(Name=name, Subnets=["subnet-0berth"], Type="application")[
            "LoadBalancers"][0]["LoadBalancerArn"]
        group = elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=8080, VpcId="vpc-0berth", TargetType="ip",
            HealthCheckPath=HEALTH_PATH, HealthCheckIntervalSeconds=HEALTH_INTERVAL,
            HealthCheckTimeoutSeconds=HEALTH_TIMEOUT, HealthyThresholdCount=HEALTHY_THRESHOLD,
            UnhealthyThresholdCount=UNHEALTHY_THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(DEREGISTRATION_DELAY)}])
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer, Protocol="HTTP", Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])["Listeners"][0]["ListenerArn"]
        load = None
        try:
            ecs.register_task_definition(**self.task_definition(name, "v1"))
            ecs.create_service(
                serviceName=name, taskDefinition=f"{name}:1", desiredCount=REPLICAS,
                loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}],
                deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
            wait_until(lambda: self.service(name), f"{name} to be stable", rolled(1), SETUP_TIMEOUT)
            wait_until(lambda: self.health(group), f"{REPLICAS} healthy targets",
                       lambda states: states.count("healthy") == REPLICAS and len(states) == REPLICAS,
                       SETUP_TIMEOUT)
            wait_until(lambda: get(port), "the listener to answer v1", lambda a: a == (200, "v1"), 30)

            if self.workers:
                load = start_load(port, self.workers)
            ecs.register_task_definition(**self.task_definition(name, "v2"))
            result = Roll(BERTH, number)
            result.started, result.wall = time.monotonic(), time.time()
            ecs.update_service(service=name, taskDefinition=f"{name}:2")
            wait_until(lambda: self.service(name), f"{name} to roll to revision 2", rolled(2),
                       ROLL_TIMEOUT, POLL_SECONDS)
            result.done = time.monotonic()
            result.seconds = result.done - result.started
            if load is not None:
                result.tally = finish_load(load, result.done)
                load = None
            result.milestones = self.milestones(name, result.wall)
            return result
        finally:
            if load is not None:
                load.stop()
            self.remove(name, balancer, group, listener, engine, label)

    def milestones(self, name: str, wall: float) -> str:
        tasks = []
        for status in ("RUNNING", "STOPPED"):
            arns = self.ecs.list_tasks(serviceName=name, desiredStatus=status)["taskArns"]
            if arns:
                tasks += self.ecs.describe_tasks(tasks=arns)["tasks"]
        new = [t for t in tasks if t["taskDefinitionArn"].endswith(":2")]
        old = [t for t in tasks if t["taskDefinitionArn"].endswith(":1")]

        def span(group: list, key: str) -> str:
            times = [t[key].timestamp() - wall for t in group if t.get(key)]
            return f"+{min(times):.2f}..{max(times):.2f} s" if times else "-"
        events = self.service(name)["events"]

        def event(text: str) -> str:
            times = [e["createdAt"].timestamp() - wall for e in events if text in e["message"]]
            times = [t for t in times if t >= 0]
            return f"+{max(times):.2f} s" if times else "-"
        return (f"new tasks created {span(new, 'createdAt')}, containers started {span(new, 'startedAt')}; "
                f"old tasks draining {event('has begun draining')}, deregistered {event('deregistered')}, "
                f"told to stop {span(old, 'stoppingAt')}, stopped {span(old, 'stoppedAt')}; "
                f"deployment completed {event('deployment completed')}")

    def remove(self, name: str, balancer: str, group: str, listener: str, engine: "Engine", label: str) -> None:
        """Deletes the round's service and waits until its containers have stopped, so that
        the next measurement starts on a quiet machine; then its load balancer."""
        try:
            self.ecs.delete_service(service=name, force=True)
        except self.ecs.exceptions.ClientError as error:
            log(f"deleting service {name}: {error}")
        wait_until(lambda: engine.containers({"label": [label, "berth.managed"]}),
                   f"{name}'s containers to stop", lambda c: not c, TEARDOWN_TIMEOUT)
        for call, kwargs in ((self.elbv2.delete_listener, {"ListenerArn": listener}),
                             (self.elbv2.delete_target_group, {"TargetGroupArn": group}),
                             (self.elbv2.delete_load_balancer, {"LoadBalancerArn": balancer})):
            try:
                call(**kwargs)
            except self.elbv2.exceptions.ClientError as error:
                log(f"cleaning up {name}'s load balancer: {error}")


def rolled(revision: int):
    """Done: one deployment, of `revision`, COMPLETED, with every desired task running."""
    def done(s: dict) -> bool:
        d = s["deployments"]
        return (len(d) == 1 and d[0]["taskDefinition"].endswith(f":{revision}")
                and d[0].get("rolloutState") == "COMPLETED" and s["runningCount"] == s["desiredCount"])
    return done


# ---------------------------------------------------------------------------------------------
# Docker: the Engine API over its Unix socket for polling (a `docker` CLI process per poll
# would cost more CPU than what is measured), the CLI for what a Swarm user types.

class Engine:
    def __init__(self):
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if not host.startswith("unix://"):
            raise SystemExit(f"DOCKER_HOST={host}: only a local engine on a Unix socket is supported")
        self.path = host[len("unix://"):]

    def get(self, path: str, **query) -> object:
        if query:
            path += "?" + urllib.parse.urlencode({k: json.dumps(v) if isinstance(v, dict) else v
                                                 for k, v in query.items()})
        connection = http.client.HTTPConnection("localhost", timeout=30)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self.path)
        connection.sock = sock
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status == 404:
            return None
        if response.status != 200:
            raise SystemExit(f"Docker Engine API GET {path}: {response.status} {body[:300]!r}")
        return json.loads(body)

    def containers(self, filters: dict, all_states: bool = False) -> list:
        return self.get("/containers/json", filters=filters, all=int(all_states))


def epoch(stamp: str) -> float:
    """The Engine API's RFC 3339 timestamps carry nanoseconds; datetime takes microseconds."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return (datetime.fromisoformat(whole).replace(tzinfo=timezone.utc).timestamp()
            + float(f"0.{fraction or 0}"))


def docker(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


# Task states a task passes through after running; anything else still holds a container that
# may serve.
ENDED = {"complete", "shutdown", "failed", "rejected", "orphaned", "remove"}


class Swarm:
    def __init__(self, engine: Engine, image_v1: str, image_v2: str, label: str, workers: int,
                 health_interval: str, monitor: str, parallelism: int, require_mesh: bool):
        self.engine, self.label, self.workers = engine, label, workers
        self.images = {"v1": image_v1, "v2": image_v2}
        self.health_interval, self.monitor, self.parallelism = health_interval, monitor, parallelism
        self.require_mesh = require_mesh
        self.mesh_missing = False

    def tasks(self, name: str) -> list:
        return self.engine.get("/tasks", filters={"service": [name]}) or []

    def running(self, tasks: list, version: str) -> int:
        return sum(1 for t in tasks if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                   and t["Spec"]["ContainerSpec"]["Image"] == self.images[version])

    def rolled(self, name: str) -> tuple:
        service = self.engine.get(f"/services/{name}") or {}
        tasks = self.tasks(name)
        state = (service.get("UpdateStatus") or {}).get("State")
        new = self.running(tasks, "v2")
        old = sum(1 for t in tasks if t["Spec"]["ContainerSpec"]["Image"] != self.images["v2"]
                  and t["Status"]["State"] not in ENDED)
        return state, new, old

    def roll(self, number: int) -> Roll:
        # Swarm wants letters, digits and dashes: berth-deploy.Ab12Cd becomes berth-deploy-ab12cd-r1.
        run = "".join(c if c.isalnum() else "-" for c in self.label.split("=", 1)[1].lower())
        name = f"{run}-r{number}"
        port = free_port()
        load = None
        # The service carries the run's label, its containers too, so cleanup finds both.
        docker("service", "create", "--detach", "--quiet", "--name", name,
               "--label", self.label, "--container-label", self.label,
               "--replicas", str(REPLICAS), "--no-resolve-image",
               "--publish", f"published={port},target=8080",
               # The image's HEALTHCHECK runs `/berth-testapp check http://127.0.0.1:8080/health`
               # in exec form (the image has no shell for --health-cmd's CMD-SHELL); its timing:
               "--health-interval", self.health_interval, "--health-timeout", f"{HEALTH_TIMEOUT}s",
               "--health-retries", str(UNHEALTHY_THRESHOLD), "--health-start-period", "0s",
               "--limit-memory", f"{MEMORY_MIB}M", "--stop-grace-period", f"{STOP_TIMEOUT}s",
               "--update-parallelism", str(self.parallelism), "--update-order", "start-first",
               "--update-delay", "0s", "--update-monitor", self.monitor,
               "--update-failure-action", "continue",
               self.images["v1"])
        try:
            def ready() -> tuple:
                healthy = self.engine.containers({"label": [f"com.docker.swarm.service.name={name}"],
                                                  "health": ["healthy"]})
                return self.running(self.tasks(name), "v1"), len(healthy)
            wait_until(ready, f"{REPLICAS} running and healthy tasks of {name}",
                       lambda r: r == (REPLICAS, REPLICAS), SETUP_TIMEOUT)
            result = Roll(SWARM, number)
            if self.workers and not self.mesh_missing:
                answer = self.wait_for_mesh(port)
                if answer != (200, "v1"):
                    self.mesh_missing = True
                    log(f"Swarm's published port {port} does not answer ({answer[1]}) and this kernel has no "
                        f"IPVS (/proc/sys/net/ipv4/vs is missing), which Swarm's routing mesh needs: the Swarm "
                        f"rolls are measured without load")
            if self.mesh_missing:
                result.note = "no load: Swarm's routing mesh needs IPVS, which this kernel lacks"
            elif self.workers:
                load = start_load(port, self.workers)
            result.started, result.wall = time.monotonic(), time.time()
            docker("service", "update", "--detach", "--quiet", "--image", self.images["v2"],
                   "--no-resolve-image", name)
            cli = time.monotonic() - result.started
            # Swarm calls its update completed once the new tasks run (healthy) and the old
            # ones are told to shut down, which they do a while later; Berth's deployment is done
            # only when the old tasks have stopped. The roll ends at the latter on both sides;
            # when the former was first seen is noted too.
            completed = []

            def probe() -> tuple:
                state = self.rolled(name)
                if not completed and state[:2] == ("completed", REPLICAS):
                    completed.append(time.monotonic())
                return state
            wait_until(probe, f"{name} to roll to v2", lambda r: r == ("completed", REPLICAS, 0),
                       ROLL_TIMEOUT, POLL_SECONDS)
            result.done = time.monotonic()
            result.seconds = result.done - result.started
            result.note = "; ".join(filter(None, [
                result.note, f"`docker service update -d` returned after {cli:.2f} s",
                f"UpdateStatus completed with {REPLICAS} v2 tasks running seen at "
                f"{completed[0] - result.started:.2f} s, the old tasks all stopped at {result.seconds:.2f} s"]))
            if load is not None:
                result.tally = finish_load(load, result.done)
                load = None
            result.milestones = self.milestones(name, result.wall)
            return result
        finally:
            if load is not None:
                load.stop()
            docker("service", "rm", name)
            wait_until(lambda: self.engine.containers({"label": [f"com.docker.swarm.service.name={name}"]},
                                                      all_states=True),
                       f"{name}'s containers to go", lambda c: not c, TEARDOWN_TIMEOUT)

    def milestones(self, name: str, wall: float) -> str:
        tasks = self.tasks(name)
        new = [t for t in tasks if t["Spec"]["ContainerSpec"]["Image"] == self.images["v2"]]
        old = [t for t in tasks if t["Spec"]["ContainerSpec"]["Image"] != self.images["v2"]]

        def span(times: list) -> str:
            times = [epoch(x) - wall for x in times if x]
            return f"+{min(times):.2f}..{max(times):.2f} s" if times else "-"
        completed = ((self.engine.get(f"/services/{name}") or {}).get("UpdateStatus") or {}).get("CompletedAt")
        # A task's status timestamp is when it reached its current state: running (healthy,
        # for a task with a health check) for the new ones, shut down for the old ones.
        return (f"new tasks created {span([t['CreatedAt'] for t in new])}, running and healthy "
                f"{span([t['Status']['Timestamp'] for t in new])}; old tasks stopped "
                f"{span([t['Status']['Timestamp'] for t in old])}; update completed {span([completed])}")

    def wait_for_mesh(self, port: int) -> tuple[int, str]:
        """Until the published port answers v1. Without IPVS in the kernel it never will."""
        deadline = time.monotonic() + (5 if not Path("/proc/sys/net/ipv4/vs").exists() else 30)
        while True:
            answer = get(port)
            if answer == (200, "v1"):
                return answer
            if time.monotonic() >= deadline:
                if Path("/proc/sys/net/ipv4/vs").exists() or self.require_mesh:
                    raise SystemExit(f"Swarm's published port {port} does not answer v1: {answer}")
                return answer
            time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# The report.

def cell_versions(roll: Roll) -> str:
    if not roll.loaded:
        return "n/a"
    return ", ".join(roll.versions_after()) or "-"


def row(name: str, seconds: float, ok, failed, versions: str) -> str:
    return f"| {name} | {seconds:.2f} | {ok} | {failed} | {versions} |"


def report(results: dict[str, list[Roll]], rounds: int, workers: int, settings: str) -> None:
    load = (f"under steady load ({workers} keep-alive connections to 127.0.0.1, GET / back to back)"
            if workers else "with no load (--no-load)")
    print(f"Rolling deploy of {REPLICAS} tasks from v1 to v2 {load}; roll time is from the change until "
          f"the roll is seen done, polled every {POLL_SECONDS} s. {settings}")
    print()
    print("| system | roll time s | requests ok | failed requests | versions seen after roll |")
    print("|---|---:|---:|---:|---|")
    for system, rolls in results.items():
        for roll in rolls:
            name = system if rounds == 1 else f"{system}, round {roll.round}"
            ok = roll.ok if roll.loaded else "n/a"
            failed = roll.failed if roll.loaded else "n/a"
            print(row(name, roll.seconds, ok, failed, cell_versions(roll)))
        if rounds > 1:
            loaded = [r for r in rolls if r.loaded]
            median = statistics.median
            versions = sorted({v for r in loaded for v in r.versions_after()})
            print(row(f"{system}, median of {rounds}", median(r.seconds for r in rolls),
                      f"{median(r.ok for r in loaded):g}" if loaded else "n/a",
                      f"{median(r.failed for r in loaded):g}" if loaded else "n/a",
                      ", ".join(versions) if loaded else "n/a"))
    print()
    for rolls in results.values():
        for roll in rolls:
            print(roll.details())
    print()
    goal = "goal (Berth completes faster than Swarm, with zero failed requests)"
    if not (results.get(BERTH) and results.get(SWARM)):
        print(f"- {goal}: not judged, one side was skipped")
        return
    berth = statistics.median(r.seconds for r in results[BERTH])
    swarm = statistics.median(r.seconds for r in results[SWARM])
    faster = f"Berth {berth:.2f} s against Swarm {swarm:.2f} s (median roll time)"
    if not workers:
        print(f"- {goal}: {'faster' if berth < swarm else 'NOT faster'}: {faster}; failed requests not "
              f"measured (--no-load)")
        return
    berth_failed = sum(r.failed for r in results[BERTH])
    only_new = all(r.versions_after() == ["v2"] for r in results[BERTH])
    met = berth < swarm and berth_failed == 0 and only_new
    print(f"- {goal}: {'met' if met else 'NOT MET'}: {faster}, {berth_failed} failed requests through Berth"
          f"{'' if only_new else ', and not only v2 answered after the roll'}")
    if any(not r.loaded for r in results[SWARM]):
        print("- Swarm's failed requests could not be measured here: its routing mesh needs IPVS, which this "
              "machine's kernel lacks, so Swarm rolled with no load while Berth carried it; "
              "`--no-load` compares the roll times with neither loaded")
    else:
        swarm_failed = sum(r.failed for r in results[SWARM])
        print(f"- failed requests through Swarm's routing mesh: {swarm_failed} over {rounds} round(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="load generator connections; 0: no load")
    parser.add_argument("--label", required=True, help="key=value every container and the service carry")
    parser.add_argument("--berth-endpoint", required=True)
    parser.add_argument("--berth-credentials", type=Path, required=True)
    parser.add_argument("--berth-image-v1", default="berth-testapp:v1")
    parser.add_argument("--berth-image-v2", default="berth-testapp:v2")
    parser.add_argument("--swarm-image-v1", required=True)
    parser.add_argument("--swarm-image-v2", required=True)
    parser.add_argument("--swarm-health-interval", default=f"{HEALTH_INTERVAL}s")
    parser.add_argument("--swarm-update-monitor", default="1ms")
    parser.add_argument("--swarm-parallelism", type=int, default=REPLICAS)
    parser.add_argument("--require-mesh", action="store_true",
                        help="fail, rather than measure Swarm without load, when its routing mesh does not work")
    parser.add_argument("--only", choices=["berth", "swarm"], help="measure one system only")
    args = parser.parse_args()

    engine = Engine()
    berth = Berth(args.berth_endpoint, args.berth_credentials, args.berth_image_v1, args.berth_image_v2,
                  args.workers)
    swarm = Swarm(engine, args.swarm_image_v1, args.swarm_image_v2, args.label, args.workers,
                  args.swarm_health_interval, args.swarm_update_monitor, args.swarm_parallelism,
                  args.require_mesh)
    berth.wait_for_agent()

    systems = [s for s in (BERTH, SWARM) if args.only in (None, s.split()[-1].lower())]
    results: dict[str, list[Roll]] = {s: [] for s in systems}
    for number in range(1, args.rounds + 1):
        # Alternating, so neither system always runs on the machine the other just left.
        for system in (systems if number % 2 else systems[::-1]):
            log(f"round {number}/{args.rounds}: {system}")
            roll = berth.roll(number, engine, args.label) if system == BERTH else swarm.roll(number)
            log(f"  rolled in {roll.seconds:.2f} s"
                + (f", {roll.ok} ok, {roll.failed} failed" if roll.loaded else ", no load"))
            results[system].append(roll)

    settings = (f"Berth: target group health check every {HEALTH_INTERVAL} s (timeout {HEALTH_TIMEOUT} s, "
                f"healthy {HEALTHY_THRESHOLD}, unhealthy {UNHEALTHY_THRESHOLD}), maximumPercent 200, "
                f"minimumHealthyPercent 100. Swarm: container health check every {args.swarm_health_interval} "
                f"(timeout {HEALTH_TIMEOUT} s, retries {UNHEALTHY_THRESHOLD}), --update-order start-first "
                f"--update-parallelism {args.swarm_parallelism} --update-delay 0s --update-monitor "
                f"{args.swarm_update_monitor}.")
    report(results, args.rounds, args.workers, settings)


if __name__ == "__main__":
    main()
