"""What the Python halves of the benchmarks share: clients of a Berth server started by the
shell half (which writes its admin key to DATA_DIR/credentials), waiting for its agent,
reading a process's CPU time, and the arithmetic of the tables."""

from __future__ import annotations

import configparser
import math
import os
import socket
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

REGION = "us-east-1"
TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def read_credentials(path: Path) -> tuple[str, str]:
    """The access key and secret of the `berth` profile in a credentials file."""
    parser = configparser.ConfigParser()
    parser.read(path)
    profile = parser["berth"]
    return profile["aws_access_key_id"], profile["aws_secret_access_key"]


def client(service: str, endpoint: str, credentials: Path | tuple[str, str], read_timeout: float = 120,
           validate: bool = True):
    """A boto3 client of the server that never retries: a retried call would hide a failure
    inside a figure. `validate=False` lets through values Berth takes and AWS does not (a
    2-second health check)."""
    keys = credentials if isinstance(credentials, tuple) else read_credentials(credentials)
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout,
                                      parameter_validation=validate))


def wait_for_agent(ecs, cluster: str = "default", timeout: float = 60) -> None:
    """Until every container instance of `cluster` (there is at least one) is connected:
    tasks are placed only then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
        if arns:
            described = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
            if all(i["agentConnected"] for i in described["containerInstances"]):
                return
        time.sleep(0.1)
    sys.exit(f"the agent did not join within {timeout:.0f} s")


def wait_until(probe, what: str, done, timeout: float, interval: float = 0.2):
    """Polls `probe` until `done(value)`; returns that value, or exits saying what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {value!r}")
        time.sleep(interval)


def free_port() -> int:
    """A port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system time of the process, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields 14 and 15; the command name before them may hold spaces.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"
