//! The resources the API stores and returns, in ECS's JSON shape.
//!
//! Optional members are `Option`s that serialize only when set, so a resource written back
//! holds exactly the members the client sent plus the defaults ECS itself adds. Shapes Berth
//! stores without acting on are JSON objects: they round-trip byte for byte.

use crate::status::{
    ClusterStatus, ContainerStatus, DeploymentStatus, HealthStatus, InstanceStatus, RolloutState,
    ServiceStatus, StopCause, StopCode, TaskDefinitionStatus, TaskStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

/// A nested ECS structure that Berth keeps verbatim.
pub type Object = Map<String, Value>;

/// Seconds since the Unix epoch, as the ECS wire format writes timestamps.
pub type Timestamp = f64;

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    pub name: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub value_from: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub app_protocol: Option<String>,
    pub container_port_range: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    pub command: Vec<String>,
    pub interval: Option<i32>,
    pub timeout: Option<i32>,
    pub retries: Option<i32>,
    pub start_period: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    pub container_name: String,
    pub condition: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub source_volume: Option<String>,
    pub container_path: Option<String>,
    pub read_only: Option<bool>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    pub source_container: Option<String>,
    pub read_only: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    pub name: String,
    pub soft_limit: i32,
    pub hard_limit: i32,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    pub log_driver: String,
    pub options: Option<Map<String, Value>>,
    pub secret_options: Option<Vec<Secret>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: Option<String>,
    pub host: Option<Object>,
    pub docker_volume_configuration: Option<Object>,
    pub efs_volume_configuration: Option<Object>,
    pub s3files_volume_configuration: Option<Object>,
    pub fsx_windows_file_server_volume_configuration: Option<Object>,
    pub configured_at_launch: Option<bool>,
}

/// One container of a task definition: every member of the model's `ContainerDefinition`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    pub name: Option<String>,
    pub image: Option<String>,
    pub repository_credentials: Option<Object>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
    pub links: Option<Vec<String>>,
    pub port_mappings: Option<Vec<PortMapping>>,
    pub essential: Option<bool>,
    pub restart_policy: Option<Object>,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: Option<Vec<KeyValuePair>>,
    pub environment_files: Option<Vec<Object>>,
    pub mount_points: Option<Vec<MountPoint>>,
    pub volumes_from: Option<Vec<VolumeFrom>>,
    pub linux_parameters: Option<Object>,
    pub secrets: Option<Vec<Secret>>,
    pub depends_on: Option<Vec<ContainerDependency>>,
    pub start_timeout: Option<i32>,
    pub stop_timeout: Option<i32>,
    pub version_consistency: Option<String>,
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub working_directory: Option<String>,
    pub disable_networking: Option<bool>,
    pub privileged: Option<bool>,
    pub readonly_root_filesystem: Option<bool>,
    pub dns_servers: Option<Vec<String>>,
    pub dns_search_domains: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<Object>>,
    pub docker_security_options: Option<Vec<String>>,
    pub interactive: Option<bool>,
    pub pseudo_terminal: Option<bool>,
    pub docker_labels: Option<Map<String, Value>>,
    pub ulimits: Option<Vec<Ulimit>>,
    pub log_configuration: Option<LogConfiguration>,
    pub health_check: Option<HealthCheck>,
    pub system_controls: Option<Vec<Object>>,
    pub resource_requirements: Option<Vec<Object>>,
    pub firelens_configuration: Option<Object>,
    pub credential_specs: Option<Vec<String>>,
}

impl ContainerDefinition {
    pub fn is_essential(&self) -> bool {
        self.essential.unwrap_or(true)
    }
}

