//! CreateService and UpdateService, as far as no store is needed: a service's own members
//! (name, desiredCount, scheduling strategy, zone rebalancing, health check grace period),
//! and the order in which those and the deployment, load balancer, placement and tag rules
//! are checked. Separate because only these two actions create or change a service; the
//! rules they share with RunTask and task definitions live in those shared modules.

use super::check::{between, ensure, identifier, optional_one_of, Check, INVALID};
use super::deployments::{deployment_configuration, deployment_controller};
use super::load_balancers::load_balancers;
use super::placement::{fargate_placement, launch_type, placement};
use super::tags::{tags, PROPAGATE_TAGS};
use crate::error::ApiError;
use crate::requests::{CreateService, UpdateService};

const SCHEDULING_STRATEGIES: &[&str] = &["REPLICA", "DAEMON"];
const AZ_REBALANCING: &[&str] = &["ENABLED", "DISABLED"];

/// Checks CreateService members that don't need the store: serviceName format,
/// desiredCount >= 0, deploymentConfiguration percents (maximumPercent >= 0,
/// minimumHealthyPercent 0..=100, maximum not below minimum), launchType / schedulingStrategy /
/// propagateTags enums, placementStrategy types (random|spread|binpack, spread/binpack need a
/// field), placementConstraints types (distinctInstance without expression, memberOf with
/// expression), loadBalancers entries (containerName and containerPort both given),
/// healthCheckGracePeriodSeconds range (0..=2147483647), tags.
pub fn create_service(req: &CreateService) -> Result<(), ApiError> {
    identifier(INVALID, "serviceName", &req.service_name)?;
    desired_count(req.desired_count)?;
    launch_type(
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    optional_one_of(
        INVALID,
        "schedulingStrategy",
        req.scheduling_strategy.as_deref(),
        SCHEDULING_STRATEGIES,
    )?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    optional_one_of(
        INVALID,
        "availabilityZoneRebalancing",
        req.availability_zone_rebalancing.as_deref(),
        AZ_REBALANCING,
    )?;
    let strategies = req.placement_strategy.as_deref().unwrap_or_default();
    if req.scheduling_strategy.as_deref() == Some("DAEMON") {
        ensure(
            req.launch_type.as_deref() != Some("FARGATE"),
            INVALID,
            "schedulingStrategy",
            "the DAEMON scheduling strategy is not supported with launchType FARGATE",
        )?;
        ensure(
            strategies.is_empty(),
            INVALID,
            "placementStrategy",
            "not supported with the DAEMON scheduling strategy",
        )?;
    }
    deployment_configuration(req.deployment_configuration.as_ref())?;
    deployment_controller(req.deployment_controller.as_ref())?;
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    placement(constraints, strategies)?;
    fargate_placement(req.launch_type.as_deref(), constraints, strategies)?;
    load_balancers(req.load_balancers.as_deref().unwrap_or_default())?;
    grace_period(req.health_check_grace_period_seconds)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

/// Checks UpdateService members that don't need the store, with CreateService's rules.
pub fn update_service(req: &UpdateService) -> Result<(), ApiError> {
    ensure(!req.service.is_empty(), INVALID, "service", "required")?;
    desired_count(req.desired_count)?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    optional_one_of(
        INVALID,
        "availabilityZoneRebalancing",
        req.availability_zone_rebalancing.as_deref(),
        AZ_REBALANCING,
    )?;
    deployment_configuration(req.deployment_configuration.as_ref())?;
    deployment_controller(req.deployment_controller.as_ref())?;
    placement(
        req.placement_constraints.as_deref().unwrap_or_default(),
        req.placement_strategy.as_deref().unwrap_or_default(),
    )?;
    load_balancers(req.load_balancers.as_deref().unwrap_or_default())?;
    grace_period(req.health_check_grace_period_seconds)
}

fn desired_count(count: Option<i32>) -> Check {
    match count {
        Some(count) => ensure(
            count >= 0,
            INVALID,
            "desiredCount",
            format_args!("must not be negative, got {count}"),
        ),
        None => Ok(()),
    }
}

fn grace_period(seconds: Option<i32>) -> Check {
    match seconds {
        Some(seconds) => between(
            INVALID,
            "healthCheckGracePeriodSeconds",
            seconds,
            0,
            i32::MAX,
            " seconds",
        ),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
