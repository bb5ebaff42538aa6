//! The controller and the agent protocol together, over the in-memory store: services reach
//! their count on registered instances, roll to a new revision, replace failed tasks, and
//! RunTask reports placement failures in ECS's words. The agent side is played by the test
//! through the same functions the HTTP endpoints call.

use berth_model::agent::{ContainerReport, PollResponse, RegisterRequest, TaskReport};
use berth_model::Arns;
use berth_reconcile::Settings;
use berth_server::api::container_instances::InstanceRecord;
use berth_server::api::{agents, controller, Api, Caller};
use berth_store::MemoryStore;
use serde_json::{json, Value};
use std::sync::Arc;

struct Cluster {
    api: Api,
    now: f64,
    instance: Option<InstanceRecord>,
}

impl Cluster {
    fn new() -> Self {
        let api = Api::new(
            Arc::new(MemoryStore::new()),
            Arns::new("us-east-1", "000000000000"),
        );
        api.ensure_default_cluster(1000.0).unwrap();
        Self {
            api,
            now: 1000.0,
            instance: None,
        }
    }

    fn ecs(&self, action: &str, body: Value) -> Value {
        let caller = Caller {
            access_key_id: "BKIATEST".into(),
        };
        self.api
            .handle(action, body.to_string().as_bytes(), &caller, self.now)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn join(&mut self, cpu: i64, memory: i64) {
        let record = self.api.as_system(self.now, |call| {
            let token = agents::create_join_token(call, "test").unwrap();
            let request = RegisterRequest {
                cluster: "default".into(),
                instance_id: "node-1".into(),
                hostname: "node-1".into(),
                cpu,
                memory,
                attributes: [("zone".to_string(), "a".to_string())].into(),
                agent_version: "test".into(),
                runtime: "fake".into(),
            };
            let response = agents::register(call, &request, &token).unwrap();
            agents::authenticate(call, &response.container_instance_arn, &response.agent_key)
                .unwrap()
        });
        self.instance = Some(record);
    }

    fn controller_round(&self) {
        self.api
            .as_system(self.now, |call| {
                controller::run_round(call, &Settings::default(), 1)
            })
            .unwrap();
    }

    fn desired(&self) -> PollResponse {
        let record = self.instance.clone().unwrap();
        self.api
            .as_system(self.now, |call| agents::desired(call, &record))
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
                let running = task.desired_status == "RUNNING" && !exit_essential;
                TaskReport {
                    task_arn: task.task_arn.clone(),
                    last_status: if running { "RUNNING" } else { "STOPPED" }.into(),
                    containers: task
                        .containers
                        .iter()
                        .map(|c| ContainerReport {
                            name: c.name.clone().unwrap_or_default(),
                            runtime_id: Some(format!("c-{}", task.task_id)),
                            last_status: if running { "RUNNING" } else { "STOPPED" }.into(),
                            exit_code: (!running).then_some(if exit_essential { 1 } else { 0 }),
                            reason: None,
                            network_bindings: vec![],
                            health_status: "UNKNOWN".into(),
                            ip_address: None,
                        })
                        .collect(),
                    pull_started_at: Some(self.now),
                    pull_stopped_at: Some(self.now),
                    started_at: Some(self.now),
                    stopping_at: (!running).then_some(self.now),
                    stopped_at: (!running).then_some(self.now),
                    stop_code: exit_essential.then(|| "EssentialContainerExited".to_string()),
                    stopped_reason: exit_essential
                        .then(|| "Essential container in task exited".to_string()),
                }
            })
            .collect();
        self.api
            .as_system(self.now, |call| {
                agents::apply_reports(call, &record, &reports)
            })
            .unwrap();
    }

    fn service(&self) -> Value {
        self.ecs("DescribeServices", json!({"services": ["web"]}))["services"][0].clone()
    }

    /// Rounds of controller and agent with time passing, until `done` or a deadline.
    fn run_until(&mut self, what: &str, done: impl Fn(&Cluster) -> bool) {
        for _ in 0..60 {
            self.controller_round();
            self.agent_round(false);
            if done(self) {
                return;
            }
            self.now += 1.0;
        }
        panic!("{what} never happened; service is {}", self.service());
    }
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

#[test]
fn a_service_reaches_steady_state_on_a_registered_instance() {
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
    );
    cluster.run_until("steady state", stable);
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
    let mut cluster = Cluster::new();
    cluster.join(4096, 8192);
    register(&cluster, "app:1");
    cluster.ecs(
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    cluster.run_until("steady state", stable);
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
