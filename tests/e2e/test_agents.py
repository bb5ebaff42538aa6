"""Tasks run for real: a `berth server` and a `berth agent` process driving Docker, checked
with the aws CLI and boto3 the way a user would. Every container a test starts carries the
test's own label and is removed at teardown, whatever the outcome.

These need Docker and the images from scripts/test-images.sh (scripts/test.sh builds them).
"""

from __future__ import annotations

import json
import subprocess

from conftest import wait_for
from docker_cluster import (BUSYBOX, TASK_NETWORK, TESTAPP_V1, TESTAPP_V2, Agent, docker, service, tasks, wait_stable,
                            web_definition)


def test_a_service_runs_heals_and_rolls_without_dropping_below_minimum(cluster):
    server, agent = cluster
    ecs = server.ecs
    ecs.register_task_definition(**web_definition(TESTAPP_V1))
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=3,
                       deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100})
    wait_stable(ecs)
    # The real waiter agrees, as a user's deploy script would see it.
    server.run_aws("wait", "services-stable", "--services", "web").check_returncode()
    running = tasks(ecs, serviceName="web")
    assert len(running) == 3 and all(t["healthStatus"] == "HEALTHY" for t in running)
    assert all(t["containers"][0]["networkBindings"][0]["hostPort"] > 0 for t in running), "dynamic host ports"
    assert len(agent.containers()) == 3

    # A container killed behind Berth's back is noticed and its task replaced.
    victim = running[0]
    docker("kill", victim["containers"][0]["runtimeId"])
    stopped = wait_for(lambda: ecs.describe_tasks(tasks=[victim["taskArn"]])["tasks"][0],
                       "the killed task to stop", lambda t: t["lastStatus"] == "STOPPED")
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["containers"][0]["exitCode"] == 137
    wait_stable(ecs)
    assert victim["taskArn"] not in ecs.list_tasks(serviceName="web")["taskArns"]
    # The replacement counts as running before its health check passes; wait for it to pass.
    wait_for(lambda: tasks(ecs, serviceName="web"), "every task to be healthy",
             lambda ts: len(ts) == 3 and all(t["healthStatus"] == "HEALTHY" for t in ts), timeout=60)

    # One removed behind Berth's back ends its task too, rather than coming back under its id.
    victim = tasks(ecs, serviceName="web")[0]
    victim_id = victim["taskArn"].rsplit("/", 1)[1]
    docker("rm", "-f", victim["containers"][0]["runtimeId"])
    stopped = wait_for(lambda: ecs.describe_tasks(tasks=[victim["taskArn"]])["tasks"][0],
                       "the task whose container was removed to stop", lambda t: t["lastStatus"] == "STOPPED")
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited: web was removed outside Berth"
    assert stopped["containers"][0]["reason"] == "removed outside Berth"
    wait_stable(ecs)
    assert victim["taskArn"] not in ecs.list_tasks(serviceName="web")["taskArns"]
    assert all(victim_id not in c["Labels"] for c in agent.containers(all_states=True)), "never recreated"
    wait_for(lambda: tasks(ecs, serviceName="web"), "every task to be healthy",
             lambda ts: len(ts) == 3 and all(t["healthStatus"] == "HEALTHY" for t in ts), timeout=60)

    # Roll to v2, sampling that healthy tasks never drop below the minimum (100 % of 3).
    ecs.register_task_definition(**web_definition(TESTAPP_V2))
    ecs.update_service(service="web", taskDefinition="web:2")
    lowest = 3
    def rolled() -> bool:
        nonlocal lowest
        current = tasks(ecs, serviceName="web")
        healthy = [t for t in current if t["lastStatus"] == "RUNNING" and t["healthStatus"] == "HEALTHY"]
        lowest = min(lowest, len(healthy))
        s = service(ecs)
        return (len(s["deployments"]) == 1 and s["deployments"][0].get("rolloutState") == "COMPLETED"
                and s["runningCount"] == 3)
    wait_for(rolled, "the roll to web:2", timeout=120, interval=0.3)
    assert lowest >= 3, f"healthy tasks dropped to {lowest} during the roll"
    final = tasks(ecs, serviceName="web")
    assert {t["taskDefinitionArn"].rsplit(":", 1)[1] for t in final} == {"2"}
    events = [e["message"] for e in service(ecs)["events"]]
    assert any("has reached a steady state." in e for e in events)
    assert len(agent.containers()) == 3, "old containers are gone"


