"""Scheduled tasks through EventBridge with boto3 and the `aws` CLI: rules with a cron
schedule whose targets run a task on a host-process agent at each minute, with `startedBy`
naming the rule; a disabled rule that never fires; a failed firing written to the rule's log
stream; a rule with targets that cannot be deleted; a firing missed while the server was
down that runs once when it is back; and ecs-deploy's `ecs cron` moving a rule onto a new
task definition revision.

A schedule fires at most once a minute, so the firing test waits for minute boundaries (two
while the server is down, then the next one; two to three minutes): nothing in the server is
sped up for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ACCOUNT, REGION, BerthServer, wait_for

CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
EVERY_MINUTE = "cron(* * * * ? *)"
FIRINGS_GROUP = "/berth/events/rules"


def next_minute(after: float) -> float:
    return (int(after) // 60 + 1) * 60.0


def wait_until(moment: float) -> None:
    """Sleeps until a wall-clock moment: a schedule's minute can only be waited for."""
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 1.0))


def started_by(server: BerthServer, rule: str) -> list[dict]:
    arns = server.ecs.list_tasks(startedBy=f"events-rule/{rule}", desiredStatus="RUNNING")["taskArns"]
    arns += server.ecs.list_tasks(startedBy=f"events-rule/{rule}", desiredStatus="STOPPED")["taskArns"]
    if not arns:
        return []
    return server.ecs.describe_tasks(tasks=arns)["tasks"]


def firing_log(server: BerthServer, rule: str) -> list[str]:
    result = server.run_aws_service("logs", "filter-log-events", "--log-group-name", FIRINGS_GROUP,
                            "--log-stream-names", rule)
    if result.returncode != 0:
        return []
    return [event["message"] for event in json.loads(result.stdout)["events"]]


def job_definition(server: BerthServer, family: str = "report") -> str:
    return server.ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "app", "image": "host", "essential": True, "memory": 32,
        "entryPoint": ["/bin/sh", "-c"], "command": ["echo default run"],
    }])["taskDefinition"]["taskDefinitionArn"]


def ecs_target(definition: str, **extra) -> dict:
    return {"Id": "job", "Arn": CLUSTER_ARN, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ecsEventsRole",
            "EcsParameters": {"TaskDefinitionArn": definition, "TaskCount": 1, "LaunchType": "EC2"}, **extra}


