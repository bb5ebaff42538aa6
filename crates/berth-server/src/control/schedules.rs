//! Schedules that are due, fired: each entry of the shared index of firings
//! (`crate::schedules`) whose time has come goes to its owner — a scheduled scaling action
//! (`autoscaling::scheduled::fire`) or a scheduled rule (`eventbridge::rules::fire`). A
//! round reads the minutes since the last round rather than every schedule; only the first
//! round of a controller reads the whole index, which is how a firing missed while the
//! controller was down runs once on recovery. That first sweep waits a few seconds after the
//! controller starts ([`Firings::after_start`]), so that a recovered firing finds the agents
//! that reconnect as the server comes back rather than a cluster without capacity. One
//! firing that fails is logged and the others still run.

use crate::call::{Call, Fault};
use crate::schedules::{self, Owner};
use crate::{autoscaling, eventbridge};

/// How long the first sweep waits after the controller starts: agents that lost the server
/// try again every second, so by then those still alive have polled.
pub const AGENTS_RECONNECT_SECONDS: f64 = 5.0;

/// Where the controller's sweep of the index stands.
#[derive(Debug, Default)]
pub struct Firings {
    /// The minute swept last, which the next round sweeps again.
    swept: Option<i64>,
    /// No sweep before this time.
    not_before: f64,
}

impl Firings {
    /// The sweep of a controller starting at `now`: its first round waits for agents to
    /// reconnect ([`AGENTS_RECONNECT_SECONDS`]).
    pub fn after_start(now: f64) -> Self {
        Self {
            swept: None,
            not_before: now + AGENTS_RECONNECT_SECONDS,
        }
    }

    /// Fires every due schedule; returns how many ran.
    pub fn step(&mut self, call: &Call<'_>) -> Result<usize, Fault> {
        let now = call.now();
        if now < self.not_before {
            return Ok(0);
        }
        let mut ran = 0;
        for firing in schedules::candidates(call, self.swept, now)? {
            let fired = match firing.owner {
                Owner::ScheduledAction => autoscaling::scheduled::fire(call, &firing)
                    .map_err(|e| format!("{}: {}", e.code(), e.message())),
                Owner::Rule => eventbridge::rules::fire(call, &firing)
                    .map_err(|e| format!("{}: {}", e.code(), e.message())),
            };
            match fired {
                Ok(true) => ran += 1,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(owner = ?firing.owner, key = %firing.key, %error, "a scheduled firing failed")
                }
            }
        }
        self.swept = Some(schedules::minute(now));
        Ok(ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Context;
    use berth_model::Arns;
    use berth_store::MemoryStore;
    use std::sync::Arc;

    #[test]
    fn a_starting_controller_sweeps_once_agents_had_time_to_reconnect() {
        let cx = Context::new(
            Arc::new(MemoryStore::new()),
            Arns::new("us-east-1", "000000000000"),
        );
        let mut firings = Firings::after_start(1000.0);
        cx.as_system(1001.0, |call| firings.step(call)).unwrap();
        assert_eq!(firings.swept, None);
        cx.as_system(1000.0 + AGENTS_RECONNECT_SECONDS, |call| firings.step(call))
            .unwrap();
        assert_eq!(firings.swept, Some(schedules::minute(1005.0)));
    }
}
