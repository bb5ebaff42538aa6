//! Service tasks as load balancer targets: where a task receives a target group's traffic,
//! which tasks are registered, and how the load balancer's live view of a task's targets
//! becomes the task's health for deployments.
//!
//! A task of a service with `loadBalancers` is a target of each of those groups while it is
//! RUNNING and wanted. Stopping it first takes it out of the groups (DEACTIVATING) and waits
//! until the load balancer has drained it: the controller moves it on to STOPPING, and so to
//! its stop signal, only once no group holds it any more.
//!
//! Everything here but [`service_targets`] and the address lookups is pure.

use crate::call::Call;
use crate::data_plane::TargetState;
use crate::ecs::container_instances::InstanceRecord;
use crate::ecs::{names, task_definitions};
use berth_lb::health::State;
use berth_model::resources::{LoadBalancer, Service, Task, TaskDefinition};
use berth_model::status::{HealthStatus, TaskStatus};
use berth_model::ApiError;
use berth_store::Collection;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Where `task` receives traffic for `balancer`: in `awsvpc` mode its own address and the
/// container port; in `bridge` mode the instance's address and the host port Docker bound
/// to the container port; in `host` mode the instance's address and the container port.
/// `None` while the task has no such address yet (not started, or the port is not mapped).
pub fn task_target(
    task: &Task,
    balancer: &LoadBalancer,
    network_mode: &str,
    instance_address: Option<IpAddr>,
) -> Option<SocketAddr> {
    let container_port = u16::try_from(balancer.container_port?).ok()?;
    let container = task
        .containers
        .iter()
        .find(|c| Some(&c.name) == balancer.container_name.as_ref())?;
    let instance = instance_address.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    match network_mode {
        "awsvpc" => {
            let ip = container
                .network_interfaces
                .iter()
                .find_map(|n| n.private_ipv4_address.as_deref()?.parse().ok())?;
            Some(SocketAddr::new(ip, container_port))
        }
        "host" => Some(SocketAddr::new(instance, container_port)),
        _ => container
            .network_bindings
            .iter()
            .find(|b| b.container_port == Some(i32::from(container_port)))
            .and_then(|b| {
                let port = u16::try_from(b.host_port?).ok()?;
                // A binding to one address is reachable there only.
                let ip = b
                    .bind_ip
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .filter(|ip| !ip.is_unspecified())
                    .unwrap_or(instance);
                Some(SocketAddr::new(ip, port))
            }),
    }
}

/// Whether the task belongs in its service's target groups: running and wanted.
pub fn is_registered(task: &Task) -> bool {
    task.last_status == TaskStatus::Running && task.desired_status == TaskStatus::Running
}

/// Every (target group, address) of `task` under `service`'s `loadBalancers`.
pub fn task_targets(
    service: &Service,
    task: &Task,
    network_mode: &str,
    instance_address: Option<IpAddr>,
) -> Vec<(String, SocketAddr)> {
    service
        .load_balancers
        .iter()
        .filter_map(|balancer| {
            let group = balancer.target_group_arn.clone()?;
            Some((
                group,
                task_target(task, balancer, network_mode, instance_address)?,
            ))
        })
        .collect()
}

/// A service task's health as the deployment counts it, from its containers' health
/// (`task.healthStatus`; `None` when its definition has no container health checks) and its
/// targets' states. Target health decides once every target
/// is healthy; a failing target makes the task unhealthy only after the service's
/// `healthCheckGracePeriodSeconds` from the task's start. Returns the health and, when a
/// target made it unhealthy, that target's group.
pub fn task_health(
    container_health: Option<HealthStatus>,
    targets: &[(String, Option<TargetState>)],
    started_at: Option<f64>,
    grace_period_seconds: f64,
    now: f64,
) -> (HealthStatus, Option<String>) {
    if container_health == Some(HealthStatus::Unhealthy) {
        return (HealthStatus::Unhealthy, None);
    }
    let in_grace = started_at.is_none_or(|at| now - at < grace_period_seconds);
    if !in_grace {
        if let Some((group, _)) = targets
            .iter()
            .find(|(_, state)| matches!(state, Some((State::Unhealthy, _))))
        {
            return (HealthStatus::Unhealthy, Some(group.clone()));
        }
    }
    let all_healthy = !targets.is_empty()
        && targets
            .iter()
            .all(|(_, state)| matches!(state, Some((State::Healthy, _))));
    if all_healthy && container_health != Some(HealthStatus::Unknown) {
        (HealthStatus::Healthy, None)
    } else {
        (HealthStatus::Unknown, None)
    }
}

