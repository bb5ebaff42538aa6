//! The controller round: read the store into the reconciler's view, run the pure reconciler,
//! and write its plan back — new tasks, stop requests, deployment state and service events.
//! Level-triggered: each round starts from what is stored, so a crash between rounds loses
//! nothing and a repeated round does no harm.

use super::targets;
use crate::call::{Cached, Call, Context};
use crate::data_plane::TargetState;
use crate::ecs::container_instances::InstanceRecord;
use crate::ecs::tasks::{self, new_task, request_stop, Launch};
use crate::ecs::{events, names, services, task_definitions, view};
use crate::wake::Generation;
use berth_model::agent;
use berth_model::arn::resource_id;
use berth_model::resources::{Cluster, Service, Task, TaskDefinition};
use berth_model::status::{ClusterStatus, RolloutState, ServiceStatus, StopCause, TaskStatus};
use berth_model::ApiError;
use berth_reconcile::placement;
use berth_reconcile::{self as reconcile, Action, Settings, StopReason};
use berth_store::Collection;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// How long a stopped task stays describable, as on ECS; after that it is forgotten, so
/// rounds and listings do not grow with history.
pub const STOPPED_TASK_RETENTION_SECONDS: f64 = 3600.0;

/// Runs one round over every ACTIVE cluster at `now`, skipping those where nothing changed
/// since a round that wrote nothing (see [`Rounds`]); `seed` draws the placements (`None`:
/// the context's ids). Each cluster's round is a call of its own, published as soon as its
/// writes are committed: readers of the index of tasks (RunTask's placement, ListTasks, a
/// deregistration's check) see the tasks a round placed without waiting for the other
/// clusters. Returns whether anything was written.
pub fn run_round(
    cx: &Context,
    now: f64,
    settings: &Settings,
    seed: Option<u64>,
    rounds: &Rounds,
) -> Result<bool, ApiError> {
    let clusters = cx.as_system(now, |call| call.list::<Cluster>(Collection::Clusters, None))?;
    let active: HashSet<&str> = clusters
        .iter()
        .filter(|c| c.status == ClusterStatus::Active)
        .map(|c| c.cluster_name.as_str())
        .collect();
    rounds.keep(&active);
    cx.wakes().keep_controller_generations(&active);
    let mut changed = false;
    for cluster in clusters
        .iter()
        .filter(|c| c.status == ClusterStatus::Active)
    {
        // Read before anything of the cluster: a write published after it makes the next
        // round look.
        let generation = cx.wakes().controller_generation(&cluster.cluster_name);
        changed |= cx.as_system(now, |call| {
            let round = Round {
                cluster: &cluster.cluster_name,
                lost_after: agent::lost_after(&cluster.tags),
                settings,
                seed: seed.unwrap_or_else(|| call.ids().seed()),
                generation,
                rounds,
            };
            reconcile_cluster(call, &round)
        })?;
    }
    Ok(changed)
}

/// What the controller remembers of each cluster's last round, so that a round's work grows
/// with what changed, not with the cluster:
///
/// - a round is skipped while nothing that concerns the controller was published since a
///   round that wrote nothing, the machines are as that round saw them, and time alone cannot
///   yet change its decisions ([`reconcile::next_change_by_time`], a stopped task's
///   retention);
/// - a round that runs reads only the services that are not settled and their tasks (with
///   what the others hold on each machine, [`reconcile::View::held_elsewhere`]). A service is
///   settled when its last round did nothing to it and wanted nothing it could not have, and
///   since then neither its record nor any of its tasks changed, nor anything that concerns
///   every cluster, nor the machines its tasks are on, and time alone cannot yet change it.
///
/// Services behind a load balancer, and those with draining targets, are never settled (nor
/// their clusters skipped): the data plane's health and drains move on their own.
#[derive(Default)]
pub struct Rounds(Mutex<HashMap<String, Memory>>);

/// What a cluster's last round left.
#[derive(Default)]
struct Memory {
    /// The machines as it saw them.
    instances: Vec<placement::Instance>,
    /// Set when it wrote nothing.
    quiet: Option<Quiet>,
    /// Its settled services, by name.
    settled: HashMap<String, Settled>,
}

