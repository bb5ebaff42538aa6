//! Deployment behaviour, checked by simulating rounds: reconcile, apply the plan, let time
//! pass, repeat.

use super::*;
use placement::BinpackField;
use proptest::prelude::{
    prop_assert, prop_assert_eq, prop_assume, prop_oneof, proptest, Just, ProptestConfig,
    Strategy as _,
};

const SMALL: Resources = Resources {
    cpu: 256,
    memory: 512,
};

fn instance(id: &str, zone: &str) -> Instance {
    Instance {
        id: id.into(),
        registered: Resources {
            cpu: 8192,
            memory: 16384,
        },
        attributes: [("zone".to_string(), zone.to_string())].into(),
        accepts_tasks: true,
        lost: false,
    }
}

/// How tasks of a deployment behave once started.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Healthy,
    NeverHealthy,
    CrashesAfter(f64),
}

struct World {
    view: View,
    now: f64,
    next_id: usize,
    behaviour: Vec<(String, Behaviour)>,
    events: Vec<Event>,
    /// What the machines actually run: task id → instance. A lost instance's processes go
    /// on until its agent is back and stops what the server no longer lists.
    processes: BTreeMap<String, String>,
    /// Whether the tasks started have health checks (without, they count as healthy once
    /// they ran for `Settings::healthy_after`).
    checked: bool,
}

impl World {
    fn new(desired: i64, min: i64, max: i64) -> Self {
        let service = Service {
            name: "web".into(),
            desired_count: desired,
            minimum_healthy_percent: min,
            maximum_percent: max,
            deployments: vec![Deployment {
                id: "d1".into(),
                task_definition: "web:1".into(),
                resources: SMALL,
                rollout: RolloutState::InProgress,
            }],
            strategies: vec![Strategy::Spread("instanceId".into())],
            constraints: vec![],
            circuit_breaker: None,
            last_completed: None,
            active: true,
        };
        Self {
            view: View {
                instances: vec![instance("i-a", "a"), instance("i-b", "b")],
                services: vec![service],
                tasks: vec![],
                held_elsewhere: HashMap::new(),
            },
            now: 1000.0,
            next_id: 0,
            behaviour: vec![("d1".into(), Behaviour::Healthy)],
            events: vec![],
            processes: BTreeMap::new(),
            checked: true,
        }
    }

    /// An instance's agent goes unheard past `lost_after`, or is heard again.
    fn set_connected(&mut self, instance: &str, connected: bool) {
        let instance = self
            .view
            .instances
            .iter_mut()
            .find(|i| i.id == instance)
            .expect("known instance");
        instance.lost = !connected;
        instance.accepts_tasks = connected;
    }

    fn connected(&self, instance: &str) -> bool {
        self.view
            .instances
            .iter()
            .any(|i| i.id == instance && !i.lost)
    }

    /// Processes on machines whose agents are connected.
    fn processes_on_connected(&self) -> usize {
        self.processes
            .values()
            .filter(|instance| self.connected(instance))
            .count()
    }

    fn service(&mut self) -> &mut Service {
        &mut self.view.services[0]
    }

    fn deploy(&mut self, id: &str, behaviour: Behaviour) {
        let deployment = Deployment {
            id: id.into(),
            task_definition: format!("web:{id}"),
            resources: SMALL,
            rollout: RolloutState::InProgress,
        };
        self.service().deployments.insert(0, deployment);
        self.behaviour.push((id.into(), behaviour));
    }

    fn behaviour_of(&self, deployment: &str) -> Behaviour {
        self.behaviour
            .iter()
            .find(|(d, _)| d == deployment)
            .map(|(_, b)| *b)
            .unwrap_or(Behaviour::Healthy)
    }

    fn live(&self) -> Vec<&Task> {
        self.view.tasks.iter().filter(|t| is_live(t)).collect()
    }

    fn healthy(&self) -> usize {
        self.live()
            .iter()
            .filter(|t| is_healthy(t, &Settings::default(), self.now))
            .count()
    }

