//! The server side of the agent protocol (see `berth_model::agent`): join tokens,
//! registration, and the level-triggered exchange of desired and observed task state.

use super::container_instances::{register_instance, AgentFacts, InstanceRecord, Registration};
use super::{events, names, task_definitions};
use crate::call::Call;
use berth_model::agent::{
    DesiredTask, PollRequest, PollResponse, RegisterRequest, RegisterResponse, Resolution,
    TaskReport, DEFAULT_STOP_TIMEOUT_SECONDS, MAX_REPORTS_PER_POLL, MAX_TASKS_PER_PAGE,
};
use berth_model::arn::resource_id;
use berth_model::resources::{Attribute, InstanceResource, NetworkInterface, Task, TaskDefinition};
use berth_model::status::{ContainerStatus, HealthStatus, StopCause, StopCode, TaskStatus};
use berth_model::{ApiError, ErrorKind};
use berth_store::Collection;
use serde_json::{json, Map};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn denied(message: &str) -> ApiError {
    ApiError::new(ErrorKind::AccessDeniedException, message)
}

/// Creates a join token; only its hash is stored, so the token is shown once.
pub fn create_join_token(call: &Call<'_>, description: &str) -> Result<String, ApiError> {
    let token = format!("bjt_{}", call.ids().hex(40));
    call.insert(
        Collection::JoinTokens,
        &sha256_hex(&token),
        "",
        &json!({"createdAt": call.now(), "description": description}),
    )?;
    Ok(token)
}

/// Registers the machine of a `berth agent` that presents a valid join token, through the
/// same [`register_instance`] as RegisterContainerInstance, and hands it a fresh poll key.
pub fn register(
    call: &Call<'_>,
    request: &RegisterRequest,
    token: &str,
) -> Result<RegisterResponse, ApiError> {
    if !call.exists(Collection::JoinTokens, &sha256_hex(token))? {
        return Err(denied(
            "the join token is not valid; create one with `berth tokens create` on the server",
        ));
    }
    if request.cpu <= 0 || request.memory <= 0 {
        return Err(ApiError::invalid("cpu and memory: must be positive"));
    }
    let agent_key = call.ids().hex(48);
    let mut attributes: Vec<Attribute> = request
        .attributes
        .iter()
        .map(|(name, value)| Attribute {
            name: name.clone(),
            value: Some(value.clone()),
        })
        .collect();
    attributes.push(Attribute {
        name: "berth.runtime".into(),
        value: Some(request.runtime.clone()),
    });
    attributes.push(Attribute {
        name: "ecs.os-type".into(),
        value: Some("linux".into()),
    });
    let mut version_info = Map::new();
    version_info.insert("agentVersion".into(), json!(request.agent_version));
    let record = register_instance(
        call,
        Registration {
            cluster: Some(&request.cluster),
            instance_id: request.instance_id.clone(),
            resources: vec![
                InstanceResource::integer("CPU", request.cpu),
                InstanceResource::integer("MEMORY", request.memory),
            ],
            attributes,
            version_info,
            tags: Vec::new(),
            agent: Some(AgentFacts {
                key_sha256: sha256_hex(&agent_key),
                hostname: request.hostname.clone(),
                runtime: request.runtime.clone(),
                address: request.address.clone(),
            }),
            existing_only: false,
        },
    )?;
    call.presence().seen(record.id(), call.now());
    Ok(RegisterResponse {
        container_instance_arn: record.instance.container_instance_arn,
        agent_key,
    })
}

/// The instance a poll speaks for, if its bearer key matches.
pub fn authenticate(
    call: &Call<'_>,
    instance_arn: &str,
    agent_key: &str,
) -> Result<InstanceRecord, ApiError> {
    let record = call
        .get::<InstanceRecord>(Collection::ContainerInstances, resource_id(instance_arn))?
        .filter(|r| r.instance.container_instance_arn == instance_arn)
        .ok_or_else(|| denied("unknown container instance; register the agent again"))?;
    if record.agent_key_sha256 != sha256_hex(agent_key) {
        return Err(denied(
            "the agent key does not match this container instance",
        ));
    }
    if call.presence().seen(record.id(), call.now()) {
        tracing::info!(
            instance = %record.id(),
            "container instance is back: its agent polls again, and stops the tasks given up \
             while it was lost"
        );
    }
    Ok(record)
}

