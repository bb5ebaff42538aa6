"""`berth logs` against a real server and agent, on both runtimes: a service's task writes
lines through `awslogs`; `berth logs` prints them by service, by task id and by the short id
it prints, as JSON lines too, narrowed by `--filter`, and `--follow` shows a line that arrives
after it started, then stops cleanly on SIGINT. A container with no log configuration is read
from its machine through its agent, the same way: in order, by container, filtered, as JSON,
and followed line by line; with its agent gone, `berth logs` says where the output is."""

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
    # Padded to the sidecar's prefix, which is read from its machine (and has written nothing).
    prefix = f"{task_id[:8]}/app     |"

    by_service = wait_for(lambda: berth_logs(server, "portal"), "the task's lines through berth logs",
                          lambda r: "ERROR disk full" in r.stdout, timeout=45, interval=0.5)
    assert by_service.stdout.splitlines() == [f"{prefix} GET /health 200", f"{prefix} ERROR disk full on /data"]
    assert "\x1b[" not in by_service.stdout, "no colors when stdout is not a terminal"
    assert by_service.stderr == "", "the sidecar, read from its machine, has written nothing"

    assert berth_logs(server, task_id).stdout == by_service.stdout
    assert berth_logs(server, task_id[:8], "--container", "app").stdout == \
        by_service.stdout.replace(prefix, f"{task_id[:8]}/app |")

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


def start_unlogged_service(server: BerthServer, agent: Agent) -> str:
    """A service of one task whose containers have no log configuration: `app` writes two
    lines (one to stderr), then a counter, a line every 0.2 s; `worker` writes one line.
    Returns the task's id."""
    ecs = server.ecs
    script = ('echo "GET /health 200"; echo "ERROR disk full on /data" >&2; i=0; '
              'while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done')
    app = shell_container(agent.runtime, script)
    worker = {**shell_container(agent.runtime, 'echo "job 8812 done"; sleep 3600'), "name": "worker",
              "essential": False}
    ecs.register_task_definition(family="plain", networkMode="bridge" if agent.runtime == "docker" else "host",
                                 containerDefinitions=[app, worker])
    wait_for(lambda: ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    ecs.create_service(serviceName="plain", taskDefinition="plain", desiredCount=1)
    arns = wait_for(lambda: ecs.list_tasks(serviceName="plain")["taskArns"], "the service's task")
    return arns[0].rsplit("/", 1)[1]


def ticks_in_order(lines: list[str], prefix: str) -> list[int]:
    """The counter's values among `lines`, checked to have neither gap nor repeat."""
    ticks = [int(line.removeprefix(f"{prefix} tick ")) for line in lines if line.startswith(f"{prefix} tick ")]
    assert ticks, lines
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), ticks
    return ticks


def stdout_in_order(lines: list[str], prefix: str) -> None:
    """`app`'s lines: its stdout in the order written, each once, and its stderr line once (a
    pipe's buffer may let stderr overtake stdout, as with Docker's own json-file)."""
    error = f"{prefix} ERROR disk full on /data"
    assert lines.count(error) == 1, lines
    stdout = [line for line in lines if line != error]
    assert stdout[0] == f"{prefix} GET /health 200", lines
    ticks = ticks_in_order(stdout[1:], prefix)
    assert ticks[0] == 0 and len(stdout) == 1 + len(ticks), lines


def test_berth_logs_reads_containers_without_a_log_configuration_from_their_machine(fleet):
    server, agent = fleet
    task_id = start_unlogged_service(server, agent)
    app, worker = f"{task_id[:8]}/app    |", f"{task_id[:8]}/worker |"

    shown = wait_for(lambda: berth_logs(server, "plain"), "both containers' lines through berth logs",
                     lambda r: f"{app} tick 3" in r.stdout and "job 8812 done" in r.stdout,
                     timeout=60, interval=0.5)
    assert shown.stderr == ""
    lines = shown.stdout.splitlines()
    app_lines = [line for line in lines if line.startswith(app)]
    stdout_in_order(app_lines, app)
    assert [line for line in lines if line.startswith(worker)] == [f"{worker} job 8812 done"]

    only_worker = berth_logs(server, "plain", "--container", "worker").stdout
    assert only_worker == f"{task_id[:8]}/worker | job 8812 done\n"
    stdout_in_order(berth_logs(server, task_id[:8], "--container", "app").stdout.splitlines(),
                    f"{task_id[:8]}/app |")

    assert berth_logs(server, "plain", "--filter", '"disk full"').stdout == f"{app} ERROR disk full on /data\n"
    filtered = berth_logs(server, "plain", "--filter", "?GET ?job", "--since", "10m").stdout
    # Merged by when each was written, which of two containers is first is not fixed.
    assert sorted(filtered.splitlines()) == [f"{app} GET /health 200", f"{worker} job 8812 done"], filtered

    objects = [json.loads(line) for line in berth_logs(server, "plain", "--container", "worker",
                                                       "--output", "json").stdout.splitlines()]
    assert len(objects) == 1 and isinstance(objects[0].pop("timestamp"), int)
    assert objects == [{"task": task_id, "container": "worker", "group": None, "stream": None,
                        "message": "job 8812 done"}]

    follow = subprocess.Popen([str(server.binary), "logs", "plain", "--container", "app", "-f"], env=server.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in follow.stdout], daemon=True).start()
    prefix = f"{task_id[:8]}/app |"
    try:
        history_end = max(ticks_in_order(berth_logs(server, "plain", "--container", "app").stdout.splitlines(),
                                         prefix))
        followed = []
        # Past every tick written before a snapshot taken after the follow began: lines the
        # follow can only have read after it started.
        while not any(line == f"{prefix} tick {history_end + 5}" for line in followed):
            followed.append(printed.get(timeout=30).rstrip("\n"))
        stdout_in_order(followed, prefix)
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=10) == 0, follow.stderr.read()
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()

    agent.stop()
    # Not answering at first, then not connected once it has missed its polls.
    gone = wait_for(lambda: subprocess.run([str(server.binary), "logs", "plain", "--container", "worker"],
                                           env=server.env, capture_output=True, text=True, timeout=60),
                    "berth logs to say the agent is away", lambda r: "is not connected" in r.stderr,
                    timeout=90, interval=1)
    assert gone.returncode == 0 and gone.stdout == "", gone
    where = "`docker logs " if agent.runtime == "docker" else "processes/"
    assert where in gone.stderr, gone.stderr
