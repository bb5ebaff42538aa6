"""Requests botocore accepts but ECS refuses. Each must fail with ECS's
exception, a message naming the offending field, and no change of state.

RegisterTaskDefinition reports every validation failure as ClientException.
"""

import pytest

from conftest import IMAGE, api_error, container, register, snapshot


def health_check(**fields) -> dict:
    return {"command": ["CMD-SHELL", "true"], **fields}


# (test id, RegisterTaskDefinition arguments, word the message must contain)
INVALID_TASK_DEFINITIONS = [
    ("family-with-space", {"family": "bad family"}, "family"),
    ("family-with-symbol", {"family": "web!"}, "family"),
    ("family-too-long", {"family": "f" * 256}, "family"),
    ("container-name-with-space", {"containerDefinitions": [container("web app")]}, "name"),
    ("container-name-with-symbol", {"containerDefinitions": [container("web.app")]}, "name"),
    ("duplicate-container-names", {"containerDefinitions": [container("web"), container("web")]}, "name"),
    ("no-essential-container",
     {"containerDefinitions": [container("a", essential=False), container("b", essential=False)]}, "essential"),
    ("ec2-without-any-memory",
     {"requiresCompatibilities": ["EC2"],
      "containerDefinitions": [{"name": "web", "image": IMAGE, "essential": True}]}, "memory"),
    ("fargate-invalid-cpu-memory",
     {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "4096"}, "memory"),
    ("fargate-without-task-cpu",
     {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "memory": "512"}, "cpu"),
    ("fargate-in-bridge-mode",
     {"requiresCompatibilities": ["FARGATE"], "networkMode": "bridge", "cpu": "256", "memory": "512"}, "network"),
    ("container-port-too-high",
     {"containerDefinitions": [container(portMappings=[{"containerPort": 65536}])]}, "containerPort"),
    ("container-port-negative",
     {"containerDefinitions": [container(portMappings=[{"containerPort": -1}])]}, "containerPort"),
    ("host-port-too-high",
     {"containerDefinitions": [container(portMappings=[{"containerPort": 80, "hostPort": 70000}])]}, "hostPort"),
    ("health-interval-too-short",
     {"containerDefinitions": [container(healthCheck=health_check(interval=4))]}, "interval"),
    ("health-interval-too-long",
     {"containerDefinitions": [container(healthCheck=health_check(interval=301))]}, "interval"),
    ("health-timeout-too-short",
     {"containerDefinitions": [container(healthCheck=health_check(timeout=1))]}, "timeout"),
    ("health-timeout-too-long",
     {"containerDefinitions": [container(healthCheck=health_check(timeout=61))]}, "timeout"),
    ("health-retries-zero",
     {"containerDefinitions": [container(healthCheck=health_check(retries=0))]}, "retries"),
    ("health-retries-too-many",
     {"containerDefinitions": [container(healthCheck=health_check(retries=11))]}, "retries"),
    ("health-start-period-negative",
     {"containerDefinitions": [container(healthCheck=health_check(startPeriod=-1))]}, "startPeriod"),
    ("health-start-period-too-long",
     {"containerDefinitions": [container(healthCheck=health_check(startPeriod=301))]}, "startPeriod"),
    ("depends-on-missing-container",
     {"containerDefinitions": [container(dependsOn=[{"containerName": "ghost", "condition": "START"}])]},
     "dependsOn"),
    ("depends-on-invalid-condition",
     {"containerDefinitions": [container("db"), container(dependsOn=[{"containerName": "db", "condition": "READY"}])]},
     "condition"),
    ("secret-value-from-truncated-arn",
     {"containerDefinitions": [container(secrets=[{"name": "DB", "valueFrom": "arn:aws:secretsmanager:us-east-1"}])]},
     "valueFrom"),
    ("secret-value-from-empty",
     {"containerDefinitions": [container(secrets=[{"name": "DB", "valueFrom": ""}])]}, "valueFrom"),
    ("secret-value-from-with-spaces",
     {"containerDefinitions": [container(secrets=[{"name": "DB", "valueFrom": "my db password"}])]}, "valueFrom"),
]


@pytest.mark.parametrize("arguments, field", [case[1:] for case in INVALID_TASK_DEFINITIONS],
                         ids=[case[0] for case in INVALID_TASK_DEFINITIONS])
def test_invalid_task_definition(ecs, arguments, field):
    request = {"family": "valid", "containerDefinitions": [container()], **arguments}
    with api_error("ClientException", field):
        ecs.register_task_definition(**request)
    assert ecs.list_task_definition_families()["families"] == []


