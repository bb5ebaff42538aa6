//! RunTask's own limits and the placement and tag rules it shares with services.

use super::run_task;
use crate::requests::{decode, RunTask};
use crate::validate::check::INVALID;
use crate::validate::testing::{assert_rejected, with};
use serde_json::{json, Value};

#[test]
fn run_task_rules() {
    let run = |request: &Value| -> RunTask {
        decode(request.to_string().as_bytes()).expect("test request decodes")
    };
    let base = json!({
        "cluster": "batch",
        "taskDefinition": "portal-indexer:4",
        "count": 10,
        "startedBy": "ecs-svc/1234567890123456789",
        "group": "family:portal-indexer",
        "launchType": "EC2",
        "propagateTags": "TASK_DEFINITION",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}],
        "placementStrategy": [{"type": "binpack", "field": "cpu"}],
        "tags": [{"key": "job", "value": "reindex"}]
    });
    for request in [
        base.clone(),
        json!({"taskDefinition": "portal-indexer"}),
        with(base.clone(), &[("/count", json!(1))]),
        with(base.clone(), &[("/startedBy", json!("ECS Deploy"))]),
        with(base.clone(), &[("/startedBy", json!("b".repeat(128)))]),
    ] {
        assert_eq!(run_task(&run(&request)), Ok(()), "{request}");
    }
    let cases = [
        (
            "no task definition",
            with(base.clone(), &[("/taskDefinition", json!(""))]),
            "taskDefinition: required",
        ),
        (
            "count 0",
            with(base.clone(), &[("/count", json!(0))]),
            "count: must be between 1 and 10, got 0",
        ),
        (
            "count 11",
            with(base.clone(), &[("/count", json!(11))]),
            "count: must be between 1 and 10, got 11",
        ),
        (
            "long startedBy",
            with(base.clone(), &[("/startedBy", json!("b".repeat(129)))]),
            "startedBy: must be at most 128 characters, got 129",
        ),
        (
            "empty group",
            with(base.clone(), &[("/group", json!(""))]),
            "group: must be 1 to 255 characters, got 0",
        ),
        (
            "long group",
            with(base.clone(), &[("/group", json!("g".repeat(256)))]),
            "group: must be 1 to 255 characters, got 256",
        ),
        (
            "unknown launch type",
            with(base.clone(), &[("/launchType", json!("LAMBDA"))]),
            "launchType: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES",
        ),
        (
            "launch type and capacity providers",
            with(
                base.clone(),
                &[(
                    "/capacityProviderStrategy",
                    json!([{"capacityProvider": "spot"}]),
                )],
            ),
            "launchType: must be omitted when capacityProviderStrategy is given",
        ),
        (
            "unknown propagateTags",
            with(base.clone(), &[("/propagateTags", json!("TASK"))]),
            "propagateTags: must be one of TASK_DEFINITION, SERVICE, NONE",
        ),
        (
            "propagating service tags",
            with(base.clone(), &[("/propagateTags", json!("SERVICE"))]),
            "propagateTags: only services may propagate SERVICE tags",
        ),
        (
            "memberOf without an expression",
            with(
                base.clone(),
                &[("/placementConstraints/0/expression", Value::Null)],
            ),
            "placementConstraints[0].expression: required",
        ),
        (
            "binpack on disk",
            with(
                base.clone(),
                &[("/placementStrategy/0/field", json!("disk"))],
            ),
            "placementStrategy[0].field: must be one of cpu, memory",
        ),
        (
            "placement on Fargate",
            with(base.clone(), &[("/launchType", json!("FARGATE"))]),
            "placementConstraints: not supported with launchType FARGATE",
        ),
        (
            "reserved tag",
            with(base.clone(), &[("/tags/0/key", json!("aws:job"))]),
            "tags[0].key: the aws: prefix is reserved",
        ),
    ];
    for (name, request, needle) in cases {
        assert_rejected(name, run_task(&run(&request)), INVALID, needle);
    }
}