    fn live_in(&self, deployment: &str) -> usize {
        self.live()
            .iter()
            .filter(|t| t.deployment.as_deref() == Some(deployment))
            .count()
    }

    /// One round: reconcile and apply. Returns the plan.
    fn round(&mut self) -> Plan {
        let plan = reconcile(
            &self.view,
            &Settings::default(),
            self.now,
            self.next_id as u64,
        );
        for action in &plan.actions {
            match action {
                Action::Start {
                    service,
                    deployment,
                    instance,
                } => {
                    self.next_id += 1;
                    self.view.tasks.push(Task {
                        id: format!("t{}", self.next_id),
                        service: Some(service.clone()),
                        deployment: Some(deployment.clone()),
                        instance: Some(instance.clone()),
                        group: format!("service:{service}"),
                        resources: SMALL,
                        desired_running: true,
                        phase: Phase::Pending,
                        health: HealthStatus::Unknown,
                        checked_health: self.checked,
                        running_since: None,
                        stopped_at: None,
                        failure: None,
                    });
                }
                Action::Assign { .. } => unreachable!("the world runs no standalone tasks"),
                Action::Lose { task } => {
                    let task = self
                        .view
                        .tasks
                        .iter_mut()
                        .find(|t| &t.id == task)
                        .expect("known task");
                    task.desired_running = false;
                    task.phase = Phase::Stopped;
                    task.stopped_at = Some(self.now);
                }
                Action::Stop { task, reason } => {
                    let task = self
                        .view
                        .tasks
                        .iter_mut()
                        .find(|t| &t.id == task)
                        .expect("known task");
                    task.desired_running = false;
                    task.phase = Phase::Stopping;
                    task.failure =
                        (*reason == StopReason::Unhealthy).then_some(Failure::FailedHealthChecks);
                }
            }
        }
        for report in &plan.services {
            let service = self.service();
            service
                .deployments
                .retain(|d| !report.finished.contains(&d.id));
            if let Some(rollout) = &report.rollout {
                service.deployments[0].rollout = *rollout;
                if *rollout == RolloutState::Completed {
                    service.last_completed = Some(service.deployments[0].task_definition.clone());
                }
            }
            if let Some(previous) = report.rollback_to.clone() {
                let id = format!("rollback-{}", self.next_id);
                let deployment = Deployment {
                    id: id.clone(),
                    task_definition: previous,
                    resources: SMALL,
                    rollout: RolloutState::InProgress,
                };
                self.service().deployments.insert(0, deployment);
                self.behaviour.push((id, Behaviour::Healthy));
            }
            self.events.extend(report.events.iter().cloned());
        }
        plan
    }

    /// Time passes: pending tasks start, started tasks pass or fail their checks.
    fn tick(&mut self) {
        self.now += 1.0;
        let now = self.now;
        let behaviours: Vec<Behaviour> = self
            .view
            .tasks
            .iter()
            .map(|t| self.behaviour_of(t.deployment.as_deref().unwrap_or("")))
            .collect();
        let lost: BTreeSet<String> = self
            .view
            .instances
            .iter()
            .filter(|i| i.lost)
            .map(|i| i.id.clone())
            .collect();
        for (task, behaviour) in self.view.tasks.iter_mut().zip(behaviours) {
            let instance = task.instance.clone().unwrap_or_default();
            // The server hears nothing from a lost instance.
            if lost.contains(&instance) {
                continue;
            }
            // A stopping task takes one tick to go, as a container takes its stop signal.
            if task.phase == Phase::Stopping {
                task.phase = Phase::Stopped;
                task.stopped_at = Some(now);
                self.processes.remove(&task.id);
                continue;
            }
            if !is_live(task) {
                continue;
            }
            match (task.phase, behaviour) {
                (Phase::Pending, _) => {
                    task.phase = Phase::Running;
                    task.running_since = Some(now);
                    self.processes.insert(task.id.clone(), instance);
                }
                (Phase::Running, Behaviour::Healthy) if task.checked_health => {
                    task.health = HealthStatus::Healthy
                }
                (Phase::Running, Behaviour::Healthy) => {}
                (Phase::Running, Behaviour::NeverHealthy) => task.health = HealthStatus::Unhealthy,
                (Phase::Running, Behaviour::CrashesAfter(secs)) => {
                    if now - task.running_since.unwrap_or(now) >= secs {
                        task.phase = Phase::Stopped;
                        task.desired_running = false;
                        task.stopped_at = Some(now);
                        task.failure = Some(Failure::Exited);
                        self.processes.remove(&task.id);
                    } else {
                        task.health = HealthStatus::Healthy;
                    }
                }
                (Phase::Stopping | Phase::Stopped, _) => {}
            }
        }
        // A connected agent stops every process of a task the server no longer lists.
        let listed: BTreeSet<&str> = self
            .view
            .tasks
            .iter()
            .filter(|t| t.phase != Phase::Stopped)
            .map(|t| t.id.as_str())
            .collect();
        self.processes
            .retain(|task, instance| lost.contains(instance) || listed.contains(task.as_str()));
    }

