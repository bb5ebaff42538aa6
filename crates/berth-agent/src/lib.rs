//! The node agent. Its decisions: from the tasks the server wants here and the containers the
//! runtime shows, what to start, what to stop, and what to report.
//!
//! [`step`] is pure — no runtime, no clock, no network — so the lifecycle rules (dependsOn
//! conditions, essential containers, reverse-order shutdown, start failures, adoption of
//! containers found after a restart) are tested exhaustively without Docker. [`node::run`]
//! is the loop around it: poll the server, run `step`, carry out its actions through a
//! [`berth_runtime::Runtime`], report.

#![forbid(unsafe_code)]

pub mod capture;
pub mod env_files;
pub mod identity;
pub mod metrics;
pub mod node;
pub mod output;
pub mod spec;
pub mod usage;

use berth_client::endpoint::ConnectError;
use berth_model::agent::{ContainerReport, DesiredTask, Resolution, TaskReport};
use berth_model::resources::{ContainerDefinition, NetworkBinding, Timestamp};
use berth_model::sources;
use berth_model::status::{ContainerStatus, HealthStatus, StopCode, TaskStatus};
use berth_runtime::RuntimeError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Why the agent could not talk to the server, or could not start a container.
///
/// Messages include their source's text: they reach people as one line, a log field or, for a
/// container that failed to start, the task's stopped reason.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// No connection to the server: unreachable, or refused in the TLS handshake.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The HTTP exchange with the server broke off.
    #[error("server {server}: {source}")]
    Http {
        server: String,
        source: hyper::Error,
    },
    /// No HTTP request can carry the server's address or the token as given.
    #[error("server {server}: {source}")]
    Request {
        server: String,
        source: hyper::http::Error,
    },
    /// The server answered with something other than the JSON asked for.
    #[error("server {server}: bad answer: {source}")]
    BadAnswer {
        server: String,
        source: serde_json::Error,
    },
    /// The server answered an error other than refusing the agent.
    #[error("server {server}: {status}: {message}")]
    Status {
        server: String,
        status: hyper::StatusCode,
        message: String,
    },
    /// The server did not answer in time.
    #[error("server {server}: no answer within {waited:?}")]
    Timeout { server: String, waited: Duration },
    /// The server refused the join token or the agent's key.
    #[error("server refused the agent: {0}")]
    Refused(String),
    /// The runtime could not pull, create or start the container; the message is ECS's reason.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A start was decided for a container its task does not define.
    #[error("container {0} is not in its task")]
    NotInTask(String),
    /// Something the task needs before it starts (an environment file) could not be had;
    /// the message is ECS's stopped reason.
    #[error("{0}")]
    Unresolved(String),
    /// The task left the server's wanted set before its container started.
    #[error("task no longer wanted")]
    NoLongerWanted,
    /// `--metrics-listen` names an address the agent cannot listen on.
    #[error("cannot serve metrics on {address}: {source}")]
    MetricsListen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// What the runtime shows of one container it runs for a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub task_id: String,
    pub container_name: String,
    pub runtime_id: String,
    pub state: State,
    /// HEALTHY, UNHEALTHY or UNKNOWN.
    pub health: HealthStatus,
    pub network_bindings: Vec<NetworkBinding>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Running {
        started_at: Timestamp,
    },
    Exited {
        exit_code: i32,
        oom_killed: bool,
        finished_at: Timestamp,
    },
}

