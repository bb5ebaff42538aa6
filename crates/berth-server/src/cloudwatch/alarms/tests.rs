//! Alarms over the in-memory stores, called as the front calls them, with the controller's
//! evaluation driven by hand: a queue's depth crosses a threshold and a step policy adds
//! tasks; the history, the policy's alarms, and bad input.

use crate::control::alarms::Sweep;
use crate::local::LocalClient;
use berth_aws::AwsError;
use serde_json::{json, Value};

/// A whole minute.
const T0: f64 = 1_780_000_020.0;

struct Api {
    client: LocalClient,
}

impl Api {
    fn new() -> Self {
        let api = Self {
            client: LocalClient::in_memory(T0),
        };
        api.ecs("RegisterTaskDefinition", json!({"family": "indexer", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]}));
        api.ecs(
            "CreateService",
            json!({"serviceName": "indexer", "taskDefinition": "indexer", "desiredCount": 1}),
        );
        api
    }

    fn ecs(&self, action: &str, body: Value) -> Value {
        self.client.ecs_ok(action, &body, T0)
    }

    fn scaling(&self, action: &str, body: Value) -> Value {
        self.client
            .json_at(
                "application-autoscaling",
                action,
                body.to_string().as_bytes(),
                T0,
            )
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn cw_at(&self, action: &str, body: Value, now: f64) -> Result<Value, AwsError> {
        self.client
            .json_at("monitoring", action, body.to_string().as_bytes(), now)
    }

    fn cw(&self, action: &str, body: Value, now: f64) -> Value {
        self.cw_at(action, body.clone(), now)
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn desired(&self) -> i64 {
        self.ecs("DescribeServices", json!({"services": ["indexer"]}))["services"][0]
            ["desiredCount"]
            .as_i64()
            .unwrap()
    }

    /// `depth` put for each second of `[from, to)`.
    fn depth(&self, depth: f64, from: f64, to: f64) {
        let data: Vec<Value> = (from as i64..to as i64)
            .map(|t| json!({"MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "index"}], "Value": depth, "Timestamp": t, "StorageResolution": 1}))
            .collect();
        self.cw(
            "PutMetricData",
            json!({"Namespace": "Indexer", "MetricData": data}),
            to,
        );
    }

    fn state(&self, now: f64) -> Value {
        self.cw("DescribeAlarms", json!({"AlarmNames": ["queue-high"]}), now)["MetricAlarms"][0]
            .clone()
    }

    fn step_policy(&self) -> String {
        self.scaling("RegisterScalableTarget", json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/indexer", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 10}));
        self.scaling("PutScalingPolicy", json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/indexer", "ScalableDimension": "ecs:service:DesiredCount", "PolicyName": "backlog", "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "Cooldown": 60, "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 2}]}}))["PolicyARN"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn alarm(policy: &str) -> Value {
    json!({"AlarmName": "queue-high", "Namespace": "Indexer", "MetricName": "QueueDepth",
           "Dimensions": [{"Name": "Queue", "Value": "index"}], "Statistic": "Maximum",
           "Period": 10, "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 100.0,
           "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "missing",
           "AlarmActions": [policy]})
}

#[test]
fn a_queue_past_its_threshold_runs_the_step_policy_until_the_alarm_clears() {
    let api = Api::new();
    let policy = api.step_policy();
    assert!(policy.starts_with("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:"));
    api.cw("PutMetricAlarm", alarm(&policy), T0);
    let created = api.state(T0);
    assert_eq!(created["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(
        created["AlarmArn"],
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:queue-high"
    );
    let described = api.scaling(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs"}),
    );
    assert_eq!(
        described["ScalingPolicies"][0]["Alarms"],
        json!([{"AlarmName": "queue-high", "AlarmARN": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:queue-high"}])
    );

    let mut sweep = Sweep::default();
    let cx = api.client.context();
    // Not due yet: nothing is evaluated.
    assert_eq!(sweep.step(cx, T0 + 1.0), 0);
    // One period above the threshold, after one below it, is not two.
    api.depth(3.0, T0 - 10.0, T0);
    api.depth(250.0, T0, T0 + 10.0);
    assert_eq!(sweep.step(cx, T0 + 12.0), 1);
    assert_eq!(api.state(T0 + 12.0)["StateValue"], "OK");
    assert_eq!(api.desired(), 1);
    api.depth(250.0, T0 + 10.0, T0 + 20.0);
    assert_eq!(sweep.step(cx, T0 + 22.0), 1);
    let alarmed = api.state(T0 + 22.0);
    assert_eq!(alarmed["StateValue"], "ALARM");
    assert_eq!(
        alarmed["StateReason"],
        "Threshold Crossed: 2 out of the last 2 datapoints were greater than or equal to the threshold (100) (minimum 2 datapoints for OK -> ALARM transition)."
    );
    assert_eq!(api.desired(), 3, "ChangeInCapacity +2");
    // Still in ALARM a period later: the policy runs again, and its cooldown holds.
    api.depth(250.0, T0 + 20.0, T0 + 30.0);
    assert_eq!(sweep.step(cx, T0 + 32.0), 0);
    assert_eq!(api.desired(), 3);
    // Past the cooldown, the alarm still in ALARM adds two more.
    for start in [30.0, 40.0, 50.0, 60.0, 70.0] {
        api.depth(250.0, T0 + start, T0 + start + 10.0);
        sweep.step(cx, T0 + start + 12.0);
    }
    assert_eq!(api.desired(), 5);
    // The queue drains: the alarm clears.
    api.depth(3.0, T0 + 80.0, T0 + 90.0);
    assert_eq!(sweep.step(cx, T0 + 92.0), 1);
    assert_eq!(api.state(T0 + 92.0)["StateValue"], "OK");

    let history = api.cw("DescribeAlarmHistory", json!({"AlarmName": "queue-high", "HistoryItemType": "StateUpdate", "ScanBy": "TimestampAscending"}), T0 + 93.0);
    let summaries: Vec<&str> = history["AlarmHistoryItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["HistorySummary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from INSUFFICIENT_DATA to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK"
        ]
    );
    let all = api.cw(
        "DescribeAlarmHistory",
        json!({"AlarmName": "queue-high"}),
        T0 + 93.0,
    );
    let kinds: Vec<&str> = all["AlarmHistoryItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["HistoryItemType"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"ConfigurationUpdate") && kinds.contains(&"Action"),
        "{kinds:?}"
    );
    assert_eq!(
        all["AlarmHistoryItems"].as_array().unwrap().last().unwrap()["HistorySummary"],
        "Alarm \"queue-high\" created"
    );
    let activities = api.scaling(
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "ecs"}),
    );
    assert!(
        activities["ScalingActivities"][0]["Cause"]
            .as_str()
            .unwrap()
            .starts_with("monitor alarm queue-high in state ALARM triggered policy backlog"),
        "{activities}"
    );
}

#[test]
fn set_alarm_state_runs_the_actions_and_disabled_actions_do_not() {
    let api = Api::new();
    let policy = api.step_policy();
    api.cw("PutMetricAlarm", alarm(&policy), T0);
    api.cw(
        "DisableAlarmActions",
        json!({"AlarmNames": ["queue-high"]}),
        T0,
    );
    api.cw(
        "SetAlarmState",
        json!({"AlarmName": "queue-high", "StateValue": "ALARM", "StateReason": "testing"}),
        T0 + 1.0,
    );
    assert_eq!(api.desired(), 1);
    assert_eq!(api.state(T0 + 1.0)["ActionsEnabled"], false);
    api.cw(
        "SetAlarmState",
        json!({"AlarmName": "queue-high", "StateValue": "OK", "StateReason": "testing"}),
        T0 + 2.0,
    );
    api.cw(
        "EnableAlarmActions",
        json!({"AlarmNames": ["queue-high"]}),
        T0 + 2.0,
    );
    api.cw(
        "SetAlarmState",
        json!({"AlarmName": "queue-high", "StateValue": "ALARM", "StateReason": "testing"}),
        T0 + 3.0,
    );
    assert_eq!(api.desired(), 3);
    let alarmed = api.state(T0 + 3.0);
    assert_eq!(
        (
            alarmed["StateValue"].as_str(),
            alarmed["StateReason"].as_str()
        ),
        (Some("ALARM"), Some("testing"))
    );
}

#[test]
fn describe_filters_pages_and_answers_in_the_query_protocol() {
    let api = Api::new();
    let policy = api.step_policy();
    for name in ["b-queue", "a-queue", "c-other"] {
        let mut body = alarm(&policy);
        body["AlarmName"] = json!(name);
        if name == "c-other" {
            body["AlarmActions"] = json!([]);
        }
        api.cw("PutMetricAlarm", body, T0);
    }
    let names = |answer: &Value| -> Vec<String> {
        answer["MetricAlarms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["AlarmName"].as_str().unwrap().to_string())
            .collect()
    };
    let first = api.cw("DescribeAlarms", json!({"MaxRecords": 2}), T0);
    assert_eq!(names(&first), ["a-queue", "b-queue"]);
    let rest = api.cw(
        "DescribeAlarms",
        json!({"MaxRecords": 2, "NextToken": first["NextToken"]}),
        T0,
    );
    assert_eq!(names(&rest), ["c-other"]);
    assert!(rest.get("NextToken").is_none());
    assert_eq!(
        names(&api.cw("DescribeAlarms", json!({"AlarmNamePrefix": "c-"}), T0)),
        ["c-other"]
    );
    assert_eq!(
        names(&api.cw(
            "DescribeAlarms",
            json!({"ActionPrefix": "arn:aws:autoscaling:"}),
            T0
        )),
        ["a-queue", "b-queue"]
    );
    assert_eq!(
        names(&api.cw("DescribeAlarms", json!({"StateValue": "ALARM"}), T0)).len(),
        0
    );
    let query = api
        .client
        .query_at(
            "monitoring",
            "DescribeAlarms",
            &[("AlarmNames.member.1", "a-queue")],
            T0,
        )
        .unwrap();
    assert_eq!(query["MetricAlarms"][0]["StateValue"], "INSUFFICIENT_DATA");
    assert_eq!(query["MetricAlarms"][0]["Threshold"], 100.0);
    api.client
        .query_at(
            "monitoring",
            "DeleteAlarms",
            &[
                ("AlarmNames.member.1", "a-queue"),
                ("AlarmNames.member.2", "b-queue"),
            ],
            T0,
        )
        .unwrap();
    assert_eq!(names(&api.cw("DescribeAlarms", json!({}), T0)), ["c-other"]);
    let policies = api.scaling(
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs"}),
    );
    assert_eq!(policies["ScalingPolicies"][0]["Alarms"], json!([]));
}

#[test]
fn bad_alarms_are_refused_in_cloudwatchs_words() {
    let api = Api::new();
    let with = |change: Value| {
        let mut body = alarm("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x:resource/ecs/service/default/indexer:policyName/backlog");
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (json!({"AlarmName": null}), "MissingParameter", "AlarmName"),
        (
            json!({"ComparisonOperator": "GreaterThanUpperThreshold"}),
            "InvalidParameterValue",
            "anomaly detection bands are not supported",
        ),
        (
            json!({"ComparisonOperator": "Bigger"}),
            "InvalidParameterValue",
            "ComparisonOperator",
        ),
        (
            json!({"TreatMissingData": "sometimes"}),
            "InvalidParameterValue",
            "missing, notBreaching, breaching or ignore",
        ),
        (
            json!({"DatapointsToAlarm": 3}),
            "InvalidParameterValue",
            "DatapointsToAlarm",
        ),
        (
            json!({"Period": 15}),
            "InvalidParameterValue",
            "10, 30 or a multiple of 60",
        ),
        (
            json!({"ExtendedStatistic": "p99"}),
            "InvalidParameterCombination",
            "Exactly one of Statistic and ExtendedStatistic",
        ),
        (
            json!({"Metrics": [{"Id": "m1", "Expression": "SUM(METRICS())"}]}),
            "InvalidParameterValue",
            "metric math",
        ),
        (
            json!({"AlarmActions": ["not-an-arn"]}),
            "InvalidParameterValue",
            "ARNs",
        ),
        (json!({"Threshold": null}), "MissingParameter", "Threshold"),
    ];
    for (change, code, words) in cases {
        let error = api
            .cw_at("PutMetricAlarm", with(change.clone()), T0)
            .unwrap_err();
        assert_eq!(error.code, code, "{change}: {error}");
        assert!(error.message.contains(words), "{change}: {}", error.message);
    }
    let missing = api
        .cw_at(
            "SetAlarmState",
            json!({"AlarmName": "none", "StateValue": "OK", "StateReason": "x"}),
            T0,
        )
        .unwrap_err();
    assert_eq!(missing.code, "ResourceNotFound");
    let missing = api
        .cw_at("DeleteAlarms", json!({"AlarmNames": ["none"]}), T0)
        .unwrap_err();
    assert_eq!(
        (missing.code.as_ref(), missing.message.as_str()),
        (
            "ResourceNotFound",
            "The following alarms do not exist: none"
        )
    );
    let state = api
        .cw_at(
            "SetAlarmState",
            json!({"AlarmName": "none", "StateValue": "RED", "StateReason": "x"}),
            T0,
        )
        .unwrap_err();
    assert_eq!(state.code, "InvalidParameterValue");
}
