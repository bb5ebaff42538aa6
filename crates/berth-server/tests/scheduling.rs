//! The controller and the agent protocol together, over the in-memory store: services reach
//! their count on registered instances, roll to a new revision, replace failed tasks, and
//! RunTask reports placement failures in ECS's words. The agent side is played by the test
//! through the same functions the HTTP endpoints call, the load balancer by [`Balancer`].

use berth_lb::health::State;
use berth_lb::DataPlaneError;
use berth_model::agent::{
    ContainerReport, PollRequest, PollResponse, RegisterRequest, Resolution, TaskReport,
};
use berth_model::resources::NetworkBinding;
use berth_model::status::{ContainerStatus, HealthStatus, StopCode, TaskStatus};
use berth_model::Arns;
use berth_reconcile::Settings;
use berth_server::call::Context;
use berth_server::control::{controller, targets};
use berth_server::data_plane::DataPlane;
use berth_server::ecs::agents;
use berth_server::ecs::clusters;
use berth_server::ecs::container_instances::InstanceRecord;
use berth_server::local::LocalClient;
use berth_store::{Collection, MemoryStore, Record, Store, StoreError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The load balancer's part, played by the test: targets the services want are registered
/// (`initial`), targets they no longer want start draining, and the test moves states on.
#[derive(Default)]
struct Balancer {
    targets: Mutex<HashMap<(String, SocketAddr), State>>,
}

impl DataPlane for Balancer {
    fn target_health(&self, group: &str) -> Vec<(SocketAddr, State, Option<&'static str>)> {
        let targets = self.targets.lock().unwrap();
        targets
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|((_, addr), state)| (*addr, *state, None))
            .collect()
    }

    fn reserve_port(&self, _: u16) -> Result<(), DataPlaneError> {
        Ok(())
    }

    fn dns_name(&self) -> String {
        "berth.test".into()
    }
}

impl Balancer {
    fn sync(&self, api: &Api, now: f64) {
        let wanted = api
            .as_system(now, |call| targets::service_targets(call, "default"))
            .unwrap();
        let mut targets = self.targets.lock().unwrap();
        for (key, state) in targets.iter_mut() {
            if !wanted
                .iter()
                .any(|t| t.target_group_arn == key.0 && t.addr == key.1)
            {
                *state = State::Draining;
            }
        }
        for target in wanted {
            targets
                .entry((target.target_group_arn, target.addr))
                .or_insert(State::Initial);
        }
    }

    /// Moves every target in `from` to `to` (`None`: drained and removed).
    fn set_all(&self, from: State, to: Option<State>) {
        let mut targets = self.targets.lock().unwrap();
        match to {
            Some(to) => targets
                .values_mut()
                .filter(|s| **s == from)
                .for_each(|s| *s = to),
            None => targets.retain(|_, s| *s != from),
        }
    }

    fn count(&self, state: State) -> usize {
        let targets = self.targets.lock().unwrap();
        targets.values().filter(|s| **s == state).count()
    }
}

/// The APIs over a store, called in-process as the front calls them.
type Api = Context;

struct Cluster {
    api: Arc<Api>,
    client: LocalClient,
    balancer: Arc<Balancer>,
    now: f64,
    instance: Option<InstanceRecord>,
    agent_key: String,
    /// What the controller remembers between rounds (new with each server).
    rounds: controller::Rounds,
}

impl Cluster {
    fn new() -> Self {
        Self::over(Arc::new(MemoryStore::new()))
    }

    fn over(store: Arc<dyn Store>) -> Self {
        let balancer = Arc::new(Balancer::default());
        let api = Arc::new(
            Context::new(store, Arns::new("us-east-1", "000000000000"))
                .with_data_plane(Arc::clone(&balancer) as Arc<dyn DataPlane>),
        );
        api.as_system(1000.0, clusters::ensure_default).unwrap();
        Self {
            client: LocalClient::new(Arc::clone(&api)).as_caller("BKIATEST"),
            api,
            balancer,
            now: 1000.0,
            instance: None,
            agent_key: String::new(),
            rounds: controller::Rounds::default(),
        }
    }

    /// The server restarts at `now` over the same store and data plane: it has heard from
    /// no agent since.
    fn restart(&mut self) {
        let api = Arc::new(
            Context::new(
                Arc::clone(self.api.store()),
                Arns::new("us-east-1", "000000000000"),
            )
            .with_data_plane(Arc::clone(&self.balancer) as Arc<dyn DataPlane>)
            .started_at(self.now),
        );
        self.client = LocalClient::new(Arc::clone(&api)).as_caller("BKIATEST");
        self.api = api;
        self.rounds = controller::Rounds::default();
    }

    /// The agent's poll as the front runs it, with no reports: it completes a resync.
    fn poll(&self, synced: bool) -> PollResponse {
        self.poll_knowing(synced, None)
    }

    /// A poll from an agent that holds the desired set of version `known`.
    fn poll_knowing(&self, synced: bool, known: Option<&str>) -> PollResponse {
        let record = self.instance.clone().unwrap();
        let request = PollRequest {
            container_instance_arn: record.instance.container_instance_arn.clone(),
            known_version: known.map(str::to_string),
            wait_seconds: 0,
            reports: vec![],
            synced,
            page_after: None,
            keeps_unchanged: true,
        };
        self.api
            .as_system(self.now, |call| {
                agents::poll(call, &request, &self.agent_key)
            })
            .unwrap()
            .1
    }

