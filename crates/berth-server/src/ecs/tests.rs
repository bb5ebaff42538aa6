//! Handler tests over the in-memory store: the ECS semantics, without HTTP or SigV4.

use super::{clusters, services};
use crate::call::{Caller, Context};
use crate::local::LocalClient;
use berth_aws::AwsError;
use berth_model::{ApiError, Arns, ErrorKind};
use berth_store::{Collection, MemoryStore, Store};
use serde_json::{json, Value};
use std::sync::Arc;

/// The ECS API over a store, called as the front calls it.
struct Api(LocalClient);

impl Api {
    fn new(store: Arc<dyn Store>, arns: Arns) -> Self {
        Self(LocalClient::new(Arc::new(Context::new(store, arns))))
    }

    fn ensure_default_cluster(&self, now: f64) -> Result<(), ApiError> {
        self.0.context().as_system(now, clusters::ensure_default)
    }

    fn finish_draining_services(&self, now: f64) -> Result<usize, ApiError> {
        self.0.context().as_system(now, services::finish_draining)
    }

    fn handle(
        &self,
        action: &str,
        body: &[u8],
        caller: &Caller,
        now: f64,
    ) -> Result<Value, AwsError> {
        self.0
            .clone()
            .as_caller(&caller.access_key_id)
            .ecs_at(action, body, now)
    }
}

fn api() -> Api {
    let api = Api::new(
        Arc::new(MemoryStore::new()),
        Arns::new("us-east-1", "000000000000"),
    );
    api.ensure_default_cluster(1_700_000_000.0).unwrap();
    api
}

fn call(api: &Api, action: &str, body: Value) -> Result<Value, AwsError> {
    let caller = Caller {
        access_key_id: "AKIDTEST".into(),
    };
    api.handle(
        action,
        body.to_string().as_bytes(),
        &caller,
        1_700_000_000.0,
    )
}

fn ok(api: &Api, action: &str, body: Value) -> Value {
    call(api, action, body).unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn web_definition() -> Value {
    json!({
        "family": "web",
        "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]
    })
}

#[test]
fn the_default_cluster_exists() {
    let api = api();
    let out = ok(&api, "DescribeClusters", json!({}));
    assert_eq!(out["clusters"][0]["clusterName"], "default");
    assert_eq!(out["clusters"][0]["status"], "ACTIVE");
}

#[test]
fn unknown_clusters_are_missing_failures() {
    let api = api();
    let out = ok(&api, "DescribeClusters", json!({"clusters": ["nope"]}));
    assert_eq!(out["clusters"], json!([]));
    assert_eq!(out["failures"][0]["reason"], "MISSING");
    assert_eq!(
        out["failures"][0]["arn"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/nope"
    );
}

#[test]
fn revisions_count_up_and_are_never_reused() {
    let api = api();
    for expected in 1..=3 {
        let out = ok(&api, "RegisterTaskDefinition", web_definition());
        assert_eq!(out["taskDefinition"]["revision"], expected);
    }
    ok(
        &api,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:3"}),
    );
    ok(
        &api,
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["web:3"]}),
    );
    let out = ok(&api, "RegisterTaskDefinition", web_definition());
    assert_eq!(out["taskDefinition"]["revision"], 4);
    let latest = ok(
        &api,
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web"}),
    );
    assert_eq!(latest["taskDefinition"]["revision"], 4);
}

#[test]
fn a_service_gets_ecs_deployment_defaults() {
    let api = api();
    ok(&api, "RegisterTaskDefinition", web_definition());
    let out = ok(
        &api,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
    );
    let service = &out["service"];
    assert_eq!(service["deploymentConfiguration"]["maximumPercent"], 200);
    assert_eq!(
        service["deploymentConfiguration"]["minimumHealthyPercent"],
        100
    );
    assert_eq!(
        service["deploymentConfiguration"]["deploymentCircuitBreaker"],
        json!({"enable": false, "rollback": false})
    );
    let deployment = &service["deployments"][0];
    assert_eq!(deployment["status"], "PRIMARY");
    assert!(deployment["id"].as_str().unwrap().starts_with("ecs-svc/"));
    assert_eq!(service["deployments"].as_array().unwrap().len(), 1);
}

