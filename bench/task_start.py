"""The measuring half of bench/task-start.sh: task start latency and agent memory.

For each of `--tasks` rounds it starts, one at a time and each from a quiet machine,
a container with `docker run -d`, a task on the Berth server whose agent uses Docker, and a
task on the Berth server whose agent runs host processes, all with the same image and command,
and keeps them running; then the same task again on both agents with ten secrets to resolve
(five from Secrets Manager, two of them JSON keys, and five SecureString parameters). It
samples both agents' resident memory before the first round and after the last, then prints
the tables of bench/README.md and whether the goals are met.

Run by bench/task-start.sh, which starts the servers and agents and cleans up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from berth_bench import client, nearest_rank, verdict, wait_for_agent

IMAGE = "berth-busybox:latest"
# The image holds the host's /bin/busybox (scripts/test-images.sh copies it), so the process
# runtime, which ignores the image, runs the very same binary on the host.
ENTRY_POINT = ["/bin/busybox"]
COMMAND = ["sleep", "3600"]
MEMORY_MIB = 32
FAMILY = "task-start"
FAMILY_WITH_SECRETS = "task-start-secrets"
# The ways of starting the same container, as the tables name them.
DOCKER_RUN = "docker run -d"
DOCKER = "Berth, Docker runtime"
PROCESS = "Berth, process runtime"
WITH_SECRETS = ", ten secrets"

# Between starts: what a start sets off after RUNNING shows (the server writing the rest of
# the agent's report, a controller round) is over well within it, so each start is measured
# on a quiet machine.
SETTLE_SECONDS = 0.25
# After registration or the last start: more than one 2 s long-poll cycle of the agent.
STEADY_SECONDS = 3.0
START_TIMEOUT_SECONDS = 30.0

GOAL_DOCKER_OVERHEAD_MS = 50
GOAL_PROCESS_P50_MS = 20
GOAL_IDLE_RSS_MIB = 20
GOAL_BUSY_RSS_MIB = 40
GOAL_SECRETS_ADDED_MS = 5


@dataclass
class Sample:
    """One start. Times are epoch seconds on the one clock client, server and agent share."""

    sent: float
    seen: float
    # Berth's own timestamps from DescribeTasks: RunTask handled, the agent decided to start
    # the container, the runtime started it.
    created: float | None = None
    pull_started: float | None = None
    started: float | None = None

    @property
    def ms(self) -> float:
        return (self.seen - self.sent) * 1000


def epoch(value) -> float | None:
    return value.timestamp() if value is not None else None


def ten_secrets(endpoint: str, credentials: Path) -> list[dict]:
    """Makes five secrets and five SecureString parameters; the `secrets` that read them."""
    secretsmanager = client("secretsmanager", endpoint, credentials)
    ssm = client("ssm", endpoint, credentials)
    named = []
    for n in range(5):
        value = json.dumps({"username": f"app{n}", "password": f"pw-{n}", "port": 5432})
        arn = secretsmanager.create_secret(Name=f"bench/db-{n}", SecretString=value)["ARN"]
        # Whole secrets, and JSON keys as most task definitions pick them.
        named.append({"name": f"DB_{n}", "valueFrom": arn if n < 3 else f"{arn}:password::"})
        ssm.put_parameter(Name=f"/bench/key-{n}", Value=f"key-{n}", Type="SecureString")
        named.append({"name": f"KEY_{n}", "valueFrom": f"/bench/key-{n}"})
    return named


def start_task(ecs, poll_seconds: float, family: str) -> Sample:
    """RunTask, then DescribeTasks until the task is RUNNING."""
    sent = time.time()
    answer = ecs.run_task(taskDefinition=family)
    if answer["failures"] or not answer["tasks"]:
        sys.exit(f"RunTask placed nothing: {answer['failures']}")
    arn = answer["tasks"][0]["taskArn"]
    deadline = sent + START_TIMEOUT_SECONDS
    while True:
        task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        now = time.time()
        if task["lastStatus"] == "RUNNING":
            return Sample(sent, now, epoch(task.get("createdAt")), epoch(task.get("pullStartedAt")),
                          epoch(task.get("startedAt")))
        if task["lastStatus"] == "STOPPED":
            sys.exit(f"task {arn} stopped instead of running: {task.get('stoppedReason')}")
        if now > deadline:
            sys.exit(f"task {arn} not RUNNING after {START_TIMEOUT_SECONDS:.0f} s: {task['lastStatus']}")
        time.sleep(poll_seconds)


def docker_run(label: str, index: int) -> Sample:
    """`docker run -d` with what Berth's Docker runtime gives the task: name, label, memory limit."""
    argv = ["docker", "run", "-d", "--name", f"{label.replace('=', '-')}-{index}", "--label", label,
            "--memory", f"{MEMORY_MIB}m", "--entrypoint", ENTRY_POINT[0], IMAGE, *COMMAND]
    sent = time.time()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS)
    seen = time.time()
    if result.returncode != 0:
        sys.exit(f"docker run failed: {result.stderr.strip()}")
    return Sample(sent, seen)


