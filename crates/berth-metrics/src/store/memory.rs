//! The fake: everything in maps behind one lock, with the embedded store's semantics.

use super::{fan_out, Datapoint, ListFilter, MetricError, MetricStore, SeriesKey, StoredPoint};
use crate::aggregate::Aggregate;
use crate::tier::Tier;
use crate::unit::Unit;
use crate::Seconds;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Series {
    key: Option<SeriesKey>,
    last_put: Seconds,
    points: BTreeMap<(Tier, Seconds, Unit), Aggregate>,
}

#[derive(Debug, Default)]
pub struct MemoryMetricStore {
    /// By [`SeriesKey::order`].
    series: Mutex<BTreeMap<(String, String, String), Series>>,
}

impl MemoryMetricStore {
    fn series(&self) -> MutexGuard<'_, BTreeMap<(String, String, String), Series>> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MetricStore for MemoryMetricStore {
    fn put(&self, points: &[Datapoint], now: Seconds) -> Result<(), MetricError> {
        let batch = fan_out(points);
        let mut all = self.series();
        for key in &batch.series {
            let series = all.entry(key.order()).or_default();
            series.key = Some((*key).clone());
            series.last_put = series.last_put.max(now);
        }
        for ((index, tier, start, unit), aggregate) in batch.points {
            let series = all
                .get_mut(&batch.series[index].order())
                .expect("every series of the batch was added above");
            series
                .points
                .entry((tier, start, unit))
                .and_modify(|a| a.merge(&aggregate))
                .or_insert(aggregate);
        }
        Ok(())
    }

    fn read(
        &self,
        series: &SeriesKey,
        tier: Tier,
        start: Seconds,
        end: Seconds,
    ) -> Result<Vec<StoredPoint>, MetricError> {
        let all = self.series();
        let Some(found) = all.get(&series.order()) else {
            return Ok(Vec::new());
        };
        Ok(found
            .points
            .range((tier, start, Unit::ALL[0])..(tier, end, Unit::ALL[0]))
            .map(|((_, time, unit), aggregate)| StoredPoint {
                time: *time,
                unit: *unit,
                aggregate: aggregate.clone(),
            })
            .collect())
    }

    fn list(
        &self,
        filter: &ListFilter,
        after: Option<&SeriesKey>,
        limit: usize,
    ) -> Result<Vec<SeriesKey>, MetricError> {
        let all = self.series();
        let from = after.map(SeriesKey::order);
        Ok(all
            .iter()
            .filter(|(order, _)| from.as_ref().is_none_or(|from| *order > from))
            .filter_map(|(_, series)| series.key.as_ref().map(|key| (key, series.last_put)))
            .filter(|(key, last_put)| *last_put >= filter.active_since && filter.matches(key))
            .take(limit)
            .map(|(key, _)| key.clone())
            .collect())
    }

    fn enforce_retention(&self, now: Seconds, budget: usize) -> Result<usize, MetricError> {
        let mut all = self.series();
        let mut removed = 0;
        for tier in Tier::ALL {
            let oldest = tier.oldest_kept(now);
            // Oldest first across series, as the embedded store's index on (tier, time) runs.
            let mut expired: Vec<(Seconds, (String, String, String), Unit)> = all
                .iter()
                .flat_map(|(order, series)| {
                    series
                        .points
                        .range((tier, Seconds::MIN, Unit::ALL[0])..(tier, oldest, Unit::ALL[0]))
                        .map(move |((_, time, unit), _)| (*time, order.clone(), *unit))
                })
                .collect();
            expired.sort();
            for (time, order, unit) in expired.into_iter().take(budget - removed) {
                if let Some(series) = all.get_mut(&order) {
                    series.points.remove(&(tier, time, unit));
                    removed += 1;
                }
            }
            if removed == budget {
                return Ok(removed);
            }
        }
        let forgotten = Tier::Hour.oldest_kept(now);
        let stale: Vec<_> = all
            .iter()
            .filter(|(_, series)| series.last_put < forgotten && series.points.is_empty())
            .map(|(order, _)| order.clone())
            .take(budget - removed)
            .collect();
        for order in stale {
            all.remove(&order);
            removed += 1;
        }
        Ok(removed)
    }
}
