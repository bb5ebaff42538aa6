//! Ships what containers write to the server's log store, for every container whose task
//! definition logs with the `awslogs` driver. One reader per container follows its runtime's
//! output from just after what the server says it holds, joins lines into events
//! ([`joiner`]) and queues them; one shipper sends the queue in batches over
//! `POST /agent/v1/logs`.
//!
//! Nothing is kept on the agent but in memory. The runtime keeps each container's output
//! (Docker's own log, the process runtime's files) and the server keeps each stream's
//! position, so after a crash of either, a lost answer or a restart, the agent reads on from
//! what the server has, and the server drops what it already holds: no line is lost or
//! shipped twice. The queue is bounded, so a server that does not answer slows the readers,
//! not the containers, whose output waits on disk within the runtime's bounds. In `awslogs`'
//! blocking mode (the default) on a runtime that can hold writers back
//! ([`Runtime::holds_output`]), the runtime is told each position the server keeps, and a
//! container whose kept output is all unshipped waits to write rather than lose its oldest
//! lines. A container is removed only once all it wrote is shipped ([`Capture::shipping`]).

pub mod joiner;

use crate::identity::Identity;
use crate::node::call;
use crate::AgentError;
use berth_client::endpoint::Endpoint;
use berth_model::agent::{
    ContainerSecrets, DesiredTask, Resolution, ShipLogsRequest, ShipLogsResponse, ShippedEvent,
    ShippedStream,
};
use berth_model::awslogs::{self, Destination, Joining};
use berth_model::resources::ContainerDefinition;
use berth_runtime::{ContainerState, Runtime, RuntimeError};
use futures_util::StreamExt;
use joiner::{Joiner, Line};
use regex::Regex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How many events may wait for the shipper before readers wait in turn.
const QUEUE: usize = 20_000;
/// A batch's bounds: CloudWatch's own for PutLogEvents (10,000 events, 1 MiB).
const BATCH_EVENTS: usize = 10_000;
const BATCH_BYTES: usize = 1 << 20;
/// How long the first event of a batch waits for company.
const BATCH_WAIT: Duration = Duration::from_millis(100);
/// How often a reader looks whether its pending multi-line event has waited enough.
const JOIN_TICK: Duration = Duration::from_millis(250);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A container's stream, and what shipping it acknowledges.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StreamKey {
    group: String,
    stream: String,
    runtime_id: String,
    /// The runtime holds the container's writes until its output is shipped (`awslogs` in
    /// blocking mode), so it is told each position the server keeps.
    held: bool,
}

enum Queued {
    Event {
        /// Shared: every event of a stream names it.
        key: Arc<StreamKey>,
        create_group: bool,
        event: joiner::Event,
    },
    /// Answered once everything queued before it is kept by the server.
    Drained(oneshot::Sender<()>),
}

/// Where each container's capture stands, by runtime id: decided once per container, so a
/// round looks again only at containers it has not seen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Following {
    /// It does not log with `awslogs` (or its options cannot be used).
    Unshipped,
    Shipping,
    Shipped,
}

/// Dropping it ends its readers and shipper: what they had not shipped is read again by the
/// next agent, from what the server holds.
pub struct Capture<R> {
    shared: Arc<Shared<R>>,
    tasks: Mutex<tokio::task::JoinSet<()>>,
}

struct Shared<R> {
    runtime: Arc<R>,
    server: Endpoint,
    identity: Identity,
    containers: Mutex<HashMap<String, Following>>,
    queue: mpsc::Sender<Queued>,
    /// The position each held container was last told is shipped: it only ever rises, and
    /// the lock keeps two tellings from overtaking each other on the way to the runtime.
    acknowledged: tokio::sync::Mutex<HashMap<String, u64>>,
}

