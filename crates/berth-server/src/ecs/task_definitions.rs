//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.

use super::common::wants_tags;
use super::pagination;
use crate::call::{to_doc, to_value, Call};
use berth_model::arn::{task_definition_ref, TaskDefinitionRef};
use berth_model::requests::{
    DeleteTaskDefinitions, DeregisterTaskDefinition, DescribeTaskDefinition,
    ListTaskDefinitionFamilies, ListTaskDefinitions, RegisterTaskDefinition,
};
use berth_model::resources::{ContainerDefinition, Failure, TaskDefinition};
use berth_model::status::TaskDefinitionStatus;
use berth_model::ApiError;
use berth_store::{revision_key, Collection};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Adds the members ECS fills in on registration, leaving everything the client sent as sent.
fn with_ecs_defaults(
    mut container: ContainerDefinition,
    network_mode: &str,
) -> ContainerDefinition {
    container.cpu.get_or_insert(0);
    container.essential.get_or_insert(true);
    for mapping in container.port_mappings.get_or_insert_with(Vec::new) {
        mapping.protocol.get_or_insert_with(|| "tcp".to_string());
        // In awsvpc and host mode the container port is the host port.
        if matches!(network_mode, "awsvpc" | "host") {
            if let Some(port) = mapping.container_port {
                mapping.host_port.get_or_insert(port);
            }
        }
    }
    container.environment.get_or_insert_with(Vec::new);
    container.mount_points.get_or_insert_with(Vec::new);
    container.volumes_from.get_or_insert_with(Vec::new);
    container.system_controls.get_or_insert_with(Vec::new);
    container
}

pub fn register(call: &Call<'_>, request: &RegisterTaskDefinition) -> Result<Value, ApiError> {
    let request = request.clone();
    let network_mode = request
        .network_mode
        .clone()
        .unwrap_or_else(|| "bridge".to_string());
    let mut compatibilities = vec!["EC2".to_string()];
    if request
        .requires_compatibilities
        .iter()
        .flatten()
        .any(|c| c == "FARGATE")
    {
        compatibilities.push("FARGATE".to_string());
    }
    let template = TaskDefinition {
        container_definitions: request
            .container_definitions
            .into_iter()
            .map(|c| with_ecs_defaults(c, &network_mode))
            .collect(),
        family: request.family.clone(),
        task_role_arn: request.task_role_arn,
        execution_role_arn: request.execution_role_arn,
        network_mode: request.network_mode,
        volumes: Some(request.volumes.unwrap_or_default()),
        status: Some(TaskDefinitionStatus::Active),
        placement_constraints: Some(request.placement_constraints.unwrap_or_default()),
        compatibilities: Some(compatibilities),
        runtime_platform: request.runtime_platform,
        requires_compatibilities: request.requires_compatibilities,
        cpu: request.cpu,
        memory: request.memory,
        inference_accelerators: request.inference_accelerators,
        pid_mode: request.pid_mode,
        ipc_mode: request.ipc_mode,
        proxy_configuration: request.proxy_configuration,
        registered_at: Some(call.now()),
        registered_by: Some(format!(
            "arn:aws:iam::{}:user/{}",
            call.arns().account,
            call.caller().access_key_id
        )),
        ephemeral_storage: request.ephemeral_storage,
        enable_fault_injection: request.enable_fault_injection,
        trusted_execution_configuration: request.trusted_execution_configuration,
        tags: request.tags.unwrap_or_default(),
        ..TaskDefinition::default()
    };
    let definition: TaskDefinition =
        call.insert_next_revision(&template.family, &mut |revision| {
            let mut definition = template.clone();
            definition.revision = revision;
            definition.task_definition_arn =
                Some(call.arns().task_definition(&definition.family, revision));
            to_doc(&definition)
        })?;
    Ok(respond(definition, true))
}

/// `{"taskDefinition": …, "tags": …}` with tags moved out of the definition, as ECS answers.
fn respond(mut definition: TaskDefinition, include_tags: bool) -> Value {
    let tags = std::mem::take(&mut definition.tags);
    let mut out = json!({"taskDefinition": definition});
    if include_tags {
        out["tags"] = to_value(&tags);
    }
    out
}

