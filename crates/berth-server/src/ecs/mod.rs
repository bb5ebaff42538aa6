//! The ECS API: decode → validate → read and write the store → ECS-shaped JSON.
//!
//! Each action's input is decoded strictly and checked against ECS's rules
//! ([`berth_model::requests::Request`]) before its handler runs; handlers are synchronous
//! functions of a [`Call`](crate::call::Call) and that typed request, one module per resource
//! (`clusters`, `task_definitions`, `services`, `tasks`, `container_instances`, `tags`).
//! `agents` is the server's side of Berth's own agent protocol over the same resources,
//! `placement` the one place a cluster's machines and tasks become the placer's view, and
//! `events` how service events are kept.

pub mod agents;
pub mod clusters;
mod common;
pub mod container_instances;
pub mod events;
pub mod names;
mod pagination;
pub mod services;
mod tags;
pub mod task_definitions;
pub mod tasks;
pub mod view;

#[cfg(test)]
mod tests;

use crate::call::Fault;
use crate::registry::{Access, Action, Input, JsonText, Service, WireError};
use berth_aws::{AwsError, ServiceSpec};
use berth_model::requests::{self, Request};
use berth_model::{ApiError, ErrorKind};

/// How the ECS API is reached.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "ECS",
    signing_name: "ecs",
    json_target_prefix: Some("AmazonEC2ContainerServiceV20141113"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

impl WireError for ApiError {
    fn into_wire(self) -> AwsError {
        AwsError::with_status(self.kind.name(), self.message, self.kind.status())
    }
}

impl From<Fault> for ApiError {
    /// A store failure the caller cannot fix: the only source of 500 answers.
    fn from(fault: Fault) -> Self {
        tracing::error!(error = %fault, "store failure");
        ApiError::new(ErrorKind::ServerException, fault.to_string())
    }
}

/// Reads an ECS action's JSON body into its request, checked against ECS's rules.
fn decode<T: Request>(input: Input<'_>) -> Result<T, AwsError> {
    match input {
        Input::Json(body) => T::decode(body).map_err(WireError::into_wire),
        Input::Query(_) | Input::Cbor(_) => Err(AwsError::new(
            "SerializationException",
            "ECS takes JSON bodies (application/x-amz-json-1.1)",
        )),
    }
}

fn action<T: Request, R: Into<crate::registry::Output> + 'static>(
    name: &'static str,
    access: Access,
    handle: fn(&crate::call::Call<'_>, &T) -> Result<R, ApiError>,
) -> Action {
    Action::new(name, access, decode::<T>, handle)
}

/// The ECS API and every action Berth answers of it.
pub fn service() -> Service {
    use Access::{LongRead, Read, Write};
    Service {
        spec: SPEC,
        actions: vec![
            action::<requests::CreateCluster, _>("CreateCluster", Write, clusters::create),
            action::<requests::DescribeClusters, _>("DescribeClusters", Read, clusters::describe),
            action::<requests::ListClusters, _>("ListClusters", Read, clusters::list),
            action::<requests::DeleteCluster, _>("DeleteCluster", Write, clusters::delete),
            action::<requests::RegisterTaskDefinition, _>(
                "RegisterTaskDefinition",
                Write,
                task_definitions::register,
            ),
            action::<requests::DescribeTaskDefinition, _>(
                "DescribeTaskDefinition",
                LongRead,
                task_definitions::describe,
            ),
            action::<requests::ListTaskDefinitions, _>(
                "ListTaskDefinitions",
                LongRead,
                task_definitions::list,
            ),
            action::<requests::ListTaskDefinitionFamilies, _>(
                "ListTaskDefinitionFamilies",
                LongRead,
                task_definitions::list_families,
            ),
            action::<requests::DeregisterTaskDefinition, _>(
                "DeregisterTaskDefinition",
                Write,
                task_definitions::deregister,
            ),
            action::<requests::DeleteTaskDefinitions, _>(
                "DeleteTaskDefinitions",
                Write,
                task_definitions::delete,
            ),
            action::<requests::CreateService, _>("CreateService", Write, services::create),
            action::<requests::UpdateService, _>("UpdateService", Write, services::update),
            action::<requests::DescribeServices, JsonText>(
                "DescribeServices",
                Read,
                services::describe,
            ),
            action::<requests::ListServices, _>("ListServices", Read, services::list),
            action::<requests::DeleteService, _>("DeleteService", Write, services::delete),
            action::<requests::RunTask, _>("RunTask", Write, tasks::run),
            action::<requests::StopTask, _>("StopTask", Write, tasks::stop),
            action::<requests::DescribeTasks, _>("DescribeTasks", Read, tasks::describe),
            action::<requests::ListTasks, _>("ListTasks", Read, tasks::list),
            action::<requests::RegisterContainerInstance, _>(
                "RegisterContainerInstance",
                Write,
                container_instances::register,
            ),
            action::<requests::DescribeContainerInstances, _>(
                "DescribeContainerInstances",
                Read,
                container_instances::describe,
            ),
            action::<requests::ListContainerInstances, _>(
                "ListContainerInstances",
                Read,
                container_instances::list,
            ),
            action::<requests::UpdateContainerInstancesState, _>(
                "UpdateContainerInstancesState",
                Write,
                container_instances::update_state,
            ),
            action::<requests::DeregisterContainerInstance, _>(
                "DeregisterContainerInstance",
                Write,
                container_instances::deregister,
            ),
            action::<requests::TagResource, _>("TagResource", Write, tags::tag),
            action::<requests::UntagResource, _>("UntagResource", Write, tags::untag),
            action::<requests::ListTagsForResource, _>("ListTagsForResource", Read, tags::list),
        ],
    }
}
