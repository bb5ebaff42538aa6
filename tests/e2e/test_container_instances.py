"""Container instances that come from the ECS API rather than from a `berth agent`, and an
agent that presents a join token the server never issued. Neither needs Docker."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import api_error, arn, isolated_environ


def resources(cpu: int, memory: int) -> list[dict]:
    return [{"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": memory}]


def test_register_container_instance_is_shown_but_gets_no_tasks_without_an_agent(server):
    ecs = server.ecs
    out = ecs.register_container_instance(
        instanceIdentityDocument=json.dumps({"instanceId": "i-0123456789abcdef0"}),
        totalResources=resources(2048, 3072),
        attributes=[{"name": "zone", "value": "b"}],
        versionInfo={"agentVersion": "1.80.0"},
        tags=[{"key": "rack", "value": "r7"}],
    )["containerInstance"]
    instance_arn = arn("container-instance/default/i-0123456789abcdef0")
    assert out["containerInstanceArn"] == instance_arn
    assert out["status"] == "ACTIVE" and out["agentConnected"] is False
    assert out["tags"] == [{"key": "rack", "value": "r7"}]

    described = ecs.describe_container_instances(containerInstances=[instance_arn])["containerInstances"][0]
    assert described["agentConnected"] is False
    assert {r["name"]: r["integerValue"] for r in described["remainingResources"]} == {"CPU": 2048, "MEMORY": 3072}
    assert ecs.list_container_instances(filter="attribute:zone == b")["containerInstanceArns"] == [instance_arn]

    # Nothing would run a task there: RunTask places nothing on it.
    ecs.register_task_definition(family="small", containerDefinitions=[
        {"name": "app", "image": "app:1", "memory": 64, "cpu": 64}])
    placed = ecs.run_task(taskDefinition="small")
    assert placed["tasks"] == [] and placed["failures"], placed

    # Re-registering by ARN (the aws CLI here) updates the same instance.
    again = server.aws_ecs("register-container-instance", "--container-instance-arn", instance_arn,
                           "--total-resources", json.dumps(resources(4096, 3072)))["containerInstance"]
    assert again["containerInstanceArn"] == instance_arn
    assert again["registeredResources"][0]["integerValue"] == 4096

    with api_error("InvalidParameterException", "totalResources[1].integerValue", "MEMORY", "positive"):
        ecs.register_container_instance(totalResources=resources(1024, -1))
    with api_error("InvalidParameterException", "attributes[0].name"):
        ecs.register_container_instance(totalResources=resources(1024, 512),
                                        attributes=[{"name": "no spaces allowed", "value": "x"}])
    with api_error("ClusterNotFoundException"):
        ecs.register_container_instance(cluster="nope", totalResources=resources(1024, 512))


def test_an_agent_with_a_wrong_join_token_exits_and_says_how_to_get_one(berth_bin: Path, server, tmp_path: Path):
    agent = subprocess.run(
        [str(berth_bin), "agent", "--server", server.endpoint, "--token", "bjt_wrong",
         "--runtime", "process", "--state-dir", str(tmp_path / "agent")],
        env=isolated_environ(), capture_output=True, text=True, timeout=60,
    )
    assert agent.returncode != 0, agent.stderr
    assert "join token is not valid" in agent.stderr, agent.stderr
    assert "berth tokens create" in agent.stderr, agent.stderr
    assert server.ecs.list_container_instances()["containerInstanceArns"] == []
