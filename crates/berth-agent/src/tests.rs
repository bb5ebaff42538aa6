//! The agent's lifecycle rules, one behaviour per test.

use super::*;
use berth_model::resources::{ContainerDependency, HealthCheck};
use berth_model::status::{ContainerStatus, HealthStatus, StopCode, TaskStatus};

fn container(name: &str, essential: bool, depends_on: &[(&str, &str)]) -> ContainerDefinition {
    ContainerDefinition {
        name: Some(name.into()),
        image: Some("img".into()),
        essential: Some(essential),
        depends_on: (!depends_on.is_empty()).then(|| {
            depends_on
                .iter()
                .map(|(c, cond)| ContainerDependency {
                    container_name: c.to_string(),
                    condition: cond.to_string(),
                })
                .collect()
        }),
        ..ContainerDefinition::default()
    }
}

fn task(containers: Vec<ContainerDefinition>) -> DesiredTask {
    DesiredTask {
        task_arn: "arn:aws:ecs:r:a:task/default/t1".into(),
        task_id: "t1".into(),
        desired_status: TaskStatus::Running,
        family: "web".into(),
        revision: 1,
        network_mode: "bridge".into(),
        containers,
        volumes: vec![],
        overrides: Default::default(),
        stop_timeout_seconds: 30,
        secrets: None,
        started: vec![],
    }
}

fn running(name: &str) -> Observed {
    Observed {
        task_id: "t1".into(),
        container_name: name.into(),
        runtime_id: format!("rt-{name}"),
        state: State::Running { started_at: 10.0 },
        health: HealthStatus::Unknown,
        network_bindings: vec![],
        ip_address: None,
    }
}

fn exited(name: &str, exit_code: i32) -> Observed {
    Observed {
        state: State::Exited {
            exit_code,
            oom_killed: false,
            finished_at: 20.0,
        },
        ..running(name)
    }
}

fn starts(step: &Step) -> Vec<&str> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Start { container, .. } => Some(container.as_str()),
            _ => None,
        })
        .collect()
}

