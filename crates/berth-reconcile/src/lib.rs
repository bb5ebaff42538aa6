//! The pure reconciler: `reconcile(view, settings, now, seed) -> Plan`.
//!
//! It reads what is wanted (services, their deployments and counts) and what is observed
//! (instances and tasks), and returns what to do next: tasks to start where, tasks to stop
//! and why, deployment state changes and service events. It does no I/O, reads no clock and
//! draws randomness only from the seed it is given, so every decision is reproducible and
//! tested in milliseconds. It is level-triggered: it never needs to know why it ran, and
//! running it again on the same view gives the same plan.

#![forbid(unsafe_code)]

pub mod placement;
pub mod query;

pub use berth_model::status::{HealthStatus, RolloutState};
use placement::{Constraint, Instance, Occupant, Placer, Request, Resources, Strategy};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A small deterministic random source (SplitMix64), seeded by the caller.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Wanted, not yet running: PROVISIONING through ACTIVATING.
    Pending,
    Running,
    /// Told to stop, still shutting down: holds its resources and keeps its deployment
    /// listed, but is neither wanted nor healthy.
    Stopping,
    /// Gone: counts towards nothing but failure history.
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub service: Option<String>,
    pub deployment: Option<String>,
    pub instance: Option<String>,
    pub group: String,
    pub resources: Resources,
    pub desired_running: bool,
    pub phase: Phase,
    pub health: HealthStatus,
    /// Whether health is judged by checks (container health check or load balancer target);
    /// without them a task counts as healthy once it has run for `Settings::healthy_after`.
    pub checked_health: bool,
    pub running_since: Option<f64>,
    pub stopped_at: Option<f64>,
    /// Why it stopped, when it stopped because it failed.
    pub failure: Option<Failure>,
}

/// How a task failed, as the circuit breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// It never ran: the image could not be pulled, or the container not started.
    FailedToStart,
    /// An essential container exited.
    Exited,
    /// It failed its container or load balancer health checks.
    FailedHealthChecks,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub task_definition: String,
    pub resources: Resources,
    pub rollout: RolloutState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub desired_count: i64,
    pub minimum_healthy_percent: i64,
    pub maximum_percent: i64,
    /// Newest first: the first is PRIMARY.
    pub deployments: Vec<Deployment>,
    pub strategies: Vec<Strategy>,
    pub constraints: Vec<Constraint>,
    /// `Some(rollback)` when the deployment circuit breaker is on.
    pub circuit_breaker: Option<bool>,
    /// The task definition of the last deployment that completed, for rollbacks.
    pub last_completed: Option<String>,
    /// False once DeleteService ran: every task stops.
    pub active: bool,
}

impl Service {
    pub fn group(&self) -> String {
        format!("service:{}", self.name)
    }
}

/// What a round reconciles: the cluster's instances, and its services and tasks, or some of
/// them. A view may hold only part of the cluster (the services whose inputs changed, with
/// their tasks): then `held_elsewhere` says what the tasks left out hold on each instance, so
/// its placements never overcommit a machine. Services left out must be settled (a round
/// over them would do nothing): a part's plan is then the whole's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub instances: Vec<Instance>,
    pub services: Vec<Service>,
    pub tasks: Vec<Task>,
    /// By instance id: what tasks outside the view hold there.
    pub held_elsewhere: HashMap<String, Resources>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How long a task without health checks must run before it counts as healthy.
    pub healthy_after: f64,
    /// First delay once starts keep failing; it doubles per further failure.
    pub backoff_base: f64,
    pub backoff_max: f64,
    /// Consecutive failures that start the back-off.
    pub failures_before_backoff: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            healthy_after: 5.0,
            backoff_base: 5.0,
            backoff_max: 300.0,
            failures_before_backoff: 3,
        }
    }
}

/// Why the plan stops a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    ScaledIn,
    /// Replaced by a newer deployment.
    Deployment,
    /// Its container or load balancer health checks failed.
    Unhealthy,
    InstanceDraining,
    ServiceDeleted,
}

