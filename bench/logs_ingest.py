"""The measuring half of bench/logs-ingest.sh: containers writing lines as fast as they can
(berth-testapp's LOG_FLOOD), first on Docker's json-file alone, then through Berth's real path
(json-file, the agent reading it through Docker's logs API, `POST /agent/v1/logs`, the
server's log store), and what that costs the API.

1. Floor: `--tasks` containers with `docker run --log-driver json-file` and the log options
   Berth's Docker runtime gives its containers, each writing `--lines` lines; lines/s from the
   containers' own first and last write, dockerd's and the containerd shims' CPU.
2. DescribeServices with berth-bench on the idle server.
3. Berth: the same containers as awslogs tasks. Lines/s from the first line Docker stamped
   until every line is readable through GetLogEvents; the agent's, the server's, dockerd's
   and the shims' CPU; and, while it runs, one stream followed forward through GetLogEvents
   every `--poll-ms`, each new event giving (when its answer arrived - its timestamp). Every
   stream is then read whole to check no line is lost or repeated.
4. Paced: tasks writing at a steady `--paced-rate` lines/s in total (berth-testapp's LOG_RATE)
   for about PACED_SECONDS, measured as in 3. Its line-to-readable latency is the pipeline's
   delay at a rate Berth sustains; the flood's is mostly the backlog of a workload that writes
   faster than Berth stores, and grows with the flood's length.
5. DescribeServices with berth-bench again while more tasks of the same flood keep Berth
   ingesting.

Before the floor, Berth's flood and the paced phase it samples how busy other work keeps the machine.

Run by bench/logs-ingest.sh, which starts the server and the agent and cleans up.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from berth_bench import (REGION, TICKS, client, cpu_seconds, nearest_rank, read_credentials, verdict,
                         wait_for_agent)

GROUP = "/bench/logs-ingest"
PREFIX = "flood"
CONTAINER = "app"
MEMORY_MIB = 64
# What Berth's Docker runtime gives every container (crates/berth-runtime/src/docker.rs), so
# the floor pays for the same json-file.
JSON_FILE_OPTIONS = ["--log-opt", "max-size=16384k", "--log-opt", "max-file=2"]
# berth-testapp's flood line: `flood <seq, 10 digits> <payload>`, 95 bytes; the last line
# says `flood done <lines> lines <first µs> <last µs>`. The app's `listening` line comes
# somewhere in between.
LINE_BYTES = 95
FLOOD = "flood "
DONE = "flood done "
# RunTask starts at most this many tasks a call.
RUN_TASK_MOST = 10
# GetLogEvents' largest page.
PAGE = 10_000

API_WARMUP = "1s"
API_DURATION = "5s"
# A flood that stores nothing more for this long has stalled (or lost lines).
STALL_SECONDS = 60.0
COUNT_EVERY_SECONDS = 0.1
BACKGROUND_SECONDS = 1.0
# How long the second flood should keep Berth ingesting, at the first one's rate: more than
# berth-bench's setup, warm-up and measurement, which slow the ingest down besides.
BUSY_SECONDS = 10.0
# Docker's json-file rotates at 16 MiB, about 97,500 of these lines (each about 172 bytes as
# JSON), and Docker 20.10's follow of a container's log can hang there for good.
STALL_HINT = ("a follow of Docker's json-file can hang at its rotation (16 MiB, about 97,500 "
              "flood lines); see bench/README.md")

# The paced phase: about this long, each task writing fewer lines than the json-file holds
# before its rotation (see STALL_HINT), so more tasks for a higher rate.
PACED_SECONDS = 20.0
PACED_MOST_LINES = 90_000

GOAL_LINES_PER_SECOND = 100_000
GOAL_P99_MS = 1000
# "Unchanged": DescribeServices' p99 during the flood within this share of the idle one.
GOAL_API_SLOWDOWN = 0.10

class NotFound(Exception):
    pass


class RawLogs:
    """CloudWatch Logs calls signed with botocore's signer over one keep-alive connection:
    boto3 parses every event of a page through its model, which for thousands of events a
    second would take a core from the machine being measured."""

    def __init__(self, endpoint: str, keys: tuple[str, str]):
        self.url = endpoint + "/"
        host = urlparse(endpoint)
        self.connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        self.signer = SigV4Auth(Credentials(*keys), "logs", REGION)

    def call(self, action: str, body: dict) -> dict:
        data = json.dumps(body).encode()
        request = AWSRequest(method="POST", url=self.url, data=data, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"Logs_20140328.{action}"})
        self.signer.add_auth(request)
        self.connection.request("POST", "/", body=data, headers=dict(request.headers.items()))
        response = self.connection.getresponse()
        answer = json.loads(response.read() or b"{}")
        if response.status == 200:
            return answer
        kind = answer.get("__type", "")
        if "ResourceNotFoundException" in kind:
            raise NotFound(answer.get("message", kind))
        raise RuntimeError(f"{action} answered {response.status}: {answer}")

    def page(self, stream: str, token: str | None, limit: int = PAGE, **start) -> dict:
        body = {"logGroupName": GROUP, "logStreamName": stream, "limit": limit, **start}
        if token:
            body["nextToken"] = token
        return self.call("GetLogEvents", body)

    def last(self, stream: str) -> dict | None:
        """The stream's newest event; None while the stream has none or is not there."""
        try:
            events = self.page(stream, None, limit=1)["events"]
        except NotFound:
            return None
        return events[0] if events else None

    def first(self, stream: str) -> dict:
        return self.page(stream, None, limit=1, startFromHead=True)["events"][0]

    def messages(self, stream: str) -> list[str]:
        """Every message, forward from the head until the same token comes back."""
        messages, token = [], None
        while True:
            page = self.page(stream, token, **({} if token else {"startFromHead": True}))
            messages += [e["message"] for e in page["events"]]
            if page["nextForwardToken"] == token:
                return messages
            token = page["nextForwardToken"]