#[test]
fn deleting_a_scaled_service_needs_force() {
    let api = api();
    ok(&api, "RegisterTaskDefinition", web_definition());
    ok(
        &api,
        "CreateService",
        json!({"serviceName": "s", "taskDefinition": "web", "desiredCount": 1}),
    );
    let err = call(&api, "DeleteService", json!({"service": "s"})).unwrap_err();
    assert_eq!(err.code, ErrorKind::InvalidParameterException.name());
    let out = ok(
        &api,
        "DeleteService",
        json!({"service": "s", "force": true}),
    );
    assert_eq!(out["service"]["status"], "DRAINING");
    assert_eq!(api.finish_draining_services(1.0).unwrap(), 1);
    let out = ok(&api, "DescribeServices", json!({"services": ["s"]}));
    assert_eq!(out["services"][0]["status"], "INACTIVE");
}

#[test]
fn run_task_records_provisioning_tasks() {
    let api = api();
    ok(&api, "RegisterTaskDefinition", web_definition());
    let out = ok(
        &api,
        "RunTask",
        json!({"taskDefinition": "web", "count": 3, "startedBy": "me"}),
    );
    assert_eq!(out["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(out["tasks"][0]["lastStatus"], "PROVISIONING");
    let listed = ok(&api, "ListTasks", json!({"startedBy": "me"}));
    assert_eq!(listed["taskArns"].as_array().unwrap().len(), 3);
    let arn = out["tasks"][0]["taskArn"].as_str().unwrap();
    let stopped = ok(&api, "StopTask", json!({"task": arn, "reason": "done"}));
    assert_eq!(stopped["task"]["desiredStatus"], "STOPPED");
    assert_eq!(stopped["task"]["stopCode"], "UserInitiated");
    let listed = ok(&api, "ListTasks", json!({"desiredStatus": "STOPPED"}));
    assert_eq!(listed["taskArns"], json!([arn]));
}

#[test]
fn unknown_actions_are_refused() {
    let err = call(&api(), "LaunchRockets", json!({})).unwrap_err();
    assert_eq!(err.code, ErrorKind::UnknownOperationException.name());
}

#[test]
fn tags_round_trip_on_every_taggable_resource() {
    let api = api();
    let definition = ok(&api, "RegisterTaskDefinition", web_definition());
    let service = ok(
        &api,
        "CreateService",
        json!({"serviceName": "s", "taskDefinition": "web"}),
    );
    let arns = [
        "arn:aws:ecs:us-east-1:000000000000:cluster/default".to_string(),
        definition["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string(),
        service["service"]["serviceArn"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    for arn in arns {
        ok(
            &api,
            "TagResource",
            json!({"resourceArn": arn, "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}),
        );
        ok(
            &api,
            "UntagResource",
            json!({"resourceArn": arn, "tagKeys": ["a"]}),
        );
        let out = ok(&api, "ListTagsForResource", json!({"resourceArn": arn}));
        assert_eq!(out["tags"], json!([{"key": "b", "value": "2"}]), "{arn}");
    }
}

#[test]
fn a_write_that_changes_nothing_leaves_the_record_alone() {
    let store = Arc::new(MemoryStore::new());
    let api = Api::new(store.clone(), Arns::new("us-east-1", "000000000000"));
    api.ensure_default_cluster(1_700_000_000.0).unwrap();
    let version = || {
        store
            .get(Collection::Clusters, "default")
            .unwrap()
            .unwrap()
            .version
    };
    let tag = json!({
        "resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
        "tags": [{"key": "team", "value": "search"}]
    });
    ok(&api, "TagResource", tag.clone());
    let tagged = version();
    ok(&api, "TagResource", tag);
    assert_eq!(version(), tagged, "the same tags again write nothing");
    ok(
        &api,
        "TagResource",
        json!({
            "resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "tags": [{"key": "team", "value": "ingest"}]
        }),
    );
    assert_eq!(version(), tagged + 1, "a new value is written");
}

fn resources(cpu: i64, memory: i64) -> Value {
    json!([
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
    ])
}

#[test]
fn register_container_instance_answers_in_ecs_shape_without_an_agent() {
    let api = api();
    let out = ok(
        &api,
        "RegisterContainerInstance",
        json!({
            "instanceIdentityDocument": r#"{"instanceId": "i-0abc123", "region": "us-east-1"}"#,
            "totalResources": resources(2048, 4096),
            "attributes": [{"name": "zone", "value": "a"}],
            "versionInfo": {"agentVersion": "1.80.0", "dockerVersion": "24.0.0"},
            "tags": [{"key": "team", "value": "web"}],
        }),
    );
    let instance = &out["containerInstance"];
    assert_eq!(
        instance["containerInstanceArn"],
        "arn:aws:ecs:us-east-1:000000000000:container-instance/default/i-0abc123"
    );
    assert_eq!(instance["ec2InstanceId"], "i-0abc123");
    assert_eq!(instance["status"], "ACTIVE");
    assert_eq!(instance["agentConnected"], false);
    assert_eq!(instance["registeredResources"], resources(2048, 4096));
    assert_eq!(instance["remainingResources"], resources(2048, 4096));
    assert_eq!(
        instance["attributes"],
        json!([{"name": "zone", "value": "a"}])
    );
    assert_eq!(instance["versionInfo"]["dockerVersion"], "24.0.0");
    assert_eq!(instance["tags"], json!([{"key": "team", "value": "web"}]));

    let described = ok(
        &api,
        "DescribeContainerInstances",
        json!({"containerInstances": ["i-0abc123"]}),
    );
    assert_eq!(described["containerInstances"][0]["agentConnected"], false);
    let listed = ok(&api, "ListContainerInstances", json!({}));
    assert_eq!(
        listed["containerInstanceArns"],
        json!([instance["containerInstanceArn"]])
    );

    // Without an identity document the instance gets an id of its own.
    let out = ok(
        &api,
        "RegisterContainerInstance",
        json!({"totalResources": resources(1024, 512)}),
    );
    let id = out["containerInstance"]["ec2InstanceId"].as_str().unwrap();
    assert_eq!(id.len(), 32);
}

#[test]
fn register_container_instance_again_by_arn_updates_it_in_place() {
    let api = api();
    let first = ok(
        &api,
        "RegisterContainerInstance",
        json!({"totalResources": resources(1024, 512), "tags": [{"key": "a", "value": "1"}]}),
    )["containerInstance"]
        .clone();
    ok(
        &api,
        "UpdateContainerInstancesState",
        json!({"containerInstances": [first["containerInstanceArn"]], "status": "DRAINING"}),
    );
    let again = ok(
        &api,
        "RegisterContainerInstance",
        json!({
            "containerInstanceArn": first["containerInstanceArn"],
            "totalResources": resources(4096, 8192),
            "tags": [{"key": "b", "value": "2"}],
        }),
    )["containerInstance"]
        .clone();
    assert_eq!(again["containerInstanceArn"], first["containerInstanceArn"]);
    assert_eq!(again["registeredResources"], resources(4096, 8192));
    assert_eq!(
        again["status"], "DRAINING",
        "re-registering keeps the status"
    );
    assert_eq!(again["version"], first["version"].as_i64().unwrap() + 2);
    assert_eq!(
        again["tags"],
        json!([{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    );

    let err = call(
        &api,
        "RegisterContainerInstance",
        json!({
            "containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/nope",
            "totalResources": resources(1024, 512),
        }),
    )
    .unwrap_err();
    assert!(
        err.message
            .starts_with("containerInstanceArn: no container instance"),
        "{err}"
    );
}

#[test]
fn register_container_instance_names_what_is_wrong() {
    let api = api();
    let cases = [
        (json!({}), "totalResources: CPU is required"),
        (
            json!({"totalResources": resources(0, 512)}),
            "totalResources[0].integerValue: CPU must be a positive integer, got 0",
        ),
        (
            json!({"totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                                      {"name": "MEMORY", "type": "INTEGER"}]}),
            "totalResources[1].integerValue: MEMORY must be a positive integer, got nothing",
        ),
        (
            json!({"totalResources": [{"name": "CPU", "type": "DOUBLE", "doubleValue": 1.0}]}),
            "totalResources[0].type: CPU is INTEGER",
        ),
        (
            json!({"totalResources": [{"name": "GPU", "type": "STRINGSET"}]}),
            "totalResources[0]: Berth accounts CPU and MEMORY",
        ),
        (
            json!({"totalResources": resources(1024, 512),
                   "attributes": [{"name": "bad name", "value": "x"}]}),
            "attributes[0].name: 1 to 128",
        ),
        (
            json!({"totalResources": resources(1024, 512), "instanceIdentityDocument": "{"}),
            "instanceIdentityDocument: not a JSON document",
        ),
        (
            json!({"totalResources": resources(1024, 512), "instanceIdentityDocument": "{}"}),
            "instanceIdentityDocument.instanceId: required",
        ),
        (
            json!({"totalResources": resources(1024, 512),
                   "platformDevices": [{"id": "0", "type": "GPU"}]}),
            "platformDevices: Berth places no GPU",
        ),
    ];
    for (body, expected) in cases {
        let err = call(&api, "RegisterContainerInstance", body.clone()).unwrap_err();
        assert_eq!(
            err.code,
            ErrorKind::InvalidParameterException.name(),
            "{body}"
        );
        assert!(err.message.starts_with(expected), "{body}: {err}");
    }
    let err = call(
        &api,
        "RegisterContainerInstance",
        json!({"cluster": "nope", "totalResources": resources(1024, 512)}),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorKind::ClusterNotFoundException.name());
    let listed = ok(&api, "ListContainerInstances", json!({}));
    assert_eq!(listed["containerInstanceArns"], json!([]));
}

/// DescribeServices writes each service from the rendering the decode cache keeps: it must
/// show exactly the stored service, with tags only when asked for, also after an update
/// changes the stored document (a stale rendering would show the old one).
#[test]
fn described_services_are_the_stored_ones_with_tags_only_when_asked() {
    let api = api();
    ok(&api, "RegisterTaskDefinition", web_definition());
    for (name, tags) in [
        ("plain", json!([])),
        ("tagged", json!([{"key": "team", "value": "web"}])),
    ] {
        let mut create = json!({"serviceName": name, "taskDefinition": "web", "desiredCount": 1});
        if tags != json!([]) {
            create["tags"] = tags;
        }
        ok(&api, "CreateService", create);
    }
    let stored = |name: &str| -> Value {
        let record = api
            .0
            .context()
            .store()
            .get(Collection::Services, &format!("default/{name}"))
            .unwrap()
            .unwrap();
        serde_json::from_str(&record.doc).unwrap()
    };
    let described = |include: Value| {
        ok(
            &api,
            "DescribeServices",
            json!({"services": ["plain", "tagged", "gone"], "include": include}),
        )
    };
    for _ in 0..2 {
        let out = described(json!(["TAGS"]));
        assert_eq!(out["services"][0], stored("plain"));
        assert_eq!(out["services"][1], stored("tagged"));
        assert_eq!(out["failures"][0]["reason"], "MISSING");
        let out = described(json!([]));
        let mut untagged = stored("tagged");
        untagged.as_object_mut().unwrap().remove("tags");
        assert_eq!(out["services"][1], untagged);
        assert_eq!(out["services"][0], stored("plain"));
    }
    ok(
        &api,
        "UpdateService",
        json!({"service": "plain", "desiredCount": 3}),
    );
    assert_eq!(described(json!([]))["services"][0]["desiredCount"], 3);
}
