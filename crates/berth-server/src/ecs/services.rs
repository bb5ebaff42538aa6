//! CreateService, UpdateService, DescribeServices, ListServices, DeleteService.
//!
//! This layer records what the user wants: the deployments a change creates and the counts
//! it asks for. Starting and stopping tasks to meet those counts is the controller's job.

use super::common::wants_tags;
use super::names::{key, task_group};
use super::{clusters, events, pagination, task_definitions};
use crate::call::Ids;
use crate::call::{to_doc, Call};
use crate::elbv2::resources::{target_group_name, TargetGroup};
use crate::registry::JsonText;
use berth_model::arn::{cluster_name, parse, ResourceRef};
use berth_model::requests::{
    CreateService, DeleteService, DescribeServices, ListServices, UpdateService,
};
use berth_model::resources::{
    Deployment, DeploymentCircuitBreaker, DeploymentConfiguration, Failure, LoadBalancer, Service,
    TaskDefinition,
};
use berth_model::status::{
    DeploymentStatus, RolloutState, ServiceStatus, TaskDefinitionStatus, TaskStatus,
};
use berth_model::{ApiError, ErrorKind};
use berth_store::Collection;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// The service a `service` member names in `cluster`, or ECS's ServiceNotFoundException.
pub fn require(call: &Call<'_>, cluster: &str, member: &str) -> Result<Service, ApiError> {
    call.get::<Service>(Collection::Services, &key(cluster, &service_name(member)))?
        .ok_or_else(not_found)
}

/// Changes an ACTIVE service, or answers ECS's ServiceNotFound / ServiceNotActive.
fn modify_active(
    call: &Call<'_>,
    cluster: &str,
    member: &str,
    change: impl Fn(&mut Service) -> Result<(), ApiError>,
) -> Result<Service, ApiError> {
    call.modify(
        Collection::Services,
        &key(cluster, &service_name(member)),
        |service: &mut Service| {
            if service.status != ServiceStatus::Active {
                return Err(not_active());
            }
            change(service)?;
            Ok(service.clone())
        },
    )?
    .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::new(ErrorKind::ServiceNotFoundException, "Service not found.")
}

fn not_active() -> ApiError {
    ApiError::new(
        ErrorKind::ServiceNotActiveException,
        "Service was not ACTIVE.",
    )
}

/// ECS's defaults: 200 % / 100 %, circuit breaker off.
fn with_defaults(config: Option<DeploymentConfiguration>) -> DeploymentConfiguration {
    let mut config = config.unwrap_or_default();
    config.maximum_percent.get_or_insert(200);
    config.minimum_healthy_percent.get_or_insert(100);
    config
        .deployment_circuit_breaker
        .get_or_insert(DeploymentCircuitBreaker {
            enable: false,
            rollback: false,
        });
    config
}

/// A new deployment id, as ECS writes them: `ecs-svc/` and 19 digits.
fn deployment_id(ids: &Ids) -> String {
    format!("ecs-svc/{}", ids.digits(19))
}

fn new_deployment(service: &Service, task_definition: &str, ids: &Ids, now: f64) -> Deployment {
    let id = deployment_id(ids);
    Deployment {
        rollout_state_reason: Some(events::rollout_reason(RolloutState::InProgress, &id)),
        id,
        status: DeploymentStatus::Primary,
        task_definition: task_definition.to_string(),
        desired_count: service.desired_count,
        created_at: now,
        updated_at: now,
        launch_type: service.launch_type.clone(),
        network_configuration: service.network_configuration.clone(),
        rollout_state: Some(RolloutState::InProgress),
        ..Deployment::default()
    }
}

fn existing_task_definition(call: &Call<'_>, reference: &str) -> Result<TaskDefinition, ApiError> {
    task_definitions::resolve(call, reference)?
        .ok_or_else(|| ApiError::client("TaskDefinition not found."))
}

