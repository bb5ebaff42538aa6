"""Secrets reach tasks for real, on both runtimes: a `berth agent` driving Docker and one
running host processes, each given a task whose container prints the variables it got. A
secret that cannot be resolved stops the task before any container starts, saying which and
why, and no value is left in the agent's state directory."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import BerthServer, REGION, wait_for
from docker_cluster import TESTAPP_V1, Agent, docker, process_stdout

DB = {"DATABASE_PASSWORD": "pw-Kd83-unique", "username": "portal", "port": 5432, "replicas": 1000000,
      "options": {"ssl": True}}


@pytest.fixture(autouse=True)
def log_everything(monkeypatch):
    """Servers and agents log at every level here, even the Docker client that would show a
    container's environment, so the greps for values cover them all."""
    monkeypatch.setenv("RUST_LOG", "trace,bollard=trace")


def container_for(runtime: str, berth_bin: Path, **fields) -> dict:
    """A container that prints the variables it names and keeps running."""
    if runtime == "docker":
        base = {"image": TESTAPP_V1, "portMappings": [{"containerPort": 8080, "hostPort": 0}]}
    else:
        port = 20000 + uuid.uuid4().int % 20000
        base = {"image": "host", "entryPoint": [str(berth_bin.parent / "berth-testapp")],
                "portMappings": [{"containerPort": port, "hostPort": port}],
                "environment": [{"name": "PORT", "value": str(port)}]}
    return {"name": "app", "essential": True, "memory": 64, **base, **fields}


def output_of(runtime: str, agent: Agent, runtime_id: str) -> str:
    if runtime == "docker":
        return subprocess.run(["docker", "logs", runtime_id], capture_output=True, text=True, timeout=30).stdout
    return process_stdout(agent.state_dir, runtime_id)


def run(server: BerthServer, family: str, container: dict, network_mode: str) -> str:
    ecs = server.ecs
    ecs.register_task_definition(family=family, networkMode=network_mode, containerDefinitions=[container])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    return ecs.run_task(taskDefinition=family)["tasks"][0]["taskArn"]


def describe(server: BerthServer, arn: str) -> dict:
    return server.ecs.describe_tasks(tasks=[arn])["tasks"][0]


def test_a_task_gets_every_kind_of_secret(fleet, berth_bin: Path, request):
    server, agent = fleet
    runtime = agent.runtime
    sm, ssm = server.client(service="secretsmanager"), server.client(service="ssm")
    db = sm.create_secret(Name="portal/db", SecretString=json.dumps(DB))["ARN"]
    sm.put_secret_value(SecretId=db, SecretString=json.dumps({**DB, "DATABASE_PASSWORD": "pw-rotated-unique"}))
    plain = sm.create_secret(Name="portal/plain", SecretString="plain-Mn42-unique")["ARN"]
    ssm.put_parameter(Name="/portal/api-key", Value="ssm-Vb61-unique", Type="SecureString")
    names = ["WHOLE", "PASSWORD", "PORT", "REPLICAS", "OPTIONS", "OLD_PASSWORD", "PLAIN", "BY_NAME", "BY_ARN"]
    container = container_for(runtime, berth_bin, secrets=[
        {"name": "WHOLE", "valueFrom": db},
        {"name": "PASSWORD", "valueFrom": f"{db}:DATABASE_PASSWORD::"},
        {"name": "PORT", "valueFrom": f"{db}:port::"},
        {"name": "REPLICAS", "valueFrom": f"{db}:replicas::"},
        {"name": "OPTIONS", "valueFrom": f"{db}:options::"},
        {"name": "OLD_PASSWORD", "valueFrom": f"{db}:DATABASE_PASSWORD:AWSPREVIOUS:"},
        {"name": "PLAIN", "valueFrom": plain.rsplit("-", 1)[0]},
        {"name": "BY_NAME", "valueFrom": "/portal/api-key"},
        {"name": "BY_ARN", "valueFrom": f"arn:aws:ssm:{REGION}:000000000000:parameter/portal/api-key"},
    ])
    container.setdefault("environment", []).append({"name": "PRINT_ENV", "value": ",".join(names)})
    arn = run(server, "printenv", container, "bridge" if runtime == "docker" else "host")
    task = wait_for(lambda: describe(server, arn), "the task to run", lambda t: t["lastStatus"] == "RUNNING",
                    timeout=60)
    runtime_id = task["containers"][0]["runtimeId"]
    printed = wait_for(lambda: output_of(runtime, agent, runtime_id), "the container's output",
                       lambda out: "BY_ARN=" in out)
    got = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    assert json.loads(got["WHOLE"])["DATABASE_PASSWORD"] == "pw-rotated-unique"
    assert got["PASSWORD"] == "pw-rotated-unique"
    assert got["PORT"] == "5432"
    assert got["REPLICAS"] == "1e+06"
    assert got["OPTIONS"] == "map[ssl:true]"
    assert got["OLD_PASSWORD"] == "pw-Kd83-unique"
    assert got["PLAIN"] == "plain-Mn42-unique"
    assert got["BY_NAME"] == got["BY_ARN"] == "ssm-Vb61-unique"
    # Nothing the server or the agent keeps holds a value (the process runtime's own
    # output files are the container's output, which printed them on purpose).
    values = ["pw-rotated-unique", "pw-Kd83-unique", "plain-Mn42-unique", "ssm-Vb61-unique"]
    for path in [*server.data_dir.rglob("*"), *agent.state_dir.rglob("*"), agent.log_path]:
        if path.is_file() and not path.name.startswith("output."):
            data = path.read_bytes()
            assert not [v for v in values if v.encode() in data], path
    assert not [v for v in values if v in server.output()]
    server.ecs.stop_task(task=arn)
    wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED", timeout=60)


