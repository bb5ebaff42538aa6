"""CloudWatch alarms driving Application Auto Scaling, through the real `aws` CLI and boto3,
with tasks run as host processes: a queue's depth put with PutMetricData crosses an alarm's
threshold and a step policy adds two tasks to an indexer; the alarm clears when the queue
drains; a target tracking policy on a customized metric scales out within seconds and never
above its maximum; the alarm's history shows each transition; bad input is refused."""

from __future__ import annotations

import json
import time

import botocore.exceptions
import pytest

from conftest import ACCOUNT, REGION, BerthServer, wait_for

RESOURCE = "service/default/indexer"
DIMENSION = "ecs:service:DesiredCount"
TARGET = ["--service-namespace", "ecs", "--resource-id", RESOURCE, "--scalable-dimension", DIMENSION]
METRIC = ["--namespace", "Indexer", "--metric-name", "QueueDepth"]
# put-metric-data's shorthand for dimensions is its own (`Name=Value`); put-metric-alarm's is
# the usual one.
PUT_DIMENSIONS = ["--dimensions", "Queue=index"]
ALARM_DIMENSIONS = ["--dimensions", "Name=Queue,Value=index"]


def make_indexer(server: BerthServer, runtime: str) -> None:
    ecs = server.ecs
    image = "host" if runtime == "process" else "berth-busybox:latest"
    ecs.register_task_definition(
        family="indexer", networkMode="host" if runtime == "process" else "bridge",
        containerDefinitions=[{"name": "app", "image": image, "essential": True, "memory": 32,
                               "entryPoint": ["/bin/sh", "-c"], "command": ["sleep 3600"]}])
    ecs.create_service(serviceName="indexer", taskDefinition="indexer", desiredCount=1)


def indexer(server: BerthServer) -> dict:
    return server.ecs.describe_services(services=["indexer"])["services"][0]