/// What the agent remembers between steps; it survives only as long as the process, which
/// is fine because everything in it can be re-derived or is only a timestamp.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    /// The secrets of tasks whose containers have not all started, as the server resolved
    /// them: held here (never on disk) from the poll that brought them until the last
    /// container that needs them has started, or the task ends.
    pub secrets: BTreeMap<String, Resolution>,
    /// Tasks that could not start, with ECS's reason (`CannotPullContainerError: …`).
    pub failed_to_start: BTreeMap<String, String>,
    pub pull_started_at: BTreeMap<String, Timestamp>,
    pub stopping_since: BTreeMap<String, Timestamp>,
    /// awsvpc tasks whose containers are being removed (DEPROVISIONING), each with its final
    /// report as it stood when all its containers had exited: the containers that told it
    /// are gone once removed, and the report must reach the server all the same.
    pub deprovisioning: BTreeMap<String, TaskReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Start {
        task_id: String,
        container: String,
    },
    /// Stop signal, then SIGKILL after `timeout_seconds`.
    Stop {
        runtime_id: String,
        timeout_seconds: i64,
    },
    /// Remove an exited container: one the server no longer wants to hear about, or one of
    /// an awsvpc task that is deprovisioning (removal gives its address back).
    Remove {
        runtime_id: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    pub actions: Vec<Action>,
    pub reports: Vec<TaskReport>,
    /// When the earliest task now reported STOPPING only because its containers' exits are
    /// still settling (see [`EXIT_SETTLE_SECONDS`]) can be reported STOPPED: the agent looks
    /// again then, instead of a whole long poll later, so a deployment that waits for its old
    /// tasks to stop is not held up by the agent.
    pub settles_at: Option<Timestamp>,
}

fn name(container: &ContainerDefinition) -> &str {
    container.name.as_deref().unwrap_or("")
}

fn is_running(observed: Option<&&Observed>) -> bool {
    matches!(observed.map(|o| &o.state), Some(State::Running { .. }))
}

/// Whether `dependency`'s state satisfies a dependsOn `condition`.
fn satisfied(condition: &str, dependency: Option<&&Observed>) -> bool {
    matches!(
        (condition, dependency.map(|o| (&o.state, o.health))),
        ("START", Some(_))
            | ("COMPLETE", Some((State::Exited { .. }, _)))
            | ("SUCCESS", Some((State::Exited { exit_code: 0, .. }, _)))
            | (
                "HEALTHY",
                Some((State::Running { .. }, HealthStatus::Healthy))
            )
    )
}

/// How long after a container's exit its final state is trusted: Docker can show a
/// container exited a moment before it records that the kernel OOM-killed it, and a task
/// reported STOPPED is not reported again.
pub const EXIT_SETTLE_SECONDS: f64 = 1.0;

/// The ECS task status an agent reports, from the containers it sees.
fn task_status(
    desired: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
    stopping: bool,
    failed: bool,
    now: Timestamp,
) -> TaskStatus {
    let settling = containers.values().any(|o| match o.state {
        State::Running { .. } => true,
        State::Exited { finished_at, .. } => now - finished_at < EXIT_SETTLE_SECONDS,
    });
    if stopping || failed {
        return if settling {
            TaskStatus::Stopping
        } else {
            TaskStatus::Stopped
        };
    }
    let essential_running = desired
        .containers
        .iter()
        .filter(|c| c.is_essential())
        .all(|c| is_running(containers.get(name(c))));
    if essential_running {
        TaskStatus::Running
    } else if containers.is_empty() {
        TaskStatus::Pending
    } else {
        TaskStatus::Activating
    }
}

/// When every container of a stopping task has exited and its last exit has settled; `None`
/// while one still runs (its stop is under way and ends in an exit the agent hears of).
fn settles_at(containers: &BTreeMap<&str, &Observed>) -> Option<Timestamp> {
    let mut last_exit: Option<Timestamp> = None;
    for observed in containers.values() {
        match observed.state {
            State::Running { .. } => return None,
            State::Exited { finished_at, .. } => {
                last_exit = Some(last_exit.map_or(finished_at, |last| last.max(finished_at)));
            }
        }
    }
    last_exit.map(|at| at + EXIT_SETTLE_SECONDS)
}

/// How long the containers of a task that has ended stay on their machine, so that their
/// output can still be read (`berth logs` of a task that crashed); ECS on EC2 keeps them
/// three hours.
pub const KEEP_ENDED_SECONDS: f64 = 3600.0;
/// The most ended containers kept at once: each may hold up to 32 MiB of output, and a task
/// that restarts in a loop leaves one or more every few seconds.
pub const KEEP_ENDED_CONTAINERS: usize = 50;

