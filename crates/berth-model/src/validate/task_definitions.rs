//! RegisterTaskDefinition: the task-level members (family, network, pid and ipc modes,
//! requiresCompatibilities, Fargate's requirements, volumes) and the order in which
//! everything is checked. The containers it nests, their ports, dependencies and secrets,
//! its sizes and its placement constraints have modules of their own; this one gathers what
//! a container's rules need to know about the task into a `Task` and hands each container
//! over.

use super::check::{ensure, error, identifier, one_of, optional_one_of, required, Check, CLIENT};
use super::containers::Task;
use super::dependencies::dependency_cycles;
use super::placement::{task_placement_constraints, COMPATIBILITIES};
use super::sizes::{fargate_cpu_memory, task_cpu, task_memory};
use super::tags::tags;
use crate::error::ApiError;
use crate::requests::RegisterTaskDefinition;
use crate::resources::{ContainerDefinition, Volume};
use std::collections::{HashMap, HashSet};

const NETWORK_MODES: &[&str] = &["bridge", "host", "awsvpc", "none"];
const PID_MODES: &[&str] = &["host", "task"];
const IPC_MODES: &[&str] = &["host", "task", "none"];
const FARGATE_NEEDS: &str = "required when requiresCompatibilities includes FARGATE";

/// Checks a RegisterTaskDefinition request the way ECS does.
pub fn register_task_definition(req: &RegisterTaskDefinition) -> Result<(), ApiError> {
    identifier(CLIENT, "family", &req.family)?;
    optional_one_of(
        CLIENT,
        "networkMode",
        req.network_mode.as_deref(),
        NETWORK_MODES,
    )?;
    let compatibilities = req.requires_compatibilities.as_deref().unwrap_or_default();
    for (i, compatibility) in compatibilities.iter().enumerate() {
        one_of(
            CLIENT,
            format!("requiresCompatibilities[{i}]"),
            compatibility,
            COMPATIBILITIES,
        )?;
    }
    optional_one_of(CLIENT, "pidMode", req.pid_mode.as_deref(), PID_MODES)?;
    optional_one_of(CLIENT, "ipcMode", req.ipc_mode.as_deref(), IPC_MODES)?;
    let task_cpu = req.cpu.as_deref().map(task_cpu).transpose()?;
    let task_memory = req.memory.as_deref().map(task_memory).transpose()?;
    let network_mode = req.network_mode.as_deref().unwrap_or("bridge");
    let fargate = compatibilities.iter().any(|c| c == "FARGATE");
    if fargate {
        fargate_task(req, network_mode)?;
    }
    let volumes = volumes(req.volumes.as_deref().unwrap_or_default(), fargate)?;
    task_placement_constraints(req.placement_constraints.as_deref().unwrap_or_default())?;
    let task = Task {
        network_mode,
        fargate,
        managed_instances: compatibilities.iter().any(|c| c == "MANAGED_INSTANCES"),
        task_memory,
        containers: &req.container_definitions,
        by_name: container_names(&req.container_definitions)?,
        volumes,
    };
    for (i, container) in req.container_definitions.iter().enumerate() {
        task.container(i, container)?;
    }
    ensure(
        req.container_definitions
            .iter()
            .any(ContainerDefinition::is_essential),
        CLIENT,
        "containerDefinitions",
        "at least one container must be essential",
    )?;
    dependency_cycles(task.containers, &task.by_name)?;
    task.totals(task_cpu)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

fn fargate_task(req: &RegisterTaskDefinition, network_mode: &str) -> Check {
    ensure(
        network_mode == "awsvpc",
        CLIENT,
        "networkMode",
        format_args!(
            "must be awsvpc when requiresCompatibilities includes FARGATE, got {network_mode}"
        ),
    )?;
    let cpu = req
        .cpu
        .as_deref()
        .ok_or_else(|| error(CLIENT, "cpu", FARGATE_NEEDS))?;
    let memory = req
        .memory
        .as_deref()
        .ok_or_else(|| error(CLIENT, "memory", FARGATE_NEEDS))?;
    fargate_cpu_memory(cpu, memory)?;
    ensure(
        req.pid_mode.as_deref() != Some("host"),
        CLIENT,
        "pidMode",
        "must be task on FARGATE, got host",
    )?;
    ensure(
        req.ipc_mode.is_none(),
        CLIENT,
        "ipcMode",
        "not supported on FARGATE",
    )
}

/// Checks the task's volumes and returns their names, which mount points refer to.
fn volumes(list: &[Volume], fargate: bool) -> Result<HashSet<&str>, ApiError> {
    let mut names = HashMap::new();
    let mut configured_at_launch = None;
    for (i, volume) in list.iter().enumerate() {
        let at = format!("volumes[{i}]");
        match volume.name.as_deref() {
            Some(name) => {
                identifier(CLIENT, format!("{at}.name"), name)?;
                if let Some(first) = names.insert(name, i) {
                    return Err(error(
                        CLIENT,
                        format!("{at}.name"),
                        format_args!(
                            "duplicate volume name {name:?}, also used by volumes[{first}]"
                        ),
                    ));
                }
            }
            None => ensure(
                volume.efs_volume_configuration.is_none()
                    && volume.s3files_volume_configuration.is_none()
                    && volume.configured_at_launch != Some(true),
                CLIENT,
                format!("{at}.name"),
                "required for EFS, S3 Files and configured-at-launch volumes",
            )?,
        }
        if fargate {
            ensure(
                volume.docker_volume_configuration.is_none(),
                CLIENT,
                format!("{at}.dockerVolumeConfiguration"),
                "not supported on FARGATE",
            )?;
        }
        if volume.configured_at_launch == Some(true) {
            if let Some(first) = configured_at_launch {
                return Err(error(
                    CLIENT,
                    format!("{at}.configuredAtLaunch"),
                    format_args!(
                        "only one volume may be configured at launch, volumes[{first}] already is"
                    ),
                ));
            }
            configured_at_launch = Some(i);
        }
    }
    Ok(names.into_keys().collect())
}

fn container_names(containers: &[ContainerDefinition]) -> Result<HashMap<&str, usize>, ApiError> {
    ensure(
        !containers.is_empty(),
        CLIENT,
        "containerDefinitions",
        "at least one container is required",
    )?;
    let mut by_name = HashMap::new();
    for (i, container) in containers.iter().enumerate() {
        let path = format!("containerDefinitions[{i}].name");
        let name = required(CLIENT, &path, container.name.as_deref())?;
        identifier(CLIENT, &path, name)?;
        if let Some(first) = by_name.insert(name, i) {
            return Err(error(
                CLIENT,
                &path,
                format_args!(
                    "duplicate container name {name:?}, also used by containerDefinitions[{first}]"
                ),
            ));
        }
    }
    Ok(by_name)
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
