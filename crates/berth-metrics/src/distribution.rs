//! The values behind percentiles: exact (value, weight) pairs while there are few distinct
//! values, then a histogram of logarithmic buckets whose width bounds the error of any
//! percentile to 1 % of its value, however many values it has seen. Merging two is what a
//! period of many datapoints, and a rolled-up tier, needs; both forms merge with each other.

use std::collections::BTreeMap;

/// Distinct values kept exactly before a distribution becomes a histogram.
pub const MAX_EXACT: usize = 64;

/// The relative error a histogram bucket allows.
const RELATIVE_ACCURACY: f64 = 0.01;
/// Keeps every bucket index of a positive value positive (indexes of `f64`'s range are
/// within ±40,000 at 1 %).
const KEY_OFFSET: i32 = 100_000;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

/// Values seen, with how often (weights need not be whole: CloudWatch's `Counts` are doubles).
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Distinct values in ascending order, each with its weight.
    Exact(Vec<(f64, f64)>),
    /// Bucket keys (ascending keys are ascending values) and their weights.
    Buckets(BTreeMap<i32, f64>),
}

impl Default for Distribution {
    fn default() -> Self {
        Distribution::Exact(Vec::new())
    }
}

fn key_of(value: f64) -> i32 {
    if value == 0.0 {
        return 0;
    }
    let index = (value.abs().ln() / gamma().ln()).ceil() as i32;
    let key = KEY_OFFSET + index;
    if value > 0.0 {
        key
    } else {
        -key
    }
}

fn value_of(key: i32) -> f64 {
    if key == 0 {
        return 0.0;
    }
    let index = key.abs() - KEY_OFFSET;
    let g = gamma();
    let magnitude = 2.0 * g.powi(index) / (g + 1.0);
    if key > 0 {
        magnitude
    } else {
        -magnitude
    }
}

impl Distribution {
    /// `values` with their weights (zero and negative weights count for nothing).
    pub fn of(values: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let mut out = Distribution::default();
        for (value, weight) in values {
            out.add(value, weight);
        }
        out
    }

    /// Adds `weight` of `value`.
    pub fn add(&mut self, value: f64, weight: f64) {
        if weight <= 0.0 || !value.is_finite() {
            return;
        }
        match self {
            Distribution::Exact(pairs) => {
                match pairs.binary_search_by(|(v, _)| v.total_cmp(&value)) {
                    Ok(at) => pairs[at].1 += weight,
                    Err(at) => pairs.insert(at, (value, weight)),
                }
                if pairs.len() > MAX_EXACT {
                    *self = Distribution::Buckets(buckets_of(pairs));
                }
            }
            Distribution::Buckets(buckets) => *buckets.entry(key_of(value)).or_default() += weight,
        }
    }

    /// Adds everything `other` has seen.
    pub fn merge(&mut self, other: &Distribution) {
        match other {
            Distribution::Exact(pairs) => {
                for (value, weight) in pairs {
                    self.add(*value, *weight);
                }
            }
            Distribution::Buckets(theirs) => {
                let mut mine = match self {
                    Distribution::Exact(pairs) => buckets_of(pairs),
                    Distribution::Buckets(buckets) => std::mem::take(buckets),
                };
                for (key, weight) in theirs {
                    *mine.entry(*key).or_default() += weight;
                }
                *self = Distribution::Buckets(mine);
            }
        }
    }

    /// The total weight.
    pub fn weight(&self) -> f64 {
        match self {
            Distribution::Exact(pairs) => pairs.iter().map(|(_, w)| w).sum(),
            Distribution::Buckets(buckets) => buckets.values().sum(),
        }
    }