def test_invalid_task_definition_through_cli(server):
    code, message = server.aws_ecs_error(
        "register-task-definition", "--family", "fargate", "--requires-compatibilities", "FARGATE",
        "--network-mode", "awsvpc", "--cpu", "256", "--memory", "4096",
        "--container-definitions", '[{"name": "web", "image": "nginx", "essential": true}]')
    assert code == "ClientException"
    assert "memory" in message.lower()

    code, message = server.aws_ecs_error("register-task-definition", "--family", "bad family",
                                         "--container-definitions", '[{"name": "web", "image": "nginx", "memory": 64}]')
    assert code == "ClientException"
    assert "family" in message.lower()
    assert server.aws_ecs("list-task-definition-families")["families"] == []


def test_valid_edge_values_are_accepted(ecs):
    """The bounds themselves are valid: the checks above are not off by one."""
    bounds = [container("low", healthCheck=health_check(interval=5, timeout=2, retries=1, startPeriod=0),
                        portMappings=[{"containerPort": 1, "hostPort": 1}]),
              container("high", healthCheck=health_check(interval=300, timeout=60, retries=10, startPeriod=300),
                        portMappings=[{"containerPort": 65535, "hostPort": 65535}])]
    assert register(ecs, "f" * 255, containerDefinitions=bounds)["revision"] == 1
    fargate = register(ecs, "fargate", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                       cpu="256", memory="512", containerDefinitions=[{"name": "web", "image": IMAGE}])
    assert (fargate["cpu"], fargate["memory"]) == ("256", "512")
    # EC2 task-level memory is enough; containers then need none of their own.
    ec2 = register(ecs, "ec2", memory="512", containerDefinitions=[{"name": "web", "image": IMAGE}])
    assert ec2["memory"] == "512"


@pytest.fixture
def populated(ecs):
    # desiredCount 0: no scheduler activity may move the snapshots compared below.
    ecs.create_cluster(clusterName="prod")
    register(ecs, "web")
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web", desiredCount=0)
    return ecs


def test_create_service_with_negative_desired_count(populated):
    before = snapshot(populated)
    with api_error("InvalidParameterException", "desiredCount"):
        populated.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=-1)
    assert snapshot(populated) == before


def test_update_service_with_negative_desired_count(populated):
    with api_error("InvalidParameterException", "desiredCount"):
        populated.update_service(cluster="prod", service="web", desiredCount=-1)
    assert populated.describe_services(cluster="prod", services=["web"])["services"][0]["desiredCount"] == 0


@pytest.mark.parametrize("count", [0, 11])
def test_run_task_count_out_of_range(populated, count):
    before = snapshot(populated)
    with api_error("InvalidParameterException", "count"):
        populated.run_task(cluster="prod", taskDefinition="web", count=count)
    assert snapshot(populated) == before


def test_unknown_references_in_create_service_and_run_task(populated):
    before = snapshot(populated)
    with api_error("ClusterNotFoundException"):
        populated.create_service(cluster="ghost", serviceName="api", taskDefinition="web", desiredCount=1)
    with api_error("ClusterNotFoundException"):
        populated.run_task(cluster="ghost", taskDefinition="web")
    with api_error("ClientException", "TaskDefinition not found"):
        populated.create_service(cluster="prod", serviceName="api", taskDefinition="ghost", desiredCount=1)
    with api_error("ClientException", "TaskDefinition not found"):
        populated.run_task(cluster="prod", taskDefinition="ghost:1")
    assert snapshot(populated) == before


def test_awsvpc_needs_a_network_configuration(populated):
    register(populated, "vpc", networkMode="awsvpc")
    before = snapshot(populated)
    with api_error("InvalidParameterException", "network"):
        populated.create_service(cluster="prod", serviceName="vpc", taskDefinition="vpc", desiredCount=1)
    with api_error("InvalidParameterException", "network"):
        populated.run_task(cluster="prod", taskDefinition="vpc")
    assert snapshot(populated) == before


def test_fargate_launch_needs_a_fargate_compatible_task_definition(populated):
    before = snapshot(populated)
    network = {"awsvpcConfiguration": {"subnets": ["subnet-0123456789abcdef0"]}}
    with api_error("InvalidParameterException", "FARGATE"):
        populated.run_task(cluster="prod", taskDefinition="web", launchType="FARGATE", networkConfiguration=network)
    assert snapshot(populated) == before


def test_reserved_tag_prefix(populated):
    cluster = populated.describe_clusters(clusters=["prod"])["clusters"][0]["clusterArn"]
    with api_error("InvalidParameterException", "aws:"):
        populated.tag_resource(resourceArn=cluster, tags=[{"key": "aws:owner", "value": "me"}])
    assert populated.list_tags_for_resource(resourceArn=cluster)["tags"] == []