def rss_mib(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM), in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


def growth_per_task(values: list[float]) -> float:
    """ms each task already running adds to a start: the Theil-Sen slope over the rounds,
    the median of all pairwise slopes, so a few slow outliers do not tilt it."""
    return statistics.median((values[j] - values[i]) / (j - i)
                             for i in range(len(values)) for j in range(i + 1, len(values)))


def stage_ms(samples: list[Sample], begin: str, end: str) -> str:
    spans = [(getattr(s, end) - getattr(s, begin)) * 1000 for s in samples
             if getattr(s, begin) is not None and getattr(s, end) is not None]
    return f"{statistics.median(spans):.1f}" if spans else "-"


@dataclass
class Agent:
    ecs: object
    pid: int
    # Resident memory (now, peak) in MiB after registration and with every task running.
    idle: tuple[float, float] = (0.0, 0.0)
    busy: tuple[float, float] = (0.0, 0.0)


def report(results: dict[str, list[Sample]], agents: dict[str, Agent], tasks: int,
           poll_seconds: float) -> None:
    print(f"{tasks} starts per runtime, one at a time, interleaved; DescribeTasks polled every "
          f"{poll_seconds * 1000:g} ms; percentiles are nearest-rank (below 100 starts, p99 is "
          f"the slowest)")
    print()
    # Every start leaves its task running, so the first and the last rounds show what the
    # number of tasks already running costs.
    k = max(1, tasks // 5)
    print(f"| runtime | p50 ms | p99 ms | mean ms | n | p50 ms, rounds 1-{k} | "
          f"p50 ms, rounds {tasks - k + 1}-{tasks} | ms per task running |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, samples in results.items():
        values = [s.ms for s in samples]
        growth = f"{growth_per_task(values):+.2f}" if len(values) > 1 else "-"
        print(f"| {name} | {nearest_rank(values, 50):.1f} | {nearest_rank(values, 99):.1f} | "
              f"{statistics.mean(values):.1f} | {len(values)} | "
              f"{nearest_rank(values[:k], 50):.1f} | {nearest_rank(values[-k:], 50):.1f} | {growth} |")
    print()

    print("Median ms per stage of a Berth start (the server's createdAt, the agent's "
          "pullStartedAt, the runtime's startedAt):")
    print()
    print("| runtime | RunTask to createdAt | to pullStartedAt (poll wakes, agent lists, decides) "
          "| to startedAt (runtime starts it) | to RUNNING seen (report reaches server, client polls) |")
    print("|---|---:|---:|---:|---:|")
    for name in agents:
        samples = results[name]
        stages = [stage_ms(samples, begin, end) for begin, end in
                  (("sent", "created"), ("created", "pull_started"), ("pull_started", "started"),
                   ("started", "seen"))]
        print(f"| {name} | {' | '.join(stages)} |")
    print()

    print("| agent | RSS idle MiB | RSS with tasks running MiB | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name, agent in agents.items():
        print(f"| {name} | {agent.idle[0]:.1f} | {agent.busy[0]:.1f} | {agent.busy[1]:.1f} |")
    print()

    def p50(name: str) -> float:
        return nearest_rank([s.ms for s in results[name]], 50)

    for name in agents:
        added = p50(name + WITH_SECRETS) - p50(name)
        print(f"- {name}, ten secrets minus none at p50: {added:+.1f} ms "
              f"(goal <= {GOAL_SECRETS_ADDED_MS} ms): {verdict(added <= GOAL_SECRETS_ADDED_MS)}")
    overhead = p50(DOCKER) - p50(DOCKER_RUN)
    print(f"- Berth's Docker runtime minus `docker run -d` at p50: {overhead:+.1f} ms "
          f"(goal <= {GOAL_DOCKER_OVERHEAD_MS} ms): {verdict(overhead <= GOAL_DOCKER_OVERHEAD_MS)}")
    print(f"- process runtime p50: {p50(PROCESS):.1f} ms (goal < {GOAL_PROCESS_P50_MS} ms): "
          f"{verdict(p50(PROCESS) < GOAL_PROCESS_P50_MS)}")
    for name, agent in agents.items():
        idle, busy = agent.idle[0], agent.busy[0]
        print(f"- {name} agent RSS: idle {idle:.1f} MiB (goal < {GOAL_IDLE_RSS_MIB}): "
              f"{verdict(idle < GOAL_IDLE_RSS_MIB)}; with {tasks} tasks {busy:.1f} MiB "
              f"(goal < {GOAL_BUSY_RSS_MIB}): {verdict(busy < GOAL_BUSY_RSS_MIB)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--label", required=True, help="key=value every container carries")
    parser.add_argument("--poll-ms", type=float, default=2.0)
    for runtime in ("docker", "process"):
        parser.add_argument(f"--{runtime}-endpoint", required=True)
        parser.add_argument(f"--{runtime}-credentials", type=Path, required=True)
        parser.add_argument(f"--{runtime}-agent-pid", type=int, required=True)
    args = parser.parse_args()
    poll_seconds = args.poll_ms / 1000

    servers = {DOCKER: (args.docker_endpoint, args.docker_credentials),
               PROCESS: (args.process_endpoint, args.process_credentials)}
    agents = {
        DOCKER: Agent(client("ecs", *servers[DOCKER]), args.docker_agent_pid),
        PROCESS: Agent(client("ecs", *servers[PROCESS]), args.process_agent_pid),
    }
    container = {"name": "app", "image": IMAGE, "essential": True, "memory": MEMORY_MIB,
                 "entryPoint": ENTRY_POINT, "command": COMMAND}
    for name, agent in agents.items():
        agent.ecs.register_task_definition(family=FAMILY, networkMode="bridge",
                                           containerDefinitions=[container])
        agent.ecs.register_task_definition(
            family=FAMILY_WITH_SECRETS, networkMode="bridge",
            containerDefinitions=[{**container, "secrets": ten_secrets(*servers[name])}])
        wait_for_agent(agent.ecs)
    time.sleep(STEADY_SECONDS)
    for agent in agents.values():
        agent.idle = rss_mib(agent.pid)

    # Interleaved, so that at every round each runtime starts with the same number of
    # containers already running and any drift of the machine hits all three alike.
    results: dict[str, list[Sample]] = {DOCKER_RUN: [], DOCKER: [], PROCESS: [],
                                        DOCKER + WITH_SECRETS: [], PROCESS + WITH_SECRETS: []}
    for index in range(args.tasks):
        results[DOCKER_RUN].append(docker_run(args.label, index))
        time.sleep(SETTLE_SECONDS)
        for name, agent in agents.items():
            for family, row in ((FAMILY, name), (FAMILY_WITH_SECRETS, name + WITH_SECRETS)):
                results[row].append(start_task(agent.ecs, poll_seconds, family))
                time.sleep(SETTLE_SECONDS)
        if (index + 1) % 10 == 0 or index + 1 == args.tasks:
            print(f"round {index + 1}/{args.tasks}", file=sys.stderr, flush=True)

    time.sleep(STEADY_SECONDS)
    for agent in agents.values():
        agent.busy = rss_mib(agent.pid)
    report(results, agents, args.tasks, poll_seconds)


if __name__ == "__main__":
    main()
