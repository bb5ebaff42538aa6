//! The `Runtime` trait: how a Berth agent runs containers, and the three implementations behind
//! it — [`docker::DockerRuntime`] (Docker Engine via bollard), [`process::ProcessRuntime`]
//! (the container's command as a host process group, for machines without Docker) and
//! [`fake::FakeRuntime`] (in memory, for agent and reconciler tests) — plus the
//! [`conformance`] suite all three pass.
//!
//! Invariants:
//! - Every container a runtime creates carries `berth.managed=1`, `berth.task-id`,
//!   `berth.container-name` and the scope labels of its [`RuntimeConfig`]; `list()` returns
//!   exactly the containers carrying all of those, running or exited. That is how a restarted
//!   agent adopts what is already running instead of duplicating or orphaning it.
//! - `start` either returns a started container or leaves nothing behind: a container that was
//!   created but could not start is removed before the error is returned.
//! - Error messages that end up as an ECS `stoppedReason` carry ECS's prefix
//!   (`CannotPullContainerError: …`, `CannotStartContainerError: …`).
//! - Times are epoch seconds (`f64`), as on the ECS wire.
//! - The runtime knows containers, not tasks: it has no store and no desired state (no sqlx),
//!   and which implementation runs is the caller's choice, never `cfg!(test)`.

pub mod conformance;
pub mod docker;
pub mod fake;
pub mod process;
mod usage;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Marks a container as Berth's; `list()` ignores everything without it.
pub const LABEL_MANAGED: &str = "berth.managed";
/// The ECS task id a container belongs to.
pub const LABEL_TASK_ID: &str = "berth.task-id";
/// The container's name in its task definition.
pub const LABEL_CONTAINER_NAME: &str = "berth.container-name";
/// The container instance whose agent started the container: part of every agent's scope.
pub const LABEL_INSTANCE_ID: &str = "berth.instance-id";

/// What to run: one container of a task, already resolved (secrets in
/// `sensitive_environment`, image tag chosen). Build one with [`ContainerSpec::new`] and
/// struct update syntax.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    pub task_id: String,
    pub container_name: String,
    pub image: String,
    pub entry_point: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    /// Variables whose values must never show (resolved secrets, what environment files
    /// hold); set after `environment`, so a name in both takes this value.
    pub sensitive_environment: SensitiveEnvironment,
    pub working_directory: Option<String>,
    /// `user`, `user:group`, `uid` or `uid:gid`.
    pub user: Option<String>,
    /// The task definition's `dockerLabels`; Berth's own `berth.*` labels are added on top and
    /// win over a user label of the same name.
    pub labels: BTreeMap<String, String>,
    pub ulimits: Vec<Ulimit>,
    pub mounts: Vec<Mount>,
    pub cpu_shares: Option<u32>,
    pub memory_limit_mib: Option<u64>,
    pub memory_reservation_mib: Option<u64>,
    pub network: Network,
    pub port_mappings: Vec<PortMapping>,
    /// How long `stop` waits after the stop signal before SIGKILL when the caller has no
    /// better value; ECS's `stopTimeout`.
    pub stop_timeout: Duration,
    pub health_check: Option<HealthCheck>,
    /// The container's output is shipped elsewhere, and its writes should wait once the
    /// output the runtime keeps is all unshipped, rather than the oldest be dropped
    /// (`awslogs` in blocking mode). Positions shipped come through
    /// [`Runtime::output_shipped`]. Runtimes that cannot hold a writer back keep their bounded
    /// output as always.
    pub output_backpressure: bool,
}

impl ContainerSpec {
    /// A spec with ECS's defaults: bridge network, 30 s stop timeout, nothing else set.
    pub fn new(
        task_id: impl Into<String>,
        container_name: impl Into<String>,
        image: impl Into<String>,
    ) -> ContainerSpec {
        ContainerSpec {
            task_id: task_id.into(),
            container_name: container_name.into(),
            image: image.into(),
            entry_point: None,
            command: None,
            environment: Vec::new(),
            sensitive_environment: SensitiveEnvironment::default(),
            working_directory: None,
            user: None,
            labels: BTreeMap::new(),
            ulimits: Vec::new(),
            mounts: Vec::new(),
            cpu_shares: None,
            memory_limit_mib: None,
            memory_reservation_mib: None,
            network: Network::Bridge,
            port_mappings: Vec::new(),
            stop_timeout: Duration::from_secs(30),
            health_check: None,
            output_backpressure: false,
        }
    }

