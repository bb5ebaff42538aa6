"""The measuring half of bench/surge.sh: how long a surge waits for a new task, and what
metrics cost the server.

Surges, each `--rounds` times, on a fresh service of one task (Docker, the test image) behind
Berth's load balancer with a 2-second health check, scalable from 1 to 4 tasks:

- **requests**: target tracking on `ALBRequestCountPerTarget` (300 a minute per target); the
  surge is a load generator starting at full speed (hundreds of requests a second).
- **cpu**: target tracking on `ECSServiceAverageCPUUtilization` (50 %); the task burns a
  core from its start, reserving a quarter of one, so the surge starts when it runs.

From the start of the surge it polls every 0.1 s and records when the desired count first
rises (the decision), when a new task is RUNNING, and when its target is healthy. AWS's
documented behaviour is the reference: target tracking wants three one-minute datapoints
above the target, so the decision comes 3 minutes or more after a surge begins.

Then the cost of metrics: PutMetricData of `--datapoints` datapoints in calls of 1,000 (20
series of one namespace, one value each per second), the server's CPU time per 1,000, read
from /proc.

Run by bench/surge.sh, which starts the server and a Docker agent and cleans up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from berth_bench import client, cpu_seconds, free_port, log, verdict, wait_for_agent, wait_until

GOAL_SECONDS = 20.0
AWS_DECISION_SECONDS = 180.0
TARGET_REQUESTS_PER_MINUTE = 300.0
TARGET_CPU_PERCENT = 50.0
POLL_SECONDS = 0.1
SURGE_TIMEOUT = 120.0


@dataclass
class Surge:
    kind: str
    decided: float
    running: float
    healthy: float


class Load:
    """`workers` threads sending GET / over keep-alive connections back to back until stopped."""

    def __init__(self, port: int, workers: int):
        self.port, self.workers = port, workers
        self.answers = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(workers)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        connection = None
        while not self._stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                ok = 200 <= response.status < 300
            except (OSError, http.client.HTTPException):
                connection, ok = None, False
            with self._lock:
                if ok:
                    self.answers += 1
                else:
                    self.failures += 1


class Site:
    """The server's ECS, ELBv2 and Application Auto Scaling clients, and what a round sets up."""

    def __init__(self, endpoint: str, credentials: Path, image: str):
        # Validation off: Berth takes a 2-second health check interval, botocore wants 5.
        self.ecs = client("ecs", endpoint, credentials, validate=False)
        self.elbv2 = client("elbv2", endpoint, credentials, validate=False)
        self.scaling = client("application-autoscaling", endpoint, credentials)
        self.image = image
        self.balancer = self.elbv2.create_load_balancer(
            Name="surge", Subnets=["subnet-0berth"], Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
        self.listener = self.port = None

    def service(self, name: str, burn: bool) -> str:
        """A one-task service behind its own target group and listener."""
        group = self.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=8080, VpcId="vpc-0berth", TargetType="ip",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=2, HealthCheckTimeoutSeconds=1,
            HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.modify_target_group_attributes(TargetGroupArn=group, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
        self.port = free_port()
        self.listener = self.elbv2.create_listener(
            LoadBalancerArn=self.balancer, Protocol="HTTP", Port=self.port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])["Listeners"][0]["ListenerArn"]
        environment = [{"name": "BURN_CPU", "value": "1"}] if burn else []
        self.ecs.register_task_definition(family=name, networkMode="bridge", containerDefinitions=[{
            "name": "web", "image": self.image, "essential": True, "memory": 48, "cpu": 256,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}], "environment": environment,
            "stopTimeout": 2}])
        self.ecs.create_service(serviceName=name, taskDefinition=name, desiredCount=1, loadBalancers=[
            {"targetGroupArn": group, "containerName": "web", "containerPort": 8080}])
        return group

    def scale(self, name: str, metric: dict, target: float) -> None:
        resource = {"ServiceNamespace": "ecs", "ResourceId": f"service/default/{name}",
                    "ScalableDimension": "ecs:service:DesiredCount"}
        self.scaling.register_scalable_target(**resource, MinCapacity=1, MaxCapacity=4)
        self.scaling.put_scaling_policy(
            **resource, PolicyName=f"{name}-tracking", PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": target, "ScaleOutCooldown": 0, "ScaleInCooldown": 300,
                "PredefinedMetricSpecification": metric})

    def desired(self, name: str) -> int:
        return self.ecs.describe_services(services=[name])["services"][0]["desiredCount"]

    def running(self, name: str) -> int:
        arns = self.ecs.list_tasks(serviceName=name, desiredStatus="RUNNING")["taskArns"]
        if not arns:
            return 0
        return sum(t["lastStatus"] == "RUNNING" for t in self.ecs.describe_tasks(tasks=arns)["tasks"])

    def healthy(self, group: str) -> int:
        described = self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
        return sum(d["TargetHealth"]["State"] == "healthy" for d in described)

    def remove(self, name: str, group: str) -> None:
        self.scaling.deregister_scalable_target(
            ServiceNamespace="ecs", ResourceId=f"service/default/{name}",
            ScalableDimension="ecs:service:DesiredCount")
        self.ecs.delete_service(service=name, force=True)
        wait_until(lambda: self.ecs.list_tasks(serviceName=name)["taskArns"], f"{name}'s tasks to stop",
                   lambda arns: not arns, timeout=60)
        self.elbv2.delete_listener(ListenerArn=self.listener)
        self.elbv2.delete_target_group(TargetGroupArn=group)


