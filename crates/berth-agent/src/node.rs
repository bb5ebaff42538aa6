//! The agent loop: register, then observe the runtime, decide with [`crate::step`], act, and
//! long-poll the server with the reports, until told to stop; a poll's answer may also ask
//! for pages of containers' output ([`crate::output`]), read and posted beside the loop. Everything is level-triggered: a
//! failed poll changes nothing on the machine (tasks keep running), and the next one carries
//! the full picture again.

use crate::capture::{self, Capture};
use crate::identity::{Identity, Registered};
use crate::metrics;
use crate::output;
use crate::usage::Sampler;
use crate::{env_files, spec, step, Action, AgentError, Memory, Observed, State, Step};
use berth_client::endpoint::Endpoint;
use berth_model::agent::{
    ContainerSecrets, DesiredTask, PollRequest, PollResponse, RegisterRequest, RegisterResponse,
    Resolution, TaskReport, MAX_REPORTS_PER_POLL,
};
use berth_model::resources::{ContainerDefinition, NetworkBinding};
use berth_model::status::HealthStatus;
use berth_runtime::{
    ContainerState, ContainerStatus, Health, RegistryCredentials, Runtime, RuntimeError,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// The server, over plain HTTP or TLS.
    pub server: Endpoint,
    pub token: String,
    pub registration: RegisterRequest,
    /// How long a poll may be held open when nothing changes; also how stale a report of a
    /// container that changed on its own (exited, turned unhealthy) can get.
    pub poll_wait_seconds: u64,
    /// How often the running containers' usage is sampled and reported.
    pub sample_every: Duration,
    /// Where to answer `GET /metrics`, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// One JSON call to the server over a fresh connection.
pub(crate) async fn call<Req: Serialize, Resp: DeserializeOwned>(
    endpoint: &Endpoint,
    path: &str,
    bearer: &str,
    body: &Req,
    timeout: Duration,
) -> Result<Resp, AgentError> {
    let server = endpoint.url();
    let http = |source| AgentError::Http {
        server: server.to_string(),
        source,
    };
    let work = async {
        let stream = endpoint.connect().await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http)?;
        tokio::spawn(connection);
        let request = Request::post(path)
            .header("host", endpoint.authority())
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {bearer}"))
            .body(Full::new(Bytes::from(
                serde_json::to_vec(body).expect("agent requests serialize to JSON"),
            )))
            .map_err(|source| AgentError::Request {
                server: server.to_string(),
                source,
            })?;
        let response = sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(http)?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|source| AgentError::BadAnswer {
                server: server.to_string(),
                source,
            });
        }
        // The server's errors are `{"__type", "message"}`; the message says what to do.
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|body| body.get("message")?.as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).to_string());
        if status.as_u16() == 403 {
            return Err(AgentError::Refused(message));
        }
        Err(AgentError::Status {
            server: server.to_string(),
            status,
            message,
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| AgentError::Timeout {
            server: server.to_string(),
            waited: timeout,
        })?
}

fn observed(status: ContainerStatus) -> Option<Observed> {
    let state = match status.state {
        ContainerState::Running { started_at } => State::Running { started_at },
        ContainerState::Exited {
            exit_code,
            oom_killed,
            finished_at,
            ..
        } => State::Exited {
            exit_code: i32::try_from(exit_code).unwrap_or(i32::MAX),
            oom_killed,
            finished_at,
        },
        ContainerState::Created => return None,
    };
    Some(Observed {
        task_id: status.task_id,
        container_name: status.container_name,
        runtime_id: status.id,
        state,
        health: match status.health {
            Health::Healthy => HealthStatus::Healthy,
            Health::Unhealthy => HealthStatus::Unhealthy,
            Health::Unknown => HealthStatus::Unknown,
        },
        network_bindings: status
            .network_bindings
            .iter()
            .map(|b| NetworkBinding {
                bind_ip: Some(b.bind_ip.to_string()),
                container_port: Some(i32::from(b.container_port)),
                host_port: Some(i32::from(b.host_port)),
                protocol: Some(b.protocol.as_str().to_string()),
            })
            .collect(),
        ip_address: status.ip_address.map(|ip| ip.to_string()),
    })
}

