//! Random and mutated request bodies at every action: never a panic, never a server fault,
//! and a refused request leaves the store exactly as it was.

use berth_model::{Arns, ErrorKind};
use berth_server::call::Context;
use berth_server::ecs::clusters;
use berth_server::local::LocalClient;
use berth_store::{Collection, MemoryStore, Record, Store};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::Arc;

/// A valid body for each action, the seed that mutations start from.
fn seeds() -> Vec<(&'static str, Value)> {
    let task_definition = json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "app", "image": "app:1", "essential": true,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "environment": [{"name": "A", "value": "1"}],
            "secrets": [{"name": "DB", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:password::"}],
            "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10, "timeout": 5, "retries": 3},
            "dependsOn": [{"containerName": "side", "condition": "START"}]
        }, {"name": "side", "image": "side:1", "essential": false}],
        "tags": [{"key": "team", "value": "web"}]
    });
    vec![
        (
            "CreateCluster",
            json!({"clusterName": "c1", "tags": [{"key": "k", "value": "v"}]}),
        ),
        (
            "DescribeClusters",
            json!({"clusters": ["default", "c1"], "include": ["TAGS"]}),
        ),
        ("ListClusters", json!({"maxResults": 5})),
        ("DeleteCluster", json!({"cluster": "c1"})),
        ("RegisterTaskDefinition", task_definition),
        (
            "DescribeTaskDefinition",
            json!({"taskDefinition": "web:1", "include": ["TAGS"]}),
        ),
        (
            "ListTaskDefinitions",
            json!({"familyPrefix": "web", "status": "ACTIVE", "sort": "DESC", "maxResults": 2}),
        ),
        (
            "ListTaskDefinitionFamilies",
            json!({"familyPrefix": "w", "status": "ALL"}),
        ),
        (
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "web:1"}),
        ),
        (
            "DeleteTaskDefinitions",
            json!({"taskDefinitions": ["web:1"]}),
        ),
        (
            "CreateService",
            json!({
                "serviceName": "s2", "taskDefinition": "web", "desiredCount": 2,
                "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 50,
                    "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
                "placementStrategy": [{"type": "spread", "field": "attribute:zone"}],
                "placementConstraints": [{"type": "distinctInstance"}]
            }),
        ),
        (
            "UpdateService",
            json!({"service": "s1", "desiredCount": 3, "forceNewDeployment": true}),
        ),
        (
            "DescribeServices",
            json!({"services": ["s1", "nope"], "include": ["TAGS"]}),
        ),
        ("ListServices", json!({"maxResults": 1})),
        ("DeleteService", json!({"service": "s1", "force": true})),
        (
            "RunTask",
            json!({"taskDefinition": "web", "count": 2, "startedBy": "fuzz", "group": "g",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}),
        ),
        (
            "StopTask",
            json!({"task": "0123456789abcdef0123456789abcdef", "reason": "r"}),
        ),
        (
            "DescribeTasks",
            json!({"tasks": ["0123456789abcdef0123456789abcdef"]}),
        ),
        (
            "ListTasks",
            json!({"family": "web", "desiredStatus": "STOPPED"}),
        ),
        (
            "RegisterContainerInstance",
            json!({
                "instanceIdentityDocument": "{\"instanceId\": \"i-0abc\"}",
                "totalResources": [
                    {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                    {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
                    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]}
                ],
                "attributes": [{"name": "zone", "value": "a"}],
                "versionInfo": {"agentVersion": "1.0.0"},
                "tags": [{"key": "team", "value": "web"}]
            }),
        ),
        (
            "TagResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default", "tags": [{"key": "a", "value": "b"}]}),
        ),
        (
            "UntagResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/default", "tagKeys": ["a"]}),
        ),
        (
            "ListTagsForResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:service/default/s1"}),
        ),
    ]
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 2 { 8 } else { 10 }) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen_range(-3..70000)),
        4 => json!(rng.gen::<f64>() * 1e12),
        5 => json!(""),
        6 => json!(
            [
                "web",
                "web:1",
                "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
                "CMD",
                "START",
                "HEALTHY",
                "awsvpc",
                "FARGATE",
                "ACTIVE",
                "💥",
                "a:b:c",
                "TAGS"
            ][rng.gen_range(0..12)]
        ),
        7 => json!((0..rng.gen_range(0..300))
            .map(|_| rng.gen_range(' '..'~'))
            .collect::<String>()),
        8 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.gen_range(0..4))
                .map(|i| (format!("k{i}"), random_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// Changes one member somewhere inside `value`: replaced, removed, or added.
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) if !map.is_empty() && rng.gen_bool(0.7) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = &keys[rng.gen_range(0..keys.len())];
            match rng.gen_range(0..4) {
                0 => {
                    map.remove(key);
                }
                1 => {
                    map.insert(key.clone(), random_value(rng, 0));
                }
                _ => mutate(map.get_mut(key).expect("key listed"), rng),
            }
        }
        Value::Array(items) if !items.is_empty() && rng.gen_bool(0.7) => {
            let index = rng.gen_range(0..items.len());
            if rng.gen_bool(0.2) {
                items.remove(index);
            } else if rng.gen_bool(0.2) {
                let copy = items[index].clone();
                items.push(copy);
            } else {
                mutate(&mut items[index], rng);
            }
        }
        Value::Object(map) => {
            map.insert("unexpected".into(), random_value(rng, 0));
        }
        other => *other = random_value(rng, 0),
    }
}