    fn ecs(&self, action: &str, body: Value) -> Value {
        self.client
            .ecs_at(action, body.to_string().as_bytes(), self.now)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn join(&mut self, cpu: i64, memory: i64) {
        let record = self.api.as_system(self.now, |call| {
            let token = agents::create_join_token(call, "test").unwrap();
            let response = agents::register(call, &registration(cpu, memory), &token).unwrap();
            let record =
                agents::authenticate(call, &response.container_instance_arn, &response.agent_key)
                    .unwrap();
            (record, response.agent_key)
        });
        self.instance = Some(record.0);
        self.agent_key = record.1;
    }

    /// The agent polls (and so stays connected) without reporting anything new.
    fn heartbeat(&self) {
        let record = self.instance.clone().unwrap();
        self.api.as_system(self.now, |call| {
            call.presence().seen(record.id(), self.now);
        });
    }

    fn controller_round(&self) {
        controller::run_round(
            &self.api,
            self.now,
            &Settings::default(),
            Some(1),
            &self.rounds,
        )
        .unwrap();
    }

    fn desired(&self) -> PollResponse {
        let record = self.instance.clone().unwrap();
        self.api
            .as_system(self.now, |call| agents::desired(call, &record, None, None))
            .unwrap()
    }

    /// The agent's side: every wanted task runs (healthy), every unwanted one stops.
    fn agent_round(&self, exit_essential: bool) {
        let record = self.instance.clone().unwrap();
        let desired = self.desired();
        let reports: Vec<TaskReport> = desired
            .tasks
            .iter()
            .map(|task| {
                let running = task.desired_status == TaskStatus::Running && !exit_essential;
                TaskReport {
                    task_arn: task.task_arn.clone(),
                    last_status: if running {
                        TaskStatus::Running
                    } else {
                        TaskStatus::Stopped
                    },
                    containers: task
                        .containers
                        .iter()
                        .map(|c| ContainerReport {
                            name: c.name.clone().unwrap_or_default(),
                            runtime_id: Some(format!("c-{}", task.task_id)),
                            last_status: if running {
                                ContainerStatus::Running
                            } else {
                                ContainerStatus::Stopped
                            },
                            exit_code: (!running).then_some(if exit_essential { 1 } else { 0 }),
                            reason: None,
                            network_bindings: vec![NetworkBinding {
                                bind_ip: Some("0.0.0.0".into()),
                                container_port: Some(80),
                                host_port: Some(host_port(&task.task_id)),
                                protocol: Some("tcp".into()),
                            }],
                            health_status: HealthStatus::Unknown,
                            ip_address: None,
                        })
                        .collect(),
                    pull_started_at: Some(self.now),
                    pull_stopped_at: Some(self.now),
                    started_at: Some(self.now),
                    stopping_at: (!running).then_some(self.now),
                    stopped_at: (!running).then_some(self.now),
                    stop_code: exit_essential.then_some(StopCode::EssentialContainerExited),
                    stopped_reason: exit_essential
                        .then(|| "Essential container in task exited".to_string()),
                }
            })
            .collect();
        self.api
            .as_system(self.now, |call| {
                call.presence().seen(record.id(), self.now);
                agents::apply_reports(call, &record, &reports)
            })
            .unwrap();
    }

    /// The message of the error `action` must answer.
    fn refused(&self, action: &str, body: Value) -> String {
        self.client
            .ecs_at(action, body.to_string().as_bytes(), self.now)
            .expect_err(action)
            .message
    }

    fn service(&self) -> Value {
        self.ecs("DescribeServices", json!({"services": ["web"]}))["services"][0].clone()
    }

    /// Rounds of controller and agent with time passing, until `done` or a deadline.
    fn run_until(&mut self, what: &str, done: impl Fn(&Cluster) -> bool) {
        for _ in 0..60 {
            self.controller_round();
            self.agent_round(false);
            self.balancer.sync(&self.api, self.now);
            if done(self) {
                return;
            }
            self.now += 1.0;
        }
        panic!("{what} never happened; service is {}", self.service());
    }
}

/// What the test's one agent, `node-1` in zone `a`, says when it registers.
fn registration(cpu: i64, memory: i64) -> RegisterRequest {
    RegisterRequest {
        cluster: "default".into(),
        instance_id: "node-1".into(),
        hostname: "node-1".into(),
        cpu,
        memory,
        attributes: [("zone".to_string(), "a".to_string())].into(),
        agent_version: "test".into(),
        runtime: "fake".into(),
        address: Some("127.0.0.1".into()),
    }
}

/// A host port of the task's own, as Docker would pick.
fn host_port(task_id: &str) -> i32 {
    30000 + i32::from_str_radix(&task_id[..3], 16).unwrap()
}

fn register(cluster: &Cluster, image: &str) {
    cluster.ecs(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": image, "memory": 512, "cpu": 256}]}),
    );
}

fn stable(cluster: &Cluster) -> bool {
    let service = cluster.service();
    service["deployments"].as_array().unwrap().len() == 1
        && service["runningCount"] == service["desiredCount"]
        && service["deployments"][0]["rolloutState"] == "COMPLETED"
}

/// A cluster with one agent (4,096 CPU units, 8 GiB) running the service `web` of `app:1`,
/// created with `fields` besides its name, task definition and count, and steady.
fn steady_web(count: i64, fields: Value) -> Cluster {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    let mut service = json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": count});
    if let (Some(service), Some(fields)) = (service.as_object_mut(), fields.as_object()) {
        service.extend(fields.clone());
    }
    cluster.ecs("CreateService", service);
    cluster.run_until("steady state", stable);
    cluster
}

#[test]
fn a_service_reaches_steady_state_on_a_registered_instance() {
    let cluster = steady_web(3, json!({}));
    let service = cluster.service();
    let events: Vec<&str> = service["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("(service web) has started 3 tasks: (task ")),
        "{events:?}"
    );
    assert_eq!(events[0], "(service web) has reached a steady state.");
    let instance = cluster.ecs(
        "DescribeContainerInstances",
        json!({"containerInstances": ["node-1"]}),
    );
    let instance = &instance["containerInstances"][0];
    assert_eq!(instance["runningTasksCount"], 3);
    assert_eq!(instance["agentConnected"], true);
    let remaining: Vec<i64> = instance["remainingResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["integerValue"].as_i64().unwrap())
        .collect();
    assert_eq!(remaining, [4096 - 3 * 256, 8192 - 3 * 512]);
}

#[test]
fn a_round_over_a_cluster_where_nothing_changed_is_skipped_until_something_does() {
    let mut cluster = steady_web(2, json!({}));
    cluster.ecs("CreateCluster", json!({"clusterName": "other"}));
    cluster.controller_round();
    let count = |cluster: &Cluster| {
        cluster.ecs("ListTasks", json!({}))["taskArns"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&cluster), 2);

    // A write no one published (as no handler writes): a quiet cluster is not looked at.
    let key = berth_server::ecs::names::key("default", "web");
    let store = Arc::clone(cluster.api.store());
    let record = store.get(Collection::Services, &key).unwrap().unwrap();
    let mut service: Value = serde_json::from_str(&record.doc).unwrap();
    service["desiredCount"] = json!(3);
    service["deployments"][0]["desiredCount"] = json!(3);
    store
        .update(
            Collection::Services,
            &key,
            record.version,
            &service.to_string(),
        )
        .unwrap();
    cluster.now += 30.0;
    cluster.heartbeat();
    cluster.controller_round();
    assert_eq!(
        count(&cluster),
        2,
        "skipped: nothing it reconciles was published"
    );

    // A write to another cluster concerns that cluster's round alone.
    cluster.ecs(
        "CreateService",
        json!({"cluster": "other", "serviceName": "api", "taskDefinition": "web", "desiredCount": 1}),
    );
    cluster.controller_round();
    assert_eq!(
        count(&cluster),
        2,
        "skipped: the write was to another cluster"
    );

    // A machine that goes silent changes what the round sees: it looks again.
    cluster.now += 30.0;
    cluster.controller_round();
    let lost = cluster.ecs("ListTasks", json!({"desiredStatus": "STOPPED"}));
    assert_eq!(
        lost["taskArns"].as_array().unwrap().len(),
        2,
        "lost with their machine"
    );
}

#[test]
fn a_round_reads_only_the_services_whose_record_tasks_or_machines_changed() {
    let mut cluster = steady_web(3, json!({}));
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "api", "taskDefinition": "web", "desiredCount": 2}),
    );
    let api_stable = |cluster: &Cluster| {
        let api = &cluster.ecs("DescribeServices", json!({"services": ["api"]}))["services"][0];
        api["runningCount"] == 2 && api["deployments"][0]["rolloutState"] == "COMPLETED"
    };
    cluster.run_until("api steady", api_stable);
    let read = |cluster: &Cluster| cluster.api.prometheus().tasks_read_in("default");
    let settle = |cluster: &mut Cluster| {
        for _ in 0..3 {
            cluster.now += 1.0;
            cluster.controller_round();
            cluster.agent_round(false);
        }
    };
    settle(&mut cluster);

