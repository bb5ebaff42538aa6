//! Metrics apart from the state store, as CloudWatch keeps them: datapoints of series named
//! by a namespace, a metric name and dimensions, aggregated into periods on demand.
//!
//! The pure parts need no I/O and are tested with tables: [`unit`] (CloudWatch's units),
//! [`distribution`] (the values behind percentiles, exact while few and a bounded log
//! histogram beyond), [`aggregate`] (statistic sets, statistics and extended statistics, and
//! datapoints grouped into periods), [`tier`] (the resolutions kept and how long: 1 s for
//! 3 hours, 1 min for 15 days, 5 min for 63 days, 1 h for 455 days) and [`expr`] (GetMetricData's
//! metric math) and [`alarm`] (an alarm's state from its
//! datapoints: M out of N, with missing data treated as the alarm says). [`store`] holds the [`store::MetricStore`] trait, its fake, the embedded
//! SQLite implementation and the conformance suite both pass.

#![forbid(unsafe_code)]

pub mod aggregate;
pub mod alarm;
pub mod distribution;
pub mod expr;
pub mod store;
pub mod tier;
pub mod unit;

pub use aggregate::{Aggregate, Statistic};
pub use store::{Datapoint, MetricError, MetricStore, Sample, SeriesKey};
pub use tier::Tier;
pub use unit::Unit;

/// Seconds since the Unix epoch: metrics are stored to the second.
pub type Seconds = i64;
