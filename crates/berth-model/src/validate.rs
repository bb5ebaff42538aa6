//! The checks ECS applies to a request before it stores anything.
//!
//! Each function returns the first problem it finds, with the exception kind ECS answers it
//! with: `ClientException` for task definitions, `InvalidParameterException` for service and
//! task parameters. Every message starts with the path of the offending member
//! (`containerDefinitions[1].healthCheck.interval: …`): a task definition nests dozens of
//! values, and naming the exact one is what lets a user fix it without guessing.

mod inputs;

use crate::error::{ApiError, ErrorKind};
use crate::requests::{CreateService, RegisterTaskDefinition, RunTask, UpdateService};
use crate::resources::{
    Attribute, ContainerDefinition, DeploymentConfiguration, HealthCheck, LoadBalancer,
    LogConfiguration, Object, PlacementConstraint, PlacementStrategy, PortMapping, Secret, Tag,
    Ulimit, Volume,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;

type Check = Result<(), ApiError>;

const CLIENT: ErrorKind = ErrorKind::ClientException;
const INVALID: ErrorKind = ErrorKind::InvalidParameterException;

const NETWORK_MODES: &[&str] = &["bridge", "host", "awsvpc", "none"];
const COMPATIBILITIES: &[&str] = &["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"];
const PID_MODES: &[&str] = &["host", "task"];
const IPC_MODES: &[&str] = &["host", "task", "none"];
const PROTOCOLS: &[&str] = &["tcp", "udp"];
const APP_PROTOCOLS: &[&str] = &["http", "http2", "grpc"];
const CONDITIONS: &[&str] = &["START", "COMPLETE", "SUCCESS", "HEALTHY"];
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];
const LOG_DRIVERS: &[&str] = &[
    "json-file",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "awsfirelens",
];
const FARGATE_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens"];
const MANAGED_INSTANCES_LOG_DRIVERS: &[&str] = &["awslogs", "splunk", "awsfirelens", "json-file"];
const SCHEDULING_STRATEGIES: &[&str] = &["REPLICA", "DAEMON"];
const PROPAGATE_TAGS: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
const DEPLOYMENT_STRATEGIES: &[&str] = &["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"];
const DEPLOYMENT_CONTROLLERS: &[&str] = &["ECS", "CODE_DEPLOY", "EXTERNAL"];
const AZ_REBALANCING: &[&str] = &["ENABLED", "DISABLED"];
const CONSTRAINT_TYPES: &[&str] = &["distinctInstance", "memberOf"];
const STRATEGY_TYPES: &[&str] = &["random", "spread", "binpack"];
const BINPACK_FIELDS: &[&str] = &["cpu", "memory"];

/// Docker 20.10 and later reserve 6 MiB for every container, so less can never start.
const MIN_MEMORY_MIB: i64 = 6;
const MAX_CONSTRAINTS: usize = 10;
const MAX_STRATEGIES: usize = 5;
const MAX_TAGS: usize = 50;
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
    task.dependency_cycles()?;
    task.totals(task_cpu)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