/// Something worth telling a service's owner, in the service's events. The controller
/// writes each in ECS's words; the plan's own starts and stops are told from its actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Starts are held back after repeated failures.
    UnableToStartConsistently,
    /// No instance can take a task; `reason` in ECS's terms (`RESOURCE:MEMORY`, …).
    UnableToPlace {
        reason: String,
    },
    DeploymentCompleted {
        deployment: String,
    },
    SteadyState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Start {
        service: String,
        deployment: String,
        instance: String,
    },
    /// Place a standalone task (RunTask) that was recorded before any instance could take it.
    Assign {
        task: String,
        instance: String,
    },
    Stop {
        task: String,
        reason: StopReason,
    },
    /// Give up a task whose instance is lost: it counts as stopped from now on, and its
    /// agent, if it comes back, stops it because the server no longer lists it.
    Lose {
        task: String,
    },
}

/// What the plan says about one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceReport {
    pub service: String,
    /// (deployment id, running, pending, failed) for every deployment that stays.
    pub counts: Vec<DeploymentCounts>,
    /// Old deployments with no tasks left: they leave `deployments`.
    pub finished: Vec<String>,
    /// A new rollout state for the PRIMARY deployment.
    pub rollout: Option<RolloutState>,
    /// Start a new deployment of this task definition (circuit breaker rollback).
    pub rollback_to: Option<String>,
    pub running: i64,
    pub pending: i64,
    pub events: Vec<Event>,
    /// When the circuit breaker failed the PRIMARY deployment: how many of its tasks failed
    /// in each way, most common first (ECS only ever says they failed to start).
    pub breaker_failures: Option<Vec<(Failure, usize)>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentCounts {
    pub id: String,
    pub running: i64,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub services: Vec<ServiceReport>,
}

/// The most tasks a rollout may run at once: maximumPercent of desired, rounded down.
pub fn maximum_tasks(desired: i64, maximum_percent: i64) -> i64 {
    desired * maximum_percent / 100
}

/// The fewest healthy tasks a rollout must keep: minimumHealthyPercent of desired, rounded up.
pub fn minimum_healthy_tasks(desired: i64, minimum_healthy_percent: i64) -> i64 {
    (desired * minimum_healthy_percent + 99) / 100
}

/// ECS's circuit breaker threshold: half the desired count, clamped to [3, 200].
pub fn circuit_breaker_threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// Wanted and not shutting down: what the rollout arithmetic counts.
fn is_live(task: &Task) -> bool {
    task.desired_running && matches!(task.phase, Phase::Pending | Phase::Running)
}

/// Still on its instance, wanted or not: what holds resources and keeps a deployment listed.
fn is_present(task: &Task) -> bool {
    task.phase != Phase::Stopped
}

fn is_healthy(task: &Task, settings: &Settings, now: f64) -> bool {
    task.phase == Phase::Running
        && task.desired_running
        && task.health != HealthStatus::Unhealthy
        && if task.checked_health {
            task.health == HealthStatus::Healthy
        } else {
            task.running_since
                .is_some_and(|since| now - since >= settings.healthy_after)
        }
}

/// A placer over the view's instances, less what its tasks and those held elsewhere hold (a
/// stopping task holds what it reserved until it is gone): what a round places with, and
/// what a task placed outside a round (RunTask) is placed with.
pub fn placer(view: &View) -> Placer {
    let occupants: Vec<Occupant> = view
        .tasks
        .iter()
        .filter(|t| is_present(t))
        .filter_map(|t| {
            Some(Occupant {
                instance: t.instance.clone()?,
                group: t.group.clone(),
                resources: t.resources,
            })
        })
        .collect();
    let instances: Vec<Instance> = view
        .instances
        .iter()
        .map(|instance| {
            let mut instance = instance.clone();
            if let Some(held) = view.held_elsewhere.get(&instance.id) {
                instance.registered.cpu -= held.cpu;
                instance.registered.memory -= held.memory;
            }
            instance
        })
        .collect();
    Placer::new(&instances, &occupants)
}

/// Whether a task holds resources on its instance (placed and not yet stopped): what
/// [`View::held_elsewhere`] adds up.
pub fn holds_resources(task: &Task) -> bool {
    is_present(task) && task.instance.is_some()
}

/// The tasks still held on lost instances: given up at once, so a service's replacements
/// are placed in the same round and counted against `maximumPercent` as if those were gone.
fn lose_tasks(view: &View) -> (Vec<Action>, Option<View>) {
    let lost: BTreeSet<&str> = view
        .instances
        .iter()
        .filter(|i| i.lost)
        .map(|i| i.id.as_str())
        .collect();
    let held = |t: &Task| {
        t.phase != Phase::Stopped
            && t.instance
                .as_deref()
                .is_some_and(|instance| lost.contains(instance))
    };
    if lost.is_empty() || !view.tasks.iter().any(held) {
        return (Vec::new(), None);
    }
    let mut actions = Vec::new();
    let mut rest = view.clone();
    for task in rest.tasks.iter_mut().filter(|t| held(t)) {
        actions.push(Action::Lose {
            task: task.id.clone(),
        });
        task.phase = Phase::Stopped;
        task.desired_running = false;
        task.failure = None;
    }
    (actions, Some(rest))
}