    fn settle(&mut self, rounds: usize, mut check: impl FnMut(&World)) {
        for _ in 0..rounds {
            self.round();
            check(self);
            self.tick();
        }
    }
}

#[test]
fn rounding_follows_ecs() {
    assert_eq!(maximum_tasks(3, 150), 4);
    assert_eq!(maximum_tasks(4, 200), 8);
    assert_eq!(minimum_healthy_tasks(3, 50), 2);
    assert_eq!(minimum_healthy_tasks(4, 100), 4);
    assert_eq!(minimum_healthy_tasks(4, 0), 0);
    assert_eq!(circuit_breaker_threshold(1), 3);
    assert_eq!(circuit_breaker_threshold(10), 5);
    assert_eq!(circuit_breaker_threshold(11), 6);
    assert_eq!(circuit_breaker_threshold(1000), 200);
}

#[test]
fn a_new_service_starts_its_tasks_and_completes() {
    let mut world = World::new(3, 100, 200);
    world.settle(5, |_| {});
    assert_eq!(world.live_in("d1"), 3);
    assert_eq!(
        world.service().deployments[0].rollout,
        RolloutState::Completed
    );
    assert!(world.events.contains(&Event::SteadyState));
    let placed: Vec<&str> = world
        .live()
        .iter()
        .map(|t| t.instance.as_deref().unwrap())
        .collect();
    assert!(
        placed.contains(&"i-a") && placed.contains(&"i-b"),
        "spread over instances: {placed:?}"
    );
}

#[test]
fn reconcile_is_idempotent_on_a_steady_service() {
    let mut world = World::new(2, 100, 200);
    world.settle(5, |_| {});
    let plan = world.round();
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn a_rolling_update_keeps_minimum_healthy_and_respects_maximum() {
    let mut world = World::new(4, 100, 200);
    world.settle(5, |_| {});
    world.deploy("d2", Behaviour::Healthy);
    world.settle(10, |w| {
        assert!(
            w.live().len() <= 8,
            "above maximumPercent: {}",
            w.live().len()
        );
        assert!(
            w.healthy() >= 4,
            "below minimumHealthyPercent: {}",
            w.healthy()
        );
    });
    assert_eq!(world.live_in("d2"), 4);
    assert_eq!(world.live_in("d1"), 0);
    assert_eq!(
        world.service().deployments.len(),
        1,
        "the old deployment left"
    );
    assert_eq!(
        world.service().deployments[0].rollout,
        RolloutState::Completed
    );
}

#[test]
fn with_maximum_100_it_stops_before_it_starts() {
    let mut world = World::new(4, 50, 100);
    world.settle(5, |_| {});
    world.deploy("d2", Behaviour::Healthy);
    world.settle(12, |w| {
        assert!(w.live().len() <= 4);
        assert!(w.healthy() >= 2);
    });
    assert_eq!(world.live_in("d2"), 4);
}

#[test]
fn scaling_in_stops_the_surplus() {
    let mut world = World::new(4, 100, 200);
    world.settle(4, |_| {});
    world.service().desired_count = 1;
    let plan = world.round();
    let stops = plan
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Stop {
                    reason: StopReason::ScaledIn,
                    ..
                }
            )
        })
        .count();
    assert_eq!(stops, 3);
}

