//! The agent protocol: how a `berth agent` joins a cluster, learns the tasks the server
//! wants on its machine, and reports what it observes.
//!
//! No message grows with the tasks a machine runs. The agent reports what changed since the
//! server last acknowledged it, at most [`MAX_REPORTS_PER_POLL`] tasks a poll (it polls again
//! at once while it has more to say), and reports everything again when the server asks
//! (`resync`: the server's first poll from it since the server started) or when the agent
//! itself starts. The server answers with the tasks it wants on the instance in pages of at
//! most [`MAX_TASKS_PER_PAGE`], all of one `version`; an agent takes a new set only once it
//! holds every page of one version. A lost message, a dropped connection or a restart of
//! either side heals on the next poll: a report is dropped from the agent's list only once a
//! poll that carried it was answered.
//! Endpoints: `POST /agent/v1/register`, `POST /agent/v1/poll`, `POST /agent/v1/logs` and
//! `POST /agent/v1/usage`, JSON bodies, with `Authorization: Bearer <agent key>` (the join
//! token on register).
//!
//! The server reaches an agent only through its poll: to read a container's output that only
//! its machine keeps, the server puts an [`OutputRequest`] in the poll's answer (waking a held
//! poll for it), and the agent answers with one bounded [`OutputPage`] on
//! `POST /agent/v1/output`.

use crate::resources::{ContainerDefinition, NetworkBinding, Object, Timestamp, Volume};
use crate::status::{ContainerStatus, HealthStatus, StopCode, TaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sent once when an agent starts; registering again with the same `instance_id` resumes
/// the same container instance (its tasks stay).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub cluster: String,
    /// Stable per machine (kept in the agent's state directory).
    pub instance_id: String,
    pub hostname: String,
    /// CPU units, 1024 per core.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    pub attributes: BTreeMap<String, String>,
    pub agent_version: String,
    /// `docker` or `process`.
    pub runtime: String,
    /// Where the load balancer reaches this machine's tasks: the address of their host
    /// ports in `bridge` and `host` network modes. `None` from agents that do not say.
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub container_instance_arn: String,
    /// The bearer key for polls; valid until the instance is deregistered.
    pub agent_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    pub container_instance_arn: String,
    /// The version of the desired set the agent already has; the server holds the poll
    /// open until it changes or the wait runs out. `None` answers at once.
    pub known_version: Option<String>,
    pub wait_seconds: u64,
    /// The tasks whose state changed since the server last acknowledged a report of them
    /// (every task the agent holds after a resync), at most [`MAX_REPORTS_PER_POLL`].
    pub reports: Vec<TaskReport>,
    /// Set on the poll that completes a resync: with its reports, the server has heard of
    /// every task the agent holds.
    #[serde(default)]
    pub synced: bool,
    /// The page of the desired set to answer: the tasks after this task ARN. `None` asks
    /// for the first page (and may be held open); a later page is answered at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_after: Option<String>,
    /// The agent keeps the set it holds when answered [`PollResponse::unchanged`]. An agent
    /// from before such answers does not say so, and is sent its tasks every time.
    #[serde(default)]
    pub keeps_unchanged: bool,
}

/// The most task reports one poll may carry.
pub const MAX_REPORTS_PER_POLL: usize = 500;

/// The most desired tasks one poll's answer carries.
pub const MAX_TASKS_PER_PAGE: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    /// Of the whole desired set, not of this page.
    pub version: String,
    /// One page of the desired set, by task ARN; empty when `unchanged`.
    pub tasks: Vec<DesiredTask>,
    /// The desired set is the one the agent said it knows (`known_version`): the agent keeps
    /// it, and a machine at rest is not sent its tasks again on every poll.
    #[serde(default)]
    pub unchanged: bool,
    /// When more pages follow: the `page_after` that asks for the next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<String>,
    /// The server asks for a report of every task the agent holds (it has not heard one
    /// since it started).
    #[serde(default)]
    pub resync: bool,
    /// Pages of container output that someone waits for; each is sent once, and the server
    /// holds at most a few per instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_requests: Vec<OutputRequest>,
}