pub fn reconcile(view: &View, settings: &Settings, now: f64, seed: u64) -> Plan {
    let (lost, rest) = lose_tasks(view);
    let view = rest.as_ref().unwrap_or(view);
    let mut rng = Rng::new(seed);
    let mut placer = placer(view);
    let mut plan = Plan {
        actions: lost,
        ..Plan::default()
    };
    let waiting = view
        .tasks
        .iter()
        .filter(|t| t.service.is_none() && t.instance.is_none() && is_live(t));
    for task in waiting {
        let request = Request {
            group: &task.group,
            resources: task.resources,
            strategies: &[],
            constraints: &[],
        };
        if let Ok(instance) = placer.place(&request, &mut rng) {
            plan.actions.push(Action::Assign {
                task: task.id.clone(),
                instance,
            });
        }
    }
    // Each service's tasks and the machines taking tasks, found once: a round over a thousand
    // services and a hundred thousand tasks must not search one for each of the other.
    let mut by_service: HashMap<&str, Vec<&Task>> = HashMap::new();
    for task in &view.tasks {
        if let Some(service) = &task.service {
            by_service.entry(service).or_default().push(task);
        }
    }
    let round = Round {
        settings,
        now,
        accepting: view
            .instances
            .iter()
            .filter(|i| i.accepts_tasks)
            .map(|i| i.id.as_str())
            .collect(),
    };
    for service in &view.services {
        let own = by_service.remove(service.name.as_str()).unwrap_or_default();
        let report = reconcile_service(
            &own,
            service,
            &round,
            &mut placer,
            &mut rng,
            &mut plan.actions,
        );
        plan.services.push(report);
    }
    plan
}

/// What every service of a round is reconciled against.
struct Round<'v> {
    settings: &'v Settings,
    now: f64,
    /// The instances that take new tasks.
    accepting: HashSet<&'v str>,
}