def test_a_secret_that_cannot_be_had_stops_the_task_before_it_starts(fleet, berth_bin: Path):
    server, agent = fleet
    runtime = agent.runtime
    sm = server.client(service="secretsmanager")
    db = sm.create_secret(Name="portal/db", SecretString=json.dumps(DB))["ARN"]
    container = container_for(runtime, berth_bin, secrets=[
        {"name": "PASSWORD", "valueFrom": f"{db}:DB_PASSWORD::"},
        {"name": "API_KEY", "valueFrom": "/portal/missing"},
    ])
    arn = run(server, "missing", container, "bridge" if runtime == "docker" else "host")
    task = wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED",
                    timeout=60)
    assert task["stopCode"] == "TaskFailedToStart", task
    reason = task["stoppedReason"]
    assert reason.startswith("ResourceInitializationError: unable to pull secrets or registry auth: "), reason
    assert "did not contain json key DB_PASSWORD (it has: DATABASE_PASSWORD, options, port, replicas, username)" in reason
    assert "invalid parameters: /portal/missing" in reason
    assert "pw-Kd83-unique" not in reason
    assert not task["containers"][0].get("runtimeId"), "no container may start"
    if runtime == "docker":
        assert docker("ps", "-aq", "--filter", f"label=berth.test-run={agent.label}").split() == []


def test_environment_files_are_read_on_the_agents_host_and_s3_ones_are_refused(fleet, berth_bin: Path,
                                                                               tmp_path: Path):
    server, agent = fleet
    runtime = agent.runtime
    env_file = tmp_path / "portal.env"
    env_file.write_text("# portal settings\nFROM_FILE=file-Tx09-unique\nSHADOWED=from-the-file\n")
    container = container_for(runtime, berth_bin, environmentFiles=[
        {"value": f"file://{env_file}", "type": "s3"},
    ])
    container.setdefault("environment", []).extend([
        {"name": "SHADOWED", "value": "from-the-environment"},
        {"name": "PRINT_ENV", "value": "FROM_FILE,SHADOWED"},
    ])
    arn = run(server, "envfile", container, "bridge" if runtime == "docker" else "host")
    task = wait_for(lambda: describe(server, arn), "the task to run", lambda t: t["lastStatus"] == "RUNNING",
                    timeout=60)
    printed = wait_for(lambda: output_of(runtime, agent, task["containers"][0]["runtimeId"]),
                       "the container's output", lambda out: "SHADOWED=" in out)
    assert "FROM_FILE=file-Tx09-unique" in printed
    assert "SHADOWED=from-the-environment" in printed, "the environment wins over a file"
    server.ecs.stop_task(task=arn)

    s3 = "arn:aws:s3:::portal-config/prod.env"
    container = container_for(runtime, berth_bin, environmentFiles=[{"value": s3, "type": "s3"}])
    arn = run(server, "envfile-s3", container, "bridge" if runtime == "docker" else "host")
    task = wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED",
                    timeout=60)
    assert task["stopCode"] == "TaskFailedToStart", task
    assert task["stoppedReason"].startswith(
        f"ResourceInitializationError: failed to download env files: {s3}: Berth does not fetch S3 objects"), task
    assert not task["containers"][0].get("runtimeId"), "no container may start"
