//! Docker Engine through bollard, speaking whatever API version the engine offers (1.41 on
//! Docker 20.10 and up).
//!
//! How ECS settings land in Docker: cpu shares, hard memory limit and memory reservation,
//! ulimits, host-path and named-volume binds, labels, user, working directory, environment,
//! entry point and command go straight to the container config. Network modes: `bridge`
//! publishes port mappings (a missing or zero host port lets Docker choose, and the chosen
//! port is read back from inspect); `host` shares the host's network; `awsvpc` attaches the
//! container to a user-defined bridge network of Berth's own (created, labelled, when
//! missing), so each task has its own address. Health checks are Docker's native ones built
//! from the ECS definition, so they keep running while no agent is watching.
//!
//! `usage` reads the container's cgroup where this machine can see it (cgroup v2 or v1, under
//! the `cgroupfs` driver's `docker/<id>` or the `systemd` driver's
//! `system.slice/docker-<id>.scope`), which costs the engine nothing; otherwise it asks the
//! engine's stats endpoint for one reading (`one-shot`, never the once-a-second stream).
//!
//! `list` costs one call to the engine plus one inspect per container that changed: a
//! container's summary in the listing shows its state, exit code and health, and while those
//! read as they did when it was last inspected (by `start` or an earlier `list`), that
//! inspection still describes it. So noticing a new container does not get slower with the
//! number of containers already running.
//!
//! A container whose output waits for shipping (`awslogs` in blocking mode) is paused while
//! its unshipped output would otherwise be rotated away (see `hold`).

mod hold;
mod output;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerStatsResponse, ContainerSummaryStateEnum, HealthConfig, HealthStatusEnum, HostConfig,
    HostConfigLogConfig, NetworkCreateRequest, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions,
    InspectNetworkOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::usage;
use crate::{
    ContainerSpec, ContainerState, ContainerStatus, Health, HealthCheck, HealthCommand,
    MountSource, Network, NetworkBinding, OutputLines, Protocol, RegistryCredentials, Runtime,
    RuntimeConfig, RuntimeError, Usage, OUTPUT_KEPT_BYTES,
};

/// Longer than ECS's largest `stopTimeout` (120 s), because a stop request only returns once
/// the container is gone.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long after a container's exit its inspection is taken as final: Docker can show a
/// container exited a moment before it records that the kernel OOM-killed it, which the
/// listing's summary would not show.
const EXIT_SETTLE_SECONDS: f64 = 1.0;

pub struct DockerRuntime {
    docker: Docker,
    config: RuntimeConfig,
    /// Serialises creating awsvpc networks: Docker 20.10 happily creates two networks with one
    /// name, after which neither can be attached to by name.
    network_lock: tokio::sync::Mutex<()>,
    /// The last inspection of each listed container, by id, for `list` to reuse while the
    /// container's summary shows no change. Only a cache: losing it costs inspections.
    inspected: Mutex<HashMap<String, Inspected>>,
    holds: hold::Holds,
}

/// The size at which the engine rotates a container's json-file: two files keep
/// [`OUTPUT_KEPT_BYTES`].
const MAX_FILE_BYTES: u64 = OUTPUT_KEPT_BYTES / 2;

struct Inspected {
    status: ContainerStatus,
    /// When it was inspected, in epoch seconds.
    at: f64,
}

impl DockerRuntime {
    /// Connects to the local engine (`DOCKER_HOST`, else the default socket) and settles on
    /// the highest API version both sides speak.
    pub async fn connect(config: RuntimeConfig) -> Result<DockerRuntime, RuntimeError> {
        let docker = Docker::connect_with_defaults()
            .map_err(RuntimeError::DockerUnreachable)?
            .with_timeout(REQUEST_TIMEOUT)
            .negotiate_version()
            .await
            .map_err(RuntimeError::DockerUnreachable)?;
        Ok(DockerRuntime::with_client(docker, config))
    }

    /// A runtime over an existing client, e.g. a second one with another scope.
    pub fn with_client(docker: Docker, config: RuntimeConfig) -> DockerRuntime {
        DockerRuntime {
            docker,
            config,
            network_lock: tokio::sync::Mutex::new(()),
            inspected: Mutex::new(HashMap::new()),
            holds: hold::Holds::default(),
        }
    }

