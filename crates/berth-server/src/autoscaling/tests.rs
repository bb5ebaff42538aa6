//! Handler tests over the in-memory store, called as the front calls them, with the
//! controller's scheduled firing and one evaluation of policies driven by hand.

use super::scaling::{evaluate, Reading};
use super::stored::StoredPolicy;
use crate::control::metric_scaling;
use crate::control::schedules::Firings;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_scaling::target::Evaluation;
use serde_json::{json, Value};

const T0: f64 = 1_780_000_000.0;
const WEB: &str = "service/default/web";
const TARGET: &str = "ecs|service/default/web|ecs:service:DesiredCount";

struct Api {
    client: LocalClient,
}

impl Api {
    fn new() -> Self {
        let api = Self {
            client: LocalClient::in_memory(T0),
        };
        api.ecs("RegisterTaskDefinition", json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]}));
        api.ecs(
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
        );
        api
    }

    fn ecs(&self, action: &str, body: Value) -> Value {
        self.client.ecs_ok(action, &body, T0)
    }

    fn call_at(&self, action: &str, body: Value, now: f64) -> Result<Value, AwsError> {
        self.client.json_at(
            "application-autoscaling",
            action,
            body.to_string().as_bytes(),
            now,
        )
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.call_at(action, body.clone(), T0)
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn refused(&self, action: &str, body: Value) -> AwsError {
        self.call_at(action, body.clone(), T0)
            .err()
            .unwrap_or_else(|| panic!("{action} {body} was answered"))
    }

    fn desired(&self) -> i64 {
        self.ecs("DescribeServices", json!({"services": ["web"]}))["services"][0]["desiredCount"]
            .as_i64()
            .unwrap()
    }

    fn events(&self) -> Vec<String> {
        self.ecs("DescribeServices", json!({"services": ["web"]}))["services"][0]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    fn register(&self, min: i64, max: i64) -> Value {
        self.ok("RegisterScalableTarget", json!({
            "ServiceNamespace": "ecs", "ResourceId": WEB, "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": min, "MaxCapacity": max,
        }))
    }

    fn activities(&self) -> Vec<Value> {
        self.ok(
            "DescribeScalingActivities",
            json!({"ServiceNamespace": "ecs", "ResourceId": WEB}),
        )["ScalingActivities"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn fire(&self, firings: &mut Firings, now: f64) -> usize {
        self.client
            .context()
            .as_system(now, |call| firings.step(call))
            .unwrap()
    }

    fn evaluate(&self, now: f64, reading: &dyn Fn(&StoredPolicy) -> Reading) -> bool {
        self.client
            .context()
            .as_system(now, |call| {
                evaluate(call, TARGET, &Evaluation::BERTH, reading)
            })
            .unwrap()
    }
}

fn target(extra: Value) -> Value {
    let mut body = json!({"ServiceNamespace": "ecs", "ResourceId": WEB, "ScalableDimension": "ecs:service:DesiredCount"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[test]
fn targets_register_update_in_place_describe_and_deregister() {
    let api = Api::new();
    let arn = api.register(1, 4)["ScalableTargetARN"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        arn.starts_with("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/"),
        "{arn}"
    );
    let again = api.ok(
        "RegisterScalableTarget",
        target(json!({"MaxCapacity": 6, "SuspendedState": {"DynamicScalingInSuspended": true}})),
    );
    assert_eq!(again["ScalableTargetARN"], arn.as_str());
    let described = api.ok(
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "ecs"}),
    );
    let t = &described["ScalableTargets"][0];
    assert_eq!(
        (t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()),
        (Some(1), Some(6))
    );
    assert_eq!(
        t["SuspendedState"],
        json!({"DynamicScalingInSuspended": true, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": false})
    );
    assert!(t["RoleARN"]
        .as_str()
        .unwrap()
        .contains("AWSServiceRoleForApplicationAutoScaling_ECSService"));
    let other = api.ok(
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "ecs", "ResourceIds": ["service/default/other"]}),
    );
    assert_eq!(other["ScalableTargets"], json!([]));
    api.ok("DeregisterScalableTarget", target(json!({})));
    assert_eq!(
        api.ok(
            "DescribeScalableTargets",
            json!({"ServiceNamespace": "ecs"})
        )["ScalableTargets"],
        json!([])
    );
    let gone = api.refused("DeregisterScalableTarget", target(json!({})));
    assert_eq!(gone.code, "ObjectNotFoundException");
}

#[test]
fn a_new_range_moves_the_count_into_it_with_an_activity() {
    let api = Api::new();
    api.register(3, 5);
    assert_eq!(api.desired(), 3);
    let activities = api.activities();
    assert_eq!(activities.len(), 1);
    assert_eq!(activities[0]["Description"], "Setting desired count to 3.");
    assert_eq!(activities[0]["Cause"], "minimum capacity was set to 3");
    assert_eq!(activities[0]["StatusCode"], "Successful");
    assert_eq!(
        activities[0]["StatusMessage"],
        "Successfully set desired count to 3. Change successfully fulfilled by ecs."
    );
    assert!(
        api.events()[0].contains(
            "desired count set to 3 by Application Auto Scaling: minimum capacity was set to 3"
        ),
        "{:?}",
        api.events()
    );
}

#[test]
fn bad_input_is_refused_in_awss_words() {
    let api = Api::new();
    let cases = [
        ("RegisterScalableTarget", json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/nope", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}), "ValidationException", "ECS service doesn't exist: service/default/nope"),
        ("RegisterScalableTarget", target(json!({"MinCapacity": 3, "MaxCapacity": 2})), "ValidationException", "Minimum capacity cannot be greater than maximum capacity"),
        ("RegisterScalableTarget", target(json!({"MinCapacity": 1})), "ValidationException", "MinCapacity and MaxCapacity are required"),
        ("RegisterScalableTarget", json!({"ServiceNamespace": "ecs", "ResourceId": "web", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}), "ValidationException", "service/<cluster-name>/<service-name>"),
        ("RegisterScalableTarget", json!({"ServiceNamespace": "ecs", "ResourceId": WEB, "ScalableDimension": "dynamodb:table:ReadCapacityUnits", "MinCapacity": 1, "MaxCapacity": 2}), "ValidationException", "Unsupported service namespace, resource type or scalable dimension"),
        ("RegisterScalableTarget", json!({"ServiceNamespace": "dynamodb", "ResourceId": WEB, "ScalableDimension": "ecs:service:DesiredCount"}), "ValidationException", "ECS services only"),
        ("PutScalingPolicy", target(json!({"PolicyName": "cpu", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}})), "ObjectNotFoundException", "No scalable target registered for service namespace: ecs, resource ID: service/default/web, scalable dimension: ecs:service:DesiredCount"),
        ("DeleteScalingPolicy", target(json!({"PolicyName": "cpu"})), "ObjectNotFoundException", "No scaling policy found for service namespace: ecs"),
        ("DeleteScheduledAction", target(json!({"ScheduledActionName": "night"})), "ObjectNotFoundException", "No scheduled action found for service namespace: ecs"),
        ("DescribeScalableTargets", json!({"ServiceNamespace": "ecs", "NextToken": "bogus"}), "InvalidNextTokenException", "NextToken"),
        ("DescribeScalableTargets", json!({"ServiceNamespace": "ecs", "MaxResults": 0}), "ValidationException", "MaxResults"),
    ];
    for (action, body, code, message) in cases {
        let error = api.refused(action, body.clone());
        assert_eq!(error.code, code, "{action} {body}: {}", error.message);
        assert!(
            error.message.contains(message),
            "{action} {body}: {}",
            error.message
        );
    }
    api.register(1, 4);
    let policy = |config: Value| {
        target(json!({"PolicyName": "p"}))
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .chain(config.as_object().unwrap().clone())
            .collect::<serde_json::Map<_, _>>()
    };
    let bad_policies = [
        (
            json!({"PolicyType": "TargetTrackingScaling"}),
            "needs a TargetTrackingScalingPolicyConfiguration",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50, "PredefinedMetricSpecification": {"PredefinedMetricType": "DynamoDBReadCapacityUtilization"}}}),
            "Unsupported metric type DynamoDBReadCapacityUtilization",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
            "TargetValue must be a number above 0",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100, "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget"}}}),
            "needs a ResourceLabel",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100, "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "app/web/abc/targetgroup/web/def"}}}),
            "no load balancer",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 100, "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": "web"}}}),
            "is not app/",
        ),
        (
            json!({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10, "CustomizedMetricSpecification": {"MetricName": "QueueDepth"}}}),
            "needs MetricName, Namespace and Statistic",
        ),
        (
            json!({"PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2}]}}),
            "gap",
        ),
        (
            json!({"StepScalingPolicyConfiguration": {"StepAdjustments": [{"ScalingAdjustment": 1}]}}),
            "needs an AdjustmentType",
        ),
        (
            json!({"StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "MinAdjustmentMagnitude": 2, "StepAdjustments": [{"ScalingAdjustment": 1}]}}),
            "PercentChangeInCapacity adjustment type only",
        ),
        (
            json!({"PolicyType": "PredictiveScaling"}),
            "does not forecast",
        ),
    ];
    for (config, message) in bad_policies {
        let error = api.refused("PutScalingPolicy", Value::Object(policy(config.clone())));
        assert_eq!(
            error.code, "ValidationException",
            "{config}: {}",
            error.message
        );
        assert!(
            error.message.contains(message),
            "{config}: {}",
            error.message
        );
    }
    for (schedule, message) in [
        ("cron(0 12 * * * *)", "must be ?"),
        ("rate(1 minutes)", "singular"),
        ("tomorrow", "is not at("),
    ] {
        let error = api.refused(
            "PutScheduledAction",
            target(json!({"ScheduledActionName": "s", "Schedule": schedule})),
        );
        assert_eq!(error.code, "ValidationException");
        assert!(
            error.message.contains(message),
            "{schedule}: {}",
            error.message
        );
    }
    let error = api.refused("PutScheduledAction", target(json!({"ScheduledActionName": "s", "Schedule": "rate(5 minutes)", "Timezone": "Mars/Olympus"})));
    assert!(error.message.contains("IANA"), "{}", error.message);
}

#[test]
fn policies_of_both_kinds_are_put_described_updated_and_deleted() {
    let api = Api::new();
    api.register(1, 10);
    let tracking = json!({"TargetValue": 50.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}, "ScaleOutCooldown": 30, "DisableScaleIn": false});
    let put = api.ok("PutScalingPolicy", target(json!({"PolicyName": "cpu", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": tracking})));
    let arn = put["PolicyARN"].as_str().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:")
            && arn.ends_with(":resource/ecs/service/default/web:policyName/cpu"),
        "{arn}"
    );
    assert_eq!(put["Alarms"], json!([]));
    let step = json!({"AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "MetricAggregationType": "Maximum", "StepAdjustments": [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 100.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 100.0, "ScalingAdjustment": 2}]});
    api.ok(
        "PutScalingPolicy",
        target(json!({"PolicyName": "queue", "StepScalingPolicyConfiguration": step})),
    );
    let custom = json!({"TargetValue": 10.0, "CustomizedMetricSpecification": {"MetricName": "QueueDepth", "Namespace": "Indexer", "Statistic": "Average", "Dimensions": [{"Name": "Queue", "Value": "jobs"}]}});
    api.ok("PutScalingPolicy", target(json!({"PolicyName": "backlog", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": custom})));
    let described = api.ok(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs", "ResourceId": WEB}),
    );
    let policies = described["ScalingPolicies"].as_array().unwrap();
    assert_eq!(policies.len(), 3);
    let by_name = |name: &str| {
        policies
            .iter()
            .find(|p| p["PolicyName"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_name("cpu")["TargetTrackingScalingPolicyConfiguration"],
        tracking
    );
    assert_eq!(by_name("queue")["StepScalingPolicyConfiguration"], step);
    assert_eq!(by_name("queue")["PolicyType"], "StepScaling");
    assert_eq!(
        by_name("backlog")["TargetTrackingScalingPolicyConfiguration"],
        custom
    );
    assert_eq!(by_name("cpu")["Alarms"], json!([]));
    // Put again: updated in place, the same ARN.
    let again = api.ok("PutScalingPolicy", target(json!({"PolicyName": "cpu", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"}}})));
    assert_eq!(again["PolicyARN"], arn.as_str());
    let only = api.ok(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs", "PolicyNames": ["cpu"]}),
    );
    assert_eq!(
        only["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"],
        70.0
    );
    api.ok("DeleteScalingPolicy", target(json!({"PolicyName": "cpu"})));
    let left = api.ok(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs"}),
    );
    assert_eq!(left["ScalingPolicies"].as_array().unwrap().len(), 2);
    // Deregistering the target takes its policies with it.
    api.ok("DeregisterScalableTarget", target(json!({})));
    assert_eq!(
        api.ok(
            "DescribeScalingPolicies",
            json!({"ServiceNamespace": "ecs"})
        )["ScalingPolicies"],
        json!([])
    );
}

#[test]
fn a_scheduled_action_fires_when_due_and_once_after_downtime() {
    let api = Api::new();
    api.register(1, 4);
    api.ok("PutScheduledAction", target(json!({
        "ScheduledActionName": "surge", "Schedule": "at(2026-05-28T20:36:40)", "ScalableTargetAction": {"MinCapacity": 5, "MaxCapacity": 8},
    })));
    api.ok("PutScheduledAction", target(json!({
        "ScheduledActionName": "nightly", "Schedule": "cron(0 2 * * ? *)", "Timezone": "Europe/Paris", "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 3},
    })));
    let described = api.ok(
        "DescribeScheduledActions",
        json!({"ServiceNamespace": "ecs", "ResourceId": WEB}),
    );
    let actions = described["ScheduledActions"].as_array().unwrap();
    assert_eq!(actions.len(), 2);
    let nightly = actions
        .iter()
        .find(|a| a["ScheduledActionName"] == "nightly")
        .unwrap();
    assert_eq!(nightly["Timezone"], "Europe/Paris");
    assert_eq!(
        nightly["ScalableTargetAction"],
        json!({"MinCapacity": 1, "MaxCapacity": 3})
    );
    assert!(nightly["ScheduledActionARN"]
        .as_str()
        .unwrap()
        .ends_with(":resource/ecs/service/default/web:scheduledActionName/nightly"));

    let at = T0 + 600.0; // 2026-05-28T20:36:40Z, before the night
    let mut firings = Firings::default();
    assert_eq!(api.fire(&mut firings, at - 5.0), 0);
    assert_eq!(api.desired(), 2);
    assert_eq!(api.fire(&mut firings, at + 1.0), 1);
    assert_eq!(api.desired(), 5);
    let t = &api.ok(
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "ecs"}),
    )["ScalableTargets"][0];
    assert_eq!(
        (t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()),
        (Some(5), Some(8))
    );
    let activity = &api.activities()[0];
    assert_eq!(
        activity["Cause"],
        "scheduled action name surge was triggered"
    );
    assert_eq!(activity["Description"], "Setting desired count to 5.");
    assert!(api.events()[0].contains("scheduled action name surge was triggered"));
    // It does not fire twice.
    assert_eq!(api.fire(&mut firings, at + 2.0), 0);

    // Down for three nights: a new controller fires the overdue nightly action once.
    let mut recovered = Firings::default();
    let three_days_later = at + 3.0 * 86_400.0;
    assert_eq!(api.fire(&mut recovered, three_days_later), 1);
    assert_eq!(api.desired(), 3);
    assert_eq!(api.fire(&mut recovered, three_days_later + 1.0), 0);
    let causes: Vec<Value> = api
        .activities()
        .iter()
        .map(|a| a["Cause"].clone())
        .collect();
    assert_eq!(
        causes,
        [
            json!("scheduled action name nightly was triggered"),
            json!("scheduled action name surge was triggered")
        ]
    );

    api.ok(
        "DeleteScheduledAction",
        target(json!({"ScheduledActionName": "nightly"})),
    );
    assert_eq!(
        api.fire(&mut Firings::default(), three_days_later + 86_400.0),
        0
    );
}

#[test]
fn suspended_scheduled_scaling_does_not_fire() {
    let api = Api::new();
    api.ok("RegisterScalableTarget", target(json!({"MinCapacity": 1, "MaxCapacity": 4, "SuspendedState": {"ScheduledScalingSuspended": true}})));
    api.ok("PutScheduledAction", target(json!({"ScheduledActionName": "up", "Schedule": "rate(1 minute)", "ScalableTargetAction": {"MinCapacity": 3}})));
    let mut firings = Firings::default();
    assert_eq!(api.fire(&mut firings, T0 + 61.0), 0);
    assert_eq!(api.desired(), 2);
    // Not lost, only held: once the suspension is lifted, the next firing acts.
    api.ok(
        "RegisterScalableTarget",
        target(json!({"SuspendedState": {"ScheduledScalingSuspended": false}})),
    );
    assert_eq!(api.fire(&mut firings, T0 + 121.0), 1);
    assert_eq!(api.desired(), 3);
}

#[test]
fn an_evaluation_scales_out_by_the_largest_policy_and_clamps_a_count_set_by_hand() {
    let api = Api::new();
    api.register(1, 6);
    api.ok("PutScalingPolicy", target(json!({"PolicyName": "cpu", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}})));
    api.ok("PutScalingPolicy", target(json!({"PolicyName": "queue", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}})));
    let surge = |policy: &StoredPolicy| match policy.name.as_str() {
        "cpu" => Reading::Datapoints(vec![90.0, 95.0, 100.0]),
        _ => Reading::Alarm {
            alarm: "queue-high".into(),
            breach: 5.0,
        },
    };
    assert!(api.evaluate(T0 + 10.0, &surge));
    assert_eq!(api.desired(), 4);
    let cause = api.activities()[0]["Cause"].as_str().unwrap().to_string();
    assert!(
        cause.starts_with("monitor alarm TargetTracking-service/default/web-AlarmHigh-")
            && cause.ends_with(" in state ALARM triggered policy cpu"),
        "{cause}"
    );
    // The scale-out cooldown holds: the same CPU surge adds nothing more.
    let cpu_only = |policy: &StoredPolicy| match policy.name.as_str() {
        "cpu" => Reading::Datapoints(vec![90.0, 95.0, 100.0]),
        _ => Reading::Nothing,
    };
    assert!(!api.evaluate(T0 + 20.0, &cpu_only));
    assert_eq!(api.desired(), 4);
    // A count set by hand above the range comes back on the next evaluation.
    api.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 9}),
    );
    assert!(api.evaluate(T0 + 30.0, &|_| Reading::Nothing));
    assert_eq!(api.desired(), 6);
    assert_eq!(
        api.activities()[0]["Cause"],
        "the desired count 9 was above the maximum capacity 6"
    );
}

#[test]
fn the_scaling_round_tracks_a_metric_put_to_cloudwatch_within_the_range() {
    let api = Api::new();
    api.register(1, 4);
    api.ok("PutScalingPolicy", target(json!({"PolicyName": "backlog", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0, "ScaleOutCooldown": 0, "CustomizedMetricSpecification": {"MetricName": "QueueDepth", "Namespace": "Indexer", "Dimensions": [{"Name": "Queue", "Value": "work"}], "Statistic": "Average"}}})));
    let put = |depth: f64, from: f64, seconds: usize, now: f64| {
        let data: Vec<Value> = (0..seconds)
            .map(|s| json!({"MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "work"}], "Value": depth, "Timestamp": from + s as f64, "StorageResolution": 1}))
            .collect();
        api.client
            .json_at(
                "monitoring",
                "PutMetricData",
                json!({"Namespace": "Indexer", "MetricData": data})
                    .to_string()
                    .as_bytes(),
                now,
            )
            .unwrap();
    };
    let round = |now: f64| metric_scaling::round(api.client.context(), now);
    // Two periods above the target are not yet enough.
    put(30.0, T0 - 10.0, 10, T0);
    assert_eq!(round(T0), 0);
    assert_eq!(api.desired(), 2);
    // The third is: 2 × 30 / 10 = 6 tasks wanted, 4 at most.
    put(30.0, T0, 5, T0 + 5.0);
    assert_eq!(round(T0 + 5.0), 1);
    assert_eq!(api.desired(), 4);
    // A metric that stopped reporting is no reason to move, even far below the target.
    put(0.0, T0 + 5.0, 5, T0 + 10.0);
    api.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 3}),
    );
    assert_eq!(round(T0 + 300.0), 0);
    assert_eq!(api.desired(), 3);
    // A count set by hand outside the range comes back on the next round.
    api.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 7}),
    );
    assert_eq!(round(T0 + 305.0), 1);
    assert_eq!(api.desired(), 4);
}

#[test]
fn predefined_metrics_name_the_series_ecs_and_the_load_balancer_publish() {
    let config = |kind: &str, label: Option<&str>| {
        serde_json::from_value::<super::requests::TargetTrackingScalingPolicyConfiguration>(
            json!({"TargetValue": 50.0, "PredefinedMetricSpecification": {"PredefinedMetricType": kind, "ResourceLabel": label}}),
        )
        .unwrap()
    };
    let cpu = metric_scaling::tracked(
        &config("ECSServiceAverageCPUUtilization", None),
        "prod",
        "web",
    )
    .unwrap();
    assert_eq!(
        (cpu.series.namespace.as_str(), cpu.series.name.as_str()),
        ("AWS/ECS", "CPUUtilization")
    );
    assert_eq!(
        cpu.series.dimensions(),
        [
            ("ClusterName".to_string(), "prod".to_string()),
            ("ServiceName".to_string(), "web".to_string())
        ]
    );
    assert_eq!(cpu.statistic, berth_metrics::Statistic::Average);
    let memory = metric_scaling::tracked(
        &config("ECSServiceAverageMemoryUtilizationHighResolution", None),
        "prod",
        "web",
    )
    .unwrap();
    assert_eq!(memory.series.name, "MemoryUtilization");
    let requests = metric_scaling::tracked(
        &config(
            "ALBRequestCountPerTarget",
            Some("app/front/50dc6c495c0c9188/targetgroup/web/73e2d6bc24d8a067"),
        ),
        "prod",
        "web",
    )
    .unwrap();
    assert_eq!(
        (
            requests.series.namespace.as_str(),
            requests.series.name.as_str(),
            requests.statistic
        ),
        (
            "AWS/ApplicationELB",
            "RequestCountPerTarget",
            berth_metrics::Statistic::Sum
        )
    );
    assert_eq!(
        requests.series.dimensions(),
        [(
            "TargetGroup".to_string(),
            "targetgroup/web/73e2d6bc24d8a067".to_string()
        )]
    );
}
