//! RegisterTaskDefinition against the task definitions Berth's users write, and against one
//! variant of them per rule, each breaking that rule alone.

use super::register_task_definition;
use crate::error::ErrorKind;
use crate::validate::check::{CLIENT, INVALID};
use crate::validate::testing::{assert_rejected, task_definition, with};
use serde_json::{json, Value};

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:portal/db-AbCdEf";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Research portal web: Fargate, two Secrets Manager secrets, one narrowed to a JSON key.
fn fargate_web() -> Value {
    json!({
        "family": "portal-web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        "containerDefinitions": [{
            "name": "web",
            "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/portal:1.4.2",
            "essential": true,
            "portMappings": [
                {"containerPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"}
            ],
            "environment": [{"name": "APP_ROLE", "value": "web"}],
            "secrets": [
                {"name": "DATABASE_URL", "valueFrom": SECRET_ARN},
                {"name": "DB_PASSWORD", "valueFrom": format!("{SECRET_ARN}:password::")}
            ],
            "healthCheck": {
                "command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10
            },
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/portal",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "web"
                }
            },
            "stopTimeout": 30
        }],
        "tags": [{"key": "team", "value": "research"}]
    })
}

/// A Rails app in bridge mode: the web container on host port 4000 and a job worker.
fn rails() -> Value {
    let image = "registry.example.com/shop/rails:2024.06.1";
    json!({
        "family": "rails",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [
            {
                "name": "web",
                "image": image,
                "memory": 512,
                "cpu": 256,
                "essential": true,
                "command": ["bundle", "exec", "rails", "server", "-b", "0.0.0.0", "-p", "3000"],
                "portMappings": [{"containerPort": 3000, "hostPort": 4000, "protocol": "tcp"}],
                "environment": [{"name": "RAILS_ENV", "value": "production"}],
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -fs http://localhost:3000/up || exit 1"],
                    "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 60
                }
            },
            {
                "name": "worker",
                "image": image,
                "memoryReservation": 256,
                "memory": 1024,
                "cpu": 256,
                "command": ["bundle", "exec", "sidekiq"],
                "environment": [{"name": "RAILS_ENV", "value": "production"}],
                "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}]
            }
        ]
    })
}

/// One image, three roles chosen by environment variable, three Fargate sizes.
fn portal(role: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "family": format!("portal-{role}"),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": [{
            "name": role,
            "image": "ghcr.io/example/portal:2.0.0",
            "environment": [{"name": "PORTAL_ROLE", "value": role}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/portal"}}
        }]
    })
}

/// A Rust backend with a websocket port and an HTTPS port, sized in vCPU and GB.
fn backend() -> Value {
    json!({
        "family": "relay",
        "networkMode": "awsvpc",
        "cpu": "1 vCPU",
        "memory": "2 GB",
        "containerDefinitions": [{
            "name": "relay",
            "image": format!("ghcr.io/example/relay@{DIGEST}"),
            "portMappings": [
                {"containerPort": 7000, "hostPort": 7000, "name": "websocket"},
                {"containerPort": 8000, "name": "https"}
            ],
            "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}]
        }]
    })
}

