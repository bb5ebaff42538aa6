//! Each action's input, with what Application Auto Scaling checks of it before looking at
//! any target (shapes and limits from botocore's `application-autoscaling` model). The
//! policy configurations are kept as given and answered back unchanged.

use super::error::{AutoScaling, Error};
use crate::json_api::Request;
use berth_scaling::schedule::{self, Schedule};
use berth_scaling::step::{self, AdjustmentType, Aggregation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The one namespace and dimension Berth scales.
pub const ECS: &str = "ecs";
pub const DESIRED_COUNT: &str = "ecs:service:DesiredCount";

/// Which scalable target a request names.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetId {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
}

/// An ECS service's resource id, `service/<cluster>/<service>`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceId {
    pub cluster: String,
    pub service: String,
}

pub fn service_id(resource_id: &str) -> Option<ServiceId> {
    let rest = resource_id.strip_prefix("service/")?;
    let (cluster, service) = rest.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/');
    (valid(cluster) && valid(service)).then(|| ServiceId {
        cluster: cluster.into(),
        service: service.into(),
    })
}

fn check_namespace(namespace: &str) -> Result<(), Error> {
    if namespace != ECS {
        return Err(Error::validation(format!(
            "Berth scales ECS services only: ServiceNamespace must be ecs, not {namespace:?}"
        )));
    }
    Ok(())
}

fn check_dimension(dimension: &str) -> Result<(), Error> {
    if dimension != DESIRED_COUNT {
        return Err(Error::validation(format!(
            "Unsupported service namespace, resource type or scalable dimension: ecs scales {DESIRED_COUNT}, not {dimension:?}"
        )));
    }
    Ok(())
}

impl TargetId {
    fn check(&self) -> Result<(), Error> {
        check_namespace(&self.service_namespace)?;
        check_dimension(&self.scalable_dimension)?;
        if service_id(&self.resource_id).is_none() {
            return Err(Error::validation(format!(
                "Unsupported resource id {:?}: an ECS service's is service/<cluster-name>/<service-name>",
                self.resource_id
            )));
        }
        Ok(())
    }

    pub fn service(&self) -> ServiceId {
        service_id(&self.resource_id).expect("checked before any handler runs")
    }
}

fn check_max_results(max: Option<i64>) -> Result<(), Error> {
    match max {
        Some(n) if !(1..=50).contains(&n) => Err(Error::validation(format!(
            "MaxResults must be between 1 and 50, got {n}"
        ))),
        _ => Ok(()),
    }
}

