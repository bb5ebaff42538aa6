"""`berth up` — the README's first command — runs server, agent and load balancer in one
process and deploys the bundled example as a web service reached through the load balancer.
"""

from __future__ import annotations

import configparser
import re
import signal
import subprocess
import uuid
from pathlib import Path

import boto3

from conftest import REPO, free_port, isolated_environ, wait_for
from docker_cluster import docker, require_images
from load import get


def boto3_ecs(output: str):
    """An ECS client set up from the `export …` line `berth up` prints."""
    exported = dict(re.findall(r"(AWS_[A-Z_]+)=(\S+)", output.split("export ", 1)[1].split("\n", 1)[0]))
    credentials = configparser.ConfigParser()
    credentials.read(exported["AWS_SHARED_CREDENTIALS_FILE"])
    profile = credentials[exported["AWS_PROFILE"]]
    return boto3.client("ecs", endpoint_url=exported["AWS_ENDPOINT_URL"], region_name=exported["AWS_DEFAULT_REGION"],
                        aws_access_key_id=profile["aws_access_key_id"],
                        aws_secret_access_key=profile["aws_secret_access_key"])


def test_up_deploys_the_example_behind_the_load_balancer_and_a_restart_keeps_what_runs(berth_bin: Path,
                                                                                       tmp_path: Path):
    require_images()
    label = uuid.uuid4().hex[:12]
    lb_port, api_port = free_port(), free_port()

    def start(log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [str(berth_bin), "up", "--data-dir", str(tmp_path / "berth"), "--listen", f"127.0.0.1:{api_port}",
                 "--lb-bind", "127.0.0.1", "--lb-port", str(lb_port), "--runtime", "docker",
                 "--label", f"berth.test-run={label}", str(REPO / "examples" / "hello.json")],
                stdout=out, stderr=subprocess.STDOUT, env=isolated_environ(), start_new_session=True)

    def stop(up: subprocess.Popen) -> None:
        # Ctrl-C lets `berth up` finish starting what it was starting, so the removal below
        # finds every container it made.
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=20)
        except subprocess.TimeoutExpired:
            up.kill()

    log = tmp_path / "up.log"
    up = start(log)
    try:
        wait_for(lambda: log.read_text(), "berth up to deploy the example",
                 lambda text: "answers at" in text or up.poll() is not None, timeout=120, interval=0.2)
        output = log.read_text()
        assert f"hello answers at http://127.0.0.1:{lb_port}/ through Berth's load balancer" in output, output
        for wanted in ("export AWS_SHARED_CREDENTIALS_FILE=", "running containers with Docker",
                       "registered 2 targets", "hello is stable"):
            assert wanted in output, output
        answers = [get(lb_port) for _ in range(10)]
        assert answers == [(200, "hello from berth")] * 10, answers
        # Once up, it goes on showing why the count moves.
        ecs = boto3_ecs(output)
        ecs.update_service(service="hello", desiredCount=3)
        wait_for(lambda: log.read_text(), "berth up to show the new count",
                 lambda text: "hello: 3/3 running" in text, timeout=60, interval=0.5)
        before = sorted(ecs.list_tasks(serviceName="hello")["taskArns"])

        # Stopped and started again: the same revision, the same tasks, nothing stopped,
        # nothing placed before the agent is back, and no old event shown again.
        stop(up)
        again = tmp_path / "up-again.log"
        up = start(again)
        wait_for(lambda: again.read_text(), "berth up to come back",
                 lambda text: "answers at" in text or up.poll() is not None, timeout=120, interval=0.2)
        output = again.read_text()
        assert "reusing arn:aws:ecs:us-east-1:000000000000:task-definition/hello:1" in output, output
        assert "service hello already runs" in output, output
        for unwanted in ("registered arn", "has stopped", "has started", "No Container Instances", "draining"):
            assert unwanted not in output, output
        ecs = boto3_ecs(output)
        assert sorted(ecs.list_tasks(serviceName="hello")["taskArns"]) == before
        # The load balancer checks the targets it held before the restart once before it sends
        # them traffic again.
        wait_for(lambda: get(lb_port), "the load balancer to pass its first check again",
                 lambda answer: answer == (200, "hello from berth"), timeout=30, interval=0.5)
    finally:
        stop(up)
        ids = docker("ps", "-aq", "--filter", f"label=berth.test-run={label}").split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120)