/// A task the server wants on this instance, with everything needed to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredTask {
    pub task_arn: String,
    pub task_id: String,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: TaskStatus,
    pub family: String,
    pub revision: i64,
    pub network_mode: String,
    pub containers: Vec<ContainerDefinition>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Task-level `overrides` as RunTask received them.
    pub overrides: Object,
    /// Stop signal to SIGKILL, per container, already defaulted (30 s).
    pub stop_timeout_seconds: i64,
    /// Only while the task has yet to start: its resolved secrets (when it names any), or
    /// why it cannot start (a secret, or a log group, that cannot be had).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Resolution>,
    /// The containers the server has heard running: one the agent no longer finds was
    /// removed outside Berth, and ends its task rather than start again under its id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub started: Vec<String>,
}

/// What the agent observes of one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    pub task_arn: String,
    /// PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING or STOPPED.
    pub last_status: TaskStatus,
    pub containers: Vec<ContainerReport>,
    pub pull_started_at: Option<Timestamp>,
    pub pull_stopped_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub stopping_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    /// Set when the agent itself ended the task: `TaskFailedToStart` or `EssentialContainerExited`.
    pub stop_code: Option<StopCode>,
    pub stopped_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    pub runtime_id: Option<String>,
    pub last_status: ContainerStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Vec<NetworkBinding>,
    pub health_status: HealthStatus,
    pub ip_address: Option<String>,
}

/// How long an agent may go unheard before its instance counts as disconnected and its
/// tasks as lost, unless its cluster says otherwise with [`LOST_AFTER_TAG`].
pub const DEFAULT_LOST_AFTER_SECONDS: u64 = 20;

/// The cluster tag that sets its `lost_after`, in whole seconds within [`LOST_AFTER_RANGE`].
pub const LOST_AFTER_TAG: &str = "berth:lost-after-seconds";

/// The `lost_after` a cluster may set: at least a few polls (agents poll every 2 s), at
/// most an hour.
pub const LOST_AFTER_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;

/// A `lost_after` tag's value, or why it cannot be one.
pub fn parse_lost_after(value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|seconds| LOST_AFTER_RANGE.contains(seconds))
        .ok_or_else(|| {
            format!(
                "{LOST_AFTER_TAG} must be a whole number of seconds from {} to {}, got {value:?}",
                LOST_AFTER_RANGE.start(),
                LOST_AFTER_RANGE.end()
            )
        })
}

/// A cluster's `lost_after` from its tags (tags are checked when written).
pub fn lost_after(tags: &[crate::resources::Tag]) -> u64 {
    tags.iter()
        .find(|t| t.key.as_deref() == Some(LOST_AFTER_TAG))
        .and_then(|t| parse_lost_after(t.value.as_deref()?).ok())
        .unwrap_or(DEFAULT_LOST_AFTER_SECONDS)
}

/// ECS's default time between the stop signal and SIGKILL.
pub const DEFAULT_STOP_TIMEOUT_SECONDS: i64 = 30;

/// A secret's value on its way to a container. It never prints itself: `Debug` shows only
/// its length, so a value cannot reach a log through a struct that holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that hands it to a container.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes redacted>)", self.0.len())
    }
}

/// The secrets of a task about to start, resolved by the server for the one agent that runs
/// it (and sent to no other), or why they could not be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resolution {
    Resolved {
        /// By container name; containers without secrets are absent.
        containers: BTreeMap<String, ContainerSecrets>,
    },
    /// ECS's `ResourceInitializationError: …` text naming what is wrong; the task stops
    /// with `TaskFailedToStart` before any container starts.
    Failed { reason: String },
}

impl Resolution {
    /// The resolved secrets of the container `name`, if it has any and all were resolved.
    pub fn container(&self, name: &str) -> Option<&ContainerSecrets> {
        match self {
            Resolution::Resolved { containers } => containers.get(name),
            Resolution::Failed { .. } => None,
        }
    }
}

