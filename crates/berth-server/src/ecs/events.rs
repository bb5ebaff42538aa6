//! Service events as ECS keeps them: newest first, at most [`MAX_EVENTS`] per service, each
//! prefixed with `(service NAME)`, and never one that repeats the newest; and ECS's words
//! for each, written once, when the event is recorded.

use super::names;
use crate::call::{Call, Ids};
use berth_model::resources::{Service, ServiceEvent};
use berth_model::status::RolloutState;
use berth_model::ApiError;
use berth_reconcile::{Event, Failure};
use berth_store::Collection;

/// ECS keeps at most this many events per service, newest first.
pub const MAX_EVENTS: usize = 100;

/// Puts `messages` (oldest first) on top of the service's events.
pub fn push(service: &mut Service, messages: &[String], ids: &Ids, now: f64) {
    for message in messages {
        let text = format!("(service {}) {message}", service.service_name);
        if service.events.first().is_some_and(|e| e.message == text) {
            continue;
        }
        service.events.insert(
            0,
            ServiceEvent {
                id: ids.hex(32),
                created_at: now,
                message: text,
            },
        );
    }
    service.events.truncate(MAX_EVENTS);
}

/// Adds events to a service (see [`push`]); a service that is gone is left alone.
pub fn record(
    call: &Call<'_>,
    cluster: &str,
    service: &str,
    messages: &[String],
) -> Result<(), ApiError> {
    call.modify(
        Collection::Services,
        &names::key(cluster, service),
        |s: &mut Service| {
            push(s, messages, call.ids(), call.now());
            Ok::<_, ApiError>(())
        },
    )?;
    Ok(())
}

fn task_list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("(task {id})"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `has started 2 tasks: (task a) (task b).`
pub fn started(ids: &[String]) -> String {
    format!("has started {} tasks: {}.", ids.len(), task_list(ids))
}

/// `has stopped 2 running tasks: (task a) (task b).`
pub fn stopped(ids: &[String]) -> String {
    format!(
        "has stopped {} running tasks: {}.",
        ids.len(),
        task_list(ids)
    )
}

/// `lost 2 tasks: (task a) (task b): the agent of their container instance was not heard
/// from for 20 seconds.`
pub fn lost(ids: &[String], after_seconds: u64) -> String {
    format!(
        "lost {} tasks: {}: the agent of their container instance was not heard from for \
         {after_seconds} seconds.",
        ids.len(),
        task_list(ids)
    )
}

/// `(task a) failed to start: ResourceInitializationError: …`: what ECS shows only on the
/// stopped task, said where a failing deployment is watched.
pub fn failed_to_start(task_id: &str, reason: &str) -> String {
    format!("(task {task_id}) failed to start: {reason}")
}

pub fn draining(count: usize) -> String {
    format!("has begun draining connections on {count} tasks.")
}

pub fn registered(count: usize, target_group_arn: &str) -> String {
    format!("registered {count} targets in (target-group {target_group_arn})")
}

pub fn deregistered(count: usize, target_group_arn: &str) -> String {
    format!("deregistered {count} targets in (target-group {target_group_arn})")
}

/// An event the reconciler's plan reports.
pub fn planned(event: &Event) -> String {
    match event {
        Event::UnableToStartConsistently => {
            "is unable to consistently start tasks successfully.".into()
        }
        Event::UnableToPlace { reason } => format!(
            "was unable to place a task because no container instance met all of its requirements. Reason: {reason}"
        ),
        Event::DeploymentCompleted { deployment } => {
            format!("(deployment {deployment}) deployment completed.")
        }
        Event::SteadyState => "has reached a steady state.".into(),
    }
}

/// ECS's words when the circuit breaker fails a deployment, then how its tasks actually
/// failed, which ECS does not say: `… tasks failed to start. (2 tasks exited, 1 task
/// failed health checks)`.
pub fn breaker_tripped(deployment: &str, failures: &[(Failure, usize)]) -> String {
    let how: Vec<String> = failures
        .iter()
        .map(|(failure, count)| {
            let tasks = if *count == 1 { "task" } else { "tasks" };
            match failure {
                Failure::FailedToStart => format!("{count} {tasks} failed to start"),
                Failure::Exited => format!("{count} {tasks} exited"),
                Failure::FailedHealthChecks => format!("{count} {tasks} failed health checks"),
            }
        })
        .collect();
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(" ({})", how.join(", "))
    };
    format!("(deployment {deployment}) deployment failed: tasks failed to start.{how}")
}

pub fn rolling_back(task_definition: &str) -> String {
    format!("rolling back to {task_definition}.")
}

/// A deployment's `rolloutStateReason` in ECS's words.
pub fn rollout_reason(state: RolloutState, deployment: &str) -> String {
    match state {
        RolloutState::InProgress => format!("ECS deployment {deployment} in progress."),
        RolloutState::Completed => format!("ECS deployment {deployment} completed."),
        RolloutState::Failed => "ECS deployment circuit breaker: tasks failed to start.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(service: &Service) -> Vec<&str> {
        service.events.iter().map(|e| e.message.as_str()).collect()
    }

    #[test]
    fn events_are_newest_first_without_repeats_of_the_newest() {
        let ids = Ids::seeded(1);
        let mut service = Service {
            service_name: "web".into(),
            ..Service::default()
        };
        push(&mut service, &["has started 1 tasks.".into()], &ids, 1.0);
        push(
            &mut service,
            &[
                "has reached a steady state.".into(),
                "has reached a steady state.".into(),
            ],
            &ids,
            2.0,
        );
        push(
            &mut service,
            &["has reached a steady state.".into()],
            &ids,
            3.0,
        );
        assert_eq!(
            messages(&service),
            [
                "(service web) has reached a steady state.",
                "(service web) has started 1 tasks."
            ]
        );
        assert_eq!(service.events[0].created_at, 2.0, "the repeat was dropped");
        // A message that is not the newest one is news again.
        push(&mut service, &["has started 1 tasks.".into()], &ids, 4.0);
        assert_eq!(messages(&service)[0], "(service web) has started 1 tasks.");
    }

    #[test]
    fn a_tripped_breaker_says_how_the_tasks_failed() {
        assert_eq!(
            breaker_tripped(
                "ecs-svc/1",
                &[(Failure::Exited, 2), (Failure::FailedHealthChecks, 1)]
            ),
            "(deployment ecs-svc/1) deployment failed: tasks failed to start. \
             (2 tasks exited, 1 task failed health checks)"
        );
        assert_eq!(
            breaker_tripped("ecs-svc/1", &[(Failure::FailedToStart, 1)]),
            "(deployment ecs-svc/1) deployment failed: tasks failed to start. (1 task failed to start)"
        );
        assert_eq!(
            breaker_tripped("ecs-svc/1", &[]),
            "(deployment ecs-svc/1) deployment failed: tasks failed to start."
        );
    }

    #[test]
    fn a_service_keeps_its_newest_hundred_events() {
        let ids = Ids::seeded(1);
        let mut service = Service {
            service_name: "web".into(),
            ..Service::default()
        };
        for n in 0..150 {
            push(&mut service, &[format!("event {n}")], &ids, f64::from(n));
        }
        assert_eq!(service.events.len(), MAX_EVENTS);
        assert_eq!(service.events[0].message, "(service web) event 149");
        assert_eq!(service.events[99].message, "(service web) event 50");
        let ids: std::collections::HashSet<_> = service.events.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), MAX_EVENTS, "every event has its own id");
    }
}