fn stops(step: &Step) -> Vec<&str> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Stop { runtime_id, .. } => Some(runtime_id.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_task_starts_its_independent_containers_and_is_pending() {
    let desired = [task(vec![
        container("web", true, &[]),
        container("worker", true, &[]),
    ])];
    let step = step(&desired, &[], &mut Memory::default(), 1.0);
    assert_eq!(starts(&step), ["web", "worker"]);
    assert_eq!(step.reports[0].last_status, TaskStatus::Pending);
    assert_eq!(step.reports[0].pull_started_at, Some(1.0));
}

#[test]
fn depends_on_start_waits_for_the_dependency_to_exist() {
    let desired = [task(vec![
        container("app", true, &[("proxy", "START")]),
        container("proxy", true, &[]),
    ])];
    let mut memory = Memory::default();
    assert_eq!(starts(&step(&desired, &[], &mut memory, 1.0)), ["proxy"]);
    assert_eq!(
        starts(&step(&desired, &[running("proxy")], &mut memory, 2.0)),
        ["app"]
    );
}

#[test]
fn depends_on_success_needs_exit_code_zero() {
    let desired = [task(vec![
        container("migrate", false, &[]),
        container("app", true, &[("migrate", "SUCCESS")]),
    ])];
    let mut memory = Memory::default();
    assert!(starts(&step(&desired, &[running("migrate")], &mut memory, 1.0)).is_empty());
    assert!(starts(&step(&desired, &[exited("migrate", 2)], &mut memory, 1.0)).is_empty());
    assert_eq!(
        starts(&step(&desired, &[exited("migrate", 0)], &mut memory, 1.0)),
        ["app"]
    );
}

#[test]
fn depends_on_complete_accepts_any_exit() {
    let desired = [task(vec![
        container("init", false, &[]),
        container("app", true, &[("init", "COMPLETE")]),
    ])];
    assert_eq!(
        starts(&step(
            &desired,
            &[exited("init", 3)],
            &mut Memory::default(),
            1.0
        )),
        ["app"]
    );
}

#[test]
fn depends_on_healthy_waits_for_health() {
    let mut db = container("db", true, &[]);
    db.health_check = Some(HealthCheck {
        command: vec!["CMD".into(), "true".into()],
        ..HealthCheck::default()
    });
    let desired = [task(vec![db, container("app", true, &[("db", "HEALTHY")])])];
    let mut memory = Memory::default();
    assert!(starts(&step(&desired, &[running("db")], &mut memory, 1.0)).is_empty());
    let healthy = Observed {
        health: HealthStatus::Healthy,
        ..running("db")
    };
    assert_eq!(
        starts(&step(&desired, &[healthy], &mut memory, 2.0)),
        ["app"]
    );
}

#[test]
fn a_task_runs_when_every_essential_container_runs() {
    let desired = [task(vec![
        container("web", true, &[]),
        container("sidecar", false, &[]),
    ])];
    let step = step(&desired, &[running("web")], &mut Memory::default(), 5.0);
    assert_eq!(step.reports[0].last_status, TaskStatus::Running);
    assert_eq!(step.reports[0].started_at, Some(10.0));
    assert_eq!(starts(&step), ["sidecar"]);
}

#[test]
fn an_essential_exit_stops_the_task() {
    let desired = [task(vec![
        container("web", true, &[]),
        container("worker", true, &[]),
    ])];
    let mut memory = Memory::default();
    let first = step(
        &desired,
        &[exited("web", 137), running("worker")],
        &mut memory,
        30.0,
    );
    assert_eq!(stops(&first), ["rt-worker"]);
    assert_eq!(first.reports[0].last_status, TaskStatus::Stopping);
    assert_eq!(
        first.reports[0].stop_code,
        Some(StopCode::EssentialContainerExited)
    );
    let done = step(
        &desired,
        &[exited("web", 137), exited("worker", 0)],
        &mut memory,
        31.0,
    );
    assert_eq!(done.reports[0].last_status, TaskStatus::Stopped);
    assert_eq!(done.reports[0].containers[0].exit_code, Some(137));
    assert!(
        done.actions.is_empty(),
        "nothing restarts: {:?}",
        done.actions
    );
}

/// A task kept at STOPPING only while its exits settle says when they will have settled,
/// so the agent reports STOPPED then rather than a whole poll later; a task with a container
/// still running (its stop under way) says nothing.
#[test]
fn a_stopping_task_says_when_its_exits_settle() {
    let mut desired = task(vec![
        container("web", true, &[]),
        container("log", false, &[]),
    ]);
    desired.desired_status = TaskStatus::Stopped;
    let mut memory = Memory::default();
    let still_running = step(
        &[desired.clone()],
        &[exited("web", 0), running("log")],
        &mut memory,
        20.5,
    );
    assert_eq!(still_running.reports[0].last_status, TaskStatus::Stopping);
    assert_eq!(still_running.settles_at, None);
    let mut later = exited("log", 0);
    later.state = State::Exited {
        exit_code: 0,
        oom_killed: false,
        finished_at: 20.25,
    };
    let settling = step(
        &[desired.clone()],
        &[exited("web", 0), later.clone()],
        &mut memory,
        20.5,
    );
    assert_eq!(settling.reports[0].last_status, TaskStatus::Stopping);
    assert_eq!(settling.settles_at, Some(20.25 + EXIT_SETTLE_SECONDS));
    let settled = step(
        &[desired],
        &[exited("web", 0), later],
        &mut memory,
        20.25 + EXIT_SETTLE_SECONDS,
    );
    assert_eq!(settled.reports[0].last_status, TaskStatus::Stopped);
    assert_eq!(settled.settles_at, None);
}

#[test]
fn a_stop_runs_in_reverse_dependency_order() {
    let mut desired = task(vec![
        container("app", true, &[("proxy", "START")]),
        container("proxy", true, &[]),
    ]);
    desired.desired_status = TaskStatus::Stopped;
    let mut memory = Memory::default();
    let first = step(
        &[desired.clone()],
        &[running("app"), running("proxy")],
        &mut memory,
        1.0,
    );
    assert_eq!(stops(&first), ["rt-app"], "proxy stays while app needs it");
    let second = step(
        &[desired],
        &[exited("app", 0), running("proxy")],
        &mut memory,
        2.0,
    );
    assert_eq!(stops(&second), ["rt-proxy"]);
    assert_eq!(second.reports[0].stopping_at, Some(1.0));
}

#[test]
fn stop_timeout_comes_from_the_container() {
    let mut web = container("web", true, &[]);
    web.stop_timeout = Some(5);
    let mut desired = task(vec![web]);
    desired.desired_status = TaskStatus::Stopped;
    let step = step(&[desired], &[running("web")], &mut Memory::default(), 1.0);
    assert_eq!(
        step.actions,
        [Action::Stop {
            runtime_id: "rt-web".into(),
            timeout_seconds: 5
        }]
    );
}

#[test]
fn a_start_failure_stops_the_task_with_its_reason() {
    let desired = [task(vec![container("web", true, &[])])];
    let mut memory = Memory::default();
    memory.failed_to_start.insert(
        "t1".into(),
        "CannotPullContainerError: no such image".into(),
    );
    let step = step(&desired, &[], &mut memory, 1.0);
    assert!(step.actions.is_empty());
    let report = &step.reports[0];
    assert_eq!(report.last_status, TaskStatus::Stopped);
    assert_eq!(
        report.stopped_at,
        Some(1.0),
        "stopped when the agent saw it fail, not at the epoch"
    );
    assert_eq!(report.stop_code, Some(StopCode::TaskFailedToStart));
    assert_eq!(
        report.containers[0].reason.as_deref(),
        Some("CannotPullContainerError: no such image")
    );
}

fn naming_a_secret(mut definition: ContainerDefinition) -> ContainerDefinition {
    definition.secrets = Some(vec![berth_model::resources::Secret {
        name: "API_KEY".into(),
        value_from: "/web/api-key".into(),
    }]);
    definition
}

fn resolved_for(container: &str) -> Resolution {
    let secrets = berth_model::agent::ContainerSecrets {
        environment: [(
            "API_KEY".to_string(),
            berth_model::agent::SecretValue::new("key-value"),
        )]
        .into(),
        ..Default::default()
    };
    Resolution::Resolved {
        containers: [(container.to_string(), secrets)].into(),
    }
}

#[test]
fn secrets_that_cannot_be_had_start_nothing_and_say_why() {
    let reason = "ResourceInitializationError: unable to pull secrets or registry auth: \
                  invalid parameters: /web/api-key (container app, API_KEY)";
    let mut desired = task(vec![
        container("proxy", true, &[]),
        naming_a_secret(container("app", true, &[("proxy", "START")])),
    ]);
    desired.secrets = Some(Resolution::Failed {
        reason: reason.into(),
    });
    let mut memory = Memory::default();
    let step = step(&[desired], &[], &mut memory, 1.0);
    assert!(step.actions.is_empty(), "not even proxy starts: {step:?}");
    let report = &step.reports[0];
    assert_eq!(report.last_status, TaskStatus::Stopped);
    assert_eq!(report.stop_code, Some(StopCode::TaskFailedToStart));
    assert_eq!(report.stopped_reason.as_deref(), Some(reason));
    assert!(memory.secrets.is_empty(), "nothing kept for a failed task");
}

#[test]
fn secrets_are_held_until_the_last_container_that_needs_them_has_started() {
    let mut desired = task(vec![
        container("proxy", true, &[]),
        naming_a_secret(container("app", true, &[("proxy", "START")])),
    ]);
    desired.secrets = Some(resolved_for("app"));
    let mut memory = Memory::default();
    assert_eq!(
        starts(&step(&[desired.clone()], &[], &mut memory, 1.0)),
        ["proxy"]
    );
    // The server stops sending them once the task is ACTIVATING; the agent still has them.
    desired.secrets = None;
    let activating = step(&[desired.clone()], &[running("proxy")], &mut memory, 2.0);
    assert_eq!(starts(&activating), ["app"]);
    assert_eq!(memory.secrets.get("t1"), Some(&resolved_for("app")));
    let both = [running("proxy"), running("app")];
    let step = step(&[desired], &both, &mut memory, 3.0);
    assert_eq!(step.reports[0].last_status, TaskStatus::Running);
    assert!(
        memory.secrets.is_empty(),
        "dropped once every container runs"
    );
}

#[test]
fn a_container_whose_secrets_the_agent_lost_fails_its_task_and_stops_the_rest() {
    // An agent restarted while the task was activating: proxy runs, app has yet to start,
    // and the server no longer sends the task's secrets.
    let desired = [task(vec![
        container("proxy", true, &[]),
        naming_a_secret(container("app", true, &[("proxy", "START")])),
    ])];
    let mut memory = Memory::default();
    let step = step(&desired, &[running("proxy")], &mut memory, 1.0);
    assert!(starts(&step).is_empty());
    assert_eq!(stops(&step), ["rt-proxy"], "what did start is stopped");
    let report = &step.reports[0];
    assert_eq!(report.stop_code, Some(StopCode::TaskFailedToStart));
    let reason = report.stopped_reason.as_deref().unwrap();
    assert!(
        reason.starts_with(
            "ResourceInitializationError: unable to pull secrets or registry auth: \
             this agent holds no secrets for container app"
        ),
        "{reason}"
    );
}

#[test]
fn an_oom_kill_says_so() {
    let desired = [task(vec![container("web", true, &[])])];
    let killed = Observed {
        state: State::Exited {
            exit_code: 137,
            oom_killed: true,
            finished_at: 3.0,
        },
        ..running("web")
    };
    let step = step(&desired, &[killed], &mut Memory::default(), 4.0);
    assert_eq!(
        step.reports[0].containers[0].reason.as_deref(),
        Some("OutOfMemoryError: Container killed due to memory usage")
    );
}

#[test]
fn containers_of_unknown_tasks_are_stopped_or_kept_a_while() {
    let mut stray = running("web");
    stray.task_id = "gone".into();
    let mut dead = exited("db", 0);
    dead.task_id = "gone".into();
    let observed = [stray, dead];
    let stop = Action::Stop {
        runtime_id: "rt-web".into(),
        timeout_seconds: 30,
    };
    let just_ended = step(&[], &observed, &mut Memory::default(), 21.0);
    assert_eq!(just_ended.actions, std::slice::from_ref(&stop));
    let later = step(
        &[],
        &observed,
        &mut Memory::default(),
        20.0 + KEEP_ENDED_SECONDS + 1.0,
    );
    let remove = Action::Remove {
        runtime_id: "rt-db".into(),
    };
    assert_eq!(later.actions, [stop, remove]);
}

#[test]
fn only_the_newest_ended_containers_are_kept() {
    let ended: Vec<Observed> = (0..KEEP_ENDED_CONTAINERS + 3)
        .map(|n| Observed {
            task_id: format!("gone-{n}"),
            runtime_id: format!("rt-{n}"),
            state: State::Exited {
                exit_code: 1,
                oom_killed: false,
                finished_at: n as f64,
            },
            ..running("web")
        })
        .collect();
    let step = step(&[], &ended, &mut Memory::default(), 100.0);
    let removed: BTreeSet<&str> = step
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { runtime_id } => Some(runtime_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(removed, BTreeSet::from(["rt-0", "rt-1", "rt-2"]));
}

#[test]
fn a_restarted_agent_adopts_what_runs_and_starts_nothing_twice() {
    let desired = [task(vec![
        container("web", true, &[]),
        container("worker", true, &[]),
    ])];
    let step = step(
        &desired,
        &[running("web"), running("worker")],
        &mut Memory::default(),
        100.0,
    );
    assert!(step.actions.is_empty(), "{:?}", step.actions);
    assert_eq!(step.reports[0].last_status, TaskStatus::Running);
}

#[test]
fn a_fresh_exit_is_reported_only_once_it_has_settled() {
    let desired = [task(vec![container("web", true, &[])])];
    let just_exited = Observed {
        state: State::Exited {
            exit_code: 137,
            oom_killed: false,
            finished_at: 10.0,
        },
        ..running("web")
    };
    let mut memory = Memory::default();
    assert_eq!(
        step(
            &desired,
            std::slice::from_ref(&just_exited),
            &mut memory,
            10.2
        )
        .reports[0]
            .last_status,
        TaskStatus::Stopping
    );
    assert_eq!(
        step(&desired, &[just_exited], &mut memory, 11.5).reports[0].last_status,
        TaskStatus::Stopped
    );
}

fn removes(step: &Step) -> Vec<&str> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove { runtime_id } => Some(runtime_id.as_str()),
            _ => None,
        })
        .collect()
}