/// A registered task definition revision: every member of the model's `TaskDefinition`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    pub task_definition_arn: Option<String>,
    pub container_definitions: Vec<ContainerDefinition>,
    pub family: String,
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    pub network_mode: Option<String>,
    pub revision: i64,
    pub volumes: Option<Vec<Volume>>,
    pub status: Option<TaskDefinitionStatus>,
    pub requires_attributes: Option<Vec<Object>>,
    pub placement_constraints: Option<Vec<Object>>,
    pub compatibilities: Option<Vec<String>>,
    pub runtime_platform: Option<Object>,
    pub requires_compatibilities: Option<Vec<String>>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub inference_accelerators: Option<Vec<Object>>,
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub proxy_configuration: Option<Object>,
    pub registered_at: Option<Timestamp>,
    pub deregistered_at: Option<Timestamp>,
    pub delete_requested_at: Option<Timestamp>,
    pub registered_by: Option<String>,
    pub ephemeral_storage: Option<Object>,
    pub enable_fault_injection: Option<bool>,
    pub trusted_execution_configuration: Option<Object>,
    /// Kept beside the definition rather than in it: ECS returns tags only when asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl TaskDefinition {
    /// CPU units a task of this definition reserves: the task-level value, else the sum of
    /// its containers'.
    pub fn required_cpu(&self) -> i64 {
        self.cpu
            .as_deref()
            .and_then(crate::validate::cpu_units)
            .unwrap_or_else(|| {
                self.container_definitions
                    .iter()
                    .map(|c| i64::from(c.cpu.unwrap_or(0)))
                    .sum()
            })
    }

    /// MiB a task of this definition reserves: the task-level value, else the sum of each
    /// container's hard limit or, without one, its reservation.
    pub fn required_memory(&self) -> i64 {
        self.memory
            .as_deref()
            .and_then(crate::validate::memory_mib)
            .unwrap_or_else(|| {
                self.container_definitions
                    .iter()
                    .map(|c| i64::from(c.memory.or(c.memory_reservation).unwrap_or(0)))
                    .sum()
            })
    }

    /// Whether any essential container has a health check, which then decides task health.
    pub fn has_health_check(&self) -> bool {
        self.container_definitions
            .iter()
            .any(|c| c.is_essential() && c.health_check.is_some())
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub cluster_arn: String,
    pub cluster_name: String,
    pub configuration: Option<Object>,
    pub status: ClusterStatus,
    pub registered_container_instances_count: i64,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub active_services_count: i64,
    pub statistics: Vec<Object>,
    pub tags: Vec<Tag>,
    pub settings: Option<Vec<Object>>,
    pub capacity_providers: Vec<String>,
    pub default_capacity_provider_strategy: Vec<Object>,
    pub service_connect_defaults: Option<Object>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    pub maximum_percent: Option<i32>,
    pub minimum_healthy_percent: Option<i32>,
    pub alarms: Option<Object>,
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i32>,
    pub lifecycle_hooks: Option<Vec<Object>>,
    pub linear_configuration: Option<Object>,
    pub canary_configuration: Option<Object>,
    pub early_success_criteria: Option<Object>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    pub target_group_arn: Option<String>,
    pub load_balancer_name: Option<String>,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
    pub advanced_configuration: Option<Object>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub expression: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub field: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub launch_type: Option<String>,
    pub network_configuration: Option<Object>,
    pub rollout_state: Option<RolloutState>,
    pub rollout_state_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: Timestamp,
    pub message: String,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    pub load_balancers: Vec<LoadBalancer>,
    pub service_registries: Vec<Object>,
    pub status: ServiceStatus,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Vec<Object>>,
    pub platform_version: Option<String>,
    pub task_definition: String,
    pub deployment_configuration: DeploymentConfiguration,
    pub deployments: Vec<Deployment>,
    pub role_arn: Option<String>,
    pub events: Vec<ServiceEvent>,
    pub created_at: Timestamp,
    pub placement_constraints: Vec<PlacementConstraint>,
    pub placement_strategy: Vec<PlacementStrategy>,
    pub network_configuration: Option<Object>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub scheduling_strategy: String,
    pub deployment_controller: Object,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    pub created_by: Option<String>,
    /// ECS spells it so; records written before kept serde's spelling.
    #[serde(rename = "enableECSManagedTags", alias = "enableEcsManagedTags")]
    pub enable_ecs_managed_tags: bool,
    pub propagate_tags: String,
    pub enable_execute_command: bool,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    #[serde(rename = "bindIP")]
    pub bind_ip: Option<String>,
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
    pub protocol: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    pub attachment_id: Option<String>,
    pub private_ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub container_arn: String,
    pub task_arn: String,
    pub name: String,
    pub image: Option<String>,
    pub runtime_id: Option<String>,
    pub last_status: ContainerStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    /// The task's own address in `awsvpc` mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
    pub health_status: Option<HealthStatus>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub memory_reservation: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub attachments: Vec<Object>,
    pub attributes: Vec<Object>,
    pub availability_zone: Option<String>,
    pub cluster_arn: String,
    pub container_instance_arn: Option<String>,
    pub containers: Vec<Container>,
    pub cpu: Option<String>,
    pub created_at: Timestamp,
    pub desired_status: TaskStatus,
    pub enable_execute_command: bool,
    pub group: String,
    pub health_status: HealthStatus,
    pub last_status: TaskStatus,
    pub launch_type: Option<String>,
    pub memory: Option<String>,
    pub overrides: Object,
    pub pull_started_at: Option<Timestamp>,
    pub pull_stopped_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub started_by: Option<String>,
    pub stop_code: Option<StopCode>,
    pub stopped_at: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    pub stopping_at: Option<Timestamp>,
    /// Why Berth stopped the task, as a type (ECS shows only `stopCode` and prose); kept in
    /// the store and never shown (see [`Task::shown`]).
    #[serde(rename = "berthStopCause")]
    pub stop_cause: Option<StopCause>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    pub task_arn: String,
    pub task_definition_arn: String,
    pub version: i64,
}

impl Task {
    /// The task as answers show it: without what only Berth keeps, and with its tags only
    /// when the caller asked for them.
    pub fn shown(mut self, with_tags: bool) -> Task {
        self.stop_cause = None;
        if !with_tags {
            self.tags.clear();
        }
        self
    }

    /// The CPU units and MiB of memory it reserves on its instance, as recorded when it
    /// was created (0 where it recorded none).
    pub fn reserved(&self) -> (i64, i64) {
        let read = |v: &Option<String>| v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
        (read(&self.cpu), read(&self.memory))
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub arn: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

impl Failure {
    pub fn missing(arn: impl Into<String>) -> Self {
        Self {
            arn: Some(arn.into()),
            reason: Some("MISSING".into()),
            detail: None,
        }
    }
}

/// One resource of a container instance, as ECS lists them (`CPU`, `MEMORY`, `PORTS`).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceResource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub integer_value: Option<i64>,
    pub string_set_value: Option<Vec<String>>,
}

impl InstanceResource {
    pub fn integer(name: &str, value: i64) -> Self {
        Self {
            name: name.into(),
            kind: "INTEGER".into(),
            integer_value: Some(value),
            string_set_value: None,
        }
    }
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

/// A machine running `berth agent`, in ECS's `ContainerInstance` shape.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    pub version: i64,
    pub version_info: Object,
    pub remaining_resources: Vec<InstanceResource>,
    pub registered_resources: Vec<InstanceResource>,
    pub status: InstanceStatus,
    pub agent_connected: bool,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub attributes: Vec<Attribute>,
    pub registered_at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl ContainerInstance {
    /// The registered amount of `CPU` or `MEMORY`.
    pub fn registered(&self, name: &str) -> i64 {
        self.registered_resources
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.integer_value)
            .unwrap_or(0)
    }
}
