"""Application Auto Scaling for ECS services through the real `aws` CLI and boto3: scalable
targets, target tracking and step scaling policies, bad input refused in AWS's words, and a
scheduled action that changes a service's range and desired count at its time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from conftest import ACCOUNT, REGION, BerthServer, wait_for

RESOURCE = "service/default/web"
DIMENSION = "ecs:service:DesiredCount"
TARGET = ["--service-namespace", "ecs", "--resource-id", RESOURCE, "--scalable-dimension", DIMENSION]


def make_service(server: BerthServer, desired: int = 2) -> None:
    ecs = server.ecs
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 64}])
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=desired)


def service(server: BerthServer) -> dict:
    return server.ecs.describe_services(services=["web"])["services"][0]


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, error
    return error["Code"], error["Message"]


def test_targets_and_policies_through_the_cli(server: BerthServer):
    make_service(server)
    registered = server.aws("application-autoscaling", "register-scalable-target", *TARGET,
                            "--min-capacity", "1", "--max-capacity", "5")
    assert registered["ScalableTargetARN"].startswith(
        f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/")
    server.aws("application-autoscaling", "register-scalable-target", *TARGET, "--max-capacity", "6",
               "--suspended-state", "DynamicScalingInSuspended=true")
    targets = server.aws("application-autoscaling", "describe-scalable-targets",
                         "--service-namespace", "ecs")["ScalableTargets"]
    assert len(targets) == 1
    assert (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) == (1, 6)
    assert targets[0]["SuspendedState"]["DynamicScalingInSuspended"] is True

    tracking = {"TargetValue": 50.0, "ScaleOutCooldown": 30, "ScaleInCooldown": 120,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}
    put = server.aws("application-autoscaling", "put-scaling-policy", *TARGET, "--policy-name", "cpu",
                     "--policy-type", "TargetTrackingScaling",
                     "--target-tracking-scaling-policy-configuration", json.dumps(tracking))
    assert put["PolicyARN"].endswith(":resource/ecs/service/default/web:policyName/cpu")
    assert put.get("Alarms", []) == []
    step = {"AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "MetricAggregationType": "Average",
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 100.0, "ScalingAdjustment": 1},
                                {"MetricIntervalLowerBound": 100.0, "ScalingAdjustment": 2}]}
    server.aws("application-autoscaling", "put-scaling-policy", *TARGET, "--policy-name", "queue",
               "--policy-type", "StepScaling", "--step-scaling-policy-configuration", json.dumps(step))
    policies = server.aws("application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs",
                          "--resource-id", RESOURCE)["ScalingPolicies"]
    by_name = {p["PolicyName"]: p for p in policies}
    assert by_name["cpu"]["TargetTrackingScalingPolicyConfiguration"] == tracking
    assert by_name["queue"]["StepScalingPolicyConfiguration"] == step
    assert by_name["queue"]["PolicyType"] == "StepScaling"

    server.aws("application-autoscaling", "delete-scaling-policy", *TARGET, "--policy-name", "cpu")
    left = server.aws("application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs")
    assert [p["PolicyName"] for p in left["ScalingPolicies"]] == ["queue"]
    code, message = server.aws_error("application-autoscaling", "delete-scaling-policy", *TARGET, "--policy-name", "cpu")
    assert code == "ObjectNotFoundException" and "policy name: cpu" in message

    server.aws("application-autoscaling", "deregister-scalable-target", *TARGET)
    assert server.aws("application-autoscaling", "describe-scalable-targets",
                      "--service-namespace", "ecs")["ScalableTargets"] == []
    assert server.aws("application-autoscaling", "describe-scaling-policies",
                      "--service-namespace", "ecs")["ScalingPolicies"] == []


def test_bad_input_through_boto3(server: BerthServer):
    make_service(server)
    aas = server.client(service="application-autoscaling")
    ids = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
    assert error_of(aas.register_scalable_target, ServiceNamespace="ecs", ResourceId="service/default/nope",
                    ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2) == (
        "ValidationException", "ECS service doesn't exist: service/default/nope")
    code, message = error_of(aas.register_scalable_target, **ids, MinCapacity=4, MaxCapacity=2)
    assert code == "ValidationException" and "Minimum capacity cannot be greater than maximum capacity" in message
    code, message = error_of(aas.put_scaling_policy, **ids, PolicyName="cpu", PolicyType="TargetTrackingScaling",
                             TargetTrackingScalingPolicyConfiguration={"TargetValue": 50.0, "PredefinedMetricSpecification": {
                                 "PredefinedMetricType": "ECSServiceAverageCPUUtilization"}})
    assert code == "ObjectNotFoundException"
    assert message == ("No scalable target registered for service namespace: ecs, "
                       "resource ID: service/default/web, scalable dimension: ecs:service:DesiredCount")
    aas.register_scalable_target(**ids, MinCapacity=1, MaxCapacity=3)
    code, message = error_of(aas.put_scaling_policy, **ids, PolicyName="alb", PolicyType="TargetTrackingScaling",
                             TargetTrackingScalingPolicyConfiguration={"TargetValue": 100.0, "PredefinedMetricSpecification": {
                                 "PredefinedMetricType": "ALBRequestCountPerTarget",
                                 "ResourceLabel": "app/web/0123456789abcdef/targetgroup/web/fedcba9876543210"}})
    assert code == "ValidationException" and "no load balancer" in message
    code, message = error_of(aas.put_scaling_policy, **ids, PolicyName="steps", PolicyType="StepScaling",
                             StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
                                 {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 5.0, "ScalingAdjustment": 1},
                                 {"MetricIntervalLowerBound": 3.0, "ScalingAdjustment": 2}]})
    assert code == "ValidationException" and "overlap" in message
    code, message = error_of(aas.put_scheduled_action, **ids, ScheduledActionName="s", Schedule="cron(0 12 * * * *)")
    assert code == "ValidationException" and "?" in message
    code, _ = error_of(aas.describe_scalable_targets, ServiceNamespace="ecs", NextToken="not-a-token")
    assert code == "InvalidNextTokenException"


def test_a_scheduled_action_changes_the_range_and_the_count_at_its_time(server: BerthServer):
    make_service(server, desired=1)
    aas = server.client(service="application-autoscaling")
    ids = {"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION}
    aas.register_scalable_target(**ids, MinCapacity=1, MaxCapacity=3)
    at = (datetime.now(timezone.utc) + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S")
    server.aws("application-autoscaling", "put-scheduled-action", *TARGET, "--scheduled-action-name", "surge",
               "--schedule", f"at({at})", "--timezone", "Etc/UTC",
               "--scalable-target-action", "MinCapacity=3,MaxCapacity=6")
    described = aas.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=RESOURCE)["ScheduledActions"]
    assert [(a["ScheduledActionName"], a["Schedule"], a["ScalableTargetAction"]) for a in described] == [
        ("surge", f"at({at})", {"MinCapacity": 3, "MaxCapacity": 6})]

    wait_for(lambda: service(server)["desiredCount"], "the scheduled action to raise the desired count",
             done=lambda count: count == 3)
    target = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 6)
    activities = server.aws("application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs",
                            "--resource-id", RESOURCE)["ScalingActivities"]
    assert activities[0]["Cause"] == "scheduled action name surge was triggered"
    assert activities[0]["Description"] == "Setting desired count to 3."
    assert activities[0]["StatusCode"] == "Successful"
    assert activities[0]["StatusMessage"] == "Successfully set desired count to 3. Change successfully fulfilled by ecs."
    events = [e["message"] for e in service(server)["events"]]
    assert any("desired count set to 3 by Application Auto Scaling: scheduled action name surge was triggered" in e
               for e in events), events

    aas.delete_scheduled_action(**ids, ScheduledActionName="surge")
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []
