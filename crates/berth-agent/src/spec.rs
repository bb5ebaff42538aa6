//! From an ECS container definition (with RunTask overrides and the task's volumes) to the
//! runtime's [`ContainerSpec`].

use crate::AgentError;
use berth_model::agent::{ContainerSecrets, DesiredTask};
use berth_model::resources::{ContainerDefinition, KeyValuePair};
use berth_runtime::{
    ContainerSpec, HealthCheck, HealthCommand, Mount, MountSource, Network, PortMapping, Protocol,
    SensitiveEnvironment, Ulimit,
};
use serde_json::Value;
use std::time::Duration;

/// The Docker network awsvpc tasks join, each with an address of its own.
pub const TASK_NETWORK: &str = "berth-tasks";

fn container_override<'a>(task: &'a DesiredTask, name: &str) -> Option<&'a Value> {
    task.overrides
        .get("containerOverrides")?
        .as_array()?
        .iter()
        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
}

fn environment(
    container: &ContainerDefinition,
    overrides: Option<&Value>,
) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut set = |name: String, value: String| match pairs.iter_mut().find(|(n, _)| *n == name) {
        Some(existing) => existing.1 = value,
        None => pairs.push((name, value)),
    };
    for KeyValuePair { name, value } in container.environment.iter().flatten() {
        if let Some(name) = name {
            set(name.clone(), value.clone().unwrap_or_default());
        }
    }
    let extra = overrides
        .and_then(|o| o.get("environment"))
        .and_then(Value::as_array);
    for pair in extra.into_iter().flatten() {
        if let Some(name) = pair.get("name").and_then(Value::as_str) {
            let value = pair
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            set(name.to_string(), value.to_string());
        }
    }
    pairs
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(value.and_then(|v| u64::try_from(v).ok()).unwrap_or(default))
}

/// What the container gets without showing: its environment files' variables where the
/// plain environment does not set them, then its secrets over everything.
fn sensitive_environment(
    plain: &[(String, String)],
    env_files: Vec<(String, String)>,
    secrets: Option<&ContainerSecrets>,
) -> SensitiveEnvironment {
    let mut pairs: Vec<(String, String)> = env_files
        .into_iter()
        .filter(|(name, _)| !plain.iter().any(|(set, _)| set == name))
        .collect();
    for (name, value) in secrets.iter().flat_map(|s| &s.environment) {
        pairs.retain(|(known, _)| known != name);
        pairs.push((name.clone(), value.expose().to_string()));
    }
    SensitiveEnvironment::new(pairs)
}

