//! Schedules that are due, fired: each entry of the shared index of firings
//! (`crate::schedules`) whose time has come goes to its owner — a scheduled scaling action
//! (`autoscaling::scheduled::fire`) or a scheduled rule (`eventbridge::rules::fire`). A
//! round reads the minutes since the last round rather than every schedule; only the first
//! round of a controller reads the whole index, which is how a firing missed while the
//! controller was down runs once on recovery. One firing that fails is logged and the others
//! still run.

use crate::call::{Call, Fault};
use crate::schedules::{self, Owner};
use crate::{autoscaling, eventbridge};

/// Where the controller's sweep of the index stands.
#[derive(Debug, Default)]
pub struct Firings {
    /// The minute swept last, which the next round sweeps again.
    swept: Option<i64>,
}

impl Firings {
    /// Fires every due schedule; returns how many ran.
    pub fn step(&mut self, call: &Call<'_>) -> Result<usize, Fault> {
        let now = call.now();
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