    // Settled, with a published write to one service that changes nothing of its plan.
    let before = read(&cluster);
    cluster.ecs(
        "TagResource",
        json!({"resourceArn": cluster.ecs("DescribeServices", json!({"services": ["api"]}))["services"][0]["serviceArn"], "tags": [{"key": "team", "value": "search"}]}),
    );
    cluster.now += 1.0;
    cluster.heartbeat();
    cluster.controller_round();
    assert_eq!(
        read(&cluster) - before,
        2,
        "api's two tasks, not web's three"
    );
    let before = read(&cluster);
    cluster.controller_round();
    assert_eq!(read(&cluster), before, "settled again: nothing read");

    // Scaling one service out reads it alone, and places with what the other holds.
    cluster.ecs(
        "UpdateService",
        json!({"service": "api", "desiredCount": 3}),
    );
    let before = read(&cluster);
    cluster.controller_round();
    assert_eq!(read(&cluster) - before, 2);
    cluster.run_until("api scaled out", |c| {
        c.ecs("DescribeServices", json!({"services": ["api"]}))["services"][0]["runningCount"] == 3
    });
    assert_eq!(cluster.service()["runningCount"], 3, "web untouched");

    // A machine that changes (here: draining) makes a round read the services on it.
    let before = read(&cluster);
    let instance = cluster.instance.clone().unwrap();
    cluster.ecs(
        "UpdateContainerInstancesState",
        json!({"containerInstances": [instance.instance.container_instance_arn], "status": "DRAINING"}),
    );
    cluster.controller_round();
    assert_eq!(read(&cluster) - before, 6, "every task on the machine");
}

#[test]
fn list_tasks_pages_a_machines_tasks_from_the_index() {
    let cluster = steady_web(3, json!({}));
    let arn = cluster
        .instance
        .clone()
        .unwrap()
        .instance
        .container_instance_arn;
    let first = cluster.ecs(
        "ListTasks",
        json!({"containerInstance": arn, "maxResults": 2}),
    );
    assert_eq!(first["taskArns"].as_array().unwrap().len(), 2);
    let rest = cluster.ecs(
        "ListTasks",
        json!({"containerInstance": arn, "nextToken": first["nextToken"]}),
    );
    assert_eq!(rest["taskArns"].as_array().unwrap().len(), 1);
    assert!(rest["nextToken"].is_null());
    let by_id = cluster.ecs(
        "ListTasks",
        json!({"containerInstance": berth_model::arn::resource_id(&arn), "family": "web"}),
    );
    assert_eq!(by_id["taskArns"].as_array().unwrap().len(), 3);
    let elsewhere = cluster.ecs("ListTasks", json!({"containerInstance": "elsewhere"}));
    assert!(elsewhere["taskArns"].as_array().unwrap().is_empty());
}

#[test]
fn tasks_run_in_one_call_never_overcommit_a_machine_whatever_their_groups() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    for family in ["big", "other"] {
        cluster.ecs(
            "RegisterTaskDefinition",
            json!({"family": family, "containerDefinitions": [{"name": "app", "image": "img", "memory": 6000}]}),
        );
    }
    // Two RunTasks of different groups in one call, as a batch of writes or a schedule's
    // firings run them: the second sees what the first placed.
    let (first, second) = cluster.api.as_system(cluster.now, |call| {
        let run = |family: &str| {
            let request: berth_model::requests::RunTask =
                serde_json::from_value(json!({"taskDefinition": family})).unwrap();
            berth_server::ecs::tasks::run(call, &request).unwrap()
        };
        (run("big"), run("other"))
    });
    assert_eq!(first["tasks"].as_array().unwrap().len(), 1);
    assert!(second["tasks"].as_array().unwrap().is_empty(), "{second}");
    assert_eq!(second["failures"][0]["reason"], "RESOURCE:MEMORY");
}

#[test]
fn a_poll_that_knows_the_set_is_answered_without_its_tasks() {
    let cluster = steady_web(2, json!({}));
    let full = cluster.poll_knowing(true, None);
    assert_eq!(full.tasks.len(), 2);
    assert!(!full.unchanged);
    let again = cluster.poll_knowing(true, Some(&full.version));
    assert!(again.unchanged && again.tasks.is_empty(), "{again:?}");
    assert_eq!(again.version, full.version);

    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 1}),
    );
    cluster.controller_round();
    let changed = cluster.poll_knowing(true, Some(&full.version));
    assert!(!changed.unchanged);
    assert_ne!(changed.version, full.version);
    assert_eq!(changed.tasks.len(), 2, "one of them now to stop");
}

