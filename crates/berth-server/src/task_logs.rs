//! A task's log groups, readied on the server when it is about to start, as ECS's agent does
//! when it sets up the `awslogs` driver: a group with `awslogs-create-group: "true"` is
//! created when missing; a missing group without it fails the task before any container
//! starts, with ECS's `ResourceInitializationError` naming the group and the container, so the
//! reason a task never ran is never just "the circuit breaker was triggered".

use crate::call::Call;
use berth_logs::store::LogError;
use berth_model::agent::Resolution;
use berth_model::awslogs::{self, FAILURE_PREFIX};
use berth_model::resources::ContainerDefinition;
use berth_model::ApiError;

/// Why the task cannot start for its log groups, or `None` when each is there (created now
/// where asked). `secrets` are the task's resolved secrets, whose `secretOptions` may name
/// the group. A log store fault is the server's: it fails the poll, which the agent repeats.
pub fn prepare(
    call: &Call<'_>,
    containers: &[ContainerDefinition],
    secrets: Option<&Resolution>,
) -> Result<Option<String>, ApiError> {
    let mut problems = Vec::new();
    for container in containers {
        let name = container.name.as_deref().unwrap_or_default();
        let container_secrets = secrets.and_then(|resolved| resolved.container(name));
        let destination = match awslogs::destination_with_secrets(container, container_secrets) {
            Ok(Some(destination)) => destination,
            Ok(None) => continue,
            Err(problem) => {
                problems.push(format!("{problem} (container {name})"));
                continue;
            }
        };
        let logs = call.logs();
        let fault = |e: LogError| ApiError::server(format!("log store: {e}"));
        if logs.group(&destination.group).map_err(fault)?.is_some() {
            continue;
        }
        if destination.create_group {
            match logs.create_group(&destination.group, crate::logs::millis(call.now())) {
                Ok(()) | Err(LogError::GroupExists(_)) => {}
                Err(e) => return Err(fault(e)),
            }
            continue;
        }
        problems.push(format!(
            "{FAILURE_PREFIX}: failed to create Cloudwatch log stream: ResourceNotFoundException: \
             The specified log group does not exist. (log group {} of container {name}: create \
             it with `aws logs create-log-group`, or set awslogs-create-group to \"true\")",
            destination.group
        ));
    }
    Ok((!problems.is_empty()).then(|| problems.join("; ")))
}