/// Checks CreateService members that don't need the store: serviceName format,
/// desiredCount >= 0, deploymentConfiguration percents (maximumPercent >= 0,
/// minimumHealthyPercent 0..=100, maximum not below minimum), launchType / schedulingStrategy /
/// propagateTags enums, placementStrategy types (random|spread|binpack, spread/binpack need a
/// field), placementConstraints types (distinctInstance without expression, memberOf with
/// expression), loadBalancers entries (containerName and containerPort both given),
/// healthCheckGracePeriodSeconds range (0..=2147483647), tags.
pub fn create_service(req: &CreateService) -> Result<(), ApiError> {
    identifier(INVALID, "serviceName", &req.service_name)?;
    desired_count(req.desired_count)?;
    launch_type(
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    optional_one_of(
        INVALID,
        "schedulingStrategy",
        req.scheduling_strategy.as_deref(),
        SCHEDULING_STRATEGIES,
    )?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    optional_one_of(
        INVALID,
        "availabilityZoneRebalancing",
        req.availability_zone_rebalancing.as_deref(),
        AZ_REBALANCING,
    )?;
    let strategies = req.placement_strategy.as_deref().unwrap_or_default();
    if req.scheduling_strategy.as_deref() == Some("DAEMON") {
        ensure(
            req.launch_type.as_deref() != Some("FARGATE"),
            INVALID,
            "schedulingStrategy",
            "the DAEMON scheduling strategy is not supported with launchType FARGATE",
        )?;
        ensure(
            strategies.is_empty(),
            INVALID,
            "placementStrategy",
            "not supported with the DAEMON scheduling strategy",
        )?;
    }
    deployment_configuration(req.deployment_configuration.as_ref())?;
    deployment_controller(req.deployment_controller.as_ref())?;
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    placement(constraints, strategies)?;
    fargate_placement(req.launch_type.as_deref(), constraints, strategies)?;
    load_balancers(req.load_balancers.as_deref().unwrap_or_default())?;
    grace_period(req.health_check_grace_period_seconds)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

/// Checks UpdateService members that don't need the store, with CreateService's rules.
pub fn update_service(req: &UpdateService) -> Result<(), ApiError> {
    ensure(!req.service.is_empty(), INVALID, "service", "required")?;
    desired_count(req.desired_count)?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    optional_one_of(
        INVALID,
        "availabilityZoneRebalancing",
        req.availability_zone_rebalancing.as_deref(),
        AZ_REBALANCING,
    )?;
    deployment_configuration(req.deployment_configuration.as_ref())?;
    deployment_controller(req.deployment_controller.as_ref())?;
    placement(
        req.placement_constraints.as_deref().unwrap_or_default(),
        req.placement_strategy.as_deref().unwrap_or_default(),
    )?;
    load_balancers(req.load_balancers.as_deref().unwrap_or_default())?;
    grace_period(req.health_check_grace_period_seconds)
}

/// RunTask: count 1..=10 (InvalidParameterException), startedBy at most 128 chars, group,
/// enums, placement as above, tags.
pub fn run_task(req: &RunTask) -> Result<(), ApiError> {
    ensure(
        !req.task_definition.is_empty(),
        INVALID,
        "taskDefinition",
        "required",
    )?;
    if let Some(count) = req.count {
        between(INVALID, "count", count, 1, 10, "")?;
    }
    if let Some(started_by) = &req.started_by {
        let length = started_by.chars().count();
        // ECS's documentation names letters, numbers, hyphens, slashes and underscores, but
        // ECS accepts any text within the length: ecs-deploy's `ecs run` sends "ECS Deploy".
        ensure(
            length <= 128,
            INVALID,
            "startedBy",
            format_args!("must be at most 128 characters, got {length}"),
        )?;
    }
    if let Some(group) = &req.group {
        let length = group.chars().count();
        ensure(
            (1..=255).contains(&length),
            INVALID,
            "group",
            format_args!("must be 1 to 255 characters, got {length}"),
        )?;
    }
    launch_type(
        req.launch_type.as_deref(),
        req.capacity_provider_strategy.as_deref(),
    )?;
    optional_one_of(
        INVALID,
        "propagateTags",
        req.propagate_tags.as_deref(),
        PROPAGATE_TAGS,
    )?;
    ensure(
        req.propagate_tags.as_deref() != Some("SERVICE"),
        INVALID,
        "propagateTags",
        "only services may propagate SERVICE tags, use TASK_DEFINITION or NONE",
    )?;
    let constraints = req.placement_constraints.as_deref().unwrap_or_default();
    let strategies = req.placement_strategy.as_deref().unwrap_or_default();
    placement(constraints, strategies)?;
    fargate_placement(req.launch_type.as_deref(), constraints, strategies)?;
    tags(req.tags.as_deref().unwrap_or_default())
}

/// Cluster name: up to 255 letters, numbers, hyphens, underscores.
pub fn cluster_name(name: &str) -> Result<(), ApiError> {
    identifier(INVALID, "clusterName", name)
}

/// Tags: at most 50 per resource, keys 1..=128, values 0..=256 chars, key must be present and
/// unique; keys with the `aws:` prefix are reserved.
pub fn tags(tags: &[Tag]) -> Result<(), ApiError> {
    ensure(
        tags.len() <= MAX_TAGS,
        INVALID,
        "tags",
        format_args!("at most {MAX_TAGS} tags per resource, got {}", tags.len()),
    )?;
    let mut seen = HashMap::new();
    for (i, tag) in tags.iter().enumerate() {
        let key_path = format!("tags[{i}].key");
        let key = required(INVALID, &key_path, tag.key.as_deref())?;
        let length = key.chars().count();
        ensure(
            length <= 128,
            INVALID,
            &key_path,
            format_args!("must be at most 128 characters, got {length}"),
        )?;
        // ECS reserves the prefix in any letter case.
        ensure(
            !key.get(..4)
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")),
            INVALID,
            &key_path,
            format_args!("the aws: prefix is reserved for AWS use, got {key:?}"),
        )?;
        if let Some(first) = seen.insert(key, i) {
            return Err(error(
                INVALID,
                &key_path,
                format_args!("duplicate tag key {key:?}, also used by tags[{first}]"),
            ));
        }
        if let Some(value) = &tag.value {
            let length = value.chars().count();
            ensure(
                length <= 256,
                INVALID,
                format!("tags[{i}].value"),
                format_args!("must be at most 256 characters, got {length}"),
            )?;
        }
    }
    Ok(())
}

/// Container instance attributes, by ECS's rules: names 1..=128 letters, digits, `-`, `_`,
/// `/`, `\` or `.`; values (optional) 1..=128 of those plus `@`, `:` and inner spaces; at
/// most one value per name, since placement constraints read an attribute by its name.
pub fn attributes(attributes: &[Attribute]) -> Check {
    let mut seen = HashMap::new();
    for (i, attribute) in attributes.iter().enumerate() {
        let name_path = format!("attributes[{i}].name");
        let name = required(INVALID, &name_path, Some(attribute.name.as_str()))?;
        ensure(
            name.chars().count() <= 128
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_/\\.".contains(c)),
            INVALID,
            &name_path,
            format_args!(
                "1 to 128 letters, digits, hyphens, underscores, slashes or periods, got {name:?}"
            ),
        )?;
        if let Some(first) = seen.insert(name, i) {
            return Err(error(
                INVALID,
                &name_path,
                format_args!("duplicate attribute {name:?}, also given as attributes[{first}]"),
            ));
        }
        if let Some(value) = &attribute.value {
            ensure(
                (1..=128).contains(&value.chars().count())
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./\\@: ".contains(c))
                    && !value.starts_with(' ')
                    && !value.ends_with(' '),
                INVALID,
                format!("attributes[{i}].value"),
                format_args!(
                    "1 to 128 letters, digits, spaces or -_./\\@: characters, not starting or \
                     ending with a space, got {value:?}"
                ),
            )?;
        }
    }
    Ok(())
}

/// Fargate task-level cpu/memory table.
pub fn fargate_cpu_memory(cpu: &str, memory: &str) -> Result<(), ApiError> {
    let cpu = task_cpu(cpu)?;
    let memory = task_memory(memory)?;
    let Some(choices) = fargate_memory_choices(cpu) else {
        return Err(error(
            CLIENT,
            "cpu",
            format_args!(
                "no Fargate configuration exists for cpu {cpu}; Fargate takes 256, 512, 1024, 2048, 4096, 8192 or 16384"
            ),
        ));
    };
    ensure(
        choices.contains(&memory),
        CLIENT,
        "memory",
        format_args!(
            "no Fargate configuration exists for cpu {cpu} and memory {memory}; cpu {cpu} takes memory {}",
            describe_choices(&choices)
        ),
    )
}

/// The memory (MiB) Fargate pairs with a task cpu, from ECS's task size table.
fn fargate_memory_choices(cpu: i64) -> Option<Vec<i64>> {
    let (low, high, step) = match cpu {
        256 => return Some(vec![512, 1024, 2048]),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return None,
    };
    Some(
        (0..)
            .map(|n| low + n * step)
            .take_while(|&m| m <= high)
            .collect(),
    )
}

fn describe_choices(choices: &[i64]) -> String {
    match choices {
        [first, second, .., last] if choices.len() > 4 => {
            format!("{first} to {last} in steps of {}", second - first)
        }
        _ => choices
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// CPU units of a task-level `cpu` member ("1024" or "1 vCPU"), if it reads as one.
pub fn cpu_units(value: &str) -> Option<i64> {
    quantity(value, "vcpu")
}

/// MiB of a task-level `memory` member ("2048" or "2 GB"), if it reads as one.
pub fn memory_mib(value: &str) -> Option<i64> {
    quantity(value, "gb")
}

/// Task cpu as ECS accepts it: CPU units ("1024") or vCPUs ("1 vCPU", "0.25 vcpu").
fn task_cpu(value: &str) -> Result<i64, ApiError> {
    let units = quantity(value, "vcpu").ok_or_else(|| {
        error(
            CLIENT,
            "cpu",
            format_args!(
                "must be CPU units such as 1024 or vCPUs such as \"1 vCPU\", got {value:?}"
            ),
        )
    })?;
    ensure(
        (128..=196_608).contains(&units),
        CLIENT,
        "cpu",
        format_args!("must be between 128 and 196608 CPU units (0.125 to 192 vCPUs), got {units}"),
    )?;
    Ok(units)
}

/// Task memory as ECS accepts it: MiB ("2048") or GB ("2 GB", "0.5GB").
fn task_memory(value: &str) -> Result<i64, ApiError> {
    let mib = quantity(value, "gb").ok_or_else(|| {
        error(
            CLIENT,
            "memory",
            format_args!("must be MiB such as 2048 or GB such as \"2 GB\", got {value:?}"),
        )
    })?;
    ensure(
        mib >= MIN_MEMORY_MIB,
        CLIENT,
        "memory",
        format_args!("must be at least {MIN_MEMORY_MIB} MiB, got {mib}"),
    )?;
    Ok(mib)
}

/// A whole number of base units, or a decimal number of `unit`s, each worth 1024 base units
/// (vCPU → CPU units, GB → MiB); fractions that do not come out whole are refused.
fn quantity(value: &str, unit: &str) -> Option<i64> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    match lower.strip_suffix(unit) {
        Some(number) => {
            let number = number.trim_end();
            let (whole_part, fraction) = number.split_once('.').unwrap_or((number, ""));
            if (whole_part.is_empty() && fraction.is_empty()) || fraction.len() > 6 {
                return None;
            }
            let whole_value = if whole_part.is_empty() {
                0
            } else {
                digits(whole_part)?
            };
            let fraction_value = if fraction.is_empty() {
                0
            } else {
                digits(fraction)?
            };
            let scale = 10_i64.pow(u32::try_from(fraction.len()).ok()?);
            let fraction_units = fraction_value * 1024;
            if fraction_units % scale != 0 {
                return None;
            }
            whole_value
                .checked_mul(1024)?
                .checked_add(fraction_units / scale)
        }
        None => digits(value),
    }
}

/// An unsigned decimal integer small enough that scaling it by 1024 cannot overflow.
fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
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

fn task_placement_constraints(list: &[Object]) -> Check {
    ensure(
        list.len() <= MAX_CONSTRAINTS,
        CLIENT,
        "placementConstraints",
        format_args!("at most {MAX_CONSTRAINTS} constraints, got {}", list.len()),
    )?;
    for (i, constraint) in list.iter().enumerate() {
        let kind = constraint.get("type");
        ensure(
            kind.and_then(Value::as_str) == Some("memberOf"),
            CLIENT,
            format!("placementConstraints[{i}].type"),
            format_args!(
                "must be memberOf, got {}",
                kind.map_or_else(|| "nothing".to_string(), Value::to_string)
            ),
        )?;
        let expression = constraint.get("expression").and_then(Value::as_str);
        constraint_expression(
            CLIENT,
            &format!("placementConstraints[{i}].expression"),
            expression,
        )?;
    }
    Ok(())
}

fn constraint_expression(kind: ErrorKind, path: &str, expression: Option<&str>) -> Check {
    let expression = required(kind, path, expression)?;
    let length = expression.chars().count();
    ensure(
        length <= 2000,
        kind,
        path,
        format_args!("must be at most 2000 characters, got {length}"),
    )
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

/// What checking one container needs to know about the rest of the task definition.
struct Task<'a> {
    network_mode: &'a str,
    fargate: bool,
    managed_instances: bool,
    task_memory: Option<i64>,
    containers: &'a [ContainerDefinition],
    by_name: HashMap<&'a str, usize>,
    volumes: HashSet<&'a str>,
}

impl Task<'_> {
    fn container(&self, i: usize, container: &ContainerDefinition) -> Check {
        let at = format!("containerDefinitions[{i}]");
        image(&at, container.image.as_deref())?;
        if let Some(cpu) = container.cpu {
            ensure(
                cpu >= 0,
                CLIENT,
                format!("{at}.cpu"),
                format_args!("must not be negative, got {cpu}"),
            )?;
        }
        self.memory(&at, container)?;
        self.port_mappings(&at, container.port_mappings.as_deref().unwrap_or_default())?;
        self.links(&at, i, container.links.as_deref().unwrap_or_default())?;
        if self.network_mode == "awsvpc" {
            ensure(
                container.hostname.is_none(),
                CLIENT,
                format!("{at}.hostname"),
                "not supported when networkMode is awsvpc",
            )?;
        }
        if let Some(check) = &container.health_check {
            health_check(&format!("{at}.healthCheck"), check)?;
        }
        for (k, variable) in container.environment.iter().flatten().enumerate() {
            required(
                CLIENT,
                format!("{at}.environment[{k}].name"),
                variable.name.as_deref(),
            )?;
        }
        secrets(
            &format!("{at}.secrets"),
            container.secrets.as_deref().unwrap_or_default(),
        )?;
        for (k, ulimit) in container.ulimits.iter().flatten().enumerate() {
            ulimit_limits(&format!("{at}.ulimits[{k}]"), ulimit)?;
        }
        if let Some(log) = &container.log_configuration {
            self.log_configuration(&format!("{at}.logConfiguration"), log)?;
        }
        for (k, mount) in container.mount_points.iter().flatten().enumerate() {
            let path = format!("{at}.mountPoints[{k}]");
            let source = required(
                CLIENT,
                format!("{path}.sourceVolume"),
                mount.source_volume.as_deref(),
            )?;
            ensure(
                self.volumes.contains(source),
                CLIENT,
                format!("{path}.sourceVolume"),
                format_args!("no volume named {source:?} in volumes"),
            )?;
            required(
                CLIENT,
                format!("{path}.containerPath"),
                mount.container_path.as_deref(),
            )?;
        }
        for (k, from) in container.volumes_from.iter().flatten().enumerate() {
            let path = format!("{at}.volumesFrom[{k}].sourceContainer");
            let source = required(CLIENT, &path, from.source_container.as_deref())?;
            self.other_container(i, &path, source)?;
        }
        for (k, dependency) in container.depends_on.iter().flatten().enumerate() {
            let path = format!("{at}.dependsOn[{k}]");
            let condition = dependency.condition.as_str();
            one_of(CLIENT, format!("{path}.condition"), condition, CONDITIONS)?;
            let name = dependency.container_name.as_str();
            let target = &self.containers
                [self.other_container(i, &format!("{path}.containerName"), name)?];
            match condition {
                "COMPLETE" | "SUCCESS" => ensure(
                    !target.is_essential(),
                    CLIENT,
                    format!("{path}.condition"),
                    format_args!(
                        "condition {condition} cannot target essential container {name:?}"
                    ),
                )?,
                "HEALTHY" => ensure(
                    target.health_check.is_some(),
                    CLIENT,
                    format!("{path}.condition"),
                    format_args!(
                        "condition HEALTHY needs container {name:?} to have a healthCheck"
                    ),
                )?,
                _ => {}
            }
        }
        self.timeout(&format!("{at}.startTimeout"), container.start_timeout)?;
        self.timeout(&format!("{at}.stopTimeout"), container.stop_timeout)
    }

    fn memory(&self, at: &str, container: &ContainerDefinition) -> Check {
        if let Some(memory) = container.memory {
            ensure(
                i64::from(memory) >= MIN_MEMORY_MIB,
                CLIENT,
                format!("{at}.memory"),
                format_args!("must be at least {MIN_MEMORY_MIB} MiB, got {memory}"),
            )?;
        }
        if let Some(reservation) = container.memory_reservation {
            ensure(
                i64::from(reservation) >= MIN_MEMORY_MIB,
                CLIENT,
                format!("{at}.memoryReservation"),
                format_args!("must be at least {MIN_MEMORY_MIB} MiB, got {reservation}"),
            )?;
        }
        if let (Some(memory), Some(reservation)) = (container.memory, container.memory_reservation)
        {
            ensure(
                reservation <= memory,
                CLIENT,
                format!("{at}.memoryReservation"),
                format_args!("must not exceed memory ({memory} MiB), got {reservation}"),
            )?;
        }
        ensure(
            self.task_memory.is_some()
                || container.memory.is_some()
                || container.memory_reservation.is_some(),
            CLIENT,
            format!("{at}.memory"),
            "memory or memoryReservation is required when the task has no task-level memory",
        )
    }

    fn port_mappings(&self, at: &str, mappings: &[PortMapping]) -> Check {
        if mappings.is_empty() {
            return Ok(());
        }
        ensure(
            self.network_mode != "none",
            CLIENT,
            format!("{at}.portMappings"),
            "not allowed when networkMode is none",
        )?;
        let mut mapped: Vec<(&str, i32, i32, usize)> = Vec::new();
        for (j, mapping) in mappings.iter().enumerate() {
            let path = format!("{at}.portMappings[{j}]");
            let protocol = mapping.protocol.as_deref().unwrap_or("tcp");
            one_of(CLIENT, format!("{path}.protocol"), protocol, PROTOCOLS)?;
            optional_one_of(
                CLIENT,
                format!("{path}.appProtocol"),
                mapping.app_protocol.as_deref(),
                APP_PROTOCOLS,
            )?;
            if let Some(name) = &mapping.name {
                port_mapping_name(&format!("{path}.name"), name)?;
            }
            let (field, first, last) = self.ports(&path, mapping)?;
            let overlap = mapped
                .iter()
                .find(|&&(other, low, high, _)| other == protocol && first <= high && low <= last);
            if let Some(&(_, _, _, k)) = overlap {
                let ports = if first == last {
                    first.to_string()
                } else {
                    format!("{first}-{last}")
                };
                return Err(error(
                    CLIENT,
                    format!("{path}.{field}"),
                    format_args!("{ports}/{protocol} is already mapped by portMappings[{k}]"),
                ));
            }
            mapped.push((protocol, first, last, j));
        }
        Ok(())
    }

    /// The member that names a mapping's container ports, and the ports it covers.
    fn ports(
        &self,
        path: &str,
        mapping: &PortMapping,
    ) -> Result<(&'static str, i32, i32), ApiError> {
        let mode = self.network_mode;
        match (
            mapping.container_port,
            mapping.container_port_range.as_deref(),
        ) {
            (Some(_), Some(_)) => Err(error(
                CLIENT,
                path,
                "give containerPort or containerPortRange, not both",
            )),
            (None, None) => Err(error(
                CLIENT,
                format!("{path}.containerPort"),
                "required unless containerPortRange is given",
            )),
            (Some(port), None) => {
                between(CLIENT, format!("{path}.containerPort"), port, 1, 65535, "")?;
                if let Some(host) = mapping.host_port {
                    between(CLIENT, format!("{path}.hostPort"), host, 0, 65535, "")?;
                    // These modes put the container on the host's (or the task's own) network
                    // stack, so there is no translation from one port to another.
                    ensure(
                        !matches!(mode, "awsvpc" | "host") || host == port,
                        CLIENT,
                        format!("{path}.hostPort"),
                        format_args!(
                            "must equal containerPort ({port}) when networkMode is {mode}, got {host}"
                        ),
                    )?;
                }
                Ok(("containerPort", port, port))
            }
            (None, Some(range)) => {
                let range_path = format!("{path}.containerPortRange");
                let (first, last) = port_range(range).ok_or_else(|| {
                    error(
                        CLIENT,
                        &range_path,
                        format_args!(
                            "must be \"start-end\" with 1 <= start < end <= 65535, got {range:?}"
                        ),
                    )
                })?;
                ensure(
                    matches!(mode, "bridge" | "awsvpc"),
                    CLIENT,
                    &range_path,
                    format_args!("needs networkMode bridge or awsvpc, got {mode}"),
                )?;
                ensure(
                    mapping.host_port.is_none(),
                    CLIENT,
                    format!("{path}.hostPort"),
                    "must be omitted when containerPortRange is given",
                )?;
                Ok(("containerPortRange", first, last))
            }
        }
    }

    fn links(&self, at: &str, i: usize, links: &[String]) -> Check {
        if links.is_empty() {
            return Ok(());
        }
        ensure(
            self.network_mode == "bridge",
            CLIENT,
            format!("{at}.links"),
            format_args!(
                "only supported when networkMode is bridge, got {}",
                self.network_mode
            ),
        )?;
        for (k, link) in links.iter().enumerate() {
            let target = link
                .split_once(':')
                .map_or(link.as_str(), |(name, _alias)| name);
            self.other_container(i, &format!("{at}.links[{k}]"), target)?;
        }
        Ok(())
    }

    /// The index of the container `name` names, which must not be container `i` itself.
    fn other_container(&self, i: usize, path: &str, name: &str) -> Result<usize, ApiError> {
        match self.by_name.get(name) {
            Some(&target) if target == i => {
                Err(error(CLIENT, path, "a container cannot refer to itself"))
            }
            Some(&target) => Ok(target),
            None => Err(error(
                CLIENT,
                path,
                format_args!("no container named {name:?} in this task definition"),
            )),
        }
    }

    fn log_configuration(&self, at: &str, log: &LogConfiguration) -> Check {
        let path = format!("{at}.logDriver");
        let driver = log.log_driver.as_str();
        one_of(CLIENT, &path, driver, LOG_DRIVERS)?;
        for (applies, platform, allowed) in [
            (self.fargate, "FARGATE", FARGATE_LOG_DRIVERS),
            (
                self.managed_instances,
                "MANAGED_INSTANCES",
                MANAGED_INSTANCES_LOG_DRIVERS,
            ),
        ] {
            ensure(
                !applies || allowed.contains(&driver),
                CLIENT,
                &path,
                format_args!(
                    "must be one of {} on {platform}, got {driver:?}",
                    allowed.join(", ")
                ),
            )?;
        }
        secrets(
            &format!("{at}.secretOptions"),
            log.secret_options.as_deref().unwrap_or_default(),
        )
    }

    /// Start and stop timeouts; ECS documents a range only for Fargate, and EC2 takes any
    /// non-negative value (the agent's own default applies when it is omitted).
    fn timeout(&self, path: &str, seconds: Option<i32>) -> Check {
        match seconds {
            Some(seconds) if self.fargate => {
                between(CLIENT, path, seconds, 2, 120, " seconds on FARGATE")
            }
            Some(seconds) => ensure(
                seconds >= 0,
                CLIENT,
                path,
                format_args!("must not be negative, got {seconds}"),
            ),
            None => Ok(()),
        }
    }

    /// A dependency cycle would leave every container in it waiting for another forever.
    fn dependency_cycles(&self) -> Check {
        let edges: Vec<Vec<usize>> = self
            .containers
            .iter()
            .map(|c| {
                c.depends_on
                    .iter()
                    .flatten()
                    .filter_map(|d| self.by_name.get(d.container_name.as_str()).copied())
                    .collect()
            })
            .collect();
        let Some(cycle) = find_cycle(&edges) else {
            return Ok(());
        };
        let names: Vec<&str> = cycle
            .iter()
            .map(|&i| self.containers[i].name.as_deref().unwrap_or_default())
            .collect();
        Err(error(
            CLIENT,
            format_args!("containerDefinitions[{}].dependsOn", cycle[0]),
            format_args!("dependency cycle {}", names.join(" -> ")),
        ))
    }

    /// Containers' reservations must fit in the task's cpu and memory when the task has them.
    fn totals(&self, task_cpu: Option<i64>) -> Check {
        if let Some(task_cpu) = task_cpu {
            let mut total = 0;
            for (i, container) in self.containers.iter().enumerate() {
                let Some(cpu) = container.cpu else { continue };
                total += i64::from(cpu);
                ensure(
                    total <= task_cpu,
                    CLIENT,
                    format!("containerDefinitions[{i}].cpu"),
                    format_args!(
                        "containers reserve {total} CPU units in total, more than the task cpu {task_cpu}"
                    ),
                )?;
            }
        }
        if let Some(task_memory) = self.task_memory {
            let mut total = 0;
            for (i, container) in self.containers.iter().enumerate() {
                let at = format!("containerDefinitions[{i}]");
                if let Some(memory) = container.memory {
                    ensure(
                        i64::from(memory) <= task_memory,
                        CLIENT,
                        format!("{at}.memory"),
                        format_args!("{memory} MiB is more than the task memory {task_memory} MiB"),
                    )?;
                }
                // A container reserves its soft limit when it has one, else its hard limit.
                let (field, reserved) = match (container.memory_reservation, container.memory) {
                    (Some(reservation), _) => ("memoryReservation", reservation),
                    (None, Some(memory)) => ("memory", memory),
                    (None, None) => continue,
                };
                total += i64::from(reserved);
                ensure(
                    total <= task_memory,
                    CLIENT,
                    format!("{at}.{field}"),
                    format_args!(
                        "containers reserve {total} MiB in total, more than the task memory {task_memory} MiB"
                    ),
                )?;
            }
        }
        Ok(())
    }
}

/// The first cycle in a directed graph, as the nodes along it with the first one repeated at
/// the end. Iterative, so a long dependency chain cannot exhaust the stack.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::Unvisited; edges.len()];
    for start in 0..edges.len() {
        if marks[start] != Mark::Unvisited {
            continue;
        }
        marks[start] = Mark::OnPath;
        let mut path = vec![(start, 0)];
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&target) = edges[node].get(*next) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[target] {
                Mark::Unvisited => {
                    marks[target] = Mark::OnPath;
                    path.push((target, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|&(n, _)| n == target).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|&(n, _)| n).collect();
                    cycle.push(target);
                    return Some(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    None
}

fn image(at: &str, image: Option<&str>) -> Check {
    let path = format!("{at}.image");
    let image = required(CLIENT, &path, image)?;
    let (reference, digest) = match image.split_once('@') {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (image, None),
    };
    // ECS counts the 255 characters before the digest only.
    let length = reference.chars().count();
    ensure(
        length <= 255,
        CLIENT,
        &path,
        format_args!("must be at most 255 characters before any @digest, got {length}"),
    )?;
    ensure(
        !reference.is_empty()
            && reference.chars().all(|c| c.is_ascii_alphanumeric() || "-_:./#".contains(c)),
        CLIENT,
        &path,
        format_args!(
            "may contain only letters, numbers, hyphens, underscores, colons, periods, forward slashes and number signs, got {image:?}"
        ),
    )?;
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:");
        ensure(
            hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
            CLIENT,
            &path,
            format_args!("digest must be sha256: and 64 hexadecimal characters, got {digest:?}"),
        )?;
    }
    Ok(())
}

/// Service Connect and VPC Lattice refer to port mappings by these names.
fn port_mapping_name(path: &str, name: &str) -> Check {
    let length = name.chars().count();
    ensure(
        (1..=64).contains(&length),
        CLIENT,
        path,
        format_args!("must be 1 to 64 characters, got {length}"),
    )?;
    ensure(
        !name.starts_with('-')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')),
        CLIENT,
        path,
        format_args!(
            "may contain only lowercase letters, numbers, underscores and hyphens, and not start with a hyphen, got {name:?}"
        ),
    )
}

fn port_range(range: &str) -> Option<(i32, i32)> {
    let (first, last) = range.split_once('-')?;
    let first = i32::try_from(digits(first)?).ok()?;
    let last = i32::try_from(digits(last)?).ok()?;
    (1 <= first && first < last && last <= 65535).then_some((first, last))
}

fn health_check(at: &str, check: &HealthCheck) -> Check {
    let command = format!("{at}.command");
    let Some(kind) = check.command.first() else {
        return Err(error(CLIENT, command, "must not be empty"));
    };
    // ECS registers a command that starts with neither CMD nor CMD-SHELL (["/healthcheck"]
    // in AWS's own examples) unchanged; Docker then runs no check, which the README explains.
    if matches!(kind.as_str(), "CMD" | "CMD-SHELL") {
        ensure(
            check.command.get(1).is_some_and(|c| !c.trim().is_empty()),
            CLIENT,
            format!("{command}[1]"),
            format_args!("the command to run must follow {kind}"),
        )?;
    }
    for (field, value, low, high, unit) in [
        ("interval", check.interval, 5, 300, " seconds"),
        ("timeout", check.timeout, 2, 60, " seconds"),
        ("retries", check.retries, 1, 10, ""),
        ("startPeriod", check.start_period, 0, 300, " seconds"),
    ] {
        if let Some(value) = value {
            between(CLIENT, format!("{at}.{field}"), value, low, high, unit)?;
        }
    }
    Ok(())
}

fn ulimit_limits(at: &str, ulimit: &Ulimit) -> Check {
    one_of(CLIENT, format!("{at}.name"), &ulimit.name, ULIMIT_NAMES)?;
    let (soft, hard) = (ulimit.soft_limit, ulimit.hard_limit);
    // Docker reads -1 as "unlimited", which task definitions use for memlock.
    for (field, value) in [("softLimit", soft), ("hardLimit", hard)] {
        ensure(
            value >= -1,
            CLIENT,
            format!("{at}.{field}"),
            format_args!("must be -1 (unlimited) or more, got {value}"),
        )?;
    }
    ensure(
        hard == -1 || (soft != -1 && soft <= hard),
        CLIENT,
        format!("{at}.softLimit"),
        format_args!("must not exceed hardLimit ({hard}), got {soft}"),
    )
}

fn secrets(at: &str, list: &[Secret]) -> Check {
    let mut seen = HashMap::new();
    for (k, secret) in list.iter().enumerate() {
        let name_path = format!("{at}[{k}].name");
        ensure(
            !secret.name.is_empty(),
            CLIENT,
            &name_path,
            "must not be empty",
        )?;
        if let Some(first) = seen.insert(secret.name.as_str(), k) {
            return Err(error(
                CLIENT,
                &name_path,
                format_args!(
                    "duplicate secret name {:?}, also used by {at}[{first}]",
                    secret.name
                ),
            ));
        }
        secret_source(&secret.value_from)
            .map_err(|reason| error(CLIENT, format_args!("{at}[{k}].valueFrom"), reason))?;
    }
    Ok(())
}

/// Where a container may read a secret from: an SSM parameter, by name or ARN, or a Secrets
/// Manager secret by ARN, optionally narrowed to `:<json-key>:<version-stage>:<version-id>`.
fn secret_source(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("required".to_string());
    }
    let length = value.chars().count();
    if length > 2048 {
        return Err(format!("must be at most 2048 characters, got {length}"));
    }
    let Some(arn) = value.strip_prefix("arn:") else {
        return ssm_parameter_name(value);
    };
    let mut parts = arn.splitn(5, ':');
    let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(format!("malformed ARN {value:?}"));
    };
    let well_formed = partition.starts_with("aws")
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(format!(
            "malformed ARN {value:?}: expected arn:aws:<service>:<region>:<12-digit account>:<resource>"
        ));
    }
    match service {
        // `parameter/a/b` names the parameter `/a/b`, and `parameter/a` names `a`.
        "ssm" => match resource.strip_prefix("parameter") {
            Some(name) if name.len() > 1 && name.starts_with('/') => ssm_parameter_name(name),
            _ => Err(format!("an SSM ARN must end in parameter/<name>, got {value:?}")),
        },
        "secretsmanager" => {
            let Some(rest) = resource.strip_prefix("secret:") else {
                return Err(format!("a Secrets Manager ARN must end in secret:<name>, got {value:?}"));
            };
            let fields: Vec<&str> = rest.split(':').collect();
            let name = fields[0];
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
            {
                return Err(format!("the Secrets Manager ARN names no valid secret: {value:?}"));
            }
            match fields.len() {
                1 | 4 => Ok(()),
                n => Err(format!(
                    "after the secret name expected nothing or :<json-key>:<version-stage>:<version-id> (each may be empty), got {} fields in {value:?}",
                    n - 1
                )),
            }
        }
        other => Err(format!(
            "must name a Secrets Manager secret or an SSM parameter, got an ARN of service {other:?}"
        )),
    }
}