#[test]
fn an_agent_that_does_not_keep_unchanged_sets_is_sent_its_tasks_every_time() {
    let cluster = steady_web(2, json!({}));
    let record = cluster.instance.clone().unwrap();
    let full = cluster.poll_knowing(true, None);
    let request = PollRequest {
        container_instance_arn: record.instance.container_instance_arn.clone(),
        known_version: Some(full.version.clone()),
        wait_seconds: 0,
        reports: vec![],
        synced: true,
        page_after: None,
        keeps_unchanged: false,
    };
    let again = cluster
        .api
        .as_system(cluster.now, |call| {
            agents::poll(call, &request, &cluster.agent_key)
        })
        .unwrap()
        .1;
    assert!(!again.unchanged);
    assert_eq!(again.tasks, full.tasks);
}

#[test]
fn a_new_revision_rolls_and_the_old_deployment_leaves() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
    );
    cluster.run_until("first steady state", stable);
    register(&cluster, "app:2");
    let updated = cluster.ecs(
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    assert_eq!(
        updated["service"]["deployments"].as_array().unwrap().len(),
        2
    );
    cluster.run_until("the roll to revision 2", |c| {
        stable(c)
            && c.service()["taskDefinition"]
                .as_str()
                .unwrap()
                .ends_with("web:2")
    });
    let running = cluster.ecs("ListTasks", json!({"serviceName": "web"}));
    let tasks = cluster.ecs("DescribeTasks", json!({"tasks": running["taskArns"]}));
    assert!(tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["taskDefinitionArn"].as_str().unwrap().ends_with("web:2")));
}

#[test]
fn a_task_whose_essential_container_exits_is_replaced() {
    let mut cluster = steady_web(1, json!({}));
    let first = cluster.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"][0].clone();
    cluster.agent_round(true);
    let stopped = cluster.ecs("DescribeTasks", json!({"tasks": [first]}))["tasks"][0].clone();
    assert_eq!(stopped["lastStatus"], "STOPPED");
    assert_eq!(stopped["stopCode"], "EssentialContainerExited");
    assert_eq!(stopped["containers"][0]["exitCode"], 1);
    cluster.run_until("a replacement", |c| {
        let arns = c.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"].clone();
        arns.as_array().unwrap().len() == 1 && arns[0] != first && c.service()["runningCount"] == 1
    });
}

#[test]
fn a_service_keeps_running_and_scaling_its_deregistered_revision() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register_web(&cluster);
    let group = target_group(&cluster);
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    cluster.run_until("steady state", stable);
    register(&cluster, "app:2");
    for revision in ["web:1", "web:2"] {
        cluster.ecs(
            "DeregisterTaskDefinition",
            json!({"taskDefinition": revision}),
        );
    }
    let deregistered = cluster.service()["taskDefinition"].clone();
    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 2}),
    );
    // ecs-deploy's `ecs scale` names the service's revision along with the count.
    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 3, "taskDefinition": deregistered}),
    );
    cluster.run_until("three tasks", |c| {
        stable(c) && c.service()["runningCount"] == 3
    });
    // Tasks that exit are replaced from the deregistered revision too.
    let first = cluster.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"].clone();
    cluster.agent_round(true);
    cluster.run_until("three replacements", |c| {
        let arns = c.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"].clone();
        stable(c)
            && c.service()["runningCount"] == 3
            && arns
                .as_array()
                .unwrap()
                .iter()
                .all(|a| !first.as_array().unwrap().contains(a))
    });
    let running = cluster.ecs("ListTasks", json!({"serviceName": "web"}));
    let tasks = cluster.ecs("DescribeTasks", json!({"tasks": running["taskArns"]}));
    assert!(tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["taskDefinitionArn"] == deregistered));

    // A new deployment needs an ACTIVE revision, as on ECS.
    let balancers = json!([{"targetGroupArn": group, "containerName": "app", "containerPort": 80}]);
    for (change, revision) in [
        (json!({"forceNewDeployment": true}), "web:1"),
        (json!({"taskDefinition": "web:2"}), "web:2"),
        (json!({"loadBalancers": balancers}), "web:1"),
    ] {
        let mut body = json!({"service": "web", "desiredCount": 1});
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let message = cluster.refused("UpdateService", body);
        assert!(
            message.starts_with(&format!(
                "TaskDefinition is inactive: arn:aws:ecs:us-east-1:000000000000:task-definition/{revision}"
            )),
            "{change}: {message}"
        );
    }
    let service = cluster.service();
    assert_eq!(
        service["desiredCount"], 3,
        "a refused update changes nothing"
    );
    assert_eq!(service["deployments"].as_array().unwrap().len(), 1);
}

#[test]
fn run_task_that_cannot_fit_reports_the_resource() {
    let mut cluster = Cluster::new();
    cluster.join(512, 1024);
    cluster.ecs(
        "RegisterTaskDefinition",
        json!({"family": "big", "containerDefinitions": [{"name": "app", "image": "x", "memory": 4096, "cpu": 128}]}),
    );
    let out = cluster.ecs("RunTask", json!({"taskDefinition": "big"}));
    assert_eq!(out["tasks"], json!([]));
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:MEMORY");
    cluster.ecs(
        "RegisterTaskDefinition",
        json!({"family": "hungry", "containerDefinitions": [{"name": "app", "image": "x", "memory": 64, "cpu": 2048}]}),
    );
    let out = cluster.ecs("RunTask", json!({"taskDefinition": "hungry"}));
    assert_eq!(out["failures"][0]["reason"], "RESOURCE:CPU");
}

#[test]
fn tasks_recorded_before_any_agent_are_placed_when_one_joins() {
    let mut cluster = Cluster::new();
    register(&cluster, "app:1");
    let out = cluster.ecs("RunTask", json!({"taskDefinition": "web"}));
    assert_eq!(out["tasks"][0]["lastStatus"], "PROVISIONING");
    assert!(out["tasks"][0].get("containerInstanceArn").is_none());
    cluster.join(4096, 8192);
    cluster.controller_round();
    assert_eq!(cluster.desired().tasks.len(), 1);
}

