//! Each action's input, with what EventBridge checks of it before looking at any rule
//! (shapes and limits from botocore's `events` model). A target is kept as given and
//! answered back unchanged, so a client can read it, change a member and put it again.

use super::error::{Error, EventBridge};
use crate::json_api::{tag_problem, Request};
use berth_model::resources::{PlacementConstraint, PlacementStrategy};
use berth_scaling::schedule::Schedule;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one event bus Berth has.
pub const DEFAULT_BUS: &str = "default";

/// Targets one rule may have, as AWS limits them.
pub const MAX_TARGETS: usize = 5;

/// AWS's message for a member outside its model's pattern.
fn pattern_error(member: &str, value: &str, pattern: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
    ))
}

fn length_error(member: &str, value: &str, min: usize, max: usize) -> Option<Error> {
    let length = value.chars().count();
    (length < min || length > max).then(|| {
        Error::validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length between {min} and {max}, got {length}"
        ))
    })
}

/// A rule's or target's name: 1 to 64 of `.`, `-`, `_`, letters and digits.
fn check_name(member: &str, name: &str) -> Result<(), Error> {
    if let Some(error) = length_error(member, name, 1, 64) {
        return Err(error);
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(pattern_error(member, name, "[\\.\\-_A-Za-z0-9]+"));
    }
    Ok(())
}

