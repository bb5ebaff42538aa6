//! Handler tests over the in-memory store, called as the front calls them, with the
//! controller's firing of due schedules driven by hand at chosen times.

use super::rules::FIRINGS_LOG_GROUP;
use crate::control::schedules::Firings;
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_logs::store::Position;
use serde_json::{json, Value};

/// 2026-05-28T20:26:40Z.
const T0: f64 = 1_780_000_000.0;
const CLUSTER: &str = "arn:aws:ecs:us-east-1:000000000000:cluster/default";

struct Api {
    client: LocalClient,
}

impl Api {
    fn new() -> Self {
        let api = Self {
            client: LocalClient::in_memory(T0),
        };
        api.ecs("RegisterTaskDefinition", json!({"family": "report", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]}));
        api
    }

    fn ecs(&self, action: &str, body: Value) -> Value {
        self.client.ecs_ok(action, &body, T0)
    }

    fn call(&self, action: &str, body: Value) -> Result<Value, AwsError> {
        self.client
            .json_at("events", action, body.to_string().as_bytes(), T0)
    }

    fn ok(&self, action: &str, body: Value) -> Value {
        self.call(action, body.clone())
            .unwrap_or_else(|e| panic!("{action} {body}: {e}"))
    }

    fn refused(&self, action: &str, body: Value) -> AwsError {
        self.call(action, body.clone())
            .err()
            .unwrap_or_else(|| panic!("{action} {body} was answered"))
    }

    fn fire(&self, firings: &mut Firings, now: f64) -> usize {
        self.client
            .context()
            .as_system(now, |call| firings.step(call))
            .unwrap()
    }

    /// The tasks a rule started, by `startedBy`.
    fn started_by(&self, rule: &str) -> Vec<Value> {
        let arns = self.ecs(
            "ListTasks",
            json!({"startedBy": format!("events-rule/{rule}")}),
        )["taskArns"]
            .as_array()
            .unwrap()
            .clone();
        if arns.is_empty() {
            return arns;
        }
        self.ecs("DescribeTasks", json!({"tasks": arns, "include": ["TAGS"]}))["tasks"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// What the rule's firings wrote to its log stream.
    fn firing_log(&self, rule: &str) -> Vec<String> {
        let logs = self.client.context().logs();
        match logs.read(FIRINGS_LOG_GROUP, rule, (None, None), Position::Head, 100) {
            Ok(page) => page.events.into_iter().map(|e| e.message).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn schedule(&self, name: &str, expression: &str) {
        self.ok(
            "PutRule",
            json!({"Name": name, "ScheduleExpression": expression}),
        );
    }

    fn target(&self, rule: &str, parameters: Value, input: Option<&str>) -> Value {
        let mut target = json!({"Id": "job", "Arn": CLUSTER, "RoleArn": "arn:aws:iam::000000000000:role/ecsEventsRole", "EcsParameters": parameters});
        if let Some(input) = input {
            target["Input"] = json!(input);
        }
        self.ok("PutTargets", json!({"Rule": rule, "Targets": [target]}))
    }
}

#[test]
fn rules_are_put_described_listed_enabled_disabled_and_deleted() {
    let api = Api::new();
    let arn = api.ok(
        "PutRule",
        json!({"Name": "nightly", "ScheduleExpression": "cron(0 3 * * ? *)", "Description": "reports"}),
    )["RuleArn"]
        .clone();
    assert_eq!(arn, "arn:aws:events:us-east-1:000000000000:rule/nightly");
    let rule = api.ok("DescribeRule", json!({"Name": "nightly"}));
    assert_eq!(
        rule,
        json!({"Name": "nightly", "Arn": arn, "ScheduleExpression": "cron(0 3 * * ? *)",
            "State": "ENABLED", "Description": "reports", "EventBusName": "default",
            "CreatedBy": "000000000000"})
    );
    api.ok(
        "PutRule",
        json!({"Name": "on-deploy", "EventPattern": r#"{"source": ["aws.ecs"]}"#, "State": "DISABLED"}),
    );
    api.schedule("hourly", "rate(1 hour)");
    let names = |body: Value| -> Vec<String> {
        api.ok("ListRules", body)["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(json!({})), ["hourly", "nightly", "on-deploy"]);
    assert_eq!(names(json!({"NamePrefix": "n"})), ["nightly"]);
    let first = api.ok("ListRules", json!({"Limit": 2}));
    assert_eq!(first["Rules"].as_array().unwrap().len(), 2);
    let rest = api.ok(
        "ListRules",
        json!({"Limit": 2, "NextToken": first["NextToken"]}),
    );
    assert_eq!(rest["Rules"][0]["Name"], "on-deploy");
    assert!(rest.get("NextToken").is_none());

    api.ok("DisableRule", json!({"Name": "nightly"}));
    assert_eq!(
        api.ok("DescribeRule", json!({"Name": "nightly"}))["State"],
        "DISABLED"
    );
    api.ok("EnableRule", json!({"Name": "nightly"}));
    assert_eq!(
        api.ok("DescribeRule", json!({"Name": "nightly"}))["State"],
        "ENABLED"
    );

    for action in ["DescribeRule", "EnableRule", "DisableRule"] {
        let missing = api.refused(action, json!({"Name": "gone"}));
        assert_eq!(missing.code, "ResourceNotFoundException");
        assert_eq!(
            missing.message,
            "Rule gone does not exist on EventBus default."
        );
    }
    let missing = api.refused("ListTargetsByRule", json!({"Rule": "gone"}));
    assert_eq!(missing.code, "ResourceNotFoundException");
    let bad = api.refused(
        "PutRule",
        json!({"Name": "x", "ScheduleExpression": "cron(0 3 * * * *)"}),
    );
    assert_eq!(bad.code, "ValidationException");
    assert!(bad
        .message
        .starts_with("Parameter ScheduleExpression is not valid."));
    let other_bus = api.refused(
        "DescribeRule",
        json!({"Name": "nightly", "EventBusName": "orders"}),
    );
    assert_eq!(other_bus.code, "ResourceNotFoundException");

    api.ok("DeleteRule", json!({"Name": "nightly"}));
    api.ok("DeleteRule", json!({"Name": "nightly"}));
    assert_eq!(names(json!({})), ["hourly", "on-deploy"]);
}

#[test]
fn targets_round_trip_and_a_rule_with_targets_is_not_deleted() {
    let api = Api::new();
    api.schedule("nightly", "cron(0 3 * * ? *)");
    let parameters = json!({"TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/report:1", "TaskCount": 1, "LaunchType": "EC2"});
    let answer = api.target("nightly", parameters.clone(), None);
    assert_eq!(answer, json!({"FailedEntryCount": 0, "FailedEntries": []}));
    let listed = api.ok("ListTargetsByRule", json!({"Rule": "nightly"}));
    assert_eq!(
        listed["Targets"],
        json!([{"Id": "job", "Arn": CLUSTER, "RoleArn": "arn:aws:iam::000000000000:role/ecsEventsRole", "EcsParameters": parameters}])
    );
    // What ecs-deploy's `ecs cron` does: read the target, change its task definition, put it back.
    let mut target = listed["Targets"][0].clone();
    target["EcsParameters"]["TaskDefinitionArn"] =
        json!("arn:aws:ecs:us-east-1:000000000000:task-definition/report:2");
    api.ok(
        "PutTargets",
        json!({"Rule": "nightly", "Targets": [target]}),
    );
    let listed = api.ok("ListTargetsByRule", json!({"Rule": "nightly"}));
    assert_eq!(listed["Targets"], json!([target]));

    let refused = api.refused("DeleteRule", json!({"Name": "nightly"}));
    assert_eq!(refused.code, "ValidationException");
    assert!(refused
        .message
        .starts_with("Rule can't be deleted since it has targets."));
    api.ok("RemoveTargets", json!({"Rule": "nightly", "Ids": ["job"]}));
    api.ok("DeleteRule", json!({"Name": "nightly"}));

    api.schedule("busy", "rate(5 minutes)");
    let targets: Vec<Value> = (0..6)
        .map(|n| json!({"Id": format!("t{n}"), "Arn": CLUSTER, "EcsParameters": {"TaskDefinitionArn": "report"}}))
        .collect();
    let limit = api.refused("PutTargets", json!({"Rule": "busy", "Targets": targets}));
    assert_eq!(limit.code, "LimitExceededException");
    let bad_input = api.refused(
        "PutTargets",
        json!({"Rule": "busy", "Targets": [{"Id": "t", "Arn": CLUSTER, "Input": "[]", "EcsParameters": {"TaskDefinitionArn": "report"}}]}),
    );
    assert_eq!(bad_input.code, "ValidationException");
    assert!(
        bad_input.message.contains("must be a JSON object"),
        "{}",
        bad_input.message
    );
    let no_rule = api.refused(
        "PutTargets",
        json!({"Rule": "gone", "Targets": [{"Id": "t", "Arn": CLUSTER, "EcsParameters": {"TaskDefinitionArn": "report"}}]}),
    );
    assert_eq!(
        no_rule.message,
        "Rule gone does not exist on EventBus default."
    );
}

#[test]
fn tags_are_kept_on_rules() {
    let api = Api::new();
    let arn = api.ok(
        "PutRule",
        json!({"Name": "nightly", "ScheduleExpression": "rate(1 day)", "Tags": [{"Key": "team", "Value": "data"}]}),
    )["RuleArn"]
        .clone();
    api.ok(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "env", "Value": "prod"}]}),
    );
    api.ok(
        "UntagResource",
        json!({"ResourceARN": arn, "TagKeys": ["team"]}),
    );
    assert_eq!(
        api.ok("ListTagsForResource", json!({"ResourceARN": arn}))["Tags"],
        json!([{"Key": "env", "Value": "prod"}])
    );
    let missing = api.refused(
        "ListTagsForResource",
        json!({"ResourceARN": "arn:aws:events:us-east-1:000000000000:rule/gone"}),
    );
    assert_eq!(missing.code, "ResourceNotFoundException");
}

#[test]
fn a_firing_runs_the_task_as_run_task_would_with_the_rule_as_started_by() {
    let api = Api::new();
    api.schedule("every-minute", "cron(* * * * ? *)");
    api.target(
        "every-minute",
        json!({"TaskDefinitionArn": "report", "TaskCount": 2, "Group": "reports", "Tags": [{"Key": "team", "Value": "data"}]}),
        Some(r#"{"containerOverrides": [{"name": "app", "command": ["report", "--daily"]}]}"#),
    );
    let mut firings = Firings::default();
    // 20:26:40: the next minute starts at 20:27:00.
    assert_eq!(api.fire(&mut firings, T0 + 10.0), 0);
    assert!(api.started_by("every-minute").is_empty());
    assert_eq!(api.fire(&mut firings, T0 + 21.0), 1);
    let tasks = api.started_by("every-minute");
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        assert_eq!(task["startedBy"], "events-rule/every-minute");
        assert_eq!(task["group"], "reports");
        assert_eq!(
            task["overrides"]["containerOverrides"][0]["command"],
            json!(["report", "--daily"])
        );
        assert_eq!(task["tags"], json!([{"key": "team", "value": "data"}]));
    }
    // Not twice in one minute.
    assert_eq!(api.fire(&mut firings, T0 + 30.0), 0);
    let log = api.firing_log("every-minute");
    assert_eq!(log.len(), 1);
    assert!(
        log[0].starts_with("target job: started arn:aws:ecs:"),
        "{log:?}"
    );

    // Disabled, it does not fire; enabled again, it fires from then on.
    api.ok("DisableRule", json!({"Name": "every-minute"}));
    assert_eq!(api.fire(&mut firings, T0 + 81.0), 0);
    api.client
        .json_at(
            "events",
            "EnableRule",
            json!({"Name": "every-minute"}).to_string().as_bytes(),
            T0 + 90.0,
        )
        .unwrap();
    assert_eq!(api.fire(&mut firings, T0 + 141.0), 1);
    assert_eq!(api.started_by("every-minute").len(), 4);
}

#[test]
fn missed_firings_run_once_on_recovery() {
    let api = Api::new();
    api.schedule("every-minute", "cron(* * * * ? *)");
    api.target("every-minute", json!({"TaskDefinitionArn": "report"}), None);
    // A controller that was down for an hour: its first round fires the overdue rule once.
    let mut recovered = Firings::default();
    assert_eq!(api.fire(&mut recovered, T0 + 3600.0), 1);
    assert_eq!(api.fire(&mut recovered, T0 + 3601.0), 0);
    assert_eq!(api.started_by("every-minute").len(), 1);
}

#[test]
fn a_failed_firing_is_written_where_a_user_reads_it() {
    let api = Api::new();
    api.schedule("missing", "cron(* * * * ? *)");
    api.target(
        "missing",
        json!({"TaskDefinitionArn": "nothing-here:1"}),
        None,
    );
    // An instance without an agent: placement passes it by, as RunTask reports.
    api.ecs(
        "RegisterContainerInstance",
        json!({"instanceIdentityDocument": r#"{"instanceId": "i-1"}"#,
            "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024}, {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}]}),
    );
    api.schedule("unplaced", "cron(* * * * ? *)");
    api.target("unplaced", json!({"TaskDefinitionArn": "report"}), None);
    let mut firings = Firings::default();
    assert_eq!(api.fire(&mut firings, T0 + 21.0), 2);
    let missing = api.firing_log("missing");
    assert!(
        missing[0].starts_with(
            "FAILED target job: RunTask refused: ClientException: TaskDefinition not found."
        ),
        "{missing:?}"
    );
    let unplaced = api.firing_log("unplaced");
    assert!(
        unplaced[0].starts_with("FAILED target job: 1 task(s) could not be placed"),
        "{unplaced:?}"
    );
    assert!(api.started_by("unplaced").is_empty());
}

#[test]
fn rate_rules_count_from_when_they_were_put() {
    let api = Api::new();
    api.schedule("five", "rate(5 minutes)");
    api.target("five", json!({"TaskDefinitionArn": "report"}), None);
    let mut firings = Firings::default();
    assert_eq!(api.fire(&mut firings, T0 + 299.0), 0);
    assert_eq!(api.fire(&mut firings, T0 + 300.0), 1);
    assert_eq!(api.fire(&mut firings, T0 + 599.0), 0);
    assert_eq!(api.fire(&mut firings, T0 + 600.0), 1);
    // An event pattern rule never fires.
    api.ok(
        "PutRule",
        json!({"Name": "on-event", "EventPattern": r#"{"source": ["aws.ecs"]}"#}),
    );
    api.target("on-event", json!({"TaskDefinitionArn": "report"}), None);
    assert_eq!(api.fire(&mut Firings::default(), T0 + 86_400.0), 1);
    assert!(api.started_by("on-event").is_empty());
}