/// A target a service wants registered: one of its tasks' addresses in one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub target_group_arn: String,
    pub addr: SocketAddr,
    pub cluster: String,
    pub service: String,
}

/// Every target the services of `cluster` want registered now: the addresses of their
/// RUNNING, wanted tasks.
pub fn service_targets(call: &Call<'_>, cluster: &str) -> Result<Vec<ServiceTarget>, ApiError> {
    let services: Vec<Service> = call
        .list::<Service>(Collection::Services, Some(cluster))?
        .into_iter()
        .filter(|s| !s.load_balancers.is_empty())
        .collect();
    let mut targets = Vec::new();
    if services.is_empty() {
        return Ok(targets);
    }
    let addresses = instance_addresses(call, cluster)?;
    let mut definitions: HashMap<String, Option<TaskDefinition>> = HashMap::new();
    // Only the balanced services' tasks are read, not the cluster's.
    for service in &services {
        let group = names::task_group(&service.service_name);
        for task in call.tasks_in_group(cluster, &group)? {
            let task = &task.value;
            if !is_registered(task) {
                continue;
            }
            let mode = network_mode(call, &mut definitions, &task.task_definition_arn)?;
            let address = instance_address(&addresses, task);
            for (group, addr) in task_targets(service, task, &mode, address) {
                targets.push(ServiceTarget {
                    target_group_arn: group,
                    addr,
                    cluster: cluster.to_string(),
                    service: service.service_name.clone(),
                });
            }
        }
    }
    Ok(targets)
}

/// Each container instance's address, by ARN.
pub fn instance_addresses(
    call: &Call<'_>,
    cluster: &str,
) -> Result<HashMap<String, IpAddr>, ApiError> {
    Ok(call
        .list::<InstanceRecord>(Collection::ContainerInstances, Some(cluster))?
        .into_iter()
        .filter_map(|r| {
            let ip = r.address.as_deref()?.parse().ok()?;
            Some((r.instance.container_instance_arn, ip))
        })
        .collect())
}

/// The address of the instance `task` runs on, if known.
pub fn instance_address(addresses: &HashMap<String, IpAddr>, task: &Task) -> Option<IpAddr> {
    addresses
        .get(task.container_instance_arn.as_deref()?)
        .copied()
}

