"""Services: CreateService with ECS's defaults, UpdateService deployments,
DescribeServices, ListServices and DeleteService's DRAINING -> INACTIVE."""

import re
from datetime import datetime

import pytest

from conftest import api_error, arn, register, service_status, wait_until_inactive

DEPLOYMENT_ID = re.compile(r"ecs-svc/\d+")


@pytest.fixture
def ecs(server):
    """A cluster "prod" with two revisions of task definition "web"."""
    server.ecs.create_cluster(clusterName="prod")
    register(server.ecs, "web")
    register(server.ecs, "web")
    return server.ecs


def primary(service: dict) -> dict:
    primaries = [d for d in service["deployments"] if d["status"] == "PRIMARY"]
    assert len(primaries) == 1, service["deployments"]
    return primaries[0]


def test_create_service_fills_in_ecs_defaults(ecs):
    service = ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web:1", desiredCount=2)["service"]
    assert service["serviceArn"] == arn("service/prod/web")
    assert service["serviceName"] == "web"
    assert service["clusterArn"] == arn("cluster/prod")
    assert service["status"] == "ACTIVE"
    assert service["desiredCount"] == 2
    assert service["runningCount"] == 0  # no agent runs tasks yet
    assert service["taskDefinition"] == arn("task-definition/web:1")
    assert service["launchType"] == "EC2"
    assert service["schedulingStrategy"] == "REPLICA"
    assert isinstance(service["createdAt"], datetime)
    configuration = service["deploymentConfiguration"]
    assert configuration["maximumPercent"] == 200
    assert configuration["minimumHealthyPercent"] == 100
    assert configuration["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}

    deployment = primary(service)
    assert len(service["deployments"]) == 1
    assert DEPLOYMENT_ID.fullmatch(deployment["id"]), deployment["id"]
    assert deployment["taskDefinition"] == arn("task-definition/web:1")
    assert deployment["desiredCount"] == 2
    assert deployment["runningCount"] == 0
    assert deployment["rolloutState"] in ("IN_PROGRESS", "COMPLETED")
    assert isinstance(deployment["createdAt"], datetime)


def test_create_service_keeps_explicit_deployment_configuration(ecs):
    configuration = {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                     "maximumPercent": 150, "minimumHealthyPercent": 50}
    service = ecs.create_service(cluster="prod", serviceName="tuned", taskDefinition="web", desiredCount=1,
                                 deploymentConfiguration=configuration)["service"]
    for key, value in configuration.items():
        assert service["deploymentConfiguration"][key] == value
    assert service["taskDefinition"] == arn("task-definition/web:2")


def test_describe_and_list_services(ecs):
    created = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=1)["service"]
    for reference in ("api", arn("service/prod/api")):
        result = ecs.describe_services(cluster="prod", services=[reference])
        assert result["failures"] == []
        assert result["services"][0]["serviceArn"] == created["serviceArn"]
        assert primary(result["services"][0])["id"] == primary(created)["id"]

    result = ecs.describe_services(cluster="prod", services=["api", "ghost"])
    assert [s["serviceName"] for s in result["services"]] == ["api"]
    assert result["failures"] == [{"arn": arn("service/prod/ghost"), "reason": "MISSING"}]

    assert ecs.list_services(cluster="prod")["serviceArns"] == [created["serviceArn"]]
    assert ecs.list_services(cluster="prod", launchType="EC2")["serviceArns"] == [created["serviceArn"]]
    assert ecs.list_services(cluster="prod", launchType="FARGATE")["serviceArns"] == []
    assert ecs.list_services(cluster="prod", schedulingStrategy="DAEMON")["serviceArns"] == []


def test_service_operations_on_unknown_cluster(ecs):
    with api_error("ClusterNotFoundException"):
        ecs.list_services(cluster="ghost")
    with api_error("ClusterNotFoundException"):
        ecs.describe_services(cluster="ghost", services=["api"])
    with api_error("ClusterNotFoundException"):
        ecs.create_service(cluster="ghost", serviceName="api", taskDefinition="web", desiredCount=1)


def test_create_service_with_unknown_task_definition(ecs):
    for reference in ("ghost", "web:3", arn("task-definition/ghost:1")):
        with api_error("ClientException", "TaskDefinition not found"):
            ecs.create_service(cluster="prod", serviceName="api", taskDefinition=reference, desiredCount=1)
    assert ecs.list_services(cluster="prod")["serviceArns"] == []


def test_create_service_twice_with_different_parameters(ecs):
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=1)
    with api_error("InvalidParameterException"):
        ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=3)
    assert ecs.describe_services(cluster="prod", services=["api"])["services"][0]["desiredCount"] == 1


def test_update_desired_count_keeps_the_deployment(ecs):
    created = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=1)["service"]
    updated = ecs.update_service(cluster="prod", service="api", desiredCount=3)["service"]
    assert updated["desiredCount"] == 3
    assert primary(updated)["id"] == primary(created)["id"]
    assert primary(updated)["desiredCount"] == 3
    described = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert described["desiredCount"] == 3


def test_update_task_definition_starts_a_new_primary_deployment(ecs):
    created = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=2)["service"]
    updated = ecs.update_service(cluster="prod", service="api", taskDefinition="web:2")["service"]
    assert updated["taskDefinition"] == arn("task-definition/web:2")
    new = primary(updated)
    assert new["taskDefinition"] == arn("task-definition/web:2")
    assert DEPLOYMENT_ID.fullmatch(new["id"])
    assert new["id"] != primary(created)["id"]
    assert new["desiredCount"] == 2
    # The old deployment may linger as ACTIVE while it drains, never PRIMARY.
    for deployment in updated["deployments"]:
        if deployment["id"] != new["id"]:
            assert deployment["status"] == "ACTIVE", deployment

    assert primary(ecs.describe_services(cluster="prod", services=["api"])["services"][0])["id"] == new["id"]