/// An ACTIVE task definition for a new deployment; INACTIVE revisions cannot start one.
fn active_task_definition(call: &Call<'_>, reference: &str) -> Result<TaskDefinition, ApiError> {
    let definition = existing_task_definition(call, reference)?;
    if definition.status != Some(TaskDefinitionStatus::Active) {
        return Err(ApiError::client(format!(
            "TaskDefinition is inactive: {}; a new deployment needs an ACTIVE revision",
            definition.task_definition_arn.unwrap_or_default()
        )));
    }
    Ok(definition)
}

/// Checks `loadBalancers` as ECS does: each names a target group that exists and a container
/// of the task definition that maps the port.
fn check_load_balancers(
    call: &Call<'_>,
    definition: &TaskDefinition,
    balancers: &[LoadBalancer],
) -> Result<(), ApiError> {
    for (i, balancer) in balancers.iter().enumerate() {
        let at = format!("loadBalancers[{i}]");
        let arn = balancer.target_group_arn.as_deref().ok_or_else(|| {
            ApiError::invalid(format!(
                "{at}.targetGroupArn: required; Berth's load balancer routes to target groups"
            ))
        })?;
        let exists = target_group_name(arn)
            .map(|name| call.get::<TargetGroup>(Collection::TargetGroups, name))
            .transpose()?
            .flatten()
            .is_some_and(|group| group.target_group_arn == arn);
        if !exists {
            return Err(ApiError::invalid(format!(
                "{at}.targetGroupArn: target group {arn} does not exist; create it with `aws elbv2 create-target-group`"
            )));
        }
        let name = balancer.container_name.as_deref().unwrap_or_default();
        let container = definition
            .container_definitions
            .iter()
            .find(|c| c.name.as_deref() == Some(name))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "{at}.containerName: the container {name} does not exist in the task definition"
                ))
            })?;
        let port = balancer.container_port.unwrap_or_default();
        let mapped = container
            .port_mappings
            .iter()
            .flatten()
            .any(|m| m.container_port == Some(port));
        if !mapped {
            return Err(ApiError::invalid(format!(
                "{at}.containerPort: the container {name} did not have a container port {port} defined"
            )));
        }
    }
    Ok(())
}

/// The service name a `service` member names: a name or an ARN in the given cluster.
fn service_name(member: &str) -> String {
    match parse(member) {
        Some(ResourceRef::Service { name, .. }) => name,
        _ => member.to_string(),
    }
}