/// Every revision of a family, in revision order.
fn revisions(call: &Call<'_>, family: &str) -> Result<Vec<TaskDefinition>, ApiError> {
    Ok(call.list(Collection::TaskDefinitions, Some(family))?)
}

/// Resolves `family`, `family:revision` or an ARN. A bare family means its latest ACTIVE
/// revision; an explicit revision may be INACTIVE (it still serves running tasks).
pub fn resolve(call: &Call<'_>, reference: &str) -> Result<Option<TaskDefinition>, ApiError> {
    let Some(TaskDefinitionRef { family, revision }) = task_definition_ref(reference) else {
        return Ok(None);
    };
    match revision {
        Some(revision) => Ok(call.get::<TaskDefinition>(
            Collection::TaskDefinitions,
            &revision_key(&family, revision),
        )?),
        None => Ok(revisions(call, &family)?
            .into_iter()
            .rev()
            .find(|d| d.status == Some(TaskDefinitionStatus::Active))),
    }
}

pub fn describe(call: &Call<'_>, request: &DescribeTaskDefinition) -> Result<Value, ApiError> {
    let definition = resolve(call, &request.task_definition)?
        .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
    Ok(respond(definition, wants_tags(&request.include)))
}

/// A `status` member that must be one of `allowed` (or is `default` when absent).
fn parse_status<T: Copy>(
    value: Option<&str>,
    default: &str,
    allowed: &[(&str, T)],
    member: &str,
) -> Result<T, ApiError> {
    let given = value.unwrap_or(default);
    allowed
        .iter()
        .find(|(name, _)| *name == given)
        .map(|(_, status)| *status)
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
            ApiError::invalid(format!(
                "{member}: must be one of {}, got {given:?}",
                names.join(", ")
            ))
        })
}

pub fn list(call: &Call<'_>, request: &ListTaskDefinitions) -> Result<Value, ApiError> {
    use TaskDefinitionStatus::{Active, DeleteInProgress, Inactive};
    let status = parse_status(
        request.status.as_deref(),
        "ACTIVE",
        &[
            ("ACTIVE", Active),
            ("INACTIVE", Inactive),
            ("DELETE_IN_PROGRESS", DeleteInProgress),
        ],
        "status",
    )?;
    let descending = match request.sort.as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "sort: must be ASC or DESC, got {other:?}"
            )))
        }
    };
    // familyPrefix is, despite its name, the whole family name on ECS.
    let definitions: Vec<TaskDefinition> = match request.family_prefix.as_deref() {
        Some(family) => revisions(call, family)?,
        None => call.list(Collection::TaskDefinitions, None)?,
    };
    let mut arns: Vec<String> = definitions
        .into_iter()
        .filter(|d| d.status == Some(status))
        .filter_map(|d| d.task_definition_arn)
        .collect();
    if descending {
        arns.reverse();
    }
    // Listed by family, then revision: the order pages follow.
    let order = |a: &str, b: &str| {
        let key = |arn: &str| {
            let (family, revision) = arn.rsplit_once(':').unwrap_or((arn, "0"));
            (family.to_string(), revision.parse::<i64>().unwrap_or(0))
        };
        let ascending = key(a).cmp(&key(b));
        if descending {
            ascending.reverse()
        } else {
            ascending
        }
    };
    let (page, next) = pagination::page_by(arns, &request.page, 100, order)?;
    Ok(json!({"taskDefinitionArns": page, "nextToken": next}))
}

pub fn list_families(
    call: &Call<'_>,
    request: &ListTaskDefinitionFamilies,
) -> Result<Value, ApiError> {
    // Unlike ListTaskDefinitions, ECS lists families of both statuses unless asked.
    let status = parse_status(
        request.status.as_deref(),
        "ALL",
        &[
            ("ACTIVE", Some(TaskDefinitionStatus::Active)),
            ("INACTIVE", Some(TaskDefinitionStatus::Inactive)),
            ("ALL", None),
        ],
        "status",
    )?;
    let mut has_active: BTreeMap<String, bool> = BTreeMap::new();
    for definition in call.list::<TaskDefinition>(Collection::TaskDefinitions, None)? {
        if request
            .family_prefix
            .as_deref()
            .is_some_and(|p| !definition.family.starts_with(p))
        {
            continue;
        }
        let active = definition.status == Some(TaskDefinitionStatus::Active);
        *has_active.entry(definition.family).or_default() |= active;
    }
    let families: Vec<String> = has_active
        .into_iter()
        .filter(|(_, active)| match status {
            Some(TaskDefinitionStatus::Active) => *active,
            Some(_) => !*active,
            None => true,
        })
        .map(|(family, _)| family)
        .collect();
    let (page, next) = pagination::page(families, &request.page, 100)?;
    Ok(json!({"families": page, "nextToken": next}))
}