#[test]
fn an_instance_registered_through_the_api_gets_tasks_only_once_its_agent_connects() {
    let mut cluster = Cluster::new();
    let registered = cluster.ecs(
        "RegisterContainerInstance",
        json!({
            "instanceIdentityDocument": r#"{"instanceId": "node-1"}"#,
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}
            ],
            "tags": [{"key": "rack", "value": "r1"}]
        }),
    )["containerInstance"]
        .clone();
    assert_eq!(registered["agentConnected"], false);
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    cluster.controller_round();
    let events = cluster.service()["events"].clone();
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("was unable to place a task"),
        "nothing runs tasks on an instance without an agent: {events}"
    );

    // A berth agent with the same instance id takes the instance over: same ARN, its tags
    // kept, the agent's view of the machine, and tasks.
    cluster.join(2048, 4096);
    let instance = cluster.ecs(
        "DescribeContainerInstances",
        json!({"containerInstances": ["node-1"], "include": ["TAGS"]}),
    )["containerInstances"][0]
        .clone();
    assert_eq!(
        instance["containerInstanceArn"],
        registered["containerInstanceArn"]
    );
    assert_eq!(instance["agentConnected"], true);
    assert_eq!(instance["registeredResources"][0]["integerValue"], 2048);
    assert_eq!(instance["tags"], json!([{"key": "rack", "value": "r1"}]));
    cluster.run_until("the service to be stable", stable);
}

#[test]
fn an_agent_with_an_unknown_join_token_is_refused_and_told_what_to_do() {
    let cluster = Cluster::new();
    let refused = cluster.api.as_system(cluster.now, |call| {
        agents::register(call, &registration(1024, 1024), "bjt_wrong").unwrap_err()
    });
    assert_eq!(refused.kind, berth_model::ErrorKind::AccessDeniedException);
    assert!(
        refused.message.contains("berth tokens create"),
        "{}",
        refused.message
    );
    let listed = cluster.ecs("ListContainerInstances", json!({}));
    assert_eq!(listed["containerInstanceArns"], json!([]));
}

#[test]
fn a_draining_instance_gets_no_new_tasks() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    cluster.ecs(
        "UpdateContainerInstancesState",
        json!({"containerInstances": ["node-1"], "status": "DRAINING"}),
    );
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    cluster.controller_round();
    let events = cluster.service()["events"].clone();
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("was unable to place a task"),
        "{events}"
    );
}

#[test]
fn stopped_tasks_are_forgotten_after_an_hour() {
    let mut cluster = Cluster::new();
    register(&cluster, "app:1");
    let arn =
        cluster.ecs("RunTask", json!({"taskDefinition": "web"}))["tasks"][0]["taskArn"].clone();
    cluster.ecs("StopTask", json!({"task": arn}));
    cluster.now += 3000.0;
    cluster.controller_round();
    assert_eq!(
        cluster.ecs("DescribeTasks", json!({"tasks": [arn]}))["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    cluster.now += 700.0;
    cluster.controller_round();
    let out = cluster.ecs("DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(out["failures"][0]["reason"], "MISSING");
}

/// A target group, created through the ELBv2 API; returns its ARN.
fn target_group(cluster: &Cluster) -> String {
    let created = cluster
        .client
        .elbv2_at(
            "CreateTargetGroup",
            &[
                ("Name", "web"),
                ("Protocol", "HTTP"),
                ("Port", "80"),
                ("VpcId", "vpc-1"),
            ],
            cluster.now,
        )
        .unwrap();
    created["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The test app's definition with the port the load balancer forwards to.
fn register_web(cluster: &Cluster) {
    cluster.ecs(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{
            "name": "app", "image": "app:1", "memory": 512, "cpu": 256,
            "portMappings": [{"containerPort": 80, "hostPort": 0}],
        }]}),
    );
}

fn balanced_service(cluster: &Cluster, count: i64, grace: i64) -> String {
    register_web(cluster);
    let group = target_group(cluster);
    cluster.ecs(
        "CreateService",
        json!({
            "serviceName": "web", "taskDefinition": "web", "desiredCount": count,
            "healthCheckGracePeriodSeconds": grace,
            "loadBalancers": [{"targetGroupArn": group, "containerName": "app", "containerPort": 80}],
        }),
    );
    group
}

fn messages(cluster: &Cluster) -> Vec<String> {
    cluster.service()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

fn statuses(cluster: &Cluster) -> Vec<String> {
    let arns = cluster.ecs("ListTasks", json!({"desiredStatus": "STOPPED"}))["taskArns"].clone();
    if arns.as_array().unwrap().is_empty() {
        return Vec::new();
    }
    cluster.ecs("DescribeTasks", json!({"tasks": arns}))["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["lastStatus"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_balanced_service_counts_a_task_healthy_only_once_its_target_is() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    balanced_service(&cluster, 2, 0);
    for _ in 0..20 {
        cluster.controller_round();
        cluster.agent_round(false);
        cluster.balancer.sync(&cluster.api, cluster.now);
        cluster.now += 1.0;
    }
    assert_eq!(cluster.balancer.count(State::Initial), 2);
    assert_eq!(cluster.service()["runningCount"], 2);
    assert_eq!(
        cluster.service()["deployments"][0]["rolloutState"],
        "IN_PROGRESS",
        "running for 20 s is not enough behind a load balancer"
    );
    cluster
        .balancer
        .set_all(State::Initial, Some(State::Healthy));
    cluster.run_until("steady state", stable);
}

#[test]
fn a_stopping_target_is_drained_before_its_stop_signal() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    let group = balanced_service(&cluster, 2, 0);
    cluster.run_until("two targets", |c| c.balancer.count(State::Initial) == 2);
    cluster
        .balancer
        .set_all(State::Initial, Some(State::Healthy));
    cluster.run_until("steady state", stable);

    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 1}),
    );
    cluster.controller_round();
    assert_eq!(statuses(&cluster), ["DEACTIVATING"]);
    assert!(
        cluster
            .desired()
            .tasks
            .iter()
            .all(|t| t.desired_status == TaskStatus::Running),
        "the agent keeps a draining task running"
    );
    assert!(
        messages(&cluster)
            .contains(&"(service web) has begun draining connections on 1 tasks.".into()),
        "{:?}",
        messages(&cluster)
    );
    cluster.balancer.sync(&cluster.api, cluster.now);
    assert_eq!(cluster.balancer.count(State::Draining), 1);
    cluster.now += 1.0;
    cluster.controller_round();
    assert_eq!(statuses(&cluster), ["DEACTIVATING"], "still draining");

    cluster.balancer.set_all(State::Draining, None);
    cluster.controller_round();
    assert_eq!(statuses(&cluster), ["STOPPING"]);
    assert_eq!(
        cluster
            .desired()
            .tasks
            .iter()
            .filter(|t| t.desired_status == TaskStatus::Stopped)
            .count(),
        1,
        "now the agent stops it"
    );
    assert!(
        messages(&cluster).contains(&format!(
            "(service web) deregistered 1 targets in (target-group {group})"
        )),
        "{:?}",
        messages(&cluster)
    );
    cluster.agent_round(false);
    assert_eq!(statuses(&cluster), ["STOPPED"]);
}

