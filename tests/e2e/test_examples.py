"""The task definitions in examples/ are valid for botocore's model, say what
their names promise, and register through
`aws ecs register-task-definition --cli-input-json file://examples/X.json`
coming back unchanged."""

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator

from conftest import REPO, arn, assert_subset

EXAMPLES = sorted((REPO / "examples").glob("*.json"))
REQUEST = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape


def load(name: str) -> dict:
    return json.loads((REPO / "examples" / name).read_text())


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"fargate-web.json", "rails-with-worker.json", "portal.json",
                                          "indexer.json", "ingester.json", "websocket-backend.json"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid_for_the_model(path):
    report = ParamValidator().validate(json.loads(path.read_text()), REQUEST)
    assert not report.has_errors(), report.generate_report()


def test_fargate_web():
    example = load("fargate-web.json")
    assert (example["networkMode"], example["requiresCompatibilities"]) == ("awsvpc", ["FARGATE"])
    assert (example["cpu"], example["memory"]) == ("256", "512")
    assert example["executionRoleArn"].startswith("arn:aws:iam::")
    [web] = example["containerDefinitions"]
    assert [p["containerPort"] for p in web["portMappings"]] == [80]
    assert web["environment"]
    secrets = [s["valueFrom"] for s in web["secrets"]]
    assert len(secrets) == 2 and all(s.startswith("arn:aws:secretsmanager:") for s in secrets)
    assert any(s.endswith(":password::") for s in secrets), "one secret selects a JSON key"
    assert web["logConfiguration"]["logDriver"] == "awslogs"


def test_rails_with_worker():
    example = load("rails-with-worker.json")
    assert example["networkMode"] == "bridge"
    assert (example["cpu"], example["memory"]) == ("1024", "2048")
    web, worker = example["containerDefinitions"]
    assert web["portMappings"] == [{"containerPort": 4000, "hostPort": 4000, "protocol": "tcp"}]
    assert web["essential"] and worker["essential"]
    assert web["image"] == worker["image"]
    assert web["command"] != worker["command"]


def test_one_image_three_roles():
    sizes = {"portal": ("4096", "8192"), "indexer": ("256", "512"), "ingester": ("1024", "2048")}
    images = set()
    for role, size in sizes.items():
        example = load(f"{role}.json")
        assert (example["cpu"], example["memory"]) == size
        [main] = example["containerDefinitions"]
        images.add(main["image"])
        assert {"name": "APP_ROLE", "value": role} in main["environment"]
    assert len(images) == 1


def test_websocket_backend():
    [backend] = load("websocket-backend.json")["containerDefinitions"]
    assert sorted(p["containerPort"] for p in backend["portMappings"]) == [7000, 8000]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_registers_through_cli_unchanged(server, path):
    example = json.loads(path.read_text())
    uri = f"file://examples/{path.name}"  # relative, as a user would type it in the repo
    registered = server.aws_ecs("register-task-definition", "--cli-input-json", uri)["taskDefinition"]
    assert registered["taskDefinitionArn"] == arn(f"task-definition/{example['family']}:1")
    assert_subset(example, registered)

    described = server.aws_ecs("describe-task-definition", "--task-definition", example["family"])
    assert_subset(example, described["taskDefinition"])
