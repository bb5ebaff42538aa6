"""What containers write reaches CloudWatch Logs through the agents, on both runtimes: a
container's 5,000 lines and its stderr in order in the stream ECS names, found by a quoted
search with the aws CLI; a task whose log group is missing stops before it starts, naming the
group; a container writing a counter keeps every line exactly once while the server and the
agent are each killed with `kill -9` and restarted; and a container in `awslogs`' blocking
mode waits while the server is away rather than lose its oldest lines (a host process's
writes block, a Docker container is paused)."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

from conftest import BerthServer, wait_for
from docker_cluster import BUSYBOX, TESTAPP_V1, Agent, running_agent


def awslogs(group: str, create_group: bool = True, **options: str) -> dict:
    settings = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs",
                **options}
    if create_group:
        settings["awslogs-create-group"] = "true"
    return {"logDriver": "awslogs", "options": settings}


def shell_container(runtime: str, script: str, **fields) -> dict:
    image = BUSYBOX if runtime == "docker" else "host"
    return {"name": "app", "image": image, "essential": True, "memory": 64,
            "entryPoint": ["/bin/sh", "-c"], "command": [script], **fields}


def app_container(runtime: str, berth_bin: Path, **fields) -> dict:
    if runtime == "docker":
        base = {"image": TESTAPP_V1}
    else:
        base = {"image": "host", "entryPoint": [str(berth_bin.parent / "berth-testapp")]}
    port = 20000 + uuid.uuid4().int % 20000
    environment = [{"name": "PORT", "value": str(port)}, *fields.pop("environment", [])]
    return {"name": "app", "essential": True, "memory": 64, **base, "environment": environment, **fields}


def run(server: BerthServer, agent: Agent, family: str, container: dict) -> str:
    ecs = server.ecs
    mode = "bridge" if agent.runtime == "docker" else "host"
    ecs.register_task_definition(family=family, networkMode=mode, containerDefinitions=[container])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    return ecs.run_task(taskDefinition=family)["tasks"][0]["taskArn"]


def describe(server: BerthServer, arn: str) -> dict:
    return server.ecs.describe_tasks(tasks=[arn])["tasks"][0]


def read_stream(logs, group: str, stream: str) -> list[str]:
    """Forward from the head until the same token comes back; nothing while the stream is
    not there yet."""
    messages, token = [], None
    try:
        while True:
            kwargs = {"nextToken": token} if token else {"startFromHead": True}
            page = logs.get_log_events(logGroupName=group, logStreamName=stream, **kwargs)
            messages += [e["message"] for e in page["events"]]
            if page["nextForwardToken"] == token:
                return messages
            token = page["nextForwardToken"]
    except logs.exceptions.ResourceNotFoundException:
        return []


def test_lines_and_stderr_arrive_in_order_in_the_stream_ecs_names(fleet):
    server, agent = fleet
    logs = server.client(service="logs")
    script = ('i=1; while [ $i -le 5000 ]; do echo "line $i of the indexer"; i=$((i+1)); done; '
              'echo "ERROR queue depth 930" >&2; echo done; sleep 3600')
    arn = run(server, agent, "indexer", shell_container(agent.runtime, script,
                                                        logConfiguration=awslogs("/ecs/indexer")))
    task_id = arn.rsplit("/", 1)[1]
    stream = f"ecs/app/{task_id}"
    messages = wait_for(lambda: read_stream(logs, "/ecs/indexer", stream), "every line to arrive",
                        lambda m: "done" in m, timeout=90)
    # Each stream in the order written; a pipe's buffer may let stderr overtake stdout, as
    # it does with Docker's own json-file.
    stdout = [m for m in messages if m != "ERROR queue depth 930"]
    assert stdout == [f"line {i} of the indexer" for i in range(1, 5001)] + ["done"]
    assert messages.count("ERROR queue depth 930") == 1
    streams = server.aws("logs", "describe-log-streams", "--log-group-name", "/ecs/indexer")["logStreams"]
    assert [s["logStreamName"] for s in streams] == [stream]
    found = server.aws("logs", "filter-log-events", "--log-group-name", "/ecs/indexer",
                       "--filter-pattern", '"queue depth"')["events"]
    assert [e["message"] for e in found] == ["ERROR queue depth 930"]
    task = describe(server, arn)
    started = task["startedAt"].timestamp() * 1000
    first = logs.get_log_events(logGroupName="/ecs/indexer", logStreamName=stream, startFromHead=True,
                                limit=1)["events"][0]
    assert started - 5000 <= first["timestamp"] <= first["ingestionTime"], "stamped when written"
    server.ecs.stop_task(task=arn)
    wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED",
             timeout=60)


def test_a_missing_log_group_stops_the_task_before_it_starts_naming_it(fleet):
    server, agent = fleet
    container = shell_container(agent.runtime, "echo never; sleep 3600",
                                logConfiguration=awslogs("/ecs/not-created", create_group=False))
    arn = run(server, agent, "unlogged", container)
    task = wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED",
                    timeout=60)
    assert task["stopCode"] == "TaskFailedToStart"
    reason = task["stoppedReason"]
    assert reason.startswith("ResourceInitializationError: failed to validate logger args"), reason
    assert "The specified log group does not exist" in reason and "/ecs/not-created" in reason, reason
    assert "awslogs-create-group" in reason, reason
    assert all(c.get("lastStatus") == "STOPPED" and "exitCode" not in c for c in task["containers"])
    assert server.aws("logs", "describe-log-groups")["logGroups"] == []


def counter(messages: list[str]) -> list[int]:
    return [int(m.rsplit(" ", 1)[1]) for m in messages if re.fullmatch(r"stdout line \d+", m)]


def test_kill_9_of_server_and_agent_loses_and_repeats_no_line(fleet, berth_bin: Path):
    server, agent = fleet
    logs = server.client(service="logs")
    container = app_container(agent.runtime, berth_bin, logConfiguration=awslogs("/ecs/counter"),
                                  environment=[{"name": "LOG_EVERY_MS", "value": "100"}])
    arn = run(server, agent, "counter", container)
    stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"

    def shipped() -> list[int]:
        return counter(read_stream(logs, "/ecs/counter", stream))

    def ten_more() -> list[int]:
        """Waits until ten lines past what is shipped now have arrived."""
        count = len(shipped())
        return wait_for(shipped, f"the counter past {count + 10}", lambda c: len(c) > count + 10, timeout=60)

    ten_more()
    # Down for a while, so that lines are written while no server can take them.
    server.kill()
    time.sleep(1.5)
    server.start()
    ten_more()
    agent.kill()
    time.sleep(1.5)
    agent.start()
    ten_more()
    agent.kill()
    server.kill()
    time.sleep(1.5)
    server.start()
    agent.start()
    seen = ten_more()
    assert seen == list(range(len(seen))), "no gap and no repeat"
    stderr = [m for m in read_stream(logs, "/ecs/counter", stream) if m.startswith("stderr line")]
    assert [int(m.rsplit(" ", 1)[1]) for m in stderr] == list(range(len(stderr)))
    server.ecs.stop_task(task=arn)
    wait_for(lambda: describe(server, arn), "the task to stop", lambda t: t["lastStatus"] == "STOPPED",
             timeout=60)


def test_a_blocking_host_process_waits_for_an_absent_server_and_loses_no_line(berth_bin: Path, server: BerthServer,
                                                                            tmp_path: Path):
    """With 1 MiB of output kept per process and the server killed, a host process writing
    4.2 MB in blocking mode (the default) stalls instead of dropping its oldest lines; once
    the server is back it writes on, and every line arrives once, in order."""
    lines = 300_000
    go, done = tmp_path / "go", tmp_path / "done"
    script = (f"while [ ! -e {go} ]; do sleep 0.1; done; seq -f 'line %08.0f' 1 {lines}; "
              f"touch {done}; sleep 1")
    with running_agent(berth_bin, server, tmp_path, "process", ("--process-output-mib", "1")) as agent:
        arn = run(server, agent, "held", shell_container("process", script, logConfiguration=awslogs("/ecs/held")))
        wait_for(lambda: describe(server, arn), "the task to run", lambda t: t["lastStatus"] == "RUNNING",
                 timeout=60)
        server.kill()
        go.touch()
        time.sleep(3)
        assert not done.exists(), "the writer waits while its unshipped output fills what is kept"
        server.start()
        wait_for(done.exists, "the writer to finish once the server is back", timeout=120)
        logs = server.client(service="logs")
        stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"
        messages = wait_for(lambda: read_stream(logs, "/ecs/held", stream), "every line in the stream",
                            lambda m: len(m) >= lines, timeout=120, interval=2)
        assert messages == [f"line {i:08d}" for i in range(1, lines + 1)]


def paused(task_id: str) -> bool:
    ids = subprocess.run(["docker", "ps", "-q", "--filter", f"label=berth.task-id={task_id}"],
                         capture_output=True, text=True).stdout.split()
    return any(subprocess.run(["docker", "inspect", "-f", "{{.State.Paused}}", i],
                              capture_output=True, text=True).stdout.strip() == "true" for i in ids)


def test_a_blocking_docker_container_is_paused_while_the_server_is_away_and_loses_no_line(
        berth_bin: Path, server: BerthServer, tmp_path: Path):
    """With the server killed, a Docker container in blocking mode writing 45 MB of log entries,
    more than its json-file keeps (32 MiB), is paused before a rotation could delete a line
    the server does not have; once the server is back it goes on, and every line arrives once,
    in order."""
    lines, pad = 250_000, "x" * 100
    script = (f"sleep 10; i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo \"$i {pad}\"; done; "
              "sleep 1")
    with running_agent(berth_bin, server, tmp_path, "docker") as agent:
        arn = run(server, agent, "held-docker",
                  shell_container("docker", script, logConfiguration=awslogs("/ecs/held")))
        wait_for(lambda: describe(server, arn), "the task to run", lambda t: t["lastStatus"] == "RUNNING",
                 timeout=60)
        server.kill()
        task_id = arn.rsplit("/", 1)[1]
        wait_for(lambda: paused(task_id), "the writer to be paused while its output is unshipped", timeout=120,
                 interval=0.2)
        time.sleep(2)
        assert paused(task_id), "it stays paused while the server is away"
        server.start()
        logs = server.client(service="logs")
        stream = f"ecs/app/{task_id}"
        messages = wait_for(lambda: read_stream(logs, "/ecs/held", stream), "every line in the stream",
                            lambda m: len(m) >= lines, timeout=240, interval=3)
        assert messages == [f"{i} {pad}" for i in range(1, lines + 1)]