pub fn create(call: &Call<'_>, request: &CreateService) -> Result<Value, ApiError> {
    let request = request.clone();
    if request.cluster.is_none() {
        clusters::ensure_default(call)?;
    }
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let reference = request.task_definition.as_deref().ok_or_else(|| {
        ApiError::invalid(
            "taskDefinition: required for services using the ECS deployment controller",
        )
    })?;
    let definition = active_task_definition(call, reference)?;
    task_definitions::check_launch(
        &definition,
        request.launch_type.as_deref(),
        request.network_configuration.as_ref(),
    )?;
    check_load_balancers(
        call,
        &definition,
        request.load_balancers.as_deref().unwrap_or_default(),
    )?;
    let definition_arn = definition.task_definition_arn.unwrap_or_default();
    let name = request.service_name.clone();
    let mut service = Service {
        service_arn: call.arns().service(&cluster.cluster_name, &name),
        service_name: name.clone(),
        cluster_arn: cluster.cluster_arn.clone(),
        load_balancers: request.load_balancers.unwrap_or_default(),
        service_registries: request.service_registries.unwrap_or_default(),
        status: ServiceStatus::Active,
        desired_count: i64::from(request.desired_count.unwrap_or(0)),
        launch_type: match request.capacity_provider_strategy {
            Some(_) => request.launch_type,
            None => Some(request.launch_type.unwrap_or_else(|| "EC2".to_string())),
        },
        capacity_provider_strategy: request.capacity_provider_strategy,
        platform_version: request.platform_version,
        task_definition: definition_arn.clone(),
        deployment_configuration: with_defaults(request.deployment_configuration),
        role_arn: request.role,
        created_at: call.now(),
        placement_constraints: request.placement_constraints.unwrap_or_default(),
        placement_strategy: request.placement_strategy.unwrap_or_default(),
        network_configuration: request.network_configuration,
        health_check_grace_period_seconds: request.health_check_grace_period_seconds,
        scheduling_strategy: request
            .scheduling_strategy
            .unwrap_or_else(|| "REPLICA".to_string()),
        deployment_controller: request.deployment_controller.unwrap_or_else(|| {
            let mut controller = Map::new();
            controller.insert("type".to_string(), json!("ECS"));
            controller
        }),
        tags: request.tags.unwrap_or_default(),
        created_by: Some(format!(
            "arn:aws:iam::{}:user/{}",
            call.arns().account,
            call.caller().access_key_id
        )),
        enable_ecs_managed_tags: request.enable_ecs_managed_tags.unwrap_or(false),
        propagate_tags: request.propagate_tags.unwrap_or_else(|| "NONE".to_string()),
        enable_execute_command: request.enable_execute_command.unwrap_or(false),
        ..Service::default()
    };
    service.deployments = vec![new_deployment(
        &service,
        &definition_arn,
        call.ids(),
        call.now(),
    )];
    let service_key = key(&cluster.cluster_name, &name);
    let taken = || {
        ApiError::invalid(format!(
            "serviceName: a service named {name:?} already exists in cluster {:?} (Creation of service was not idempotent.)",
            cluster.cluster_name
        ))
    };
    match call.get::<Service>(Collection::Services, &service_key)? {
        Some(existing) if existing.status != ServiceStatus::Inactive => return Err(taken()),
        // An INACTIVE service's name may be used again, as on ECS.
        Some(_) => {
            let replaced = call.modify(Collection::Services, &service_key, |s: &mut Service| {
                if s.status != ServiceStatus::Inactive {
                    return Ok::<_, ApiError>(false);
                }
                *s = service.clone();
                Ok(true)
            })?;
            if replaced != Some(true) {
                return Err(taken());
            }
        }
        None => {
            if !call.insert_new(
                Collection::Services,
                &service_key,
                &cluster.cluster_name,
                &service,
            )? {
                return Err(taken());
            }
        }
    }
    service.tags.clear();
    Ok(json!({"service": service}))
}

pub fn update(call: &Call<'_>, request: &UpdateService) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let named = request
        .task_definition
        .as_deref()
        .map(|reference| existing_task_definition(call, reference))
        .transpose()?
        .and_then(|d| d.task_definition_arn);
    let now = call.now();
    let service = modify_active(call, &cluster.cluster_name, &request.service, |service| {
        // As on ECS, a service keeps running (and scaling) a revision deregistered since, and
        // naming that revision again changes nothing; only a new deployment needs an ACTIVE
        // one: to another revision, forced, or for new load balancers (ECS deploys for those).
        let changes_definition = named
            .as_ref()
            .is_some_and(|d| *d != service.task_definition);
        let changes_balancers = request
            .load_balancers
            .as_ref()
            .is_some_and(|balancers| *balancers != service.load_balancers);
        let deploys =
            changes_definition || changes_balancers || request.force_new_deployment == Some(true);
        apply_update(service, request, named.as_deref(), call.ids(), now);
        if deploys {
            active_task_definition(call, &service.task_definition)?;
        }
        if request.load_balancers.is_some() || changes_definition {
            let definition = existing_task_definition(call, &service.task_definition)?;
            check_load_balancers(call, &definition, &service.load_balancers)?;
        }
        Ok(())
    })?;
    Ok(json!({"service": without_tags(service)}))
}