/// One poll, but for its wait: the agent authenticated, its reports folded in, its resync
/// noted when this poll completes one, and the first answer.
pub fn poll(
    call: &Call<'_>,
    request: &PollRequest,
    agent_key: &str,
) -> Result<(InstanceRecord, PollResponse), ApiError> {
    if request.reports.len() > MAX_REPORTS_PER_POLL {
        return Err(ApiError::invalid(format!(
            "reports: a poll carries at most {MAX_REPORTS_PER_POLL} task reports, got {}; \
             run an agent of the server's version",
            request.reports.len()
        )));
    }
    let record = authenticate(call, &request.container_instance_arn, agent_key)?;
    apply_reports(call, &record, &request.reports)?;
    if request.synced {
        call.presence().mark_synced(record.id());
    }
    let known = request
        .known_version
        .as_deref()
        .filter(|_| request.keeps_unchanged && request.page_after.is_none());
    let answer = desired(call, &record, request.page_after.as_deref(), known)?;
    Ok((record, answer))
}

/// ECS's task health over essential containers: any UNHEALTHY, else any UNKNOWN, else HEALTHY.
fn task_health(task: &Task, definition: Option<&TaskDefinition>) -> HealthStatus {
    let essential = |name: &str| {
        definition
            .and_then(|d| {
                d.container_definitions
                    .iter()
                    .find(|c| c.name.as_deref() == Some(name))
            })
            .is_none_or(|c| c.is_essential())
    };
    let statuses: Vec<HealthStatus> = task
        .containers
        .iter()
        .filter(|c| essential(&c.name))
        .map(|c| c.health_status.unwrap_or_default())
        .collect();
    if statuses.contains(&HealthStatus::Unhealthy) {
        HealthStatus::Unhealthy
    } else if statuses.is_empty() || statuses.contains(&HealthStatus::Unknown) {
        HealthStatus::Unknown
    } else {
        HealthStatus::Healthy
    }
}

/// Folds an agent's reports into the task records. Returns whether anything changed.
///
/// All of one poll's writes share one commit ([`berth_store::Store::batch`]), and this returns
/// only once it is durable: a poll carries a report of every task on the machine, and a
/// commit each would cost an fsync per task on every poll.
pub fn apply_reports(
    call: &Call<'_>,
    record: &InstanceRecord,
    reports: &[TaskReport],
) -> Result<bool, ApiError> {
    call.batch(|| fold_reports(call, record, reports))?
}