/// StopTask and a DRAINING instance take a service task out the same way scale-in does:
/// deregistered and drained while the agent keeps it running, only then signalled.
#[test]
fn stop_task_and_a_draining_instance_drain_before_the_stop_signal() {
    for via_instance in [false, true] {
        let mut cluster = Cluster::new();
        cluster.join(4096, 8192);
        balanced_service(&cluster, 1, 0);
        cluster.run_until("a target", |c| c.balancer.count(State::Initial) == 1);
        cluster
            .balancer
            .set_all(State::Initial, Some(State::Healthy));
        cluster.run_until("steady state", stable);
        let arn = cluster.ecs("ListTasks", json!({}))["taskArns"][0].clone();
        if via_instance {
            // With a single instance there is nowhere to start a replacement first.
            cluster.ecs(
                "UpdateService",
                json!({"service": "web", "deploymentConfiguration": {"minimumHealthyPercent": 0}}),
            );
            let instance = cluster.ecs("ListContainerInstances", json!({}))
                ["containerInstanceArns"][0]
                .clone();
            cluster.ecs(
                "UpdateContainerInstancesState",
                json!({"containerInstances": [instance], "status": "DRAINING"}),
            );
        } else {
            cluster.ecs("StopTask", json!({"task": arn, "reason": "moving on"}));
        }
        cluster.controller_round();
        assert_eq!(statuses(&cluster), ["DEACTIVATING"], "{via_instance}");
        assert!(
            cluster
                .desired()
                .tasks
                .iter()
                .any(|t| t.task_arn == arn && t.desired_status == TaskStatus::Running),
            "the agent keeps the draining task running ({via_instance})"
        );
        cluster.balancer.sync(&cluster.api, cluster.now);
        assert_eq!(cluster.balancer.count(State::Draining), 1);
        cluster.balancer.set_all(State::Draining, None);
        cluster.controller_round();
        assert_eq!(statuses(&cluster), ["STOPPING"], "{via_instance}");
        assert!(
            cluster
                .desired()
                .tasks
                .iter()
                .all(|t| t.task_arn != arn || t.desired_status == TaskStatus::Stopped),
            "now the agent stops it ({via_instance})"
        );
    }
}

#[test]
fn a_task_its_target_group_finds_unhealthy_is_replaced_after_the_grace_period() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    let group = balanced_service(&cluster, 1, 30);
    cluster.run_until("a target", |c| c.balancer.count(State::Initial) == 1);
    cluster
        .balancer
        .set_all(State::Initial, Some(State::Unhealthy));
    for _ in 0..10 {
        cluster.controller_round();
        cluster.now += 1.0;
    }
    assert!(statuses(&cluster).is_empty(), "within the grace period");
    cluster.now += 30.0;
    cluster.heartbeat();
    cluster.controller_round();
    let arns = cluster.ecs("ListTasks", json!({"desiredStatus": "STOPPED"}))["taskArns"].clone();
    let task = cluster.ecs("DescribeTasks", json!({"tasks": arns}))["tasks"][0].clone();
    assert_eq!(
        task["stoppedReason"],
        format!("Task failed ELB health checks in (target-group {group})")
    );
    assert_eq!(task["lastStatus"], "DEACTIVATING");
}

#[test]
fn load_balancers_must_name_a_target_group_and_a_mapped_port() {
    let cluster = Cluster::new();
    register_web(&cluster);
    let group = target_group(&cluster);
    let create = |balancer: Value| {
        let body =
            json!({"serviceName": "web", "taskDefinition": "web", "loadBalancers": [balancer]});
        cluster
            .client
            .ecs_at("CreateService", body.to_string().as_bytes(), cluster.now)
            .unwrap_err()
            .message
    };
    let missing = group.replace("/web/", "/nope/");
    assert!(create(
        json!({"targetGroupArn": missing, "containerName": "app", "containerPort": 80})
    )
    .starts_with("loadBalancers[0].targetGroupArn: target group"));
    assert!(
        create(json!({"targetGroupArn": group, "containerName": "db", "containerPort": 80}))
            .contains("the container db does not exist")
    );
    assert!(
        create(json!({"targetGroupArn": group, "containerName": "app", "containerPort": 81}))
            .contains("did not have a container port 81 defined")
    );
}

/// A store that counts its writes and its batches, and the writes made outside a batch.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    in_batch: AtomicBool,
    writes: AtomicUsize,
    unbatched: AtomicUsize,
    batches: AtomicUsize,
}