/// A cluster whose last round wrote nothing.
#[derive(Debug)]
struct Quiet {
    /// The controller's generation for the cluster when that round began.
    generation: Generation,
    /// When time alone may change its decisions (`None`: never).
    until: Option<f64>,
}

/// A service a round found settled, and what it was settled on.
struct Settled {
    /// Its record as read then (shared with the decode cache, so a later version is another).
    service: Arc<Cached<Service>>,
    /// Its group's last change in the index of tasks.
    group_change: u64,
    /// The part of the controller's generation that concerns every cluster.
    every: u64,
    /// When time alone may change its decisions (`None`: never).
    until: Option<f64>,
}

impl Rounds {
    fn clusters(&self) -> MutexGuard<'_, HashMap<String, Memory>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets the clusters other than `clusters` (those deleted).
    fn keep(&self, clusters: &HashSet<&str>) {
        self.clusters()
            .retain(|cluster, _| clusters.contains(cluster.as_str()));
    }

    fn still_quiet(
        &self,
        cluster: &str,
        generation: Generation,
        instances: &[placement::Instance],
        now: f64,
    ) -> bool {
        self.clusters().get(cluster).is_some_and(|memory| {
            memory.instances == instances
                && memory.quiet.as_ref().is_some_and(|quiet| {
                    quiet.generation == generation && quiet.until.is_none_or(|until| now < until)
                })
        })
    }

    /// The ids of the machines that are not as the cluster's last round saw them (new,
    /// changed or gone): every machine, before a first round.
    fn changed_instances(&self, cluster: &str, instances: &[placement::Instance]) -> Vec<String> {
        let clusters = self.clusters();
        let before: HashMap<&str, &placement::Instance> = clusters
            .get(cluster)
            .map(|memory| {
                memory
                    .instances
                    .iter()
                    .map(|i| (i.id.as_str(), i))
                    .collect()
            })
            .unwrap_or_default();
        let now: HashSet<&str> = instances.iter().map(|i| i.id.as_str()).collect();
        instances
            .iter()
            .filter(|i| before.get(i.id.as_str()) != Some(i))
            .map(|i| i.id.clone())
            .chain(
                before
                    .keys()
                    .filter(|id| !now.contains(*id))
                    .map(|id| id.to_string()),
            )
            .collect()
    }

    /// Whether `service` is settled as it is now.
    fn settled(
        &self,
        cluster: &str,
        service: &Arc<Cached<Service>>,
        group_change: u64,
        every: u64,
        now: f64,
    ) -> bool {
        self.clusters()
            .get(cluster)
            .and_then(|memory| memory.settled.get(&service.value.service_name))
            .is_some_and(|settled| {
                Arc::ptr_eq(&settled.service, service)
                    && settled.group_change == group_change
                    && settled.every == every
                    && settled.until.is_none_or(|until| now < until)
            })
    }
}

/// One cluster's part of a round.
struct Round<'r> {
    cluster: &'r str,
    lost_after: u64,
    settings: &'r Settings,
    seed: u64,
    generation: Generation,
    rounds: &'r Rounds,
}

/// The task definitions a round names, each read once and shared, not copied per task.
struct Definitions<'c, 'a> {
    call: &'c Call<'a>,
    cache: HashMap<String, Option<Arc<TaskDefinition>>>,
}

impl Definitions<'_, '_> {
    fn get(&mut self, arn: &str) -> Result<Option<Arc<TaskDefinition>>, ApiError> {
        if let Some(known) = self.cache.get(arn) {
            return Ok(known.clone());
        }
        let found = task_definitions::resolve(self.call, arn)?.map(Arc::new);
        self.cache.insert(arn.to_string(), found.clone());
        Ok(found)
    }
}

/// Deletes the tasks stopped longer ago than the retention among `keys` (a task changed
/// since it was listed is looked at again next round).
fn forget_old_tasks<'k>(
    call: &Call<'_>,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<(), ApiError> {
    let now = call.now();
    for key in keys {
        call.remove_if(Collection::Tasks, key, |task: &Task| {
            task.last_status == TaskStatus::Stopped
                && task
                    .stopped_at
                    .is_some_and(|at| now - at > STOPPED_TASK_RETENTION_SECONDS)
        })?;
    }
    Ok(())
}