impl<R: Runtime> Capture<R> {
    /// A capture shipping to `server` as the registered instance, with its shipper running.
    pub fn start(runtime: Arc<R>, server: Endpoint, identity: Identity) -> Capture<R> {
        let (queue, queued) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared {
            runtime,
            server,
            identity,
            containers: Mutex::default(),
            queue,
            acknowledged: tokio::sync::Mutex::default(),
        });
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(ship(Arc::clone(&shared), queued));
        Capture {
            shared,
            tasks: Mutex::new(tasks),
        }
    }

    /// Starts following every container in `seen` whose task is `desired` and that logs with
    /// `awslogs`, unless it is followed or shipped already; forgets containers gone.
    pub fn follow(
        &self,
        desired: &[DesiredTask],
        seen: &[crate::Observed],
        secrets: &BTreeMap<String, Resolution>,
    ) {
        let mut containers = self.containers();
        let present: HashSet<&str> = seen.iter().map(|o| o.runtime_id.as_str()).collect();
        containers.retain(|id, _| present.contains(id.as_str()));
        for observed in seen {
            if containers.contains_key(&observed.runtime_id) {
                continue;
            }
            let Some(task) = desired.iter().find(|t| t.task_id == observed.task_id) else {
                continue;
            };
            let Some(definition) = task
                .containers
                .iter()
                .find(|c| c.name.as_deref() == Some(observed.container_name.as_str()))
            else {
                continue;
            };
            let container_secrets = secrets
                .get(&task.task_id)
                .and_then(|resolved| resolved.container(&observed.container_name));
            let found = awslogs::destination_with_secrets(definition, container_secrets)
                .and_then(|d| d.map(|d| joining(&d).map(|regex| (d, regex))).transpose());
            let (destination, starts) = match found {
                Ok(Some(found)) => found,
                Ok(None) => {
                    containers.insert(observed.runtime_id.clone(), Following::Unshipped);
                    continue;
                }
                Err(problem) => {
                    // The start checked the same options; only a container started before
                    // them, by an agent that did not check, gets here. Nothing will ship its
                    // output, so it must not wait for that.
                    tracing::warn!(container = %observed.runtime_id, %problem, "output not shipped");
                    containers.insert(observed.runtime_id.clone(), Following::Unshipped);
                    if self.shared.runtime.holds_output() {
                        let runtime = Arc::clone(&self.shared.runtime);
                        let id = observed.runtime_id.clone();
                        self.spawn(async move {
                            if let Err(e) = runtime.output_shipped(&id, u64::MAX).await {
                                tracing::warn!(container = %id, error = %e, "cannot release a container's held output");
                            }
                        });
                    }
                    continue;
                }
            };
            let key = Arc::new(StreamKey {
                stream: destination.stream(
                    &observed.container_name,
                    &observed.task_id,
                    &observed.runtime_id,
                ),
                group: destination.group.clone(),
                runtime_id: observed.runtime_id.clone(),
                held: destination.blocking && self.shared.runtime.holds_output(),
            });
            containers.insert(observed.runtime_id.clone(), Following::Shipping);
            let reader = Reader {
                shared: Arc::clone(&self.shared),
                runtime_id: observed.runtime_id.clone(),
                key,
                create_group: destination.create_group,
                starts,
            };
            self.spawn(reader.run());
        }
    }

    fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        // Reap what is done, so the set holds only what runs.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(work);
    }

    /// Whether the container's output is still being shipped: it must not be removed yet.
    pub fn shipping(&self, runtime_id: &str) -> bool {
        self.containers().get(runtime_id) == Some(&Following::Shipping)
    }

    fn containers(&self) -> std::sync::MutexGuard<'_, HashMap<String, Following>> {
        self.shared
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// The regular expression that starts a multi-line event, compiled.
fn joining(destination: &Destination) -> Result<Option<Regex>, String> {
    match &destination.joining {
        Joining::Lines => Ok(None),
        Joining::StartsWith(pattern) => Regex::new(pattern).map(Some).map_err(|e| {
            format!(
                "{}: awslogs-multiline-pattern {pattern:?} is not a regular expression: {e}",
                awslogs::FAILURE_PREFIX
            )
        }),
    }
}

/// Whether a container's log options can be used, checked before it starts; the error is
/// the task's stopped reason. The destination, when it ships with `awslogs`.
pub fn check(
    definition: &ContainerDefinition,
    secrets: Option<&ContainerSecrets>,
) -> Result<Option<Destination>, AgentError> {
    let destination =
        awslogs::destination_with_secrets(definition, secrets).map_err(AgentError::Unresolved)?;
    if let Some(destination) = &destination {
        joining(destination).map_err(AgentError::Unresolved)?;
    }
    Ok(destination)
}