fn fold_reports(
    call: &Call<'_>,
    record: &InstanceRecord,
    reports: &[TaskReport],
) -> Result<bool, ApiError> {
    let arn = &record.instance.container_instance_arn;
    let mut definitions: HashMap<String, Option<TaskDefinition>> = HashMap::new();
    let mut changed = false;
    for report in reports {
        let id = resource_id(&report.task_arn);
        let Some(task) = call.get::<Task>(Collection::Tasks, id)? else {
            continue;
        };
        if task.container_instance_arn.as_deref() != Some(arn) {
            continue;
        }
        if !definitions.contains_key(&task.task_definition_arn) {
            let definition = task_definitions::resolve(call, &task.task_definition_arn)?;
            definitions.insert(task.task_definition_arn.clone(), definition);
        }
        let definition = definitions
            .get(&task.task_definition_arn)
            .and_then(Option::as_ref);
        let awsvpc = definition.and_then(|d| d.network_mode.as_deref()) == Some("awsvpc");
        let mut failed_to_start = None;
        let mut reached = None;
        let updated = call.modify(Collection::Tasks, id, |task: &mut Task| {
            failed_to_start = None;
            reached = None;
            let before = task.clone();
            // Status only moves forward: a late report never revives a stopped task.
            if report.last_status >= task.last_status {
                task.last_status = report.last_status;
            }
            for observed in &report.containers {
                if let Some(container) =
                    task.containers.iter_mut().find(|c| c.name == observed.name)
                {
                    container.runtime_id =
                        observed.runtime_id.clone().or(container.runtime_id.take());
                    if container.last_status != ContainerStatus::Stopped {
                        container.last_status = observed.last_status;
                    }
                    container.exit_code = observed.exit_code.or(container.exit_code);
                    container.reason = observed.reason.clone().or(container.reason.take());
                    container.network_bindings = observed.network_bindings.clone();
                    // ECS shows a task's own address only in awsvpc mode.
                    if let Some(ip) = observed.ip_address.as_ref().filter(|_| awsvpc) {
                        container.network_interfaces = vec![NetworkInterface {
                            attachment_id: None,
                            private_ipv4_address: Some(ip.clone()),
                            ipv6_address: None,
                        }];
                    }
                    container.health_status = Some(observed.health_status);
                }
            }
            task.pull_started_at = task.pull_started_at.or(report.pull_started_at);
            task.pull_stopped_at = task.pull_stopped_at.or(report.pull_stopped_at);
            task.started_at = task.started_at.or(report.started_at);
            task.stopping_at = task.stopping_at.or(report.stopping_at);
            task.stopped_at = task.stopped_at.or(report.stopped_at);
            if let Some(code) = report.stop_code {
                if task.stop_code.is_none() && code == StopCode::TaskFailedToStart {
                    failed_to_start = report.stopped_reason.clone();
                }
                if task.stop_code.is_none() {
                    task.stop_code = Some(code);
                    task.stop_cause = StopCause::reported(code);
                    task.stopped_reason = report.stopped_reason.clone();
                }
                task.desired_status = TaskStatus::Stopped;
            }
            task.health_status = task_health(task, definition);
            for status in [TaskStatus::Running, TaskStatus::Stopped] {
                if before.last_status < status && task.last_status >= status {
                    reached = Some((status, task.stop_code));
                }
            }
            if *task != before {
                task.version += 1;
                return Ok::<_, ApiError>(true);
            }
            Ok(false)
        })?;
        changed |= updated == Some(true);
        let cluster = names::cluster_of_arn(&task.cluster_arn);
        match reached {
            Some((TaskStatus::Running, _)) => call.prometheus().task_started(cluster),
            Some((_, code)) => {
                let reason = code.map_or_else(|| "Unknown".to_string(), |c| c.to_string());
                call.prometheus().task_stopped(cluster, &reason);
            }
            None => {}
        }
        // Say why in the service's events too, where a failing deployment is watched.
        if let (Some(true), Some(reason), Some(service)) =
            (updated, failed_to_start, names::service_of(&task.group))
        {
            let cluster = resource_id(&task.cluster_arn);
            events::record(
                call,
                cluster,
                service,
                &[events::failed_to_start(id, &reason)],
            )?;
        }
    }
    Ok(changed)
}