/// One container's resolved secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSecrets {
    /// `secrets[]`: environment variables, by name.
    #[serde(default)]
    pub environment: BTreeMap<String, SecretValue>,
    /// `logConfiguration.secretOptions`: log driver options, by name.
    #[serde(default)]
    pub log_options: BTreeMap<String, SecretValue>,
    /// `repositoryCredentials.credentialsParameter`: what the engine pulls the image with.
    #[serde(default)]
    pub registry_auth: Option<RegistryAuth>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuth {
    pub username: String,
    pub password: SecretValue,
}

/// `POST /agent/v1/logs`: what an agent captured of its containers' output, by stream. The
/// server keeps each stream's position, so a resend (after a lost answer, or an agent's
/// restart) adds nothing twice; an empty `events` asks where a stream is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipLogsRequest {
    pub container_instance_arn: String,
    pub streams: Vec<ShippedStream>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippedStream {
    pub group: String,
    pub stream: String,
    /// `awslogs-create-group`: the group is created when missing.
    pub create_group: bool,
    /// In the order the container wrote them, positions ascending.
    pub events: Vec<ShippedEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippedEvent {
    /// The position of the event's last line in what the runtime keeps.
    pub position: u64,
    /// When the container wrote its first line, in epoch milliseconds.
    pub timestamp: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipLogsResponse {
    /// One per stream shipped, in the same order.
    pub streams: Vec<StreamPosition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamPosition {
    /// The last position the server keeps; the agent reads on after it.
    pub captured_through: Option<u64>,
    /// Why nothing could be kept (the group is gone); the agent tries again later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The most tasks one [`UsageReport`] may carry: an agent with more sends several, so no
/// message grows with the tasks a machine runs.
pub const MAX_TASKS_PER_USAGE_REPORT: usize = 100;

/// `POST /agent/v1/usage`: what the running tasks of one machine used, sampled every few
/// seconds. Latest wins: the server keeps no history of these, and a lost report is
/// superseded by the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub container_instance_arn: String,
    /// At most [`MAX_TASKS_PER_USAGE_REPORT`].
    pub tasks: Vec<TaskUsage>,
}

/// One task's containers together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskUsage {
    pub task_arn: String,
    /// CPU units (1,024 a core) used on average since the sample before; absent on a
    /// task's first sample, which has nothing to take a rate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_units: Option<f64>,
    /// Memory in use, in MiB (without the reclaimable file cache).
    pub memory_mib: f64,
    /// When it was sampled, in epoch seconds.
    pub sampled_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageResponse {
    /// How many of the tasks the server kept: tasks it does not know on this instance are
    /// left out.
    pub kept: usize,
}

/// The most bytes of lines one [`OutputPage`] carries; a page stops at the line that reaches
/// it (so a page always moves on, whatever a line's length).
pub const OUTPUT_PAGE_BYTES: usize = 256 << 10;

/// In a poll's answer: read one page of a container's output as this machine keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRequest {
    /// Names the answer; unique among the server's pending requests.
    pub request_id: u64,
    pub task_id: String,
    pub container_name: String,
    /// The container as the runtime knows it (the agent reported it).
    pub runtime_id: String,
    /// Lines after this position; from the oldest line kept when `None`.
    pub after: Option<u64>,
    /// Lines written before this (epoch milliseconds) are skipped without counting toward
    /// the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
}

/// `POST /agent/v1/output`: the answer to one [`OutputRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputAnswer {
    pub container_instance_arn: String,
    pub request_id: u64,
    pub result: OutputResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OutputResult {
    Page(OutputPage),
    /// The container is no longer on this machine (removed, with what it wrote).
    Gone,
    /// The runtime could not read it; the message says why.
    Failed(String),
}

/// Lines of a container's output in the order it wrote them, with the runtime's positions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputPage {
    pub lines: Vec<KeptLine>,
    /// Where the next page starts: the position of the last line read (also of lines
    /// skipped as older than the start time); the request's own `after` when none was.
    pub after: Option<u64>,
    /// Whether the page stopped at [`OUTPUT_PAGE_BYTES`] with more already written; when
    /// false, the reader has caught up with the container.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptLine {
    pub position: u64,
    /// When the container wrote it, in epoch milliseconds.
    pub timestamp: i64,
    pub stderr: bool,
    pub text: String,
}
