//! Secrets that changed under running tasks (see [`crate::secret_changes`]): each service
//! whose task definition reads the changed value, and that has tasks started before the
//! change, is told so in its events, in words that say what to do; a service tagged
//! `berth:redeploy-on-secret-change=true` starts a new deployment of the same task
//! definition instead, which rolls as any deployment does (behind its load balancer, with
//! draining). ECS needs a redeploy for this and says nothing.
//!
//! The work is proportional to the services when a secret changes, and nothing otherwise.

use crate::call::Call;
use crate::ecs::{events, names, services, task_definitions};
use crate::secret_changes::{self, SecretChange, REDEPLOY_TAG};
use berth_model::resources::{Cluster, ContainerDefinition, Service};
use berth_model::status::{ClusterStatus, ServiceStatus, TaskStatus};
use berth_model::ApiError;
use berth_store::Collection;

/// Acts on every pending change. Returns whether there was any.
pub fn apply(call: &Call<'_>) -> Result<bool, ApiError> {
    let pending = secret_changes::pending(call)?;
    if pending.is_empty() {
        return Ok(false);
    }
    for cluster in call.list::<Cluster>(Collection::Clusters, None)? {
        if cluster.status != ClusterStatus::Active {
            continue;
        }
        let name = &cluster.cluster_name;
        for service in call.list::<Service>(Collection::Services, Some(name))? {
            if service.status != ServiceStatus::Active {
                continue;
            }
            let Some(definition) = task_definitions::resolve(call, &service.task_definition)?
            else {
                continue;
            };
            for (_, change) in &pending {
                if !reads(&definition.container_definitions, change) {
                    continue;
                }
                let group = names::task_group(&service.service_name);
                let holding = call
                    .tasks_in_group(name, &group)?
                    .iter()
                    .map(|t| &t.value)
                    .filter(|t| t.desired_status == TaskStatus::Running)
                    .filter(|t| t.started_at.unwrap_or(t.created_at) < change.at)
                    .count();
                if holding > 0 {
                    tell(call, name, &service, change, holding)?;
                }
            }
        }
    }
    for (key, change) in &pending {
        secret_changes::done(call, key, change)?;
    }
    Ok(true)
}

fn reads(containers: &[ContainerDefinition], change: &SecretChange) -> bool {
    containers.iter().any(|c| {
        let secrets = c.secrets.iter().flatten();
        let log_secrets = c
            .log_configuration
            .iter()
            .flat_map(|l| l.secret_options.iter().flatten());
        secrets
            .chain(log_secrets)
            .any(|s| change.changed.is_read_by(&s.value_from))
    })
}

fn tagged_to_redeploy(service: &Service) -> bool {
    service.tags.iter().any(|t| {
        t.key.as_deref() == Some(REDEPLOY_TAG)
            && t.value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    })
}

fn tell(
    call: &Call<'_>,
    cluster: &str,
    service: &Service,
    change: &SecretChange,
    holding: usize,
) -> Result<(), ApiError> {
    let what = change.changed.describe();
    let tasks = if holding == 1 { "task" } else { "tasks" };
    call.modify(
        Collection::Services,
        &names::key(cluster, &service.service_name),
        |service: &mut Service| {
            let message = if tagged_to_redeploy(service) {
                services::start_deployment(service, call.ids(), call.now());
                format!(
                    "{what} changed: rolling {holding} running {tasks} onto its new value ({REDEPLOY_TAG})."
                )
            } else {
                format!(
                    "{what} changed, and {holding} running {tasks} still hold the value they read when they started: replace them with `aws ecs update-service --force-new-deployment`, or tag the service {REDEPLOY_TAG}=true to roll by itself."
                )
            };
            events::push(service, &[message], call.ids(), call.now());
            Ok::<_, ApiError>(())
        },
    )?;
    Ok(())
}
