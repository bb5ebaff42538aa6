//! Service events as ECS keeps them: newest first, at most [`MAX_EVENTS`] per service, each
//! prefixed with `(service NAME)`, and never one that repeats the newest.

use super::services;
use crate::call::{Call, Ids};
use berth_model::resources::{Service, ServiceEvent};
use berth_model::ApiError;
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
        &services::key(cluster, service),
        |s: &mut Service| {
            push(s, messages, call.ids(), call.now());
            Ok::<_, ApiError>(())
        },
    )?;
    Ok(())
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
