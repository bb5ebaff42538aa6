//! The states Berth's resources move through, as types. Each spells itself as ECS does
//! through its serde name, so the wire and the store carry ECS's words while the code
//! compares variants; nothing parses a status back from prose.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Writes a status as its serde name (ECS's spelling), for messages and events.
macro_rules! displayed_as_serialized {
    ($($kind:ty),*) => {$(
        impl fmt::Display for $kind {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let text = serde_json::to_value(self).map_err(|_| fmt::Error)?;
                f.write_str(text.as_str().ok_or(fmt::Error)?)
            }
        }
    )*};
}

/// A task's `lastStatus` and `desiredStatus`, in lifecycle order: a task only moves forward.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    #[default]
    Provisioning,
    Pending,
    Activating,
    Running,
    /// Leaving its target groups and draining before its stop signal.
    Deactivating,
    Stopping,
    /// Its containers are gone; its network attachment (awsvpc) is being released.
    Deprovisioning,
    Stopped,
}

impl TaskStatus {
    /// Not yet running: PROVISIONING through ACTIVATING.
    pub fn is_pending(self) -> bool {
        self < TaskStatus::Running
    }

    /// Told to stop and still shutting down: DEACTIVATING through DEPROVISIONING.
    pub fn is_stopping(self) -> bool {
        self > TaskStatus::Running && self < TaskStatus::Stopped
    }
}

/// A container's `lastStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerStatus {
    #[default]
    Pending,
    Running,
    Stopped,
}

/// A container's or task's `healthStatus`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    Healthy,
    Unhealthy,
    #[default]
    Unknown,
}

/// A deployment's `status`: the newest is PRIMARY, older ones with tasks left are ACTIVE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    #[default]
    Primary,
    Active,
    Inactive,
}

/// A deployment's `rolloutState`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    #[default]
    InProgress,
    Completed,
    Failed,
}

/// A service's `status`: DRAINING once deleted while its tasks stop, then INACTIVE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceStatus {
    #[default]
    Active,
    Draining,
    Inactive,
}

/// A cluster's `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterStatus {
    #[default]
    Active,
    Inactive,
}

/// A task definition revision's `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskDefinitionStatus {
    #[default]
    Active,
    Inactive,
    DeleteInProgress,
}

/// A container instance's `status`: a DRAINING instance takes no new tasks and its service
/// tasks move elsewhere; INACTIVE is how a deregistered one is last shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    #[default]
    Active,
    Draining,
    Inactive,
}

/// A task's `stopCode`: ECS's category of why it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
}

displayed_as_serialized!(
    TaskStatus,
    ContainerStatus,
    HealthStatus,
    DeploymentStatus,
    RolloutState,
    ServiceStatus,
    ClusterStatus,
    TaskDefinitionStatus,
    InstanceStatus,
    StopCode
);

/// Why Berth stopped a task, kept with it as a type: what the circuit breaker counts, and
/// what its `stopCode` and `stoppedReason` (ECS's words, written once, when it stops) say.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "cause")]
pub enum StopCause {
    /// StopTask.
    UserInitiated,
    /// The service wants fewer tasks.
    ScaledIn,
    /// A newer deployment replaces it.
    ReplacedByDeployment,
    /// Its instance is DRAINING.
    InstanceDraining,
    /// Its service was deleted.
    ServiceDeleted,
    /// An essential container's health check failed.
    FailedContainerHealthChecks,
    /// A target group it is a target of found it unhealthy.
    #[serde(rename_all = "camelCase")]
    FailedTargetHealthChecks { target_group_arn: String },
    /// It never ran: the image could not be pulled, or a container not started.
    FailedToStart,
    /// An essential container exited.
    EssentialContainerExited,
    /// Its instance's agent was not heard from for the cluster's `lost_after`: the task is
    /// given up (and a service's replaced); its agent stops it if it comes back.
    #[serde(rename_all = "camelCase")]
    InstanceLost { after_seconds: u64 },
}