/// Most optional members at once, on EC2 in bridge mode.
fn kitchen_sink() -> Value {
    let image = "registry.example.com/app:7";
    json!({
        "family": "kitchen_sink-1",
        "networkMode": "bridge",
        "pidMode": "task",
        "ipcMode": "host",
        "requiresCompatibilities": ["EC2", "EXTERNAL"],
        "cpu": "2 vcpu",
        "memory": "4GB",
        "placementConstraints": [{
            "type": "memberOf",
            "expression": "attribute:ecs.availability-zone in [eu-west-1a, eu-west-1b]"
        }],
        "volumes": [
            {"name": "assets", "host": {"sourcePath": "/srv/assets"}},
            {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}},
            {"host": {}}
        ],
        "containerDefinitions": [
            {
                "name": "migrate",
                "image": image,
                "essential": false,
                "memoryReservation": 128,
                "command": ["./migrate"],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": "/prod/db/password"},
                    {"name": "API_KEY", "valueFrom": "API_KEY"},
                    {"name": "TOKEN", "valueFrom": "arn:aws:ssm:eu-west-1:000000000000:parameter/prod/token"},
                    {"name": "LEGACY", "valueFrom": "arn:aws:ssm:eu-west-1:000000000000:parameter/legacy"}
                ]
            },
            {
                "name": "app",
                "image": image,
                "memory": 1024,
                "memoryReservation": 512,
                "cpu": 1024,
                "links": ["cache:redis"],
                "dependsOn": [
                    {"containerName": "migrate", "condition": "SUCCESS"},
                    {"containerName": "cache", "condition": "START"}
                ],
                "portMappings": [
                    {"containerPort": 80, "hostPort": 0},
                    {"containerPortRange": "9000-9099", "protocol": "udp"},
                    {"containerPort": 9000, "protocol": "tcp"}
                ],
                "environment": [{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}],
                "mountPoints": [{"sourceVolume": "assets", "containerPath": "/app/public", "readOnly": true}],
                "volumesFrom": [{"sourceContainer": "cache"}],
                "ulimits": [
                    {"name": "memlock", "softLimit": -1, "hardLimit": -1},
                    {"name": "nofile", "softLimit": 1024, "hardLimit": 4096}
                ],
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {"splunk-url": "https://splunk.example.com"},
                    "secretOptions": [{
                        "name": "splunk-token",
                        "valueFrom": format!("{SECRET_ARN}:token:AWSPREVIOUS:")
                    }]
                },
                "startTimeout": 600,
                "stopTimeout": 300,
                "hostname": "app"
            },
            {
                "name": "cache",
                "image": "redis:7-alpine",
                "memory": 256,
                "essential": false,
                "healthCheck": {"command": ["CMD", "redis-cli", "ping"]}
            }
        ],
        "tags": [{"key": "env", "value": "prod"}, {"key": "empty"}]
    })
}

#[test]
fn accepts_realistic_task_definitions() {
    let valid = [
        ("fargate web with secrets", fargate_web()),
        ("rails web and worker", rails()),
        ("portal web", portal("web", "1024", "2048")),
        ("portal indexer", portal("indexer", "4096", "8192")),
        ("portal ingester", portal("ingester", "256", "512")),
        (
            "portal at the largest Fargate size",
            portal("analytics", "16 vCPU", "120 GB"),
        ),
        ("backend on 7000 and 8000", backend()),
        ("kitchen sink", kitchen_sink()),
        (
            "task memory instead of container memory",
            with(
                rails(),
                &[
                    ("/memory", json!("2048")),
                    ("/containerDefinitions/0/memory", Value::Null),
                    ("/containerDefinitions/1/memory", Value::Null),
                    ("/containerDefinitions/1/memoryReservation", Value::Null),
                ],
            ),
        ),
        (
            "host mode with equal ports",
            with(backend(), &[("/networkMode", json!("host"))]),
        ),
        (
            "memoryReservation equal to memory",
            with(
                rails(),
                &[("/containerDefinitions/1/memoryReservation", json!(1024))],
            ),
        ),
        (
            "a non-essential container besides an essential one",
            with(
                rails(),
                &[("/containerDefinitions/1/essential", json!(false))],
            ),
        ),
        (
            "health check bounds",
            with(
                rails(),
                &[(
                    "/containerDefinitions/0/healthCheck",
                    json!({"command": ["CMD", "true"], "interval": 5, "timeout": 60, "retries": 10, "startPeriod": 300}),
                )],
            ),
        ),
        (
            "health check without CMD, as AWS's OpenTelemetry collector documents it",
            with(
                rails(),
                &[(
                    "/containerDefinitions/0/healthCheck/command",
                    json!(["/healthcheck"]),
                )],
            ),
        ),
        (
            "Fargate timeouts at their bounds",
            with(
                fargate_web(),
                &[
                    ("/containerDefinitions/0/startTimeout", json!(2)),
                    ("/containerDefinitions/0/stopTimeout", json!(120)),
                ],
            ),
        ),
        (
            "secret with every version field",
            with(
                fargate_web(),
                &[(
                    "/containerDefinitions/0/secrets/1/valueFrom",
                    json!(format!(
                        "{SECRET_ARN}:password:AWSCURRENT:01234567-89ab-cdef-0123-456789abcdef"
                    )),
                )],
            ),
        ),
        (
            "empty optional lists",
            with(
                backend(),
                &[
                    ("/containerDefinitions/0/links", json!([])),
                    ("/containerDefinitions/0/dependsOn", json!([])),
                    ("/containerDefinitions/0/secrets", json!([])),
                    ("/volumes", json!([])),
                    ("/placementConstraints", json!([])),
                ],
            ),
        ),
    ];
    for (name, request) in valid {
        assert_eq!(
            register_task_definition(&task_definition(&request)),
            Ok(()),
            "{name}"
        );
    }
}