    /// Holds `id`'s writes for its output from now on, if it was started to be held and is
    /// in this runtime's scope (an agent started again finds its held containers this way).
    async fn watch_if_held(&self, id: &str) -> Result<(), RuntimeError> {
        if self.holds.is_watched(id) {
            return Ok(());
        }
        let response = match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(response) => response,
            Err(e) if status_code(&e) == Some(404) => return Ok(()),
            Err(e) => return Err(backend(e)),
        };
        let held = response
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .is_some_and(|labels| labels.contains_key(hold::LABEL_HELD));
        let running = response
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false);
        if let (true, true, true, Some(path)) = (
            held,
            running,
            in_scope(&self.config, &response),
            response.log_path,
        ) {
            self.holds
                .watch(self.docker.clone(), id, path.into(), MAX_FILE_BYTES);
        }
        Ok(())
    }

    pub fn client(&self) -> &Docker {
        &self.docker
    }

    async fn ensure_network(&self, name: &str) -> Result<(), RuntimeError> {
        let _creating = self.network_lock.lock().await;
        match self
            .docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(backend(e)),
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            labels: Some(self.config.selector().into_iter().collect()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(drop)
            .map_err(|e| RuntimeError::CannotCreate(format!("network {name}: {}", message(&e))))
    }

    /// Inspects a container of this runtime's scope; others are `NotFound`, so an agent can
    /// never stop or remove a container it did not create.
    async fn inspect_owned(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let response = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(backend)?;
        if !in_scope(&self.config, &response) {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let status = status_from(&response);
        let inspected = Inspected {
            status: status.clone(),
            at: berth_time::now(),
        };
        self.cache().insert(status.id.clone(), inspected);
        Ok(status)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Inspected>> {
        // Every change to the map is a single insert, remove or retain.
        self.inspected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn force_remove(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        self.docker.remove_container(id, Some(options)).await
    }
}

impl Runtime for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker"
    }

    /// The json-file driver cannot make a write wait, so a held container is paused while
    /// its unshipped output would be rotated away (see `hold`).
    fn holds_output(&self) -> bool {
        true
    }

    async fn output_shipped(&self, id: &str, position: u64) -> Result<(), RuntimeError> {
        self.watch_if_held(id).await?;
        self.holds.shipped(id, position);
        Ok(())
    }

    async fn ensure_image(
        &self,
        image: &str,
        credentials: Option<&RegistryCredentials>,
    ) -> Result<(), RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(e) if status_code(&e) == Some(404) => {}
            Err(e) => return Err(backend(e)),
        }
        let (name, tag) = split_reference(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let cannot_pull = |reason: String| RuntimeError::CannotPull {
            image: image.to_string(),
            reason,
        };
        let credentials = credentials.map(|c| DockerCredentials {
            username: Some(c.username.clone()),
            password: Some(c.password.clone()),
            serveraddress: registry_of(name).map(str::to_string),
            ..Default::default()
        });
        let mut progress = self.docker.create_image(Some(options), None, credentials);
        while let Some(update) = progress.next().await {
            match update {
                Ok(info) => {
                    if let Some(detail) = info.error_detail {
                        return Err(cannot_pull(detail.message.unwrap_or_default()));
                    }
                }
                Err(e) => return Err(cannot_pull(message(&e))),
            }
        }
        Ok(())
    }

    async fn start(&self, spec: &ContainerSpec) -> Result<ContainerStatus, RuntimeError> {
        if let Network::Awsvpc { network_name } = &spec.network {
            self.ensure_network(network_name).await?;
        }
        let mut labels = self.config.labels_for(spec);
        if spec.output_backpressure {
            labels.insert(hold::LABEL_HELD.to_string(), "true".to_string());
        }
        let body = create_body(spec, labels)?;
        let options = CreateContainerOptionsBuilder::default()
            .name(&container_name(spec))
            .build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| RuntimeError::CannotCreate(message(&e)))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            // Nothing half-made stays behind: list() would report it and a retry would clash
            // with its name.
            if let Err(remove) = self.force_remove(&created.id).await {
                tracing::warn!(id = %created.id, error = %remove, "cannot remove a container that failed to start");
            }
            let message = message(&e);
            return Err(if is_missing_executable(&message) {
                RuntimeError::MissingExecutable(message)
            } else {
                RuntimeError::CannotStart(message)
            });
        }
        if spec.output_backpressure {
            self.watch_if_held(&created.id).await?;
        }
        self.inspect_owned(&created.id).await
    }

    async fn stop(&self, id: &str, timeout: Duration) -> Result<(), RuntimeError> {
        self.inspect_owned(id).await?;
        // A stopping container is held no more: its stop signal must reach it.
        self.holds.release(&self.docker, id).await;
        // Docker counts whole seconds; rounding up never kills earlier than asked.
        let seconds = i32::try_from(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0))
            .unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.docker.stop_container(id, Some(options)).await {
            // 304: it had already stopped.
            Err(e) if status_code(&e) == Some(304) => Ok(()),
            result => result.map_err(backend),
        }
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.inspect_owned(id).await?;
        self.holds.release(&self.docker, id).await;
        match self.force_remove(id).await {
            // 409: a removal is already in progress.
            Err(e) if status_code(&e) == Some(409) => Ok(()),
            result => result.map_err(backend),
        }
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>, RuntimeError> {
        let selector: Vec<String> = self
            .config
            .selector()
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        let filters = HashMap::from([("label".to_string(), selector)]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(backend)?;
        let listed: Vec<(String, Glance)> = summaries
            .into_iter()
            .filter_map(|summary| {
                let glance = Glance::of_summary(summary.state, summary.status.as_deref());
                Some((summary.id?, glance))
            })
            .collect();
        // Containers gone from the listing are forgotten.
        let ids: HashSet<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        self.cache().retain(|id, _| ids.contains(id.as_str()));
        let mut statuses = Vec::with_capacity(listed.len());
        for (id, glance) in listed {
            let reused = self
                .cache()
                .get(&id)
                .filter(|inspected| glance.still_describes(inspected))
                .map(|inspected| inspected.status.clone());
            if let Some(status) = reused {
                statuses.push(status);
                continue;
            }
            // The summaries lack OOM kills, times and bindings: a changed container is
            // inspected.
            match self.inspect_owned(&id).await {
                Ok(status) => statuses.push(status),
                // Removed between the list and the inspect.
                Err(RuntimeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(statuses)
    }

    async fn inspect(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.inspect_owned(id).await
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        let known = self
            .cache()
            .get(id)
            .map(|inspected| inspected.status.clone());
        let status = match known {
            Some(status) => status,
            None => self.inspect_owned(id).await?,
        };
        if let Some(usage) = cgroup_usage(Path::new(CGROUP_MOUNT), &status.id) {
            return Ok(usage);
        }
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = self
            .docker
            .stats(&status.id, Some(options))
            .next()
            .await
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?
            .map_err(backend)?;
        Ok(usage_from_stats(&stats))
    }

    fn output(&self, id: &str, after: Option<u64>) -> OutputLines {
        output::follow(
            self.docker.clone(),
            self.config.clone(),
            id.to_string(),
            after,
        )
    }
}

/// Where cgroup file systems are mounted.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The container's usage from its cgroup under `mount`, in any of the places Docker puts it.
fn cgroup_usage(mount: &Path, id: &str) -> Option<Usage> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let places = [
        format!("docker/{id}"),
        format!("system.slice/docker-{id}.scope"),
    ];
    places.iter().find_map(|relative| {
        usage::cgroup_v2(&mount.join(relative)).or_else(|| {
            usage::cgroup_v1(
                &mount.join("cpuacct").join(relative),
                &mount.join("memory").join(relative),
            )
        })
    })
}

/// A reading of the engine's stats endpoint, counted as the cgroup files count.
fn usage_from_stats(stats: &ContainerStatsResponse) -> Usage {
    let cpu_nanos = stats
        .cpu_stats
        .as_ref()
        .and_then(|cpu| cpu.cpu_usage.as_ref())
        .and_then(|usage| usage.total_usage)
        .unwrap_or(0);
    let memory = stats.memory_stats.as_ref();
    let inactive_file = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied();
    Usage {
        cpu_time: Duration::from_nanos(cpu_nanos),
        memory_bytes: usage::working_set(memory.and_then(|m| m.usage).unwrap_or(0), inactive_file),
    }
}

/// What a container's summary in the engine's listing tells of its state: enough to see
/// whether an earlier inspection still holds. `Other` never matches an inspection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Glance {
    Running(Health),
    Exited(i64),
    Other,
}

impl Glance {
    /// From the listing's `State` and `Status` (`Up 5 minutes (healthy)`,
    /// `Up 2 seconds (health: starting)`, `Exited (137) 3 seconds ago`).
    fn of_summary(state: Option<ContainerSummaryStateEnum>, status: Option<&str>) -> Glance {
        let status = status.unwrap_or_default();
        match state {
            Some(ContainerSummaryStateEnum::RUNNING) => {
                Glance::Running(if status.ends_with("(healthy)") {
                    Health::Healthy
                } else if status.ends_with("(unhealthy)") {
                    Health::Unhealthy
                } else {
                    Health::Unknown
                })
            }
            Some(ContainerSummaryStateEnum::EXITED) => status
                .strip_prefix("Exited (")
                .and_then(|rest| rest.split_once(')'))
                .and_then(|(code, _)| code.parse().ok())
                .map_or(Glance::Other, Glance::Exited),
            _ => Glance::Other,
        }
    }

    /// Whether `inspected` still describes a container that the listing shows like this.
    fn still_describes(self, inspected: &Inspected) -> bool {
        let status = &inspected.status;
        match (self, &status.state) {
            (Glance::Running(health), ContainerState::Running { .. }) => health == status.health,
            (
                Glance::Exited(code),
                ContainerState::Exited {
                    exit_code,
                    finished_at,
                    ..
                },
            ) => code == *exit_code && inspected.at >= finished_at + EXIT_SETTLE_SECONDS,
            _ => false,
        }
    }
}

/// `berth-<container>-<task>`, restricted to the characters Docker accepts in names. A second
/// start of the same container of the same task then fails instead of running it twice.
fn container_name(spec: &ContainerSpec) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "berth-{}-{}",
        clean(&spec.container_name),
        clean(&spec.task_id)
    )
}

