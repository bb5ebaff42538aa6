//! Which of ECS's rules each action's input is checked against before any handler runs (see
//! [`Request`]). Rules that need stored state (does the cluster exist, is the revision
//! ACTIVE) are the handlers'.

use super::{
    cluster_name, create_service, register_task_definition, run_task, tags, update_service,
};
use crate::error::ApiError;
use crate::requests::*;

/// Refuses a list of names outside `1..=max`, as ECS's Describe and batch actions do.
fn count(member: &str, given: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if given == 0 || given > max {
        return Err(ApiError::invalid(format!(
            "{member}: give between 1 and {max} {what} per call"
        )));
    }
    Ok(())
}

impl Request for CreateCluster {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(name) = &self.cluster_name {
            cluster_name(name)?;
        }
        tags(self.tags.as_deref().unwrap_or_default())
    }
}

impl Request for DescribeClusters {
    fn validate(&self) -> Result<(), ApiError> {
        if self.clusters.as_ref().is_some_and(|c| c.len() > 100) {
            return Err(ApiError::invalid("clusters: at most 100 clusters per call"));
        }
        Ok(())
    }
}

impl Request for ListClusters {}
impl Request for DeleteCluster {}

impl Request for RegisterTaskDefinition {
    fn validate(&self) -> Result<(), ApiError> {
        register_task_definition(self)
    }
}

impl Request for DescribeTaskDefinition {}
impl Request for ListTaskDefinitions {}
impl Request for ListTaskDefinitionFamilies {}
impl Request for DeregisterTaskDefinition {}

impl Request for DeleteTaskDefinitions {
    fn validate(&self) -> Result<(), ApiError> {
        count(
            "taskDefinitions",
            self.task_definitions.len(),
            10,
            "task definitions",
        )
    }
}

impl Request for CreateService {
    fn validate(&self) -> Result<(), ApiError> {
        create_service(self)
    }
}

impl Request for UpdateService {
    fn validate(&self) -> Result<(), ApiError> {
        update_service(self)
    }
}

impl Request for DescribeServices {
    fn validate(&self) -> Result<(), ApiError> {
        count("services", self.services.len(), 10, "services")
    }
}

impl Request for ListServices {}
impl Request for DeleteService {}

impl Request for RunTask {
    fn validate(&self) -> Result<(), ApiError> {
        run_task(self)
    }
}

impl Request for StopTask {
    fn validate(&self) -> Result<(), ApiError> {
        if self
            .reason
            .as_ref()
            .is_some_and(|r| r.chars().count() > 255)
        {
            return Err(ApiError::invalid("reason: at most 255 characters"));
        }
        Ok(())
    }
}

impl Request for DescribeTasks {
    fn validate(&self) -> Result<(), ApiError> {
        count("tasks", self.tasks.len(), 100, "tasks")
    }
}

impl Request for ListTasks {
    fn validate(&self) -> Result<(), ApiError> {
        let desired = self.desired_status.as_deref().unwrap_or("RUNNING");
        if !matches!(desired, "RUNNING" | "PENDING" | "STOPPED") {
            return Err(ApiError::invalid(format!(
                "desiredStatus: must be RUNNING, PENDING or STOPPED, got {desired:?}"
            )));
        }
        if self.service_name.is_some() && (self.family.is_some() || self.started_by.is_some()) {
            return Err(ApiError::invalid(
                "serviceName may not be combined with family or startedBy",
            ));
        }
        Ok(())
    }
}

impl Request for TagResource {
    fn validate(&self) -> Result<(), ApiError> {
        tags(&self.tags)
    }
}

impl Request for UntagResource {}
impl Request for ListTagsForResource {}

impl Request for RegisterContainerInstance {
    fn validate(&self) -> Result<(), ApiError> {
        if !self.platform_devices.is_empty() {
            return Err(ApiError::invalid(
                "platformDevices: Berth places no GPU or Neuron devices; register without them",
            ));
        }
        Ok(())
    }
}

impl Request for DescribeContainerInstances {
    fn validate(&self) -> Result<(), ApiError> {
        count(
            "containerInstances",
            self.container_instances.len(),
            100,
            "container instances",
        )
    }
}

impl Request for ListContainerInstances {}

impl Request for UpdateContainerInstancesState {
    fn validate(&self) -> Result<(), ApiError> {
        if !matches!(self.status.as_str(), "ACTIVE" | "DRAINING") {
            return Err(ApiError::invalid(format!(
                "status: must be ACTIVE or DRAINING, got {:?}",
                self.status
            )));
        }
        count(
            "containerInstances",
            self.container_instances.len(),
            10,
            "container instances",
        )
    }
}

impl Request for DeregisterContainerInstance {}