def test_agents_sharing_a_docker_engine_never_touch_each_others_containers(cluster, berth_bin, tmp_path):
    server, first = cluster
    ecs = server.ecs
    # The same labels, as two agents started without any have (`berth up` beside another).
    second = Agent(berth_bin, server, tmp_path / "agent2", tmp_path / "agent2.log", first.label)
    second.start()
    try:
        wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "both agents to join",
                 lambda arns: len(arns) == 2)
        ecs.register_task_definition(**web_definition(TESTAPP_V1))
        ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2,
                           placementConstraints=[{"type": "distinctInstance"}])
        wait_stable(ecs)
        running = wait_for(lambda: tasks(ecs, serviceName="web"), "both tasks to be healthy",
                           lambda ts: len(ts) == 2 and all(t["healthStatus"] == "HEALTHY" for t in ts), timeout=60)
        instances = ecs.describe_container_instances(
            containerInstances=[t["containerInstanceArn"] for t in running])["containerInstances"]
        instance_of = {i["containerInstanceArn"]: i["ec2InstanceId"] for i in instances}
        placed = {instance_of[t["containerInstanceArn"]]: t["containers"][0]["runtimeId"] for t in running}
        assert set(placed) == {first.instance_id, second.instance_id}, placed

        def own(agent: Agent) -> set[str]:
            return set(docker("ps", "-aq", "--no-trunc", "--filter", f"label=berth.instance-id={agent.instance_id}")
                       .split())

        # Each agent acts once more (one exiting task each), which is when it would have
        # stopped or removed the other's container.
        ecs.register_task_definition(family="job", containerDefinitions=[
            {"name": "job", "image": BUSYBOX, "essential": True, "memory": 16, "entryPoint": ["/bin/true"]}])
        jobs = [t["taskArn"] for t in ecs.run_task(taskDefinition="job", count=2,
                                                   placementConstraints=[{"type": "distinctInstance"}])["tasks"]]
        wait_for(lambda: ecs.describe_tasks(tasks=jobs)["tasks"], "both jobs to finish",
                 lambda ts: len(ts) == 2 and all(t["lastStatus"] == "STOPPED" for t in ts), timeout=60)
        for agent in (first, second):
            assert placed[agent.instance_id] in own(agent)
        assert {t["taskArn"] for t in tasks(ecs, serviceName="web")} == {t["taskArn"] for t in running}
        assert tasks(ecs, serviceName="web", desiredStatus="STOPPED") == [], "no service task was disturbed"
        assert all(docker("inspect", "--format", "{{.State.Running}}", c).strip() == "true" for c in placed.values())
    finally:
        second.stop()


def test_a_failing_health_check_gets_the_task_replaced(cluster):
    server, _ = cluster
    ecs = server.ecs
    ecs.register_task_definition(family="sick", containerDefinitions=[{
        "name": "app", "image": BUSYBOX, "essential": True, "memory": 32,
        "entryPoint": ["/bin/sh", "-c"], "command": ["while true; do sleep 1; done"],
        "healthCheck": {"command": ["CMD-SHELL", "test ! -f /tmp/sick"], "interval": 5, "timeout": 2, "retries": 1},
        "stopTimeout": 1,
    }])
    ecs.create_service(serviceName="sick", taskDefinition="sick", desiredCount=1)
    wait_stable(ecs, "sick")
    first = tasks(ecs, serviceName="sick")[0]
    docker("exec", first["containers"][0]["runtimeId"], "touch", "/tmp/sick")
    stopped = wait_for(lambda: ecs.describe_tasks(tasks=[first["taskArn"]])["tasks"][0],
                       "the unhealthy task to be stopped", lambda t: t["desiredStatus"] == "STOPPED", timeout=60)
    assert stopped["stopCode"] == "ServiceSchedulerInitiated"
    assert "health" in stopped["stoppedReason"]
    wait_stable(ecs, "sick")
    assert tasks(ecs, serviceName="sick")[0]["taskArn"] != first["taskArn"]