fn awsvpc(desired_status: TaskStatus) -> DesiredTask {
    DesiredTask {
        network_mode: "awsvpc".into(),
        desired_status,
        ..task(vec![container("app", true, &[])])
    }
}

#[test]
fn a_stopped_awsvpc_task_deprovisions_before_it_is_stopped() {
    let mut memory = Memory::default();
    let desired = [awsvpc(TaskStatus::Stopped)];
    let stopping = step(&desired, &[running("app")], &mut memory, 15.0);
    assert_eq!(stopping.reports[0].last_status, TaskStatus::Stopping);
    assert_eq!(stops(&stopping), ["rt-app"]);

    // Every container has exited and settled: its address goes back before STOPPED.
    let gone = [exited("app", 143)];
    let deprovisioning = step(&desired, &gone, &mut memory, 30.0);
    let report = &deprovisioning.reports[0];
    assert_eq!(report.last_status, TaskStatus::Deprovisioning);
    assert_eq!(report.stopped_at, None, "not stopped yet");
    assert_eq!(report.containers[0].exit_code, Some(143));
    assert_eq!(removes(&deprovisioning), ["rt-app"]);

    // Removed: STOPPED, still with what the removed container told.
    let stopped = step(&desired, &[], &mut memory, 31.0);
    let report = &stopped.reports[0];
    assert_eq!(report.last_status, TaskStatus::Stopped);
    assert_eq!(
        report.stopped_at,
        Some(20.0),
        "when the last container exited"
    );
    assert_eq!(report.containers[0].exit_code, Some(143));
    assert_eq!(report.containers[0].last_status, ContainerStatus::Stopped);
    assert!(stopped.actions.is_empty());
}

