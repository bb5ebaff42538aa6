"""Machines of their own for tests about machines failing: each host is a network namespace
with its own address, joined to this machine by a veth pair, and runs one `berth agent` on host
processes inside it (its tasks inherit the namespace). A host can be frozen (SIGSTOP to its
agent), cut off (its link down), or crashed (SIGKILL to its agent).

Every namespace and link is named after the test's label and removed at teardown, with every
process its agent started, whatever the outcome. Needs root (CI runs as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from conftest import BerthServer
from docker_cluster import Agent


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"
    return result.stdout


def free_subnet() -> int:
    """A third octet of 10.213.X.0/24 that no interface here uses (tests run two at a time)."""
    used = ip("-o", "-4", "addr", "show")
    while True:
        octet = random.randrange(0, 256)
        if f"10.213.{octet}." not in used:
            return octet


class Host:
    """A network namespace with an address of its own, and the agent it runs."""

    def __init__(self, name: str, link: str, octet: int, agent: Agent):
        self.name, self.link, self.octet, self.agent = name, link, octet, agent

    @property
    def address(self) -> str:
        return f"10.213.{self.octet}.2"

    def freeze(self) -> None:
        """SIGSTOP to the agent: the machine goes silent, its tasks keep running."""
        assert self.agent.process is not None
        self.agent.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.agent.process and self.agent.process.poll() is None:
            self.agent.process.send_signal(signal.SIGCONT)

    def pids_by_task(self) -> dict[str, list[int]]:
        """The live processes the host runs for each task, from its agent's records."""
        found: dict[str, list[int]] = {}
        for record_path in self.agent.state_dir.rglob("record.json"):
            try:
                record = json.loads(record_path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            pid = record.get("pid")
            if pid and record.get("exit") is None and alive(pid):
                found.setdefault(record["task_id"], []).append(pid)
        return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def kill_recorded(state_dir: Path) -> None:
    """Kills every process an agent's records name (a stopped agent leaves them running)."""
    for record in state_dir.rglob("record.json"):
        try:
            pid = json.loads(record.read_text()).get("pid")
        except (OSError, json.JSONDecodeError):
            continue
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def hosts(berth_bin: Path, server: BerthServer, tmp_path: Path, zones: list[str],
          extra_args: tuple[str, ...] = ()) -> Iterator[list[Host]]:
    """One host per zone, each running a host-process agent of `server`, which must listen on
    0.0.0.0 (`start_server(listen_host="0.0.0.0")`)."""
    label = uuid.uuid4().hex[:8]
    made: list[Host] = []
    try:
        for index, zone in enumerate(zones):
            name, link = f"berth-{label}-{index}", f"bh{label}{index}"
            octet = free_subnet()
            ip("netns", "add", name)
            ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", name)
            ip("addr", "add", f"10.213.{octet}.1/24", "dev", link)
            ip("link", "set", link, "up")
            ip("-n", name, "addr", "add", f"10.213.{octet}.2/24", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up")
            ip("-n", name, "link", "set", "lo", "up")
            agent = Agent(berth_bin, server, tmp_path / f"host-{index}", tmp_path / f"host-{index}.log",
                          label, runtime="process", extra_args=extra_args,
                          server_url=f"http://10.213.{octet}.1:{server.port}",
                          prefix=("nsenter", f"--net=/run/netns/{name}"), zone=zone)
            made.append(Host(name, link, octet, agent))
            agent.start()
        yield made
    finally:
        for host in made:
            host.thaw()
            host.agent.stop()
            kill_recorded(host.agent.state_dir)
        for host in made:
            subprocess.run(["ip", "link", "del", host.link], capture_output=True, timeout=30)
            subprocess.run(["ip", "netns", "del", host.name], capture_output=True, timeout=30)
        if os.environ.get("BERTH_TEST_SHOW_AGENT_LOG"):
            for host in made:
                print(host.agent.log_path.read_text())