@pytest.mark.parametrize("fleet", ["process"], indirect=True)
def test_rules_fire_each_minute_and_a_missed_firing_runs_once(fleet):
    server, agent = fleet
    events = server.client(service="events")
    wait_for(lambda: server.ecs.list_container_instances()["containerInstanceArns"], "the agent to join")
    definition = job_definition(server)
    overrides = {"containerOverrides": [{"name": "app", "command": ["echo scheduled report"]}]}

    put = events.put_rule(Name="reports", ScheduleExpression=EVERY_MINUTE, Description="every minute")
    assert put["RuleArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/reports"
    events.put_targets(Rule="reports", Targets=[ecs_target(definition, Input=json.dumps(overrides))])
    server.aws("events", "put-rule", "--name", "paused", "--schedule-expression", EVERY_MINUTE)
    server.aws("events", "put-targets", "--rule", "paused", "--targets", json.dumps([ecs_target(definition)]))
    server.aws("events", "disable-rule", "--name", "paused")
    events.put_rule(Name="broken", ScheduleExpression=EVERY_MINUTE)
    events.put_targets(Rule="broken", Targets=[ecs_target(f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/gone:1")])

    described = server.aws("events", "describe-rule", "--name", "paused")
    assert (described["State"], described["ScheduleExpression"], described["EventBusName"]) == \
        ("DISABLED", EVERY_MINUTE, "default")
    names = [rule["Name"] for rule in server.aws("events", "list-rules")["Rules"]]
    assert names == ["broken", "paused", "reports"]
    refused = server.run_aws_service("events", "delete-rule", "--name", "reports")
    assert refused.returncode != 0 and "ValidationException" in refused.stderr, refused.stderr
    assert "Rule can't be deleted since it has targets." in refused.stderr

    # Down across two minute boundaries: when it is back, the overdue firing runs once.
    server.kill()
    down_since = time.time()
    wait_until(next_minute(next_minute(down_since)) + 2)
    server.start()
    back_at = time.time()
    wait_for(lambda: started_by(server, "reports"), "the missed firing to run on recovery")
    next_boundary = next_minute(back_at)

    # And then at each minute, with the target's Input as the task's overrides.
    wait_for(lambda: len(started_by(server, "reports")) >= 2, "the next minute's firing", timeout=90)
    # Read once the next minute's has run, so that a second recovered firing, however late,
    # would be counted.
    recovered = [t for t in started_by(server, "reports") if t["createdAt"].timestamp() < next_boundary]
    assert len(recovered) == 1, f"the missed firings ran {len(recovered)} times"
    for task in started_by(server, "reports"):
        assert task["startedBy"] == "events-rule/reports"
        assert task["taskDefinitionArn"] == definition
        assert task["overrides"]["containerOverrides"][0]["command"] == ["echo scheduled report"]
    ran = wait_for(lambda: [t for t in started_by(server, "reports") if t["lastStatus"] == "STOPPED"],
                   "a scheduled task to run to its end", timeout=60)
    assert ran[0]["containers"][0].get("exitCode") == 0, ran[0]

    assert started_by(server, "paused") == []
    failures = wait_for(lambda: firing_log(server, "broken"), "the failed firing in its log stream")
    assert failures[0].startswith("FAILED target job: RunTask refused: ClientException: TaskDefinition not found."), \
        failures
    assert any(line.startswith("target job: started arn:aws:ecs:") for line in firing_log(server, "reports"))

    # Its targets removed, a rule can be deleted. (A rule disabled after it fired stops
    # firing: the handler tests show it without waiting for another minute.)
    events.remove_targets(Rule="reports", Ids=["job"])
    events.delete_rule(Name="reports")
    assert "reports" not in [rule["Name"] for rule in events.list_rules()["Rules"]]


def test_bad_rules_are_refused_in_aws_words(server: BerthServer):
    events = server.client(service="events")
    for expression in ["cron(0 3 * * * *)", "rate(5 minute)", "at(2030-01-01T00:00:00)", "every day"]:
        code, message = server.aws_error("events", "put-rule", "--name", "bad", "--schedule-expression", expression)
        assert code == "ValidationException", (expression, code)
        assert message.startswith("Parameter ScheduleExpression is not valid."), message
    code, message = server.aws_error("events", "describe-rule", "--name", "nothing")
    assert (code, message) == ("ResourceNotFoundException", "Rule nothing does not exist on EventBus default.")
    code, _ = server.aws_error("events", "put-targets", "--rule", "nothing", "--targets",
                               json.dumps([ecs_target("report:1")]))
    assert code == "ResourceNotFoundException"
    events.put_rule(Name="r", ScheduleExpression="rate(1 day)")
    code, message = server.aws_error("events", "put-targets", "--rule", "r", "--targets", json.dumps(
        [{"Id": "f", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"}]))
    assert code == "ValidationException" and "ECS" in message, message

    arn = events.describe_rule(Name="r")["Arn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "data"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]


def test_ecs_deploy_cron_moves_a_rule_onto_a_new_revision(server: BerthServer):
    events = server.client(service="events")
    first = job_definition(server, "nightly")
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(Rule="nightly", Targets=[ecs_target(first)])

    # ecs-deploy's command is installed beside the test's Python.
    ecs_deploy = Path(sys.executable).parent / "ecs"
    result = subprocess.run([str(ecs_deploy), "cron", "default", "nightly", "nightly", "--tag", "v2",
                             "--no-deregister"], env=server.env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Successfully updated scheduled task nightly" in result.stdout, result.stdout
    target = events.list_targets_by_rule(Rule="nightly")["Targets"][0]
    assert target["EcsParameters"]["TaskDefinitionArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/nightly:2"
    assert target["Arn"] == CLUSTER_ARN
    assert server.ecs.describe_task_definition(taskDefinition="nightly:2")["taskDefinition"][
        "containerDefinitions"][0]["image"] == "host:v2"