fn port_key(port: u16, protocol: Protocol) -> String {
    format!("{port}/{}", protocol.as_str())
}

fn nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

fn mib(value: u64) -> i64 {
    i64::try_from(value.saturating_mul(1 << 20)).unwrap_or(i64::MAX)
}

fn health_config(check: &HealthCheck) -> HealthConfig {
    let test = match &check.command {
        HealthCommand::Exec(argv) => std::iter::once("CMD".to_string())
            .chain(argv.iter().cloned())
            .collect(),
        HealthCommand::Shell(command) => vec!["CMD-SHELL".to_string(), command.clone()],
        // Word for word, as ECS's agent passes it: Docker then runs no check.
        HealthCommand::NoCheck(words) => words.clone(),
    };
    HealthConfig {
        test: Some(test),
        interval: Some(nanos(check.interval)),
        timeout: Some(nanos(check.timeout)),
        retries: Some(i64::from(check.retries)),
        start_period: Some(nanos(check.start_period)),
        start_interval: None,
    }
}

/// The container config for `spec`, decided without talking to Docker.
fn create_body(
    spec: &ContainerSpec,
    labels: BTreeMap<String, String>,
) -> Result<ContainerCreateBody, RuntimeError> {
    let network_mode = match &spec.network {
        Network::Bridge => "bridge".to_string(),
        Network::Host => "host".to_string(),
        Network::Awsvpc { network_name } => network_name.clone(),
        Network::None => "none".to_string(),
    };
    if spec.network == Network::None && !spec.port_mappings.is_empty() {
        return Err(RuntimeError::InvalidSpec(
            "port mappings need a network; the network mode is none".to_string(),
        ));
    }
    // Only bridge mode publishes; in host and awsvpc modes the container port is reachable as
    // it is, and exposing it is what lets inspect report host-mode bindings after adoption.
    let port_bindings = (spec.network == Network::Bridge).then(|| {
        spec.port_mappings
            .iter()
            .map(|mapping| {
                let binding = PortBinding {
                    host_ip: None,
                    host_port: Some(
                        mapping
                            .fixed_host_port()
                            .map(|port| port.to_string())
                            .unwrap_or_default(),
                    ),
                };
                (
                    port_key(mapping.container_port, mapping.protocol),
                    Some(vec![binding]),
                )
            })
            .collect()
    });
    let binds = spec
        .mounts
        .iter()
        .map(|mount| {
            let source = match &mount.source {
                MountSource::Host(path) | MountSource::Volume(path) => path,
            };
            // Binds rather than Mounts: like ECS, a missing host path is created, not refused.
            let mode = if mount.read_only { ":ro" } else { "" };
            format!("{source}:{}{mode}", mount.target)
        })
        .collect::<Vec<_>>();
    let ulimits = spec
        .ulimits
        .iter()
        .map(|limit| ResourcesUlimits {
            name: Some(limit.name.clone()),
            soft: Some(limit.soft),
            hard: Some(limit.hard),
        })
        .collect::<Vec<_>>();
    let host_config = HostConfig {
        // Docker's floor is 2 shares; ECS passes cpu 0 and 1 the same way.
        cpu_shares: spec.cpu_shares.map(|shares| i64::from(shares.max(2))),
        memory: spec.memory_limit_mib.map(mib),
        memory_reservation: spec.memory_reservation_mib.map(mib),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        binds: (!binds.is_empty()).then_some(binds),
        network_mode: Some(network_mode),
        port_bindings,
        // Docker's own file, bounded, whatever the engine's default driver: Berth reads each
        // container's output from it.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".to_string()),
            config: Some(HashMap::from([
                (
                    "max-size".to_string(),
                    format!("{}k", MAX_FILE_BYTES / 1024),
                ),
                ("max-file".to_string(), "2".to_string()),
            ])),
        }),
        ..Default::default()
    };
    let exposed_ports = spec
        .port_mappings
        .iter()
        .map(|mapping| port_key(mapping.container_port, mapping.protocol))
        .collect::<Vec<_>>();
    let stop_timeout =
        spec.stop_timeout.as_secs() + u64::from(spec.stop_timeout.subsec_nanos() > 0);
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entry_point.clone(),
        cmd: spec.command.clone(),
        env: Some(
            spec.full_environment()
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        ),
        working_dir: spec.working_directory.clone(),
        user: spec.user.clone(),
        labels: Some(labels.into_iter().collect()),
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        stop_timeout: Some(i64::try_from(stop_timeout).unwrap_or(i64::MAX)),
        healthcheck: spec.health_check.as_ref().map(health_config),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// Splits `name[:tag]` or `name@digest` for the pull API, which pulls every tag when given