/// Removals of the ended containers of tasks the server no longer lists (with when they
/// exited) that are older than [`KEEP_ENDED_SECONDS`] or past the newest
/// [`KEEP_ENDED_CONTAINERS`].
fn expired(mut ended: Vec<(Timestamp, &Observed)>, now: Timestamp) -> Vec<Action> {
    ended.sort_by(|a, b| b.0.total_cmp(&a.0));
    ended
        .into_iter()
        .enumerate()
        .filter(|(kept, (finished_at, _))| {
            *kept >= KEEP_ENDED_CONTAINERS || now - finished_at > KEEP_ENDED_SECONDS
        })
        .map(|(_, (_, container))| Action::Remove {
            runtime_id: container.runtime_id.clone(),
        })
        .collect()
}

/// One decision round for every task on this machine.
pub fn step(
    desired: &[DesiredTask],
    observed: &[Observed],
    memory: &mut Memory,
    now: Timestamp,
) -> Step {
    let mut out = Step::default();
    let wanted: BTreeSet<&str> = desired.iter().map(|t| t.task_id.as_str()).collect();
    // Containers of tasks the server no longer lists: stop what runs; what exited stays a
    // while, for its output.
    let mut ended = Vec::new();
    for orphan in observed
        .iter()
        .filter(|o| !wanted.contains(o.task_id.as_str()))
    {
        match orphan.state {
            State::Running { .. } => out.actions.push(Action::Stop {
                runtime_id: orphan.runtime_id.clone(),
                timeout_seconds: 30,
            }),
            State::Exited { finished_at, .. } => ended.push((finished_at, orphan)),
        }
    }
    out.actions.extend(expired(ended, now));
    memory
        .failed_to_start
        .retain(|id, _| wanted.contains(id.as_str()));
    memory
        .pull_started_at
        .retain(|id, _| wanted.contains(id.as_str()));
    memory
        .stopping_since
        .retain(|id, _| wanted.contains(id.as_str()));
    memory
        .deprovisioning
        .retain(|id, _| wanted.contains(id.as_str()));
    memory.secrets.retain(|id, _| wanted.contains(id.as_str()));

    let mut by_task: BTreeMap<&str, BTreeMap<&str, &Observed>> = BTreeMap::new();
    for o in observed {
        by_task
            .entry(o.task_id.as_str())
            .or_default()
            .insert(o.container_name.as_str(), o);
    }
    for task in desired {
        let containers = by_task.remove(task.task_id.as_str()).unwrap_or_default();
        // What the server heard running and the runtime no longer shows was removed outside
        // Berth: it is never started again under this task's id.
        let removed: BTreeSet<&str> = if memory.deprovisioning.contains_key(&task.task_id) {
            BTreeSet::new()
        } else {
            task.started
                .iter()
                .map(String::as_str)
                .filter(|started| !containers.contains_key(started))
                .collect()
        };
        let essential_exit = task.containers.iter().find(|c| {
            c.is_essential()
                && (removed.contains(name(c))
                    || matches!(
                        containers.get(name(c)).map(|o| &o.state),
                        Some(State::Exited { .. })
                    ))
        });
        if let Some(resolution) = &task.secrets {
            memory
                .secrets
                .insert(task.task_id.clone(), resolution.clone());
        }
        // A deprovisioning task whose exited containers are already removed shows no exit,
        // and must not be started again while the server has not yet heard that it stopped.
        let stopping = task.desired_status == TaskStatus::Stopped
            || essential_exit.is_some()
            || memory.deprovisioning.contains_key(&task.task_id);
        if !stopping && !memory.failed_to_start.contains_key(&task.task_id) {
            if let Some(reason) =
                unresolved_secrets(task, &containers, memory.secrets.get(&task.task_id))
            {
                memory.failed_to_start.insert(task.task_id.clone(), reason);
            }
        }
        let failure = memory.failed_to_start.get(&task.task_id).cloned();
        if stopping || failure.is_some() {
            // When the agent first saw the task end: its stop time when no container tells.
            memory
                .stopping_since
                .entry(task.task_id.clone())
                .or_insert(now);
        }
        let all_started = task
            .containers
            .iter()
            .all(|c| containers.contains_key(name(c)));
        if stopping || failure.is_some() || all_started {
            memory.secrets.remove(&task.task_id);
        }
        if stopping || failure.is_some() {
            // A task that failed to start part-way stops what did start.
            out.actions.extend(stop_in_reverse_order(task, &containers));
        } else {
            out.actions
                .extend(starts(task, &containers, &removed, memory, now));
        }
        let status = task_status(task, &containers, stopping, failure.is_some(), now);
        if status == TaskStatus::Stopping {
            if let Some(at) = settles_at(&containers) {
                out.settles_at = Some(out.settles_at.map_or(at, |earliest| earliest.min(at)));
            }
        }
        let report = report(
            task,
            &containers,
            &removed,
            status,
            essential_exit,
            failure,
            memory,
        );
        out.reports.push(deprovision(
            task,
            &containers,
            report,
            memory,
            &mut out.actions,
        ));
    }
    out
}

