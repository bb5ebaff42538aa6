//! Step scaling: an alarm in ALARM state runs the policy, and how far the metric is past the
//! alarm's threshold (the breach) picks one step adjustment. Bounds are relative to the
//! threshold; above it a step's lower bound is inclusive and its upper bound exclusive, below
//! it the other way round, as AWS documents.

use crate::{History, Vote};
use serde::{Deserialize, Serialize};

/// Step scaling's default cooldown for ECS, in seconds.
pub const DEFAULT_COOLDOWN: f64 = 300.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentType {
    ChangeInCapacity,
    PercentChangeInCapacity,
    ExactCapacity,
}

/// How an alarm's datapoints are combined into the value the breach is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Aggregation {
    #[default]
    Average,
    Minimum,
    Maximum,
}

impl Aggregation {
    pub fn aggregate(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let folded = match self {
            Aggregation::Average => values.iter().sum::<f64>() / values.len() as f64,
            Aggregation::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Aggregation::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
        };
        Some(folded)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepAdjustment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub adjustment: i64,
}

impl StepAdjustment {
    fn holds(&self, breach: f64) -> bool {
        let lower = self.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = self.upper.unwrap_or(f64::INFINITY);
        if breach >= 0.0 {
            lower <= breach && (breach < upper || self.upper.is_none())
        } else {
            (lower < breach || self.lower.is_none()) && breach <= upper
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepScaling {
    pub adjustment_type: AdjustmentType,
    pub steps: Vec<StepAdjustment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_adjustment_magnitude: Option<i64>,
    pub cooldown: f64,
    #[serde(default)]
    pub aggregation: Aggregation,
}

/// What is wrong with a policy's steps, in words that say how to fix it: none at all, a
/// bound that is not a number, a step whose lower bound is not below its upper one, steps
/// that overlap or leave a gap, or more than one step open to each side.
pub fn check_steps(steps: &[StepAdjustment]) -> Result<(), String> {
    if steps.is_empty() {
        return Err("StepAdjustments must hold at least one step adjustment".into());
    }
    let mut sorted = steps.to_vec();
    for step in &sorted {
        if step.lower.is_none() && step.upper.is_none() {
            if steps.len() > 1 {
                return Err("only one step adjustment may leave both bounds open".into());
            }
            return Ok(());
        }
        if [step.lower, step.upper]
            .iter()
            .flatten()
            .any(|b| !b.is_finite())
        {
            return Err(
                "MetricIntervalLowerBound and MetricIntervalUpperBound must be numbers".into(),
            );
        }
        if let (Some(lower), Some(upper)) = (step.lower, step.upper) {
            if lower >= upper {
                return Err(format!(
                    "a step adjustment's MetricIntervalLowerBound ({lower}) must be less than its MetricIntervalUpperBound ({upper})"
                ));
            }
        }
    }
    if sorted.iter().filter(|s| s.lower.is_none()).count() > 1
        || sorted.iter().filter(|s| s.upper.is_none()).count() > 1
    {
        return Err(
            "at most one step adjustment may have no lower bound, and at most one no upper bound"
                .into(),
        );
    }
    sorted.sort_by(|a, b| {
        let key = |s: &StepAdjustment| s.lower.unwrap_or(f64::NEG_INFINITY);
        key(a).total_cmp(&key(b))
    });
    for pair in sorted.windows(2) {
        let (Some(end), Some(start)) = (pair[0].upper, pair[1].lower) else {
            return Err("step adjustments overlap: sort them so each upper bound is the next one's lower bound".into());
        };
        if end < start {
            return Err(format!(
                "step adjustments leave a gap between {end} and {start}"
            ));
        }
        if end > start {
            return Err(format!(
                "step adjustments overlap between {start} and {end}"
            ));
        }
    }
    Ok(())
}

/// The change a percentage asks for: at least one task either way when it asks for any, and
/// otherwise rounded toward zero, as AWS rounds it.
fn percent_change(current: i64, percent: i64, min_magnitude: Option<i64>) -> i64 {
    let exact = current as f64 * percent as f64 / 100.0;
    let mut change = if exact > 0.0 && exact < 1.0 {
        1
    } else if exact < 0.0 && exact > -1.0 {
        -1
    } else {
        exact.trunc() as i64
    };
    if let Some(min) = min_magnitude.filter(|&m| m > 0) {
        if change != 0 && change.abs() < min {
            change = min * change.signum();
        }
    }
    change
}

/// The capacity the policy's step for `breach` (the aggregated metric minus the alarm's
/// threshold) asks for, starting from `base`; `None` when no step covers the breach.
pub fn capacity(policy: &StepScaling, breach: f64, base: i64) -> Option<i64> {
    let step = policy.steps.iter().find(|s| s.holds(breach))?;
    let capacity = match policy.adjustment_type {
        AdjustmentType::ChangeInCapacity => base.saturating_add(step.adjustment),
        AdjustmentType::ExactCapacity => step.adjustment,
        AdjustmentType::PercentChangeInCapacity => base.saturating_add(percent_change(
            base,
            step.adjustment,
            policy.min_adjustment_magnitude,
        )),
    };
    Some(capacity.max(0))
}

/// What the policy wants when its alarm is in ALARM with the metric `breach` past the
/// threshold. During its cooldown a scale-in waits, and a scale-out is measured from the
/// capacity before the last one (what that one added counts toward this one), so it only
/// adds what a larger breach asks for beyond it.
pub fn vote(policy: &StepScaling, breach: f64, current: i64, history: &History, now: f64) -> Vote {
    if !breach.is_finite() {
        return Vote::Hold;
    }
    let cooling_out = history.cooling_out(now, policy.cooldown);
    let base = cooling_out.map_or(current, |out| out.from);
    match capacity(policy, breach, base) {
        Some(wanted) if wanted > current => Vote::Out(wanted),
        Some(wanted)
            if wanted < current
                && cooling_out.is_none()
                && !history.cooling_in(now, policy.cooldown) =>
        {
            Vote::In(wanted)
        }
        _ => Vote::Hold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScaleOut;

    fn step(lower: Option<f64>, upper: Option<f64>, adjustment: i64) -> StepAdjustment {
        StepAdjustment {
            lower,
            upper,
            adjustment,
        }
    }

    fn policy(kind: AdjustmentType, steps: Vec<StepAdjustment>) -> StepScaling {
        StepScaling {
            adjustment_type: kind,
            steps,
            min_adjustment_magnitude: None,
            cooldown: 300.0,
            aggregation: Aggregation::Average,
        }
    }

    #[test]
    fn the_breach_picks_a_step_with_awss_inclusive_bounds() {
        let out = policy(
            AdjustmentType::ChangeInCapacity,
            vec![step(Some(0.0), Some(10.0), 1), step(Some(10.0), None, 2)],
        );
        let cases = [
            (0.0, Some(5)),
            (9.99, Some(5)),
            (10.0, Some(6)),
            (500.0, Some(6)),
            (-1.0, None),
        ];
        for (breach, expected) in cases {
            assert_eq!(capacity(&out, breach, 4), expected, "breach {breach}");
        }
        let scale_in = policy(
            AdjustmentType::ChangeInCapacity,
            vec![
                step(Some(-10.0), Some(0.0), -1),
                step(None, Some(-10.0), -2),
            ],
        );
        let cases = [
            (-0.5, Some(3)),
            (-10.0, Some(2)),
            (-9.0, Some(3)),
            (-50.0, Some(2)),
            (1.0, None),
        ];
        for (breach, expected) in cases {
            assert_eq!(capacity(&scale_in, breach, 4), expected, "breach {breach}");
        }
    }

    #[test]
    fn adjustment_types() {
        let all = |kind, adjustment| policy(kind, vec![step(Some(0.0), None, adjustment)]);
        let cases = [
            (AdjustmentType::ChangeInCapacity, 2, None, 4, 6),
            (AdjustmentType::ChangeInCapacity, -10, None, 4, 0),
            (AdjustmentType::ExactCapacity, 7, None, 4, 7),
            (AdjustmentType::PercentChangeInCapacity, 50, None, 4, 6),
            (AdjustmentType::PercentChangeInCapacity, 10, None, 4, 5),
            (AdjustmentType::PercentChangeInCapacity, 60, None, 5, 8),
            (AdjustmentType::PercentChangeInCapacity, -10, None, 4, 3),
            (AdjustmentType::PercentChangeInCapacity, -60, None, 5, 2),
            (AdjustmentType::PercentChangeInCapacity, 10, Some(3), 4, 7),
        ];
        for (kind, adjustment, magnitude, current, expected) in cases {
            let mut p = all(kind, adjustment);
            p.min_adjustment_magnitude = magnitude;
            assert_eq!(
                capacity(&p, 1.0, current),
                Some(expected),
                "{kind:?} {adjustment} from {current}"
            );
        }
    }

    #[test]
    fn steps_are_checked() {
        let good = vec![step(Some(0.0), Some(10.0), 1), step(Some(10.0), None, 2)];
        assert_eq!(check_steps(&good), Ok(()));
        assert_eq!(check_steps(&[step(None, None, 1)]), Ok(()));
        let bad: Vec<(&str, Vec<StepAdjustment>)> = vec![
            ("empty", vec![]),
            (
                "gap",
                vec![step(Some(0.0), Some(10.0), 1), step(Some(20.0), None, 2)],
            ),
            (
                "overlap",
                vec![step(Some(0.0), Some(10.0), 1), step(Some(5.0), None, 2)],
            ),
            (
                "two open above",
                vec![step(Some(0.0), None, 1), step(Some(5.0), None, 2)],
            ),
            ("upside down", vec![step(Some(10.0), Some(0.0), 1)]),
        ];
        for (name, steps) in bad {
            assert!(check_steps(&steps).is_err(), "{name}");
        }
    }

    #[test]
    fn cooldown_holds_scale_in_and_counts_a_scale_outs_capacity() {
        let p = policy(
            AdjustmentType::ChangeInCapacity,
            vec![
                step(None, Some(0.0), -1),
                step(Some(0.0), Some(10.0), 2),
                step(Some(10.0), None, 4),
            ],
        );
        let history = History {
            last_out: Some(ScaleOut {
                at: 1000.0,
                from: 2,
            }),
            last_in: None,
        };
        assert_eq!(vote(&p, 5.0, 4, &history, 1100.0), Vote::Hold);
        assert_eq!(vote(&p, 15.0, 4, &history, 1100.0), Vote::Out(6));
        assert_eq!(vote(&p, -5.0, 4, &history, 1100.0), Vote::Hold);
        assert_eq!(vote(&p, -5.0, 4, &history, 1300.0), Vote::In(3));
        assert_eq!(vote(&p, 5.0, 4, &history, 1300.0), Vote::Out(6));
    }

    #[test]
    fn aggregation() {
        let values = [1.0, 5.0, 3.0];
        assert_eq!(Aggregation::Average.aggregate(&values), Some(3.0));
        assert_eq!(Aggregation::Minimum.aggregate(&values), Some(1.0));
        assert_eq!(Aggregation::Maximum.aggregate(&values), Some(5.0));
        assert_eq!(Aggregation::Maximum.aggregate(&[]), None);
    }
}
