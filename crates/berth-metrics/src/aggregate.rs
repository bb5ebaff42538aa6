//! Statistics as CloudWatch computes them: what one datapoint contributes (a value, values
//! with counts, or a statistic set), how contributions merge, and the statistics of a merged
//! period: `SampleCount`, `Sum`, `Average`, `Minimum`, `Maximum` and percentiles `pNN.NN`.
//!
//! Percentiles come from the values' [`Distribution`]; a statistic set whose minimum and
//! maximum differ says nothing of its values, so a period that holds one has no percentiles
//! (CloudWatch answers none there either).

use crate::distribution::Distribution;
use crate::unit::Unit;
use crate::Seconds;
use std::collections::BTreeMap;
use std::fmt;

/// What one datapoint carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// Values, each with how many times it was seen (`Value` is one value seen once).
    Values(Vec<(f64, f64)>),
    /// A statistic set: counted elsewhere, sent as a summary.
    Set {
        count: f64,
        sum: f64,
        min: f64,
        max: f64,
    },
}

/// The summary of any number of samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// The values, when every sample said what they were.
    pub values: Option<Distribution>,
}

impl Aggregate {
    /// What `sample` contributes; `None` when it carries nothing (no values, or no weight).
    pub fn of(sample: &Sample) -> Option<Aggregate> {
        match sample {
            Sample::Values(pairs) => {
                let pairs: Vec<(f64, f64)> =
                    pairs.iter().copied().filter(|(_, w)| *w > 0.0).collect();
                if pairs.is_empty() {
                    return None;
                }
                Some(Aggregate {
                    count: pairs.iter().map(|(_, w)| w).sum(),
                    sum: pairs.iter().map(|(v, w)| v * w).sum(),
                    min: pairs.iter().map(|(v, _)| *v).fold(f64::INFINITY, f64::min),
                    max: pairs
                        .iter()
                        .map(|(v, _)| *v)
                        .fold(f64::NEG_INFINITY, f64::max),
                    values: Some(Distribution::of(pairs)),
                })
            }
            Sample::Set {
                count,
                sum,
                min,
                max,
            } => (*count > 0.0).then(|| Aggregate {
                count: *count,
                sum: *sum,
                min: *min,
                max: *max,
                // A set whose values are all one value still says what they were.
                values: (min == max).then(|| Distribution::of([(*min, *count)])),
            }),
        }
    }

    /// Adds `other` into this summary.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.values = match (self.values.take(), &other.values) {
            (Some(mut mine), Some(theirs)) => {
                mine.merge(theirs);
                Some(mine)
            }
            _ => None,
        };
    }

    /// The value of `statistic`, if this summary has one (percentiles need the values).
    pub fn statistic(&self, statistic: Statistic) -> Option<f64> {
        match statistic {
            Statistic::SampleCount => Some(self.count),
            Statistic::Sum => Some(self.sum),
            Statistic::Average => Some(self.sum / self.count),
            Statistic::Minimum => Some(self.min),
            Statistic::Maximum => Some(self.max),
            Statistic::Percentile(p) => self
                .values
                .as_ref()
                .and_then(|values| values.percentile(p.percent()))
                // A bucket's middle may lie past the extremes, which are known exactly.
                .map(|value| value.clamp(self.min, self.max)),
        }
    }
}

/// A percentile, kept in hundredths so that it compares and prints exactly (`p99.9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percentile(u16);

impl Percentile {
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl fmt::Display for Percentile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "p{whole}"),
            h if h % 10 == 0 => write!(f, "p{whole}.{}", h / 10),
            h => write!(f, "p{whole}.{h:02}"),
        }
    }
}

/// A statistic CloudWatch answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Statistic {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    Percentile(Percentile),
}

impl Statistic {
    /// One of the five simple statistics (`Statistics`), by its name.
    pub fn simple(name: &str) -> Option<Statistic> {
        Some(match name {
            "SampleCount" => Statistic::SampleCount,
            "Average" => Statistic::Average,
            "Sum" => Statistic::Sum,
            "Minimum" => Statistic::Minimum,
            "Maximum" => Statistic::Maximum,
            _ => return None,
        })
    }