fn ssm_parameter_name(name: &str) -> Result<(), String> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
    {
        return Err(format!(
            "an SSM parameter name may contain only letters, numbers, periods, hyphens, underscores and forward slashes, got {name:?}"
        ));
    }
    if name.contains('/') && (!name.starts_with('/') || name.ends_with('/') || name.contains("//"))
    {
        return Err(format!(
            "a hierarchical SSM parameter name must look like /path/name, got {name:?}"
        ));
    }
    Ok(())
}

fn desired_count(count: Option<i32>) -> Check {
    match count {
        Some(count) => ensure(
            count >= 0,
            INVALID,
            "desiredCount",
            format_args!("must not be negative, got {count}"),
        ),
        None => Ok(()),
    }
}

fn launch_type(launch_type: Option<&str>, capacity_providers: Option<&[Object]>) -> Check {
    let Some(launch_type) = launch_type else {
        return Ok(());
    };
    one_of(INVALID, "launchType", launch_type, COMPATIBILITIES)?;
    ensure(
        launch_type != "MANAGED_INSTANCES",
        INVALID,
        "launchType",
        "use capacityProviderStrategy for MANAGED_INSTANCES, not launchType",
    )?;
    ensure(
        capacity_providers.is_none_or(<[Object]>::is_empty),
        INVALID,
        "launchType",
        "must be omitted when capacityProviderStrategy is given",
    )
}

fn deployment_configuration(config: Option<&DeploymentConfiguration>) -> Check {
    let Some(config) = config else {
        return Ok(());
    };
    if let Some(maximum) = config.maximum_percent {
        ensure(
            maximum >= 0,
            INVALID,
            "deploymentConfiguration.maximumPercent",
            format_args!("must not be negative, got {maximum}"),
        )?;
    }
    if let Some(minimum) = config.minimum_healthy_percent {
        between(
            INVALID,
            "deploymentConfiguration.minimumHealthyPercent",
            minimum,
            0,
            100,
            "",
        )?;
    }
    // Below the minimum, a deployment could neither start a new task nor stop an old one.
    if let (Some(maximum), Some(minimum)) = (config.maximum_percent, config.minimum_healthy_percent)
    {
        ensure(
            maximum >= minimum,
            INVALID,
            "deploymentConfiguration.maximumPercent",
            format_args!("must be at least minimumHealthyPercent ({minimum}), got {maximum}"),
        )?;
    }
    optional_one_of(
        INVALID,
        "deploymentConfiguration.strategy",
        config.strategy.as_deref(),
        DEPLOYMENT_STRATEGIES,
    )?;
    match config.bake_time_in_minutes {
        Some(minutes) => ensure(
            minutes >= 0,
            INVALID,
            "deploymentConfiguration.bakeTimeInMinutes",
            format_args!("must not be negative, got {minutes}"),
        ),
        None => Ok(()),
    }
}

fn deployment_controller(controller: Option<&Object>) -> Check {
    let Some(controller) = controller else {
        return Ok(());
    };
    let kind = required(
        INVALID,
        "deploymentController.type",
        controller.get("type").and_then(Value::as_str),
    )?;
    one_of(
        INVALID,
        "deploymentController.type",
        kind,
        DEPLOYMENT_CONTROLLERS,
    )
}