/// none.
fn split_reference(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, digest);
    }
    let last_segment = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[last_segment..].rfind(':') {
        Some(colon) => (
            &image[..last_segment + colon],
            &image[last_segment + colon + 1..],
        ),
        None => (image, "latest"),
    }
}

/// The registry host of a repository name, as Docker reads one: the first path segment when
/// it has a dot or a port or is `localhost`; none means Docker Hub.
fn registry_of(name: &str) -> Option<&str> {
    let (first, _) = name.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Docker 20.10 says "executable file not found in $PATH" for bare names and
/// `exec: "/x": stat /x: no such file or directory` for paths.
fn is_missing_executable(message: &str) -> bool {
    message.contains("executable file not found")
        || (message.contains("exec: ") && message.contains("no such file or directory"))
}

fn status_code(error: &DockerError) -> Option<u16> {
    match error {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn message(error: &DockerError) -> String {
    match error {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn backend(error: DockerError) -> RuntimeError {
    if status_code(&error) == Some(404) {
        RuntimeError::NotFound(message(&error))
    } else {
        RuntimeError::Docker(error)
    }
}

/// Whether an inspected container carries every label of `config`'s scope.
fn in_scope(config: &RuntimeConfig, response: &ContainerInspectResponse) -> bool {
    let labels = response.config.as_ref().and_then(|c| c.labels.as_ref());
    labels.is_some_and(|labels| config.owns(|key| labels.get(key).map(String::as_str)))
}

/// Reads what Berth reports from `docker inspect`.
fn status_from(response: &ContainerInspectResponse) -> ContainerStatus {
    let labels = response
        .config
        .as_ref()
        .and_then(|config| config.labels.clone())
        .unwrap_or_default();
    let state = response.state.clone().unwrap_or_default();
    let state_kind = state.status.unwrap_or(ContainerStateStatusEnum::EMPTY);
    let container_state = match state_kind {
        ContainerStateStatusEnum::RUNNING
        | ContainerStateStatusEnum::PAUSED
        | ContainerStateStatusEnum::RESTARTING
        | ContainerStateStatusEnum::STOPPING => ContainerState::Running {
            started_at: epoch_seconds(state.started_at.as_deref()),
        },
        ContainerStateStatusEnum::EXITED
        | ContainerStateStatusEnum::DEAD
        | ContainerStateStatusEnum::REMOVING => ContainerState::Exited {
            exit_code: state.exit_code.unwrap_or(-1),
            oom_killed: state.oom_killed.unwrap_or(false),
            finished_at: epoch_seconds(state.finished_at.as_deref()),
            error: state.error.clone().filter(|error| !error.is_empty()),
        },
        ContainerStateStatusEnum::CREATED | ContainerStateStatusEnum::EMPTY => {
            ContainerState::Created
        }
    };
    // The engine calls a paused container unhealthy, without a failed check, until its first
    // check once resumed: that says nothing of the container (see `hold`).
    let paused_unhealthy = state_kind == ContainerStateStatusEnum::PAUSED
        || state
            .health
            .as_ref()
            .is_some_and(|health| health.failing_streak == Some(0));
    let health = match state.health.and_then(|health| health.status) {
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) if !paused_unhealthy => Health::Unhealthy,
        _ => Health::Unknown,
    };
    let network_mode = response
        .host_config
        .as_ref()
        .and_then(|host| host.network_mode.clone())
        .unwrap_or_default();
    let network_bindings = if network_mode == "host" {
        let exposed = response
            .config
            .as_ref()
            .and_then(|config| config.exposed_ports.clone())
            .unwrap_or_default();
        exposed
            .iter()
            .filter_map(|key| parse_port_key(key))
            .map(|(port, protocol)| NetworkBinding {
                bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                container_port: port,
                host_port: port,
                protocol,
            })
            .collect()
    } else {
        let ports = response
            .network_settings
            .as_ref()
            .and_then(|settings| settings.ports.clone())
            .unwrap_or_default();
        published_bindings(&ports)
    };
    let networks = response
        .network_settings
        .as_ref()
        .and_then(|settings| settings.networks.clone())
        .unwrap_or_default();
    // "default" is how older engines name the bridge network in NetworkMode.
    let network_name = if network_mode == "default" {
        "bridge"
    } else {
        network_mode.as_str()
    };
    let ip_address = networks
        .get(network_name)
        .and_then(|endpoint| endpoint.ip_address.as_deref())
        .and_then(|ip| ip.parse().ok());
    let label = |key| labels.get(key).cloned().unwrap_or_default();
    ContainerStatus {
        id: response.id.clone().unwrap_or_default(),
        task_id: label(crate::LABEL_TASK_ID),
        container_name: label(crate::LABEL_CONTAINER_NAME),
        state: container_state,
        health,
        network_bindings,
        ip_address,
    }
}

fn parse_port_key(key: &str) -> Option<(u16, Protocol)> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some((port.parse().ok()?, protocol))
}

/// One binding per container port: Docker lists an IPv4 and an IPv6 binding for the same
/// host port, and ECS reports the IPv4 one.
fn published_bindings(ports: &HashMap<String, Option<Vec<PortBinding>>>) -> Vec<NetworkBinding> {
    let mut bindings: BTreeMap<(u16, Protocol), NetworkBinding> = BTreeMap::new();
    for (key, published) in ports {
        let Some((container_port, protocol)) = parse_port_key(key) else {
            continue;
        };
        for binding in published.iter().flatten() {
            let Some(host_port) = binding.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            let bind_ip = binding
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let candidate = NetworkBinding {
                bind_ip,
                container_port,
                host_port,
                protocol,
            };
            bindings
                .entry((container_port, protocol))
                .and_modify(|kept| {
                    if kept.bind_ip.is_ipv6() && bind_ip.is_ipv4() {
                        *kept = candidate;
                    }
                })
                .or_insert(candidate);
        }
    }
    bindings.into_values().collect()
}

/// Docker's timestamps (`2024-05-01T10:00:00.123456789Z`) as epoch seconds; the zero time
/// Docker uses for "never" (`0001-01-01T00:00:00Z`) and anything unreadable become 0.
fn epoch_seconds(timestamp: Option<&str>) -> f64 {
    timestamp
        .and_then(berth_time::parse_rfc3339)
        .filter(|seconds| *seconds > 0.0)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mount, PortMapping, Ulimit};

    #[test]
    fn usage_from_either_drivers_cgroup_or_the_engine() {
        let mount = tempfile::tempdir().unwrap();
        let id = "0123456789abcdef";
        let write = |dir: &str, name: &str, text: &str| {
            let dir = mount.path().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), text).unwrap();
        };
        assert_eq!(cgroup_usage(mount.path(), id), None);
        assert_eq!(cgroup_usage(mount.path(), "../../etc"), None);
        // cgroup v1 under the cgroupfs driver.
        write(
            &format!("cpuacct/docker/{id}"),
            "cpuacct.usage",
            "3000000000\n",
        );
        write(
            &format!("memory/docker/{id}"),
            "memory.usage_in_bytes",
            "5242880\n",
        );
        write(
            &format!("memory/docker/{id}"),
            "memory.stat",
            "total_inactive_file 1048576\n",
        );
        let v1 = Usage {
            cpu_time: Duration::from_secs(3),
            memory_bytes: 4 << 20,
        };
        assert_eq!(cgroup_usage(mount.path(), id), Some(v1));
        // cgroup v2 under the systemd driver.
        let other = "fedcba9876543210";
        let scope = format!("system.slice/docker-{other}.scope");
        write(&scope, "cpu.stat", "usage_usec 250000\nuser_usec 200000\n");
        write(&scope, "memory.current", "2097152\n");
        assert_eq!(
            cgroup_usage(mount.path(), other),
            Some(Usage {
                cpu_time: Duration::from_millis(250),
                memory_bytes: 2 << 20,
            })
        );

        let stats: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000u64}},
            "memory_stats": {"usage": 8_388_608u64, "stats": {"inactive_file": 4_194_304u64}},
        }))
        .unwrap();
        assert_eq!(
            usage_from_stats(&stats),
            Usage {
                cpu_time: Duration::from_millis(1500),
                memory_bytes: 4 << 20,
            }
        );
        assert_eq!(
            usage_from_stats(&ContainerStatsResponse::default()),
            Usage::default()
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            epoch_seconds(Some("2024-05-01T12:00:00+02:00")),
            1_714_557_600.0
        );
        assert_eq!(epoch_seconds(Some("0001-01-01T00:00:00Z")), 0.0);
        assert_eq!(epoch_seconds(Some("garbage")), 0.0);
        assert_eq!(epoch_seconds(None), 0.0);
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("berth-testapp:v1"), ("berth-testapp", "v1"));
        assert_eq!(
            split_reference("localhost:5000/team/app"),
            ("localhost:5000/team/app", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/app:2"),
            ("localhost:5000/app", "2")
        );
        assert_eq!(split_reference("app@sha256:abc"), ("app", "sha256:abc"));
        assert_eq!(
            registry_of("localhost:5000/team/app"),
            Some("localhost:5000")
        );
        assert_eq!(
            registry_of("123456789012.dkr.ecr.us-east-1.amazonaws.com/app"),
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(registry_of("team/app"), None);
        assert_eq!(registry_of("busybox"), None);
    }

    #[test]
    fn missing_executable_messages() {
        assert!(is_missing_executable(
            "OCI runtime create failed: runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown"
        ));
        assert!(is_missing_executable(
            "OCI runtime create failed: container_linux.go:380: starting container process caused: exec: \"/nope\": stat /nope: no such file or directory: unknown"
        ));
        assert!(!is_missing_executable(
            "error while creating mount source path '/x': mkdir /x: no such file or directory"
        ));
    }

    #[test]
    fn spec_becomes_container_config() {
        let spec = ContainerSpec {
            entry_point: Some(vec!["/app".into()]),
            command: Some(vec!["serve".into()]),
            environment: vec![("A".into(), "1".into())],
            working_directory: Some("/srv".into()),
            user: Some("1000:1000".into()),
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            mounts: vec![
                Mount {
                    source: MountSource::Host("/var/data".into()),
                    target: "/data".into(),
                    read_only: true,
                },
                Mount {
                    source: MountSource::Volume("cache".into()),
                    target: "/cache".into(),
                    read_only: false,
                },
            ],
            cpu_shares: Some(1),
            memory_limit_mib: Some(64),
            memory_reservation_mib: Some(32),
            port_mappings: vec![
                PortMapping::tcp(8080, None),
                PortMapping::tcp(9090, Some(19090)),
            ],
            stop_timeout: Duration::from_millis(1500),
            health_check: Some(HealthCheck::new(HealthCommand::Shell("exit 0".into()))),
            ..ContainerSpec::new("t1", "web", "app:v1")
        };
        let body = create_body(&spec, BTreeMap::from([("k".into(), "v".into())])).unwrap();
        assert_eq!(body.env.unwrap(), ["A=1"]);
        assert_eq!(body.stop_timeout, Some(2));
        assert_eq!(body.exposed_ports.unwrap(), ["8080/tcp", "9090/tcp"]);
        let health = body.healthcheck.unwrap();
        assert_eq!(health.test.unwrap(), ["CMD-SHELL", "exit 0"]);
        assert_eq!(health.interval, Some(30_000_000_000));
        assert_eq!(health.retries, Some(3));
        let no_check = HealthCommand::NoCheck(vec!["/healthcheck".into()]);
        assert_eq!(
            health_config(&HealthCheck::new(no_check)).test.unwrap(),
            ["/healthcheck"]
        );
        let host = body.host_config.unwrap();
        assert_eq!(host.cpu_shares, Some(2));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_reservation, Some(32 << 20));
        assert_eq!(host.binds.unwrap(), ["/var/data:/data:ro", "cache:/cache"]);
        let ports = host.port_bindings.unwrap();
        assert_eq!(
            ports["8080/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("")
        );
        assert_eq!(
            ports["9090/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("19090")
        );

        let host_mode = ContainerSpec {
            network: Network::Host,
            ..spec.clone()
        };
        let host = create_body(&host_mode, BTreeMap::new())
            .unwrap()
            .host_config
            .unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert!(host.port_bindings.is_none());
        let isolated = ContainerSpec {
            network: Network::None,
            ..spec
        };
        assert!(matches!(
            create_body(&isolated, BTreeMap::new()),
            Err(RuntimeError::InvalidSpec(_))
        ));
    }

    #[test]
    fn inspect_becomes_status() {
        let response: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Id": "abc",
            "State": {
                "Status": "exited", "ExitCode": 137, "OOMKilled": true, "Error": "",
                "StartedAt": "2024-05-01T10:00:00Z", "FinishedAt": "2024-05-01T10:00:01.25Z",
                "Health": {"Status": "unhealthy", "FailingStreak": 3}
            },
            "Config": {"Labels": {"berth.task-id": "t1", "berth.container-name": "web"}},
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {
                "Ports": {
                    "8080/tcp": [{"HostIp": "::", "HostPort": "49153"}, {"HostIp": "0.0.0.0", "HostPort": "49153"}],
                    "9090/udp": null
                },
                "Networks": {"bridge": {"IPAddress": "172.17.0.2"}}
            }
        }))
        .unwrap();
        let status = status_from(&response);
        assert_eq!(status.task_id, "t1");
        assert_eq!(status.container_name, "web");
        assert_eq!(
            status.state,
            ContainerState::Exited {
                exit_code: 137,
                oom_killed: true,
                finished_at: 1_714_557_601.25,
                error: None
            }
        );
        assert_eq!(status.health, Health::Unhealthy);
        assert_eq!(
            status.network_bindings,
            [NetworkBinding {
                bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                container_port: 8080,
                host_port: 49153,
                protocol: Protocol::Tcp
            }]
        );
        assert_eq!(status.ip_address, Some("172.17.0.2".parse().unwrap()));
    }

    #[test]
    fn listing_summaries_tell_when_an_inspection_is_stale() {
        use ContainerSummaryStateEnum::{CREATED, EXITED, PAUSED, RUNNING};
        let glance = Glance::of_summary;
        assert_eq!(
            glance(Some(RUNNING), Some("Up 5 minutes")),
            Glance::Running(Health::Unknown)
        );
        assert_eq!(
            glance(Some(RUNNING), Some("Up 2 seconds (health: starting)")),
            Glance::Running(Health::Unknown)
        );
        assert_eq!(
            glance(Some(RUNNING), Some("Up About a minute (healthy)")),
            Glance::Running(Health::Healthy)
        );
        assert_eq!(
            glance(Some(RUNNING), Some("Up 3 hours (unhealthy)")),
            Glance::Running(Health::Unhealthy)
        );
        assert_eq!(
            glance(Some(EXITED), Some("Exited (137) 3 seconds ago")),
            Glance::Exited(137)
        );
        assert_eq!(glance(Some(EXITED), Some("Exited")), Glance::Other);
        assert_eq!(glance(Some(CREATED), Some("Created")), Glance::Other);
        assert_eq!(
            glance(Some(PAUSED), Some("Up 1 second (Paused)")),
            Glance::Other
        );
        assert_eq!(glance(None, None), Glance::Other);

        let inspected = |state, health, at| Inspected {
            status: ContainerStatus {
                id: "abc".into(),
                task_id: "t1".into(),
                container_name: "web".into(),
                state,
                health,
                network_bindings: vec![],
                ip_address: None,
            },
            at,
        };
        let running =
            |health| inspected(ContainerState::Running { started_at: 10.0 }, health, 11.0);
        assert!(Glance::Running(Health::Unknown).still_describes(&running(Health::Unknown)));
        assert!(!Glance::Running(Health::Healthy).still_describes(&running(Health::Unknown)));
        assert!(!Glance::Exited(0).still_describes(&running(Health::Unknown)));
        assert!(!Glance::Other.still_describes(&running(Health::Unknown)));
        let exited = |at| {
            inspected(
                ContainerState::Exited {
                    exit_code: 137,
                    oom_killed: false,
                    finished_at: 20.0,
                    error: None,
                },
                Health::Unknown,
                at,
            )
        };
        assert!(
            !Glance::Exited(137).still_describes(&exited(20.5)),
            "an OOM kill may not be recorded yet"
        );
        assert!(Glance::Exited(137).still_describes(&exited(21.0)));
        assert!(!Glance::Exited(1).still_describes(&exited(21.0)));
        assert!(!Glance::Running(Health::Unknown).still_describes(&exited(21.0)));
    }

    #[test]
    fn host_mode_bindings_come_from_exposed_ports() {
        let response: ContainerInspectResponse = serde_json::from_value(serde_json::json!({
            "Id": "abc",
            "State": {"Status": "running", "StartedAt": "2024-05-01T10:00:00Z"},
            "Config": {"ExposedPorts": {"8080/tcp": {}}},
            "HostConfig": {"NetworkMode": "host"},
            "NetworkSettings": {"Ports": {}, "Networks": {"host": {"IPAddress": ""}}}
        }))
        .unwrap();
        let status = status_from(&response);
        assert_eq!(
            status.state,
            ContainerState::Running {
                started_at: 1_714_557_600.0
            }
        );
        assert_eq!(status.network_bindings[0].host_port, 8080);
        assert_eq!(status.ip_address, None);
    }
}