def test_a_health_check_without_cmd_runs_nothing_and_stays_unknown(cluster):
    server, _ = cluster
    ecs = server.ecs
    check = ["/berth-testapp", "check", "http://127.0.0.1:8080/health"]
    registered = ecs.register_task_definition(family="otel", containerDefinitions=[
        # The form AWS documents for its OpenTelemetry collector: no CMD, so Docker runs nothing.
        {"name": "collector", "image": TESTAPP_V1, "essential": True, "memory": 32, "stopTimeout": 2,
         "healthCheck": {"command": check, "interval": 5, "timeout": 2, "retries": 1}},
        # The same check with CMD, which passes: it shows when the other's would have run.
        {"name": "witness", "image": TESTAPP_V1, "essential": False, "memory": 32, "stopTimeout": 2,
         "healthCheck": {"command": ["CMD", *check], "interval": 5, "timeout": 2, "retries": 1}},
    ])["taskDefinition"]
    assert registered["containerDefinitions"][0]["healthCheck"]["command"] == check
    task_arn = ecs.run_task(taskDefinition="otel")["tasks"][0]["taskArn"]
    containers = lambda task: {c["name"]: c for c in task["containers"]}  # noqa: E731
    task = wait_for(lambda: ecs.describe_tasks(tasks=[task_arn])["tasks"][0], "the witness to be healthy",
                    lambda t: containers(t)["witness"].get("healthStatus") == "HEALTHY", timeout=60)
    collector = containers(task)["collector"]
    assert collector["healthStatus"] == "UNKNOWN", task
    assert task["healthStatus"] == "UNKNOWN", task
    inspected = json.loads(docker("inspect", collector["runtimeId"]))[0]
    assert inspected["Config"]["Healthcheck"]["Test"] == check, "handed to Docker unchanged"
    assert inspected["State"].get("Health") is None, "Docker runs no check for it"
    ecs.stop_task(task=task_arn)


def test_restarts_of_agent_and_server_lose_and_duplicate_nothing(cluster):
    server, agent = cluster
    ecs = server.ecs
    ecs.register_task_definition(**web_definition(TESTAPP_V1))
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
    wait_stable(ecs)
    before = sorted(t["taskArn"] for t in tasks(ecs, serviceName="web"))
    containers = sorted(c["ID"] for c in agent.containers())

    agent.kill()
    agent.start()
    server.restart_after_crash()
    ecs = server.ecs
    # The restarted agent adopts what runs: same tasks, same containers, nothing new.
    wait_for(lambda: ecs.describe_container_instances(
        containerInstances=ecs.list_container_instances()["containerInstanceArns"])["containerInstances"][0],
        "the agent to reconnect", lambda i: i["agentConnected"])
    wait_stable(ecs)
    assert sorted(t["taskArn"] for t in tasks(ecs, serviceName="web")) == before
    assert sorted(c["ID"] for c in agent.containers()) == containers


def test_an_agent_cut_off_from_its_server_keeps_its_tasks_and_reports_on_reconnect(cluster):
    server, agent = cluster
    ecs = server.ecs
    ecs.register_task_definition(**web_definition(TESTAPP_V1))
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2)
    wait_stable(ecs)
    before = {c["ID"] for c in agent.containers()}
    victim = sorted(before)[0]

    server.kill()
    # While the server is away a container dies; the agent keeps the rest running.
    docker("kill", victim)
    running = wait_for(lambda: {c["ID"] for c in agent.containers()}, "the killed container to go",
                       lambda ids: victim not in ids)
    assert running == before - {victim}, "nothing else stopped or started without the server"

    server.start()
    ecs = server.ecs
    # On reconnecting the agent reports what happened meanwhile, and the service heals.
    stopped = wait_for(lambda: tasks(ecs, serviceName="web", desiredStatus="STOPPED"), "the exit to be reported",
                       lambda ts: len(ts) == 1, timeout=60)[0]
    assert stopped["stopCode"] == "EssentialContainerExited", stopped
    assert stopped["containers"][0]["exitCode"] == 137, stopped
    wait_stable(ecs)
    assert before - {victim} <= {c["ID"] for c in agent.containers()}, "the survivor is the same container"