/// The exact revision a Deregister or Delete call names; a bare family is not enough.
fn exact_revision(reference: &str) -> Result<(String, i64), ApiError> {
    match task_definition_ref(reference) {
        Some(TaskDefinitionRef {
            family,
            revision: Some(revision),
        }) => Ok((family, revision)),
        _ => Err(ApiError::client(format!(
            "taskDefinition: {reference:?} must be family:revision or a full task definition ARN"
        ))),
    }
}

pub fn deregister(call: &Call<'_>, request: &DeregisterTaskDefinition) -> Result<Value, ApiError> {
    let (family, revision) = exact_revision(&request.task_definition)?;
    let now = call.now();
    let definition = call
        .modify(
            Collection::TaskDefinitions,
            &revision_key(&family, revision),
            |d: &mut TaskDefinition| {
                if d.status == Some(TaskDefinitionStatus::Active) {
                    d.status = Some(TaskDefinitionStatus::Inactive);
                    d.deregistered_at = Some(now);
                }
                Ok::<_, ApiError>(d.clone())
            },
        )?
        .ok_or_else(|| ApiError::client("The specified task definition does not exist."))?;
    Ok(respond(definition, false))
}

pub fn delete(call: &Call<'_>, request: &DeleteTaskDefinitions) -> Result<Value, ApiError> {
    // Every reference is checked before any is changed, so a bad one refuses the whole call.
    let revisions: Vec<(String, i64)> = request
        .task_definitions
        .iter()
        .map(|r| exact_revision(r))
        .collect::<Result<_, _>>()?;
    let now = call.now();
    let mut deleted = Vec::new();
    let mut failures = Vec::new();
    for (family, revision) in revisions {
        let arn = call.arns().task_definition(&family, revision);
        let outcome = call.modify(
            Collection::TaskDefinitions,
            &revision_key(&family, revision),
            |d: &mut TaskDefinition| {
                if d.status == Some(TaskDefinitionStatus::Active) {
                    return Ok::<_, ApiError>(Err(
                        "The specified task definition is still in ACTIVE status.",
                    ));
                }
                if d.status == Some(TaskDefinitionStatus::Inactive) {
                    d.status = Some(TaskDefinitionStatus::DeleteInProgress);
                    d.delete_requested_at = Some(now);
                }
                Ok(Ok(d.clone()))
            },
        )?;
        match outcome {
            Some(Ok(mut definition)) => {
                definition.tags.clear();
                deleted.push(definition);
            }
            Some(Err(reason)) => failures.push(Failure {
                arn: Some(arn),
                reason: Some(reason.to_string()),
                detail: None,
            }),
            None => failures.push(Failure::missing(arn)),
        }
    }
    Ok(json!({"taskDefinitions": deleted, "failures": failures}))
}

/// Checks that a task definition can be launched as asked, as ECS does when a service or
/// task is created: awsvpc needs a network configuration, FARGATE a compatible definition.
pub fn check_launch(
    definition: &TaskDefinition,
    launch_type: Option<&str>,
    network_configuration: Option<&berth_model::resources::Object>,
) -> Result<(), ApiError> {
    if definition.network_mode.as_deref() == Some("awsvpc") && network_configuration.is_none() {
        return Err(ApiError::invalid(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    if launch_type == Some("FARGATE")
        && !definition
            .compatibilities
            .iter()
            .flatten()
            .any(|c| c == "FARGATE")
    {
        return Err(ApiError::invalid(
            "Task definition does not support launch_type FARGATE.",
        ));
    }
    Ok(())
}