def lines_in(event: dict | None) -> int:
    """How many flood lines a stream holds whose newest event is `event` (streams keep
    order); 0 before the first, when the newest may be the app's `listening` line."""
    message = event["message"] if event else ""
    if message.startswith(DONE):
        return int(message.split()[2])
    if message.startswith(FLOOD):
        return int(message.split()[1]) + 1
    return 0


def machine_busy_seconds() -> float:
    """CPU time all CPUs spent on anything but idling, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


def background_load() -> float:
    """The share of the machine's CPUs busy over BACKGROUND_SECONDS while this benchmark's
    processes idle: this machine is shared, and other work takes CPU from what is measured."""
    busy, began = machine_busy_seconds(), time.monotonic()
    time.sleep(BACKGROUND_SECONDS)
    return (machine_busy_seconds() - busy) / ((time.monotonic() - began) * (os.cpu_count() or 1))


def dockerd_pid() -> int:
    found = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    if len(found) != 1:
        sys.exit(f"want one dockerd process, found {found or 'none'}")
    return int(found[0])


def shims_cpu_seconds(container_ids: list[str]) -> float:
    """The CPU of the containerd shims of these containers, which copy each container's
    output into the pipe dockerd reads: all of it, since each shim began with its container."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"-id" in argv and argv[argv.index(b"-id") + 1].decode() in container_ids:
                total += cpu_seconds(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return total


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"docker {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Run:
    lines: int
    # Lines/s the containers wrote, from their own first and last write.
    written: float
    # Lines/s from the first line stamped until the last was readable (the floor: in its file).
    readable: float
    cpu: dict[str, float]
    # The share of the machine's CPUs other work used just before.
    background: float
    latencies_ms: list[float] = field(default_factory=list)
    tasks: int = 0

    def per_thousand(self, name: str) -> str:
        return f"{self.cpu[name] * 1000 / (self.lines / 1000):.2f}" if name in self.cpu else "-"


def flood_done(message: str) -> tuple[int, float, float]:
    """The lines, first and last write (epoch seconds) of a `flood done` line."""
    _, _, lines, _, first, last = message.split()
    return int(lines), int(first) / 1e6, int(last) / 1e6


def write_rate(summaries: list[tuple[int, float, float]]) -> float:
    lines = sum(s[0] for s in summaries)
    return lines / (max(s[2] for s in summaries) - min(s[1] for s in summaries))


def floor(args, dockerd: int) -> Run:
    """The same flood on Docker's json-file alone: done when every container's file ends with
    its `flood done` line, read from the file itself so that no reader adds to dockerd's work."""
    background, before = background_load(), cpu_seconds(dockerd)
    ids = [docker("run", "-d", "--label", args.label, "--memory", f"{MEMORY_MIB}m",
                  "--log-driver", "json-file", *JSON_FILE_OPTIONS,
                  "-e", f"LOG_FLOOD={args.lines}", args.image).strip() for _ in range(args.tasks)]
    files = [Path(docker("inspect", "--format", "{{.LogPath}}", i).strip()) for i in ids]
    summaries: dict[Path, tuple[int, float, float]] = {}
    sizes: dict[Path, int] = {}
    progress = time.monotonic()
    while len(summaries) < len(files):
        time.sleep(0.05)
        for path in files:
            if path in summaries:
                continue
            size = path.stat().st_size
            if size != sizes.get(path):
                sizes[path], progress = size, time.monotonic()
            with path.open("rb") as file:
                file.seek(max(0, size - 4096))
                # Whole lines only: the file may end inside one, and start inside another.
                tail = file.read().split(b"\n")[1:-1]
            done = [line for line in tail if DONE.encode() in line]
            if done:
                summaries[path] = flood_done(json.loads(done[0])["log"])
        if time.monotonic() - progress > STALL_SECONDS:
            sys.exit(f"the json-file containers wrote nothing for {STALL_SECONDS:.0f} s")
    used = {"dockerd": cpu_seconds(dockerd) - before, "shims": shims_cpu_seconds(ids)}
    docker("rm", "-f", *ids)
    rate = write_rate(list(summaries.values()))
    return Run(args.tasks * args.lines, rate, rate, used, background)


class Follower(threading.Thread):
    """Follows one stream forward, a GetLogEvents every `poll` seconds, until its `flood done`
    line: each new event's latency is when the answer holding it arrived minus its timestamp,
    so it is late by up to one poll interval."""

    def __init__(self, raw: RawLogs, stream: str, poll: float):
        super().__init__(daemon=True)
        self.raw, self.stream, self.poll = raw, stream, poll
        self.latencies_ms: list[float] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.follow()
        except BaseException as error:  # reported by the main thread
            self.error = error

    def follow(self) -> None:
        token, tick = None, time.monotonic()
        while True:
            try:
                page = self.raw.page(self.stream, token, **({} if token else {"startFromHead": True}))
            except NotFound:
                page = {"events": [], "nextForwardToken": token}
            seen_ms = time.time() * 1000
            events = page["events"]
            self.latencies_ms += [seen_ms - e["timestamp"] for e in events]
            token = page["nextForwardToken"]
            if events and events[-1]["message"].startswith(DONE):
                return
            # A full page means more was readable already: fetch it now, not a tick later.
            if len(events) < PAGE:
                # A poll that took longer than the interval is followed at once, not by a
                # burst catching up on the ticks it missed.
                tick = max(tick + self.poll, time.monotonic())
                time.sleep(max(0.0, tick - time.monotonic()))


def run_tasks(ecs, cluster: str, family: str, count: int) -> list[str]:
    arns = []
    while len(arns) < count:
        answer = ecs.run_task(cluster=cluster, taskDefinition=family,
                              count=min(RUN_TASK_MOST, count - len(arns)))
        if answer["failures"] or not answer["tasks"]:
            sys.exit(f"RunTask placed nothing: {answer['failures']}")
        arns += [t["taskArn"] for t in answer["tasks"]]
    return arns


def stream_of(arn: str) -> str:
    return f"{PREFIX}/{CONTAINER}/{arn.rsplit('/', 1)[1]}"


def register(ecs, family: str, image: str, lines: int, rate: float | None = None) -> None:
    environment = [{"name": "LOG_FLOOD", "value": str(lines)}]
    if rate:
        environment.append({"name": "LOG_RATE", "value": f"{rate:g}"})
    ecs.register_task_definition(family=family, networkMode="bridge", containerDefinitions=[{
        "name": CONTAINER, "image": image, "essential": True, "memory": MEMORY_MIB,
        "environment": environment,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": GROUP, "awslogs-create-group": "true", "awslogs-region": REGION,
            "awslogs-stream-prefix": PREFIX}},
    }])