    /// A percentile as `ExtendedStatistics` names it: `p` and 0 to 100 with at most two
    /// decimals (`p90`, `p99.9`, `p99.99`).
    pub fn percentile(name: &str) -> Option<Statistic> {
        let number = name.strip_prefix('p')?;
        let (whole, fraction) = match number.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (number, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || whole.len() > 3 || !fraction.is_none_or(digits) {
            return None;
        }
        let fraction = fraction.unwrap_or("");
        if fraction.len() > 2 {
            return None;
        }
        let whole: u16 = whole.parse().ok()?;
        let hundredths: u16 = format!("{fraction:0<2}").parse().ok()?;
        let value = whole.checked_mul(100)?.checked_add(hundredths)?;
        (value <= 10_000).then_some(Statistic::Percentile(Percentile(value)))
    }

    /// Either kind, as GetMetricData's `Stat` names it.
    pub fn parse(name: &str) -> Option<Statistic> {
        Self::simple(name).or_else(|| Self::percentile(name))
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statistic::SampleCount => f.write_str("SampleCount"),
            Statistic::Average => f.write_str("Average"),
            Statistic::Sum => f.write_str("Sum"),
            Statistic::Minimum => f.write_str("Minimum"),
            Statistic::Maximum => f.write_str("Maximum"),
            Statistic::Percentile(p) => p.fmt(f),
        }
    }
}

/// `time` rounded down to a multiple of `step` seconds.
pub fn align(time: Seconds, step: Seconds) -> Seconds {
    time - time.rem_euclid(step.max(1))
}

/// One period's summary of one unit's data.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodAggregate {
    pub start: Seconds,
    pub unit: Unit,
    pub aggregate: Aggregate,
}