/// One page of the tasks the server wants on the instance (those after `page_after`, by
/// task ARN), and a version of the whole set that changes with it; only the version when it
/// is `known` (the set the agent holds). Only the page's tasks are resolved (definitions,
/// secrets), so an answer costs what it carries.
pub fn desired(
    call: &Call<'_>,
    record: &InstanceRecord,
    page_after: Option<&str>,
    known: Option<&str>,
) -> Result<PollResponse, ApiError> {
    let cluster = match berth_model::arn::parse(&record.instance.container_instance_arn) {
        Some(berth_model::arn::ResourceRef::ContainerInstance {
            cluster: Some(cluster),
            ..
        }) => cluster,
        _ => {
            return Err(ApiError::server(
                "stored container instance ARN has no cluster",
            ))
        }
    };
    let arn = &record.instance.container_instance_arn;
    // From the index of the cluster's tasks by instance, in memory: a poll reads its
    // machine's tasks, not the cluster's, and sees the reports it just applied. In key
    // order, which within one cluster is ARN order.
    let tasks = call.tasks_on_instance(&cluster, record.id())?;
    let mut hasher = Sha256::new();
    let mut mine = Vec::new();
    for task in tasks.iter().map(|t| &t.value) {
        if task.container_instance_arn.as_deref() != Some(arn) {
            continue;
        }
        // A task being drained keeps running until the load balancer is done with it.
        let desired_status = if task.last_status == TaskStatus::Deactivating {
            TaskStatus::Running
        } else {
            task.desired_status
        };
        let started: Vec<String> = task
            .containers
            .iter()
            .filter(|c| c.runtime_id.is_some())
            .map(|c| c.name.clone())
            .collect();
        hasher.update(task.task_arn.as_bytes());
        hasher.update(desired_status.to_string().as_bytes());
        for name in &started {
            hasher.update(b"\0");
            hasher.update(name.as_bytes());
        }
        hasher.update(b"\n");
        mine.push((task, desired_status, started));
    }
    let version = hex::encode(&hasher.finalize()[..12]);
    let resync = !call.presence().synced(record.id());
    if page_after.is_none() && known == Some(version.as_str()) {
        return Ok(PollResponse {
            version,
            tasks: Vec::new(),
            unchanged: true,
            next_page: None,
            resync,
            output_requests: Vec::new(),
        });
    }
    let mut page = Vec::new();
    let mut next_page = None;
    let mut definitions: HashMap<String, Option<TaskDefinition>> = HashMap::new();
    for (task, desired_status, started) in mine {
        if page_after.is_some_and(|after| task.task_arn.as_str() <= after) {
            continue;
        }
        if page.len() == MAX_TASKS_PER_PAGE {
            next_page = page.last().map(|t: &DesiredTask| t.task_arn.clone());
            continue;
        }
        if !definitions.contains_key(&task.task_definition_arn) {
            let definition = task_definitions::resolve(call, &task.task_definition_arn)?;
            definitions.insert(task.task_definition_arn.clone(), definition);
        }
        let Some(definition) = definitions
            .get(&task.task_definition_arn)
            .cloned()
            .flatten()
        else {
            continue;
        };
        page.push(desired_task(
            call,
            task.clone(),
            definition,
            desired_status,
            started,
        )?);
    }
    Ok(PollResponse {
        version,
        tasks: page,
        unchanged: false,
        next_page,
        resync,
        output_requests: Vec::new(),
    })
}

/// A task as its agent needs it: its definition, and while it has yet to start, its
/// secrets.
fn desired_task(
    call: &Call<'_>,
    task: Task,
    definition: TaskDefinition,
    desired_status: TaskStatus,
    started: Vec<String>,
) -> Result<DesiredTask, ApiError> {
    let stop_timeout = definition
        .container_definitions
        .iter()
        .filter_map(|c| c.stop_timeout)
        .max()
        .map(i64::from)
        .unwrap_or(DEFAULT_STOP_TIMEOUT_SECONDS);
    // Secrets travel only while the task has yet to start all its containers (an agent
    // that restarts mid-way needs them again), and only to its own agent.
    // Log groups are readied (or found missing) at the same moment.
    let secrets = if desired_status == TaskStatus::Running && task.last_status.is_pending() {
        let containers = &definition.container_definitions;
        let secrets = crate::task_secrets::resolve(call, containers)?;
        match crate::task_logs::prepare(call, containers, secrets.as_ref())? {
            Some(reason) if !matches!(secrets, Some(Resolution::Failed { .. })) => {
                Some(Resolution::Failed { reason })
            }
            _ => secrets,
        }
    } else {
        None
    };
    Ok(DesiredTask {
        task_id: resource_id(&task.task_arn).to_string(),
        task_arn: task.task_arn,
        desired_status,
        family: definition.family.clone(),
        revision: definition.revision,
        network_mode: definition
            .network_mode
            .clone()
            .unwrap_or_else(|| "bridge".into()),
        volumes: definition.volumes.clone().unwrap_or_default(),
        containers: definition.container_definitions,
        overrides: task.overrides,
        stop_timeout_seconds: stop_timeout,
        secrets,
        started,
    })
}
