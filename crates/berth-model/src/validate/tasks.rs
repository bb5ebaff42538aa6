//! RunTask: count, startedBy, group and tag propagation, then the launch type, placement and
//! tag rules it shares with services. Separate from `services` because a task run by hand
//! has limits of its own (ten at a time, no service whose tags it could inherit).

use super::check::{between, ensure, optional_one_of, INVALID};
use super::placement::{fargate_placement, launch_type, placement};
use super::tags::{tags, PROPAGATE_TAGS};
use crate::error::ApiError;
use crate::requests::RunTask;

/// RunTask: count 1..=10 (InvalidParameterException), startedBy at most 128 chars, group,
/// enums, placement as above, tags.
pub fn run_task(req: &RunTask) -> Result<(), ApiError> {
    ensure(
        !req.task_definition.is_empty(),
        INVALID,
        "taskDefinition",
        "required",
    )?;
    if let Some(count) = req.count {
        between(INVALID, "count", count, 1, 10, "")?;
    }
    if let Some(started_by) = &req.started_by {
        let length = started_by.chars().count();
        // ECS's documentation names letters, numbers, hyphens, slashes and underscores, but
        // ECS accepts any text within the length: ecs-deploy's `ecs run` sends "ECS Deploy".
        ensure(
            length <= 128,
            INVALID,
            "startedBy",
            format_args!("must be at most 128 characters, got {length}"),
        )?;
    }
    if let Some(group) = &req.group {
        let length = group.chars().count();
        ensure(
            (1..=255).contains(&length),
            INVALID,
            "group",
            format_args!("must be 1 to 255 characters, got {length}"),
        )?;
    }
    launch_type(
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    ensure(
        req.propagate_tags.as_deref() != Some("SERVICE"),
        INVALID,
        "propagateTags",
        "only services may propagate SERVICE tags, use TASK_DEFINITION or NONE",
    )?;
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    let strategies = req.placement_strategy.as_deref().unwrap_or_default();
    placement(constraints, strategies)?;
    fargate_placement(req.launch_type.as_deref(), constraints, strategies)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests;
