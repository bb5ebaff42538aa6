"""Many small apps on few machines: forty web services of two tasks each, packed by memory onto
two Docker agents in two zones (spread on `attribute:zone`, one task per zone), all behind one
load balancer listener routed by host header. Every service answers; draining one machine
moves its tasks to the other with no failed request; a task past its hard memory limit is
reported `OutOfMemoryError` and replaced; a service that no longer fits says so and starts as
soon as memory frees.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid

import pytest

from conftest import wait_for
from docker_cluster import BUSYBOX, TESTAPP_V1, Agent, docker, require_images
from load import Load, get
from test_deployments import Site

pytestmark = pytest.mark.berth

SERVICES = 40
TASK_MEMORY = 32
# Room for all eighty tasks on one machine once the other drains, and not much more.
AGENT_MEMORY = 3000


def app(name: str) -> dict:
    return {
        "family": name, "networkMode": "bridge",
        "containerDefinitions": [{
            "name": "web", "image": TESTAPP_V1, "essential": True, "memory": TASK_MEMORY,
            "portMappings": [{"containerPort": 8080, "hostPort": 0}],
            "environment": [{"name": "VERSION", "value": name}], "stopTimeout": 2,
        }],
    }


@pytest.fixture
def two_zones(berth_bin, server, tmp_path):
    require_images()
    label = uuid.uuid4().hex[:12]
    agents = [Agent(berth_bin, server, tmp_path / f"agent-{zone}", tmp_path / f"agent-{zone}.log", label,
                    extra_args=("--memory", str(AGENT_MEMORY)), zone=zone) for zone in "ab"]
    try:
        for agent in agents:
            agent.start()
        yield server, agents
    finally:
        for agent in agents:
            agent.stop()
        ids = docker("ps", "-aq", "--filter", f"label=berth.test-run={label}").split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=180)


def instance_zones(ecs) -> dict[str, str]:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    described = ecs.describe_container_instances(containerInstances=arns)["containerInstances"]
    return {i["containerInstanceArn"]: next(a["value"] for a in i["attributes"] if a["name"] == "zone")
            for i in described}


def running_tasks(ecs, service: str) -> list[dict]:
    arns = ecs.list_tasks(serviceName=service, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def all_settled(site: Site, names: list[str], groups: dict[str, str]) -> list[str]:
    """The services not yet running two tasks with two healthy targets."""
    unsettled = []
    for start in range(0, len(names), 10):
        for s in site.ecs.describe_services(services=names[start:start + 10])["services"]:
            if s["runningCount"] != 2 or len(s["deployments"]) != 1:
                unsettled.append(s["serviceName"])
    for name in names:
        if name not in unsettled and site.health(groups[name]).count("healthy") != 2:
            unsettled.append(name)
    return unsettled


def test_forty_small_services_share_two_machines_and_survive_a_drain(two_zones):
    server, (a, b) = two_zones
    ecs = server.ecs
    wait_for(lambda: len(instance_zones(ecs)), "both agents to register", lambda n: n == 2)
    zones = instance_zones(ecs)
    site = Site(server, "city")
    names = [f"svc{i:02}" for i in range(SERVICES)]
    groups = {name: site.group(name, deregistration_delay=2) for name in names}
    site.listen(groups[names[0]])
    for priority, name in enumerate(names, start=1):
        site.route_host(f"{name}.city", groups[name], priority)
        ecs.register_task_definition(**app(name))
        ecs.create_service(
            serviceName=name, taskDefinition=name, desiredCount=2,
            placementStrategy=[{"type": "spread", "field": "attribute:zone"}],
            loadBalancers=[{"targetGroupArn": groups[name], "containerName": "web", "containerPort": 8080}],
            deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
    wait_for(lambda: all_settled(site, names, groups), "forty services with two healthy targets each",
             lambda unsettled: not unsettled, timeout=300, interval=2)

    # Packed by memory, one task per zone, every service answering under its own name.
    for name in names:
        placed = sorted(zones[t["containerInstanceArn"]] for t in running_tasks(ecs, name))
        assert placed == ["a", "b"], f"{name} runs in zones {placed}"
        assert get(site.port, host=f"{name}.city") == (200, name)
    used = {zone: sum(1 for name in names for t in running_tasks(ecs, name) if zones[t["containerInstanceArn"]] == zone)
            for zone in "ab"}
    assert used == {"a": SERVICES, "b": SERVICES}

    # Draining b moves its forty tasks to a while every service keeps answering.
    b_arn = next(arn for arn, zone in zones.items() if zone == "b")
    with Load(site.port, host=[f"{name}.city" for name in names], workers=8) as load:
        ecs.update_container_instances_state(containerInstances=[b_arn], status="DRAINING")
        wait_for(lambda: ecs.describe_container_instances(containerInstances=[b_arn])["containerInstances"][0],
                 "b to run nothing", lambda i: i["runningTasksCount"] == 0 and i["pendingTasksCount"] == 0,
                 timeout=300, interval=2)
        wait_for(lambda: all_settled(site, names, groups), "every service whole on a",
                 lambda unsettled: not unsettled, timeout=180, interval=2)
    tally = load.tally
    assert tally.failures == 0, tally.summary()
    assert set(tally.versions) == set(names), tally.summary()

    # A task past its hard memory limit is killed for it, said so, and replaced.
    ecs.register_task_definition(family="hog", networkMode="bridge", containerDefinitions=[{
        "name": "hog", "image": TESTAPP_V1, "essential": True, "memory": TASK_MEMORY,
        "environment": [{"name": "ALLOCATE_MB_PER_SEC", "value": "64"}]}])
    ecs.create_service(serviceName="hog", taskDefinition="hog", desiredCount=1)
    def stopped_hogs() -> list[dict]:
        arns = ecs.list_tasks(serviceName="hog", desiredStatus="STOPPED")["taskArns"]
        return [t for t in ecs.describe_tasks(tasks=arns)["tasks"] if t["lastStatus"] == "STOPPED"] if arns else []
    killed = wait_for(stopped_hogs, "the hog to be killed for its memory", timeout=60)[0]
    assert killed["containers"][0]["reason"] == "OutOfMemoryError: Container killed due to memory usage", killed
    wait_for(lambda: ecs.list_tasks(serviceName="hog")["taskArns"], "the hog to be replaced",
             lambda arns: bool(arns) and killed["taskArn"] not in arns, timeout=60)
    ecs.delete_service(service="hog", force=True)

    # With b draining, a has 440 MiB left: a 600 MiB task does not fit, and says so.
    ecs.register_task_definition(family="big", networkMode="bridge", containerDefinitions=[{
        "name": "big", "image": BUSYBOX, "essential": True, "memory": 600,
        "entryPoint": ["sleep"], "command": ["3600"]}])
    ecs.create_service(serviceName="big", taskDefinition="big", desiredCount=1)
    events = wait_for(lambda: [e["message"] for e in ecs.describe_services(services=["big"])["services"][0]["events"]],
                      "big to say it cannot be placed",
                      lambda messages: any("unable to place a task" in m for m in messages), timeout=30)
    assert any("RESOURCE:MEMORY" in m for m in events), events
    # Six services go (384 MiB): big starts as soon as their tasks have stopped.
    for name in names[-6:]:
        ecs.update_service(service=name, desiredCount=0)
    wait_for(lambda: running_tasks(ecs, "big"), "big to start once memory freed", lambda ts: len(ts) == 1,
             timeout=120, interval=1)
    with contextlib.suppress(Exception):
        ecs.delete_service(service="big", force=True)
