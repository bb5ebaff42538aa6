//! The period Berth puts its own metrics at (`ecs_metrics`, `elb_metrics`), and the loop that
//! puts them: each period's figures go in half a second after it ends, and target tracking
//! (`metric_scaling`) reads them a second after it ends.

use std::sync::Arc;
use std::time::Duration;

/// Seconds between two rounds of Berth's own metrics: the agents' default sampling interval.
pub const PERIOD: f64 = 5.0;

/// Runs `round` on the blocking pool half a second after each metric period ends, so that
/// what the period measured is in the metric store before target tracking reads it, a second
/// after. `round` keeps its state between periods; a round that panics starts it afresh.
pub async fn after_each<S, F>(what: &'static str, round: F)
where
    S: Default + Send + 'static,
    F: Fn(&mut S) + Send + Sync + 'static,
{
    let round = Arc::new(round);
    let mut state = S::default();
    loop {
        let now = berth_time::now();
        let next = (now / PERIOD).floor() * PERIOD + PERIOD + 0.5;
        tokio::time::sleep(Duration::from_secs_f64((next - now).max(0.1))).await;
        let this_round = Arc::clone(&round);
        let done = tokio::task::spawn_blocking(move || {
            let mut state = state;
            this_round(&mut state);
            state
        })
        .await;
        state = done.unwrap_or_else(|e| {
            tracing::error!(what, error = %e, "putting metrics panicked");
            S::default()
        });
    }
}