/// Why a task cannot go on starting for want of its secrets: the server could not resolve
/// them (then nothing starts at all), or a container that names secrets has yet to start and
/// this agent holds none for it (it restarted after the server stopped sending them).
fn unresolved_secrets(
    task: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
    resolution: Option<&Resolution>,
) -> Option<String> {
    let waiting: Vec<&str> = task
        .containers
        .iter()
        .filter(|c| !containers.contains_key(name(c)) && sources::names_secrets(c))
        .map(name)
        .collect();
    match resolution {
        Some(Resolution::Failed { reason }) if containers.is_empty() || !waiting.is_empty() => {
            Some(reason.clone())
        }
        None if !waiting.is_empty() => Some(format!(
            "{}: this agent holds no secrets for container {}, because it restarted after \
             the task began to start; run the task again",
            sources::FAILURE_PREFIX,
            waiting.join(", ")
        )),
        _ => None,
    }
}

/// ECS's DEPROVISIONING, for awsvpc tasks: once every container has exited (the task would
/// be STOPPED), the task's network attachment is released first — here by removing its
/// containers, which gives their addresses on the Berth network back — and only then is
/// the task STOPPED. Other network modes hold no per-task attachment and go straight on.
///
/// Removal waits until the server wants the task STOPPED: a task that ended on its own is
/// reported (with its stop code) first, so nothing removed is ever needed to start it again.
fn deprovision(
    task: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
    report: TaskReport,
    memory: &mut Memory,
    actions: &mut Vec<Action>,
) -> TaskReport {
    if task.network_mode != "awsvpc" || report.last_status != TaskStatus::Stopped {
        return report;
    }
    if containers.is_empty() {
        // Nothing (left) to remove: STOPPED, with what the containers told before they went.
        return match memory.deprovisioning.get(&task.task_id) {
            Some(last) => last.clone(),
            None => report,
        };
    }
    let last = memory
        .deprovisioning
        .entry(task.task_id.clone())
        .or_insert(report);
    if task.desired_status == TaskStatus::Stopped {
        actions.extend(containers.values().map(|o| Action::Remove {
            runtime_id: o.runtime_id.clone(),
        }));
    }
    TaskReport {
        last_status: TaskStatus::Deprovisioning,
        stopped_at: None,
        ..last.clone()
    }
}

/// The containers whose dependencies are met and that have not run yet.
fn starts(
    task: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
    removed: &BTreeSet<&str>,
    memory: &mut Memory,
    now: Timestamp,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for container in &task.containers {
        if containers.contains_key(name(container)) || removed.contains(name(container)) {
            continue;
        }
        let ready = container
            .depends_on
            .iter()
            .flatten()
            .all(|d| satisfied(&d.condition, containers.get(d.container_name.as_str())));
        if ready {
            memory
                .pull_started_at
                .entry(task.task_id.clone())
                .or_insert(now);
            actions.push(Action::Start {
                task_id: task.task_id.clone(),
                container: name(container).to_string(),
            });
        }
    }
    actions
}

/// Stops running containers that no other running container of the task depends on, so a
/// task shuts down in the reverse of its start order.
fn stop_in_reverse_order(
    task: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
) -> Vec<Action> {
    let needed_by_running: BTreeSet<&str> = task
        .containers
        .iter()
        .filter(|c| is_running(containers.get(name(c))))
        .flat_map(|c| {
            c.depends_on
                .iter()
                .flatten()
                .map(|d| d.container_name.as_str())
        })
        .collect();
    task.containers
        .iter()
        .filter(|c| !needed_by_running.contains(name(c)))
        .filter_map(|c| {
            let observed = containers.get(name(c))?;
            matches!(observed.state, State::Running { .. }).then(|| Action::Stop {
                runtime_id: observed.runtime_id.clone(),
                timeout_seconds: c
                    .stop_timeout
                    .map(i64::from)
                    .unwrap_or(task.stop_timeout_seconds),
            })
        })
        .collect()
}