    /// `entryPoint` followed by `command`, as the process runtime executes it.
    pub fn argv(&self) -> Vec<String> {
        let entry_point = self.entry_point.iter().flatten();
        entry_point
            .chain(self.command.iter().flatten())
            .cloned()
            .collect()
    }

    /// What the container's process gets: `environment`, then `sensitive_environment` over
    /// it, one value per name, in first-seen order.
    pub fn full_environment(&self) -> Vec<(String, String)> {
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, value) in self.environment.iter().chain(&self.sensitive_environment.0) {
            match merged.iter_mut().find(|(known, _)| known == name) {
                Some(existing) => existing.1.clone_from(value),
                None => merged.push((name.clone(), value.clone())),
            }
        }
        merged
    }
}

/// Environment variables whose values are secret. `Debug` shows their names only, so a spec
/// can be logged.
#[derive(Clone, Default, PartialEq)]
pub struct SensitiveEnvironment(Vec<(String, String)>);

impl SensitiveEnvironment {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SensitiveEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "<redacted>")))
            .finish()
    }
}

/// What the engine pulls a private image with (ECS's `repositoryCredentials`). `Debug`
/// shows the user name only.
#[derive(Clone, PartialEq)]
pub struct RegistryCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A resource limit by its ECS/Docker name (`nofile`, `nproc`, `core`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub source: MountSource,
    /// Path inside the container.
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A path on the host (ECS `host.sourcePath`).
    Host(String),
    /// A named volume, created by the runtime when missing.
    Volume(String),
}

/// ECS network modes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    /// A private network namespace with ports published on the host.
    Bridge,
    /// The host's network namespace: container ports are host ports.
    Host,
    /// A network of Berth's own where each task gets its own address (`ip_address`); its
    /// ports are reached at that address, so no host bindings are reported.
    Awsvpc { network_name: String },
    /// No network at all.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    /// `None` or `Some(0)` asks for a dynamic host port in bridge mode; in host and awsvpc
    /// modes the host port is the container port.
    pub host_port: Option<u16>,
    pub protocol: Protocol,
}

impl PortMapping {
    pub fn tcp(container_port: u16, host_port: Option<u16>) -> PortMapping {
        PortMapping {
            container_port,
            host_port,
            protocol: Protocol::Tcp,
        }
    }

    /// The host port asked for, or `None` for a dynamic one.
    pub fn fixed_host_port(&self) -> Option<u16> {
        self.host_port.filter(|port| *port != 0)
    }
}

/// Where a container port can be reached on the host, as ECS reports `networkBindings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkBinding {
    pub bind_ip: IpAddr,
    pub container_port: u16,
    pub host_port: u16,
    pub protocol: Protocol,
}

/// An ECS container health check. Ranges (interval 5–300 s and so on) are validated where the
/// task definition is registered; runtimes accept any value so tests can use short intervals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub command: HealthCommand,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures, after the start period, that make the container UNHEALTHY.
    pub retries: u32,
    /// Failures during this time do not count; a success during it counts at once.
    pub start_period: Duration,
}