def watch(site: Site, name: str, group: str, began: float, kind: str) -> Surge:
    """From the surge's start: when the count rose, a second task ran, and its target was healthy."""
    decided = running = None
    deadline = began + SURGE_TIMEOUT
    while time.monotonic() < deadline:
        now = time.monotonic()
        if decided is None and site.desired(name) > 1:
            decided = now
        if decided is not None and running is None and site.running(name) > 1:
            running = now
        if running is not None and site.healthy(group) > 1:
            return Surge(kind, decided - began, running - began, now - began)
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"the {kind} surge had no new healthy task within {SURGE_TIMEOUT:.0f} s "
                     f"(decided {decided}, running {running})")


def request_surge(site: Site, round_number: int, workers: int) -> Surge:
    name = f"requests-{round_number}"
    group = site.service(name, burn=False)
    wait_until(lambda: site.healthy(group), f"{name}'s first target", lambda n: n == 1, timeout=60)
    label = f"{site.balancer.split(':loadbalancer/')[1]}/{group.rsplit(':', 1)[1]}"
    site.scale(name, {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label},
               TARGET_REQUESTS_PER_MINUTE)
    began = time.monotonic()
    with Load(site.port, workers) as load:
        surge = watch(site, name, group, began, "requests")
    log(f"  requests: {load.answers} answered, {load.failures} failed during the surge")
    site.remove(name, group)
    return surge


def cpu_surge(site: Site, round_number: int) -> Surge:
    name = f"cpu-{round_number}"
    group = site.service(name, burn=True)
    site.scale(name, {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}, TARGET_CPU_PERCENT)
    # The task burns from its start: the surge begins when it runs.
    wait_until(lambda: site.running(name), f"{name}'s first task", lambda n: n == 1, timeout=60,
               interval=POLL_SECONDS)
    surge = watch(site, name, group, time.monotonic(), "cpu")
    site.remove(name, group)
    return surge


def metrics_cost(endpoint: str, credentials: Path, server_pid: int, datapoints: int) -> float:
    """Server CPU seconds per 1,000 datapoints put with PutMetricData."""
    cloudwatch = client("cloudwatch", endpoint, credentials)
    calls = max(1, datapoints // 1000)
    # Each call puts 50 seconds of 20 series; the calls follow each other up to a minute ago.
    first = int(time.time()) - 60 - calls * 50
    before = cpu_seconds(server_pid)
    for call in range(calls):
        data = [{"MetricName": "Depth", "Dimensions": [{"Name": "Queue", "Value": f"q{i % 20}"}],
                 "Timestamp": first + call * 50 + i // 20, "Value": float(i), "StorageResolution": 1}
                for i in range(1000)]
        cloudwatch.put_metric_data(Namespace="Bench", MetricData=data)
    return (cpu_seconds(server_pid) - before) / calls


def report(surges: list[Surge], per_thousand: float, datapoints: int) -> None:
    print()
    print("| surge | decision s (median / max) | new task RUNNING s | new target healthy s "
          "| AWS, documented: decision s | goal: healthy < 20 s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("requests", "cpu"):
        mine = [s for s in surges if s.kind == kind]
        if not mine:
            continue

        def cell(values: list[float]) -> str:
            return f"{statistics.median(values):.1f} / {max(values):.1f}"
        healthy = [s.healthy for s in mine]
        print(f"| {kind} ({len(mine)} rounds) | {cell([s.decided for s in mine])} "
              f"| {cell([s.running for s in mine])} | {cell(healthy)} | ≥ {AWS_DECISION_SECONDS:.0f} "
              f"| {verdict(max(healthy) < GOAL_SECONDS)} |")
    print()
    print(f"server CPU per 1,000 datapoints (PutMetricData, {datapoints} put in calls of 1,000): "
          f"{per_thousand * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--image", default="berth-testapp:v1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--datapoints", type=int, default=100_000)
    parser.add_argument("--only", choices=["requests", "cpu"])
    args = parser.parse_args()

    site = Site(args.endpoint, args.credentials, args.image)
    wait_for_agent(site.ecs)
    surges = []
    for round_number in range(1, args.rounds + 1):
        if args.only in (None, "requests"):
            surges.append(request_surge(site, round_number, args.workers))
            log(f"round {round_number}: {json.dumps(surges[-1].__dict__)}")
        if args.only in (None, "cpu"):
            surges.append(cpu_surge(site, round_number))
            log(f"round {round_number}: {json.dumps(surges[-1].__dict__)}")
    per_thousand = metrics_cost(args.endpoint, args.credentials, args.server_pid, args.datapoints)
    report(surges, per_thousand, args.datapoints)


if __name__ == "__main__":
    main()