fn apply_update(
    service: &mut Service,
    request: &UpdateService,
    definition: Option<&str>,
    ids: &Ids,
    now: f64,
) {
    if let Some(count) = request.desired_count {
        service.desired_count = i64::from(count);
    }
    if let Some(config) = &request.deployment_configuration {
        let current = &mut service.deployment_configuration;
        let given = config.clone();
        current.maximum_percent = given.maximum_percent.or(current.maximum_percent);
        current.minimum_healthy_percent = given
            .minimum_healthy_percent
            .or(current.minimum_healthy_percent);
        current.deployment_circuit_breaker = given
            .deployment_circuit_breaker
            .or(current.deployment_circuit_breaker.take());
        current.alarms = given.alarms.or(current.alarms.take());
        current.strategy = given.strategy.or(current.strategy.take());
        current.bake_time_in_minutes = given.bake_time_in_minutes.or(current.bake_time_in_minutes);
        current.lifecycle_hooks = given.lifecycle_hooks.or(current.lifecycle_hooks.take());
        current.linear_configuration = given
            .linear_configuration
            .or(current.linear_configuration.take());
        current.canary_configuration = given
            .canary_configuration
            .or(current.canary_configuration.take());
        current.early_success_criteria = given
            .early_success_criteria
            .or(current.early_success_criteria.take());
    }
    macro_rules! replace_if_given {
        ($($field:ident),*) => {$(
            if let Some(value) = &request.$field {
                service.$field = value.clone().into();
            }
        )*};
    }
    replace_if_given!(
        placement_constraints,
        placement_strategy,
        load_balancers,
        service_registries,
        enable_execute_command,
        propagate_tags
    );
    if let Some(value) = &request.enable_ecs_managed_tags {
        service.enable_ecs_managed_tags = *value;
    }
    if request.network_configuration.is_some() {
        service.network_configuration = request.network_configuration.clone();
    }
    if request.health_check_grace_period_seconds.is_some() {
        service.health_check_grace_period_seconds = request.health_check_grace_period_seconds;
    }
    if request.platform_version.is_some() {
        service.platform_version = request.platform_version.clone();
    }
    if request.capacity_provider_strategy.is_some() {
        service.capacity_provider_strategy = request.capacity_provider_strategy.clone();
    }
    let changes_definition = definition.is_some_and(|d| d != service.task_definition);
    if changes_definition || request.force_new_deployment == Some(true) {
        if let Some(definition) = definition {
            service.task_definition = definition.to_string();
        }
        start_deployment(service, ids, now);
    } else if let Some(primary) = service
        .deployments
        .iter_mut()
        .find(|d| d.status == DeploymentStatus::Primary)
    {
        primary.desired_count = service.desired_count;
        primary.updated_at = now;
    }
}

/// Makes a new PRIMARY deployment of the service's task definition. Older deployments that
/// still have tasks stay as ACTIVE until they drain; those without any leave at once.
pub fn start_deployment(service: &mut Service, ids: &Ids, now: f64) {
    let deployment = new_deployment(service, &service.task_definition, ids, now);
    service
        .deployments
        .retain(|d| d.running_count + d.pending_count > 0);
    for old in &mut service.deployments {
        old.status = DeploymentStatus::Active;
        old.updated_at = now;
    }
    service.deployments.insert(0, deployment);
}

/// Makes `task_definition` PRIMARY again, as the circuit breaker's rollback does. An older
/// deployment of it that still has tasks becomes PRIMARY again with them, so the tasks that
/// kept serving through the failed rollout stay instead of being replaced by copies of
/// themselves; without one, a new deployment starts.
pub fn roll_back(service: &mut Service, task_definition: &str, ids: &Ids, now: f64) {
    service.task_definition = task_definition.to_string();
    let revived = service.deployments.iter().skip(1).position(|d| {
        d.task_definition == task_definition && d.running_count + d.pending_count > 0
    });
    let Some(index) = revived.map(|i| i + 1) else {
        start_deployment(service, ids, now);
        return;
    };
    let mut deployment = service.deployments.remove(index);
    for old in &mut service.deployments {
        old.status = DeploymentStatus::Active;
        old.updated_at = now;
    }
    deployment.status = DeploymentStatus::Primary;
    deployment.desired_count = service.desired_count;
    deployment.rollout_state = Some(RolloutState::InProgress);
    deployment.rollout_state_reason = None;
    deployment.updated_at = now;
    service.deployments.insert(0, deployment);
}

/// The names of the cluster's services whose tasks are load balancer targets.
pub fn balanced(call: &Call<'_>, cluster: &str) -> Result<HashSet<String>, ApiError> {
    Ok(call
        .list::<Service>(Collection::Services, Some(cluster))?
        .into_iter()
        .filter(|s| !s.load_balancers.is_empty())
        .map(|s| s.service_name)
        .collect())
}

