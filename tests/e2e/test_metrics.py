"""`GET /metrics` on the server and on an agent, parsed by Prometheus' own text-format parser
(the `prometheus-client` package): a service whose task burns a core shows its CPU
utilization above its reservation on both runtimes, the agent shows the container's CPU and
memory, and requests through Berth's load balancer are counted by target group and class,
in `/metrics` and in CloudWatch's `AWS/ApplicationELB`. Target tracking scales services on
CPU and on requests per target."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BerthServer, free_port, wait_for
from docker_cluster import TESTAPP_V1, running_agent
from load import Load, get
from test_deployments import Site, web_app


def scrape(url: str) -> dict[str, list]:
    """Every sample at `url`, by sample name, as Prometheus parses them."""
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float | None:
    for sample in samples.get(name, []):
        if all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return None


@pytest.fixture(params=["docker", "process"])
def metered(request, berth_bin: Path, server: BerthServer, tmp_path: Path):
    """A server and an agent sampling every second and answering /metrics, on the runtime the
    test is parametrized with; its containers or processes are removed whatever the outcome."""
    metrics_port = free_port()
    extra_args = ("--sample-seconds", "1", "--metrics-listen", f"127.0.0.1:{metrics_port}")
    with running_agent(berth_bin, server, tmp_path, request.param, extra_args) as agent:
        yield server, agent, f"http://127.0.0.1:{metrics_port}/metrics"


def burner(runtime: str, berth_bin: Path) -> dict:
    """The test app burning one core, reserving a quarter of one and 64 MiB."""
    if runtime == "docker":
        base = {"image": TESTAPP_V1}
    else:
        base = {"image": "host", "entryPoint": [str(berth_bin.parent / "berth-testapp")]}
    port = 20000 + uuid.uuid4().int % 20000
    return {"name": "app", "essential": True, "cpu": 256, "memory": 64, **base,
            "environment": [{"name": "BURN_CPU", "value": "1"}, {"name": "PORT", "value": str(port)}]}


def test_a_service_burning_cpu_shows_above_its_reservation(metered, berth_bin: Path):
    server, agent, agent_metrics = metered
    ecs = server.ecs
    mode = "bridge" if agent.runtime == "docker" else "host"
    ecs.register_task_definition(family="burn", networkMode=mode,
                                 containerDefinitions=[burner(agent.runtime, berth_bin)])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    ecs.create_service(serviceName="burn", taskDefinition="burn", desiredCount=1)

    # One core busy with 256 units reserved: about 400 %; anything above 100 shows the burst.
    labels = {"cluster": "default", "service": "burn"}
    cpu = wait_for(lambda: value(scrape(f"{server.endpoint}/metrics"), "berth_service_cpu_utilization_percent",
                                 **labels),
                   "the service's CPU utilization above 100 %", lambda v: v is not None and v > 100,
                   timeout=90)
    samples = scrape(f"{server.endpoint}/metrics")
    memory = value(samples, "berth_service_memory_utilization_percent", **labels)
    assert memory is not None and 0 < memory < 100, (cpu, memory)
    assert value(samples, "berth_service_memory_bytes", **labels) > 0
    assert value(samples, "berth_service_reporting_tasks", **labels) == 1
    assert value(samples, "berth_task_starts_total", cluster="default") >= 1
    assert value(samples, "berth_placements_total", cluster="default") >= 1
    assert value(samples, "berth_api_requests_total", api="ECS", action="CreateService", outcome="ok") == 1
    assert value(samples, "berth_api_request_duration_seconds_count", api="ECS", action="CreateService") == 1
    assert value(samples, "berth_controller_round_duration_seconds_count") > 0

    # The same figure through CloudWatch, as AWS/ECS names it, with the aws CLI.
    def cloudwatch_cpu():
        now = int(time.time())
        answer = server.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ECS",
                            "--metric-name", "CPUUtilization",
                            "--dimensions", "Name=ClusterName,Value=default", "Name=ServiceName,Value=burn",
                            "--start-time", str(now - 300), "--end-time", str(now + 60),
                            "--period", "60", "--statistics", "Maximum")
        return max((point["Maximum"] for point in answer["Datapoints"]), default=None)
    wait_for(cloudwatch_cpu, "AWS/ECS CPUUtilization above 100 % in CloudWatch",
             lambda v: v is not None and v > 100, timeout=30)

    task_id = ecs.list_tasks(serviceName="burn")["taskArns"][0].rsplit("/", 1)[1]
    container = {"family": "burn", "task_id": task_id, "container": "app"}
    on_agent = wait_for(lambda: scrape(agent_metrics), "the agent's CPU reading of the burner",
                        lambda s: (value(s, "berth_container_cpu_units", **container) or 0) > 512,
                        timeout=30)
    assert value(on_agent, "berth_container_memory_bytes", **container) > 0
    assert value(on_agent, "berth_container_cpu_seconds_total", **container) > 0
    assert value(on_agent, "berth_agent_usage_reports_total", outcome="sent") > 0


def test_requests_through_the_load_balancer_are_counted(cluster):
    server, _ = cluster
    site = Site(server)
    group = site.group("web")
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1), count=1)
    answered = [get(site.port)[0] for _ in range(25)] + [get(site.port, path="/missing")[0] for _ in range(5)]
    assert answered.count(200) == 25, answered

    samples = scrape(f"{server.endpoint}/metrics")
    assert value(samples, "berth_lb_requests_total", target_group="web") == 30
    assert value(samples, "berth_lb_responses_total", target_group="web", code="2XX", source="target") == 25
    assert value(samples, "berth_lb_responses_total", target_group="web", code="4XX", source="target") == 5
    assert value(samples, "berth_lb_responses_total", target_group="web", code="5XX", source="elb") == 0
    assert value(samples, "berth_lb_target_response_time_seconds_count", target_group="web") == 30
    per_target = [s for s in samples.get("berth_lb_target_requests_total", [])
                  if s.labels["target_group"] == "web"]
    assert [s.value for s in per_target] == [30], per_target

    # The same counts in CloudWatch, under ALB's names and dimensions.
    cw = server.client(service="cloudwatch")
    dimensions = [{"Name": "LoadBalancer", "Value": load_balancer_dimension(site)},
                  {"Name": "TargetGroup", "Value": target_group_dimension(group)}]

    def statistic(name: str, stat: str, dims: list = dimensions) -> float:
        points = cw.get_metric_statistics(
            Namespace="AWS/ApplicationELB", MetricName=name, Dimensions=dims,
            StartTime=time.time() - 600, EndTime=time.time() + 60, Period=3600, Statistics=[stat])["Datapoints"]
        return sum(p[stat] for p in points)
    wait_for(lambda: statistic("RequestCount", "Sum"), "the requests in CloudWatch", lambda n: n == 30, timeout=30)
    assert statistic("HTTPCode_Target_2XX_Count", "Sum") == 25
    assert statistic("HTTPCode_Target_4XX_Count", "Sum") == 5
    assert statistic("TargetResponseTime", "SampleCount") == 30
    assert 0 < statistic("TargetResponseTime", "Maximum") < 5
    assert statistic("HealthyHostCount", "Maximum") == 1
    assert statistic("RequestCount", "Sum", dimensions[:1]) == 30, "the load balancer's total"
    assert statistic("RequestCountPerTarget", "Sum", dimensions[1:]) == 30, "one healthy target"


def load_balancer_dimension(site: Site) -> str:
    """ALB's `LoadBalancer` dimension: `app/<name>/<id>`."""
    return site.balancer["LoadBalancerArn"].split(":loadbalancer/", 1)[1]


