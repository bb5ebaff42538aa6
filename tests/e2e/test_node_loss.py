"""Machines that fail, on hosts of their own (network namespaces, see hosts.py) running host
processes: a frozen machine's tasks are lost and replaced, and stop when it thaws; a crashed
agent keeps its tasks, and one that comes back after its tasks were replaced stops them. No
task ever runs twice once the agents have had a round, and no process is left that no task
owns.
"""

from __future__ import annotations

import time

import pytest

from conftest import DEFAULT_CLUSTER, wait_for
from hosts import Host, hosts

pytestmark = pytest.mark.berth

SLEEPER = [{"name": "sleep", "image": "host", "essential": True, "memory": 8,
            "command": ["/bin/sleep", "3600"], "stopTimeout": 2}]
LOST_AFTER = 6


def sleepers(ecs, count: int) -> None:
    ecs.register_task_definition(family="sleeper", networkMode="host", containerDefinitions=SLEEPER)
    ecs.create_service(serviceName="sleepers", taskDefinition="sleeper", desiredCount=count,
                       placementStrategy=[{"type": "spread", "field": "attribute:zone"}],
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})


def four_sleepers(ecs, a: Host) -> None:
    """Four sleepers, spread over the zones: two on host a, two on host b."""
    sleepers(ecs, 4)
    wait_for(lambda: running_ids(ecs), "four sleepers", lambda ids: len(ids) == 4, timeout=60)
    wait_for(lambda: len(a.pids_by_task()), "two sleepers on host a", lambda n: n == 2)


def running_ids(ecs) -> set[str]:
    arns = ecs.list_tasks(serviceName="sleepers", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return set()
    return {t["taskArn"].rsplit("/", 1)[1] for t in ecs.describe_tasks(tasks=arns)["tasks"]
            if t["lastStatus"] == "RUNNING"}


def processes(*machines: Host) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for machine in machines:
        for task, pids in machine.pids_by_task().items():
            found.setdefault(task, []).extend(pids)
    return found


def instance(ecs, machine: Host) -> dict:
    arns = ecs.list_container_instances()["containerInstanceArns"]
    described = ecs.describe_container_instances(containerInstances=arns)["containerInstances"]
    return next(i for i in described if i["ec2InstanceId"] == machine.agent.instance_id)


def exactly_one_process_per_running_task(ecs, *machines: Host) -> None:
    running = running_ids(ecs)
    live = processes(*machines)
    assert set(live) == running, f"processes of {sorted(live)}, tasks RUNNING {sorted(running)}"
    assert all(len(pids) == 1 for pids in live.values()), live


@pytest.fixture
def lossy_cluster(start_server, berth_bin, tmp_path):
    """A server listening beyond loopback, whose cluster loses an agent after LOST_AFTER s,
    and two hosts in zones a and b."""
    server = start_server(listen_host="0.0.0.0")
    server.ecs.tag_resource(resourceArn=DEFAULT_CLUSTER,
                            tags=[{"key": "berth:lost-after-seconds", "value": str(LOST_AFTER)}])
    with hosts(berth_bin, server, tmp_path, ["a", "b"]) as machines:
        wait_for(lambda: server.ecs.list_container_instances()["containerInstanceArns"],
                 "both agents to register", lambda arns: len(arns) == 2)
        yield server, machines


def test_a_frozen_host_loses_its_tasks_to_the_other_and_stops_them_when_it_thaws(lossy_cluster):
    server, (a, b) = lossy_cluster
    ecs = server.ecs
    four_sleepers(ecs, a)
    on_a = a.pids_by_task()

    frozen_at = time.monotonic()
    a.freeze()
    replaced = wait_for(lambda: running_ids(ecs), "replacements of host a's tasks",
                        lambda ids: len(ids) == 4 and not ids & set(on_a), timeout=60)
    print(f"host a's tasks replaced and RUNNING {time.monotonic() - frozen_at:.1f} s after it froze "
          f"(lost_after {LOST_AFTER} s)")
    lost = ecs.describe_tasks(tasks=list(on_a))["tasks"]
    for task in lost:
        assert task["lastStatus"] == "STOPPED"
        assert task["stoppedReason"] == ("Task lost: the agent of its container instance was not heard "
                                         f"from for {LOST_AFTER} seconds")
    assert not instance(ecs, a)["agentConnected"]
    events = [e["message"] for e in ecs.describe_services(services=["sleepers"])["services"][0]["events"]]
    assert any("lost 2 tasks" in e for e in events), events
    # As on ECS, a machine that cannot reach the server keeps what it runs.
    assert a.pids_by_task() == on_a
    exactly_one_process_per_running_task(ecs, b)

    thawed_at = time.monotonic()
    a.thaw()
    wait_for(lambda: a.pids_by_task(), "the thawed host to stop its lost tasks", lambda live: not live,
             timeout=20)
    print(f"host a stopped its lost tasks {time.monotonic() - thawed_at:.1f} s after it thawed")
    wait_for(lambda: instance(ecs, a)["agentConnected"], "host a to be connected again")
    assert running_ids(ecs) == replaced
    exactly_one_process_per_running_task(ecs, a, b)


def test_a_crashed_agent_keeps_its_tasks_and_one_back_too_late_stops_them(lossy_cluster):
    server, (a, b) = lossy_cluster
    ecs = server.ecs
    four_sleepers(ecs, a)
    before = processes(a, b)

    # Killed and back within lost_after: the same tasks in the same processes, nothing twice.
    a.agent.kill()
    assert processes(a, b) == before, "tasks outlive their agent"
    a.agent.start()
    wait_for(lambda: instance(ecs, a)["agentConnected"], "host a's agent to poll again")
    time.sleep(LOST_AFTER + 2)
    assert processes(a, b) == before, "a restarted agent starts nothing twice and stops nothing"
    exactly_one_process_per_running_task(ecs, a, b)

    # Killed for longer than lost_after: its tasks are replaced; back, it stops them.
    on_a = a.pids_by_task()
    a.agent.kill()
    wait_for(lambda: running_ids(ecs), "host a's tasks replaced",
             lambda ids: len(ids) == 4 and not ids & set(on_a), timeout=60)
    assert a.pids_by_task() == on_a, "nothing stops them while no agent runs there"
    a.agent.start()
    wait_for(lambda: a.pids_by_task(), "the restarted agent to stop the tasks it lost",
             lambda live: not live, timeout=30)
    exactly_one_process_per_running_task(ecs, a, b)
