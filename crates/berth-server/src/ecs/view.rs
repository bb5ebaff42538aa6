//! A cluster as the reconciler sees it: its machines and its tasks, read from the store.
//! The controller's rounds build their view from here (adding what the load balancer says of
//! each task's health), and RunTask places its tasks with the same placer over the same kind
//! of view ([`berth_reconcile::placer`]), so a task is placed by one set of rules however it
//! comes.

use super::container_instances::{heard_within, InstanceRecord};
use super::names;
use crate::call::{Call, Fault};
use berth_model::arn::resource_id;
use berth_model::resources::{Task, TaskDefinition};
use berth_model::status::{InstanceStatus, StopCause, TaskStatus};
use berth_reconcile::placement::{Instance, Resources};
use berth_reconcile::{self as reconcile, Failure, Phase, View};
use std::collections::BTreeSet;

/// What a task of `definition` reserves on its instance.
pub fn resources(definition: &TaskDefinition) -> Resources {
    Resources {
        cpu: definition.required_cpu(),
        memory: definition.required_memory(),
    }
}

/// What a stored task reserves (as recorded when it was created).
fn task_resources(task: &Task) -> Resources {
    let (cpu, memory) = task.reserved();
    Resources { cpu, memory }
}

/// The cluster's machines: what each registered, its attributes, whether it takes new
/// tasks (ACTIVE, with its agent connected) and whether it is lost (its agent unheard for
/// `lost_after` seconds; an instance no agent ever registered runs nothing to lose).
pub fn instances(call: &Call<'_>, records: &[InstanceRecord], lost_after: u64) -> Vec<Instance> {
    records
        .iter()
        .map(|r| {
            let heard = heard_within(call, r, lost_after);
            Instance {
                id: r.id().to_string(),
                registered: Resources {
                    cpu: r.instance.registered("CPU"),
                    memory: r.instance.registered("MEMORY"),
                },
                attributes: r.attributes(),
                accepts_tasks: r.instance.status == InstanceStatus::Active && heard,
                lost: r.has_agent() && !heard,
            }
        })
        .collect()
}

fn phase(status: TaskStatus) -> Phase {
    match status {
        TaskStatus::Running => Phase::Running,
        TaskStatus::Stopped => Phase::Stopped,
        pending if pending.is_pending() => Phase::Pending,
        _ => Phase::Stopping,
    }
}

/// Why a stopped task failed, if it did: how the circuit breaker counts it.
fn failure(cause: Option<&StopCause>) -> Option<Failure> {
    match cause? {
        StopCause::FailedToStart => Some(Failure::FailedToStart),
        StopCause::EssentialContainerExited => Some(Failure::Exited),
        StopCause::FailedContainerHealthChecks | StopCause::FailedTargetHealthChecks { .. } => {
            Some(Failure::FailedHealthChecks)
        }
        _ => None,
    }
}

/// A stored task as the reconciler sees it, its health as its containers report it (the
/// controller adds what its targets say).
pub fn task(task: &Task) -> reconcile::Task {
    let service = names::service_of(&task.group).map(str::to_string);
    reconcile::Task {
        id: resource_id(&task.task_arn).to_string(),
        deployment: service.as_ref().and(task.started_by.clone()),
        service,
        instance: task
            .container_instance_arn
            .as_deref()
            .map(|arn| resource_id(arn).to_string()),
        group: task.group.clone(),
        resources: task_resources(task),
        desired_running: task.desired_status == TaskStatus::Running,
        phase: phase(task.last_status),
        health: task.health_status,
        checked_health: false,
        running_since: task.started_at,
        stopped_at: task.stopped_at.or(task.stopping_at),
        failure: failure(task.stop_cause.as_ref()),
    }
}

/// The cluster's machines, with the tasks of `group` and what every other task holds on
/// each machine: what placing a task of `group` outside a round needs.
pub fn for_group(
    call: &Call<'_>,
    cluster: &str,
    group: &str,
    records: &[InstanceRecord],
    lost_after: u64,
) -> Result<View, Fault> {
    let part = call.cluster_part(cluster, &BTreeSet::from([group.to_string()]), &[])?;
    Ok(View {
        instances: instances(call, records, lost_after),
        services: Vec::new(),
        tasks: part.tasks.iter().map(|t| task(&t.value)).collect(),
        held_elsewhere: part.held_elsewhere,
    })
}