impl StopCause {
    /// The `stopCode` ECS gives a task stopped for this cause.
    pub fn stop_code(&self) -> StopCode {
        match self {
            StopCause::UserInitiated => StopCode::UserInitiated,
            StopCause::FailedToStart => StopCode::TaskFailedToStart,
            StopCause::EssentialContainerExited => StopCode::EssentialContainerExited,
            _ => StopCode::ServiceSchedulerInitiated,
        }
    }

    /// The `stoppedReason` ECS writes for this cause, unless the stop's own words replace it
    /// (a StopTask `reason`, or what an agent saw go wrong).
    pub fn reason(&self) -> String {
        match self {
            StopCause::UserInitiated => "Task stopped by user".into(),
            StopCause::ScaledIn | StopCause::ReplacedByDeployment => {
                "Scaling activity initiated by (deployment)".into()
            }
            StopCause::InstanceDraining => "Container instance is draining".into(),
            StopCause::ServiceDeleted => "Service is being deleted".into(),
            StopCause::FailedContainerHealthChecks => "Task failed container health checks".into(),
            StopCause::FailedTargetHealthChecks { target_group_arn } => {
                format!("Task failed ELB health checks in (target-group {target_group_arn})")
            }
            StopCause::FailedToStart => "Task failed to start".into(),
            StopCause::EssentialContainerExited => "Essential container in task exited".into(),
            StopCause::InstanceLost { after_seconds } => format!(
                "Task lost: the agent of its container instance was not heard from for \
                 {after_seconds} seconds"
            ),
        }
    }

    /// The cause an agent's `stopCode` reports.
    pub fn reported(code: StopCode) -> Option<StopCause> {
        match code {
            StopCode::TaskFailedToStart => Some(StopCause::FailedToStart),
            StopCode::EssentialContainerExited => Some(StopCause::EssentialContainerExited),
            StopCode::UserInitiated | StopCode::ServiceSchedulerInitiated => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_are_spelled_as_ecs_spells_them() {
        assert_eq!(json!(TaskStatus::Deprovisioning), json!("DEPROVISIONING"));
        assert_eq!(TaskStatus::Deactivating.to_string(), "DEACTIVATING");
        assert_eq!(json!(RolloutState::InProgress), json!("IN_PROGRESS"));
        assert_eq!(
            json!(TaskDefinitionStatus::DeleteInProgress),
            json!("DELETE_IN_PROGRESS")
        );
        assert_eq!(
            json!(StopCode::TaskFailedToStart),
            json!("TaskFailedToStart")
        );
        assert_eq!(
            serde_json::from_value::<HealthStatus>(json!("UNHEALTHY")).unwrap(),
            HealthStatus::Unhealthy
        );
        assert!(serde_json::from_value::<TaskStatus>(json!("running")).is_err());
    }

    #[test]
    fn task_statuses_only_move_forward() {
        use TaskStatus::*;
        let order = [
            Provisioning,
            Pending,
            Activating,
            Running,
            Deactivating,
            Stopping,
            Deprovisioning,
            Stopped,
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert!(Activating.is_pending() && !Running.is_pending());
        assert!(Deactivating.is_stopping() && Deprovisioning.is_stopping());
        assert!(!Running.is_stopping() && !Stopped.is_stopping());
    }

    #[test]
    fn causes_say_what_ecs_says() {
        let target = StopCause::FailedTargetHealthChecks {
            target_group_arn: "arn:tg".into(),
        };
        assert_eq!(target.stop_code(), StopCode::ServiceSchedulerInitiated);
        assert_eq!(
            target.reason(),
            "Task failed ELB health checks in (target-group arn:tg)"
        );
        assert_eq!(
            json!(target),
            json!({"cause": "failedTargetHealthChecks", "targetGroupArn": "arn:tg"})
        );
        assert_eq!(StopCause::UserInitiated.reason(), "Task stopped by user");
        assert_eq!(
            StopCause::reported(StopCode::EssentialContainerExited),
            Some(StopCause::EssentialContainerExited)
        );
    }
}