#[test]
fn unhealthy_tasks_are_replaced() {
    let mut world = World::new(2, 100, 200);
    world.settle(4, |_| {});
    let victim = world.view.tasks[0].id.clone();
    world.view.tasks[0].health = HealthStatus::Unhealthy;
    let plan = world.round();
    assert!(plan.actions.contains(&Action::Stop {
        task: victim,
        reason: StopReason::Unhealthy
    }));
    assert_eq!(
        plan.actions
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count(),
        1
    );
}

#[test]
fn draining_instances_are_emptied_without_dropping_below_minimum() {
    let mut world = World::new(2, 100, 200);
    world.view.instances.push(instance("i-c", "c"));
    world.settle(4, |_| {});
    world.view.instances[0].accepts_tasks = false;
    world.settle(6, |w| assert!(w.healthy() >= 2));
    assert!(world
        .live()
        .iter()
        .all(|t| t.instance.as_deref() != Some("i-a")));
    assert_eq!(world.live().len(), 2);
}

#[test]
fn unplaceable_tasks_produce_the_ecs_event() {
    let mut world = World::new(2, 100, 200);
    world.view.instances.clear();
    let plan = world.round();
    assert!(plan.actions.is_empty());
    assert!(plan.services[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::UnableToPlace { .. })));
}

#[test]
fn crashing_tasks_back_off() {
    let mut world = World::new(1, 100, 200);
    world.behaviour[0].1 = Behaviour::CrashesAfter(1.0);
    world.settle(12, |_| {});
    assert!(world.events.contains(&Event::UnableToStartConsistently));
    let started = world.view.tasks.len();
    assert!(
        started < 8,
        "back-off should slow restarts, started {started} in 12 s"
    );
}

#[test]
fn the_circuit_breaker_rolls_back_a_failing_deployment() {
    let mut world = World::new(4, 100, 200);
    world.service().circuit_breaker = Some(true);
    world.settle(5, |_| {});
    world.deploy("bad", Behaviour::NeverHealthy);
    world.settle(40, |w| {
        assert!(w.healthy() >= 4, "never below minimum healthy")
    });
    let service = world.service();
    assert!(
        service.deployments.iter().all(|d| d.id != "bad"),
        "{:?}",
        service.deployments
    );
    assert_eq!(service.deployments[0].task_definition, "web:1");
    assert_eq!(service.deployments[0].rollout, RolloutState::Completed);
}

