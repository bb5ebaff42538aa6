//! RegisterTaskDefinition against generated requests, mostly valid with a few broken
//! members: whatever it is given, it answers with an ECS error kind and a well-formed
//! message, and never panics.

use super::register_task_definition;
use crate::error::ErrorKind;
use crate::validate::testing::{assert_well_formed, task_definition};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Mostly one of `valid`, sometimes one of `invalid`: a request that breaks one rule
/// reaches the checks behind it, where a request that breaks many stops at the first.
fn mostly<T: Clone + std::fmt::Debug + 'static>(
    valid: Vec<T>,
    invalid: Vec<T>,
) -> impl Strategy<Value = T> {
    prop_oneof![9 => prop::sample::select(valid), 1 => prop::sample::select(invalid)]
}

fn mostly_in(
    valid: std::ops::RangeInclusive<i32>,
    invalid: Vec<i32>,
) -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        4 => Just(None),
        4 => valid.prop_map(Some),
        1 => prop::sample::select(invalid).prop_map(Some),
    ]
}

/// Names the task assigns by position, so that duplicates stay the exception.
const NAMES: [&str; 4] = ["web", "worker", "cache", "sidecar"];

fn arbitrary_container() -> impl Strategy<Value = Value> {
    let mapping = (
        mostly_in(1..=65535, vec![0, -1, 65536]),
        mostly_in(0..=65535, vec![-1, 70000]),
        mostly(vec!["tcp", "udp"], vec!["sctp"]),
        prop::option::weighted(0.2, mostly(vec!["9000-9010", "1-65535"], vec!["10-5", "x", "0-7"])),
    )
        .prop_map(|(container, host, protocol, range)| {
            json!({"containerPort": container, "hostPort": host, "protocol": protocol, "containerPortRange": range})
        });
    let health_check = (
        mostly(
            vec![
                vec!["CMD-SHELL", "curl -f localhost || exit 1"],
                vec!["CMD", "true"],
                vec!["/healthcheck"],
                vec!["NONE"],
            ],
            vec![vec![], vec!["CMD"], vec!["CMD-SHELL", ""]],
        ),
        mostly_in(5..=300, vec![4, 301, -1]),
        mostly_in(2..=60, vec![1, 61]),
        mostly_in(1..=10, vec![0, 11]),
        mostly_in(0..=300, vec![-1, 301]),
    )
        .prop_map(|(command, interval, timeout, retries, start_period)| {
            json!({"command": command, "interval": interval, "timeout": timeout, "retries": retries, "startPeriod": start_period})
        });
    let dependency = (
        mostly(NAMES.to_vec(), vec!["db", ""]),
        mostly(
            vec!["START", "COMPLETE", "SUCCESS", "HEALTHY"],
            vec!["DONE"],
        ),
    )
        .prop_map(|(name, condition)| json!({"containerName": name, "condition": condition}));
    let secret = (
        mostly(vec!["A", "B", "C"], vec![""]),
        mostly(
            vec![
                "/prod/db",
                "db",
                "arn:aws:ssm:us-east-1:000000000000:parameter/prod/db",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:db-AbCdEf:k::",
            ],
            vec![
                "prod/db",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:",
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:db:k",
                "arn:aws:ssm:us-east-1:000000000000:parameter",
                "arn:",
                "",
            ],
        ),
    )
        .prop_map(|(name, value_from)| json!({"name": name, "valueFrom": value_from}));
    (
        (
            mostly(vec![None], vec![Some(""), Some("a b"), Some("web")]),
            mostly(
                vec![Some("nginx:1.25")],
                vec![None, Some(""), Some("bad image"), Some("a@sha256:1")],
            ),
        ),
        (
            mostly_in(0..=512, vec![-1]),
            mostly_in(6..=1024, vec![4]),
            mostly_in(6..=1024, vec![0]),
        ),
        prop::option::of(any::<bool>()),
        prop::collection::vec(mapping, 0..3),
        prop::option::of(health_check),
        prop::collection::vec(dependency, 0..3),
        prop::collection::vec(secret, 0..3),
        (
            mostly_in(0..=120, vec![-1, 121]),
            prop::option::weighted(
                0.2,
                prop::collection::vec(mostly(NAMES.to_vec(), vec!["db"]), 0..2),
            ),
        ),
    )
        .prop_map(
            |(
                (name, image),
                (cpu, memory, reservation),
                essential,
                ports,
                health,
                depends_on,
                secrets,
                (stop, links),
            )| {
                json!({
                    "name": name, "image": image, "cpu": cpu, "memory": memory,
                    "memoryReservation": reservation, "essential": essential, "portMappings": ports,
                    "healthCheck": health, "dependsOn": depends_on, "secrets": secrets,
                    "stopTimeout": stop, "links": links
                })
            },
        )
}

fn arbitrary_task_definition() -> impl Strategy<Value = Value> {
    let size = |valid: Vec<&'static str>, unit: &'static str| {
        prop_oneof![
            1 => Just(None),
            8 => prop::sample::select(valid).prop_map(|s| Some(s.to_string())),
            1 => prop::sample::select(vec![
                format!("1e9 {unit}"),
                format!("99999999999999999999 {unit}"),
                format!("0.1 {unit}"),
                unit.to_string(),
                String::new(),
            ])
            .prop_map(Some),
        ]
    };
    (
        mostly(vec!["web", "portal_web-2"], vec!["", "a b"]),
        mostly(
            vec![None, Some("bridge"), Some("awsvpc"), Some("host")],
            vec![Some("none"), Some("nat")],
        ),
        mostly(
            vec![
                None,
                Some(vec!["EC2"]),
                Some(vec!["FARGATE"]),
                Some(vec!["EXTERNAL", "EC2"]),
            ],
            vec![Some(vec!["MANAGED_INSTANCES"]), Some(vec!["X"])],
        ),
        size(vec!["1024", "1 vCPU", "0.25 vCPU"], "vCPU"),
        size(vec!["2048", "2 GB", ".5GB"], "GB"),
        prop::collection::vec(arbitrary_container(), 0..5),
    )
        .prop_map(
            |(family, network_mode, compatibilities, cpu, memory, mut containers)| {
                for (i, container) in containers.iter_mut().enumerate() {
                    if container["name"].is_null() {
                        container["name"] = json!(NAMES.get(i).copied().unwrap_or("extra"));
                    }
                }
                json!({
                    "family": family, "networkMode": network_mode,
                    "requiresCompatibilities": compatibilities, "cpu": cpu, "memory": memory,
                    "containerDefinitions": containers
                })
            },
        )
}

proptest! {
    #[test]
    fn register_task_definition_never_panics(request in arbitrary_task_definition()) {
        if let Err(err) = register_task_definition(&task_definition(&request)) {
            prop_assert!(matches!(err.kind, ErrorKind::ClientException | ErrorKind::InvalidParameterException));
            assert_well_formed(&err.message);
        }
    }
}
