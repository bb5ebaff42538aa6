//! RunTask, StopTask, DescribeTasks, ListTasks.
//!
//! A task is recorded PROVISIONING with desiredStatus RUNNING; placing and running it
//! belongs to the scheduler and the agents.

use super::common::wants_tags;
use super::container_instances::InstanceRecord;
use super::{clusters, names, pagination, services, task_definitions, view};
use crate::call::{Call, Walk};
use berth_model::arn::{parse, resource_id, task_definition_ref, ResourceRef};
use berth_model::requests::{DescribeTasks, ListTasks, RunTask, StopTask};
use berth_model::resources::{Container, Failure, Object, Tag, Task, TaskDefinition};
use berth_model::status::{
    ContainerStatus, HealthStatus, StopCause, TaskDefinitionStatus, TaskStatus,
};
use berth_model::ApiError;
use berth_reconcile::placement;
use berth_store::Collection;
use serde_json::{json, Value};

pub fn run(call: &Call<'_>, request: &RunTask) -> Result<Value, ApiError> {
    if request.cluster.is_none() {
        clusters::ensure_default(call)?;
    }
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let definition = task_definitions::resolve(call, &request.task_definition)?
        .ok_or_else(|| ApiError::client("TaskDefinition not found."))?;
    let definition_arn = definition.task_definition_arn.clone().unwrap_or_default();
    if definition.status != Some(TaskDefinitionStatus::Active) {
        return Err(ApiError::client(format!(
            "TaskDefinition is inactive: {definition_arn}"
        )));
    }
    task_definitions::check_launch(
        &definition,
        request.launch_type.as_deref(),
        request.network_configuration.as_ref(),
    )?;
    let launch = Launch {
        group: request
            .group
            .clone()
            .unwrap_or_else(|| format!("family:{}", definition.family)),
        started_by: request.started_by.clone(),
        launch_type: request.launch_type.clone(),
        overrides: request.overrides.clone(),
        tags: request.tags.clone().unwrap_or_default(),
        enable_execute_command: request.enable_execute_command.unwrap_or(false),
    };
    let instances =
        call.list::<InstanceRecord>(Collection::ContainerInstances, Some(&cluster.cluster_name))?;
    let mut placer = if instances.is_empty() {
        // Without any instance yet, tasks wait PROVISIONING until an agent joins.
        None
    } else {
        let strategies = parse_placement(
            request.placement_strategy.as_deref().unwrap_or_default(),
            |s| placement::strategy(s.kind.as_deref().unwrap_or(""), s.field.as_deref()),
        )?;
        let constraints = parse_placement(
            request.placement_constraints.as_deref().unwrap_or_default(),
            |c| placement::constraint(c.kind.as_deref().unwrap_or(""), c.expression.as_deref()),
        )?;
        let lost_after = berth_model::agent::lost_after(&cluster.tags);
        let view = view::for_group(
            call,
            &cluster.cluster_name,
            &launch.group,
            &instances,
            lost_after,
        )?;
        Some((berth_reconcile::placer(&view), strategies, constraints))
    };
    let mut rng = berth_reconcile::Rng::new(call.ids().seed());
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..request.count.unwrap_or(1) {
        let instance = match &mut placer {
            None => None,
            Some((placer, strategies, constraints)) => {
                let ask = placement::Request {
                    group: &launch.group,
                    resources: view::resources(&definition),
                    strategies,
                    constraints,
                };
                match placer.place(&ask, &mut rng) {
                    Ok(id) => Some(call.arns().container_instance(&cluster.cluster_name, &id)),
                    Err(why) => {
                        failures.push(Failure {
                            arn: Some(cluster.cluster_arn.clone()),
                            reason: Some(why.reason().to_string()),
                            detail: None,
                        });
                        continue;
                    }
                }
            }
        };
        let task = new_task(call, &cluster.cluster_name, &definition, &launch, instance);
        call.insert(
            Collection::Tasks,
            resource_id(&task.task_arn),
            &cluster.cluster_name,
            &task,
        )?;
        tasks.push(task.shown(false));
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}

fn parse_placement<T, R>(
    entries: &[T],
    read: impl Fn(&T) -> Result<R, placement::PlacementError>,
) -> Result<Vec<R>, ApiError> {
    entries
        .iter()
        .map(|e| read(e).map_err(|e| ApiError::invalid(e.0)))
        .collect()
}

/// How a task comes to be: by RunTask or by a service's deployment.
pub struct Launch {
    pub group: String,
    pub started_by: Option<String>,
    pub launch_type: Option<String>,
    pub overrides: Option<Object>,
    pub tags: Vec<Tag>,
    pub enable_execute_command: bool,
}

/// A new task record, PROVISIONING, on `instance` if it is placed already.
pub fn new_task(
    call: &Call<'_>,
    cluster: &str,
    definition: &TaskDefinition,
    launch: &Launch,
    instance: Option<String>,
) -> Task {
    let id = call.ids().hex(32);
    let task_arn = call.arns().task(cluster, &id);
    let containers = definition
        .container_definitions
        .iter()
        .map(|c| Container {
            container_arn: call.arns().container(cluster, &id, &call.ids().hex(32)),
            task_arn: task_arn.clone(),
            name: c.name.clone().unwrap_or_default(),
            image: c.image.clone(),
            last_status: ContainerStatus::Pending,
            health_status: Some(HealthStatus::Unknown),
            cpu: c.cpu.map(|v| v.to_string()),
            memory: c.memory.map(|v| v.to_string()),
            memory_reservation: c.memory_reservation.map(|v| v.to_string()),
            ..Container::default()
        })
        .collect();
    let overrides = launch.overrides.clone().unwrap_or_else(|| {
        let mut overrides = Object::new();
        let names: Vec<Value> = definition
            .container_definitions
            .iter()
            .map(|c| json!({"name": c.name}))
            .collect();
        overrides.insert("containerOverrides".into(), Value::Array(names));
        overrides.insert("inferenceAcceleratorOverrides".into(), json!([]));
        overrides
    });
    Task {
        cluster_arn: call.arns().cluster(cluster),
        container_instance_arn: instance,
        containers,
        cpu: Some(definition.required_cpu().to_string()),
        created_at: call.now(),
        desired_status: TaskStatus::Running,
        enable_execute_command: launch.enable_execute_command,
        group: launch.group.clone(),
        health_status: HealthStatus::Unknown,
        last_status: TaskStatus::Provisioning,
        launch_type: Some(
            launch
                .launch_type
                .clone()
                .unwrap_or_else(|| "EC2".to_string()),
        ),
        memory: Some(definition.required_memory().to_string()),
        overrides,
        started_by: launch.started_by.clone(),
        tags: launch.tags.clone(),
        task_arn,
        task_definition_arn: definition.task_definition_arn.clone().unwrap_or_default(),
        version: 1,
        ..Task::default()
    }
}

/// Asks `task` to stop, once: a later request keeps the first one's code and reason.
///
/// A task no instance ever took has nothing to stop and is STOPPED at once. A running task
/// behind a load balancer first leaves its target groups and is drained (DEACTIVATING; the
/// controller moves it to STOPPING once drained); any other goes straight to its stop signal.
/// Returns whether a drain began.
pub fn request_stop(
    task: &mut Task,
    cause: StopCause,
    reason: String,
    now: f64,
    behind_balancer: bool,
) -> bool {
    if task.desired_status == TaskStatus::Stopped {
        return false;
    }
    task.desired_status = TaskStatus::Stopped;
    task.stop_code = Some(cause.stop_code());
    task.stop_cause = Some(cause);
    task.stopped_reason = Some(reason);
    task.stopping_at = Some(now);
    task.version += 1;
    if task.container_instance_arn.is_none() {
        task.last_status = TaskStatus::Stopped;
        task.stopped_at = Some(now);
        for container in &mut task.containers {
            container.last_status = ContainerStatus::Stopped;
        }
        return false;
    }
    if behind_balancer && task.last_status == TaskStatus::Running {
        task.last_status = TaskStatus::Deactivating;
        return true;
    }
    false
}

/// Gives up a task whose container instance is lost: STOPPED at once (its agent, if it comes
/// back, stops what still runs, since no desired set lists it). A task already told to stop
/// keeps the cause it was stopped for. Returns whether it changed.
pub fn lose(task: &mut Task, after_seconds: u64, now: f64) -> bool {
    if task.last_status == TaskStatus::Stopped {
        return false;
    }
    if task.desired_status != TaskStatus::Stopped {
        let cause = StopCause::InstanceLost { after_seconds };
        task.desired_status = TaskStatus::Stopped;
        task.stop_code = Some(cause.stop_code());
        task.stopped_reason = Some(cause.reason());
        task.stop_cause = Some(cause);
    }
    task.stopping_at = task.stopping_at.or(Some(now));
    task.last_status = TaskStatus::Stopped;
    task.stopped_at = Some(now);
    for container in &mut task.containers {
        container.last_status = ContainerStatus::Stopped;
    }
    task.version += 1;
    true
}

/// The task id a `task` member names: an id or a task ARN.
fn task_id(member: &str) -> String {
    match parse(member) {
        Some(ResourceRef::Task { id, .. }) => id,
        _ => member.to_string(),
    }
}

pub fn stop(call: &Call<'_>, request: &StopTask) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let now = call.now();
    let not_found = || ApiError::invalid("The referenced task was not found.");
    let balanced = services::balanced(call, &cluster.cluster_name)?;
    let behind_balancer =
        |task: &Task| names::service_of(&task.group).is_some_and(|name| balanced.contains(name));
    let task = call
        .modify(
            Collection::Tasks,
            &task_id(&request.task),
            |task: &mut Task| {
                if task.cluster_arn != cluster.cluster_arn {
                    return Err(not_found());
                }
                let reason = request
                    .reason
                    .clone()
                    .unwrap_or_else(|| StopCause::UserInitiated.reason());
                request_stop(
                    task,
                    StopCause::UserInitiated,
                    reason,
                    now,
                    behind_balancer(task),
                );
                Ok(task.clone())
            },
        )?
        .ok_or_else(not_found)?;
    Ok(json!({"task": task.shown(false)}))
}

pub fn describe(call: &Call<'_>, request: &DescribeTasks) -> Result<Value, ApiError> {
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    let tags = wants_tags(&request.include);
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for requested in &request.tasks {
        let id = task_id(requested);
        match call.get::<Task>(Collection::Tasks, &id)? {
            Some(task) if task.cluster_arn == cluster.cluster_arn => tasks.push(task.shown(tags)),
            _ => failures.push(Failure::missing(if requested.starts_with("arn:") {
                requested.clone()
            } else {
                call.arns().task(&cluster.cluster_name, &id)
            })),
        }
    }
    Ok(json!({"tasks": tasks, "failures": failures}))
}

pub fn list(call: &Call<'_>, request: &ListTasks) -> Result<Value, ApiError> {
    let desired = request.desired_status.as_deref().unwrap_or("RUNNING");
    let cluster = clusters::require_active(call, request.cluster.as_deref())?;
    if let Some(name) = &request.service_name {
        super::services::require(call, &cluster.cluster_name, name)?;
    }
    let group = request.service_name.as_deref().map(names::task_group);
    let instance = request.container_instance.as_deref().map(resource_id);
    // From the index of the cluster's tasks kept in memory, walking the fewest tasks it can
    // name that hold every task to list (a stopped task is on no instance there).
    let walk = match (&group, instance, &request.family) {
        (Some(group), _, _) => Walk::Group(group),
        (None, Some(instance), _) if desired != "STOPPED" => Walk::Instance(instance),
        (None, _, Some(family)) => Walk::Family(family),
        _ if desired == "STOPPED" => Walk::DesiredStopped,
        _ => Walk::All,
    };
    let window = pagination::Window::of(&request.page, 100)?;
    let wanted = |t: &Task| {
        (match desired {
            // ECS has no PENDING desired status of its own; it lists tasks not yet running.
            "PENDING" => {
                t.desired_status == TaskStatus::Running && t.last_status != TaskStatus::Running
            }
            "STOPPED" => t.desired_status == TaskStatus::Stopped,
            _ => t.desired_status == TaskStatus::Running,
        }) && group.as_ref().is_none_or(|g| &t.group == g)
            && request.family.as_ref().is_none_or(|family| {
                task_definition_ref_family(&t.task_definition_arn).as_deref() == Some(family)
            })
            && (request.started_by.is_none() || t.started_by == request.started_by)
            && (request.launch_type.is_none() || t.launch_type == request.launch_type)
            && instance.is_none_or(|instance| {
                t.container_instance_arn
                    .as_deref()
                    .is_some_and(|arn| resource_id(arn) == instance)
            })
    };
    // In ARN order (a cluster's task ARNs share one prefix, so their keys' order): the page
    // starts after the token's task without looking at those before, and ends once full.
    let mut following: Vec<String> = Vec::new();
    call.walk_tasks(
        &cluster.cluster_name,
        walk,
        window.after.as_deref().map(resource_id),
        |task| {
            if wanted(task) {
                following.push(task.task_arn.clone());
            }
            following.len() <= window.limit
        },
    )?;
    let (page, next) = window.page(following.iter().map(String::as_str));
    Ok(json!({"taskArns": page, "nextToken": next}))
}

fn task_definition_ref_family(arn: &str) -> Option<String> {
    task_definition_ref(arn).map(|r| r.family)
}
