//! Application Auto Scaling's decisions, as pure functions: what capacity a service should
//! have, given its scalable target, its policies' configurations, the metric values the
//! caller read, what the policies did last (their cooldowns) and the time.
//!
//! - [`target`]: target tracking — out fast (a few datapoints above the target), in slowly
//!   (many datapoints below 90 % of it), proportionally, with cooldowns.
//! - [`step`]: step scaling — an alarm's breach picks a step adjustment.
//! - [`decide`]: the policies' votes combined (the largest capacity wins; scale-in only when
//!   every target tracking policy that may scale in agrees), suspension, and the range:
//!   never below min or above max, and a count set outside the range is brought back.
//! - [`schedule`]: scheduled actions' `at(…)`, `rate(…)` and `cron(…)` expressions in an IANA
//!   time zone, and when each fires next.
//!
//! No I/O, no clock, no randomness: the same inputs give the same decision. The time zone
//! database is bundled in, so a machine's zoneinfo does not change an answer.

#![forbid(unsafe_code)]

pub mod decide;
pub mod schedule;
pub mod step;
pub mod target;

use serde::{Deserialize, Serialize};

/// What a policy last did, which its cooldowns count from (seconds since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The last scale-out and the capacity it started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_out: Option<ScaleOut>,
    /// When the last scale-in was, unless a scale-out since cancelled its cooldown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_in: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleOut {
    pub at: f64,
    /// The capacity before it: during the cooldown the capacity it added counts toward the
    /// next scale-out, so the next one is measured from here.
    pub from: i64,
}

impl History {
    /// The history after this policy's vote took the capacity from `current` to `to` at
    /// `now`; `out_cooldown` is the policy's scale-out cooldown.
    pub fn after(self, current: i64, to: i64, now: f64, out_cooldown: f64) -> Self {
        if to > current {
            // A scale-out inside an earlier one's cooldown keeps measuring from where that
            // one started.
            let from = match self.last_out {
                Some(out) if now - out.at < out_cooldown => out.from,
                _ => current,
            };
            Self {
                last_out: Some(ScaleOut { at: now, from }),
                last_in: None,
            }
        } else if to < current {
            Self {
                last_out: self.last_out,
                last_in: Some(now),
            }
        } else {
            self
        }
    }

    /// The scale-out whose cooldown still runs at `now`, if any.
    pub fn cooling_out(&self, now: f64, cooldown: f64) -> Option<ScaleOut> {
        self.last_out.filter(|out| now - out.at < cooldown)
    }

    /// Whether a scale-in's cooldown still runs at `now`.
    pub fn cooling_in(&self, now: f64, cooldown: f64) -> bool {
        self.last_in.is_some_and(|at| now - at < cooldown)
    }
}

/// What one policy wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// No change: the metric is where it should be, data is missing, or a cooldown holds.
    Hold,
    /// Scale out to this capacity (more than the current one).
    Out(i64),
    /// Scale in to this capacity (less than the current one).
    In(i64),
}