/// Whether a restarted server still waits to hear from the agents of a cluster before it
/// decides anything there: until each has reported every task it holds, or `lost_after`
/// has passed since the start (then those still unheard are lost).
fn awaiting_agents(call: &Call<'_>, records: &[InstanceRecord], lost_after: u64) -> bool {
    let presence = call.presence();
    presence.starting(call.now(), lost_after)
        && records
            .iter()
            .any(|r| r.has_agent() && !presence.synced(r.id()))
}

/// Says once, in the server's log, that an instance's agent is gone and what that costs.
fn tell_lost_instances(call: &Call<'_>, instances: &[placement::Instance], lost_after: u64) {
    for instance in instances.iter().filter(|i| i.lost) {
        if call.presence().tell_lost(&instance.id) {
            tracing::warn!(
                instance = %instance.id,
                lost_after,
                "container instance lost: its agent was not heard from for {lost_after} s; \
                 its tasks are given up and replaced, and stopped on it if it comes back"
            );
        }
    }
}

fn reconcile_cluster(call: &Call<'_>, round: &Round<'_>) -> Result<bool, ApiError> {
    let Round {
        cluster,
        lost_after,
        settings,
        seed,
        generation,
        ..
    } = *round;
    let records: Vec<InstanceRecord> = call.list(Collection::ContainerInstances, Some(cluster))?;
    if awaiting_agents(call, &records, lost_after) {
        return Ok(false);
    }
    let instances = view::instances(call, &records, lost_after);
    if round
        .rounds
        .still_quiet(cluster, generation, &instances, call.now())
    {
        return Ok(false);
    }
    tell_lost_instances(call, &instances, lost_after);
    // Shared with the decode cache, not copied with their events each round.
    let listed = call.list_cached::<Service>(Collection::Services, Some(cluster))?;
    let listed: Vec<&Arc<Cached<Service>>> = listed
        .iter()
        .filter(|s| s.value.status != ServiceStatus::Inactive)
        .collect();
    let groups: Vec<String> = listed
        .iter()
        .map(|s| names::task_group(&s.value.service_name))
        .collect();
    let changed_instances = round.rounds.changed_instances(cluster, &instances);
    let changed_instances: Vec<&str> = changed_instances.iter().map(String::as_str).collect();
    let outline = call.tasks_outline(
        cluster,
        &groups.iter().map(String::as_str).collect::<Vec<_>>(),
        &changed_instances,
        call.now() - STOPPED_TASK_RETENTION_SECONDS,
    )?;
    let forgotten: HashSet<&str> = outline
        .stopped_before
        .iter()
        .map(|(_, group)| group.as_str())
        .collect();
    // The services this round reads: those not settled, those whose tasks are on machines
    // that changed or are forgotten now.
    let due: BTreeSet<String> = listed
        .iter()
        .zip(&groups)
        .zip(&outline.group_changes)
        .filter(|((service, group), change)| {
            !service.value.load_balancers.is_empty()
                || outline.groups_on.contains(*group)
                || forgotten.contains(group.as_str())
                || !round
                    .rounds
                    .settled(cluster, service, **change, generation.0, call.now())
        })
        .map(|((_, group), _)| group.clone())
        .collect();
    forget_old_tasks(
        call,
        outline.stopped_before.iter().map(|(key, _)| key.as_str()),
    )?;
    let part = call.cluster_part(cluster, &due, &changed_instances)?;
    call.prometheus().tasks_read(cluster, part.tasks.len());
    let stored_tasks = part.tasks;
    let stored_services: Vec<&Service> = listed
        .iter()
        .map(|s| &s.value)
        .filter(|s| due.contains(&names::task_group(&s.service_name)))
        .collect();
    let mut definitions = Definitions {
        call,
        cache: HashMap::new(),
    };

    let addresses = targets::instance_addresses(call, cluster)?;
    let mut balancing = Balancing {
        services: stored_services
            .iter()
            .filter(|s| !s.load_balancers.is_empty())
            .map(|s| (s.service_name.clone(), *s))
            .collect(),
        addresses: &addresses,
        modes: HashMap::new(),
    };
    // Tasks a target group found unhealthy, with that group: their stop says so.
    let mut failed_checks: HashMap<String, String> = HashMap::new();
    let mut tasks = Vec::new();
    for task in stored_tasks.iter().map(|t| &t.value) {
        let mut seen = view::task(task);
        let definition = definitions.get(&task.task_definition_arn)?;
        let container_checks = definition.as_ref().is_some_and(|d| d.has_health_check());
        seen.checked_health = container_checks;
        if let Some(balanced) = seen
            .service
            .as_ref()
            .and_then(|s| balancing.services.get(s).copied())
        {
            let states = balancing.states(call, balanced, task)?;
            let (combined, failed_group) = targets::task_health(
                container_checks.then_some(seen.health),
                &states,
                task.started_at,
                f64::from(balanced.health_check_grace_period_seconds.unwrap_or(0)),
                call.now(),
            );
            seen.checked_health = true;
            seen.health = combined;
            if let Some(group) = failed_group {
                failed_checks.insert(seen.id.clone(), group);
            }
        }
        tasks.push(seen);
    }
    let mut services_view = Vec::new();
    for service in stored_services.iter().copied() {
        let mut deployments = Vec::new();
        for deployment in &service.deployments {
            let Some(definition) = definitions.get(&deployment.task_definition)? else {
                continue;
            };
            deployments.push(reconcile::Deployment {
                id: deployment.id.clone(),
                task_definition: deployment.task_definition.clone(),
                resources: view::resources(&definition),
                rollout: deployment.rollout_state.unwrap_or_default(),
            });
        }
        let config = &service.deployment_configuration;
        let strategies = service
            .placement_strategy
            .iter()
            .filter_map(|s| placement::strategy(s.kind.as_deref()?, s.field.as_deref()).ok())
            .collect();
        let constraints = service
            .placement_constraints
            .iter()
            .filter_map(|c| placement::constraint(c.kind.as_deref()?, c.expression.as_deref()).ok())
            .collect();
        let circuit_breaker = config
            .deployment_circuit_breaker
            .as_ref()
            .filter(|b| b.enable)
            .map(|b| b.rollback);
        // Only a rollback looks for it; without one, no round reads the service's history.
        let last_completed = if circuit_breaker == Some(true) {
            last_completed(call, cluster, service)?
        } else {
            None
        };
        services_view.push(reconcile::Service {
            name: service.service_name.clone(),
            desired_count: service.desired_count,
            minimum_healthy_percent: i64::from(config.minimum_healthy_percent.unwrap_or(100)),
            maximum_percent: i64::from(config.maximum_percent.unwrap_or(200)),
            deployments,
            strategies,
            constraints,
            circuit_breaker,
            last_completed,
            active: service.status == ServiceStatus::Active,
        });
    }
    let view = reconcile::View {
        instances,
        services: services_view,
        tasks,
        held_elsewhere: part.held_elsewhere,
    };
    let plan = reconcile::reconcile(&view, settings, call.now(), seed);
    // A round's writes share one commit: placing a thousand tasks is one fsync, not a
    // thousand, and the agents hear of them together.
    let written = call.batch(|| {
        carry_out(
            call,
            cluster,
            lost_after,
            &plan,
            &stored_services
                .iter()
                .map(|s| (s.service_name.as_str(), *s))
                .collect(),
            &stored_tasks,
            &mut definitions,
            &mut balancing,
            &failed_checks,
        )
    })??;
    let data_plane_moves = !balancing.services.is_empty()
        || stored_tasks
            .iter()
            .any(|t| t.value.last_status == TaskStatus::Deactivating);
    let changes_by_time = reconcile::next_changes_by_time(&view, settings, call.now());
    let unsettled = unsettled_services(&view, &plan, &written, &balancing);
    let mut clusters = round.rounds.clusters();
    let memory = clusters.entry(cluster.to_string()).or_default();
    memory.settled.retain(|name, _| {
        listed.iter().any(|s| &s.value.service_name == name)
            && !due.contains(&names::task_group(name))
    });
    for service in listed.iter().filter(|s| {
        let name = &s.value.service_name;
        due.contains(&names::task_group(name)) && !unsettled.contains(name.as_str())
    }) {
        let name = &service.value.service_name;
        memory.settled.insert(
            name.clone(),
            Settled {
                service: Arc::clone(service),
                group_change: part
                    .group_changes
                    .get(&names::task_group(name))
                    .copied()
                    .unwrap_or(0),
                every: generation.0,
                until: changes_by_time.get(&Some(name.as_str())).copied(),
            },
        );
    }
    memory.instances = view.instances.clone();
    memory.quiet = (!written.any && !data_plane_moves).then(|| {
        let forgotten = outline
            .first_stopped_at
            .map(|at| at + STOPPED_TASK_RETENTION_SECONDS);
        let until = memory
            .settled
            .values()
            .filter_map(|s| s.until)
            .chain(changes_by_time.values().copied())
            .chain(forgotten)
            .min_by(f64::total_cmp);
        Quiet { generation, until }
    });
    Ok(written.any)
}