/// The event bus a request names: only the default one, by name or ARN.
fn check_bus(bus: Option<&str>) -> Result<(), Error> {
    let Some(bus) = bus else { return Ok(()) };
    let name = match bus.strip_prefix("arn:") {
        Some(_) => bus.rsplit_once(":event-bus/").map_or(bus, |(_, name)| name),
        None => bus,
    };
    if name != DEFAULT_BUS {
        return Err(Error::not_found(format!(
            "Event bus {name} does not exist. Berth has the default event bus only: leave EventBusName out or name default"
        )));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>) -> Result<(), Error> {
    match limit {
        Some(n) if !(1..=100).contains(&n) => Err(Error::validation(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
        ))),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

fn check_tags(tags: &[Tag]) -> Result<(), Error> {
    match tag_problem(
        "rule",
        tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
    ) {
        Some(problem) => Err(Error::validation(problem)),
        None => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleState {
    Enabled,
    Disabled,
    /// Enabled, and for event patterns also matching CloudTrail's management events; a
    /// schedule fires as under ENABLED.
    EnabledWithAllCloudtrailManagementEvents,
}

impl RuleState {
    pub fn enabled(self) -> bool {
        self != RuleState::Disabled
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRule {
    pub name: String,
    pub schedule_expression: Option<String>,
    pub event_pattern: Option<String>,
    pub state: Option<RuleState>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub event_bus_name: Option<String>,
}

impl Request<EventBridge> for PutRule {
    fn check(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        check_bus(self.event_bus_name.as_deref())?;
        let schedule = self
            .schedule_expression
            .as_deref()
            .filter(|s| !s.is_empty());
        let pattern = self.event_pattern.as_deref().filter(|p| !p.is_empty());
        if schedule.is_none() && pattern.is_none() {
            return Err(Error::validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        }
        if let Some(expression) = schedule {
            if expression.chars().count() > 256 {
                return Err(Error::validation(
                    "Parameter ScheduleExpression is not valid. Reason: at most 256 characters",
                ));
            }
            Schedule::parse_rule(expression).map_err(|why| {
                Error::validation(format!(
                    "Parameter ScheduleExpression is not valid. Reason: {why}"
                ))
            })?;
        }
        if let Some(pattern) = pattern {
            let valid = pattern.chars().count() <= 4096
                && serde_json::from_str::<Value>(pattern).is_ok_and(|v| v.is_object());
            if !valid {
                return Err(Error::new(
                    "InvalidEventPatternException",
                    "Event pattern is not valid. Reason: it must be a JSON object of at most 4096 characters",
                ));
            }
        }
        if let Some(description) = &self.description {
            if let Some(error) = length_error("description", description, 0, 512) {
                return Err(error);
            }
        }
        check_tags(self.tags.as_deref().unwrap_or_default())
    }
}

/// DescribeRule, EnableRule and DisableRule: a rule by name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleName {
    pub name: String,
    pub event_bus_name: Option<String>,
}

impl Request<EventBridge> for RuleName {
    fn check(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        check_bus(self.event_bus_name.as_deref())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRule {
    pub name: String,
    pub event_bus_name: Option<String>,
    /// For rules another AWS service manages; Berth has none, so it changes nothing.
    pub force: Option<bool>,
}

impl Request<EventBridge> for DeleteRule {
    fn check(&self) -> Result<(), Error> {
        check_name("name", &self.name)?;
        check_bus(self.event_bus_name.as_deref())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRules {
    pub name_prefix: Option<String>,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

impl Request<EventBridge> for ListRules {
    fn check(&self) -> Result<(), Error> {
        if let Some(prefix) = &self.name_prefix {
            check_name("namePrefix", prefix)?;
        }
        check_bus(self.event_bus_name.as_deref())?;
        check_limit(self.limit)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AwsVpcConfiguration {
    pub subnets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfiguration {
    #[serde(
        rename = "awsvpcConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub awsvpc_configuration: Option<AwsVpcConfiguration>,
}

/// How a rule's ECS target runs its task: RunTask's parameters in EventBridge's spelling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EcsParameters {
    pub task_definition_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_strategy: Option<Vec<Value>>,
    #[serde(
        rename = "EnableECSManagedTags",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_ecs_managed_tags: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
}

/// A rule's target as PutTargets gives it and ListTargetsByRule answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// For an ECS target, the task's overrides (`{"containerOverrides": …}`) as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_parameters: Option<EcsParameters>,
    /// Kept and answered back; Berth runs a firing once and does not retry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
}

/// Members of a target that deliver to something other than ECS or transform the event;
/// Berth refuses them rather than keep what it would never act on.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Unsupported {
    input_path: Option<Value>,
    input_transformer: Option<Value>,
    kinesis_parameters: Option<Value>,
    run_command_parameters: Option<Value>,
    batch_parameters: Option<Value>,
    sqs_parameters: Option<Value>,
    http_parameters: Option<Value>,
    redshift_data_parameters: Option<Value>,
    sage_maker_pipeline_parameters: Option<Value>,
    dead_letter_config: Option<Value>,
    app_sync_parameters: Option<Value>,
}

impl Unsupported {
    fn first(&self) -> Option<&'static str> {
        [
            ("InputPath", self.input_path.is_some()),
            ("InputTransformer", self.input_transformer.is_some()),
            ("KinesisParameters", self.kinesis_parameters.is_some()),
            (
                "RunCommandParameters",
                self.run_command_parameters.is_some(),
            ),
            ("BatchParameters", self.batch_parameters.is_some()),
            ("SqsParameters", self.sqs_parameters.is_some()),
            ("HttpParameters", self.http_parameters.is_some()),
            (
                "RedshiftDataParameters",
                self.redshift_data_parameters.is_some(),
            ),
            (
                "SageMakerPipelineParameters",
                self.sage_maker_pipeline_parameters.is_some(),
            ),
            ("DeadLetterConfig", self.dead_letter_config.is_some()),
            ("AppSyncParameters", self.app_sync_parameters.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(member, _)| member)
    }
}

/// A target as a request gives it: what Berth keeps, and what it refuses.
#[derive(Debug, Deserialize)]
pub struct GivenTarget {
    #[serde(flatten)]
    pub target: Target,
    #[serde(flatten)]
    unsupported: Unsupported,
}

/// The name of the cluster an ECS target's ARN names, if it names one.
pub fn cluster_of(arn: &str) -> Option<&str> {
    let (head, name) = arn.split_once(":cluster/")?;
    let parts: Vec<&str> = head.split(':').collect();
    (matches!(parts[..], ["arn", _, "ecs", _, _]) && !name.is_empty() && !name.contains('/'))
        .then_some(name)
}

impl GivenTarget {
    fn check(&self) -> Result<(), Error> {
        let target = &self.target;
        check_name("id", &target.id)?;
        if let Some(member) = self.unsupported.first() {
            return Err(Error::validation(format!(
                "Parameter {member} of target {} is not supported: Berth's rules run ECS tasks, with EcsParameters and an optional Input",
                target.id
            )));
        }
        if cluster_of(&target.arn).is_none() {
            return Err(Error::validation(format!(
                "Parameter {} is not valid. Reason: Berth's rules run ECS tasks, so a target's Arn is a cluster's (arn:aws:ecs:<region>:<account>:cluster/<name>)",
                target.arn
            )));
        }
        if target.ecs_parameters.is_none() {
            return Err(Error::validation(format!(
                "Parameter(s) EcsParameters must be specified for target: {}.",
                target.id
            )));
        }
        if let Some(input) = &target.input {
            if input.chars().count() > 8192 {
                return Err(Error::validation(format!(
                    "Parameter Input of target {} is not valid. Reason: at most 8192 characters",
                    target.id
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutTargets {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub targets: Vec<GivenTarget>,
}

impl Request<EventBridge> for PutTargets {
    fn check(&self) -> Result<(), Error> {
        check_name("rule", &self.rule)?;
        check_bus(self.event_bus_name.as_deref())?;
        if !(1..=100).contains(&self.targets.len()) {
            return Err(Error::validation(format!(
                "1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have length between 1 and 100, got {}",
                self.targets.len()
            )));
        }
        self.targets.iter().try_for_each(GivenTarget::check)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTargetsByRule {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub next_token: Option<String>,
    pub limit: Option<i64>,
}

impl Request<EventBridge> for ListTargetsByRule {
    fn check(&self) -> Result<(), Error> {
        check_name("rule", &self.rule)?;
        check_bus(self.event_bus_name.as_deref())?;
        check_limit(self.limit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTargets {
    pub rule: String,
    pub event_bus_name: Option<String>,
    pub ids: Vec<String>,
    pub force: Option<bool>,
}

impl Request<EventBridge> for RemoveTargets {
    fn check(&self) -> Result<(), Error> {
        check_name("rule", &self.rule)?;
        check_bus(self.event_bus_name.as_deref())?;
        if !(1..=100).contains(&self.ids.len()) {
            return Err(Error::validation(format!(
                "1 validation error detected: Value at 'ids' failed to satisfy constraint: Member must have length between 1 and 100, got {}",
                self.ids.len()
            )));
        }
        self.ids.iter().try_for_each(|id| check_name("ids", id))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResource {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

impl Request<EventBridge> for TagResource {
    fn check(&self) -> Result<(), Error> {
        check_tags(&self.tags)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResource {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

impl Request<EventBridge> for UntagResource {}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResource {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

impl Request<EventBridge> for ListTagsForResource {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_buses_and_cluster_arns() {
        for (name, valid) in [
            ("nightly", true),
            ("a.b-c_D9", true),
            ("", false),
            ("has space", false),
            ("x/y", false),
            (&"n".repeat(65), false),
        ] {
            assert_eq!(check_name("name", name).is_ok(), valid, "{name}");
        }
        for (bus, valid) in [
            (None, true),
            (Some("default"), true),
            (
                Some("arn:aws:events:us-east-1:000000000000:event-bus/default"),
                true,
            ),
            (Some("orders"), false),
            (
                Some("arn:aws:events:us-east-1:000000000000:event-bus/orders"),
                false,
            ),
        ] {
            assert_eq!(check_bus(bus).is_ok(), valid, "{bus:?}");
        }
        for (arn, cluster) in [
            (
                "arn:aws:ecs:us-east-1:000000000000:cluster/prod",
                Some("prod"),
            ),
            ("arn:aws:ecs:us-east-1:000000000000:cluster/", None),
            ("arn:aws:lambda:us-east-1:000000000000:function:f", None),
            ("arn:aws:sqs:us-east-1:000000000000:cluster/q", None),
            ("prod", None),
        ] {
            assert_eq!(cluster_of(arn), cluster, "{arn}");
        }
    }

    #[test]
    fn put_rule_is_checked_as_aws_checks_it() {
        let put = |body: &str| {
            berth_aws::json::decode_input::<PutRule>(body.as_bytes(), &[])
                .map_err(|e| e.message)
                .and_then(|r| r.check().map_err(|e| e.message().to_string()))
        };
        let table: &[(&str, Option<&str>)] = &[
            (
                r#"{"Name": "n", "ScheduleExpression": "rate(5 minutes)"}"#,
                None,
            ),
            (
                r#"{"Name": "n", "ScheduleExpression": "cron(0 3 * * ? *)", "State": "DISABLED"}"#,
                None,
            ),
            (
                r#"{"Name": "n", "EventPattern": "{\"source\": [\"a\"]}"}"#,
                None,
            ),
            (
                r#"{"Name": "n"}"#,
                Some("Parameter(s) EventPattern or ScheduleExpression must be specified."),
            ),
            (
                r#"{"Name": "n", "ScheduleExpression": "rate(5 minute)"}"#,
                Some("Parameter ScheduleExpression is not valid."),
            ),
            (
                r#"{"Name": "n", "ScheduleExpression": "at(2026-01-01T00:00:00)"}"#,
                Some("Parameter ScheduleExpression is not valid."),
            ),
            (
                r#"{"Name": "n", "ScheduleExpression": "cron(0 3 * * * *)"}"#,
                Some("Parameter ScheduleExpression is not valid."),
            ),
            (
                r#"{"Name": "n", "EventPattern": "[1]"}"#,
                Some("Event pattern is not valid."),
            ),
            (
                r#"{"Name": "n", "ScheduleExpression": "rate(1 day)", "EventBusName": "orders"}"#,
                Some("Event bus orders does not exist."),
            ),
        ];
        for (body, refused) in table {
            match (put(body), refused) {
                (Ok(()), None) => {}
                (Err(message), Some(start)) => {
                    assert!(message.starts_with(start), "{body}: {message}")
                }
                (outcome, _) => panic!("{body}: {outcome:?}"),
            }
        }
    }

    #[test]
    fn targets_keep_what_was_given_and_refuse_what_berth_cannot_deliver() {
        let given = r#"{"Rule": "n", "Targets": [{"Id": "t", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "RoleArn": "arn:aws:iam::000000000000:role/ecsEventsRole", "Input": "{}",
            "EcsParameters": {"TaskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/job:1",
                "TaskCount": 2, "EnableECSManagedTags": true,
                "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": ["s"], "AssignPublicIp": "DISABLED"}},
                "PlacementConstraints": [{"type": "distinctInstance"}]}}]}"#;
        let request: PutTargets = berth_aws::json::decode_input(given.as_bytes(), &[]).unwrap();
        request.check().unwrap();
        let answered = serde_json::to_value(&request.targets[0].target).unwrap();
        let original: Value = serde_json::from_str(given).unwrap();
        assert_eq!(answered, original["Targets"][0]);

        for (target, refused) in [
            (
                r#"{"Id": "t", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f"}"#,
                "Parameter arn:aws:lambda",
            ),
            (
                r#"{"Id": "t", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/default"}"#,
                "Parameter(s) EcsParameters must be specified for target: t.",
            ),
            (
                r#"{"Id": "t", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/default", "InputTransformer": {}}"#,
                "Parameter InputTransformer of target t is not supported",
            ),
            (
                r#"{"Id": "t t", "Arn": "x"}"#,
                "1 validation error detected",
            ),
        ] {
            let body = format!(r#"{{"Rule": "n", "Targets": [{target}]}}"#);
            let request: PutTargets = berth_aws::json::decode_input(body.as_bytes(), &[]).unwrap();
            let message = request.check().unwrap_err().message().to_string();
            assert!(message.starts_with(refused), "{target}: {message}");
        }
    }
}