/// The reason given for a container that was removed outside Berth.
pub const REMOVED_OUTSIDE: &str = "removed outside Berth";

fn report(
    task: &DesiredTask,
    containers: &BTreeMap<&str, &Observed>,
    removed: &BTreeSet<&str>,
    status: TaskStatus,
    essential_exit: Option<&ContainerDefinition>,
    failure: Option<String>,
    memory: &Memory,
) -> TaskReport {
    let started_at = task
        .containers
        .iter()
        .filter_map(|c| match containers.get(name(c))?.state {
            State::Running { started_at } => Some(started_at),
            State::Exited { .. } => None,
        })
        .reduce(f64::min);
    let stopped_at = if status == TaskStatus::Stopped {
        containers
            .values()
            .filter_map(|o| match o.state {
                State::Exited { finished_at, .. } => Some(finished_at),
                State::Running { .. } => None,
            })
            .reduce(f64::max)
            .or(memory.stopping_since.get(&task.task_id).copied())
    } else {
        None
    };
    let (stop_code, stopped_reason) = match (&failure, essential_exit) {
        (Some(reason), _) => (Some(StopCode::TaskFailedToStart), Some(reason.clone())),
        (None, Some(container)) => (
            Some(StopCode::EssentialContainerExited),
            Some(if removed.contains(name(container)) {
                format!(
                    "Essential container in task exited: {} was {REMOVED_OUTSIDE}",
                    name(container)
                )
            } else {
                format!("Essential container in task exited: {}", name(container))
            }),
        ),
        (None, None) => (None, None),
    };
    TaskReport {
        task_arn: task.task_arn.clone(),
        last_status: status,
        containers: task
            .containers
            .iter()
            .map(|c| {
                let failure = match removed.contains(name(c)) {
                    true => Some(REMOVED_OUTSIDE),
                    false => failure.as_deref(),
                };
                container_report(c, containers.get(name(c)), failure)
            })
            .collect(),
        pull_started_at: memory.pull_started_at.get(&task.task_id).copied(),
        pull_stopped_at: started_at.or(memory.pull_started_at.get(&task.task_id).copied()),
        started_at: (status == TaskStatus::Running
            || containers
                .values()
                .any(|o| matches!(o.state, State::Running { .. })))
        .then_some(started_at)
        .flatten(),
        stopping_at: memory.stopping_since.get(&task.task_id).copied(),
        stopped_at,
        stop_code,
        stopped_reason,
    }
}

fn container_report(
    definition: &ContainerDefinition,
    observed: Option<&&Observed>,
    failure: Option<&str>,
) -> ContainerReport {
    let base = ContainerReport {
        name: name(definition).to_string(),
        runtime_id: None,
        last_status: ContainerStatus::Pending,
        exit_code: None,
        reason: None,
        network_bindings: vec![],
        health_status: HealthStatus::Unknown,
        ip_address: None,
    };
    match observed {
        None if failure.is_some() => ContainerReport {
            last_status: ContainerStatus::Stopped,
            reason: failure.map(str::to_string),
            ..base
        },
        None => base,
        Some(o) => {
            let (status, exit_code, reason) = match o.state {
                State::Running { .. } => (ContainerStatus::Running, None, None),
                State::Exited {
                    exit_code,
                    oom_killed,
                    ..
                } => (
                    ContainerStatus::Stopped,
                    Some(exit_code),
                    oom_killed.then(|| {
                        "OutOfMemoryError: Container killed due to memory usage".to_string()
                    }),
                ),
            };
            ContainerReport {
                runtime_id: Some(o.runtime_id.clone()),
                last_status: status,
                exit_code,
                reason,
                network_bindings: o.network_bindings.clone(),
                health_status: if definition.health_check.is_some() {
                    o.health
                } else {
                    HealthStatus::Unknown
                },
                ip_address: o.ip_address.clone(),
                ..base
            }
        }
    }
}

#[cfg(test)]
mod tests;