def target_group_dimension(group_arn: str) -> str:
    """ALB's `TargetGroup` dimension: `targetgroup/<name>/<id>`."""
    return group_arn.rsplit(":", 1)[1]


def test_target_tracking_on_requests_per_target_scales_out_and_in_dropping_no_request(cluster):
    """ALBRequestCountPerTarget: a burst of requests through Berth's load balancer scales the
    web service out to its maximum, a trickle afterwards brings it back to its minimum, and
    no request fails while targets are added and drained."""
    server, _ = cluster
    site = Site(server)
    group = site.group("web", deregistration_delay=5)
    site.listen(group)
    site.serve("web", group, web_app(TESTAPP_V1), count=1)
    target = ["--service-namespace", "ecs", "--resource-id", "service/default/web",
              "--scalable-dimension", "ecs:service:DesiredCount"]
    server.aws("application-autoscaling", "register-scalable-target", *target,
               "--min-capacity", "1", "--max-capacity", "3")
    label = f"{load_balancer_dimension(site)}/{target_group_dimension(group)}"
    server.aws("application-autoscaling", "put-scaling-policy", *target, "--policy-name", "requests",
               "--policy-type", "TargetTrackingScaling", "--target-tracking-scaling-policy-configuration",
               json.dumps({"TargetValue": 300.0, "ScaleOutCooldown": 0, "ScaleInCooldown": 0,
                           "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                                                             "ResourceLabel": label}}))

    def desired() -> int:
        return server.ecs.describe_services(services=["web"])["services"][0]["desiredCount"]
    # A trickle throughout (a few requests a second, far below 300 a minute for each of three
    # targets), and a burst of tens a second, far above it for one, in the middle.
    with Load(site.port, workers=1, pause=0.5) as trickle:
        with Load(site.port, workers=2, pause=0.02) as burst:
            wait_for(desired, "a scale-out to the maximum", lambda count: count == 3, timeout=90, interval=1)
            wait_for(lambda: site.health(group), "three healthy targets",
                     lambda states: states.count("healthy") == 3, timeout=60)
        wait_for(desired, "a scale-in to the minimum under the trickle", lambda count: count == 1,
                 timeout=240, interval=2)
        wait_for(lambda: site.health(group), "the removed targets drained", lambda states: states == ["healthy"],
                 timeout=60)
    assert burst.tally.failures == 0, burst.tally.summary()
    assert trickle.tally.failures == 0 and trickle.tally.ok > 20, trickle.tally.summary()
    activities = server.aws("application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
                            "--resource-id", "service/default/web")["ScalingActivities"]
    assert any("requests" in activity["Cause"] for activity in activities), activities


@pytest.mark.parametrize("metered", ["process"], indirect=True)
def test_target_tracking_on_cpu_scales_out_then_back_in(metered, berth_bin: Path):
    """A service whose tasks burn a core for 40 s (256 units reserved) scales out under target
    tracking on ECSServiceAverageCPUUtilization, and back in to its minimum once the burn ends."""
    server, _, _ = metered
    ecs = server.ecs
    app = burner("process", berth_bin)
    app["environment"] = [{"name": "BURN_CPU", "value": "1"}, {"name": "BURN_SECONDS", "value": "40"},
                          {"name": "PORT", "value": "0"}]
    ecs.register_task_definition(family="surge", networkMode="host", containerDefinitions=[app])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    ecs.create_service(serviceName="surge", taskDefinition="surge", desiredCount=1)
    target = ["--service-namespace", "ecs", "--resource-id", "service/default/surge",
              "--scalable-dimension", "ecs:service:DesiredCount"]
    server.aws("application-autoscaling", "register-scalable-target", *target,
               "--min-capacity", "1", "--max-capacity", "3")
    server.aws("application-autoscaling", "put-scaling-policy", *target, "--policy-name", "cpu",
               "--policy-type", "TargetTrackingScaling", "--target-tracking-scaling-policy-configuration",
               json.dumps({"TargetValue": 50.0, "ScaleOutCooldown": 0, "ScaleInCooldown": 0,
                           "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}))

    def desired() -> int:
        return ecs.describe_services(services=["surge"])["services"][0]["desiredCount"]
    # Three 5-second datapoints above the target, not AWS's three minutes.
    wait_for(desired, "a scale-out to the maximum", lambda count: count == 3, timeout=90, interval=1)
    wait_for(desired, "a scale-in to the minimum once the burn ended", lambda count: count == 1,
             timeout=240, interval=2)
    activities = server.aws("application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
                            "--resource-id", "service/default/surge")["ScalingActivities"]
    causes = " / ".join(activity["Cause"] for activity in activities)
    assert "cpu" in causes, causes
    events = " / ".join(event["message"] for event in ecs.describe_services(services=["surge"])["services"][0]["events"])
    assert "desired count" in events, events