/// The services of a round's view that it leaves unsettled: those it did or planned
/// anything for, those that want what they cannot have (no machine takes their tasks, or
/// starts are held back: a report with events), and those behind a load balancer.
fn unsettled_services<'v>(
    view: &'v reconcile::View,
    plan: &reconcile::Plan,
    written: &Written,
    balancing: &Balancing<'_>,
) -> HashSet<&'v str> {
    let service_of: HashMap<&str, &str> = view
        .tasks
        .iter()
        .filter_map(|t| Some((t.id.as_str(), t.service.as_deref()?)))
        .collect();
    let mut unsettled: HashSet<&str> = view
        .services
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| written.services.contains(*name) || balancing.services.contains_key(*name))
        .collect();
    for action in &plan.actions {
        let service = match action {
            Action::Start { service, .. } => view
                .services
                .iter()
                .find(|s| &s.name == service)
                .map(|s| s.name.as_str()),
            Action::Stop { task, .. } | Action::Lose { task } | Action::Assign { task, .. } => {
                service_of.get(task.as_str()).copied()
            }
        };
        unsettled.extend(service);
    }
    for report in plan.services.iter().filter(|r| !r.events.is_empty()) {
        unsettled.extend(
            view.services
                .iter()
                .find(|s| s.name == report.service)
                .map(|s| s.name.as_str()),
        );
    }
    unsettled
}