fn check_name(what: &str, name: &str) -> Result<(), Error> {
    let length = name.chars().count();
    if !(1..=256).contains(&length) {
        return Err(Error::validation(format!(
            "{what} must be 1 to 256 characters, got {length}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(format!(
            "{what} must not hold control characters"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuspendedState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_scaling_in_suspended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_scaling_out_suspended: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_scaling_suspended: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterScalableTarget {
    #[serde(flatten)]
    pub target: TargetId,
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    #[serde(rename = "RoleARN")]
    pub role_arn: Option<String>,
    pub suspended_state: Option<SuspendedState>,
    pub tags: Option<BTreeMap<String, String>>,
}

impl Request<AutoScaling> for RegisterScalableTarget {
    fn check(&self) -> Result<(), Error> {
        self.target.check()?;
        for (name, value) in [
            ("MinCapacity", self.min_capacity),
            ("MaxCapacity", self.max_capacity),
        ] {
            if value.is_some_and(|v| v < 0) {
                return Err(Error::validation(format!("{name} must be at least 0")));
            }
        }
        if let (Some(min), Some(max)) = (self.min_capacity, self.max_capacity) {
            berth_scaling::decide::Range::new(min, max).map_err(Error::validation)?;
        }
        if let Some(tags) = &self.tags {
            if let Some(problem) = crate::json_api::tag_problem(
                "scalable target",
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            ) {
                return Err(Error::validation(problem));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterScalableTarget {
    #[serde(flatten)]
    pub target: TargetId,
}

impl Request<AutoScaling> for DeregisterScalableTarget {
    fn check(&self) -> Result<(), Error> {
        self.target.check()
    }
}

/// What the Describe actions filter by.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalableTargets {
    pub service_namespace: String,
    pub resource_ids: Option<Vec<String>>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<AutoScaling> for DescribeScalableTargets {
    fn check(&self) -> Result<(), Error> {
        if self.resource_ids.as_ref().is_some_and(|ids| ids.len() > 50) {
            return Err(Error::validation(
                "ResourceIds may hold at most 50 resource ids",
            ));
        }
        check_max_results(self.max_results)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyType {
    StepScaling,
    TargetTrackingScaling,
    PredictiveScaling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepAdjustment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_lower_bound: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_interval_upper_bound: Option<f64>,
    pub scaling_adjustment: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepScalingPolicyConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment_type: Option<AdjustmentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_adjustments: Option<Vec<StepAdjustment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_adjustment_magnitude: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_aggregation_type: Option<Aggregation>,
}

impl StepScalingPolicyConfiguration {
    /// The configuration as `berth_scaling` decides with it.
    pub fn decisions(&self) -> step::StepScaling {
        step::StepScaling {
            adjustment_type: self
                .adjustment_type
                .unwrap_or(AdjustmentType::ChangeInCapacity),
            steps: self
                .step_adjustments
                .iter()
                .flatten()
                .map(|s| step::StepAdjustment {
                    lower: s.metric_interval_lower_bound,
                    upper: s.metric_interval_upper_bound,
                    adjustment: s.scaling_adjustment,
                })
                .collect(),
            min_adjustment_magnitude: self.min_adjustment_magnitude,
            cooldown: self.cooldown.map_or(step::DEFAULT_COOLDOWN, |c| c as f64),
            aggregation: self.metric_aggregation_type.unwrap_or_default(),
        }
    }

    fn check(&self) -> Result<(), Error> {
        let Some(kind) = self.adjustment_type else {
            return Err(Error::validation(
                "StepScalingPolicyConfiguration needs an AdjustmentType: ChangeInCapacity, PercentChangeInCapacity or ExactCapacity",
            ));
        };
        if self.step_adjustments.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::validation(
                "StepScalingPolicyConfiguration needs at least one StepAdjustment",
            ));
        }
        step::check_steps(&self.decisions().steps).map_err(Error::validation)?;
        if let Some(magnitude) = self.min_adjustment_magnitude {
            if kind != AdjustmentType::PercentChangeInCapacity {
                return Err(Error::validation(
                    "MinAdjustmentMagnitude applies to the PercentChangeInCapacity adjustment type only",
                ));
            }
            if magnitude < 1 {
                return Err(Error::validation(
                    "MinAdjustmentMagnitude must be at least 1",
                ));
            }
        }
        if kind == AdjustmentType::ExactCapacity
            && self
                .step_adjustments
                .iter()
                .flatten()
                .any(|s| s.scaling_adjustment < 0)
        {
            return Err(Error::validation(
                "an ExactCapacity ScalingAdjustment is a capacity and must be at least 0",
            ));
        }
        if self.cooldown.is_some_and(|c| c < 0) {
            return Err(Error::validation("Cooldown must be at least 0 seconds"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedMetricSpecification {
    pub predefined_metric_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
}

/// ECS's predefined metrics.
pub const ECS_METRICS: [&str; 5] = [
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
    "ECSServiceAverageCPUUtilizationHighResolution",
    "ECSServiceAverageMemoryUtilizationHighResolution",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDimension {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomizedMetricSpecification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<Vec<MetricDimension>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Metric math queries, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<serde_json::Value>>,
}

impl CustomizedMetricSpecification {
    fn check(&self) -> Result<(), Error> {
        let single =
            self.metric_name.is_some() || self.namespace.is_some() || self.statistic.is_some();
        match (&self.metrics, single) {
            (Some(_), true) => Err(Error::validation(
                "CustomizedMetricSpecification takes either MetricName, Namespace and Statistic, or Metrics, not both",
            )),
            (Some(metrics), false) if metrics.is_empty() => Err(Error::validation(
                "CustomizedMetricSpecification's Metrics must hold at least one query",
            )),
            (Some(_), false) => Ok(()),
            (None, _) => {
                if self.metric_name.is_none() || self.namespace.is_none() || self.statistic.is_none() {
                    return Err(Error::validation(
                        "CustomizedMetricSpecification needs MetricName, Namespace and Statistic (or Metrics)",
                    ));
                }
                let statistic = self.statistic.as_deref().unwrap_or_default();
                if !matches!(statistic, "Average" | "Minimum" | "Maximum" | "SampleCount" | "Sum") {
                    return Err(Error::validation(format!(
                        "Statistic must be Average, Minimum, Maximum, SampleCount or Sum, not {statistic:?}"
                    )));
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTrackingScalingPolicyConfiguration {
    pub target_value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predefined_metric_specification: Option<PredefinedMetricSpecification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customized_metric_specification: Option<CustomizedMetricSpecification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_cooldown: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_scale_in: Option<bool>,
}

impl TargetTrackingScalingPolicyConfiguration {
    /// The configuration as `berth_scaling` decides with it (ECS's 300-second cooldowns
    /// when none is given).
    pub fn decisions(&self) -> berth_scaling::target::TargetTracking {
        let cooldown =
            |c: Option<i64>| c.map_or(berth_scaling::target::DEFAULT_COOLDOWN, |c| c as f64);
        berth_scaling::target::TargetTracking {
            target_value: self.target_value,
            scale_out_cooldown: cooldown(self.scale_out_cooldown),
            scale_in_cooldown: cooldown(self.scale_in_cooldown),
            disable_scale_in: self.disable_scale_in.unwrap_or(false),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if !(self.target_value.is_finite() && self.target_value > 0.0) {
            return Err(Error::validation(format!(
                "TargetValue must be a number above 0, got {}",
                self.target_value
            )));
        }
        match (&self.predefined_metric_specification, &self.customized_metric_specification) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "A target tracking policy takes a PredefinedMetricSpecification or a CustomizedMetricSpecification, not both",
                ))
            }
            (None, None) => {
                return Err(Error::validation(
                    "A target tracking policy needs a PredefinedMetricSpecification or a CustomizedMetricSpecification",
                ))
            }
            (Some(predefined), None) => {
                let kind = predefined.predefined_metric_type.as_str();
                if !ECS_METRICS.contains(&kind) {
                    return Err(Error::validation(format!(
                        "Unsupported metric type {kind} for service namespace ecs: use one of {}",
                        ECS_METRICS.join(", ")
                    )));
                }
                if kind == "ALBRequestCountPerTarget" && predefined.resource_label.is_none() {
                    return Err(Error::validation(
                        "ALBRequestCountPerTarget needs a ResourceLabel: app/<load-balancer-name>/<load-balancer-id>/targetgroup/<target-group-name>/<target-group-id>",
                    ));
                }
                if kind != "ALBRequestCountPerTarget" && predefined.resource_label.is_some() {
                    return Err(Error::validation(format!(
                        "ResourceLabel is for ALBRequestCountPerTarget only, not {kind}"
                    )));
                }
            }
            (None, Some(customized)) => customized.check()?,
        }
        for (name, value) in [
            ("ScaleOutCooldown", self.scale_out_cooldown),
            ("ScaleInCooldown", self.scale_in_cooldown),
        ] {
            if value.is_some_and(|v| v < 0) {
                return Err(Error::validation(format!(
                    "{name} must be at least 0 seconds"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScalingPolicy {
    pub policy_name: String,
    #[serde(flatten)]
    pub target: TargetId,
    pub policy_type: Option<PolicyType>,
    pub step_scaling_policy_configuration: Option<StepScalingPolicyConfiguration>,
    pub target_tracking_scaling_policy_configuration:
        Option<TargetTrackingScalingPolicyConfiguration>,
    pub predictive_scaling_policy_configuration: Option<serde_json::Value>,
}

impl PutScalingPolicy {
    /// StepScaling unless it says otherwise, as AWS defaults it.
    pub fn kind(&self) -> PolicyType {
        self.policy_type.unwrap_or(PolicyType::StepScaling)
    }
}

impl Request<AutoScaling> for PutScalingPolicy {
    fn check(&self) -> Result<(), Error> {
        check_name("PolicyName", &self.policy_name)?;
        self.target.check()?;
        match self.kind() {
            PolicyType::PredictiveScaling => Err(Error::validation(
                "Berth does not forecast: use TargetTrackingScaling, which reacts within seconds on Berth, or StepScaling",
            )),
            PolicyType::StepScaling => {
                if self.target_tracking_scaling_policy_configuration.is_some() {
                    return Err(Error::validation(
                        "TargetTrackingScalingPolicyConfiguration goes with PolicyType TargetTrackingScaling, not StepScaling",
                    ));
                }
                self.step_scaling_policy_configuration
                    .as_ref()
                    .ok_or_else(|| Error::validation("A StepScaling policy needs a StepScalingPolicyConfiguration"))?
                    .check()
            }
            PolicyType::TargetTrackingScaling => {
                if self.step_scaling_policy_configuration.is_some() {
                    return Err(Error::validation(
                        "StepScalingPolicyConfiguration goes with PolicyType StepScaling, not TargetTrackingScaling",
                    ));
                }
                self.target_tracking_scaling_policy_configuration
                    .as_ref()
                    .ok_or_else(|| Error::validation("A TargetTrackingScaling policy needs a TargetTrackingScalingPolicyConfiguration"))?
                    .check()
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalingPolicies {
    pub policy_names: Option<Vec<String>>,
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<AutoScaling> for DescribeScalingPolicies {
    fn check(&self) -> Result<(), Error> {
        check_max_results(self.max_results)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteScalingPolicy {
    pub policy_name: String,
    #[serde(flatten)]
    pub target: TargetId,
}

impl Request<AutoScaling> for DeleteScalingPolicy {
    fn check(&self) -> Result<(), Error> {
        self.target.check()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScalingActivities {
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
    pub include_not_scaled_activities: Option<bool>,
}

impl Request<AutoScaling> for DescribeScalingActivities {
    fn check(&self) -> Result<(), Error> {
        check_max_results(self.max_results)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTargetAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScheduledAction {
    pub scheduled_action_name: String,
    #[serde(flatten)]
    pub target: TargetId,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub start_time: Option<f64>,
    pub end_time: Option<f64>,
    pub scalable_target_action: Option<ScalableTargetAction>,
}

impl Request<AutoScaling> for PutScheduledAction {
    fn check(&self) -> Result<(), Error> {
        let name = &self.scheduled_action_name;
        check_name("ScheduledActionName", name)?;
        if name.contains([':', '/', '|']) || name.starts_with(' ') || name.ends_with(' ') {
            return Err(Error::validation(format!(
                "ScheduledActionName {name:?} must not hold :, / or |, nor start or end with a space"
            )));
        }
        self.target.check()?;
        if let Some(expression) = &self.schedule {
            Schedule::parse(expression).map_err(Error::validation)?;
        }
        schedule::zone(self.timezone.as_deref()).map_err(Error::validation)?;
        if let (Some(start), Some(end)) = (self.start_time, self.end_time) {
            if end <= start {
                return Err(Error::validation("EndTime must be after StartTime"));
            }
        }
        if let Some(action) = &self.scalable_target_action {
            for (name, value) in [
                ("MinCapacity", action.min_capacity),
                ("MaxCapacity", action.max_capacity),
            ] {
                if value.is_some_and(|v| v < 0) {
                    return Err(Error::validation(format!(
                        "ScalableTargetAction's {name} must be at least 0"
                    )));
                }
            }
            if let (Some(min), Some(max)) = (action.min_capacity, action.max_capacity) {
                berth_scaling::decide::Range::new(min, max).map_err(Error::validation)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeScheduledActions {
    pub scheduled_action_names: Option<Vec<String>>,
    pub service_namespace: String,
    pub resource_id: Option<String>,
    pub scalable_dimension: Option<String>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

impl Request<AutoScaling> for DescribeScheduledActions {
    fn check(&self) -> Result<(), Error> {
        check_max_results(self.max_results)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteScheduledAction {
    pub scheduled_action_name: String,
    #[serde(flatten)]
    pub target: TargetId,
}

impl Request<AutoScaling> for DeleteScheduledAction {
    fn check(&self) -> Result<(), Error> {
        self.target.check()
    }
}
