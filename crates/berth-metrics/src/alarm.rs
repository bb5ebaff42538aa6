//! A metric alarm's evaluation, as CloudWatch documents it: the most recent
//! `EvaluationPeriods` datapoints (N), of which `DatapointsToAlarm` (M) breaching put the
//! alarm in ALARM, with `TreatMissingData` saying what a period without data counts as.
//!
//! Missing periods are filled as `TreatMissingData` says: `breaching` and `notBreaching`
//! count them as such; `missing` and `ignore` leave them out. Then:
//! - M or more breaching: ALARM.
//! - No datapoint at all: INSUFFICIENT_DATA for `missing`, the current state for `ignore`.
//! - Fewer datapoints than M (`missing`, `ignore`): they alone decide — ALARM when every one
//!   breaches (`ignore` keeps the current state then, as it waits for more data), else OK.
//! - Otherwise OK.
//!
//! This is CloudWatch's table of examples (docs, "Configuring how CloudWatch alarms treat
//! missing data") made a rule; the tests hold it to that table.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlarmState {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    pub const ALL: [AlarmState; 3] = [
        AlarmState::Ok,
        AlarmState::Alarm,
        AlarmState::InsufficientData,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub fn parse(name: &str) -> Option<AlarmState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a datapoint is compared with the threshold. CloudWatch's anomaly-detection operators
/// compare with a band, not a threshold, and are not among these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub const ALL: [Comparison; 4] = [
        Comparison::GreaterThanOrEqualToThreshold,
        Comparison::GreaterThanThreshold,
        Comparison::LessThanThreshold,
        Comparison::LessThanOrEqualToThreshold,
    ];

    /// The operators that compare with an anomaly detection band.
    pub const BANDS: [&'static str; 3] = [
        "LessThanLowerOrGreaterThanUpperThreshold",
        "LessThanLowerThreshold",
        "GreaterThanUpperThreshold",
    ];

    pub fn name(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Comparison::GreaterThanThreshold => "GreaterThanThreshold",
            Comparison::LessThanThreshold => "LessThanThreshold",
            Comparison::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    pub fn parse(name: &str) -> Option<Comparison> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The words CloudWatch's state reasons use: `greater than or equal to`.
    pub fn words(self) -> &'static str {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Comparison::GreaterThanThreshold => "greater than",
            Comparison::LessThanThreshold => "less than",
            Comparison::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }

    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThanOrEqualToThreshold => value >= threshold,
            Comparison::GreaterThanThreshold => value > threshold,
            Comparison::LessThanThreshold => value < threshold,
            Comparison::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// What a period without data counts as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TreatMissing {
    #[default]
    #[serde(rename = "missing")]
    Missing,
    #[serde(rename = "notBreaching")]
    NotBreaching,
    #[serde(rename = "breaching")]
    Breaching,
    #[serde(rename = "ignore")]
    Ignore,
}

impl TreatMissing {
    pub const ALL: [TreatMissing; 4] = [
        TreatMissing::Missing,
        TreatMissing::NotBreaching,
        TreatMissing::Breaching,
        TreatMissing::Ignore,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TreatMissing::Missing => "missing",
            TreatMissing::NotBreaching => "notBreaching",
            TreatMissing::Breaching => "breaching",
            TreatMissing::Ignore => "ignore",
        }
    }

    pub fn parse(name: &str) -> Option<TreatMissing> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What an alarm compares, and how many periods it takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub threshold: f64,
    pub comparison: Comparison,
    /// N: the periods looked at.
    pub evaluation_periods: usize,
    /// M: how many of them must breach.
    pub datapoints_to_alarm: usize,
    pub treat_missing: TreatMissing,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub state: AlarmState,
    /// The most recent datapoint, when there is one: what a step policy's breach is
    /// measured from.
    pub latest: Option<f64>,
    /// How many of the datapoints breached, and how many there were.
    pub breaching: usize,
    pub present: usize,
}

impl Rule {
    /// How far `value` is past the threshold, as step adjustments' bounds measure it.
    pub fn breach(&self, value: f64) -> f64 {
        value - self.threshold
    }