/// What a round wrote.
#[derive(Default)]
struct Written {
    any: bool,
    /// The services whose record or tasks it wrote, by name.
    services: HashSet<String>,
}

/// Writes a round's plan: the tasks it starts, assigns, stops and loses, the drains that
/// finished, and each service's counts and events.
#[allow(clippy::too_many_arguments)]
fn carry_out(
    call: &Call<'_>,
    cluster: &str,
    lost_after: u64,
    plan: &reconcile::Plan,
    stored_services: &HashMap<&str, &Service>,
    stored_tasks: &[Arc<Cached<Task>>],
    definitions: &mut Definitions<'_, '_>,
    balancing: &mut Balancing<'_>,
    failed_checks: &HashMap<String, String>,
) -> Result<Written, ApiError> {
    let mut changed = false;
    let mut started: HashMap<String, Vec<String>> = HashMap::new();
    let mut stopped: HashMap<String, Vec<String>> = HashMap::new();
    let mut lost: HashMap<String, Vec<String>> = HashMap::new();
    let mut draining: HashMap<String, usize> = HashMap::new();
    for action in &plan.actions {
        match action {
            Action::Start {
                service,
                deployment,
                instance,
            } => {
                let Some(stored) = stored_services.get(service.as_str()) else {
                    continue;
                };
                let Some(definition_arn) = stored
                    .deployments
                    .iter()
                    .find(|d| &d.id == deployment)
                    .map(|d| d.task_definition.clone())
                else {
                    continue;
                };
                let Some(definition) = definitions.get(&definition_arn)? else {
                    continue;
                };
                let launch = Launch {
                    group: names::task_group(service),
                    started_by: Some(deployment.clone()),
                    launch_type: stored.launch_type.clone(),
                    overrides: None,
                    tags: Vec::new(),
                    enable_execute_command: stored.enable_execute_command,
                };
                let task = new_task(
                    call,
                    cluster,
                    &definition,
                    &launch,
                    Some(call.arns().container_instance(cluster, instance)),
                );
                let id = resource_id(&task.task_arn).to_string();
                call.insert(Collection::Tasks, &id, cluster, &task)?;
                call.prometheus().placed(cluster);
                started.entry(service.clone()).or_default().push(id);
                changed = true;
            }
            Action::Assign { task, instance } => {
                let arn = call.arns().container_instance(cluster, instance);
                call.modify(Collection::Tasks, task, |t: &mut Task| {
                    if t.container_instance_arn.is_none() {
                        t.container_instance_arn = Some(arn.clone());
                        t.version += 1;
                    }
                    Ok::<_, ApiError>(())
                })?;
                call.prometheus().placed(cluster);
                changed = true;
            }
            Action::Lose { task } => {
                let now = call.now();
                // The task's service, if it had one, once it is given up.
                let given_up = call.modify(Collection::Tasks, task, |t: &mut Task| {
                    let service = names::service_of(&t.group).map(str::to_string);
                    Ok::<_, ApiError>(tasks::lose(t, lost_after, now).then_some(service))
                })?;
                if let Some(service) = given_up.flatten() {
                    changed = true;
                    if let Some(service) = service {
                        lost.entry(service).or_default().push(task.clone());
                    }
                }
            }
            Action::Stop { task, reason } => {
                let now = call.now();
                let cause = match (reason, failed_checks.get(task)) {
                    (StopReason::Unhealthy, Some(group)) => StopCause::FailedTargetHealthChecks {
                        target_group_arn: group.clone(),
                    },
                    (StopReason::Unhealthy, None) => StopCause::FailedContainerHealthChecks,
                    (StopReason::ScaledIn, _) => StopCause::ScaledIn,
                    (StopReason::Deployment, _) => StopCause::ReplacedByDeployment,
                    (StopReason::InstanceDraining, _) => StopCause::InstanceDraining,
                    (StopReason::ServiceDeleted, _) => StopCause::ServiceDeleted,
                };
                let outcome = call.modify(Collection::Tasks, task, |t: &mut Task| {
                    if t.desired_status == TaskStatus::Stopped {
                        return Ok::<_, ApiError>(None);
                    }
                    let service = names::service_of(&t.group).map(str::to_string);
                    let behind_balancer = service
                        .as_ref()
                        .is_some_and(|s| balancing.services.contains_key(s));
                    let drains =
                        request_stop(t, cause.clone(), cause.reason(), now, behind_balancer);
                    Ok(service.map(|s| (s, drains)))
                })?;
                if let Some(Some((service, drains))) = outcome {
                    if drains {
                        *draining.entry(service.clone()).or_default() += 1;
                    }
                    stopped.entry(service).or_default().push(task.clone());
                    changed = true;
                }
            }
        }
    }
    let deregistered = finish_drains(call, balancing, stored_tasks)?;
    changed |= !deregistered.is_empty();
    let mut services: HashSet<String> = started
        .keys()
        .chain(stopped.keys())
        .chain(lost.keys())
        .chain(deregistered.keys())
        .cloned()
        .collect();
    for report in &plan.services {
        let notes = Notes {
            lost: lost.get(&report.service),
            lost_after,
            started: started.get(&report.service),
            stopped: stopped.get(&report.service),
            draining: draining.get(&report.service).copied().unwrap_or(0),
            deregistered: deregistered.get(&report.service),
        };
        if apply_report(call, cluster, report, &notes)? {
            changed = true;
            services.insert(report.service.clone());
        }
    }
    Ok(Written {
        any: changed,
        services,
    })
}