#[test]
fn a_deleted_service_stops_everything() {
    let mut world = World::new(3, 100, 200);
    world.settle(4, |_| {});
    world.service().active = false;
    world.settle(2, |_| {});
    assert!(world.live().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rolling_updates_hold_their_bounds_and_finish(
        desired in 1i64..8,
        minimum in prop_oneof![Just(0i64), Just(50), Just(100)],
        maximum in prop_oneof![Just(100i64), Just(150), Just(200)],
    ) {
        // ECS cannot move when it may neither start above nor stop below desired.
        prop_assume!(maximum_tasks(desired, maximum) > desired || minimum_healthy_tasks(desired, minimum) < desired);
        let mut world = World::new(desired, minimum, maximum);
        world.settle(6, |_| {});
        world.deploy("d2", Behaviour::Healthy);
        let min_healthy = minimum_healthy_tasks(desired, minimum) as usize;
        let max_live = maximum_tasks(desired, maximum).max(desired) as usize;
        let mut violations = Vec::new();
        world.settle(40, |w| {
            if w.live().len() > max_live { violations.push(format!("live {}", w.live().len())); }
            if w.healthy() < min_healthy { violations.push(format!("healthy {}", w.healthy())); }
        });
        prop_assert!(violations.is_empty(), "{:?}", violations);
        prop_assert_eq!(world.live_in("d2"), desired as usize);
        prop_assert_eq!(world.live_in("d1"), 0);
        prop_assert_eq!(world.service().deployments.len(), 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn time_alone_changes_no_plan_before_the_next_change_by_time(
        desired in 1i64..5,
        checked in proptest::bool::ANY,
        crash_after in prop_oneof![Just(None), Just(Some(0.0f64)), Just(Some(3.0))],
        rounds in 1usize..40,
        fractions in proptest::collection::vec(0.0f64..1.0, 4),
    ) {
        let mut world = World::new(desired, 100, 200);
        world.checked = checked;
        if let Some(after) = crash_after {
            world.behaviour[0].1 = Behaviour::CrashesAfter(after);
        }
        world.settle(rounds, |_| {});
        let settings = Settings::default();
        let now = world.now;
        let plan = reconcile(&world.view, &settings, now, 7);
        let until = next_change_by_time(&world.view, &settings, now);
        prop_assert!(until.is_none_or(|at| at > now));
        let until = until.unwrap_or(now + 100_000.0);
        for fraction in fractions {
            let later = now + (until - now) * fraction;
            prop_assert_eq!(&reconcile(&world.view, &settings, later, 7), &plan, "at {}", later);
        }
    }
}

#[test]
fn the_next_change_by_time_is_a_task_turning_healthy_or_a_back_off_ending() {
    let settings = Settings::default();
    let mut world = World::new(2, 100, 200);
    world.checked = false;
    world.settle(2, |_| {});
    let started = world.view.tasks[0].running_since.unwrap();
    assert_eq!(
        next_change_by_time(&world.view, &settings, world.now),
        Some(started + settings.healthy_after),
        "the first task to have run long enough"
    );
    world.settle(10, |_| {});
    assert_eq!(
        next_change_by_time(&world.view, &settings, world.now),
        None,
        "all healthy"
    );

    let mut crashing = World::new(1, 100, 200);
    crashing.behaviour[0].1 = Behaviour::CrashesAfter(0.0);
    // Until a round holds its starts back after repeated failures.
    let mut rounds = 0;
    while !crashing
        .round()
        .services
        .iter()
        .any(|r| r.events.contains(&Event::UnableToStartConsistently))
    {
        crashing.tick();
        rounds += 1;
        assert!(rounds < 50, "never held back");
    }
    let until = next_change_by_time(&crashing.view, &settings, crashing.now)
        .expect("held back after repeated failures");
    assert!(until > crashing.now);
    assert!(reconcile(&crashing.view, &settings, until, 7)
        .actions
        .iter()
        .any(|a| matches!(a, Action::Start { .. })));
}

#[test]
fn standalone_tasks_wait_for_an_instance_then_are_assigned() {
    let mut view = View::default();
    view.tasks.push(Task {
        id: "solo".into(),
        service: None,
        deployment: None,
        instance: None,
        group: "family:job".into(),
        resources: SMALL,
        desired_running: true,
        phase: Phase::Pending,
        health: HealthStatus::Unknown,
        checked_health: false,
        running_since: None,
        stopped_at: None,
        failure: None,
    });
    assert!(reconcile(&view, &Settings::default(), 0.0, 1)
        .actions
        .is_empty());
    view.instances.push(instance("i-a", "a"));
    assert_eq!(
        reconcile(&view, &Settings::default(), 0.0, 1).actions,
        vec![Action::Assign {
            task: "solo".into(),
            instance: "i-a".into()
        }]
    );
}

#[test]
fn a_tripped_breaker_says_how_the_tasks_failed() {
    let failed = |id: &str, deployment: &str, failure: Option<Failure>| Task {
        id: id.into(),
        service: Some("web".into()),
        deployment: Some(deployment.into()),
        instance: None,
        group: "service:web".into(),
        resources: SMALL,
        desired_running: false,
        phase: Phase::Stopped,
        health: HealthStatus::Unknown,
        checked_health: true,
        running_since: None,
        stopped_at: Some(1.0),
        failure,
    };
    let tasks = [
        failed("a", "d2", Some(Failure::Exited)),
        failed("b", "d2", Some(Failure::FailedHealthChecks)),
        failed("c", "d2", Some(Failure::Exited)),
        failed("d", "d2", None),
        failed("e", "d1", Some(Failure::FailedToStart)),
    ];
    let tasks: Vec<&Task> = tasks.iter().collect();
    assert_eq!(
        failures_of(&tasks, "d2"),
        [(Failure::Exited, 2), (Failure::FailedHealthChecks, 1)]
    );
    assert_eq!(failures_of(&tasks, "d1"), [(Failure::FailedToStart, 1)]);
    assert_eq!(failures_of(&tasks, "d3"), []);
}

#[test]
fn a_lost_instances_tasks_are_replaced_at_once_and_stopped_when_it_returns() {
    let mut world = World::new(4, 100, 100);
    world.view.instances.push(instance("i-c", "c"));
    world.settle(5, |_| {});
    let on_a: Vec<String> = world
        .live()
        .iter()
        .filter(|t| t.instance.as_deref() == Some("i-a"))
        .map(|t| t.id.clone())
        .collect();
    assert!(!on_a.is_empty());
    world.set_connected("i-a", false);
    let plan = world.round();
    let lost: Vec<&str> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Lose { task } => Some(task.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(lost, on_a);
    let started = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Start { instance, .. } if instance != "i-a"))
        .count();
    assert_eq!(
        started,
        on_a.len(),
        "replaced in the same round, within 100 %"
    );
    world.tick();
    assert_eq!(world.live().len(), 4);
    // The lost processes still run on i-a, unheard; once it is back its agent stops them.
    assert_eq!(world.processes.len(), 4 + on_a.len());
    world.set_connected("i-a", true);
    world.settle(1, |_| {});
    assert_eq!(world.processes.len(), 4);
    assert!(on_a.iter().all(|t| !world.processes.contains_key(t)));
    let plan = world.round();
    assert!(plan.actions.is_empty(), "steady again: {:?}", plan.actions);
}

/// One thing that happens to a three-machine cluster between rounds.
#[derive(Debug, Clone)]
enum Happening {
    Lose(usize),
    Return(usize),
    Nothing,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// For any interleaving of losses, replacements and returns, what runs on connected
    /// machines never exceeds maximumPercent once their agents have had one round, and once
    /// every machine is back, exactly the desired tasks run, each in one process.
    #[test]
    fn losses_and_returns_never_leave_duplicates(
        desired in 1i64..7,
        maximum in prop_oneof![Just(100i64), Just(150), Just(200)],
        happenings in proptest::collection::vec(
            prop_oneof![
                (0usize..3).prop_map(Happening::Lose),
                (0usize..3).prop_map(Happening::Return),
                Just(Happening::Nothing),
            ],
            1..25,
        ),
    ) {
        let mut world = World::new(desired, 100, maximum);
        world.view.instances.push(instance("i-c", "c"));
        world.settle(4, |_| {});
        let ids = ["i-a", "i-b", "i-c"];
        let max_live = maximum_tasks(desired, maximum).max(desired) as usize;
        for happening in happenings {
            match happening {
                Happening::Lose(i) => world.set_connected(ids[i], false),
                Happening::Return(i) => world.set_connected(ids[i], true),
                Happening::Nothing => {}
            }
            world.round();
            world.tick();
            prop_assert!(
                world.processes_on_connected() <= max_live,
                "{} processes on connected machines, maximum {max_live}",
                world.processes_on_connected()
            );
            prop_assert!(world.live().len() <= max_live);
        }
        for id in ids {
            world.set_connected(id, true);
        }
        world.settle(6, |_| {});
        let live: BTreeSet<String> = world.live().iter().map(|t| t.id.clone()).collect();
        let running: BTreeSet<String> = world.processes.keys().cloned().collect();
        prop_assert_eq!(live.len(), desired as usize);
        prop_assert_eq!(running, live);
    }
}

/// A cluster of a few crowded machines, several services in every state a round can meet
/// (rollouts, failures, stopping and lost tasks), and a standalone task waiting: drawn from
/// `seed`.
fn crowded_cluster(seed: u64) -> View {
    let mut rng = Rng::new(seed);
    let mut pick = |n: u64| rng.below(n) as usize;
    let instances: Vec<Instance> = (0..1 + pick(4))
        .map(|i| Instance {
            id: format!("i-{i}"),
            registered: Resources {
                cpu: 512 + 256 * pick(8) as i64,
                memory: 1024 + 512 * pick(8) as i64,
            },
            attributes: [("zone".to_string(), ["a", "b"][pick(2)].to_string())].into(),
            accepts_tasks: pick(6) != 0,
            lost: pick(10) == 0,
        })
        .collect();
    let mut services = Vec::new();
    let mut tasks = Vec::new();
    for s in 0..1 + pick(5) {
        let name = format!("s{s}");
        let mut deployments: Vec<Deployment> = (0..1 + pick(2))
            .map(|d| Deployment {
                id: format!("{name}-d{d}"),
                task_definition: format!("{name}:{d}"),
                resources: Resources {
                    cpu: 128 * (1 + pick(4)) as i64,
                    memory: 256 * (1 + pick(4)) as i64,
                },
                rollout: [RolloutState::InProgress, RolloutState::Completed][pick(2)],
            })
            .collect();
        // Half the services are steady: a completed deployment's healthy tasks, as many as
        // desired, on machines that take tasks (what a round leaves out).
        let steady = pick(2) == 0;
        let settled_on: Vec<&Instance> = instances
            .iter()
            .filter(|i| i.accepts_tasks && !i.lost)
            .collect();
        let count = pick(7);
        for t in 0..count {
            let deployment = &deployments[pick(deployments.len() as u64)];
            let phase = [
                Phase::Pending,
                Phase::Running,
                Phase::Stopping,
                Phase::Stopped,
            ][pick(4)];
            let mut task = Task {
                id: format!("{name}-t{t}"),
                service: Some(name.clone()),
                deployment: Some(deployment.id.clone()),
                instance: Some(instances[pick(instances.len() as u64)].id.clone()),
                group: format!("service:{name}"),
                resources: deployment.resources,
                desired_running: matches!(phase, Phase::Pending | Phase::Running) && pick(8) != 0,
                phase,
                health: [
                    HealthStatus::Healthy,
                    HealthStatus::Unhealthy,
                    HealthStatus::Unknown,
                ][pick(3)],
                checked_health: pick(2) == 0,
                running_since: (phase != Phase::Pending).then_some(990.0 + pick(10) as f64),
                stopped_at: (phase == Phase::Stopped).then_some(995.0 + pick(5) as f64),
                failure: (phase == Phase::Stopped && pick(2) == 0).then_some(Failure::Exited),
            };
            if steady && !settled_on.is_empty() {
                task.deployment = Some(deployments[0].id.clone());
                task.instance = Some(settled_on[pick(settled_on.len() as u64)].id.clone());
                task.desired_running = true;
                task.phase = Phase::Running;
                task.health = HealthStatus::Healthy;
                task.checked_health = true;
                task.running_since = Some(990.0);
                task.stopped_at = None;
                task.failure = None;
            }
            tasks.push(task);
        }
        if steady {
            deployments.truncate(1);
            deployments[0].rollout = RolloutState::Completed;
        }
        services.push(Service {
            desired_count: if steady && !settled_on.is_empty() {
                count as i64
            } else {
                pick(5) as i64
            },
            minimum_healthy_percent: [0, 50, 100][pick(3)],
            maximum_percent: [100, 150, 200][pick(3)],
            deployments,
            strategies: [
                vec![Strategy::Spread("attribute:zone".into())],
                vec![Strategy::Binpack(BinpackField::Memory)],
                vec![Strategy::Random],
            ][pick(3)]
            .clone(),
            constraints: if pick(4) == 0 {
                vec![Constraint::DistinctInstance]
            } else {
                vec![]
            },
            circuit_breaker: [None, Some(false), Some(true)][pick(3)],
            last_completed: Some(format!("{name}:0")),
            active: steady || pick(8) != 0,
            name,
        });
    }
    tasks.push(Task {
        id: "standalone".into(),
        service: None,
        deployment: None,
        instance: None,
        group: "family:batch".into(),
        resources: SMALL,
        desired_running: true,
        phase: Phase::Pending,
        health: HealthStatus::Unknown,
        checked_health: false,
        running_since: None,
        stopped_at: None,
        failure: None,
    });
    View {
        instances,
        services,
        tasks,
        held_elsewhere: HashMap::new(),
    }
}

/// Whether an action concerns one of `services`' tasks or starts one of theirs.
fn concerns(action: &Action, view: &View, services: &BTreeSet<String>) -> bool {
    let task_of = |id: &String| {
        view.tasks
            .iter()
            .find(|t| &t.id == id)
            .and_then(|t| t.service.clone())
    };
    let service = match action {
        Action::Start { service, .. } => Some(service.clone()),
        Action::Assign { task, .. } | Action::Stop { task, .. } | Action::Lose { task } => {
            task_of(task)
        }
    };
    service.is_some_and(|s| services.contains(&s))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, max_global_rejects: 50_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// A round over part of a cluster (settled services and their tasks left out, what those
    /// hold on each machine given instead) plans exactly what a round over the whole does:
    /// the same actions, in the same order, and the same reports for the services it holds.
    #[test]
    fn a_round_over_a_part_plans_what_a_round_over_the_whole_does(
        seed in proptest::prelude::any::<u64>(),
        leave_out in proptest::prelude::any::<u64>(),
    ) {
        let settings = Settings::default();
        let whole = crowded_cluster(seed);
        let plan = reconcile(&whole, &settings, 1000.0, 11);
        let all: BTreeSet<String> = whole.services.iter().map(|s| s.name.clone()).collect();
        let settled: BTreeSet<String> = all
            .iter()
            .filter(|name| {
                let own = BTreeSet::from([(*name).clone()]);
                !plan.actions.iter().any(|a| concerns(a, &whole, &own))
            })
            .enumerate()
            .filter(|(i, _)| leave_out >> (i % 64) & 1 == 1)
            .map(|(_, name)| name.clone())
            .collect();
        prop_assume!(!settled.is_empty());
        let mut part = whole.clone();
        part.services.retain(|s| !settled.contains(&s.name));
        let (left_out, kept): (Vec<Task>, Vec<Task>) = part
            .tasks
            .into_iter()
            .partition(|t| t.service.as_ref().is_some_and(|s| settled.contains(s)));
        part.tasks = kept;
        for task in left_out.iter().filter(|t| holds_resources(t)) {
            let held = part
                .held_elsewhere
                .entry(task.instance.clone().expect("held on an instance"))
                .or_default();
            held.cpu += task.resources.cpu;
            held.memory += task.resources.memory;
        }
        let part_plan = reconcile(&part, &settings, 1000.0, 11);
        prop_assert_eq!(&part_plan.actions, &plan.actions);
        let reports: Vec<&ServiceReport> = plan
            .services
            .iter()
            .filter(|r| !settled.contains(&r.service))
            .collect();
        prop_assert_eq!(part_plan.services.iter().collect::<Vec<_>>(), reports);
    }
}