    /// The smallest value at or below which `percent` of the weight lies (nearest rank);
    /// `None` when empty.
    pub fn percentile(&self, percent: f64) -> Option<f64> {
        let total = self.weight();
        if total <= 0.0 {
            return None;
        }
        let rank = (percent / 100.0 * total).max(f64::MIN_POSITIVE);
        let mut seen = 0.0;
        let mut last = None;
        let pairs: Box<dyn Iterator<Item = (f64, f64)> + '_> = match self {
            Distribution::Exact(pairs) => Box::new(pairs.iter().copied()),
            Distribution::Buckets(buckets) => {
                Box::new(buckets.iter().map(|(key, w)| (value_of(*key), *w)))
            }
        };
        for (value, weight) in pairs {
            seen += weight;
            last = Some(value);
            // A little slack, so that rounding in the sum of weights cannot skip a value.
            if seen >= rank * (1.0 - 1e-12) {
                return Some(value);
            }
        }
        last
    }

    /// A compact binary form for a store.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Distribution::Exact(pairs) => {
                out.push(0);
                out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
                for (value, weight) in pairs {
                    out.extend_from_slice(&value.to_le_bytes());
                    out.extend_from_slice(&weight.to_le_bytes());
                }
            }
            Distribution::Buckets(buckets) => {
                out.push(1);
                out.extend_from_slice(&(buckets.len() as u32).to_le_bytes());
                for (key, weight) in buckets {
                    out.extend_from_slice(&key.to_le_bytes());
                    out.extend_from_slice(&weight.to_le_bytes());
                }
            }
        }
        out
    }

    /// Reads what [`Distribution::encode`] wrote; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Distribution> {
        let (&kind, rest) = bytes.split_first()?;
        let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = &rest[4..];
        let f64_at = |at: usize| -> Option<f64> {
            Some(f64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
        };
        match kind {
            0 if body.len() == count * 16 => {
                let pairs = (0..count)
                    .map(|i| Some((f64_at(i * 16)?, f64_at(i * 16 + 8)?)))
                    .collect::<Option<Vec<_>>>()?;
                Some(Distribution::Exact(pairs))
            }
            1 if body.len() == count * 12 => {
                let buckets = (0..count)
                    .map(|i| {
                        let key =
                            i32::from_le_bytes(body.get(i * 12..i * 12 + 4)?.try_into().ok()?);
                        Some((key, f64_at(i * 12 + 4)?))
                    })
                    .collect::<Option<BTreeMap<_, _>>>()?;
                Some(Distribution::Buckets(buckets))
            }
            _ => None,
        }
    }
}

fn buckets_of(pairs: &[(f64, f64)]) -> BTreeMap<i32, f64> {
    let mut buckets = BTreeMap::new();
    for (value, weight) in pairs {
        *buckets.entry(key_of(*value)).or_default() += weight;
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ones(values: impl IntoIterator<Item = f64>) -> Distribution {
        Distribution::of(values.into_iter().map(|v| (v, 1.0)))
    }

    #[test]
    fn exact_percentiles_are_nearest_ranks() {
        let d = ones((1..=10).map(f64::from));
        for (percent, expected) in [
            (0.0, 1.0),
            (10.0, 1.0),
            (10.5, 2.0),
            (50.0, 5.0),
            (90.0, 9.0),
            (99.0, 10.0),
            (100.0, 10.0),
        ] {
            assert_eq!(d.percentile(percent), Some(expected), "p{percent}");
        }
        assert_eq!(Distribution::default().percentile(50.0), None);
    }

    #[test]
    fn weights_count_as_repeated_values() {
        let d = Distribution::of([(1.0, 9.0), (100.0, 1.0)]);
        assert_eq!(d.percentile(90.0), Some(1.0));
        assert_eq!(d.percentile(91.0), Some(100.0));
        assert_eq!(d.weight(), 10.0);
    }

    #[test]
    fn many_values_become_buckets_within_one_percent() {
        let d = ones((1..=10_000).map(f64::from));
        assert!(matches!(d, Distribution::Buckets(_)));
        for (percent, exact) in [(50.0, 5000.0), (90.0, 9000.0), (99.9, 9990.0)] {
            let got = d.percentile(percent).unwrap();
            assert!((got - exact).abs() / exact <= 0.011, "p{percent}: {got}");
        }
    }

    #[test]
    fn negatives_and_zero_sort_below_positives() {
        let mut d = ones((1..=100).map(f64::from));
        d.merge(&ones([-50.0, 0.0, -3.0]));
        let near = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() <= want.abs() * 0.011;
        assert!(near(d.percentile(0.5), -50.0));
        assert!(near(d.percentile(1.5), -3.0));
        assert_eq!(d.percentile(2.5), Some(0.0));
        assert!(near(d.percentile(100.0), 100.0));
    }

    proptest! {
        #[test]
        fn encoding_round_trips(values in proptest::collection::vec((-1e6f64..1e6, 0.5f64..10.0), 0..200)) {
            let d = Distribution::of(values);
            prop_assert_eq!(Distribution::decode(&d.encode()), Some(d));
        }

        #[test]
        fn merging_in_parts_sees_the_same_weight(
            a in proptest::collection::vec(0f64..1e3, 0..120),
            b in proptest::collection::vec(0f64..1e3, 0..120),
        ) {
            let mut merged = ones(a.iter().copied());
            merged.merge(&ones(b.iter().copied()));
            prop_assert_eq!(merged.weight(), (a.len() + b.len()) as f64);
        }
    }

    #[test]
    fn garbage_does_not_decode() {
        assert_eq!(Distribution::decode(&[]), None);
        assert_eq!(Distribution::decode(&[0, 1, 0, 0, 0, 1]), None);
        assert_eq!(Distribution::decode(&[7, 0, 0, 0, 0]), None);
    }
}