/// Registers, retrying while the server cannot be reached or answers an error, until it
/// refuses the join token: that is final, since no token becomes valid later.
async fn register(config: &Config) -> Result<RegisterResponse, AgentError> {
    let mut delay = Duration::from_millis(200);
    loop {
        match call(
            &config.server,
            "/agent/v1/register",
            &config.token,
            &config.registration,
            Duration::from_secs(10),
        )
        .await
        {
            Ok(response) => return Ok(response),
            Err(refused @ AgentError::Refused(_)) => return Err(refused),
            Err(e) => {
                tracing::warn!(error = %e, "registration failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Whether `stop` has completed, without waiting for it.
async fn stop_requested(stop: &mut Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        () = stop => true,
        () = std::future::ready(()) => false,
    }
}

/// Runs the agent until `stop` completes, or until the server refuses its join token, which it
/// returns. A stop ends the agent between rounds, never inside one: every container a round
/// began to start is started first, since one the engine created but the agent never started
/// would be left behind.
pub async fn run<R: Runtime>(
    runtime: Arc<R>,
    config: Config,
    stop: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let mut stop = std::pin::pin!(stop);
    // Bound before anything else, so an address that cannot be had stops the agent at once.
    let metrics_listener = match config.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|source| AgentError::MetricsListen { address, source })?,
        ),
        None => None,
    };
    let mut registration = tokio::select! {
        registered = register(&config) => registered?,
        () = &mut stop => return Ok(()),
    };
    tracing::info!(instance = %registration.container_instance_arn, runtime = runtime.name(), "agent registered");
    let identity = Identity::new(
        &registration.container_instance_arn,
        &registration.agent_key,
    );
    let capture = Capture::start(
        Arc::clone(&runtime),
        config.server.clone(),
        identity.clone(),
    );
    let sampler = Sampler::start(
        Arc::clone(&runtime),
        config.server.clone(),
        identity.clone(),
        config.sample_every,
    );
    let _metrics = metrics_listener.map(|listener| {
        let registry = metrics::registry(sampler.view(), &config.registration.cluster);
        AbortOnDrop(tokio::spawn(metrics::serve(listener, Arc::new(registry))))
    });
    let mut desired: Vec<DesiredTask> = Vec::new();
    let mut version: Option<String> = None;
    let mut reports = Reports::default();
    let mut memory = Memory::default();
    let stopping: Arc<Mutex<HashSet<String>>> = Arc::default();
    // Woken when a stop ends, so its exit is seen (and reported) at once, not when the poll
    // under way returns.
    let stopped = Arc::new(tokio::sync::Notify::new());
    // What the round before saw, with what it started and removed: after a start the agent
    // steps again at once, and what it started is all that it needs to know anew. Listing
    // every container again would cost time that grows with the containers running.
    let mut carried: Option<Vec<Observed>> = None;
    // Pages of output read for readers on the server; the server bounds how many it asks for
    // at once, and they end with the agent.
    let mut answering = tokio::task::JoinSet::new();
    loop {
        if stop_requested(&mut stop).await {
            return Ok(());
        }
        let mut seen = match carried.take() {
            Some(seen) => seen,
            None => match look(runtime.as_ref()).await {
                Ok(seen) => seen,
                Err(e) => {
                    tracing::warn!(error = %e, "runtime list failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut stop => return Ok(()),
                    }
                    continue;
                }
            },
        };
        capture.follow(&desired, &seen, &memory.secrets);
        sampler.follow(&desired, &seen);
        // Nothing is decided before the server has said what it wants: a restarted agent
        // would take every container it runs for an orphan and stop it.
        let decided = match version {
            Some(_) => step(&desired, &seen, &mut memory, berth_time::now()),
            None => Step::default(),
        };
        let mut starts = Vec::new();
        for action in decided.actions {
            match action {
                Action::Start { task_id, container } => starts.push((task_id, container)),
                Action::Stop {
                    runtime_id,
                    timeout_seconds,
                } => {
                    let fresh = stopping
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(runtime_id.clone());
                    if fresh {
                        let runtime = Arc::clone(&runtime);
                        let stopping = Arc::clone(&stopping);
                        let stopped = Arc::clone(&stopped);
                        tokio::spawn(async move {
                            let timeout = Duration::from_secs(timeout_seconds.max(0) as u64);
                            if let Err(e) = runtime.stop(&runtime_id, timeout).await {
                                tracing::warn!(container = %runtime_id, error = %e, "stop failed");
                            }
                            stopping
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&runtime_id);
                            stopped.notify_one();
                        });
                    }
                }
                // Its output goes with it: it stays until all of that is shipped.
                Action::Remove { runtime_id } if capture.shipping(&runtime_id) => {}
                Action::Remove { runtime_id } => match runtime.remove(&runtime_id).await {
                    Ok(()) => seen.retain(|o| o.runtime_id != runtime_id),
                    Err(e) => {
                        tracing::warn!(container = %runtime_id, error = %e, "remove failed")
                    }
                },
            }
        }
        let acted = !starts.is_empty();
        let begun: HashSet<&str> = seen.iter().map(|o| o.task_id.as_str()).collect();
        let started = start_all(&runtime, &desired, &memory.secrets, &begun, starts).await;
        for (task_id, container, started) in started {
            match started {
                Ok(status) => seen.extend(observed(status)),
                Err(error) => {
                    let reason = error.to_string();
                    tracing::warn!(task = %task_id, container = %container, %reason, "container failed to start");
                    memory.failed_to_start.insert(task_id, reason);
                }
            }
        }
        if acted {
            // Step again at once, so the server hears of the start without waiting a poll.
            // The poll after it lists afresh.
            carried = Some(seen);
            continue;
        }
        let busy = !stopping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        // A task whose exit settles soon is reported without waiting on the server, and the
        // agent looks again when it has settled, to report it STOPPED.
        let settle = decided
            .settles_at
            .map(|at| Duration::from_secs_f64((at - berth_time::now()).clamp(0.0, 5.0)));
        reports.observe(decided.reports);
        let (sending, synced) = reports.next();
        let poll = PollRequest {
            container_instance_arn: registration.container_instance_arn.clone(),
            known_version: version.clone(),
            wait_seconds: match settle {
                _ if reports.more_after(sending.len()) => 0,
                Some(_) => 0,
                None if busy => 1,
                None => config.poll_wait_seconds,
            },
            reports: sending,
            synced,
            page_after: None,
            keeps_unchanged: true,
        };
        let timeout = Duration::from_secs(poll.wait_seconds + 10);
        let polling = async {
            let first = call::<_, PollResponse>(
                &config.server,
                "/agent/v1/poll",
                &registration.agent_key,
                &poll,
                timeout,
            )
            .await
            .map_err(|e| (e, false))?;
            // The first page came, so the reports reached the server whatever follows.
            rest_of_set(&config.server, &poll, &registration.agent_key, first)
                .await
                .map_err(|e| (e, true))
        };
        // Nothing is lost with a poll given up: what it reported is reported again.
        let answered = tokio::select! {
            answered = polling => answered,
            () = stopped.notified(), if busy => continue,
            () = &mut stop => return Ok(()),
        };
        let answered = match answered {
            Ok(answer) => {
                reports.acknowledge(&poll.reports, poll.synced);
                Ok(answer)
            }
            Err((error, reached)) => {
                if reached {
                    reports.acknowledge(&poll.reports, poll.synced);
                }
                Err(error)
            }
        };
        match answered {
            Ok(answer) => {
                while answering.try_join_next().is_some() {}
                for request in answer.output_requests {
                    let runtime = Arc::clone(&runtime);
                    let server = config.server.clone();
                    let Registered {
                        instance_arn,
                        agent_key,
                    } = identity.get();
                    answering.spawn(async move {
                        output::answer(
                            runtime.as_ref(),
                            &server,
                            instance_arn,
                            &agent_key,
                            request,
                        )
                        .await;
                    });
                }
                if answer.resync {
                    reports.resync();
                }
                if !answer.unchanged {
                    reports.keep_only(&answer.tasks);
                    desired = answer.tasks;
                }
                version = Some(answer.version);
                if let Some(settle) = settle {
                    tokio::select! {
                        () = tokio::time::sleep(settle) => {}
                        () = &mut stop => return Ok(()),
                    }
                }
            }
            Err(AgentError::Refused(reason)) => {
                tracing::warn!(%reason, "server no longer knows this agent; registering again");
                registration = tokio::select! {
                    registered = register(&config) => registered?,
                    () = &mut stop => return Ok(()),
                };
                identity.set(
                    &registration.container_instance_arn,
                    &registration.agent_key,
                );
                version = None;
                reports = Reports::default();
            }
            Err(e) => {
                // Tasks keep running; what the server has not acknowledged is reported again.
                tracing::warn!(
                    error = %e,
                    "poll failed; tasks keep running, and the agent retries every second \
                     (the server gives this machine's tasks up once it goes unheard for the \
                     cluster's lost_after)"
                );
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = &mut stop => return Ok(()),
                }
            }
        }
    }
}