/// Stored summaries merged into periods of `period` seconds counted from `origin`; each
/// unit's data apart. Ascending by start, then unit.
pub fn by_period<'a>(
    points: impl IntoIterator<Item = (Seconds, Unit, &'a Aggregate)>,
    origin: Seconds,
    period: Seconds,
) -> Vec<PeriodAggregate> {
    let mut periods: BTreeMap<(Seconds, Unit), Aggregate> = BTreeMap::new();
    for (time, unit, aggregate) in points {
        let start = origin + (time - origin).div_euclid(period.max(1)) * period.max(1);
        periods
            .entry((start, unit))
            .and_modify(|a| a.merge(aggregate))
            .or_insert_with(|| aggregate.clone());
    }
    periods
        .into_iter()
        .map(|((start, unit), aggregate)| PeriodAggregate {
            start,
            unit,
            aggregate,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(vs: &[f64]) -> Aggregate {
        Aggregate::of(&Sample::Values(vs.iter().map(|v| (*v, 1.0)).collect())).unwrap()
    }

    fn set(count: f64, sum: f64, min: f64, max: f64) -> Aggregate {
        Aggregate::of(&Sample::Set {
            count,
            sum,
            min,
            max,
        })
        .unwrap()
    }

    fn p(name: &str) -> Statistic {
        Statistic::percentile(name).unwrap()
    }

    #[test]
    fn statistics_of_samples() {
        let cases: Vec<(&str, Aggregate, Statistic, Option<f64>)> = vec![
            (
                "count",
                values(&[1.0, 2.0, 6.0]),
                Statistic::SampleCount,
                Some(3.0),
            ),
            ("sum", values(&[1.0, 2.0, 6.0]), Statistic::Sum, Some(9.0)),
            (
                "average",
                values(&[1.0, 2.0, 6.0]),
                Statistic::Average,
                Some(3.0),
            ),
            (
                "minimum",
                values(&[4.0, -2.0, 6.0]),
                Statistic::Minimum,
                Some(-2.0),
            ),
            (
                "maximum",
                values(&[4.0, -2.0, 6.0]),
                Statistic::Maximum,
                Some(6.0),
            ),
            ("median", values(&[5.0, 1.0, 3.0]), p("p50"), Some(3.0)),
            ("p100", values(&[5.0, 1.0, 3.0]), p("p100"), Some(5.0)),
            (
                "set count",
                set(10.0, 50.0, 1.0, 9.0),
                Statistic::SampleCount,
                Some(10.0),
            ),
            (
                "set average",
                set(10.0, 50.0, 1.0, 9.0),
                Statistic::Average,
                Some(5.0),
            ),
            (
                "set has no percentiles",
                set(10.0, 50.0, 1.0, 9.0),
                p("p90"),
                None,
            ),
            (
                "a set of one value does",
                set(4.0, 8.0, 2.0, 2.0),
                p("p90"),
                Some(2.0),
            ),
        ];
        for (name, aggregate, statistic, expected) in cases {
            assert_eq!(aggregate.statistic(statistic), expected, "{name}");
        }
    }

    #[test]
    fn counts_weigh_values() {
        let a =
            Aggregate::of(&Sample::Values(vec![(10.0, 3.0), (20.0, 1.0), (30.0, 0.0)])).unwrap();
        assert_eq!((a.count, a.sum, a.min, a.max), (4.0, 50.0, 10.0, 20.0));
        assert_eq!(a.statistic(p("p75")), Some(10.0));
        assert_eq!(a.statistic(p("p76")), Some(20.0));
        assert_eq!(Aggregate::of(&Sample::Values(vec![(1.0, 0.0)])), None);
        assert_eq!(Aggregate::of(&Sample::Values(vec![])), None);
    }

    #[test]
    fn merging_sums_and_keeps_extremes() {
        let mut a = values(&[1.0, 2.0]);
        a.merge(&values(&[10.0]));
        assert_eq!((a.count, a.sum, a.min, a.max), (3.0, 13.0, 1.0, 10.0));
        assert_eq!(a.statistic(p("p50")), Some(2.0));
        a.merge(&set(2.0, 10.0, 3.0, 7.0));
        assert_eq!((a.count, a.sum, a.min, a.max), (5.0, 23.0, 1.0, 10.0));
        assert_eq!(a.statistic(p("p50")), None, "a set hides its values");
    }

    #[test]
    fn percentile_names() {
        for (name, shown) in [
            ("p0", Some("p0")),
            ("p50", Some("p50")),
            ("p99.9", Some("p99.9")),
            ("p99.99", Some("p99.99")),
            ("p99.90", Some("p99.9")),
            ("p100", Some("p100")),
            ("p100.1", None),
            ("p99.999", None),
            ("p", None),
            ("P50", None),
            ("p-1", None),
            ("p5.", None),
            ("tm99", None),
        ] {
            assert_eq!(
                Statistic::percentile(name)
                    .map(|s| s.to_string())
                    .as_deref(),
                shown,
                "{name}"
            );
        }
        assert_eq!(Statistic::parse("Average"), Some(Statistic::Average));
        assert_eq!(Statistic::parse("average"), None);
    }

    #[test]
    fn periods_group_by_start_and_unit() {
        let one = values(&[1.0]);
        let two = values(&[2.0]);
        let periods = by_period(
            [
                (100, Unit::Count, &one),
                (159, Unit::Count, &two),
                (160, Unit::Count, &two),
                (130, Unit::Seconds, &one),
                (99, Unit::Count, &one),
            ],
            100,
            60,
        );
        let summary: Vec<(Seconds, Unit, f64)> = periods
            .iter()
            .map(|p| (p.start, p.unit, p.aggregate.sum))
            .collect();
        assert_eq!(
            summary,
            vec![
                (40, Unit::Count, 1.0),
                (100, Unit::Seconds, 1.0),
                (100, Unit::Count, 3.0),
                (160, Unit::Count, 2.0),
            ]
        );
    }

    #[test]
    fn alignment() {
        for (time, step, aligned) in [(125, 60, 120), (120, 60, 120), (-1, 60, -60), (7, 1, 7)] {
            assert_eq!(align(time, step), aligned);
        }
    }
}
