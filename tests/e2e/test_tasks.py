"""Tasks: RunTask, StopTask, DescribeTasks, ListTasks. No agent exists yet,
so tasks stay PROVISIONING; what is tested is what the API records."""

import re
from datetime import datetime

import pytest

from conftest import api_error, arn, container, register

TASK_ARN = re.compile(re.escape(arn("task/jobs/")) + r"[0-9a-f]{32}")


@pytest.fixture
def ecs(server):
    """Cluster "jobs", task definitions "job" (two containers) and "other"."""
    server.ecs.create_cluster(clusterName="jobs")
    register(server.ecs, "job", containerDefinitions=[container("main"), container("log", essential=False)])
    register(server.ecs, "other")
    return server.ecs


def test_run_task_records_a_provisioning_task(ecs):
    result = ecs.run_task(cluster="jobs", taskDefinition="job", count=2, startedBy="ci")
    assert result["failures"] == []
    tasks = result["tasks"]
    assert len(tasks) == 2
    assert len({t["taskArn"] for t in tasks}) == 2
    for task in tasks:
        assert TASK_ARN.fullmatch(task["taskArn"]), task["taskArn"]
        assert task["clusterArn"] == arn("cluster/jobs")
        assert task["taskDefinitionArn"] == arn("task-definition/job:1")
        assert task["lastStatus"] == "PROVISIONING"
        assert task["desiredStatus"] == "RUNNING"
        assert task["startedBy"] == "ci"
        assert task["group"] == "family:job"
        assert task["launchType"] == "EC2"
        assert isinstance(task["createdAt"], datetime)
        assert [c["name"] for c in task["containers"]] == ["main", "log"]
        assert {c["taskArn"] for c in task["containers"]} == {task["taskArn"]}

    described = ecs.describe_tasks(cluster="jobs", tasks=[t["taskArn"] for t in tasks])
    assert described["failures"] == []
    assert sorted(t["taskArn"] for t in described["tasks"]) == sorted(t["taskArn"] for t in tasks)
    assert {t["lastStatus"] for t in described["tasks"]} == {"PROVISIONING"}


def test_run_task_takes_any_started_by_ecs_takes(ecs):
    # ecs-deploy's `ecs run` always sends this one.
    task = ecs.run_task(cluster="jobs", taskDefinition="job", startedBy="ECS Deploy")["tasks"][0]
    assert task["startedBy"] == "ECS Deploy"
    assert ecs.list_tasks(cluster="jobs", startedBy="ECS Deploy")["taskArns"] == [task["taskArn"]]
    with api_error("InvalidParameterException", "startedBy", "128"):
        ecs.run_task(cluster="jobs", taskDefinition="job", startedBy="b" * 129)


def test_run_task_keeps_overrides_and_group(ecs):
    overrides = {"containerOverrides": [{"name": "main", "command": ["migrate"],
                                         "environment": [{"name": "STEP", "value": "1"}]}]}
    task = ecs.run_task(cluster="jobs", taskDefinition="job:1", overrides=overrides, group="migrations")["tasks"][0]
    assert task["group"] == "migrations"
    assert task["overrides"]["containerOverrides"] == overrides["containerOverrides"]
    described = ecs.describe_tasks(cluster="jobs", tasks=[task["taskArn"]])["tasks"][0]
    assert described["overrides"]["containerOverrides"] == overrides["containerOverrides"]


def test_run_task_count_limit(ecs):
    assert len(ecs.run_task(cluster="jobs", taskDefinition="job", count=10)["tasks"]) == 10
    with api_error("InvalidParameterException", "count"):
        ecs.run_task(cluster="jobs", taskDefinition="job", count=11)
    assert len(ecs.list_tasks(cluster="jobs")["taskArns"]) == 10


def test_run_task_with_unknown_cluster_or_task_definition(ecs):
    with api_error("ClusterNotFoundException"):
        ecs.run_task(cluster="ghost", taskDefinition="job")
    for reference in ("ghost", "job:2", arn("task-definition/ghost:1")):
        with api_error("ClientException", "TaskDefinition not found"):
            ecs.run_task(cluster="jobs", taskDefinition=reference)
    assert ecs.list_tasks(cluster="jobs")["taskArns"] == []


def test_run_task_refuses_inactive_task_definition(ecs):
    ecs.deregister_task_definition(taskDefinition="other:1")
    with api_error("ClientException"):
        ecs.run_task(cluster="jobs", taskDefinition="other:1")
    assert ecs.list_tasks(cluster="jobs")["taskArns"] == []


def test_stop_task(ecs):
    task_arn = ecs.run_task(cluster="jobs", taskDefinition="job")["tasks"][0]["taskArn"]
    stopped = ecs.stop_task(cluster="jobs", task=task_arn, reason="Deploy rolled back")["task"]
    assert stopped["taskArn"] == task_arn
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "Deploy rolled back"

    described = ecs.describe_tasks(cluster="jobs", tasks=[task_arn])["tasks"][0]
    assert (described["desiredStatus"], described["stopCode"], described["stoppedReason"]) == (
        "STOPPED", "UserInitiated", "Deploy rolled back")