/// The services of a cluster whose tasks are load balancer targets, and what it takes to
/// find their tasks' targets.
struct Balancing<'s> {
    services: HashMap<String, &'s Service>,
    addresses: &'s HashMap<String, IpAddr>,
    /// Network mode by task definition ARN.
    modes: HashMap<String, Option<TaskDefinition>>,
}

impl Balancing<'_> {
    fn targets(
        &mut self,
        call: &Call<'_>,
        service: &Service,
        task: &Task,
    ) -> Result<Vec<(String, SocketAddr)>, ApiError> {
        let mode = targets::network_mode(call, &mut self.modes, &task.task_definition_arn)?;
        let address = targets::instance_address(self.addresses, task);
        Ok(targets::task_targets(service, task, &mode, address))
    }

    /// The live state of each of the task's targets (`None`: no group holds it).
    fn states(
        &mut self,
        call: &Call<'_>,
        service: &Service,
        task: &Task,
    ) -> Result<Vec<(String, Option<TargetState>)>, ApiError> {
        Ok(self
            .targets(call, service, task)?
            .into_iter()
            .map(|(group, addr)| {
                let state = call.data_plane().target_state(&group, addr);
                (group, state)
            })
            .collect())
    }
}

/// Moves DEACTIVATING tasks that no target group holds any more (drained, or never
/// registered) on to STOPPING, where the agent sends the stop signal. Returns, per service,
/// how many targets left each group.
fn finish_drains(
    call: &Call<'_>,
    balancing: &mut Balancing<'_>,
    tasks: &[Arc<Cached<Task>>],
) -> Result<HashMap<String, BTreeMap<String, usize>>, ApiError> {
    let mut deregistered: HashMap<String, BTreeMap<String, usize>> = HashMap::new();
    for task in tasks
        .iter()
        .map(|t| &t.value)
        .filter(|t| t.last_status == TaskStatus::Deactivating)
    {
        let service_name = names::service_of(&task.group).unwrap_or_default();
        let targets = match balancing.services.get(service_name).copied() {
            Some(service) => balancing.states(call, service, task)?,
            None => Vec::new(),
        };
        if targets.iter().any(|(_, state)| state.is_some()) {
            continue;
        }
        let moved = call.modify(
            Collection::Tasks,
            resource_id(&task.task_arn),
            |t: &mut Task| {
                if t.last_status != TaskStatus::Deactivating {
                    return Ok::<_, ApiError>(false);
                }
                t.last_status = TaskStatus::Stopping;
                t.version += 1;
                Ok(true)
            },
        )?;
        if moved == Some(true) {
            let counts = deregistered.entry(service_name.to_string()).or_default();
            for (group, _) in targets {
                *counts.entry(group).or_default() += 1;
            }
        }
    }
    Ok(deregistered)
}

