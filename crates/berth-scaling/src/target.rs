//! Target tracking: keep a metric at a target value by scaling the capacity in proportion,
//! `ceil(capacity × metric / target)`.
//!
//! AWS backs each policy with two alarms: high (the metric above the target for 3 of 3
//! one-minute datapoints) and low (below 90 % of the target for 15 of 15). Out fast, in
//! slowly, and the band between 90 % and 100 % of the target is where a steady metric rests
//! without flapping. Berth evaluates the same rule over shorter periods of its own
//! high-resolution metrics ([`Evaluation::BERTH`]); [`Evaluation::AWS`] is AWS's timing.

use crate::{History, Vote};
use serde::{Deserialize, Serialize};

/// ECS's default for both cooldowns, in seconds.
pub const DEFAULT_COOLDOWN: f64 = 300.0;

/// The low alarm's threshold as a share of the target value.
pub const SCALE_IN_SHARE: f64 = 0.9;

/// A target tracking policy's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetTracking {
    pub target_value: f64,
    pub scale_out_cooldown: f64,
    pub scale_in_cooldown: f64,
    pub disable_scale_in: bool,
}

/// How datapoints are taken and how many it takes to act.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Seconds each datapoint covers.
    pub period: f64,
    /// Consecutive datapoints above the target that scale out.
    pub out_datapoints: usize,
    /// Consecutive datapoints below 90 % of the target that scale in.
    pub in_datapoints: usize,
}

impl Evaluation {
    /// AWS's: one-minute datapoints, 3 of 3 out, 15 of 15 in.
    pub const AWS: Evaluation = Evaluation {
        period: 60.0,
        out_datapoints: 3,
        in_datapoints: 15,
    };

    /// Berth's: the same counts over 5-second datapoints, so a surge is answered within
    /// 15 seconds and scale-in still waits over a minute of quiet.
    pub const BERTH: Evaluation = Evaluation {
        period: 5.0,
        out_datapoints: 3,
        in_datapoints: 15,
    };

    /// How far back the datapoints a decision needs reach, in seconds.
    pub fn window(&self) -> f64 {
        self.period * self.out_datapoints.max(self.in_datapoints) as f64
    }
}

/// The capacity that brings `metric`, measured over `capacity`, to `target`.
fn proportional(capacity: i64, metric: f64, target: f64) -> i64 {
    let wanted = (capacity as f64 * metric / target).ceil();
    if wanted >= i64::MAX as f64 {
        i64::MAX
    } else {
        wanted.max(0.0) as i64
    }
}