    /// The state after an evaluation of `datapoints` (the most recent periods, oldest
    /// first; `None` for a period without data, as is any of the N periods not given) from
    /// `current`.
    pub fn evaluate(&self, datapoints: &[Option<f64>], current: AlarmState) -> Outcome {
        let n = self.evaluation_periods.max(1);
        let m = self.datapoints_to_alarm.clamp(1, n);
        let given = &datapoints[datapoints.len().saturating_sub(n)..];
        let latest = given.iter().rev().find_map(|d| *d);
        let filled: Vec<bool> = std::iter::repeat_n(&None, n - given.len())
            .chain(given)
            .filter_map(|d| match (d, self.treat_missing) {
                (Some(v), _) => Some(self.comparison.breaches(*v, self.threshold)),
                (None, TreatMissing::Breaching) => Some(true),
                (None, TreatMissing::NotBreaching) => Some(false),
                (None, TreatMissing::Missing | TreatMissing::Ignore) => None,
            })
            .collect();
        let breaching = filled.iter().filter(|b| **b).count();
        let present = filled.len();
        let state = if breaching >= m {
            AlarmState::Alarm
        } else if present == 0 {
            match self.treat_missing {
                TreatMissing::Ignore => current,
                _ => AlarmState::InsufficientData,
            }
        } else if present < m && breaching == present {
            match self.treat_missing {
                TreatMissing::Ignore => current,
                _ => AlarmState::Alarm,
            }
        } else {
            AlarmState::Ok
        };
        Outcome {
            state,
            latest,
            breaching,
            present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `0` a datapoint within the threshold, `X` one past it, `-` no data.
    fn points(text: &str) -> Vec<Option<f64>> {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '0' => Some(1.0),
                'X' => Some(10.0),
                _ => None,
            })
            .collect()
    }

    fn rule(m: usize, n: usize, treat: TreatMissing) -> Rule {
        Rule {
            threshold: 5.0,
            comparison: Comparison::GreaterThanThreshold,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing: treat,
        }
    }