fn placement(constraints: &[PlacementConstraint], strategies: &[PlacementStrategy]) -> Check {
    ensure(
        constraints.len() <= MAX_CONSTRAINTS,
        INVALID,
        "placementConstraints",
        format_args!(
            "at most {MAX_CONSTRAINTS} constraints, got {}",
            constraints.len()
        ),
    )?;
    for (i, constraint) in constraints.iter().enumerate() {
        let at = format!("placementConstraints[{i}]");
        let kind = required(INVALID, format!("{at}.type"), constraint.kind.as_deref())?;
        one_of(INVALID, format!("{at}.type"), kind, CONSTRAINT_TYPES)?;
        let expression = constraint.expression.as_deref().filter(|e| !e.is_empty());
        if kind == "distinctInstance" {
            ensure(
                expression.is_none(),
                INVALID,
                format!("{at}.expression"),
                "must be omitted for distinctInstance",
            )?;
        } else {
            constraint_expression(INVALID, &format!("{at}.expression"), expression)?;
        }
    }
    ensure(
        strategies.len() <= MAX_STRATEGIES,
        INVALID,
        "placementStrategy",
        format_args!(
            "at most {MAX_STRATEGIES} strategies, got {}",
            strategies.len()
        ),
    )?;
    for (i, strategy) in strategies.iter().enumerate() {
        let at = format!("placementStrategy[{i}]");
        let kind = required(INVALID, format!("{at}.type"), strategy.kind.as_deref())?;
        one_of(INVALID, format!("{at}.type"), kind, STRATEGY_TYPES)?;
        let field_path = format!("{at}.field");
        match kind {
            "spread" => {
                let field = required(INVALID, &field_path, strategy.field.as_deref())?;
                ensure(
                    matches!(field, "instanceId" | "host") || field.starts_with("attribute:"),
                    INVALID,
                    &field_path,
                    format_args!(
                        "spread takes instanceId, host or attribute:<name>, got {field:?}"
                    ),
                )?;
            }
            "binpack" => {
                let field = required(INVALID, &field_path, strategy.field.as_deref())?;
                one_of(INVALID, &field_path, field, BINPACK_FIELDS)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Fargate chooses where tasks run itself, so ECS refuses placement rules for it.
fn fargate_placement(
    launch_type: Option<&str>,
    constraints: &[PlacementConstraint],
    strategies: &[PlacementStrategy],
) -> Check {
    if launch_type != Some("FARGATE") {
        return Ok(());
    }
    ensure(
        constraints.is_empty(),
        INVALID,
        "placementConstraints",
        "not supported with launchType FARGATE",
    )?;
    ensure(
        strategies.is_empty(),
        INVALID,
        "placementStrategy",
        "not supported with launchType FARGATE",
    )
}

fn load_balancers(list: &[LoadBalancer]) -> Check {
    for (i, balancer) in list.iter().enumerate() {
        let at = format!("loadBalancers[{i}]");
        required(
            INVALID,
            format!("{at}.containerName"),
            balancer.container_name.as_deref(),
        )?;
        let port = balancer
            .container_port
            .ok_or_else(|| error(INVALID, format!("{at}.containerPort"), "required"))?;
        between(INVALID, format!("{at}.containerPort"), port, 1, 65535, "")?;
        let target_group = balancer
            .target_group_arn
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        let classic = balancer
            .load_balancer_name
            .as_deref()
            .is_some_and(|s| !s.is_empty());
        match (target_group, classic) {
            (true, true) => {
                return Err(error(
                    INVALID,
                    &at,
                    "give targetGroupArn or loadBalancerName, not both",
                ))
            }
            (false, false) => {
                return Err(error(
                    INVALID,
                    format!("{at}.targetGroupArn"),
                    "required (or loadBalancerName for a Classic Load Balancer)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn grace_period(seconds: Option<i32>) -> Check {
    match seconds {
        Some(seconds) => between(
            INVALID,
            "healthCheckGracePeriodSeconds",
            seconds,
            0,
            i32::MAX,
            " seconds",
        ),
        None => Ok(()),
    }
}

/// ECS's rule for family, container, volume, cluster and service names.
fn identifier(kind: ErrorKind, path: impl Display, value: &str) -> Check {
    let length = value.chars().count();
    ensure(length > 0, kind, &path, "must not be empty")?;
    ensure(
        length <= 255,
        kind,
        &path,
        format_args!("must be at most 255 characters, got {length}"),
    )?;
    ensure(
        value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        kind,
        &path,
        format_args!("may contain only letters, numbers, hyphens and underscores, got {value:?}"),
    )
}

fn required(kind: ErrorKind, path: impl Display, value: Option<&str>) -> Result<&str, ApiError> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(error(kind, path, "required")),
    }
}

fn one_of(kind: ErrorKind, path: impl Display, value: &str, allowed: &[&str]) -> Check {
    ensure(
        allowed.contains(&value),
        kind,
        path,
        format_args!("must be one of {}, got {value:?}", allowed.join(", ")),
    )
}

fn optional_one_of(
    kind: ErrorKind,
    path: impl Display,
    value: Option<&str>,
    allowed: &[&str],
) -> Check {
    value.map_or(Ok(()), |value| one_of(kind, path, value, allowed))
}

fn between(
    kind: ErrorKind,
    path: impl Display,
    value: i32,
    low: i32,
    high: i32,
    unit: &str,
) -> Check {
    ensure(
        (low..=high).contains(&value),
        kind,
        path,
        format_args!("must be between {low} and {high}{unit}, got {value}"),
    )
}

fn ensure(ok: bool, kind: ErrorKind, path: impl Display, message: impl Display) -> Check {
    if ok {
        Ok(())
    } else {
        Err(error(kind, path, message))
    }
}

fn error(kind: ErrorKind, path: impl Display, message: impl Display) -> ApiError {
    ApiError::new(kind, format!("{path}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::decode;
    use proptest::prelude::*;
    use serde_json::json;

    const SECRET_ARN: &str =
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:portal/db-AbCdEf";
    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn task_definition(request: &Value) -> RegisterTaskDefinition {
        decode(request.to_string().as_bytes()).expect("test request decodes")
    }

    /// `request` with each JSON pointer set to its value; objects along the way must exist,
    /// and an array index one past the end appends.
    fn with(mut request: Value, edits: &[(&str, Value)]) -> Value {
        for (pointer, value) in edits {
            let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
            let parent = request
                .pointer_mut(parent)
                .unwrap_or_else(|| panic!("no {parent}"));
            match parent {
                Value::Object(map) => {
                    map.insert(key.to_string(), value.clone());
                }
                Value::Array(items) => {
                    let index: usize = key.parse().expect("array index");
                    if index == items.len() {
                        items.push(value.clone());
                    } else {
                        items[index] = value.clone();
                    }
                }
                _ => panic!("{pointer} is inside a scalar"),
            }
        }
        request
    }

    /// A message is a path without spaces, then a lowercase description without a final period.
    fn assert_well_formed(message: &str) {
        let (path, text) = message
            .split_once(": ")
            .unwrap_or_else(|| panic!("no path in {message:?}"));
        assert!(
            !path.is_empty() && !path.contains(char::is_whitespace),
            "path of {message:?}"
        );
        assert!(
            !text.is_empty() && !text.ends_with('.'),
            "text of {message:?}"
        );
        assert!(
            !text.starts_with(|c: char| c.is_ascii_uppercase()),
            "case of {message:?}"
        );
    }

    #[track_caller]
    fn assert_rejected(name: &str, result: Result<(), ApiError>, kind: ErrorKind, needle: &str) {
        let err = result.expect_err(name);
        assert_eq!(err.kind, kind, "{name}: {}", err.message);
        assert!(
            err.message.contains(needle),
            "{name}: {:?} lacks {needle:?}",
            err.message
        );
        assert_well_formed(&err.message);
    }

    /// Research portal web: Fargate, two Secrets Manager secrets, one narrowed to a JSON key.
    fn fargate_web() -> Value {
        json!({
            "family": "portal-web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "512",
            "memory": "1024",
            "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
            "containerDefinitions": [{
                "name": "web",
                "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/portal:1.4.2",
                "essential": true,
                "portMappings": [
                    {"containerPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}
                ],
                "environment": [{"name": "APP_ROLE", "value": "web"}],
                "secrets": [
                    {"name": "DATABASE_URL", "valueFrom": SECRET_ARN},
                    {"name": "DB_PASSWORD", "valueFrom": format!("{SECRET_ARN}:password::")}
                ],
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                    "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10
                },
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/portal",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "web"
                    }
                },
                "stopTimeout": 30
            }],
            "tags": [{"key": "team", "value": "research"}]
        })
    }

    /// A Rails app in bridge mode: the web container on host port 4000 and a job worker.
    fn rails() -> Value {
        let image = "registry.example.com/shop/rails:2024.06.1";
        json!({
            "family": "rails",
            "networkMode": "bridge",
            "requiresCompatibilities": ["EC2"],
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": image,
                    "memory": 512,
                    "cpu": 256,
                    "essential": true,
                    "command": ["bundle", "exec", "rails", "server", "-b", "0.0.0.0", "-p", "3000"],
                    "portMappings": [{"containerPort": 3000, "hostPort": 4000, "protocol": "tcp"}],
                    "environment": [{"name": "RAILS_ENV", "value": "production"}],
                    "healthCheck": {
                        "command": ["CMD-SHELL", "curl -fs http://localhost:3000/up || exit 1"],
                        "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 60
                    }
                },
                {
                    "name": "worker",
                    "image": image,
                    "memoryReservation": 256,
                    "memory": 1024,
                    "cpu": 256,
                    "command": ["bundle", "exec", "sidekiq"],
                    "environment": [{"name": "RAILS_ENV", "value": "production"}],
                    "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}]
                }
            ]
        })
    }

    /// One image, three roles chosen by environment variable, three Fargate sizes.
    fn portal(role: &str, cpu: &str, memory: &str) -> Value {
        json!({
            "family": format!("portal-{role}"),
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": cpu,
            "memory": memory,
            "containerDefinitions": [{
                "name": role,
                "image": "ghcr.io/example/portal:2.0.0",
                "environment": [{"name": "PORTAL_ROLE", "value": role}],
                "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/portal"}}
            }]
        })
    }

    /// A Rust backend with a websocket port and an HTTPS port, sized in vCPU and GB.
    fn backend() -> Value {
        json!({
            "family": "relay",
            "networkMode": "awsvpc",
            "cpu": "1 vCPU",
            "memory": "2 GB",
            "containerDefinitions": [{
                "name": "relay",
                "image": format!("ghcr.io/example/relay@{DIGEST}"),
                "portMappings": [
                    {"containerPort": 7000, "hostPort": 7000, "name": "websocket"},
                    {"containerPort": 8000, "name": "https"}
                ],
                "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}]
            }]
        })
    }

    /// Most optional members at once, on EC2 in bridge mode.
    fn kitchen_sink() -> Value {
        let image = "registry.example.com/app:7";
        json!({
            "family": "kitchen_sink-1",
            "networkMode": "bridge",
            "pidMode": "task",
            "ipcMode": "host",
            "requiresCompatibilities": ["EC2", "EXTERNAL"],
            "cpu": "2 vcpu",
            "memory": "4GB",
            "placementConstraints": [{
                "type": "memberOf",
                "expression": "attribute:ecs.availability-zone in [eu-west-1a, eu-west-1b]"
            }],
            "volumes": [
                {"name": "assets", "host": {"sourcePath": "/srv/assets"}},
                {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
                {"host": {}}
            ],
            "containerDefinitions": [
                {
                    "name": "migrate",
                    "image": image,
                    "essential": false,
                    "memoryReservation": 128,
                    "command": ["./migrate"],
                    "secrets": [
                        {"name": "DB_PASSWORD", "valueFrom": "/prod/db/password"},
                        {"name": "API_KEY", "valueFrom": "API_KEY"},
                        {"name": "TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:000000000000:parameter/prod/token"},
                        {"name": "LEGACY", "valueFrom": "arn:aws:ssm:eu-west-1:000000000000:parameter/legacy"}
                    ]
                },
                {
                    "name": "app",
                    "image": image,
                    "memory": 1024,
                    "memoryReservation": 512,
                    "cpu": 1024,
                    "links": ["cache:redis"],
                    "dependsOn": [
                        {"containerName": "migrate", "condition": "SUCCESS"},
                        {"containerName": "cache", "condition": "START"}
                    ],
                    "portMappings": [
                        {"containerPort": 80, "hostPort": 0},
                        {"containerPortRange": "9000-9099", "protocol": "udp"},
                        {"containerPort": 9000, "protocol": "tcp"}
                    ],
                    "environment": [{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}],
                    "mountPoints": [{"sourceVolume": "assets", "containerPath": "/app/public", "readOnly": true}],
                    "volumesFrom": [{"sourceContainer": "cache"}],
                    "ulimits": [
                        {"name": "memlock", "softLimit": -1, "hardLimit": -1},
                        {"name": "nofile", "softLimit": 1024, "hardLimit": 4096}
                    ],
                    "logConfiguration": {
                        "logDriver": "splunk",
                        "options": {"splunk-url": "https://splunk.example.com"},
                        "secretOptions": [{
                            "name": "splunk-token",
                            "valueFrom": format!("{SECRET_ARN}:token:AWSPREVIOUS:")
                        }]
                    },
                    "startTimeout": 600,
                    "stopTimeout": 300,
                    "hostname": "app"
                },
                {
                    "name": "cache",
                    "image": "redis:7-alpine",
                    "memory": 256,
                    "essential": false,
                    "healthCheck": {"command": ["CMD", "redis-cli", "ping"]}
                }
            ],
            "tags": [{"key": "env", "value": "prod"}, {"key": "empty"}]
        })
    }

    #[test]
    fn accepts_realistic_task_definitions() {
        let valid = [
            ("fargate web with secrets", fargate_web()),
            ("rails web and worker", rails()),
            ("portal web", portal("web", "1024", "2048")),
            ("portal indexer", portal("indexer", "4096", "8192")),
            ("portal ingester", portal("ingester", "256", "512")),
            (
                "portal at the largest Fargate size",
                portal("analytics", "16 vCPU", "120 GB"),
            ),
            ("backend on 7000 and 8000", backend()),
            ("kitchen sink", kitchen_sink()),
            (
                "task memory instead of container memory",
                with(
                    rails(),
                    &[
                        ("/memory", json!("2048")),
                        ("/containerDefinitions/0/memory", Value::Null),
                        ("/containerDefinitions/1/memory", Value::Null),
                        ("/containerDefinitions/1/memoryReservation", Value::Null),
                    ],
                ),
            ),
            (
                "host mode with equal ports",
                with(backend(), &[("/networkMode", json!("host"))]),
            ),
            (
                "memoryReservation equal to memory",
                with(
                    rails(),
                    &[("/containerDefinitions/1/memoryReservation", json!(1024))],
                ),
            ),
            (
                "a non-essential container besides an essential one",
                with(
                    rails(),
                    &[("/containerDefinitions/1/essential", json!(false))],
                ),
            ),
            (
                "health check bounds",
                with(
                    rails(),
                    &[(
                        "/containerDefinitions/0/healthCheck",
                        json!({"command": ["CMD", "true"], "interval": 5, "timeout": 60, "retries": 10, "startPeriod": 300}),
                    )],
                ),
            ),
            (
                "health check without CMD, as AWS's OpenTelemetry collector documents it",
                with(
                    rails(),
                    &[(
                        "/containerDefinitions/0/healthCheck/command",
                        json!(["/healthcheck"]),
                    )],
                ),
            ),
            (
                "Fargate timeouts at their bounds",
                with(
                    fargate_web(),
                    &[
                        ("/containerDefinitions/0/startTimeout", json!(2)),
                        ("/containerDefinitions/0/stopTimeout", json!(120)),
                    ],
                ),
            ),
            (
                "secret with every version field",
                with(
                    fargate_web(),
                    &[(
                        "/containerDefinitions/0/secrets/1/valueFrom",
                        json!(format!(
                            "{SECRET_ARN}:password:AWSCURRENT:01234567-89ab-cdef-0123-456789abcdef"
                        )),
                    )],
                ),
            ),
            (
                "empty optional lists",
                with(
                    backend(),
                    &[
                        ("/containerDefinitions/0/links", json!([])),
                        ("/containerDefinitions/0/dependsOn", json!([])),
                        ("/containerDefinitions/0/secrets", json!([])),
                        ("/volumes", json!([])),
                        ("/placementConstraints", json!([])),
                    ],
                ),
            ),
        ];
        for (name, request) in valid {
            assert_eq!(
                register_task_definition(&task_definition(&request)),
                Ok(()),
                "{name}"
            );
        }
    }

    /// Each request breaks exactly one rule of a valid base.
    fn rejected_task_definitions() -> Vec<(&'static str, Value, ErrorKind, String)> {
        let long = "x".repeat(256);
        let c0 = "/containerDefinitions/0";
        let mut cases: Vec<(&str, Value, &str)> = vec![
            // family
            ("empty family", with(rails(), &[("/family", json!(""))]), "family: must not be empty"),
            ("family with a space", with(rails(), &[("/family", json!("my app"))]), "family: may contain only letters"),
            ("family too long", with(rails(), &[("/family", json!(long))]), "family: must be at most 255 characters, got 256"),
            // containers and names
            ("no containers", with(rails(), &[("/containerDefinitions", json!([]))]), "containerDefinitions: at least one container is required"),
            ("container without a name", with(rails(), &[("/containerDefinitions/0/name", Value::Null)]), "containerDefinitions[0].name: required"),
            ("container name with a period", with(backend(), &[("/containerDefinitions/0/name", json!("relay.1"))]), "containerDefinitions[0].name: may contain only"),
            ("duplicate container names", with(rails(), &[("/containerDefinitions/1/name", json!("web"))]), "containerDefinitions[1].name: duplicate container name \"web\", also used by containerDefinitions[0]"),
            ("no image", with(rails(), &[("/containerDefinitions/0/image", Value::Null)]), "containerDefinitions[0].image: required"),
            ("empty image", with(rails(), &[("/containerDefinitions/0/image", json!(""))]), "containerDefinitions[0].image: required"),
            ("image with a space", with(rails(), &[("/containerDefinitions/0/image", json!("rails latest"))]), "containerDefinitions[0].image: may contain only"),
            ("image too long", with(rails(), &[("/containerDefinitions/0/image", json!(long))]), "containerDefinitions[0].image: must be at most 255 characters"),
            ("short digest", with(backend(), &[("/containerDefinitions/0/image", json!("relay@sha256:abc"))]), "containerDefinitions[0].image: digest must be sha256:"),
            ("no essential container", with(rails(), &[
                ("/containerDefinitions/0/essential", json!(false)),
                ("/containerDefinitions/1/essential", json!(false)),
            ]), "containerDefinitions: at least one container must be essential"),
            // memory and cpu
            ("no memory anywhere", with(rails(), &[("/containerDefinitions/0/memory", Value::Null)]), "containerDefinitions[0].memory: memory or memoryReservation is required"),
            ("container memory below 6", with(rails(), &[("/containerDefinitions/0/memory", json!(4))]), "containerDefinitions[0].memory: must be at least 6 MiB, got 4"),
            ("reservation below 6", with(rails(), &[("/containerDefinitions/1/memoryReservation", json!(5))]), "containerDefinitions[1].memoryReservation: must be at least 6 MiB, got 5"),
            ("reservation above memory", with(rails(), &[("/containerDefinitions/1/memoryReservation", json!(2048))]), "containerDefinitions[1].memoryReservation: must not exceed memory (1024 MiB), got 2048"),
            ("negative container cpu", with(rails(), &[("/containerDefinitions/0/cpu", json!(-1))]), "containerDefinitions[0].cpu: must not be negative, got -1"),
            ("task cpu not a number", with(rails(), &[("/cpu", json!("fast"))]), "cpu: must be CPU units such as 1024"),
            ("task cpu in fractional units", with(rails(), &[("/cpu", json!("0.1 vCPU"))]), "cpu: must be CPU units"),
            ("task cpu below 128", with(rails(), &[("/cpu", json!("64"))]), "cpu: must be between 128 and 196608 CPU units"),
            ("task memory not a number", with(rails(), &[("/memory", json!("lots"))]), "memory: must be MiB such as 2048"),
            ("task memory in a unit ECS does not take", with(rails(), &[("/memory", json!("2 GiB"))]), "memory: must be MiB"),
            ("task memory below 6", with(rails(), &[("/memory", json!("4"))]), "memory: must be at least 6 MiB, got 4"),
            ("containers' cpu above the task's", with(backend(), &[(&format!("{c0}/cpu"), json!(2048))]), "containerDefinitions[0].cpu: containers reserve 2048 CPU units in total, more than the task cpu 1024"),
            ("container memory above the task's", with(backend(), &[(&format!("{c0}/memory"), json!(4096))]), "containerDefinitions[0].memory: 4096 MiB is more than the task memory 2048 MiB"),
            ("reservations above the task memory", with(rails(), &[
                ("/memory", json!("1024")),
                ("/containerDefinitions/1/memoryReservation", json!(600)),
            ]), "containerDefinitions[1].memoryReservation: containers reserve 1112 MiB in total, more than the task memory 1024 MiB"),
            // task-level enums
            ("unknown network mode", with(rails(), &[("/networkMode", json!("nat"))]), "networkMode: must be one of bridge, host, awsvpc, none, got \"nat\""),
            ("unknown compatibility", with(rails(), &[("/requiresCompatibilities", json!(["EC2", "LAMBDA"]))]), "requiresCompatibilities[1]: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES"),
            ("unknown pid mode", with(rails(), &[("/pidMode", json!("container"))]), "pidMode: must be one of host, task"),
            ("unknown ipc mode", with(rails(), &[("/ipcMode", json!("shareable"))]), "ipcMode: must be one of host, task, none"),
            // Fargate
            ("Fargate in bridge mode", with(fargate_web(), &[("/networkMode", json!("bridge"))]), "networkMode: must be awsvpc when requiresCompatibilities includes FARGATE, got bridge"),
            ("Fargate with the default network mode", with(fargate_web(), &[("/networkMode", Value::Null)]), "networkMode: must be awsvpc"),
            ("Fargate without task cpu", with(fargate_web(), &[("/cpu", Value::Null)]), "cpu: required when requiresCompatibilities includes FARGATE"),
            ("Fargate without task memory", with(fargate_web(), &[("/memory", Value::Null)]), "memory: required when requiresCompatibilities includes FARGATE"),
            ("Fargate memory outside the cpu's range", with(fargate_web(), &[("/cpu", json!("256")), ("/memory", json!("4096"))]), "memory: no Fargate configuration exists for cpu 256 and memory 4096; cpu 256 takes memory 512, 1024, 2048"),
            ("Fargate cpu that is no Fargate size", with(fargate_web(), &[("/cpu", json!("384"))]), "cpu: no Fargate configuration exists for cpu 384"),
            ("Fargate memory off the step", with(fargate_web(), &[("/cpu", json!("4096")), ("/memory", json!("7168"))]), "cpu 4096 takes memory 8192 to 30720 in steps of 1024"),
            ("Fargate with host pid mode", with(fargate_web(), &[("/pidMode", json!("host"))]), "pidMode: must be task on FARGATE, got host"),
            ("Fargate with an ipc mode", with(fargate_web(), &[("/ipcMode", json!("task"))]), "ipcMode: not supported on FARGATE"),
            ("Fargate with a json-file log", with(fargate_web(), &[("/containerDefinitions/0/logConfiguration/logDriver", json!("json-file"))]), "containerDefinitions[0].logConfiguration.logDriver: must be one of awslogs, splunk, awsfirelens on FARGATE, got \"json-file\""),
            ("managed instances with syslog", with(backend(), &[
                ("/requiresCompatibilities", json!(["MANAGED_INSTANCES"])),
                ("/containerDefinitions/0/logConfiguration", json!({"logDriver": "syslog"})),
            ]), "containerDefinitions[0].logConfiguration.logDriver: must be one of awslogs, splunk, awsfirelens, json-file on MANAGED_INSTANCES"),
            ("Fargate with a docker volume", with(fargate_web(), &[("/volumes", json!([{"name": "data", "dockerVolumeConfiguration": {}}]))]), "volumes[0].dockerVolumeConfiguration: not supported on FARGATE"),
            ("Fargate stop timeout above 120", with(fargate_web(), &[("/containerDefinitions/0/stopTimeout", json!(300))]), "containerDefinitions[0].stopTimeout: must be between 2 and 120 seconds on FARGATE, got 300"),
            ("Fargate start timeout below 2", with(fargate_web(), &[("/containerDefinitions/0/startTimeout", json!(1))]), "containerDefinitions[0].startTimeout: must be between 2 and 120 seconds on FARGATE, got 1"),
            ("negative stop timeout", with(rails(), &[("/containerDefinitions/0/stopTimeout", json!(-1))]), "containerDefinitions[0].stopTimeout: must not be negative, got -1"),
            ("negative start timeout", with(rails(), &[("/containerDefinitions/0/startTimeout", json!(-5))]), "containerDefinitions[0].startTimeout: must not be negative, got -5"),
            // port mappings
            ("container port 0", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", json!(0))]), "containerDefinitions[0].portMappings[0].containerPort: must be between 1 and 65535, got 0"),
            ("container port above 65535", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", json!(70000))]), "portMappings[0].containerPort: must be between 1 and 65535, got 70000"),
            ("host port above 65535", with(rails(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(65536))]), "containerDefinitions[0].portMappings[0].hostPort: must be between 0 and 65535, got 65536"),
            ("negative host port", with(rails(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(-1))]), "portMappings[0].hostPort: must be between 0 and 65535, got -1"),
            ("sctp", with(rails(), &[("/containerDefinitions/0/portMappings/0/protocol", json!("sctp"))]), "portMappings[0].protocol: must be one of tcp, udp, got \"sctp\""),
            ("http3", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/appProtocol", json!("http3"))]), "portMappings[0].appProtocol: must be one of http, http2, grpc"),
            ("awsvpc host port differing", with(backend(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(7001))]), "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (7000) when networkMode is awsvpc, got 7001"),
            ("host mode host port differing", with(rails(), &[("/networkMode", json!("host"))]), "portMappings[0].hostPort: must equal containerPort (3000) when networkMode is host, got 4000"),
            ("duplicate port and protocol", with(backend(), &[("/containerDefinitions/0/portMappings/2", json!({"containerPort": 8000, "protocol": "tcp"}))]), "containerDefinitions[0].portMappings[2].containerPort: 8000/tcp is already mapped by portMappings[1]"),
            ("no container port", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", Value::Null)]), "portMappings[0].containerPort: required unless containerPortRange is given"),
            ("port and range", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPortRange", json!("3000-3010"))]), "portMappings[0]: give containerPort or containerPortRange, not both"),
            ("range without a dash", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("9000"))]), "portMappings[1].containerPortRange: must be \"start-end\""),
            ("range backwards", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("9100-9000"))]), "portMappings[1].containerPortRange: must be \"start-end\" with 1 <= start < end <= 65535, got \"9100-9000\""),
            ("range from 0", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("0-10"))]), "portMappings[1].containerPortRange: must be"),
            ("range in host mode", with(backend(), &[
                ("/networkMode", json!("host")),
                ("/containerDefinitions/0/portMappings/2", json!({"containerPortRange": "9000-9010"})),
            ]), "portMappings[2].containerPortRange: needs networkMode bridge or awsvpc, got host"),
            ("range with a host port", with(backend(), &[("/containerDefinitions/0/portMappings/2", json!({"containerPortRange": "9000-9010", "hostPort": 9000}))]), "portMappings[2].hostPort: must be omitted when containerPortRange is given"),
            ("overlapping ranges", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/3", json!({"containerPortRange": "9050-9200", "protocol": "udp"}))]), "containerDefinitions[1].portMappings[3].containerPortRange: 9050-9200/udp is already mapped by portMappings[1]"),
            ("ports in none mode", with(rails(), &[("/networkMode", json!("none"))]), "containerDefinitions[0].portMappings: not allowed when networkMode is none"),
            ("uppercase mapping name", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("HTTP"))]), "portMappings[0].name: may contain only lowercase letters"),
            ("mapping name starting with a hyphen", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("-http"))]), "portMappings[0].name: may contain only"),
            ("mapping name too long", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("h".repeat(65)))]), "portMappings[0].name: must be 1 to 64 characters, got 65"),
            // health checks
            ("empty health check command", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!([]))]), "containerDefinitions[0].healthCheck.command: must not be empty"),
            ("CMD-SHELL alone", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!(["CMD-SHELL"]))]), "healthCheck.command[1]: the command to run must follow CMD-SHELL"),
            ("CMD with a blank command", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!(["CMD", " "]))]), "healthCheck.command[1]: the command to run must follow CMD"),
            ("interval 2", with(rails(), &[("/containerDefinitions/0/healthCheck/interval", json!(2))]), "containerDefinitions[0].healthCheck.interval: must be between 5 and 300 seconds, got 2"),
            ("interval 301", with(rails(), &[("/containerDefinitions/0/healthCheck/interval", json!(301))]), "healthCheck.interval: must be between 5 and 300 seconds, got 301"),
            ("timeout 1", with(rails(), &[("/containerDefinitions/0/healthCheck/timeout", json!(1))]), "healthCheck.timeout: must be between 2 and 60 seconds, got 1"),
            ("timeout 61", with(rails(), &[("/containerDefinitions/0/healthCheck/timeout", json!(61))]), "healthCheck.timeout: must be between 2 and 60 seconds, got 61"),
            ("retries 0", with(rails(), &[("/containerDefinitions/0/healthCheck/retries", json!(0))]), "healthCheck.retries: must be between 1 and 10, got 0"),
            ("retries 11", with(rails(), &[("/containerDefinitions/0/healthCheck/retries", json!(11))]), "healthCheck.retries: must be between 1 and 10, got 11"),
            ("negative start period", with(rails(), &[("/containerDefinitions/0/healthCheck/startPeriod", json!(-1))]), "healthCheck.startPeriod: must be between 0 and 300 seconds, got -1"),
            ("start period 301", with(rails(), &[("/containerDefinitions/0/healthCheck/startPeriod", json!(301))]), "healthCheck.startPeriod: must be between 0 and 300 seconds, got 301"),
            // dependsOn
            ("dependency on a missing container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/containerName", json!("db"))]), "containerDefinitions[1].dependsOn[0].containerName: no container named \"db\" in this task definition"),
            ("dependency on itself", with(rails(), &[("/containerDefinitions/1/dependsOn/0/containerName", json!("worker"))]), "containerDefinitions[1].dependsOn[0].containerName: a container cannot refer to itself"),
            ("unknown condition", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("READY"))]), "dependsOn[0].condition: must be one of START, COMPLETE, SUCCESS, HEALTHY, got \"READY\""),
            ("COMPLETE on an essential container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("COMPLETE"))]), "containerDefinitions[1].dependsOn[0].condition: condition COMPLETE cannot target essential container \"web\""),
            ("SUCCESS on an essential container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("SUCCESS"))]), "dependsOn[0].condition: condition SUCCESS cannot target essential container \"web\""),
            ("HEALTHY without a health check", with(rails(), &[("/containerDefinitions/0/healthCheck", Value::Null)]), "containerDefinitions[1].dependsOn[0].condition: condition HEALTHY needs container \"web\" to have a healthCheck"),
            ("two containers waiting on each other", with(rails(), &[("/containerDefinitions/0/dependsOn", json!([{"containerName": "worker", "condition": "START"}]))]), "containerDefinitions[0].dependsOn: dependency cycle web -> worker -> web"),
            ("a cycle behind a chain", with(kitchen_sink(), &[("/containerDefinitions/2/dependsOn", json!([{"containerName": "app", "condition": "START"}]))]), "containerDefinitions[1].dependsOn: dependency cycle app -> cache -> app"),
            // secrets
            ("secret without a name", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/name", json!(""))]), "containerDefinitions[0].secrets[0].name: must not be empty"),
            ("duplicate secret names", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/name", json!("DATABASE_URL"))]), "containerDefinitions[0].secrets[1].name: duplicate secret name \"DATABASE_URL\", also used by containerDefinitions[0].secrets[0]"),
            ("secret without a source", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!(""))]), "containerDefinitions[0].secrets[0].valueFrom: required"),
            ("Secrets Manager ARN without a name", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:000000000000:secret:"))]), "secrets[0].valueFrom: the Secrets Manager ARN names no valid secret"),
            ("Secrets Manager ARN without secret:", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:000000000000:db"))]), "secrets[0].valueFrom: a Secrets Manager ARN must end in secret:<name>"),
            ("ARN of another service", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:kms:us-east-1:000000000000:key/1234"))]), "secrets[0].valueFrom: must name a Secrets Manager secret or an SSM parameter, got an ARN of service \"kms\""),
            ("S3 ARN", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:s3:::bucket/key"))]), "secrets[0].valueFrom: malformed ARN"),
            ("five fields after the secret name", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:password:AWSCURRENT:v1:extra:more")))]), "secrets[1].valueFrom: after the secret name expected nothing or :<json-key>:<version-stage>:<version-id>"),
            ("four fields after the secret name", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:a:b:c:d")))]), "got 4 fields"),
            ("a JSON key without its trailing colons", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:password")))]), "got 1 fields"),
            ("short account", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:123:secret:db"))]), "secrets[0].valueFrom: malformed ARN"),
            ("too few ARN parts", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager"))]), "secrets[0].valueFrom: malformed ARN"),
            ("SSM name with a space", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("db password"))]), "containerDefinitions[0].secrets[0].valueFrom: an SSM parameter name may contain only"),
            ("relative SSM hierarchy", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("prod/db"))]), "secrets[0].valueFrom: a hierarchical SSM parameter name must look like /path/name"),
            ("SSM ARN of a document", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/2/valueFrom", json!("arn:aws:ssm:eu-west-1:000000000000:document/x"))]), "secrets[2].valueFrom: an SSM ARN must end in parameter/<name>"),
            ("source too long", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!("a".repeat(2049)))]), "secrets[1].valueFrom: must be at most 2048 characters, got 2049"),
            ("bad log secret", with(kitchen_sink(), &[("/containerDefinitions/1/logConfiguration/secretOptions/0/valueFrom", json!(format!("{SECRET_ARN}:token")))]), "containerDefinitions[1].logConfiguration.secretOptions[0].valueFrom: after the secret name"),
            // environment, ulimits, logs
            ("environment variable without a name", with(rails(), &[("/containerDefinitions/0/environment/0/name", Value::Null)]), "containerDefinitions[0].environment[0].name: required"),
            ("unknown ulimit", with(backend(), &[("/containerDefinitions/0/ulimits/0/name", json!("files"))]), "containerDefinitions[0].ulimits[0].name: must be one of core, cpu"),
            ("soft limit above hard", with(backend(), &[("/containerDefinitions/0/ulimits/0/softLimit", json!(70000))]), "containerDefinitions[0].ulimits[0].softLimit: must not exceed hardLimit (65535), got 70000"),
            ("unlimited soft under a finite hard", with(backend(), &[("/containerDefinitions/0/ulimits/0/softLimit", json!(-1))]), "ulimits[0].softLimit: must not exceed hardLimit (65535), got -1"),
            ("hard limit below -1", with(backend(), &[("/containerDefinitions/0/ulimits/0/hardLimit", json!(-2))]), "ulimits[0].hardLimit: must be -1 (unlimited) or more, got -2"),
            ("unknown log driver", with(rails(), &[("/containerDefinitions/0/logConfiguration", json!({"logDriver": "loki"}))]), "containerDefinitions[0].logConfiguration.logDriver: must be one of json-file, syslog"),
            // volumes and mount points
            ("mount of a missing volume", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/sourceVolume", json!("uploads"))]), "containerDefinitions[1].mountPoints[0].sourceVolume: no volume named \"uploads\" in volumes"),
            ("mount without a volume", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/sourceVolume", Value::Null)]), "containerDefinitions[1].mountPoints[0].sourceVolume: required"),
            ("mount without a path", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/containerPath", Value::Null)]), "containerDefinitions[1].mountPoints[0].containerPath: required"),
            ("duplicate volume names", with(kitchen_sink(), &[("/volumes/1/name", json!("assets"))]), "volumes[1].name: duplicate volume name \"assets\", also used by volumes[0]"),
            ("volume name with a space", with(kitchen_sink(), &[("/volumes/0/name", json!("my assets"))]), "volumes[0].name: may contain only"),
            ("EFS volume without a name", with(kitchen_sink(), &[("/volumes/2/efsVolumeConfiguration", json!({"fileSystemId": "fs-1"}))]), "volumes[2].name: required for EFS"),
            ("two volumes configured at launch", with(kitchen_sink(), &[
                ("/volumes/0/configuredAtLaunch", json!(true)),
                ("/volumes/1/configuredAtLaunch", json!(true)),
            ]), "volumes[1].configuredAtLaunch: only one volume may be configured at launch, volumes[0] already is"),
            ("volumes from a missing container", with(kitchen_sink(), &[("/containerDefinitions/1/volumesFrom/0/sourceContainer", json!("ghost"))]), "containerDefinitions[1].volumesFrom[0].sourceContainer: no container named \"ghost\""),
            ("volumes from itself", with(kitchen_sink(), &[("/containerDefinitions/1/volumesFrom/0/sourceContainer", json!("app"))]), "volumesFrom[0].sourceContainer: a container cannot refer to itself"),
            // links and hostname
            ("links in awsvpc mode", with(backend(), &[("/containerDefinitions/0/links", json!(["cache"]))]), "containerDefinitions[0].links: only supported when networkMode is bridge, got awsvpc"),
            ("link to a missing container", with(kitchen_sink(), &[("/containerDefinitions/1/links/0", json!("db:database"))]), "containerDefinitions[1].links[0]: no container named \"db\""),
            ("hostname in awsvpc mode", with(backend(), &[("/containerDefinitions/0/hostname", json!("relay"))]), "containerDefinitions[0].hostname: not supported when networkMode is awsvpc"),
            // task placement constraints
            ("distinctInstance in a task definition", with(kitchen_sink(), &[("/placementConstraints/0/type", json!("distinctInstance"))]), "placementConstraints[0].type: must be memberOf, got \"distinctInstance\""),
            ("constraint without a type", with(kitchen_sink(), &[("/placementConstraints/0/type", Value::Null)]), "placementConstraints[0].type: must be memberOf, got null"),
            ("memberOf without an expression", with(kitchen_sink(), &[("/placementConstraints/0/expression", Value::Null)]), "placementConstraints[0].expression: required"),
            ("expression too long", with(kitchen_sink(), &[("/placementConstraints/0/expression", json!("a".repeat(2001)))]), "placementConstraints[0].expression: must be at most 2000 characters, got 2001"),
            ("eleven constraints", with(kitchen_sink(), &[("/placementConstraints", json!(vec![json!({"type": "memberOf", "expression": "attribute:a == b"}); 11]))]), "placementConstraints: at most 10 constraints, got 11"),
        ];
        cases.push((
            "tags checked too",
            with(
                rails(),
                &[("/tags", json!([{"key": "aws:owner", "value": "me"}]))],
            ),
            "tags[0].key: the aws: prefix is reserved",
        ));
        cases
            .into_iter()
            .map(|(name, request, needle)| {
                let kind = if needle.starts_with("tags") {
                    INVALID
                } else {
                    CLIENT
                };
                (name, request, kind, needle.to_string())
            })
            .collect()
    }

    #[test]
    fn rejects_each_task_definition_rule_with_its_path() {
        for (name, request, kind, needle) in rejected_task_definitions() {
            assert_rejected(
                name,
                register_task_definition(&task_definition(&request)),
                kind,
                &needle,
            );
        }
    }

    #[test]
    fn parses_task_sizes_as_ecs_does() {
        for (text, unit, expected) in [
            ("1024", "vcpu", Some(1024)),
            (" 512 ", "vcpu", Some(512)),
            ("1 vCPU", "vcpu", Some(1024)),
            ("0.25 vCPU", "vcpu", Some(256)),
            (".5 vcpu", "vcpu", Some(512)),
            ("0.125 VCPU", "vcpu", Some(128)),
            ("2vcpu", "vcpu", Some(2048)),
            ("2 GB", "gb", Some(2048)),
            ("1.5GB", "gb", Some(1536)),
            ("0.5 gb", "gb", Some(512)),
            ("0.3 GB", "gb", None),
            ("1.0000001 vcpu", "vcpu", None),
            ("vcpu", "vcpu", None),
            (". vcpu", "vcpu", None),
            ("1e3", "vcpu", None),
            ("-1", "vcpu", None),
            ("+1", "vcpu", None),
            ("", "gb", None),
            ("99999999999999999999 GB", "gb", None),
            ("2 TB", "gb", None),
        ] {
            assert_eq!(quantity(text, unit), expected, "{text:?}");
        }
    }

    #[test]
    fn fargate_table() {
        let sizes: [(i64, &[i64]); 7] = [
            (256, &[512, 1024, 2048]),
            (512, &[1024, 2048, 3072, 4096]),
            (1024, &[2048, 3072, 4096, 5120, 6144, 7168, 8192]),
            (2048, &[4096, 9216, 16384]),
            (4096, &[8192, 20480, 30720]),
            (8192, &[16384, 20480, 61440]),
            (16384, &[32768, 40960, 122880]),
        ];
        for (cpu, memories) in sizes {
            for memory in memories {
                assert_eq!(
                    fargate_cpu_memory(&cpu.to_string(), &memory.to_string()),
                    Ok(()),
                    "{cpu}/{memory}"
                );
            }
        }
        for (cpu, memory) in [
            ("0.25 vCPU", "0.5 GB"),
            ("1 vcpu", "2GB"),
            ("4 vCPU", "30 GB"),
            ("16 vCPU", "120 GB"),
        ] {
            assert_eq!(fargate_cpu_memory(cpu, memory), Ok(()), "{cpu}/{memory}");
        }
        for (cpu, memory, needle) in [
            (
                "256",
                "1536",
                "memory: no Fargate configuration exists for cpu 256 and memory 1536",
            ),
            ("512", "512", "cpu 512 takes memory 1024, 2048, 3072, 4096"),
            (
                "1024",
                "9216",
                "cpu 1024 takes memory 2048 to 8192 in steps of 1024",
            ),
            (
                "2048",
                "4608",
                "memory: no Fargate configuration exists for cpu 2048 and memory 4608",
            ),
            ("4096", "31744", "cpu 4096 takes memory 8192 to 30720"),
            (
                "8192",
                "18432",
                "cpu 8192 takes memory 16384 to 61440 in steps of 4096",
            ),
            (
                "16384",
                "36864",
                "cpu 16384 takes memory 32768 to 122880 in steps of 8192",
            ),
            (
                "128",
                "512",
                "cpu: no Fargate configuration exists for cpu 128",
            ),
            (
                "32768",
                "65536",
                "cpu: no Fargate configuration exists for cpu 32768",
            ),
            ("abc", "1024", "cpu: must be CPU units"),
            ("256", "1.5 TB", "memory: must be MiB"),
        ] {
            assert_rejected(cpu, fargate_cpu_memory(cpu, memory), CLIENT, needle);
        }
    }

    #[test]
    fn cluster_names() {
        for name in ["default", "prod-eu_1", &"c".repeat(255)] {
            assert_eq!(cluster_name(name), Ok(()), "{name}");
        }
        for (name, needle) in [
            ("", "clusterName: must not be empty"),
            (
                "my cluster",
                "clusterName: may contain only letters, numbers, hyphens and underscores",
            ),
            ("prod/eu", "clusterName: may contain only"),
            (
                &"c".repeat(256),
                "clusterName: must be at most 255 characters, got 256",
            ),
        ] {
            assert_rejected(name, cluster_name(name), INVALID, needle);
        }
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: Some(key.to_string()),
            value: Some(value.to_string()),
        }
    }

    #[test]
    fn tag_rules() {
        let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
        let valid = [
            fifty.clone(),
            vec![tag(&"k".repeat(128), &"v".repeat(256))],
            // Lengths count characters, not UTF-8 bytes.
            vec![tag(&"é".repeat(128), &"ü".repeat(256))],
            vec![
                tag("empty", ""),
                Tag {
                    key: Some("none".to_string()),
                    value: None,
                },
            ],
            vec![tag("awsome", "aws:values-are-not-checked")],
            Vec::new(),
        ];
        for tags in valid {
            assert_eq!(super::tags(&tags), Ok(()), "{tags:?}");
        }
        let fifty_one = [fifty, vec![tag("one-more", "v")]].concat();
        let cases = [
            (
                "fifty-one tags",
                fifty_one,
                "tags: at most 50 tags per resource, got 51",
            ),
            (
                "missing key",
                vec![Tag {
                    key: None,
                    value: Some("v".to_string()),
                }],
                "tags[0].key: required",
            ),
            (
                "empty key",
                vec![tag("ok", "v"), tag("", "v")],
                "tags[1].key: required",
            ),
            (
                "long key",
                vec![tag(&"k".repeat(129), "v")],
                "tags[0].key: must be at most 128 characters, got 129",
            ),
            (
                "long value",
                vec![tag("k", &"v".repeat(257))],
                "tags[0].value: must be at most 256 characters, got 257",
            ),
            (
                "aws prefix",
                vec![tag("aws:cloudformation:stack-name", "x")],
                "tags[0].key: the aws: prefix is reserved for AWS use",
            ),
            (
                "AWS prefix in capitals",
                vec![tag("AwS:owner", "x")],
                "tags[0].key: the aws: prefix is reserved",
            ),
            (
                "duplicate keys",
                vec![tag("team", "a"), tag("team", "b")],
                "tags[1].key: duplicate tag key \"team\", also used by tags[0]",
            ),
        ];
        for (name, tags, needle) in cases {
            assert_rejected(name, super::tags(&tags), INVALID, needle);
        }
    }

    fn fargate_service() -> Value {
        json!({
            "cluster": "prod",
            "serviceName": "portal-web",
            "taskDefinition": "portal-web:3",
            "desiredCount": 2,
            "launchType": "FARGATE",
            "schedulingStrategy": "REPLICA",
            "deploymentConfiguration": {
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
                "strategy": "ROLLING"
            },
            "deploymentController": {"type": "ECS"},
            "loadBalancers": [{
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/portal/0123456789abcdef",
                "containerName": "web",
                "containerPort": 8080
            }],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "ENABLED"}},
            "healthCheckGracePeriodSeconds": 60,
            "propagateTags": "SERVICE",
            "enableExecuteCommand": true,
            "tags": [{"key": "team", "value": "research"}]
        })
    }

    /// Dozens of small apps packed on two machines in two zones behind one load balancer.
    fn packed_service() -> Value {
        json!({
            "serviceName": "parks_permits",
            "taskDefinition": "arn:aws:ecs:us-east-1:000000000000:task-definition/parks:12",
            "desiredCount": 2,
            "launchType": "EC2",
            "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 50},
            "placementConstraints": [
                {"type": "distinctInstance"},
                {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
            ],
            "placementStrategy": [
                {"type": "spread", "field": "attribute:ecs.availability-zone"},
                {"type": "binpack", "field": "memory"},
                {"type": "random"}
            ],
            "loadBalancers": [{"loadBalancerName": "city-apps", "containerName": "web", "containerPort": 80}],
            "availabilityZoneRebalancing": "ENABLED",
            "healthCheckGracePeriodSeconds": 2147483647
        })
    }

    fn service(request: &Value) -> CreateService {
        decode(request.to_string().as_bytes()).expect("test request decodes")
    }

    /// Problems shared by CreateService and UpdateService, as edits valid for both shapes.
    /// A case's name, the edits that break one rule, and what the message must contain.
    type ServiceCase = (&'static str, Vec<(&'static str, Value)>, &'static str);

    fn shared_service_cases() -> Vec<ServiceCase> {
        vec![
            ("negative desired count", vec![("/desiredCount", json!(-1))], "desiredCount: must not be negative, got -1"),
            ("unknown propagateTags", vec![("/propagateTags", json!("ALL"))], "propagateTags: must be one of TASK_DEFINITION, SERVICE, NONE, got \"ALL\""),
            ("unknown rebalancing", vec![("/availabilityZoneRebalancing", json!("YES"))], "availabilityZoneRebalancing: must be one of ENABLED, DISABLED"),
            ("negative maximum percent", vec![("/deploymentConfiguration", json!({"maximumPercent": -1}))], "deploymentConfiguration.maximumPercent: must not be negative, got -1"),
            ("minimum healthy above 100", vec![("/deploymentConfiguration", json!({"minimumHealthyPercent": 101}))], "deploymentConfiguration.minimumHealthyPercent: must be between 0 and 100, got 101"),
            ("negative minimum healthy", vec![("/deploymentConfiguration", json!({"minimumHealthyPercent": -1}))], "deploymentConfiguration.minimumHealthyPercent: must be between 0 and 100, got -1"),
            ("maximum below minimum", vec![("/deploymentConfiguration", json!({"maximumPercent": 50, "minimumHealthyPercent": 100}))], "deploymentConfiguration.maximumPercent: must be at least minimumHealthyPercent (100), got 50"),
            ("unknown deployment strategy", vec![("/deploymentConfiguration", json!({"strategy": "RECREATE"}))], "deploymentConfiguration.strategy: must be one of ROLLING, BLUE_GREEN, LINEAR, CANARY"),
            ("negative bake time", vec![("/deploymentConfiguration", json!({"bakeTimeInMinutes": -1}))], "deploymentConfiguration.bakeTimeInMinutes: must not be negative, got -1"),
            ("unknown deployment controller", vec![("/deploymentController", json!({"type": "JENKINS"}))], "deploymentController.type: must be one of ECS, CODE_DEPLOY, EXTERNAL"),
            ("deployment controller without a type", vec![("/deploymentController", json!({}))], "deploymentController.type: required"),
            ("constraint without a type", vec![("/placementConstraints", json!([{"expression": "attribute:a == b"}]))], "placementConstraints[0].type: required"),
            ("unknown constraint type", vec![("/placementConstraints", json!([{"type": "sameZone"}]))], "placementConstraints[0].type: must be one of distinctInstance, memberOf, got \"sameZone\""),
            ("distinctInstance with an expression", vec![("/placementConstraints", json!([{"type": "distinctInstance", "expression": "attribute:a == b"}]))], "placementConstraints[0].expression: must be omitted for distinctInstance"),
            ("memberOf without an expression", vec![("/placementConstraints", json!([{"type": "memberOf"}]))], "placementConstraints[0].expression: required"),
            ("memberOf with a long expression", vec![("/placementConstraints", json!([{"type": "memberOf", "expression": "a".repeat(2001)}]))], "placementConstraints[0].expression: must be at most 2000 characters, got 2001"),
            ("eleven constraints", vec![("/placementConstraints", json!(vec![json!({"type": "distinctInstance"}); 11]))], "placementConstraints: at most 10 constraints, got 11"),
            ("strategy without a type", vec![("/placementStrategy", json!([{"field": "memory"}]))], "placementStrategy[0].type: required"),
            ("unknown strategy type", vec![("/placementStrategy", json!([{"type": "pack", "field": "memory"}]))], "placementStrategy[0].type: must be one of random, spread, binpack, got \"pack\""),
            ("spread without a field", vec![("/placementStrategy", json!([{"type": "spread"}]))], "placementStrategy[0].field: required"),
            ("spread on an unknown field", vec![("/placementStrategy", json!([{"type": "spread", "field": "zone"}]))], "placementStrategy[0].field: spread takes instanceId, host or attribute:<name>, got \"zone\""),
            ("binpack without a field", vec![("/placementStrategy", json!([{"type": "random"}, {"type": "binpack"}]))], "placementStrategy[1].field: required"),
            ("binpack on disk", vec![("/placementStrategy", json!([{"type": "binpack", "field": "disk"}]))], "placementStrategy[0].field: must be one of cpu, memory, got \"disk\""),
            ("six strategies", vec![("/placementStrategy", json!(vec![json!({"type": "random"}); 6]))], "placementStrategy: at most 5 strategies, got 6"),
            ("load balancer without a container name", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerPort": 80}]))], "loadBalancers[0].containerName: required"),
            ("load balancer without a container port", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerName": "web"}]))], "loadBalancers[0].containerPort: required"),
            ("load balancer on port 0", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "containerName": "web", "containerPort": 0}]))], "loadBalancers[0].containerPort: must be between 1 and 65535, got 0"),
            ("target group and classic name", vec![("/loadBalancers", json!([{"targetGroupArn": "arn:tg", "loadBalancerName": "lb", "containerName": "web", "containerPort": 80}]))], "loadBalancers[0]: give targetGroupArn or loadBalancerName, not both"),
            ("load balancer naming no balancer", vec![("/loadBalancers", json!([{"containerName": "web", "containerPort": 80}]))], "loadBalancers[0].targetGroupArn: required (or loadBalancerName for a Classic Load Balancer)"),
            ("negative grace period", vec![("/healthCheckGracePeriodSeconds", json!(-1))], "healthCheckGracePeriodSeconds: must be between 0 and 2147483647 seconds, got -1"),
        ]
    }

    #[test]
    fn create_service_rules() {
        for (name, request) in [
            ("fargate web behind a target group", fargate_service()),
            ("packed EC2 apps", packed_service()),
            (
                "capacity providers instead of a launch type",
                with(
                    fargate_service(),
                    &[
                        ("/launchType", Value::Null),
                        (
                            "/capacityProviderStrategy",
                            json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]),
                        ),
                    ],
                ),
            ),
            (
                "a daemon",
                json!({"serviceName": "agent", "taskDefinition": "agent", "schedulingStrategy": "DAEMON",
                "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0}}),
            ),
            (
                "no desired count",
                json!({"serviceName": "s", "taskDefinition": "t"}),
            ),
        ] {
            assert_eq!(create_service(&service(&request)), Ok(()), "{name}");
        }
        let mut cases: Vec<(&str, Value, &str)> = shared_service_cases()
            .into_iter()
            .map(|(name, edits, needle)| (name, with(packed_service(), &edits), needle))
            .collect();
        cases.extend([
            ("empty service name", with(fargate_service(), &[("/serviceName", json!(""))]), "serviceName: must not be empty"),
            ("service name with a period", with(fargate_service(), &[("/serviceName", json!("portal.web"))]), "serviceName: may contain only letters, numbers, hyphens and underscores, got \"portal.web\""),
            ("service name too long", with(fargate_service(), &[("/serviceName", json!("s".repeat(256)))]), "serviceName: must be at most 255 characters, got 256"),
            ("unknown launch type", with(fargate_service(), &[("/launchType", json!("SPOT"))]), "launchType: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES, got \"SPOT\""),
            ("managed instances as a launch type", with(fargate_service(), &[("/launchType", json!("MANAGED_INSTANCES"))]), "launchType: use capacityProviderStrategy for MANAGED_INSTANCES"),
            ("launch type and capacity providers", with(fargate_service(), &[("/capacityProviderStrategy", json!([{"capacityProvider": "FARGATE"}]))]), "launchType: must be omitted when capacityProviderStrategy is given"),
            ("unknown scheduling strategy", with(fargate_service(), &[("/schedulingStrategy", json!("BATCH"))]), "schedulingStrategy: must be one of REPLICA, DAEMON, got \"BATCH\""),
            ("daemon on Fargate", with(fargate_service(), &[("/schedulingStrategy", json!("DAEMON"))]), "schedulingStrategy: the DAEMON scheduling strategy is not supported with launchType FARGATE"),
            ("daemon with a placement strategy", with(packed_service(), &[("/schedulingStrategy", json!("DAEMON"))]), "placementStrategy: not supported with the DAEMON scheduling strategy"),
            ("Fargate with placement constraints", with(fargate_service(), &[("/placementConstraints", json!([{"type": "distinctInstance"}]))]), "placementConstraints: not supported with launchType FARGATE"),
            ("Fargate with a placement strategy", with(fargate_service(), &[("/placementStrategy", json!([{"type": "random"}]))]), "placementStrategy: not supported with launchType FARGATE"),
        ]);
        for (name, request, needle) in cases {
            assert_rejected(name, create_service(&service(&request)), INVALID, needle);
        }
        let reserved = with(
            fargate_service(),
            &[(
                "/tags",
                json!([{"key": "aws:ecs:serviceName", "value": "x"}]),
            )],
        );
        assert_rejected(
            "reserved tag",
            create_service(&service(&reserved)),
            INVALID,
            "tags[0].key: the aws: prefix",
        );
    }

    #[test]
    fn attribute_rules() {
        let attribute = |name: &str, value: Option<&str>| Attribute {
            name: name.into(),
            value: value.map(str::to_string),
        };
        attributes(&[
            attribute("zone", Some("a")),
            attribute("ecs.os-type", Some("linux")),
            attribute("team/x_y\\z", None),
            attribute("path", Some("s3://bucket/key @v1")),
        ])
        .expect("valid attributes");
        let cases = [
            (
                "empty name",
                vec![attribute("", None)],
                "attributes[0].name: required",
            ),
            (
                "space in name",
                vec![attribute("my zone", None)],
                "attributes[0].name: 1 to 128",
            ),
            (
                "long name",
                vec![attribute(&"n".repeat(129), None)],
                "attributes[0].name: 1 to 128",
            ),
            (
                "duplicate",
                vec![attribute("zone", Some("a")), attribute("zone", Some("b"))],
                "attributes[1].name: duplicate attribute \"zone\", also given as attributes[0]",
            ),
            (
                "empty value",
                vec![attribute("zone", Some(""))],
                "attributes[0].value: 1 to 128",
            ),
            (
                "leading space",
                vec![attribute("zone", Some(" a"))],
                "attributes[0].value",
            ),
            (
                "bad character",
                vec![attribute("zone", Some("a=b"))],
                "attributes[0].value",
            ),
        ];
        for (name, given, needle) in cases {
            assert_rejected(name, attributes(&given), INVALID, needle);
        }
    }

    #[test]
    fn update_service_rules() {
        let update = |request: &Value| -> UpdateService {
            decode(request.to_string().as_bytes()).expect("test request decodes")
        };
        let full = with(
            packed_service(),
            &[
                ("/serviceName", Value::Null),
                (
                    "/service",
                    json!("arn:aws:ecs:us-east-1:000000000000:service/prod/parks_permits"),
                ),
                ("/forceNewDeployment", json!(true)),
                ("/deploymentController", json!({"type": "ECS"})),
            ],
        );
        for request in [
            json!({"service": "web"}),
            json!({"service": "web", "desiredCount": 0}),
            full.clone(),
        ] {
            assert_eq!(update_service(&update(&request)), Ok(()), "{request}");
        }
        assert_rejected(
            "no service",
            update_service(&update(&json!({"service": ""}))),
            INVALID,
            "service: required",
        );
        for (name, edits, needle) in shared_service_cases() {
            assert_rejected(
                name,
                update_service(&update(&with(full.clone(), &edits))),
                INVALID,
                needle,
            );
        }
    }

    #[test]
    fn run_task_rules() {
        let run = |request: &Value| -> RunTask {
            decode(request.to_string().as_bytes()).expect("test request decodes")
        };
        let base = json!({
            "cluster": "batch",
            "taskDefinition": "portal-indexer:4",
            "count": 10,
            "startedBy": "ecs-svc/1234567890123456789",
            "group": "family:portal-indexer",
            "launchType": "EC2",
            "propagateTags": "TASK_DEFINITION",
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}],
            "placementStrategy": [{"type": "binpack", "field": "cpu"}],
            "tags": [{"key": "job", "value": "reindex"}]
        });
        for request in [
            base.clone(),
            json!({"taskDefinition": "portal-indexer"}),
            with(base.clone(), &[("/count", json!(1))]),
            with(base.clone(), &[("/startedBy", json!("ECS Deploy"))]),
            with(base.clone(), &[("/startedBy", json!("b".repeat(128)))]),
        ] {
            assert_eq!(run_task(&run(&request)), Ok(()), "{request}");
        }
        let cases = [
            (
                "no task definition",
                with(base.clone(), &[("/taskDefinition", json!(""))]),
                "taskDefinition: required",
            ),
            (
                "count 0",
                with(base.clone(), &[("/count", json!(0))]),
                "count: must be between 1 and 10, got 0",
            ),
            (
                "count 11",
                with(base.clone(), &[("/count", json!(11))]),
                "count: must be between 1 and 10, got 11",
            ),
            (
                "long startedBy",
                with(base.clone(), &[("/startedBy", json!("b".repeat(129)))]),
                "startedBy: must be at most 128 characters, got 129",
            ),
            (
                "empty group",
                with(base.clone(), &[("/group", json!(""))]),
                "group: must be 1 to 255 characters, got 0",
            ),
            (
                "long group",
                with(base.clone(), &[("/group", json!("g".repeat(256)))]),
                "group: must be 1 to 255 characters, got 256",
            ),
            (
                "unknown launch type",
                with(base.clone(), &[("/launchType", json!("LAMBDA"))]),
                "launchType: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES",
            ),
            (
                "launch type and capacity providers",
                with(
                    base.clone(),
                    &[(
                        "/capacityProviderStrategy",
                        json!([{"capacityProvider": "spot"}]),
                    )],
                ),
                "launchType: must be omitted when capacityProviderStrategy is given",
            ),
            (
                "unknown propagateTags",
                with(base.clone(), &[("/propagateTags", json!("TASK"))]),
                "propagateTags: must be one of TASK_DEFINITION, SERVICE, NONE",
            ),
            (
                "propagating service tags",
                with(base.clone(), &[("/propagateTags", json!("SERVICE"))]),
                "propagateTags: only services may propagate SERVICE tags",
            ),
            (
                "memberOf without an expression",
                with(
                    base.clone(),
                    &[("/placementConstraints/0/expression", Value::Null)],
                ),
                "placementConstraints[0].expression: required",
            ),
            (
                "binpack on disk",
                with(
                    base.clone(),
                    &[("/placementStrategy/0/field", json!("disk"))],
                ),
                "placementStrategy[0].field: must be one of cpu, memory",
            ),
            (
                "placement on Fargate",
                with(base.clone(), &[("/launchType", json!("FARGATE"))]),
                "placementConstraints: not supported with launchType FARGATE",
            ),
            (
                "reserved tag",
                with(base.clone(), &[("/tags/0/key", json!("aws:job"))]),
                "tags[0].key: the aws: prefix is reserved",
            ),
        ];
        for (name, request, needle) in cases {
            assert_rejected(name, run_task(&run(&request)), INVALID, needle);
        }
    }

    #[test]
    fn finds_cycles_without_recursion() {
        assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(find_cycle(&[vec![1, 2], vec![2], vec![]]), None);
        assert_eq!(
            find_cycle(&[vec![], vec![2], vec![3], vec![1]]),
            Some(vec![1, 2, 3, 1])
        );
        // A chain far longer than any real task: a recursive search would overflow here.
        let mut chain: Vec<Vec<usize>> = (1..200_000).map(|next| vec![next]).collect();
        chain.push(vec![0]);
        assert_eq!(find_cycle(&chain).map(|c| c.len()), Some(200_001));
    }

    /// Mostly one of `valid`, sometimes one of `invalid`: a request that breaks one rule
    /// reaches the checks behind it, where a request that breaks many stops at the first.
    fn mostly<T: Clone + std::fmt::Debug + 'static>(
        valid: Vec<T>,
        invalid: Vec<T>,
    ) -> impl Strategy<Value = T> {
        prop_oneof![9 => prop::sample::select(valid), 1 => prop::sample::select(invalid)]
    }

    fn mostly_in(
        valid: std::ops::RangeInclusive<i32>,
        invalid: Vec<i32>,
    ) -> impl Strategy<Value = Option<i32>> {
        prop_oneof![
            4 => Just(None),
            4 => valid.prop_map(Some),
            1 => prop::sample::select(invalid).prop_map(Some),
        ]
    }

    /// Names the task assigns by position, so that duplicates stay the exception.
    const NAMES: [&str; 4] = ["web", "worker", "cache", "sidecar"];

    fn arbitrary_container() -> impl Strategy<Value = Value> {
        let mapping = (
            mostly_in(1..=65535, vec![0, -1, 65536]),
            mostly_in(0..=65535, vec![-1, 70000]),
            mostly(vec!["tcp", "udp"], vec!["sctp"]),
            prop::option::weighted(0.2, mostly(vec!["9000-9010", "1-65535"], vec!["10-5", "x", "0-7"])),
        )
            .prop_map(|(container, host, protocol, range)| {
                json!({"containerPort": container, "hostPort": host, "protocol": protocol, "containerPortRange": range})
            });
        let health_check = (
            mostly(
                vec![
                    vec!["CMD-SHELL", "curl -f localhost || exit 1"],
                    vec!["CMD", "true"],
                    vec!["/healthcheck"],
                    vec!["NONE"],
                ],
                vec![vec![], vec!["CMD"], vec!["CMD-SHELL", ""]],
            ),
            mostly_in(5..=300, vec![4, 301, -1]),
            mostly_in(2..=60, vec![1, 61]),
            mostly_in(1..=10, vec![0, 11]),
            mostly_in(0..=300, vec![-1, 301]),
        )
            .prop_map(|(command, interval, timeout, retries, start_period)| {
                json!({"command": command, "interval": interval, "timeout": timeout, "retries": retries, "startPeriod": start_period})
            });
        let dependency = (
            mostly(NAMES.to_vec(), vec!["db", ""]),
            mostly(
                vec!["START", "COMPLETE", "SUCCESS", "HEALTHY"],
                vec!["DONE"],
            ),
        )
            .prop_map(|(name, condition)| json!({"containerName": name, "condition": condition}));
        let secret = (
            mostly(vec!["A", "B", "C"], vec![""]),
            mostly(
                vec![
                    "/prod/db",
                    "db",
                    "arn:aws:ssm:us-east-1:000000000000:parameter/prod/db",
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf",
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:k::",
                ],
                vec![
                    "prod/db",
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:",
                    "arn:aws:secretsmanager:us-east-1:000000000000:secret:db:k",
                    "arn:aws:ssm:us-east-1:000000000000:parameter",
                    "arn:",
                    "",
                ],
            ),
        )
            .prop_map(|(name, value_from)| json!({"name": name, "valueFrom": value_from}));
        (
            (
                mostly(vec![None], vec![Some(""), Some("a b"), Some("web")]),
                mostly(vec![Some("nginx:1.25")], vec![None, Some(""), Some("bad image"), Some("a@sha256:1")]),
            ),
            (mostly_in(0..=512, vec![-1]), mostly_in(6..=1024, vec![4]), mostly_in(6..=1024, vec![0])),
            prop::option::of(any::<bool>()),
            prop::collection::vec(mapping, 0..3),
            prop::option::of(health_check),
            prop::collection::vec(dependency, 0..3),
            prop::collection::vec(secret, 0..3),
            (
                mostly_in(0..=120, vec![-1, 121]),
                prop::option::weighted(0.2, prop::collection::vec(mostly(NAMES.to_vec(), vec!["db"]), 0..2)),
            ),
        )
            .prop_map(
                |((name, image), (cpu, memory, reservation), essential, ports, health, depends_on, secrets, (stop, links))| {
                    json!({
                        "name": name, "image": image, "cpu": cpu, "memory": memory,
                        "memoryReservation": reservation, "essential": essential, "portMappings": ports,
                        "healthCheck": health, "dependsOn": depends_on, "secrets": secrets,
                        "stopTimeout": stop, "links": links
                    })
                },
            )
    }

    fn arbitrary_task_definition() -> impl Strategy<Value = Value> {
        let size = |valid: Vec<&'static str>, unit: &'static str| {
            prop_oneof![
                1 => Just(None),
                8 => prop::sample::select(valid).prop_map(|s| Some(s.to_string())),
                1 => prop::sample::select(vec![
                    format!("1e9 {unit}"),
                    format!("99999999999999999999 {unit}"),
                    format!("0.1 {unit}"),
                    unit.to_string(),
                    String::new(),
                ])
                .prop_map(Some),
            ]
        };
        (
            mostly(vec!["web", "portal_web-2"], vec!["", "a b"]),
            mostly(
                vec![None, Some("bridge"), Some("awsvpc"), Some("host")],
                vec![Some("none"), Some("nat")],
            ),
            mostly(
                vec![
                    None,
                    Some(vec!["EC2"]),
                    Some(vec!["FARGATE"]),
                    Some(vec!["EXTERNAL", "EC2"]),
                ],
                vec![Some(vec!["MANAGED_INSTANCES"]), Some(vec!["X"])],
            ),
            size(vec!["1024", "1 vCPU", "0.25 vCPU"], "vCPU"),
            size(vec!["2048", "2 GB", ".5GB"], "GB"),
            prop::collection::vec(arbitrary_container(), 0..5),
        )
            .prop_map(
                |(family, network_mode, compatibilities, cpu, memory, mut containers)| {
                    for (i, container) in containers.iter_mut().enumerate() {
                        if container["name"].is_null() {
                            container["name"] = json!(NAMES.get(i).copied().unwrap_or("extra"));
                        }
                    }
                    json!({
                        "family": family, "networkMode": network_mode,
                        "requiresCompatibilities": compatibilities, "cpu": cpu, "memory": memory,
                        "containerDefinitions": containers
                    })
                },
            )
    }

    proptest! {
        #[test]
        fn register_task_definition_never_panics(request in arbitrary_task_definition()) {
            if let Err(err) = register_task_definition(&task_definition(&request)) {
                prop_assert!(matches!(err.kind, ErrorKind::ClientException | ErrorKind::InvalidParameterException));
                assert_well_formed(&err.message);
            }
        }
    }
}