fn without_tags(mut service: Service) -> Service {
    service.tags.clear();
    service
}

/// DescribeServices, written as JSON text: each service is the rendering the decode cache
/// keeps for its stored version, so a repeated Describe copies text rather than building it.
pub fn describe(call: &Call<'_>, request: &DescribeServices) -> Result<JsonText, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let tags = wants_tags(&request.include);
    let mut answer = String::from(r#"{"services":["#);
    let mut failures = Vec::new();
    for requested in &request.services {
        let name = service_name(requested);
        let found =
            call.get_cached::<Service>(Collection::Services, &key(&cluster.cluster_name, &name))?;
        let Some(service) = found else {
            failures.push(Failure::missing(if requested.starts_with("arn:") {
                requested.clone()
            } else {
                call.arns().service(&cluster.cluster_name, &name)
            }));
            continue;
        };
        if !answer.ends_with('[') {
            answer.push(',');
        }
        // A service without tags renders the same with or without them.
        if tags || service.value.tags.is_empty() {
            answer.push_str(service.json());
        } else {
            answer.push_str(&to_doc(&without_tags(service.value.clone())));
        }
    }
    answer.push_str(r#"],"failures":"#);
    answer.push_str(&to_doc(&failures));
    answer.push('}');
    Ok(JsonText(answer))
}

pub fn list(call: &Call<'_>, request: &ListServices) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let window = pagination::Window::of(&request.page, 10)?;
    // Shared with the decode cache, not copied with their deployments and events: only the
    // page's ARNs are.
    let services =
        call.list_cached::<Service>(Collection::Services, Some(&cluster.cluster_name))?;
    let (page, next) = window.page(
        services
            .iter()
            .map(|s| &s.value)
            .filter(|s| s.status != ServiceStatus::Inactive)
            .filter(|s| request.launch_type.is_none() || s.launch_type == request.launch_type)
            .filter(|s| {
                request
                    .scheduling_strategy
                    .as_ref()
                    .is_none_or(|want| &s.scheduling_strategy == want)
            })
            .map(|s| s.service_arn.as_str()),
    );
    Ok(json!({"serviceArns": page, "nextToken": next}))
}

pub fn delete(call: &Call<'_>, request: &DeleteService) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let force = request.force.unwrap_or(false);
    let now = call.now();
    let service = modify_active(call, &cluster.cluster_name, &request.service, |service| {
        if service.desired_count > 0 && !force {
            return Err(ApiError::invalid(
                "The service cannot be stopped while it is scaled above 0. Set desiredCount to 0 with UpdateService first, or pass force.",
            ));
        }
        service.desired_count = 0;
        service.status = ServiceStatus::Draining;
        for deployment in &mut service.deployments {
            deployment.desired_count = 0;
            deployment.updated_at = now;
        }
        Ok(())
    })?;
    Ok(json!({"service": without_tags(service)}))
}

/// DRAINING services whose tasks have all stopped become INACTIVE.
pub fn finish_draining(call: &Call<'_>) -> Result<usize, ApiError> {
    let mut finished = 0;
    // Shared with the decode cache: most services are not draining, and are not copied.
    let listed = call.list_cached::<Service>(Collection::Services, None)?;
    for service in listed.iter().map(|s| &s.value) {
        if service.status != ServiceStatus::Draining {
            continue;
        }
        let Some(cluster) = cluster_name(Some(&service.cluster_arn)) else {
            continue;
        };
        let group = task_group(&service.service_name);
        let still_running = call
            .tasks_in_group(&cluster, &group)?
            .iter()
            .any(|t| t.value.last_status != TaskStatus::Stopped);
        if still_running {
            continue;
        }
        let moved = call.modify(
            Collection::Services,
            &key(&cluster, &service.service_name),
            |s: &mut Service| {
                if s.status != ServiceStatus::Draining {
                    return Ok::<_, ApiError>(false);
                }
                s.status = ServiceStatus::Inactive;
                Ok(true)
            },
        )?;
        finished += usize::from(moved == Some(true));
    }
    Ok(finished)
}
