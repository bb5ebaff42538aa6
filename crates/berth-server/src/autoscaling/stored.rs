//! Scalable targets, policies and scheduled actions as the store keeps them, their keys, and
//! the errors that name a missing one in AWS's words. Scheduled actions' next firings are in
//! the index every schedule shares (`crate::schedules`).

use super::error::Error;
use super::requests::{
    PolicyType, ScalableTargetAction, ServiceId, StepScalingPolicyConfiguration, SuspendedState,
    TargetId, TargetTrackingScalingPolicyConfiguration, DESIRED_COUNT,
};
use crate::call::Call;
use berth_scaling::decide::{Range, Suspended};
use berth_scaling::History;
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTarget {
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub role_arn: String,
    pub suspended_state: SuspendedState,
    pub creation_time: f64,
    pub arn: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl StoredTarget {
    pub fn key(&self) -> String {
        target_key(
            &self.service_namespace,
            &self.resource_id,
            &self.scalable_dimension,
        )
    }

    pub fn range(&self) -> Range {
        Range {
            min: self.min_capacity,
            max: self.max_capacity,
        }
    }

    pub fn suspended(&self) -> Suspended {
        let state = &self.suspended_state;
        Suspended {
            dynamic_in: state.dynamic_scaling_in_suspended.unwrap_or(false),
            dynamic_out: state.dynamic_scaling_out_suspended.unwrap_or(false),
            scheduled: state.scheduled_scaling_suspended.unwrap_or(false),
        }
    }

    pub fn service(&self) -> Option<ServiceId> {
        super::requests::service_id(&self.resource_id)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredPolicy {
    pub arn: String,
    pub name: String,
    pub target_key: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub policy_type: PolicyType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepScalingPolicyConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tracking: Option<TargetTrackingScalingPolicyConfiguration>,
    pub creation_time: f64,
    /// What the policy last did, which its cooldowns count from.
    #[serde(default)]
    pub history: History,
}

impl StoredPolicy {
    /// The id in the policy's ARN, which names its alarms too.
    pub fn id(&self) -> &str {
        self.arn
            .split(":scalingPolicy:")
            .nth(1)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default()
    }

    /// The name AWS gives the alarm of a target tracking policy that fires to scale `out`
    /// or in.
    pub fn tracking_alarm(&self, out: bool) -> String {
        let side = if out { "AlarmHigh" } else { "AlarmLow" };
        format!("TargetTracking-{}-{side}-{}", self.resource_id, self.id())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredScheduledAction {
    pub name: String,
    pub arn: String,
    pub target_key: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub schedule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<f64>,
    pub scalable_target_action: ScalableTargetAction,
    pub creation_time: f64,
    /// When it fires next; none once it never will.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_firing: Option<f64>,
}

impl StoredScheduledAction {
    pub fn key(&self) -> String {
        member_key(&self.target_key, &self.name)
    }
}

/// A scaling activity, as DescribeScalingActivities answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredActivity {
    pub activity_id: String,
    pub service_namespace: String,
    pub resource_id: String,
    pub scalable_dimension: String,
    pub description: String,
    pub cause: String,
    pub start_time: f64,
    pub end_time: f64,
    pub status_code: String,
    pub status_message: String,
}

pub fn target_key(namespace: &str, resource_id: &str, dimension: &str) -> String {
    format!("{namespace}|{resource_id}|{dimension}")
}

/// The records of `collection`, scoped by their scalable target, of the target a Describe
/// names (`resource_id`, with the dimension it gives or the service's desired count), or of
/// every target when it names none.
pub fn of_targets<T: crate::call::Resource>(
    call: &Call<'_>,
    collection: Collection,
    namespace: &str,
    resource_id: Option<&str>,
    dimension: Option<&str>,
) -> Result<Vec<T>, crate::call::Fault> {
    let scope = resource_id
        .map(|resource| target_key(namespace, resource, dimension.unwrap_or(DESIRED_COUNT)));
    call.list(collection, scope.as_deref())
}

/// The key of a policy or scheduled action: its target's and its name.
pub fn member_key(target_key: &str, name: &str) -> String {
    format!("{target_key}|{name}")
}

impl TargetId {
    pub fn key(&self) -> String {
        target_key(
            &self.service_namespace,
            &self.resource_id,
            &self.scalable_dimension,
        )
    }

    fn described(&self) -> String {
        format!(
            "service namespace: {}, resource ID: {}, scalable dimension: {}",
            self.service_namespace, self.resource_id, self.scalable_dimension
        )
    }

    pub fn target_not_found(&self) -> Error {
        Error::not_found(format!(
            "No scalable target registered for {}",
            self.described()
        ))
    }

    pub fn policy_not_found(&self, name: &str) -> Error {
        Error::not_found(format!(
            "No scaling policy found for {}, policy name: {name}",
            self.described()
        ))
    }

    pub fn scheduled_action_not_found(&self, name: &str) -> Error {
        Error::not_found(format!(
            "No scheduled action found for {}, scheduled action name: {name}",
            self.described()
        ))
    }
}

/// The registered target a request names, or AWS's ObjectNotFoundException.
pub fn registered(call: &Call<'_>, id: &TargetId) -> Result<StoredTarget, Error> {
    call.get::<StoredTarget>(Collection::ScalableTargets, &id.key())?
        .ok_or_else(|| id.target_not_found())
}
