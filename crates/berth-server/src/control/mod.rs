//! The control loop, apart from any API: the controller, which reconciles what is stored
//! with what runs (`controller`: store → [`berth_reconcile::reconcile`] → plan → store), the
//! rules that make service tasks load balancer targets (`targets`), and the balancer
//! driver that makes Berth's data plane follow the stored ELBv2 configuration (`balancer`),
//! the services told of (or rolled onto) secrets that changed under them (`rotation`), and
//! schedules fired when due (`schedules`: scheduled scaling actions and scheduled rules),
//! the services' utilization and the load balancer's counts put into the metric store
//! (`ecs_metrics`, `elb_metrics`), target tracking evaluated on the metric store every few
//! seconds (`metric_scaling`), and
//! metric alarms evaluated as they fall due, running the scaling policies they name
//! (`alarms`).
//! Each loop sleeps until a write that concerns it is published (`crate::wake`), or until
//! time alone may have moved something on.

pub mod alarms;
pub mod balancer;
pub mod controller;
pub mod ecs_metrics;
pub mod elb_metrics;
pub mod metric_period;
pub mod metric_scaling;
pub mod rotation;
pub mod schedules;
pub mod targets;

use crate::call::Context;
use crate::ecs::services;
use berth_model::ApiError;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The controller: after every write that concerns it (and at least once a second, since
/// time alone moves health and back-off) it runs a round and finishes draining services.
/// Level-triggered, so a missed round is made up by the next.
pub async fn run_controller(cx: Arc<Context>) {
    let settings = berth_reconcile::Settings::default();
    let firings = Arc::new(Mutex::new(schedules::Firings::after_start(
        berth_time::now(),
    )));
    let rounds = Arc::new(controller::Rounds::default());
    loop {
        let round = Arc::clone(&cx);
        let settings = settings.clone();
        let firings = Arc::clone(&firings);
        let rounds = Arc::clone(&rounds);
        let outcome = tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            let now = berth_time::now();
            let outcome = round
                .as_system(now, |call| {
                    rotation::apply(call)?;
                    if let Err(e) = firings
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .step(call)
                    {
                        tracing::warn!(error = %e, "reading the schedules due failed");
                    }
                    crate::secretsmanager::stored::purge_expired(call)?;
                    Ok::<(), ApiError>(())
                })
                .and_then(|()| controller::run_round(&round, now, &settings, None, &rounds))
                .and_then(|_| round.as_system(now, services::finish_draining))
                .map(drop);
            round
                .prometheus()
                .controller_round(began.elapsed().as_secs_f64(), outcome.is_ok());
            outcome
        })
        .await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "controller round failed"),
            Err(e) => tracing::error!(error = %e, "controller round panicked"),
        }
        // Coalesce bursts of changes: at most five rounds a second.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), cx.wakes().controller()).await;
    }
}