/// The network mode of a task definition (ECS's default, `bridge`, when unset or unknown).
pub fn network_mode(
    call: &Call<'_>,
    cache: &mut HashMap<String, Option<TaskDefinition>>,
    definition_arn: &str,
) -> Result<String, ApiError> {
    if !cache.contains_key(definition_arn) {
        let found = task_definitions::resolve(call, definition_arn)?;
        cache.insert(definition_arn.to_string(), found);
    }
    Ok(cache
        .get(definition_arn)
        .and_then(Option::as_ref)
        .and_then(|d| d.network_mode.clone())
        .unwrap_or_else(|| "bridge".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::resources::{Container, NetworkBinding, NetworkInterface};

    fn balancer(port: i32) -> LoadBalancer {
        LoadBalancer {
            target_group_arn: Some("tg".into()),
            container_name: Some("web".into()),
            container_port: Some(port),
            ..LoadBalancer::default()
        }
    }

    fn task(bindings: Vec<NetworkBinding>, ip: Option<&str>) -> Task {
        Task {
            containers: vec![Container {
                name: "web".into(),
                network_bindings: bindings,
                network_interfaces: ip
                    .map(|ip| NetworkInterface {
                        private_ipv4_address: Some(ip.into()),
                        ..NetworkInterface::default()
                    })
                    .into_iter()
                    .collect(),
                ..Container::default()
            }],
            ..Task::default()
        }
    }

    fn binding(ip: &str, container: i32, host: i32) -> NetworkBinding {
        NetworkBinding {
            bind_ip: Some(ip.into()),
            container_port: Some(container),
            host_port: Some(host),
            protocol: Some("tcp".into()),
        }
    }

    #[test]
    fn each_network_mode_has_its_address() {
        let node: IpAddr = "10.0.0.5".parse().unwrap();
        let bridge = task(
            vec![
                binding("0.0.0.0", 9000, 32768),
                binding("0.0.0.0", 80, 32769),
            ],
            Some("172.17.0.2"),
        );
        assert_eq!(
            task_target(&bridge, &balancer(80), "bridge", Some(node)),
            Some("10.0.0.5:32769".parse().unwrap())
        );
        assert_eq!(
            task_target(&bridge, &balancer(80), "bridge", None),
            Some("127.0.0.1:32769".parse().unwrap()),
            "an instance that did not say is this machine"
        );
        let pinned = task(vec![binding("192.168.1.9", 80, 8080)], None);
        assert_eq!(
            task_target(&pinned, &balancer(80), "bridge", Some(node)),
            Some("192.168.1.9:8080".parse().unwrap())
        );
        let vpc = task(vec![], Some("172.30.0.7"));
        assert_eq!(
            task_target(&vpc, &balancer(8080), "awsvpc", Some(node)),
            Some("172.30.0.7:8080".parse().unwrap())
        );
        assert_eq!(
            task_target(&task(vec![], None), &balancer(8080), "host", Some(node)),
            Some("10.0.0.5:8080".parse().unwrap())
        );
    }

    #[test]
    fn no_address_until_there_is_one() {
        assert_eq!(
            task_target(&task(vec![], None), &balancer(80), "bridge", None),
            None
        );
        assert_eq!(
            task_target(&task(vec![], None), &balancer(80), "awsvpc", None),
            None
        );
        let unmapped = task(vec![binding("0.0.0.0", 9000, 32768)], None);
        assert_eq!(task_target(&unmapped, &balancer(80), "bridge", None), None);
        let other = LoadBalancer {
            container_name: Some("sidecar".into()),
            ..balancer(80)
        };
        let bridge = task(vec![binding("0.0.0.0", 80, 32768)], None);
        assert_eq!(task_target(&bridge, &other, "bridge", None), None);
    }

    fn targets(states: &[Option<State>]) -> Vec<(String, Option<TargetState>)> {
        states
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("tg-{i}"), s.map(|s| (s, None))))
            .collect()
    }

    #[test]
    fn health_needs_every_target_healthy() {
        let h = |container, states: &[Option<State>]| {
            task_health(Some(container), &targets(states), Some(0.0), 0.0, 100.0)
        };
        use HealthStatus::*;
        assert_eq!(h(Healthy, &[Some(State::Healthy)]), (Healthy, None));
        assert_eq!(
            task_health(None, &targets(&[Some(State::Healthy)]), Some(0.0), 0.0, 1.0),
            (Healthy, None),
            "without container checks the targets decide"
        );
        assert_eq!(
            h(Healthy, &[Some(State::Healthy), Some(State::Initial)]),
            (Unknown, None)
        );
        assert_eq!(h(Healthy, &[None]), (Unknown, None), "not registered yet");
        assert_eq!(
            h(Unknown, &[Some(State::Healthy)]),
            (Unknown, None),
            "containers still checking"
        );
        assert_eq!(
            h(Healthy, &[Some(State::Healthy), Some(State::Unhealthy)]),
            (Unhealthy, Some("tg-1".into()))
        );
        assert_eq!(h(Unhealthy, &[Some(State::Healthy)]), (Unhealthy, None));
    }

    #[test]
    fn the_grace_period_holds_back_target_failures_only() {
        let unhealthy = targets(&[Some(State::Unhealthy)]);
        assert_eq!(
            task_health(None, &unhealthy, Some(100.0), 30.0, 120.0),
            (HealthStatus::Unknown, None)
        );
        assert_eq!(
            task_health(None, &unhealthy, Some(100.0), 30.0, 130.0),
            (HealthStatus::Unhealthy, Some("tg-0".into()))
        );
        assert_eq!(
            task_health(
                Some(HealthStatus::Unhealthy),
                &unhealthy,
                Some(100.0),
                30.0,
                101.0
            ),
            (HealthStatus::Unhealthy, None)
        );
    }
}