/// The task reports the server has yet to acknowledge. Each poll carries at most
/// [`MAX_REPORTS_PER_POLL`] of them; a report leaves the list once a poll that carried it
/// was answered and stays out while the task's state is what it said.
#[derive(Default)]
struct Reports {
    /// The latest report of every task the server lists, by task ARN.
    latest: BTreeMap<String, TaskReport>,
    /// What the server acknowledged of each task.
    acknowledged: BTreeMap<String, TaskReport>,
    /// Reporting every task again, as the server asked in an answer (so the agent has
    /// decided since, and `latest` holds every task); ends with the poll that carries the
    /// last of them.
    resyncing: bool,
}

impl Reports {
    fn observe(&mut self, reports: Vec<TaskReport>) {
        for report in reports {
            self.latest.insert(report.task_arn.clone(), report);
        }
    }

    fn pending(&self) -> impl Iterator<Item = &TaskReport> {
        self.latest
            .values()
            .filter(|r| self.acknowledged.get(&r.task_arn) != Some(r))
    }

    /// The reports of the next poll, and whether they complete a resync.
    fn next(&self) -> (Vec<TaskReport>, bool) {
        let sending: Vec<TaskReport> = self.pending().take(MAX_REPORTS_PER_POLL).cloned().collect();
        let complete = !self.more_after(sending.len());
        (sending, self.resyncing && complete)
    }

