//! Where tasks may run: the launch type or capacity providers, and placement constraints and
//! strategies, for CreateService, UpdateService and RunTask; and the memberOf constraints a
//! task definition carries. Separate because those three actions and task definitions all
//! share these rules.

use super::check::{ensure, one_of, required, Check, CLIENT, INVALID};
use crate::error::ErrorKind;
use crate::resources::{Object, PlacementConstraint, PlacementStrategy};
use serde_json::Value;

/// The launch types: what a task definition may require, and what a service or RunTask may
/// launch on.
pub(super) const COMPATIBILITIES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
const CONSTRAINT_TYPES: &[&str] = &["distinctInstance", "memberOf"];
const STRATEGY_TYPES: &[&str] = &["random", "spread", "binpack"];
const BINPACK_FIELDS: &[&str] = &["cpu", "memory"];
const MAX_CONSTRAINTS: usize = 10;
const MAX_STRATEGIES: usize = 5;

pub(super) fn launch_type(
    launch_type: Option<&str>,
    capacity_providers: Option<&[Object]>,
) -> Check {
    let Some(launch_type) = launch_type else {
        return Ok(());
    };
    one_of(INVALID, "launchType", launch_type, COMPATIBILITIES)?;
    ensure(
        launch_type != "MANAGED_INSTANCES",
        INVALID,
        "launchType",
        "use capacityProviderStrategy for MANAGED_INSTANCES, not launchType",
    )?;
    ensure(
        capacity_providers.is_none_or(<[Object]>::is_empty),
        INVALID,
        "launchType",
        "must be omitted when capacityProviderStrategy is given",
    )
}

pub(super) fn placement(
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Check {
    ensure(
        constraints.len() <= MAX_CONSTRAINTS,
        INVALID,
        "placementConstraints",
        format_args!(
            "at most {MAX_CONSTRAINTS} constraints, got {}",
            constraints.len()
        ),
    )?;
    for (i, constraint) in constraints.iter().enumerate() {
        let at = format!("placementConstraints[{i}]");
        let kind = required(INVALID, format!("{at}.type"), constraint.kind.as_deref())?;
        one_of(INVALID, format!("{at}.type"), kind, CONSTRAINT_TYPES)?;
        let expression = constraint.expression.as_deref().filter(|e| !e.is_empty());
        if kind == "distinctInstance" {
            ensure(
                expression.is_none(),
                INVALID,
                format!("{at}.expression"),
                "must be omitted for distinctInstance",
            )?;
        } else {
            constraint_expression(INVALID, &format!("{at}.expression"), expression)?;
        }
    }
    ensure(
        strategies.len() <= MAX_STRATEGIES,
        INVALID,
        "placementStrategy",
        format_args!(
            "at most {MAX_STRATEGIES} strategies, got {}",
            strategies.len()
        ),
    )?;
    for (i, strategy) in strategies.iter().enumerate() {
        let at = format!("placementStrategy[{i}]");
        let kind = required(INVALID, format!("{at}.type"), strategy.kind.as_deref())?;
        one_of(INVALID, format!("{at}.type"), kind, STRATEGY_TYPES)?;
        let field_path = format!("{at}.field");
        match kind {
            "spread" => {
                let field = required(INVALID, &field_path, strategy.field.as_deref())?;
                ensure(
                    matches!(field, "instanceId" | "host") || field.starts_with("attribute:"),
                    INVALID,
                    &field_path,
                    format_args!(
                        "spread takes instanceId, host or attribute:<name>, got {field:?}"
                    ),
                )?;
            }
            "binpack" => {
                let field = required(INVALID, &field_path, strategy.field.as_deref())?;
                one_of(INVALID, &field_path, field, BINPACK_FIELDS)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fargate chooses where tasks run itself, so ECS refuses placement rules for it.
pub(super) fn fargate_placement(
    launch_type: Option<&str>,
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Check {
    if launch_type != Some("FARGATE") {
        return Ok(());
    }
    ensure(
        constraints.is_empty(),
        INVALID,
        "placementConstraints",
        "not supported with launchType FARGATE",
    )?;
    ensure(
        strategies.is_empty(),
        INVALID,
        "placementStrategy",
        "not supported with launchType FARGATE",
    )
}

pub(super) fn task_placement_constraints(list: &[Object]) -> Check {
    ensure(
        list.len() <= MAX_CONSTRAINTS,
        CLIENT,
        "placementConstraints",
        format_args!("at most {MAX_CONSTRAINTS} constraints, got {}", list.len()),
    )?;
    for (i, constraint) in list.iter().enumerate() {
        let kind = constraint.get("type");
        ensure(
            kind.and_then(Value::as_str) == Some("memberOf"),
            CLIENT,
            format!("placementConstraints[{i}].type"),
            format_args!(
                "must be memberOf, got {}",
                kind.map_or_else(|| "nothing".to_string(), Value::to_string)
            ),
        )?;
        let expression = constraint.get("expression").and_then(Value::as_str);
        constraint_expression(
            CLIENT,
            &format!("placementConstraints[{i}].expression"),
            expression,
        )?;
    }
    Ok(())
}

fn constraint_expression(kind: ErrorKind, path: &str, expression: Option<&str>) -> Check {
    let expression = required(kind, path, expression)?;
    let length = expression.chars().count();
    ensure(
        length <= 2000,
        kind,
        path,
        format_args!("must be at most 2000 characters, got {length}"),
    )
}
