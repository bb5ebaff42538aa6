//! The metric store: series (a namespace, a metric name and dimensions) and their points in
//! each [`Tier`], behind [`MetricStore`] so that a shared implementation (for a control plane
//! of several servers) can follow the embedded one without changing callers.
//! [`MemoryMetricStore`] is the fake, [`SqliteMetricStore`] the embedded default, and
//! [`conformance`] the suite both pass.
//!
//! What both share is pure and lives here: [`fan_out`] (a batch of datapoints merged into the
//! points of every tier it touches) and [`statistics`] (a query's tier read and grouped into
//! periods).

pub mod conformance;
mod memory;
mod sqlite;

pub use crate::aggregate::Sample;
pub use memory::MemoryMetricStore;
pub use sqlite::SqliteMetricStore;

use crate::aggregate::{by_period, Aggregate, PeriodAggregate};
use crate::tier::{self, Tier};
use crate::unit::Unit;
use crate::Seconds;
use std::collections::{BTreeMap, HashMap};

/// How long a series stays listed after its last datapoint was put, as in CloudWatch.
pub const LISTED_FOR: Seconds = 14 * 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("metric database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("metric store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("metric database holds a point it cannot read: {0}")]
    Corrupt(String),
}

/// A series: what CloudWatch calls a metric. Dimensions are kept sorted by name, so that
/// the same dimensions given in another order name the same series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub namespace: String,
    pub name: String,
    dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        dimensions: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut dimensions: Vec<(String, String)> = dimensions.into_iter().collect();
        dimensions.sort();
        Self {
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        }
    }

    pub fn dimensions(&self) -> &[(String, String)] {
        &self.dimensions
    }

    /// The dimensions as one text (a JSON list of pairs), which the stores key and order by.
    pub fn dimensions_text(&self) -> String {
        serde_json::to_string(&self.dimensions).unwrap_or_default()
    }

    /// The key whose dimensions' text is `text`.
    pub fn from_text(namespace: String, name: String, text: &str) -> Result<Self, MetricError> {
        let dimensions: Vec<(String, String)> = serde_json::from_str(text)
            .map_err(|e| MetricError::Corrupt(format!("dimensions {text:?}: {e}")))?;
        Ok(Self::new(namespace, name, dimensions))
    }

    /// The order series are listed in: namespace, name, then dimensions' text.
    pub fn order(&self) -> (String, String, String) {
        (
            self.namespace.clone(),
            self.name.clone(),
            self.dimensions_text(),
        )
    }
}

/// One datapoint as PutMetricData carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub series: SeriesKey,
    pub time: Seconds,
    pub unit: Unit,
    /// 1 (high resolution) or 60 seconds.
    pub resolution: Seconds,
    pub sample: Sample,
}

/// A point as stored: the summary of what was put within one tier's step.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoint {
    pub time: Seconds,
    pub unit: Unit,
    pub aggregate: Aggregate,
}

/// Which series ListMetrics asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Dimensions a series must have, each with the value given, or any value.
    pub dimensions: Vec<(String, Option<String>)>,
    /// Series whose last datapoint was put before this are left out.
    pub active_since: Seconds,
}

impl ListFilter {
    /// Whether `series` passes the filter's names and dimensions (activity aside).
    pub fn matches(&self, series: &SeriesKey) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|n| *n == series.namespace)
            && self.name.as_ref().is_none_or(|n| *n == series.name)
            && self.dimensions.iter().all(|(name, value)| {
                series
                    .dimensions
                    .iter()
                    .any(|(n, v)| n == name && value.as_ref().is_none_or(|value| value == v))
            })
    }
}

/// Where metrics are kept. Every method is one transaction of its own.
pub trait MetricStore: Send + Sync {
    /// Adds `points` (any number, any series) in one commit, and marks their series as put
    /// to at `now`. Durable when it returns.
    fn put(&self, points: &[Datapoint], now: Seconds) -> Result<(), MetricError>;

