//! One container definition: image, cpu and memory, links, hostname, health check,
//! environment, secrets, ulimits, logging, mount points, volumesFrom, dependsOn and
//! timeouts. Separate from `task_definitions` because these rules are most of a task
//! definition's, and they read the rest of the task only through `Task`.

use super::check::{between, ensure, error, one_of, required, Check, CLIENT};
use super::ports::port_mappings;
use super::secrets::secrets;
use super::sizes::MIN_MEMORY_MIB;
use crate::error::ApiError;
use crate::resources::{ContainerDefinition, HealthCheck, LogConfiguration, Ulimit};
use std::collections::{HashMap, HashSet};

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

/// What checking one container needs to know about the rest of the task definition.
pub(super) struct Task<'a> {
    pub(super) network_mode: &'a str,
    pub(super) fargate: bool,
    pub(super) managed_instances: bool,
    pub(super) task_memory: Option<i64>,
    pub(super) containers: &'a [ContainerDefinition],
    pub(super) by_name: HashMap<&'a str, usize>,
    pub(super) volumes: HashSet<&'a str>,
}

impl Task<'_> {
    pub(super) fn container(&self, i: usize, container: &ContainerDefinition) -> Check {
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
        port_mappings(
            self.network_mode,
            &at,
            container.port_mappings.as_deref().unwrap_or_default(),
        )?;
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

    /// Containers' reservations must fit in the task's cpu and memory when the task has them.
    pub(super) fn totals(&self, task_cpu: Option<i64>) -> Check {
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
