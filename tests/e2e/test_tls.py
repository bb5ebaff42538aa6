"""The API endpoint over HTTPS, as it should be whenever agents or clients reach the server
across a network: the aws CLI (`AWS_CA_BUNDLE`) and boto3 (`verify=`) trust the server's CA,
an agent given `--ca-file` joins and runs a task whose secret travels over that connection,
and a client that does not trust the CA, or speaks plain HTTP, is refused clearly."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import certifi
import pytest

from conftest import wait_for
from docker_cluster import Agent
from test_task_secrets import output_of


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, server.pem, server.key)."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
            "-days", "2", "-subj", "/CN=berth test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "2", "-extfile", str(extensions))
    return ca, cert, key


@pytest.fixture
def tls_server(start_server, tmp_path: Path):
    ca, cert, key = certificates(tmp_path)
    return start_server("--tls-cert", str(cert), "--tls-key", str(key), ca_bundle=ca)


def test_clients_and_agents_speak_https_with_the_servers_ca(tls_server, berth_bin: Path, tmp_path: Path):
    server = tls_server
    assert server.endpoint.startswith("https://"), server.endpoint
    assert f"AWS_ENDPOINT_URL={server.endpoint}" in server.output()
    assert [a.rsplit("/", 1)[-1] for a in server.aws("ecs", "list-clusters")["clusterArns"]] == ["default"]
    secret = server.client(service="secretsmanager").create_secret(
        Name="portal/api-key", SecretString="key-Tl55-unique")["ARN"]

    untrusting = server.run_aws_service("ecs", "list-clusters", env={"AWS_CA_BUNDLE": certifi.where()})
    assert untrusting.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusting.stderr, untrusting.stderr
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{server.port}/", method="POST"), timeout=10)
    assert plain.value.code == 400
    assert f"use https://127.0.0.1:{server.port}" in plain.value.read().decode()

    agent = Agent(berth_bin, server, tmp_path / "agent", tmp_path / "agent.log", uuid.uuid4().hex[:12],
                  runtime="process")
    agent.start()
    try:
        port = 20000 + uuid.uuid4().int % 20000
        server.ecs.register_task_definition(family="tls", networkMode="host", containerDefinitions=[{
            "name": "app", "image": "host", "essential": True, "memory": 64,
            "entryPoint": [str(berth_bin.parent / "berth-testapp")],
            "portMappings": [{"containerPort": port, "hostPort": port}],
            "environment": [{"name": "PORT", "value": str(port)}, {"name": "PRINT_ENV", "value": "API_KEY"}],
            "secrets": [{"name": "API_KEY", "valueFrom": secret}],
        }])
        wait_for(lambda: server.ecs.list_container_instances()["containerInstanceArns"], "the agent to join over TLS")
        arn = server.ecs.run_task(taskDefinition="tls")["tasks"][0]["taskArn"]
        task = wait_for(lambda: server.ecs.describe_tasks(tasks=[arn])["tasks"][0], "the task to run",
                        lambda t: t["lastStatus"] in ("RUNNING", "STOPPED"), timeout=60)
        assert task["lastStatus"] == "RUNNING", json.dumps(task, default=str)
        printed = wait_for(lambda: output_of("process", agent, task["containers"][0]["runtimeId"]),
                           "the container's output", lambda out: "API_KEY=" in out)
        assert "API_KEY=key-Tl55-unique" in printed
        server.ecs.stop_task(task=arn)
        wait_for(lambda: server.ecs.describe_tasks(tasks=[arn])["tasks"][0], "the task to stop",
                 lambda t: t["lastStatus"] == "STOPPED", timeout=60)
    finally:
        agent.stop()


def test_an_agent_that_does_not_trust_the_server_says_why(tls_server, berth_bin: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _, _ = certificates(other)
    token = tls_server.berth("tokens", "create").stdout.strip()
    log = tmp_path / "stranger.log"
    with open(log, "wb") as out:
        stranger = subprocess.Popen(
            [str(berth_bin), "agent", "--server", tls_server.endpoint, "--token", token, "--runtime", "process",
             "--state-dir", str(tmp_path / "stranger"), "--ca-file", str(other_ca)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        said = wait_for(log.read_text, "the agent to say why it cannot register", lambda text: "TLS" in text)
        assert "--ca-file" in said, said
        assert tls_server.ecs.list_container_instances()["containerInstanceArns"] == []
    finally:
        stranger.kill()
        stranger.wait(timeout=10)
    refused = subprocess.run([str(berth_bin), "agent", "--server", tls_server.endpoint, "--token", token,
                              "--state-dir", str(tmp_path / "no-ca")], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "needs --ca-file" in refused.stderr, refused.stderr
