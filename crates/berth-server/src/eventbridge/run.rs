//! A rule's ECS target as the RunTask request a firing sends: the target's cluster, its
//! `EcsParameters` in ECS's spelling, its `Input` as the task's overrides, and `startedBy`
//! naming the rule, decoded and checked exactly as a client's RunTask would be. PutTargets
//! builds it too, so a target RunTask would refuse is refused when it is put.

use super::requests::{cluster_of, EcsParameters, Target};
use berth_model::requests::{Request, RunTask};
use serde_json::{json, Map, Value};

/// What ECS shows as a task's `startedBy` when `rule` started it.
pub fn started_by(rule: &str) -> String {
    format!("events-rule/{rule}")
}

fn network_configuration(parameters: &EcsParameters) -> Option<Value> {
    let awsvpc = parameters
        .network_configuration
        .as_ref()?
        .awsvpc_configuration
        .as_ref()?;
    let mut ecs = json!({"subnets": awsvpc.subnets});
    if let Some(groups) = &awsvpc.security_groups {
        ecs["securityGroups"] = json!(groups);
    }
    if let Some(public) = &awsvpc.assign_public_ip {
        ecs["assignPublicIp"] = json!(public);
    }
    Some(json!({"awsvpcConfiguration": ecs}))
}

/// The RunTask a firing of `rule` sends for `target`, or why it cannot be sent (in ECS's
/// words, or the Input's fault).
pub fn run_task(rule: &str, target: &Target) -> Result<RunTask, String> {
    let cluster = cluster_of(&target.arn)
        .ok_or_else(|| format!("target {} does not name an ECS cluster", target.id))?;
    let parameters = target
        .ecs_parameters
        .as_ref()
        .ok_or_else(|| format!("target {} has no EcsParameters", target.id))?;
    let mut request = Map::new();
    let mut set = |member: &str, value: Option<Value>| {
        if let Some(value) = value {
            request.insert(member.to_string(), value);
        }
    };
    set("cluster", Some(json!(cluster)));
    set(
        "taskDefinition",
        Some(json!(parameters.task_definition_arn)),
    );
    set("startedBy", Some(json!(started_by(rule))));
    set("count", parameters.task_count.map(|n| json!(n)));
    set(
        "launchType",
        parameters.launch_type.as_ref().map(|t| json!(t)),
    );
    set("networkConfiguration", network_configuration(parameters));
    set(
        "platformVersion",
        parameters.platform_version.as_ref().map(|v| json!(v)),
    );
    set("group", parameters.group.as_ref().map(|g| json!(g)));
    set(
        "capacityProviderStrategy",
        parameters
            .capacity_provider_strategy
            .as_ref()
            .map(|s| json!(s)),
    );
    set(
        "enableECSManagedTags",
        parameters.enable_ecs_managed_tags.map(|b| json!(b)),
    );
    set(
        "enableExecuteCommand",
        parameters.enable_execute_command.map(|b| json!(b)),
    );
    set(
        "placementConstraints",
        parameters.placement_constraints.as_ref().map(|c| json!(c)),
    );
    set(
        "placementStrategy",
        parameters.placement_strategy.as_ref().map(|s| json!(s)),
    );
    set(
        "propagateTags",
        parameters.propagate_tags.as_ref().map(|p| json!(p)),
    );
    set(
        "referenceId",
        parameters.reference_id.as_ref().map(|r| json!(r)),
    );
    set(
        "tags",
        parameters.tags.as_ref().map(|tags| {
            tags.iter()
                .map(|t| json!({"key": t.key, "value": t.value}))
                .collect()
        }),
    );
    if let Some(input) = &target.input {
        let overrides: Value = serde_json::from_str(input).map_err(|e| {
            format!(
                "the Input of target {} is not JSON ({e}); for an ECS target it is the task's overrides, such as {{\"containerOverrides\": [{{\"name\": \"app\", \"command\": [\"run\"]}}]}}",
                target.id
            )
        })?;
        if !overrides.is_object() {
            return Err(format!(
                "the Input of target {} must be a JSON object: the task's overrides, such as {{\"containerOverrides\": [...]}}",
                target.id
            ));
        }
        set("overrides", Some(overrides));
    }
    let body = Value::Object(request).to_string();
    RunTask::decode(body.as_bytes()).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(extra: Value) -> Target {
        let mut target = json!({
            "Id": "job", "Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/prod",
            "EcsParameters": {"TaskDefinitionArn": "report:3"},
        });
        for (key, value) in extra.as_object().unwrap() {
            if key == "EcsParameters" {
                target[key]
                    .as_object_mut()
                    .unwrap()
                    .extend(value.as_object().unwrap().clone());
            } else {
                target[key] = value.clone();
            }
        }
        serde_json::from_value(target).unwrap()
    }

    #[test]
    fn a_target_becomes_the_run_task_ecs_would_get() {
        let plain = run_task("nightly", &target(json!({}))).unwrap();
        assert_eq!(plain.cluster.as_deref(), Some("prod"));
        assert_eq!(plain.task_definition, "report:3");
        assert_eq!(plain.started_by.as_deref(), Some("events-rule/nightly"));
        assert_eq!(plain.count, None);
        assert_eq!(plain.overrides, None);

        let full = run_task(
            "nightly",
            &target(json!({
                "Input": r#"{"containerOverrides": [{"name": "app", "command": ["report", "--all"]}]}"#,
                "EcsParameters": {
                    "TaskCount": 3, "LaunchType": "EC2", "Group": "reports",
                    "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": ["s-1"], "SecurityGroups": ["sg-1"], "AssignPublicIp": "DISABLED"}},
                    "PlacementConstraints": [{"type": "memberOf", "expression": "attribute:zone == a"}],
                    "PlacementStrategy": [{"type": "spread", "field": "instanceId"}],
                    "EnableECSManagedTags": true, "PropagateTags": "TASK_DEFINITION",
                    "Tags": [{"Key": "team", "Value": "data"}],
                },
            })),
        )
        .unwrap();
        assert_eq!(full.count, Some(3));
        assert_eq!(full.launch_type.as_deref(), Some("EC2"));
        assert_eq!(full.group.as_deref(), Some("reports"));
        assert_eq!(
            full.network_configuration.map(Value::Object),
            Some(
                json!({"awsvpcConfiguration": {"subnets": ["s-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}})
            )
        );
        assert_eq!(full.placement_constraints.unwrap().len(), 1);
        assert_eq!(
            full.placement_strategy.unwrap()[0].field.as_deref(),
            Some("instanceId")
        );
        assert_eq!(full.enable_ecs_managed_tags, Some(true));
        assert_eq!(full.propagate_tags.as_deref(), Some("TASK_DEFINITION"));
        let tags = full.tags.unwrap();
        assert_eq!(
            (tags[0].key.as_deref(), tags[0].value.as_deref()),
            (Some("team"), Some("data"))
        );
        assert_eq!(
            Value::Object(full.overrides.unwrap())["containerOverrides"][0]["command"],
            json!(["report", "--all"])
        );
    }

    #[test]
    fn what_run_task_would_refuse_is_refused_with_its_reason() {
        for (extra, reason) in [
            (json!({"Input": "not json"}), "is not JSON"),
            (json!({"Input": "[1]"}), "must be a JSON object"),
            (json!({"EcsParameters": {"TaskCount": 11}}), "count"),
            (
                json!({"EcsParameters": {"LaunchType": "SATELLITE"}}),
                "launchType",
            ),
            (
                json!({"EcsParameters": {"PlacementStrategy": [{"type": "sideways"}]}}),
                "sideways",
            ),
        ] {
            let refused = run_task("nightly", &target(extra.clone())).unwrap_err();
            assert!(refused.contains(reason), "{extra}: {refused}");
        }
    }
}