def test_failures_are_reported_in_ecs_terms(cluster):
    server, _ = cluster
    ecs = server.ecs
    # Placement that cannot work.
    ecs.register_task_definition(family="huge", containerDefinitions=[
        {"name": "app", "image": BUSYBOX, "memory": 10_000_000}])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    out = ecs.run_task(taskDefinition="huge")
    assert out["tasks"] == [] and out["failures"][0]["reason"] == "RESOURCE:MEMORY"

    cases = {
        "pull": ({"image": "berth-does-not-exist:1"}, "TaskFailedToStart", "CannotPullContainerError"),
        "exec": ({"image": BUSYBOX, "entryPoint": ["/no/such/program"]}, "TaskFailedToStart", "CannotStartContainerError"),
        "oom": ({"image": TESTAPP_V1, "memory": 16, "environment": [{"name": "ALLOCATE_MB_PER_SEC", "value": "64"}]},
                "EssentialContainerExited", "OutOfMemoryError: Container killed due to memory usage"),
        "exit": ({"image": TESTAPP_V1, "environment": [{"name": "EXIT_CODE", "value": "3"},
                                                     {"name": "EXIT_AFTER_SECS", "value": "1"}]},
                 "EssentialContainerExited", None),
    }
    started = {}
    for name, (container, _, _) in cases.items():
        definition = {"name": "app", "essential": True, "memory": 32, **container}
        ecs.register_task_definition(family=f"fail-{name}", containerDefinitions=[definition])
        started[name] = ecs.run_task(taskDefinition=f"fail-{name}")["tasks"][0]["taskArn"]
    for name, (_, stop_code, reason) in cases.items():
        task = wait_for(lambda: ecs.describe_tasks(tasks=[started[name]])["tasks"][0],
                        f"task {name} to stop", lambda t: t["lastStatus"] == "STOPPED", timeout=60)
        assert task["stopCode"] == stop_code, (name, task)
        container = task["containers"][0]
        if reason:
            assert reason in (container.get("reason") or "") + (task.get("stoppedReason") or ""), (name, task)
        if name == "exit":
            assert container["exitCode"] == 3


def test_an_awsvpc_task_deprovisions_its_address_before_it_is_stopped(cluster):
    server, agent = cluster
    ecs = server.ecs
    ecs.register_task_definition(family="vpc", networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": TESTAPP_V1, "essential": True, "memory": 32, "stopTimeout": 2}])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    try:
        task_arn = ecs.run_task(taskDefinition="vpc", networkConfiguration={
            "awsvpcConfiguration": {"subnets": ["berth-local"]}})["tasks"][0]["taskArn"]
        describe = lambda: ecs.describe_tasks(tasks=[task_arn])["tasks"][0]  # noqa: E731
        running = wait_for(describe, "the awsvpc task to run", lambda t: t["lastStatus"] == "RUNNING", timeout=60)
        assert running["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]

        ecs.stop_task(task=task_arn)
        statuses: list[str] = []
        def sampled() -> dict:
            task = describe()
            if not statuses or statuses[-1] != task["lastStatus"]:
                statuses.append(task["lastStatus"])
            return task
        stopped = wait_for(sampled, "the task to stop", lambda t: t["lastStatus"] == "STOPPED", timeout=60)
        assert statuses[-2:] == ["DEPROVISIONING", "STOPPED"] and "STOPPING" in statuses, statuses
        assert stopped["stopCode"] == "UserInitiated"
        assert isinstance(stopped["containers"][0].get("exitCode"), int), stopped
        # Deprovisioning removed the container, and with it the task's address.
        assert agent.containers(all_states=True) == []
    finally:
        # The agent's shared awsvpc network; Docker keeps it while any container uses it.
        subprocess.run(["docker", "network", "rm", TASK_NETWORK], capture_output=True, timeout=60)