def running_tasks(server: BerthServer) -> int:
    arns = server.ecs.list_tasks(serviceName="indexer", desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return 0
    tasks = server.ecs.describe_tasks(tasks=arns)["tasks"]
    return sum(1 for t in tasks if t["lastStatus"] == "RUNNING")


def alarm_state(server: BerthServer, name: str) -> str:
    alarms = server.aws("cloudwatch", "describe-alarms", "--alarm-names", name)["MetricAlarms"]
    return alarms[0]["StateValue"]


@pytest.mark.parametrize("fleet", ["process"], indirect=True)
def test_a_queue_past_its_threshold_adds_two_indexer_tasks(fleet):
    server, agent = fleet
    make_indexer(server, agent.runtime)
    wait_for(lambda: running_tasks(server), "the first indexer task to run", lambda n: n == 1, timeout=60)
    server.aws("application-autoscaling", "register-scalable-target", *TARGET,
               "--min-capacity", "1", "--max-capacity", "6")
    step = {"AdjustmentType": "ChangeInCapacity", "Cooldown": 300,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 2}]}
    policy = server.aws("application-autoscaling", "put-scaling-policy", *TARGET, "--policy-name", "backlog",
                        "--policy-type", "StepScaling",
                        "--step-scaling-policy-configuration", json.dumps(step))["PolicyARN"]
    server.aws("cloudwatch", "put-metric-alarm", "--alarm-name", "queue-high", *METRIC, *ALARM_DIMENSIONS,
               "--statistic", "Maximum", "--period", "10", "--evaluation-periods", "1",
               "--threshold", "100", "--comparison-operator", "GreaterThanOrEqualToThreshold",
               "--treat-missing-data", "notBreaching", "--alarm-actions", policy)
    described = server.aws("application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs")
    assert described["ScalingPolicies"][0]["Alarms"] == [
        {"AlarmName": "queue-high", "AlarmARN": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:queue-high"}]

    def put_depth(depth: int):
        server.aws("cloudwatch", "put-metric-data", *METRIC, *PUT_DIMENSIONS, "--value", str(depth), "--storage-resolution", "1")

    def alarm_after_putting(depth: int) -> str:
        put_depth(depth)
        return alarm_state(server, "queue-high")

    wait_for(lambda: alarm_after_putting(250), "the alarm to fire", lambda s: s == "ALARM", timeout=60)
    wait_for(lambda: indexer(server)["desiredCount"], "two more tasks wanted", lambda n: n == 3, timeout=30)
    wait_for(lambda: running_tasks(server), "three indexer tasks running", lambda n: n == 3, timeout=60)
    events = [e["message"] for e in indexer(server)["events"]]
    assert any("desired count set to 3 by Application Auto Scaling: monitor alarm queue-high in state ALARM "
               "triggered policy backlog" in e for e in events), events

    wait_for(lambda: alarm_after_putting(3), "the alarm to clear", lambda s: s == "OK", timeout=60)
    # The policy's cooldown and the alarm's OK state both hold the count.
    assert indexer(server)["desiredCount"] == 3

    history = server.aws("cloudwatch", "describe-alarm-history", "--alarm-name", "queue-high",
                         "--history-item-type", "StateUpdate", "--scan-by", "TimestampAscending")
    summaries = [item["HistorySummary"] for item in history["AlarmHistoryItems"]]
    assert summaries[-2:] == ["Alarm updated from OK to ALARM", "Alarm updated from ALARM to OK"] or \
        summaries[-2:] == ["Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"], summaries
    actions = server.aws("cloudwatch", "describe-alarm-history", "--alarm-name", "queue-high",
                         "--history-item-type", "Action")["AlarmHistoryItems"]
    assert actions and actions[-1]["HistorySummary"] == f"Successfully executed action {policy}"
    activities = server.aws("application-autoscaling", "describe-scaling-activities",
                            "--service-namespace", "ecs")["ScalingActivities"]
    assert activities[0]["StatusCode"] == "Successful"
    assert activities[0]["Cause"].startswith("monitor alarm queue-high in state ALARM triggered policy backlog")


def test_target_tracking_on_a_custom_metric_scales_out_within_the_maximum(server: BerthServer):
    make_indexer(server, "process")
    scaling = server.client(service="application-autoscaling")
    cloudwatch = server.client(service="cloudwatch")
    scaling.register_scalable_target(ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIMENSION,
                                     MinCapacity=1, MaxCapacity=4)
    scaling.put_scaling_policy(
        ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIMENSION, PolicyName="backlog-per-task",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 10.0,
            "CustomizedMetricSpecification": {"Namespace": "Indexer", "MetricName": "Backlog",
                                              "Dimensions": [{"Name": "Queue", "Value": "index"}],
                                              "Statistic": "Average"}})
    seen = []

    def desired_after_putting() -> int:
        cloudwatch.put_metric_data(Namespace="Indexer", MetricData=[{
            "MetricName": "Backlog", "Dimensions": [{"Name": "Queue", "Value": "index"}],
            "Value": 50.0, "StorageResolution": 1}])
        seen.append(indexer(server)["desiredCount"])
        return seen[-1]

    # 1 task × 50 / 10 wants 5: the maximum, 4, is as far as it goes.
    wait_for(desired_after_putting, "the service to scale out", lambda n: n == 4, timeout=60)
    # Still 4 after the next evaluations: two 5-second periods more, the metric still high.
    until = time.monotonic() + 11
    while time.monotonic() < until:
        desired_after_putting()
        time.sleep(0.5)
    assert max(seen) == 4, seen
    activities = scaling.describe_scaling_activities(ServiceNamespace="ecs")["ScalingActivities"]
    assert activities[0]["Cause"].startswith(
        "monitor alarm TargetTracking-service/default/indexer-AlarmHigh-"), activities[0]


def test_bad_alarms_are_refused_with_cloudwatch_errors(server: BerthServer):
    code, message = server.aws_error("cloudwatch", "put-metric-alarm", "--alarm-name", "band", *METRIC,
                                     "--statistic", "Average", "--period", "60", "--evaluation-periods", "1",
                                     "--threshold", "1", "--comparison-operator", "GreaterThanUpperThreshold")
    assert code == "InvalidParameterValue" and "anomaly detection bands are not supported" in message
    cloudwatch = server.client(service="cloudwatch")
    for changes, want in [
        ({"Period": 15}, "InvalidParameterValue"),
        ({"TreatMissingData": "sometimes"}, "InvalidParameterValue"),
        ({"DatapointsToAlarm": 2}, "InvalidParameterValue"),
        ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
    ]:
        request = {"AlarmName": "bad", "Namespace": "Indexer", "MetricName": "QueueDepth", "Statistic": "Average",
                   "Period": 60, "EvaluationPeriods": 1, "Threshold": 1.0,
                   "ComparisonOperator": "GreaterThanThreshold", **changes}
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            cloudwatch.put_metric_alarm(**request)
        assert caught.value.response["Error"]["Code"] == want, (changes, caught.value.response["Error"])
    code, message = server.aws_error("cloudwatch", "delete-alarms", "--alarm-names", "nothing-here")
    assert (code, message) == ("ResourceNotFound", "The following alarms do not exist: nothing-here")
    code, _ = server.aws_error("cloudwatch", "set-alarm-state", "--alarm-name", "nothing-here",
                               "--state-value", "OK", "--state-reason", "test")
    assert code == "ResourceNotFound"