def describe_services_p99(args, keys: tuple[str, str]) -> float:
    """berth-bench's DescribeServices p99 (ms). It sets up its service in `default`."""
    done = subprocess.run(
        [args.bench, "--endpoint", args.endpoint, "--access-key", keys[0], "--secret", keys[1],
         "--actions", "DescribeServices", "--connections", str(args.api_connections),
         "--warmup", API_WARMUP, "--duration", API_DURATION, "--output", "json"],
        capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"berth-bench failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)["results"][0]
    if result["errors"]:
        sys.exit(f"berth-bench: {result['errors']} errors, the first: {result['first_error']}")
    return result["p99_ms"]


def berth(args, ecs, raw: RawLogs, keys: tuple[str, str], dockerd: int, family: str = "flood",
          tasks: int | None = None, lines: int | None = None, rate: float | None = None) -> Run:
    """`tasks` tasks of `lines` lines each (default: the flood's) through Berth, written as
    fast as they can or at `rate` lines/s each, until every line is readable through
    GetLogEvents."""
    tasks, lines = tasks or args.tasks, lines or args.lines
    register(ecs, family, args.image, lines, rate)
    processes = {"agent": args.agent_pid, "server": args.server_pid, "dockerd": dockerd}
    background = background_load()
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    streams = [stream_of(arn) for arn in run_tasks(ecs, args.cluster, family, tasks)]
    # A connection of its own: it runs beside the counting below.
    follower = Follower(RawLogs(args.endpoint, keys), streams[0], args.poll_ms / 1000)
    follower.start()
    stored = dict.fromkeys(streams, 0)
    summaries: dict[str, tuple[int, float, float]] = {}
    progress = time.monotonic()
    while len(summaries) < len(streams):
        time.sleep(COUNT_EVERY_SECONDS)
        for stream in streams:
            if stream in summaries:
                continue
            newest = raw.last(stream)
            if lines_in(newest) > stored[stream]:
                stored[stream], progress = lines_in(newest), time.monotonic()
            if newest and newest["message"].startswith(DONE):
                summaries[stream] = flood_done(newest["message"])
        if time.monotonic() - progress > STALL_SECONDS:
            sys.exit(f"nothing more stored for {STALL_SECONDS:.0f} s; lines per stream: {stored}; "
                     f"{STALL_HINT}")
    readable_at = time.time()
    used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    # This phase's containers only: the earlier phases' keep running, idle.
    containers = [c for c in docker("ps", "-q", "--no-trunc", "--filter", f"label={args.label}").split()
                  if c not in args.seen_containers]
    args.seen_containers.update(containers)
    used["shims"] = shims_cpu_seconds(containers)
    follower.join(timeout=STALL_SECONDS)
    if follower.error:
        raise follower.error

    first_stamped = min(raw.first(s)["timestamp"] for s in streams) / 1000
    total = tasks * lines
    expected = [f"flood {seq:010d}" for seq in range(lines)]
    for stream in streams:
        kept = [m[:16] for m in raw.messages(stream) if m.startswith(FLOOD)]
        if kept[:-1] != expected or not kept[-1].startswith(DONE[:10]):
            sys.exit(f"{stream}: {len(kept)} events, not the {lines} lines in order plus the last")
    return Run(total, write_rate(list(summaries.values())), total / (readable_at - first_stamped), used,
               background, follower.latencies_ms, tasks)


@dataclass
class Busy:
    """DescribeServices while Berth ingests."""

    p99_ms: float
    tasks: int
    # Lines/s stored while berth-bench ran, and whether some were still to come when it ended.
    rate: float
    outlasted: bool


def during_flood(args, ecs, raw: RawLogs, keys: tuple[str, str], rate: float) -> Busy:
    """DescribeServices' p99 while Berth ingests a flood. More tasks rather than more lines
    each keep it busy for BUSY_SECONDS at the rate just measured: longer floods would cross
    the json-file's rotation (see STALL_HINT)."""
    tasks = max(args.tasks, math.ceil(rate * BUSY_SECONDS / args.lines))
    register(ecs, "flood-again", args.image, args.lines)
    streams = [stream_of(arn) for arn in run_tasks(ecs, args.cluster, "flood-again", tasks)]
    deadline = time.monotonic() + STALL_SECONDS
    while not all(lines_in(raw.last(s)) for s in streams):
        if time.monotonic() > deadline:
            sys.exit("the second flood stored nothing")
        time.sleep(COUNT_EVERY_SECONDS)
    before, began = sum(lines_in(raw.last(s)) for s in streams), time.monotonic()
    p99 = describe_services_p99(args, keys)
    after = sum(lines_in(raw.last(s)) for s in streams)
    return Busy(p99, tasks, (after - before) / (time.monotonic() - began), after < tasks * args.lines)


def paced(args, ecs, raw: RawLogs, keys: tuple[str, str], dockerd: int) -> Run:
    """`--paced-rate` lines/s in total for about PACED_SECONDS, spread over as few tasks (at
    least `--tasks`) as keep each under PACED_MOST_LINES lines."""
    total = round(args.paced_rate * PACED_SECONDS)
    tasks = max(args.tasks, math.ceil(total / PACED_MOST_LINES))
    return berth(args, ecs, raw, keys, dockerd, family="paced", tasks=tasks,
                 lines=math.ceil(total / tasks), rate=args.paced_rate / tasks)


def report(args, floor_run: Run, berth_run: Run, paced_run: Run, idle_p99: float,
           busy: Busy) -> None:
    print(f"{args.tasks} containers x {args.lines:,} lines of {LINE_BYTES} bytes; {os.cpu_count()} CPUs "
          f"shared by everything; CPU is user + system time from the first container's start until "
          f"every line was in (the floor: its json-file; Berth: readable); latency is when a "
          f"GetLogEvents answer, polled every {args.poll_ms} ms, first held the line minus Docker's "
          f"timestamp, so each figure is late by up to {args.poll_ms} ms; DescribeServices with "
          f"berth-bench, {args.api_connections} connections, {API_DURATION} after {API_WARMUP} warm-up")
    print()
    print("| path | written lines/s | readable lines/s | agent CPU ms/1k lines | server CPU ms/1k lines "
          "| dockerd CPU ms/1k lines | shims CPU ms/1k lines | line to readable p50 ms | p99 ms "
          "| DescribeServices p99 ms idle | during flood |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = (("Docker json-file alone (floor)", floor_run, None),
            ("Berth: json-file, agent, server, store", berth_run, (idle_p99, busy.p99_ms)),
            (f"Berth, paced: {paced_run.tasks} tasks, {args.paced_rate:,} lines/s in total",
             paced_run, None))
    for name, run, api in rows:
        latency = ("-", "-") if not run.latencies_ms else (
            f"{nearest_rank(run.latencies_ms, 50):.0f}", f"{nearest_rank(run.latencies_ms, 99):.0f}")
        api_cells = ("-", "-") if api is None else (f"{api[0]:.3f}", f"{api[1]:.3f}")
        print(f"| {name} | {run.written:,.0f} | {run.readable:,.0f} | {run.per_thousand('agent')} | "
              f"{run.per_thousand('server')} | {run.per_thousand('dockerd')} | {run.per_thousand('shims')} | "
              f"{latency[0]} | {latency[1]} | {api_cells[0]} | {api_cells[1]} |")
    print()
    faster = berth_run.written / berth_run.readable
    queued = (f"The containers wrote {faster:.1f}x as fast as Berth made lines readable, so lines "
              f"waited in the json-file: the latency is mostly that wait, and grows with the flood's "
              f"length." if faster > 1.1 else "Berth kept up with the containers.")
    print(f"Other work kept the machine {floor_run.background:.0%} busy in the second before the "
          f"floor's flood and {berth_run.background:.0%} before Berth's and {paced_run.background:.0%} before the "
          f"paced phase. {queued}")
    print()
    print(f"Berth made all {berth_run.lines:,} lines readable {berth_run.lines / berth_run.readable:.1f} s "
          f"after Docker stamped the first; every line of every stream was read back once, in order. "
          f"Latency over the {len(berth_run.latencies_ms):,} lines of one stream.")
    print()
    print(f"Paced: {paced_run.tasks} tasks x {paced_run.lines // paced_run.tasks:,} lines, "
          f"{args.paced_rate / paced_run.tasks:,.0f} lines/s each ({args.paced_rate:,} in total, "
          f"about {PACED_SECONDS:.0f} s); {paced_run.written:,.0f} lines/s written, all "
          f"{paced_run.lines:,} readable {paced_run.lines / paced_run.readable:.1f} s after Docker "
          f"stamped the first, every line read back once, in order. Latency over the "
          f"{len(paced_run.latencies_ms):,} lines of one stream.")
    print()
    ended = ("." if busy.outlasted else
             ", but all were stored before it ended: the p99 is partly of an idle server.")
    print(f"During the flood: {busy.tasks} more tasks of {args.lines:,} lines, {busy.rate:,.0f} lines/s "
          f"stored while berth-bench ran{ended}")
    print()
    p99 = nearest_rank(paced_run.latencies_ms, 99)
    flood_p99 = nearest_rank(berth_run.latencies_ms, 99)
    slowdown = busy.p99_ms / idle_p99 - 1
    print(f"- {berth_run.readable:,.0f} lines/s readable (goal >= {GOAL_LINES_PER_SECOND:,}): "
          f"{verdict(berth_run.readable >= GOAL_LINES_PER_SECOND)}")
    print(f"- line to readable p99 {p99:.0f} ms at {args.paced_rate:,} lines/s paced (goal < "
          f"{GOAL_P99_MS} ms, judged on the paced phase; the flood's {flood_p99:.0f} ms is its "
          f"backlog): {verdict(p99 < GOAL_P99_MS)}")
    print(f"- DescribeServices p99 {idle_p99:.3f} ms idle, {busy.p99_ms:.3f} ms during the flood, "
          f"{slowdown:+.0%} (goal unchanged: within {GOAL_API_SLOWDOWN:.0%}): "
          f"{verdict(slowdown <= GOAL_API_SLOWDOWN)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--lines", type=int, required=True, help="per task")
    parser.add_argument("--poll-ms", type=int, required=True)
    parser.add_argument("--api-connections", type=int, required=True)
    parser.add_argument("--paced-rate", type=int, required=True, help="lines/s in total")
    parser.add_argument("--label", required=True, help="key=value every container carries")
    parser.add_argument("--image", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--bench", required=True, help="the berth-bench binary")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--agent-pid", type=int, required=True)
    args = parser.parse_args()
    args.seen_containers = set()

    keys = read_credentials(args.credentials)
    ecs = client("ecs", args.endpoint, keys)
    raw = RawLogs(args.endpoint, keys)
    dockerd = dockerd_pid()
    wait_for_agent(ecs, args.cluster)

    print("floor: json-file alone", file=sys.stderr, flush=True)
    floor_run = floor(args, dockerd)
    print("DescribeServices, idle", file=sys.stderr, flush=True)
    idle_p99 = describe_services_p99(args, keys)
    print("Berth", file=sys.stderr, flush=True)
    berth_run = berth(args, ecs, raw, keys, dockerd)
    print(f"paced: {args.paced_rate:,} lines/s", file=sys.stderr, flush=True)
    paced_run = paced(args, ecs, raw, keys, dockerd)
    print("DescribeServices during a second flood", file=sys.stderr, flush=True)
    busy = during_flood(args, ecs, raw, keys, berth_run.readable)
    report(args, floor_run, berth_run, paced_run, idle_p99, busy)


if __name__ == "__main__":
    main()
