//! Scheduled actions that are due, fired (`autoscaling::scheduled::fire`). The index of
//! firings is scoped by minute, so a round reads the minutes since the last round (and the
//! one before, for writes that committed late) rather than every scheduled action; only the
//! first round of a controller reads the whole index, which is how a firing missed while the
//! controller was down runs once on recovery.

use crate::autoscaling::scheduled;
use crate::autoscaling::stored::{firing_scope, Firing};
use crate::autoscaling::Error;
use crate::call::Call;
use berth_store::Collection;

/// Where the controller's sweep of the index stands.
#[derive(Debug, Default)]
pub struct Firings {
    /// The minute swept last, which the next round sweeps again.
    swept: Option<i64>,
}

impl Firings {
    /// Fires every due scheduled action; returns how many ran.
    pub fn step(&mut self, call: &Call<'_>) -> Result<usize, Error> {
        let now = call.now();
        let minute = (now / 60.0).floor() as i64;
        let candidates: Vec<Firing> = match self.swept {
            None => call.list(Collection::ScheduledFirings, None)?,
            Some(swept) => {
                let mut found = Vec::new();
                // Past minutes once more, for a firing whose write committed after a round
                // read its minute.
                for bucket in (swept - 1)..=minute {
                    found.extend(call.list::<Firing>(
                        Collection::ScheduledFirings,
                        Some(&firing_scope(bucket as f64 * 60.0)),
                    )?);
                }
                found
            }
        };
        let mut ran = 0;
        for firing in candidates.iter().filter(|f| f.at <= now) {
            if scheduled::fire(call, firing)? {
                ran += 1;
            }
        }
        self.swept = Some(minute);
        Ok(ran)
    }
}