/// Builds the runtime's view of one container, given its resolved secrets and what its
/// environment files hold. An error's message is ECS's `reason` text.
pub fn container_spec(
    task: &DesiredTask,
    container: &ContainerDefinition,
    secrets: Option<&ContainerSecrets>,
    env_files: Vec<(String, String)>,
) -> Result<ContainerSpec, AgentError> {
    let name = container.name.clone().unwrap_or_default();
    let image = container.image.clone().unwrap_or_default();
    let overrides = container_override(task, &name);
    let mut spec = ContainerSpec::new(&task.task_id, &name, image);
    spec.entry_point = container.entry_point.clone();
    spec.command =
        strings(overrides.and_then(|o| o.get("command"))).or_else(|| container.command.clone());
    spec.environment = environment(container, overrides);
    spec.sensitive_environment = sensitive_environment(&spec.environment, env_files, secrets);
    spec.working_directory = container.working_directory.clone();
    spec.user = container.user.clone();
    for (key, value) in container.docker_labels.iter().flatten() {
        spec.labels.insert(
            key.clone(),
            value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
        );
    }
    spec.ulimits = container
        .ulimits
        .iter()
        .flatten()
        .map(|u| Ulimit {
            name: u.name.clone(),
            soft: i64::from(u.soft_limit),
            hard: i64::from(u.hard_limit),
        })
        .collect();
    for mount in container.mount_points.iter().flatten() {
        let (Some(volume), Some(target)) = (&mount.source_volume, &mount.container_path) else {
            continue;
        };
        let declared = task
            .volumes
            .iter()
            .find(|v| v.name.as_ref() == Some(volume));
        let host_path = declared
            .and_then(|v| v.host.as_ref())
            .and_then(|h| h.get("sourcePath"))
            .and_then(Value::as_str);
        let shared = declared
            .and_then(|v| v.docker_volume_configuration.as_ref())
            .and_then(|c| c.get("scope"))
            .and_then(Value::as_str)
            == Some("shared");
        let source = match host_path {
            Some(path) => MountSource::Host(path.to_string()),
            // A task-scoped volume lives and dies with its task, as on ECS.
            None if shared => MountSource::Volume(volume.clone()),
            None => MountSource::Volume(format!("berth-{}-{volume}", task.task_id)),
        };
        spec.mounts.push(Mount {
            source,
            target: target.clone(),
            read_only: mount.read_only.unwrap_or(false),
        });
    }
    let cpu = overrides
        .and_then(|o| o.get("cpu"))
        .and_then(Value::as_i64)
        .or(container.cpu.map(i64::from));
    // Docker's smallest share is 2; ECS's 0 means "an equal share", which is Docker's default.
    spec.cpu_shares = cpu.filter(|c| *c > 0).map(|c| c.max(2) as u32);
    let memory = overrides
        .and_then(|o| o.get("memory"))
        .and_then(Value::as_i64)
        .or(container.memory.map(i64::from));
    spec.memory_limit_mib = memory.and_then(|m| u64::try_from(m).ok());
    spec.memory_reservation_mib = container
        .memory_reservation
        .and_then(|m| u64::try_from(m).ok());
    spec.network = match task.network_mode.as_str() {
        "host" => Network::Host,
        "awsvpc" => Network::Awsvpc {
            network_name: TASK_NETWORK.to_string(),
        },
        "none" => Network::None,
        _ => Network::Bridge,
    };
    for mapping in container.port_mappings.iter().flatten() {
        let Some(port) = mapping.container_port.and_then(|p| u16::try_from(p).ok()) else {
            continue;
        };
        spec.port_mappings.push(PortMapping {
            container_port: port,
            host_port: mapping
                .host_port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p != 0),
            protocol: if mapping.protocol.as_deref() == Some("udp") {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
        });
    }
    spec.stop_timeout = Duration::from_secs(
        container
            .stop_timeout
            .map(i64::from)
            .unwrap_or(task.stop_timeout_seconds)
            .max(0) as u64,
    );
    if let Some(check) = &container.health_check {
        let command = HealthCommand::from_ecs(&check.command)?;
        spec.health_check = Some(HealthCheck {
            command,
            interval: seconds(check.interval, 30),
            timeout: seconds(check.timeout, 5),
            retries: check
                .retries
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(3),
            start_period: seconds(check.start_period, 0),
        });
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::SecretValue;
    use berth_model::status::TaskStatus;
    use berth_runtime::RuntimeError;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn task(definition: Value, overrides: Value) -> (DesiredTask, ContainerDefinition) {
        let container: ContainerDefinition = serde_json::from_value(definition).unwrap();
        let task = DesiredTask {
            task_arn: "arn".into(),
            task_id: "t1".into(),
            desired_status: TaskStatus::Running,
            family: "web".into(),
            revision: 1,
            network_mode: "bridge".into(),
            containers: vec![container.clone()],
            volumes: serde_json::from_value(json!([
                {"name": "data", "host": {"sourcePath": "/srv/data"}},
                {"name": "scratch"},
                {"name": "cache", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": true}}
            ]))
            .unwrap(),
            overrides: serde_json::from_value(overrides).unwrap(),
            stop_timeout_seconds: 30,
            secrets: None,
            started: vec![],
        };
        (task, container)
    }

    #[test]
    fn carries_every_member_the_runtime_acts_on() {
        let (task, container) = task(
            json!({
                "name": "web", "image": "app:1", "cpu": 0, "memory": 256, "memoryReservation": 128,
                "entryPoint": ["/app"], "command": ["serve"], "workingDirectory": "/srv", "user": "1000",
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "dockerLabels": {"team": "search"},
                "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
                "mountPoints": [
                    {"sourceVolume": "data", "containerPath": "/data", "readOnly": true},
                    {"sourceVolume": "scratch", "containerPath": "/tmp/s"},
                    {"sourceVolume": "cache", "containerPath": "/cache"}
                ],
                "portMappings": [{"containerPort": 8080, "hostPort": 0}, {"containerPort": 53, "hostPort": 5353, "protocol": "udp"}],
                "stopTimeout": 7,
                "healthCheck": {"command": ["CMD-SHELL", "wget -q -O- localhost:8080/health"], "interval": 5, "retries": 2}
            }),
            json!({"containerOverrides": [{"name": "web", "command": ["migrate"], "environment": [{"name": "B", "value": "override"}]}]}),
        );
        let spec = container_spec(&task, &container, None, vec![]).unwrap();
        assert_eq!(spec.argv(), ["/app", "migrate"]);
        assert_eq!(
            spec.environment,
            [("A".into(), "1".into()), ("B".into(), "override".into())]
        );
        assert_eq!(spec.cpu_shares, None);
        assert_eq!(
            (spec.memory_limit_mib, spec.memory_reservation_mib),
            (Some(256), Some(128))
        );
        assert_eq!(spec.labels["team"], "search");
        assert_eq!(spec.ulimits[0].hard, 4096);
        assert_eq!(spec.mounts[0].source, MountSource::Host("/srv/data".into()));
        assert!(spec.mounts[0].read_only);
        assert_eq!(
            spec.mounts[1].source,
            MountSource::Volume("berth-t1-scratch".into())
        );
        assert_eq!(spec.mounts[2].source, MountSource::Volume("cache".into()));
        assert_eq!(spec.port_mappings[0], PortMapping::tcp(8080, None));
        assert_eq!(spec.port_mappings[1].protocol, Protocol::Udp);
        assert_eq!(spec.stop_timeout, Duration::from_secs(7));
        let check = spec.health_check.unwrap();
        assert_eq!(check.interval, Duration::from_secs(5));
        assert_eq!(check.timeout, Duration::from_secs(5));
        assert_eq!(check.retries, 2);
    }

    #[test]
    fn secrets_win_over_the_environment_which_wins_over_environment_files() {
        let (task, container) = task(
            json!({"name": "web", "image": "x", "environment": [
                {"name": "PLAIN", "value": "environment"}, {"name": "BOTH", "value": "environment"}
            ]}),
            json!({}),
        );
        let secrets = ContainerSecrets {
            environment: [("BOTH", "secret"), ("TOKEN", "secret")]
                .into_iter()
                .map(|(n, v)| (n.to_string(), SecretValue::new(v)))
                .collect(),
            ..ContainerSecrets::default()
        };
        let files = [("PLAIN", "file"), ("FROM_FILE", "file"), ("TOKEN", "file")]
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let spec = container_spec(&task, &container, Some(&secrets), files).unwrap();
        let got: BTreeMap<String, String> = spec.full_environment().into_iter().collect();
        let want: BTreeMap<String, String> = [
            ("PLAIN", "environment"),
            ("BOTH", "secret"),
            ("FROM_FILE", "file"),
            ("TOKEN", "secret"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
        let shown = format!("{spec:?}");
        assert!(
            !shown.contains("secret\"") && !shown.contains("file\""),
            "{shown}"
        );
    }

    #[test]
    fn network_modes_map_to_runtime_networks() {
        for (mode, expected) in [
            ("bridge", Network::Bridge),
            ("host", Network::Host),
            ("none", Network::None),
            (
                "awsvpc",
                Network::Awsvpc {
                    network_name: TASK_NETWORK.into(),
                },
            ),
        ] {
            let (mut task, container) = task(json!({"name": "web", "image": "x"}), json!({}));
            task.network_mode = mode.into();
            assert_eq!(
                container_spec(&task, &container, None, vec![])
                    .unwrap()
                    .network,
                expected
            );
        }
    }

    #[test]
    fn a_health_check_the_runtime_cannot_run_is_the_runtimes_refusal() {
        let (task, container) = task(
            json!({"name": "web", "image": "x", "healthCheck": {"command": ["CMD"]}}),
            json!({}),
        );
        let error = container_spec(&task, &container, None, vec![]).unwrap_err();
        assert!(
            matches!(error, AgentError::Runtime(RuntimeError::InvalidSpec(_))),
            "{error:?}"
        );
        assert!(
            error.to_string().starts_with("invalid container spec: "),
            "the reason is the runtime's own: {error}"
        );
    }
}