/// Each request breaks exactly one rule of a valid base.
fn rejected_task_definitions() -> Vec<(&'static str, Value, ErrorKind, String)> {
    let long = "x".repeat(256);
    let c0 = "/containerDefinitions/0";
    let mut cases: Vec<(&str, Value, &str)> = vec![
        // family
        ("empty family", with(rails(), &[("/family", json!(""))]), "family: must not be empty"),
        ("family with a space", with(rails(), &[("/family", json!("my app"))]), "family: may contain only letters"),
        ("family too long", with(rails(), &[("/family", json!(long))]), "family: must be at most 255 characters, got 256"),
        // containers and names
        ("no containers", with(rails(), &[("/containerDefinitions", json!([]))]), "containerDefinitions: at least one container is required"),
        ("container without a name", with(rails(), &[("/containerDefinitions/0/name", Value::Null)]), "containerDefinitions[0].name: required"),
        ("container name with a period", with(backend(), &[("/containerDefinitions/0/name", json!("relay.1"))]), "containerDefinitions[0].name: may contain only"),
        ("duplicate container names", with(rails(), &[("/containerDefinitions/1/name", json!("web"))]), "containerDefinitions[1].name: duplicate container name \"web\", also used by containerDefinitions[0]"),
        ("no image", with(rails(), &[("/containerDefinitions/0/image", Value::Null)]), "containerDefinitions[0].image: required"),
        ("empty image", with(rails(), &[("/containerDefinitions/0/image", json!(""))]), "containerDefinitions[0].image: required"),
        ("image with a space", with(rails(), &[("/containerDefinitions/0/image", json!("rails latest"))]), "containerDefinitions[0].image: may contain only"),
        ("image too long", with(rails(), &[("/containerDefinitions/0/image", json!(long))]), "containerDefinitions[0].image: must be at most 255 characters"),
        ("short digest", with(backend(), &[("/containerDefinitions/0/image", json!("relay@sha256:abc"))]), "containerDefinitions[0].image: digest must be sha256:"),
        ("no essential container", with(rails(), &[
            ("/containerDefinitions/0/essential", json!(false)),
            ("/containerDefinitions/1/essential", json!(false)),
        ]), "containerDefinitions: at least one container must be essential"),
        // memory and cpu
        ("no memory anywhere", with(rails(), &[("/containerDefinitions/0/memory", Value::Null)]), "containerDefinitions[0].memory: memory or memoryReservation is required"),
        ("container memory below 6", with(rails(), &[("/containerDefinitions/0/memory", json!(4))]), "containerDefinitions[0].memory: must be at least 6 MiB, got 4"),
        ("reservation below 6", with(rails(), &[("/containerDefinitions/1/memoryReservation", json!(5))]), "containerDefinitions[1].memoryReservation: must be at least 6 MiB, got 5"),
        ("reservation above memory", with(rails(), &[("/containerDefinitions/1/memoryReservation", json!(2048))]), "containerDefinitions[1].memoryReservation: must not exceed memory (1024 MiB), got 2048"),
        ("negative container cpu", with(rails(), &[("/containerDefinitions/0/cpu", json!(-1))]), "containerDefinitions[0].cpu: must not be negative, got -1"),
        ("task cpu not a number", with(rails(), &[("/cpu", json!("fast"))]), "cpu: must be CPU units such as 1024"),
        ("task cpu in fractional units", with(rails(), &[("/cpu", json!("0.1 vCPU"))]), "cpu: must be CPU units"),
        ("task cpu below 128", with(rails(), &[("/cpu", json!("64"))]), "cpu: must be between 128 and 196608 CPU units"),
        ("task memory not a number", with(rails(), &[("/memory", json!("lots"))]), "memory: must be MiB such as 2048"),
        ("task memory in a unit ECS does not take", with(rails(), &[("/memory", json!("2 GiB"))]), "memory: must be MiB"),
        ("task memory below 6", with(rails(), &[("/memory", json!("4"))]), "memory: must be at least 6 MiB, got 4"),
        ("containers' cpu above the task's", with(backend(), &[(&format!("{c0}/cpu"), json!(2048))]), "containerDefinitions[0].cpu: containers reserve 2048 CPU units in total, more than the task cpu 1024"),
        ("container memory above the task's", with(backend(), &[(&format!("{c0}/memory"), json!(4096))]), "containerDefinitions[0].memory: 4096 MiB is more than the task memory 2048 MiB"),
        ("reservations above the task memory", with(rails(), &[
            ("/memory", json!("1024")),
            ("/containerDefinitions/1/memoryReservation", json!(600)),
        ]), "containerDefinitions[1].memoryReservation: containers reserve 1112 MiB in total, more than the task memory 1024 MiB"),
        // task-level enums
        ("unknown network mode", with(rails(), &[("/networkMode", json!("nat"))]), "networkMode: must be one of bridge, host, awsvpc, none, got \"nat\""),
        ("unknown compatibility", with(rails(), &[("/requiresCompatibilities", json!(["EC2", "LAMBDA"]))]), "requiresCompatibilities[1]: must be one of EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES"),
        ("unknown pid mode", with(rails(), &[("/pidMode", json!("container"))]), "pidMode: must be one of host, task"),
        ("unknown ipc mode", with(rails(), &[("/ipcMode", json!("shareable"))]), "ipcMode: must be one of host, task, none"),
        // Fargate
        ("Fargate in bridge mode", with(fargate_web(), &[("/networkMode", json!("bridge"))]), "networkMode: must be awsvpc when requiresCompatibilities includes FARGATE, got bridge"),
        ("Fargate with the default network mode", with(fargate_web(), &[("/networkMode", Value::Null)]), "networkMode: must be awsvpc"),
        ("Fargate without task cpu", with(fargate_web(), &[("/cpu", Value::Null)]), "cpu: required when requiresCompatibilities includes FARGATE"),
        ("Fargate without task memory", with(fargate_web(), &[("/memory", Value::Null)]), "memory: required when requiresCompatibilities includes FARGATE"),
        ("Fargate memory outside the cpu's range", with(fargate_web(), &[("/cpu", json!("256")), ("/memory", json!("4096"))]), "memory: no Fargate configuration exists for cpu 256 and memory 4096; cpu 256 takes memory 512, 1024, 2048"),
        ("Fargate cpu that is no Fargate size", with(fargate_web(), &[("/cpu", json!("384"))]), "cpu: no Fargate configuration exists for cpu 384"),
        ("Fargate memory off the step", with(fargate_web(), &[("/cpu", json!("4096")), ("/memory", json!("7168"))]), "cpu 4096 takes memory 8192 to 30720 in steps of 1024"),
        ("Fargate with host pid mode", with(fargate_web(), &[("/pidMode", json!("host"))]), "pidMode: must be task on FARGATE, got host"),
        ("Fargate with an ipc mode", with(fargate_web(), &[("/ipcMode", json!("task"))]), "ipcMode: not supported on FARGATE"),
        ("Fargate with a json-file log", with(fargate_web(), &[("/containerDefinitions/0/logConfiguration/logDriver", json!("json-file"))]), "containerDefinitions[0].logConfiguration.logDriver: must be one of awslogs, splunk, awsfirelens on FARGATE, got \"json-file\""),
        ("managed instances with syslog", with(backend(), &[
            ("/requiresCompatibilities", json!(["MANAGED_INSTANCES"])),
            ("/containerDefinitions/0/logConfiguration", json!({"logDriver": "syslog"})),
        ]), "containerDefinitions[0].logConfiguration.logDriver: must be one of awslogs, splunk, awsfirelens, json-file on MANAGED_INSTANCES"),
        ("Fargate with a docker volume", with(fargate_web(), &[("/volumes", json!([{"name": "data", "dockerVolumeConfiguration": {}}]))]), "volumes[0].dockerVolumeConfiguration: not supported on FARGATE"),
        ("Fargate stop timeout above 120", with(fargate_web(), &[("/containerDefinitions/0/stopTimeout", json!(300))]), "containerDefinitions[0].stopTimeout: must be between 2 and 120 seconds on FARGATE, got 300"),
        ("Fargate start timeout below 2", with(fargate_web(), &[("/containerDefinitions/0/startTimeout", json!(1))]), "containerDefinitions[0].startTimeout: must be between 2 and 120 seconds on FARGATE, got 1"),
        ("negative stop timeout", with(rails(), &[("/containerDefinitions/0/stopTimeout", json!(-1))]), "containerDefinitions[0].stopTimeout: must not be negative, got -1"),
        ("negative start timeout", with(rails(), &[("/containerDefinitions/0/startTimeout", json!(-5))]), "containerDefinitions[0].startTimeout: must not be negative, got -5"),
        // port mappings
        ("container port 0", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", json!(0))]), "containerDefinitions[0].portMappings[0].containerPort: must be between 1 and 65535, got 0"),
        ("container port above 65535", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", json!(70000))]), "portMappings[0].containerPort: must be between 1 and 65535, got 70000"),
        ("host port above 65535", with(rails(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(65536))]), "containerDefinitions[0].portMappings[0].hostPort: must be between 0 and 65535, got 65536"),
        ("negative host port", with(rails(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(-1))]), "portMappings[0].hostPort: must be between 0 and 65535, got -1"),
        ("sctp", with(rails(), &[("/containerDefinitions/0/portMappings/0/protocol", json!("sctp"))]), "portMappings[0].protocol: must be one of tcp, udp, got \"sctp\""),
        ("http3", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/appProtocol", json!("http3"))]), "portMappings[0].appProtocol: must be one of http, http2, grpc"),
        ("awsvpc host port differing", with(backend(), &[("/containerDefinitions/0/portMappings/0/hostPort", json!(7001))]), "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (7000) when networkMode is awsvpc, got 7001"),
        ("host mode host port differing", with(rails(), &[("/networkMode", json!("host"))]), "portMappings[0].hostPort: must equal containerPort (3000) when networkMode is host, got 4000"),
        ("duplicate port and protocol", with(backend(), &[("/containerDefinitions/0/portMappings/2", json!({"containerPort": 8000, "protocol": "tcp"}))]), "containerDefinitions[0].portMappings[2].containerPort: 8000/tcp is already mapped by portMappings[1]"),
        ("no container port", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPort", Value::Null)]), "portMappings[0].containerPort: required unless containerPortRange is given"),
        ("port and range", with(rails(), &[("/containerDefinitions/0/portMappings/0/containerPortRange", json!("3000-3010"))]), "portMappings[0]: give containerPort or containerPortRange, not both"),
        ("range without a dash", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("9000"))]), "portMappings[1].containerPortRange: must be \"start-end\""),
        ("range backwards", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("9100-9000"))]), "portMappings[1].containerPortRange: must be \"start-end\" with 1 <= start < end <= 65535, got \"9100-9000\""),
        ("range from 0", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/1/containerPortRange", json!("0-10"))]), "portMappings[1].containerPortRange: must be"),
        ("range in host mode", with(backend(), &[
            ("/networkMode", json!("host")),
            ("/containerDefinitions/0/portMappings/2", json!({"containerPortRange": "9000-9010"})),
        ]), "portMappings[2].containerPortRange: needs networkMode bridge or awsvpc, got host"),
        ("range with a host port", with(backend(), &[("/containerDefinitions/0/portMappings/2", json!({"containerPortRange": "9000-9010", "hostPort": 9000}))]), "portMappings[2].hostPort: must be omitted when containerPortRange is given"),
        ("overlapping ranges", with(kitchen_sink(), &[("/containerDefinitions/1/portMappings/3", json!({"containerPortRange": "9050-9200", "protocol": "udp"}))]), "containerDefinitions[1].portMappings[3].containerPortRange: 9050-9200/udp is already mapped by portMappings[1]"),
        ("ports in none mode", with(rails(), &[("/networkMode", json!("none"))]), "containerDefinitions[0].portMappings: not allowed when networkMode is none"),
        ("uppercase mapping name", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("HTTP"))]), "portMappings[0].name: may contain only lowercase letters"),
        ("mapping name starting with a hyphen", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("-http"))]), "portMappings[0].name: may contain only"),
        ("mapping name too long", with(fargate_web(), &[("/containerDefinitions/0/portMappings/0/name", json!("h".repeat(65)))]), "portMappings[0].name: must be 1 to 64 characters, got 65"),
        // health checks
        ("empty health check command", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!([]))]), "containerDefinitions[0].healthCheck.command: must not be empty"),
        ("CMD-SHELL alone", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!(["CMD-SHELL"]))]), "healthCheck.command[1]: the command to run must follow CMD-SHELL"),
        ("CMD with a blank command", with(rails(), &[("/containerDefinitions/0/healthCheck/command", json!(["CMD", " "]))]), "healthCheck.command[1]: the command to run must follow CMD"),
        ("interval 2", with(rails(), &[("/containerDefinitions/0/healthCheck/interval", json!(2))]), "containerDefinitions[0].healthCheck.interval: must be between 5 and 300 seconds, got 2"),
        ("interval 301", with(rails(), &[("/containerDefinitions/0/healthCheck/interval", json!(301))]), "healthCheck.interval: must be between 5 and 300 seconds, got 301"),
        ("timeout 1", with(rails(), &[("/containerDefinitions/0/healthCheck/timeout", json!(1))]), "healthCheck.timeout: must be between 2 and 60 seconds, got 1"),
        ("timeout 61", with(rails(), &[("/containerDefinitions/0/healthCheck/timeout", json!(61))]), "healthCheck.timeout: must be between 2 and 60 seconds, got 61"),
        ("retries 0", with(rails(), &[("/containerDefinitions/0/healthCheck/retries", json!(0))]), "healthCheck.retries: must be between 1 and 10, got 0"),
        ("retries 11", with(rails(), &[("/containerDefinitions/0/healthCheck/retries", json!(11))]), "healthCheck.retries: must be between 1 and 10, got 11"),
        ("negative start period", with(rails(), &[("/containerDefinitions/0/healthCheck/startPeriod", json!(-1))]), "healthCheck.startPeriod: must be between 0 and 300 seconds, got -1"),
        ("start period 301", with(rails(), &[("/containerDefinitions/0/healthCheck/startPeriod", json!(301))]), "healthCheck.startPeriod: must be between 0 and 300 seconds, got 301"),
        // dependsOn
        ("dependency on a missing container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/containerName", json!("db"))]), "containerDefinitions[1].dependsOn[0].containerName: no container named \"db\" in this task definition"),
        ("dependency on itself", with(rails(), &[("/containerDefinitions/1/dependsOn/0/containerName", json!("worker"))]), "containerDefinitions[1].dependsOn[0].containerName: a container cannot refer to itself"),
        ("unknown condition", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("READY"))]), "dependsOn[0].condition: must be one of START, COMPLETE, SUCCESS, HEALTHY, got \"READY\""),
        ("COMPLETE on an essential container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("COMPLETE"))]), "containerDefinitions[1].dependsOn[0].condition: condition COMPLETE cannot target essential container \"web\""),
        ("SUCCESS on an essential container", with(rails(), &[("/containerDefinitions/1/dependsOn/0/condition", json!("SUCCESS"))]), "dependsOn[0].condition: condition SUCCESS cannot target essential container \"web\""),
        ("HEALTHY without a health check", with(rails(), &[("/containerDefinitions/0/healthCheck", Value::Null)]), "containerDefinitions[1].dependsOn[0].condition: condition HEALTHY needs container \"web\" to have a healthCheck"),
        ("two containers waiting on each other", with(rails(), &[("/containerDefinitions/0/dependsOn", json!([{"containerName": "worker", "condition": "START"}]))]), "containerDefinitions[0].dependsOn: dependency cycle web -> worker -> web"),
        ("a cycle behind a chain", with(kitchen_sink(), &[("/containerDefinitions/2/dependsOn", json!([{"containerName": "app", "condition": "START"}]))]), "containerDefinitions[1].dependsOn: dependency cycle app -> cache -> app"),
        // secrets
        ("secret without a name", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/name", json!(""))]), "containerDefinitions[0].secrets[0].name: must not be empty"),
        ("duplicate secret names", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/name", json!("DATABASE_URL"))]), "containerDefinitions[0].secrets[1].name: duplicate secret name \"DATABASE_URL\", also used by containerDefinitions[0].secrets[0]"),
        ("secret without a source", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!(""))]), "containerDefinitions[0].secrets[0].valueFrom: required"),
        ("Secrets Manager ARN without a name", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:000000000000:secret:"))]), "secrets[0].valueFrom: the Secrets Manager ARN names no valid secret"),
        ("Secrets Manager ARN without secret:", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:000000000000:db"))]), "secrets[0].valueFrom: a Secrets Manager ARN must end in secret:<name>"),
        ("ARN of another service", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:kms:us-east-1:000000000000:key/1234"))]), "secrets[0].valueFrom: must name a Secrets Manager secret or an SSM parameter, got an ARN of service \"kms\""),
        ("S3 ARN", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:s3:::bucket/key"))]), "secrets[0].valueFrom: malformed ARN"),
        ("five fields after the secret name", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:password:AWSCURRENT:v1:extra:more")))]), "secrets[1].valueFrom: after the secret name expected nothing or :<json-key>:<version-stage>:<version-id>"),
        ("four fields after the secret name", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:a:b:c:d")))]), "got 4 fields"),
        ("a JSON key without its trailing colons", with(fargate_web(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!(format!("{SECRET_ARN}:password")))]), "got 1 fields"),
        ("short account", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager:us-east-1:123:secret:db"))]), "secrets[0].valueFrom: malformed ARN"),
        ("too few ARN parts", with(fargate_web(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("arn:aws:secretsmanager"))]), "secrets[0].valueFrom: malformed ARN"),
        ("SSM name with a space", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("db password"))]), "containerDefinitions[0].secrets[0].valueFrom: an SSM parameter name may contain only"),
        ("relative SSM hierarchy", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/0/valueFrom", json!("prod/db"))]), "secrets[0].valueFrom: a hierarchical SSM parameter name must look like /path/name"),
        ("SSM ARN of a document", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/2/valueFrom", json!("arn:aws:ssm:eu-west-1:000000000000:document/x"))]), "secrets[2].valueFrom: an SSM ARN must end in parameter/<name>"),
        ("source too long", with(kitchen_sink(), &[("/containerDefinitions/0/secrets/1/valueFrom", json!("a".repeat(2049)))]), "secrets[1].valueFrom: must be at most 2048 characters, got 2049"),
        ("bad log secret", with(kitchen_sink(), &[("/containerDefinitions/1/logConfiguration/secretOptions/0/valueFrom", json!(format!("{SECRET_ARN}:token")))]), "containerDefinitions[1].logConfiguration.secretOptions[0].valueFrom: after the secret name"),
        // environment, ulimits, logs
        ("environment variable without a name", with(rails(), &[("/containerDefinitions/0/environment/0/name", Value::Null)]), "containerDefinitions[0].environment[0].name: required"),
        ("unknown ulimit", with(backend(), &[("/containerDefinitions/0/ulimits/0/name", json!("files"))]), "containerDefinitions[0].ulimits[0].name: must be one of core, cpu"),
        ("soft limit above hard", with(backend(), &[("/containerDefinitions/0/ulimits/0/softLimit", json!(70000))]), "containerDefinitions[0].ulimits[0].softLimit: must not exceed hardLimit (65535), got 70000"),
        ("unlimited soft under a finite hard", with(backend(), &[("/containerDefinitions/0/ulimits/0/softLimit", json!(-1))]), "ulimits[0].softLimit: must not exceed hardLimit (65535), got -1"),
        ("hard limit below -1", with(backend(), &[("/containerDefinitions/0/ulimits/0/hardLimit", json!(-2))]), "ulimits[0].hardLimit: must be -1 (unlimited) or more, got -2"),
        ("unknown log driver", with(rails(), &[("/containerDefinitions/0/logConfiguration", json!({"logDriver": "loki"}))]), "containerDefinitions[0].logConfiguration.logDriver: must be one of json-file, syslog"),
        // volumes and mount points
        ("mount of a missing volume", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/sourceVolume", json!("uploads"))]), "containerDefinitions[1].mountPoints[0].sourceVolume: no volume named \"uploads\" in volumes"),
        ("mount without a volume", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/sourceVolume", Value::Null)]), "containerDefinitions[1].mountPoints[0].sourceVolume: required"),
        ("mount without a path", with(kitchen_sink(), &[("/containerDefinitions/1/mountPoints/0/containerPath", Value::Null)]), "containerDefinitions[1].mountPoints[0].containerPath: required"),
        ("duplicate volume names", with(kitchen_sink(), &[("/volumes/1/name", json!("assets"))]), "volumes[1].name: duplicate volume name \"assets\", also used by volumes[0]"),
        ("volume name with a space", with(kitchen_sink(), &[("/volumes/0/name", json!("my assets"))]), "volumes[0].name: may contain only"),
        ("EFS volume without a name", with(kitchen_sink(), &[("/volumes/2/efsVolumeConfiguration", json!({"fileSystemId": "fs-1"}))]), "volumes[2].name: required for EFS"),
        ("two volumes configured at launch", with(kitchen_sink(), &[
            ("/volumes/0/configuredAtLaunch", json!(true)),
            ("/volumes/1/configuredAtLaunch", json!(true)),
        ]), "volumes[1].configuredAtLaunch: only one volume may be configured at launch, volumes[0] already is"),
        ("volumes from a missing container", with(kitchen_sink(), &[("/containerDefinitions/1/volumesFrom/0/sourceContainer", json!("ghost"))]), "containerDefinitions[1].volumesFrom[0].sourceContainer: no container named \"ghost\""),
        ("volumes from itself", with(kitchen_sink(), &[("/containerDefinitions/1/volumesFrom/0/sourceContainer", json!("app"))]), "volumesFrom[0].sourceContainer: a container cannot refer to itself"),
        // links and hostname
        ("links in awsvpc mode", with(backend(), &[("/containerDefinitions/0/links", json!(["cache"]))]), "containerDefinitions[0].links: only supported when networkMode is bridge, got awsvpc"),
        ("link to a missing container", with(kitchen_sink(), &[("/containerDefinitions/1/links/0", json!("db:database"))]), "containerDefinitions[1].links[0]: no container named \"db\""),
        ("hostname in awsvpc mode", with(backend(), &[("/containerDefinitions/0/hostname", json!("relay"))]), "containerDefinitions[0].hostname: not supported when networkMode is awsvpc"),
        // task placement constraints
        ("distinctInstance in a task definition", with(kitchen_sink(), &[("/placementConstraints/0/type", json!("distinctInstance"))]), "placementConstraints[0].type: must be memberOf, got \"distinctInstance\""),
        ("constraint without a type", with(kitchen_sink(), &[("/placementConstraints/0/type", Value::Null)]), "placementConstraints[0].type: must be memberOf, got null"),
        ("memberOf without an expression", with(kitchen_sink(), &[("/placementConstraints/0/expression", Value::Null)]), "placementConstraints[0].expression: required"),
        ("expression too long", with(kitchen_sink(), &[("/placementConstraints/0/expression", json!("a".repeat(2001)))]), "placementConstraints[0].expression: must be at most 2000 characters, got 2001"),
        ("eleven constraints", with(kitchen_sink(), &[("/placementConstraints", json!(vec![json!({"type": "memberOf", "expression": "attribute:a == b"}); 11]))]), "placementConstraints: at most 10 constraints, got 11"),
    ];
    cases.push((
        "tags checked too",
        with(
            rails(),
            &[("/tags", json!([{"key": "aws:owner", "value": "me"}]))],
        ),
        "tags[0].key: the aws: prefix is reserved",
    ));
    cases
        .into_iter()
        .map(|(name, request, needle)| {
            let kind = if needle.starts_with("tags") {
                INVALID
            } else {
                CLIENT
            };
            (name, request, kind, needle.to_string())
        })
        .collect()
}

#[test]
fn rejects_each_task_definition_rule_with_its_path() {
    for (name, request, kind, needle) in rejected_task_definitions() {
        assert_rejected(
            name,
            register_task_definition(&task_definition(&request)),
            kind,
            &needle,
        );
    }
}
