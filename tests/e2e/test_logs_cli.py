"""`berth logs` against a real server and agent, on both runtimes: a service's task writes
lines through `awslogs`; `berth logs` prints them by service, by task id and by the short id
it prints, as JSON lines too, narrowed by `--filter`, says which container logs elsewhere, and
`--follow` shows a line that arrives after it started, then stops cleanly on SIGINT."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time

from conftest import BerthServer, wait_for
from docker_cluster import Agent
from test_log_capture import awslogs, shell_container

GROUP = "/ecs/portal"


def berth_logs(server: BerthServer, *args: str) -> subprocess.CompletedProcess:
    """`berth logs ARGS` in the environment `berth server`'s export line gives."""
    result = subprocess.run([str(server.binary), "logs", *args], env=server.env, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, f"berth logs {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result


def start_service(server: BerthServer, agent: Agent) -> str:
    """A service of one task: `app` writes two lines through awslogs, `sidecar` logs nowhere.
    Returns the task's id."""
    ecs = server.ecs
    app = shell_container(agent.runtime, 'echo "GET /health 200"; echo "ERROR disk full on /data"; sleep 3600',
                          logConfiguration=awslogs(GROUP))
    sidecar = {**shell_container(agent.runtime, "sleep 3600"), "name": "sidecar", "essential": False}
    ecs.register_task_definition(family="portal", networkMode="bridge" if agent.runtime == "docker" else "host",
                                 containerDefinitions=[app, sidecar])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    ecs.create_service(serviceName="portal", taskDefinition="portal", desiredCount=1)
    arns = wait_for(lambda: ecs.list_tasks(serviceName="portal")["taskArns"], "the service's task")
    return arns[0].rsplit("/", 1)[1]


def test_berth_logs_prints_filters_and_follows(fleet):
    server, agent = fleet
    task_id = start_service(server, agent)
    prefix = f"{task_id[:8]}/app |"

    by_service = wait_for(lambda: berth_logs(server, "portal"), "the task's lines through berth logs",
                          lambda r: "ERROR disk full" in r.stdout, timeout=45, interval=0.5)
    assert by_service.stdout.splitlines() == [f"{prefix} GET /health 200", f"{prefix} ERROR disk full on /data"]
    assert "\x1b[" not in by_service.stdout, "no colors when stdout is not a terminal"
    assert f"container sidecar of task {task_id} logs with no awslogs driver" in by_service.stderr

    assert berth_logs(server, task_id).stdout == by_service.stdout
    assert berth_logs(server, task_id[:8], "--container", "app").stdout == by_service.stdout

    lines = [json.loads(line) for line in berth_logs(server, task_id, "--output", "json").stdout.splitlines()]
    assert [line["message"] for line in lines] == ["GET /health 200", "ERROR disk full on /data"]
    assert {(line["task"], line["container"], line["group"], line["stream"]) for line in lines} == {
        (task_id, "app", GROUP, f"ecs/app/{task_id}")}
    assert all(isinstance(line["timestamp"], int) for line in lines)

    assert berth_logs(server, "portal", "--filter", '"disk full"').stdout == f"{prefix} ERROR disk full on /data\n"
    assert berth_logs(server, "portal", "--filter", "-ERROR", "--since", "10m").stdout == f"{prefix} GET /health 200\n"

    follow = subprocess.Popen([str(server.binary), "logs", "portal", "--follow"], env=server.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in follow.stdout], daemon=True).start()

    def next_line() -> str:
        return printed.get(timeout=15).rstrip("\n")

    try:
        assert [next_line(), next_line()] == [f"{prefix} GET /health 200", f"{prefix} ERROR disk full on /data"]
        # A line that reaches the stream after the follow began, as the agent would write it.
        logs = server.client(service="logs")
        logs.put_log_events(logGroupName=GROUP, logStreamName=f"ecs/app/{task_id}",
                            logEvents=[{"timestamp": int(time.time() * 1000), "message": "written later"}])
        assert next_line() == f"{prefix} written later"
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=10) == 0, follow.stderr.read()
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert printed.empty(), "each line once"