/// What the policy wants, from `datapoints` (one per period, oldest first, the newest last;
/// a missing period is left out, so too few points means no decision, as AWS's alarms sit in
/// INSUFFICIENT_DATA), the `current` capacity, its `history` and the time.
pub fn vote(
    policy: &TargetTracking,
    evaluation: &Evaluation,
    datapoints: &[f64],
    current: i64,
    history: &History,
    now: f64,
) -> Vote {
    let target = policy.target_value;
    if !(target.is_finite() && target > 0.0) || datapoints.iter().any(|d| !d.is_finite()) {
        return Vote::Hold;
    }
    let recent =
        |n: usize| (n > 0 && datapoints.len() >= n).then(|| &datapoints[datapoints.len() - n..]);
    if let Some(points) = recent(evaluation.out_datapoints) {
        if points.iter().all(|&d| d > target) {
            let latest = points[points.len() - 1];
            // During the cooldown, the capacity the last scale-out added counts toward this
            // one: measure from where it started, so a metric that lags the new tasks does
            // not add them twice.
            let base = match history.cooling_out(now, policy.scale_out_cooldown) {
                Some(out) => out.from,
                None => current,
            };
            // Even from no tasks at all, a metric above the target (a queue's depth) asks
            // for at least one.
            return match proportional(base.max(1), latest, target) {
                wanted if wanted > current => Vote::Out(wanted),
                _ => Vote::Hold,
            };
        }
    }
    if policy.disable_scale_in || history.cooling_in(now, policy.scale_in_cooldown) {
        return Vote::Hold;
    }
    if let Some(points) = recent(evaluation.in_datapoints) {
        if points.iter().all(|&d| d < target * SCALE_IN_SHARE) {
            // Conservatively: sized for the busiest of the quiet datapoints.
            let busiest = points.iter().copied().fold(f64::MIN, f64::max);
            let wanted = proportional(current, busiest, target);
            if wanted < current {
                return Vote::In(wanted);
            }
        }
    }
    Vote::Hold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScaleOut;

    fn policy(target: f64) -> TargetTracking {
        TargetTracking {
            target_value: target,
            scale_out_cooldown: 300.0,
            scale_in_cooldown: 300.0,
            disable_scale_in: false,
        }
    }

    const AWS: Evaluation = Evaluation::AWS;

    #[test]
    fn table() {
        let quiet = [10.0; 15];
        let cases: &[(&str, f64, &[f64], i64, Vote)] = &[
            (
                "3 of 3 above: proportional",
                50.0,
                &[80.0, 90.0, 100.0],
                2,
                Vote::Out(4),
            ),
            (
                "2 above is not enough",
                50.0,
                &[10.0, 90.0, 100.0],
                2,
                Vote::Hold,
            ),
            ("too few datapoints", 50.0, &[100.0, 100.0], 2, Vote::Hold),
            ("at the target", 50.0, &[50.0; 15], 4, Vote::Hold),
            ("in the band below it", 50.0, &[46.0; 15], 4, Vote::Hold),
            ("15 of 15 quiet: in", 50.0, &quiet, 4, Vote::In(1)),
            (
                "14 quiet points are not enough",
                50.0,
                &quiet[..14],
                4,
                Vote::Hold,
            ),
            (
                "in sized for the busiest point",
                50.0,
                &[
                    10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0,
                    10.0, 30.0,
                ],
                10,
                Vote::In(6),
            ),
            (
                "ceil keeps one task from none",
                50.0,
                &[1.0; 15],
                1,
                Vote::Hold,
            ),
            (
                "from zero tasks a high metric asks for one or more",
                10.0,
                &[25.0; 3],
                0,
                Vote::Out(3),
            ),
            (
                "a non-finite point decides nothing",
                50.0,
                &[f64::NAN, 90.0, 90.0],
                2,
                Vote::Hold,
            ),
        ];
        for (name, target, points, current, expected) in cases {
            let got = vote(
                &policy(*target),
                &AWS,
                points,
                *current,
                &History::default(),
                1000.0,
            );
            assert_eq!(got, *expected, "{name}");
        }
    }

    #[test]
    fn scale_in_can_be_disabled_and_waits_for_its_cooldown() {
        let mut p = policy(50.0);
        let quiet = [10.0; 15];
        p.disable_scale_in = true;
        assert_eq!(
            vote(&p, &AWS, &quiet, 4, &History::default(), 0.0),
            Vote::Hold
        );
        p.disable_scale_in = false;
        let scaled_in = History {
            last_out: None,
            last_in: Some(1000.0),
        };
        assert_eq!(vote(&p, &AWS, &quiet, 4, &scaled_in, 1299.0), Vote::Hold);
        assert_eq!(vote(&p, &AWS, &quiet, 4, &scaled_in, 1300.0), Vote::In(1));
    }

    #[test]
    fn a_scale_out_during_its_cooldown_counts_what_the_last_one_added() {
        let p = policy(50.0);
        let history = History {
            last_out: Some(ScaleOut {
                at: 1000.0,
                from: 2,
            }),
            last_in: None,
        };
        // The metric still says 100 % over the 2 tasks it was measured on: 4 are already asked.
        assert_eq!(vote(&p, &AWS, &[100.0; 3], 4, &history, 1100.0), Vote::Hold);
        // It grew further: more than the 4 already asked.
        assert_eq!(
            vote(&p, &AWS, &[150.0; 3], 4, &history, 1100.0),
            Vote::Out(6)
        );
        // Once the cooldown is over, the metric is measured over the current capacity.
        assert_eq!(
            vote(&p, &AWS, &[100.0; 3], 4, &history, 1300.0),
            Vote::Out(8)
        );
    }

    #[test]
    fn a_scale_out_cancels_the_scale_in_cooldown() {
        let history = History {
            last_out: None,
            last_in: Some(1000.0),
        }
        .after(2, 4, 1010.0, 300.0);
        assert!(!history.cooling_in(1011.0, 300.0));
        assert_eq!(
            history.last_out,
            Some(ScaleOut {
                at: 1010.0,
                from: 2
            })
        );
    }
}