impl HealthCheck {
    /// A check with ECS's defaults: every 30 s, 5 s timeout, 3 retries, no start period.
    pub fn new(command: HealthCommand) -> HealthCheck {
        HealthCheck {
            command,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HealthCommand {
    /// `["CMD", program, args…]`: executed directly.
    Exec(Vec<String>),
    /// `["CMD-SHELL", command]`: run with `/bin/sh -c`.
    Shell(String),
    /// Any other first word (`["/healthcheck"]`, `["NONE"]`), kept as given: ECS registers
    /// it and its agent hands it to Docker as it is, and Docker runs no check for it (it logs
    /// "Unknown healthcheck type"; `NONE` turns checks off). The container never gets a
    /// health status, which ECS reports as UNKNOWN.
    NoCheck(Vec<String>),
}

impl HealthCommand {
    /// Reads ECS's `healthCheck.command` form.
    pub fn from_ecs(command: &[String]) -> Result<HealthCommand, RuntimeError> {
        match command.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => {
                Ok(HealthCommand::Exec(rest.to_vec()))
            }
            // ECS documents one string after CMD-SHELL; more are joined as a shell would see them.
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Ok(HealthCommand::Shell(rest.join(" ")))
            }
            Some((kind, _)) if kind != "CMD" && kind != "CMD-SHELL" => {
                Ok(HealthCommand::NoCheck(command.to_vec()))
            }
            _ => Err(RuntimeError::InvalidSpec(format!(
                "health check command must be [\"CMD\", program, …] or [\"CMD-SHELL\", command], got {command:?}"
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ContainerState {
    Created,
    Running {
        started_at: f64,
    },
    Exited {
        exit_code: i64,
        oom_killed: bool,
        finished_at: f64,
        /// Why the runtime could not run or observe the container, when it knows.
        error: Option<String>,
    },
}

/// ECS's container `healthStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Health {
    Unknown,
    Healthy,
    Unhealthy,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerStatus {
    /// The runtime's id for the container (ECS `runtimeId`).
    pub id: String,
    pub task_id: String,
    pub container_name: String,
    pub state: ContainerState,
    pub health: Health,
    pub network_bindings: Vec<NetworkBinding>,
    /// The task's own address in awsvpc mode (Docker also reports the bridge address in
    /// bridge mode).
    pub ip_address: Option<IpAddr>,
}

/// What a container uses, as the kernel counts it for the container's processes together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used since the container started, all cores added up: it only grows while
    /// the container runs, so a rate is the difference between two readings.
    pub cpu_time: Duration,
    /// Memory in use now, in bytes, without the file cache the kernel can take back (what
    /// `docker stats` shows).
    pub memory_bytes: u64,
}

/// Which of a container's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// One line of a container's output, as its runtime keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    /// Where the line is in what the runtime keeps of this container's output: larger for
    /// every later line. [`Runtime::output`] reads on from just after it.
    pub position: u64,
    /// When the container wrote the line, in nanoseconds since the epoch.
    pub written_at_nanos: i64,
    pub stream: OutputStream,
    /// The line without its newline; bytes that are not UTF-8 are replaced.
    pub text: String,
}

/// A container's output, line by line, as [`Runtime::output`] follows it.
pub type OutputLines = futures_util::stream::BoxStream<'static, Result<OutputLine, RuntimeError>>;

/// How much of each container's output a runtime keeps on its machine, newest last: what is
/// older goes, shipped or not.
pub const OUTPUT_KEPT_BYTES: u64 = 32 << 20;

/// Why a runtime call failed. The `Cannot…` variants' messages are ECS's stopped reasons;
/// the Docker and state directory variants carry the engine's or the file system's error,
/// with its text in the message too, since that message becomes a task's reason or a log
/// line as it is.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("CannotPullContainerError: pulling {image}: {reason}")]
    CannotPull { image: String, reason: String },
    #[error("CannotCreateContainerError: {0}")]
    CannotCreate(String),
    #[error("CannotStartContainerError: {0}")]
    CannotStart(String),
    /// The entry point or command names a program that does not exist.
    #[error("CannotStartContainerError: {0}")]
    MissingExecutable(String),
    #[error("no such container: {0}")]
    NotFound(String),
    /// The spec asks for something this runtime cannot do (e.g. dynamic ports on the process
    /// runtime); retrying will not help.
    #[error("unsupported by this runtime: {0}")]
    Unsupported(String),
    #[error("invalid container spec: {0}")]
    InvalidSpec(String),
    /// No Docker engine answered where `DOCKER_HOST` (or the default socket) points.
    #[error("docker engine unreachable: {0}")]
    DockerUnreachable(#[source] bollard::errors::Error),
    /// The Docker engine failed a request.
    #[error("docker: {0}")]
    Docker(#[source] bollard::errors::Error),
    /// The process runtime could not use its state directory (records, logs).
    #[error("{}: {source}", path.display())]
    StateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A container's process group outlived SIGKILL (a process stuck in the kernel).
    #[error("process group {pid} survived SIGKILL for {waited:?}")]
    Unkillable { pid: i32, waited: Duration },
}

/// Runs containers. Implementations are cheap to share (`Send + Sync`); every method can be
/// called concurrently.
pub trait Runtime: Send + Sync + 'static {
    /// `docker`, `process` or `fake`, for logs and the container instance's attributes.
    fn name(&self) -> &'static str;

    /// Makes `image` available, pulling it when missing, with `credentials` when the
    /// registry wants them. A failed pull is [`RuntimeError::CannotPull`].
    fn ensure_image(
        &self,
        image: &str,
        credentials: Option<&RegistryCredentials>,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Creates and starts a container labelled with its task and container name. The image
    /// must be present already (`ensure_image`); a program that does not exist is
    /// [`RuntimeError::MissingExecutable`].
    fn start(
        &self,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<ContainerStatus, RuntimeError>> + Send;

    /// Sends the stop signal, then SIGKILL once `timeout` has passed; returns when the
    /// container has exited. Stopping an exited container succeeds.
    fn stop(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Removes the container, killing it first if it still runs. Unknown ids are
    /// [`RuntimeError::NotFound`].
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Every container of this runtime's scope, running or exited.
    fn list(&self) -> impl Future<Output = Result<Vec<ContainerStatus>, RuntimeError>> + Send;

    fn inspect(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ContainerStatus, RuntimeError>> + Send;

    /// What the container uses now: its CPU time so far and its memory. Cheap enough to ask
    /// of every running container every few seconds; a container that is not running uses
    /// no memory. Unknown ids are [`RuntimeError::NotFound`].
    fn usage(&self, id: &str) -> impl Future<Output = Result<Usage, RuntimeError>> + Send;

    /// The container's output (stdout and stderr, in the order it was written) from just
    /// after the line at `after` (from the oldest line kept when `None`), following it while
    /// the container runs; the stream ends once the container has exited and every line is
    /// read. A last line without a newline comes as a line of its own. Unknown ids are
    /// [`RuntimeError::NotFound`], as the stream's only item.
    fn output(&self, id: &str, after: Option<u64>) -> OutputLines;

    /// The container's output through the line at `position` is kept elsewhere now, so a
    /// container started with [`ContainerSpec::output_backpressure`] may write on past it.
    /// Only the runtimes whose [`Runtime::holds_output`] is true use it; a container gone
    /// meanwhile is no error.
    fn output_shipped(
        &self,
        id: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Whether [`ContainerSpec::output_backpressure`] holds writers back under this runtime.
    fn holds_output(&self) -> bool;
}

/// What every implementation is configured with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Labels put on everything the runtime creates and required of everything `list()`
    /// returns. An agent's always include its instance id ([`RuntimeConfig::for_instance`]);
    /// tests set `berth.test-run=<id>` so parallel tests see, and clean up, only their own
    /// containers.
    pub scope: BTreeMap<String, String>,
}

impl RuntimeConfig {
    pub fn scoped(key: impl Into<String>, value: impl Into<String>) -> RuntimeConfig {
        RuntimeConfig {
            scope: BTreeMap::from([(key.into(), value.into())]),
        }
    }

    /// An agent's scope: the labels it was given and its container instance's id, which wins
    /// over a given label of the same name. Agents sharing an engine then never see each
    /// other's containers, whatever labels they were given (or none), and an agent restarted
    /// as the same instance adopts its own.
    pub fn for_instance(
        instance_id: impl Into<String>,
        labels: BTreeMap<String, String>,
    ) -> RuntimeConfig {
        let mut scope = labels;
        scope.insert(LABEL_INSTANCE_ID.to_string(), instance_id.into());
        RuntimeConfig { scope }
    }

    /// The labels that select this runtime's containers (and networks).
    pub fn selector(&self) -> BTreeMap<String, String> {
        let mut labels = self.scope.clone();
        labels.insert(LABEL_MANAGED.to_string(), "1".to_string());
        labels
    }

    /// All labels a container for `spec` carries: the user's, then Berth's, which win.
    pub fn labels_for(&self, spec: &ContainerSpec) -> BTreeMap<String, String> {
        let mut labels = spec.labels.clone();
        labels.extend(self.selector());
        labels.insert(LABEL_TASK_ID.to_string(), spec.task_id.clone());
        labels.insert(
            LABEL_CONTAINER_NAME.to_string(),
            spec.container_name.clone(),
        );
        labels
    }

    /// Whether a container with these labels belongs to this runtime's scope.
    pub fn owns<'a>(&self, mut label: impl FnMut(&str) -> Option<&'a str>) -> bool {
        self.selector()
            .iter()
            .all(|(key, value)| label(key) == Some(value.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_commands_from_ecs() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            HealthCommand::from_ecs(&words(&["CMD", "/app", "check"])).unwrap(),
            HealthCommand::Exec(words(&["/app", "check"]))
        );
        assert_eq!(
            HealthCommand::from_ecs(&words(&["CMD-SHELL", "curl -f localhost || exit 1"])).unwrap(),
            HealthCommand::Shell("curl -f localhost || exit 1".into())
        );
        assert_eq!(
            HealthCommand::from_ecs(&words(&["/healthcheck"])).unwrap(),
            HealthCommand::NoCheck(words(&["/healthcheck"]))
        );
        assert_eq!(
            HealthCommand::from_ecs(&words(&["NONE"])).unwrap(),
            HealthCommand::NoCheck(words(&["NONE"]))
        );
        assert!(HealthCommand::from_ecs(&words(&["CMD"])).is_err());
        assert!(HealthCommand::from_ecs(&words(&["CMD-SHELL"])).is_err());
        assert!(HealthCommand::from_ecs(&[]).is_err());
    }

    #[test]
    fn berth_labels_win_and_scope_selects() {
        let config = RuntimeConfig::scoped("berth.test-run", "r1");
        let mut spec = ContainerSpec::new("t1", "web", "img");
        spec.labels.insert(LABEL_TASK_ID.into(), "forged".into());
        spec.labels.insert("team".into(), "search".into());
        let labels = config.labels_for(&spec);
        assert_eq!(labels[LABEL_TASK_ID], "t1");
        assert_eq!(labels["team"], "search");
        assert!(config.owns(|key| labels.get(key).map(String::as_str)));
        let other = RuntimeConfig::scoped("berth.test-run", "r2");
        assert!(!other.owns(|key| labels.get(key).map(String::as_str)));
        let unscoped = RuntimeConfig::default();
        assert!(unscoped.owns(|key| labels.get(key).map(String::as_str)));
    }

    #[test]
    fn agents_are_scoped_by_their_instance_whatever_their_labels() {
        let shared = BTreeMap::from([("team".to_string(), "search".to_string())]);
        let first = RuntimeConfig::for_instance("i-1", shared.clone());
        let labels = first.labels_for(&ContainerSpec::new("t1", "web", "img"));
        assert_eq!(labels[LABEL_INSTANCE_ID], "i-1");
        assert_eq!(labels["team"], "search");
        let owns = |config: &RuntimeConfig| config.owns(|key| labels.get(key).map(String::as_str));
        assert!(owns(&RuntimeConfig::for_instance("i-1", shared.clone())));
        assert!(!owns(&RuntimeConfig::for_instance("i-2", shared)));
        assert!(!owns(&RuntimeConfig::for_instance("i-2", BTreeMap::new())));
        let forged = BTreeMap::from([(LABEL_INSTANCE_ID.to_string(), "i-2".to_string())]);
        assert_eq!(
            RuntimeConfig::for_instance("i-1", forged).scope[LABEL_INSTANCE_ID],
            "i-1"
        );
    }

    #[test]
    fn argv_is_entry_point_then_command() {
        let spec = ContainerSpec {
            entry_point: Some(vec!["/bin/sh".into(), "-c".into()]),
            command: Some(vec!["exit 3".into()]),
            ..ContainerSpec::new("t", "c", "i")
        };
        assert_eq!(spec.argv(), ["/bin/sh", "-c", "exit 3"]);
        assert!(ContainerSpec::new("t", "c", "i").argv().is_empty());
    }

    #[test]
    fn sensitive_values_win_and_never_show_in_debug() {
        let spec = ContainerSpec {
            environment: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
            sensitive_environment: SensitiveEnvironment::new(vec![
                ("B".into(), "hunter2".into()),
                ("C".into(), "s3cret".into()),
            ]),
            ..ContainerSpec::new("t", "c", "i")
        };
        assert_eq!(
            spec.full_environment(),
            [
                ("A".to_string(), "1".to_string()),
                ("B".to_string(), "hunter2".to_string()),
                ("C".to_string(), "s3cret".to_string())
            ]
        );
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("\"C\": \"<redacted>\""), "{shown}");
        let credentials = RegistryCredentials {
            username: "deploy".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