def test_a_service_scales_on_a_deregistered_revision_but_deploys_only_active_ones(ecs):
    created = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=1)["service"]
    ecs.deregister_task_definition(taskDefinition="web:1")
    ecs.update_service(cluster="prod", service="api", desiredCount=2)
    # ecs-deploy's `ecs scale` sends the service's own revision with the count.
    updated = ecs.update_service(cluster="prod", service="api", desiredCount=3,
                                 taskDefinition=arn("task-definition/web:1"))["service"]
    assert updated["desiredCount"] == 3
    assert updated["taskDefinition"] == arn("task-definition/web:1")
    assert [d["id"] for d in updated["deployments"]] == [primary(created)["id"]]

    with api_error("ClientException", "TaskDefinition is inactive", "web:1"):
        ecs.update_service(cluster="prod", service="api", forceNewDeployment=True)
    ecs.deregister_task_definition(taskDefinition="web:2")
    with api_error("ClientException", "TaskDefinition is inactive", "web:2"):
        ecs.update_service(cluster="prod", service="api", taskDefinition="web:2")
    described = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert described["taskDefinition"] == arn("task-definition/web:1")
    assert [d["id"] for d in described["deployments"]] == [primary(created)["id"]]


def test_update_unknown_service(ecs):
    with api_error("ServiceNotFoundException"):
        ecs.update_service(cluster="prod", service="ghost", desiredCount=1)


def test_delete_scaled_service_needs_force(ecs):
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=2)
    with api_error("InvalidParameterException"):
        ecs.delete_service(cluster="prod", service="api")
    assert service_status(ecs, "prod", "api") == "ACTIVE"

    deleted = ecs.delete_service(cluster="prod", service="api", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    wait_until_inactive(ecs, "prod", "api")
    assert ecs.list_services(cluster="prod")["serviceArns"] == []
    with api_error(("ServiceNotActiveException", "ServiceNotFoundException")):
        ecs.update_service(cluster="prod", service="api", desiredCount=1)


def test_delete_service_scaled_to_zero(ecs):
    ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web", desiredCount=2)
    ecs.update_service(cluster="prod", service="api", desiredCount=0)
    deleted = ecs.delete_service(cluster="prod", service="api")["service"]
    assert deleted["status"] == "DRAINING"
    assert deleted["desiredCount"] == 0
    wait_until_inactive(ecs, "prod", "api")
    assert ecs.list_services(cluster="prod")["serviceArns"] == []


def test_name_is_free_again_once_inactive(ecs):
    first = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=0)["service"]
    ecs.delete_service(cluster="prod", service="api")
    wait_until_inactive(ecs, "prod", "api")
    second = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:2", desiredCount=0)["service"]
    assert second["status"] == "ACTIVE"
    assert primary(second)["id"] != primary(first)["id"]
    assert ecs.describe_services(cluster="prod", services=["api"])["services"][0]["taskDefinition"] == arn(
        "task-definition/web:2")


def test_update_service_with_unknown_task_definition(ecs):
    created = ecs.create_service(cluster="prod", serviceName="api", taskDefinition="web:1", desiredCount=1)["service"]
    with api_error("ClientException", "TaskDefinition not found"):
        ecs.update_service(cluster="prod", service="api", taskDefinition="ghost")
    described = ecs.describe_services(cluster="prod", services=["api"])["services"][0]
    assert described["taskDefinition"] == arn("task-definition/web:1")
    assert primary(described)["id"] == primary(created)["id"]


def test_delete_unknown_service(ecs):
    with api_error("ServiceNotFoundException"):
        ecs.delete_service(cluster="prod", service="ghost", force=True)


def test_service_lifecycle_with_cli(server, ecs):
    created = server.aws_ecs("create-service", "--cluster", "prod", "--service-name", "cli",
                             "--task-definition", "web:1", "--desired-count", "1")["service"]
    assert created["serviceArn"] == arn("service/prod/cli")
    assert created["deploymentConfiguration"]["maximumPercent"] == 200
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert DEPLOYMENT_ID.fullmatch(primary(created)["id"])

    described = server.aws_ecs("describe-services", "--cluster", "prod", "--services", "cli", "ghost")
    assert [s["serviceName"] for s in described["services"]] == ["cli"]
    assert described["failures"] == [{"arn": arn("service/prod/ghost"), "reason": "MISSING"}]
    assert server.aws_ecs("list-services", "--cluster", "prod")["serviceArns"] == [created["serviceArn"]]

    updated = server.aws_ecs("update-service", "--cluster", "prod", "--service", "cli",
                             "--task-definition", "web:2", "--desired-count", "2")["service"]
    assert (updated["desiredCount"], primary(updated)["taskDefinition"]) == (2, arn("task-definition/web:2"))

    code, _ = server.aws_ecs_error("delete-service", "--cluster", "prod", "--service", "cli")
    assert code == "InvalidParameterException"
    deleted = server.aws_ecs("delete-service", "--cluster", "prod", "--service", "cli", "--force")["service"]
    assert deleted["status"] == "DRAINING"
    wait_until_inactive(ecs, "prod", "cli")