    /// CloudWatch's table for 3 datapoints to alarm out of 5, per TreatMissingData
    /// (missing, ignore, breaching, notBreaching); `keep` is the current state kept.
    #[test]
    fn cloudwatchs_table_for_three_out_of_five() {
        use AlarmState::{Alarm, InsufficientData as Insufficient, Ok};
        const KEEP: Option<AlarmState> = None;
        let table: [(&str, [Option<AlarmState>; 4]); 4] = [
            ("0 - X - X", [Some(Ok), Some(Ok), Some(Alarm), Some(Ok)]),
            (
                "- - - - -",
                [Some(Insufficient), KEEP, Some(Alarm), Some(Ok)],
            ),
            ("0 X X - X", [Some(Alarm); 4]),
            ("- - X - -", [Some(Alarm), KEEP, Some(Alarm), Some(Ok)]),
        ];
        for (row, expected) in table {
            let columns = [
                TreatMissing::Missing,
                TreatMissing::Ignore,
                TreatMissing::Breaching,
                TreatMissing::NotBreaching,
            ];
            for (treat, want) in columns.into_iter().zip(expected) {
                for current in AlarmState::ALL {
                    let got = rule(3, 5, treat).evaluate(&points(row), current).state;
                    assert_eq!(
                        got,
                        want.unwrap_or(current),
                        "{row} treated {treat:?} from {current}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_comparison_and_the_latest_datapoint() {
        let cases = [
            (Comparison::GreaterThanOrEqualToThreshold, 5.0, true),
            (Comparison::GreaterThanOrEqualToThreshold, 4.9, false),
            (Comparison::GreaterThanThreshold, 5.0, false),
            (Comparison::GreaterThanThreshold, 5.1, true),
            (Comparison::LessThanThreshold, 5.0, false),
            (Comparison::LessThanThreshold, 4.9, true),
            (Comparison::LessThanOrEqualToThreshold, 5.0, true),
            (Comparison::LessThanOrEqualToThreshold, 5.1, false),
        ];
        for (comparison, value, breaches) in cases {
            let rule = Rule {
                comparison,
                ..rule(1, 1, TreatMissing::Missing)
            };
            let outcome = rule.evaluate(&[Some(value)], AlarmState::InsufficientData);
            let want = if breaches {
                AlarmState::Alarm
            } else {
                AlarmState::Ok
            };
            assert_eq!(outcome.state, want, "{comparison:?} {value}");
            assert_eq!(outcome.latest, Some(value));
        }
        assert_eq!(rule(1, 1, TreatMissing::Missing).breach(12.5), 7.5);
    }

    #[test]
    fn only_the_most_recent_periods_count() {
        let rule = rule(2, 2, TreatMissing::Missing);
        assert_eq!(
            rule.evaluate(&points("X X 0 0"), AlarmState::Alarm).state,
            AlarmState::Ok
        );
        assert_eq!(
            rule.evaluate(&points("0 0 X X"), AlarmState::Ok).state,
            AlarmState::Alarm
        );
        assert_eq!(
            rule.evaluate(&points("0 0 X 0"), AlarmState::Ok).state,
            AlarmState::Ok
        );
    }

    #[test]
    fn names_round_trip() {
        for state in AlarmState::ALL {
            assert_eq!(AlarmState::parse(state.name()), Some(state));
        }
        for comparison in Comparison::ALL {
            assert_eq!(Comparison::parse(comparison.name()), Some(comparison));
        }
        for treat in TreatMissing::ALL {
            assert_eq!(TreatMissing::parse(treat.name()), Some(treat));
        }
        assert_eq!(Comparison::parse("GreaterThanUpperThreshold"), None);
    }

    fn any_points() -> impl Strategy<Value = Vec<Option<f64>>> {
        prop::collection::vec(prop::option::of(0.0f64..10.0), 0..12)
    }

    fn any_treat() -> impl Strategy<Value = TreatMissing> {
        prop::sample::select(TreatMissing::ALL.to_vec())
    }

    fn any_state() -> impl Strategy<Value = AlarmState> {
        prop::sample::select(AlarmState::ALL.to_vec())
    }

    proptest! {
        /// M breaching datapoints among the N most recent always alarm.
        #[test]
        fn m_breaching_always_alarm(
            points in any_points(), n in 1usize..6, m in 1usize..6,
            treat in any_treat(), current in any_state(),
        ) {
            let m = m.min(n);
            let rule = rule(m, n, treat);
            let recent = &points[points.len().saturating_sub(n)..];
            let breaching = recent.iter().filter(|d| d.is_some_and(|v| v > 5.0)).count();
            let outcome = rule.evaluate(&points, current);
            if breaching >= m {
                prop_assert_eq!(outcome.state, AlarmState::Alarm);
            }
            prop_assert!(outcome.breaching >= breaching);
        }

        /// A full window with no breaching datapoint is OK, whatever came before.
        #[test]
        fn a_full_quiet_window_is_ok(
            n in 1usize..6, m in 1usize..6, treat in any_treat(), current in any_state(),
        ) {
            let points = vec![Some(1.0); n];
            prop_assert_eq!(rule(m.min(n), n, treat).evaluate(&points, current).state, AlarmState::Ok);
        }

        /// Only `missing` moves to INSUFFICIENT_DATA, and only with no datapoint at all;
        /// `ignore` never leaves the current state for want of data.
        #[test]
        fn insufficient_data_only_when_nothing_counts(
            points in any_points(), n in 1usize..6, m in 1usize..6,
            treat in any_treat(), current in any_state(),
        ) {
            let outcome = rule(m.min(n), n, treat).evaluate(&points, current);
            if outcome.state == AlarmState::InsufficientData && current != AlarmState::InsufficientData {
                prop_assert_eq!(treat, TreatMissing::Missing);
                prop_assert_eq!(outcome.present, 0);
            }
            if treat == TreatMissing::Ignore && outcome.present == 0 {
                prop_assert_eq!(outcome.state, current);
            }
        }
    }
}