#[test]
fn an_awsvpc_task_that_ended_itself_is_removed_only_once_the_server_wants_it_stopped() {
    let mut memory = Memory::default();
    let gone = [exited("app", 3)];
    let ended = step(&[awsvpc(TaskStatus::Running)], &gone, &mut memory, 30.0);
    assert_eq!(ended.reports[0].last_status, TaskStatus::Deprovisioning);
    assert_eq!(
        ended.reports[0].stop_code,
        Some(StopCode::EssentialContainerExited)
    );
    assert!(ended.actions.is_empty(), "the server has not heard yet");

    let removing = step(&[awsvpc(TaskStatus::Stopped)], &gone, &mut memory, 31.0);
    assert_eq!(removes(&removing), ["rt-app"]);
    // A poll lost after the removal leaves the old desired state: nothing starts again,
    // and the report still says why the task stopped.
    let after = step(&[awsvpc(TaskStatus::Running)], &[], &mut memory, 32.0);
    assert!(starts(&after).is_empty(), "{:?}", after.actions);
    assert_eq!(after.reports[0].last_status, TaskStatus::Stopped);
    assert_eq!(
        after.reports[0].stop_code,
        Some(StopCode::EssentialContainerExited)
    );
    assert_eq!(after.reports[0].containers[0].exit_code, Some(3));
}