def test_stop_task_by_id(ecs):
    task_arn = ecs.run_task(cluster="jobs", taskDefinition="job")["tasks"][0]["taskArn"]
    task_id = task_arn.rsplit("/", 1)[1]
    assert ecs.stop_task(cluster="jobs", task=task_id)["task"]["taskArn"] == task_arn
    assert ecs.describe_tasks(cluster="jobs", tasks=[task_id])["tasks"][0]["desiredStatus"] == "STOPPED"


def test_stop_unknown_task(ecs):
    with api_error("InvalidParameterException"):
        ecs.stop_task(cluster="jobs", task=arn("task/jobs/" + "0" * 32))


def test_describe_unknown_tasks_reports_missing(ecs):
    task_arn = ecs.run_task(cluster="jobs", taskDefinition="job")["tasks"][0]["taskArn"]
    ghost = arn("task/jobs/" + "f" * 32)
    result = ecs.describe_tasks(cluster="jobs", tasks=[task_arn, ghost])
    assert [t["taskArn"] for t in result["tasks"]] == [task_arn]
    assert result["failures"] == [{"arn": ghost, "reason": "MISSING"}]


def test_list_tasks_filters(ecs):
    ci = [t["taskArn"] for t in ecs.run_task(cluster="jobs", taskDefinition="job", count=2, startedBy="ci")["tasks"]]
    nightly = ecs.run_task(cluster="jobs", taskDefinition="other", startedBy="nightly")["tasks"][0]["taskArn"]

    def listed(**filters) -> list[str]:
        return sorted(ecs.list_tasks(cluster="jobs", **filters)["taskArns"])

    assert listed() == sorted(ci + [nightly])
    assert listed(family="job") == sorted(ci)
    assert listed(family="other") == [nightly]
    assert listed(startedBy="ci") == sorted(ci)
    assert listed(startedBy="nobody") == []

    ecs.stop_task(cluster="jobs", task=ci[0])
    # desiredStatus defaults to RUNNING, so stopped tasks drop out of the
    # default listing and only show up when asked for.
    assert listed() == sorted([ci[1], nightly])
    assert listed(desiredStatus="RUNNING") == sorted([ci[1], nightly])
    assert listed(desiredStatus="STOPPED") == [ci[0]]
    assert listed(family="job", desiredStatus="STOPPED") == [ci[0]]


def test_list_tasks_by_service_name(ecs):
    ecs.create_service(cluster="jobs", serviceName="worker", taskDefinition="job", desiredCount=2)
    standalone = ecs.run_task(cluster="jobs", taskDefinition="job")["tasks"][0]["taskArn"]
    # Whether the scheduler has created the service's tasks yet depends on
    # capacity; what must hold is that the filter returns only that service's.
    service_tasks = ecs.list_tasks(cluster="jobs", serviceName="worker")["taskArns"]
    assert standalone not in service_tasks
    if service_tasks:
        for task in ecs.describe_tasks(cluster="jobs", tasks=service_tasks)["tasks"]:
            assert task["group"] == "service:worker"
    with api_error("ServiceNotFoundException"):
        ecs.list_tasks(cluster="jobs", serviceName="ghost")


def test_list_tasks_on_unknown_cluster(ecs):
    with api_error("ClusterNotFoundException"):
        ecs.list_tasks(cluster="ghost")


def test_task_lifecycle_with_cli(server, ecs):
    tasks = server.aws_ecs("run-task", "--cluster", "jobs", "--task-definition", "job",
                           "--count", "2", "--started-by", "cli")["tasks"]
    arns = sorted(t["taskArn"] for t in tasks)
    assert all(TASK_ARN.fullmatch(a) for a in arns)
    assert sorted(server.aws_ecs("list-tasks", "--cluster", "jobs", "--started-by", "cli")["taskArns"]) == arns

    stopped = server.aws_ecs("stop-task", "--cluster", "jobs", "--task", arns[0], "--reason", "by hand")["task"]
    assert (stopped["desiredStatus"], stopped["stopCode"], stopped["stoppedReason"]) == (
        "STOPPED", "UserInitiated", "by hand")
    assert server.aws_ecs("list-tasks", "--cluster", "jobs", "--desired-status", "STOPPED")["taskArns"] == [arns[0]]

    described = server.aws_ecs("describe-tasks", "--cluster", "jobs", "--tasks", *arns)
    assert {t["taskArn"]: t["desiredStatus"] for t in described["tasks"]} == {arns[0]: "STOPPED", arns[1]: "RUNNING"}

    code, message = server.aws_ecs_error("run-task", "--cluster", "jobs", "--task-definition", "job", "--count", "11")
    assert code == "InvalidParameterException"
    assert "count" in message.lower()