/// What a round did to one service's tasks, for its events.
struct Notes<'r> {
    /// Tasks given up with their lost instance, and after how long unheard.
    lost: Option<&'r Vec<String>>,
    lost_after: u64,
    started: Option<&'r Vec<String>>,
    stopped: Option<&'r Vec<String>>,
    /// Tasks whose drain began.
    draining: usize,
    /// Targets that left each target group, by group ARN.
    deregistered: Option<&'r BTreeMap<String, usize>>,
}

/// Writes a service's counts, deployment changes and events. Repeated events are kept once.
fn apply_report(
    call: &Call<'_>,
    cluster: &str,
    report: &reconcile::ServiceReport,
    notes: &Notes<'_>,
) -> Result<bool, ApiError> {
    let name = &report.service;
    // Oldest first: they are put on top of the list one after the other.
    let mut messages: Vec<String> = Vec::new();
    if let Some(ids) = notes.lost {
        messages.push(events::lost(ids, notes.lost_after));
    }
    if let Some(groups) = notes.deregistered {
        for (group, count) in groups {
            messages.push(events::deregistered(*count, group));
        }
    }
    if let Some(ids) = notes.started {
        messages.push(events::started(ids));
    }
    if let Some(ids) = notes.stopped {
        messages.push(events::stopped(ids));
    }
    if notes.draining > 0 {
        messages.push(events::draining(notes.draining));
    }
    messages.extend(report.events.iter().map(events::planned));
    let key = names::key(cluster, name);
    // Most rounds change nothing of most services: seeing so costs a look at the stored
    // service, not a copy, an encoding and a comparison of it.
    let quiet = messages.is_empty()
        && report.rollout.is_none()
        && report.rollback_to.is_none()
        && report.finished.is_empty();
    if quiet {
        if let Some(stored) = call.get_cached::<Service>(Collection::Services, &key)? {
            if counts_hold(&stored.value, report) {
                return Ok(false);
            }
        }
    }
    let now = call.now();
    let mut left_completed = None;
    let mut rollout_ended = None;
    let changed = call.modify(Collection::Services, &key, |service: &mut Service| {
        let before = service.clone();
        service.running_count = report.running;
        service.pending_count = report.pending;
        left_completed = service
            .deployments
            .iter()
            .filter(|d| report.finished.contains(&d.id))
            .find(|d| d.rollout_state == Some(RolloutState::Completed))
            .map(|d| History {
                service_created_at: service.created_at,
                last_completed_task_definition: d.task_definition.clone(),
            });
        service
            .deployments
            .retain(|d| !report.finished.contains(&d.id));
        for counts in &report.counts {
            if let Some(d) = service.deployments.iter_mut().find(|d| d.id == counts.id) {
                d.running_count = counts.running;
                d.pending_count = counts.pending;
                d.failed_tasks = counts.failed;
            }
        }
        rollout_ended = None;
        if let Some(state) = report.rollout {
            if let Some(primary) = service.deployments.first_mut() {
                let ends = matches!(state, RolloutState::Completed | RolloutState::Failed);
                if ends && primary.rollout_state != Some(state) {
                    rollout_ended = Some(state);
                }
                primary.rollout_state = Some(state);
                primary.rollout_state_reason = Some(events::rollout_reason(state, &primary.id));
                primary.updated_at = now;
                if state == RolloutState::Failed {
                    messages.push(events::breaker_tripped(
                        &primary.id,
                        report.breaker_failures.as_deref().unwrap_or_default(),
                    ));
                }
            }
        }
        if let Some(previous) = &report.rollback_to {
            services::roll_back(service, previous, call.ids(), now);
            messages.push(events::rolling_back(previous));
        }
        events::push(service, &messages, call.ids(), now);
        Ok::<_, ApiError>(*service != before)
    })?;
    if let Some(state) = rollout_ended {
        let outcome = match state {
            RolloutState::Failed => "failed",
            _ => "completed",
        };
        call.prometheus().deployment_ended(cluster, name, outcome);
    }
    if let Some(history) = left_completed {
        call.put(Collection::ServiceHistory, &key, cluster, &history)?;
    }
    Ok(changed == Some(true))
}