#[test]
fn tasks_in_other_network_modes_stop_without_deprovisioning() {
    let mut memory = Memory::default();
    let desired = [DesiredTask {
        desired_status: TaskStatus::Stopped,
        ..task(vec![container("app", true, &[])])
    }];
    let stopped = step(&desired, &[exited("app", 0)], &mut memory, 30.0);
    assert_eq!(stopped.reports[0].last_status, TaskStatus::Stopped);
    assert!(
        removes(&stopped).is_empty(),
        "removed once the server lets go"
    );
}

/// A container the server heard running that the runtime no longer shows was removed
/// outside Berth: its task ends with that as the reason, and nothing starts again under the
/// task's id (the service replaces the task with a new one).
#[test]
fn a_container_removed_outside_berth_ends_its_task_instead_of_starting_again() {
    let mut memory = Memory::default();
    let desired = [DesiredTask {
        started: vec!["web".into()],
        ..task(vec![container("web", true, &[])])
    }];
    let gone = step(&desired, &[], &mut memory, 40.0);
    assert!(starts(&gone).is_empty(), "never started again under its id");
    let report = &gone.reports[0];
    assert_eq!(report.last_status, TaskStatus::Stopped);
    assert_eq!(report.stop_code, Some(StopCode::EssentialContainerExited));
    assert_eq!(
        report.stopped_reason.as_deref(),
        Some("Essential container in task exited: web was removed outside Berth")
    );
    assert_eq!(report.containers[0].last_status, ContainerStatus::Stopped);
    assert_eq!(
        report.containers[0].reason.as_deref(),
        Some(REMOVED_OUTSIDE)
    );

    // A non-essential container that went is not started again; the task runs on.
    let desired = [DesiredTask {
        started: vec!["web".into(), "sidecar".into()],
        ..task(vec![
            container("web", true, &[]),
            container("sidecar", false, &[]),
        ])
    }];
    let on = step(&desired, &[running("web")], &mut Memory::default(), 41.0);
    assert!(starts(&on).is_empty());
    assert_eq!(on.reports[0].last_status, TaskStatus::Running);

    // Not heard running yet: a missing container is simply started.
    let fresh = [task(vec![container("web", true, &[])])];
    assert_eq!(
        starts(&step(&fresh, &[], &mut Memory::default(), 42.0)),
        ["web"]
    );
}