fn reconcile_service(
    own: &[&Task],
    service: &Service,
    round: &Round<'_>,
    placer: &mut Placer,
    rng: &mut Rng,
    actions: &mut Vec<Action>,
) -> ServiceReport {
    let Round {
        settings,
        now,
        accepting,
    } = round;
    let (settings, now) = (*settings, *now);
    let group = service.group();
    let mut report = ServiceReport {
        service: service.name.clone(),
        ..ServiceReport::default()
    };
    let stop = |task: &Task, reason: StopReason, placer: &mut Placer, actions: &mut Vec<Action>| {
        if let Some(instance) = &task.instance {
            placer.release(instance, &group, task.resources);
        }
        actions.push(Action::Stop {
            task: task.id.clone(),
            reason,
        });
    };

    let mut live: Vec<&Task> = own.iter().copied().filter(|t| is_live(t)).collect();
    if !service.active {
        for task in live {
            stop(task, StopReason::ServiceDeleted, placer, actions);
        }
        return report;
    }
    let Some(primary) = service.deployments.first() else {
        return report;
    };

    // Unhealthy tasks are replaced whatever the rollout arithmetic says: they serve nobody.
    let (unhealthy, rest): (Vec<&Task>, Vec<&Task>) = live
        .into_iter()
        .partition(|t| t.phase == Phase::Running && t.health == HealthStatus::Unhealthy);
    for task in &unhealthy {
        stop(task, StopReason::Unhealthy, placer, actions);
    }
    live = rest;

    let accepts = |task: &Task| {
        task.instance
            .as_deref()
            .is_none_or(|id| accepting.contains(id))
    };
    let desired = service.desired_count.max(0);
    let (mut current, mut outgoing): (Vec<&Task>, Vec<&Task>) = live
        .iter()
        .copied()
        .partition(|t| t.deployment.as_deref() == Some(&primary.id) && accepts(t));

    // Scale in: the surplus of the current deployment goes, least useful first.
    if current.len() as i64 > desired {
        current.sort_by(|a, b| {
            let rank = |t: &Task| {
                (
                    is_healthy(t, settings, now),
                    t.running_since.unwrap_or(f64::MAX),
                )
            };
            let (ha, sa) = rank(a);
            let (hb, sb) = rank(b);
            ha.cmp(&hb).then(sb.total_cmp(&sa))
        });
        let surplus = current.len() - desired as usize;
        for task in current.drain(..surplus) {
            stop(task, StopReason::ScaledIn, placer, actions);
        }
    }

    let failure_streak = consecutive_failures(own, &primary.id);
    let breaker_tripped = service.circuit_breaker.is_some()
        && primary.rollout == RolloutState::InProgress
        && failed_in(own, &primary.id) >= circuit_breaker_threshold(desired);
    let held_until = backoff_until(own, &primary.id, failure_streak, settings);
    if breaker_tripped {
        report.rollout = Some(RolloutState::Failed);
        report.breaker_failures = Some(failures_of(own, &primary.id));
        if service.circuit_breaker == Some(true) {
            if let Some(previous) = service
                .last_completed
                .as_ref()
                .filter(|d| **d != primary.task_definition)
            {
                report.rollback_to = Some(previous.clone());
            }
        }
    }

    // Start what the current deployment lacks, within maximumPercent while older tasks remain.
    let live_count = (current.len() + outgoing.len()) as i64;
    let mut want = desired - current.len() as i64;
    if !outgoing.is_empty() {
        want = want.min(maximum_tasks(desired, service.maximum_percent) - live_count);
    }
    let may_start = !breaker_tripped && held_until.is_none_or(|at| now >= at);
    if held_until.is_some_and(|at| now < at) {
        report.events.push(Event::UnableToStartConsistently);
    }
    if may_start {
        for _ in 0..want.max(0) {
            let request = Request {
                group: &group,
                resources: primary.resources,
                strategies: &service.strategies,
                constraints: &service.constraints,
            };
            match placer.place(&request, rng) {
                Ok(instance) => {
                    actions.push(Action::Start {
                        service: service.name.clone(),
                        deployment: primary.id.clone(),
                        instance,
                    });
                }
                Err(why) => {
                    report.events.push(Event::UnableToPlace {
                        reason: why.reason().to_string(),
                    });
                    break;
                }
            }
        }
    }

    // Stop older tasks only while minimumHealthyPercent stays met; tasks that are not
    // healthy yet cost nothing to stop.
    let minimum = minimum_healthy_tasks(desired, service.minimum_healthy_percent);
    let healthy_now = live.iter().filter(|t| is_healthy(t, settings, now)).count() as i64;
    let mut spare = healthy_now - minimum;
    outgoing.sort_by_key(|t| is_healthy(t, settings, now));
    for task in &outgoing {
        let healthy = is_healthy(task, settings, now);
        if healthy {
            if spare <= 0 {
                continue;
            }
            spare -= 1;
        }
        let reason = if accepts(task) {
            StopReason::Deployment
        } else {
            StopReason::InstanceDraining
        };
        stop(task, reason, placer, actions);
    }

    // Counts, finished deployments and completion. As on ECS, counts are of what runs, wanted
    // or not, and a deployment stays listed until its last task has actually stopped.
    let present: Vec<&Task> = own.iter().copied().filter(|t| is_present(t)).collect();
    for deployment in &service.deployments {
        let mine: Vec<&&Task> = present
            .iter()
            .filter(|t| t.deployment.as_deref() == Some(&deployment.id))
            .collect();
        let counts = DeploymentCounts {
            id: deployment.id.clone(),
            running: mine.iter().filter(|t| t.phase == Phase::Running).count() as i64,
            pending: mine.iter().filter(|t| t.phase == Phase::Pending).count() as i64,
            failed: failed_in(own, &deployment.id),
        };
        if deployment.id != primary.id && mine.is_empty() {
            report.finished.push(deployment.id.clone());
        } else {
            report.counts.push(counts);
        }
    }
    report.running = present.iter().filter(|t| t.phase == Phase::Running).count() as i64;
    report.pending = present.iter().filter(|t| t.phase == Phase::Pending).count() as i64;
    let only_primary_left = service.deployments.len() == report.finished.len() + 1;
    let primary_healthy = current
        .iter()
        .filter(|t| is_healthy(t, settings, now))
        .count() as i64;
    if !breaker_tripped
        && primary.rollout == RolloutState::InProgress
        && only_primary_left
        && primary_healthy == desired
        && current.len() as i64 == desired
        && report.running == desired
        && outgoing.is_empty()
    {
        report.rollout = Some(RolloutState::Completed);
        report.events.push(Event::DeploymentCompleted {
            deployment: primary.id.clone(),
        });
        report.events.push(Event::SteadyState);
    }
    report
}