/// The ECS API over an in-memory store, called as the front calls it.
type Api = LocalClient;

fn api_with_state() -> (Api, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let cx = Context::new(store.clone(), Arns::new("us-east-1", "000000000000"));
    cx.as_system(1.0, clusters::ensure_default).unwrap();
    let api = LocalClient::new(Arc::new(cx)).as_caller("BKIAFUZZ");
    for (action, body) in seeds() {
        if matches!(action, "RegisterTaskDefinition" | "CreateCluster") {
            api.ecs_at(action, body.to_string().as_bytes(), 2.0)
                .unwrap();
        }
    }
    api.ecs_at(
        "CreateService",
        json!({"serviceName": "s1", "taskDefinition": "web", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}})
        .to_string()
        .as_bytes(),
        3.0,
    )
    .unwrap();
    (api, store)
}

fn snapshot(store: &MemoryStore) -> Vec<Vec<Record>> {
    Collection::ALL
        .iter()
        .map(|c| store.list(*c, None).unwrap())
        .collect()
}

fn check(api: &Api, store: &MemoryStore, action: &str, body: &[u8]) {
    let before = snapshot(store);
    match api.ecs_at(action, body, 4.0) {
        Ok(_) => {}
        Err(e) => {
            assert_ne!(
                e.code,
                ErrorKind::ServerException.name(),
                "{action} {}: {e}",
                String::from_utf8_lossy(body)
            );
            assert!(!e.message.is_empty(), "{action}: empty message");
            assert!(
                snapshot(store) == before,
                "{action} was refused ({e}) but changed state; body: {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_bodies_never_fault_or_corrupt(seed in any::<u64>(), which in 0usize..22, rounds in 1u32..4) {
        let (api, store) = api_with_state();
        let mut rng = StdRng::seed_from_u64(seed);
        let (action, mut body) = seeds().swap_remove(which % seeds().len());
        for _ in 0..rounds {
            mutate(&mut body, &mut rng);
        }
        check(&api, &store, action, body.to_string().as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_fault(bytes in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..22) {
        let (api, store) = api_with_state();
        let (action, _) = seeds().swap_remove(which % seeds().len());
        check(&api, &store, action, &bytes);
    }

    #[test]
    fn truncated_bodies_never_fault(cut in 0usize..400, which in 0usize..22) {
        let (api, store) = api_with_state();
        let (action, body) = seeds().swap_remove(which % seeds().len());
        let text = body.to_string();
        let cut = cut.min(text.len());
        check(&api, &store, action, &text.as_bytes()[..cut]);
    }
}

#[test]
fn every_seed_is_accepted_as_is() {
    let (api, store) = api_with_state();
    for (action, body) in seeds() {
        let result = api.ecs_at(action, body.to_string().as_bytes(), 5.0);
        // Seeds reference each other's resources; some legitimately fail as client errors
        // once an earlier seed deleted what they name, but none may fault.
        if let Err(e) = &result {
            assert_ne!(e.code, ErrorKind::ServerException.name(), "{action}: {e}");
        }
    }
    assert!(!snapshot(&store)[0].is_empty());
}