/// Whether the service already shows the report's counts, its own and its deployments'.
fn counts_hold(service: &Service, report: &reconcile::ServiceReport) -> bool {
    service.running_count == report.running
        && service.pending_count == report.pending
        && report.counts.iter().all(|counts| {
            service
                .deployments
                .iter()
                .find(|d| d.id == counts.id)
                .is_none_or(|d| {
                    d.running_count == counts.running
                        && d.pending_count == counts.pending
                        && d.failed_tasks == counts.failed
                })
        })
}

/// What a service's deployments leave behind when they leave its `deployments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct History {
    /// Tells this service from an earlier one of the same name.
    service_created_at: f64,
    last_completed_task_definition: String,
}

/// The task definition of the service's last COMPLETED deployment other than the PRIMARY,
/// which a circuit-breaker rollback returns to: the newest such deployment still listed,
/// otherwise the one recorded when it left the list (its tasks gone before the PRIMARY
/// failed, as with a low `minimumHealthyPercent`).
fn last_completed(
    call: &Call<'_>,
    cluster: &str,
    service: &Service,
) -> Result<Option<String>, ApiError> {
    let listed = service
        .deployments
        .iter()
        .skip(1)
        .find(|d| d.rollout_state == Some(RolloutState::Completed));
    if let Some(deployment) = listed {
        return Ok(Some(deployment.task_definition.clone()));
    }
    let history = call.get::<History>(
        Collection::ServiceHistory,
        &names::key(cluster, &service.service_name),
    )?;
    Ok(history
        .filter(|h| h.service_created_at == service.created_at)
        .map(|h| h.last_completed_task_definition))
}
