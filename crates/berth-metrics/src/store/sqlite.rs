//! The embedded store: one SQLite database of its own (`metrics.sqlite` in the directory it
//! is given, never the state store's), in WAL mode with full sync, so that a put that
//! returned survives `kill -9`.
//!
//! `series` numbers each series once (unique on namespace, name and dimensions' text, which
//! is also the listing order), and `series_dimensions` finds series by a dimension; `points` holds every tier's points keyed by (series, tier,
//! start, unit), so that a query reads one contiguous range of the key, and carries an index
//! on (tier, start), by which retention finds the oldest expired rows without reading what
//! it keeps. A put merges its batch in memory first ([`fan_out`]) and writes each touched
//! point once, in one transaction.

use super::{fan_out, Datapoint, ListFilter, MetricError, MetricStore, SeriesKey, StoredPoint};
use crate::aggregate::Aggregate;
use crate::distribution::Distribution;
use crate::tier::Tier;
use crate::unit::Unit;
use crate::Seconds;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    last_put INTEGER NOT NULL,
    UNIQUE (namespace, name, dimensions)
);
CREATE INDEX IF NOT EXISTS series_by_last_put ON series (last_put);
-- Each series' dimensions, so that a listing by dimension reads only the series that have it.
CREATE TABLE IF NOT EXISTS series_dimensions (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    series INTEGER NOT NULL,
    PRIMARY KEY (name, value, series)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL,
    tier INTEGER NOT NULL,
    start INTEGER NOT NULL,
    unit INTEGER NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    -- The values' distribution (`Distribution::encode`), NULL once a statistic set hid them.
    distribution BLOB,
    PRIMARY KEY (series, tier, start, unit)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_by_age ON points (tier, start);
";

/// Series read per step of a filtered listing.
const LIST_STEP: usize = 500;

pub struct SqliteMetricStore {
    connection: Mutex<Connection>,
}

impl SqliteMetricStore {
    /// Opens (creating if needed) `dir/metrics.sqlite`.
    pub fn open(dir: &Path) -> Result<SqliteMetricStore, MetricError> {
        std::fs::create_dir_all(dir).map_err(|source| MetricError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let connection = Connection::open(dir.join("metrics.sqlite"))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteMetricStore {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn corrupt(what: impl Into<String>) -> MetricError {
    MetricError::Corrupt(what.into())
}

fn unit_of(code: i64) -> Result<Unit, MetricError> {
    u8::try_from(code)
        .ok()
        .and_then(Unit::from_code)
        .ok_or_else(|| corrupt(format!("unit {code}")))
}

type Row = (f64, f64, f64, f64, Option<Vec<u8>>);

fn aggregate_of((count, sum, min, max, distribution): Row) -> Result<Aggregate, MetricError> {
    let values = match distribution {
        None => None,
        Some(bytes) => Some(Distribution::decode(&bytes).ok_or_else(|| corrupt("distribution"))?),
    };
    Ok(Aggregate {
        count,
        sum,
        min,
        max,
        values,
    })
}

impl MetricStore for SqliteMetricStore {
    fn put(&self, points: &[Datapoint], now: Seconds) -> Result<(), MetricError> {
        let batch = fan_out(points);
        if batch.series.is_empty() {
            return Ok(());
        }
        let mut connection = self.connection();
        let tx = connection.transaction()?;
        let mut ids = Vec::with_capacity(batch.series.len());
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO series (namespace, name, dimensions, last_put) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (namespace, name, dimensions)
                 DO UPDATE SET last_put = max(last_put, excluded.last_put)
                 RETURNING id",
            )?;
            let mut dimension = tx.prepare_cached(
                "INSERT OR IGNORE INTO series_dimensions (name, value, series) VALUES (?1, ?2, ?3)",
            )?;
            for key in &batch.series {
                let id: i64 = upsert.query_row(
                    params![key.namespace, key.name, key.dimensions_text(), now],
                    |row| row.get(0),
                )?;
                for (name, value) in key.dimensions() {
                    dimension.execute(params![name, value, id])?;
                }
                ids.push(id);
            }
            let mut existing = tx.prepare_cached(
                "SELECT count, sum, min, max, distribution FROM points
                 WHERE series = ?1 AND tier = ?2 AND start = ?3 AND unit = ?4",
            )?;
            let mut write = tx.prepare_cached(
                "INSERT OR REPLACE INTO points
                 (series, tier, start, unit, count, sum, min, max, distribution)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for ((index, tier, start, unit), mut aggregate) in batch.points {
                let key = params![ids[index], tier.code(), start, unit.code()];
                let found: Option<Row> = existing
                    .query_row(key, |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    })
                    .optional()?;
                if let Some(row) = found {
                    let mut stored = aggregate_of(row)?;
                    stored.merge(&aggregate);
                    aggregate = stored;
                }
                write.execute(params![
                    ids[index],
                    tier.code(),
                    start,
                    unit.code(),
                    aggregate.count,
                    aggregate.sum,
                    aggregate.min,
                    aggregate.max,
                    aggregate.values.as_ref().map(Distribution::encode),
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn read(
        &self,
        series: &SeriesKey,
        tier: Tier,
        start: Seconds,
        end: Seconds,
    ) -> Result<Vec<StoredPoint>, MetricError> {
        let connection = self.connection();
        let id: Option<i64> = connection
            .prepare_cached(
                "SELECT id FROM series WHERE namespace = ?1 AND name = ?2 AND dimensions = ?3",
            )?
            .query_row(
                params![series.namespace, series.name, series.dimensions_text()],
                |row| row.get(0),
            )
            .optional()?;
        let Some(id) = id else {
            return Ok(Vec::new());
        };
        let mut statement = connection.prepare_cached(
            "SELECT start, unit, count, sum, min, max, distribution FROM points
             WHERE series = ?1 AND tier = ?2 AND start >= ?3 AND start < ?4
             ORDER BY start, unit",
        )?;
        let rows = statement.query_map(params![id, tier.code(), start, end], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                (
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ),
            ))
        })?;
        let mut points = Vec::new();
        for row in rows {
            let (time, unit, values) = row?;
            points.push(StoredPoint {
                time,
                unit: unit_of(unit)?,
                aggregate: aggregate_of(values)?,
            });
        }
        Ok(points)
    }

    fn list(
        &self,
        filter: &ListFilter,
        after: Option<&SeriesKey>,
        limit: usize,
    ) -> Result<Vec<SeriesKey>, MetricError> {
        let connection = self.connection();
        if let Some((name, value)) = filter.dimensions.first() {
            return list_by_dimension(&connection, filter, (name, value.as_deref()), after, limit);
        }
        // Steps through the unique index in listing order from the cursor, narrowed by
        // namespace and name when given.
        let mut statement = connection.prepare_cached(
            "SELECT namespace, name, dimensions, last_put FROM series
             WHERE (namespace, name, dimensions) > (?1, ?2, ?3)
               AND (?4 IS NULL OR namespace = ?4)
               AND (?5 IS NULL OR name = ?5)
             ORDER BY namespace, name, dimensions
             LIMIT ?6",
        )?;
        let mut cursor = match after {
            Some(key) => key.order(),
            None => (String::new(), String::new(), String::new()),
        };
        let mut found = Vec::new();
        loop {
            let rows: Vec<(String, String, String, i64)> = statement
                .query_map(
                    params![
                        cursor.0,
                        cursor.1,
                        cursor.2,
                        filter.namespace,
                        filter.name,
                        LIST_STEP as i64
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )?
                .collect::<Result<_, _>>()?;
            let exhausted = rows.len() < LIST_STEP;
            for (namespace, name, dimensions, last_put) in rows {
                cursor = (namespace.clone(), name.clone(), dimensions.clone());
                let key = SeriesKey::from_text(namespace, name, &dimensions)?;
                if last_put >= filter.active_since && filter.matches(&key) {
                    found.push(key);
                    if found.len() == limit {
                        return Ok(found);
                    }
                }
            }
            if exhausted {
                return Ok(found);
            }
        }
    }

    fn enforce_retention(&self, now: Seconds, budget: usize) -> Result<usize, MetricError> {
        let mut connection = self.connection();
        let tx = connection.transaction()?;
        let mut removed = 0;
        for tier in Tier::ALL {
            if removed == budget {
                break;
            }
            // Reads the (tier, start) index from its oldest end: only expired rows.
            removed += tx.execute(
                "DELETE FROM points WHERE (series, tier, start, unit) IN (
                     SELECT series, tier, start, unit FROM points
                     WHERE tier = ?1 AND start < ?2
                     ORDER BY start LIMIT ?3)",
                params![
                    tier.code(),
                    tier.oldest_kept(now),
                    (budget - removed) as i64
                ],
            )?;
        }
        if removed < budget {
            let stale: Vec<i64> = tx
                .prepare(
                    "SELECT id FROM series
                     WHERE last_put < ?1
                       AND NOT EXISTS (SELECT 1 FROM points WHERE points.series = series.id)
                     ORDER BY last_put LIMIT ?2",
                )?
                .query_map(
                    params![Tier::Hour.oldest_kept(now), (budget - removed) as i64],
                    |row| row.get(0),
                )?
                .collect::<Result<_, _>>()?;
            for id in stale {
                tx.execute("DELETE FROM series_dimensions WHERE series = ?1", [id])?;
                removed += tx.execute("DELETE FROM series WHERE id = ?1", [id])?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}

/// A listing narrowed by its first dimension filter through `series_dimensions`: it reads
/// only the series that have that dimension (with that value, when given), then orders them.
fn list_by_dimension(
    connection: &Connection,
    filter: &ListFilter,
    (name, value): (&str, Option<&str>),
    after: Option<&SeriesKey>,
    limit: usize,
) -> Result<Vec<SeriesKey>, MetricError> {
    let mut statement = connection.prepare_cached(
        "SELECT s.namespace, s.name, s.dimensions, s.last_put
         FROM series_dimensions d JOIN series s ON s.id = d.series
         WHERE d.name = ?1 AND (?2 IS NULL OR d.value = ?2)",
    )?;
    let from = after.map(SeriesKey::order);
    let mut found: Vec<((String, String, String), i64)> = statement
        .query_map(params![name, value], |row| {
            Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get(3)?))
        })?
        .collect::<Result<_, _>>()?;
    found.retain(|(order, _)| from.as_ref().is_none_or(|from| order > from));
    found.sort();
    let mut keys = Vec::new();
    for ((namespace, metric, dimensions), last_put) in found {
        let key = SeriesKey::from_text(namespace, metric, &dimensions)?;
        if last_put >= filter.active_since && filter.matches(&key) {
            keys.push(key);
            if keys.len() == limit {
                break;
            }
        }
    }
    Ok(keys)
}