    /// The points of `series` in `tier` that start in `[start, end)`, every unit, ascending.
    fn read(
        &self,
        series: &SeriesKey,
        tier: Tier,
        start: Seconds,
        end: Seconds,
    ) -> Result<Vec<StoredPoint>, MetricError>;

    /// Up to `limit` series that pass `filter`, in [`SeriesKey::order`], after `after`.
    fn list(
        &self,
        filter: &ListFilter,
        after: Option<&SeriesKey>,
        limit: usize,
    ) -> Result<Vec<SeriesKey>, MetricError>;

    /// Drops at most `budget` rows: points past their tier's retention at `now`, oldest
    /// first, then series with no point left and no datapoint put within the longest
    /// retention. Returns how many went, so that a caller comes back sooner when the budget
    /// was used up; the work is proportional to what expired, not to what is kept.
    fn enforce_retention(&self, now: Seconds, budget: usize) -> Result<usize, MetricError>;
}

/// What a put adds: the series it names, and its datapoints merged into the points of every
/// tier they touch, keyed by (the series' index in `series`, tier, point start, unit).
#[derive(Debug, Default)]
pub struct FanOut<'a> {
    pub series: Vec<&'a SeriesKey>,
    pub points: BTreeMap<(usize, Tier, Seconds, Unit), Aggregate>,
}

/// `points` merged per tier, so that a store writes each touched point once per batch.
pub fn fan_out(points: &[Datapoint]) -> FanOut<'_> {
    let mut out = FanOut::default();
    let mut index: HashMap<&SeriesKey, usize> = HashMap::new();
    for point in points {
        let Some(aggregate) = Aggregate::of(&point.sample) else {
            continue;
        };
        let series = *index.entry(&point.series).or_insert_with(|| {
            out.series.push(&point.series);
            out.series.len() - 1
        });
        for tier in Tier::ALL {
            let start = tier.bucket(point.time, point.resolution);
            out.points
                .entry((series, tier, start, point.unit))
                .and_modify(|a| a.merge(&aggregate))
                .or_insert_with(|| aggregate.clone());
        }
    }
    out
}

/// A statistics query: one series over `[start, end)` in periods of `period` seconds,
/// of one unit's data or (with `unit` `None`) of each unit apart.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticsQuery<'a> {
    pub series: &'a SeriesKey,
    pub start: Seconds,
    pub end: Seconds,
    pub period: Seconds,
    pub unit: Option<Unit>,
}

/// The periods of `query` that hold data, as [`statistics`] reads them, with every unit's
/// data of a period merged into one aggregate: what a reader that ignores units wants.
pub fn statistics_by_start(
    store: &dyn MetricStore,
    query: &StatisticsQuery<'_>,
    now: Seconds,
) -> Result<BTreeMap<Seconds, Aggregate>, MetricError> {
    let mut merged: BTreeMap<Seconds, Aggregate> = BTreeMap::new();
    for p in statistics(store, query, now)? {
        merged
            .entry(p.start)
            .and_modify(|a| a.merge(&p.aggregate))
            .or_insert(p.aggregate);
    }
    Ok(merged)
}

/// The periods of `query` that hold data, ascending, read from the one tier that answers
/// it at `now` (none when no tier holds points that fine that far back).
pub fn statistics(
    store: &dyn MetricStore,
    query: &StatisticsQuery<'_>,
    now: Seconds,
) -> Result<Vec<PeriodAggregate>, MetricError> {
    let Some(plan) = tier::plan(query.period, query.start, now) else {
        return Ok(Vec::new());
    };
    if query.end <= plan.origin {
        return Ok(Vec::new());
    }
    let points = store.read(query.series, plan.tier, plan.origin, query.end)?;
    Ok(by_period(
        points
            .iter()
            .filter(|p| query.unit.is_none_or(|unit| unit == p.unit))
            .map(|p| (p.time, p.unit, &p.aggregate)),
        plan.origin,
        query.period,
    ))
}