impl Counting {
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if !self.in_batch.load(Ordering::SeqCst) {
            self.unbatched.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// (writes, writes outside a batch, batches) so far.
    fn counts(&self) -> (usize, usize, usize) {
        (
            self.writes.load(Ordering::SeqCst),
            self.unbatched.load(Ordering::SeqCst),
            self.batches.load(Ordering::SeqCst),
        )
    }
}

impl Store for Counting {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get(collection, key)
    }

    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError> {
        self.inner.list(collection, scope)
    }

    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &str,
    ) -> Result<Record, StoreError> {
        self.wrote();
        self.inner.insert(collection, key, scope, doc)
    }

    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &str,
    ) -> Result<Record, StoreError> {
        self.wrote();
        self.inner.update(collection, key, expected_version, doc)
    }

    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        self.wrote();
        self.inner.delete(collection, key, expected_version)
    }

    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> String,
    ) -> Result<Record, StoreError> {
        self.wrote();
        self.inner.insert_next_revision(family, build)
    }

    fn batch(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.in_batch.store(true, Ordering::SeqCst);
        work();
        self.in_batch.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_poll_commits_its_reports_together_and_repeats_write_nothing() {
    let store = Arc::new(Counting::default());
    let mut cluster = Cluster::over(store.clone());
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs("RunTask", json!({"taskDefinition": "web", "count": 5}));
    let versions = || -> Vec<i64> {
        store
            .list(Collection::Tasks, None)
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect()
    };
    let (writes, unbatched, batches) = store.counts();

    cluster.agent_round(false);
    assert_eq!(
        store.counts(),
        (writes + 5, unbatched, batches + 1),
        "one batch writes the five tasks that changed"
    );
    let running = versions();
    assert_eq!(running, [2; 5]);

    cluster.agent_round(false);
    assert_eq!(
        store.counts(),
        (writes + 5, unbatched, batches + 2),
        "reports that repeat what is stored write nothing"
    );
    assert_eq!(versions(), running);
}

/// With `minimumHealthyPercent` 0 the old task stops first and its deployment leaves the
/// list before the new one fails; the circuit breaker's rollback still finds the last
/// completed revision.
#[test]
fn a_rollback_finds_the_last_completed_revision_after_its_deployment_left() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({
            "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1,
            "deploymentConfiguration": {
                "minimumHealthyPercent": 0, "maximumPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            },
        }),
    );
    cluster.run_until("steady state", stable);
    register(&cluster, "app:2");
    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    let mut old_deployment_left = false;
    for _ in 0..60 {
        cluster.controller_round();
        let service = cluster.service();
        let deployments = service["deployments"].as_array().unwrap();
        let on = |revision: &str| {
            deployments[0]["taskDefinition"]
                .as_str()
                .unwrap()
                .ends_with(revision)
        };
        if deployments.len() == 1 && on("web:2") {
            old_deployment_left = true;
        }
        if on("web:1") {
            assert!(old_deployment_left, "the test meant web:1 to be gone first");
            assert!(service["taskDefinition"]
                .as_str()
                .unwrap()
                .ends_with("web:1"));
            assert!(
                messages(&cluster)
                    .iter()
                    .any(|m| m.contains("rolling back to")),
                "{:?}",
                messages(&cluster)
            );
            return;
        }
        // Every task the agent runs exits at once: web:2 never starts.
        cluster.agent_round(true);
        cluster.now += 5.0;
    }
    panic!("no rollback: {}", cluster.service());
}

fn with_secret(cluster: &Cluster, value_from: &str) {
    cluster
        .client
        .json_at(
            "ssm",
            "PutParameter",
            br#"{"Name": "/web/api-key", "Value": "k-123", "Type": "SecureString"}"#,
            cluster.now,
        )
        .unwrap();
    cluster.ecs(
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 512, "cpu": 256,
               "secrets": [{"name": "API_KEY", "valueFrom": value_from}]}]}),
    );
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
               "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}),
    );
}

#[test]
fn secrets_reach_the_agent_only_while_its_task_has_yet_to_start() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    with_secret(&cluster, "/web/api-key");
    cluster.controller_round();
    let pending = cluster.desired();
    let Some(Resolution::Resolved { containers }) = &pending.tasks[0].secrets else {
        panic!("{:?}", pending.tasks[0].secrets)
    };
    assert_eq!(containers["app"].environment["API_KEY"].expose(), "k-123");
    cluster.run_until("steady state", stable);
    assert!(cluster.desired().tasks.iter().all(|t| t.secrets.is_none()));
}

#[test]
fn a_missing_secret_fails_the_start_says_why_and_trips_the_breaker() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    with_secret(&cluster, "/web/missing");
    let record = cluster.instance.clone().unwrap();
    let mut reason = String::new();
    for _ in 0..40 {
        cluster.controller_round();
        let desired = cluster.desired();
        // The agent's part: a task whose secrets failed never starts.
        let reports: Vec<TaskReport> = desired
            .tasks
            .iter()
            .filter_map(|task| match &task.secrets {
                Some(Resolution::Failed { reason: why }) => {
                    reason = why.clone();
                    Some(TaskReport {
                        task_arn: task.task_arn.clone(),
                        last_status: TaskStatus::Stopped,
                        containers: vec![],
                        pull_started_at: None,
                        pull_stopped_at: None,
                        started_at: None,
                        stopping_at: None,
                        stopped_at: Some(cluster.now),
                        stop_code: Some(StopCode::TaskFailedToStart),
                        stopped_reason: Some(why.clone()),
                    })
                }
                _ => None,
            })
            .collect();
        cluster
            .api
            .as_system(cluster.now, |call| {
                agents::apply_reports(call, &record, &reports)
            })
            .unwrap();
        cluster.now += 10.0;
        if cluster.service()["deployments"][0]["rolloutState"] == "FAILED" {
            break;
        }
    }
    assert!(
        reason.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: unable to retrieve secrets from ssm: invalid parameters: /web/missing"),
        "{reason}"
    );
    let service = cluster.service();
    assert_eq!(
        service["deployments"][0]["rolloutState"], "FAILED",
        "{service}"
    );
    let events = messages(&cluster);
    assert!(
        events.iter().any(
            |m| m.contains("failed to start: ResourceInitializationError")
                && m.contains("/web/missing")
        ),
        "{events:?}"
    );
}

fn rotate_parameter(cluster: &Cluster) {
    cluster
        .client
        .json_at(
            "ssm",
            "PutParameter",
            br#"{"Name": "/web/api-key", "Value": "k-456", "Overwrite": true}"#,
            cluster.now,
        )
        .unwrap();
    cluster
        .api
        .as_system(cluster.now, berth_server::control::rotation::apply)
        .unwrap();
}