struct Reader<R> {
    shared: Arc<Shared<R>>,
    runtime_id: String,
    key: Arc<StreamKey>,
    create_group: bool,
    starts: Option<Regex>,
}

impl<R: Runtime> Reader<R> {
    /// Follows the container until all it wrote is shipped, or it is gone.
    async fn run(self) {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.follow().await {
                Ok(()) => break,
                // The group went away (deleted while the container ran): once the container
                // has ended too, nothing will take its output, and it must not be kept forever.
                Err(AgentError::Unresolved(why)) if !self.running().await => {
                    tracing::warn!(container = %self.runtime_id, %why, "output of an ended container not shipped");
                    break;
                }
                // While it runs, its output is shipped once the group is back; meanwhile a
                // held container must not wait for a server that refuses its output.
                Err(AgentError::Unresolved(why)) => {
                    tracing::warn!(container = %self.runtime_id, %why, "output not shipped for now; reading on from what the server holds");
                    self.shared.acknowledge(&self.key, u64::MAX).await;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::warn!(container = %self.runtime_id, error = %e, "following output failed; reading on from what the server holds");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.shared
            .acknowledged
            .lock()
            .await
            .remove(&self.runtime_id);
        let mut containers = self
            .shared
            .containers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(state) = containers.get_mut(&self.runtime_id) {
            *state = Following::Shipped;
        }
    }

    /// One pass: from what the server holds to the end of the container's output. `Ok` when
    /// all is shipped or the container is gone; an error starts another pass.
    async fn follow(&self) -> Result<(), AgentError> {
        let after = self.shared.position(&self.key, self.create_group).await?;
        if let Some(kept) = after {
            // The server may hold more than the runtime was told before an agent restart.
            self.shared.acknowledge(&self.key, kept).await;
        }
        let mut lines = self.shared.runtime.output(&self.runtime_id, after);
        let mut joiner = Joiner::new(self.starts.clone());
        let began = Instant::now();
        let mut tick = tokio::time::interval(JOIN_TICK);
        loop {
            tokio::select! {
                line = lines.next() => match line {
                    Some(Ok(line)) => {
                        let line = Line {
                            position: line.position,
                            timestamp: line.written_at_nanos.div_euclid(1_000_000),
                            text: line.text,
                        };
                        for event in joiner.push(line, began.elapsed()) {
                            self.queue(event).await;
                        }
                    }
                    Some(Err(RuntimeError::NotFound(_))) => return Ok(()),
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                },
                _ = tick.tick(), if joiner.is_pending() => {
                    if let Some(event) = joiner.flush_idle(began.elapsed()) {
                        self.queue(event).await;
                    }
                }
            }
        }
        if let Some(event) = joiner.finish() {
            self.queue(event).await;
        }
        let (drained, shipped) = oneshot::channel();
        if self
            .shared
            .queue
            .send(Queued::Drained(drained))
            .await
            .is_ok()
        {
            let _ = shipped.await;
        }
        Ok(())
    }

    async fn running(&self) -> bool {
        let status = self.shared.runtime.inspect(&self.runtime_id).await;
        status.is_ok_and(|s| matches!(s.state, ContainerState::Running { .. }))
    }

    async fn queue(&self, event: joiner::Event) {
        let queued = Queued::Event {
            key: self.key.clone(),
            create_group: self.create_group,
            event,
        };
        // The shipper lives as long as the capture; a send fails only while the agent ends.
        let _ = self.shared.queue.send(queued).await;
    }
}

impl<R: Runtime> Shared<R> {
    /// Tells the runtime the container's output through `position` is kept, when it holds
    /// the container's writes until then and has not been told of a later position
    /// (`u64::MAX` releases it for good).
    async fn acknowledge(&self, key: &StreamKey, position: u64) {
        if !key.held {
            return;
        }
        let mut acknowledged = self.acknowledged.lock().await;
        if acknowledged
            .get(&key.runtime_id)
            .is_some_and(|&told| told >= position)
        {
            return;
        }
        match self.runtime.output_shipped(&key.runtime_id, position).await {
            Ok(()) => {
                acknowledged.insert(key.runtime_id.clone(), position);
            }
            Err(e) => {
                tracing::warn!(container = %key.runtime_id, error = %e, "cannot record what is shipped; its writes may wait");
            }
        }
    }
}

impl<R> Shared<R> {
    async fn send(&self, request: &mut ShipLogsRequest) -> Result<ShipLogsResponse, AgentError> {
        let identity = self.identity.get();
        request.container_instance_arn = identity.instance_arn;
        call(
            &self.server,
            "/agent/v1/logs",
            &identity.agent_key,
            &*request,
            CALL_TIMEOUT,
        )
        .await
    }

    /// The last position of the stream the server holds (creating it, and its group when
    /// asked, as the driver does when a container starts).
    async fn position(
        &self,
        key: &StreamKey,
        create_group: bool,
    ) -> Result<Option<u64>, AgentError> {
        let mut request = ShipLogsRequest {
            container_instance_arn: String::new(),
            streams: vec![ShippedStream {
                group: key.group.clone(),
                stream: key.stream.clone(),
                create_group,
                events: Vec::new(),
            }],
        };
        let answer = self.send(&mut request).await?;
        match answer.streams.into_iter().next() {
            Some(position) => match position.error {
                None => Ok(position.captured_through),
                Some(error) => Err(AgentError::Unresolved(error)),
            },
            None => Err(AgentError::Unresolved(
                "the server answered for no stream".to_string(),
            )),
        }
    }
}

/// Sends what readers queue, in batches, each until the server has kept it.
async fn ship<R: Runtime>(shared: Arc<Shared<R>>, mut queued: mpsc::Receiver<Queued>) {
    while let Some(first) = queued.recv().await {
        let mut batch = vec![first];
        let mut bytes = 0;
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while !matches!(batch.last(), Some(Queued::Drained(_)))
            && batch.len() < BATCH_EVENTS
            && bytes < BATCH_BYTES
        {
            tokio::select! {
                next = queued.recv() => match next {
                    Some(next) => {
                        if let Queued::Event { event, .. } = &next {
                            bytes += event.message.len();
                        }
                        batch.push(next);
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut streams: BTreeMap<Arc<StreamKey>, ShippedStream> = BTreeMap::new();
        let mut drained = Vec::new();
        for item in batch {
            match item {
                Queued::Event {
                    key,
                    create_group,
                    event,
                } => streams
                    .entry(key)
                    .or_insert_with_key(|key| ShippedStream {
                        group: key.group.clone(),
                        stream: key.stream.clone(),
                        create_group,
                        events: Vec::new(),
                    })
                    .events
                    .push(ShippedEvent {
                        position: event.position,
                        timestamp: event.timestamp,
                        message: event.message,
                    }),
                Queued::Drained(done) => drained.push(done),
            }
        }
        if !streams.is_empty() {
            let keys: Vec<Arc<StreamKey>> = streams.keys().cloned().collect();
            let mut request = ShipLogsRequest {
                container_instance_arn: String::new(),
                streams: streams.into_values().collect(),
            };
            let mut delay = Duration::from_millis(200);
            loop {
                match shared.send(&mut request).await {
                    Ok(answer) => {
                        for (stream, kept) in request.streams.iter().zip(answer.streams) {
                            if let Some(error) = kept.error {
                                tracing::warn!(group = %stream.group, stream = %stream.stream, %error, "log events dropped");
                            }
                        }
                        // Dropped events are gone for good too: a held writer goes on.
                        for (key, stream) in keys.iter().zip(&request.streams) {
                            if let Some(last) = stream.events.last() {
                                shared.acknowledge(key, last.position).await;
                            }
                        }
                        break;
                    }
                    Err(e) => {
                        // The lines wait in the queue, the rest on the runtime's disk.
                        tracing::warn!(error = %e, "shipping logs failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
        for done in drained {
            let _ = done.send(());
        }
    }
}
