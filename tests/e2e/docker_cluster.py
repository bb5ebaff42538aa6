"""A real fleet for end-to-end tests: a `berth agent` process driving Docker beside the test's
`berth server`, and helpers to describe what it runs. Every container a test starts carries the
test's own label and is removed at teardown, whatever the outcome.

These need Docker and the images from scripts/test-images.sh (scripts/test.sh builds them).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BerthServer, isolated_environ, wait_for

TESTAPP_V1 = "berth-testapp:v1"
TESTAPP_V2 = "berth-testapp:v2"
BUSYBOX = "berth-busybox:latest"
# The Docker network an agent's awsvpc tasks join (berth_agent::spec::TASK_NETWORK).
TASK_NETWORK = "berth-tasks"


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout


def require_images() -> None:
    for image in (TESTAPP_V1, TESTAPP_V2, BUSYBOX):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
            pytest.fail(f"test image {image} is missing: run scripts/test-images.sh", pytrace=False)


class Agent:
    """One `berth agent` process scoped to this test's label."""

    def __init__(self, berth_bin: Path, server: BerthServer, state_dir: Path, log: Path, label: str,
                 runtime: str = "docker", extra_args: tuple[str, ...] = (), server_url: str | None = None,
                 prefix: tuple[str, ...] = (), zone: str = "a"):
        self.berth_bin, self.server, self.state_dir, self.log_path, self.label = berth_bin, server, state_dir, log, label
        self.runtime = runtime
        self.extra_args = extra_args
        # An agent on a host of its own (hosts.py) reaches the server at that host's gateway,
        # and runs inside the host's network namespace.
        self.server_url = server_url or server.endpoint
        self.prefix = prefix
        self.zone = zone
        self.token = subprocess.run(
            [str(berth_bin), "tokens", "create", "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, check=True, env=isolated_environ(),
        ).stdout.strip()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, str(self.berth_bin), "agent", "--server", self.server_url, "--token", self.token,
                 "--runtime", self.runtime, "--state-dir", str(self.state_dir), "--label", f"berth.test-run={self.label}",
                 "--attribute", f"zone={self.zone}", *self.extra_args,
                 *(["--ca-file", str(self.server.ca_bundle)] if self.server.ca_bundle else [])],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=isolated_environ(),
                start_new_session=True,
            )

    @property
    def instance_id(self) -> str:
        """The id the agent keeps in its state directory, and labels its containers with."""
        path = self.state_dir / "instance-id"
        return wait_for(lambda: path.read_text().strip() if path.exists() else "", f"{path} to be written")

    def kill(self) -> None:
        """SIGKILL, as a crash: a container the agent was creating may appear afterwards,
        created but never started (the agent started on this state directory removes it)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it: the agent first finishes starting the
        containers it is starting, so afterwards no container of its appears any more."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def containers(self, all_states: bool = False) -> list[dict]:
        out = docker("ps", *(["-a"] if all_states else []), "--filter", f"label=berth.test-run={self.label}",
                     "--format", "{{json .}}")
        return [json.loads(line) for line in out.splitlines() if line.strip()]


@contextlib.contextmanager
def running_agent(berth_bin: Path, server: BerthServer, tmp_path: Path, runtime: str = "docker",
                  extra_args: tuple[str, ...] = ()) -> Iterator[Agent]:
    """One agent on `runtime` (Docker, or host processes) joined to `server`; afterwards its
    containers are removed by label, or its processes killed by process group, whatever the
    outcome."""
    if runtime == "docker":
        require_images()
    label = uuid.uuid4().hex[:12]
    agent = Agent(berth_bin, server, tmp_path / "agent", tmp_path / "agent.log", label, runtime=runtime,
                  extra_args=extra_args)
    agent.start()
    try:
        yield agent
    finally:
        # Stopped rather than killed: a create still under way when the agent died could
        # otherwise land after the removal below and leave a container behind.
        agent.stop()
        if runtime == "docker":
            ids = docker("ps", "-aq", "--filter", f"label=berth.test-run={label}").split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120)
        else:
            # A stopped agent leaves its processes running, as Docker leaves containers.
            for record in (tmp_path / "agent").rglob("record.json"):
                pid = json.loads(record.read_text()).get("pid")
                if pid:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if os.environ.get("BERTH_TEST_SHOW_AGENT_LOG"):
            print(agent.log_path.read_text())


@pytest.fixture
def cluster(berth_bin: Path, server: BerthServer, tmp_path: Path):
    with running_agent(berth_bin, server, tmp_path) as agent:
        yield server, agent


@pytest.fixture(params=["docker", "process"])
def fleet(request, berth_bin: Path, server: BerthServer, tmp_path: Path):
    """A server and one agent on the runtime the test is parametrized with (Docker, or host
    processes), cleaned up by label or by process group whatever the outcome."""
    with running_agent(berth_bin, server, tmp_path, request.param) as agent:
        yield server, agent


def process_stdout(state_dir: Path, runtime_id: str) -> str:
    """What a host-process container wrote to stdout, read from its output files in the
    framing berth_runtime::process::output documents: per file a 16-byte header, then records
    of kind (1 stdout, 2 stderr, 3 end), payload length (u32 LE), time (i64 LE) and payload."""
    found = list(state_dir.rglob(runtime_id))
    if not found:
        return ""
    out = bytearray()
    files = sorted(found[0].glob("output.*"), key=lambda f: int(f.suffix[1:]))
    for file in files:
        data = file.read_bytes()[16:]
        while len(data) >= 13:
            kind, length = data[0], struct.unpack_from("<I", data, 1)[0]
            if kind == 1:
                out += data[13:13 + length]
            data = data[13 + length:]
    return out.decode(errors="replace")


def web_definition(image: str, family: str = "web", **container) -> dict:
    definition = {
        "name": "web", "image": image, "essential": True, "memory": 64, "cpu": 64,
        "portMappings": [{"containerPort": 8080, "hostPort": 0}],
        "healthCheck": {"command": ["CMD", "/berth-testapp", "check", "http://127.0.0.1:8080/health"],
                        "interval": 5, "timeout": 2, "retries": 2, "startPeriod": 0},
        "stopTimeout": 2,
    }
    definition.update(container)
    return {"family": family, "networkMode": "bridge", "containerDefinitions": [definition]}


def service(ecs, name: str = "web") -> dict:
    return ecs.describe_services(services=[name])["services"][0]


def tasks(ecs, **filters) -> list[dict]:
    arns = ecs.list_tasks(**filters)["taskArns"]
    return ecs.describe_tasks(tasks=arns)["tasks"] if arns else []


def wait_stable(ecs, name: str = "web", timeout: float = 90) -> dict:
    def stable(s: dict) -> bool:
        deployments = s["deployments"]
        return len(deployments) == 1 and s["runningCount"] == s["desiredCount"] and deployments[0].get("rolloutState") == "COMPLETED"
    return wait_for(lambda: service(ecs, name), f"service {name} to be stable", stable, timeout=timeout, interval=0.5)
