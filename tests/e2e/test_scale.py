"""Many tasks on one machine: 1,500 host-process tasks (300 services of 5, created with boto3)
on one agent, every one RUNNING in exactly one process, with every poll of the agent answered
(a poll carries only what changed, in bounded reports and pages of the desired set).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import wait_for
from docker_cluster import running_agent
from hosts import alive

pytestmark = pytest.mark.berth

SERVICES = 300
PER_SERVICE = 5
SLEEPER = [{"name": "sleep", "image": "host", "essential": True, "memory": 8,
            "command": ["/bin/sleep", "3600"], "stopTimeout": 2}]


def running_count(ecs) -> int:
    names = [f"s{i:03}" for i in range(SERVICES)]
    total = 0
    for start in range(0, SERVICES, 10):
        described = ecs.describe_services(services=names[start:start + 10])["services"]
        total += sum(s["runningCount"] for s in described)
    return total


def running_task_ids(ecs) -> set[str]:
    ids: set[str] = set()
    for page in ecs.get_paginator("list_tasks").paginate(desiredStatus="RUNNING", PaginationConfig={"PageSize": 100}):
        arns = page["taskArns"]
        if arns:
            ids |= {t["taskArn"].rsplit("/", 1)[1] for t in ecs.describe_tasks(tasks=arns)["tasks"]
                    if t["lastStatus"] == "RUNNING"}
    return ids


def live_processes(agent) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for record_path in agent.state_dir.rglob("record.json"):
        record = json.loads(record_path.read_text())
        if record.get("exit") is None and alive(record["pid"]):
            found.setdefault(record["task_id"], []).append(record["pid"])
    return found


def test_fifteen_hundred_tasks_on_one_agent_each_run_once(berth_bin, server, tmp_path):
    ecs = server.ecs
    with running_agent(berth_bin, server, tmp_path, "process") as agent:
        wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to register")
        ecs.register_task_definition(family="sleeper", networkMode="host", containerDefinitions=SLEEPER)
        began = time.monotonic()

        # boto3 clients are thread-safe; four calls at a time, as a deploy script might.
        def create(i: int) -> None:
            ecs.create_service(serviceName=f"s{i:03}", taskDefinition="sleeper",
                                                desiredCount=PER_SERVICE)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(create, range(SERVICES)))
        total = SERVICES * PER_SERVICE
        wait_for(lambda: running_count(ecs), f"{total} tasks RUNNING", lambda n: n == total,
                 timeout=300, interval=2)
        print(f"{total} tasks RUNNING {time.monotonic() - began:.1f} s after the first CreateService")
        with open(f"/proc/{agent.process.pid}/status") as status:
            print("agent", next(line for line in status if line.startswith("VmRSS")).strip())
        running = running_task_ids(ecs)
        assert len(running) == total
        live = live_processes(agent)
        assert set(live) == running, f"{len(set(live) - running)} processes of no task, " \
                                     f"{len(running - set(live))} tasks without a process"
        assert all(len(pids) == 1 for pids in live.values())
        log = agent.log_path.read_text()
        assert "poll failed" not in log, log[-4000:]
        assert running_count(ecs) == total, "nothing replaced or duplicated meanwhile"