    /// Whether more than `sent` reports are pending: the agent polls again at once.
    fn more_after(&self, sent: usize) -> bool {
        self.pending().nth(sent).is_some()
    }

    fn acknowledge(&mut self, sent: &[TaskReport], synced: bool) {
        for report in sent {
            self.acknowledged
                .insert(report.task_arn.clone(), report.clone());
        }
        if synced {
            self.resyncing = false;
        }
    }

    fn resync(&mut self) {
        if !self.resyncing {
            self.resyncing = true;
            self.acknowledged.clear();
        }
    }

    /// Forgets the tasks the server no longer lists.
    fn keep_only(&mut self, tasks: &[DesiredTask]) {
        let listed: HashSet<&str> = tasks.iter().map(|t| t.task_arn.as_str()).collect();
        self.latest.retain(|arn, _| listed.contains(arn.as_str()));
        self.acknowledged
            .retain(|arn, _| listed.contains(arn.as_str()));
    }
}

/// The desired set whole: `first` with the pages after it. A set that changes while its
/// pages are read is read again from its first page, a few times at most.
async fn rest_of_set(
    server: &Endpoint,
    poll: &PollRequest,
    agent_key: &str,
    first: PollResponse,
) -> Result<PollResponse, AgentError> {
    // Pages are answered at once and carry no reports.
    let page = |page_after: Option<String>| {
        let ask = PollRequest {
            container_instance_arn: poll.container_instance_arn.clone(),
            known_version: None,
            wait_seconds: 0,
            reports: Vec::new(),
            synced: false,
            page_after,
            keeps_unchanged: true,
        };
        async move {
            call::<_, PollResponse>(server, "/agent/v1/poll", agent_key, &ask, PAGE_TIMEOUT).await
        }
    };
    let mut whole = first;
    // Output requests are each sent once: kept whatever happens to the pages that bore them.
    let mut asked = Vec::new();
    for _ in 0..4 {
        loop {
            let Some(after) = whole.next_page.take() else {
                whole.output_requests.append(&mut asked);
                return Ok(whole);
            };
            let mut next = page(Some(after)).await?;
            asked.append(&mut next.output_requests);
            if next.version != whole.version {
                break;
            }
            whole.tasks.extend(next.tasks);
            whole.next_page = next.next_page;
        }
        asked.append(&mut whole.output_requests);
        whole = page(None).await?;
    }
    Err(AgentError::Status {
        server: server.url().to_string(),
        status: hyper::StatusCode::CONFLICT,
        message: "the desired set kept changing while its pages were read".into(),
    })
}

/// How long a page of the desired set may take.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ends a task of the agent's when the agent ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every container of the agent's scope as [`step`] sees it; containers created but never
/// started (left over from an interrupted start) are removed instead.
async fn look<R: Runtime>(runtime: &R) -> Result<Vec<Observed>, RuntimeError> {
    let mut seen = Vec::new();
    for status in runtime.list().await? {
        let id = status.id.clone();
        match observed(status) {
            Some(o) => seen.push(o),
            None => {
                let _ = runtime.remove(&id).await;
            }
        }
    }
    Ok(seen)
}

