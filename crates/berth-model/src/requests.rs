//! Request shapes of the ECS actions Berth answers, and their decoding.
//!
//! Decoding is strict about types (a string where the model says integer is refused) and
//! names the offending member, so a client learns exactly what to fix.

use crate::error::{ApiError, ErrorKind};
use crate::resources::{
    Attribute, ContainerDefinition, DeploymentConfiguration, InstanceResource, LoadBalancer,
    Object, PlacementConstraint, PlacementStrategy, Tag, Volume,
};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Decodes a JSON request body into an action's input shape.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::SerializationException,
            format!("request body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorKind::SerializationException,
            "request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let message = if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        };
        ApiError::new(ErrorKind::SerializationException, message)
    })
}

/// An ECS action's input. The front decodes a request body into one of these strictly (see
/// [`decode`]) and checks it against ECS's rules for that input alone ([`Request::validate`],
/// implemented in `crate::validate`) before any handler sees it.
pub trait Request: DeserializeOwned + Send + 'static {
    /// Checks what ECS checks of this input before looking at any stored state.
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Decodes a body and validates the result.
    fn decode(body: &[u8]) -> Result<Self, ApiError> {
        let request: Self = decode(body)?;
        request.validate()?;
        Ok(request)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub next_token: Option<String>,
    pub max_results: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCluster {
    pub cluster_name: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub settings: Option<Vec<Object>>,
    pub configuration: Option<Object>,
    pub capacity_providers: Option<Vec<String>>,
    pub default_capacity_provider_strategy: Option<Vec<Object>>,
    pub service_connect_defaults: Option<Object>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeClusters {
    pub clusters: Option<Vec<String>>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteCluster {
    pub cluster: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListClusters {
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterTaskDefinition {
    pub family: String,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub network_mode: Option<String>,
    pub container_definitions: Vec<ContainerDefinition>,
    pub volumes: Option<Vec<Volume>>,
    pub placement_constraints: Option<Vec<Object>>,
    pub requires_compatibilities: Option<Vec<String>>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub proxy_configuration: Option<Object>,
    pub inference_accelerators: Option<Vec<Object>>,
    pub ephemeral_storage: Option<Object>,
    pub runtime_platform: Option<Object>,
    pub enable_fault_injection: Option<bool>,
    pub trusted_execution_configuration: Option<Object>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTaskDefinition {
    pub task_definition: String,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitions {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTaskDefinitionFamilies {
    pub family_prefix: Option<String>,
    pub status: Option<String>,
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterTaskDefinition {
    pub task_definition: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteTaskDefinitions {
    pub task_definitions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateService {
    pub cluster: Option<String>,
    pub service_name: String,
    pub task_definition: Option<String>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub service_registries: Option<Vec<Object>>,
    pub desired_count: Option<i32>,
    pub client_token: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Vec<Object>>,
    pub platform_version: Option<String>,
    pub role: Option<String>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    pub network_configuration: Option<Object>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub scheduling_strategy: Option<String>,
    pub deployment_controller: Option<Object>,
    pub tags: Option<Vec<Tag>>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub enable_execute_command: Option<bool>,
    pub availability_zone_rebalancing: Option<String>,
    pub service_connect_configuration: Option<Object>,
    pub volume_configurations: Option<Vec<Object>>,
    pub vpc_lattice_configurations: Option<Vec<Object>>,
    pub gateway_connectors: Option<Vec<Object>>,
    pub monitoring: Option<Object>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateService {
    pub cluster: Option<String>,
    pub service: String,
    pub desired_count: Option<i32>,
    pub task_definition: Option<String>,
    pub capacity_provider_strategy: Option<Vec<Object>>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub availability_zone_rebalancing: Option<String>,
    pub network_configuration: Option<Object>,
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    pub platform_version: Option<String>,
    pub force_new_deployment: Option<bool>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub deployment_controller: Option<Object>,
    pub enable_execute_command: Option<bool>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub load_balancers: Option<Vec<LoadBalancer>>,
    pub propagate_tags: Option<String>,
    pub service_registries: Option<Vec<Object>>,
    pub service_connect_configuration: Option<Object>,
    pub volume_configurations: Option<Vec<Object>>,
    pub vpc_lattice_configurations: Option<Vec<Object>>,
    pub gateway_connectors: Option<Vec<Object>>,
    pub monitoring: Option<Object>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeServices {
    pub cluster: Option<String>,
    pub services: Vec<String>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListServices {
    pub cluster: Option<String>,
    pub launch_type: Option<String>,
    pub scheduling_strategy: Option<String>,
    pub resource_management_type: Option<String>,
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteService {
    pub cluster: Option<String>,
    pub service: String,
    pub force: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTask {
    pub capacity_provider_strategy: Option<Vec<Object>>,
    pub cluster: Option<String>,
    pub count: Option<i32>,
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: Option<bool>,
    pub enable_execute_command: Option<bool>,
    pub group: Option<String>,
    pub launch_type: Option<String>,
    pub network_configuration: Option<Object>,
    pub overrides: Option<Object>,
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    pub platform_version: Option<String>,
    pub propagate_tags: Option<String>,
    pub reference_id: Option<String>,
    pub started_by: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub task_definition: String,
    pub client_token: Option<String>,
    pub volume_configurations: Option<Vec<Object>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTask {
    pub cluster: Option<String>,
    pub task: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTasks {
    pub cluster: Option<String>,
    pub tasks: Vec<String>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasks {
    pub cluster: Option<String>,
    pub container_instance: Option<String>,
    pub family: Option<String>,
    pub started_by: Option<String>,
    pub service_name: Option<String>,
    pub desired_status: Option<String>,
    pub launch_type: Option<String>,
    pub daemon_name: Option<String>,
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagResource {
    pub resource_arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntagResource {
    pub resource_arn: String,
    pub tag_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTagsForResource {
    pub resource_arn: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterContainerInstance {
    pub cluster: Option<String>,
    pub instance_identity_document: Option<String>,
    #[serde(default)]
    pub total_resources: Vec<InstanceResource>,
    #[serde(default)]
    pub version_info: Object,
    pub container_instance_arn: Option<String>,
    #[serde(default)]
    pub attributes: Vec<Attribute>,
    #[serde(default)]
    pub platform_devices: Vec<serde_json::Value>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeContainerInstances {
    pub cluster: Option<String>,
    pub container_instances: Vec<String>,
    pub include: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListContainerInstances {
    pub cluster: Option<String>,
    pub filter: Option<String>,
    pub status: Option<String>,
    #[serde(flatten)]
    pub page: Pagination,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateContainerInstancesState {
    pub cluster: Option<String>,
    pub container_instances: Vec<String>,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeregisterContainerInstance {
    pub cluster: Option<String>,
    pub container_instance: String,
    pub force: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_an_empty_object() {
        let parsed: ListClusters = decode(b"").unwrap();
        assert!(parsed.page.next_token.is_none());
    }

    #[test]
    fn refuses_non_objects_and_bad_json() {
        for body in [&b"[]"[..], b"\"x\"", b"3", b"{", b"null", b"{\"a\":}"] {
            let err = decode::<ListClusters>(body).unwrap_err();
            assert_eq!(err.kind, ErrorKind::SerializationException, "{:?}", body);
        }
    }

    #[test]
    fn names_the_member_with_the_wrong_type() {
        let err = decode::<RegisterTaskDefinition>(
            br#"{"family":"web","containerDefinitions":[{"name":"a","cpu":"lots"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.message.starts_with("containerDefinitions[0].cpu:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn names_a_missing_required_member() {
        let err = decode::<RegisterTaskDefinition>(br#"{"family":"web"}"#).unwrap_err();
        assert!(
            err.message.contains("containerDefinitions"),
            "{}",
            err.message
        );
    }

    #[test]
    fn refuses_integers_outside_the_model_range() {
        let err = decode::<RunTask>(br#"{"taskDefinition":"x","count":99999999999}"#).unwrap_err();
        assert!(err.message.starts_with("count:"), "{}", err.message);
    }
}