#[test]
fn a_service_is_told_when_a_secret_changes_under_its_tasks() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    with_secret(&cluster, "/web/api-key");
    cluster.run_until("steady state", stable);
    cluster.now += 10.0;
    rotate_parameter(&cluster);
    let events = messages(&cluster);
    assert!(
        events[0].contains("parameter /web/api-key changed, and 1 running task still hold")
            && events[0].contains("berth:redeploy-on-secret-change=true"),
        "{events:?}"
    );
    assert_eq!(
        cluster.service()["deployments"].as_array().unwrap().len(),
        1
    );
    // The note is acted on once.
    cluster
        .api
        .as_system(cluster.now, berth_server::control::rotation::apply)
        .unwrap();
    assert_eq!(messages(&cluster), events);
}

#[test]
fn a_tagged_service_rolls_onto_a_changed_secret() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    with_secret(&cluster, "/web/api-key");
    let arn = cluster.service()["serviceArn"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.ecs(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "berth:redeploy-on-secret-change", "value": "true"}]}),
    );
    cluster.run_until("steady state", stable);
    let first = cluster.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"][0].clone();
    cluster.now += 10.0;
    rotate_parameter(&cluster);
    assert!(messages(&cluster)[0].contains("rolling 1 running task onto its new value"));
    assert_eq!(
        cluster.service()["deployments"].as_array().unwrap().len(),
        2
    );
    cluster.run_until("the roll", |c| {
        let arns = c.ecs("ListTasks", json!({"serviceName": "web"}))["taskArns"].clone();
        stable(c) && arns.as_array().unwrap().len() == 1 && arns[0] != first
    });
}

fn task_count(cluster: &Cluster, status: &str) -> usize {
    cluster.ecs("ListTasks", json!({"desiredStatus": status}))["taskArns"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn an_agent_unheard_for_lost_after_loses_its_tasks_and_stops_them_when_back() {
    let mut cluster = steady_web(
        2,
        json!({"deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0}}),
    );
    let first: Vec<String> = cluster
        .desired()
        .tasks
        .iter()
        .map(|t| t.task_id.clone())
        .collect();

    // Heard 20 s ago: still connected, nothing given up.
    cluster.now += 20.0;
    cluster.controller_round();
    assert_eq!(task_count(&cluster, "RUNNING"), 2);
    cluster.now += 1.0;
    cluster.controller_round();
    assert_eq!(
        task_count(&cluster, "RUNNING"),
        0,
        "lost after 20 s unheard"
    );
    let arns = cluster.ecs("ListTasks", json!({"desiredStatus": "STOPPED"}))["taskArns"].clone();
    let tasks = cluster.ecs("DescribeTasks", json!({"tasks": arns}))["tasks"].clone();
    for task in tasks.as_array().unwrap() {
        assert_eq!(task["lastStatus"], "STOPPED");
        assert_eq!(task["stopCode"], "ServiceSchedulerInitiated");
        assert_eq!(
            task["stoppedReason"],
            "Task lost: the agent of its container instance was not heard from for 20 seconds"
        );
    }
    let instance = cluster.ecs(
        "DescribeContainerInstances",
        json!({"containerInstances": ["node-1"]}),
    )["containerInstances"][0]
        .clone();
    assert_eq!(instance["agentConnected"], false);
    assert_eq!(instance["runningTasksCount"], 0);
    let events = messages(&cluster);
    assert!(
        events
            .iter()
            .any(|e| e.starts_with("(service web) lost 2 tasks: (task ")
                && e.ends_with("was not heard from for 20 seconds.")),
        "{events:?}"
    );

    // Back: the lost tasks are no longer wanted there (its agent stops them), and the
    // service's replacements start with new ids.
    let back = cluster.poll(false);
    assert!(back.tasks.iter().all(|t| !first.contains(&t.task_id)));
    cluster.run_until("steady state again", stable);
    let now: Vec<String> = cluster
        .desired()
        .tasks
        .iter()
        .map(|t| t.task_id.clone())
        .collect();
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|t| !first.contains(t)),
        "{now:?} vs {first:?}"
    );
}

#[test]
fn a_cluster_tag_sets_lost_after_and_a_bad_value_is_refused() {
    let mut cluster = Cluster::new();
    let arn = cluster.ecs("DescribeClusters", json!({"clusters": ["default"]}))["clusters"][0]
        ["clusterArn"]
        .clone();
    let refused = cluster.refused(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "berth:lost-after-seconds", "value": "2"}]}),
    );
    assert!(
        refused.contains(
            "berth:lost-after-seconds must be a whole number of seconds from 5 to 3600, got \"2\""
        ),
        "{refused}"
    );
    cluster.ecs(
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "berth:lost-after-seconds", "value": "60"}]}),
    );
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs("RunTask", json!({"taskDefinition": "web", "count": 1}));
    cluster.agent_round(false);
    cluster.now += 59.0;
    cluster.controller_round();
    assert_eq!(task_count(&cluster, "RUNNING"), 1, "heard 59 s ago");
    cluster.now += 2.0;
    cluster.controller_round();
    assert_eq!(
        task_count(&cluster, "RUNNING"),
        0,
        "a standalone task is lost too"
    );
}

#[test]
fn a_restarted_server_decides_nothing_until_its_agents_report_or_lost_after_passes() {
    let mut cluster = steady_web(2, json!({}));
    cluster.now += 5.0;
    cluster.restart();
    cluster.ecs(
        "UpdateService",
        json!({"service": "web", "desiredCount": 3}),
    );
    cluster.controller_round();
    assert_eq!(task_count(&cluster, "RUNNING"), 2, "waits for its agent");
    let first = cluster.poll(false);
    assert!(
        first.resync,
        "the server asks a returning agent for everything"
    );
    cluster.controller_round();
    assert_eq!(
        task_count(&cluster, "RUNNING"),
        2,
        "not until the agent has resynced"
    );
    assert!(!cluster.poll(true).resync);
    cluster.controller_round();
    assert_eq!(
        task_count(&cluster, "RUNNING"),
        3,
        "decides once its agent reported"
    );
    assert!(
        messages(&cluster).iter().all(|m| !m.contains("lost")),
        "a restart loses nothing"
    );

    // An agent that does not come back within lost_after of the start is lost.
    cluster.now += 1.0;
    cluster.restart();
    cluster.now += 21.0;
    cluster.controller_round();
    assert_eq!(task_count(&cluster, "RUNNING"), 0);
}
