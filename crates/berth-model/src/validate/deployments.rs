//! How a service rolls out a new task definition: deploymentConfiguration's percents,
//! strategy and bake time, and the deployment controller. Separate because CreateService
//! and UpdateService both take them, and they bound every rolling update Berth makes.

use super::check::{between, ensure, one_of, optional_one_of, required, Check, INVALID};
use crate::resources::{DeploymentConfiguration, Object};
use serde_json::Value;

const DEPLOYMENT_STRATEGIES: &[&str] = &["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"];
const DEPLOYMENT_CONTROLLERS: &[&str] = &["ECS", "CODE_DEPLOY", "EXTERNAL"];

pub(super) fn deployment_configuration(config: Option<&DeploymentConfiguration>) -> Check {
    let Some(config) = config else {
        return Ok(());
    };
    if let Some(maximum) = config.maximum_percent {
        ensure(
            maximum >= 0,
            INVALID,
            "deploymentConfiguration.maximumPercent",
            format_args!("must not be negative, got {maximum}"),
        )?;
    }
    if let Some(minimum) = config.minimum_healthy_percent {
        between(
            INVALID,
            "deploymentConfiguration.minimumHealthyPercent",
            minimum,
            0,
            100,
            "",
        )?;
    }
    // Below the minimum, a deployment could neither start a new task nor stop an old one.
    if let (Some(maximum), Some(minimum)) = (config.maximum_percent, config.minimum_healthy_percent)
    {
        ensure(
            maximum >= minimum,
            INVALID,
            "deploymentConfiguration.maximumPercent",
            format_args!("must be at least minimumHealthyPercent ({minimum}), got {maximum}"),
        )?;
    }
    optional_one_of(
        INVALID,
        "deploymentConfiguration.strategy",
        config.strategy.as_deref(),
        DEPLOYMENT_STRATEGIES,
    )?;
    match config.bake_time_in_minutes {
        Some(minutes) => ensure(
            minutes >= 0,
            INVALID,
            "deploymentConfiguration.bakeTimeInMinutes",
            format_args!("must not be negative, got {minutes}"),
        ),
        None => Ok(()),
    }
}

pub(super) fn deployment_controller(controller: Option<&Object>) -> Check {
    let Some(controller) = controller else {
        return Ok(());
    };
    let kind = required(
        INVALID,
        "deploymentController.type",
        controller.get("type").and_then(Value::as_str),
    )?;
    one_of(
        INVALID,
        "deploymentController.type",
        kind,
        DEPLOYMENT_CONTROLLERS,
    )
}