/// Starts the containers of different tasks at once, so a deployment's new tasks start
/// together rather than one after another, and each task's own containers in order: one
/// step only starts containers whose dependencies already hold, but a task's containers share
/// what its first start sets up (an awsvpc task's network). `begun` are the tasks with a
/// container already: for the others, every container's environment files are read before
/// the first container starts, so a file that cannot be had starts nothing.
async fn start_all<R: Runtime>(
    runtime: &Arc<R>,
    desired: &[DesiredTask],
    secrets: &BTreeMap<String, Resolution>,
    begun: &HashSet<&str>,
    starts: Vec<(String, String)>,
) -> Vec<(String, String, Result<ContainerStatus, AgentError>)> {
    let mut by_task: Vec<(String, Vec<String>)> = Vec::new();
    for (task_id, container) in starts {
        match by_task.iter_mut().find(|(id, _)| *id == task_id) {
            Some((_, containers)) => containers.push(container),
            None => by_task.push((task_id, vec![container])),
        }
    }
    let mut starting = tokio::task::JoinSet::new();
    for (task_id, containers) in by_task {
        let runtime = Arc::clone(runtime);
        let task = desired.iter().find(|t| t.task_id == task_id).cloned();
        let mut secrets = match secrets.get(&task_id) {
            Some(Resolution::Resolved { containers }) => containers.clone(),
            _ => BTreeMap::new(),
        };
        let first = !begun.contains(task_id.as_str());
        starting.spawn(async move {
            let Some(task) = task else {
                return containers
                    .into_iter()
                    .map(|c| (task_id.clone(), c, Err(AgentError::NoLongerWanted)))
                    .collect();
            };
            let mut env_files = match read_env_files(&task, &containers, first).await {
                Ok(read) => read,
                Err(reason) => {
                    return containers
                        .into_iter()
                        .map(|c| {
                            let failed = Err(AgentError::Unresolved(reason.clone()));
                            (task_id.clone(), c, failed)
                        })
                        .collect();
                }
            };
            let mut results = Vec::with_capacity(containers.len());
            for container in containers {
                let resolved = Resolved {
                    secrets: secrets.remove(&container),
                    env_files: env_files.remove(&container).unwrap_or_default(),
                };
                let started = start(runtime.as_ref(), &task, &container, resolved).await;
                results.push((task_id.clone(), container, started));
            }
            results
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = starting.join_next().await {
        match joined {
            Ok(started) => results.extend(started),
            // Nothing was recorded, so the next step tries the start again.
            Err(e) => tracing::error!(error = %e, "a container start panicked"),
        }
    }
    results
}

/// What a container gets beyond its definition, read or resolved for its start only.
struct Resolved {
    secrets: Option<ContainerSecrets>,
    env_files: Vec<(String, String)>,
}

/// The environment files' variables of the containers about to start, by container; of
/// every container of the task when it is the task's first start. The error is the task's
/// stopped reason.
async fn read_env_files(
    task: &DesiredTask,
    starting: &[String],
    first: bool,
) -> Result<BTreeMap<String, Vec<(String, String)>>, String> {
    let definitions: Vec<ContainerDefinition> = task
        .containers
        .iter()
        .filter(|c| {
            first
                || starting
                    .iter()
                    .any(|s| Some(s.as_str()) == c.name.as_deref())
        })
        .filter(|c| c.environment_files.as_ref().is_some_and(|f| !f.is_empty()))
        .cloned()
        .collect();
    if definitions.is_empty() {
        return Ok(BTreeMap::new());
    }
    tokio::task::spawn_blocking(move || {
        let mut read = BTreeMap::new();
        let mut problems = Vec::new();
        for definition in definitions {
            match env_files::read(&definition) {
                Ok(pairs) => {
                    read.insert(definition.name.clone().unwrap_or_default(), pairs);
                }
                Err(reason) => problems.push(reason),
            }
        }
        if problems.is_empty() {
            Ok(read)
        } else {
            Err(problems.join("; "))
        }
    })
    .await
    .map_err(|e| format!("{}: {e}", env_files::FAILURE_PREFIX))?
}

async fn start<R: Runtime>(
    runtime: &R,
    task: &DesiredTask,
    container: &str,
    resolved: Resolved,
) -> Result<ContainerStatus, AgentError> {
    let definition = task
        .containers
        .iter()
        .find(|c| c.name.as_deref() == Some(container))
        .ok_or_else(|| AgentError::NotInTask(container.to_string()))?;
    let secrets = resolved.secrets.as_ref();
    let destination = capture::check(definition, secrets)?;
    let mut spec = spec::container_spec(task, definition, secrets, resolved.env_files)?;
    spec.output_backpressure = destination.is_some_and(|d| d.blocking);
    let credentials =
        secrets
            .and_then(|s| s.registry_auth.as_ref())
            .map(|auth| RegistryCredentials {
                username: auth.username.clone(),
                password: auth.password.expose().to_string(),
            });
    runtime
        .ensure_image(&spec.image, credentials.as_ref())
        .await?;
    Ok(runtime.start(&spec).await?)
}