/// The earliest time after `now` at which time alone may change what [`reconcile`] decides
/// for `view`: a task without health checks turning healthy, or a back-off ending. `None`
/// when only a change to the view can. Before it, a round over an unchanged view repeats
/// the last one, so a controller may skip it.
pub fn next_change_by_time(view: &View, settings: &Settings, now: f64) -> Option<f64> {
    next_changes_by_time(view, settings, now)
        .into_values()
        .min_by(f64::total_cmp)
}

/// [`next_change_by_time`] for each service of `view` (by name; `None` for the tasks of no
/// service), leaving out those time alone cannot change: what lets a controller skip one
/// service while it reconciles another.
pub fn next_changes_by_time<'v>(
    view: &'v View,
    settings: &Settings,
    now: f64,
) -> HashMap<Option<&'v str>, f64> {
    let mut changes: HashMap<Option<&str>, f64> = HashMap::new();
    let mut note = |service: Option<&'v str>, at: f64| {
        if at > now {
            let earliest = changes.entry(service).or_insert(at);
            *earliest = earliest.min(at);
        }
    };
    let mut by_service: HashMap<&str, Vec<&Task>> = HashMap::new();
    for task in &view.tasks {
        if let Some(service) = &task.service {
            by_service.entry(service).or_default().push(task);
        }
        let turns_healthy = task.phase == Phase::Running
            && task.desired_running
            && !task.checked_health
            && task.health != HealthStatus::Unhealthy;
        if let Some(since) = task.running_since.filter(|_| turns_healthy) {
            note(task.service.as_deref(), since + settings.healthy_after);
        }
    }
    for service in &view.services {
        let Some(primary) = service.deployments.first() else {
            continue;
        };
        let Some(own) = by_service.get(service.name.as_str()) else {
            continue;
        };
        let streak = consecutive_failures(own, &primary.id);
        if let Some(at) = backoff_until(own, &primary.id, streak, settings) {
            note(Some(service.name.as_str()), at);
        }
    }
    changes
}

fn failed_in(tasks: &[&Task], deployment: &str) -> i64 {
    tasks
        .iter()
        .filter(|t| t.deployment.as_deref() == Some(deployment) && t.failure.is_some())
        .count() as i64
}

/// How many of a deployment's tasks failed in each way, most common first.
fn failures_of(tasks: &[&Task], deployment: &str) -> Vec<(Failure, usize)> {
    let mut counts: BTreeMap<Failure, usize> = BTreeMap::new();
    for failure in tasks
        .iter()
        .filter(|t| t.deployment.as_deref() == Some(deployment))
        .filter_map(|t| t.failure)
    {
        *counts.entry(failure).or_default() += 1;
    }
    let mut counts: Vec<(Failure, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
}

/// Failures of a deployment since its last task that became healthy, newest first.
fn consecutive_failures(tasks: &[&Task], deployment: &str) -> usize {
    let mut stopped: Vec<&&Task> = tasks
        .iter()
        .filter(|t| t.deployment.as_deref() == Some(deployment) && t.phase == Phase::Stopped)
        .collect();
    stopped.sort_by(|a, b| {
        b.stopped_at
            .unwrap_or(0.0)
            .total_cmp(&a.stopped_at.unwrap_or(0.0))
    });
    stopped.iter().take_while(|t| t.failure.is_some()).count()
}

/// When starts may resume after a streak of failures: the last failure plus a delay that
/// doubles per failure past the threshold, capped.
fn backoff_until(
    tasks: &[&Task],
    deployment: &str,
    streak: usize,
    settings: &Settings,
) -> Option<f64> {
    if streak < settings.failures_before_backoff {
        return None;
    }
    let last = tasks
        .iter()
        .filter(|t| t.deployment.as_deref() == Some(deployment) && t.failure.is_some())
        .filter_map(|t| t.stopped_at)
        .fold(f64::MIN, f64::max);
    let exponent = (streak - settings.failures_before_backoff).min(16) as i32;
    Some(last + (settings.backoff_base * 2f64.powi(exponent)).min(settings.backoff_max))
}

#[cfg(test)]
mod tests;
